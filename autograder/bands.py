"""The calibrated bands (``autograder/bands.json``, written by :mod:`autograder.calibrate`)."""

from __future__ import annotations

import json
from pathlib import Path

BANDS_FILE = Path(__file__).with_name("bands.json")


def load_bands() -> dict:
    """``{"quick": {recipe: band}, "full": {...}}``; empty before any calibration."""
    if not BANDS_FILE.exists():
        return {}
    return json.loads(BANDS_FILE.read_text())
