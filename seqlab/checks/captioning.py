"""Public checks of lab 08's ``captioning.py``: the three shared models, greedy and beam search.

``build_captioner`` is checked for shapes, compile settings and that the encoder and the
decoder, stepped by hand, reproduce the teacher-forced model. ``greedy_captions`` and
``beam_search_captions`` run on the checks' own small encoder and decoder
(:func:`probe_models`, seeded weights) and are compared with the ids recorded in
``fixtures/captioning.json``.
"""

from __future__ import annotations

import numpy as np

from seqlab.checks import encoder_decoder as ed
from seqlab.checks import fixture_data as fx
from seqlab.checks.core import Mismatch, memo, public_check
from seqlab.checks.keras_tools import compile_settings
from seqlab.checks.keras_tools import layers_of as _layers_of

NAME = "captioning"
TIMEOUT = 90.0
VOCAB, SHAPE, FILTERS, EMB, UNITS = 9, (16, 16, 3), (4, 6), 5, 7
BUILD = (f"build_captioner({VOCAB}, image_shape={SHAPE}, filters={FILTERS}, "
         f"embedding_dim={EMB}, units={UNITS})")
DECODE = dict(start_id=1, end_id=4, max_len=6)
BEAM_WIDTHS = (1, 2, 3)


def _models(mod):
    return memo("captioning", lambda: ed.three_models(
        mod.build_captioner(VOCAB, image_shape=SHAPE, filters=FILTERS, embedding_dim=EMB,
                            units=UNITS), BUILD))


def _inputs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pictures ``(2, 16, 16, 3)`` (pixel values 0-255) and caption ids ``(2, 4)``."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, size=(2, *SHAPE)).astype("float32"),
            rng.integers(1, VOCAB, size=(2, 4)).astype("int32"))


@public_check("build_captioner", "model, encoder and decoder shapes", TIMEOUT)
def shapes(mod):
    images, tgt = _inputs()
    return ed.check_shapes(_models(mod), images, tgt, VOCAB, UNITS, BUILD,
                           "images (2, 16, 16, 3)")


@public_check("build_captioner", "encoder + decoder step by step reproduce the model", TIMEOUT)
def shared(mod):
    images, tgt = _inputs(1)
    return ed.check_shared(_models(mod), images, tgt, BUILD)


@public_check("build_captioner", "Conv2D blocks and a GRU decoder, compiled with sparse "
              "categorical cross-entropy", TIMEOUT)
def compiled(mod):
    model, _, _ = _models(mod)
    convs = [layer.filters for layer in _layers_of(model, "Conv2D")]
    if convs != list(FILTERS):
        raise Mismatch(f"{BUILD}: one Conv2D per entry of filters", str(list(FILTERS)),
                       str(convs))
    if len(_layers_of(model, "GRU")) != 1:
        raise Mismatch(f"{BUILD}: expected one GRU decoder", "1 GRU layer",
                       f"{len(_layers_of(model, 'GRU'))} GRU layers")
    settings = compile_settings(model)
    if not settings["compiled"] or "sparsecategoricalcrossentropy" not in settings["loss"]:
        raise Mismatch(f"{BUILD}: compile with sparse categorical cross-entropy",
                       "sparse_categorical_crossentropy", settings["loss"] or "not compiled")
    return f"Conv2D {list(FILTERS)}, 1 GRU; sparse categorical cross-entropy", "the same"


def probe_models():
    """The checks' own encoder and decoder for the decoding functions (seeded weights).

    encoder: pictures ``(batch, 16, 16, 3)`` -> average over the picture -> Dense(tanh) ->
    ``(batch, 7)``; decoder: ``[token (batch, 1), state (batch, 7)]`` -> ``[probabilities
    (batch, 1, 9), state]``, a one-step recurrent cell written with Dense layers (not the
    lab's GRU).
    """
    import keras

    images = keras.Input(shape=SHAPE)
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(images))
    encoder = keras.Model(images, keras.layers.Dense(UNITS, activation="tanh")(pooled))
    decoder = ed.probe_decoder(VOCAB, UNITS)
    ed.seed_weights((encoder, decoder), 21)
    return encoder, decoder


def probe_images() -> np.ndarray:
    """The four pictures the decoding functions are checked on, float32 ``(4, 16, 16, 3)``:
    one colour each, so the encoder's average tells them apart."""
    colours = np.random.default_rng(22).integers(0, 256, size=(4, 1, 1, 3))
    return np.broadcast_to(colours, (4, *SHAPE)).astype("float32")


@public_check("greedy_captions", "the argmax path, stopping before end_id or after max_len",
              TIMEOUT)
def greedy(mod):
    encoder, decoder = memo("probe_captioning", probe_models)
    want = fx.values(NAME)["greedy_captions"]
    where = ("greedy_captions(encoder, decoder, images (4, 16, 16, 3), start_id=1, end_id=4, "
             "max_len=6) with the checks' small models")
    got = mod.greedy_captions(encoder, decoder, probe_images(), **DECODE)
    return ed.expect_greedy_ids(got, want, where)


@public_check("beam_search_captions", "the contract's beam search, widths 1 to 3", TIMEOUT)
def beam(mod):
    encoder, decoder = memo("probe_captioning", probe_models)
    want = {str(width): fx.values(NAME)["beam_search_captions"][str(width)]
            for width in BEAM_WIDTHS}
    return ed.expect_beam_ids(
        lambda width: mod.beam_search_captions(encoder, decoder, probe_images(), **DECODE,
                                               beam_width=width), want,
        lambda width: (f"beam_search_captions(encoder, decoder, images (4, 16, 16, 3), "
                       f"start_id=1, end_id=4, max_len=6, beam_width={width}) with the "
                       "checks' small models"))
