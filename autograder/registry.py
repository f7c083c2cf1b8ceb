"""Checks as small decorated functions, and what they return.

A check judges *observations* (plain data measured by the grader on real Keras objects it
loaded itself) and returns an :class:`Outcome`. Register one with :func:`check`::

    @check("build_rnn_classifier: output shape", points=8, assignment="sentiment",
           function="build_rnn_classifier", needs=("gru", "lstm"))
    def rnn_output_shape(obs):
        ...
        return passed("(batch, 1) for every batch size and length")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


@dataclass(frozen=True)
class Outcome:
    """A check's verdict: ``fraction`` of its points, a status and a sentence for the student.

    ``status`` is ``"passed"``, ``"partial"``, ``"failed"``, ``"skipped"`` (not counted) or
    ``"grader_error"`` (the grader's own side failed, e.g. it ran out of memory: withheld,
    0 of 0, and the whole grading is marked for a regrade) or ``"ungraded"`` (a 0-point test
    for a person to read, e.g. the written answers for the TA).
    """

    fraction: float
    status: str
    message: str


def passed(message: str = "") -> Outcome:
    return Outcome(1.0, "passed", message)


def failed(message: str) -> Outcome:
    return Outcome(0.0, "failed", message)


def partial(fraction: float, message: str) -> Outcome:
    fraction = min(max(float(fraction), 0.0), 1.0)
    status = "passed" if fraction >= 1.0 else "failed" if fraction <= 0.0 else "partial"
    return Outcome(fraction, status, message)


def grader_error(message: str) -> Outcome:
    """The grader, not the submission, could not finish this check: never lost points."""
    return Outcome(0.0, "grader_error", message)


def skipped(message: str) -> Outcome:
    """Not applicable here (e.g. no GPU visible): shown, worth nothing, never a pass."""
    return Outcome(0.0, "skipped", message)


@dataclass(frozen=True)
class Check:
    """One graded test. ``needs`` names the cases (built models) it judges.

    Flags the grader acts on (never the display name): ``gpu`` (judges GPU use: skipped for
    every submission where the grader sees no GPU); ``scores_submitted_model`` (scores the
    submitted ``model.keras``: only with ``--profile full`` and a calibrated
    ``submitted_model`` band, so the grader then runs the model on the holdout);
    ``reads_submitted_model`` (reads that run's predictions; implied by
    ``scores_submitted_model``): a prediction the grader itself could not make is then the
    grader's problem, never lost points; ``parent_only`` (judged from the submitted files
    alone, e.g. the questions' ``answers.json``: judged whether or not the module was
    submitted or imports).
    """

    assignment: str
    name: str
    points: float
    judge: Callable
    function: str | None = None
    visibility: str = "visible"
    timeout: float = 60.0
    needs: tuple[str, ...] = ()
    public: bool = True
    gpu: bool = False
    scores_submitted_model: bool = False
    reads_submitted_model: bool = False
    parent_only: bool = False


REGISTRY: dict[str, list[Check]] = {}
HIDDEN = ("hidden", "after_published")  # Gradescope shows these to staff (or after publishing)


def check(name: str, *, points: float, assignment: str, function: str | None = None,
          visibility: str = "visible", timeout: float = 60.0, needs: tuple[str, ...] = (),
          public: bool | None = None, gpu: bool = False, scores_submitted_model: bool = False,
          reads_submitted_model: bool = False, parent_only: bool = False) -> Callable:
    """Register the decorated ``judge(obs) -> Outcome`` as a graded check.

    ``timeout`` is the wall-clock budget, in seconds, for building each case it needs;
    ``public`` checks also run from a notebook's ``check("<function>")``. A hidden check
    (``visibility`` ``"hidden"`` or ``"after_published"``) is never public: it runs only in
    ``grade`` and the Gradescope bundle, so neither a notebook's ``check()`` nor the student
    release shows what it tests. ``public`` defaults to "not hidden". ``gpu``,
    ``scores_submitted_model``, ``reads_submitted_model`` and ``parent_only``: see
    :class:`Check`.
    """
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {VISIBILITIES}, got {visibility!r}")
    if public is None:
        public = visibility not in HIDDEN
    if public and visibility in HIDDEN:
        raise ValueError(f"check {name!r} is {visibility}, so it cannot be public")

    def register(judge: Callable) -> Callable:
        REGISTRY.setdefault(assignment, []).append(Check(
            assignment=assignment, name=name, points=points, judge=judge, function=function,
            visibility=visibility, timeout=timeout, needs=tuple(needs), public=public,
            gpu=gpu, scores_submitted_model=scores_submitted_model,
            reads_submitted_model=reads_submitted_model or scores_submitted_model,
            parent_only=parent_only))
        return judge

    return register
