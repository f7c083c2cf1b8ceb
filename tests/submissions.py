"""Helpers for tests that grade purpose-built wrong modules made from the reference."""

from __future__ import annotations

from pathlib import Path


def submission(tmp_path: Path, name: str, source: str) -> Path:
    """A submission folder in ``tmp_path`` holding one module file ``name``."""
    folder = tmp_path / name.removesuffix(".py")
    folder.mkdir()
    (folder / name).write_text(source)
    return folder


def edit(source: str, *pairs: tuple[str, str]) -> str:
    """``source`` with each ``old`` replaced (once) by ``new``; fails if the reference moved."""
    for old, new in pairs:
        assert old in source, f"the reference changed: {old!r} not found"
        source = source.replace(old, new, 1)
    return source


def is_question(test) -> bool:
    """Whether a graded test is one of the labs' questions (graded from ``answers.json``)."""
    return test.name.startswith(("Question ", "Written questions "))


def only_submitted_model_check(monkeypatch) -> None:
    """Keep just sentiment's "your submitted model.keras" check in the registry."""
    from autograder.assignments import sentiment
    from autograder.registry import REGISTRY

    kept = [c for c in REGISTRY["sentiment"] if c.judge is sentiment.submitted_model]
    monkeypatch.setitem(REGISTRY, "sentiment", kept)


def tiny_imdb_model():
    """A seeded, compiled averaging classifier over the full profile's IMDB vocabulary:
    ids (batch, T) -> Embedding(vocab, 4) -> mean -> Dense(1, sigmoid) (batch, 1)."""
    import keras

    from autograder.assignments.sentiment_inputs import encoded_splits

    vocab = encoded_splits("imdb", "full")["matrix"].shape[0]
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(None,), dtype="int32")
    h = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(vocab, 4)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(h))
    model.compile(loss="binary_crossentropy")
    return model
