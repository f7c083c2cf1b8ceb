"""Outcome 3: one student cannot touch another.

``grade-all --jobs 2`` (as root; with ``--run-as nobody`` where that user can run this
Python) over a class where mallory's module, at import and for six seconds, (a) reads the
other students' submissions (the class folder, their copies in the grader's temp folders),
(b) overwrites them and the inputs and results of gradings running meanwhile, (c) plants
symlinks in its own work folder (to a root-only file, to /etc/shadow, to another student's
folder) and writes through them, (d) drops uniquely named .pth, sitecustomize.py and
__pycache__ files into every folder it can find. The others must keep their full marks and
files, no secret of theirs may reach mallory's feedback, the root-only file stays root-only
and unchanged, no probe file may appear, and no student code may run as root.

Test safety: mallory only ever overwrites files holding the victims' marker, and her probe
files are harmless (a .pth line naming a folder that does not exist); the test removes them.
"""

from __future__ import annotations

import csv
import json
import os
import site
import sys
from pathlib import Path

from autograder.questions import question_points
from tests.attacks import REPO, cli, prepend, token, tree, with_reference_answers, write_module

MALLORY = r'''
import glob, os, pathlib, sys, tempfile, time
_CLASS = pathlib.Path(@CLASS@)
_SECRET_FILE = pathlib.Path(@SECRET_FILE@)
_DROP = pathlib.Path(@DROP@)
_PROBE = @PROBE@
_EXTRA_DIRS = @EXTRA_DIRS@
_MINE = pathlib.Path(__file__).resolve()
_STOLEN = set()


def _victim_files():
    found = list(_CLASS.glob("*/*.py"))
    for top in {"/tmp", tempfile.gettempdir()}:
        found += [pathlib.Path(p) for p in glob.glob(top + "/seqlab-*/**/*.py", recursive=True)]
    return [p for p in found if p.resolve() != _MINE]


def _steal_and_spoil():
    for path in _victim_files():
        try:
            text = path.read_text()
        except OSError:
            continue
        if "VICTIM-MARK" not in text:  # (test safety: never touch a real grading)
            continue
        _STOLEN.update(w for w in text.split() if w.startswith("victim-"))
        folder = path.parent
        for other in [path, *folder.glob("in_*"), *folder.glob("out/*")]:
            try:
                other.write_bytes(b"raise SystemExit('spoiled by mallory')\n")
            except OSError:
                pass


def _plant():
    here = pathlib.Path.cwd()
    (here / "out").mkdir(exist_ok=True)
    for link, target in (("out/init_a.npz.lnk", _SECRET_FILE), ("shadow", "/etc/shadow"),
                         ("peer", _CLASS / "b_victim"), (".keras", _SECRET_FILE)):
        try:
            os.symlink(target, here / link)
        except OSError:
            pass
    for path in (here / "out/init_a.npz.lnk", _SECRET_FILE, here / "peer" / "rnn_numpy.py"):
        try:
            with open(path, "a") as handle:
                handle.write("mallory was here\n")
        except OSError:
            pass


def _probe_files():
    import importlib.util
    dirs = [pathlib.Path(p) for p in sys.path if p] + [pathlib.Path(p) for p in _EXTRA_DIRS]
    for name in ("autograder", "seqlab", "numpy"):
        spec = importlib.util.find_spec(name)
        if spec and spec.origin:
            dirs += [pathlib.Path(spec.origin).parent, pathlib.Path(spec.origin).parent.parent]
    for folder in dirs:
        for name in (_PROBE + ".pth", "__pycache__/" + _PROBE):
            try:
                (folder / name).parent.mkdir(exist_ok=True)
                (folder / name).write_text("/nonexistent-" + _PROBE + "\n")
            except OSError:
                pass
        if _CLASS in folder.parents or folder == _CLASS:
            try:
                (folder / "sitecustomize.py").write_text("# " + _PROBE + "\n")
            except OSError:
                pass


try:
    (_DROP / str(os.getpid())).write_text("ran")
except OSError:
    pass
_plant()
_probe_files()
_end = time.time() + 6
while time.time() < _end:
    _steal_and_spoil()
    time.sleep(0.05)
'''

LEAK = '''

_plain_init = init_params


def init_params(q, r, s, seed=0):
    if _STOLEN:
        raise RuntimeError("LEAK " + " ".join(sorted(_STOLEN)))
    return _plain_init(q, r, s, seed)
'''


def test_one_student_cannot_read_spoil_or_trap_another(tmp_path):
    klass, gradebook = tmp_path / "class", tmp_path / "grades.csv"
    secret_file = tmp_path / "root_only.txt"
    secret_file.write_text(token("root-only") + "\n")
    secret_file.chmod(0o600)
    secret_before = secret_file.read_bytes()
    drop = tmp_path / "drop"
    drop.mkdir()
    drop.chmod(0o1777)
    probe = f".seqlab-attack-{token('probe')}"
    secrets = {name: token("victim") for name in ("b_victim", "c_victim")}
    for name, secret in secrets.items():
        # b imports slowly, so that its grading runs while mallory's does (--jobs 2)
        wait = "import time\ntime.sleep(4)\n" if name == "b_victim" else ""
        write_module(klass / name, prepend(f"# VICTIM-MARK {secret}\n{wait}"))
        with_reference_answers(klass / name)  # full marks for the lab's questions too
    extra = [str(klass), str(klass / "b_victim"), str(klass / "c_victim"), str(REPO),
             str(tmp_path), *site.getsitepackages()]
    source = prepend(MALLORY.replace("@CLASS@", repr(str(klass)))
                     .replace("@SECRET_FILE@", repr(str(secret_file)))
                     .replace("@DROP@", repr(str(drop))).replace("@PROBE@", repr(probe))
                     .replace("@EXTRA_DIRS@", repr(extra))) + LEAK
    write_module(klass / "a_mallory", source)
    victims_before = {name: tree(klass / name) for name in secrets}

    try:
        done, _ = cli("grade-all", str(klass), "--gradebook", str(gradebook), "--jobs", "2",
                      "--assignment", "rnn_numpy", "--no-progress", timeout=600)
    finally:
        probes = [Path(d) / name for d in {*sys.path, *extra} if d
                  for name in (probe + ".pth", "__pycache__/" + probe)]
        for root in (REPO / "autograder", REPO / "seqlab", REPO):
            probes += [root / (probe + ".pth"), root / "__pycache__" / probe]
        planted = sorted(str(p) for p in probes if p.exists())
        for path in probes:
            if path.exists():
                path.unlink()
        sitecustomize = sorted(str(p) for p in klass.rglob("sitecustomize.py"))
    assert done.returncode == 0, done.stderr[-3000:]
    with open(gradebook, newline="") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}

    # the others: full marks, untouched submissions, nothing of theirs in mallory's feedback
    for name in secrets:
        assert float(rows[name]["total"]) == float(rows[name]["max_total"]) == (
            60 + question_points("rnn_numpy")), rows[name]
    assert {name: tree(klass / name) for name in secrets} == victims_before
    feedback = json.dumps(json.loads(
        (tmp_path / "grades_feedback" / "a_mallory.json").read_text()))
    assert not [s for s in secrets.values() if s in feedback], "mallory read another student"
    # the root-only file: still root's, still private, unchanged
    status = secret_file.stat()
    assert (status.st_uid, status.st_mode & 0o777) == (0, 0o600)
    assert secret_file.read_bytes() == secret_before
    # no probe file landed anywhere, and no student code ran as root
    assert not planted, planted
    assert not sitecustomize, sitecustomize
    owners = {p.name: p.stat().st_uid for p in drop.iterdir()}
    assert all(uid != 0 for uid in owners.values()), f"student code ran as root: {owners}"
    assert os.stat("/etc/shadow").st_uid == 0
