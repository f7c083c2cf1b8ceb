"""Test settings: caches inside the repo's ignored .cache/, quiet TensorFlow, CPU only."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache"

os.environ.setdefault("KERAS_HOME", str(CACHE / "keras"))
os.environ.setdefault("SEQLAB_CACHE", str(CACHE / "seqlab"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def model_keras(tmp_path_factory) -> Path:
    """A real Keras 3 archive: keras.Input((4,)) + Dense(3), compiled with Adam, saved."""
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(optimizer="adam", loss="mse")
    path = tmp_path_factory.mktemp("model") / "model.keras"
    model.save(path)
    return path
