"""Student inputs that used to get through (issue 21): each attack, and what it now earns.

Every value a student controls is hostile until the parent has checked it: one invalid
character costs at most its own question and never stops results.json being written; an
ambiguous zip is refused in one sentence with 0 of the full maximum.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from rich.console import Console

from autograder import feedback, report
from autograder.gradebook import Gradebook
from autograder.grader import GradeResult, TestResult
from autograder.questions import parse_answers
from autograder.submission import RefusedSubmission, resolve

BAD = "\ud800"  # a lone surrogate: what json.loads makes of the escape "\ud800"


def _hostile_result() -> GradeResult:
    test = TestResult("a", f"Question 1.1 {BAD}", 0.0, 1.0, "failed", f"got {BAD}\udc80",
                      "visible")
    return GradeResult(f"student{BAD}", "quick", [test], notes=[f"note {BAD}"],
                       isolation=f"uid {BAD}")


# ---------------------------------------------------------------- one invalid character
def test_a_lone_surrogate_costs_only_its_own_question():
    raw = b'{"1.1": "\\ud800", "1.2": "B", "1.3": "ok \\udfff text"}'
    found = parse_answers(raw)
    assert found["error"] is None, f"expected no file-wide error, got {found['error']!r}"
    assert found["answers"] == {"1.2": "B"}, f"expected only 1.2 read, got {found['answers']}"
    assert set(found["problems"]) == {"1.1", "1.3"}, found["problems"]
    assert "invalid character" in found["problems"]["1.1"]


def test_results_json_is_written_whatever_the_text(tmp_path):
    path = report.write_json(_hostile_result(), tmp_path / "results.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["tests"][0]["max_score"] == 1.0
    assert "\\ud800" in data["tests"][0]["name"], data["tests"][0]["name"]
    path.read_bytes().decode("utf-8")  # strict UTF-8: any reader can parse it


def test_the_table_prints_whatever_the_text():
    out = io.StringIO()
    report.print_table(_hostile_result(), Console(file=out, width=140))
    out.getvalue().encode("utf-8")  # strict: a UTF-8 terminal takes it
    assert "\\ud800" in out.getvalue(), out.getvalue()


def test_feedback_and_gradebook_are_written_whatever_the_text(tmp_path):
    result = _hostile_result()
    row = {"student": f"s{BAD}", "total": 0.0, "max_total": 1.0, "status": "graded",
           "reason": f"r{BAD}", "graded_at": "2026-12-07T20:00:00", result.tests[0].name: 0.0}
    feedback.write_student(tmp_path, row["student"], row, result)
    book = Gradebook(tmp_path / "gradebook.csv")
    book.put(row)
    book.save()
    for path in tmp_path.iterdir():
        path.read_bytes().decode("utf-8")  # every file strict UTF-8
    assert len(list(tmp_path.glob("*.md"))) == 1, sorted(p.name for p in tmp_path.iterdir())


# ---------------------------------------------------------------- live Markdown in feedback
LIVE = ["![](http://evil.example/beacon.png)", "[x](javascript:alert(1))",
        '<img src="http://evil.example/b.png">', "<http://evil.example/>",
        "`` ` ``<img src=x>", "**bold** _em_ | pipe", "x\n# heading\n[y](http://e.example)"]


def _rendered_html(markdown: str) -> str:
    markdown_it = pytest.importorskip("markdown_it")
    return markdown_it.MarkdownIt("commonmark").enable("table").render(markdown)


@pytest.mark.parametrize("text", LIVE)
def test_student_text_renders_literally_in_feedback(text):
    test = TestResult("a", "Question 2.1", 0.0, 1.0, "failed", text, "visible")
    result = GradeResult("sub", "quick", [test], notes=[text])
    row = {"student": text, "total": 0.0, "max_total": 1.0, "status": "graded",
           "reason": text, "graded_at": "2026-12-07T20:00:00"}
    html = _rendered_html(feedback.student_markdown(text, row, result))
    assert html.count("<strong>") == 1, f"expected only our Total in bold, got:\n{html}"
    for live in ("<img", "<a ", "<em", "<code", "<script"):
        assert live not in html, f"expected no {live!r} from {text!r}, got:\n{html}"
    assert html.count("<h1>") == 1 and html.count("<h2>") <= 1, html
    error_row = {**row, "status": "grader_error"}
    html = _rendered_html(feedback.student_markdown(text, error_row, result))
    assert "<img" not in html and "<a " not in html, html


# ---------------------------------------------------------------- zip members
def _zip(path, members, *, encrypt: bool = False):
    """A zip of ``(name, text)`` members, duplicates as given; ``encrypt``: every member's
    headers say it is password-protected (the general-purpose flag's bit 0), as a zip
    made with ``zip -e`` does."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": the attack itself
        with zipfile.ZipFile(path, "w") as archive:
            for name, text in members:
                archive.writestr(name, text)
    if encrypt:
        data = bytearray(path.read_bytes())
        for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            at = data.find(signature)
            while at >= 0:
                data[at + offset] |= 0x1
                at = data.find(signature, at + 4)
        path.write_bytes(bytes(data))
    return path


MODULE = "sentiment.py"
AMBIGUOUS = {
    "same name twice": [(MODULE, "x = 1\n"), (MODULE, "x = 2\n")],
    "names differing by case": [("Work/" + MODULE, "x = 1\n"), ("work/" + MODULE, "x = 2\n")],
    "names differing by ./": [(MODULE, "x = 1\n"), ("./" + MODULE, "x = 2\n")],
    "one file in two folders": [("a/" + MODULE, "x = 1\n"), ("b/" + MODULE, "x = 2\n")],
    "path traversal": [("../" + MODULE, "x = 1\n")],
    "absolute name": [("/tmp/" + MODULE, "x = 1\n")],
}


@pytest.mark.parametrize("case", ["encrypted", *sorted(AMBIGUOUS)])
def test_an_ambiguous_zip_is_refused_in_one_sentence(tmp_path, case):
    path = _zip(tmp_path / "s.zip", AMBIGUOUS.get(case, [(MODULE, "x = 1\n")]),
                encrypt=case == "encrypted")
    with pytest.raises(RefusedSubmission) as caught:
        resolve(path, tmp_path / "out")
    why = str(caught.value)
    assert "\n" not in why and why.endswith(("one", "password", "themselves")), why
    assert caught.value.modules == ("sentiment",), caught.value.modules
    assert not list((tmp_path / "out").iterdir()), "expected nothing copied"


def test_a_plain_zip_is_still_read(tmp_path):
    path = _zip(tmp_path / "s.zip", [("work/" + MODULE, "x = 1\n"), ("work/notes.txt", "")])
    assert resolve(path, tmp_path / "out").files == (MODULE,)


def test_a_refused_zip_gets_0_of_the_full_maximum_and_results(tmp_path, capsys):
    from autograder.cli import main
    from autograder.grader import grade

    refused = _zip(tmp_path / "bad.zip", [(MODULE, "x = 1\n")], encrypt=True)
    assert main(["grade", str(refused), "--json", str(tmp_path / "bad.json")]) == 0
    bad = json.loads((tmp_path / "bad.json").read_text())
    (tmp_path / "empty").mkdir()
    missing = grade(tmp_path / "empty", assignment="sentiment")  # the maximum all share
    expected = missing.max_score
    assert bad["score"] == 0, bad["score"]
    got = sum(t["max_score"] for t in bad["tests"])
    assert got == pytest.approx(expected), f"expected maximum {expected}, got {got}"
    assert [t["name"].removeprefix("[skipped] ") for t in bad["tests"]] == \
        [t.name for t in missing.tests]
    assert all("encrypted" in t["output"] for t in bad["tests"]), bad["tests"][0]
