"""Public-check helpers shared by the encoder-decoder labs (07 seq2seq, 08 captioning).

Both build ``(model, encoder, decoder)`` sharing their layers and decode step by step with
the checks' own small models, so the same code checks the three models' shapes, that the
encoder and decoder stepped by hand reproduce the teacher-forced model, and decoded ids.
"""

from __future__ import annotations

import numpy as np

from seqlab.checks.core import Mismatch, describe, expect_close
from seqlab.checks.keras_tools import call, expect_ids_shape, expect_model


def three_models(got, build: str) -> tuple:
    """``got`` as ``(model, encoder, decoder)``, each a keras.Model, else a Mismatch."""
    if not isinstance(got, tuple) or len(got) != 3:
        raise Mismatch(f"{build}: expected (model, encoder, decoder)", "a tuple of 3",
                       describe(got))
    return tuple(expect_model(m, f"{build}: {label}")
                 for m, label in zip(got, ("model", "encoder", "decoder"), strict=True))


def decoder_step(decoder, token: np.ndarray, state: np.ndarray, build: str):
    """One ``decoder([token, state])`` call: ``[probabilities, new state]``."""
    out = call(decoder, [token, state])
    if not isinstance(out, list) or len(out) != 2:
        raise Mismatch(f"{build}: decoder([token, state]) must return [probabilities, state]",
                       "a list of 2", describe(out))
    return out


def check_shapes(models, source, tgt, vocab: int, units: int, build: str,
                 source_text: str) -> tuple[str, str]:
    """The model's probabilities ``(batch, L, vocab)``, the encoder's state and one
    decoder step, on ``source`` (described as ``source_text``) and ``tgt (batch, L)``."""
    model, encoder, decoder = models
    rows, length = tgt.shape
    probs = expect_ids_shape(call(model, [source, tgt]), (rows, length, vocab),
                             f"{build}: model([{source_text}, tgt_in {tgt.shape}])",
                             "probabilities")
    if not np.allclose(probs.sum(-1), 1, atol=1e-4):
        raise Mismatch(f"{build}: model rows must be probabilities (softmax)", "rows sum to 1",
                       f"sums {np.round(probs.sum(-1)[0], 3).tolist()}")
    state = expect_ids_shape(call(encoder, source), (rows, units),
                             f"{build}: encoder({source_text})", "state")
    step, new = decoder_step(decoder, tgt[:, :1], state, build)
    expect_ids_shape(step, (rows, 1, vocab), f"{build}: decoder", "probabilities")
    expect_ids_shape(new, (rows, units), f"{build}: decoder", "state")
    return (f"({rows}, {length}, {vocab}); state ({rows}, {units}); step ({rows}, 1, "
            f"{vocab})", "the same")


def check_shared(models, source, tgt, build: str) -> tuple[str, str]:
    """Encoder + decoder, stepped by hand over ``tgt``, give the teacher-forced output."""
    model, encoder, decoder = models
    forced = call(model, [source, tgt])
    state, steps = call(encoder, source), []
    for t in range(tgt.shape[1]):
        probs, state = decoder_step(decoder, tgt[:, t:t + 1], state, build)
        steps.append(np.asarray(probs)[:, 0])
    gap = expect_close(np.stack(steps, axis=1), np.asarray(forced),
                       "step-by-step probabilities", f"{build}: encoder + decoder", 1e-5,
                       hint=": the three models must share their layers (create each layer "
                            "once) and the decoder must start from the encoder's state")
    return "the teacher-forced probabilities", gap


def probe_decoder(vocab: int, units: int):
    """The checks' one-step decoder, a recurrent cell written with Dense layers (not the
    labs' GRU): ``[token (batch, 1), state (batch, units)]`` -> ``[probabilities (batch,
    1, vocab), state]``. Unseeded: the caller sets its weights."""
    import keras

    token, state = keras.Input(shape=(1,), dtype="int32"), keras.Input(shape=(units,))
    embedded = keras.layers.Flatten()(keras.layers.Embedding(vocab, units)(token))
    joined = keras.layers.Concatenate()([embedded, state])
    new_state = keras.layers.Dense(units, activation="tanh")(joined)
    probs = keras.layers.Reshape((1, vocab))(keras.layers.Dense(vocab, activation="softmax")(
        new_state))
    return keras.Model([token, state], [probs, new_state])


def seed_weights(models, seed: int) -> None:
    """Every weight of ``models`` drawn from N(0, 1.5^2) with ``seed``, in order."""
    rng = np.random.default_rng(seed)
    for model in models:
        model.set_weights([rng.normal(0, 1.5, size=w.shape).astype("float32")
                           for w in model.get_weights()])


def id_lists(got, want, where: str) -> list[list[int]]:
    """``got`` as a list of id lists, else a Mismatch showing ``want``."""
    try:
        return [[int(i) for i in row] for row in got]
    except (TypeError, ValueError):
        raise Mismatch(f"{where}: expected a list of id lists", str(want),
                       describe(got)) from None


def stop_hint(got: list, want: list) -> str:
    """A hint when every row matches but runs on past the end id."""
    if len(got) == len(want) and any(g[:len(w)] == w and len(g) > len(w)
                                     for g, w in zip(got, want, strict=True)):
        return ": stop before end_id (it is not included)"
    return ""


def expect_greedy_ids(got, want: list[list[int]], where: str) -> tuple[str, str]:
    """A greedy decoder's returned id lists against the recorded ``want``: the check's
    ``(expected, got)`` texts, else a Mismatch (with a hint when a row runs past end_id)."""
    got = id_lists(got, want, where)
    if got != want:
        raise Mismatch(f"{where}: different ids{stop_hint(got, want)}", str(want), str(got))
    return str(want), str(got)


def expect_beam_ids(decode, want: dict, where) -> tuple[str, str]:
    """Beam search at each width of ``want`` (``{"1": id lists, ...}``, the fixture's):
    ``decode(width)`` returns the id lists and ``where(width)`` describes the call. The
    check's ``(expected, got)`` texts, else a Mismatch saying what beam search should do."""
    for width, ids in want.items():
        got = id_lists(decode(int(width)), ids, where(width))
        if got != ids:
            hint = (": with beam_width=1 beam search is greedy decoding" if width == "1" else
                    ": keep the beam_width best extensions, set those ending in end_id aside "
                    "and narrow the beam by one for each; no length normalisation")
            raise Mismatch(f"{where(width)}: different ids{hint}", str(ids), str(got))
    return f"the recorded ids for widths {', '.join(want)}", "the same"
