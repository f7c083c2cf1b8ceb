"""Public checks of labs 03-05's ``sentiment.py``: GloVe rows and the two classifiers.

No fixture is needed: the models are checked for their contract (shapes on a few lengths,
compile settings, the embedding's start and freezing, the closed-form parameter count) and
``build_embedding_matrix`` against a tiny :class:`seqlab.glove.GloVe` table.
"""

from __future__ import annotations

import numpy as np

from seqlab.checks.core import Mismatch, expect_shape, memo, public_check
from seqlab.checks.keras_tools import (
    call,
    compile_settings,
    expect_ids_shape,
    expect_model,
    layers_of,
)

TIMEOUT = 60.0
# More words than CONSTANT_LIMIT: a vocabulary-sized constant table in the graph (a lookup
# "trained" elsewhere) breaks the constants rule here just as on the grader's real vocabulary.
VOCAB, DIM = 300, 5
LENGTHS = (1, 6, 11)


def matrix() -> np.ndarray:
    """The embedding matrix the checks pass: float32 ``(300, 5)``, row 0 zeros."""
    rng = np.random.default_rng(3)
    out = rng.normal(size=(VOCAB, DIM)).astype(np.float32)
    out[0] = 0.0
    return out


def ids(length: int, batch: int = 2) -> np.ndarray:
    """Token ids ``(batch, length)``, int32, drawn from 1..VOCAB-1."""
    return np.random.default_rng(length).integers(1, VOCAB, size=(batch, length)).astype("int32")


def recurrent_params(cell: str, units: int, bidirectional: bool) -> int:
    """Embedding + recurrent layer (GRU with reset_after) + Dense(1), in closed form."""
    per = {"rnn": 1, "gru": 3, "lstm": 4}[cell]
    layer = per * (units * DIM + units * units + units * (2 if cell == "gru" else 1))
    width = 2 if bidirectional else 1
    return VOCAB * DIM + width * layer + (width * units + 1)


def cnn_params(sizes: tuple, filters: int) -> int:
    """Embedding + one Conv1D per region size + Dense(1), in closed form."""
    return VOCAB * DIM + sum(k * DIM * filters + filters for k in sizes) + len(sizes) * filters + 1


RNN_CASES = {"rnn": dict(cell="rnn", units=3), "gru": dict(cell="gru", units=3),
             "lstm": dict(cell="lstm", units=3),
             "bigru": dict(cell="gru", units=3, bidirectional=True),
             "trainable": dict(cell="gru", units=3, trainable_embeddings=True)}
CNN_CASES = {"small": dict(filter_sizes=(2, 3), num_filters=4),
             "default": {}, "trainable": dict(filter_sizes=(2,), num_filters=3,
                                              trainable_embeddings=True)}


def _text(function: str, kwargs: dict) -> str:
    shown = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    return f"{function}(matrix ({VOCAB}, {DIM}){shown})"


def _build(mod, function: str, kwargs: dict):
    """The model ``function(matrix, **kwargs)`` (built once per ``check()``)."""
    def make():
        return expect_model(getattr(mod, function)(matrix(), **kwargs), _text(function, kwargs))
    return memo((function, tuple(sorted(kwargs.items()))), make)


def _shapes(mod, function: str, cases: dict, lengths) -> tuple[str, str]:
    for kwargs in cases.values():
        model = _build(mod, function, kwargs)
        for length in lengths:
            where = f"{_text(function, kwargs)} on ids (2, {length})"
            got = expect_ids_shape(call(model, ids(length)), (2, 1), where)
            if got.min() < 0 or got.max() > 1:
                raise Mismatch(f"{where}: expected probabilities (a sigmoid output)",
                               "values in [0, 1]", f"{got.min():.3g}..{got.max():.3g}")
    return f"(2, 1) probabilities for T = {', '.join(map(str, lengths))}", "the same"


def _compiled(mod, function: str, kwargs: dict) -> tuple[str, str]:
    settings = compile_settings(_build(mod, function, kwargs))
    where = _text(function, kwargs)
    if not settings["compiled"]:
        raise Mismatch(f"{where} returned a model that is not compiled", "compiled",
                       "not compiled")
    if "binarycrossentropy" not in settings["loss"]:
        raise Mismatch(f"{where}: wrong loss", "binary cross-entropy", settings["loss"])
    if "accuracy" not in settings["metrics"]:
        raise Mismatch(f"{where}: the accuracy metric is missing", "metrics=['accuracy']",
                       settings["metrics"])
    return "binary cross-entropy, accuracy", "the same"


def _embedding(mod, function: str, cases: dict) -> tuple[str, str]:
    for kwargs in cases.values():
        model, where = _build(mod, function, kwargs), _text(function, kwargs)
        found = layers_of(model, "Embedding")
        if len(found) != 1:
            raise Mismatch(f"{where}: expected one Embedding layer", "1 Embedding",
                           f"{len(found)} Embedding layers")
        weights = np.asarray(found[0].get_weights()[0])
        expect_shape(weights, (VOCAB, DIM), "embedding weights", where)
        if not np.allclose(weights, matrix(), atol=1e-6):
            raise Mismatch(f"{where}: the embedding does not start from embedding_matrix "
                           "(load it with layer.set_weights([matrix]))",
                           f"row 1 {np.round(matrix()[1, :3], 3).tolist()}",
                           f"row 1 {np.round(weights[1, :3], 3).tolist()}")
        want = bool(kwargs.get("trainable_embeddings", False))
        got = bool(found[0].trainable)
        if got != want:
            raise Mismatch(f"{where}: the embedding must be "
                           f"{'trainable' if want else 'frozen (trainable=False)'}",
                           f"trainable={want}", f"trainable={got}")
    return "the matrix; frozen, trainable only when asked", "the same"


def _count(mod, function: str, cases: dict, formula) -> tuple[str, str]:
    for kwargs in cases.values():
        model, where = _build(mod, function, kwargs), _text(function, kwargs)
        want, got = formula(kwargs), int(model.count_params())
        if got != want:
            raise Mismatch(f"{where}: wrong parameter count (embedding {VOCAB}x{DIM}, the "
                           "layers the docstring names, Dense(1))", f"{want:,}", f"{got:,}")
    return "closed-form counts", "the same"


@public_check("build_rnn_classifier", "output (batch, 1) of probabilities for any length",
              TIMEOUT)
def rnn_shapes(mod):
    return _shapes(mod, "build_rnn_classifier", RNN_CASES, LENGTHS)


@public_check("build_rnn_classifier", "compiled with binary cross-entropy and accuracy", TIMEOUT)
def rnn_compiled(mod):
    return _compiled(mod, "build_rnn_classifier", RNN_CASES["gru"])


@public_check("build_rnn_classifier", "embedding starts from the matrix, frozen unless asked",
              TIMEOUT)
def rnn_embedding(mod):
    return _embedding(mod, "build_rnn_classifier", RNN_CASES)


@public_check("build_rnn_classifier", "parameter count (closed form)", TIMEOUT)
def rnn_count(mod):
    return _count(mod, "build_rnn_classifier", RNN_CASES, lambda kw: recurrent_params(
        kw["cell"], kw["units"], kw.get("bidirectional", False)))


@public_check("build_cnn_classifier", "output (batch, 1) of probabilities", TIMEOUT)
def cnn_shapes(mod):
    return _shapes(mod, "build_cnn_classifier", CNN_CASES, (5, 9))


@public_check("build_cnn_classifier", "compiled with binary cross-entropy and accuracy", TIMEOUT)
def cnn_compiled(mod):
    return _compiled(mod, "build_cnn_classifier", CNN_CASES["small"])


@public_check("build_cnn_classifier", "embedding starts from the matrix, frozen unless asked",
              TIMEOUT)
def cnn_embedding(mod):
    return _embedding(mod, "build_cnn_classifier", CNN_CASES)


@public_check("build_cnn_classifier", "parameter count (closed form)", TIMEOUT)
def cnn_count(mod):
    return _count(mod, "build_cnn_classifier", CNN_CASES, lambda kw: cnn_params(
        kw.get("filter_sizes", (3, 4, 5)), kw.get("num_filters", 100)))


GLOVE_WORDS = ("the", "movie", "good", "bad", "plot")
VOCAB_WORDS = ("the", "good", "zzqx", "movie", "qqwz")   # ids 2..6; zzqx and qqwz unknown


def tiny_glove():
    """A five-word :class:`seqlab.glove.GloVe` table, 6-d, and a vocabulary over it."""
    from seqlab.glove import GloVe
    from seqlab.text import Vocabulary

    vectors = np.random.default_rng(5).normal(size=(len(GLOVE_WORDS), 6)).astype(np.float32)
    return GloVe(list(GLOVE_WORDS), vectors, source="tiny check table"), Vocabulary(VOCAB_WORDS)


EMBED_CALL = "build_embedding_matrix(vocab (7 ids), glove (5 words, 6-d), seed=0)"


@public_check("build_embedding_matrix", "float32 (len(vocab), dim): zero padding, GloVe rows",
              TIMEOUT)
def embedding_rows(mod):
    glove, vocab = tiny_glove()
    got = expect_shape(mod.build_embedding_matrix(vocab, glove, seed=0), (7, 6), "matrix",
                       EMBED_CALL)
    if got.dtype != np.float32:
        raise Mismatch(f"{EMBED_CALL}: expected float32", "float32", str(got.dtype))
    if np.any(got[0] != 0):
        raise Mismatch(f"{EMBED_CALL}: row 0 (padding) must be zeros", "row 0 all zeros",
                       f"row 0 {np.round(got[0, :3], 3).tolist()}")
    for token_id, word in enumerate(vocab.itos):
        if word in glove and token_id >= 2 and not np.allclose(got[token_id], glove.vector(word)):
            raise Mismatch(f"{EMBED_CALL}: row {token_id} ({word!r}) must be its GloVe vector",
                           f"{np.round(glove.vector(word)[:3], 3).tolist()}",
                           f"{np.round(got[token_id, :3], 3).tolist()}")
    return "row 0 zeros; rows of 'the', 'good', 'movie' from GloVe", "the same"


@public_check("build_embedding_matrix", "other rows small random normal (std 0.1), seeded",
              TIMEOUT)
def embedding_random(mod):
    glove, vocab = tiny_glove()
    first, again, other = (np.asarray(mod.build_embedding_matrix(vocab, glove, seed=seed))
                           for seed in (0, 0, 1))
    rows = [1, 4, 6]     # out-of-vocabulary and the two words GloVe does not know
    std = float(np.std(first[rows]))
    if np.any(np.all(first[rows] == 0, axis=1)) or not 0.03 <= std <= 0.3:
        raise Mismatch(f"{EMBED_CALL}: rows 1 (OOV), 4 and 6 (unknown words) must be small "
                       "random normal vectors", "std about 0.1", f"std {std:.3g}")
    if not np.array_equal(first, again):
        raise Mismatch(f"{EMBED_CALL} twice gave different matrices: draw with "
                       "np.random.default_rng(seed)", "the same matrix", "different matrices")
    if np.array_equal(first[rows], other[rows]):
        raise Mismatch("seed=0 and seed=1 gave the same random rows: use the seed",
                       "different rows", "the same rows")
    return "std about 0.1, same seed same rows", f"std {std:.3g}"
