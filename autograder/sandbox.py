"""Run a list of tasks in a sandboxed child process with limits, per-task timeouts and respawn.

The child runs in the sandbox :mod:`autograder.isolation` picks for this machine (bubblewrap
with a fresh uid when it can; see its docstring for the levels), in a work folder the caller
prepared, with a scrubbed environment, caps on its data segment (``RLIMIT_DATA``), CPU time,
file size (``RLIMIT_FSIZE``) and, under a fresh uid, process count, and no core dumps. Its
stdout and stderr go to a pipe this process reads into a capped log. It reports over a
dedicated pipe, one JSON line per event:

    {"event": "ready"}                         after imports
    {"event": "import_error", "message": ...}  the student's module could not be imported
    {"event": "start", "id": ...}              a task begins (its timeout starts now)
    {"event": "done", "id": ..., "status": ..., "message": ..., "data": {...}}

These events are *claims*: the caller trusts no verdict in them, only files it validates
itself. If a task hangs past its timeout, or the process dies (``os._exit``, a segfault, the
kernel's OOM killer), that task fails with a sentence saying so and a fresh child runs the
tasks after it. When a child ends, for whatever reason, every process it started is killed
(its PID namespace, and every process of its uid) before this function returns, so nothing
a submission starts can write after the caller reads.
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

from autograder import identity, isolation

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
CLONE_NEWUSER = 0x10000000
GIB = 1 << 30
LOG_BYTES = 256 << 10  # what is kept of a child's stdout and stderr


class SandboxError(RuntimeError):
    """Student code cannot be run safely here (e.g. as root without a fresh uid)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits for one child process."""

    memory_bytes: int = 6 * GIB
    cpu_seconds: int = 900
    import_timeout: float = 90.0
    threads: int = 2
    network: bool = False
    file_bytes: int = 256 << 20  # RLIMIT_FSIZE: the largest file a child may write
    disk_bytes: int = 1 << 30  # all it may leave in its out/ and home/ folders together
    processes: int = 4096  # RLIMIT_NPROC under a fresh uid (threads count too)
    worker_memory_bytes: int | None = None  # the trusted worker's own cap (default: as above)


# Which process the kernel's OOM killer takes first when the grading container is full: the
# student's child, then the trusted worker, never the grader that writes results.
OOM_SCORE_ADJ = {"student": 1000, "worker": 800}


def container_memory() -> tuple[int | None, int | None]:
    """(limit, OOM kills so far) of the memory cgroup this process is in (cgroup v2 or v1);
    None where it cannot be read or there is no limit."""
    limit = kills = None
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None, None
    for line in lines:
        _, names, path = line.split(":", 2)
        if names == "":  # v2
            base = Path("/sys/fs/cgroup") / path.lstrip("/")
            limit_file, events, key = base / "memory.max", base / "memory.events", "oom_kill"
        elif "memory" in names.split(","):
            base = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            if not base.is_dir():  # a container's own namespace: its cgroup is the root
                base = Path("/sys/fs/cgroup/memory")
            limit_file, events, key = (base / "memory.limit_in_bytes",
                                       base / "memory.oom_control", "oom_kill")
        else:
            continue
        with contextlib.suppress(OSError, ValueError):
            text = limit_file.read_text().strip()
            if text != "max" and int(text) < 1 << 50:
                limit = int(text)
        with contextlib.suppress(OSError, ValueError):
            counts = dict(line.split() for line in events.read_text().splitlines())
            kills = int(counts[key]) if key in counts else kills
        if limit is not None or kills is not None:
            break
    return limit, kills


class CallMemory:
    """A memory cgroup around one sandboxed call: its limit bounds everything the call's
    processes are charged for, their tmpfs pages (``/tmp``, ``/dev/shm``) included, which
    ``RLIMIT_DATA`` does not count.

    Made under this process's own memory cgroup (v1 ``memory.limit_in_bytes`` and, where
    swap accounting is on, ``memory.memsw.limit_in_bytes``; v2 ``memory.max`` and
    ``memory.swap.max``). The child enters it in its ``preexec_fn``, before it execs anything
    (:meth:`enter`). Where none can be made (not root, or a read-only ``/sys/fs/cgroup`` as in
    some Docker containers) ``path`` is None and the call is bounded only by ``RLIMIT_DATA``
    per process plus the size caps of its tmpfs mounts (bubblewrap's ``/tmp``): then a child
    filling a tmpfs not capped by size (the host's ``/dev/shm`` at the ``uid`` level) can
    still fill the container, and such a kill stays the grader's.
    """

    _count = 0

    def __init__(self, limit: int):
        self.limit, self.path, self.v2 = limit, None, False
        CallMemory._count += 1
        name = f"seqlab-{os.getpid()}-{CallMemory._count}-{time.monotonic_ns()}"
        for base, v2 in _own_memory_cgroups():
            _remove_stale(base)
            with contextlib.suppress(OSError):
                path = base / name
                path.mkdir()
                try:
                    self._set_limit(path, v2)
                except OSError:
                    path.rmdir()
                    raise
                self.path, self.v2 = path, v2
                break

    def _set_limit(self, path: Path, v2: bool) -> None:
        if v2:
            (path / "memory.max").write_text(str(self.limit))
            with contextlib.suppress(OSError):
                (path / "memory.swap.max").write_text("0")
            return
        (path / "memory.limit_in_bytes").write_text(str(self.limit))
        with contextlib.suppress(OSError):
            (path / "memory.memsw.limit_in_bytes").write_text(str(self.limit))

    def enter(self) -> None:
        """Move the calling process in (from a ``preexec_fn``: the child, before exec)."""
        if self.path is not None:
            (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def usage(self) -> dict:
        """``oom_kills``, ``peak`` bytes and ``limit`` of the call so far (None unread)."""
        found = {"oom_kills": None, "peak": None, "limit": self.limit}
        if self.path is None:
            return found
        events, key, peak = (("memory.events", "oom_kill", "memory.peak") if self.v2 else
                             ("memory.oom_control", "oom_kill", "memory.max_usage_in_bytes"))
        with contextlib.suppress(OSError, ValueError):
            counts = dict(line.split() for line in (self.path / events).read_text()
                          .splitlines())
            found["oom_kills"] = int(counts.get(key, 0))
        with contextlib.suppress(OSError, ValueError):
            found["peak"] = int((self.path / peak).read_text())
        return found

    def exceeded(self) -> bool:
        """The call's processes were killed for, or reached, the call's own limit."""
        used = self.usage()
        return bool(used["oom_kills"]) or (used["peak"] is not None
                                           and used["peak"] >= self.limit - (1 << 20))

    def remove(self) -> None:
        """Remove the cgroup (its processes already ended; a dying one may take a moment)."""
        if self.path is None:
            return
        for _ in range(50):
            try:
                self.path.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)
        self.path = None


def _remove_stale(base: Path) -> None:
    """Remove the call cgroups a grader killed by a signal left behind (its pid is gone;
    an empty cgroup's ``rmdir`` succeeds, one still holding processes fails and stays)."""
    with contextlib.suppress(OSError):
        for path in base.glob("seqlab-*-*-*"):
            pid = path.name.split("-")[1]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                with contextlib.suppress(OSError):
                    path.rmdir()


def _own_memory_cgroups() -> list[tuple[Path, bool]]:
    """The memory cgroup folders this process is in (v1 first), where they exist."""
    found = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        _, names, path = line.split(":", 2)
        if "memory" in names.split(","):
            base = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            found.insert(0, (base if base.is_dir() else Path("/sys/fs/cgroup/memory"), False))
        elif names == "":
            for root in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
                base = root / path.lstrip("/")
                if (base / "cgroup.controllers").is_file() and "memory" in (
                        base / "cgroup.controllers").read_text().split():
                    found.append((base, True))
                    break
    return found


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


def scrubbed_env(home: Path, limits: Limits, extra: dict[str, str] | None = None) -> dict:
    """A minimal environment: no tokens, proxies or paths of the grader's own shell."""
    threads = str(limits.threads)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(home / ".matplotlib"),
        "KERAS_HOME": str(home / ".keras"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "OMP_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "TF_NUM_INTRAOP_THREADS": threads,
        "TF_NUM_INTEROP_THREADS": "1",
        "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={threads}",
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
        # pyarrow's jemalloc reserves about 1 GB of address space when the data cap
        # (RLIMIT_DATA) leaves room for it, and then TensorFlow and new threads fail just
        # above that cap (measured: a 1.5 GB cap failed reading GloVe, 768 MB and 2 GB did
        # not); the system allocator reserves only what it uses.
        "ARROW_DEFAULT_MEMORY_POOL": "system",
    }
    for name in ("KERAS_BACKEND", "CUDA_VISIBLE_DEVICES", "OPENBLAS_CORETYPE",
                 "OPENBLAS_L2_SIZE", "LD_LIBRARY_PATH"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra or {})
    return env


def ensure_isolation() -> isolation.Isolation:
    """The isolation of this machine; raises :class:`SandboxError` where student code would
    run as root, or where a fresh uid cannot run this Python (one sentence saying what to do)."""
    found = isolation.detect()
    if os.geteuid() == 0 and not found.fresh_uid:
        raise SandboxError("refusing to run student code as root: install bubblewrap "
                           "(apt-get install bubblewrap) or unset SEQLAB_ISOLATION=none")
    if found.level == "uid" and not _uid_can_run_python():
        raise SandboxError(
            f"a fresh uid cannot run {sys.executable} (its folders are not readable by other "
            "users): install bubblewrap (apt-get install bubblewrap), or install the grader "
            "in a world-readable place such as /opt")
    return found


def _uid_can_run_python() -> bool:
    uid = identity.allocate_uid()
    try:
        from autograder.isolation import import_paths  # as grading runs it: the grader's path

        boot = f"import sys; sys.path[:] = {import_paths()!r}; import numpy"
        probe = subprocess.run([sys.executable, "-I", "-c", boot], user=uid,
                               group=uid, extra_groups=[], capture_output=True,
                               env={"HOME": "/tmp", "PATH": "/usr/bin:/bin"}, cwd="/")
    except OSError:  # the interpreter itself cannot be executed by that uid
        return False
    finally:
        identity.sweep(uid=uid)
    return probe.returncode == 0


def _limit_child(limits: Limits, level: str, uid: int | None, role: str = "student",
                 memory: CallMemory | None = None):
    grader = os.getpid()

    def apply() -> None:
        if memory is not None:  # first: as root, before anything of the call runs
            memory.enter()
        # raising one's own score needs no privilege
        with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as handle:
            handle.write(str(OOM_SCORE_ADJ.get(role, 1000)))
        resource.setrlimit(resource.RLIMIT_DATA, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        if uid is not None:  # counted per uid: a fork bomb stops at this many
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
        libc = ctypes.CDLL(None, use_errno=True)
        if level != "bubblewrap" and not limits.network and libc.unshare(CLONE_NEWNET) != 0:
            libc.unshare(CLONE_NEWUSER | CLONE_NEWNET)  # unprivileged fallback; may fail
        if level == "uid" and uid is not None:  # last: the steps above need root
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        # A grader killed mid-run takes its child along (bwrap passes it on with
        # --die-with-parent). The signal fires when the thread that started the child ends:
        # gradings run each in one thread that waits for its children, so that is never early.
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != grader:  # the grader died before the line above
            os._exit(1)

    return apply


def _private_folder(path: Path, uid: int | None) -> Path:
    """A folder the sandboxed uid owns: created here (or made by the caller, still empty, in
    a folder only the caller can write), so no link a child planted can be in it."""
    if path.is_symlink() or (path.exists() and (not path.is_dir() or any(path.iterdir()))):
        raise SandboxError(f"{path} must be a new empty folder")
    path.mkdir(mode=0o700, exist_ok=True)
    if uid is not None:
        os.chown(path, uid, uid, follow_symlinks=False)
    return path


def run_tasks(entry: str, spec: dict, tasks: list[dict], *, workdir: Path, limits: Limits,
              env: dict[str, str] | None = None, log_dir: Path | None = None,
              describe=lambda task: task["id"], role: str = "student",
              numpy_only: bool = False) -> dict[str, TaskResult]:
    """Run ``tasks`` (dicts with ``id`` and ``timeout``) in sandboxed children.

    ``entry`` is the module to run (``autograder.child`` or ``autograder.worker``);
    ``role`` says what the sandbox shows it (:func:`autograder.isolation.mounts`).
    ``workdir`` must be a folder only this process can write; the child may write only in
    its ``out/`` and ``home/`` subfolders, created here for it. ``spec`` is passed to every
    child with ``spec["tasks"]`` set to the tasks still to run. Returns one
    :class:`TaskResult` per task id, in order.
    """
    found = ensure_isolation()
    uid = identity.allocate_uid() if found.fresh_uid else None
    workdir = Path(workdir)
    if uid is not None:  # only this uid (and root) may enter: not another student's uid
        os.chown(workdir, 0, uid, follow_symlinks=False)
        workdir.chmod(0o750)
        if found.level == "uid":  # no mount namespace: it must reach its folder on the host
            _open_path_to(workdir.parent)
    for name in ("out", "home"):
        _private_folder(workdir / name, uid)
    home = workdir / "home"
    results: dict[str, TaskResult] = {}
    remaining = list(tasks)
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="seqlab-logs-"))
    attempt = 0
    launch = {"entry": entry, "workdir": workdir, "limits": limits, "env": env, "uid": uid,
              "isolation": found, "role": role, "numpy_only": numpy_only, "home": home}
    while remaining:
        attempt += 1
        outcome = _run_once({**spec, "tasks": remaining}, launch, describe=describe,
                            log=log_dir / f"{entry.rsplit('.', 1)[-1]}-{attempt}.log")
        results.update(outcome)
        if any(r.status == "import_error" for r in outcome.values()):
            break  # every remaining task already carries the import error
        remaining = [t for t in remaining if t["id"] not in results]
    return {t["id"]: results[t["id"]] for t in tasks}


def _open_path_to(folder: Path) -> None:
    """Let others pass through (not list) the grader's private temp folders down to ``folder``.

    Only folders below the system temp dir are touched, and only the execute bit is added.
    """
    top = Path(tempfile.gettempdir()).resolve()
    for parent in (Path(folder).resolve(), *Path(folder).resolve().parents):
        if parent == top or top not in parent.parents:
            break
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod((mode & 0o7777) | 0o011)


def _argv(launch: dict, spec_path: Path) -> list[str]:
    level = launch["isolation"].level
    if launch["entry"] == "autograder.child":  # a plain script: the child imports no grader
        script = (f"{isolation.HARNESS}/child.py" if level == "bubblewrap"
                  else str(Path(__file__).with_name("child.py")))
        argv = [sys.executable, "-I", "-B", script, str(spec_path)]
    else:
        argv = [sys.executable, "-I", "-B", "-m", launch["entry"], str(spec_path)]
    return isolation.command(launch["isolation"], launch["role"], launch["workdir"], argv,
                             uid=launch["uid"], numpy_only=launch["numpy_only"],
                             network=launch["limits"].network)


def _run_once(spec, launch, *, log, describe) -> dict[str, TaskResult]:
    workdir, limits = launch["workdir"], launch["limits"]
    spec_path = workdir / f".{log.stem}.spec.json"  # written by this process, read-only there
    spec_path.write_text(json.dumps(spec))
    spec_path.chmod(0o644)
    read_fd, write_fd = os.pipe()
    log_read, log_write = os.pipe()
    child_env = scrubbed_env(launch["home"], limits,
                             {**(launch["env"] or {}), "SEQLAB_RESULT_FD": str(write_fd)})
    memory = CallMemory(call_memory_bytes(limits))
    try:
        process = subprocess.Popen(
            _argv(launch, spec_path), cwd=workdir, env=child_env, stdin=subprocess.DEVNULL,
            stdout=log_write, stderr=log_write, pass_fds=(write_fd,), start_new_session=True,
            preexec_fn=_limit_child(limits, launch["isolation"].level, launch["uid"],
                                    launch["role"], memory))
    except BaseException:
        memory.remove()
        raise
    os.close(write_fd)
    os.close(log_write)
    kills_before = container_memory()[1]
    try:
        namespace = (_namespace_of(process) if launch["isolation"].level == "bubblewrap"
                     else None)
        reader = _Reader(read_fd, log_read, log, process)
        try:
            results = _follow(reader, {t["id"]: t for t in spec["tasks"]}, limits, describe,
                              writable=(workdir / "out", workdir / "home"))
        finally:
            _end(process, launch["uid"], namespace)
            reader.close()
        over = memory.exceeded()
        used = memory.usage()
    finally:
        memory.remove()
    if over:
        return _over_own_memory(results, spec, describe, used)
    kills_after = container_memory()[1]
    if kills_before is not None and kills_after is not None and kills_after > kills_before:
        # The kernel killed a process of the grading container for memory during this call,
        # while the call stayed below its own limit (above): the container as a whole was
        # full, the grader's problem.
        for task_id, result in results.items():
            if result.status in ("crashed", "import_error") and "SIGKILL" in result.message:
                results[task_id] = TaskResult(
                    task_id, "grader_error",
                    f"the grading machine ran out of memory while "
                    f"{describe(spec_task(spec, task_id))} ran (the kernel killed it; the "
                    "grader's own processes share that memory)."
                    " This is not about your code, and it costs you no points: tell your TA, "
                    "who will regrade it (the autograder needs a larger machine).",
                    result.data, result.seconds)
    return results


def call_memory_bytes(limits: Limits) -> int:
    """One call's total memory bound (its cgroup's limit): the per-process data cap plus
    the private ``/tmp``'s size."""
    return limits.memory_bytes + isolation.TMP_BYTES


def _over_own_memory(results: dict, spec: dict, describe, used: dict) -> dict:
    """The call was killed for, or reached, its own memory limit: every task that did not
    finish failed for the memory the code (or the model it built) demanded."""
    peak = f"{used['peak'] >> 20} MB" if used["peak"] is not None else "its limit"
    for task_id, result in results.items():
        if result.status in ("crashed", "import_error", "error") and (
                "SIGKILL" in result.message or result.status == "crashed"
                or any(word in result.message for word in MEMORY_WORDS)):
            results[task_id] = TaskResult(
                task_id, result.status,
                f"{describe(spec_task(spec, task_id))} needed more memory than the sandbox "
                f"allows: expected at most {used['limit'] >> 20} MB in all (processes and "
                f"files in /tmp or /dev/shm), got {peak} and the kernel stopped it "
                f"({result.message[:160]})",
                {**result.data, "out_of_memory": {k: v for k, v in used.items()}},
                result.seconds)
    return results


# Words of a failure for memory (Python's, TensorFlow's, C++'s, the C library's).
MEMORY_WORDS = ("MemoryError", "ResourceExhausted", "bad_alloc", "out of memory",
                "Cannot allocate memory", "OOM")


def spec_task(spec: dict, task_id: str) -> dict:
    return next((t for t in spec["tasks"] if t["id"] == task_id), {"id": task_id})


def _namespace_of(process: subprocess.Popen) -> int | None:
    """The PID namespace bwrap made (that of its first child), to sweep it at the end."""
    own = identity.pid_namespace(os.getpid())
    for _ in range(100):
        try:
            with open(f"/proc/{process.pid}/task/{process.pid}/children") as handle:
                children = [int(p) for p in handle.read().split()]
        except OSError:
            return None
        for child in children:
            found = identity.pid_namespace(child)
            if found is not None and found != own:
                return found
        if process.poll() is not None:
            return None
        time.sleep(0.005)
    return None


def _end(process: subprocess.Popen, uid: int | None, namespace: int | None) -> None:
    """Kill the child and everything it started; return only when all of it is gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    identity.sweep(uid=uid, namespace=namespace)


class _Reader:
    """The child's two pipes: JSON events, and stdout/stderr kept in a capped log file."""

    def __init__(self, events_fd: int, log_fd: int, log: Path, process):
        self.events_fd, self.log_fd, self.process = events_fd, log_fd, process
        self.log_file = open(log, "wb")  # noqa: SIM115 - closed in close()
        self.logged, self.dropped = 0, 0
        self.buffer = b""
        self.open_fds = {events_fd, log_fd}

    def lines(self, wait: float) -> list[bytes] | None:
        """Event lines that arrived within ``wait`` s; None once the child has gone."""
        if self.events_fd not in self.open_fds:
            return None
        ready, _, _ = select.select(list(self.open_fds), [], [], wait)
        if self.log_fd in ready:
            self._log(os.read(self.log_fd, 1 << 16))
        if self.events_fd in ready:
            chunk = os.read(self.events_fd, 1 << 16)
            if not chunk:
                self.open_fds.discard(self.events_fd)
                return None
            self.buffer += chunk
        elif not ready and self.process.poll() is not None:
            return None  # exited, though something it left holds the pipe open
        *complete, self.buffer = self.buffer.split(b"\n")
        if len(self.buffer) > 1 << 20:  # a line without end: never buffer more than 1 MB
            self.buffer = b""
        return complete

    def _log(self, chunk: bytes) -> None:
        if not chunk:
            self.open_fds.discard(self.log_fd)
            return
        room = max(0, LOG_BYTES - self.logged)
        self.log_file.write(chunk[:room])
        self.logged += min(room, len(chunk))
        self.dropped += max(0, len(chunk) - room)

    def close(self) -> None:
        if self.dropped:
            self.log_file.write(f"\n[{self.dropped} more bytes of output dropped]\n".encode())
        self.log_file.close()
        for fd in (self.events_fd, self.log_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


MAX_ENTRIES = 100_000  # files and folders a child may leave; more count as a full disk


def disk_use(folders, cap: int) -> int:
    """Bytes in the files below ``folders`` (links not followed), counting stops past ``cap``;
    more than :data:`MAX_ENTRIES` entries count as ``cap + 1``."""
    total, stack, seen = 0, [str(f) for f in folders], 0
    while stack and total <= cap:
        with contextlib.suppress(OSError), os.scandir(stack.pop()) as entries:
            for entry in entries:
                seen += 1
                if seen > MAX_ENTRIES:
                    return cap + 1
                with contextlib.suppress(OSError):
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    else:  # files, links, FIFOs: what they take in the folder
                        total += entry.stat(follow_symlinks=False).st_blocks * 512
    return total


def _follow(reader: _Reader, tasks: dict, limits: Limits, describe,
            writable=()) -> dict[str, TaskResult]:
    """Turn the child's events into results until it exits, hangs, fails to import or fills
    its ``writable`` folders past ``limits.disk_bytes``."""
    results: dict[str, TaskResult] = {}
    state = {"current": None, "started": time.monotonic(), "ready": False,
             "deadline": time.monotonic() + limits.import_timeout}
    while True:
        wait = state["deadline"] - time.monotonic()
        if wait <= 0:
            return _timed_out(results, state, tasks, limits, describe)
        if writable and time.monotonic() - state.get("disk_checked", 0) > 0.5:
            state["disk_checked"] = time.monotonic()
            if disk_use(writable, limits.disk_bytes) > limits.disk_bytes:
                return _filled_disk(results, state, tasks, limits, describe)
        lines = reader.lines(min(wait, 1.0))
        if lines is None:
            break
        for line in lines:
            early = _on_event(_parse(line), state, tasks, results)
            if early is not None:
                return early
    code = reader.process.poll()
    if code is None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            code = reader.process.wait(timeout=30)
    log = Path(reader.log_file.name)
    reader.log_file.flush()
    if not state["ready"]:
        message = _died("importing the module", code, log, limits)
        return {tid: TaskResult(tid, "import_error", message) for tid in tasks}
    current = state["current"]
    if current is not None:
        results[current] = TaskResult(current, "crashed",
                                      _died(describe(tasks[current]), code, log, limits), {},
                                      time.monotonic() - state["started"])
    return results


def _on_event(event: dict, state: dict, tasks: dict, results: dict):
    """Apply one event; returns the final results when the event ends this child's run."""
    kind = event.get("event")
    if kind == "ready" and not state["ready"]:
        state.update(ready=True, deadline=time.monotonic() + 30)
    elif kind == "import_error" and not state["ready"]:
        message = str(event.get("message", "the module could not be imported"))[:2000]
        return {tid: TaskResult(tid, "import_error", message) for tid in tasks}
    elif kind == "start" and state["ready"] and event.get("id") in tasks \
            and event["id"] not in results:
        now = time.monotonic()
        state.update(current=event["id"], started=now,
                     deadline=now + float(tasks[event["id"]]["timeout"]))
    elif kind == "done" and state["current"] is not None and event.get("id") == state["current"]:
        current = state["current"]
        data = event.get("data")
        results[current] = TaskResult(
            current, str(event.get("status", "error"))[:40], str(event.get("message", ""))[:2000],
            data if isinstance(data, dict) else {}, time.monotonic() - state["started"])
        state.update(current=None, deadline=time.monotonic() + 30)
    return None


def _filled_disk(results, state, tasks, limits, describe) -> dict[str, TaskResult]:
    current = state["current"] or next((t for t in tasks if t not in results), None)
    if current is None:
        return results
    results[current] = TaskResult(
        current, "crashed", f"{describe(tasks[current])} wrote more than "
        f"{limits.disk_bytes >> 20} MB to disk (the grader's limit) and was stopped", {},
        time.monotonic() - state["started"])
    return results


def _timed_out(results, state, tasks, limits, describe) -> dict[str, TaskResult]:
    if state["current"] is None and not state["ready"]:
        message = (f"importing the module took longer than {limits.import_timeout:.0f} s: does "
                   "it run something heavy, or loop forever, at import time?")
        return {tid: TaskResult(tid, "import_error", message) for tid in tasks}
    current = state["current"]
    if current is None:  # between tasks: the child stalled outside student code
        current = next(t for t in tasks if t not in results)
        state["started"] = time.monotonic()
    seconds = time.monotonic() - state["started"]
    results[current] = TaskResult(
        current, "timeout",
        f"{describe(tasks[current])} did not finish within {tasks[current]['timeout']:.0f} s "
        f"(stopped after {seconds:.0f} s): is there an endless loop, or far more work than "
        "the task needs?", {}, seconds)
    return results


def _parse(line: bytes) -> dict:
    try:
        event = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return event if isinstance(event, dict) else {}


def _signal_of(code: int | None) -> signal.Signals | None:
    """The signal that ended the child: a negative status, or bwrap's 128 + N."""
    number = -code if code is not None and code < 0 else (
        code - 128 if code is not None and 128 < code < 160 else None)
    try:
        return signal.Signals(number) if number is not None else None
    except ValueError:
        return None


def _died(what: str, code: int | None, log: Path, limits: Limits) -> str:
    if _signal_of(code) is not None:
        name = _signal_of(code).name
        hint = {"SIGKILL": f" (killed: memory above {limits.memory_bytes / GIB:.0f} GB or CPU "
                           f"time above {limits.cpu_seconds} s?)",
                "SIGXCPU": f" (CPU time above {limits.cpu_seconds} s)",
                "SIGXFSZ": f" (a file larger than {limits.file_bytes >> 20} MB)",
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

