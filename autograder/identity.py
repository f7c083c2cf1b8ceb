"""A fresh Unix identity per grading, and the sweep that leaves nothing of it running.

When the grader runs as root, every sandboxed process (a student's child, the trusted
worker) runs under its own uid drawn from a reserved range that no passwd entry uses, so two
gradings never share a uid: one student's processes cannot signal, ptrace or read the files of
another's, and nothing a student starts can pass for the worker. Uids are handed out by a
counter kept in a root-only state folder (``$SEQLAB_STATE_DIR``, default
``/var/lib/seqlab``), so a uid comes back only after :data:`UID_COUNT` gradings.

:func:`sweep` kills every process of a uid (or of a PID namespace) and waits until none is
left: the parent calls it after each sandboxed call, before it reads anything the call wrote.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import time
from pathlib import Path

UID_BASE = 1_500_000_000
"""First uid of the reserved range (far above any distribution's users and subuid ranges)."""
UID_COUNT = 10_000_000


class IdentityError(RuntimeError):
    """No fresh uid could be allocated (not root, or the state folder is unusable)."""


def state_dir() -> Path:
    return Path(os.environ.get("SEQLAB_STATE_DIR", "/var/lib/seqlab"))


def allocate_uid() -> int:
    """The next unused uid of the reserved range (root only); never the same twice in a row.

    The counter file is locked while it is read and written, so parallel gradings (threads or
    separate ``grade-all`` runs) never get the same uid.
    """
    if os.geteuid() != 0:
        raise IdentityError("a fresh uid per grading needs root")
    folder = state_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.lstat()
    if info.st_uid != 0 or info.st_mode & 0o022 or not os.path.isdir(folder) \
            or folder.is_symlink():
        raise IdentityError(f"{folder} must be a folder owned by root and writable only by it")
    fd = os.open(folder / "next-uid", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        text = os.read(fd, 64).decode(errors="replace").strip()
        number = int(text) if text.isdigit() else 0
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, str((number + 1) % UID_COUNT).encode())
        os.fsync(fd)
    finally:
        os.close(fd)  # releases the lock
    uid = UID_BASE + number % UID_COUNT
    sweep(uid=uid)  # a leftover of the last round of the range, however unlikely
    return uid


def _proc_ids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _uid_of(pid: int) -> int | None:
    """The real uid of a live process; None for one that is gone or a zombie (a zombie has
    exited: it runs nothing and holds no file open, it only waits to be reaped)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"State:") and line.split()[1] in (b"Z", b"X"):
                    return None
                if line.startswith(b"Uid:"):
                    return int(line.split()[1])  # the real uid
    except (OSError, ValueError, IndexError):
        return None
    return None


def pid_namespace(pid: int) -> int | None:
    """The inode of ``pid``'s PID namespace, or None when it is gone or unreadable."""
    try:
        return os.stat(f"/proc/{pid}/ns/pid").st_ino
    except OSError:
        return None


def members(*, uid: int | None = None, namespace: int | None = None) -> list[int]:
    """Processes running as ``uid`` or inside the PID namespace ``namespace``."""
    found = []
    for pid in _proc_ids():
        if pid == os.getpid():
            continue
        owner = _uid_of(pid)  # None: gone or a zombie
        if owner is not None and ((uid is not None and owner == uid) or (
                namespace is not None and pid_namespace(pid) == namespace)):
            found.append(pid)
    return found


def sweep(*, uid: int | None = None, namespace: int | None = None,
          timeout: float = 10.0) -> int:
    """SIGKILL every process of ``uid`` / ``namespace`` until none is left; returns how many.

    Raises ``TimeoutError`` when processes are still there after ``timeout`` seconds (an
    unkillable process stuck in the kernel): the caller must then not trust the call's files.
    """
    if uid is None and namespace is None:
        return 0
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while True:
        alive = members(uid=uid, namespace=namespace)
        if not alive:
            return len(killed)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(alive)} sandboxed processes survived SIGKILL "
                               f"for {timeout:.0f} s (pids {alive[:5]})")
        for pid in alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            killed.add(pid)
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child
        time.sleep(0.02)
