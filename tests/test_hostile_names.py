"""Hostile student names and files never stop ``grade-all`` (issue 13, outcome 7).

Each test is an attack on :mod:`autograder.batch` / :mod:`autograder.feedback`: folder and
zip names that are not UTF-8, 255 bytes long, hold newlines or tabs, start like a spreadsheet
formula, collide with the feedback folder's own files, or would merge once sanitised; and
entries that cannot be read at all. Every one must get its own gradebook row and its own
feedback files, the CSV must be safe to open in a spreadsheet (OWASP CSV injection) and still
resume, and nothing may abort the batch. Most tests replace the grader with a fake that reads
``SCORE = n`` from the submission (names and CSV are the point, not grading); one runs the
real command line on a NumPy-only check.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder import batch, feedback, gradebook
from autograder.batch import GRADED, GRADER_ERROR, Gradebook, grade_all
from autograder.grader import GradeResult
from autograder.grader import TestResult as Checked  # not 'Test*': pytest would collect it
from autograder.submission import resolve

REPO = Path(__file__).resolve().parent.parent
SOLUTION = (REPO / "solutions" / "rnn_numpy.py").read_text()
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

# raw entry name -> the student id the gradebook and the feedback must show
HOSTILE = {
    b"caf\xe9": "caf/xe9",                       # Latin-1, not UTF-8: "/" escapes it
    b"caf\xc3\xa9": "caf\u00e9",                 # the same word in UTF-8: another student
    b"caf\\xe9": "caf\\xe9",                     # a literal backslash: itself, merges with neither
    b"\xff" * 255: "/xff" * 255,                 # 255 undecodable bytes
    b"x" * 255: "x" * 255,                       # the longest name a folder may have
    b"line\nbreak": "line/nbreak",
    b"tab\there": "tab/there",
    b"\rcarriage": "/rcarriage",
    b"\xe2\x80\xaeevil": "/u202eevil",           # a right-to-left override
    b'=HYPERLINK("evil.example")': '=HYPERLINK("evil.example")',
    b"+1+2": "+1+2",
    b"-rf": "-rf",
    b"-1.5": "-1.5",
    b"@SUM(1)": "@SUM(1)",
    b"'=quoted": "'=quoted",
    b"summary": "summary",
    b"SUMMARY": "SUMMARY",
    b"summary.md": "summary.md",
    b"histogram": "histogram",
    b"histogram.png": "histogram.png",
    b"a b": "a b",
    b"a_b": "a_b",
    b"a?b": "a?b",
    b"con": "con",
    b"ann": "ann",
}
ZIPPED = {b"zip\xe9": "zip/xe9", b"=1+2": "=1+2", b"y" * 251: "y" * 251}  # + b".zip"


def fake_grade(path, *, workdir, **kwargs) -> GradeResult:
    """Score ``n`` out of 1000 for a submission whose rnn_numpy.py says ``SCORE = n``."""
    submission = resolve(path, Path(workdir) / "submission")
    module = submission.folder / "rnn_numpy.py"  # a refused zip's grade_refused: 0 of 1000
    refused = kwargs.get("assignment") and not module.is_file()
    score = 0.0 if refused else float(module.read_text().split("=")[1])
    tests = [Checked("rnn_numpy", "score", score, 1000.0, "partial", "ok", "visible")]
    return GradeResult(str(path), "quick", tests, seconds=0.01)


def make_hostile_class(folder: Path, names: dict[bytes, str] = HOSTILE,
                       zipped: dict[bytes, str] = ZIPPED) -> dict[str, int]:
    """One folder per HOSTILE name and one zip per ZIPPED name; returns id -> its SCORE."""
    folder.mkdir(parents=True)
    scores = {}
    for i, (raw, student) in enumerate(names.items(), start=1):
        path = os.path.join(os.fsencode(folder), raw)
        os.mkdir(path)
        with open(os.path.join(path, b"rnn_numpy.py"), "w") as handle:
            handle.write(f"SCORE = {i}\n")
        scores[student] = i
    for i, (raw, student) in enumerate(zipped.items(), start=len(names) + 1):
        path = os.path.join(os.fsencode(folder), raw + b".zip")
        with open(path, "wb") as handle, zipfile.ZipFile(handle, "w") as zf:
            zf.writestr("hw/rnn_numpy.py", f"SCORE = {i}\n")
        scores[student] = i
    return scores


def read_cells(path: Path) -> tuple[list[str], list[list[str]]]:
    """The gradebook as strict UTF-8 CSV: header and rows, every row as long as the header."""
    with open(path, newline="", encoding="utf-8", errors="strict") as handle:
        header, *rows = list(csv.reader(handle))
    for row in rows:
        assert len(row) == len(header), f"expected {len(header)} fields, got {row}"
    return header, rows


def assert_neutralised(header: list[str], rows: list[list[str]]) -> None:
    """OWASP: no cell may start like a formula; in a score column a number we wrote may."""
    for row in rows:
        for column, cell in zip(header, row, strict=True):
            if not cell.startswith(TRIGGERS):
                continue
            assert column not in gradebook.TEXT_COLUMNS, f"{column}: expected text neutralised, " \
                                                     f"got {cell!r}"
            assert re.fullmatch(r"-?\d+(\.\d+)?(e[-+]\d+)?", cell), \
                f"{column}: expected a number or a neutralised cell, got {cell!r}"


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


# ---------------------------------------------------------------- names, end to end
def test_hostile_names_each_get_their_own_row_and_feedback(tmp_path):
    scores = make_hostile_class(tmp_path / "class")
    # a folder named like the hashed feedback stem of "a b" must not take over its files
    forged = feedback.feedback_stem("a b")
    os.mkdir(tmp_path / "class" / forged)
    (tmp_path / "class" / forged / "rnn_numpy.py").write_text("SCORE = 999\n")
    scores[forged] = 999
    gradebook, lines = tmp_path / "grades.csv", []
    report = grade_all(tmp_path / "class", gradebook, grade_fn=fake_grade, progress=False,
                       log=lines.append)
    assert sorted(report.graded) == sorted(scores) and not report.errors, report
    graded = [line for line in lines if line.startswith("graded ")]  # one per student
    assert len(graded) == len(scores), lines
    for line in lines:
        line.encode("utf-8")  # strict: a log line any UTF-8 terminal prints
        assert "\n" not in line and "\t" not in line, f"expected one line, got {line!r}"

    header, rows = read_cells(gradebook)
    assert_neutralised(header, rows)
    assert [batch.unneutralise(row[0]) for row in rows] == sorted(scores)
    assert "'=HYPERLINK(\"evil.example\")" in [row[0] for row in rows]
    book = Gradebook.load(gradebook)
    assert book.warning is None and set(book.rows) == set(scores)
    for student, score in scores.items():
        assert float(book.rows[student]["total"]) == score, student

    folder = tmp_path / "grades_feedback"
    pairs = {student: feedback.student_files(folder, student) for student in scores}
    everyone = [path for pair in pairs.values() for path in pair]
    assert len(set(everyone)) == 2 * len(scores), "two students share a feedback file"
    assert files_under(folder) == {*everyone, folder / "summary.md", folder / "histogram.png"}
    assert files_under(tmp_path) - files_under(tmp_path / "class") == {
        gradebook, *files_under(folder)}, "a file was written outside the feedback folder"
    for student, (md, _) in pairs.items():
        assert md.parent == folder and len(os.fsencode(md.name)) <= 200, md
        text = md.read_text(encoding="utf-8")
        assert text.startswith(f"# Feedback for {feedback.md_text(student)}\n"), text[:300]
        assert f"**Total: {scores[student]:g} / 1000**" in text, (student, text)
    summary = (folder / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith("# Class summary") and f"students: {len(scores)} (" in summary

    # rerun: every neutralised, escaped id maps back to its student, so nothing is regraded
    report = grade_all(tmp_path / "class", gradebook, grade_fn=fake_grade, progress=False,
                       log=lines.append)
    assert sorted(report.skipped) == sorted(scores) and not report.graded, report
    assert read_cells(gradebook) == (header, rows)


def test_student_ids_are_readable_one_line_and_never_merge():
    ids = {batch.student_id(os.fsdecode(raw)) for raw in HOSTILE} | {
        batch.student_id(os.fsdecode(raw)) for raw in ZIPPED}
    assert len(ids) == len(HOSTILE) + len(ZIPPED)
    for raw, want in HOSTILE.items():
        got = batch.student_id(os.fsdecode(raw))
        assert got == want, f"{raw!r}: expected {want!r}, got {got!r}"
        got.encode("utf-8")  # no lone surrogates left
    stems = {feedback.feedback_stem(s).casefold() for s in [*HOSTILE.values(), *ids]}
    assert len(stems) == len(ids), "two students share a feedback stem"


@pytest.mark.parametrize("student", ["../../escaped", "/etc/passwd", "..", ".", "a/b",
                                     "a\\b", "", "....//x", "\\x2e\\x2e/x", "summary",
                                     "Summary.MD", "histogram.png", ".hidden", "-rf",
                                     "nul", "x" * 1000, "\u00e9" * 300])
def test_a_feedback_name_never_leaves_the_folder(tmp_path, student):
    folder = tmp_path / "feedback"
    md, js = feedback.student_files(folder, student)
    for path in (md, js):
        assert path.parent == folder, f"expected a file in {folder}, got {path}"
        name = path.name
        assert not name.startswith((".", "-")) and "/" not in name and "\\" not in name, name
        assert len(name.encode()) <= 200, f"expected at most 200 bytes, got {len(name)}"
        assert name.casefold() not in ("summary.md", "histogram.png"), name
    feedback.write_student(folder, student, batch.error_row(
        student, "nope", sha="", settings="", seconds=0.0))
    assert files_under(tmp_path) == {md, js}
    assert feedback.has_feedback(folder, student)


# ---------------------------------------------------------------- the CSV
def test_csv_cells_are_neutralised_and_round_trip(tmp_path):
    hostile = ['=HYPERLINK("http://x","click")', "+1", "-rf", "@SUM(1)", "\tTAB", "\rCR",
               "'already", "''twice", "-1.5", "=", "'", "plain", "caf\udce9", "a\nb"]
    book = Gradebook(tmp_path / "grades.csv")
    for i, text in enumerate(hostile):
        book.put({"student": text, "total": -1.5 if i == 0 else float(i), "max_total": 10.0,
                  "t": -0.25, "status": GRADER_ERROR, "reason": text, "seconds": 0.0,
                  "content_sha256": "ab", "settings": "s", "graded_at": "2026"})
    book.save()
    header, rows = read_cells(book.path)
    assert_neutralised(header, rows)
    by_reason = {row[header.index("reason")]: row for row in rows}
    assert "'=HYPERLINK(\"http://x\",\"click\")" in by_reason
    assert by_reason["'=HYPERLINK(\"http://x\",\"click\")"][1] == "-1.5"  # a number stays one
    assert {row[header.index("t")] for row in rows} == {"-0.25"}
    assert "caf\\xe9" in by_reason, "expected the undecodable byte shown as \\xe9"

    again = Gradebook.load(book.path)
    assert again.warning is None
    want = {batch.printable(s).replace("\r", "\n") for s in hostile}  # CR: a line break
    assert set(again.rows) == want, f"expected {sorted(want)}, got {sorted(again.rows)}"
    for student, row in again.rows.items():
        assert row["reason"] == student, "expected the reason read back as written"
    again.save()
    assert read_cells(book.path) == (header, rows), "a reload + save must change nothing"


# ---------------------------------------------------------------- bad entries
def _huge_member_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("rnn_numpy.py", b"SCORE = 1\n" + b"#" * (64 << 20))  # 64 MB, tiny zipped
        zf.writestr("model.keras", b"\0" * (256 << 20))


def test_one_bad_entry_never_stops_the_batch(tmp_path, monkeypatch):
    folder = tmp_path / "class"
    make_hostile_class(folder, {b"ann": "ann", b"bob": "bob", b"cy": "cy"}, {})
    (folder / "corrupt.zip").write_bytes(b"PK\x03\x04 not a zip at all")
    (folder / "empty.zip").write_bytes(b"")
    _huge_member_zip(folder / "huge.zip")
    with zipfile.ZipFile(folder / "climber.zip", "w") as zf:  # members that climb out
        zf.writestr("../../../rnn_numpy.py", "SCORE = 7\n")
        zf.writestr("/tmp/../../outside.txt", "escaped")
    os.symlink("loop", folder / "loop")  # a symlink to itself
    os.symlink(tmp_path / "nowhere", folder / "dangling")
    real_write = feedback.write_student

    def write_student(where, student, row, result=None):
        if student == "bob":
            raise OSError(28, "No space left on device")
        return real_write(where, student, row, result)

    monkeypatch.setattr(feedback, "write_student", write_student)
    gradebook = tmp_path / "grades.csv"
    report = grade_all(folder, gradebook, grade_fn=fake_grade, progress=False,
                       log=lambda line: None)
    rows = Gradebook.load(gradebook).rows
    assert {"ann", "bob", "cy", "corrupt", "empty", "huge"} <= set(rows), sorted(rows)
    assert sorted(report.graded) == ["ann", "climber", "cy"], report
    assert float(rows["climber"]["total"]) == 0, "expected a climbing member refused, not read"
    assert not list(tmp_path.parent.rglob("outside.txt")), "a zip member escaped"
    assert rows["ann"]["status"] == GRADED and float(rows["ann"]["total"]) == 1
    assert rows["bob"]["status"] == GRADER_ERROR
    assert "could not write the feedback" in rows["bob"]["reason"], rows["bob"]
    for student in ("corrupt", "empty", "huge"):
        assert rows[student]["status"] == GRADER_ERROR and rows[student]["reason"], student
    assert "larger than allowed" in rows["huge"]["reason"] or "FileNotFoundError" in rows[
        "huge"]["reason"], rows["huge"]
    assert (tmp_path / "grades_feedback" / "summary.md").is_file()


def test_a_crash_outside_grading_still_leaves_a_gradebook(tmp_path, monkeypatch):
    make_hostile_class(tmp_path / "class", {b"ann": "ann", b"bob": "bob"}, {})

    def broken_summary(folder, book):
        raise RuntimeError("matplotlib is broken")

    monkeypatch.setattr(feedback, "write_summary", broken_summary)
    lines = []
    report = grade_all(tmp_path / "class", tmp_path / "grades.csv", grade_fn=fake_grade,
                       progress=False, log=lines.append)
    assert sorted(report.graded) == ["ann", "bob"]
    assert set(Gradebook.load(tmp_path / "grades.csv").rows) == {"ann", "bob"}
    assert any("summary" in line and "matplotlib is broken" in line for line in lines), lines


# ---------------------------------------------------------------- the real command line
@pytest.mark.slow
def test_grade_all_command_line_with_hostile_names(tmp_path):
    names = {b"caf\xe9": "caf/xe9", b"=HYPERLINK(1)": "=HYPERLINK(1)",
             b"summary": "summary", b"line\nbreak": "line/nbreak", b"-rf": "-rf",
             b"\xff" * 255: "/xff" * 255}
    folder = tmp_path / "class"
    folder.mkdir()
    for raw in names:
        path = os.path.join(os.fsencode(folder), raw)
        os.mkdir(path)
        with open(os.path.join(path, b"rnn_numpy.py"), "w") as handle:
            handle.write(SOLUTION)
    gradebook = tmp_path / "grades.csv"
    command = [sys.executable, "-m", "autograder", "grade-all", "class", "--gradebook",
               str(gradebook), "--assignment", "rnn_numpy", "--functions", "init_params",
               "--public-only", "--case-timeout", "60", "--import-timeout", "60"]
    env = {**os.environ, "LC_ALL": "C", "PYTHONIOENCODING": "ascii", "COLUMNS": "60"}

    def run():
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
        return done.stderr.decode("ascii", errors="replace")

    log = run()
    rows = Gradebook.load(gradebook).rows
    assert set(rows) == set(names.values()), sorted(rows)
    for row in rows.values():
        assert row["status"] == GRADED and float(row["total"]) == float(row["max_total"]) > 0
    assert "graded caf/xe9:" in log, log
    md, _ = feedback.student_files(tmp_path / "grades_feedback", "summary")
    assert md.read_text().startswith("# Feedback for summary\n")
    assert (tmp_path / "grades_feedback" / "summary.md").read_text().startswith("# Class")
    assert_neutralised(*read_cells(gradebook))
    log = run()
    assert log.count("skip ") == len(names), log
