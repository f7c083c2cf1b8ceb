"""Grading a whole class: ``python -m autograder grade-all`` and its gradebook and feedback.

A generated class of 32 submissions (correct, partially wrong, broken, hostile) is graded
with ``--jobs 2`` in a subprocess that is killed part-way (SIGKILL: no chance to clean up),
then resumed; the gradebook must be a valid CSV at every moment and complete and correct at
the end. To stay cheap the batch grades only the CNN and embedding-matrix checks without
accuracy training (``--functions ... --public-only``); most broken submissions fail at import.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from autograder import isolation
from autograder.batch import (
    GRADED,
    GRADER_ERROR,
    Gradebook,
    content_sha256,
    descendant_pids,
    find_submissions,
    grade_all,
    threads_per_job,
)
from autograder.grader import GradeResult
from autograder.grader import TestResult as Checked  # not 'Test*': pytest would collect it
from autograder.registry import REGISTRY

REPO = Path(__file__).resolve().parent.parent
REFERENCE = (REPO / "solutions" / "sentiment.py").read_text()
STARTER = (REPO / "starter" / "sentiment.py").read_text()
FUNCTIONS = ("build_cnn_classifier", "build_embedding_matrix")
OPTIONS = ["--assignment", "sentiment", "--functions", *FUNCTIONS, "--public-only",
           "--case-timeout", "30", "--import-timeout", "30", "--no-progress"]


def selected_checks() -> dict[str, float]:
    """Test name -> points, for the checks the batch tests select."""
    import autograder.assignments.sentiment  # noqa: F401  (registers the checks)

    return {c.name: c.points for c in REGISTRY["sentiment"]
            if c.function in FUNCTIONS and c.public}


def _check(prefix: str) -> str:
    names = [n for n in selected_checks() if n.startswith(prefix)]
    assert len(names) == 1, (prefix, names)
    return names[0]


def _edit(*pairs) -> str:
    source = REFERENCE
    for old, new in pairs:
        assert old in source, f"the reference changed: {old!r} not found"
        source = source.replace(old, new, 1)
    return source


def _prepend(code: str) -> str:
    """The reference with ``code`` run first (after its ``from __future__`` import)."""
    future = "from __future__ import annotations\n"
    assert future in REFERENCE
    return REFERENCE.replace(future, future + code, 1)


def _fake_gradebook_writer(root: Path) -> str:
    """Import-time code that forges grades.csv and results.json in every parent folder.

    A real attacker would walk up to ``/``; this one stops at the test's own ``root`` so the
    test never litters the machine (the sandbox as such does not stop it).
    """
    return (
        "\nimport pathlib as _pathlib\n"
        f"_ROOT = _pathlib.Path({str(root)!r})\n"
        "for _folder in (_pathlib.Path.cwd(), *_pathlib.Path.cwd().parents):\n"
        "    if _folder != _ROOT and _ROOT not in _folder.parents:\n"
        "        continue\n"
        "    try:\n"
        "        (_folder / 'grades.csv').write_text('student,total,max_total,status,reason,'\n"
        "            'seconds,content_sha256,settings,graded_at\\n'\n"
        "            'mallory,1000,32,graded,,0,forged,forged,2000-01-01\\n')\n"
        "        (_folder / 'results.json').write_text('{\"score\": 1000}')\n"
        "    except OSError:\n"
        "        pass\n")


# kind -> (how to build the source from the test root, {test-name prefix: points lost})
# ("all" loses every point; a kind whose source is None is laid out by `write_submission`).
def variants(root: Path) -> dict[str, tuple[str | None, dict]]:
    return {
        "correct": (REFERENCE, {}),
        "correct_comment": (REFERENCE + "\n# all done, see you in lab 6\n", {}),
        "correct_zip": (REFERENCE, {}),
        "correct_nested_zip": (REFERENCE, {}),
        "correct_nested_dir": (REFERENCE, {}),
        # wrong in a function the batch does not grade: full marks for the selected checks
        "wrong_always_lstm": (_edit(
            ('layer_class = {"rnn": keras.layers.SimpleRNN, "gru": keras.layers.GRU,\n'
             '                   "lstm": keras.layers.LSTM}[cell]',
             "layer_class = keras.layers.LSTM")), {}),
        "wrong_one_region_size": (_edit(("for size in filter_sizes:",
                                         "for size in filter_sizes[:1]:")),
                                  {"build_cnn_classifier: one Conv1D": "all",
                                   "build_cnn_classifier: parameter count": "all"}),
        "wrong_padding_row": (_edit(("    matrix[0] = 0.0\n", "")),
                              {"build_embedding_matrix": "all"}),
        "broken_syntax": (REFERENCE + "\ndef oops(:\n", {"": "all"}),
        "broken_starter": (STARTER, {"": "all"}),
        "broken_name_error": (REFERENCE + "\nprint(undefined_name)\n", {"": "all"}),
        "broken_missing_module": (_prepend("import not_a_real_module_xyz\n"), {"": "all"}),
        "broken_empty": (None, {"": "all"}),
        "broken_wrong_filename": (None, {"": "all"}),
        "broken_corrupt_zip": (None, "grader_error"),
        "hostile_import_loop": (_prepend("while True:\n    pass\n"), {"": "all"}),
        "hostile_os_exit": (_prepend("import os\nos._exit(3)\n"), {"": "all"}),
        "hostile_sys_exit": (_prepend("import sys\nsys.exit(0)\n"), {"": "all"}),
        "hostile_memory_bomb": (_edit(("    rng = np.random.default_rng(seed)\n",
                                       "    hog = bytearray(64 * 2**30)\n"
                                       "    rng = np.random.default_rng(seed)\n")),
                                {"build_embedding_matrix": "all"}),
        "hostile_fake_gradebook": (REFERENCE + _fake_gradebook_writer(root), {}),
    }


def write_submission(folder: Path, student: str, kind: str, source: str | None) -> Path:
    """Lay out one student's submission in the class folder; returns its path."""
    if kind.endswith("_zip") or kind == "broken_corrupt_zip":
        path = folder / f"{student}.zip"
        if kind == "broken_corrupt_zip":
            path.write_bytes(b"PK\x03\x04 this is not really a zip")
            return path
        with zipfile.ZipFile(path, "w") as zf:
            inner = "homework/sentiment.py" if "nested" in kind else "sentiment.py"
            zf.writestr(inner, source)
            zf.writestr("homework/notes.txt", "my notes")
        return path
    path = folder / student
    path.mkdir()
    if kind == "broken_empty":
        (path / "notes.txt").write_text("I could not do it")
    elif kind == "broken_wrong_filename":
        (path / "Sentiment.py").write_text(REFERENCE)
    elif kind == "correct_nested_dir":
        (path / "work").mkdir()
        (path / "work" / "sentiment.py").write_text(source)
        (path / "README.md").write_text("hi")
        (path / "__pycache__").mkdir()
        (path / "__pycache__" / "sentiment.cpython-311.pyc").write_bytes(b"junk")
    else:
        (path / "sentiment.py").write_text(source)
    return path


def make_class(folder: Path, counts: dict[str, int], root: Path) -> dict[str, str]:
    """Write ``counts[kind]`` submissions of each kind; returns student id -> kind."""
    folder.mkdir(parents=True, exist_ok=True)
    table = variants(root)
    students = {}
    for kind, count in counts.items():
        for i in range(1, count + 1):
            student = f"{kind}_{i:02d}"
            write_submission(folder, student, kind, table[kind][0])
            students[student] = kind
    return students


CLASS = {"correct": 1, "correct_comment": 1, "correct_zip": 1, "correct_nested_zip": 1,
         "correct_nested_dir": 1, "wrong_always_lstm": 1, "wrong_one_region_size": 1,
         "wrong_padding_row": 1, "broken_syntax": 5, "broken_starter": 5,
         "broken_name_error": 3, "broken_missing_module": 2, "broken_empty": 2,
         "broken_wrong_filename": 1, "broken_corrupt_zip": 1, "hostile_import_loop": 1,
         "hostile_os_exit": 1, "hostile_sys_exit": 1, "hostile_memory_bomb": 1,
         "hostile_fake_gradebook": 1}


def expected_row(kind: str, root: Path) -> dict[str, float] | str:
    """Test name -> points this kind must get, or "grader_error"."""
    losses = variants(root)[kind][1]
    if losses == "grader_error":
        return GRADER_ERROR
    points = {}
    for name, full in selected_checks().items():
        lost = any(name.startswith(prefix) for prefix in losses)
        points[name] = 0.0 if lost else full
    return points


def read_gradebook(path: Path) -> list[dict]:
    """Parse the CSV strictly: every row must have exactly the header's fields."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        header = reader.fieldnames
    for row in rows:
        assert None not in row and None not in row.values(), f"ragged row {row}"
    assert header[:3] == ["student", "total", "max_total"]
    return rows


def grade_all_command(folder: Path, gradebook: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "autograder", "grade-all", str(folder), "--gradebook",
            str(gradebook), "--jobs", "2", *OPTIONS, *extra]


def _env(root: Path) -> dict:
    # Grading temp folders under the test root, so the gradebook's folder is one of the
    # parents a hostile module walks up through.
    tmp = root / "tmp"
    tmp.mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1"}


def _kill_tree(pids) -> None:
    for pid in pids:
        for kill in (os.killpg, os.kill):
            try:
                kill(pid, signal.SIGKILL)
                break
            except (ProcessLookupError, PermissionError):
                continue


def _skipped(stderr: str) -> set[str]:
    return set(re.findall(r"^skip (\S+): unchanged", stderr, flags=re.MULTILINE))


def _graded(stderr: str) -> set[str]:
    return set(re.findall(r"^(?:graded|grader_error) (\S+?):", stderr, flags=re.MULTILINE))


# ---------------------------------------------------------------- the class, end to end
@pytest.mark.slow
def test_class_is_graded_killed_resumed_and_correct(tmp_path):
    students = make_class(tmp_path / "class", CLASS, tmp_path)
    assert len(students) >= 30
    (tmp_path / "class" / ".DS_Store").write_text("hidden")
    (tmp_path / "class" / "roster.txt").write_text("not a submission")
    gradebook = tmp_path / "grades.csv"
    command = grade_all_command(tmp_path / "class", gradebook)

    # 1. Start, wait until some but not all rows are in, then kill the whole thing hard.
    log = open(tmp_path / "first.log", "w")  # noqa: SIM115
    first = subprocess.Popen(command, cwd=REPO, env=_env(tmp_path), stdout=log,
                             stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 400
    partial_rows = []
    try:
        while time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.3)
            try:
                rows = read_gradebook(gradebook)
            except (OSError, AssertionError, KeyError, TypeError):
                continue  # not there yet (or a hostile module's forgery, rewritten soon)
            if sum(r["student"] in students for r in rows) >= 6:
                break
        children = descendant_pids(first.pid)
        first.send_signal(signal.SIGKILL)
        first.wait()
        _kill_tree(children)  # the sandboxed children lead their own sessions
    finally:
        log.close()
    assert first.returncode == -signal.SIGKILL, (tmp_path / "first.log").read_text()[-3000:]

    # 2. The gradebook the kill left is a valid CSV of complete rows, some but not all.
    partial_rows = read_gradebook(gradebook)
    done = {r["student"]: r for r in partial_rows}
    assert 6 <= len(done) < len(students), sorted(done)
    assert set(done) <= set(students)
    for row in partial_rows:
        assert row["status"] in (GRADED, GRADER_ERROR) and row["content_sha256"]
        assert row["graded_at"] and row["settings"]

    # 3. Resume: the graded rows are skipped (same graded_at), the rest graded.
    second = subprocess.run(command, cwd=REPO, env=_env(tmp_path), capture_output=True,
                            text=True, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    finished = {s for s, r in done.items() if r["status"] == GRADED}
    assert _skipped(second.stderr) == finished
    assert _graded(second.stderr) == set(students) - finished
    final = {r["student"]: r for r in read_gradebook(gradebook)}
    assert sorted(final) == sorted(students)  # one row per student, no forged 'mallory'
    for student in finished:
        assert final[student]["graded_at"] == done[student]["graded_at"]

    # 4. Every row is exactly right.
    for student, kind in students.items():
        row, want = final[student], expected_row(kind, tmp_path)
        if want == GRADER_ERROR:
            assert row["status"] == GRADER_ERROR and float(row["total"]) == 0, row
            assert row["reason"], row
            continue
        assert row["status"] == GRADED, (student, row)
        got = {name: float(row[name]) for name in want}
        assert got == want, (student, {n: (got[n], want[n]) for n in want if got[n] != want[n]})
        assert float(row["total"]) == sum(want.values())
        assert float(row["max_total"]) == sum(selected_checks().values())

    # 5. The messages say why, and the hostile module's forgeries changed nothing.
    feedback = tmp_path / "grades_feedback"

    def output(student):
        return json.dumps(json.loads((feedback / f"{student}.json").read_text()))

    assert "importing the module took longer than 30 s" in output("hostile_import_loop_01")
    assert "ran out of memory" in output("hostile_memory_bomb_01")
    assert "exited with status 3" in output("hostile_os_exit_01")
    assert "called sys.exit(0)" in output("hostile_sys_exit_01")
    assert "ModuleNotFoundError" in output("broken_missing_module_01")
    assert "NameError" in output("broken_name_error_01")
    assert "SyntaxError" in output("broken_syntax_01")
    assert "not implemented yet" in output("broken_starter_01")
    assert "sentiment.py was not submitted" in output("broken_wrong_filename_01")
    forged = tmp_path / "tmp" / "grades.csv"
    if isolation.detect().level == "bubblewrap":  # the grader's folders are not in its view
        assert not forged.exists()
    else:  # it could write there, and did: what it wrote is ignored
        assert forged.is_file() and "mallory" in forged.read_text()
    assert "mallory" not in gradebook.read_text()
    assert json.loads((feedback / "hostile_fake_gradebook_01.json").read_text())["score"] == 32

    # 6. Feedback for everyone and a class summary.
    for student in students:
        markdown = (feedback / f"{student}.md").read_text()
        assert markdown.startswith(f"# Feedback for {student}")
    correct = (feedback / "correct_01.md").read_text()
    assert "**Total: 32 / 32**" in correct and "| test | points | status | message |" in correct
    summary = (feedback / "summary.md").read_text()
    assert f"students: {len(students)} (" in summary and "slowest" in summary
    assert (feedback / "histogram.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_rerun_skips_unchanged_regrades_changed_and_force_regrades_all(tmp_path):
    students = make_class(tmp_path / "class", {"broken_starter": 1, "broken_syntax": 1,
                                               "broken_empty": 1}, tmp_path)
    gradebook = tmp_path / "book" / "grades.csv"
    command = grade_all_command(tmp_path / "class", gradebook)

    def run(*extra):
        done = subprocess.run(command + list(extra), cwd=REPO, env=_env(tmp_path),
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stderr, {r["student"]: r for r in read_gradebook(gradebook)}

    log, first = run()
    assert _graded(log) == set(students) and not _skipped(log)
    log, second = run()
    assert _skipped(log) == set(students) and not _graded(log)
    assert second == first

    fixed = tmp_path / "class" / "broken_syntax_01" / "sentiment.py"
    fixed.write_text(STARTER)  # the student resubmits: no syntax error any more
    (tmp_path / "class" / "broken_starter_01" / "notes.txt").write_text("ignored file")
    log, third = run()
    assert _graded(log) == {"broken_syntax_01"}
    assert _skipped(log) == {"broken_starter_01", "broken_empty_01"}
    assert third["broken_syntax_01"]["graded_at"] != first["broken_syntax_01"]["graded_at"]
    assert third["broken_syntax_01"]["content_sha256"] != first["broken_syntax_01"][
        "content_sha256"]
    assert "not implemented yet" in (gradebook.parent / "grades_feedback" /
                                     "broken_syntax_01.md").read_text()

    log, fourth = run("--force")
    assert _graded(log) == set(students) and not _skipped(log)
    assert all(fourth[s]["graded_at"] != third[s]["graded_at"] for s in students)
    assert {s: r["total"] for s, r in fourth.items()} == {s: "0" for s in students}


# ---------------------------------------------------------------- fast, without grading
def _result(points: dict[str, tuple[float, float, str]], seconds=1.0) -> GradeResult:
    tests = [Checked("sentiment", name, p, m, status, f"message | for {name}\nline 2",
                        "visible") for name, (p, m, status) in points.items()]
    return GradeResult("x", "quick", tests, seconds=seconds)


def test_grader_failures_become_rows_and_never_stop_the_batch(tmp_path):
    folder = tmp_path / "class"
    for student in ("ann", "bob", "cy", "dee"):
        (folder / student).mkdir(parents=True)
        (folder / student / "sentiment.py").write_text(f"# {student}\n")
    seen_limits = []

    def fake_grade(path, **kwargs):
        seen_limits.append(kwargs["limits"])
        name = Path(path).name
        if name == "bob":
            raise RuntimeError("the worker exploded")
        if name == "cy":
            raise MemoryError()
        return _result({"a": (2.0, 2.0, "passed"), "b": (1.0, 4.0, "partial"),
                        "gpu": (0.0, 0.0, "skipped")})

    lines = []
    report = grade_all(folder, tmp_path / "grades.csv", jobs=2, grade_fn=fake_grade,
                       progress=False, log=lines.append)
    assert sorted(report.graded) == ["ann", "dee"] and sorted(report.errors) == ["bob", "cy"]
    assert {lim.threads for lim in seen_limits} == {threads_per_job(2)}
    rows = {r["student"]: r for r in read_gradebook(tmp_path / "grades.csv")}
    assert rows["ann"]["total"] == "3" and rows["ann"]["a"] == "2" and rows["ann"]["gpu"] == ""
    assert rows["bob"]["status"] == GRADER_ERROR and "the worker exploded" in rows["bob"]["reason"]
    assert rows["cy"]["status"] == GRADER_ERROR and "MemoryError" in rows["cy"]["reason"]
    feedback = tmp_path / "grades_feedback"
    markdown = (feedback / "ann.md").read_text()
    assert "| b | 1 / 4 | partial | message \\| for b<br>line 2 |" in markdown
    assert json.loads((feedback / "bob.json").read_text())["score"] == 0
    summary = (feedback / "summary.md").read_text()
    assert "| a | 2/2 (100%) | 0/2 | 2.00 / 2 |" in summary
    assert "| b | 0/2 (0%) | 2/2 | 1.00 / 4 |" in summary
    assert "gpu" not in summary.split("## Per-test")[1].split("##")[0]

    # a rerun grades only the two that failed
    report = grade_all(folder, tmp_path / "grades.csv", jobs=2, grade_fn=fake_grade,
                       progress=False, log=lines.append)
    assert sorted(report.skipped) == ["ann", "dee"] and sorted(report.errors) == ["bob", "cy"]


def test_content_hash_counts_only_what_the_grader_uses(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for folder in (one, two):
        folder.mkdir()
        (folder / "sentiment.py").write_text("x = 1\n")
    (two / "notes.txt").write_text("not graded")
    (two / "__pycache__").mkdir()
    (two / "__pycache__" / "junk.pyc").write_bytes(b"1")
    assert content_sha256(one) == content_sha256(two)
    archive = tmp_path / "three.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("deep/sentiment.py", "x = 1\n")
    assert content_sha256(archive) == content_sha256(one)
    (two / "sentiment.py").write_text("x = 2\n")
    assert content_sha256(one) != content_sha256(two)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"nope")
    assert content_sha256(bad) != content_sha256(one)


def test_class_folder_entries_and_a_forged_gradebook(tmp_path):
    folder = tmp_path / "class"
    for name in ("ann", "bob", ".hidden", "__MACOSX", "grades_feedback"):
        (folder / name).mkdir(parents=True)
    (folder / "bob.zip").write_bytes(b"")
    (folder / "cy.zip").write_bytes(b"")
    (folder / "roster.csv").write_text("x")
    entries = find_submissions(folder, exclude=(folder / "grades_feedback",))
    assert [e.student for e in entries] == ["ann", "bob", "cy"]
    assert entries[1].problem and "more than one submission" in entries[1].problem

    book_path = tmp_path / "grades.csv"
    book_path.write_text("this,is\nnot,a gradebook\n")
    (tmp_path / ".grades.csv.abc.tmp").write_text("half a file")
    book = Gradebook.load(book_path)
    assert book.rows == {} and "not a gradebook this command wrote" in book.warning
    assert not (tmp_path / ".grades.csv.abc.tmp").exists()
    assert list(tmp_path.glob("grades.csv.unreadable-*"))
