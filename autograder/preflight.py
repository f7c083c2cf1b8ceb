"""Before any student is graded: prove that this machine's grader can grade at all.

Two things are the grader's own, never a student's, and are checked once per process before
the first grading (:func:`prove_grader`):

- **Keras**: student models are reloaded with ``safe_mode=True``, which Keras releases before
  :data:`MIN_KERAS` could be made to bypass (CVE-2025-1550, CVE-2025-8747, CVE-2025-9905,
  CVE-2025-9906, CVE-2025-12058, CVE-2025-12060, CVE-2026-0897, CVE-2026-1462). The grader
  refuses to grade with an older one; students' notebooks may keep Colab's.
- **The sandbox**: a probe child (student role, with and without the deep-learning
  frameworks) and a probe worker must start in this machine's sandbox and import what
  grading needs (NumPy, Keras, ``seqlab``; the worker ``autograder``). A sandbox that cannot,
  because the grader's packages come from a folder it does not show, say, would otherwise
  fail every check of every student with "No module named 'numpy'".

Either failure raises :class:`~autograder.sandbox.SandboxError` with one sentence about the
grading machine; the command line then exits non-zero and writes no score.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from autograder.identity import state_dir
from autograder.isolation import import_paths
from autograder.sandbox import MEMORY_WORDS, Limits, SandboxError, run_tasks

MIN_KERAS = (3, 14, 0)
"""The oldest Keras the grader loads student models with (CVE-2026-1462 fixed in 3.14.0)."""

# NumPy and seqlab: where they come from is where Keras comes from too (every folder of the
# grader's import path is shown alike); the worker's probe imports Keras and the grader.
PROBE_MODULE = "import numpy\nimport seqlab\n\n\ndef probe():\n    return None\n"

_PROVEN: set[str] = set()


def keras_problem(version: str | None = None) -> str | None:
    """Why the installed Keras (or ``version``) is too old to load student models, or None."""
    try:
        version = version or metadata.version("keras")
    except metadata.PackageNotFoundError:
        return "the grading machine has no Keras installed: pip install -r requirements.txt"
    numbers = []
    for part in version.split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit()) if part[:1].isdigit() else ""
        numbers.append(int(digits or 0))
    wanted = ".".join(map(str, MIN_KERAS))
    if tuple(numbers + [0] * (3 - len(numbers))) >= MIN_KERAS:
        return None
    return (f"the grading machine has Keras {version}, older than {wanted}, whose safe_mode "
            f"reload of student models has known bypasses (e.g. CVE-2026-1462): upgrade the "
            f"grader's Keras with pip install -U 'keras>={wanted}' (students may keep theirs)")


def prove_grader(limits: Limits | None = None, *, check_keras: bool = True) -> None:
    """Raise :class:`SandboxError` (one sentence about this machine) unless the grader's Keras
    is recent enough and a sandboxed child and worker start and import what grading needs.
    Proven once per process, and as root once until the environment changes."""
    from autograder.isolation import detect

    problem = keras_problem() if check_keras else None
    if problem:
        raise SandboxError(problem)
    limits = limits or Limits()
    key = environment_key(detect(), limits)
    if key in _PROVEN or _proof_file(key).is_file():
        return
    root = Path(tempfile.mkdtemp(prefix="seqlab-preflight-"))
    try:
        for name, keras in (("child", True), ("numpy-only child", False)):
            _probe_child(root / name.replace(" ", "-"), keras, limits)
        _probe_worker(root / "worker", limits)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    _PROVEN.add(key)
    with contextlib.suppress(OSError):  # root: remembered across runs until anything changes
        _proof_file(key).touch(mode=0o600)


def environment_key(found, limits: Limits) -> str:
    """A digest of what the proof depends on: the interpreter, its import path (each folder's
    modification time too, so installing or removing a package asks again), the isolation,
    the limits the probes ran under and this file."""
    parts = [sys.executable, repr(found), repr(limits), Path(__file__).read_text()]
    for entry in import_paths():
        with contextlib.suppress(OSError):
            parts.append(f"{entry}:{os.stat(entry).st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _proof_file(key: str) -> Path:
    return state_dir() / f"preflight-{key}.ok"


def _refuse(who: str, result, limits: Limits) -> SandboxError:
    if result.data.get("out_of_memory") or any(word in result.message for word in MEMORY_WORDS):
        cap = (limits.worker_memory_bytes if who == "worker" else None) or limits.memory_bytes
        return SandboxError(
            f"the grading machine cannot run its own sandbox, so no student was graded: a probe "
            f"{who} that imports only the grader's own packages ran out of memory within its "
            f"limit of {cap >> 20} MB; give the grader more memory (on Gradescope: the "
            "assignment's Autograder Settings)")
    return SandboxError(
        f"the grading machine cannot run its own sandbox, so no student was graded: a probe "
        f"{who} that imports only the grader's own packages failed ({result.status}: "
        f"{result.message[-300:]}); check that every folder the grader imports from is "
        "readable by other users, or reinstall the grader in a plain venv")


def _probe_child(folder: Path, keras: bool, limits: Limits) -> None:
    (folder / "work").mkdir(mode=0o700, parents=True)
    module = folder / "work" / "probe.py"
    module.write_text(PROBE_MODULE)
    module.chmod(0o644)
    spec = {"module_file": str(module), "module_name": "probe", "functions": ["probe"],
            "keras": keras}
    task = {"id": "probe", "kind": "signatures", "function": "", "timeout": 60}
    result = run_tasks("autograder.child", spec, [task], workdir=folder / "work",
                       limits=limits, log_dir=folder, numpy_only=not keras)["probe"]
    if not result.ok:
        raise _refuse("child" if keras else "NumPy-only child", result, limits)


def _probe_worker(folder: Path, limits: Limits) -> None:
    from autograder.worker_runs import run_worker  # the worker exactly as grading runs it

    (folder / "work").mkdir(mode=0o700, parents=True)
    task = {"id": "probe", "kind": "probe", "timeout": 60}
    result = run_worker([task], folder / "work", limits, folder)["probe"]
    if not result.ok:
        raise _refuse("worker", result, limits)
