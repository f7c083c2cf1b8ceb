"""seqlab.checks: the in-notebook public checks (fast, fixtures, no autograder, no solutions)."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from seqlab.checks import ASSIGNMENTS, FUNCTIONS, check, checks_of
from seqlab.checks import core as checks_core
from seqlab.checks.make_fixtures import out_of_sync

REPO = Path(__file__).resolve().parent.parent
CHECKS = REPO / "seqlab" / "checks"
SOLUTIONS = REPO / "solutions"
GENERATOR = "make_fixtures.py"   # the teacher-only module that reads solutions/


def _wrong(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """A folder holding ``solutions/<name>.py`` with ``old`` replaced by ``new`` (once)."""
    text = (SOLUTIONS / f"{name}.py").read_text()
    assert old in text, f"{old!r} is not in solutions/{name}.py"
    (tmp_path / f"{name}.py").write_text(text.replace(old, new, 1))
    return tmp_path


def _row(report, words: str):
    return next(row for row in report.rows if words in row.name)


@pytest.mark.parametrize("assignment", list(ASSIGNMENTS))
def test_reference_passes_every_public_check(assignment):
    for function in ASSIGNMENTS[assignment]:
        report = check(function, "solutions", show=False)
        assert report.passed, [row for row in report.rows if not row.passed]
        assert len(report.rows) == len(checks_of(function)) >= 1


@pytest.mark.parametrize("assignment", list(ASSIGNMENTS))
def test_starter_shows_not_implemented_and_no_traceback(assignment, capsys):
    for function in ASSIGNMENTS[assignment]:
        report = check(function, "starter")
        assert report.rows and all(r.status == "not implemented yet" for r in report.rows), (
            report.rows)
        assert all(r.message for r in report.rows)
    out = capsys.readouterr().out
    assert "not implemented yet" in out
    assert "Traceback" not in out and "NotImplementedError" not in out


def test_transposed_recurrent_weight_fails_forward_values(tmp_path):
    folder = _wrong(tmp_path, "rnn_numpy", 'h_prev @ params["W_hh"].T', 'h_prev @ params["W_hh"]')
    report = check("rnn_forward", folder, show=False)
    assert _row(report, "shapes").passed
    row = _row(report, "values")
    assert row.status == "failed" and "W_hh" in row.message and "transposed" in row.message
    assert row.expected.startswith("h[") and row.got.startswith("h[")
    assert row.expected != row.got


def test_missing_clip_fails_only_the_clipping_case(tmp_path):
    folder = _wrong(tmp_path, "rnn_numpy", "scale = max_norm / norm if norm > max_norm else 1.0",
                    "scale = 1.0")
    report = check("clip_by_global_norm", folder, show=False)
    big, small = _row(report, "above"), _row(report, "below")
    assert big.status == "failed" and "global norm" in big.message
    assert big.expected and big.got and big.expected != big.got
    assert small.passed


def test_summed_loss_is_named(tmp_path):
    folder = _wrong(tmp_path, "rnn_numpy", "loss = -log_probs[rows, steps, targets].mean()",
                    "loss = -log_probs[rows, steps, targets].sum()")
    row = _row(check("rnn_loss_and_grads", folder, show=False), "cross-entropy")
    assert row.status == "failed" and "the sum" in row.message


def test_unfrozen_embedding_fails_the_embedding_check(tmp_path):
    folder = _wrong(tmp_path, "sentiment", "trainable=trainable_embeddings", "trainable=True")
    report = check("build_rnn_classifier", folder, show=False)
    row = _row(report, "embedding")
    assert row.status == "failed" and "frozen" in row.message
    assert (row.expected, row.got) == ("trainable=False", "trainable=True")
    assert _row(report, "output").passed and _row(report, "parameter count").passed


@pytest.mark.parametrize(("new", "words"), [
    ("return update + candidate + reset", "diag(z) is missing"),
    ("return np.swapaxes(keep + update + candidate + reset, 1, 2)", "J is transposed"),
    ("return keep + update + candidate", "the reset-gate path is missing"),
], ids=["no diag(z)", "transposed", "no reset-gate path"])
def test_gru_jacobian_mistakes_are_named(tmp_path, new, words):
    folder = _wrong(tmp_path, "cells", "return keep + update + candidate + reset", new)
    report = check("gru_state_jacobian", folder, show=False)
    assert _row(report, "returns J").passed
    row = _row(report, "equals keras.layers.GRU's")
    assert row.status == "failed" and words in row.message, row.message
    assert row.expected.startswith("J[") and row.got.startswith("J[")
    assert row.expected != row.got


def test_crash_and_endless_loop_are_rows_not_tracebacks(tmp_path, monkeypatch, capsys):
    (tmp_path / "char_lm.py").write_text(
        "def batchify(data, batch_size):\n    while True:\n        pass\n\n"
        "def get_batch(source, i, bptt):\n    return source[i] + None\n")
    item = checks_of("batchify")[0]
    monkeypatch.setitem(checks_core.REGISTRY, "batchify", [dataclasses.replace(item, timeout=1)])
    looped = check("batchify", tmp_path)
    crashed = check("get_batch", tmp_path)
    assert looped.rows[0].status == "timed out" and "endless loop" in looped.rows[0].message
    assert crashed.rows[0].status == "error" and "TypeError" in crashed.rows[0].message
    assert "char_lm.py:6" in crashed.rows[0].message
    assert "Traceback" not in capsys.readouterr().out


def test_unknown_function_and_missing_module(tmp_path):
    with pytest.raises(ValueError, match="no public checks"):
        check("not_a_function", show=False)
    report = check("rnn_forward", tmp_path, show=False)
    assert not report.passed and report.rows[0].status == "error"
    assert "rnn_numpy.py" in report.rows[0].message


def test_every_contract_function_has_public_checks():
    assert set(FUNCTIONS) == {f for fs in ASSIGNMENTS.values() for f in fs}
    assert all(checks_of(function) for function in FUNCTIONS)


def test_fixtures_are_in_sync_with_the_reference():
    """Like test_starter's sync test: rerun the fixture command and compare."""
    problems = out_of_sync()
    assert not problems, ("fixtures are stale; run `python -m seqlab.checks.make_fixtures`: "
                          f"{problems}")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_shipped_checks_import_no_autograder_and_no_solutions():
    for path in sorted(CHECKS.glob("*.py")):
        if path.name == GENERATOR:
            continue
        imported = _imported_modules(path)
        assert not {n for n in imported if n.split(".")[0] in ("autograder", "solutions")}, path
        assert "seqlab.checks.make_fixtures" not in imported, path
        assert '"solutions"' not in path.read_text(), f"{path.name} names solutions/"


def test_running_checks_loads_no_autograder_and_numpy_checks_no_keras():
    code = (
        "import sys\n"
        "from seqlab.checks import check, FUNCTIONS\n"
        "for f in ('init_params', 'rnn_forward', 'lstm_step', 'gru_sequence'):\n"
        "    check(f, 'starter', show=False)\n"
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules\n"
        "for f in FUNCTIONS:\n"
        "    check(f, 'starter', show=False)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'autograder'\n"
        "       or 'seqlab.checks.make_fixtures' in m]\n"
        "files = [getattr(m, '__file__', '') or '' for m in list(sys.modules.values())]\n"
        "assert not bad, bad\n"
        "assert not [f for f in files if '/solutions/' in f], 'a solution was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
