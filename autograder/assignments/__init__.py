"""One module per assignment: what to build from a submission (cases) and its checks.

An assignment module defines ``NAME``, ``FILENAME``, ``FUNCTIONS`` (the contract's
signatures), ``CASES`` and ``RECIPES``, and registers its checks with
``autograder.registry.check``. Optional: ``INPUTS`` (the NumPy inputs of ``call`` cases),
``worker_references(folder)`` (tasks the trusted worker runs, e.g. real Keras layers),
and ``USES_KERAS = False`` (a NumPy-only module: its child imports no Keras and runs where
TensorFlow, Keras, JAX and PyTorch cannot be imported at all).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module

ASSIGNMENTS = ("sentiment", "rnn_numpy", "cells", "char_lm", "seq2seq")


@dataclass(frozen=True)
class Case:
    """One call of a student function that the grader builds and then measures.

    ``kind`` is ``build_model`` (the result is saved as ``.keras``; ``build_models`` for a
    tuple of ``count`` models), ``call_with_models`` (the grader's own models, then NumPy
    inputs, as in ``generate(model, prime, ...)``), ``call_with_objects``
    (the result is saved as ``.npy``) or ``call`` (NumPy inputs named in ``inputs``, looked up
    in the assignment's ``INPUTS``; arrays, tuples or dicts of arrays come back). ``matrix``
    names the embedding matrix passed as the first argument; ``probes`` are the ``(batch, T)``
    inputs the saved model is run on; ``recipe`` names a training recipe for accuracy checks.
    """

    id: str
    function: str
    kwargs: dict = field(default_factory=dict)
    kind: str = "build_model"
    matrix: str | None = "small"
    probes: tuple[tuple[int, int], ...] = ()
    recipe: str | None = None
    vocab_words: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    args_text: str = ""
    rng: int | None = None  # "call": pass rng=numpy.random.default_rng(rng)
    count: int = 1  # "build_models": how many models the function returns
    # "call_with_models": the grader's models (generative_models.BUILDERS[builder](**build))
    # come first in every call; each call names its inputs, kwargs and optional rng seed.
    builder: str | None = None
    build: dict = field(default_factory=dict)
    calls: tuple[dict, ...] = ()

    def call(self) -> str:
        """How the student would write this call, for messages."""
        if self.kind in ("call", "call_with_models", "build_models") or (
                self.kind == "build_model" and self.matrix is None):
            first = self.args_text or ", ".join(self.inputs)
        else:
            first = {"small": "matrix", None: "vocab, glove"}.get(self.matrix, "glove_matrix")
        args = ", ".join([a for a in (first, *(f"{k}={v!r}" for k, v in self.kwargs.items()))
                          if a])
        return f"{self.function}({args})"


def load_assignment(name: str):
    if name not in ASSIGNMENTS:
        raise ValueError(f"unknown assignment {name!r}: expected one of {list(ASSIGNMENTS)}")
    return import_module(f"autograder.assignments.{name}")
