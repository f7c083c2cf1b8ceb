# ruff: noqa: E501 - the reference's source lines, quoted as they are
"""Issue 21: correct code in every common idiom gets full marks, and the public check and the
grader read a model's structure the same way (``seqlab.checks.structure``)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from autograder.grader import grade
from tests.submissions import edit, submission

REPO = Path(__file__).resolve().parent.parent
SENTIMENT = (REPO / "solutions" / "sentiment.py").read_text()

CNN_BRANCHES = (
    "    for size in filter_sizes:\n"
    "        h = keras.layers.Conv1D(num_filters, size, activation=\"relu\", name=f\"conv_{size}\")(x)\n"
    "        pooled.append(keras.layers.GlobalMaxPooling1D(name=f\"pool_{size}\")(h))   # (batch, F)\n")
CNN_HEAD = (
    "    x = keras.layers.Dropout(dropout, name=\"dropout\")(x)\n"
    "    outputs = keras.layers.Dense(1, activation=\"sigmoid\", name=\"output\")(x)\n")
# Kim's branches and head as nested Sequential blocks inside a functional model.
NESTED_CNN = edit(SENTIMENT, (CNN_BRANCHES, (
    "    for size in filter_sizes:\n"
    "        branch = keras.Sequential([keras.layers.Conv1D(num_filters, size, activation=\"relu\"),\n"
    "                                   keras.layers.GlobalMaxPooling1D()], name=f\"branch_{size}\")\n"
    "        pooled.append(branch(x))\n")), (CNN_HEAD, (
    "    outputs = keras.Sequential([keras.layers.Dropout(dropout),\n"
    "                                keras.layers.Dense(1, activation=\"sigmoid\")], name=\"head\")(x)\n")))
# keras.io's "Using pre-trained word embeddings": the matrix as a Constant initializer.
EMBEDDING_SITE = ("    embedding = keras.layers.Embedding(vocab_size, dim, trainable=trainable_embeddings,\n"
                  "                                       name=\"embedding\")\n")
CONSTANT = ("    embedding = keras.layers.Embedding(\n"
            "        vocab_size, dim, trainable=trainable_embeddings, name=\"embedding\",\n"
            "        embeddings_initializer=keras.initializers.Constant(embedding_matrix))\n")
CONSTANT_INIT = SENTIMENT.replace(EMBEDDING_SITE, CONSTANT).replace(
    "    embedding.set_weights([np.asarray(embedding_matrix, dtype=np.float32)])\n", "")


def _lost(result) -> dict[str, str]:
    return {t.name: t.message for t in result.tests if t.points < t.max_points}


def test_one_structural_view_for_checks_and_grader():
    """The grader's layer view is the public checks' (one function), nested blocks seen
    through: the nested CNN's Conv1D layers and final Dense are found."""
    import keras

    from autograder import keras_inspect
    from seqlab.checks import keras_tools, structure

    assert keras_inspect.flat_layers is structure.flat_layers
    namespace: dict = {}
    exec(compile(NESTED_CNN, "sentiment.py", "exec"), namespace)
    matrix = np.random.default_rng(0).normal(size=(12, 5)).astype("float32")
    model = namespace["build_cnn_classifier"](matrix, filter_sizes=(2, 3), num_filters=4)
    flat = [type(layer).__name__ for layer in structure.flat_layers(model)]
    assert flat.count("Conv1D") == 2 and flat[-1] == "Dense"
    assert [type(x).__name__ for x in keras_tools.all_layers(model)] == flat
    assert isinstance(model.layers[-1], keras.Sequential)


def test_a_constant_initializer_matrix_is_not_saved_in_the_config(tmp_path):
    """Full profile size (20,000 x 300): the saved config stays small, the weights keep the
    matrix, and the grader's bounded config check is untouched."""
    from autograder.child import _drop_constant_values

    namespace: dict = {}
    exec(compile(CONSTANT_INIT, "sentiment.py", "exec"), namespace)
    matrix = np.random.default_rng(0).normal(size=(20_000, 300)).astype("float32")
    model = namespace["build_rnn_classifier"](matrix, units=4)
    _drop_constant_values(model)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert archive.getinfo("config.json").file_size < 64 * 1024
    from autograder.keras_inspect import load

    reloaded = load(str(tmp_path / "m.keras"))
    assert np.array_equal(reloaded.get_layer("embedding").get_weights()[0], matrix)


CELLS = (REPO / "solutions" / "cells.py").read_text()
# The hand-built bidirectional classifier the docstring describes: a forward layer and a
# go_backwards one, their final states joined by Concatenate.
HAND_BUILT_BIDIRECTIONAL = edit(SENTIMENT, (
    "    recurrent = layer_class(units, name=cell)                  # final state only\n"
    "    if bidirectional:\n"
    "        recurrent = keras.layers.Bidirectional(recurrent, name=f\"bi_{cell}\")\n"
    "    x = recurrent(x)                                           # (batch, u) or (batch, 2u)\n",
    "    if bidirectional:\n"
    "        forward = layer_class(units, name=f\"forward_{cell}\")(x)\n"
    "        backward = layer_class(units, go_backwards=True, name=f\"backward_{cell}\")(x)\n"
    "        x = keras.layers.Concatenate(name=\"both_states\")([forward, backward])\n"
    "    else:\n"
    "        x = layer_class(units, name=cell)(x)\n"))
# A subclassed keras.Model: correct Python, but the grader cannot reload it without running
# the student's code, so both sides refuse it with the reload rule's sentence.
SUBCLASSED = edit(SENTIMENT, (
    "import numpy as np\n", "import numpy as np\n\n\nclass Classifier(keras.Model):\n"
    "    \"\"\"A functional model under the student's own class name.\"\"\"\n"),
    ("    model = keras.Model(inputs, outputs, name=", "    model = Classifier(inputs, outputs, name="))
# lstm_step's (h, c) as a NamedTuple: a tuple, so the contract holds.
NAMED_TUPLE = edit(CELLS, (
    "import numpy as np\n", "from typing import NamedTuple\n\nimport numpy as np\n\n\n"
    "class LSTMState(NamedTuple):\n    h: np.ndarray\n    c: np.ndarray\n"),
    ("    h = o * np.tanh(c)\n    return h, c\n", "    h = o * np.tanh(c)\n"
                                                "    return LSTMState(h, c)\n"))
SENTIMENT_MODELS = ("build_rnn_classifier", "build_cnn_classifier")
# style: (module, source, functions, the sentence both sides refuse with, or None)
STYLES = {
    "nested_cnn": ("sentiment", NESTED_CNN, SENTIMENT_MODELS, None),
    "constant_initializer": ("sentiment", CONSTANT_INIT, SENTIMENT_MODELS, None),
    "hand_built_bidirectional": ("sentiment", HAND_BUILT_BIDIRECTIONAL,
                                 ("build_rnn_classifier",), None),
    "named_tuple_returns": ("cells", NAMED_TUPLE, ("lstm_step", "lstm_sequence"), None),
    "subclassed_model": ("sentiment", SUBCLASSED, ("build_rnn_classifier",), "Classifier"),
}


@pytest.mark.slow
@pytest.mark.parametrize("style", list(STYLES))
def test_check_and_grader_agree_on_every_style(tmp_path, style):
    """Every structural rule, both sides: the public check() and the grader give each style
    the same verdict, full marks for correct idioms, and for a refused style the same
    sentence (the rule in the grader's words) on every row and test it costs."""
    from autograder.registry import REGISTRY
    from seqlab.checks import check
    from seqlab.checks.structure import reload_sentence

    module, source, functions, refused = STYLES[style]
    folder = submission(tmp_path, f"{module}.py", source)
    sentence = reload_sentence([refused]) if refused else None
    public_failures = []
    for function in functions:
        report = check(function, folder / f"{module}.py", show=False)
        public_failures += [row.message for row in report.rows if not row.passed]
    result = grade(folder, assignment=module, public_only=True, case_timeout=60,
                   functions=functions)
    lost = _lost(result)
    if sentence is None:
        assert not public_failures and result.tests and not lost, (public_failures, lost)
        assert result.score == sum(c.points for c in REGISTRY[module]
                                   if c.public and c.function in functions)
        return
    assert public_failures and lost, (public_failures, lost)
    assert all(sentence in message for message in public_failures), public_failures
    assert all(sentence in message for message in lost.values()), lost
    assert result.max_score == sum(c.points for c in REGISTRY[module]
                                   if c.public and c.function in functions)


def test_the_reload_rule_is_one_sentence_on_both_sides():
    """The public check reads a live model, the grader its saved config: both name the
    same classes in the same sentence."""
    import keras

    from autograder.keras_inspect import RELOAD_RULE as GRADERS
    from seqlab.checks.core import Mismatch
    from seqlab.checks.keras_tools import expect_model
    from seqlab.checks.structure import RELOAD_RULE, reload_problem

    assert GRADERS is RELOAD_RULE

    class Scale(keras.layers.Layer):
        def call(self, x):
            return 2 * x

    inputs = keras.Input((3,))
    lam = keras.layers.Lambda(lambda x: x + 1)(Scale()(inputs))
    model = keras.Model(inputs, keras.Sequential([keras.layers.Dense(1)])(lam))
    assert reload_problem(model) == f"it uses Lambda, Scale; {RELOAD_RULE}"
    with pytest.raises(Mismatch, match="it uses Lambda, Scale; the grader reloads"):
        expect_model(model, "f()")
    plain = keras.Sequential([keras.Input((4, 3)), keras.layers.Bidirectional(
        keras.layers.GRU(2)), keras.layers.Dense(1)])
    assert reload_problem(plain) is None  # built-in layers, wrappers' halves included


def _graph_constant_model(numbers: int):
    """A classifier whose output adds ``ids-embedding @ W`` with ``W`` a NumPy constant of
    ``numbers`` numbers: weights trained elsewhere riding in the graph, not in a layer."""
    import keras

    dim = numbers
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(12, dim)(inputs))
    readout = np.random.default_rng(0).normal(size=(dim, 1)).astype("float32")
    logits = keras.ops.matmul(x, readout) + keras.layers.Dense(1)(x)
    model = keras.Model(inputs, keras.layers.Activation("sigmoid")(logits))
    model.compile(loss="binary_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("numbers, refused", [(300, True), (100, False)])
def test_graph_constants_get_the_same_verdict_and_sentence(tmp_path, numbers, refused):
    """The public check (expect_model) and the grader (keras_inspect.load) refuse a graph
    carrying more than CONSTANT_LIMIT constant numbers with one sentence, and both accept a
    small one."""
    from autograder.keras_inspect import Rule, load
    from seqlab.checks.core import Mismatch
    from seqlab.checks.keras_tools import expect_model
    from seqlab.checks.structure import CONSTANT_RULE

    model = _graph_constant_model(numbers)
    model.save(tmp_path / "m.keras")
    public, grader = None, None
    try:
        expect_model(model, "build_rnn_classifier(matrix)")
    except Mismatch as error:
        public = error.message.removeprefix("build_rnn_classifier(matrix): ")
    try:
        load(str(tmp_path / "m.keras"))
    except Rule as error:
        grader = str(error)
    assert public == grader
    assert (public is not None) == refused
    if refused:
        assert CONSTANT_RULE in public and f"{numbers:,} constant numbers" in public


RNN_OUTPUT = "    outputs = keras.layers.Dense(1, activation=\"sigmoid\", name=\"output\")(x)\n"
# Per-token sentiment scores learned elsewhere, looked up by keras.ops.take: a constant of
# vocab_size numbers in the graph that fresh_model's re-initialisation never touches.
GRAPH_CONSTANT_ATTACK = edit(SENTIMENT, ("    x = recurrent(x)", "    x = recurrent(x)\n"
    "    table = np.linspace(-1, 1, vocab_size).astype(\"float32\")  # 'trained' elsewhere\n"
    "    nudge = keras.ops.mean(keras.ops.take(table, inputs), axis=1, keepdims=True)"),
    (RNN_OUTPUT, "    outputs = keras.layers.Activation(\"sigmoid\")(\n"
                 "        keras.layers.Dense(1, name=\"output\")(x) + nudge)\n"))


@pytest.mark.slow
def test_graph_constants_earn_no_accuracy_points(tmp_path):
    """Constants ride past fresh_model's re-initialisation (issue 21's example scored
    holdout accuracy 1.000, reference 0.750-0.787); the accuracy check now scores 0 and
    names the rule in one sentence."""
    from seqlab.checks.structure import CONSTANT_RULE

    folder = submission(tmp_path, "sentiment.py", GRAPH_CONSTANT_ATTACK)
    result = grade(folder, assignment="sentiment", case_timeout=60,
                   functions=("build_rnn_classifier",))
    accuracy = next(t for t in result.tests if t.name.startswith("accuracy: GRU"))
    assert accuracy.points == 0 and CONSTANT_RULE in accuracy.message, accuracy.message


@pytest.mark.slow
def test_a_cnn_compile_mistake_costs_the_compile_check_not_the_embedding(tmp_path):
    """Issue 21: the CNN's final-layer and loss rule was reported under "embedding starts
    from the matrix"; it is its own check now, on both sides, and the embedding check holds."""
    source = SENTIMENT.replace('loss="binary_crossentropy"', 'loss="mse"')
    cnn_only = source.count('loss="mse"') == 2 and source.replace(
        'loss="mse"', 'loss="binary_crossentropy"', 1)
    assert cnn_only, "the reference changed: two compile calls expected"
    folder = submission(tmp_path, "sentiment.py", cnn_only)
    from seqlab.checks import check

    report = check("build_cnn_classifier", folder / "sentiment.py", show=False)
    assert [row.name for row in report.rows if not row.passed] == [
        "compiled with binary cross-entropy and accuracy"]
    result = grade(folder, assignment="sentiment", public_only=True, case_timeout=60,
                   functions=("build_cnn_classifier",))
    assert list(_lost(result)) == ["build_cnn_classifier: compiled for binary classification"]
    assert "expected loss binary_crossentropy, got" in next(iter(_lost(result).values()))
