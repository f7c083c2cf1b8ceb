"""``check("<function>")``: a student function's public checks, in seconds, in the notebook.

    from seqlab.checks import check
    check("rnn_forward")          # the module the notebook imports: starter/ or $SEQLAB_IMPL
    check("rnn_forward", module=my_module)   # or a module object, a folder, a .py file

Each check calls the function on fixed small inputs and compares the result with recorded
fixtures (``seqlab/checks/fixtures/``) or with real Keras layers. It runs in this process,
under a timeout, and prints one row per check: passed, failed (expected vs got) or "not
implemented yet". It is a self-check, not the grade: the autograder runs more (hidden)
checks in a sandbox. Nothing here imports the autograder or the reference solutions.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from types import ModuleType

from seqlab.checks.core import REGISTRY, RUN_CACHE, CheckReport, CheckRow, run_check

ASSIGNMENTS: dict[str, tuple[str, ...]] = {
    "rnn_numpy": ("init_params", "rnn_forward", "rnn_loss_and_grads", "clip_by_global_norm",
                  "state_jacobian_norms"),
    "cells": ("lstm_step", "gru_step", "lstm_sequence", "gru_sequence", "gru_state_jacobian"),
    "sentiment": ("build_embedding_matrix", "build_rnn_classifier", "build_cnn_classifier"),
    "char_lm": ("batchify", "get_batch", "sample_next", "build_char_lm", "generate"),
    "seq2seq": ("build_seq2seq", "greedy_decode", "beam_search_decode"),
    "captioning": ("build_captioner", "greedy_captions", "beam_search_captions"),
}
"""Every contract function with public checks, by assignment (its module's name)."""

FUNCTIONS: dict[str, str] = {f: a for a, fs in ASSIGNMENTS.items() for f in fs}
"""``{function: assignment}``."""

__all__ = ["ASSIGNMENTS", "FUNCTIONS", "CheckReport", "CheckRow", "check", "checks_of"]


def checks_of(function: str) -> list:
    """The public checks of ``function`` (imports its assignment's check module once)."""
    if function not in FUNCTIONS:
        raise ValueError(f"no public checks for {function!r}; functions with checks: "
                         f"{', '.join(FUNCTIONS)}")
    importlib.import_module(f"seqlab.checks.{FUNCTIONS[function]}")
    return REGISTRY[function]


def load_module(function: str, module: ModuleType | str | Path | None = None) -> ModuleType:
    """The student module that defines ``function``.

    ``None``: ``<assignment>.py`` from the folder the notebooks import from (``starter/``,
    or ``$SEQLAB_IMPL``: ``solutions`` or a folder such as the Colab Drive copy), imported
    afresh so the latest edits count. A string or path names such a folder or a ``.py`` file.
    """
    if isinstance(module, ModuleType):
        return module
    from seqlab.student import student_module

    assignment = FUNCTIONS[function]
    if module is not None and str(module).endswith(".py"):
        path = Path(module)
        return student_module(path.stem, str(path.parent))
    return student_module(assignment, None if module is None else str(module))


def check(name: str, module: ModuleType | str | Path | None = None,
          show: bool = True) -> CheckReport:
    """Run the public checks of the function ``name`` and print a table (``show``).

    Returns a :class:`CheckReport` (``report.passed`` is True when every check passed).
    Never raises for the student's code: a crash, a wrong answer, an endless loop (timeout)
    or ``NotImplementedError`` each become a row.
    """
    items = checks_of(name)
    start = time.perf_counter()
    try:
        mod = load_module(name, module)
    except Exception as error:  # a syntax error in the student's file, a missing file
        report = CheckReport(name, str(module or "student module"))
        report.rows.append(CheckRow(f"import the module that defines {name}", "error",
                                    f"{type(error).__name__}: {error}"))
        return _finish(report, start, show)
    report = CheckReport(name, getattr(mod, "__file__", None) or str(mod))
    if not callable(getattr(mod, name, None)):
        report.rows.append(CheckRow(f"{name} exists", "failed",
                                    f"{report.source} defines no function {name}"))
        return _finish(report, start, show)
    RUN_CACHE.clear()
    try:
        report.rows.extend(run_check(item, mod) for item in items)
    finally:
        RUN_CACHE.clear()
    return _finish(report, start, show)


def _finish(report: CheckReport, start: float, show: bool) -> CheckReport:
    report.seconds = time.perf_counter() - start
    if show:
        from seqlab.checks.table import print_report

        print_report(report)
    return report
