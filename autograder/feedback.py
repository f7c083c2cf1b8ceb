"""Feedback files for a class: one Markdown report and one ``results.json`` per student, and a
class summary (``summary.md``, ``histogram.png``) in the same folder.

Written by :func:`autograder.batch.grade_all`; every file is replaced atomically.

A student's files are named by :func:`feedback_stem`: the student id itself when it is a
plain, lower-case name, otherwise a sanitised prefix plus a hash of the id. So no student id
(``summary``, ``../x``, 255 bytes, ``Ann`` next to ``ann`` on a case-insensitive disk) can
write outside the folder, overwrite the class summary or share another student's file.
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
import unicodedata
from pathlib import Path

from autograder.gradebook import GRADED, Gradebook, atomic_write

SLOWEST = 5
# Stems of the folder's own files (summary.md, histogram.png), and names Windows reserves.
RESERVED = {"summary", "histogram", "con", "prn", "aux", "nul",
            *(f"{port}{n}" for port in ("com", "lpt") for n in range(1, 10))}
MAX_STEM_BYTES = 120  # + ".json" + atomic_write's ".<name>.XXXXXXXX.tmp" < 255 bytes
_PLAIN = re.compile(r"[^\W_][\w.-]*")  # starts with a letter or digit
_HASHED = re.compile(r".*-[0-9a-f]{16}")  # what feedback_stem appends


def feedback_stem(student: str) -> str:
    """The file name (without ``.md``/``.json``) of ``student``'s feedback, unique per id.

    A plain id (letters, digits, ``_ . -``; lower case; NFC; short; not a reserved name; not
    ending like a hash) is used as it is. Any other id gets ``<sanitised prefix>-<16 hex of
    sha256(id)>``; a plain id never ends like that, so the two kinds never meet.
    """
    plain = (_PLAIN.fullmatch(student) and student == student.lower()
             and len(student.encode("utf-8", "surrogatepass")) <= MAX_STEM_BYTES
             and unicodedata.normalize("NFC", student) == student
             and not _HASHED.fullmatch(student)
             and student.split(".")[0] not in RESERVED)
    if plain:
        return student
    digest = hashlib.sha256(student.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    safe = re.sub(r"[^\w.-]+", "_", unicodedata.normalize("NFC", student)).lstrip("._-")
    safe = safe.encode("utf-8", "surrogatepass")[:80].decode("utf-8", "ignore")
    return f"{safe or 'student'}-{digest}"


def student_files(folder: Path, student: str) -> tuple[Path, Path]:
    """``student``'s Markdown report and results.json, always directly inside ``folder``."""
    stem = feedback_stem(student)
    return Path(folder) / f"{stem}.md", Path(folder) / f"{stem}.json"


def has_feedback(folder: Path, student: str) -> bool:
    """Whether both of ``student``'s feedback files are in ``folder``."""
    return all(path.is_file() for path in student_files(folder, student))


# Markdown-active ASCII punctuation (":" and "." too: GitHub links bare http: and www. text).
_ACTIVE = re.compile(r"[\\`*{}\[\]<>()#+\-.!|~&:=\"']|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def _cell(text) -> str:
    """Student-quoted text as Markdown shows it literally, in a table cell or a list item.

    Every Markdown-active ASCII punctuation character gets a backslash (CommonMark escapes
    any of them; ``_`` only where it could start or end emphasis, so ``correct_01`` stays
    as written): no link, image, autolink, raw HTML, emphasis, heading, code span (a
    backtick in the text is escaped too, so nothing can close a span) or table pipe
    survives, and GitHub and VS Code show the text as written. Line breaks become
    ``<br>`` (ours, the only HTML in the cell).
    """
    text = str(text).replace("\r\n", "\n").replace("\r", "\n")
    return _ACTIVE.sub(lambda m: "\\" + m.group(), text).replace("\n", "<br>")


def md_text(student: str) -> str:
    """A student id as Markdown shows it literally: no link, image, HTML or code span."""
    return _cell(student)


def _num(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def student_markdown(student: str, row: dict, result=None) -> str:
    """The report a student reads: total, a table of tests, notes."""
    lines = [f"# Feedback for {md_text(student)}", ""]
    if result is None or (row["status"] != GRADED and not _withheld(result)):
        lines += [f"**Total: {_num(row['total']):g} points.** Grading could not finish: "
                  f"{_cell(row.get('reason') or 'unknown reason')}.", "",
                  "Your TA has this message too; fix what it says (or ask your TA) and "
                  "submit again.", ""]
        return "\n".join(lines)
    lines += [f"**Total: {result.score:g} / {result.max_score:g}** ({result.profile} profile, "
              f"graded {row['graded_at'][:19].replace('T', ' ')} UTC in {result.seconds:.0f} s)",
              "", "| test | points | status | message |", "|---|---|---|---|"]
    hidden = [t for t in result.tests if t.visibility == "hidden"]
    for test in result.tests:
        if test.visibility == "hidden":
            continue
        points = "-" if test.status == "skipped" else f"{test.points:g} / {test.max_points:g}"
        lines.append(f"| {_cell(test.name)} | {points} | {test.status} | "
                     f"{_cell(test.message)} |")
    notes = list(result.notes)
    if hidden:
        notes.append(f"{len(hidden)} hidden test(s) worth "
                     f"{sum(t.max_points for t in hidden):g} points are included in the total "
                     "but not shown")
    if _withheld(result):
        notes.append(f"{len(_withheld(result))} test(s) marked 'grader_error' could not be "
                     "finished by the grader itself (e.g. it ran out of memory): they cost "
                     "you nothing and are graded again; this is not about your code")
    if any(t.status == "skipped" for t in result.tests):
        notes.append("'skipped' tests could not apply here (e.g. no GPU) and count for nothing")
    if notes:
        lines += ["", "## Notes", "", *[f"- {_cell(note)}" for note in notes]]
    return "\n".join(lines) + "\n"


def _withheld(result) -> list:
    """Tests the grader could not finish for its own reasons (shown, withheld, regraded)."""
    return [t for t in result.tests if t.status == "grader_error"]


def student_json(row: dict, result=None) -> dict:
    """Gradescope's results.json for this student (also for a grader error, with score 0)."""
    if result is not None and (row["status"] == GRADED or _withheld(result)):
        from autograder.report import results_json

        return results_json(result)
    return {"score": 0.0, "execution_time": _num(row.get("seconds")),
            "output": f"Grading could not finish: {row.get('reason') or 'unknown reason'}",
            "tests": []}


def write_student(folder: Path, student: str, row: dict, result=None) -> None:
    """Replace ``student``'s results.json, then their report (see :func:`student_files`)."""
    md, js = student_files(folder, student)
    atomic_write(js, json.dumps(student_json(row, result), indent=2) + "\n")
    atomic_write(md, student_markdown(student, row, result))


# ---------------------------------------------------------------- the class summary
def pass_rates(folder: Path, students) -> tuple[dict[str, dict], int]:
    """Per test: students it counted for, full passes, partial credit, mean points, max.

    Read from the students' ``<student>.json``; returns ``(rates, students read)``.
    """
    rates: dict[str, dict] = {}
    read = 0
    for student in students:
        try:
            data = json.loads(student_files(folder, student)[1].read_text())
        except (OSError, ValueError):
            continue
        read += 1
        for test in data.get("tests", []):
            extra = test.get("extra_data")
            if isinstance(extra, dict) and extra.get("status") in ("skipped", "ungraded"):
                continue  # counted for nobody (ungraded: the written answers, for the TA)
            entry = rates.setdefault(test["name"], {"counted": 0, "passed": 0, "partial": 0,
                                                    "points": 0.0, "max": 0.0})
            score, top = _num(test.get("score")), _num(test.get("max_score"))
            entry["counted"] += 1
            entry["points"] += score
            entry["max"] = max(entry["max"], top)
            if score >= top:
                entry["passed"] += 1
            elif score > 0:
                entry["partial"] += 1
    return rates, read


def summary_markdown(folder: Path, book: Gradebook) -> str:
    rows = list(book.rows.values())
    graded = [r for r in rows if r.get("status") == GRADED]
    errors = [r for r in rows if r.get("status") != GRADED]
    totals = [_num(r["total"]) for r in graded]
    top = max((_num(r["max_total"]) for r in graded), default=0.0)
    lines = ["# Class summary", "",
             f"- students: {len(rows)} ({len(graded)} graded, {len(errors)} grader error(s))"]
    if totals:
        lines += [f"- total: mean {statistics.mean(totals):.2f}, median "
                  f"{statistics.median(totals):g}, min {min(totals):g}, max {max(totals):g} "
                  f"(out of {top:g})",
                  f"- full marks: {sum(t >= top for t in totals)}, zero: "
                  f"{sum(t == 0 for t in totals)}"]
    lines += ["", "![score histogram](histogram.png)", "", "## Per-test pass rates", ""]
    rates, read = pass_rates(folder, [r["student"] for r in graded])
    if rates:
        lines += [f"Over the {read} graded students with a feedback file; 'passed' is full "
                  "points, 'partial' some.", "",
                  "| test | passed | partial | mean points |", "|---|---|---|---|"]
        for name, entry in rates.items():
            n = entry["counted"]
            lines.append(f"| {_cell(name)} | {entry['passed']}/{n} "
                         f"({entry['passed'] / n:.0%}) | {entry['partial']}/{n} | "
                         f"{entry['points'] / n:.2f} / {entry['max']:g} |")
    else:
        lines.append("No graded student yet.")
    lines += ["", f"## The {SLOWEST} slowest submissions", "",
              "| student | seconds | total | status |", "|---|---|---|---|"]
    for row in sorted(rows, key=lambda r: _num(r.get("seconds")), reverse=True)[:SLOWEST]:
        lines.append(f"| {md_text(row['student'])} | {_num(row.get('seconds')):.1f} | "
                     f"{_num(row['total']):g} | {row.get('status')} |")
    if errors:
        lines += ["", "## Grader errors", "", "| student | reason |", "|---|---|"]
        lines += [f"| {md_text(r['student'])} | {_cell(r.get('reason', ''))} |"
                  for r in errors]
    return "\n".join(lines) + "\n"


def histogram_png(book: Gradebook) -> bytes:
    """A histogram of graded students' totals (``matplotlib.figure.Figure``, no pyplot)."""
    import io

    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    graded = [r for r in book.rows.values() if r.get("status") == GRADED]
    totals = [_num(r["total"]) for r in graded]
    top = max((_num(r["max_total"]) for r in graded), default=0.0)
    figure = Figure(figsize=(6, 3.5), dpi=100)
    axes = figure.add_subplot()
    if totals:
        upper = max(top, max(totals), 1.0)
        axes.hist(totals, bins=max(1, min(20, round(upper))), range=(0, upper),
                  color="#4477aa", edgecolor="white")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel(f"total points (out of {top:g})")
    axes.set_ylabel("students")
    errors = len(book.rows) - len(graded)
    axes.set_title(f"{len(graded)} graded" + (f", {errors} grader error(s) not shown"
                                              if errors else ""))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_summary(folder: Path, book: Gradebook) -> tuple[Path, Path]:
    folder = Path(folder)
    summary, histogram = folder / "summary.md", folder / "histogram.png"
    atomic_write(summary, summary_markdown(folder, book))
    atomic_write(histogram, histogram_png(book))
    return summary, histogram
