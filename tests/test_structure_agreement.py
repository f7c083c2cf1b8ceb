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


@pytest.mark.slow
@pytest.mark.parametrize("style", ["nested_cnn", "constant_initializer"])
def test_every_idiom_gets_full_marks_from_check_and_grader(tmp_path, style):
    from autograder.registry import REGISTRY
    from seqlab.checks import check

    source = {"nested_cnn": NESTED_CNN, "constant_initializer": CONSTANT_INIT}[style]
    folder = submission(tmp_path, "sentiment.py", source)
    for function in ("build_rnn_classifier", "build_cnn_classifier"):
        report = check(function, folder / "sentiment.py", show=False)
        assert report.passed, [row for row in report.rows if not row.passed]
    result = grade(folder, assignment="sentiment", public_only=True, case_timeout=60,
                   functions=("build_rnn_classifier", "build_cnn_classifier"))
    assert result.tests and not _lost(result), _lost(result)
    assert result.score == sum(c.points for c in REGISTRY["sentiment"] if c.public and
                               c.function in ("build_rnn_classifier", "build_cnn_classifier"))


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
