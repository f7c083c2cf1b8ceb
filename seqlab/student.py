"""Import the student's module (``starter/``) or the reference (``solutions/``) by name.

Notebooks call ``student_module("sentiment")``: students get their own ``starter/sentiment.py``;
tests and teachers run the same notebooks against the reference by setting
``SEQLAB_IMPL=solutions`` (or a path to any folder holding the module files).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from seqlab.paths import REPO_ROOT

IMPLEMENTATIONS = {"starter": REPO_ROOT / "starter", "solutions": REPO_ROOT / "solutions"}


def implementation_dir(impl: str | None = None) -> Path:
    """The folder student modules are imported from (``$SEQLAB_IMPL``, default ``starter``)."""
    impl = impl or os.environ.get("SEQLAB_IMPL", "starter")
    folder = IMPLEMENTATIONS.get(impl, Path(impl))
    if not folder.is_dir():
        raise FileNotFoundError(f"SEQLAB_IMPL={impl!r}: expected 'starter', 'solutions' or a "
                                f"folder holding the module files, got no folder at {folder}")
    return folder


def student_module(name: str, impl: str | None = None, reload: bool = True) -> ModuleType:
    """Import ``<impl>/<name>.py`` freshly (edits are picked up on every call)."""
    path = implementation_dir(impl) / f"{name}.py"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: expected the module file {name}.py")
    key = f"seqlab_student_{name}"
    if not reload and key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
    return module
