"""Grading the NumPy assignments ``rnn_numpy`` and ``cells`` (labs 1 and 2).

The reference must pass every check; purpose-built wrong modules, made from the reference by
small source edits, must each lose exactly the points of the function they break, with a
message that says what was expected, what was got and, for the usual mistakes, which one it
is. Several independent faults share one submission to keep the suite fast.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import isolation
from autograder.grader import grade
from autograder.questions import question_points
from tests.submissions import edit as _edit
from tests.submissions import is_question
from tests.submissions import submission as _submission

REPO = Path(__file__).resolve().parent.parent
RNN = (REPO / "solutions" / "rnn_numpy.py").read_text()
CELLS = (REPO / "solutions" / "cells.py").read_text()


def _test(result, prefix):
    matches = [t for t in result.tests if t.name.startswith(prefix)]
    assert len(matches) == 1, f"{prefix!r} matched {[t.name for t in matches]}"
    return matches[0]


def _lost(result) -> list[str]:
    return sorted(t.name for t in result.tests if t.points < t.max_points
                  and not is_question(t))  # these submissions answer no question


@pytest.fixture(scope="module")
def reference():
    return {name: grade(REPO / "solutions", assignment=name) for name in ("rnn_numpy", "cells")}


@pytest.mark.slow
def test_reference_passes_every_check(reference):
    for name, result in reference.items():
        problems = [(t.name, t.message) for t in result.tests
                    if t.status not in ("passed", "ungraded")]  # ungraded: written questions
        assert not problems, name
        assert result.score == result.max_score == (
            {"rnn_numpy": 60, "cells": 59}[name] + question_points(name))
        assert {t.assignment for t in result.tests} == {name}
    # Both assignments together grade in seconds (the target is 20 s on a quiet 2-core CPU).
    assert sum(r.seconds for r in reference.values()) < 60


@pytest.mark.slow
def test_truncated_backprop_per_tensor_clipping_and_jacobian_without_tanh(tmp_path):
    source = _edit(
        RNN,
        ('d_h = d_logits[:, t] @ params["W_y"] + d_h_next', 'd_h = d_logits[:, t] @ params["W_y"]'),
        ("    norm = np.sqrt(sum(float(np.sum(g**2)) for g in grads.values()))\n"
         "    scale = max_norm / norm if norm > max_norm else 1.0\n"
         "    return {name: g * scale for name, g in grads.items()}",
         "    return {name: g * min(1.0, max_norm / np.linalg.norm(g)) for name, g in "
         "grads.items()}"),
        ('jacobian = jacobian @ ((1.0 - h[k + 1] ** 2)[:, None] * params["W_hh"])',
         'jacobian = jacobian @ params["W_hh"]'),
    )
    result = grade(_submission(tmp_path, "rnn_numpy.py", source), assignment="rnn_numpy",
                   case_timeout=15)
    assert _lost(result) == sorted([
        "rnn_loss_and_grads: gradients through time (W_hx, W_hh, b_h)",
        "clip_by_global_norm: one common scale when the global norm is too large",
        "state_jacobian_norms: the curve of Jacobian norms ||dh_T/dh_k||"])
    assert result.score == 60 - 12 - 7 - 6
    grads = _test(result, "rnn_loss_and_grads: gradients through").message
    assert re.search(r"gradient of W_hh is off by \d+%, largest difference at \[\d, \d\]", grads)
    assert "expected" in grads and "got" in grads and "did backprop stop after one step?" in grads
    clip = _test(result, "clip_by_global_norm").message
    assert "expected every gradient scaled by the same factor" in clip and "per-tensor" in clip
    assert "tanh derivative is missing" in _test(result, "state_jacobian_norms").message
    assert _test(result, "rnn_loss_and_grads: gradients of the output").status == "passed"


@pytest.mark.slow
def test_missing_w_hh_gradient_unseeded_init_and_a_hang(tmp_path):
    source = _edit(
        RNN,
        ('        grads["W_hh"] += d_a.T @ h_prev\n', ""),
        ("rng = np.random.default_rng(seed)", "rng = np.random.default_rng()"),
        ("    h, _ = rnn_forward(params, x[None])\n", "    while True:\n        pass\n"),
    )
    result = grade(_submission(tmp_path, "rnn_numpy.py", source), assignment="rnn_numpy",
                   case_timeout=4)
    assert _lost(result) == sorted([
        "init_params: shapes, float64, seeded",
        "rnn_loss_and_grads: gradients through time (W_hx, W_hh, b_h)",
        "state_jacobian_norms: the curve of Jacobian norms ||dh_T/dh_k||"])
    grads = _test(result, "rnn_loss_and_grads: gradients through").message
    assert "gradient of W_hh is off by 100%" in grads and "all zeros" in grads
    assert "default_rng(seed)" in _test(result, "init_params").message
    assert "did not finish within 4 s" in _test(result, "state_jacobian_norms").message
    assert _test(result, "rnn_forward: values").status == "passed"


@pytest.mark.slow
def test_lstm_gate_order_and_flipped_gru_update(tmp_path):
    source = _edit(
        CELLS,
        ("    g = np.tanh(z[:, 2 * u:3 * u])\n    o = sigmoid(z[:, 3 * u:])",
         "    g = np.tanh(z[:, 3 * u:])\n    o = sigmoid(z[:, 2 * u:3 * u])"),
        ("return z * h_prev + (1.0 - z) * n", "return (1.0 - z) * h_prev + z * n"),
    )
    result = grade(_submission(tmp_path, "cells.py", source), assignment="cells",
                   case_timeout=15)
    assert _lost(result) == sorted([
        "lstm_step: equals keras.layers.LSTM from a nonzero state (random weights)",
        "lstm_sequence: outputs equal keras.layers.LSTM (random weights)",
        "lstm_sequence: gates input, forget, output in (0, 1) and the cell state",
        "gru_step: equals keras.layers.GRU from a nonzero state (random weights)",
        "gru_sequence: outputs equal keras.layers.GRU (random weights)"])
    lstm = _test(result, "lstm_step: equals").message
    assert "differs from keras.layers.LSTM" in lstm and "expected" in lstm and "got" in lstm
    assert "order input, forget, output, candidate" in lstm
    assert "'cell'" in _test(result, "lstm_sequence: gates").message
    for prefix in ("gru_step: equals", "gru_sequence: outputs"):
        assert "h = (1 - z) * h_prev + z * candidate" in _test(result, prefix).message
    # The GRU's gates are right given its own states: no double penalty.
    assert _test(result, "gru_sequence: gates").status == "passed"


@pytest.mark.slow
def test_reset_before_matmul_swapped_lstm_outputs_and_gates_without_sigmoid(tmp_path):
    source = _edit(
        CELLS,
        ("n = np.tanh(x_part[:, 2 * u:] + r * h_part[:, 2 * u:])",
         "n = np.tanh(x_part[:, 2 * u:] + (r * h_prev) @ recurrent_kernel[:, 2 * u:] "
         "+ bias[1, 2 * u:])"),
        ("    return h, c\n", "    return c, h\n"),
        ('gates["update"][:, t] = sigmoid(x_part[:, :u] + h_part[:, :u])',
         'gates["update"][:, t] = x_part[:, :u] + h_part[:, :u]'),
    )
    result = grade(_submission(tmp_path, "cells.py", source), assignment="cells",
                   case_timeout=15)
    assert _test(result, "gru_step: returns").status == "passed"
    reset = _test(result, "gru_step: equals").message
    assert "reset gate is applied before the recurrent matmul" in reset
    assert "before the recurrent matmul" in _test(result, "gru_sequence: outputs").message
    assert "h and c are swapped" in _test(result, "lstm_step: equals").message
    gates = _test(result, "gru_sequence: gates").message
    assert "gates['update']" in gates and "expected every value in (0, 1)" in gates
    # Signatures, NumPy only, the two shape checks and the GRU's Jacobian (its own gates).
    assert result.score == 2 + 3 + 2 + 2 + 6 + 3


@pytest.mark.slow
def test_starter_scores_zero_with_not_implemented_messages():
    for name in ("rnn_numpy", "cells"):
        result = grade(REPO / "starter", assignment=name, public_only=True)
        counted = [t for t in result.tests if t.name.split(":")[0] in
                   {"init_params", "rnn_forward", "rnn_loss_and_grads", "clip_by_global_norm",
                    "state_jacobian_norms", "lstm_step", "gru_step", "lstm_sequence",
                    "gru_sequence", "gru_state_jacobian"}]
        assert counted and all(t.points == 0 for t in counted)
        for test in counted:
            assert "is not implemented yet" in test.message, (test.name, test.message)


@pytest.mark.skipif(isolation.detect().level != "bubblewrap",
                    reason="the frameworks are masked only inside bubblewrap")
def test_module_loading_a_framework_cannot_import_it(tmp_path):
    """Enforced by the sandbox, not reported by the child: the import itself fails."""
    source = RNN + "\nimport keras  # would do the work (or the gradients)\n"
    result = grade(_submission(tmp_path, "rnn_numpy.py", source), assignment="rnn_numpy",
                   case_timeout=15)
    assert result.score == 0
    message = _test(result, "rnn_numpy.py: NumPy only").message
    assert "could not be imported" in message and "keras is not available" in message


def test_missing_file_scores_zero(tmp_path):
    folder = _submission(tmp_path, "rnn_numpy.py", RNN)
    result = grade(folder, assignment="cells")
    assert result.tests and result.score == 0
    checks = [t for t in result.tests if not is_question(t)]
    assert checks and all(t.message == "cells.py was not submitted" for t in checks)
    # the lab's questions are graded from answers.json, which this submission lacks
    assert all("not answered" in t.message for t in result.tests if t not in checks)


def test_notebook_check_runs_the_public_checks_of_one_function():
    from autograder.notebook import check, checked_functions

    known = checked_functions()
    assert known["rnn_loss_and_grads"] == "rnn_numpy" and known["gru_step"] == "cells"
    from autograder.registry import REGISTRY

    public = [c for c in REGISTRY["rnn_numpy"]
              if c.function == "rnn_loss_and_grads" and c.public]
    hidden = [c for c in REGISTRY["rnn_numpy"]
              if c.function == "rnn_loss_and_grads" and not c.public]
    assert public and hidden  # the output-layer gradients are graded on Gradescope only
    result = check("rnn_loss_and_grads", impl="solutions", show=False)
    assert [t.name for t in result.tests] == [c.name for c in public]
    assert result.score == result.max_score == sum(c.points for c in public)


def test_cli_grades_one_assignment(tmp_path):
    out = tmp_path / "results.json"
    run = subprocess.run([sys.executable, "-m", "autograder", "grade", str(REPO / "solutions"),
                          "--assignment", "rnn_numpy", "--json", str(out)],
                         capture_output=True, text=True, timeout=300, cwd=REPO)
    assert run.returncode == 0, run.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["score"] == 60 + question_points("rnn_numpy")  # and the lab's questions
    assert all(t.get("status", "passed") == "passed" for t in data["tests"])
    assert not any(t["name"].startswith(("build_", "lstm", "gru")) for t in data["tests"])
