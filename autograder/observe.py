"""Observe one assignment's submission: build in the sandbox, measure in the worker.

:func:`observe` runs four named stages over a :class:`Grading` (its folders and what each
stage produced), each timed:

1. :func:`prepare_inputs`: this process's data (:meth:`Assignment.parent_inputs`): the
   worker's training arrays, the answers kept here, arrays shared with the child;
2. :func:`build_in_child`: the untrusted child calls the student's functions, one task per
   :class:`~autograder.assignments.Case`, built by :data:`CHILD_TASKS`;
3. :func:`take_child_results`: the child's files, copied and checked (:mod:`safeload`),
   turned into arrays or into worker tasks (:meth:`Assignment.worker_task`);
4. :func:`measure_in_worker`: the trusted worker measures or trains the models and
   computes the assignment's references; results are reused by content.

This process never imports student code or Keras models.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autograder import safeload
from autograder.assignments import Assignment, Case, ParentInputs
from autograder.bands import load_bands
from autograder.isolation import detect as detect_isolation
from autograder.sandbox import Limits, TaskResult, run_tasks
from autograder.signatures import judge_signatures, read_source
from autograder.submission import Submission
from autograder.worker_cache import reuse_results
from autograder.worker_runs import (
    GRADER_PROBLEM,
    GraderProblem,
    grader_models,
    run_worker,
    submitted_model_tasks,
    worker_problem,
)

GRADER_PROBLEM_REFERENCE = "the grader's own reference computation failed"


class Observations:
    """Everything the checks of one assignment may look at (plain data only).

    ``built``: the child's result per case; ``measured``: the worker's measurements of saved
    models; ``trained``: accuracy-recipe results; ``arrays``: NumPy results of ``call`` cases;
    ``references``: values the worker computed with real Keras for the assignment;
    ``labels``: holdout labels (this process only); ``bands``: calibrated accuracy bands.
    """

    def __init__(self, cases, built, measured, trained, arrays, signatures, labels, bands,
                 recipes, expected, submitted, profile="quick", full_bands=None,
                 references=None, isolation=None, grader_problems=None):
        self.profile, self.full_bands = profile, full_bands or {}
        # task id -> why the grader's own side (worker, reference, grader models) failed
        self.grader_problems = grader_problems or {}
        self.isolation = isolation or detect_isolation()  # what the sandbox could enforce
        self.references = references or {}
        self.cases, self.built, self.measured = cases, built, measured
        self.trained, self.arrays, self.signatures = trained, arrays, signatures
        self.labels, self.bands, self.recipes = labels, bands, recipes
        self.expected, self.submitted = expected, submitted

    def model(self, case_id: str) -> dict:
        return self.measured[case_id]

    def call(self, case_id: str) -> str:
        return self.cases[case_id].call()


@dataclass
class Grading:
    """One assignment's grading in progress: its settings, folders and stage results.

    Only this process writes the folders; the child sees ``child`` only, the worker
    ``worker`` only (its ``inputs/`` inside), and each writes only its own ``out/`` and
    ``home/``. ``taken`` holds this process's checked copies of what the child wrote.
    """

    spec: Assignment
    submission: Submission
    root: Path
    timeouts: dict[str, float]
    limits: Limits
    recipe_seed: int | None = None
    profile: str = "quick"
    holdout: Path | None = None
    cases: dict[str, Case] = field(default_factory=dict)
    recipes: dict[str, dict] = field(default_factory=dict)
    inputs: ParentInputs = field(default_factory=ParentInputs)
    labels: dict = field(default_factory=dict)
    built: dict[str, TaskResult] = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)
    signatures: dict = field(default_factory=dict)
    worker_tasks: list[dict] = field(default_factory=list)
    reference_ids: list[str] = field(default_factory=list)
    measured: dict[str, TaskResult] = field(default_factory=dict)
    grader_problems: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def child_dir(self) -> Path:
        return self.root / "child"

    @property
    def worker_dir(self) -> Path:
        return self.root / "worker"

    @property
    def inputs_dir(self) -> Path:
        return self.worker_dir / "inputs"

    @property
    def taken(self) -> Path:
        return self.root / "taken"

    @property
    def scores_submitted(self) -> bool:
        """Whether a submitted model.keras is scored: full profile, a check asks for it."""
        return (self.profile == "full" and "submitted_model" in self.timeouts
                and self.submission.has("model.keras"))


def observe(spec: Assignment, submission: Submission, root: Path,
            timeouts: dict[str, float], *, limits: Limits, recipe_seed: int | None = None,
            timings: dict[str, float] | None = None, profile: str = "quick",
            holdout: Path | None = None):
    """Build the cases in the child, measure or train them in the worker.

    Returns ``(observations, built, measured)``; ``timeouts`` maps case id to seconds and
    ``timings`` (if given) receives the seconds each stage took.
    """
    grading = Grading(spec, submission, root, timeouts, limits, recipe_seed, profile, holdout,
                      timings=timings if timings is not None else {})
    grading.cases = {case_id: case for case_id, case in spec.CASES.items()
                     if case_id in timeouts}
    grading.recipes = {k: dict(v) for k, v in spec.RECIPES.items()}
    if recipe_seed is not None:  # calibration varies it
        for recipe in grading.recipes.values():
            recipe["seed"] = recipe_seed
    for stage, label in ((prepare_inputs, "prepare inputs (parent)"),
                         (build_in_child, "build cases (student child)"),
                         (take_child_results, "inspect and train (worker)"),
                         (measure_in_worker, "inspect and train (worker)")):
        clock = time.perf_counter()
        stage(grading)
        grading.timings[label] = grading.timings.get(label, 0.0) + (
                time.perf_counter() - clock)
    return observations(grading), grading.built, grading.measured


# ---------------------------------------------------------------- 1. parent inputs
def prepare_inputs(grading: Grading) -> None:
    """The folders, the student's file for the child, and this process's data: the worker's
    arrays in its ``inputs/``, shared arrays for both, the answers kept in ``labels``."""
    spec = grading.spec
    for folder in (grading.child_dir, grading.worker_dir, grading.inputs_dir, grading.taken):
        folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(grading.submission.folder / spec.FILENAME,
                    grading.child_dir / spec.FILENAME)
    (grading.child_dir / spec.FILENAME).chmod(0o644)
    inputs = spec.parent_inputs(set(grading.cases), profile=grading.profile,
                                holdout=grading.holdout, submitted=grading.scores_submitted)
    grading.inputs = inputs
    for name, recipe_inputs in inputs.recipes.items():
        # Holdout inputs only: the worker never sees the answers (this process scores).
        np.savez(grading.inputs_dir / f"{name}.npz", **recipe_inputs.worker)
        grading.labels[name] = recipe_inputs.kept
    for key, (x, y) in inputs.submitted.items():  # the student's own trained model
        grading.labels[key] = y
        np.savez(grading.inputs_dir / f"{key}.npz", x_test=x)
    for key, array in inputs.shared.items():
        np.save(grading.inputs_dir / f"{key}.npy", array)
        np.save(grading.child_dir / f"{key}.npy", array)


# ---------------------------------------------------------------- 2. the child
def _write_input(folder: Path, name: str, value) -> dict:
    """Save one named input for the child: arrays as .npy, dicts of arrays as .npz."""
    if isinstance(value, dict):
        np.savez(folder / f"in_{name}.npz", **value)
        return {"npz": f"in_{name}.npz"}
    if isinstance(value, np.ndarray):
        np.save(folder / f"in_{name}.npy", value)
        return {"npy": f"in_{name}.npy"}
    return {"value": value}


def _rng(seed: int | None) -> dict:
    return {"rng": {"param": "rng", "seed": seed}} if seed is not None else {}


def _build_model_task(case: Case, grading: Grading) -> dict:
    return {"array_args": [f"{case.array}.npy"] if case.array else [],
            "output": f"out/{case.id}.keras"}


def _build_models_task(case: Case, grading: Grading) -> dict:
    return {"outputs": [f"out/{case.id}.{i}.keras" for i in range(case.count)]}


def _call_task(case: Case, grading: Grading) -> dict:
    inputs = [_write_input(grading.child_dir, name, grading.spec.INPUTS[name])
              for name in case.inputs]
    return {"inputs": inputs, "output": f"out/{case.id}.npz", **_rng(case.rng)}


def _call_with_models_task(case: Case, grading: Grading) -> dict:
    """The grader's own models (built by the trusted worker) first in every call; raises
    :class:`GraderProblem` when the grader could not build them."""
    calls = [{"inputs": [_write_input(grading.child_dir, name, grading.spec.INPUTS[name])
                         for name in call.get("inputs", ())],
              "kwargs": call.get("kwargs", {}), **_rng(call.get("rng"))}
             for call in case.calls]
    models = grader_models(case, grading.child_dir, grading.root, grading.limits)
    return {"models": models, "calls": calls, "output": f"out/{case.id}.npz"}


def _call_with_objects_task(case: Case, grading: Grading) -> dict:
    return {"vocab_words": list(case.vocab_words), "output": f"out/{case.id}.npy"}


# What the child is told to do for each kind of case (autograder.child.TASKS runs it).
CHILD_TASKS = {"build_model": _build_model_task, "build_models": _build_models_task,
               "call": _call_task, "call_with_models": _call_with_models_task,
               "call_with_objects": _call_with_objects_task}


def build_in_child(grading: Grading) -> None:
    """Run every case's student call in the untrusted child; results in ``built``."""
    spec, cases = grading.spec, grading.cases
    tasks = [{"id": "signatures", "kind": "signatures", "function": "", "timeout": 30}]
    for case in cases.values():
        task = {"id": case.id, "kind": case.kind, "function": case.function,
                "kwargs": case.kwargs, "timeout": grading.timeouts[case.id],
                "seed": 0 if grading.recipe_seed is None else grading.recipe_seed}
        try:
            task.update(CHILD_TASKS[case.kind](case, grading))
        except GraderProblem as problem:  # the case is not run; its checks are withheld
            grading.grader_problems[case.id] = str(problem)
            continue
        tasks.append(task)
    # A NumPy-only assignment's child runs where TensorFlow, Keras, JAX and PyTorch cannot
    # be imported at all (their packages are masked in the sandbox).
    grading.built = run_tasks(
        "autograder.child", {"module_file": spec.FILENAME, "module_name": spec.NAME,
                             "functions": list(spec.FUNCTIONS), "keras": spec.USES_KERAS},
        tasks, workdir=grading.child_dir, limits=grading.limits, log_dir=grading.root,
        describe=lambda t: cases[t["id"]].call() if t["id"] in cases
        else "reading the functions", numpy_only=not spec.USES_KERAS)
    for case_id, message in grading.grader_problems.items():
        grading.built[case_id] = TaskResult(case_id, "grader_error", message)
    for task_id, task in grading.built.items():  # the container ran out of memory
        if task.status == "grader_error" and task_id not in grading.grader_problems:
            grading.grader_problems[task_id] = task.message
    grading.signatures = judged_signatures(grading)


def judged_signatures(grading: Grading) -> dict:
    """The contract functions' signatures as the signature check judges them: the objects
    the module binds (the child's report, which can only make a check fail) and the grader's
    own reading of its copy of the source (:mod:`autograder.signatures`) must both agree
    with the contract. Nothing when the child could not report (every function missing)."""
    spec, report = grading.spec, grading.built["signatures"]
    if not report.ok:
        return {}
    readings = read_source(grading.submission.folder / spec.FILENAME, spec.FUNCTIONS)
    return judge_signatures(readings, report.data.get("functions"), spec.FUNCTIONS)


# ---------------------------------------------------------------- 3. what the child left
def _taken(out: Path, name: str, taken: Path) -> Path:
    """A private copy of the child's ``out/name`` (checked: no link, regular, bounded)."""
    import uuid

    return safeload.copy_child_file(out, name, taken / f"{uuid.uuid4().hex}-{name}",
                                    safeload.MAX_ARRAY_BYTES + (1 << 20))


def _rebuild(node: dict, data):
    """A "call" task's result (arrays, tuples, dicts) from its structure and arrays."""
    if node["type"] == "array":
        return data[node["key"]]
    if node["type"] == "tuple":
        return tuple(_rebuild(item, data) for item in node["items"])
    return {k: _rebuild(item, data) for k, item in node["items"].items()}


def _read_result(case: Case, grading: Grading):
    """The NumPy result of a call case, from its checked .npy/.npz (no pickles), or None
    (and the case marked failed with the reason) for a forged, broken or oversized file."""
    out = grading.child_dir / "out"
    try:
        if case.kind == "call_with_objects":
            return safeload.safe_load_npy(_taken(out, f"{case.id}.npy", grading.taken))
        data = safeload.safe_load_npz(_taken(out, f"{case.id}.npz", grading.taken))
        return _rebuild(grading.built[case.id].data["structure"], data)
    except Exception as exc:
        grading.built[case.id] = TaskResult(case.id, "error",
                                            f"its result could not be read ({exc})")
        return None


def _take_models(case: Case, grading: Grading) -> list[str] | None:
    """Private, checked copies in the worker's folder of the models the child saved; None
    (and the case marked failed with the reason) when one is missing or unsafe."""
    names = ([f"{case.id}.keras"] if case.kind == "build_model"
             else [f"{case.id}.{i}.keras" for i in range(case.count)])
    files = []
    try:
        for name in names:
            # The one gate of every student model: bounded, link-proof, the zip checked
            # (its HDF5 only by the sandboxed worker, never here).
            files.append(str(safeload.take_keras(grading.child_dir / "out", name,
                                                 grading.worker_dir / name)))
    except FileNotFoundError:
        grading.built[case.id] = TaskResult(case.id, "error", "no model file was saved")
        return None
    except (safeload.UnsafeFile, OSError) as exc:
        grading.built[case.id] = TaskResult(case.id, "error",
                                            f"its saved model was refused ({exc})")
        return None
    return files


def take_child_results(grading: Grading) -> None:
    """Arrays from call cases; worker tasks for the models of build cases."""
    for case in grading.cases.values():
        if not grading.built[case.id].ok:
            continue
        if case.kind not in ("build_model", "build_models"):
            grading.arrays[case.id] = _read_result(case, grading)
            continue
        files = _take_models(case, grading)
        if files is None:
            continue
        recipe = grading.recipes[case.recipe] if case.recipe else None
        default = grading.timeouts[case.id] * 3 if case.recipe else 120
        grading.worker_tasks.append({"timeout": default, **grading.spec.worker_task(
            case, files, inputs=grading.inputs_dir, recipe=recipe)})
    # Reference values the trusted worker computes with real Keras (e.g. a GRU layer's
    # output for given weights); they never see student code.
    if any(grading.built[case_id].ok for case_id in grading.cases):  # else nothing to judge
        for task in grading.spec.worker_references(grading.inputs_dir):
            grading.reference_ids.append(task["id"])
            grading.worker_tasks.append({"timeout": 120, **task})


# ---------------------------------------------------------------- 4. the worker
def _prediction_tasks(grading: Grading) -> tuple[list[dict], dict[str, TaskResult]]:
    """The submitted model.keras on the holdout(s), for a worker of their own, once it has
    passed the gate of child-saved models; or the results saying why it was refused."""
    if not grading.scores_submitted:
        return [], {}
    return submitted_model_tasks(grading.submission.folder, grading.worker_dir,
                                 grading.inputs_dir, grading.inputs.submitted,
                                 grading.timeouts["submitted_model"])


def _fresh(worker_dir: Path) -> Path:
    """``worker_dir`` again, for a second worker: run_tasks needs its out/ and home/ new."""
    for folder in ("out", "home"):
        old = worker_dir / folder
        if old.exists():
            shutil.rmtree(old, ignore_errors=True)
    return worker_dir


def measure_in_worker(grading: Grading) -> None:
    """Run the worker tasks (those not already computed on identical inputs), then the
    submitted model's predictions in a fresh worker; note what failed on the grader's side."""
    limits = grading.limits
    tasks, reused, remember = reuse_results(grading.worker_tasks, limits.threads)
    measured = run_worker(tasks, grading.worker_dir, limits, grading.root) if tasks else {}
    predictions, refused = _prediction_tasks(grading)
    measured.update(refused)
    if predictions:  # a fresh process: after training, the worker holds far more memory
        measured.update(run_worker(predictions, _fresh(grading.worker_dir), limits,
                                   grading.root))
    for task_id, task in measured.items():
        problem = worker_problem(task, limits.worker_memory_bytes or limits.memory_bytes)
        if problem is None and task_id in grading.reference_ids and not task.ok:
            problem = f"{GRADER_PROBLEM_REFERENCE} ({task.message}). {GRADER_PROBLEM}"
        if problem is not None:
            grading.grader_problems[task_id] = problem
        remember(task_id, task)
        if task_id in grading.cases and grading.cases[task_id].recipe:
            grading.timings[f"  of which training {task_id}"] = task.seconds
    if reused:
        grading.timings[f"  reused from identical inputs: {len(reused)} worker tasks"] = 0.0
    grading.measured = {**measured, **reused}


def observations(grading: Grading) -> Observations:
    """What the checks see: plain data from every stage."""
    measured, cases = grading.measured, grading.cases
    bands = load_bands()
    return Observations(
        cases=cases, built=grading.built,
        measured={k: v.data for k, v in measured.items() if v.ok},
        trained={k: v.data for k, v in measured.items() if v.ok and k in cases
                 and cases[k].recipe},
        references={k: measured[k].data for k in grading.reference_ids if measured[k].ok},
        arrays=grading.arrays, signatures=grading.signatures, labels=grading.labels,
        bands=bands.get("quick", {}), recipes=grading.recipes, profile=grading.profile,
        full_bands=bands.get("full", {}), expected=grading.inputs.expected,
        submitted={**submitted_files(grading.submission),
                   "prediction": measured.get("submitted_model"),
                   **({"holdout_prediction": measured.get("submitted_holdout")}
                      if grading.holdout is not None else {})},
        isolation=detect_isolation(), grader_problems=grading.grader_problems)


def submitted_files(submission: Submission) -> dict:
    """The optional files beside the module: model.keras's sha256, the run report, and the
    answers to the questions (:func:`autograder.questions.submitted_answers`)."""
    import hashlib
    import json

    from autograder.questions import submitted_answers

    info = {"answers": submitted_answers(submission.folder)}
    if submission.has("model.keras"):
        info["model_sha256"] = hashlib.sha256(
            (submission.folder / "model.keras").read_bytes()).hexdigest()
    if submission.has("run_report.json"):
        try:
            info["report"] = json.loads((submission.folder / "run_report.json").read_text())
        except (ValueError, UnicodeDecodeError):
            info["report"] = "unreadable"
    return info

