"""Where seqlab keeps things: the repository, its data manifest and the download cache."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The checkout this package lives in (labs, solutions, data manifest)."""

DATA_DIR = REPO_ROOT / "data"


def cache_dir() -> Path:
    """The download cache: ``$SEQLAB_CACHE`` if set, else ``~/.cache/seqlab``.

    It lives outside the repository so that downloads are never committed; tests point it at
    a temporary or ignored folder.
    """
    root = os.environ.get("SEQLAB_CACHE") or Path.home() / ".cache" / "seqlab"
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
