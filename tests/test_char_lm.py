"""The reference character LM module (solutions/char_lm.py) meets the fixed contract."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from seqlab.student import student_module

VOCAB, DIM, UNITS = 11, 4, 8


@pytest.fixture(scope="module")
def lm():
    return student_module("char_lm", impl="solutions")


def numpy(x) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


def ids(batch: int, length: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VOCAB, size=(batch, length)).astype("int32")


def test_batchify_columns_and_dropped_tail(lm):
    alphabet = np.arange(26)                                   # a..z
    source = lm.batchify(alphabet, 4)
    assert source.shape == (6, 4)
    for j in range(4):
        np.testing.assert_array_equal(source[:, j], alphabet[j * 6:(j + 1) * 6])
    assert 24 not in source and 25 not in source               # y and z are dropped
    assert lm.batchify(np.arange(10), 10).shape == (1, 10)
    assert lm.batchify(np.arange(9), 10).shape == (0, 10)
    assert lm.batchify(list(range(7)), 1)[:, 0].tolist() == list(range(7))


def test_get_batch_windows_and_last_short_window(lm):
    source = lm.batchify(np.arange(26), 4)                     # (6, 4)
    x, y = lm.get_batch(source, 0, 4)
    assert x.shape == y.shape == (4, 4)
    np.testing.assert_array_equal(x, source[0:4].T)
    np.testing.assert_array_equal(y, source[1:5].T)
    np.testing.assert_array_equal(y[:, :-1], x[:, 1:])         # targets are shifted by one
    x, y = lm.get_batch(source, 4, 4)                          # L = min(4, 6 - 1 - 4) = 1
    assert x.shape == y.shape == (4, 1)
    assert x[:, 0].tolist() == [4, 10, 16, 22] and y[:, 0].tolist() == [5, 11, 17, 23]
    # The windows cover every (input, target) pair of every column exactly once.
    pairs = []
    for i in range(0, len(source) - 1, 4):
        x, y = lm.get_batch(source, i, 4)
        pairs += list(zip(x.ravel().tolist(), y.ravel().tolist(), strict=True))
    assert sorted(pairs) == sorted((a, a + 1) for a in range(24) if a % 6 != 5)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("batch_size", [None, 3])
def test_char_lm_shapes_and_layers(lm, cell, batch_size):
    keras.utils.set_random_seed(0)
    model = lm.build_char_lm(VOCAB, embedding_dim=DIM, units=UNITS, cell=cell,
                             batch_size=batch_size)
    for batch, length in [(3, 1), (3, 7), (3, 40)] + ([] if batch_size else [(1, 5)]):
        out = numpy(model(ids(batch, length), training=False))
        assert out.shape == (batch, length, VOCAB)
        assert not np.allclose(out.sum(-1), 1.0)               # logits, not probabilities
    recurrent = [layer for layer in model.layers if isinstance(layer, keras.layers.RNN)]
    assert len(recurrent) == 1
    config = recurrent[0].get_config()
    assert config["units"] == UNITS and config["return_sequences"] is True
    assert config["stateful"] is (batch_size is not None)
    assert type(recurrent[0]) is {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}[cell]
    assert config["activation"] == "tanh" and config["recurrent_activation"] == "sigmoid"
    assert config["recurrent_dropout"] == 0 and config["unroll"] is False
    assert config["use_bias"] is True and config.get("reset_after", True) is True
    loss = model.loss
    assert isinstance(loss, keras.losses.SparseCategoricalCrossentropy)
    assert loss.get_config()["from_logits"] is True


def test_unknown_cell(lm):
    with pytest.raises(ValueError, match="gru"):
        lm.build_char_lm(VOCAB, cell="rnn")


def test_stateful_carry_and_reset(lm):
    keras.utils.set_random_seed(0)
    stateful = lm.build_char_lm(VOCAB, DIM, UNITS, batch_size=2)
    stateless = lm.build_char_lm(VOCAB, DIM, UNITS)
    stateless.set_weights(stateful.get_weights())
    first, second = ids(2, 6, seed=1), ids(2, 5, seed=2)

    fresh = numpy(stateful(second))
    np.testing.assert_allclose(fresh, numpy(stateless(second)), atol=1e-5)
    lm.reset_state(stateful)
    numpy(stateful(first))
    carried = numpy(stateful(second))
    assert not np.allclose(carried, fresh, atol=1e-3)          # the state carried over
    # Carrying the state is reading the two windows as one sequence.
    whole = numpy(stateless(np.concatenate([first, second], axis=1)))
    np.testing.assert_allclose(carried, whole[:, 6:], atol=1e-5)
    lm.reset_state(stateful)
    np.testing.assert_allclose(numpy(stateful(second)), fresh, atol=1e-5)


def test_stateful_training_step_keeps_working(lm):
    keras.utils.set_random_seed(0)
    model = lm.build_char_lm(VOCAB, DIM, UNITS, cell="lstm", batch_size=4)
    source = lm.batchify(np.random.default_rng(0).integers(1, VOCAB, size=200), 4)
    losses = []
    for i in range(0, len(source) - 1, 16):                    # last window is shorter
        x, y = lm.get_batch(source, i, 16)
        losses.append(float(model.train_on_batch(x, y)))
    lm.reset_state(model)
    assert len(losses) == 4 and np.all(np.isfinite(losses))


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(-1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(-1, keepdims=True)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_sample_next_frequencies_follow_softmax(lm, temperature):
    logits = np.array([2.0, 0.5, -1.0, 1.0, 0.0])
    draws = 40_000
    rng = np.random.default_rng(0)
    samples = lm.sample_next(np.tile(logits, (draws, 1)), temperature, rng)
    assert samples.shape == (draws,)
    frequencies = np.bincount(samples, minlength=5) / draws
    expected = softmax(logits / temperature)
    # 5 standard errors: fails by chance far less than once in a million runs.
    tolerance = 5 * np.sqrt(expected * (1 - expected) / draws)
    assert np.all(np.abs(frequencies - expected) < tolerance), (frequencies, expected)


def test_sample_next_rows_are_independent_distributions(lm):
    logits = np.array([[0.0, 50.0, 0.0], [50.0, 0.0, 0.0], [0.0, 0.0, 50.0]])
    rng = np.random.default_rng(1)
    assert lm.sample_next(logits, 1.0, rng).tolist() == [1, 0, 2]
    never = np.array([[0.0, -np.inf, 0.0]] * 2000)
    assert 1 not in lm.sample_next(never, 1.0, np.random.default_rng(2))


def test_sample_next_argmax_at_zero_and_seeded(lm):
    logits = np.random.default_rng(3).normal(size=(64, 9))
    np.testing.assert_array_equal(lm.sample_next(logits, 0.0), logits.argmax(-1))
    assert lm.sample_next(logits[0], 0.0).tolist() == [int(logits[0].argmax())]
    assert lm.sample_next(logits[0], 1.0, np.random.default_rng(0)).shape == (1,)
    a = lm.sample_next(logits, 1.0, np.random.default_rng(7))
    b = lm.sample_next(logits, 1.0, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    cold = lm.sample_next(np.tile(logits[0], (500, 1)), 0.01, np.random.default_rng(0))
    assert set(cold.tolist()) == {int(logits[0].argmax())}


def test_generate_is_seeded_and_feeds_back(lm):
    keras.utils.set_random_seed(0)
    model = lm.build_char_lm(VOCAB, DIM, UNITS)
    prime = [3, 1, 4]
    a = lm.generate(model, prime, 12, temperature=1.5, seed=0)
    assert len(a) == 12 and all(isinstance(i, int) and 0 <= i < VOCAB for i in a)
    assert lm.generate(model, prime, 12, temperature=1.5, seed=0) == a
    assert lm.generate(model, prime, 12, temperature=1.5, seed=1) != a
    assert lm.generate(model, prime, 0) == []
    # Temperature 0 is greedy: each id is the argmax after everything before it.
    greedy = lm.generate(model, np.array(prime), 5, temperature=0.0)
    sequence = list(prime)
    for _ in range(5):
        logits = numpy(model(np.array([sequence], dtype="int32")))[0, -1]
        sequence.append(int(logits.argmax()))
    assert greedy == sequence[len(prime):]
    # At any temperature: the same draws as re-reading everything at every step.
    rng, sequence = np.random.default_rng(4), list(prime)
    for _ in range(8):
        logits = numpy(model(np.array([sequence], dtype="int32")))[:, -1]
        sequence.append(int(lm.sample_next(logits, 0.8, rng)[0]))
    assert lm.generate(model, prime, 8, temperature=0.8, seed=4) == sequence[len(prime):]


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_stateful_copy_shares_weights_not_state(lm, cell):
    keras.utils.set_random_seed(0)
    model = lm.build_char_lm(VOCAB, DIM, UNITS, cell=cell)
    copy = lm.stateful_copy(model, batch_size=2)
    x = ids(2, 6, seed=5)
    whole = numpy(model(x))
    np.testing.assert_allclose(numpy(copy(x[:, :4])), whole[:, :4], atol=1e-5)
    np.testing.assert_allclose(numpy(copy(x[:, 4:])), whole[:, 4:], atol=1e-5)
    assert not any(getattr(layer, "stateful", False) for layer in model.layers)
