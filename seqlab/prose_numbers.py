"""Trace every number in a lab's prose to where it comes from (a teacher's tool and a test).

    python -m seqlab.prose_numbers labs/*.ipynb            # stored notebooks: code + records
    python -m seqlab.prose_numbers --executed run/*.ipynb  # executed ones: outputs count too

The rule (README, "Numbers in the labs"): a number written in a markdown cell, outside
``inline code``, ``$math$`` and link targets, is *traced* when it is

1. a value in the notebook's code cells (configuration: ``UNITS = 128``, ``300_000``) or in
   the notebook's executed outputs, to the precision written: "0.73" is any output in
   [0.725, 0.735], "74,700" any in [74,650, 74,750], "2%" any in [1.5, 2.5] or the fraction
   [0.015, 0.025]; after "about", "around", "~", "nearly", "almost", "over" and the like,
   within 10% as well;
2. in a record ``bench/results/<name>.md`` that the same cell names (the record says the
   command that made it);
3. a reference, not a measurement: a year, an integer from 0 to 10, a number after "lab",
   "step", "id", "row", "level", "question" (and their plurals), a grid such as "3x3";
4. in a sentence that quotes a paper: a citation ("Kim (2014)", "Sutskever et al. 2014") and a
   verb such as "reports" in the same sentence.

Anything else is reported with its cell, its text and where it was looked for.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from seqlab.paths import REPO_ROOT

_STRIPPED = (
    re.compile(r"```.*?```", re.S),        # fenced code
    re.compile(r"`[^`]*`"),                # inline code
    re.compile(r"\$\$.*?\$\$", re.S),      # display math
    re.compile(r"\$[^$\n]*\$"),            # inline math
    re.compile(r"\]\([^)]*\)"),            # link targets
    re.compile(r"<[^>\n]*>"),              # HTML tags
    re.compile(r"https?://\S+"),           # bare URLs
    re.compile(r"\b\d+[x×]\d+\b"),       # grids and shapes: 3x3, 64x64
)
_PROSE_NUMBER = re.compile(
    r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\w.]?\d)(\s?%)?(?![A-Za-wyz])")
_ANY_NUMBER = re.compile(r"(?<![\d.])-?(?:\d{1,3}(?:,\d{3})+|\d+(?:_\d{3})*)(?:\.\d+)?"
                         r"(?:[eE][-+]?\d+)?")
_REFERENCE_WORD = re.compile(
    r"\b(?:labs?|steps?|ids?|rows?|levels?|questions?|cells?|parts?|figures?|tables?|"
    r"sections?|chapters?|columns?|epoch|orders?)\s+(?:\d+\s*(?:,|and|or|to|-)\s*)*$",
    re.I)
_APPROXIMATE = re.compile(
    r"(?:about|around|roughly|nearly|almost|approximately|over|under|some|below|above|"
    r"close to|more than|less than|at least|at most|up to|~|≈)\s*$", re.I)
_CITATION = re.compile(r"[A-Z][A-Za-z-]+(?: et al\.?| and [A-Z][A-Za-z-]+)?,? \(?(?:19|20)\d\d")
_REPORTING = re.compile(r"\b(?:report|reports|reported|reach|reaches|reached|achieve|"
                        r"achieves|achieved|obtain|obtains|obtained|get|gets|got)\b")
_RECORD = re.compile(r"bench/results/([\w.-]+)\.md")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(*])")


@dataclass(frozen=True)
class ProseNumber:
    """One number written in prose: its text, value and the tolerance its writing implies."""

    cell: int
    text: str
    value: float
    tolerance: float
    percent: bool
    approximate: bool
    sentence: str


@dataclass(frozen=True)
class Untraced:
    """A prose number found nowhere it may come from."""

    path: str
    number: ProseNumber
    looked_in: str

    def __str__(self) -> str:
        return (f"{self.path} cell {self.number.cell}: {self.number.text!r} is not in "
                f"{self.looked_in} (in: \"{self.number.sentence[:120]}\")")


def prose_of(markdown: str) -> str:
    """The markdown without code, math, link targets, tags, URLs and grids (each -> a space)."""
    for pattern in _STRIPPED:
        markdown = pattern.sub(" ", markdown)
    return markdown


def _tolerance(integer: str, fraction: str | None) -> float:
    """Half a unit of the last written digit: "0.73" -> 0.005; "74,700" -> 50; "12" -> 0.5."""
    if fraction:
        return 0.5 * 10.0 ** -(len(fraction) - 1)
    digits = integer.replace(",", "")
    zeros = len(digits) - len(digits.rstrip("0")) if digits.strip("0") else 0
    return 0.5 * 10.0 ** zeros


def _is_exempt(value: float, text: str, before: str, sentence: str) -> bool:
    whole = "." not in text and "%" not in text
    if whole and (value <= 10 or (1900 <= value <= 2099 and "," not in text)):
        return True
    if _REFERENCE_WORD.search(before):
        return True
    return bool(_CITATION.search(sentence) and _REPORTING.search(sentence))


def prose_numbers(markdown: str, cell: int = 0) -> list[ProseNumber]:
    """The numbers of one markdown cell that need tracing (rule 3 and 4 are applied here)."""
    found = []
    prose = re.sub(r"\s+", " ", prose_of(markdown))
    for sentence in _SENTENCE_END.split(prose):
        for match in _PROSE_NUMBER.finditer(sentence):
            integer, fraction, percent = match.groups()
            text = match.group(0).strip()
            value = float(integer.replace(",", "") + (fraction or ""))
            before = sentence[max(0, match.start() - 40):match.start()]
            if _is_exempt(value, text, before, sentence):
                continue
            found.append(ProseNumber(cell, text, value, _tolerance(integer, fraction),
                                     bool(percent), bool(_APPROXIMATE.search(before)),
                                     sentence.strip()))
    return found


def numbers_in(text: str) -> list[float]:
    """Every number in code or output text (thousands separators and ``_`` allowed)."""
    values = []
    for match in _ANY_NUMBER.finditer(text):
        try:
            values.append(float(match.group(0).replace(",", "").replace("_", "")))
        except ValueError:
            continue
    return values


def matches(number: ProseNumber, candidates: list[float]) -> bool:
    """Whether some candidate is ``number`` to the precision written (see the module doc)."""
    targets = [number.value] + ([number.value / 100] if number.percent else [])
    for target in targets:
        slack = number.tolerance if target == number.value else number.tolerance / 100
        if number.approximate:
            slack = max(slack, 0.1 * abs(target))
        slack *= 1.0001
        if any(abs(candidate - target) <= slack for candidate in candidates):
            return True
    return False


def outputs_text(cell) -> str:
    """The text a code cell printed or displayed (streams, plain-text results, errors)."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif output.get("output_type") in ("execute_result", "display_data"):
            data = output.get("data", {})
            parts.append(data.get("text/plain", "") + "\n" + data.get("text/html", ""))
    return "\n".join(parts)


def record_numbers(name: str, root: Path = REPO_ROOT) -> list[float] | None:
    """The numbers of ``bench/results/<name>.md``, or None when there is no such record."""
    path = root / "bench" / "results" / f"{name}.md"
    return numbers_in(path.read_text(encoding="utf-8")) if path.is_file() else None


def untraced_numbers(path: Path, nb=None, root: Path = REPO_ROOT) -> list[Untraced]:
    """The prose numbers of notebook ``path`` (or of ``nb``, e.g. executed) left untraced.

    A stored notebook has no outputs, so only code and records count for it; pass the
    executed notebook to check everything.
    """
    nb = nb if nb is not None else nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    own = numbers_in("\n".join(c.source for c in code))
    own += numbers_in("\n".join(outputs_text(c) for c in code))
    executed = any(c.get("outputs") for c in code)
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        records = {name: record_numbers(name, root) for name in _RECORD.findall(cell.source)}
        cited = [v for values in records.values() if values for v in values]
        for number in prose_numbers(cell.source, index):
            if matches(number, own) or matches(number, cited):
                continue
            where = "the notebook's code" + (" or outputs" if executed else "")
            where += "".join(f", {_record_label(n, v)}" for n, v in records.items())
            problems.append(Untraced(str(path), number, where))
    return problems


def _record_label(name: str, values) -> str:
    return f"bench/results/{name}.md" + ("" if values is not None else " (no such record)")


def missing_records(path: Path, root: Path = REPO_ROOT) -> list[str]:
    """The records a notebook's markdown names that do not exist."""
    nb = nbformat.read(path, as_version=4)
    names = {n for c in nb.cells if c.cell_type == "markdown" for n in _RECORD.findall(c.source)}
    return sorted(n for n in names if record_numbers(n, root) is None)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqlab.prose_numbers",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--executed", action="store_true",
                        help="the notebooks carry outputs: report every untraced number")
    args = parser.parse_args(argv)
    problems = []
    for path in args.notebooks:
        problems += untraced_numbers(path)
    for problem in problems:
        print(problem)
    kind = "untraced" if args.executed else "not traced to code or a record (outputs unchecked)"
    print(f"{len(problems)} numbers {kind} in {len(args.notebooks)} notebooks")
    return 1 if problems and args.executed else 0


if __name__ == "__main__":
    sys.exit(main())
