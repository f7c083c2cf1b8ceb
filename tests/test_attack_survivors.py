"""Outcome 2: nothing a submission starts outlives its call.

The module (the reference, so it grades normally) leaves a survivor at import: a forked
process, one in its own session, a double-forked one reparented to init, one that keeps
every inherited fd (the result pipe included) open, or a thread. After 2.5 s the survivor
spends 4 s overwriting every grading output it can find (named in its source, or in any
process's command line: --json, --gradebook, --feedback). Five seconds and more after the
grader exits, results.json, the gradebook and the feedback must be byte-identical to what
the grader left; the grader must not have waited for the survivor, must print no
traceback, and no survivor process may be left.
"""

from __future__ import annotations

import csv
import time
import uuid

import pytest

from autograder.questions import question_points
from tests.attacks import (
    REFERENCE,
    cli,
    kill,
    pids_with,
    prepend,
    results_score,
    snapshot_outputs,
    survivor,
    with_reference_answers,
    write_module,
)

QUICK = ["survivor_fork", "survivor_setsid", "survivor_double_fork", "survivor_thread",
         "survivor_daemon_thread"]


@pytest.fixture
def marker():
    mark = f"seqlab-survivor-{uuid.uuid4().hex}"
    yield mark
    kill(pids_with(mark))  # whatever the attack left behind (our own processes, by pid)


@pytest.fixture(scope="module")
def clean_seconds(tmp_path_factory):
    """How long grading the plain reference takes through the command line."""
    folder = write_module(tmp_path_factory.mktemp("clean") / "sub", REFERENCE)
    done, seconds = cli("grade", str(folder), "--assignment", "rnn_numpy")
    assert done.returncode == 0, done.stderr[-2000:]
    return seconds


def _after_exit_unchanged(outputs, marker):
    """Right after the grader exits: no survivor; 6.5 s later: every output unchanged."""
    assert pids_with(marker) == [], "a process the submission started is still running"
    before = snapshot_outputs(*outputs)
    assert all(v is not None for v in before.values()), before.keys()
    time.sleep(6.5)
    after = snapshot_outputs(*outputs)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, f"rewritten after the grader exited: {changed}"
    assert pids_with(marker) == []


def _one(how):
    return pytest.param(how.removeprefix("survivor_"),
                        marks=[pytest.mark.slow] if how == "survivor_pipe_holder" else [])


@pytest.mark.parametrize("how", [_one(h) for h in (*QUICK, "survivor_pipe_holder")])
def test_survivor_cannot_rewrite_results_json(tmp_path, marker, clean_seconds, how):
    out = tmp_path / "out" / "results.json"
    delay = 40.0 if how == "pipe_holder" else 2.5  # holds the pipe past the grader's waits
    source = prepend(survivor(how, marker, tmp_path, guesses=[out], delay=delay), REFERENCE)
    folder = write_module(tmp_path / "sub", source)
    done, seconds = cli("grade", str(folder), "--json", str(out), "--assignment", "rnn_numpy")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert seconds < clean_seconds + 20, f"the grader waited {seconds:.0f} s for a survivor"
    assert results_score(out) <= 60
    _after_exit_unchanged([out], marker)
    assert results_score(out) <= 60


def test_survivor_cannot_rewrite_the_gradebook_or_feedback(tmp_path, marker, clean_seconds):
    gradebook, feedback = tmp_path / "grades.csv", tmp_path / "grades_feedback"
    klass = tmp_path / "class"
    write_module(klass / "mallory", prepend(
        survivor("double_fork", marker, tmp_path, guesses=[gradebook, feedback]), REFERENCE))
    with_reference_answers(write_module(klass / "honest", REFERENCE))
    done, seconds = cli("grade-all", str(klass), "--gradebook", str(gradebook),
                        "--assignment", "rnn_numpy", "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert seconds < 2 * clean_seconds + 20
    _after_exit_unchanged([gradebook, feedback], marker)
    with open(gradebook, newline="") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert sorted(rows) == ["honest", "mallory"]
    assert float(rows["honest"]["total"]) == float(rows["honest"]["max_total"]) == (
        60 + question_points("rnn_numpy"))
    assert "1000" not in (feedback / "mallory.json").read_text()


def test_marker_scan_sees_a_process_that_does_survive(tmp_path, marker):
    """The control for the scans above: a survivor started from here is seen."""
    import subprocess
    import sys

    code = survivor("double_fork", marker, tmp_path / "nowhere", delay=5.0, span=0.1)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
    deadline = time.monotonic() + 5
    while not pids_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pids_with(marker)
