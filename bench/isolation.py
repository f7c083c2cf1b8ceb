"""Milliseconds the sandbox adds to one sandboxed call, against a plain subprocess.

    python bench/isolation.py                 # prints a table
    python bench/isolation.py --runs 20 --record

Each row starts the same command, ``python -I -c "import numpy"`` (what every NumPy-only
child pays anyway), and waits for it: first as a plain subprocess (the baseline, measured in
the same run), then as the grader starts it under this machine's isolation
(:mod:`autograder.isolation`: bubblewrap with its mounts and, as root, ``setpriv`` to a fresh
uid). The bookkeeping the grader adds per call is timed on its own: allocating the uid
(a locked counter file), the sweep that makes sure no process of the call is left, and the
call's memory cgroup (:class:`autograder.sandbox.CallMemory`: made and limited, the child
moved in from its ``preexec_fn``, its OOM count and peak read, removed); a row without the
cgroup, measured in the same run, shows what it adds to a whole call.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import print_table, record  # noqa: E402

COLUMNS = ["what", "median ms", "min ms", "max ms", "over baseline ms"]
PROBE = [sys.executable, "-I", "-c", "import numpy"]


def timed(function, runs: int) -> list[float]:
    """Wall milliseconds of ``runs`` calls, after one untimed call (warm caches)."""
    function()
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        seconds.append((time.perf_counter() - start) * 1000)
    return seconds


def sandboxed_probe(workdir: Path, numpy_only: bool, cgroup: bool = True):
    from autograder import identity, isolation
    from autograder.sandbox import CallMemory

    found = isolation.detect()

    def run() -> None:
        uid = identity.allocate_uid() if found.fresh_uid else None
        probe = workdir / "probe.py"  # a script: the sandbox runs files, not -c
        if not probe.exists():
            probe.write_text("import numpy\n")
            probe.chmod(0o644)
        command = isolation.command(found, "student", workdir, [*PROBE[:2], str(probe)],
                                    uid=uid,
                                    numpy_only=numpy_only)
        memory = CallMemory(1 << 30) if cgroup else None
        try:
            subprocess.run(command, check=True, capture_output=True,
                           preexec_fn=memory.enter if memory else None)
            if memory:
                memory.exceeded()
        finally:
            if memory:
                memory.remove()
        identity.sweep(uid=uid)

    return found, run


def _cgroup_bookkeeping() -> None:
    from autograder.sandbox import CallMemory

    memory = CallMemory(1 << 30)
    try:
        memory.exceeded()
    finally:
        memory.remove()


def rows(runs: int) -> tuple[list[dict], str]:
    from autograder import identity
    from autograder.sandbox import CallMemory

    workdir = Path(tempfile.mkdtemp(prefix="seqlab-bench-"))
    workdir.chmod(0o755)
    baseline = timed(lambda: subprocess.run(PROBE, check=True, capture_output=True), runs)
    found, keras_child = sandboxed_probe(workdir, numpy_only=False)
    _, numpy_child = sandboxed_probe(workdir, numpy_only=True)
    _, bare_child = sandboxed_probe(workdir, numpy_only=True, cgroup=False)
    measured = [("plain subprocess (baseline)", baseline),
                ("sandboxed call, Keras assignment mounts", timed(keras_child, runs)),
                ("sandboxed call, NumPy-only mounts", timed(numpy_child, runs)),
                ("sandboxed call, NumPy-only mounts, no memory cgroup",
                 timed(bare_child, runs))]
    probe = CallMemory(1 << 20)
    if probe.path is not None:
        probe.remove()
        measured.append(("  of which: memory cgroup (create, limit, read, remove)",
                         timed(_cgroup_bookkeeping, runs)))
    if found.fresh_uid:
        measured.append(("  of which: allocate a fresh uid", timed(identity.allocate_uid, runs)))
        measured.append(("  of which: sweep (scan /proc)",
                         timed(lambda: identity.sweep(uid=identity.UID_BASE - 1), runs)))
    base = statistics.median(baseline)
    table = [{"what": what, "median ms": statistics.median(ms), "min ms": min(ms),
              "max ms": max(ms),
              "over baseline ms": statistics.median(ms) - base if "sandboxed" in what else ""}
             for what, ms in measured]
    return table, found.summary()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    table, summary = rows(args.runs)
    title = f"sandbox cost per call ({args.runs} runs; isolation: {summary})"
    print_table(title, table, COLUMNS)
    if args.record:
        command = f"python bench/isolation.py --runs {args.runs} --record"
        path = record("isolation", command=command, rows=table, columns=COLUMNS,
                      notes=f"Isolation: {summary}. A grading makes 2-3 sandboxed calls "
                            "(child, worker, and the grader's own models for char_lm and "
                            "seq2seq), more when a child crashes and is restarted. Each call "
                            "runs in its own memory cgroup (its data cap + 512 MB of "
                            "/tmp) where one can be made; the 'no memory cgroup' row, "
                            "measured in the same run, is the call without it.")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
