"""Run a list of tasks in a child Python process with limits, per-task timeouts and respawn.

The child is ``python -I -m <entry> <spec.json>`` in its own session (so the whole process
group can be killed), in a working directory the caller prepared, with a scrubbed
environment, an address-space cap on its data segment (``RLIMIT_DATA``), a CPU-time cap, no
core dumps and, where the OS allows, its own empty network namespace. It reports over a
dedicated pipe, one JSON line per event:

    {"event": "ready"}                         after imports
    {"event": "import_error", "message": ...}  the student's module could not be imported
    {"event": "start", "id": ...}              a task begins (its timeout starts now)
    {"event": "done", "id": ..., "status": ..., "message": ..., "data": {...}}

If a task hangs past its timeout, or the process dies (``os._exit``, a segfault, the kernel's
OOM killer), that task fails with a sentence saying so and a fresh child runs the tasks
after it. Nothing the child prints or writes can change another task's result.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
CLONE_NEWUSER = 0x10000000
GIB = 1 << 30


@dataclass(frozen=True)
class Limits:
    """Resource limits for one child process."""

    memory_bytes: int = 6 * GIB
    cpu_seconds: int = 900
    import_timeout: float = 90.0
    threads: int = 2
    network: bool = False
    run_as: str | None = None  # drop to this user (e.g. "nobody") when running as root


@dataclass
class TaskResult:
    """What happened to one task: ``status`` is ``ok``, ``error``, ``not_implemented``,
    ``tampered``, ``timeout``, ``crashed`` or ``import_error``."""

    id: str
    status: str
    message: str = ""
    data: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def scrubbed_env(workdir: Path, limits: Limits, extra: dict[str, str] | None = None) -> dict:
    """A minimal environment: no tokens, proxies or paths of the grader's own shell."""
    threads = str(limits.threads)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
        "KERAS_HOME": str(workdir / ".keras"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "OMP_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "TF_NUM_INTRAOP_THREADS": threads,
        "TF_NUM_INTEROP_THREADS": "1",
        "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={threads}",
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
    }
    for name in ("KERAS_BACKEND", "CUDA_VISIBLE_DEVICES", "OPENBLAS_CORETYPE",
                 "OPENBLAS_L2_SIZE", "LD_LIBRARY_PATH"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra or {})
    return env


def drop_target(limits: Limits) -> tuple[int, int] | None:
    """(uid, gid) to run the child as, or None when not root or no user was asked for.

    Raises ``PermissionError`` when that user cannot run this Python (e.g. it lives under
    ``/root``), so a grader never silently keeps root.
    """
    if not limits.run_as or os.geteuid() != 0:
        return None
    import pwd

    entry = pwd.getpwnam(limits.run_as)
    probe = subprocess.run([sys.executable, "-I", "-c", "import keras, autograder"],
                           user=entry.pw_uid, group=entry.pw_gid, extra_groups=[],
                           capture_output=True, env={"HOME": "/tmp", "PATH": "/usr/bin:/bin"})
    if probe.returncode != 0:
        raise PermissionError(f"user {limits.run_as!r} cannot run {sys.executable} with the "
                              f"grader's packages; install them where that user can read them")
    return entry.pw_uid, entry.pw_gid


def can_drop_to(user: str) -> bool:
    """True when running as root and ``user`` can run this Python with the grader's packages."""
    try:
        return drop_target(Limits(run_as=user)) is not None
    except (PermissionError, KeyError):
        return False


def _open_path_to(folder: Path) -> None:
    """Let others pass through (not list) the grader's private temp folders above ``folder``.

    Only folders below the system temp dir are touched, and only the execute bit is added.
    """
    top = Path(tempfile.gettempdir()).resolve()
    for parent in Path(folder).resolve().parents:
        if parent == top or top not in parent.parents:
            break
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod((mode & 0o7777) | 0o011)


def _hand_over(folder: Path, ids: tuple[int, int]) -> None:
    for path in (folder, *folder.rglob("*")):
        os.chown(path, *ids)


def _limit_child(limits: Limits, ids: tuple[int, int] | None = None):
    grader = os.getpid()

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        libc = ctypes.CDLL(None, use_errno=True)
        if not limits.network and libc.unshare(CLONE_NEWNET) != 0:
            libc.unshare(CLONE_NEWUSER | CLONE_NEWNET)  # unprivileged fallback; may fail
        if ids is not None:  # last: the steps above need root
            os.setgroups([])
            os.setgid(ids[1])
            os.setuid(ids[0])
        # After setuid, which clears it: a grader killed mid-run takes its child along.
        # (The signal fires when the thread that started the child ends: gradings run each
        # in one thread that waits for its children, so that is never early.)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != grader:  # the grader died before the line above
            os._exit(1)

    return apply


def run_tasks(entry: str, spec: dict, tasks: list[dict], *, workdir: Path, limits: Limits,
              env: dict[str, str] | None = None, log_dir: Path | None = None,
              describe=lambda task: task["id"]) -> dict[str, TaskResult]:
    """Run ``tasks`` (dicts with ``id`` and ``timeout``) in children of ``python -m entry``.

    ``spec`` is passed to every child with ``spec["tasks"]`` set to the tasks still to run.
    Returns one :class:`TaskResult` per task id, in order.
    """
    results: dict[str, TaskResult] = {}
    remaining = list(tasks)
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="seqlab-logs-"))
    ids = drop_target(limits)
    if ids is not None:
        _open_path_to(workdir)
        _hand_over(workdir, ids)
    attempt = 0
    while remaining:
        attempt += 1
        outcome = _run_once(entry, {**spec, "tasks": remaining}, workdir=workdir, limits=limits,
                            env=env, log=log_dir / f"{entry.rsplit('.', 1)[-1]}-{attempt}.log",
                            describe=describe, ids=ids)
        results.update(outcome)
        if any(r.status == "import_error" for r in outcome.values()):
            break  # every remaining task already carries the import error
        remaining = [t for t in remaining if t["id"] not in results]
    return {t["id"]: results[t["id"]] for t in tasks}


def _run_once(entry, spec, *, workdir, limits, env, log, describe,
              ids=None) -> dict[str, TaskResult]:
    spec_path = workdir / f".{log.stem}.spec.json"  # readable by the child, whoever it runs as
    spec_path.write_text(json.dumps(spec))
    if ids is not None:
        os.chown(spec_path, *ids)
    read_fd, write_fd = os.pipe()
    child_env = scrubbed_env(workdir, limits, {**(env or {}), "SEQLAB_RESULT_FD": str(write_fd)})
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-I", "-m", entry, str(spec_path)], cwd=workdir, env=child_env,
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            pass_fds=(write_fd,), start_new_session=True,
            preexec_fn=_limit_child(limits, ids))
    os.close(write_fd)
    tasks = {t["id"]: t for t in spec["tasks"]}
    results: dict[str, TaskResult] = {}
    current, started = None, time.monotonic()
    deadline = started + limits.import_timeout
    ready = False
    buffer = b""
    try:
        while True:
            wait = deadline - time.monotonic()
            if wait <= 0:
                if current is None and not ready:
                    message = (f"importing the module took longer than {limits.import_timeout:.0f}"
                               " s: does it run something heavy, or loop forever, at import time?")
                    return {tid: TaskResult(tid, "import_error", message) for tid in tasks}
                if current is None:  # between tasks: the child stalled outside student code
                    current = next(t for t in tasks if t not in results)
                    started = time.monotonic()
                seconds = time.monotonic() - started
                results[current] = TaskResult(
                    current, "timeout",
                    f"{describe(tasks[current])} did not finish within "
                    f"{tasks[current]['timeout']:.0f} s (stopped after {seconds:.0f} s): "
                    "is there an endless loop, or far more work than the task needs?", {}, seconds)
                return results
            readable, _, _ = select.select([read_fd], [], [], min(wait, 1.0))
            if not readable:
                continue
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:  # the child closed the pipe: it exited
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                event = _parse(line)
                kind = event.get("event")
                if kind == "ready":
                    ready, deadline = True, time.monotonic() + 30
                elif kind == "import_error":
                    message = str(event.get("message", "the module could not be imported"))
                    return {tid: TaskResult(tid, "import_error", message) for tid in tasks}
                elif kind == "start" and event.get("id") in tasks:
                    current, started = event["id"], time.monotonic()
                    deadline = started + float(tasks[current]["timeout"])
                elif kind == "done" and event.get("id") == current:
                    results[current] = TaskResult(
                        current, str(event.get("status", "error")), str(event.get("message", "")),
                        event.get("data") if isinstance(event.get("data"), dict) else {},
                        time.monotonic() - started)
                    current, deadline = None, time.monotonic() + 30
        code = process.wait(timeout=30)
        if not ready:
            return {tid: TaskResult(tid, "import_error", _died("importing the module", code, log,
                                                                 limits)) for tid in tasks}
        if current is not None:
            results[current] = TaskResult(
                current, "crashed", _died(describe(tasks[current]), code, log, limits), {},
                time.monotonic() - started)
        return results
    finally:
        os.close(read_fd)
        _kill_group(process)


def _parse(line: bytes) -> dict:
    try:
        event = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return {}
    return event if isinstance(event, dict) else {}


def _died(what: str, code: int | None, log: Path, limits: Limits) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        hint = {"SIGKILL": f" (killed: memory above {limits.memory_bytes / GIB:.0f} GB or CPU "
                           f"time above {limits.cpu_seconds} s?)",
                "SIGXCPU": f" (CPU time above {limits.cpu_seconds} s)",
                "SIGSEGV": " (a crash inside native code)"}.get(name, "")
        return f"the process running {what} was killed by {name}{hint}"
    tail = _tail(log)
    return (f"the process running {what} exited with status {code} instead of returning "
            f"(sys.exit or os._exit in the module?){': ' + tail if tail else ''}")


def _tail(log: Path, chars: int = 300) -> str:
    try:
        text = log.read_text(errors="replace").strip()
    except OSError:
        return ""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith(("I0000",
                                                                                 "WARNING: All"))]
    return " | ".join(lines[-3:])[-chars:]


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
