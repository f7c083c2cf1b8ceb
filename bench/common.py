"""Shared helpers for the benchmark scripts: rows, a printed table and recorded results."""

from __future__ import annotations

import json
import platform
from pathlib import Path

from rich.console import Console
from rich.table import Table

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, str]:
    """A short description of where the numbers were measured."""
    import os

    return {"python": platform.python_version(), "machine": platform.machine(),
            "cpus": str(os.cpu_count()), "system": platform.system()}


def print_table(title: str, rows: list[dict], columns: list[str]) -> None:
    """Print ``rows`` (dicts) as a table with the given columns, floats to 3 places."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column in ("dataset", "model") else "right")
    for row in rows:
        table.add_row(*[_fmt(row.get(c, "")) for c in columns])
    Console(width=140).print(table)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def record(name: str, *, command: str, rows: list[dict], columns: list[str],
           notes: str = "") -> Path:
    """Write ``bench/results/<name>.json`` and ``.md`` with the command that made them.

    A record's ``.md`` may carry further sections after the generated part (``## `` headings,
    e.g. a lab's before/after runs, each naming its own command): they are kept, so a new run
    replaces only what its command made."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = {"command": command, "machine": machine(), "rows": rows, "notes": notes}
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    md = (f"# {name}\n\nMade by `{command}` on {payload['machine']}.\n\n"
          f"{markdown_table(rows, columns)}\n\n{notes}\n")
    path = RESULTS_DIR / f"{name}.md"
    path.write_text(md + kept_sections(path))
    return path


def kept_sections(path: Path) -> str:
    """The ``## `` sections after a record's generated part ("" without a record or any)."""
    if not path.is_file():
        return ""
    text = path.read_text(encoding="utf-8")
    start = text.find("\n## ")
    return "\n" + text[start + 1:] if start >= 0 else ""
