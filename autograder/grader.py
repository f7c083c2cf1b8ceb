"""Grade one submission: build in the sandbox, measure in the worker, judge in this process.

This process never imports student code or Keras models: it prepares inputs, keeps the
holdout labels, runs :mod:`autograder.child` (untrusted) and :mod:`autograder.worker`
(trusted) through :mod:`autograder.sandbox`, and turns their plain-data results into scores.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import autograder.assignments as assignments_pkg
from autograder.bands import BANDS_FILE, load_bands  # noqa: F401 - BANDS_FILE: calibrate's
from autograder.isolation import detect as detect_isolation
from autograder.observe import Observations, observe, submitted_files
from autograder.preflight import prove_grader
from autograder.registry import REGISTRY, Check, Outcome, failed, grader_error, skipped
from autograder.sandbox import Limits, TaskResult
from autograder.submission import Submission, resolve
from autograder.worker_runs import (  # noqa: F401 - worker_problem: the grader's public name
    student_out_of_memory,
    worker_problem,
)

STATUS_WORDS = {
    "not_implemented": "is not implemented yet",
    "missing": "is missing",
}


@dataclass
class TestResult:
    assignment: str
    name: str
    points: float
    max_points: float
    status: str
    message: str
    visibility: str


@dataclass
class GradeResult:
    submission: str
    profile: str
    tests: list[TestResult] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    isolation: str = ""  # what the sandbox isolated, and what it could not

    @property
    def score(self) -> float:
        return round(sum(t.points for t in self.tests), 4)

    @property
    def max_score(self) -> float:
        return round(sum(t.max_points for t in self.tests), 4)


def grade(submission_path, *, profile: str = "quick", assignment: str | None = None,
          functions: tuple[str, ...] | None = None, public_only: bool = False,
          limits: Limits | None = None, recipe_seed: int | None = None,
          case_timeout: float | None = None, workdir: Path | None = None,
          holdout: Path | None = None) -> GradeResult:
    """Grade the submission at ``submission_path`` (folder or .zip).

    ``functions`` limits grading to the checks of those student functions (``public_only``
    to the quick public ones, as a notebook's ``check()`` does); ``case_timeout`` overrides
    every check's per-case timeout (seconds). ``holdout``: a TA's labelled CSV
    (:mod:`autograder.holdout`) that scores a submitted model.keras (full profile) in place
    of the packaged test split.
    """
    start = time.perf_counter()
    limits = limits or Limits()
    if not public_only:  # a grade, not a notebook's self-check: this machine must be able to
        prove_grader(limits)  # grade at all (raises SandboxError, one sentence, no score)
    result = GradeResult(submission=str(submission_path), profile=profile,
                         isolation=detect_isolation().summary())
    root = Path(workdir or tempfile.mkdtemp(prefix="seqlab-grade-"))
    try:
        submission = resolve(submission_path, root / "submission")
        names = [assignment] if assignment else [
            a for a in assignments_pkg.ASSIGNMENTS
            if submission.has(assignments_pkg.load_assignment(a).FILENAME)]
        if not names:
            wanted = ", ".join(assignments_pkg.load_assignment(a).FILENAME
                               for a in assignments_pkg.ASSIGNMENTS)
            result.tests.append(TestResult("submission", "submission holds a module file", 0,
                                           0, "failed", f"expected one of {wanted}, got "
                                           f"{', '.join(submission.files) or 'no usable files'}",
                                           "visible"))
        for name in names:
            result.tests += grade_assignment(name, submission, root / name, profile=profile,
                                             functions=functions, public_only=public_only,
                                             limits=limits, recipe_seed=recipe_seed,
                                             case_timeout=case_timeout, timings=result.timings,
                                             holdout=holdout)
        if submission.ignored:
            result.notes.append(f"ignored {len(submission.ignored)} other file(s): "
                                f"{', '.join(submission.ignored[:5])}")
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    result.seconds = time.perf_counter() - start
    return result


def grade_assignment(name: str, submission: Submission, root: Path, *, profile: str,
                     functions=None, public_only=False, limits: Limits,
                     recipe_seed: int | None = None, case_timeout: float | None = None,
                     timings: dict[str, float] | None = None,
                     holdout: Path | None = None) -> list[TestResult]:
    spec = assignments_pkg.load_assignment(name)
    checks = [c for c in REGISTRY[name] if (functions is None or c.function in functions)
              and (c.public or not public_only)]
    if not checks:  # e.g. check("<function>") of another assignment: nothing to run here
        return []
    if not submission.has(spec.FILENAME):  # out of the same maximum as everyone else
        files = Observations({}, {}, {}, {}, {}, {}, {}, load_bands().get("quick", {}), {}, {},
                             {**submitted_files(submission), "prediction": None},
                             profile=profile, full_bands=load_bands().get("full", {}))
        return [_result(c, _unjudged(c, spec, files, f"{spec.FILENAME} was not submitted"))
                for c in checks]
    needed = {case_id for c in checks for case_id in c.needs}
    timeouts = {case_id: case_timeout or max(c.timeout for c in checks if case_id in c.needs)
                for case_id in needed}
    if any(c.scores_submitted_model for c in checks):
        timeouts["submitted_model"] = 300.0
    observations, built, measured = observe(spec, submission, root, timeouts, limits=limits,
                                            recipe_seed=recipe_seed, timings=timings,
                                            profile=profile, holdout=holdout)
    if not built["signatures"].ok and built["signatures"].status == "import_error":
        message = built["signatures"].message
        return [_result(c, _unjudged(c, spec, observations, message)) for c in checks]
    return [_result(c, _judge(c, observations, built, measured)) for c in checks]


def _case_problem(case, built: TaskResult, measured: TaskResult | None) -> str | None:
    call = case.call()
    if not built.ok:
        if built.status in STATUS_WORDS:
            return f"{case.function} {STATUS_WORDS[built.status]}"
        return f"{call} {built.message}" if built.status in ("error", "not_implemented") \
            else f"{call}: {built.message}"
    if case.kind in ("build_model", "build_models") and (measured is None or not measured.ok):
        why = measured.message if measured is not None else "no result"
        if why.startswith(RULE_PREFIX):  # a contract rule, said in one sentence by the worker
            return f"{call}: {why[len(RULE_PREFIX):]}"
        if student_out_of_memory(measured):  # the model's own demand: its lost points
            return (f"{call} returned a model that needs more memory than the grader gives "
                    f"one call (expected a model that builds and trains within the module "
                    f"docstring's memory bound, got: {why[-240:]})")
        return (f"{call} returned a model the grader could not load or run: {why} (use "
                "built-in Keras layers; Lambda layers and custom classes are not allowed)")
    return None


RULE_PREFIX = "Rule: "  # autograder.worker.Rule, as the worker reports it


def _gpu_visible(obs: Observations | None = None) -> bool:
    """Whether the grader's worker trains on a GPU here: what any training in this grading
    reported, else whether the machine shows one (CUDA_VISIBLE_DEVICES, the NVIDIA driver)."""
    import os

    for result in (obs.trained.values() if obs is not None else ()):
        if isinstance(result, dict) and "device" in result:
            return result["device"].get("platform") == "gpu"
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return False
    gpus = Path("/proc/driver/nvidia/gpus")
    return gpus.is_dir() and any(gpus.iterdir())


def _not_here(check: Check, spec, profile: str, obs: Observations | None = None
              ) -> Outcome | None:
    """Why ``check`` cannot be judged on this grader at all, or ``None``. It depends on the
    grader only (no GPU, no calibrated band, not the full profile), never on the submission,
    so every submission is graded out of the same maximum: a skipped check counts 0 of 0 for
    everyone, and a check a submission's own failure kept from running counts as failed."""
    if check.gpu and not _gpu_visible(obs):
        return skipped("no GPU is visible to the grader here, so GPU use was not checked")
    if check.scores_submitted_model:
        if profile != "full":
            return skipped("a submitted model.keras is scored only with --profile full")
        if "submitted_model" not in load_bands().get("full", {}):
            return skipped("no full-profile band is calibrated yet: run `python -m "
                           "autograder calibrate --profile full` on a GPU")
    bands = load_bands().get("quick", {}) if obs is None else obs.bands
    for case_id in check.needs:
        recipe = spec.CASES[case_id].recipe
        missing = [key for key in spec.band_metrics(recipe) if key not in bands] \
            if recipe else []
        if missing:
            return skipped(f"no calibrated band for {missing[0]}: run "
                           "`python -m autograder calibrate`")
    return None


def _unjudged(check: Check, spec, obs: Observations, message: str) -> Outcome:
    """A check the module itself could not be graded for (missing, does not import): failed,
    unless it is skipped for every submission alike (here, or, for a check of submitted files
    only such as the optional run report, whenever those files are absent), and a
    ``parent_only`` check (the questions) is judged from the submitted files as always."""
    elsewhere = _not_here(check, spec, obs.profile, obs)
    if elsewhere is not None:
        return elsewhere
    if not check.needs and check.function is None:
        try:
            outcome = check.judge(obs)
        except Exception:  # it needed the module after all
            outcome = None
        if outcome is not None and (outcome.status == "skipped" or check.parent_only):
            return outcome
    return failed(message)


def _judge(check: Check, obs: Observations, built, measured) -> Outcome:
    spec = assignments_pkg.load_assignment(check.assignment)
    elsewhere = _not_here(check, spec, obs.profile, obs)
    if elsewhere is not None:
        return elsewhere
    for case_id in check.needs:  # the grader's own failure first: never counted
        if case_id in obs.grader_problems:
            return grader_error(obs.grader_problems[case_id])
    for case_id in check.needs:
        case = obs.cases[case_id]
        problem = _case_problem(case, built[case_id], measured.get(case_id))
        if problem:  # the submission's own failure: counted, whatever the check is
            return failed(problem)
        if case.kind in ("call", "call_with_objects", "call_with_models") and \
                obs.arrays.get(case_id) is None:
            return failed(f"{case.call()}: {built[case_id].message}")
    try:
        outcome = check.judge(obs)
    except Exception as exc:  # a bug in a check must not crash grading
        references = [k for k in obs.grader_problems if k not in obs.cases]
        if references:  # it needed a reference value the grader could not compute
            return grader_error(obs.grader_problems[references[0]])
        return failed(f"the grader could not evaluate this check ({type(exc).__name__}: {exc});"
                      " please tell your TA")
    predicted = [k for k in ("submitted_model", "submitted_holdout") if k in obs.grader_problems]
    if outcome.status == "failed" and predicted and check.reads_submitted_model:
        return grader_error(obs.grader_problems[predicted[0]])
    return outcome


def _result(check: Check, outcome: Outcome) -> TestResult:
    counted = outcome.status not in ("skipped", "grader_error")  # both 0 of 0
    return TestResult(
        assignment=check.assignment, name=check.name,
        points=round(check.points * outcome.fraction, 2) if counted else 0.0,
        max_points=check.points if counted else 0.0, status=outcome.status,
        message=outcome.message, visibility=check.visibility)
