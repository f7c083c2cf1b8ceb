"""One structural view of a Keras model, shared by the public checks and the grader.

The public checks (:mod:`seqlab.checks`) and the grader's trusted worker
(:mod:`autograder.keras_inspect`) both read a model's layers through :func:`flat_layers`,
so a model written with nested ``keras.Sequential`` blocks or nested ``keras.Model``\\ s
(keras.io idioms) is judged by the layers it holds, the same way on both sides.
Keras is imported inside the functions, so importing this module stays light.
"""

from __future__ import annotations


def flat_layers(model) -> list:
    """Every layer of ``model`` in order, each nested model (``Sequential`` block or
    functional ``Model``) replaced by its own flat layers; a ``Bidirectional`` wrapper
    stays one layer (its halves are ``layer.forward_layer`` / ``layer.backward_layer``)."""
    import keras

    found = []
    for layer in model.layers:
        found += flat_layers(layer) if isinstance(layer, keras.Model) else [layer]
    return found
