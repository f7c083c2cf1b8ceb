"""The gated cells reference (solutions/cells.py) against real Keras layers, and its starter.

Random weights (biases included) and a nonzero start state, as the grader uses: a zero state
or zero biases would hide a reset gate in the wrong place or gate blocks in the wrong order.
The grader's own reference and the worker's Keras task are checked the same way.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from autograder.assignments import fundamentals_reference as ref
from seqlab.student import student_module

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


def test_starter_stubs_keep_the_contract(cells):
    stub = student_module("cells", impl="starter")
    z = np.zeros((1, 2))
    arguments = {"lstm_step": (z, z, z, np.zeros((2, 8)), np.zeros((2, 8)), np.zeros(8)),
                 "gru_step": (z, z, np.zeros((2, 6)), np.zeros((2, 6)), np.zeros((2, 6))),
                 "lstm_sequence": (np.zeros((1, 1, 2)), np.zeros((2, 8)), np.zeros((2, 8)),
                                   np.zeros(8)),
                 "gru_sequence": (np.zeros((1, 1, 2)), np.zeros((2, 6)), np.zeros((2, 6)),
                                  np.zeros((2, 6)))}
    for name, args in arguments.items():
        with pytest.raises(NotImplementedError, match=rf"^{name}: .*not implemented yet"):
            getattr(stub, name)(*args)
        assert inspect.signature(getattr(stub, name)) == inspect.signature(getattr(cells, name))
        assert getattr(stub, name).__doc__ == getattr(cells, name).__doc__
    np.testing.assert_allclose(stub.sigmoid(np.array([0.0, 50.0])), [0.5, 1.0])
