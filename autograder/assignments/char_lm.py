"""The ``char_lm`` assignment: batchify, truncated BPTT windows, a char LM, sampling (lab 6).

``batchify``/``get_batch``/``sample_next`` are called on NumPy inputs and compared with what
this process computes; ``build_char_lm``'s models are saved by the child and run by the
trusted worker (shapes, causality, stateful carry and reset, layers, parameters, loss);
``generate`` is handed *the grader's own* seeded model, so it is graded on its own, and its
argmax continuation is compared with the worker's, computed by re-reading the sequence.
"""

from __future__ import annotations

import numpy as np

from autograder.assignments import Assignment, Case, RecipeInputs
from autograder.assignments.fundamentals_reference import (
    describe,
    has_shape,
    shape_text,
    signature_check,
)
from autograder.metrics import band_fraction
from autograder.registry import check, failed, partial, passed

NAME = "char_lm"
FILENAME = "char_lm.py"
FUNCTIONS = {
    "batchify": [("data", None), ("batch_size", None)],
    "get_batch": [("source", None), ("i", None), ("bptt", None)],
    "build_char_lm": [("vocab_size", None), ("embedding_dim", "32"), ("units", "128"),
                      ("cell", "'gru'"), ("batch_size", "None")],
    "sample_next": [("logits", None), ("temperature", "1.0"), ("rng", "None")],
    "generate": [("model", None), ("prime_ids", None), ("length", None),
                 ("temperature", "1.0"), ("seed", "0")],
}
# The learning check: the grader trains build_char_lm(LEARN_VOCAB)'s model (its defaults:
# embedding 32, GRU 128) with this recipe and scores bits per character on held-out text.
RECIPES = {"char_lm_reviews": dict(corpus="rotten_tomatoes", train_chars=400_000,
                                   heldout_chars=40_000, window=100, epochs=3,
                                   batch_size=32, learning_rate=2e-3, seed=0,
                                   metric="bits_per_char", margin=0.1)}
CHARSET = ("\n !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
           "abcdefghijklmnopqrstuvwxyz{|}~")
LEARN_VOCAB = len(CHARSET) + 2  # padding 0, unknown 1, then CHARSET
CASE_TIMEOUT = 20
DRAWS = 20000                 # rows of the sampling check: a frequency's std is <= 0.0036
FREQUENCY_TOLERANCE = 0.02    # more than 5 standard deviations
STATE_TOLERANCE = 1e-4
GRADER_LM = {"vocab_size": 9, "embedding_dim": 5, "units": 8, "seed": 3}
GREEDY_PRIME, GREEDY_LENGTH = [1, 2, 3], 12


def reference_batchify(data: np.ndarray, batch_size: int) -> np.ndarray:
    steps = len(data) // batch_size
    return data[: steps * batch_size].reshape(batch_size, steps).T


def reference_get_batch(source: np.ndarray, i: int, bptt: int):
    length = min(bptt, len(source) - 1 - i)
    return source[i: i + length].T, source[i + 1: i + 1 + length].T


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _inputs() -> dict:
    rng = np.random.default_rng(6)
    return {
        "alphabet": np.arange(26), "batch_4": 4,
        "odd": rng.integers(0, 50, size=103), "batch_5": 5,
        "seven": np.arange(7), "batch_1": 1,
        "source": reference_batchify(np.arange(100, 160), 4),  # (15, 4)
        "i_0": 0, "i_10": 10, "i_13": 13, "bptt_5": 5,
        "logits_row": np.tile(np.array([2.0, 1.0, 0.5, 0.0, -1.0, 1.5]), (DRAWS, 1)),
        "logits_small": rng.normal(size=(5, 7)) * 2,
        "prime": np.array(GREEDY_PRIME), "prime_one": np.array([4]),
    }


INPUTS = _inputs()
TEMPERATURES = {"sample_t1": 1.0, "sample_t05": 0.5, "sample_t2": 2.0}


def _call(case_id, function, inputs, text, **kwargs):
    return Case(case_id, function, kwargs, kind="call", inputs=tuple(inputs),
                args_text=text)


def _lm(case_id, vocab_size, **kwargs):
    return Case(case_id, "build_char_lm", {"vocab_size": vocab_size, **kwargs})


CASES = {c.id: c for c in (
    _call("batchify_alpha", "batchify", ("alphabet", "batch_4"), "np.arange(26), 4"),
    _call("batchify_odd", "batchify", ("odd", "batch_5"), "data of 103 ids, 5"),
    _call("batchify_one", "batchify", ("seven", "batch_1"), "np.arange(7), 1"),
    _call("window_0", "get_batch", ("source", "i_0", "bptt_5"), "source (15, 4), 0, 5"),
    _call("window_10", "get_batch", ("source", "i_10", "bptt_5"), "source (15, 4), 10, 5"),
    _call("window_13", "get_batch", ("source", "i_13", "bptt_5"), "source (15, 4), 13, 5"),
    *(Case(case_id, "sample_next", {"temperature": t}, kind="call",
           inputs=("logits_row",), args_text=f"logits ({DRAWS}, 6)", rng=1)
      for case_id, t in TEMPERATURES.items()),
    Case("sample_again", "sample_next", {"temperature": 1.0}, kind="call",
         inputs=("logits_row",), args_text=f"logits ({DRAWS}, 6)", rng=1),
    Case("sample_argmax", "sample_next", {"temperature": 0.0}, kind="call",
         inputs=("logits_small",), args_text="logits (5, 7)", rng=2),
    _lm("lm_gru", 11, embedding_dim=6, units=7, cell="gru"),
    _lm("lm_lstm", 9, embedding_dim=5, units=4, cell="lstm"),
    _lm("lm_default", 10),
    _lm("lm_stateful", 11, embedding_dim=6, units=7, cell="gru", batch_size=3),
    Case("acc_lm", "build_char_lm", {"vocab_size": LEARN_VOCAB},
         recipe="char_lm_reviews"),
    Case("generate", "generate", {}, kind="call_with_models",
         args_text="the grader's model, ...", builder="char_lm", build=GRADER_LM,
         calls=({"inputs": ("prime",), "kwargs": {"length": GREEDY_LENGTH,
                                                  "temperature": 0.0, "seed": 0}},
                {"inputs": ("prime_one",), "kwargs": {"length": 10, "temperature": 1.0,
                                                      "seed": 5}},
                {"inputs": ("prime_one",), "kwargs": {"length": 10, "temperature": 1.0,
                                                      "seed": 5}})),
)}
VOCAB = {case.id: case.kwargs["vocab_size"] for case in CASES.values()
         if case.function == "build_char_lm"}


def lm_params(vocab: int, dim: int, units: int, cell: str) -> int:
    """Embedding + recurrent layer (Keras GRU with reset_after: two bias rows) + Dense."""
    recurrent = (3 * (dim * units + units * units + 2 * units) if cell == "gru"
                 else 4 * (dim * units + units * units + units))
    return vocab * dim + recurrent + units * vocab + vocab


def _kwargs(case: Case) -> dict:
    return {"embedding_dim": 32, "units": 128, "cell": "gru", "batch_size": None,
            **case.kwargs}


# ---------------------------------------------------------------- checks
signature_check(NAME, FILENAME, FUNCTIONS, points=2)


@check("batchify: columns of consecutive text, tail dropped", points=6, assignment=NAME,
       function="batchify", timeout=CASE_TIMEOUT,
       needs=("batchify_alpha", "batchify_odd", "batchify_one"))
def batchify(obs):
    for case_id in ("batchify_alpha", "batchify_odd", "batchify_one"):
        data, batch = (INPUTS[name] for name in obs.cases[case_id].inputs)
        want = reference_batchify(data, batch)
        got = obs.arrays[case_id]
        call = obs.call(case_id)
        if not has_shape(got, want.shape):
            hint = ""
            if isinstance(got, np.ndarray) and got.shape == want.shape[::-1]:
                hint = ": that is (batch_size, n_steps); transpose it"
            elif isinstance(got, np.ndarray) and got.size == len(data):
                hint = ": drop the tail that does not fill a row"
            return failed(f"{call}: expected shape {shape_text(want.shape)} (n_steps = "
                          f"{len(data)} // {batch}, batch_size), got {describe(got)}{hint}")
        if not np.array_equal(got, want):
            hint = ""
            rows = data[: want.size].reshape(want.shape)
            if np.array_equal(got, rows):
                hint = (": consecutive ids run along a row; in batchify they run down a "
                        "column (column j is data[j*n_steps:(j+1)*n_steps])")
            return failed(f"{call}: expected column 0 to start {want[:3, 0].tolist()}, got "
                          f"{got[:3, 0].tolist()}{hint}")
    return passed("(len(data) // batch_size, batch_size), text running down each column, for "
                  "the alphabet, an odd length and one column")


@check("get_batch: windows and next-character targets, the last one shorter", points=6,
       assignment=NAME, function="get_batch", timeout=CASE_TIMEOUT,
       needs=("window_0", "window_10", "window_13"))
def get_batch(obs):
    source = INPUTS["source"]
    for case_id in ("window_0", "window_10", "window_13"):
        _, i, bptt = (INPUTS[name] for name in obs.cases[case_id].inputs)
        want_x, want_y = reference_get_batch(source, i, bptt)
        got = obs.arrays[case_id]
        call = f"get_batch(source {shape_text(source.shape)}, i={i}, bptt={bptt})"
        if not isinstance(got, tuple) or len(got) != 2:
            return failed(f"{call}: expected a tuple (x, y), got {describe(got)}")
        x, y = got
        for label, array, want in (("x", x, want_x), ("y", y, want_y)):
            if not has_shape(array, want.shape):
                hint = ""
                if isinstance(array, np.ndarray) and array.shape == want.shape[::-1]:
                    hint = ": batch first for Keras, so transpose the rows you slice"
                elif isinstance(array, np.ndarray) and array.ndim == 2 and \
                        array.shape[0] == want.shape[0]:
                    hint = (f": near the end L = min(bptt, len(source) - 1 - i) = "
                            f"{want.shape[1]}")
                return failed(f"{call}: expected {label} of shape {shape_text(want.shape)} "
                              f"(batch_size, L), got {describe(array)}{hint}")
        if not np.array_equal(x, want_x):
            return failed(f"{call}: expected x[0] = {want_x[0].tolist()} (rows i..i+L-1 of "
                          f"column 0), got {x[0].tolist()}")
        if not np.array_equal(y, want_y):
            hint = ": y must be x shifted by one step" if np.array_equal(y, want_x) else ""
            return failed(f"{call}: expected y[0] = {want_y[0].tolist()} (the next "
                          f"characters), got {y[0].tolist()}{hint}")
    return passed("x and the next characters y, (batch_size, L), including the last, "
                  "shorter windows")


def _frequencies(draws: np.ndarray, classes: int) -> np.ndarray:
    return np.bincount(draws.astype(np.int64), minlength=classes)[:classes] / len(draws)


@check("sample_next: draws follow softmax(logits / T); argmax at T = 0", points=8,
       assignment=NAME, function="sample_next", timeout=CASE_TIMEOUT,
       needs=(*TEMPERATURES, "sample_again", "sample_argmax"))
def sample_next(obs):
    logits = INPUTS["logits_row"][0]
    for case_id, temperature in TEMPERATURES.items():
        got = obs.arrays[case_id]
        call = f"sample_next(logits ({DRAWS}, 6), temperature={temperature}, rng)"
        if not has_shape(got, (DRAWS,)):
            return failed(f"{call}: expected one id per row, shape ({DRAWS},), got "
                          f"{describe(got)}")
        if got.dtype.kind not in "iu" and not np.array_equal(got, np.round(got)):
            return failed(f"{call}: expected integer ids, got {got.dtype} values")
        if got.min() < 0 or got.max() >= len(logits):
            return failed(f"{call}: expected ids in 0..{len(logits) - 1}, got "
                          f"{int(got.min())}..{int(got.max())}")
        freq = _frequencies(got, len(logits))
        want = softmax(logits / temperature)
        gap = float(np.max(np.abs(freq - want)))
        if gap > FREQUENCY_TOLERANCE:
            hint = ""
            for other, why in ((softmax(logits), "the temperature is ignored"),
                               (softmax(logits * temperature), "logits are multiplied by T "
                                                               "instead of divided"),
                               (np.full(len(logits), 1 / len(logits)), "draws are uniform")):
                if np.max(np.abs(freq - other)) <= FREQUENCY_TOLERANCE:
                    hint = f": {why}"
                    break
            return failed(f"{call}: over {DRAWS:,} draws expected frequencies "
                          f"{np.round(want, 3).tolist()}, got {np.round(freq, 3).tolist()}"
                          f"{hint}")
    if not np.array_equal(obs.arrays["sample_again"], obs.arrays["sample_t1"]):
        return failed("two calls with numpy.random.default_rng(1) gave different draws: draw "
                      "from the rng you are given, not from another generator")
    got = obs.arrays["sample_argmax"]
    want = np.argmax(INPUTS["logits_small"], axis=-1)
    if not has_shape(got, want.shape) or not np.array_equal(got, want):
        shown = got.tolist() if isinstance(got, np.ndarray) else describe(got)
        return failed(f"sample_next(logits (5, 7), temperature=0): expected the argmax "
                      f"{want.tolist()}, got {shown}")
    return passed(f"frequencies within {FREQUENCY_TOLERANCE} of softmax(logits / T) for T = "
                  "0.5, 1, 2 over 20,000 draws; the given rng is used; argmax at T = 0")


def _lm_probe_problem(obs, case_id) -> str | None:
    info = obs.measured[case_id]
    vocab = VOCAB[case_id]
    call = obs.call(case_id)
    for probe in info["probes"]:
        where = f"{call} on ids ({probe['batch']}, {probe['length']})"
        if "error" in probe:
            return f"{where} failed: {probe['error']}"
        want = [probe["batch"], probe["length"], vocab]
        if probe["shape"] != want:
            return (f"{where}: expected logits of shape {shape_text(want)} (batch, T, "
                    f"vocab_size), got {shape_text(probe['shape'])}")
        if not probe["finite"]:
            return f"{where}: the output holds NaN or infinite values"
        if probe["row_sums_one"] and not probe["negative"]:
            return (f"{where}: the output rows sum to 1, so they are probabilities; the "
                    "contract asks for logits (Dense with no activation)")
        if probe["causal_gap"] is not None and probe["causal_gap"] > 1e-4:
            return (f"{where}: the output for the first half of the sequence changes when the "
                    f"rest is added (by {probe['causal_gap']:.3g}): a language model must read "
                    "left to right only (no Bidirectional layer)")
    return None


@check("build_char_lm: logits (batch, T, vocab_size) for any T, left to right", points=6,
       assignment=NAME, function="build_char_lm", timeout=60,
       needs=("lm_gru", "lm_lstm", "lm_default"))
def lm_shapes(obs):
    for case_id in ("lm_gru", "lm_lstm", "lm_default"):
        problem = _lm_probe_problem(obs, case_id)
        if problem:
            return failed(problem)
    return passed("logits (batch, T, vocab_size) for T = 1, 5, 9; the output at step t "
                  "depends only on steps up to t")


@check("build_char_lm: layers and parameter count", points=6, assignment=NAME,
       function="build_char_lm", timeout=60, needs=("lm_gru", "lm_lstm", "lm_default"),
       visibility="after_published")
def lm_layers(obs):
    for case_id in ("lm_gru", "lm_lstm", "lm_default"):
        info, kwargs = obs.measured[case_id], _kwargs(obs.cases[case_id])
        cell = {"gru": "GRU", "lstm": "LSTM"}[kwargs["cell"]]
        classes = [layer["class"] for layer in info["layers"]]
        call = obs.call(case_id)
        if cell not in classes:
            return failed(f"{call}: expected a {cell} layer, got layers {classes}")
        want = lm_params(VOCAB[case_id], kwargs["embedding_dim"], kwargs["units"],
                         kwargs["cell"])
        if info["params"] != want:
            return failed(f"{call}: expected {want:,} parameters (Embedding "
                          f"{VOCAB[case_id]}x{kwargs['embedding_dim']}, {cell} "
                          f"{kwargs['units']} units, Dense {VOCAB[case_id]}), got "
                          f"{info['params']:,}")
        recurrent = next(layer for layer in info["layers"] if layer["class"] == cell)
        config = recurrent["config"]
        problems = [f"{key}={config.get(key)!r}" for key, ok in (
            ("activation", "tanh"), ("recurrent_activation", "sigmoid"))
            if config.get(key) != ok]
        if config.get("recurrent_dropout"):
            problems.append(f"recurrent_dropout={config['recurrent_dropout']}")
        if config.get("unroll"):
            problems.append("unroll=True")
        if problems:
            return failed(f"{call}: the {cell} cannot use cuDNN ({', '.join(problems)}): keep "
                          "Keras' defaults")
    return passed("Embedding, GRU/LSTM and Dense with the closed-form parameter count; "
                  "cuDNN-eligible settings")


@check("build_char_lm: compiled with sparse categorical cross-entropy from logits", points=3,
       assignment=NAME, function="build_char_lm", timeout=60, needs=("lm_gru",))
def lm_loss(obs):
    info = obs.measured["lm_gru"]
    if not info["compiled"]:
        return failed(f"{obs.call('lm_gru')} returned a model that is not compiled")
    loss = str(info["loss"]).lower().replace("_", "")
    if "sparsecategoricalcrossentropy" not in loss:
        return failed(f"expected sparse categorical cross-entropy (targets are ids), got "
                      f"{info['loss']}")
    if not info["from_logits"]:
        return failed("expected SparseCategoricalCrossentropy(from_logits=True): the model "
                      "returns logits, got from_logits=False (or the string loss)")
    return passed("SparseCategoricalCrossentropy(from_logits=True)")


@check("build_char_lm: stateful with batch_size, carries state until reset", points=6,
       assignment=NAME, function="build_char_lm", timeout=60, needs=("lm_stateful",))
def lm_stateful(obs):
    info = obs.measured["lm_stateful"]
    call = obs.call("lm_stateful")
    if not info["stateful_layers"]:
        return failed(f"{call}: expected a stateful recurrent layer (stateful=True with "
                      f"keras.Input(batch_shape=(3, None))), got none")
    if info["inputs"] and info["inputs"][0][0] != 3:
        return failed(f"{call}: expected the input's batch size fixed to 3, got "
                      f"{info['inputs'][0]}")
    if info["shape"] != [3, 3, 11]:
        return failed(f"{call}: expected logits (3, 3, 11) for ids (3, 3), got "
                      f"{shape_text(info['shape'])}")
    if info["no_carry_gap"] <= STATE_TOLERANCE:
        return failed(f"{call}: a second call gave the same output as a fresh one: the state "
                      "is not carried from one window to the next")
    if info["carry_gap"] is None or info["carry_gap"] > STATE_TOLERANCE:
        return failed(f"{call}: two consecutive windows should continue one sequence, but "
                      f"the second differs from the same steps read in one call by "
                      f"{info['carry_gap']:.3g}")
    if info["reset_gap"] > STATE_TOLERANCE:
        return failed(f"{call}: after reset_state() the output differs from a fresh model's "
                      f"by {info['reset_gap']:.3g}: reset must zero the state")
    return passed("two windows in a row read as one sequence; reset_state() starts afresh")


@check("generate: argmax at T = 0, the same ids for the same seed", points=8,
       assignment=NAME, function="generate", timeout=60, needs=("generate",))
def generate(obs):
    results = obs.arrays["generate"]
    if not isinstance(results, tuple) or len(results) != 3:
        return failed("generate did not return for every call")
    greedy, first, again = (np.asarray(r).reshape(-1) if not isinstance(r, dict) else None
                            for r in results)
    want = np.asarray(obs.references["greedy_reference"]["ids"])
    call = (f"generate(the grader's model, prime_ids={GREEDY_PRIME}, length={GREEDY_LENGTH}, "
            "temperature=0)")
    if greedy is None or greedy.shape != want.shape:
        return failed(f"{call}: expected {GREEDY_LENGTH} ids (the new ones only), got "
                      f"{describe(results[0])}")
    if not np.array_equal(greedy, want):
        hint = ""
        if np.array_equal(greedy[:-1], want[1:]) or np.array_equal(greedy[1:], want[:-1]):
            hint = ": off by one step (return only the ids after the prime)"
        return failed(f"{call}: expected the argmax continuation {want.tolist()}, got "
                      f"{greedy.tolist()}{hint}")
    if first is None or first.shape != (10,):
        return failed(f"generate(..., length=10, temperature=1.0, seed=5): expected 10 ids, "
                      f"got {describe(results[1])}")
    if first.min() < 0 or first.max() >= GRADER_LM["vocab_size"]:
        return failed(f"generate(..., temperature=1.0): expected ids in 0.."
                      f"{GRADER_LM['vocab_size'] - 1}, got {first.tolist()}")
    if again is None or not np.array_equal(first, again):
        return failed(f"generate(..., seed=5) twice gave {first.tolist()} and "
                      f"{None if again is None else again.tolist()}: draw with "
                      "numpy.random.default_rng(seed)")
    return passed("the argmax continuation at T = 0 (fed back one id at a time), and the "
                  "same ids for the same seed")


@check("learning: build_char_lm trained on review text (quick recipe), bits per character",
       points=10, assignment=NAME, function="build_char_lm", needs=("acc_lm",), timeout=120,
       visibility="after_published")
def learning(obs):
    band = obs.bands["char_lm_reviews"]
    result = obs.trained["acc_lm"]
    bits = float(result["bits_per_char"])
    recipe = obs.recipes["char_lm_reviews"]
    full, zero = band["full_credit_at"], band["zero_credit_at"]
    if not np.isfinite(bits):
        return failed(f"training build_char_lm({LEARN_VOCAB}) with the grader's recipe gave a "
                      "loss of NaN or infinity")
    return partial(band_fraction(bits, band),
                   f"{bits:.3f} bits per character on held-out text after the grader's "
                   f"{recipe['epochs']}-epoch recipe: full credit at {full:.3f} or fewer, none "
                   f"at {zero:.3f} (a unigram model) or more (the reference scores "
                   f"{band['reference_min']:.3f}-{band['reference_max']:.3f})")


class CharLM(Assignment):
    NAME, FILENAME, FUNCTIONS, CASES = NAME, FILENAME, FUNCTIONS, CASES
    RECIPES, INPUTS = RECIPES, INPUTS

    def worker_task(self, case: Case, files: list[str], *, inputs,
                    recipe: dict | None = None) -> dict:
        """How the worker measures (or, for the learning check, trains) a saved model."""
        if case.recipe:
            return {"id": case.id, "kind": "char_lm_train", "model": files[0],
                    "data": str(inputs / f"{case.recipe}.npz"), "recipe": recipe}
        return {"id": case.id, "kind": "char_lm_probe", "model": files[0],
                "vocab_size": VOCAB[case.id], "batch_size": case.kwargs.get("batch_size"),
                "probes": [[2, 5], [3, 9], [1, 1]]}

    def worker_references(self, inputs) -> list[dict]:
        return [{"id": "greedy_reference", "kind": "char_lm_greedy", "build": GRADER_LM,
                 "prime": GREEDY_PRIME, "length": GREEDY_LENGTH}]

    def recipe_inputs(self, name: str) -> RecipeInputs:
        """The worker's training and held-out ids, and what the parent keeps: the held-out
        bits per character of a unigram model fitted on the training text (the floor)."""
        from seqlab.corpus import load_char_corpus
        from seqlab.text import CharVocabulary

        recipe = RECIPES[name]
        corpus = load_char_corpus(recipe["corpus"], profile="quick", seed=0)
        vocab = CharVocabulary(CHARSET, unknown=True)
        train = vocab.encode_array(corpus.text("train")[: recipe["train_chars"]])
        heldout = vocab.encode_array(corpus.text("validation")[: recipe["heldout_chars"]])
        counts = np.bincount(train, minlength=LEARN_VOCAB) + 1.0
        unigram = float(-np.mean(np.log2((counts / counts.sum())[heldout])))
        return RecipeInputs(worker={"train_ids": train, "heldout_ids": heldout},
                            kept={"unigram_bits": unigram})

    def recipe_score(self, obs, case_id: str, metric: str | None = None) -> float:
        """What calibration records for a recipe case: held-out bits per character."""
        return float(obs.trained[case_id]["bits_per_char"])


ASSIGNMENT = CharLM()
