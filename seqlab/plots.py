"""Learning curves and confusion matrices with matplotlib (figures returned, not shown).

The figures are built without pyplot's global state; a notebook shows one when it is the last
expression of a cell or passed to ``display`` (with ``%matplotlib inline`` active).

>>> fig = plot_history(result.history)            # loss and accuracy, train vs validation
>>> fig = plot_histories({"GRU": h1, "LSTM": h2}, metric="val_accuracy")
>>> fig = plot_confusion_matrix(y_test, probabilities > 0.5)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix


def _as_history(history) -> Mapping[str, Sequence[float]]:
    """Accept a history dict, a ``keras.callbacks.History`` or a ``TrainResult``."""
    inner = getattr(history, "history", history)
    return getattr(inner, "history", inner)


def plot_history(history, metrics: Sequence[str] = ("loss", "accuracy"),
                 title: str | None = None) -> Figure:
    """One panel per metric: training and validation curves against the epoch (1-based)."""
    history = _as_history(history)
    shown = [m for m in metrics if m in history]
    if not shown:
        raise ValueError(f"none of {list(metrics)} in the history (it has {sorted(history)})")
    fig = Figure(figsize=(4.5 * len(shown), 3.4), layout="constrained")
    for ax, metric in zip(fig.subplots(1, len(shown), squeeze=False)[0], shown, strict=True):
        epochs = np.arange(1, len(history[metric]) + 1)
        ax.plot(epochs, history[metric], "o-", label="train")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "s--", label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig


def plot_histories(histories: Mapping[str, object], metric: str = "val_accuracy",
                   title: str | None = None) -> Figure:
    """One curve per model for one metric, to compare runs (e.g. GRU vs LSTM)."""
    fig = Figure(figsize=(6, 3.8), layout="constrained")
    ax = fig.subplots()
    for name, history in histories.items():
        values = _as_history(history)[metric]
        ax.plot(np.arange(1, len(values) + 1), values, "o-", label=name)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return fig


def plot_confusion_matrix(y_true, y_pred, labels: Sequence[str] = ("negative", "positive"),
                          title: str | None = None, normalize: str | None = None) -> Figure:
    """The confusion matrix of binary (or multi-class) predictions, counts in each cell."""
    y_pred = np.asarray(y_pred).astype(int).ravel()
    matrix = confusion_matrix(np.asarray(y_true).astype(int).ravel(), y_pred,
                              labels=np.arange(len(labels)), normalize=normalize)
    fig = Figure(figsize=(4.2, 3.8), layout="constrained")
    ax = fig.subplots()
    ConfusionMatrixDisplay(matrix, display_labels=list(labels)).plot(ax=ax, colorbar=False,
                                                                    cmap="Blues")
    if title:
        ax.set_title(title)
    return fig
