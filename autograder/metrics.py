"""The grader's one implementation of each metric, of its floor, and of band credit.

A learning check scores a metric (holdout accuracy, exact match, bits per character, ...)
against a band calibrated from the reference solution (:mod:`autograder.calibrate`): full
credit at ``full_credit_at``, none at ``zero_credit_at`` (the *floor*, what a model that
ignores its input scores, plus a margin), linear in between, whichever way the metric goes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Metric:
    """How a metric is read: its direction and, for band messages, what its floor is."""

    name: str
    lower_is_better: bool
    floor_words: str  # what a model that ignores its input scores


METRICS = {
    "accuracy": Metric("accuracy", False, "majority rate"),
    "exact_match": Metric("exact match", False,
                          "score of a model that ignores its input (0)"),
    "bits_per_char": Metric("bits per character", True,
                            "a unigram model's bits per character (a model that ignores "
                            "the history)"),
}


def binary_accuracy(probabilities, labels) -> float:
    """The fraction of ``labels`` (0/1, ``(n,)``) that ``probabilities > 0.5`` gets right,
    as Keras' binary accuracy counts it."""
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    return float(((probabilities > 0.5) == np.asarray(labels).reshape(-1)).mean())


def floor(metric: str, kept) -> float:
    """What a model that ignores its input scores in ``metric`` on a recipe whose
    parent-side answers are ``kept``: the floor the assignment measured itself
    (``kept["floors"][metric]``; a unigram model's bits per character as
    ``kept["unigram_bits"]``), else the majority rate of 0/1 labels (accuracy), else 0."""
    if isinstance(kept, dict):
        if metric in kept.get("floors", {}):
            return float(kept["floors"][metric])
        if metric == "bits_per_char":
            return float(kept["unigram_bits"])
    if metric == "accuracy":
        labels = np.asarray(kept, dtype=np.float64)
        return float(max(labels.mean(), 1 - labels.mean()))
    return 0.0


def band_fraction(value: float, band: dict) -> float:
    """The share of a learning check's points ``value`` earns in ``band`` (0 to 1 after
    :func:`autograder.registry.partial` clips it), for either direction of metric."""
    full, zero = band["full_credit_at"], band["zero_credit_at"]
    return (float(value) - zero) / (full - zero)


def cut_at_end(paths, end_id: int, max_len: int) -> list[list[int]]:
    """Each row of ``paths`` (``(batch, steps)`` greedy ids, never stopped) as a decoder
    returns it: cut before its first ``end_id`` and after ``max_len`` ids."""
    rows = []
    for path in paths:
        path = [int(i) for i in list(path)[:max_len]]
        rows.append(path[: path.index(end_id)] if end_id in path else path)
    return rows
