"""The gradebook's student column is the folder name itself (issue 21).

A teacher matches gradebook rows to students by the folder (or zip) name: the column must
be that name exactly, whatever it holds (backslashes, quotes, commas, any script), with only
a spreadsheet formula start defused by the gradebook's leading ``'``, which
:meth:`Gradebook.load` strips again. A name no CSV line can hold (undecodable bytes, control
characters, line breaks) is escaped with ``/``, the one character no file name can contain,
so an escaped id never equals a real name and :func:`batch.folder_name` undoes it exactly.
"""

from __future__ import annotations

import csv
import os
import unicodedata
from pathlib import Path

from autograder import batch
from autograder.batch import Gradebook, grade_all
from tests.test_hostile_names import fake_grade

HYPERLINK = r'=HYPERLINK("http:\\127.0.0.1\x",...)'
UNSHOWN = ("Cc", "Cf", "Cs", "Zl", "Zp")  # control, format, surrogate, line/paragraph break


def _class_of(folder: Path, names: list[bytes]) -> None:
    folder.mkdir(parents=True)
    for i, raw in enumerate(names, start=1):
        path = os.path.join(os.fsencode(folder), raw)
        os.mkdir(path)
        with open(os.path.join(path, b"rnn_numpy.py"), "w") as handle:
            handle.write(f"SCORE = {i}\n")


def _student_column(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    return [row[header.index("student")] for row in rows]


# ---------------------------------------------------------------- the attack
def test_the_student_column_is_the_folder_name(tmp_path):
    names = [HYPERLINK, 'a\\b', 'say "hi", then go', "caf\u00e9", "\u5f20\u4f1f", "\\x41"]
    _class_of(tmp_path / "class", [os.fsencode(n) for n in names])
    book = tmp_path / "grades.csv"
    grade_all(tmp_path / "class", book, grade_fn=fake_grade, progress=False,
              log=lambda line: None)
    column = _student_column(book)
    assert "'" + HYPERLINK in column, f"expected {HYPERLINK!r} defused by one quote, got {column}"
    read = [batch.unneutralise(cell) for cell in column]
    assert sorted(read) == sorted(names), f"expected {sorted(names)}, got {sorted(read)}"
    assert set(Gradebook.load(book).rows) == set(names)


def test_a_rerun_finds_every_row_again_and_nothing_merges(tmp_path):
    names = [os.fsencode(HYPERLINK), b"caf\xe9", b"caf\\xe9", b"'=quoted",
             b"line\nbreak", b"line\\nbreak", b"\xef\xbc\x9dwide", b"tab\there"]
    _class_of(tmp_path / "class", names)
    book, log = tmp_path / "grades.csv", []
    first = grade_all(tmp_path / "class", book, grade_fn=fake_grade, progress=False,
                      log=log.append)
    ids = {batch.student_id(os.fsdecode(raw)) for raw in names}
    assert sorted(first.graded) == sorted(ids) and len(ids) == len(names), first
    rows = Gradebook.load(book).rows
    assert {os.fsencode(batch.folder_name(s)) for s in rows} == set(names)
    again = grade_all(tmp_path / "class", book, grade_fn=fake_grade, progress=False,
                      log=log.append)
    assert sorted(again.skipped) == sorted(ids) and not again.graded, again


# ---------------------------------------------------------------- the escape, exactly
FRAGMENTS = ["\\", "\\x41", "\\\\", "\\n", "\\u202e", "x41", "e9", "n", "t", "u002f",
             "U0001f600", "/", "/x41", "/n", "\udce9", "\udc41", "\ud800", "\n", "\r", "\t",
             "\r\n", "\x00", "\x7f", "\x85", "\u202e", "\ufeff", "\u2028", "\u2029", "'",
             "=", "+", "-", "@", ",", '"', " ", "\u00a0", "\u00e9", "e\u0301", "\u5f20",
             "\U0001f600", "\uff1d", "\U000e0041", "a", "Z", "0"]


def _tricky_names(count: int, seed: int = 21) -> set[str]:
    import random

    rng = random.Random(seed)
    names = set(FRAGMENTS) | {a + b for a in FRAGMENTS for b in FRAGMENTS}
    while len(names) < count:
        names.add("".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 7))))
    return names


def test_student_ids_round_trip_exactly_and_never_collide():
    names = _tricky_names(12000)
    seen: dict[str, str] = {}
    for name in names:
        student = batch.student_id(name)
        assert seen.setdefault(student, name) == name, (
            f"expected distinct ids, got {student!r} for {name!r} and {seen[student]!r}")
        assert batch.folder_name(student) == name, f"{name!r}: {student!r} does not go back"
        student.encode("utf-8")  # strict: no lone surrogate left
        assert not any(c in student for c in "\n\r\t\x00\x85\u2028\u2029\u202e\ufeff"), student
        escaped = any(c == "/" or unicodedata.category(c) in UNSHOWN for c in name)
        assert (student != name) == ("/" in student) == escaped, (name, student)


def test_a_name_that_shows_as_itself_is_its_own_id():
    for name in ["\\x41", "a\\b", "\\\\server\\share", 'say "hi", then go', "caf\u00e9",
                 "e\u0301", "\u5f20\u4f1f", "\U0001f600", "a\u00a0b", "'", "''x", HYPERLINK]:
        assert batch.student_id(name) == name, name
    assert batch.student_id("caf\udce9") == "caf/xe9"
    assert batch.student_id("line\nbreak") == "line/nbreak"
    assert batch.student_id("\u202eevil") == "/u202eevil"
    assert batch.student_id("a/b") == "a/u002fb"  # no file name, but still a distinct id


def test_what_no_name_has_as_its_id_is_refused():
    import pytest

    for text in ["a/", "/z", "/X41", "/x41", "/u000a", "/uDC41", "/U00110000", "a/b", "/"]:
        with pytest.raises(ValueError, match="is not a student id: expected"):
            batch.folder_name(text)


def test_the_gradebook_keeps_every_tricky_id(tmp_path):
    ids = sorted(batch.student_id(name) for name in _tricky_names(3000))
    book = Gradebook(tmp_path / "grades.csv")
    for student in ids:
        book.put({"student": student, "total": 1.0, "max_total": 1.0, "status": "graded",
                  "reason": "", "seconds": 0.0, "content_sha256": "", "settings": "",
                  "graded_at": ""})
    book.save()
    column = _student_column(book.path)
    assert len(column) == len(ids)
    assert not [c for c in column if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    again = Gradebook.load(book.path)
    assert again.warning is None and sorted(again.rows) == ids
