"""The assignment interface: one module per assignment, one :class:`Assignment` each.

An assignment module (``autograder/assignments/<name>.py``) registers its checks with
:func:`autograder.registry.check` and ends with ``ASSIGNMENT = <its Assignment subclass>()``;
the grader reaches it only through :func:`load_assignment` and the hooks below, so a new lab
joins by adding its module here and its name to ``ASSIGNMENTS``. What the grader does with
an assignment, in order (:mod:`autograder.grader`):

1. **Parent inputs** (:meth:`Assignment.parent_inputs`): for each training recipe the cases
   name, :meth:`Assignment.recipe_inputs` (the worker's data, the answers this process keeps,
   arrays shared with the child); :meth:`Assignment.expected` values for the checks;
   :meth:`Assignment.submitted_model_inputs` when a submitted ``model.keras`` is scored.
2. **Child**: every :class:`Case` becomes one call of a student function in the sandbox.
3. **Worker**: every saved model becomes :meth:`Assignment.worker_task` (measure, or train
   with the case's recipe); :meth:`Assignment.worker_references` adds the grader's own
   reference values (e.g. real Keras layers on given weights).
4. **Checks** judge the observations; :meth:`Assignment.recipe_score` and
   :meth:`Assignment.recipe_floor` are what ``calibrate`` turns into bands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import ClassVar

import numpy as np

ASSIGNMENTS = ("sentiment", "rnn_numpy", "cells", "char_lm", "seq2seq", "captioning")


@dataclass(frozen=True)
class Case:
    """One call of a student function that the grader builds and then measures.

    ``kind`` is ``build_model`` (the result is saved as ``.keras``; ``build_models`` for a
    tuple of ``count`` models), ``call_with_models`` (the grader's own models, then NumPy
    inputs, as in ``generate(model, prime, ...)``), ``call_with_objects``
    (``function(vocab, glove)``; the result is saved as ``.npy``) or ``call`` (NumPy inputs
    named in ``inputs``, looked up in the assignment's ``INPUTS``; arrays, tuples or dicts of
    arrays come back). ``array`` names a shared array (:meth:`Assignment.shared_arrays`, or a
    recipe's :attr:`RecipeInputs.shared`) passed as the first argument of a ``build_model``
    call; ``probes`` are the ``(batch, T)`` inputs the saved model is run on; ``recipe`` names
    a training recipe for learning checks; ``args_text`` is how the student would write the
    positional arguments, for messages.
    """

    id: str
    function: str
    kwargs: dict = field(default_factory=dict)
    kind: str = "build_model"
    array: str | None = None
    probes: tuple[tuple[int, int], ...] = ()
    recipe: str | None = None
    vocab_words: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    args_text: str = ""
    rng: int | None = None  # "call": pass rng=numpy.random.default_rng(rng)
    count: int = 1  # "build_models": how many models the function returns
    # "call_with_models": the grader's models (BUILDERS[builder](**build), of
    # autograder.generative_models or of the assignment's worker module, see worker_modules)
    # come first in every call; each call names its inputs, kwargs and optional rng seed.
    builder: str | None = None
    build: dict = field(default_factory=dict)
    calls: tuple[dict, ...] = ()

    def call(self) -> str:
        """How the student would write this call, for messages."""
        first = self.args_text or ", ".join(self.inputs)
        args = ", ".join([a for a in (first, *(f"{k}={v!r}" for k, v in self.kwargs.items()))
                          if a])
        return f"{self.function}({args})"


@dataclass
class RecipeInputs:
    """What one training recipe needs. ``worker``: the trusted worker's arrays (training data
    and holdout *inputs*, never holdout answers); ``kept``: what only this process holds (the
    holdout labels or targets, a floor), arrays or JSON-able values; ``shared``: named arrays
    also handed to the child (e.g. the embedding matrix a build function is called with)."""

    worker: dict[str, np.ndarray]
    kept: object
    shared: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class ParentInputs:
    """Everything this process prepares for one grading: per recipe its
    :class:`RecipeInputs`, the arrays shared by name with the child and the worker, the
    checks' ``expected`` values, and the submitted model's ``(x, y)`` (keys
    ``"submitted_model"`` and, with a TA's holdout, ``"submitted_holdout"``)."""

    recipes: dict[str, RecipeInputs] = field(default_factory=dict)
    shared: dict[str, np.ndarray] = field(default_factory=dict)
    expected: dict = field(default_factory=dict)
    submitted: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


class Assignment:
    """The interface between the grader and one assignment; override what differs.

    Constants: ``NAME`` (the assignment, as in ``--assignment``), ``FILENAME`` (the student
    module, e.g. ``sentiment.py``), ``FUNCTIONS`` (each contract function's parameters as
    ``(name, default source or None)``), ``CASES`` (:class:`Case` by id), ``RECIPES`` (training
    recipes by name: data, budget, ``seed``, ``metric`` from :data:`autograder.metrics.METRICS`,
    default ``"accuracy"``; ``profile`` ``"full"`` for calibration of a submitted model only),
    ``INPUTS`` (the NumPy inputs ``call`` cases name), ``USES_KERAS`` (``False``: a NumPy-only
    module, whose child runs where TensorFlow, Keras, JAX and PyTorch cannot be imported at
    all), ``SUBMITTED_MODEL_RECIPE`` (the full-profile recipe whose band scores a submitted
    ``model.keras``; ``None``: this assignment scores none).
    """

    NAME: str = ""
    FILENAME: str = ""
    FUNCTIONS: ClassVar[dict[str, list[tuple[str, str | None]]]] = {}
    CASES: ClassVar[dict[str, Case]] = {}
    RECIPES: ClassVar[dict[str, dict]] = {}
    INPUTS: ClassVar[dict[str, object]] = {}
    USES_KERAS: bool = True
    SUBMITTED_MODEL_RECIPE: str | None = None

    # ------------------------------------------------------------ parent inputs
    def shared_arrays(self) -> dict[str, np.ndarray]:
        """Named arrays every grading gives the child and the worker (``name.npy`` in both
        folders), e.g. a small random embedding matrix structural cases are built with."""
        return {}

    def recipe_inputs(self, name: str) -> RecipeInputs:
        """The data of training recipe ``name`` (see :class:`RecipeInputs`). A pure function
        of the recipe: it is cached by name, and computed ahead of time for a bundle."""
        raise NotImplementedError(f"assignment {self.NAME!r} has recipe {name!r} but does "
                                  "not say what data it trains on (recipe_inputs)")

    def expected(self, case_ids: set[str]) -> dict:
        """Values the checks compare with that this process computes from data packages
        (e.g. GloVe rows), for the cases graded; ``Observations.expected``."""
        return {}

    def submitted_model_inputs(self, holdout: Path | None) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` a submitted ``model.keras`` is scored on (``holdout``: a TA's private
        labelled file in place of the packaged test split)."""
        raise NotImplementedError(f"assignment {self.NAME!r} scores no submitted model")

    def parent_inputs(self, case_ids: set[str], *, profile: str = "quick",
                      holdout: Path | None = None, submitted: bool = False) -> ParentInputs:
        """What grading ``case_ids`` needs from this process (a bundle precomputes exactly
        this); ``submitted``: a submitted model.keras will be scored."""
        from autograder.grading_inputs import cached_value

        found = ParentInputs(shared=dict(self.shared_arrays()),
                             expected=self.expected(set(case_ids)))
        for name in sorted({self.CASES[c].recipe for c in case_ids if self.CASES[c].recipe}):
            packed = cached_value(f"recipe-{self.NAME}-{name}",
                                  lambda name=name: _pack(self.recipe_inputs(name)))
            found.recipes[name] = _unpack(packed)
            found.shared.update(found.recipes[name].shared)
        if submitted:
            found.submitted["submitted_model"] = self.submitted_model_inputs(None)
            if holdout is not None:
                found.submitted["submitted_holdout"] = self.submitted_model_inputs(holdout)
        return found

    # ------------------------------------------------------------ the trusted worker
    def worker_task(self, case: Case, files: list[str], *, inputs: Path,
                    recipe: dict | None = None) -> dict:
        """The worker task that measures the models a ``build_model(s)`` case saved
        (``files``), or, for a case with a recipe, trains them (``recipe``, its data in
        ``inputs / f"{case.recipe}.npz"``, shared arrays as ``inputs / f"{name}.npy"``).
        Its ``kind`` names a function in :data:`autograder.worker.KINDS`; its result is
        ``Observations.measured[case.id]`` (and ``trained`` for a recipe)."""
        raise NotImplementedError(f"assignment {self.NAME!r} builds models but does not say "
                                  "how the worker measures them (worker_task)")

    def worker_references(self, inputs: Path) -> list[dict]:
        """Worker tasks computing reference values with the grader's own code (never
        student code), e.g. a Keras layer's output for given weights: ``references[id]``."""
        return []

    # ------------------------------------------------------------ calibration
    def band_metrics(self, name: str) -> dict[str, str]:
        """The bands recipe ``name`` is calibrated into, band key -> metric name: by
        default one, under the recipe's own name, for its ``metric``. A recipe scored on
        several metrics (say, a rubric and BLEU) names more, as ``f"{name}/{metric}"``."""
        return {name: self.RECIPES[name].get("metric", "accuracy")}

    def metric(self, name: str):
        """The :class:`autograder.metrics.Metric` called ``name`` (its direction, its
        floor's words); an assignment with a metric of its own adds it here."""
        from autograder.metrics import METRICS

        return METRICS[name]

    def recipe_score(self, obs, case_id: str, metric: str | None = None) -> float:
        """``metric`` (default: the recipe's own) for one trained case, as its learning
        check reads it."""
        raise NotImplementedError(f"assignment {self.NAME!r} does not score its recipes")

    def recipe_floor(self, name: str, kept, metric: str | None = None) -> float:
        """What a model that ignores its input scores on recipe ``name`` in ``metric``."""
        from autograder.metrics import floor

        return floor(metric or self.RECIPES[name].get("metric", "accuracy"), kept)


def _pack(inputs: RecipeInputs) -> dict:
    packed = {f"worker:{k}": v for k, v in inputs.worker.items()}
    packed.update({f"shared:{k}": v for k, v in inputs.shared.items()})
    packed["kept"] = inputs.kept
    return packed


def _unpack(packed: dict) -> RecipeInputs:
    def part(prefix):
        return {k[len(prefix):]: v for k, v in packed.items() if k.startswith(prefix)}

    return RecipeInputs(worker=part("worker:"), kept=packed["kept"], shared=part("shared:"))


def worker_modules() -> list:
    """The trusted worker's code of every assignment that has some, imported:
    ``autograder/assignments/<name>_worker.py``, defining ``KINDS`` (worker task kinds,
    name -> ``function(task) -> dict``) and optionally ``BUILDERS`` (the grader's own
    models for ``call_with_models`` cases, name -> ``function(**build) -> tuple of
    models``). Only the worker imports them; they never see student code."""
    found = []
    for name in ASSIGNMENTS:
        module = f"autograder.assignments.{name}_worker"
        try:
            found.append(import_module(module))
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return found


def load_assignment(name: str) -> Assignment:
    """The :class:`Assignment` of ``name`` (importing its module registers its checks, and
    :func:`autograder.questions.register_questions` those of its labs' questions)."""
    if name not in ASSIGNMENTS:
        raise ValueError(f"unknown assignment {name!r}: expected one of {list(ASSIGNMENTS)}")
    spec = import_module(f"autograder.assignments.{name}").ASSIGNMENT
    from autograder.questions import register_questions

    register_questions(name)
    return spec
