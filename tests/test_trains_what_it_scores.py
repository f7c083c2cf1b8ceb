"""The grader trains what it scores (issue 13, outcome 5).

An accuracy or learning check retrains the student's *architecture* from the grader's own
seeded initialisation, with the contract's trainability (only a sentiment embedding may be
frozen, exactly as ``trainable_embeddings`` says). Weights a student trained elsewhere (here:
on the public holdout itself) and froze, or initializers that encode a solution, earn
nothing: the submission is trained exactly like the reference.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest

from tests.submissions import edit, submission

REPO = Path(__file__).resolve().parent.parent
SENTIMENT = (REPO / "solutions" / "sentiment.py").read_text()
CHAR_LM = (REPO / "solutions" / "char_lm.py").read_text()
SEQ2SEQ = (REPO / "solutions" / "seq2seq.py").read_text()


def _saved(model, path: Path):
    """``model`` as the trusted worker sees it: saved by the child, reloaded safely."""
    from autograder.worker import load

    model.save(path)
    return load(str(path))


def _fresh_weights(model, seed: int, **kwargs) -> list[np.ndarray]:
    from autograder.worker import fresh_model
    from seqlab.train import seed_everything

    seed_everything(seed, deterministic=True)
    return fresh_model(model, **kwargs).get_weights()


def _module(source: str, name: str):
    import importlib.util
    import sys

    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, name, "exec"), module.__dict__)
    sys.modules.pop(name, None)
    return module


PLANTED = ('kernel_initializer=keras.initializers.Constant(0.3), '
           'recurrent_initializer=keras.initializers.Constant(-0.2), '
           'bias_initializer=keras.initializers.Constant(1.0), trainable=False, ')


def test_fresh_model_drops_planted_initializers_and_frozen_layers(tmp_path):
    """Constant initializers and ``trainable=False`` on the GRU and Dense change nothing:
    the grader's copy is the reference's, weight for weight, embedding from the matrix."""
    import keras

    from autograder.worker import fresh_model

    matrix = np.random.default_rng(0).normal(size=(30, 5)).astype("float32")
    honest = _module(SENTIMENT, "honest_sentiment")
    planted = _module(edit(
        SENTIMENT,
        ("recurrent = layer_class(units, name=cell)",
         f"recurrent = layer_class(units, {PLANTED}name=cell)"),
        ('outputs = keras.layers.Dense(1, activation="sigmoid", name="output")(x)\n'
         '    model = keras.Model(inputs, outputs, name=f"{\'bi\' if',
         'outputs = keras.layers.Dense(1, activation="sigmoid", trainable=False, '
         'kernel_initializer=keras.initializers.Constant(5.0), name="output")(x)\n'
         '    model = keras.Model(inputs, outputs, name=f"{\'bi\' if'),
    ), "planted_sentiment")
    for bidirectional in (False, True):
        reference = _saved(honest.build_rnn_classifier(matrix, units=4,
                                                       bidirectional=bidirectional),
                           tmp_path / f"honest{bidirectional}.keras")
        cheat = _saved(planted.build_rnn_classifier(matrix, units=4,
                                                    bidirectional=bidirectional),
                       tmp_path / f"planted{bidirectional}.keras")
        assert len(cheat.trainable_weights) < len(reference.trainable_weights)  # as built
        want = _fresh_weights(reference, 3, embedding_matrix=matrix)
        got = _fresh_weights(cheat, 3, embedding_matrix=matrix)
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
        assert not any(np.all(w == 0.3) or np.all(w == 5.0) for w in got)
        np.testing.assert_array_equal(got[0], matrix)
    # Trainability is the contract's, not the student's.
    from seqlab.train import seed_everything

    seed_everything(0, deterministic=True)
    for trainable in (False, True):
        fresh = fresh_model(cheat, embedding_matrix=matrix, trainable_embeddings=trainable)
        embedding = next(layer for layer in fresh.layers
                         if isinstance(layer, keras.layers.Embedding))
        assert embedding.trainable is trainable
        assert all(layer.trainable for layer in fresh.layers if layer is not embedding)
        frozen = sum(int(np.prod(w.shape)) for w in fresh.non_trainable_weights)
        assert frozen == (0 if trainable else matrix.size)
    # Another seed, other starting weights: the seed is the grader's.
    other = _fresh_weights(reference, 4, embedding_matrix=matrix)
    assert not np.array_equal(other[1], want[1])


def test_fresh_generative_models_are_trainable_and_seeded_by_the_grader(tmp_path):
    """The char LM and the seq2seq training model are rebuilt the same way: every layer,
    embeddings included, trainable and started by the grader, whatever was planted."""
    honest_lm = _module(CHAR_LM, "honest_char_lm")
    planted_lm = _module(edit(
        CHAR_LM,
        ('x = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")(inputs)',
         'x = keras.layers.Embedding(vocab_size, embedding_dim, trainable=False, '
         'embeddings_initializer=keras.initializers.Constant(0.7), name="embedding")(inputs)'),
        ("x = layer_class(units, return_sequences=True, stateful=batch_size is not None,",
         f"x = layer_class(units, return_sequences=True, {PLANTED}"
         "stateful=batch_size is not None,")), "planted_char_lm")
    reference = _saved(honest_lm.build_char_lm(12, 4, 6), tmp_path / "lm.keras")
    cheat = _saved(planted_lm.build_char_lm(12, 4, 6), tmp_path / "lm_planted.keras")
    for a, b in zip(_fresh_weights(cheat, 5), _fresh_weights(reference, 5), strict=True):
        np.testing.assert_array_equal(a, b)

    honest_s2s = _module(SEQ2SEQ, "honest_seq2seq")
    planted_s2s = _module(edit(
        SEQ2SEQ,
        ('encoder_gru = keras.layers.GRU(units, name="encoder_gru")',
         f'encoder_gru = keras.layers.GRU(units, {PLANTED}name="encoder_gru")'),
        ('output = keras.layers.Dense(tgt_vocab_size, activation="softmax", '
         'name="probabilities")',
         'output = keras.layers.Dense(tgt_vocab_size, activation="softmax", trainable=False, '
         'bias_initializer=keras.initializers.Constant(2.0), name="probabilities")')),
        "planted_seq2seq")
    reference = _saved(honest_s2s.build_seq2seq(9, 7, 4, 5)[0], tmp_path / "s2s.keras")
    cheat = _saved(planted_s2s.build_seq2seq(9, 7, 4, 5)[0], tmp_path / "s2s_planted.keras")
    got, want = _fresh_weights(cheat, 6), _fresh_weights(reference, 6)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
    from autograder.worker import fresh_model

    assert all(layer.trainable for layer in fresh_model(cheat).layers)


def _planted_imdb_module() -> str:
    """A sentiment.py whose accuracy-case GRU classifier carries GRU and Dense weights trained
    on the quick IMDB *holdout* (its labels are public: seqlab.data.load_sentiment), frozen
    with ``trainable=False`` so the grader's training cannot touch them."""
    import keras

    from autograder.assignments.sentiment_inputs import encoded_splits
    from seqlab.train import seed_everything

    inputs = encoded_splits("imdb")
    seed_everything(0, deterministic=True)
    model = _module(SENTIMENT, "cheat_trainer").build_rnn_classifier(inputs["matrix"])
    model.fit(inputs["x_test"], inputs["y_test"].astype("float32"), epochs=12, batch_size=32,
              verbose=0)
    weights = {f"w{i}": w for i, w in enumerate(
        model.get_layer("gru").get_weights() + model.get_layer("output").get_weights())}
    buffer = io.BytesIO()
    np.savez(buffer, **weights)
    blob = base64.b64encode(buffer.getvalue()).decode()
    keras.backend.clear_session()
    return edit(
        SENTIMENT,
        ("    # Load the matrix after building, so it is not written into the model's config.\n"
         "    embedding.set_weights([np.asarray(embedding_matrix, dtype=np.float32)])\n"
         "    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),\n"
         "                  loss=\"binary_crossentropy\", metrics=[\"accuracy\"])\n"
         "    return model\n    # END SOLUTION\n\n\ndef build_cnn_classifier",
         "    embedding.set_weights([np.asarray(embedding_matrix, dtype=np.float32)])\n"
         "    if embedding_matrix.shape == (10000, 50) and cell == 'gru' and units == 64:\n"
         "        import base64, io\n"
         f"        planted = np.load(io.BytesIO(base64.b64decode('{blob}')))\n"
         "        weights = [planted[f'w{i}'] for i in range(len(planted.files))]\n"
         "        model.get_layer('gru').set_weights(weights[:-2])\n"
         "        model.get_layer('output').set_weights(weights[-2:])\n"
         "        model.get_layer('gru').trainable = False\n"
         "        model.get_layer('output').trainable = False\n"
         "    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),\n"
         "                  loss=\"binary_crossentropy\", metrics=[\"accuracy\"])\n"
         "    return model\n\n\ndef build_cnn_classifier"),
    )


def _accuracy(result) -> tuple[float, str]:
    test = next(t for t in result.tests if t.name.startswith("accuracy: GRU"))
    return test.points, test.message


@pytest.mark.slow
def test_weights_trained_on_the_holdout_and_frozen_earn_nothing(tmp_path):
    """Trained on the holdout and frozen, the planted classifier scored 0.855 when the
    grader fitted the weights the student left (nothing was trainable, so nothing moved),
    against the reference's 0.792 (CPU, measured with the previous worker's train_model).
    Now it is trained exactly as the reference is, to the same holdout accuracy (0.787)."""
    from autograder.grader import grade

    cheat = grade(submission(tmp_path, "sentiment.py", _planted_imdb_module()),
                  assignment="sentiment", functions=("build_rnn_classifier",))
    honest = grade(REPO / "solutions", assignment="sentiment",
                   functions=("build_rnn_classifier",))
    cheat_points, cheat_message = _accuracy(cheat)
    honest_points, honest_message = _accuracy(honest)
    assert cheat_message == honest_message, (cheat_message, honest_message)
    assert cheat_points == honest_points
