"""Which isolation the grader has, that it says so, and that it refuses to grade unsafely."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import identity, isolation
from autograder.sandbox import SandboxError, ensure_isolation

REPO = Path(__file__).resolve().parent.parent
ROOT = os.geteuid() == 0


@pytest.fixture
def forced(monkeypatch):
    """Force an isolation level for one test (``SEQLAB_ISOLATION``), then restore it."""
    def force(level: str) -> None:
        monkeypatch.setenv("SEQLAB_ISOLATION", level)
        isolation.detect.cache_clear()

    yield force
    monkeypatch.delenv("SEQLAB_ISOLATION", raising=False)
    isolation.detect.cache_clear()


@pytest.mark.skipif(not isolation.bwrap_candidates(), reason="no bwrap (system or wheel)")
def test_bubblewrap_is_used_where_installed_and_a_fresh_uid_as_root():
    found = isolation.detect()
    assert found.level == "bubblewrap", found
    assert found.fresh_uid == ROOT
    assert "bubblewrap" in found.summary() and not found.missing


@pytest.mark.skipif(not ROOT, reason="uids are handed out to root only")
def test_fresh_uids_are_never_repeated_and_not_in_passwd():
    import pwd

    uids = [identity.allocate_uid() for _ in range(50)]
    assert len(set(uids)) == 50
    assert all(u >= identity.UID_BASE for u in uids)
    known = {entry.pw_uid for entry in pwd.getpwall()}
    assert not known & set(uids)


@pytest.mark.skipif(not ROOT, reason="the root policy applies to root only")
def test_without_bubblewrap_a_root_grader_needs_a_uid_that_can_run_python(forced, tmp_path):
    forced("uid")
    try:
        found = ensure_isolation()
    except SandboxError as err:  # this Python lives where other uids cannot read it
        assert "fresh uid cannot run" in str(err) and "bubblewrap" in str(err)
        (tmp_path / "class" / "ann").mkdir(parents=True)
        shutil.copy(REPO / "solutions" / "rnn_numpy.py", tmp_path / "class" / "ann")
        done = subprocess.run(
            [sys.executable, "-m", "autograder", "grade-all", str(tmp_path / "class"),
             "--gradebook", str(tmp_path / "grades.csv"), "--no-progress"],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "SEQLAB_ISOLATION": "uid"})
        assert done.returncode == 2 and "fresh uid cannot run" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        return
    assert found.level == "uid" and found.fresh_uid
    assert any("world-readable" in m for m in found.missing)


def test_the_isolation_is_reported_in_the_table_and_results_json(tmp_path):
    out = tmp_path / "results.json"
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", str(REPO / "solutions"),
                           "--assignment", "rnn_numpy", "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = isolation.detect().summary()
    assert f"sandbox: {summary}" in " ".join(done.stdout.split())
    results = json.loads(out.read_text())
    assert results["extra_data"]["isolation"] == summary
    assert summary in results["output"]
