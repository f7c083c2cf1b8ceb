"""Public checks of lab 07's ``seq2seq.py``: the three shared models and greedy decoding.

``build_seq2seq`` is checked for shapes, compile settings and that the encoder and the decoder,
stepped by hand, reproduce the teacher-forced model. ``greedy_decode`` runs on the checks' own
small encoder and decoder (:func:`probe_models`, seeded weights) and is compared with the ids
recorded in ``fixtures/seq2seq.json``.
"""

from __future__ import annotations

import numpy as np

from seqlab.checks import fixture_data as fx
from seqlab.checks.core import Mismatch, describe, expect_close, memo, public_check
from seqlab.checks.keras_tools import (
    call,
    compile_settings,
    expect_ids_shape,
    expect_model,
    layers_of,
)

NAME = "seq2seq"
TIMEOUT = 60.0
SRC_V, TGT_V, EMB, UNITS = 9, 7, 4, 6
BUILD = f"build_seq2seq({SRC_V}, {TGT_V}, embedding_dim={EMB}, units={UNITS})"
DECODE = dict(start_id=1, end_id=2, max_len=5)


def _models(mod):
    def make():
        got = mod.build_seq2seq(SRC_V, TGT_V, embedding_dim=EMB, units=UNITS)
        if not isinstance(got, tuple) or len(got) != 3:
            raise Mismatch(f"{BUILD}: expected (model, encoder, decoder)", "a tuple of 3",
                           describe(got))
        return tuple(expect_model(m, f"{BUILD}: {label}")
                     for m, label in zip(got, ("model", "encoder", "decoder"), strict=True))
    return memo("seq2seq", make)


def _inputs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.integers(1, SRC_V, size=(2, 5)).astype("int32"),
            rng.integers(1, TGT_V, size=(2, 4)).astype("int32"))


def _decoder_step(decoder, token: np.ndarray, state: np.ndarray):
    out = call(decoder, [token, state])
    if not isinstance(out, list) or len(out) != 2:
        raise Mismatch(f"{BUILD}: decoder([token, state]) must return [probabilities, state]",
                       "a list of 2", describe(out))
    return out


@public_check("build_seq2seq", "model, encoder and decoder shapes", TIMEOUT)
def shapes(mod):
    model, encoder, decoder = _models(mod)
    src, tgt = _inputs()
    probs = expect_ids_shape(call(model, [src, tgt]), (2, 4, TGT_V), f"{BUILD}: model([src "
                             "(2, 5), tgt_in (2, 4)])", "probabilities")
    if not np.allclose(probs.sum(-1), 1, atol=1e-4):
        raise Mismatch(f"{BUILD}: model rows must be probabilities (softmax)", "rows sum to 1",
                       f"sums {np.round(probs.sum(-1)[0], 3).tolist()}")
    state = expect_ids_shape(call(encoder, src), (2, UNITS), f"{BUILD}: encoder(src (2, 5))",
                             "state")
    step, new = _decoder_step(decoder, tgt[:, :1], state)
    expect_ids_shape(step, (2, 1, TGT_V), f"{BUILD}: decoder", "probabilities")
    expect_ids_shape(new, (2, UNITS), f"{BUILD}: decoder", "state")
    return f"(2, 4, {TGT_V}); state (2, {UNITS}); step (2, 1, {TGT_V})", "the same"


@public_check("build_seq2seq", "encoder + decoder step by step reproduce the model", TIMEOUT)
def shared(mod):
    model, encoder, decoder = _models(mod)
    src, tgt = _inputs(1)
    forced = call(model, [src, tgt])
    state, steps = call(encoder, src), []
    for t in range(tgt.shape[1]):
        probs, state = _decoder_step(decoder, tgt[:, t:t + 1], state)
        steps.append(np.asarray(probs)[:, 0])
    gap = expect_close(np.stack(steps, axis=1), np.asarray(forced),
                       "step-by-step probabilities", f"{BUILD}: encoder + decoder", 1e-5,
                       hint=": the three models must share their layers (create each layer "
                            "once) and the decoder must start from the encoder's state")
    return "the teacher-forced probabilities", gap


@public_check("build_seq2seq", "GRU encoder-decoder, compiled with sparse categorical "
              "cross-entropy", TIMEOUT)
def compiled(mod):
    model, _, _ = _models(mod)
    grus = layers_of(model, "GRU")
    if len(grus) < 2:
        raise Mismatch(f"{BUILD}: expected a GRU encoder and a GRU decoder", "2 GRU layers",
                       f"{len(grus)} GRU layers")
    settings = compile_settings(model)
    if not settings["compiled"] or "sparsecategoricalcrossentropy" not in settings["loss"]:
        raise Mismatch(f"{BUILD}: compile with sparse categorical cross-entropy",
                       "sparse_categorical_crossentropy", settings["loss"] or "not compiled")
    return "2 GRU layers; sparse categorical cross-entropy", "the same"


def probe_models():
    """The checks' own encoder and decoder for ``greedy_decode`` (seeded weights).

    encoder: ids ``(batch, 5)`` -> Embedding -> mean over time -> Dense(tanh) -> ``(batch, 6)``;
    decoder: ``[token (batch, 1), state (batch, 6)]`` -> ``[probabilities (batch, 1, 7),
    state]``, a one-step recurrent cell written with Dense layers (not the lab's GRU).
    """
    import keras

    src = keras.Input(shape=(None,), dtype="int32")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(SRC_V, UNITS)(src))
    encoder = keras.Model(src, keras.layers.Dense(UNITS, activation="tanh")(pooled))
    token, state = keras.Input(shape=(1,), dtype="int32"), keras.Input(shape=(UNITS,))
    embedded = keras.layers.Flatten()(keras.layers.Embedding(TGT_V, UNITS)(token))
    joined = keras.layers.Concatenate()([embedded, state])
    new_state = keras.layers.Dense(UNITS, activation="tanh")(joined)
    probs = keras.layers.Reshape((1, TGT_V))(keras.layers.Dense(TGT_V, activation="softmax")(
        new_state))
    decoder = keras.Model([token, state], [probs, new_state])
    rng = np.random.default_rng(11)
    for model in (encoder, decoder):
        model.set_weights([rng.normal(0, 1.5, size=w.shape).astype("float32")
                           for w in model.get_weights()])
    return encoder, decoder


def probe_source() -> np.ndarray:
    """The four source rows ``greedy_decode`` is checked on, int32 ``(4, 5)``."""
    return np.random.default_rng(12).integers(1, SRC_V, size=(4, 5)).astype("int32")


@public_check("greedy_decode", "the argmax path, stopping before end_id or after max_len",
              TIMEOUT)
def greedy(mod):
    encoder, decoder = memo("probe_seq2seq", probe_models)
    want = fx.values(NAME)["greedy_decode"]
    where = ("greedy_decode(encoder, decoder, src (4, 5), start_id=1, end_id=2, max_len=5) "
             "with the checks' small models")
    got = mod.greedy_decode(encoder, decoder, probe_source(), **DECODE)
    try:
        got = [[int(i) for i in row] for row in got]
    except (TypeError, ValueError):
        raise Mismatch(f"{where}: expected a list of id lists", str(want),
                       describe(got)) from None
    if got != want:
        hint = ""
        if len(got) == len(want) and any(g[:len(w)] == w and len(g) > len(w)
                                          for g, w in zip(got, want, strict=True)):
            hint = ": stop before end_id (it is not included)"
        raise Mismatch(f"{where}: different ids{hint}", str(want), str(got))
    return str(want), str(got)
