"""Grading inputs computed once: in this process, or ahead of time into a folder.

A folder of grading inputs (the Gradescope bundle's ``grading_inputs/``, built by
``python -m autograder gradescope`` through :func:`precompute`) holds the arrays the parent
would otherwise compute from the data packages: encoded splits, GloVe rows, an
assignment's training data. With it the parent never imports pandas or scikit-learn, nor
reads the review CSV or GloVe, so it stays small enough for Gradescope's default container.
Missing entries are computed.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np

INPUTS_ENV = "SEQLAB_GRADING_INPUTS"
_MEMO: dict[str, dict[str, np.ndarray]] = {}  # this process's results, by name
_MEMO_SIZE = 8
_PRECOMPUTING: list[bool] = []  # non-empty while precompute() fills the inputs folder


def _inputs_dir() -> Path | None:
    folder = os.environ.get(INPUTS_ENV)
    return Path(folder) if folder else None


def cached_arrays(name: str, compute) -> dict[str, np.ndarray]:
    """``compute()`` (a dict of arrays), read from ``$SEQLAB_GRADING_INPUTS/name.npz`` when the
    folder holds it, else from this process's memo, else computed; written to the folder
    while :func:`precompute` fills it, whichever of those gave it."""
    folder = _inputs_dir()
    path = folder / f"{name}.npz" if folder is not None else None
    if path is not None and path.is_file():
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    found = _MEMO.get(name)
    if found is None:
        found = compute()
        _MEMO[name] = found
        while len(_MEMO) > _MEMO_SIZE:
            _MEMO.pop(next(iter(_MEMO)))
    if path is not None and _PRECOMPUTING:
        np.savez_compressed(path, **found)
    return found


def cached_value(name: str, compute) -> dict[str, object]:
    """:func:`cached_arrays` for a dict whose values are arrays or JSON-able values."""
    def packed():
        value = compute()
        arrays = {k: v for k, v in value.items() if isinstance(v, np.ndarray)}
        rest = {k: v for k, v in value.items() if k not in arrays}
        return {**arrays, "__json__": np.array(json.dumps(rest))}

    found = dict(cached_arrays(name, packed))
    return {**json.loads(str(found.pop("__json__"))), **found}


@contextmanager
def filling(folder: Path):
    """While inside, every :func:`cached_arrays` result is also written to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    old = os.environ.get(INPUTS_ENV)
    os.environ[INPUTS_ENV] = str(folder)
    _PRECOMPUTING.append(True)
    try:
        yield folder
    finally:
        _PRECOMPUTING.pop()
        if old is None:
            os.environ.pop(INPUTS_ENV, None)
        else:
            os.environ[INPUTS_ENV] = old


def precompute(folder: Path, assignment: str, *, profile: str = "quick",
               holdout: Path | None = None) -> list[str]:
    """Fill ``folder`` with every input grading ``assignment`` in ``profile`` reads from the
    data packages (and the encoded ``holdout``), so the grader computes none of them: the
    same :meth:`~autograder.assignments.Assignment.parent_inputs` a grading calls."""
    from autograder.assignments import load_assignment
    from autograder.registry import REGISTRY

    spec = load_assignment(assignment)
    needed = {case_id for c in REGISTRY[assignment] for case_id in c.needs}
    scores_submitted = any(c.scores_submitted_model for c in REGISTRY[assignment])
    with filling(folder):
        spec.parent_inputs(needed, profile=profile, holdout=holdout,
                           submitted=scores_submitted and profile == "full")
    return sorted(p.name for p in folder.iterdir())
