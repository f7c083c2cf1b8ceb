"""Named sizes for data and training: ``quick`` (a 2-core CPU) and ``full`` (a GPU).

The quick profile keeps every lab and the autograder's training checks to seconds on a laptop
CPU; the full profile uses all the data and is what the accuracy targets refer to. Quick splits
are stratified subsets of the full splits, so a review never moves between train and test when
you switch profiles.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataSize:
    """How much of a dataset a profile uses, and how long its encoded sequences are.

    ``None`` for a split size means "all of it". ``max_len`` is the number of tokens kept per
    text (the end of the text, front-padded) and ``vocab_size`` counts every embedding row,
    padding (0) and out-of-vocabulary (1) included.
    """

    train: int | None
    validation: int | None
    test: int | None
    max_len: int
    vocab_size: int


@dataclass(frozen=True)
class Profile:
    """Data sizes per dataset plus the training budget used with them."""

    name: str
    sizes: dict[str, DataSize]
    epochs: int
    batch_size: int


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        sizes={
            # ~2-3 s per GRU-64 epoch on a 2-core CPU.
            "imdb": DataSize(train=5000, validation=1000, test=2000, max_len=150,
                             vocab_size=10_000),
            # Rotten Tomatoes is small already: the quick profile uses all of it.
            "rotten_tomatoes": DataSize(train=None, validation=None, test=None, max_len=50,
                                        vocab_size=10_000),
        },
        epochs=5,
        batch_size=64,
    ),
    "full": Profile(
        name="full",
        sizes={
            "imdb": DataSize(train=None, validation=None, test=None, max_len=400,
                             vocab_size=30_000),
            "rotten_tomatoes": DataSize(train=None, validation=None, test=None, max_len=50,
                                        vocab_size=20_000),
        },
        epochs=20,
        batch_size=64,
    ),
}


def get_profile(name: str) -> Profile:
    """The profile called ``name`` (``"quick"`` or ``"full"``); a clear error otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}: expected one of {sorted(PROFILES)}") from None
