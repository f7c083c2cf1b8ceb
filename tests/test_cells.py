"""The gated cells reference (solutions/cells.py) against real Keras layers, and its starter;
the GRU's state Jacobian (reference and grader's) against central differences.

Random weights (biases included) and a nonzero start state, as the grader uses: a zero state
or zero biases would hide a reset gate in the wrong place or gate blocks in the wrong order.
The grader's own reference and the worker's Keras task are checked the same way.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

from autograder.assignments import fundamentals_reference as ref
from seqlab.student import student_module
from tests.submissions import edit, submission

REPO = Path(__file__).resolve().parent.parent
CELLS_SOURCE = (REPO / "solutions" / "cells.py").read_text()

BATCH, STEPS, DIM, UNITS = 3, 5, 4, 6


@pytest.fixture(scope="module")
def cells():
    return student_module("cells", impl="solutions")


def _keras_layer(kind: str, seed: int):
    import keras

    layer = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[kind](
        UNITS, return_sequences=True, return_state=True)
    layer.build((None, None, DIM))
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(0, 0.6, size=w.shape).astype("float32")
                       for w in layer.get_weights()])
    return layer, [w.astype(np.float64) for w in layer.get_weights()]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    return {"x": rng.normal(size=(BATCH, STEPS, DIM)).astype("float32"),
            "h0": rng.normal(size=(BATCH, UNITS)).astype("float32"),
            "c0": rng.normal(size=(BATCH, UNITS)).astype("float32")}


def _f64(*arrays):
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def test_lstm_matches_keras_from_a_nonzero_state(cells, data):
    layer, weights = _keras_layer("lstm", 1)
    x, h0, c0 = data["x"], data["h0"], data["c0"]
    outputs, h_last, c_last = (np.asarray(v) for v in layer(x, initial_state=[h0, c0]))
    h, c = _f64(h0, c0)
    h_ref, c_ref = h, c
    for t in range(STEPS):
        h, c = cells.lstm_step(*_f64(x[:, t]), h, c, *weights)
        np.testing.assert_allclose(h, outputs[:, t], atol=1e-5)
        h_ref, c_ref, _ = ref.lstm_step(*_f64(x[:, t]), h_ref, c_ref, *weights)
        np.testing.assert_allclose(h_ref, h, atol=1e-12)
    np.testing.assert_allclose(h, h_last, atol=1e-5)
    np.testing.assert_allclose(c, c_last, atol=1e-5)


def test_gru_matches_keras_from_a_nonzero_state(cells, data):
    layer, weights = _keras_layer("gru", 2)
    x, h0 = data["x"], data["h0"]
    outputs, h_last = (np.asarray(v) for v in layer(x, initial_state=[h0]))
    h = _f64(h0)[0]
    for t in range(STEPS):
        h = cells.gru_step(*_f64(x[:, t]), h, *weights)
        np.testing.assert_allclose(h, outputs[:, t], atol=1e-5)
    np.testing.assert_allclose(h, h_last, atol=1e-5)
    # The mistakes the grader recognises are real differences at this state.
    first = cells.gru_step(*_f64(x[:, 0], h0), *weights)
    for variant in ({"flipped": True}, {"reset_before": True}, {"order": ("reset", "update")}):
        assert not np.allclose(ref.gru_step(*_f64(x[:, 0], h0), *weights, **variant)[0],
                               first, atol=1e-4), variant


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_sequences_match_keras_and_gates_are_sigmoids(cells, data, kind):
    layer, weights = _keras_layer(kind, 4)
    x = data["x"]
    keras_outputs = np.asarray(layer(x)[0])
    sequence = {"lstm": cells.lstm_sequence, "gru": cells.gru_sequence}[kind]
    outputs, gates = sequence(*_f64(x), *weights)
    np.testing.assert_allclose(outputs, keras_outputs, atol=1e-5)
    names = {"lstm": {"input", "forget", "output", "cell"}, "gru": {"update", "reset"}}[kind]
    assert set(gates) == names
    for name, values in gates.items():
        assert values.shape == (BATCH, STEPS, UNITS)
        if name != "cell":
            assert np.all((values > 0) & (values < 1)), name
    reference = {"lstm": ref.lstm_sequence, "gru": ref.gru_sequence}[kind](*_f64(x), *weights)
    np.testing.assert_allclose(reference[0], outputs, atol=1e-12)
    for name in names:
        np.testing.assert_allclose(reference[1][name], gates[name], atol=1e-12)


def test_wrong_lstm_block_orders_all_differ(data):
    _, weights = _keras_layer("lstm", 5)
    x, h0, c0 = _f64(data["x"][:, 0], data["h0"], data["c0"])
    right = ref.lstm_step(x, h0, c0, *weights)[0]
    assert len(ref.lstm_orders()) == 23
    for order in ref.lstm_orders():
        assert not np.allclose(ref.lstm_step(x, h0, c0, *weights, order=order)[0], right,
                               atol=1e-4), order


def test_worker_task_is_the_keras_layer(tmp_path, data):
    from autograder.worker import keras_recurrent

    _, weights = _keras_layer("lstm", 6)
    path = tmp_path / "lstm.npz"
    np.savez(path, x=data["x"], kernel=weights[0], recurrent_kernel=weights[1],
             bias=weights[2], h0=data["h0"], c0=data["c0"])
    result = keras_recurrent({"cell": "lstm", "data": str(path)})
    h, c = _f64(data["h0"], data["c0"])
    for t in range(STEPS):
        h, c, _ = ref.lstm_step(*_f64(data["x"][:, t]), h, c, *weights)
        np.testing.assert_allclose(np.asarray(result["outputs"])[:, t], h, atol=1e-5)
    np.testing.assert_allclose(result["c"], c, atol=1e-5)


def _central_differences(step, x_t, h_prev, weights, eps=1e-6):
    """dh/dh_prev of ``step`` by central differences: [b, i, j] = dh[b, i] / dh_prev[b, j]."""
    units = h_prev.shape[1]
    columns = []
    for j in range(units):
        shift = np.zeros(units)
        shift[j] = eps
        columns.append((step(x_t, h_prev + shift, *weights)
                        - step(x_t, h_prev - shift, *weights)) / (2 * eps))
    return np.stack(columns, axis=-1)


def test_gru_state_jacobian_is_the_derivative_of_the_step(cells, data):
    """The grader's exact Jacobian and the reference's equal central differences of the
    step, at the grader's own cases (saturated gates included) and on Keras' weights."""
    from autograder.assignments import cells as assignment

    def step(*args):
        return ref.gru_step(*args)[0]

    for case_id in ("gru_state_jacobian", "gru_state_jacobian_small",
                    "gru_state_jacobian_saturated"):
        x_t, h_prev, *weights = assignment._args(case_id)
        want = ref.gru_state_jacobian(x_t, h_prev, *weights)
        assert want.shape == (*h_prev.shape, h_prev.shape[1])
        np.testing.assert_allclose(want, _central_differences(step, x_t, h_prev, weights),
                                   atol=1e-8, err_msg=case_id)
        np.testing.assert_allclose(cells.gru_state_jacobian(x_t, h_prev, *weights), want,
                                   atol=1e-12, err_msg=case_id)
    _, weights = _keras_layer("gru", 7)
    x_t, h0 = _f64(data["x"][:, 0], data["h0"])
    jacobian = cells.gru_state_jacobian(x_t, h0, *weights)
    np.testing.assert_allclose(jacobian, _central_differences(cells.gru_step, x_t, h0, weights),
                               atol=1e-8)
    # The gradient of a loss on h goes back one step as g @ J, per batch row.
    g = np.random.default_rng(8).normal(size=h0.shape)
    eps, j = 1e-6, 2
    shift = np.zeros(UNITS)
    shift[j] = eps
    numeric = (np.sum(g * cells.gru_step(x_t, h0 + shift, *weights))
               - np.sum(g * cells.gru_step(x_t, h0 - shift, *weights))) / (2 * eps)
    np.testing.assert_allclose(np.einsum("bi,bij->j", g, jacobian)[j], numeric, atol=1e-8)


def test_gru_jacobian_mistakes_are_real_differences_everywhere():
    from autograder.assignments import cells as assignment

    for case_id in ("gru_state_jacobian", "gru_state_jacobian_small",
                    "gru_state_jacobian_saturated"):
        args = assignment._args(case_id)
        variants = [{"transposed": True}] + [
            {**kwargs, **extra} for kwargs, _ in assignment._JACOBIAN_MISTAKES
            for extra in ({}, {"transposed": True})]
        results = [ref.gru_state_jacobian(*args)] + [ref.gru_state_jacobian(*args, **v)
                                                     for v in variants]
        for a in range(len(results)):
            for b in range(a + 1, len(results)):
                assert np.abs(results[a] - results[b]).max() > 1e-3, (case_id, a, b)
    # The saturated case saturates: some gates within 1e-2 of 0 and of 1, others not.
    _, gates = ref.gru_step(*assignment._args("gru_state_jacobian_saturated"))
    for values in gates.values():
        assert values.min() < 1e-2 and values.max() > 1 - 1e-2
        assert np.any((values > 0.1) & (values < 0.9))


JACOBIAN_CHECKS = ("gru_state_jacobian: equals the exact dh/dh_prev",
                   "gru_state_jacobian: a batch of one with saturated gates")


def _graded_jacobian(folder):
    from autograder.grader import grade

    result = grade(folder, assignment="cells", functions=("gru_state_jacobian",),
                   case_timeout=15)
    return {prefix: next(t for t in result.tests if t.name.startswith(prefix))
            for prefix in JACOBIAN_CHECKS}


@pytest.mark.slow
def test_grader_passes_the_reference_jacobian():
    tests = _graded_jacobian(REPO / "solutions")
    assert [t.status for t in tests.values()] == ["passed", "passed"]
    assert [t.points for t in tests.values()] == [6, 3]
    assert tests[JACOBIAN_CHECKS[1]].visibility == "after_published"


@pytest.mark.slow
@pytest.mark.parametrize(("wrong", "words"), [
    ("return np.swapaxes(keep + update + candidate + reset, 1, 2)",
     "the Jacobian is transposed: entry [b, i, j] is dh[b, i] / dh_prev[b, j]"),
    ("return keep + update + candidate", "the reset-gate path is missing"),
], ids=["transposed", "no reset-gate path"])
def test_grader_names_the_jacobian_mistake(tmp_path, wrong, words):
    source = edit(CELLS_SOURCE, ("return keep + update + candidate + reset", wrong))
    tests = _graded_jacobian(submission(tmp_path, "cells.py", source))
    for test in tests.values():
        assert test.status == "failed" and test.points == 0, test.name
        assert words in test.message, test.message
        assert "expected" in test.message and "got" in test.message
        assert "gru_state_jacobian(x_t (" in test.message


def test_starter_stubs_keep_the_contract(cells):
    stub = student_module("cells", impl="starter")
    z = np.zeros((1, 2))
    arguments = {"lstm_step": (z, z, z, np.zeros((2, 8)), np.zeros((2, 8)), np.zeros(8)),
                 "gru_step": (z, z, np.zeros((2, 6)), np.zeros((2, 6)), np.zeros((2, 6))),
                 "lstm_sequence": (np.zeros((1, 1, 2)), np.zeros((2, 8)), np.zeros((2, 8)),
                                   np.zeros(8)),
                 "gru_sequence": (np.zeros((1, 1, 2)), np.zeros((2, 6)), np.zeros((2, 6)),
                                  np.zeros((2, 6))),
                 "gru_state_jacobian": (z, z, np.zeros((2, 6)), np.zeros((2, 6)),
                                        np.zeros((2, 6)))}
    for name, args in arguments.items():
        with pytest.raises(NotImplementedError, match=rf"^{name}: .*not implemented yet"):
            getattr(stub, name)(*args)
        assert inspect.signature(getattr(stub, name)) == inspect.signature(getattr(cells, name))
        assert getattr(stub, name).__doc__ == getattr(cells, name).__doc__
    np.testing.assert_allclose(stub.sigmoid(np.array([0.0, 50.0])), [0.5, 1.0])
