"""Reading the recorded fixtures: fixed small inputs and the outputs they must give.

``fixtures/<assignment>.npz`` holds arrays (``"rnn_forward.x"``, ``"rnn_forward.h"``, ...),
``fixtures/<assignment>.json`` the values that are not arrays (id lists, numbers). Both are
written by the teacher's fixture command from the reference solutions and hold data only.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"


@cache
def arrays(assignment: str) -> dict[str, np.ndarray]:
    """Every array of ``fixtures/<assignment>.npz`` by key (empty when there is none)."""
    path = FIXTURES_DIR / f"{assignment}.npz"
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


@cache
def values(assignment: str) -> dict:
    """The JSON values of ``fixtures/<assignment>.json`` (empty when there is none)."""
    path = FIXTURES_DIR / f"{assignment}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def group(assignment: str, prefix: str) -> dict[str, np.ndarray]:
    """The arrays whose key starts with ``prefix.``, keyed by the rest: ``{"x": ..., "h": ...}``."""
    start = f"{prefix}."
    return {key[len(start):]: value for key, value in arrays(assignment).items()
            if key.startswith(start)}


def params(assignment: str, prefix: str) -> dict[str, np.ndarray]:
    """The parameter dict stored under ``prefix.params.*`` (fresh copies, safe to modify)."""
    return {key: value.copy() for key, value in group(assignment, f"{prefix}.params").items()}
