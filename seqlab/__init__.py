"""seqlab: the course library behind the labs, the reference solutions and the autograder.

Data flows one way: ``seqlab.data`` / ``seqlab.glove`` (real text and vectors) ->
``seqlab.text`` (token ids) -> models built by student modules -> ``seqlab.train``
(seeded training, run reports) -> ``seqlab.plots``.

Submodules are imported lazily so that ``import seqlab.text`` never pulls in TensorFlow.
"""

__version__ = "0.1.0"
