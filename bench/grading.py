"""Seconds to grade one complete submission (the reference), per assignment, and where they go.

    python bench/grading.py                      # quick profile, one run each, prints a table
    python bench/grading.py --runs 3 --record    # what bench/results/grading.md holds

Every run grades ``solutions/`` in a fresh Python process (``grade`` keeps worker results by
content within a process, so a fresh one is what a single ``python -m autograder grade``
costs). Each stage is timed by the grader itself: preparing inputs in the parent (data,
vocabulary, GloVe matrices), the student child (Python, plus TensorFlow for Keras
assignments, building every case, saving models) and the trusted worker (import, loading and
measuring models, the accuracy training). The same process then grades the submission once
more: the "repeat" column is what ``grade-all`` pays for a later student whose models are
identical (worker results reused). Targets (2-core CPU): 60 s for ``sentiment``, 20 s for
``rnn_numpy`` + ``cells`` together.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import print_table, record  # noqa: E402

COLUMNS = ["assignment", "stage", "seconds", "share", "repeat s"]
TARGETS = {"sentiment": 60.0, "rnn_numpy + cells": 20.0}
GROUPS = {"sentiment": ["sentiment"], "rnn_numpy + cells": ["rnn_numpy", "cells"]}


def grade_here(assignments: list[str], profile: str) -> list[dict]:
    """Grade the reference twice in this process: [cold, repeat] timings and scores."""
    from autograder.grader import grade

    runs = []
    for _ in range(2):
        total, timings, score, max_score = 0.0, {}, 0.0, 0.0
        for assignment in assignments:
            start = time.perf_counter()
            result = grade(REPO / "solutions", profile=profile, assignment=assignment)
            total += time.perf_counter() - start
            score, max_score = score + result.score, max_score + result.max_score
            for stage, seconds in result.timings.items():
                timings[f"{assignment}: {stage.strip()}"] = seconds
        runs.append({"total": total, "timings": timings, "score": score,
                     "max_score": max_score})
    return runs


def grade_in_fresh_process(assignments: list[str], profile: str) -> list[dict]:
    done = subprocess.run([sys.executable, __file__, "--child", *assignments,
                           "--profile", profile], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def rows_for(group: str, runs: list[list[dict]]) -> list[dict]:
    cold = [r[0] for r in runs]
    total = statistics.mean(r["total"] for r in cold)
    rows = []
    for stage in cold[0]["timings"]:
        seconds = statistics.mean(r["timings"].get(stage, 0.0) for r in cold)
        if stage.endswith("0 worker tasks") or "reused" in stage:
            continue
        rows.append({"assignment": group, "stage": stage, "seconds": seconds,
                     "share": f"{seconds / total:.0%}"})
    repeat = statistics.mean(r[1]["total"] for r in runs)
    score = f"{cold[0]['score']:g}/{cold[0]['max_score']:g}"
    rows.append({"assignment": group, "stage": f"total (wall clock), score {score}",
                 "seconds": total, "share": "100%", "repeat s": repeat})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--profile", choices=["quick", "full"], default="quick")
    parser.add_argument("--only", choices=list(GROUPS), nargs="+", default=list(GROUPS))
    parser.add_argument("--record", action="store_true",
                        help="write bench/results/grading.{json,md}")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(grade_here(args.child, args.profile)))
        return
    rows, totals = [], {}
    for group in args.only:
        runs = [grade_in_fresh_process(GROUPS[group], args.profile) for _ in range(args.runs)]
        rows += rows_for(group, runs)
        totals[group] = [r[0]["total"] for r in runs]
    print_table(f"Grading the reference ({args.profile} profile, {args.runs} run(s) each)",
                rows, COLUMNS)
    verdicts = []
    for group, values in totals.items():
        mean = statistics.mean(values)
        target = TARGETS[group]
        verdicts.append(f"{group}: {mean:.1f} s (runs {', '.join(f'{v:.1f}' for v in values)})"
                        f" vs target {target:g} s: {'met' if mean <= target else 'NOT met'}")
    print("\n".join(verdicts))
    if args.record:
        command = "python bench/grading.py " + " ".join(argv or sys.argv[1:])
        notes = ("; ".join(verdicts) + ". Each run is a fresh process, TensorFlow imports "
                 "included (the child and the worker each import it once for `sentiment`; "
                 "the NumPy assignments' child skips it). Stages run one after another. "
                 "'repeat s' is a second grading in the same process, as grade-all grades a "
                 "later student whose models are identical: the worker's results are reused "
                 "by content, only the student child runs.")
        path = record("grading", command=command.strip(), rows=rows, columns=COLUMNS,
                      notes=notes)
        print(f"recorded {path}")


if __name__ == "__main__":
    main()
