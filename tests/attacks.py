"""Shared helpers for the attack tests (tests/test_attack_*.py).

Every attack is a student module for the NumPy-only ``rnn_numpy`` assignment (it grades in
well under a second without TensorFlow) and goes through the public interface only:
:func:`autograder.grader.grade`, ``python -m autograder grade`` and ``grade-all``. Outcomes
are read from scores and files, never from what the child says about itself; where a probe
has to report what it found, it does so through a channel the grader cannot help carrying
(its own score, or the text of an exception it raises, which ends up in the feedback) and the
test checks the *content* (a secret the child cannot guess), not the claim.

Attacks that write only ever write below the test's own ``tmp_path`` (or create uniquely
named, harmless probe files that the test removes), so that a sandbox that fails to stop
them still cannot damage this checkout or another grading on the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from autograder.grader import grade

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ASSIGNMENT = "rnn_numpy"
FILENAME = "rnn_numpy.py"
REFERENCE = (REPO / "solutions" / FILENAME).read_text()
FUTURE = "from __future__ import annotations\n"
FUNCTIONS = ("init_params", "rnn_forward", "rnn_loss_and_grads", "clip_by_global_norm",
             "state_jacobian_norms")


def token(label: str = "secret") -> str:
    """A value no student code can guess: finding it in a message proves a leak."""
    return f"{label}-{uuid.uuid4().hex}"


def prepend(code: str, source: str = REFERENCE) -> str:
    """``source`` with ``code`` run first, right after its ``from __future__`` import."""
    assert FUTURE in source
    return source.replace(FUTURE, FUTURE + code, 1)


def write_module(folder: Path, source: str) -> Path:
    """A submission folder holding one ``rnn_numpy.py``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FILENAME).write_text(source)
    return folder


def with_reference_answers(folder: Path) -> Path:
    """Add the reference's ``answers.json`` (the labs' questions) to a submission folder."""
    shutil.copy(REPO / "solutions" / "answers.json", folder / "answers.json")
    return folder


def grade_rnn(folder: Path, functions: tuple[str, ...] | None = None, **kwargs):
    kwargs.setdefault("case_timeout", 15)
    return grade(folder, assignment=ASSIGNMENT, functions=functions, **kwargs)


def points(result) -> dict[str, float]:
    return {t.name: t.points for t in result.tests}


def messages(result) -> str:
    return "\n".join(t.message for t in result.tests)


def cli(*args: str, env: dict | None = None, timeout: float = 300,
        cwd: Path = REPO) -> tuple[subprocess.CompletedProcess, float]:
    """``python -m autograder ARGS``; returns the finished process and its wall seconds."""
    start = time.monotonic()
    done = subprocess.run([PYTHON, "-m", "autograder", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})
    return done, time.monotonic() - start


def tree(folder: Path) -> dict[str, bytes | str]:
    """Every entry below ``folder``: file bytes, or ``'-> target'`` for a symlink."""
    found: dict[str, bytes | str] = {}
    for path in sorted(Path(folder).rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            found[key] = f"-> {os.readlink(path)}"
        elif path.is_file():
            found[key] = path.read_bytes()
        else:
            found[key] = "<dir>"
    return found


# ---------------------------------------------------------------- processes
def pids_with(marker: str) -> list[int]:
    """Processes whose command line holds ``marker`` (never this test process)."""
    found, needle = [], marker.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if needle in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
    return found


def kill(pids) -> None:
    """SIGKILL the given processes (ones this test's attack started), by pid."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------- wrapper modules
WRAPPER = '''"""No code of its own: the reference's answers, if it can reach them (@WHAT@)."""
import importlib.util
import os
import sys
import types
from pathlib import Path

import numpy as np

PARAM_NAMES = ("W_hx", "W_hh", "b_h", "W_y", "b_y")


def _load(path):
    spec = importlib.util.spec_from_file_location(f"_stolen_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@FINDER@


_FOUND = None
try:
    _FOUND = _find()  # at import time ...
except Exception:
    pass


def _ref():
    global _FOUND
    if _FOUND is None:  # ... and again inside a graded call
        try:
            _FOUND = _find()
        except Exception as exc:
            raise RuntimeError(f"could not reach the reference ({type(exc).__name__})") from None
    if _FOUND is None:
        raise RuntimeError("could not reach the reference")
    return _FOUND


def init_params(q, r, s, seed=0):
    return _ref().init_params(q, r, s, seed)


def rnn_forward(params, x):
    return _ref().rnn_forward(params, x)


def rnn_loss_and_grads(params, x, targets):
    return _ref().rnn_loss_and_grads(params, x, targets)


def clip_by_global_norm(grads, max_norm):
    return _ref().clip_by_global_norm(grads, max_norm)


def state_jacobian_norms(params, x):
    return _ref().state_jacobian_norms(params, x)
'''


def wrapper(what: str, finder: str) -> str:
    """A module whose five functions return what ``_find()`` (defined in ``finder``) found."""
    return WRAPPER.replace("@WHAT@", what).replace("@FINDER@", finder.strip("\n"))


def load_here(source: str, folder: Path):
    """Import ``source`` in this (unconfined) process: the positive control for an attack."""
    import importlib.util

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"control_{uuid.uuid4().hex}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- survivors
# Runs in a process the student starts (``python -c PAYLOAD MARKER``): waits, then for a few
# seconds keeps overwriting every grading output it can find (named in its source, or in the
# command line of any process: --json, --gradebook, --feedback), limited to ``ROOT``.
PAYLOAD = r'''
import os, pathlib, time
ROOT = pathlib.Path(@ROOT@)
GUESSES = @GUESSES@
FORGED_CSV = ("student,total,max_total,status,reason,seconds,content_sha256,settings,"
              "graded_at\nmallory,1000,1,graded,,0,forged,forged,2000-01-01\n")

def targets():
    found = [pathlib.Path(p) for p in GUESSES]
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        for flag in (b"--json", b"--gradebook", b"--feedback"):
            if flag in args[:-1]:
                found.append(pathlib.Path(os.fsdecode(args[args.index(flag) + 1])))
    found += [p.with_name(p.stem + "_feedback") for p in found if p.suffix == ".csv"]
    files = []
    for path in found:
        try:
            files += [f for f in path.iterdir() if f.is_file()] if path.is_dir() else [path]
        except OSError:
            pass
    return [f for f in files if f.is_absolute() and ROOT in f.parents]

def forge(path):
    text = {".json": '{"score": 1000, "tests": []}', ".csv": FORGED_CSV}.get(
        path.suffix, "# Feedback for mallory\n\n**Total: 1000 / 1**\n")
    try:
        path.write_text(text)
    except OSError:
        pass

time.sleep(@DELAY@)
end = time.time() + @SPAN@
while time.time() < end:
    for path in targets():
        forge(path)
    time.sleep(0.25)
'''

SPAWN = r'''
import os as _os, sys as _sys, threading as _threading
_PAYLOAD = @PAYLOAD@
_MARKER = @MARKER@

def _survive(how):
    if how in ("thread", "daemon_thread"):
        _threading.Thread(target=exec, args=(_PAYLOAD, {}), daemon=how == "daemon_thread").start()
        return
    pid = _os.fork()
    if pid:
        if how != "fork":
            _os.waitpid(pid, 0)
        return
    try:
        if how != "fork":
            _os.setsid()  # out of the grader's process group
        if how in ("double_fork", "pipe_holder") and _os.fork():
            _os._exit(0)  # the grandchild is reparented to init
        if how != "pipe_holder":
            _os.closerange(3, 4096)
        _os.execv(_sys.executable, [_sys.executable, "-c", _PAYLOAD, _MARKER])
    finally:
        _os._exit(0)

_survive(@HOW@)
'''


def survivor(how: str, marker: str, root: Path, guesses=(), delay: float = 2.5,
             span: float = 4.0) -> str:
    """Import-time code that leaves a survivor (``fork``, ``setsid``, ``double_fork``,
    ``pipe_holder`` (keeps every inherited fd, the result pipe included), ``thread``,
    ``daemon_thread``) that rewrites grading outputs below ``root`` after ``delay`` s."""
    payload = (PAYLOAD.replace("@ROOT@", repr(str(root)))
               .replace("@GUESSES@", repr([str(g) for g in guesses]))
               .replace("@DELAY@", repr(delay)).replace("@SPAN@", repr(span)))
    return (SPAWN.replace("@PAYLOAD@", repr(payload)).replace("@MARKER@", repr(marker))
            .replace("@HOW@", repr(how)))


def snapshot_outputs(*paths: Path) -> dict[str, bytes | str | None]:
    """Bytes of each file (a folder: of each file in it), None for a missing one."""
    found: dict[str, bytes | str | None] = {}
    for path in paths:
        if path.is_dir():
            found.update({str(k): v for k, v in
                          ((path / name, data) for name, data in tree(path).items())})
        else:
            found[str(path)] = path.read_bytes() if path.is_file() else None
    return found


def results_score(path: Path) -> float:
    return json.loads(path.read_text())["score"]
