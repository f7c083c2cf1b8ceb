"""Grade one submission: build in the sandbox, measure in the worker, judge in this process.

This process never imports student code or Keras models: it prepares inputs, keeps the
holdout labels, runs :mod:`autograder.child` (untrusted) and :mod:`autograder.worker`
(trusted) through :mod:`autograder.sandbox`, and turns their plain-data results into scores.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

import autograder.assignments as assignments_pkg
from autograder import safeload
from autograder.isolation import detect as detect_isolation
from autograder.registry import REGISTRY, Check, Outcome, failed, grader_error, skipped
from autograder.sandbox import Limits, TaskResult, run_tasks
from autograder.signatures import read_signatures
from autograder.submission import Submission, resolve

BANDS_FILE = Path(__file__).with_name("bands.json")
# A folder of grading inputs computed ahead of time (the Gradescope bundle's
# ``grading_inputs/``, built by ``python -m autograder gradescope``): the encoded splits, GloVe
# rows and assignment data this process would otherwise compute from the data packages. With
# it the parent never imports pandas or scikit-learn, nor reads the review CSV or GloVe, so
# it stays small enough for Gradescope's default container. Missing entries are computed.
INPUTS_ENV = "SEQLAB_GRADING_INPUTS"
# What the trusted side says when it, not the student's code, could not finish.
GRADER_PROBLEM = ("This is not about your code, and it costs you no points: tell your TA, "
                  "who will regrade it (the autograder needs a larger machine).")
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


def load_bands() -> dict:
    if not BANDS_FILE.exists():
        return {}
    return json.loads(BANDS_FILE.read_text())


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


class CaseFailure(Exception):
    pass


def _inputs_dir() -> Path | None:
    import os

    folder = os.environ.get(INPUTS_ENV)
    return Path(folder) if folder else None


def cached_arrays(name: str, compute) -> dict[str, np.ndarray]:
    """``compute()`` (a dict of arrays), read from ``$SEQLAB_GRADING_INPUTS/name.npz`` when the
    folder holds it; written there when the folder is being built (see :func:`precompute`)."""
    folder = _inputs_dir()
    path = folder / f"{name}.npz" if folder is not None else None
    if path is not None and path.is_file():
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    found = compute()
    if path is not None and _PRECOMPUTING:
        np.savez_compressed(path, **found)
    return found


_PRECOMPUTING: list[bool] = []  # non-empty while precompute() fills the inputs folder


def precompute(folder: Path, assignment: str, *, profile: str = "quick",
               holdout: Path | None = None) -> list[str]:
    """Fill ``folder`` with every input grading ``assignment`` in ``profile`` reads from the
    data packages (and the encoded ``holdout``), so the grader computes none of them."""
    import os

    spec = assignments_pkg.load_assignment(assignment)
    folder.mkdir(parents=True, exist_ok=True)
    old = os.environ.get(INPUTS_ENV)
    os.environ[INPUTS_ENV] = str(folder)
    _PRECOMPUTING.append(True)
    encoded_splits.cache_clear()  # results cached before would not be written to folder
    try:
        needed = {case_id for c in REGISTRY[assignment] for case_id in c.needs}
        recipes = {spec.CASES[c].recipe for c in needed if spec.CASES[c].recipe}
        for name in sorted(recipes):
            if hasattr(spec, "recipe_inputs"):
                recipe_inputs(spec, name)
            else:
                recipe = spec.RECIPES[name]
                encoded_splits(recipe["dataset"], recipe.get("profile", "quick"))
        if "matrix_a" in needed:
            expected_embedding_matrix(spec.MATRIX_WORDS)
        if profile == "full" and hasattr(spec, "SUBMITTED_MODEL_DATASET"):
            submitted_model_inputs(spec.SUBMITTED_MODEL_DATASET, None)
            if holdout is not None:
                submitted_model_inputs(spec.SUBMITTED_MODEL_DATASET, holdout)
    finally:
        _PRECOMPUTING.pop()
        encoded_splits.cache_clear()
        if old is None:
            os.environ.pop(INPUTS_ENV, None)
        else:
            os.environ[INPUTS_ENV] = old
    return sorted(p.name for p in folder.iterdir())


def recipe_inputs(spec, name: str) -> tuple[dict, dict]:
    """``spec.recipe_inputs(name)`` (the worker's arrays, the answers kept here), cached."""
    def compute():
        arrays, kept = spec.recipe_inputs(name)
        return {**arrays, "__kept__": np.array(json.dumps(kept))}

    arrays = cached_arrays(f"recipe-{spec.NAME}-{name}", compute)
    kept = json.loads(str(arrays.pop("__kept__")))
    return arrays, kept


def submitted_model_inputs(dataset: str, holdout: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """``(x_test, y_test)`` a submitted model.keras is scored on: the full profile's test split,
    or a TA's ``holdout`` CSV (:mod:`autograder.holdout`) encoded exactly the same way (the
    full-profile training split's vocabulary, its length, front padding)."""
    if holdout is None:
        def packaged():
            inputs = encoded_splits(dataset, "full")
            return {"x_test": inputs["x_test"], "y_test": inputs["y_test"].astype(np.int64)}

        found = cached_arrays(f"submitted-{dataset}-full-test", packaged)
        return found["x_test"], found["y_test"]
    digest = hashlib.sha256(Path(holdout).read_bytes()).hexdigest()[:16]

    def compute():  # the texts are read only here: a bundle holds them encoded already
        from autograder.holdout import read_holdout
        from seqlab.data import clean_text, load_sentiment
        from seqlab.text import Vocabulary, encode_texts

        texts, labels = read_holdout(holdout)
        data = load_sentiment(dataset, profile="full", seed=0)
        vocab = Vocabulary.build(data.train.texts, max_size=data.vocab_size)
        return {"x_test": encode_texts([clean_text(t) for t in texts], vocab, data.max_len),
                "y_test": labels.astype(np.int64)}

    found = cached_arrays(f"holdout-{dataset}-{digest}", compute)
    return found["x_test"], found["y_test"]


def accuracy_inputs(dataset: str, profile: str = "quick"):
    """(matrix, x_train, y_train, x_test, y_test) for an accuracy recipe, built once."""
    inputs = encoded_splits(dataset, profile)
    return (inputs["matrix"], inputs["x_train"], inputs["y_train"], inputs["x_test"],
            inputs["y_test"])


@lru_cache(maxsize=4)
def encoded_splits(dataset: str, profile: str = "quick") -> dict[str, np.ndarray]:
    """The seed-0 splits as the labs encode them (vocabulary from train, front padding) and
    the GloVe matrix for that vocabulary: ``matrix``, ``x_/y_`` ``train``, ``val``, ``test``."""
    def compute():
        from seqlab.data import load_sentiment
        from seqlab.glove import load_glove
        from seqlab.text import Vocabulary, encode_texts

        data = load_sentiment(dataset, profile=profile, seed=0)
        vocab = Vocabulary.build(data.train.texts, max_size=data.vocab_size)
        found = {"matrix": load_glove().embedding_matrix(vocab, seed=0).matrix}
        for name, split in (("train", data.train), ("val", data.validation),
                            ("test", data.test)):
            found[f"x_{name}"] = encode_texts(split.texts, vocab, data.max_len)
            found[f"y_{name}"] = split.labels.astype("float32" if name != "test" else "int64")
        return found

    return cached_arrays(f"splits-{dataset}-{profile}", compute)


def expected_embedding_matrix(words) -> dict:
    def compute():
        from seqlab.glove import load_glove
        from seqlab.text import Vocabulary

        glove = load_glove()
        vocab = Vocabulary(list(words))
        known = [i for i, w in enumerate(vocab.itos) if i >= 2 and w in glove]
        return {"shape": np.array([len(vocab), glove.dim]), "known_ids": np.array(known),
                "known_vectors": np.array([glove.vector(vocab.itos[i]) for i in known],
                                          dtype=np.float32).reshape(len(known), glove.dim),
                "words": np.array(vocab.itos)}

    key = hashlib.sha256(json.dumps(list(words)).encode()).hexdigest()[:12]
    found = cached_arrays(f"glove-rows-{key}", compute)
    known = {int(i): v for i, v in zip(found["known_ids"], found["known_vectors"],
                                       strict=True)}
    size = int(found["shape"][0])
    return {"shape": (size, int(found["shape"][1])), "known": known,
            "unknown_ids": [i for i in range(1, size) if i not in known],
            "words": [str(w) for w in found["words"]]}


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
                             {**_submitted_files(submission), "prediction": None},
                             profile=profile, full_bands=load_bands().get("full", {}))
        return [_result(c, _unjudged(c, spec, files, f"{spec.FILENAME} was not submitted"))
                for c in checks]
    needed = {case_id for c in checks for case_id in c.needs}
    timeouts = {case_id: case_timeout or max(c.timeout for c in checks if case_id in c.needs)
                for case_id in needed}
    if any(c.name.startswith("accuracy: your submitted") for c in checks):
        timeouts["submitted_model"] = 300.0
    observations, built, measured = observe(spec, submission, root, timeouts, limits=limits,
                                            recipe_seed=recipe_seed, timings=timings,
                                            profile=profile, holdout=holdout)
    if not built["signatures"].ok and built["signatures"].status == "import_error":
        message = built["signatures"].message
        return [_result(c, _unjudged(c, spec, observations, message)) for c in checks]
    return [_result(c, _judge(c, observations, built, measured)) for c in checks]


def observe(spec, submission: Submission, root: Path, timeouts: dict[str, float], *,
            limits: Limits, recipe_seed: int | None = None,
            timings: dict[str, float] | None = None, profile: str = "quick",
            holdout: Path | None = None):
    """Build the cases in the child, measure or train them in the worker.

    Returns ``(observations, built, measured)``; ``timeouts`` maps case id to seconds and
    ``timings`` (if given) receives the seconds each stage took.
    """
    timings = {} if timings is None else timings
    clock = time.perf_counter()
    cases = {case_id: spec.CASES[case_id] for case_id in spec.CASES if case_id in timeouts}
    score_submitted = (profile == "full" and "submitted_model" in timeouts
                       and submission.has("model.keras"))

    # Only this process writes these folders; the sandboxes see their own one only (the
    # worker's inputs lie inside its folder) and write only in its out/ and home/.
    child_dir, worker_dir, taken = root / "child", root / "worker", root / "taken"
    inputs_dir = worker_dir / "inputs"
    for folder in (child_dir, worker_dir, inputs_dir, taken):
        folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(submission.folder / spec.FILENAME, child_dir / spec.FILENAME)
    (child_dir / spec.FILENAME).chmod(0o644)

    recipes = {k: dict(v) for k, v in spec.RECIPES.items()}
    if recipe_seed is not None:
        for recipe in recipes.values():
            recipe["seed"] = recipe_seed
    matrices = {"small": spec.small_matrix()} if hasattr(spec, "small_matrix") else {}
    labels, train_inputs = {}, {}
    for case in cases.values():
        if case.recipe and case.recipe not in labels and hasattr(spec, "recipe_inputs"):
            # The assignment's own data: arrays for the worker, answers kept here.
            worker_arrays, labels[case.recipe] = recipe_inputs(spec, case.recipe)
            data_path = inputs_dir / f"{case.recipe}.npz"
            np.savez(data_path, **worker_arrays)
            train_inputs[case.recipe] = data_path
        elif case.recipe and case.recipe not in labels:
            recipe = recipes[case.recipe]
            inputs = encoded_splits(recipe["dataset"], recipe.get("profile", "quick"))
            matrices[case.recipe] = inputs["matrix"]
            labels[case.recipe] = inputs["y_test"].astype(np.int64)
            data_path = inputs_dir / f"{case.recipe}.npz"
            # Holdout inputs only: the worker never sees y_test (the parent scores).
            kept = ("x_train", "y_train", "x_test") + (
                ("x_val", "y_val") if recipe.get("patience") else ())
            np.savez(data_path, **{key: inputs[key] for key in kept})
            train_inputs[case.recipe] = data_path
    if score_submitted:  # the student's own trained model, on the full-profile holdout
        x_test, y_test = submitted_model_inputs(spec.SUBMITTED_MODEL_DATASET, None)
        labels["submitted_model"] = y_test
        np.savez(inputs_dir / "submitted_model.npz", x_test=x_test)
        if holdout is not None:  # the TA's private reviews score it; the report keeps its split
            x_hidden, labels["submitted_holdout"] = submitted_model_inputs(
                spec.SUBMITTED_MODEL_DATASET, holdout)
            np.savez(inputs_dir / "submitted_holdout.npz", x_test=x_hidden)
    for key, matrix in matrices.items():
        np.save(inputs_dir / f"{key}.npy", matrix)
        np.save(child_dir / f"{key}.npy", matrix)

    timings["prepare inputs (parent)"] = time.perf_counter() - clock
    clock = time.perf_counter()

    # 1. The untrusted child calls the student's functions.
    grader_problems: dict[str, str] = {}
    child_tasks = [{"id": "signatures", "kind": "signatures", "function": "", "timeout": 30}]
    for case in cases.values():
        task = {"id": case.id, "kind": case.kind, "function": case.function,
                "kwargs": case.kwargs, "timeout": timeouts[case.id],
                "seed": 0 if recipe_seed is None else recipe_seed}  # calibration varies it
        if case.kind == "build_model":
            task.update(array_args=[f"{case.matrix}.npy"] if case.matrix else [],
                        output=f"out/{case.id}.keras")
        elif case.kind == "build_models":
            task.update(outputs=[f"out/{case.id}.{i}.keras" for i in range(case.count)])
        elif case.kind == "call":
            task.update(inputs=[_write_input(child_dir, name, spec.INPUTS[name])
                                for name in case.inputs], output=f"out/{case.id}.npz")
            if case.rng is not None:
                task["rng"] = {"param": "rng", "seed": case.rng}
        elif case.kind == "call_with_models":
            calls = []
            for call in case.calls:
                entry = {"inputs": [_write_input(child_dir, name, spec.INPUTS[name])
                                    for name in call.get("inputs", ())],
                         "kwargs": call.get("kwargs", {})}
                if call.get("rng") is not None:
                    entry["rng"] = {"param": "rng", "seed": call["rng"]}
                calls.append(entry)
            try:
                models = grader_models(case, child_dir, root, limits)
            except GraderProblem as problem:  # the case is not run; its checks are withheld
                grader_problems[case.id] = str(problem)
                continue
            task.update(models=models, calls=calls, output=f"out/{case.id}.npz")
        else:
            task.update(vocab_words=list(case.vocab_words), output=f"out/{case.id}.npy")
        child_tasks.append(task)
    uses_keras = getattr(spec, "USES_KERAS", True)
    # A NumPy-only assignment's child runs where TensorFlow, Keras, JAX and PyTorch cannot
    # be imported at all (their packages are masked in the sandbox), so no report is needed.
    built = run_tasks("autograder.child", {"module_file": spec.FILENAME, "module_name": spec.NAME,
                                           "functions": list(spec.FUNCTIONS),
                                           "keras": uses_keras},
                      child_tasks, workdir=child_dir, limits=limits, log_dir=root,
                      describe=lambda t: cases[t["id"]].call() if t["id"] in cases
                      else "reading the functions", numpy_only=not uses_keras)
    for case_id, message in grader_problems.items():
        built[case_id] = TaskResult(case_id, "grader_error", message)
    for task_id, task in built.items():  # the container ran out of memory during the call
        if task.status == "grader_error" and task_id not in grader_problems:
            grader_problems[task_id] = task.message
    # Read from the grader's own copy of the source, never from what the child says.
    signatures = (read_signatures(submission.folder / spec.FILENAME, spec.FUNCTIONS)
                  if built["signatures"].ok else {})
    timings["build cases (student child)"] = time.perf_counter() - clock
    clock = time.perf_counter()

    # 2. The trusted worker loads what was saved and measures or trains it.
    worker_tasks, arrays = [], {}
    for case in cases.values():
        if not built[case.id].ok:
            continue
        if case.kind == "call_with_objects":
            arrays[case.id] = _load_array(child_dir / "out", f"{case.id}.npy", taken, built,
                                          case.id)
            continue
        if case.kind in ("call", "call_with_models"):
            arrays[case.id] = _load_result(child_dir / "out", f"{case.id}.npz", taken, built,
                                           case.id)
            continue
        if hasattr(spec, "worker_task"):  # the assignment says how to measure its models
            names = ([f"{case.id}.keras"] if case.kind == "build_model"
                     else [f"{case.id}.{i}.keras" for i in range(case.count)])
            files = _take_models(child_dir / "out", names, worker_dir, built, case.id)
            if files is None:
                continue
            if case.recipe:
                worker_tasks.append({"timeout": timeouts[case.id] * 3, **spec.worker_task(
                    case, files, data=str(train_inputs[case.recipe]),
                    recipe=recipes[case.recipe])})
            else:
                worker_tasks.append({"timeout": 120, **spec.worker_task(case, files)})
            continue
        files = _take_models(child_dir / "out", [f"{case.id}.keras"], worker_dir, built,
                             case.id)
        if files is None:
            continue
        model_file = Path(files[0])
        if case.recipe:
            worker_tasks.append({"id": case.id, "kind": "train", "model": str(model_file),
                                 "data": str(train_inputs[case.recipe]),
                                 "matrix": str(inputs_dir / f"{case.matrix}.npy"),
                                 "recipe": recipes[case.recipe],
                                 "trainable_embeddings": bool(case.kwargs.get(
                                     "trainable_embeddings", False)),  # the contract's say
                                 "timeout": timeouts[case.id] * 3})
        else:
            worker_tasks.append({"id": case.id, "kind": "inspect", "model": str(model_file),
                                 "matrix": str(inputs_dir / f"{case.matrix}.npy"),
                                 "probes": [list(p) for p in case.probes], "timeout": 60})
    # Reference values the trusted worker computes with real Keras (e.g. a GRU layer's output
    # for given weights), declared by the assignment; they never see student code.
    reference_ids = []
    if any(built[case_id].ok for case_id in cases):  # else nothing to compare them with
        for task in getattr(spec, "worker_references", lambda folder: [])(inputs_dir):
            reference_ids.append(task["id"])
            worker_tasks.append({"timeout": 120, **task})
    # What the worker computes is a pure function of its input files (the trusted worker is
    # seeded and deterministic on one machine), so results are kept by content: a model file
    # identical to one measured before in this process (a whole class grades in one) is
    # neither loaded nor trained again. Only successful results are kept.
    keys = {task["id"]: _task_key(task, limits.threads) for task in worker_tasks}
    cached = {tid: _WORKER_CACHE[key] for tid, key in keys.items() if key in _WORKER_CACHE}
    worker_tasks = [task for task in worker_tasks if task["id"] not in cached]
    predictions = []  # the submitted model's, in a worker of their own (see below)
    if score_submitted:
        shutil.copyfile(submission.folder / "model.keras", worker_dir / "submitted.keras")
        predictions.append({"id": "submitted_model", "kind": "predict",
                             "model": str(worker_dir / "submitted.keras"),
                             "data": str(inputs_dir / "submitted_model.npz"),
                             "timeout": timeouts["submitted_model"]})
        if holdout is not None:
            predictions.append({"id": "submitted_holdout", "kind": "predict",
                                 "model": str(worker_dir / "submitted.keras"),
                                 "data": str(inputs_dir / "submitted_holdout.npz"),
                                 "timeout": timeouts["submitted_model"]})
    measured = run_worker(worker_tasks, worker_dir, limits, root) if worker_tasks else {}
    if predictions:  # a fresh process: after training, the worker holds far more memory
        measured.update(run_worker(predictions, _fresh(worker_dir), limits, root))
    timings["inspect and train (worker)"] = time.perf_counter() - clock
    for case_id, task in measured.items():
        problem = worker_problem(task, limits.worker_memory_bytes or limits.memory_bytes)
        if problem is not None or (case_id in reference_ids and not task.ok):
            grader_problems[case_id] = problem or (
                f"the grader's own reference computation failed ({task.message}). "
                f"{GRADER_PROBLEM}")
        if task.ok and keys.get(case_id):
            _remember(keys[case_id], task)
        if case_id in cases and cases[case_id].recipe:
            timings[f"  of which training {case_id}"] = task.seconds
    if cached:
        timings[f"  reused from identical inputs: {len(cached)} worker tasks"] = 0.0
    measured = {**measured, **cached}

    observations = Observations(
        cases=cases, built=built,
        measured={k: v.data for k, v in measured.items() if v.ok},
        trained={k: v.data for k, v in measured.items() if v.ok and k in cases
                 and cases[k].recipe},
        references={k: measured[k].data for k in reference_ids if measured[k].ok},
        arrays=arrays, signatures=signatures, labels=labels,
        bands=load_bands().get("quick", {}), recipes=recipes, profile=profile,
        full_bands=load_bands().get("full", {}),
        expected={"matrix": expected_embedding_matrix(spec.MATRIX_WORDS)}
        if "matrix_a" in cases else {},
        submitted={**_submitted_files(submission),
                   "prediction": measured.get("submitted_model"),
                   **({"holdout_prediction": measured.get("submitted_holdout")}
                      if holdout is not None else {})},
        isolation=detect_isolation(), grader_problems=grader_problems)
    return observations, built, measured


_WORKER_CACHE: OrderedDict[str, TaskResult] = OrderedDict()
WORKER_CACHE_SIZE = 4096


def _remember(key: str, result: TaskResult) -> None:
    _WORKER_CACHE[key] = result
    _WORKER_CACHE.move_to_end(key)
    while len(_WORKER_CACHE) > WORKER_CACHE_SIZE:
        _WORKER_CACHE.popitem(last=False)


def _task_key(task: dict, threads: int | None) -> str | None:
    """What a worker task computes: its fields and the content of its input files.

    Arrays (``.npy``/``.npz``) count by dtype, shape and bytes, a ``.keras`` model by its
    config and weight values (not its save date or file name). ``None`` (never reused) for
    a file that cannot be read this way; the worker then reports the problem itself.
    """
    digest = hashlib.sha256(f"threads={threads}".encode())
    for key, value in sorted(task.items()):
        if key in ("id", "timeout"):
            continue
        path = Path(value) if isinstance(value, str) else None
        try:
            if path is not None and path.suffix in (".npz", ".npy") and path.is_file():
                if path.suffix == ".npy":
                    arrays = {"": np.load(path, allow_pickle=False)}
                else:
                    with np.load(path, allow_pickle=False) as data:
                        arrays = {k: data[k] for k in sorted(data.files)}
                for name, array in arrays.items():
                    _hash_array(digest, f"{key}/{name}", array)
            elif path is not None and path.suffix == ".keras" and path.is_file():
                _hash_keras_file(digest, key, path)
            else:
                digest.update(f"{key}={json.dumps(value, sort_keys=True)}".encode())
        except Exception:  # an unreadable file: let the worker say what is wrong
            return None
    return digest.hexdigest()


def _hash_array(digest, name: str, array: np.ndarray) -> None:
    digest.update(f"{name}:{array.dtype}:{array.shape}".encode())
    digest.update(np.ascontiguousarray(array).tobytes())


def _hash_keras_file(digest, key: str, path: Path) -> None:
    """A ``.keras`` zip's content: every member but ``metadata.json`` (which holds the save
    date), weight files (HDF5, which stores creation times) by their datasets' values."""
    import io
    import zipfile

    import h5py

    with zipfile.ZipFile(path) as archive:
        for name in sorted(archive.namelist()):
            if name == "metadata.json":
                continue
            data = archive.read(name)
            if name == "config.json":  # object ids vary per process: number them in order
                data = json.dumps(_renumber_shared(json.loads(data), {})).encode()
            if not name.endswith(".h5"):
                digest.update(f"{key}/{name}:{len(data)}".encode())
                digest.update(data)
                continue
            with h5py.File(io.BytesIO(data), "r") as weights:
                for item, array in sorted(_datasets(weights, h5py.Dataset)):
                    _hash_array(digest, f"{key}/{name}/{item}", array)


def _renumber_shared(value, seen: dict):
    """``value`` with every ``shared_object_id`` replaced by its order of first appearance."""
    if isinstance(value, dict):
        return {k: (seen.setdefault(v, len(seen)) if k == "shared_object_id"
                    else _renumber_shared(v, seen)) for k, v in value.items()}
    if isinstance(value, list):
        return [_renumber_shared(v, seen) for v in value]
    return value


def _datasets(group, dataset_type) -> list[tuple[str, np.ndarray]]:
    found = []
    group.visititems(lambda item, obj: found.append((item, np.asarray(obj)))
                     if isinstance(obj, dataset_type) else None)
    return found


def _write_input(folder: Path, name: str, value) -> dict:
    """Save one named input for the child: arrays as .npy, dicts of arrays as .npz."""
    if isinstance(value, dict):
        np.savez(folder / f"in_{name}.npz", **value)
        return {"npz": f"in_{name}.npz"}
    if isinstance(value, np.ndarray):
        np.save(folder / f"in_{name}.npy", value)
        return {"npy": f"in_{name}.npy"}
    return {"value": value}


_GRADER_MODELS: dict[str, list[bytes]] = {}


def grader_models(case, child_dir: Path, root: Path, limits: Limits) -> list[str]:
    """Files in ``child_dir`` holding the grader's own seeded models for a
    ``call_with_models`` case (e.g. the LM handed to ``generate``).

    The trusted worker builds and saves them (the child cannot import the grader's
    builders); they are a pure function of the case's builder and arguments, so one build
    serves every grading in this process.
    """
    key = json.dumps([case.builder, case.build], sort_keys=True)
    if key not in _GRADER_MODELS:
        workdir = root / f"grader-models-{case.id}"
        workdir.mkdir()
        task = {"id": "models", "kind": "save_grader_models", "builder": case.builder,
                "build": case.build, "timeout": 120}
        result = run_worker([task], workdir, limits, root)["models"]
        if not result.ok:
            raise GraderProblem(worker_problem(
                result, limits.worker_memory_bytes or limits.memory_bytes) or (
                f"the grader could not build its own {case.builder} models "
                f"({result.message}). {GRADER_PROBLEM}"))
        _GRADER_MODELS[key] = [
            safeload.open_child_file(workdir / "out", f"grader.{i}.keras",
                                     safeload.MAX_MODEL_BYTES)
            for i in range(int(result.data.get("count", 0)))]
    names = []
    for number, data in enumerate(_GRADER_MODELS[key]):
        name = f"grader_{case.id}.{number}.keras"
        (child_dir / name).write_bytes(data)
        (child_dir / name).chmod(0o644)
        names.append(name)
    return names


def _fresh(worker_dir: Path) -> Path:
    """``worker_dir`` again, for a second worker: run_tasks needs its out/ and home/ new."""
    for folder in ("out", "home"):
        old = worker_dir / folder
        if old.exists():
            shutil.rmtree(old, ignore_errors=True)
    return worker_dir


class GraderProblem(RuntimeError):
    """The grader's own side failed (not the student's code): its checks are withheld."""


MEMORY_WORDS = ("MemoryError", "ResourceExhausted", "bad_alloc", "out of memory",
                "Cannot allocate memory", "OOM")


def worker_problem(result: TaskResult, memory_bytes: int | None = None) -> str | None:
    """Why a trusted worker task failed for the grader's own reasons, or None.

    The worker never runs student code, so a worker that could not start, was killed
    (SIGKILL: the kernel's OOM killer, or the grading container's memory limit), crashed
    in native code, or ran out of memory is the grader's problem, never lost points.
    """
    if result.ok:
        return None
    text = result.message
    cap = f"; its memory cap is {memory_bytes >> 20} MB" if memory_bytes else ""
    if result.status == "grader_error":
        return text
    if "SIGKILL" in text or any(word in text for word in MEMORY_WORDS):
        return (f"the grader ran out of memory while measuring this (its trusted worker "
                f"process was killed or got a MemoryError{cap}). {GRADER_PROBLEM}")
    if result.status == "import_error":
        return (f"the grader ran out of memory or could not start its own trusted worker "
                f"process (it stopped before it was ready{cap}: {text[-160:]}). "
                f"{GRADER_PROBLEM}")
    if result.status == "crashed":
        return (f"the grader's own trusted worker process crashed while measuring this "
                f"({text[-200:]}). {GRADER_PROBLEM}")
    return None


def run_worker(tasks: list[dict], workdir: Path, limits: Limits, log_dir: Path) -> dict:
    """Run trusted worker tasks in their own sandbox (its own fresh uid where root), with
    ``limits.worker_memory_bytes`` where set (else the child's memory limit)."""
    memory = limits.worker_memory_bytes or limits.memory_bytes
    return run_tasks("autograder.worker", {}, tasks, workdir=workdir, role="worker",
                     limits=Limits(memory_bytes=memory, threads=limits.threads,
                                   cpu_seconds=limits.cpu_seconds), log_dir=log_dir)


def _take_models(out: Path, names: list[str], dest: Path, built, case_id) -> list[str] | None:
    """Private, checked copies in ``dest`` of the models the child saved in ``out``; None
    (and the case marked failed with the reason) when one is missing or unsafe."""
    files = []
    try:
        for name in names:
            copy = safeload.copy_child_file(out, name, dest / name, safeload.MAX_MODEL_BYTES)
            safeload.check_keras(copy)
            copy.chmod(0o644)  # for the worker's uid; the folder admits only that uid
            files.append(str(copy))
    except FileNotFoundError:
        built[case_id] = TaskResult(case_id, "error", "no model file was saved")
        return None
    except (safeload.UnsafeFile, OSError) as exc:
        built[case_id] = TaskResult(case_id, "error", f"its saved model was refused ({exc})")
        return None
    return files


def _taken(out: Path, name: str, taken: Path) -> Path:
    """A private copy of the child's ``out/name`` (checked: no link, regular, bounded)."""
    return safeload.copy_child_file(out, name, taken / f"{uuid.uuid4().hex}-{name}",
                                    safeload.MAX_ARRAY_BYTES + (1 << 20))


def _load_result(out: Path, name: str, taken: Path, built, case_id):
    """Rebuild a "call" task's result (arrays, tuples, dicts) from its .npz, no pickles."""
    def rebuild(node, data):
        if node["type"] == "array":
            return data[node["key"]]
        if node["type"] == "tuple":
            return tuple(rebuild(item, data) for item in node["items"])
        return {k: rebuild(item, data) for k, item in node["items"].items()}

    try:
        data = safeload.safe_load_npz(_taken(out, name, taken))
        return rebuild(built[case_id].data["structure"], data)
    except Exception as exc:  # a forged, broken or oversized file
        built[case_id] = TaskResult(case_id, "error", f"its result could not be read ({exc})")
        return None


def _load_array(out: Path, name: str, taken: Path, built, case_id):
    try:
        return safeload.safe_load_npy(_taken(out, name, taken))
    except Exception as exc:  # a forged, broken or oversized file
        built[case_id] = TaskResult(case_id, "error", f"its result could not be read ({exc})")
        return None


def _submitted_files(submission: Submission) -> dict:
    info = {}
    if submission.has("model.keras"):
        info["model_sha256"] = hashlib.sha256(
            (submission.folder / "model.keras").read_bytes()).hexdigest()
    if submission.has("run_report.json"):
        try:
            info["report"] = json.loads((submission.folder / "run_report.json").read_text())
        except (ValueError, UnicodeDecodeError):
            info["report"] = "unreadable"
    return info


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
    if check.name.startswith("GPU") and not _gpu_visible(obs):
        return skipped("no GPU is visible to the grader here, so GPU use was not checked")
    if check.name.startswith("accuracy: your submitted"):
        if profile != "full":
            return skipped("a submitted model.keras is scored only with --profile full")
        if "submitted_model" not in load_bands().get("full", {}):
            return skipped("no full-profile band is calibrated yet: run `python -m "
                           "autograder calibrate --profile full` on a GPU")
    bands = load_bands().get("quick", {}) if obs is None else obs.bands
    for case_id in check.needs:
        recipe = spec.CASES[case_id].recipe
        if recipe and recipe not in bands:
            return skipped(f"no calibrated band for {recipe}: run "
                           "`python -m autograder calibrate`")
    return None


def _unjudged(check: Check, spec, obs: Observations, message: str) -> Outcome:
    """A check the module itself could not be graded for (missing, does not import): failed,
    unless it is skipped for every submission alike (here, or, for a check of submitted files
    only such as the optional run report, whenever those files are absent)."""
    elsewhere = _not_here(check, spec, obs.profile, obs)
    if elsewhere is not None:
        return elsewhere
    if not check.needs and check.function is None:
        try:
            outcome = check.judge(obs)
        except Exception:  # it needed the module after all
            outcome = None
        if outcome is not None and outcome.status == "skipped":
            return outcome
    return failed(message)


SUBMITTED_CHECKS = ("accuracy: your submitted", "self-reported:")  # read the "predict" tasks


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
    if outcome.status == "failed" and predicted and check.name.startswith(SUBMITTED_CHECKS):
        return grader_error(obs.grader_problems[predicted[0]])
    return outcome


def _result(check: Check, outcome: Outcome) -> TestResult:
    counted = outcome.status not in ("skipped", "grader_error")  # both 0 of 0
    return TestResult(
        assignment=check.assignment, name=check.name,
        points=round(check.points * outcome.fraction, 2) if counted else 0.0,
        max_points=check.points if counted else 0.0, status=outcome.status,
        message=outcome.message, visibility=check.visibility)
