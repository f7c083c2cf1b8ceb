"""Results for people and for Gradescope: a readable table and ``results.json``."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from autograder.gradebook import printable
from autograder.grader import GradeResult

STYLE = {"passed": "green", "partial": "yellow", "failed": "red", "skipped": "dim",
         "grader_error": "magenta", "ungraded": "cyan"}


def results_json(result: GradeResult) -> dict:
    """Gradescope's autograder results format (score, execution_time, output, tests)."""
    tests = []
    for test in result.tests:
        # Text can quote the student's (a lone surrogate too): always UTF-8-encodable.
        entry = {"name": printable(test.name), "score": test.points,
                 "max_score": test.max_points, "output": printable(test.message),
                 "visibility": test.visibility}
        if test.status == "skipped":  # 0 of 0, for every submission alike
            entry.update(name=f"[skipped] {test.name}", extra_data={"status": "skipped"})
        elif test.status == "grader_error":  # withheld: 0 of 0, and the output says why
            entry.update(name=f"[grader error] {test.name}", status="failed",
                         extra_data={"status": "grader_error"})
        elif test.status == "ungraded":  # 0 of 0, for a person: the TA grades it by hand
            entry["extra_data"] = {"status": "ungraded"}
        else:
            entry["status"] = "passed" if test.status == "passed" else "failed"
        tests.append(entry)
    output = (_score_line(result) + " " + " ".join(result.notes)).strip()
    withheld = [t for t in result.tests if t.status == "grader_error"]
    if withheld:
        output += (f" {len(withheld)} test(s) could not be finished by the grader itself (it "
                   "ran out of memory or its own process failed): they are withheld, not "
                   "counted against you. This is not about your code; tell your TA, who "
                   "will regrade.")
    if result.isolation:
        output += f" Sandbox: {result.isolation}."
    output = printable(output)
    extra = {"isolation": result.isolation}
    if withheld:
        extra["status"] = "grader_error"
    return {"score": result.score, "execution_time": round(result.seconds, 1),
            "output": output, "tests": tests, "extra_data": extra}


def _score_line(result: GradeResult) -> str:
    """The output's first sentence: the score of the tests students see now.

    Tests that are not ``visible`` (the hidden checks, and the auto-graded questions unless
    course.toml's ``[questions] verdicts`` says otherwise) are counted in the total but left
    out of this line: Gradescope lets an assignment hide the total until publication, and a
    line saying it would give away which hidden test (e.g. which answer) was right.
    """
    unshown = [t for t in result.tests if t.visibility != "visible" and t.max_points > 0]
    if not unshown:
        return f"Score {result.score:g} / {result.max_score:g} ({result.profile} profile)."
    shown = [t for t in result.tests if t.visibility == "visible" or t.max_points <= 0]
    return (f"Score of the tests shown: {sum(t.points for t in shown):g} / "
            f"{sum(t.max_points for t in shown):g} ({result.profile} profile); "
            f"{len(unshown)} more test(s) worth {sum(t.max_points for t in unshown):g} points "
            "count in your total; their results are not shown yet (for most, until grades "
            "are published).")


def write_json(result: GradeResult, path: str | Path) -> Path:
    """Write results.json atomically (a crash never leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results-", suffix=".json")
    with os.fdopen(handle, "w", encoding="utf-8", errors="backslashreplace") as out:
        json.dump(results_json(result), out, indent=2)
    os.replace(tmp, path)
    return path


def print_table(result: GradeResult, console: Console | None = None) -> None:
    console = console or Console(width=140)
    title = (f"{_shown(str(result.submission))}: {result.score:g} / {result.max_score:g} "
             f"points ({result.profile} profile, {result.seconds:.0f} s)")
    table = Table(title=title, show_lines=False)
    table.add_column("test", overflow="fold", max_width=58)
    table.add_column("points", justify="right")
    table.add_column("status")
    table.add_column("reason", overflow="fold")
    for test in result.tests:
        style = STYLE.get(test.status, "")
        points = ("-" if test.status in ("skipped", "grader_error")
                  else f"{test.points:g}/{test.max_points:g}")
        # Names and messages can quote student text: printed literally, never as rich markup.
        table.add_row(_shown(test.name), points, f"[{style}]{test.status}[/]",
                      _shown(test.message))
    console.print(table)
    if result.isolation:
        console.print(f"sandbox: {_shown(result.isolation)}")
    for note in result.notes:
        console.print(f"note: {_shown(note)}")


def _shown(text: str) -> str:
    """Student-quoted text for the console: literal (no rich markup), always encodable."""
    return escape(printable(str(text)))
