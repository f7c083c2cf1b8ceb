"""Public checks of lab 07's ``seq2seq.py``: the three shared models, greedy and beam search.

``build_seq2seq`` is checked for shapes, compile settings and that the encoder and the decoder,
stepped by hand, reproduce the teacher-forced model. ``greedy_decode`` runs on the checks' own
small encoder and decoder (:func:`probe_models`, seeded weights) and is compared with the ids
recorded in ``fixtures/seq2seq.json``; so is ``beam_search_decode``, at widths 1, 2 and 3.
"""

from __future__ import annotations

import numpy as np

from seqlab.checks import encoder_decoder as ed
from seqlab.checks import fixture_data as fx
from seqlab.checks.core import Mismatch, memo, public_check
from seqlab.checks.keras_tools import compile_settings, layers_of

NAME = "seq2seq"
TIMEOUT = 60.0
SRC_V, TGT_V, EMB, UNITS = 9, 7, 4, 6
BUILD = f"build_seq2seq({SRC_V}, {TGT_V}, embedding_dim={EMB}, units={UNITS})"
DECODE = dict(start_id=1, end_id=2, max_len=5)
BEAM_DECODE = dict(start_id=1, end_id=5, max_len=8)
BEAM_WIDTHS = (1, 2, 3)


def _models(mod):
    return memo("seq2seq", lambda: ed.three_models(
        mod.build_seq2seq(SRC_V, TGT_V, embedding_dim=EMB, units=UNITS), BUILD))


def _inputs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.integers(1, SRC_V, size=(2, 5)).astype("int32"),
            rng.integers(1, TGT_V, size=(2, 4)).astype("int32"))


@public_check("build_seq2seq", "model, encoder and decoder shapes", TIMEOUT)
def shapes(mod):
    src, tgt = _inputs()
    return ed.check_shapes(_models(mod), src, tgt, TGT_V, UNITS, BUILD, "src (2, 5)")


@public_check("build_seq2seq", "encoder + decoder step by step reproduce the model", TIMEOUT)
def shared(mod):
    src, tgt = _inputs(1)
    return ed.check_shared(_models(mod), src, tgt, BUILD)


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
    decoder = ed.probe_decoder(TGT_V, UNITS)
    ed.seed_weights((encoder, decoder), 11)
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
    return ed.expect_greedy_ids(got, want, where)


@public_check("beam_search_decode", "the contract's beam search, widths 1 to 3", TIMEOUT)
def beam(mod):
    encoder, decoder = memo("probe_seq2seq", probe_models)
    want = {str(width): fx.values(NAME)["beam_search_decode"][str(width)]
            for width in BEAM_WIDTHS}
    return ed.expect_beam_ids(
        lambda width: mod.beam_search_decode(encoder, decoder, probe_source(), **BEAM_DECODE,
                                             beam_width=width), want,
        lambda width: (f"beam_search_decode(encoder, decoder, src (4, 5), start_id=1, "
                       f"end_id={BEAM_DECODE['end_id']}, max_len={BEAM_DECODE['max_len']}, "
                       f"beam_width={width}) with the checks' small models"))
