"""Test settings: caches inside the repo's ignored .cache/, quiet TensorFlow, CPU only."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache"

os.environ.setdefault("KERAS_HOME", str(CACHE / "keras"))
os.environ.setdefault("SEQLAB_CACHE", str(CACHE / "seqlab"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("MPLBACKEND", "Agg")
