"""Public checks of lab 06's ``char_lm.py``: batches, sampling, the model, generation.

``fixtures/char_lm.npz`` holds the recorded outputs of ``batchify``/``get_batch`` on small
id arrays, the softmax probabilities the sampler must follow and the argmax continuation
``generate`` must give at temperature 0 with the checks' own small Keras model
(:func:`probe_lm`, seeded weights).
"""

from __future__ import annotations

import numpy as np

from seqlab.checks import fixture_data as fx
from seqlab.checks.core import Mismatch, expect_close, expect_shape, memo, public_check
from seqlab.checks.keras_tools import call, compile_settings, expect_ids_shape, expect_model

NAME = "char_lm"
TIMEOUT, KERAS_TIMEOUT = 10.0, 60.0
DRAWS, FREQUENCY_TOLERANCE = 4000, 0.03
V, EMB, UNITS = 11, 4, 5
PROBE_VOCAB, PRIME, LENGTH = 9, (3, 1, 4), 12


def _expect_equal(got, want: np.ndarray, label: str, where: str) -> None:
    array = expect_shape(got, want.shape, label, where)
    if not np.array_equal(array, want):
        raise Mismatch(f"{where}: wrong {label}", f"{label} {want.tolist()}"[:120],
                       f"{label} {array.tolist()}"[:120])


@public_check("batchify", "columns of consecutive text, tail dropped", TIMEOUT)
def batchify(mod):
    for case in ("batchify", "batchify_exact"):
        data = fx.group(NAME, case)
        where = f"batchify(data of {len(data['data'])} ids, batch_size={int(data['batch_size'])})"
        _expect_equal(mod.batchify(data["data"].copy(), int(data["batch_size"])), data["out"],
                      "columns", where)
    return "(5, 4) from 23 ids: column j is data[5j:5j+5]", "the same"


@public_check("get_batch", "windows and next-character targets, the last one shorter", TIMEOUT)
def get_batch(mod):
    source = fx.arrays(NAME)["get_batch.source"]
    for case in ("get_batch_first", "get_batch_last"):
        data = fx.group(NAME, case)
        i, bptt = int(data["i"]), int(data["bptt"])
        where = f"get_batch(source {source.shape}, i={i}, bptt={bptt})"
        got = mod.get_batch(source.copy(), i, bptt)
        if not isinstance(got, tuple) or len(got) != 2:
            raise Mismatch(f"{where}: expected a tuple (x, y)", "(x, y)", type(got).__name__)
        _expect_equal(got[0], data["x"], "x", where)
        _expect_equal(got[1], data["y"], "y", where)
    return "x, y (3, 4) batch first; last window (3, 1)", "the same"


@public_check("sample_next", "draws follow softmax(logits / T) over 4,000 draws", TIMEOUT)
def sample_frequencies(mod):
    arrays = fx.arrays(NAME)
    logits = np.tile(arrays["sample.logits"], (DRAWS, 1))
    worst = 0.0
    for temperature, want in zip(arrays["sample.temperatures"], arrays["sample.probs"],
                                 strict=True):
        where = f"sample_next(logits ({DRAWS}, 6), temperature={temperature:g}, rng)"
        got = expect_shape(mod.sample_next(logits.copy(), float(temperature),
                                           np.random.default_rng(0)), (DRAWS,), "ids", where)
        if got.min() < 0 or got.max() >= logits.shape[1]:
            raise Mismatch(f"{where}: ids out of range", "ids in 0..5",
                           f"{int(got.min())}..{int(got.max())}")
        freq = np.bincount(got.astype(np.int64), minlength=6)[:6] / DRAWS
        gap = float(np.max(np.abs(freq - want)))
        if gap > FREQUENCY_TOLERANCE:
            raise Mismatch(f"{where}: the frequencies are off by {gap:.3f}",
                           str(np.round(want, 3).tolist()), str(np.round(freq, 3).tolist()))
        worst = max(worst, gap)
    return "softmax(logits / T) for T = 0.5, 1, 2", f"frequencies within {worst:.3f}"


@public_check("sample_next", "the given rng is used; argmax at T = 0", TIMEOUT)
def sample_rng(mod):
    arrays = fx.arrays(NAME)
    logits = np.tile(arrays["sample.logits"], (50, 1))
    a, b = (np.asarray(mod.sample_next(logits.copy(), 1.0, np.random.default_rng(1)))
            for _ in range(2))
    if not np.array_equal(a, b):
        raise Mismatch("two calls with numpy.random.default_rng(1) gave different draws: draw "
                       "from the rng you are given", "the same draws", "different draws")
    _expect_equal(mod.sample_next(arrays["sample.small"].copy(), 0.0), arrays["sample.argmax"],
                  "ids", "sample_next(logits (5, 7), temperature=0)")
    return "same rng seed, same draws; argmax at T = 0", "the same"


def lm_params(cell: str) -> int:
    """Embedding + GRU (reset_after) or LSTM + Dense(V), in closed form."""
    recurrent = {"gru": 3 * (UNITS * EMB + UNITS * UNITS + 2 * UNITS),
                 "lstm": 4 * (UNITS * EMB + UNITS * UNITS + UNITS)}[cell]
    return V * EMB + recurrent + UNITS * V + V


def _lm(mod, cell: str = "gru", batch_size=None):
    where = f"build_char_lm({V}, embedding_dim={EMB}, units={UNITS}, cell={cell!r}" + (
        f", batch_size={batch_size})" if batch_size else ")")
    model = memo(("lm", cell, batch_size), lambda: expect_model(mod.build_char_lm(
        V, embedding_dim=EMB, units=UNITS, cell=cell, batch_size=batch_size), where))
    return where, model


def _ids(batch: int, length: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, V, size=(batch, length)).astype("int32")


@public_check("build_char_lm", "logits (batch, T, vocab_size) for any T", KERAS_TIMEOUT)
def lm_shapes(mod):
    for cell in ("gru", "lstm"):
        where, model = _lm(mod, cell)
        for length in (1, 6):
            out = expect_ids_shape(call(model, _ids(2, length)), (2, length, V),
                                   f"{where} on ids (2, {length})", "logits")
            if np.all(out >= 0) and np.allclose(out.sum(-1), 1, atol=1e-4):
                raise Mismatch(f"{where}: rows sum to 1, so these are probabilities; the "
                               "contract asks for logits (Dense with no activation)",
                               "logits", "probabilities")
    return f"(2, T, {V}) logits for T = 1, 6, GRU and LSTM", "the same"


@public_check("build_char_lm", "compiled with sparse categorical cross-entropy from logits",
              KERAS_TIMEOUT)
def lm_compiled(mod):
    where, model = _lm(mod)
    settings = compile_settings(model)
    if not settings["compiled"]:
        raise Mismatch(f"{where} returned a model that is not compiled", "compiled", "no")
    if "sparsecategoricalcrossentropy" not in settings["loss"] or not settings["from_logits"]:
        raise Mismatch(f"{where}: wrong loss", "SparseCategoricalCrossentropy(from_logits=True)",
                       f"{settings['loss']}, from_logits={settings['from_logits']}")
    return "SparseCategoricalCrossentropy(from_logits=True)", "the same"


@public_check("build_char_lm", "parameter count (closed form)", KERAS_TIMEOUT)
def lm_count(mod):
    for cell in ("gru", "lstm"):
        where, model = _lm(mod, cell)
        if int(model.count_params()) != lm_params(cell):
            raise Mismatch(f"{where}: wrong parameter count (Embedding, {cell.upper()}, Dense)",
                           f"{lm_params(cell):,}", f"{int(model.count_params()):,}")
    return f"GRU {lm_params('gru'):,}, LSTM {lm_params('lstm'):,}", "the same"


def _reset(model) -> None:
    from seqlab.checks.keras_tools import all_layers

    for layer in all_layers(model):
        if getattr(layer, "stateful", False) and hasattr(layer, "reset_state"):
            layer.reset_state()


@public_check("build_char_lm", "stateful with batch_size: the state carries until reset",
              KERAS_TIMEOUT)
def lm_stateful(mod):
    where, model = _lm(mod, "gru", batch_size=2)
    whole = _ids(2, 6, seed=4)
    _reset(model)
    both = call(model, whole)
    _reset(model)
    first, second = call(model, whole[:, :3]), call(model, whole[:, 3:])
    expect_ids_shape(first, (2, 3, V), f"{where} on ids (2, 3)", "logits")
    _reset(model)
    fresh = call(model, whole[:, 3:])
    if np.allclose(second, fresh, atol=1e-5):
        raise Mismatch(f"{where}: the second window gave what a fresh state gives: the state "
                       "is not carried (stateful=True, keras.Input(batch_shape=(2, None)))",
                       "the state carried", "a fresh state each call")
    expect_close(second, both[:, 3:], "logits of the second window", where, 1e-5,
                 hint=": two windows in a row must read as one sequence")
    return "two windows read as one sequence; reset starts afresh", "the same"


def probe_lm():
    """The checks' own stateless language model for ``generate``: ids -> logits.

    ``Embedding(9, 4) -> SimpleRNN(6, return_sequences=True) -> Dense(9)``, with weights drawn
    from ``numpy.random.default_rng(4)`` (any small recurrent model would do).
    """
    import keras

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(PROBE_VOCAB, 4)(inputs)
    x = keras.layers.SimpleRNN(6, return_sequences=True)(x)
    model = keras.Model(inputs, keras.layers.Dense(PROBE_VOCAB)(x))
    rng = np.random.default_rng(4)
    weights = [rng.normal(0, 0.9, size=w.shape).astype("float32") for w in model.get_weights()]
    weights[2] *= 1.5          # a stronger recurrence: the continuation varies (7 distinct ids)
    model.set_weights(weights)
    return model


def _ids_list(got, where: str, length: int) -> list[int]:
    try:
        ids = [int(i) for i in got]
    except (TypeError, ValueError):
        raise Mismatch(f"{where}: expected a list of ids", f"{length} ids",
                       type(got).__name__) from None
    if len(ids) != length:
        raise Mismatch(f"{where}: return the {length} new ids only (not the prime)",
                       f"{length} ids", f"{len(ids)} ids")
    return ids


@public_check("generate", "the argmax continuation at T = 0, the new ids only", KERAS_TIMEOUT)
def generate_greedy(mod):
    want = fx.values(NAME)["generate_greedy"]
    where = f"generate(a small SimpleRNN LM, prime_ids={list(PRIME)}, length={LENGTH}, " \
            "temperature=0)"
    got = _ids_list(mod.generate(memo("probe_lm", probe_lm), list(PRIME), LENGTH, 0.0), where,
                    LENGTH)
    if got != want:
        hint = ": off by one step" if got[1:] == want[:-1] or got[:-1] == want[1:] else ""
        raise Mismatch(f"{where}: not the argmax continuation{hint}", str(want), str(got))
    return str(want), str(got)


@public_check("generate", "length and ids in range; the same ids for the same seed",
              KERAS_TIMEOUT)
def generate_seeded(mod):
    model = memo("probe_lm", probe_lm)
    where = f"generate(a small SimpleRNN LM, prime_ids={list(PRIME)}, length=8, seed=5)"
    first, again = (_ids_list(mod.generate(model, list(PRIME), 8, 1.0, seed=5), where, 8)
                    for _ in range(2))
    if min(first) < 0 or max(first) >= PROBE_VOCAB:
        raise Mismatch(f"{where}: ids out of range", f"ids in 0..{PROBE_VOCAB - 1}", str(first))
    if first != again:
        raise Mismatch(f"{where} twice gave different ids: use numpy.random.default_rng(seed)",
                       str(first), str(again))
    return "8 ids in 0..8, twice the same", str(first)
