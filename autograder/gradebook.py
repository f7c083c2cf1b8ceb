"""The class gradebook: one CSV row per student, written atomically, safe in a spreadsheet.

Used by :mod:`autograder.batch` (which grades a class and fills it) and
:mod:`autograder.feedback` (which writes each student's feedback next to it). Cells are
neutralised against spreadsheet formula injection (:func:`neutralise`, OWASP) and read back
exactly (:func:`unneutralise`); every file is replaced via a temp file and ``os.replace``.
The ``student`` column holds :func:`autograder.batch.student_id` ids (the folder name itself,
or its ``/``-escaped form), which are written and read back character for character.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import tempfile
import time
from pathlib import Path

FRONT = ["student", "total", "max_total"]


BACK = ["status", "reason", "seconds", "content_sha256", "settings", "graded_at"]


GRADED, GRADER_ERROR = "graded", "grader_error"


# Cells a spreadsheet may read as a formula start with one of these (OWASP CSV injection,
# plus their full-width forms); "'" too, so that the quote we add is always ours to strip.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20", "'")


TEXT_COLUMNS = ("student", "status", "reason", "content_sha256", "settings", "graded_at")


_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


_SURROGATE = re.compile("[\ud800-\udfff]")


def printable(text: str) -> str:
    """``text`` with lone surrogates (undecodable bytes) as ``\\xNN``: always UTF-8-encodable."""
    def show(match):
        code = ord(match.group())
        return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"

    return _SURROGATE.sub(show, text)


def neutralise(cell: str) -> str:
    """``cell`` as a spreadsheet shows it but never runs it: ``'`` before a formula start."""
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def unneutralise(cell: str) -> str:
    """Undo :func:`neutralise` (a cell starting with ``'`` always got it from there)."""
    return cell[1:] if cell.startswith("'") else cell


def _csv_cell(column: str, value) -> str:
    """A gradebook cell: numbers we wrote stay numbers, everything else is neutralised.

    A carriage return becomes a line break: the writer (lines end in ``\\n``) would not quote
    it, and a reader would split the row there.
    """
    text = printable(_fmt(value)).replace("\r\n", "\n").replace("\r", "\n")
    if column not in TEXT_COLUMNS and _NUMBER.fullmatch(text):
        return text
    return neutralise(text)


# ---------------------------------------------------------------- the gradebook
def atomic_write(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and ``os.replace``.

    Text is written as UTF-8, any undecodable byte in it shown as ``\\xNN`` (:func:`printable`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(printable(data).encode() if isinstance(data, str) else data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class Gradebook:
    """Rows keyed by student, columns FRONT + one per test (first-seen order) + BACK."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.rows: dict[str, dict] = {}
        self.tests: list[str] = []
        self.warning: str | None = None

    @classmethod
    def load(cls, path: Path) -> Gradebook:
        """The gradebook at ``path``; one this module did not write is moved aside."""
        book = cls(path)
        for stale in book.path.parent.glob(f".{book.path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()  # left by a run killed mid-write; the CSV itself is whole
        if not book.path.exists():
            return book
        try:
            header, rows = _read_csv(book.path)
            book.tests = [c for c in header if c not in FRONT and c not in BACK]
            for row in rows:
                if row["student"] in book.rows:
                    raise ValueError(f"two rows for student {row['student']!r}")
                book.rows[row["student"]] = row
        except (ValueError, UnicodeDecodeError, csv.Error) as err:
            backup = book.path.with_name(f"{book.path.name}.unreadable-{int(time.time())}")
            os.replace(book.path, backup)
            book.rows, book.tests = {}, []
            book.warning = (f"{book.path.name} was not a gradebook this command wrote ({err}); "
                            f"moved it to {backup.name} and starting afresh")
        return book

    def put(self, row: dict) -> None:
        """Add or replace the row of ``row["student"]``."""
        for column in row:
            if column not in FRONT and column not in BACK and column not in self.tests:
                self.tests.append(column)
        self.rows[row["student"]] = row

    def columns(self) -> list[str]:
        return [*FRONT, *self.tests, *BACK]

    def to_csv(self) -> str:
        """The CSV text, one row per student (sorted), every cell neutralised."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        columns = self.columns()
        writer.writerow([neutralise(printable(c)) for c in columns])
        for student in sorted(self.rows):
            row = self.rows[student]
            writer.writerow([_csv_cell(c, row.get(c)) for c in columns])
        return buffer.getvalue()

    def save(self) -> None:
        atomic_write(self.path, self.to_csv())


def _read_csv(path: Path) -> tuple[list[str], list[dict]]:
    """Header and rows of a gradebook this module wrote, cells un-neutralised."""
    with open(path, newline="", encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    if not lines:
        raise ValueError("an empty file")
    header = [unneutralise(c) for c in lines[0]]
    missing = [c for c in (*FRONT, *BACK) if c not in header]
    if missing:
        raise ValueError(f"missing columns {missing}")
    rows = []
    for number, cells in enumerate(lines[1:], start=2):
        if len(cells) != len(header):
            raise ValueError(f"row {number} has {len(cells)} fields, expected {len(header)}")
        row = dict(zip(header, (unneutralise(c) for c in cells), strict=True))
        if not row["student"]:
            raise ValueError(f"row {number} has no student")
        rows.append(row)
    return header, rows
