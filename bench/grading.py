"""Seconds to grade one complete submission (the reference) and where the time goes.

    python bench/grading.py                 # quick profile, one run, prints a table
    python bench/grading.py --runs 3 --record

Each stage is timed by the grader itself: preparing inputs in the parent (data, vocabulary,
GloVe matrices), the student child (Python + TensorFlow import, building every case, saving
models) and the trusted worker (import, loading and measuring models, the accuracy training).
The target is 60 s or less on a 2-core CPU, TensorFlow imports included.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autograder.grader import grade
from bench.common import print_table, record
from seqlab.paths import REPO_ROOT

COLUMNS = ["stage", "seconds", "share"]


def run(runs: int, profile: str) -> tuple[list[dict], list[float], float]:
    totals, stages, score = [], {}, 0.0
    for _ in range(runs):
        start = time.perf_counter()
        result = grade(REPO_ROOT / "solutions", profile=profile)
        totals.append(time.perf_counter() - start)
        score = result.score
        for stage, seconds in result.timings.items():
            stages.setdefault(stage, []).append(seconds)
    total = statistics.mean(totals)
    rows = [{"stage": stage, "seconds": statistics.mean(values),
             "share": f"{statistics.mean(values) / total:.0%}"}
            for stage, values in stages.items()]
    rows.append({"stage": "total (wall clock)", "seconds": total, "share": "100%"})
    return rows, totals, score


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--profile", choices=["quick", "full"], default="quick")
    parser.add_argument("--record", action="store_true",
                        help="write bench/results/grading.{json,md}")
    args = parser.parse_args(argv)
    rows, totals, score = run(args.runs, args.profile)
    print_table(f"Grading the reference ({args.profile} profile, {args.runs} run(s), score "
                f"{score:g})", rows, COLUMNS)
    if args.record:
        command = "python bench/grading.py " + " ".join(argv or sys.argv[1:])
        notes = (f"Runs: {', '.join(f'{t:.1f} s' for t in totals)}. Target: 60 s or less on a "
                 "2-core CPU, TensorFlow imports included (the child and the worker each import "
                 "it once). Stage times overlap nothing: they run one after another.")
        path = record("grading", command=command.strip(), rows=rows, columns=COLUMNS,
                      notes=notes)
        print(f"recorded {path}")


if __name__ == "__main__":
    main()
