"""Play a Colab runtime: run a lab's first code cells as Colab would, then check() in it.

    python play_colab.py NOTEBOOK FAKE_COLAB SOLVED_DIR OUT_JSON

Run by ``tests/test_colab_pins.py`` with the interpreter of a venv that holds Colab's pinned
packages and nothing of the kit: the lab's setup cell itself must clone the kit and install
it. ``FAKE_COLAB`` holds a ``google/colab`` package (``drive.mount`` makes a folder), imported
first so that ``"google.colab" in sys.modules`` as in Colab. The cells run unchanged, in
order, up to and including the first one that calls ``check(`` (the student's module is
still the starter there); then the solved modules of ``SOLVED_DIR`` are copied into the
student's Drive folder, as a student who has finished the functions, and the check cell and
the cell after it run again. What happened is written to ``OUT_JSON``.

This file uses only the standard library and what the lab imports: it runs outside pytest.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import traceback
from pathlib import Path


def code_cells(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in cells if c["cell_type"] == "code"]


def run_cell(index: int, source: str, namespace: dict, timings: list) -> None:
    start = time.perf_counter()
    try:
        exec(compile(source, f"<{NAME} code cell {index + 1}>", "exec"), namespace)
    except BaseException:
        print(f"\n{NAME}: code cell {index + 1} failed:\n{source}\n", file=sys.stderr)
        traceback.print_exc()
        raise
    timings.append({"cell": index + 1, "seconds": round(time.perf_counter() - start, 2)})


def statuses(report) -> list[str]:
    return [row.status for row in report.rows]


def main(notebook: str, fake_colab: str, solved: str, out: str) -> int:
    sys.path.insert(0, fake_colab)
    import google.colab  # noqa: F401  (Colab's kernel has imported it before any cell runs)

    cells = code_cells(Path(notebook))
    check_cell = next(i for i, src in enumerate(cells) if "check(" in src)
    namespace: dict = {"__name__": "__main__"}
    timings: list = []
    for index in range(check_cell + 1):
        run_cell(index, cells[index], namespace, timings)

    import keras
    import numpy
    import tensorflow

    import seqlab
    from seqlab.checks import check

    work = namespace["WORK"]
    starter = check("rnn_forward", show=False)
    for module in Path(solved).glob("*.py"):
        shutil.copy2(module, Path(work.code) / module.name)
    for index in (check_cell, check_cell + 1):
        run_cell(index, cells[index], namespace, timings)
    lab_check = next(name for name in ("build_embedding_matrix", "rnn_forward")
                     if f'check("{name}")' in cells[check_cell])
    reports = {name: check(name) for name in dict.fromkeys((lab_check, "rnn_forward"))}
    result = {
        "seqlab": seqlab.__file__,
        "versions": {"tensorflow": tensorflow.__version__, "keras": keras.__version__,
                     "numpy": numpy.__version__, "python": "{}.{}".format(*sys.version_info[:2])},
        "workspace": {"code": str(work.code), "colab": work.colab, "drive": work.drive,
                      "profile": work.profile,
                      "modules": sorted(p.name for p in Path(work.code).glob("*.py"))},
        "cells": timings,
        "starter_rnn_forward": statuses(starter),
        "checks": {name: {"passed": r.passed, "statuses": statuses(r)}
                   for name, r in reports.items()},
    }
    Path(out).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


NAME = Path(sys.argv[1]).stem if len(sys.argv) > 1 else "lab"

if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
