"""Helpers for running the lab notebooks in a student release (tests only).

A release is built once per test module into a temporary folder; the notebooks then run there,
with the release's own ``seqlab`` first on the path, exactly as a student's clone runs them.
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from seqlab.release import build_release

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "labs").glob("[0-9][0-9]_*.ipynb"))


def make_release(folder: Path, finished: bool = False) -> Path:
    """Build the student release into ``folder``; ``finished`` copies the reference modules
    over ``starter/``, as a student who has done every lab would have them."""
    build_release(folder)
    if finished:
        for path in (REPO / "solutions").glob("*.py"):
            shutil.copy(path, folder / "starter" / path.name)
    return folder


@contextmanager
def student_environment(release: Path):
    """The kernel's environment: quick profile, the release's kit, its own starter/."""
    old = dict(os.environ)
    os.environ.pop("SEQLAB_IMPL", None)
    os.environ.update({"SEQLAB_PROFILE": "quick", "PYTHONPATH": str(release)})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(old)


def client_for(release: Path, name: str, timeout: int = 600):
    nb = nbformat.read(release / "labs" / name, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(release / "labs")}})
    return nb, client


def run_all(release: Path, name: str):
    """Run a release notebook top to bottom (raises CellExecutionError).

    Returns ``(seconds, nb)``: the wall time and the executed notebook, outputs included."""
    nb, client = client_for(release, name)
    start = time.perf_counter()
    with student_environment(release):
        client.execute()
    return time.perf_counter() - start, nb


def outputs_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif output.get("output_type") in ("execute_result", "display_data"):
            parts.append(output.get("data", {}).get("text/plain", ""))
        elif output.get("output_type") == "error":
            parts.append("\n".join(output.get("traceback", [])))
    return "".join(parts)


def run_to_first_check(release: Path, name: str):
    """Run cells one by one up to and including the first ``check(...)`` cell.

    Returns ``(index, cell, seconds)``; a cell that raises before it raises
    CellExecutionError, naming the cell. Nothing after the first check runs.
    """
    nb, client = client_for(release, name)
    start = time.perf_counter()
    with student_environment(release), client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            client.execute_cell(cell, index)
            if "check(" in cell.source:
                return index, cell, time.perf_counter() - start
    raise AssertionError(f"{name}: no cell calls check()")
