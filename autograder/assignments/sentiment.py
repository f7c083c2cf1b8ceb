"""The ``sentiment`` assignment: many-to-one RNN and Kim CNN classifiers (labs 3-5).

Every structural check judges models the grader built by calling the student's functions
with small random matrices, saved by the child and re-loaded here by the trusted worker.
Accuracy checks train the student's architecture with the grader's own fixed recipe and
score holdout predictions against bands calibrated from the reference solution.
"""

from __future__ import annotations

import numpy as np

from autograder.assignments import Assignment, Case, RecipeInputs
from autograder.assignments.fundamentals_reference import signature_check
from autograder.assignments.sentiment_inputs import (
    encoded_splits,
    expected_embedding_matrix,
    submitted_model_inputs,
)
from autograder.metrics import band_fraction, binary_accuracy
from autograder.registry import check, failed, partial, passed, skipped

NAME = "sentiment"
FILENAME = "sentiment.py"
FUNCTIONS = {
    "build_rnn_classifier": [("embedding_matrix", None), ("cell", "'gru'"), ("units", "64"),
                             ("bidirectional", "False"), ("trainable_embeddings", "False")],
    "build_cnn_classifier": [("embedding_matrix", None), ("filter_sizes", "(3, 4, 5)"),
                             ("num_filters", "100"), ("dropout", "0.5"),
                             ("trainable_embeddings", "False")],
    "build_embedding_matrix": [("vocab", None), ("glove", None), ("seed", "0")],
}
SMALL_VOCAB, SMALL_DIM = 40, 6
RNN_PROBES = ((1, 1), (4, 7), (3, 33))
CNN_PROBES = ((1, 5), (4, 12), (3, 33))
MATRIX_WORDS = ("the", "good", "movie", "qwzxnotaword", "cliche-ridden", "brilliant")
RNN_CLASSES = {"rnn": "SimpleRNN", "gru": "GRU", "lstm": "LSTM"}
SUBMITTED_MODEL_DATASET = "imdb"  # lab 4's model.keras: IMDB, full profile, seed-0 split

# Accuracy recipes: data, model call and training budget. Bands live in bands.json.
RECIPES = {
    "gru_imdb": dict(dataset="imdb", epochs=4, batch_size=64, learning_rate=1e-3, seed=0),
    "cnn_rotten_tomatoes": dict(dataset="rotten_tomatoes", epochs=4, batch_size=64,
                                learning_rate=1e-3, seed=0),
    # Only for `calibrate --profile full`: lab 4's model (GRU, fine-tuned GloVe) trained the
    # way the lab trains it (early stopping on validation) on the full data. Its holdout
    # accuracies set the band for the model.keras a student submits.
    "gru_imdb_full": dict(dataset="imdb", profile="full", epochs=8, batch_size=64,
                          learning_rate=1e-3, patience=2, seed=0),
}


def _rnn(case_id, **kwargs):
    return Case(case_id, "build_rnn_classifier", kwargs, array="small", args_text="matrix",
                probes=RNN_PROBES)


def _cnn(case_id, **kwargs):
    return Case(case_id, "build_cnn_classifier", kwargs, array="small", args_text="matrix",
                probes=CNN_PROBES)


def _trained(case_id, function, kwargs, recipe):
    """A learning case: built with the recipe's GloVe matrix, then trained by the worker."""
    return Case(case_id, function, kwargs, array=recipe, args_text="glove_matrix",
                recipe=recipe)


CASES = {c.id: c for c in (
    _rnn("gru", cell="gru", units=12),
    _rnn("lstm", cell="lstm", units=10),
    _rnn("rnn", cell="rnn", units=9),
    _rnn("bigru", cell="gru", units=8, bidirectional=True),
    _rnn("bilstm", cell="lstm", units=7, bidirectional=True),
    _rnn("gru_trainable", cell="gru", units=12, trainable_embeddings=True),
    _rnn("rnn_defaults"),
    # Only the hidden check judges these: calls neither the release nor check() makes.
    _rnn("rnn_bidirectional", cell="rnn", units=3, bidirectional=True),
    _rnn("lstm_trainable", cell="lstm", units=5, trainable_embeddings=True),
    _cnn("cnn", filter_sizes=[3, 4, 5], num_filters=6, dropout=0.3),
    _cnn("cnn_single", filter_sizes=[2], num_filters=5, dropout=0.5),
    _cnn("cnn_trainable", filter_sizes=[2, 3], num_filters=4, trainable_embeddings=True),
    _cnn("cnn_defaults"),
    Case("matrix_a", "build_embedding_matrix", {"seed": 3}, kind="call_with_objects",
         args_text="vocab, glove", vocab_words=MATRIX_WORDS),
    Case("matrix_b", "build_embedding_matrix", {"seed": 3}, kind="call_with_objects",
         args_text="vocab, glove", vocab_words=MATRIX_WORDS),
    _trained("acc_gru", "build_rnn_classifier", {"cell": "gru"}, "gru_imdb"),
    _trained("acc_cnn", "build_cnn_classifier", {}, "cnn_rotten_tomatoes"),
    _trained("full_gru", "build_rnn_classifier", {"cell": "gru", "trainable_embeddings": True},
             "gru_imdb_full"),
)}
HIDDEN_RNN_CASES = ("rnn_bidirectional", "lstm_trainable")
# The recipe whose calibrated band scores a submitted model.keras (bands.json "full").
SUBMITTED_MODEL_RECIPE = "gru_imdb_full"


def small_matrix() -> np.ndarray:
    """The random ``(40, 6)`` float32 matrix the structural cases are built with."""
    return np.random.default_rng(1).normal(size=(SMALL_VOCAB, SMALL_DIM)).astype(np.float32)


# ---------------------------------------------------------------- closed-form counts
def rnn_params(cell: str, units: int, dim: int, vocab: int, bidirectional: bool) -> int:
    """Embedding + recurrent layer(s) + Dense(1), as Keras counts them."""
    per_direction = {"rnn": units * (dim + units + 1),
                     "gru": 3 * units * (dim + units + 2),   # reset_after=True: two biases
                     "lstm": 4 * units * (dim + units + 1)}[cell]
    directions = 2 if bidirectional else 1
    return vocab * dim + directions * per_direction + directions * units + 1


def cnn_params(filter_sizes, num_filters: int, dim: int, vocab: int) -> int:
    convs = sum(k * dim * num_filters + num_filters for k in filter_sizes)
    return vocab * dim + convs + len(filter_sizes) * num_filters + 1


def _kwargs(case: Case) -> dict:
    rnn = {"cell": "gru", "units": 64, "bidirectional": False, "trainable_embeddings": False}
    cnn = {"filter_sizes": [3, 4, 5], "num_filters": 100, "dropout": 0.5,
           "trainable_embeddings": False}
    return {**(rnn if case.function == "build_rnn_classifier" else cnn), **case.kwargs}


def _recurrent_layers(model: dict) -> list[dict]:
    found = []
    for layer in model["layers"]:
        found += layer.get("inner", [layer]) if layer["class"] == "Bidirectional" else [layer]
    return [lay for lay in found if lay["class"] in ("SimpleRNN", "GRU", "LSTM")]


def _classes(model: dict) -> list[str]:
    return [layer["class"] for layer in model["layers"]]


def _directions(model: dict) -> str:
    """How the model reads the sequence: ``"forward"`` (one layer, left to right), ``"both"``
    (a ``Bidirectional`` wrapper, or by hand as the docstring describes: a forward layer and a
    ``go_backwards=True`` one, their final states joined by ``Concatenate``) or a phrase
    saying what it does instead."""
    wrapped = [lay for lay in model["layers"] if lay["class"] == "Bidirectional"]
    plain = [lay for lay in model["layers"] if lay["class"] in ("SimpleRNN", "GRU", "LSTM")]
    if len(wrapped) == 1 and not plain:
        return "both" if wrapped[0]["config"].get("merge_mode", "concat") == "concat" else \
            f"a Bidirectional wrapper with merge_mode={wrapped[0]['config'].get('merge_mode')!r}"
    backwards = sorted(bool(lay["config"].get("go_backwards")) for lay in plain)
    if wrapped:
        return f"{len(wrapped)} Bidirectional wrapper(s) and {len(plain)} other recurrent layer(s)"
    if backwards == [False]:
        return "forward"
    if backwards == [True]:
        return "one layer reading backwards only (go_backwards=True)"
    if backwards == [False, True]:
        return "both" if "Concatenate" in _classes(model) else \
            "a forward and a backward layer whose final states are not concatenated"
    return f"{len(plain)} recurrent layers"


# ---------------------------------------------------------------- checks
signature_check(NAME, FILENAME, FUNCTIONS, points=4)


def _check_probes(obs, case_ids) -> list[str]:
    problems = []
    for case_id in case_ids:
        for probe in obs.model(case_id)["probes"]:
            where = f"{obs.call(case_id)} on input ({probe['batch']}, {probe['length']})"
            if "error" in probe:
                problems.append(f"{where} raised {probe['error']}")
            elif probe["shape"] != [probe["batch"], 1]:
                problems.append(f"{where}: expected output shape ({probe['batch']}, 1), got "
                                f"{tuple(probe['shape'])}")
            elif not probe["finite"] or probe["min"] < 0 or probe["max"] > 1:
                problems.append(f"{where}: expected probabilities in [0, 1], got values from "
                                f"{probe['min']:.3g} to {probe['max']:.3g} (sigmoid output?)")
    return problems


@check("build_rnn_classifier: output (batch, 1) of probabilities for any length", points=8,
       assignment=NAME, function="build_rnn_classifier",
       needs=("gru", "lstm", "rnn", "bigru"))
def rnn_outputs(obs):
    problems = _check_probes(obs, ("gru", "lstm", "rnn", "bigru"))
    if problems:
        return failed(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1
                                     else ""))
    return passed("shape (batch, 1), values in [0, 1] for batch sizes 1-4 and T = 1, 7, 33")


@check("build_rnn_classifier: the requested recurrent layer", points=8, assignment=NAME,
       function="build_rnn_classifier",
       needs=("rnn", "gru", "lstm", "bigru", "bilstm", "rnn_defaults"))
def rnn_layer_types(obs):
    problem = _layer_problem(obs, ("rnn", "gru", "lstm", "bigru", "bilstm", "rnn_defaults"))
    if problem:
        return problem
    return passed("SimpleRNN, GRU and LSTM as asked, Bidirectional only when asked")


def _layer_problem(obs, case_ids):
    """The first case whose recurrent layers are not what the call asked for, as a failure."""
    for case_id in case_ids:
        kwargs = _kwargs(obs.cases[case_id])
        model = obs.model(case_id)
        want = RNN_CLASSES[kwargs["cell"]]
        layers = _recurrent_layers(model)
        got = [lay["class"] for lay in layers]
        call = obs.call(case_id)
        if not layers:
            return failed(f"{call}: expected a {want} layer, got no recurrent layer "
                          f"(layers: {', '.join(_classes(model))})")
        if set(got) != {want}:
            return failed(f"{call}: expected {want}, got {', '.join(got)}")
        directions = _directions(model)
        if kwargs["bidirectional"] and directions != "both":
            return failed(f"{call}: expected a second {want} reading the sequence backwards, "
                          "its final state concatenated with the forward one (Bidirectional, "
                          f"or go_backwards=True and Concatenate), got {directions}")
        if not kwargs["bidirectional"] and directions != "forward":
            return failed(f"{call}: expected one {want} reading left to right, got {directions}")
        units = {lay["config"].get("units") for lay in layers}
        if units != {kwargs["units"]}:
            return failed(f"{call}: expected {kwargs['units']} units, got {sorted(units)}")
        if any(lay["config"].get("return_sequences") for lay in layers):
            return failed(f"{call}: the recurrent layer returns the whole sequence; a "
                          "many-to-one classifier needs only the final state")
    return None


@check("build_rnn_classifier: parameter count", points=6, assignment=NAME,
       function="build_rnn_classifier",
       needs=("rnn", "gru", "lstm", "bigru", "bilstm", "rnn_defaults"))
def rnn_parameter_count(obs):
    for case_id in ("rnn", "gru", "lstm", "bigru", "bilstm", "rnn_defaults"):
        kwargs = _kwargs(obs.cases[case_id])
        want = rnn_params(kwargs["cell"], kwargs["units"], SMALL_DIM, SMALL_VOCAB,
                          kwargs["bidirectional"])
        got = obs.model(case_id)["params"]
        if got != want:
            return failed(f"{obs.call(case_id)} with a {SMALL_VOCAB}x{SMALL_DIM} matrix: "
                          f"expected {want:,} parameters (embedding + recurrent layer + "
                          f"Dense(1)), got {got:,}")
    return passed("every cell, direction and size has the closed-form parameter count")


@check("build_rnn_classifier: further cases (other cells, sizes and directions)", points=2,
       assignment=NAME, function="build_rnn_classifier", needs=HIDDEN_RNN_CASES,
       visibility="after_published")
def rnn_further_cases(obs):
    problem = _layer_problem(obs, HIDDEN_RNN_CASES)
    if problem:
        return problem
    for case_id in HIDDEN_RNN_CASES:
        kwargs = _kwargs(obs.cases[case_id])
        want = rnn_params(kwargs["cell"], kwargs["units"], SMALL_DIM, SMALL_VOCAB,
                          kwargs["bidirectional"])
        if obs.model(case_id)["params"] != want:
            return failed(f"{obs.call(case_id)} with a {SMALL_VOCAB}x{SMALL_DIM} matrix: "
                          f"expected {want:,} parameters, got {obs.model(case_id)['params']:,}")
    embedding = _embedding_problem(obs, "lstm_trainable")
    if embedding:
        return failed(embedding)
    return passed("the layers, parameter counts and trainable embedding the calls ask for")


def _embedding_problem(obs, case_id) -> str | None:
    model = obs.model(case_id)
    emb = model["embedding"]
    call = obs.call(case_id)
    kwargs = _kwargs(obs.cases[case_id])
    if not emb:
        return f"{call}: expected an Embedding layer, got none"
    if emb["count"] != 1:
        return f"{call}: expected one Embedding layer, got {emb['count']}"
    if emb["shape"] != [SMALL_VOCAB, SMALL_DIM]:
        return (f"{call}: expected embedding weights of shape ({SMALL_VOCAB}, {SMALL_DIM}) "
                f"like the matrix, got {tuple(emb['shape'])}")
    if not emb["equal"]:
        return (f"{call}: expected the embedding to start exactly from embedding_matrix, got "
                f"weights that differ by up to {emb['max_abs_diff']:.3g} (set_weights?)")
    want = kwargs["trainable_embeddings"]
    if emb["trainable"] != want:
        return (f"{call}: expected the embedding to be {'trainable' if want else 'frozen'}, "
                f"got {'trainable' if emb['trainable'] else 'frozen'}")
    frozen = 0 if want else SMALL_VOCAB * SMALL_DIM
    if model["params"] - model["trainable_params"] != frozen:
        return (f"{call}: expected {frozen:,} non-trainable parameters, got "
                f"{model['params'] - model['trainable_params']:,}")
    return None


@check("build_rnn_classifier: embedding starts from the matrix, frozen unless asked",
       points=8, assignment=NAME, function="build_rnn_classifier",
       needs=("gru", "gru_trainable", "rnn_defaults"))
def rnn_embedding(obs):
    for case_id in ("gru", "gru_trainable", "rnn_defaults"):
        problem = _embedding_problem(obs, case_id)
        if problem:
            return failed(problem)
    return passed("the embedding equals the matrix; frozen by default, trainable when asked")


@check("build_rnn_classifier: recurrent layers are cuDNN-eligible", points=5, assignment=NAME,
       function="build_rnn_classifier", needs=("gru", "lstm", "bigru", "bilstm"))
def rnn_cudnn(obs):
    rules = [("activation", "tanh"), ("recurrent_activation", "sigmoid"),
             ("recurrent_dropout", 0.0), ("unroll", False), ("use_bias", True)]
    for case_id in ("gru", "lstm", "bigru", "bilstm"):
        for layer in _recurrent_layers(obs.model(case_id)):
            config = layer["config"]
            for key, want in rules:
                if config.get(key) != want:
                    return failed(f"{obs.call(case_id)}: {layer['class']} has {key}="
                                  f"{config.get(key)!r}, but cuDNN needs {key}={want!r}; Keras "
                                  "would silently fall back to the slow kernel on a GPU")
            if layer["class"] == "GRU" and config.get("reset_after") is not True:
                return failed(f"{obs.call(case_id)}: GRU has reset_after="
                              f"{config.get('reset_after')!r}, but cuDNN needs reset_after=True")
            if config.get("use_cudnn") is False:
                return failed(f"{obs.call(case_id)}: {layer['class']} has use_cudnn=False")
    return passed("tanh/sigmoid, no recurrent dropout, not unrolled, biases, GRU reset_after")


@check("build_rnn_classifier: compiled for binary classification", points=3, assignment=NAME,
       function="build_rnn_classifier", needs=("gru",))
def rnn_compiled(obs):
    return _compiled(obs, "gru")


def _compiled(obs, case_id):
    model = obs.model(case_id)
    call = obs.call(case_id)
    last = model["layers"][-1]
    if not model["compiled"]:
        return failed(f"{call}: expected a compiled model, got an uncompiled one")
    if "binary_crossentropy" not in str(model["loss"]).lower().replace(" ", "_"):
        return failed(f"{call}: expected loss binary_crossentropy, got {model['loss']}")
    if last["class"] != "Dense" or last["config"].get("units") != 1 or \
            last["config"].get("activation") != "sigmoid":
        return failed(f"{call}: expected a final Dense(1, activation='sigmoid'), got "
                      f"{last['class']} with {last['config']}")
    return passed("binary cross-entropy on one sigmoid unit")


@check("build_cnn_classifier: output (batch, 1) of probabilities", points=6, assignment=NAME,
       function="build_cnn_classifier", needs=("cnn", "cnn_single"))
def cnn_outputs(obs):
    problems = _check_probes(obs, ("cnn", "cnn_single"))
    if problems:
        return failed(problems[0])
    return passed("shape (batch, 1), values in [0, 1] for T from the largest region size up")


@check("build_cnn_classifier: one Conv1D branch per region size, max-pooled, dropout",
       points=8, assignment=NAME, function="build_cnn_classifier",
       needs=("cnn", "cnn_single", "cnn_defaults"))
def cnn_structure(obs):
    for case_id in ("cnn", "cnn_single", "cnn_defaults"):
        kwargs = _kwargs(obs.cases[case_id])
        model = obs.model(case_id)
        call = obs.call(case_id)
        convs = [lay for lay in model["layers"] if lay["class"] == "Conv1D"]
        sizes = sorted(lay["config"]["kernel_size"][0] for lay in convs)
        want_sizes = sorted(kwargs["filter_sizes"])
        if sizes != want_sizes:
            return failed(f"{call}: expected one Conv1D per region size {want_sizes}, got "
                          f"kernel sizes {sizes}")
        filters = {lay["config"]["filters"] for lay in convs}
        if filters != {kwargs["num_filters"]}:
            return failed(f"{call}: expected {kwargs['num_filters']} filters per Conv1D, got "
                          f"{sorted(filters)}")
        pools = _classes(model).count("GlobalMaxPooling1D")
        if pools != len(want_sizes):
            return failed(f"{call}: expected {len(want_sizes)} GlobalMaxPooling1D layers "
                          f"(max over time per branch), got {pools}")
        rates = [lay["config"]["rate"] for lay in model["layers"] if lay["class"] == "Dropout"]
        if rates != [kwargs["dropout"]]:
            return failed(f"{call}: expected one Dropout({kwargs['dropout']}), got "
                          f"{'rates ' + str(rates) if rates else 'none'}")
        if _recurrent_layers(model):
            return failed(f"{call}: expected no recurrent layers in the CNN")
    return passed("a Conv1D + GlobalMaxPooling1D branch per region size, then Dropout")


@check("build_cnn_classifier: parameter count", points=6, assignment=NAME,
       function="build_cnn_classifier", needs=("cnn", "cnn_single", "cnn_defaults"))
def cnn_parameter_count(obs):
    for case_id in ("cnn", "cnn_single", "cnn_defaults"):
        kwargs = _kwargs(obs.cases[case_id])
        want = cnn_params(kwargs["filter_sizes"], kwargs["num_filters"], SMALL_DIM,
                          SMALL_VOCAB)
        got = obs.model(case_id)["params"]
        if got != want:
            return failed(f"{obs.call(case_id)} with a {SMALL_VOCAB}x{SMALL_DIM} matrix: "
                          f"expected {want:,} parameters, got {got:,}")
    return passed("embedding + one Conv1D per size + Dense(1), as the closed form says")


@check("build_cnn_classifier: embedding starts from the matrix, frozen unless asked",
       points=3, assignment=NAME, function="build_cnn_classifier",
       needs=("cnn", "cnn_trainable"))
def cnn_embedding(obs):
    for case_id in ("cnn", "cnn_trainable"):
        problem = _embedding_problem(obs, case_id)
        if problem:
            return failed(problem)
    return passed("the embedding equals the matrix; frozen by default, trainable when asked")


@check("build_cnn_classifier: compiled for binary classification", points=3, assignment=NAME,
       function="build_cnn_classifier", needs=("cnn",))
def cnn_compiled(obs):
    return _compiled(obs, "cnn")


@check("build_embedding_matrix: GloVe rows, zero padding row, seeded", points=6,
       assignment=NAME, function="build_embedding_matrix", needs=("matrix_a", "matrix_b"))
def embedding_matrix(obs):
    got, again = obs.arrays["matrix_a"], obs.arrays["matrix_b"]
    expected = obs.expected["matrix"]
    call = obs.call("matrix_a")
    if got.shape != expected["shape"]:
        return failed(f"{call} for {len(MATRIX_WORDS) + 2} ids: expected shape "
                      f"{expected['shape']}, got {got.shape}")
    if not np.issubdtype(got.dtype, np.floating):
        return failed(f"{call}: expected floats, got dtype {got.dtype}")
    if np.any(got[0] != 0):
        return failed(f"{call}: expected row 0 (padding) to be zeros, got {got[0][:4]}...")
    for token_id, vector in expected["known"].items():
        if not np.allclose(got[token_id], vector, atol=1e-6):
            word = expected["words"][token_id]
            return failed(f"{call}: expected row {token_id} ({word!r}) to equal its GloVe "
                          f"vector, got a different vector")
    unknown = got[expected["unknown_ids"]]
    if not np.all(np.isfinite(unknown)) or np.abs(unknown).max() > 5:
        return failed(f"{call}: expected small random rows for unknown words, got values up "
                      f"to {np.abs(unknown).max():.3g}")
    if np.allclose(unknown, 0):
        return failed(f"{call}: expected small random rows for unknown words, got zeros")
    if not np.array_equal(got, again):
        return failed(f"{call} twice with the same seed gave different matrices: seed the "
                      "random generator with `seed`")
    return passed("zeros for padding, GloVe for known words, seeded random for the rest")


def _accuracy(obs, case_id, recipe):
    result = obs.trained[case_id]
    labels = obs.labels[recipe]
    case = obs.cases[case_id]
    built = result["built_as"]
    vocab, dim = built["embedding"].get("shape") or (0, 0)
    kwargs = _kwargs(case)
    if case.function == "build_rnn_classifier":
        want = rnn_params(kwargs["cell"], kwargs["units"], dim, vocab, kwargs["bidirectional"])
    else:
        want = cnn_params(kwargs["filter_sizes"], kwargs["num_filters"], dim, vocab)
    if not built["embedding"].get("equal") or built["params"] != want:
        return failed(f"{case.call()} for the accuracy check did not build the contract's "
                      f"model: expected {want:,} parameters and the GloVe matrix as embedding, "
                      f"got {built['params']:,} parameters and "
                      f"{'that' if built['embedding'].get('equal') else 'another'} embedding")
    probabilities = np.asarray(result["probabilities"], dtype=np.float64)
    if probabilities.shape != labels.shape:
        return failed(f"expected {labels.shape[0]} holdout probabilities, got "
                      f"{probabilities.shape[0]}")
    accuracy = binary_accuracy(probabilities, labels)
    band = obs.bands[recipe]
    full, zero = band["full_credit_at"], band["zero_credit_at"]
    epochs = obs.recipes[recipe]["epochs"]
    return partial(band_fraction(accuracy, band),
                   f"holdout accuracy {accuracy:.3f} after the grader's {epochs}-epoch recipe: "
                   f"full credit at {full:.3f} or more, none at {zero:.3f} or less (the "
                   f"reference scores {band['reference_min']:.3f}-{band['reference_max']:.3f})")


@check("accuracy: GRU classifier trained on IMDB (quick recipe)", points=12, assignment=NAME,
       function="build_rnn_classifier", needs=("acc_gru",), timeout=120,
       visibility="after_published")
def gru_accuracy(obs):
    return _accuracy(obs, "acc_gru", "gru_imdb")


@check("accuracy: Kim CNN trained on Rotten Tomatoes (quick recipe)", points=8,
       assignment=NAME, function="build_cnn_classifier", needs=("acc_cnn",), timeout=120,
       visibility="after_published")
def cnn_accuracy(obs):
    return _accuracy(obs, "acc_cnn", "cnn_rotten_tomatoes")


@check("accuracy: your submitted model.keras on the IMDB holdout (full profile)", points=10,
       assignment=NAME, visibility="after_published", scores_submitted_model=True)
def submitted_model(obs):
    if obs.profile != "full":
        return skipped("a submitted model.keras is scored only with --profile full")
    if "model_sha256" not in obs.submitted:
        return failed("expected model.keras (your trained lab 4 IMDB model) in the "
                      "submission, got none")
    band = obs.full_bands.get("submitted_model")
    if band is None:
        return skipped("no full-profile band is calibrated yet: run `python -m autograder "
                       "calibrate --profile full` on a GPU")
    # A TA's private holdout (gradescope --holdout) scores it where given: reviews the
    # student cannot have trained on. The run report below keeps the packaged split.
    hidden = "holdout_prediction" in obs.submitted
    prediction = obs.submitted.get("holdout_prediction" if hidden else "prediction")
    if prediction is None or not prediction.ok:
        why = prediction.message if prediction is not None else "it was not run"
        return failed(f"model.keras could not be loaded or run on token ids (batch, T): {why}")
    probabilities = np.asarray(prediction.data["probabilities"], dtype=np.float64)
    labels = obs.labels["submitted_holdout" if hidden else "submitted_model"]
    if probabilities.shape != labels.shape:
        return failed(f"expected one probability per review ({labels.shape[0]}), got "
                      f"output of shape {tuple(prediction.data['shape'])}")
    accuracy = binary_accuracy(probabilities, labels)
    full, zero = band["full_credit_at"], band["zero_credit_at"]
    which = "private IMDB reviews held out by your TA" if hidden else "IMDB reviews"
    return partial(band_fraction(accuracy, band),
                   f"holdout accuracy {accuracy:.3f} on {labels.shape[0]:,} {which}: full "
                   f"credit at {full:.3f} or more, none at {zero:.3f} or less")


@check("GPU: the grader's training ran on the GPU", points=4, assignment=NAME,
       needs=("acc_gru",), public=False, gpu=True)
def gpu_training(obs):
    result = obs.trained["acc_gru"]
    if result["device"]["platform"] != "gpu":
        return skipped("no GPU is visible to the grader here, so GPU use was not checked")
    if not result["on_accelerator"]:
        return failed(f"a GPU ({result['device']['name']}) is visible but the model's weights "
                      f"were not on it: {result['placement']}")
    return passed(f"{result['placement']}; trained in {result['train_seconds']:.1f} s")


# A run report is the student's own claim. What the grader can re-measure, it does: the
# model.keras the report names must load in the trusted worker (safe_mode) and give, on the
# split lab 4 tests on with SEQLAB_PROFILE=full (IMDB, seed 0; the submitted-model check's
# prediction), the test accuracy the report states (metrics.test.accuracy, Keras' binary
# accuracy: probability > 0.5, as the parent counts it). Where and on what data the model was
# trained stays a claim, so the check says "self-reported".
REPORT_SPLIT = {"dataset": SUBMITTED_MODEL_DATASET, "profile": "full", "seed": 0}
# Predictions are deterministic up to float noise (CPU vs GPU kernels, cuDNN vs the generic
# GRU, the worker's rounding to 6 decimals), which flips only reviews scored within ~1e-4 of
# 0.5: a handful of the 4,981. 0.005 (about 25 reviews) is well above that noise and well
# below any difference worth reporting; the reported number earns nothing itself (the
# accuracy points come from the grader's own measurement).
REPORT_TOLERANCE = 0.005


@check("self-reported: run report names a GPU and matches model.keras", points=4,
       assignment=NAME, public=False, reads_submitted_model=True)
def run_report(obs):
    report, model_sha = obs.submitted.get("report"), obs.submitted.get("model_sha256")
    if report is None:
        return skipped("no run report was submitted (optional: submit run_report.json and "
                       "model.keras from your Colab GPU run)")
    if not isinstance(report, dict) or not isinstance(report.get("device"), dict):
        return failed("run_report.json is not a seqlab run report (no 'device' field)")
    device = report["device"]
    if device.get("platform") != "gpu":
        return failed(f"expected the run report to name a GPU, got platform "
                      f"{device.get('platform')!r} ({device.get('name')!r})")
    if model_sha is None:
        return failed("the run report names a model, but model.keras was not submitted")
    if report.get("weights_sha256") != model_sha:
        return failed(f"expected the report's weights_sha256 to match model.keras, got "
                      f"{str(report.get('weights_sha256'))[:12]}... vs {model_sha[:12]}...")
    if obs.profile != "full":
        return skipped("a run report is checked only with --profile full, where the grader "
                       "re-measures model.keras on the full IMDB test split the report was "
                       "scored on")
    data = report.get("data") if isinstance(report.get("data"), dict) else {}
    stated = {k: data[k] for k in REPORT_SPLIT if k in data}
    if any(stated[k] != REPORT_SPLIT[k] for k in stated):
        said = ", ".join(f"{k} {v!r}" for k, v in stated.items())
        return failed(f"the report's metrics were measured on {said}, but the grader "
                      "re-measures only on lab 4's split (dataset 'imdb', profile 'full', seed "
                      "0): train and save with SEQLAB_PROFILE=full and SEED = 0")
    prediction = obs.submitted.get("prediction")
    if prediction is None or not prediction.ok:
        why = prediction.message if prediction is not None else "it was not run"
        return failed(f"model.keras does not load or run in the grader ({why}), so the report "
                      "describes no model the grader can check")
    reported = ((report.get("metrics") or {}).get("test") or {}).get("accuracy")
    if isinstance(reported, bool) or not isinstance(reported, (int, float)) or \
            not np.isfinite(reported):
        return failed(f"expected the report to state its test accuracy (metrics.test.accuracy,"
                      f" from train(..., test_data=...)), got {reported!r}")
    labels = obs.labels["submitted_model"]
    probabilities = np.asarray(prediction.data["probabilities"], dtype=np.float64)
    if probabilities.shape != labels.shape:
        return failed(f"expected one probability per review ({labels.shape[0]}), got output "
                      f"of shape {tuple(prediction.data['shape'])}")
    samples = data.get("samples")
    samples = samples.get("test") if isinstance(samples, dict) else None
    if samples is not None and samples != labels.shape[0]:
        return failed(f"the report's test accuracy is on {samples} reviews, but lab 4's full "
                      f"IMDB test split has {labels.shape[0]:,}: train and save with "
                      "SEQLAB_PROFILE=full")
    measured = binary_accuracy(probabilities, labels)
    if not abs(measured - reported) <= REPORT_TOLERANCE:
        return failed(f"the report says test accuracy {reported:.3f}, the grader measured "
                      f"{measured:.3f} on the same reviews ({labels.shape[0]:,} IMDB test "
                      f"reviews, tolerance {REPORT_TOLERANCE}): model.keras is not the model "
                      "the report describes")
    return passed(f"self-reported: trained on {device.get('name')} (the report's claim, not "
                  f"verified); the grader re-measured test accuracy {measured:.3f} on the same "
                  f"{labels.shape[0]:,} reviews (the report says {reported:.3f}) and model.keras "
                  "has the report's sha256")


class Sentiment(Assignment):
    NAME, FILENAME, FUNCTIONS, CASES, RECIPES = NAME, FILENAME, FUNCTIONS, CASES, RECIPES
    SUBMITTED_MODEL_RECIPE = SUBMITTED_MODEL_RECIPE
    SUBMITTED_MODEL_DATASET = SUBMITTED_MODEL_DATASET
    MATRIX_WORDS = MATRIX_WORDS

    def shared_arrays(self) -> dict[str, np.ndarray]:
        return {"small": small_matrix()}

    def recipe_inputs(self, name: str) -> RecipeInputs:
        """The labs' seed-0 split of the recipe's dataset: the worker gets the training
        split and the test *inputs* (and validation, for early stopping); the test labels
        stay here; the GloVe matrix of the split's vocabulary is shared under the recipe's
        name (the learning case builds its model with it)."""
        recipe = RECIPES[name]
        inputs = encoded_splits(recipe["dataset"], recipe.get("profile", "quick"))
        kept = ("x_train", "y_train", "x_test") + (
            ("x_val", "y_val") if recipe.get("patience") else ())
        return RecipeInputs(worker={key: inputs[key] for key in kept},
                            kept=inputs["y_test"].astype(np.int64),
                            shared={name: inputs["matrix"]})

    def expected(self, case_ids: set[str]) -> dict:
        if not {"matrix_a", "matrix_b"} & case_ids:
            return {}
        return {"matrix": expected_embedding_matrix(MATRIX_WORDS)}

    def submitted_model_inputs(self, holdout):
        return submitted_model_inputs(SUBMITTED_MODEL_DATASET, holdout)

    def worker_task(self, case: Case, files: list[str], *, inputs, recipe=None) -> dict:
        """``train`` (the fixed recipe, from the grader's own initialisation, the recipe's
        GloVe matrix as embedding) or ``inspect`` (layers, parameters, embedding against the
        matrix, outputs on ``case.probes``)."""
        matrix = str(inputs / f"{case.array}.npy")
        if case.recipe:
            return {"id": case.id, "kind": "train", "model": files[0],
                    "data": str(inputs / f"{case.recipe}.npz"), "matrix": matrix,
                    "recipe": recipe, "trainable_embeddings": bool(case.kwargs.get(
                        "trainable_embeddings", False))}  # the contract's say
        return {"id": case.id, "kind": "inspect", "model": files[0], "matrix": matrix,
                "probes": [list(p) for p in case.probes], "timeout": 60}

    def recipe_score(self, obs, case_id: str, metric: str | None = None) -> float:
        """Holdout accuracy."""
        return binary_accuracy(obs.trained[case_id]["probabilities"],
                               obs.labels[obs.cases[case_id].recipe])


ASSIGNMENT = Sentiment()
