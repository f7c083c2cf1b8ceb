"""Running the trusted worker, and telling the grader's own failures from the student's.

The worker never runs student code, so a worker that could not start, was killed, or
crashed in native code is the grader's problem (:func:`worker_problem`): its checks are
withheld and the grading marked for a regrade, never lost points. Memory is the exception:
a worker task on the student's model that got a MemoryError, or was killed for (or reached)
its call's own memory limit (:class:`autograder.sandbox.CallMemory`), failed for the memory
the student's model demanded: the check fails, its maximum unchanged. Running out while
building the grader's own models stays the grader's.
"""

from __future__ import annotations

import json
from pathlib import Path

from autograder import safeload
from autograder.sandbox import MEMORY_WORDS, Limits, TaskResult, run_tasks

# What the trusted side says when it, not the student's code, could not finish.
GRADER_PROBLEM = ("This is not about your code, and it costs you no points: tell your TA, "
                  "who will regrade it (the autograder needs a larger machine).")


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
                result, limits.worker_memory_bytes or limits.memory_bytes,
                student_model=False) or (
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


class GraderProblem(RuntimeError):
    """The grader's own side failed (not the student's code): its checks are withheld."""


def worker_problem(result: TaskResult, memory_bytes: int | None = None,
                   student_model: bool = True) -> str | None:
    """Why a trusted worker task failed for the grader's own reasons, or None.

    A worker that could not start, was killed (SIGKILL with no sign of the call's own memory
    limit), or crashed in native code is the grader's problem, never lost points. A task on
    the student's model (``student_model``) that ran out of its call's memory
    (``data["out_of_memory"]``: its cgroup's OOM kill or peak at the limit) or got a
    MemoryError is the student's: None, and the check fails.
    """
    if result.ok:
        return None
    text = result.message
    cap = f"; its memory cap is {memory_bytes >> 20} MB" if memory_bytes else ""
    if result.status == "grader_error":
        return text
    if student_model and student_out_of_memory(result):
        return None
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


def student_out_of_memory(result: TaskResult) -> bool:
    """The task failed for memory within the call's own bound: the call's cgroup killed it
    or reached its limit, or it got a MemoryError (``RLIMIT_DATA``, the call's own cap)."""
    return bool(result.data.get("out_of_memory")) or (
        result.status in ("error", "crashed") and "SIGKILL" not in result.message
        and any(word in result.message for word in MEMORY_WORDS))


def run_worker(tasks: list[dict], workdir: Path, limits: Limits, log_dir: Path) -> dict:
    """Run trusted worker tasks in their own sandbox (its own fresh uid where root), with
    ``limits.worker_memory_bytes`` where set (else the child's memory limit)."""
    memory = limits.worker_memory_bytes or limits.memory_bytes
    return run_tasks("autograder.worker", {}, tasks, workdir=workdir, role="worker",
                     limits=Limits(memory_bytes=memory, threads=limits.threads,
                                   cpu_seconds=limits.cpu_seconds), log_dir=log_dir)


# The most parameters a student's model may declare: trained with Adam (weights, gradients
# and two moments, float32) that is 16 bytes each, 1.6 GB at the cap, inside the worker's
# default 6 GB.
MAX_DECLARED_PARAMS = 10 ** 8
RECURRENT_GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1, "LSTMCell": 4, "GRUCell": 3}


def declared_params(config) -> int:
    """A lower bound on the parameters a Keras model config declares (layers in order:
    an ``Embedding``'s ``input_dim * output_dim``; a ``Dense`` or recurrent layer's units
    times the width before it, plus its recurrent kernel), without building anything."""
    total, width = 0, 1
    for layer in _layer_configs(config):
        name, args = layer.get("class_name", ""), layer.get("config", {})
        if name == "Embedding":
            width = _size(args.get("output_dim"))
            total += _size(args.get("input_dim")) * width
        elif isinstance(args.get("units"), int):
            units, gates = _size(args["units"]), RECURRENT_GATES.get(name, 0)
            total += max(gates, 1) * units * width + gates * units * units
            width = units
    return total


def _size(value) -> int:
    return value if isinstance(value, int) and value > 0 else 1


def _layer_configs(node):
    """Every layer config (a dict with ``class_name`` and ``config``), depth first."""
    if isinstance(node, dict):
        if "class_name" in node and isinstance(node.get("config"), dict):
            yield node
        for value in node.values():
            yield from _layer_configs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _layer_configs(value)


def within_declared_sizes(load):
    """``load`` (a ``.keras`` path to a model) in the sandboxed worker: the archive and its
    HDF5 weights checked first (:func:`autograder.safeload.check_keras`: the parent only
    checks the zip, never parsing a student's HDF5), then a model whose config declares more
    than :data:`MAX_DECLARED_PARAMS` parameters refused, before anything is built."""
    import zipfile

    def checked(path, *args, **kwargs):
        safeload.check_keras(path, label=Path(path).name)
        try:
            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read("config.json")[:16 << 20])
        except (OSError, KeyError, ValueError, zipfile.BadZipFile, RecursionError):
            config = None  # load itself says what is wrong with the file
        found = declared_params(config) if config is not None else 0
        if found > MAX_DECLARED_PARAMS:
            raise MemoryError(
                f"the model declares too many parameters to train: expected at most "
                f"{MAX_DECLARED_PARAMS:,}, got at least {found:,} (from its layers' sizes: "
                "units, Embedding input_dim x output_dim)")
        return load(path, *args, **kwargs)

    return checked


SUBMITTED_MODEL = "model.keras"
REFUSED = "its file was refused: "


def submitted_model_tasks(folder: Path, worker_dir: Path, inputs_dir: Path, keys,
                          timeout: float) -> tuple[list[dict], dict[str, TaskResult]]:
    """The worker's ``predict`` tasks (one per key of ``keys``, e.g. ``submitted_model``,
    its inputs ``inputs_dir/<key>.npz``) for the student's submitted ``model.keras`` in
    ``folder``, handed over as ``worker_dir/submitted.keras`` through the gate every
    child-saved model passes (:func:`autograder.safeload.take_keras`).

    A model the gate refuses reaches no worker: no task, and for each key a failed result
    saying why in one sentence (the student's failure: 0 for the checks that need the model,
    their maximum unchanged). Returns ``(tasks, refused results by key)``."""
    keys = list(keys)
    try:
        model = safeload.take_keras(folder, SUBMITTED_MODEL, worker_dir / "submitted.keras")
    except safeload.UnsafeFile as exc:
        return [], {key: TaskResult(key, "error", f"{REFUSED}{exc}") for key in keys}
    return [{"id": key, "kind": "predict", "model": str(model),
             "data": str(inputs_dir / f"{key}.npz"), "timeout": timeout} for key in keys], {}
