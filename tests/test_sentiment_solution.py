"""The reference sentiment module (solutions/sentiment.py) meets the fixed contract."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

from seqlab.student import student_module
from seqlab.text import Vocabulary

VOCAB, DIM, UNITS = 50, 8, 6
RECURRENT = {"rnn": keras.layers.SimpleRNN, "gru": keras.layers.GRU, "lstm": keras.layers.LSTM}


@pytest.fixture(scope="module")
def sentiment():
    return student_module("sentiment", impl="solutions")


@pytest.fixture(scope="module")
def matrix():
    matrix = np.random.default_rng(0).normal(size=(VOCAB, DIM)).astype(np.float32)
    matrix[0] = 0.0
    return matrix


def ids(batch: int, length: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VOCAB, size=(batch, length)).astype("int32")


def cell_params(cell: str, d: int, u: int) -> int:
    return {"rnn": u * (d + u + 1), "gru": 3 * u * (d + u + 2), "lstm": 4 * u * (d + u + 1)}[cell]


def count(weights) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def layers_of(model, kind):
    return [layer for layer in model.layers if isinstance(layer, kind)]


def check_embedding(model, matrix, trainable: bool) -> None:
    embeddings = layers_of(model, keras.layers.Embedding)
    assert len(embeddings) == 1
    embedding = embeddings[0]
    assert embedding.trainable is trainable
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(embedding.embeddings), matrix)
    # The matrix is loaded as weights, not baked into the config as a Constant initializer.
    assert len(repr(embedding.get_config())) < 2_000


def check_compiled(model) -> None:
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    loss = model.loss
    name = loss if isinstance(loss, str) else getattr(loss, "name", type(loss).__name__)
    assert name == "binary_crossentropy"


@pytest.mark.parametrize(("cell", "bidirectional", "trainable"),
                         list(itertools.product(["rnn", "gru", "lstm"], [False, True],
                                                [False, True])))
def test_rnn_classifier(sentiment, matrix, cell, bidirectional, trainable):
    keras.utils.set_random_seed(0)
    model = sentiment.build_rnn_classifier(matrix, cell=cell, units=UNITS,
                                           bidirectional=bidirectional,
                                           trainable_embeddings=trainable)
    for batch, length in [(1, 5), (3, 5), (1, 37), (3, 37)]:
        out = keras.ops.convert_to_numpy(model(ids(batch, length), training=False))
        assert out.shape == (batch, 1)
        assert np.all((out >= 0) & (out <= 1))

    directions = 2 if bidirectional else 1
    recurrent = directions * cell_params(cell, DIM, UNITS)
    dense = directions * UNITS + 1
    assert model.count_params() == VOCAB * DIM + recurrent + dense
    expected_trainable = recurrent + dense + (VOCAB * DIM if trainable else 0)
    assert count(model.trainable_weights) == expected_trainable

    cells = layers_of(model, RECURRENT[cell])
    wrappers = layers_of(model, keras.layers.Bidirectional)
    if bidirectional:
        assert len(wrappers) == 1 and not cells
        assert wrappers[0].merge_mode == "concat"
        layer = wrappers[0].forward_layer
        assert isinstance(layer, RECURRENT[cell])
    else:
        assert len(cells) == 1 and not wrappers
        layer = cells[0]
    config = layer.get_config()
    assert config["units"] == UNITS
    assert not config["return_sequences"]
    if cell in ("gru", "lstm"):                                 # cuDNN-eligible
        assert config["activation"] == "tanh"
        assert config["recurrent_activation"] == "sigmoid"
        assert config["recurrent_dropout"] == 0
        assert config["unroll"] is False
        assert config["use_bias"] is True
        if cell == "gru":
            assert config["reset_after"] is True

    dense_layers = layers_of(model, keras.layers.Dense)
    assert len(dense_layers) == 1 and dense_layers[0].units == 1
    assert dense_layers[0].get_config()["activation"] == "sigmoid"
    check_embedding(model, matrix, trainable)
    check_compiled(model)


def test_rnn_unknown_cell(sentiment, matrix):
    with pytest.raises(ValueError, match=r"rnn.*gru.*lstm"):
        sentiment.build_rnn_classifier(matrix, cell="transformer")


def test_rnn_defaults(sentiment, matrix):
    keras.utils.set_random_seed(0)
    model = sentiment.build_rnn_classifier(matrix)
    gru = layers_of(model, keras.layers.GRU)
    assert len(gru) == 1 and gru[0].units == 64
    check_embedding(model, matrix, trainable=False)


def test_gru_trains_one_epoch(sentiment, matrix):
    keras.utils.set_random_seed(0)
    model = sentiment.build_rnn_classifier(matrix, units=8)
    x = ids(64, 20, seed=1)
    y = np.random.default_rng(2).integers(0, 2, size=(64, 1)).astype("float32")
    history = model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert "accuracy" in history.history
    # The frozen embedding did not move.
    check_embedding(model, matrix, trainable=False)


@pytest.mark.parametrize(("filter_sizes", "num_filters", "dropout"),
                         [((3, 4, 5), 100, 0.5), ((2,), 7, 0.3), ((3, 4, 5), 7, 0.25)])
@pytest.mark.parametrize("trainable", [False, True])
def test_cnn_classifier(sentiment, matrix, filter_sizes, num_filters, dropout, trainable):
    keras.utils.set_random_seed(0)
    if (filter_sizes, num_filters, dropout) == ((3, 4, 5), 100, 0.5):
        model = sentiment.build_cnn_classifier(matrix, trainable_embeddings=trainable)
    else:
        model = sentiment.build_cnn_classifier(matrix, filter_sizes=filter_sizes,
                                               num_filters=num_filters, dropout=dropout,
                                               trainable_embeddings=trainable)
    for batch, length in [(1, max(filter_sizes)), (3, max(filter_sizes)), (3, 40)]:
        out = keras.ops.convert_to_numpy(model(ids(batch, length), training=False))
        assert out.shape == (batch, 1)
        assert np.all((out >= 0) & (out <= 1))

    convs = layers_of(model, keras.layers.Conv1D)
    assert sorted(conv.kernel_size[0] for conv in convs) == sorted(filter_sizes)
    for conv in convs:
        assert conv.filters == num_filters
        assert conv.get_config()["activation"] == "relu"
    assert len(layers_of(model, keras.layers.GlobalMaxPooling1D)) == len(filter_sizes)
    assert len(layers_of(model, keras.layers.Concatenate)) == (len(filter_sizes) > 1)
    dropouts = layers_of(model, keras.layers.Dropout)
    assert len(dropouts) == 1 and dropouts[0].rate == pytest.approx(dropout)
    dense_layers = layers_of(model, keras.layers.Dense)
    assert len(dense_layers) == 1 and dense_layers[0].units == 1
    assert dense_layers[0].get_config()["activation"] == "sigmoid"

    convolutions = sum(k * DIM * num_filters + num_filters for k in filter_sizes)
    dense = len(filter_sizes) * num_filters + 1
    assert model.count_params() == VOCAB * DIM + convolutions + dense
    expected_trainable = convolutions + dense + (VOCAB * DIM if trainable else 0)
    assert count(model.trainable_weights) == expected_trainable
    check_embedding(model, matrix, trainable)
    check_compiled(model)


@pytest.fixture(scope="module")
def glove():
    from seqlab.glove import load_glove

    return load_glove()


def test_build_embedding_matrix(sentiment, glove):
    vocab = Vocabulary(["the", "good", "zzqxnotaword"])
    assert "zzqxnotaword" not in glove
    matrix = sentiment.build_embedding_matrix(vocab, glove)
    assert matrix.shape == (len(vocab), glove.dim) == (5, 50)
    assert matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix[0], 0.0)
    for word in ("the", "good"):
        np.testing.assert_array_equal(matrix[vocab.lookup(word)], glove.vector(word))
    for row in (1, vocab.lookup("zzqxnotaword")):                # OOV and unknown word
        assert 0 < np.linalg.norm(matrix[row]) < 2.0
    assert not np.allclose(matrix[1], matrix[4])

    again = sentiment.build_embedding_matrix(vocab, glove, seed=0)
    np.testing.assert_array_equal(matrix, again)
    other = sentiment.build_embedding_matrix(vocab, glove, seed=1)
    assert not np.array_equal(matrix[1], other[1])
    np.testing.assert_array_equal(matrix[2:4], other[2:4])


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
@pytest.mark.parametrize("kind", ["gru", "cnn"])
def test_saved_model_round_trip(sentiment, matrix, tmp_path, kind):
    keras.utils.set_random_seed(0)
    if kind == "cnn":
        model = sentiment.build_cnn_classifier(matrix, num_filters=4)
    else:
        model = sentiment.build_rnn_classifier(matrix, units=4, bidirectional=True)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    x = ids(2, 12)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)),
                               keras.ops.convert_to_numpy(model(x)), rtol=1e-6, atol=1e-6)
