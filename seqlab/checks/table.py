"""The printed table of a :class:`~seqlab.checks.core.CheckReport` (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from seqlab.checks.core import ERROR, FAILED, NOT_IMPLEMENTED, PASSED, TIMED_OUT, CheckReport

STYLES = {PASSED: "green", FAILED: "red", NOT_IMPLEMENTED: "yellow", ERROR: "red",
          TIMED_OUT: "red"}


def report_table(report: CheckReport) -> Table:
    """One row per check: name, verdict, expected, got (plain text, never markup)."""
    done = sum(row.passed for row in report.rows)
    table = Table(title=f"check({report.function!r}): {done}/{len(report.rows)} passed "
                        f"in {report.seconds:.1f} s", title_justify="left", show_lines=True)
    table.add_column("check", ratio=3)
    table.add_column("result", ratio=4)
    table.add_column("expected", ratio=2)
    table.add_column("got", ratio=2)
    for row in report.rows:
        style = STYLES.get(row.status, "")
        table.add_row(Text(row.name), Text(row.verdict, style=style), Text(row.expected),
                      Text(row.got))
    return table


def print_report(report: CheckReport, width: int = 120) -> None:
    """Print the table (in a notebook too: rich renders it as the cell's output)."""
    Console(width=width, highlight=False).print(report_table(report))
