"""The labs' questions end to end: ``answer()`` in a notebook, ``answers.json`` in the zip, the
grader reading it as hostile input and grading it against the answer keys."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from autograder import questions
from autograder.grader import grade
from autograder.questions import (
    AnswerKeyError,
    Question,
    judge_question,
    load_key,
    parse_answers,
    question_points,
    questions_of,
    reference_text,
)
from autograder.registry import REGISTRY
from autograder.report import results_json
from seqlab.answers import AnswerError, answer, answers_of_labs, load_answers

REPO = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ the student's side
def test_answer_records_replaces_and_skips_ellipsis(tmp_path, capsys):
    path = tmp_path / "answers.json"
    assert answer("4.1", ..., path=path) is None
    assert "Question 4.1: not answered yet" in capsys.readouterr().out
    assert not path.exists()                                   # nothing recorded
    answer("4.2", 37633, path=path)
    assert "Question 4.2: recorded 37633" in capsys.readouterr().out
    answer("4.3", (2, 64), path=path)
    answer("10.1", "B", path=path)
    answer("4.2", 37634, path=path)                            # answering again replaces
    assert load_answers(path) == {"4.2": 37634, "4.3": [2, 64], "10.1": "B"}
    assert list(json.loads(path.read_text())) == ["4.2", "4.3", "10.1"]  # question order
    assert [p.name for p in tmp_path.iterdir()] == ["answers.json"]  # no temporary left


def test_answer_goes_to_the_workspace_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                                # locally: where the lab runs
    monkeypatch.delenv("SEQLAB_IMPL", raising=False)
    answer("2.1", 3.5)
    assert load_answers(tmp_path / "answers.json") == {"2.1": 3.5}


@pytest.mark.parametrize(("qid", "value", "says"), [
    ("4", 1, "question id must be a string like"),
    (4.2, 1, "question id must be a string like"),
    ("4.2", float("nan"), "finite number"),
    ("4.2", 10 ** 20, "too large"),
    ("4.2", True, "must be a number"),
    ("4.2", {"a": 1}, "got dict"),
    ("4.2", None, "got NoneType"),
    ("4.2", [2, "64"], "a shape is a list"),
    ("4.2", list(range(9)), "a shape is a list"),
    ("4.2", "x" * 5000, "keep it under"),
])
def test_answer_refuses_what_cannot_be_an_answer_in_one_sentence(tmp_path, qid, value, says):
    with pytest.raises(AnswerError, match=says) as caught:
        answer(qid, value, path=tmp_path / "answers.json")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert not (tmp_path / "answers.json").exists()


def test_numpy_values_are_answers(tmp_path):
    import numpy as np

    answer("4.2", np.int64(7), path=tmp_path / "a.json")
    answer("4.3", (np.int64(2), 64), path=tmp_path / "a.json")
    assert load_answers(tmp_path / "a.json") == {"4.2": 7, "4.3": [2, 64]}


def test_the_zip_carries_the_answers_of_its_modules_labs(tmp_path):
    from seqlab.colab import Workspace
    from seqlab.submit import build_submission, labs_of_modules

    assert labs_of_modules(("sentiment",)) == ["03_glove", "04_rnn_sentiment",
                                               "05_cnn_sentiment"]
    (tmp_path / "sentiment.py").write_text("x = 1\n")
    (tmp_path / "answers.json").write_text(json.dumps({"1.1": 4, "3.2": "because",
                                                       "5.1": 7, "x": 1}))
    work = Workspace("05_cnn_sentiment", code=tmp_path, folder=tmp_path, profile="quick")
    path = build_submission("05_cnn_sentiment", work, ("sentiment",))
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["answers.json", "sentiment.py"]
        assert json.loads(archive.read("answers.json")) == {"3.2": "because", "5.1": 7}
    assert answers_of_labs({"1.1": 1, "8.2": 2}, ["08_captioning"]) == {"8.2": 2}
    (tmp_path / "answers.json").unlink()                      # no answers: no file
    with zipfile.ZipFile(build_submission("05_cnn_sentiment", work, ("sentiment",))) as a:
        assert a.namelist() == ["sentiment.py"]


# ------------------------------------------------------------------ hostile answers.json
@pytest.mark.parametrize(("raw", "error"), [
    (b"\xff\xfe{\x00}", "not UTF-8"),
    (b"[1, 2]", "one JSON object"),
    (b'"4.2"', "one JSON object"),
    (b"{'4.2': 1}", "not valid JSON"),
    (b'{"4.2": 1', "not valid JSON"),
    (b"", "not valid JSON"),
    (b'{"4.2": ' + b"[" * 30000 + b"]" * 30000 + b"}", "nested too deeply"),
    (b'{"4.2": "' + b"x" * (70 << 10) + b'"}', "larger than 64 KB"),
])
def test_an_unreadable_file_is_one_clear_message(raw, error):
    found = parse_answers(raw)
    assert error in found["error"] and found["answers"] == {}
    outcome = judge_question(Question("4.2", "number", 1, 1, printed_by="x"), found)
    assert outcome.status == "failed" and error in outcome.message


def test_a_bad_value_spoils_only_its_own_question():
    raw = ('{"4.1": NaN, "4.2": Infinity, "4.3": -Infinity, "4.4": 1e999, '
           '"4.5": 123456789012345678901234567890123, "4.6": {"a": [1]}, "4.7": null, '
           '"4.8": true, "4.9": [1, "2"], "5.1": [1,2,3,4,5,6,7,8,9], "5.2": 7, "5.2": 8, '
           '"5.3": [99999999999999999999999], "5.4": "' + "y" * 5000 + '", '
           '"not an id": 1, "6.1": 42, "6.2": [2, 64], "6.3": " b ", "6.4": "1,024"}')
    found = parse_answers(raw.encode())
    assert found["error"] is None
    assert found["answers"] == {"6.1": 42, "6.2": [2, 64], "6.3": " b ", "6.4": "1,024"}
    assert set(found["problems"]) == {"4.1", "4.2", "4.3", "4.4", "4.5", "4.6", "4.7", "4.8",
                                      "4.9", "5.1", "5.2", "5.3", "5.4"}
    assert "given twice" in found["problems"]["5.2"]
    for qid, why in found["problems"].items():
        assert why in judge_question(Question(qid, "number", 1, 1, printed_by="x"), found).message
        outcome = judge_question(Question(qid, "number", 1, 1, printed_by="x"), found)
        assert outcome.status == "failed" and outcome.message.startswith(
            "could not read your answer"), (qid, outcome)
        assert len(outcome.message) < 200, outcome.message
    right = {q.id: judge_question(q, found).status for q in (
        Question("6.1", "number", 42, 1, printed_by="x"),
        Question("6.2", "shape", [2, 64], 1, printed_by="x"),
        Question("6.3", "choice", "B", 1, printed_by="x"),
        Question("6.4", "number", 1024, 1, printed_by="x"))}
    assert right == {"6.1": "passed", "6.2": "passed", "6.3": "passed", "6.4": "passed"}


def test_a_missed_answer_never_reveals_the_key():
    cases = [(Question("4.2", "number", 37633, 1, printed_by="x"), 37000, "number"),
             (Question("4.3", "shape", [2, 64], 1, printed_by="x"), [64, 2], "shape"),
             (Question("4.4", "choice", "C", 1, printed_by="x"), "A", "choice")]
    for question, given, kind in cases:
        found = parse_answers(json.dumps({question.id: given}).encode())
        outcome = judge_question(question, found)
        assert outcome.status == "failed" and f"not the expected {kind}" in outcome.message
        assert json.dumps(question.answer) not in outcome.message.replace(
            json.dumps(given), "")
    unanswered = judge_question(cases[0][0], parse_answers(b"{}"))
    assert unanswered.message.startswith("not answered") and "37633" not in unanswered.message
    near = Question("4.5", "number", 5.657, 1, tolerance=0.001, printed_by="x")
    assert judge_question(near, parse_answers(b'{"4.5": 5.6569}')).status == "passed"
    assert judge_question(near, parse_answers(b'{"4.5": 5.659}')).status == "failed"
    assert judge_question(near, parse_answers(b'{"4.5": [5]}')).message.startswith(
        "expected a number")


# ------------------------------------------------------------------ the answer keys
GOOD = '[[question]]\nid = "9.1"\nkind = "number"\nanswer = 3\npoints = 1\nprinted_by = "x"\n'


@pytest.mark.parametrize(("text", "says"), [
    ("[[question]\n", "not valid TOML"),
    ('title = "x"\n', "expected only [[question]] tables"),
    (GOOD.replace('id = "9.1"', 'id = "8.1"'), "not 9, this file's lab"),
    (GOOD.replace('id = "9.1"', 'id = "9-1"'), "id must be a string like"),
    (GOOD.replace('"number"', '"essay"'), "kind must be one of"),
    (GOOD.replace("answer = 3", 'answer = "3"'), "must be a finite number"),
    (GOOD.replace("answer = 3", "answer = nan"), "must be a finite number"),
    (GOOD.replace('"number"', '"shape"'), "a list of whole numbers"),
    (GOOD.replace('"number"', '"choice"'), "one capital letter"),
    (GOOD.replace("points = 1", "points = 0"), "points must be"),
    (GOOD.replace("points = 1\n", ""), "missing ['points']"),
    (GOOD + "answr = 2\n", "unknown field"),
    (GOOD.replace('printed_by = "x"\n', ""), "printed_by"),
    (GOOD.replace('"number"', '"written"').replace("answer = 3", 'answer = "t"')
     + "tolerance = 1\n", "only a number question has a tolerance"),
    (GOOD + GOOD, "more than once"),
])
def test_a_malformed_key_is_refused_with_what_to_fix(tmp_path, text, says):
    path = tmp_path / "09_extra.toml"
    path.write_text(text)
    with pytest.raises(AnswerKeyError, match=says.replace("[", r"\[").replace("]", r"\]")):
        load_key(path)


def test_a_malformed_key_is_the_graders_error_not_lost_points(tmp_path, monkeypatch):
    (tmp_path / "01_rnn_numpy.toml").write_text(GOOD.replace("9.1", "1.1") + "points = 2\n")
    monkeypatch.setattr(questions, "_REGISTERED", set())
    monkeypatch.setitem(REGISTRY, "rnn_numpy", [c for c in REGISTRY["rnn_numpy"]
                                                if not c.parent_only])
    questions.register_questions("rnn_numpy", tmp_path)
    added = [c for c in REGISTRY["rnn_numpy"] if c.parent_only]
    assert len(added) == 1 and added[0].points == 0
    outcome = added[0].judge(None)
    assert outcome.status == "grader_error" and "01_rnn_numpy.toml" in outcome.message


def test_every_key_is_valid_and_the_reference_answers_are_current():
    assert questions.main(["--check"]) == 0, (
        "solutions/answers.json is out of date: run "
        "`python -m autograder.questions --write-reference`")
    assert (REPO / "solutions" / "answers.json").read_text() == reference_text()


# ------------------------------------------------------------------ grading
def _rnn_numpy_zip(tmp_path: Path, answers: bytes | None) -> Path:
    path = tmp_path / "submission.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(REPO / "solutions" / "rnn_numpy.py", "rnn_numpy.py")
        if answers is not None:
            archive.writestr("answers.json", answers)
    return path


def _by_name(result) -> dict:
    return {t.name: (t.points, t.max_points, t.status) for t in result.tests}


@pytest.mark.skipif(not questions_of("rnn_numpy"), reason="lab 1 has no questions yet")
def test_hostile_answers_touch_no_module_check_and_grading_is_repeatable(tmp_path):
    reference = grade(REPO / "solutions", assignment="rnn_numpy")
    again = grade(REPO / "solutions", assignment="rnn_numpy")
    assert reference.score == reference.max_score == again.score  # full marks, twice
    assert [t.message for t in reference.tests] == [t.message for t in again.tests]
    modules = {n: v for n, v in _by_name(reference).items() if "uestion" not in n}
    for attack in (b"\xff" * 100, b"[" * 50000, b'{"1.1": NaN, "1.2": {"a": 1}}',
                   json.dumps({"1.1": "1" * 5000}).encode()):
        (tmp_path / "z").mkdir(exist_ok=True)
        result = grade(_rnn_numpy_zip(tmp_path / "z", attack), assignment="rnn_numpy")
        tests = _by_name(result)
        assert {n: v for n, v in tests.items() if "uestion" not in n} == modules
        assert result.max_score == reference.max_score
        auto = [t for t in result.tests if t.name.endswith("(auto-graded)")]
        assert auto and all(t.points == 0 and t.status == "failed" for t in auto)
        assert all(t.message.startswith(("could not read", "not answered")) for t in auto)
    starter = grade(REPO / "starter", assignment="rnn_numpy")
    assert starter.max_score == reference.max_score
    assert not [t for t in starter.tests if t.name.endswith("(auto-graded)") and t.points]


@pytest.mark.skipif(not questions_of("rnn_numpy"), reason="lab 1 has no questions yet")
def test_questions_in_results_json_and_the_written_answers_for_the_ta(tmp_path):
    written = [q for q in questions_of("rnn_numpy") if not q.auto]
    auto = [q for q in questions_of("rnn_numpy") if q.auto]
    answers = {q.id: q.answer for q in auto}
    answers[auto[0].id] = "not it"
    if written:
        answers[written[0].id] = "Because the state carries <the bit> & [b]markup[/b]."
    result = grade(_rnn_numpy_zip(tmp_path, json.dumps(answers).encode()),
                   assignment="rnn_numpy")
    tests = {t["name"]: t for t in results_json(result)["tests"]}
    first = tests[f"Question {auto[0].id} (auto-graded)"]
    assert first["score"] == 0 and first["max_score"] == auto[0].points
    assert first["status"] == "failed"
    for question in auto[1:]:
        entry = tests[f"Question {question.id} (auto-graded)"]
        assert entry["status"] == "passed" and entry["score"] == question.points
    assert result.max_score == sum(c.points for c in REGISTRY["rnn_numpy"])
    assert question_points("rnn_numpy") == sum(q.points for q in auto)
    if written:
        (ta,) = [t for n, t in tests.items() if n.startswith("Written questions")]
        assert ta["max_score"] == 0 and ta["extra_data"] == {"status": "ungraded"}
        assert "status" not in ta
        assert f"Question {written[0].id}: Because the state carries <the bit>" in ta["output"]
        assert written[0].answer[:40] not in ta["output"]      # the model answer stays hidden


@pytest.mark.skipif(not questions_of("rnn_numpy"), reason="lab 1 has no questions yet")
def test_a_class_gradebook_counts_the_questions_and_a_key_change_regrades(tmp_path,
                                                                          monkeypatch):
    import csv

    from autograder.batch import grade_all

    cls = tmp_path / "class"
    for student, answers in (("ada", (REPO / "solutions" / "answers.json").read_bytes()),
                             ("bob", b'{"1.1": 41, "1.2": NaN}'), ("cy", None)):
        (cls / student).mkdir(parents=True)
        (cls / student / "rnn_numpy.py").write_bytes((REPO / "solutions" / "rnn_numpy.py")
                                                     .read_bytes())
        if answers is not None:
            (cls / student / "answers.json").write_bytes(answers)
    book = tmp_path / "grades.csv"
    report = grade_all(cls, book, assignment="rnn_numpy", progress=False, log=lambda _: None)
    rows = {r["student"]: r for r in csv.DictReader(book.open())}
    full = sum(c.points for c in REGISTRY["rnn_numpy"])
    auto = [q for q in questions_of("rnn_numpy") if q.auto]
    assert float(rows["ada"]["total"]) == float(rows["ada"]["max_total"]) == full
    assert float(rows["bob"]["total"]) == float(rows["cy"]["total"]) == full - sum(
        q.points for q in auto)
    assert float(rows["bob"]["max_total"]) == full
    assert rows["bob"][f"Question {auto[0].id} (auto-graded)"] in ("0", "0.0")
    assert "could not read your answer" in (tmp_path / "grades_feedback" / "bob.md").read_text()
    assert len(report.graded) == 3
    # the same keys: nothing is graded again; another key: every row is
    again = grade_all(cls, book, assignment="rnn_numpy", progress=False, log=lambda _: None)
    assert not again.graded
    monkeypatch.setattr(questions, "keys_digest", lambda directory=None: "changed")
    third = grade_all(cls, book, assignment="rnn_numpy", progress=False, log=lambda _: None)
    assert len(third.graded) == 3


@pytest.mark.skipif(not questions_of("rnn_numpy"), reason="lab 1 has no questions yet")
def test_questions_are_graded_without_the_module_or_when_it_does_not_import(tmp_path):
    auto = [q for q in questions_of("rnn_numpy") if q.auto]
    answers = json.dumps({q.id: q.answer for q in auto})
    for name, module in (("missing", None), ("broken", "def init_params(:\n")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "answers.json").write_text(answers)
        if module:
            (folder / "rnn_numpy.py").write_text(module)
        result = grade(folder, assignment="rnn_numpy")
        graded = {t.name: t.points for t in result.tests if t.name.endswith("(auto-graded)")}
        assert graded == {f"Question {q.id} (auto-graded)": q.points for q in auto}, name
        assert result.score == sum(q.points for q in auto), name
        assert result.max_score == sum(c.points for c in REGISTRY["rnn_numpy"]), name


def test_a_damaged_answers_file_is_kept_aside_not_overwritten(tmp_path, capsys):
    path = tmp_path / "answers.json"
    path.write_text('{"4.1": 3,')                              # cut short
    answer("4.2", 5, path=path)
    assert load_answers(path) == {"4.2": 5}
    assert (tmp_path / "answers.json.unreadable").read_text() == '{"4.1": 3,'
    assert "kept as answers.json.unreadable" in capsys.readouterr().out


def test_a_linked_answers_file_is_not_read(tmp_path):
    """A folder submission whose answers.json links to someone else's (here the reference's)
    earns nothing from it: the submission keeps plain files only."""
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "rnn_numpy.py").write_text((REPO / "solutions" / "rnn_numpy.py").read_text())
    (folder / "answers.json").symlink_to(REPO / "solutions" / "answers.json")
    result = grade(folder, assignment="rnn_numpy", functions=None)
    asked = [t for t in result.tests if t.name.startswith("Question ")]
    assert asked and all(t.points == 0 and "not answered" in t.message for t in asked)
