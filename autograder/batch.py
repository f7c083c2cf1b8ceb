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

Entry names are hostile input. A student id is :func:`student_id` of the entry's name: the
name itself, backslashes, quotes and commas included, unless it holds what one UTF-8 line
cannot show (an undecodable byte, a control character, a line break), each such character
then escaped with ``/``, which no file name holds; distinct for distinct names, and undone
exactly by :func:`folder_name`. Gradebook cells are neutralised against spreadsheet formula
injection (:func:`neutralise`, OWASP) and read back exactly (:func:`unneutralise`), so a
resumed run still finds every student. An entry that cannot be read, or whose feedback
cannot be written, becomes its own ``grader_error`` row; it never stops the batch.

Submissions are graded ``jobs`` at a time in threads (each :func:`grade` runs its student
code in subprocesses); every grading's children get ``cpus // jobs`` threads, so parallel jobs
never oversubscribe the CPU.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from autograder import feedback as feedback_mod
from autograder.gradebook import (  # noqa: F401 - re-exported: the batch's public names
    GRADED,
    GRADER_ERROR,
    Gradebook,
    atomic_write,
    neutralise,
    printable,
    unneutralise,
)
from autograder.preflight import prove_grader
from autograder.sandbox import Limits, SandboxError, ensure_isolation
from autograder.submission import RefusedSubmission, SubmissionError, grade_refused, resolve

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


# ---------------------------------------------------------------- hostile names
ESCAPE = "/"  # no file name holds it: an id with one is always an escaped name
_SHORT = {"\n": "n", "\r": "r", "\t": "t"}
_ESCAPED = re.compile(f"{ESCAPE}(n|r|t|x[0-9a-f]{{2}}|u[0-9a-f]{{4}}|U[0-9a-f]{{8}})")
_UNSHOWN = ("Cc", "Cf", "Cs", "Zl", "Zp")  # controls, invisible formatting, surrogates, breaks


def _representable(char: str) -> bool:
    """Whether ``char`` stands for itself in a one-line, UTF-8 gradebook cell or log line."""
    return char != ESCAPE and unicodedata.category(char) not in _UNSHOWN


def _escape_char(char: str) -> str:
    if _representable(char):
        return char
    if char in _SHORT:
        return ESCAPE + _SHORT[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as os.fsdecode gives it
        return f"{ESCAPE}x{code - 0xDC00:02x}"
    return f"{ESCAPE}u{code:04x}" if code <= 0xFFFF else f"{ESCAPE}U{code:08x}"


def student_id(name: str) -> str:
    """The student id of an entry named ``name``: the name itself wherever it can be.

    A name every character of which shows as itself on one UTF-8 line (backslashes, quotes,
    commas, any script included) is its own id, so the gradebook's student column is the
    folder name (a formula start defused there, reversibly: :func:`neutralise`). Any other
    name (an undecodable byte, a control character, a line break, an invisible formatting
    character such as a right-to-left override) is escaped with ``/``, which no file name
    can hold: ``/n`` ``/r`` ``/t``, ``/xe9`` for the undecodable byte 0xe9, ``/u202e`` or
    ``/U0001f600`` for any other such character, ``/u002f`` for ``/`` itself. So an escaped
    id never equals a real name, two names never share an id, and :func:`folder_name` gives
    the name back exactly.
    """
    if all(_representable(char) for char in name):
        return name
    return "".join(_escape_char(char) for char in name)


def folder_name(student: str) -> str:
    """The entry name whose :func:`student_id` is ``student`` (an undecodable byte as
    ``os.fsdecode`` gives it); a ``ValueError`` for text that no name has as its id."""
    pieces = _ESCAPED.split(student)  # text, escape, text, escape, ..., text
    name = "".join(piece if i % 2 == 0 else _unescape(piece) for i, piece in enumerate(pieces))
    if student_id(name) != student:
        raise ValueError(f"{student!r} is not a student id: expected the name itself or "
                         f"{ESCAPE}n, {ESCAPE}r, {ESCAPE}t, {ESCAPE}xhh, {ESCAPE}uhhhh, "
                         f"{ESCAPE}Uhhhhhhhh (lower-case hex) for each character it escapes")
    return name


def _unescape(escape: str) -> str:
    kind, digits = escape[0], escape[1:]
    if not digits:
        return {"n": "\n", "r": "\r", "t": "\t"}[kind]
    code = int(digits, 16) + (0xDC00 if kind == "x" else 0)
    return chr(code) if code <= 0x10FFFF else "\ufffd"  # not a character: fails the check


# ---------------------------------------------------------------- the class folder
def _student_of(path: Path, excluded: set[Path]) -> str | None:
    """The student id of the class-folder entry ``path``, or None if it is no submission."""
    if path.name.startswith((".", "__")):
        return None
    try:
        if path.resolve() in excluded:
            return None
    except (OSError, RuntimeError):  # a symlink loop: not the gradebook, not the feedback
        pass
    if path.is_dir():
        return student_id(path.name)
    if path.is_file() and path.suffix.lower() == ".zip":
        return student_id(path.name[: -len(".zip")])
    return None  # a stray file next to the submissions (a CSV, a README), a dangling link


def find_submissions(directory: Path, exclude: tuple[Path, ...] = ()) -> list[Entry]:
    """One :class:`Entry` per student (sorted), skipping hidden entries and ``exclude``.

    Entry paths are absolute, so that no name (``-rf``) can ever read as a command option.
    """
    directory = Path(os.path.abspath(directory))
    if not directory.is_dir():
        raise SubmissionError(f"{directory} is not a folder of submissions")
    excluded = {p.resolve() for p in exclude}
    by_student: dict[str, list[Path]] = {}
    for path in sorted(directory.iterdir()):
        student = _student_of(path, excluded)
        if student is not None:
            by_student.setdefault(student, []).append(path)
    entries = []
    for student, paths in sorted(by_student.items()):
        problem = None
        if len(paths) > 1:
            problem = ("more than one submission for this student: "
                       + ", ".join(student_id(p.name) for p in paths)
                       + "; keep one and grade again")
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
    """Which checks a row was graded with: a row graded otherwise is graded again (so is
    every row after an answer key changes: ``keys`` is a digest of the answer keys)."""
    from autograder.questions import keys_digest

    chosen = ",".join(sorted(functions)) if functions else "all"
    return (f"profile={profile};assignment={assignment or 'all'};functions={chosen};"
            f"public_only={int(bool(public_only))};keys={keys_digest()}")










def row_from_result(student: str, result, *, sha: str, settings: str) -> dict:
    row = {"student": student, "total": result.score, "max_total": result.max_score}
    for test in result.tests:
        name = test.name if test.name not in row else f"{test.assignment}/{test.name}"
        row[name] = "" if test.status == "skipped" else float(test.points)
    withheld = [t for t in result.tests if t.status == "grader_error"]
    # The grader's own failure (e.g. it ran out of memory) in any check: a grader_error row,
    # graded again on the next run, however the rest of the submission did.
    reason = (f"{len(withheld)} check(s) withheld, the grader's own problem: "
              f"{withheld[0].message}" if withheld else "")
    row.update(status=GRADER_ERROR if withheld else GRADED, reason=reason,
               seconds=round(result.seconds, 1), content_sha256=sha, settings=settings,
               graded_at=_now())
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
        try:
            result = grade_fn(entry.path, workdir=workdir, **grade_kwargs)
        except RefusedSubmission as err:  # the student's doing: 0 of the full maximum
            result = grade_refused(err, grade_fn, entry.path.name, workdir=workdir,
                                   **grade_kwargs)
        return Outcome(row_from_result(entry.student, result, sha=sha, settings=settings),
                       result)
    except SubmissionError as err:  # the TA's paths mean nothing to the student
        reason = str(err).replace(str(entry.path), entry.path.name)
        reason = reason.replace(entry.path.name, student_id(entry.path.name))
    except Exception as err:  # a bug or resource failure in the grader: one row, not the batch
        reason = f"the grader failed: {type(err).__name__}: {err}"
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
            _ACTIVE.discard(workdir)
    return Outcome(error_row(entry.student, printable(reason), sha=sha, settings=settings,
                             seconds=time.perf_counter() - start))


def _safe_log(say: Callable[[str], None]) -> Callable[[str], None]:
    """``say`` for lines that may hold anything: printable, and never failing the batch."""
    def log(line: str) -> None:
        with contextlib.suppress(Exception):
            say(printable(line))

    return log


def _plan(entries: list[Entry], book: Gradebook, feedback: Path, settings: str, force: bool,
          report: BatchReport, say: Callable) -> list[tuple[Entry, str]]:
    """The entries to grade, with their content hashes; unchanged graded ones are skipped."""

    todo = []
    for entry in entries:
        try:
            sha = content_sha256(entry.path)
        except Exception as err:  # e.g. a file the grader may not read
            sha, entry.problem = "", printable(f"the submission could not be read: {err}")
        old = book.rows.get(entry.student)
        if (not force and old is not None and old.get("status") == GRADED
                and old.get("content_sha256") == sha and old.get("settings") == settings
                and feedback_mod.has_feedback(feedback, entry.student)):
            report.skipped.append(entry.student)
            say(f"skip {entry.student}: unchanged, graded at {old.get('graded_at')}")
        else:
            todo.append((entry, sha))
    return todo


def _record(entry: Entry, outcome: Outcome, book: Gradebook, feedback: Path, settings: str,
            report: BatchReport, say: Callable) -> None:
    """Feedback first (a row in the gradebook means its feedback exists too), then the row.

    Feedback that cannot be written (a full disk, a name the file system refuses) turns this
    row, and only this row, into a grader_error, graded again on the next run.
    """

    row = outcome.row
    try:
        feedback_mod.write_student(feedback, entry.student, row, outcome.result)
    except Exception as err:
        row = error_row(entry.student, printable(f"could not write the feedback: "
                                                 f"{type(err).__name__}: {err}"),
                        sha=row.get("content_sha256", ""), settings=settings,
                        seconds=float(row.get("seconds") or 0.0))
    book.put(row)
    try:
        book.save()
    except OSError as err:  # saved again after the next student and at the end
        say(f"warning: could not save {book.path.name} after {entry.student}: {err}")
    if row["status"] == GRADED:
        report.graded.append(entry.student)
        say(f"graded {entry.student}: {row['total']:g} / {row['max_total']:g} "
            f"in {row['seconds']:.1f} s")
    else:
        report.errors.append(entry.student)
        say(f"grader_error {entry.student}: {row['reason']}")


def _grade_pool(todo: list[tuple[Entry, str]], jobs: int, settings: str, grade_fn: Callable,
                grade_kwargs: dict, record: Callable[[Entry, Outcome], None], bar) -> None:
    """Grade ``todo`` ``jobs`` at a time, recording each outcome as soon as it is in."""
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="grade") as pool:
        pending = {pool.submit(_grade_entry, entry, sha, settings, grade_fn, grade_kwargs):
                   (entry, sha) for entry, sha in todo}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                entry, sha = pending.pop(future)
                try:
                    outcome = future.result()
                except BaseException as err:  # keep the batch going
                    outcome = Outcome(error_row(
                        entry.student, printable(f"the grader failed: {err!r}"), sha=sha,
                        settings=settings, seconds=0.0))
                try:
                    record(entry, outcome)
                except Exception as err:  # never the batch for one student
                    with contextlib.suppress(Exception):
                        record(entry, Outcome(error_row(
                            entry.student, printable(f"the grader failed: {err!r}"),
                            sha=sha, settings=settings, seconds=0.0)))
                bar.update(1)


def _limits(jobs: int, import_timeout, memory_bytes, run_as, say: Callable) -> Limits:
    """The sandbox limits of every grading; fails once, clearly, where student code could
    not be isolated from other students (as root without a fresh uid per grading)."""
    defaults = Limits()
    limits = Limits(threads=threads_per_job(jobs),
                    import_timeout=import_timeout or defaults.import_timeout,
                    memory_bytes=memory_bytes or defaults.memory_bytes)
    try:
        found = ensure_isolation()
        prove_grader(limits)  # before any student: a machine that cannot grade says so
    except (SandboxError, OSError) as err:
        raise BatchError(str(err)) from None
    if run_as:
        say(f"note: --run-as {run_as} is no longer needed: as root, every grading runs under "
            "its own fresh uid")
    if not found.fresh_uid:
        say("warning: not running as root, so every student's code runs as this user: one "
            "student's code could read or change another's files (run as root for a fresh "
            "uid per grading)")
    say(f"isolation: {found.summary()}")
    return limits


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


    started = time.perf_counter()
    if grade_fn is None:
        from autograder.grader import grade as grade_fn
    jobs = max(1, int(jobs))
    gradebook = Path(gradebook)
    feedback = Path(feedback) if feedback else gradebook.with_name(f"{gradebook.stem}_feedback")
    say = _safe_log(log or (lambda line: tqdm.write(line, file=sys.stderr)))
    limits = _limits(jobs, import_timeout, memory_bytes, run_as, say)
    grade_kwargs = dict(profile=profile, assignment=assignment, functions=functions,
                        public_only=public_only, case_timeout=case_timeout, limits=limits)
    settings = settings_key(profile=profile, assignment=assignment, functions=functions,
                            public_only=public_only)
    book = Gradebook.load(gradebook)
    if book.warning:
        say(f"warning: {book.warning}")
    entries = find_submissions(directory, exclude=(gradebook, feedback))
    report = BatchReport(gradebook=gradebook, feedback=feedback)
    todo = _plan(entries, book, feedback, settings, force, report, say)
    bar = tqdm(total=len(entries), initial=len(report.skipped), unit="student",
               desc="grading", file=sys.stderr, disable=not progress, dynamic_ncols=True)
    previous = _install_stop_handlers()
    try:
        _grade_pool(todo, jobs, settings, grade_fn, grade_kwargs,
                    lambda entry, outcome: _record(entry, outcome, book, feedback, settings,
                                                   report, say), bar)
    finally:
        bar.close()
        _restore_handlers(previous)
        book.save()  # once more at the end: whatever else wrote there, this is the gradebook
    try:
        feedback_mod.write_summary(feedback, book)
    except Exception as err:  # the gradebook is saved; the summary is a convenience
        say(f"warning: could not write the class summary: {type(err).__name__}: {err}")
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
                        help="deprecated and ignored: as root every grading runs under its "
                             "own fresh uid")
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
