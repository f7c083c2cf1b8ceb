"""Seconds per in-notebook ``check()`` (``seqlab.checks``) for every contract function.

For each assignment a fresh Python process imports the student module once (as a notebook's
import cell does), then times ``check(function)`` for each of its functions: ``first_s`` is
the first call (it imports the assignment's checks, builds its small models and, for a
Keras lab, pays TensorFlow's first-call costs), ``warm_s`` the best of two more calls (what a
student waits after each edit). It does this on the reference (``solutions/``: every check
must pass) and on the starter (every check fails fast with "not implemented yet"). As the
baseline, the same run times the autograder's current ``autograder.notebook.check`` (the
sandboxed grader's public checks) for one NumPy and one Keras function.

    python bench/checks.py                 # everything (about 2 minutes on a 2-core CPU)
    python bench/checks.py --no-baseline   # only seqlab.checks
    python bench/checks.py --record        # also write bench/results/checks.{json,md}

Targets: about 3 s for a NumPy function and 10 s for a Keras one.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import print_table, record  # noqa: E402

COLUMNS = ["impl", "assignment", "function", "checker", "checks", "passed", "first_s", "warm_s",
           "import_s"]
BASELINE = (("rnn_numpy", "rnn_forward"), ("sentiment", "build_rnn_classifier"))
KERAS_ASSIGNMENTS = ("sentiment", "char_lm", "seq2seq")


def worker(assignment: str, impl: str) -> list[dict]:
    """In this (fresh) process: import the module once, then time check() per function."""
    from seqlab.checks import ASSIGNMENTS, check
    from seqlab.student import student_module

    start = time.perf_counter()
    student_module(assignment, impl)
    imported = time.perf_counter() - start
    rows = []
    for function in ASSIGNMENTS[assignment]:
        times, report = [], None
        for _ in range(3):
            start = time.perf_counter()
            report = check(function, impl, show=False)
            times.append(time.perf_counter() - start)
        rows.append({"impl": impl, "assignment": assignment, "function": function,
                     "checker": "seqlab.checks", "checks": len(report.rows),
                     "passed": sum(row.passed for row in report.rows), "first_s": times[0],
                     "warm_s": min(times[1:]), "import_s": imported})
    return rows


def baseline_worker(assignment: str, function: str) -> list[dict]:
    """The autograder's ``check`` (sandboxed grader) on the reference, timed once."""
    from autograder.notebook import check

    start = time.perf_counter()
    result = check(function, "solutions", show=False)
    seconds = time.perf_counter() - start
    tests = list(result.tests)
    return [{"impl": "solutions", "assignment": assignment, "function": function,
             "checker": "autograder.notebook (baseline)", "checks": len(tests),
             "passed": sum(t.points == t.max_points for t in tests), "first_s": seconds,
             "warm_s": "", "import_s": ""}]


def run_worker(*args: str) -> list[dict]:
    """Run this script as ``--worker ...`` in a fresh process; its last line is JSON rows."""
    done = subprocess.run([sys.executable, __file__, "--worker", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def notes(rows: list[dict], wall: float, load: tuple[float, float]) -> str:
    ours = [r for r in rows if r["checker"] == "seqlab.checks" and r["impl"] == "solutions"]
    lines = [f"Whole run {wall:.0f} s; load average {load[0]:.1f} at the start, {load[1]:.1f} "
             "at the end (other jobs share the 2 cores)."]
    for kind, names in (("NumPy", ("rnn_numpy", "cells")), ("Keras", KERAS_ASSIGNMENTS)):
        chosen = [r for r in ours if r["assignment"] in names]
        if chosen:
            lines.append(f"{kind} functions on the reference: warm check() at most "
                         f"{max(r['warm_s'] for r in chosen):.2f} s, first call at most "
                         f"{max(r['first_s'] for r in chosen):.2f} s.")
    for r in rows:
        if r["checker"].startswith("autograder"):
            lines.append(f"Baseline autograder.notebook.check({r['function']!r}): "
                         f"{r['first_s']:.1f} s.")
    lines.append("import_s: importing the student module once (a notebook's import cell; "
                 "TensorFlow for the Keras labs), not part of check().")
    return "\n\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--assignments", nargs="+", default=None)
    parser.add_argument("--impls", nargs="+", default=["solutions", "starter"])
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args(argv)
    if args.worker:
        kind, *rest = args.worker
        rows = baseline_worker(*rest) if kind == "baseline" else worker(kind, *rest)
        print(json.dumps(rows))
        return
    from seqlab.checks import ASSIGNMENTS

    start, load = time.perf_counter(), os.getloadavg()[0]
    rows = [row for impl in args.impls for name in (args.assignments or ASSIGNMENTS)
            for row in run_worker(name, impl)]
    if not args.no_baseline:
        rows += [row for pair in BASELINE for row in run_worker("baseline", *pair)]
    wall = time.perf_counter() - start
    print_table("seqlab.checks: seconds per check() (2-core CPU)", rows, COLUMNS)
    text = notes(rows, wall, (load, os.getloadavg()[0]))
    print(text)
    if args.record:
        command = "python bench/checks.py " + shlex.join(argv or sys.argv[1:])
        path = record("checks", command=command.strip(), rows=rows, columns=COLUMNS, notes=text)
        print(f"recorded {path}")


if __name__ == "__main__":
    main()
