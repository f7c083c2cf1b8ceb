"""Wall time and peak memory of ``python -m autograder grade-all`` on a generated class.

    python bench/class.py                                   # 200 students, all checks
    python bench/class.py --students 40 --functions build_cnn_classifier \\
        build_embedding_matrix --public-only --full-sample 2 --record

The class is mostly correct submissions with some wrong, broken and hostile ones, made from
``solutions/sentiment.py`` by the same source edits as ``tests/test_batch.py``. The same class
is graded with every ``--jobs`` value (default 1 and 2) into a fresh gradebook; wall time is
the whole command, peak memory is sampled (every 0.5 s) over its whole process tree as the sum
of RSS (an upper bound: shared library pages count once per process) and of PSS (shared pages
split between the processes sharing them). ``--full-sample K`` also grades K correct
submissions with every default check (accuracy training included), to extrapolate what the
selected subset leaves out. Target: 200 submissions with ``--jobs 2`` in 25 minutes or less
on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import print_table, record  # noqa: E402

TARGET_STUDENTS, TARGET_MINUTES = 200, 25.0
COLUMNS = ["checks", "jobs", "students", "wall s", "s/student", "cpu s", "cores used",
           "peak RSS MB", "peak PSS MB", "speedup", "est. 200 min", "idle est. 200 min",
           "graded", "errors"]
# Share of the class and the kinds cycled through (kinds as in tests/test_batch.py).
MIX = [
    (0.70, ["correct", "correct_zip", "correct_comment", "correct_nested_dir",
            "correct_nested_zip"]),
    (0.10, ["wrong_one_region_size", "wrong_padding_row", "wrong_always_lstm"]),
    (0.125, ["broken_syntax", "broken_starter", "broken_empty", "broken_name_error",
             "broken_corrupt_zip"]),
    (0.075, ["hostile_import_loop", "hostile_memory_bomb", "hostile_fake_gradebook",
             "hostile_os_exit"]),
]


def _class_maker():
    """tests/test_batch.py's submission generator (one source of truth for the variants)."""
    spec = importlib.util.spec_from_file_location("_test_batch", REPO / "tests" / "test_batch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_class(folder: Path, students: int, root: Path, seed: int = 0) -> dict[str, str]:
    """``students`` submissions in ``folder`` in the MIX proportions; student id -> kind."""
    maker = _class_maker()
    table = maker.variants(root)
    counts = [round(share * students) for share, _ in MIX]
    counts[0] += students - sum(counts)
    kinds = [group[i % len(group)] for (_, group), n in zip(MIX, counts, strict=True)
             for i in range(n)]
    random.Random(seed).shuffle(kinds)
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for i, kind in enumerate(kinds, 1):
        student = f"s{i:03d}_{kind}"
        maker.write_submission(folder, student, kind, table[kind][0])
        made[student] = kind
    return made


class TreeSampler:
    """Peak memory (sum of RSS and of PSS, bytes) of a process and its descendants."""

    def __init__(self, pid: int, every: float = 0.5):
        import psutil

        self.root, self.every = psutil.Process(pid), every
        self.peak_rss = self.peak_pss = 0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            rss = pss = 0
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for process in processes:
                try:
                    info = process.memory_full_info()
                    rss += info.rss
                    pss += getattr(info, "pss", info.rss)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.peak_processes = max(self.peak_processes, len(processes))
            self._stop.wait(self.every)


def grade_class(folder: Path, work: Path, jobs: int, options: list[str]) -> dict:
    """Run grade-all once into a fresh gradebook; wall, CPU and memory of the whole tree."""
    gradebook = work / f"grades_jobs{jobs}.csv"
    command = [sys.executable, "-m", "autograder", "grade-all", str(folder), "--gradebook",
               str(gradebook), "--jobs", str(jobs), "--no-progress", *options]
    env = {**os.environ, "TMPDIR": str(work / "tmp")}
    (work / "tmp").mkdir(exist_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(work / f"jobs{jobs}.log", "w") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        with TreeSampler(process.pid) as sampler:
            code = process.wait()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        raise SystemExit(f"grade-all failed ({code}); see {work / f'jobs{jobs}.log'}")
    with open(gradebook, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {"wall": wall, "cpu": (after.ru_utime - before.ru_utime)
            + (after.ru_stime - before.ru_stime), "rss": sampler.peak_rss,
            "pss": sampler.peak_pss, "rows": rows}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=TARGET_STUDENTS)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--functions", nargs="+", metavar="NAME",
                        help="grade only these functions' checks (default: every check)")
    parser.add_argument("--public-only", action="store_true",
                        help="only the quick public checks (no accuracy training)")
    parser.add_argument("--import-timeout", type=float, default=60.0)
    parser.add_argument("--speedup-sample", type=int, default=0, metavar="K",
                        help="also grade a class of K (same mix) with --jobs 1 and 2 for the "
                             "speedup, when the main class runs with one --jobs value")
    parser.add_argument("--full-sample", type=int, default=0, metavar="K",
                        help="also grade K correct submissions with every default check")
    parser.add_argument("--note", default="", help="appended to the recorded notes")
    parser.add_argument("--record", action="store_true",
                        help="write bench/results/class.{json,md}")
    parser.add_argument("--keep", metavar="DIR", help="generate and grade in DIR and keep it")
    args = parser.parse_args(argv)

    work = Path(args.keep or tempfile.mkdtemp(prefix="seqlab-class-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()[0]
    started = time.perf_counter()
    students = make_class(work / "class", args.students, work)
    options = ["--assignment", "sentiment", "--import-timeout", str(args.import_timeout)]
    if args.functions:
        options += ["--functions", *args.functions]
    if args.public_only:
        options.append("--public-only")
    subset = (" + ".join(args.functions) if args.functions else "all functions") + (
        ", public checks only" if args.public_only else "")
    runs = [(subset, jobs, work / "class", options, len(students)) for jobs in args.jobs]
    if args.speedup_sample:
        sample_class = make_class(work / "speedup_class", args.speedup_sample, work)
        runs += [(f"{subset}, class of {len(sample_class)}", jobs, work / "speedup_class",
                  options, len(sample_class)) for jobs in (1, 2)]
    if args.full_sample:
        sample = work / "full_sample"
        make_full_sample(sample, args.full_sample)
        runs.append(("every default check (correct only)", max(args.jobs), sample,
                     ["--assignment", "sentiment"], args.full_sample))

    rows, baseline = [], {}
    for checks, jobs, folder, opts, count in runs:
        print(f"grading {count} submissions ({checks}) with --jobs {jobs} ...", flush=True)
        run_dir = work / f"run_{len(rows)}"
        run_dir.mkdir(parents=True, exist_ok=True)
        result = grade_class(folder, run_dir, jobs, opts)
        graded = sum(r["status"] == "graded" for r in result["rows"])
        if jobs == 1 or (checks == subset and jobs == min(args.jobs)):
            baseline.setdefault(checks, result["wall"])
        per = result["wall"] / count
        rows.append({"checks": checks, "jobs": jobs, "students": count,
                     "wall s": result["wall"], "s/student": per, "cpu s": result["cpu"],
                     "cores used": result["cpu"] / result["wall"],
                     "peak RSS MB": result["rss"] / 2**20, "peak PSS MB": result["pss"] / 2**20,
                     "speedup": (f"{baseline[checks] / result['wall']:.2f}x"
                                 if checks in baseline else ""),
                     "est. 200 min": per * TARGET_STUDENTS / 60,
                     "idle est. 200 min": idle_estimate(result["cpu"], count, jobs),
                     "graded": graded,
                     "errors": len(result["rows"]) - graded})
    minutes = (time.perf_counter() - started) / 60
    load_end = os.getloadavg()[0]
    print_table(f"grade-all on a generated class of {len(students)} ({subset})", rows, COLUMNS)
    kinds = {}
    for kind in students.values():
        kinds[kind] = kinds.get(kind, 0) + 1
    notes = notes_text(rows, subset, kinds, load_start, load_end, minutes, args)
    print(notes)
    if args.record:
        command = "python bench/class.py " + " ".join(argv if argv is not None else sys.argv[1:])
        path = record("class", command=command.strip(), rows=rows, columns=COLUMNS,
                      notes=notes)
        print(f"recorded {path}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def idle_estimate(cpu_seconds: float, students: int, jobs: int) -> float:
    """Minutes for TARGET_STUDENTS if the run had min(jobs, cores) cores to itself."""
    cores = min(jobs, len(os.sched_getaffinity(0)))
    return cpu_seconds / students * TARGET_STUDENTS / cores / 60


def make_full_sample(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    source = (REPO / "solutions" / "sentiment.py").read_text()
    for i in range(1, count + 1):
        (folder / f"full_{i:02d}").mkdir()
        (folder / f"full_{i:02d}" / "sentiment.py").write_text(source + f"\n# student {i}\n")


def notes_text(rows, subset, kinds, load_start, load_end, minutes, args) -> str:
    by = {(r["checks"], r["jobs"]): r for r in rows}
    jobs2 = by.get((subset, 2))
    lines = [f"Class mix ({sum(kinds.values())} students): "
             + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + ".",
             f"Measured subset: {subset}, --import-timeout {args.import_timeout:g}. "
             f"'est. 200 min' is s/student x {TARGET_STUDENTS} / 60 as measured; 'idle est. "
             "200 min' is CPU s/student x 200 / min(jobs, cores) / 60, what the run would take "
             "with its cores to itself (grading is CPU-bound: no I/O or network waits). "
             "grade-all reuses the trusted worker's results for model files identical by "
             "content (config and weight values) within one run, so a class's correct "
             "submissions after the first cost only their student child (its TensorFlow "
             "import and builds): per-student cost falls with class size, and estimates from "
             "a smaller class are upper bounds.",
             f"Load average (1 min) {load_start:.1f} at start, {load_end:.1f} at end; whole "
             f"bench {minutes:.1f} min. 'cpu s' is user + system time of every process of "
             "the run; 'cores used' = cpu s / wall s, so below 2 with --jobs 2 means other "
             "processes on the machine took the rest (the speedup is bounded by it)."]
    if jobs2:
        measured, idle = jobs2["est. 200 min"], jobs2["idle est. 200 min"]
        lines.append(f"Target ({TARGET_STUDENTS} submissions with --jobs 2 in "
                     f"{TARGET_MINUTES:g} min or less on 2 cores) for the measured subset: "
                     f"{'met' if measured <= TARGET_MINUTES else 'NOT met'} as measured "
                     f"({measured:.1f} min), {'met' if idle <= TARGET_MINUTES else 'NOT met'} "
                     f"on an idle machine ({idle:.1f} min).")
    full = [r for r in rows if r["checks"].startswith("every default")]
    if full:
        row = full[0]
        est, idle = row["est. 200 min"], row["idle est. 200 min"]
        lines.append(f"Every default check (accuracy training included) on correct "
                     f"submissions, --jobs {row['jobs']}: {row['s/student']:.0f} s per student "
                     f"({row['cpu s'] / row['students']:.0f} CPU s), so a class of "
                     f"{TARGET_STUDENTS} such submissions would take about {est:.0f} min as "
                     f"measured, {idle:.0f} min on an idle machine: the target is "
                     f"{'met' if idle <= TARGET_MINUTES else 'NOT met'} for full grading on "
                     "2 CPU cores.")
    if args.note:
        lines.append(args.note)
    return " ".join(lines)


if __name__ == "__main__":
    main()
