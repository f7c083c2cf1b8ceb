"""Fair to every correct student (issue 13, outcome 9).

Correct modules written in any style the docstrings allow get full marks: a seq2seq whose
encoder ``Model`` is called inside the training model, a bidirectional reader built by hand
(forward GRU + ``go_backwards=True`` GRU + ``Concatenate``) or with ``Bidirectional``,
``Sequential`` or functional. A real rule (no ``Lambda``, no subclassed models) is said in
one sentence, the unmodified starter scores 0 and every submission is graded out of the
same maximum.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autograder.grader import grade
from autograder.registry import REGISTRY
from tests.submissions import edit, submission

REPO = Path(__file__).resolve().parent.parent
SENTIMENT = (REPO / "solutions" / "sentiment.py").read_text()
SEQ2SEQ = (REPO / "solutions" / "seq2seq.py").read_text()

BIDIRECTIONAL_SITE = (
    "    recurrent = layer_class(units, name=cell)                  # final state only\n"
    "    if bidirectional:\n"
    "        recurrent = keras.layers.Bidirectional(recurrent, name=f\"bi_{cell}\")\n"
    "    x = recurrent(x)                                           # (batch, u) or (batch, 2u)\n")
HAND_BUILT = edit(SENTIMENT, (BIDIRECTIONAL_SITE, (
    "    if bidirectional:  # by hand, as the docstring describes\n"
    "        forward = layer_class(units, name=f\"forward_{cell}\")(x)\n"
    "        backward = layer_class(units, go_backwards=True, name=f\"backward_{cell}\")(x)\n"
    "        x = keras.layers.Concatenate(name=\"both_states\")([forward, backward])\n"
    "    else:\n"
    "        x = layer_class(units, name=cell)(x)\n")))
SEQUENTIAL = edit(
    SENTIMENT,
    ("    x = embedding(inputs)                                      # (batch, T, d)\n"
     "    recurrent = layer_class", "    recurrent = layer_class"),
    ("    x = recurrent(x)                                           # (batch, u) or (batch, 2u)\n"
     "    outputs = keras.layers.Dense(1, activation=\"sigmoid\", name=\"output\")(x)\n"
     "    model = keras.Model(inputs, outputs, name=f\"{'bi' if bidirectional else ''}"
     "{cell}_classifier\")\n",
     "    model = keras.Sequential([inputs, embedding, recurrent,\n"
     "                              keras.layers.Dense(1, activation=\"sigmoid\")])\n"),
)
NESTED_ENCODER = edit(SEQ2SEQ, (
    "    sequence, _ = decoder_gru(target_embedding(tgt_in), initial_state=state)"
    "  # (batch, L, u)\n"
    "    model = keras.Model([src, tgt_in], output(sequence), name=\"seq2seq\")\n",
    "    src_in = keras.Input(shape=(None,), dtype=\"int32\", name=\"source_in\")\n"
    "    sequence, _ = decoder_gru(target_embedding(tgt_in), initial_state=encoder(src_in))\n"
    "    model = keras.Model([src_in, tgt_in], output(sequence), name=\"seq2seq\")\n"))


def _lost(result) -> dict[str, str]:
    return {t.name: t.message for t in result.tests if t.points < t.max_points}


@pytest.mark.slow
@pytest.mark.parametrize("style", ["hand_built", "sequential"])
def test_every_bidirectional_style_and_api_gets_full_marks(tmp_path, style):
    source = {"hand_built": HAND_BUILT, "sequential": SEQUENTIAL}[style]
    result = grade(submission(tmp_path, "sentiment.py", source), assignment="sentiment",
                   functions=("build_rnn_classifier",), public_only=True, case_timeout=60)
    assert result.tests and not _lost(result), _lost(result)
    assert result.score == result.max_score == sum(
        c.points for c in REGISTRY["sentiment"]
        if c.function == "build_rnn_classifier" and c.public)


def test_directions_are_judged_by_what_the_layers_read():
    from autograder.assignments.sentiment import _directions

    def layer(cls, **config):
        return {"class": cls, "config": config}

    def model(*layers):
        return {"layers": [layer("InputLayer"), layer("Embedding"), *layers,
                           layer("Dense", units=1)]}

    gru, back = layer("GRU", go_backwards=False), layer("GRU", go_backwards=True)
    assert _directions(model(gru)) == "forward"
    assert _directions(model(layer("Bidirectional", merge_mode="concat"))) == "both"
    assert _directions(model(gru, back, layer("Concatenate"))) == "both"
    assert "not concatenated" in _directions(model(gru, back, layer("Add")))
    assert "backwards only" in _directions(model(back))
    assert "merge_mode='sum'" in _directions(model(layer("Bidirectional", merge_mode="sum")))


@pytest.mark.slow
def test_an_encoder_model_called_inside_the_training_model_gets_full_marks(tmp_path):
    """Its weights reach the reloaded encoder through the nested model, so it learns."""
    result = grade(submission(tmp_path, "seq2seq.py", NESTED_ENCODER), assignment="seq2seq",
                   functions=("build_seq2seq",))
    assert result.tests and not _lost(result), _lost(result)
    assert any(t.name.startswith("learning") and t.status == "passed" for t in result.tests)


def _saved(model, path):
    from autograder.worker import load

    model.save(path)
    return load(str(path))


def test_a_short_weight_copy_fails_loudly(tmp_path):
    """An inference decoder with a GRU of its own never gets the trained weights: the
    learning check says so (a rule), instead of decoding with untrained weights."""
    import keras

    from autograder.generative_models import share_weights
    from autograder.worker import Rule

    embedding, encoder_gru = keras.layers.Embedding(9, 4), keras.layers.GRU(5, name="enc")
    decoder_gru = keras.layers.GRU(5, return_sequences=True, return_state=True, name="dec")
    output = keras.layers.Dense(7, activation="softmax", name="out")
    target_embedding = keras.layers.Embedding(7, 4, name="tgt")
    src, tgt = keras.Input((None,), dtype="int32"), keras.Input((None,), dtype="int32")
    encoder = keras.Model(src, encoder_gru(embedding(src)))
    sequence, _ = decoder_gru(target_embedding(tgt), initial_state=encoder.output)
    model = keras.Model([src, tgt], output(sequence))
    token, state = keras.Input((1,), dtype="int32"), keras.Input((5,))
    own = keras.layers.GRU(5, return_sequences=True, return_state=True, name="own_gru")
    step, new_state = own(target_embedding(token), initial_state=state)
    decoder = keras.Model([token, state], [output(step), new_state])
    trained, encoder, decoder = (_saved(m, tmp_path / f"{i}.keras")
                                 for i, m in enumerate((model, encoder, decoder)))
    with pytest.raises(Rule, match=r"decoder's layer 'own_gru' .* not a layer of the training"):
        share_weights(trained, (encoder, decoder))
    assert share_weights(trained, (encoder,), roles=("encoder",)) == 2


def test_lambda_and_subclassed_models_name_the_rule_in_one_sentence(tmp_path):
    import keras

    from autograder.grader import _case_problem
    from autograder.sandbox import TaskResult
    from autograder.worker import RELOAD_RULE, Rule, load

    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(5, 3)(inputs)
    x = keras.layers.Lambda(lambda t: t * 2.0)(x)
    lambda_model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GRU(2)(x)))
    lambda_model.save(tmp_path / "lambda.keras")

    class Classifier(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

    subclassed = Classifier()
    subclassed(np.zeros((1, 3), "float32"))
    subclassed.save(tmp_path / "subclassed.keras")
    for name, what in (("lambda", "Lambda"), ("subclassed", "Classifier")):
        with pytest.raises(Rule) as caught:
            load(str(tmp_path / f"{name}.keras"))
        message = str(caught.value)
        assert what in message and RELOAD_RULE in message
        assert "safe_mode" not in message and "register" not in message.lower()
    from autograder.assignments.sentiment import CASES

    problem = _case_problem(CASES["gru"], TaskResult("gru", "ok", "", {}),
                            TaskResult("gru", "error", f"Rule: it uses Lambda; {RELOAD_RULE}"))
    assert problem == f"build_rnn_classifier(matrix, cell='gru', units=12): it uses Lambda; " \
                      f"{RELOAD_RULE}"
    for name in ("sentiment", "char_lm", "seq2seq"):  # said up front, in the contract
        for folder in ("solutions", "starter"):
            text = (REPO / folder / f"{name}.py").read_text()
            assert "``Lambda`` layers and\nsubclassed layers or models cannot be graded" in text


def _expected_maximum(assignment: str) -> float:
    """All points but those of checks no submission can earn on this CPU grader without a
    run report: the GPU check, the full-profile model.keras check and the run report."""
    from autograder.assignments import load_assignment

    load_assignment(assignment)  # registers its checks
    not_here = ("GPU", "accuracy: your submitted", "self-reported")
    return sum(c.points for c in REGISTRY[assignment] if not c.name.startswith(not_here))


@pytest.mark.slow
def test_every_submission_is_graded_out_of_the_same_maximum(tmp_path):
    """The unmodified starter scores 0; a module that does not import and a missing module
    are graded out of the same maximum as the starter (and the reference)."""
    want = _expected_maximum("sentiment")
    broken = submission(tmp_path, "sentiment.py", SENTIMENT.replace("def build_rnn", "df x", 1))
    missing = tmp_path / "missing"
    missing.mkdir()
    (missing / "notes.txt").write_text("forgot the module")
    for folder in (REPO / "starter", broken, missing):
        result = grade(folder, assignment="sentiment", case_timeout=30)
        assert result.score == 0, [(t.name, t.points) for t in result.tests if t.points]
        assert result.max_score == want, (folder, [(t.name, t.max_points, t.status)
                                                   for t in result.tests])
        gpu = next(t for t in result.tests if t.name.startswith("GPU"))
        assert gpu.status == "skipped" and "no GPU" in gpu.message


@pytest.mark.slow
def test_the_unmodified_starter_scores_zero_everywhere():
    for name in ("rnn_numpy", "cells", "char_lm", "seq2seq"):
        result = grade(REPO / "starter", assignment=name, case_timeout=30)
        assert result.score == 0, [(t.name, t.points, t.message) for t in result.tests
                                   if t.points]
        assert result.max_score == _expected_maximum(name) > 0
