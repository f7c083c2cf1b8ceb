"""Worker results kept by content, so identical inputs are neither loaded nor trained twice.

What the worker computes is a pure function of its input files (the trusted worker is
seeded and deterministic on one machine), so a result is kept under a key made of the
task's fields and its files' content: a model file identical to one measured before in this
process (a whole class grades in one) is neither loaded nor trained again. Only successful
results are kept.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from pathlib import Path

import numpy as np

from autograder.sandbox import TaskResult

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
    date), by its bytes. The weights are never parsed here (this is the parent, root on
    Gradescope: only the sandboxed worker opens a student's HDF5); Keras writes identical
    weights to identical HDF5 bytes. The archive has passed the gate
    (:func:`autograder.safeload.take_keras`), so its members are bounded."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        for name in sorted(archive.namelist()):
            if name == "metadata.json":
                continue
            data = archive.read(name)
            if name == "config.json":  # object ids vary per process: number them in order
                data = json.dumps(_renumber_shared(json.loads(data), {})).encode()
            digest.update(f"{key}/{name}:{len(data)}".encode())
            digest.update(data)


def _renumber_shared(value, seen: dict):
    """``value`` with every ``shared_object_id`` replaced by its order of first appearance."""
    if isinstance(value, dict):
        return {k: (seen.setdefault(v, len(seen)) if k == "shared_object_id"
                    else _renumber_shared(v, seen)) for k, v in value.items()}
    if isinstance(value, list):
        return [_renumber_shared(v, seen) for v in value]
    return value


def reuse_results(tasks: list[dict], threads: int | None):
    """``(to_run, reused, remember)``: the tasks not computed before on identical inputs,
    the results of those that were (by task id), and ``remember(task_id, result)`` to keep
    a new successful result."""
    keys = {task["id"]: _task_key(task, threads) for task in tasks}
    reused = {tid: _WORKER_CACHE[key] for tid, key in keys.items() if key in _WORKER_CACHE}

    def remember(task_id: str, result: TaskResult) -> None:
        if result.ok and keys.get(task_id):
            _remember(keys[task_id], result)

    return [task for task in tasks if task["id"] not in reused], reused, remember
