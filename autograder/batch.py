"""Grade a whole class: ``python -m autograder grade-all DIR --gradebook grades.csv``.

Every entry of ``DIR`` is one student: a folder or a ``.zip`` (the student id is the entry's
name without ``.zip``; hidden entries are ignored). Each one is graded with
:func:`autograder.grader.grade`; the gradebook (one row per student) is rewritten atomically
(temp file + ``os.replace``) after every finished submission, so a run killed at any moment
leaves a valid CSV and a rerun resumes: a student whose row is ``graded`` with the same
content hash and the same grading settings (and whose feedback file exists) is skipped unless
``force``. A grader failure on one submission becomes a ``grader_error`` row with its reason;
it never stops the batch and never touches another row, since rows are keyed by student and
only this process writes them.

Submissions are graded ``jobs`` at a time in threads (each :func:`grade` runs its student
code in subprocesses); every grading's children get ``cpus // jobs`` threads, so parallel jobs
never oversubscribe the CPU.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from autograder.sandbox import Limits, drop_target
from autograder.submission import SubmissionError, resolve

FRONT = ["student", "total", "max_total"]
BACK = ["status", "reason", "seconds", "content_sha256", "settings", "graded_at"]
GRADED, GRADER_ERROR = "graded", "grader_error"
_ACTIVE: set[Path] = set()  # work folders of the gradings in progress


class BatchError(ValueError):
    """The batch cannot start (e.g. the user to run student code as is unusable)."""


@dataclass
class Entry:
    """One student's submission in the class folder."""

    student: str
    path: Path
    problem: str | None = None  # set when the entry cannot be graded as it is


@dataclass
class Outcome:
    """What grading one entry gave: its gradebook row and, when it ran, the GradeResult."""

    row: dict
    result: object | None = None
    skipped: bool = False


@dataclass
class BatchReport:
    graded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    gradebook: Path | None = None
    feedback: Path | None = None
    seconds: float = 0.0


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_job(jobs: int) -> int:
    return max(1, cpu_count() // max(1, jobs))


# ---------------------------------------------------------------- the class folder
def find_submissions(directory: Path, exclude: tuple[Path, ...] = ()) -> list[Entry]:
    """One :class:`Entry` per student (sorted), skipping hidden entries and ``exclude``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SubmissionError(f"{directory} is not a folder of submissions")
    excluded = {p.resolve() for p in exclude}
    by_student: dict[str, list[Path]] = {}
    for path in sorted(directory.iterdir()):
        if path.name.startswith((".", "__")) or path.resolve() in excluded:
            continue
        if path.is_dir():
            student = path.name
        elif path.is_file() and path.suffix.lower() == ".zip":
            student = path.name[: -len(".zip")]
        else:
            continue  # a stray file next to the submissions (a CSV, a README)
        by_student.setdefault(student, []).append(path)
    entries = []
    for student, paths in sorted(by_student.items()):
        problem = None
        if len(paths) > 1:
            problem = ("more than one submission for this student: "
                       + ", ".join(p.name for p in paths) + "; keep one and grade again")
        entries.append(Entry(student, paths[0], problem))
    return entries


def content_sha256(path: Path) -> str:
    """sha256 of the usable content: sorted file names and the bytes of each kept file.

    Exactly the files :func:`autograder.submission.resolve` keeps count, so adding a stray
    file does not trigger a regrade but editing ``sentiment.py`` does. An unreadable
    submission hashes its raw bytes (a fixed upload is then regraded).
    """
    digest = hashlib.sha256()
    with tempfile.TemporaryDirectory(prefix="seqlab-hash-") as tmp:
        try:
            submission = resolve(path, Path(tmp) / "submission")
        except SubmissionError:
            digest.update(b"unreadable\0")
            if Path(path).is_file():
                with open(path, "rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
            return digest.hexdigest()
        for name in sorted(submission.files):
            data = (submission.folder / name).read_bytes()
            digest.update(f"{name}\0{len(data)}\0".encode())
            digest.update(data)
    return digest.hexdigest()


def settings_key(*, profile: str, assignment: str | None, functions, public_only: bool) -> str:
    """Which checks a row was graded with: a row graded otherwise is graded again."""
    chosen = ",".join(sorted(functions)) if functions else "all"
    return (f"profile={profile};assignment={assignment or 'all'};functions={chosen};"
            f"public_only={int(bool(public_only))}")


# ---------------------------------------------------------------- the gradebook
def atomic_write(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data.encode() if isinstance(data, str) else data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class Gradebook:
    """Rows keyed by student, columns FRONT + one per test (first-seen order) + BACK."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.rows: dict[str, dict] = {}
        self.tests: list[str] = []
        self.warning: str | None = None

    @classmethod
    def load(cls, path: Path) -> Gradebook:
        book = cls(path)
        for stale in book.path.parent.glob(f".{book.path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()  # left by a run killed mid-write; the CSV itself is whole
        if not book.path.exists():
            return book
        try:
            with open(book.path, newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                header = list(reader.fieldnames or [])
                missing = [c for c in (*FRONT, *BACK) if c not in header]
                if missing:
                    raise ValueError(f"missing columns {missing}")
                book.tests = [c for c in header if c not in FRONT and c not in BACK]
                for row in reader:
                    if None in row or not row.get("student"):
                        raise ValueError("a row with the wrong number of fields")
                    book.rows[row["student"]] = row
        except (ValueError, UnicodeDecodeError, csv.Error) as err:
            backup = book.path.with_name(f"{book.path.name}.unreadable-{int(time.time())}")
            os.replace(book.path, backup)
            book.rows, book.tests = {}, []
            book.warning = (f"{book.path.name} was not a gradebook this command wrote ({err}); "
                            f"moved it to {backup.name} and starting afresh")
        return book

    def put(self, row: dict) -> None:
        for column in row:
            if column not in FRONT and column not in BACK and column not in self.tests:
                self.tests.append(column)
        self.rows[row["student"]] = row

    def columns(self) -> list[str]:
        return [*FRONT, *self.tests, *BACK]

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns(), lineterminator="\n")
        writer.writeheader()
        for student in sorted(self.rows):
            row = self.rows[student]
            writer.writerow({c: _fmt(row.get(c)) for c in self.columns()})
        return buffer.getvalue()

    def save(self) -> None:
        atomic_write(self.path, self.to_csv())


def row_from_result(student: str, result, *, sha: str, settings: str) -> dict:
    row = {"student": student, "total": result.score, "max_total": result.max_score}
    for test in result.tests:
        name = test.name if test.name not in row else f"{test.assignment}/{test.name}"
        row[name] = "" if test.status == "skipped" else float(test.points)
    row.update(status=GRADED, reason="", seconds=round(result.seconds, 1),
               content_sha256=sha, settings=settings, graded_at=_now())
    return row


def error_row(student: str, reason: str, *, sha: str, settings: str, seconds: float) -> dict:
    return {"student": student, "total": 0.0, "max_total": "", "status": GRADER_ERROR,
            "reason": reason, "seconds": round(seconds, 1), "content_sha256": sha,
            "settings": settings, "graded_at": _now()}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


# ---------------------------------------------------------------- grading
def _grade_entry(entry: Entry, sha: str, settings: str, grade_fn: Callable,
                 grade_kwargs: dict) -> Outcome:
    """Grade one entry; any failure of the grader itself becomes a grader_error row."""
    start = time.perf_counter()
    if entry.problem:
        return Outcome(error_row(entry.student, entry.problem, sha=sha, settings=settings,
                                 seconds=0.0))
    workdir = None
    try:
        # Our own work folder (not grade()'s), so that a stopped batch can remove it too.
        workdir = Path(tempfile.mkdtemp(prefix="seqlab-grade-"))
        _ACTIVE.add(workdir)
        result = grade_fn(entry.path, workdir=workdir, **grade_kwargs)
        return Outcome(row_from_result(entry.student, result, sha=sha, settings=settings),
                       result)
    except SubmissionError as err:  # the TA's paths mean nothing to the student
        reason = str(err).replace(str(entry.path), entry.path.name)
    except Exception as err:  # a bug or resource failure in the grader: one row, not the batch
        reason = f"the grader failed: {type(err).__name__}: {err}"
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
            _ACTIVE.discard(workdir)
    return Outcome(error_row(entry.student, reason, sha=sha, settings=settings,
                             seconds=time.perf_counter() - start))


def grade_all(directory, gradebook, *, jobs: int = 1, force: bool = False,
              feedback: Path | None = None, profile: str = "quick",
              assignment: str | None = None, functions: tuple[str, ...] | None = None,
              public_only: bool = False, case_timeout: float | None = None,
              import_timeout: float | None = None, memory_bytes: int | None = None,
              run_as: str | None = None, grade_fn: Callable | None = None, progress: bool = True,
              log: Callable[[str], None] | None = None) -> BatchReport:
    """Grade every submission in ``directory`` into ``gradebook`` (see the module docstring).

    ``grade_fn`` replaces :func:`autograder.grader.grade` (tests); ``log`` receives one line
    per student (default: printed above the progress bar, on stderr).
    """
    from tqdm import tqdm

    from autograder import feedback as feedback_mod

    started = time.perf_counter()
    if grade_fn is None:
        from autograder.grader import grade as grade_fn
    jobs = max(1, int(jobs))
    gradebook = Path(gradebook)
    feedback = Path(feedback) if feedback else gradebook.with_name(f"{gradebook.stem}_feedback")
    say = log or (lambda line: tqdm.write(line, file=sys.stderr))
    defaults = Limits()
    limits = Limits(threads=threads_per_job(jobs),
                    import_timeout=import_timeout or defaults.import_timeout,
                    memory_bytes=memory_bytes or defaults.memory_bytes, run_as=run_as)
    grade_kwargs = dict(profile=profile, assignment=assignment, functions=functions,
                        public_only=public_only, case_timeout=case_timeout, limits=limits)
    settings = settings_key(profile=profile, assignment=assignment, functions=functions,
                            public_only=public_only)
    if run_as:  # fail once, clearly, rather than once per student
        try:
            if drop_target(limits) is None:
                say(f"warning: not running as root, so student code runs as this user, "
                    f"not {run_as}")
        except (PermissionError, KeyError) as err:
            raise BatchError(f"cannot run student code as {run_as!r}: {err}") from None

    book = Gradebook.load(gradebook)
    if book.warning:
        say(f"warning: {book.warning}")
    entries = find_submissions(directory, exclude=(gradebook, feedback))
    report = BatchReport(gradebook=gradebook, feedback=feedback)
    todo: list[tuple[Entry, str]] = []
    for entry in entries:
        try:
            sha = content_sha256(entry.path)
        except Exception as err:  # e.g. a file the grader may not read
            sha, entry.problem = "", f"the submission could not be read: {err}"
        old = book.rows.get(entry.student)
        if (not force and old is not None and old.get("status") == GRADED
                and old.get("content_sha256") == sha and old.get("settings") == settings
                and feedback_mod.has_feedback(feedback, entry.student)):
            report.skipped.append(entry.student)
            say(f"skip {entry.student}: unchanged, graded at {old.get('graded_at')}")
        else:
            todo.append((entry, sha))

    bar = tqdm(total=len(entries), initial=len(report.skipped), unit="student",
               desc="grading", file=sys.stderr, disable=not progress, dynamic_ncols=True)
    previous = _install_stop_handlers()
    try:
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="grade") as pool:
            pending = {pool.submit(_grade_entry, entry, sha, settings, grade_fn, grade_kwargs):
                       entry for entry, sha in todo}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    entry = pending.pop(future)
                    try:
                        outcome = future.result()
                    except BaseException as err:  # keep the batch going
                        outcome = Outcome(error_row(entry.student, f"the grader failed: {err}",
                                                    sha="", settings=settings, seconds=0.0))
                    row = outcome.row
                    # Feedback first: a row in the gradebook means its feedback exists too.
                    feedback_mod.write_student(feedback, entry.student, row, outcome.result)
                    book.put(row)
                    book.save()
                    if row["status"] == GRADED:
                        report.graded.append(entry.student)
                        say(f"graded {entry.student}: {row['total']:g} / {row['max_total']:g} "
                            f"in {row['seconds']:.1f} s")
                    else:
                        report.errors.append(entry.student)
                        say(f"grader_error {entry.student}: {row['reason']}")
                    bar.update(1)
    finally:
        bar.close()
        _restore_handlers(previous)
    book.save()  # once more at the end: whatever else wrote there, this is the gradebook
    feedback_mod.write_summary(feedback, book)
    report.seconds = time.perf_counter() - started
    return report


# ---------------------------------------------------------------- stopping cleanly
def descendant_pids(root: int) -> list[int]:
    """Every descendant of ``root`` (Linux /proc; empty elsewhere)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            parents[int(stat.parent.name)] = int(text[text.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        kids = [pid for pid, ppid in parents.items() if ppid == parent]
        found += kids
        frontier += kids
    return found


def kill_children() -> None:
    """Kill the sandboxed children (each leads its own session) of this process."""
    for pid in descendant_pids(os.getpid()):
        for kill in (lambda p: os.killpg(p, signal.SIGKILL), lambda p: os.kill(p, signal.SIGKILL)):
            try:
                kill(pid)
                break
            except (ProcessLookupError, PermissionError):
                continue


def _stop(signum, frame) -> None:
    # The gradebook on disk is always whole (atomic writes), so stopping now loses only the
    # submissions in progress. Threads cannot be interrupted and the sandbox would respawn a
    # killed child, so kill the children (twice, for one spawned meanwhile) and leave at once.
    kill_children()
    time.sleep(0.2)
    kill_children()
    for workdir in list(_ACTIVE):
        shutil.rmtree(workdir, ignore_errors=True)
    sys.stderr.write(f"\nstopped by signal {signum}; rerun the same command to resume\n")
    sys.stderr.flush()
    os._exit(128 + signum)


def _install_stop_handlers() -> dict:
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, _stop)
    return previous


def _restore_handlers(previous: dict) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


# ---------------------------------------------------------------- command line
def add_arguments(parser) -> None:
    """The ``grade-all`` options (see ``python -m autograder grade-all --help``)."""
    from autograder.assignments import ASSIGNMENTS

    parser.add_argument("directory", metavar="DIR",
                        help="one folder or .zip per student; the name is the student id")
    parser.add_argument("--gradebook", required=True, metavar="CSV",
                        help="the gradebook to write (and to resume from)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="submissions graded at once (each gets CPUs // jobs threads)")
    parser.add_argument("--force", action="store_true",
                        help="regrade students whose unchanged submission is already graded")
    parser.add_argument("--feedback", metavar="FOLDER",
                        help="per-student reports and the class summary "
                             "(default: <gradebook stem>_feedback next to the gradebook)")
    parser.add_argument("--profile", choices=["quick", "full"], default="quick")
    parser.add_argument("--assignment", choices=list(ASSIGNMENTS),
                        help="grade just this assignment (a missing file then scores 0)")
    parser.add_argument("--functions", nargs="+", metavar="NAME",
                        help="grade only the checks of these student functions")
    parser.add_argument("--public-only", action="store_true",
                        help="only the quick public checks (no accuracy training)")
    parser.add_argument("--case-timeout", type=float, metavar="S",
                        help="seconds per student call, instead of each check's own")
    parser.add_argument("--import-timeout", type=float, metavar="S",
                        help=f"seconds to import a student module (default "
                             f"{Limits().import_timeout:g})")
    parser.add_argument("--memory-gb", type=float, metavar="GB",
                        help=f"memory cap per child (default {Limits().memory_bytes >> 30} GB)")
    parser.add_argument("--run-as", metavar="USER",
                        help="when run as root, run student code as this user (e.g. nobody), "
                             "so it cannot write the gradebook or the feedback")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_cli(args) -> int:
    try:
        report = grade_all(
            args.directory, args.gradebook, jobs=args.jobs, force=args.force,
            feedback=args.feedback, profile=args.profile, assignment=args.assignment,
            functions=tuple(args.functions) if args.functions else None,
            public_only=args.public_only, case_timeout=args.case_timeout,
            import_timeout=args.import_timeout,
            memory_bytes=int(args.memory_gb * (1 << 30)) if args.memory_gb else None,
            run_as=args.run_as,
            progress=not args.no_progress)
    except (SubmissionError, BatchError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"graded {len(report.graded)}, skipped {len(report.skipped)} (unchanged), grader "
          f"errors {len(report.errors)} in {report.seconds:.0f} s; gradebook {report.gradebook}, "
          f"feedback in {report.feedback}/ (summary.md, histogram.png)")
    return 0
