"""Smoothed character n-gram language models: the baseline a character RNN has to beat.

An order-n model predicts a character from the n - 1 before it. Counts alone give zero
probability to every n-gram not seen in training, so the model is smoothed with interpolated
Kneser-Ney (Chen and Goodman 1999): each order discounts its counts by D (estimated from
the counts of counts, D = n1 / (n1 + 2 n2)) and gives the mass it frees to the next lower
order; lower orders count in how many *contexts* a string occurs (continuation counts)
rather than how often, and the lowest order backs off to the uniform distribution over the
``vocab_size - 1`` real ids (id 0 is padding and is never predicted).

Everything is vectorised with NumPy: an n-gram is one int64 key (its ids in base
``vocab_size``), counts come from ``np.unique`` and look-ups from ``np.searchsorted``, so an
order-6 model of a few megabytes of text fits and scores in seconds.

>>> import numpy as np
>>> train = np.array([1, 2, 3] * 100)
>>> model = CharNGram(order=3).fit(train, vocab_size=4)
>>> round(model.bits_per_char(np.array([1, 2, 3, 1, 2, 3])), 2)
0.14
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

MAX_ORDER = 8


@dataclass
class _Table:
    """Counts of the k-grams with a given history length, sorted by key.

    ``keys`` are the k-gram keys, ``counts`` their (raw or continuation) counts;
    ``history_keys`` the distinct (k-1)-gram histories with their total count
    (``history_totals``) and number of distinct next characters (``history_types``).
    """

    keys: np.ndarray
    counts: np.ndarray
    history_keys: np.ndarray
    history_totals: np.ndarray
    history_types: np.ndarray
    discount: float


def _table(keys: np.ndarray, counts: np.ndarray, vocab_size: int) -> _Table:
    """A sorted table from unique ``keys`` (sorted) and their counts."""
    histories = keys // vocab_size
    history_keys, starts, types = np.unique(histories, return_index=True, return_counts=True)
    totals = np.add.reduceat(counts, starts) if len(counts) else counts
    n1, n2 = int(np.sum(counts == 1)), int(np.sum(counts == 2))
    discount = n1 / (n1 + 2 * n2) if n1 + 2 * n2 > 0 else 0.5
    return _Table(keys, counts, history_keys, totals.astype(np.float64),
                  types.astype(np.float64), float(min(max(discount, 0.05), 0.95)))


def _lookup(sorted_keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """``values`` at ``queries`` in ``sorted_keys``, 0 where a query is absent."""
    if len(sorted_keys) == 0:
        return np.zeros(len(queries), dtype=np.float64)
    position = np.clip(np.searchsorted(sorted_keys, queries), 0, len(sorted_keys) - 1)
    found = sorted_keys[position] == queries
    return np.where(found, values[position], 0).astype(np.float64)


class CharNGram:
    """An interpolated Kneser-Ney character model of order ``order`` (1 = unigram).

    ``fit(ids, vocab_size)`` counts n-grams of 1-D int ids (0 is padding and is used only
    to pad the history before the first character); ``log2_probs(ids)`` gives, for each
    position t, log2 P(ids[t] | the order - 1 ids before it); ``bits_per_char`` is minus their
    mean; ``distribution(history)`` the whole next-character distribution ``(vocab_size,)``.
    """

    def __init__(self, order: int = 3):
        if not 1 <= order <= MAX_ORDER:
            raise ValueError(f"order must be in 1..{MAX_ORDER}, got {order}")
        self.order = order
        self.vocab_size: int | None = None
        self._tables: list[_Table] = []

    def __repr__(self) -> str:
        state = f"vocab_size={self.vocab_size}" if self.vocab_size else "not fitted"
        return f"CharNGram(order={self.order}, {state})"

    def _keys(self, ids: np.ndarray, k: int) -> np.ndarray:
        """Keys of the k-grams ending at every position of ``ids`` (history padded with 0)."""
        padded = np.concatenate([np.zeros(self.order - 1, np.int64), ids.astype(np.int64)])
        keys = np.zeros(len(ids), np.int64)
        start = self.order - 1
        for j in range(k):  # the char j places before the target
            keys = keys * self.vocab_size + padded[start - (k - 1) + j: start - (k - 1) + j
                                                   + len(ids)]
        return keys

    def fit(self, ids, vocab_size: int) -> CharNGram:
        """Count the n-grams of ``ids`` (1-D ints in ``[1, vocab_size)``); returns ``self``."""
        ids = np.asarray(ids, dtype=np.int64).ravel()
        if ids.size == 0:
            raise ValueError("cannot fit an n-gram model on no text")
        if ids.min() < 1 or ids.max() >= vocab_size:
            raise ValueError(f"ids must be in [1, {vocab_size}) (0 is padding)")
        if vocab_size ** self.order >= 2 ** 62:
            raise ValueError(f"vocab_size {vocab_size} is too large for order {self.order}")
        self.vocab_size = vocab_size
        self._tables = []
        for k in range(1, self.order + 1):
            keys, counts = np.unique(self._keys(ids, k), return_counts=True)
            if k < self.order:
                # Continuation counts: in how many distinct one-character-longer contexts
                # the k-gram occurs (Kneser-Ney's lower orders).
                longer = np.unique(self._keys(ids, k + 1))
                keys, counts = np.unique(longer % vocab_size ** k, return_counts=True)
            self._tables.append(_table(keys, counts.astype(np.int64), vocab_size))
        return self

    def _probs(self, ids: np.ndarray, keys_by_order: list[np.ndarray]) -> np.ndarray:
        """P(ids[t] | history) for all t, given the k-gram keys at each position per order."""
        vocab = self.vocab_size
        probs = np.full(len(ids), 1.0 / (vocab - 1))            # uniform over real ids
        for k, table in enumerate(self._tables, start=1):
            keys = keys_by_order[k - 1]
            histories = keys // vocab
            count = _lookup(table.keys, table.counts, keys)
            total = _lookup(table.history_keys, table.history_totals, histories)
            types = _lookup(table.history_keys, table.history_types, histories)
            seen = total > 0
            safe = np.where(seen, total, 1.0)
            mixed = (np.maximum(count - table.discount, 0.0)
                     + table.discount * types * probs) / safe
            probs = np.where(seen, mixed, probs)
        return probs

    def _check_fitted(self) -> None:
        if self.vocab_size is None:
            raise RuntimeError("fit the model first")

    def log2_probs(self, ids) -> np.ndarray:
        """``(len(ids),)``: log2 P(ids[t] | ids[t-order+1:t]), the history padded with 0."""
        self._check_fitted()
        ids = np.asarray(ids, dtype=np.int64).ravel()
        keys = [self._keys(ids, k) for k in range(1, self.order + 1)]
        return np.log2(self._probs(ids, keys))

    def bits_per_char(self, ids) -> float:
        """Average bits per character (cross-entropy in base 2) of ``ids``: lower is better."""
        return float(-np.mean(self.log2_probs(ids)))

    def distribution(self, history: Iterable[int] = ()) -> np.ndarray:
        """P(next id | ``history``) for every id, ``(vocab_size,)``, summing to 1 (0 for id 0).

        Only the last ``order - 1`` ids of ``history`` matter; a shorter one is padded with 0.
        """
        self._check_fitted()
        vocab, context = self.vocab_size, self.order - 1
        history = [int(i) for i in history][-context:] if context else []
        history = [0] * (context - len(history)) + history
        candidates = np.arange(1, vocab, dtype=np.int64)
        keys = []
        for k in range(1, self.order + 1):
            prefix = 0
            for i in history[context - (k - 1):] if k > 1 else []:
                prefix = prefix * vocab + i
            keys.append(prefix * vocab + candidates)
        out = np.zeros(vocab)
        out[1:] = self._probs(candidates, keys)
        return out


def ngram_bits_per_char(train_ids, eval_ids, vocab_size: int,
                        orders: Iterable[int] = range(1, 7)) -> dict[int, float]:
    """Bits per character on ``eval_ids`` of a Kneser-Ney model of each order fitted on
    ``train_ids``: ``{order: bits}``, the baseline table of the character LM lab."""
    return {order: CharNGram(order).fit(train_ids, vocab_size).bits_per_char(eval_ids)
            for order in orders}
