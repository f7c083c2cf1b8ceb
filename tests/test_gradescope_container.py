"""Gradescope's default container (0.5 vCPU, 768 MB) and the grader running out of memory.

The grading process reads its inputs from the bundle (no pandas, no review CSV, no GloVe),
the sandbox's memory caps follow the container, and when the grader's own side (the trusted
worker, a reference, the grader's models) fails, the checks it served are withheld with
``grader_error`` (0 of 0, "not about your code"), results.json says so, and grade-all's row
is a ``grader_error`` row that the next run grades again. Hidden checks never run in
``check()``.
"""

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from autograder.assignments import ASSIGNMENTS, load_assignment
from autograder.batch import GRADER_ERROR, row_from_result
from autograder.grader import GradeResult, worker_problem
from autograder.grader import TestResult as Checked
from autograder.questions import question_points
from autograder.registry import HIDDEN, REGISTRY, check
from autograder.report import results_json
from autograder.sandbox import GIB, Limits, TaskResult
from tests.submissions import is_question

REPO = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((REPO / "autograder" / "gradescope_results.schema.json").read_text())
# Every assignment's points, as before any check was hidden (hiding moves no points), besides
# its labs' auto-graded questions (autograder/answer_keys/, question_points).
TOTALS = {"sentiment": 114, "rnn_numpy": 60, "cells": 59, "char_lm": 61, "seq2seq": 48,
          "captioning": 54}
for _name in ASSIGNMENTS:
    load_assignment(_name)


def test_hidden_checks_exist_everywhere_never_public_and_move_no_points():
    for name in ASSIGNMENTS:
        checks = REGISTRY[name]
        assert sum(c.points for c in checks) == TOTALS[name] + question_points(name), name
        hidden = [c for c in checks if c.visibility in HIDDEN]
        assert hidden and not any(c.public for c in hidden), name
        learning = [c for c in checks if c.name.startswith(("learning:", "accuracy:"))]
        assert all(c.visibility in HIDDEN for c in learning), name
        assert [c for c in hidden if c not in learning], f"{name}: no further hidden cases"
        functions = {c.function for c in checks if c.function}
        assert functions == {c.function for c in checks if c.function and c.public}, name
    with pytest.raises(ValueError, match="cannot be public"):
        check("x", points=1, assignment="nowhere", visibility="hidden", public=True)


def test_a_notebook_check_never_runs_a_hidden_check(monkeypatch):
    """``check("<function>")`` (public checks only) never builds a case only hidden checks
    need, e.g. the accuracy recipes."""
    from autograder import grader

    class Stop(Exception):
        pass

    asked = []

    def observe(spec, submission, root, timeouts, **kwargs):
        asked.append(set(timeouts))
        raise Stop

    monkeypatch.setattr(grader, "observe", observe)
    for name in ASSIGNMENTS:
        public = {k for c in REGISTRY[name] if c.public for k in c.needs}
        hidden = {k for c in REGISTRY[name] if not c.public for k in c.needs} - public
        assert not {"acc_gru", "acc_cnn", "acc_lm", "acc_s2s", "acc_cap"} & public
        for function in load_assignment(name).FUNCTIONS:
            asked.clear()
            with contextlib.suppress(Stop):
                grader.grade(REPO / "solutions", assignment=name, functions=(function,),
                             public_only=True)
            assert all(not (cases & hidden) for cases in asked), (name, function)


def _result(*statuses) -> GradeResult:
    result = GradeResult(submission="s", profile="quick")
    for number, status in enumerate(statuses):
        points, most = (0.0, 0.0) if status == "grader_error" else (3.0, 3.0)
        result.tests.append(Checked("cells", f"check {number}", points, most, status,
                                       "the grader ran out of memory ... tell your TA",
                                       "visible"))
    return result


def test_a_withheld_check_says_so_in_results_json_and_flags_the_row():
    result = _result("passed", "grader_error")
    payload = results_json(result)
    jsonschema.validate(payload, SCHEMA)
    test = payload["tests"][1]
    assert test["name"].startswith("[grader error]") and test["max_score"] == 0
    assert test["extra_data"] == {"status": "grader_error"}
    assert payload["extra_data"]["status"] == "grader_error"
    assert "This is not about your code; tell your TA" in payload["output"]
    row = row_from_result("ada", result, sha="x", settings="y")
    assert row["status"] == GRADER_ERROR and "withheld" in row["reason"]
    assert row_from_result("ada", _result("passed"), sha="x", settings="y")["status"] == "graded"


@pytest.mark.parametrize("status, message, words", [
    ("crashed", "the process running train was killed by SIGKILL", "ran out of memory"),
    ("import_error", "exited with status 1 ... SystemError", "could not start"),
    ("crashed", "killed by SIGSEGV (a crash inside native code)", "crashed"),
])
def test_a_failing_worker_is_the_graders_problem(status, message, words):
    said = worker_problem(TaskResult("t", status, message), 200 << 20)
    assert words in said and "not about your code" in said
    if status != "crashed" or "SIGKILL" in message:
        assert "its memory cap is 200 MB" in said


def test_a_student_models_own_error_in_the_worker_is_not_withheld():
    assert worker_problem(TaskResult("t", "error", "ValueError: bad input shape")) is None
    assert worker_problem(TaskResult("t", "timeout", "did not finish within 60 s")) is None


def test_the_sandbox_limits_follow_the_container(monkeypatch):
    from autograder.gradescope import WORKER_MEMORY_ENV, container_limits

    monkeypatch.delenv(WORKER_MEMORY_ENV, raising=False)
    assert container_limits(None) == Limits() or container_limits(None).memory_bytes < 6 * GIB
    small = container_limits(768 << 20)
    assert small.memory_bytes == 768 << 20 and small.worker_memory_bytes == 6 * GIB
    assert container_limits(64 * GIB) == Limits()
    monkeypatch.setenv(WORKER_MEMORY_ENV, "300")
    assert container_limits(64 * GIB).worker_memory_bytes == 300 << 20


def test_the_grading_process_needs_no_pandas_with_the_bundled_inputs(tmp_path):
    """The inputs a bundle carries give the same arrays, read without pandas, scikit-learn,
    the review CSV or GloVe, in a process that stays small."""
    from autograder.grading_inputs import precompute

    folder = tmp_path / "grading_inputs"
    made = precompute(folder, "sentiment")
    assert any(n.startswith("recipe-sentiment-gru_imdb") for n in made), made
    probe = (
        "import sys, json\n"
        "from autograder.assignments import load_assignment\n"
        "from autograder.registry import REGISTRY\n"
        "spec = load_assignment('sentiment')\n"
        "needed = {case for check in REGISTRY['sentiment'] for case in check.needs}\n"
        "inputs = spec.parent_inputs(needed)\n"
        "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0]\n"
        "print(json.dumps({'heavy': [x for x in ('pandas', 'sklearn', 'pyarrow', 'keras',\n"
        "  'tensorflow') if x in sys.modules], 'mb': int(hwm.split()[1]) // 1024,\n"
        "  'x': int(inputs.recipes['gru_imdb'].worker['x_train'].sum()),\n"
        "  'known': len(inputs.expected['matrix']['known'])}))\n")
    env = {**os.environ, "SEQLAB_GRADING_INPUTS": str(folder)}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                          text=True, check=True, cwd=REPO)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["heavy"] == [] and found["mb"] < 150, found
    from autograder.assignments import sentiment
    from autograder.assignments.sentiment_inputs import encoded_splits, expected_embedding_matrix

    assert found["x"] == int(encoded_splits("imdb")["x_train"].sum())
    assert found["known"] == len(expected_embedding_matrix(sentiment.MATRIX_WORDS)["known"])


@pytest.mark.slow
def test_a_worker_out_of_memory_withholds_its_checks_and_is_graded_again(tmp_path,
                                                                       monkeypatch):
    """The worker alone gets a tiny memory cap: the child's checks are graded as usual,
    those needing the worker are withheld, and grade-all regrades that student."""
    import shutil

    from autograder.batch import Gradebook, grade_all
    from autograder.grader import grade

    (tmp_path / "class" / "ada").mkdir(parents=True)
    shutil.copy(REPO / "solutions" / "cells.py", tmp_path / "class" / "ada" / "cells.py")

    import autograder.worker_cache as worker_cache

    worker_cache._WORKER_CACHE.clear()  # earlier tests' results would spare the worker

    import autograder.batch as batch
    import autograder.grader as grader
    from autograder.preflight import prove_grader

    def proven_unstarved(limits=None, **kwargs):  # the worker runs out of memory mid-grading,
        prove_grader(Limits(), **kwargs)  # not at the start (there the preflight refuses it)

    monkeypatch.setattr(grader, "prove_grader", proven_unstarved)
    monkeypatch.setattr(batch, "prove_grader", proven_unstarved)

    def starved(path, **kwargs):
        kwargs["limits"] = replace(kwargs["limits"], worker_memory_bytes=200 << 20)
        return grade(path, **kwargs)

    book = tmp_path / "grades.csv"
    for _ in range(2):  # the second run grades the grader_error row again
        report = grade_all(tmp_path / "class", book, assignment="cells", grade_fn=starved,
                           progress=False, log=lambda line: None)
        assert report.errors == ["ada"] and not report.skipped
    row = Gradebook.load(book).rows["ada"]
    assert row["status"] == GRADER_ERROR and "ran out of memory" in row["reason"]
    result = starved(tmp_path / "class" / "ada", assignment="cells", limits=Limits())
    by_status = {}
    for test in result.tests:
        if not is_question(test):  # the lab's questions: "not answered" (no answers.json)
            by_status.setdefault(test.status, []).append(test)
    assert {t.name.split(":")[0] for t in by_status["grader_error"]} >= {"lstm_step",
                                                                          "gru_sequence"}
    assert all(t.points == t.max_points == 0 and "not about your code" in t.message
               for t in by_status["grader_error"])
    assert by_status["passed"] and "failed" not in by_status  # the child's checks still count
    feedback = (tmp_path / "grades_feedback" / "ada.md").read_text()
    assert "grader_error" in feedback and "not about your code" in feedback


def _cgroups_writable() -> bool:
    return os.geteuid() == 0 and os.access("/sys/fs/cgroup/memory", os.W_OK) and \
        os.access("/sys/fs/cgroup/cpu", os.W_OK)


@pytest.mark.slow
@pytest.mark.skipif(not _cgroups_writable(), reason="needs root and cgroup v1 memory and cpu")
def test_run_autograder_in_gradescopes_default_container():
    """The bundle's run_autograder in a 0.5 vCPU / 768 MB cgroup: full marks, nobody killed;
    with the worker alone starved from the start, the preflight refuses and no score is
    written."""
    sys.path.insert(0, str(REPO))
    from bench.gradescope_container import measure

    row = measure("cells", "default", 0.5, 768, timeout=600)
    assert row["finished"] == "yes" and row["OOM kills"] == 0, row
    total = TOTALS["cells"] + question_points("cells")  # the reference answers the questions
    assert row["score"] == f"{total:g}/{total:g}", row
    starved = measure("cells", "default", 0.5, 768, timeout=600,
                      extra_env={"SEQLAB_WORKER_MEMORY_MB": "200"})
    # the preflight's worker cannot start in 200 MB: no score at all (Gradescope says the
    # autograder failed), never a 0, and the instructor's log names the memory limit
    assert starved["finished"] == "exit 2" and starved["score"] == "none", starved
    assert "ran out of memory within its limit of 200 MB" in starved["stderr"], starved
    assert "not about the student's code" in starved["stderr"], starved
