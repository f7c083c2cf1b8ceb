"""Auto-graded questions keep their verdicts from students until grades are published (issue 21).

The attack: a student resubmits once per letter of a multiple-choice question and reads what
Gradescope shows before publication (the top-level output and every ``visible`` test). If the
right letter's view differs from the wrong ones', the key falls in at most k - 1
resubmissions. By default the questions' tests are ``after_published``, like the hidden
checks, so every letter looks the same; ``course.toml``'s ``[questions] verdicts`` changes it.
The total score still moves (Gradescope shows it unless the assignment hides it): README,
"Questions", says so.
"""

from __future__ import annotations

import json
import string
from types import SimpleNamespace

import pytest

from autograder import questions
from autograder.grader import GradeResult, _result
from autograder.grader import TestResult as Checked  # not 'Test*': pytest would collect it
from autograder.registry import REGISTRY
from autograder.report import results_json
from seqlab import course as course_mod
from seqlab.course import CourseError, load_course

ASSIGNMENT = "rnn_numpy"
BEFORE_PUBLICATION = ("visible",)  # what Gradescope shows a student before publishing


def _choice_question():
    found = [q for q in questions.questions_of(ASSIGNMENT) if q.kind == "choice"]
    if not found:
        pytest.skip("lab 1 has no multiple-choice question")
    return found[0]


@pytest.fixture
def register(monkeypatch):
    """Register rnn_numpy's questions afresh; returns ``{name: Check}`` of the questions."""
    def run(**kwargs) -> dict:
        monkeypatch.setattr(questions, "_REGISTERED", set())
        monkeypatch.setitem(REGISTRY, ASSIGNMENT, [])
        questions.register_questions(ASSIGNMENT, **kwargs)
        return {c.name: c for c in REGISTRY[ASSIGNMENT] if c.parent_only}

    return run


def _results(checks: dict, answers: dict) -> dict:
    """results.json of a submission holding ``answers`` and one passed visible module check."""
    obs = SimpleNamespace(submitted={"answers": questions.parse_answers(
        json.dumps(answers).encode())})
    tests = [Checked(ASSIGNMENT, "init_params: shapes", 2.0, 2.0, "passed", "ok",
                        "visible")]
    tests += [_result(check, check.judge(obs)) for check in checks.values()]
    return results_json(GradeResult("submission", "quick", tests, seconds=1.0))


def student_view(results: dict, *, score_shown: bool = False) -> str:
    """What a student reads before publication: the output, the visible tests (and the total
    where the assignment shows it)."""
    default = results.get("visibility", "visible")
    shown = [(t["name"], t["score"], t["max_score"], t.get("status"), t.get("output"))
             for t in results["tests"] if t.get("visibility", default) in BEFORE_PUBLICATION]
    view = {"output": results.get("output"), "tests": shown}
    if score_shown:
        view["score"] = results["score"]
    return json.dumps(view, sort_keys=True, ensure_ascii=False)


def _views_per_letter(checks: dict, question, *, score_shown: bool = False) -> dict:
    others = {q.id: q.answer for q in questions.questions_of(ASSIGNMENT) if q.auto}
    views = {}
    for letter in string.ascii_uppercase:
        view = student_view(_results(checks, {**others, question.id: letter}),
                            score_shown=score_shown)
        views[letter] = view.replace(f"got {letter}", "got ?")  # the student's own letter
    return views


def _recovered(views: dict) -> list[str]:
    """The letters whose view differs from what most letters (the wrong ones) show."""
    common = max(set(views.values()), key=list(views.values()).count)
    return [letter for letter, view in views.items() if view != common]


# ---------------------------------------------------------------- the attack
def test_resubmitting_every_letter_does_not_recover_the_key(register):
    question = _choice_question()
    views = _views_per_letter(register(), question)
    recovered = _recovered(views)
    assert not recovered, (
        f"expected every letter of question {question.id} to look the same before "
        f"publication, got {recovered} standing out:\n{views[question.answer]}\nagainst\n"
        f"{views['Z' if question.answer != 'Z' else 'Y']}")


def test_the_verdicts_wait_for_publication_and_the_output_gives_none_away(register):
    question = _choice_question()
    checks = register()
    auto = [c for c in checks.values() if c.name.endswith("(auto-graded)")]
    assert auto and {c.visibility for c in auto} == {"after_published"}
    assert all(c.visibility == "visible" for c in checks.values() if c not in auto)
    others = {q.id: q.answer for q in questions.questions_of(ASSIGNMENT) if q.auto}
    right = _results(checks, {**others, question.id: question.answer})
    wrong = _results(checks, {**others, question.id: "Z" if question.answer != "Z" else "Y"})
    assert right["output"] == wrong["output"], (right["output"], wrong["output"])
    assert right["output"].startswith("Score of the tests shown: 2 / 2 (quick profile); "
                                      f"{len(auto)} more test(s) worth "), right["output"]
    assert right["score"] - wrong["score"] == question.points  # the grade itself is whole


def test_the_total_still_moves_where_the_assignment_shows_it(register):
    """The documented limit (README, "Questions"): Gradescope shows the total unless the
    assignment hides it, and the total is the grade, so it cannot stay still."""
    question = _choice_question()
    views = _views_per_letter(register(), question, score_shown=True)
    assert _recovered(views) == [question.answer]


def test_a_teacher_can_show_the_verdicts_at_once(register, tmp_path, monkeypatch):
    toml = tmp_path / "course.toml"
    toml.write_text(course_mod.COURSE_FILE.read_text().replace(
        "[questions]\n", "[ignored]\n") + '\n[questions]\nverdicts = "visible"\n')
    monkeypatch.setattr(course_mod, "COURSE_FILE", toml)
    assert load_course().question_verdicts == "visible"
    question = _choice_question()
    checks = register()
    assert {c.visibility for c in checks.values()} == {"visible"}
    assert _recovered(_views_per_letter(checks, question)) == [question.answer]
    assert {c.visibility for c in register(verdicts="hidden").values()
            if c.name.endswith("(auto-graded)")} == {"hidden"}


def test_the_course_file_says_after_published_by_default(tmp_path):
    assert load_course().question_verdicts == "after_published"
    bare = tmp_path / "course.toml"
    bare.write_text('[course]\nname = "x"\n')
    assert load_course(bare).question_verdicts == "after_published"


@pytest.mark.parametrize(("table", "says"), [
    ('verdicts = "later"', "[questions] verdicts must be one of ('after_published', "
                           "'after_due_date', 'hidden', 'visible'), got 'later'"),
    ("verdicts = true", "[questions] verdicts must be one of"),
    ('verdict = "visible"', "[questions] has unknown key(s) ['verdict'], expected only "
                            "verdicts"),
])
def test_a_wrong_setting_is_one_clear_sentence(tmp_path, table, says):
    path = tmp_path / "course.toml"
    path.write_text(f'[course]\nname = "x"\n\n[questions]\n{table}\n')
    with pytest.raises(CourseError) as caught:
        load_course(path)
    message = str(caught.value)
    assert says in message and message.count(". ") == 0, message
    not_a_table = tmp_path / "flat.toml"
    not_a_table.write_text('questions = "visible"\n')
    with pytest.raises(CourseError, match=r"\[questions\] must be a table"):
        load_course(not_a_table)


def test_the_grader_writes_the_verdicts_hidden(tmp_path):
    """End to end: ``grade`` of answers alone (no module) gives after_published questions."""
    from autograder.grader import grade

    question = _choice_question()
    others = {q.id: q.answer for q in questions.questions_of(ASSIGNMENT) if q.auto}
    outputs = set()
    for letter in (question.answer, "Z" if question.answer != "Z" else "Y"):
        folder = tmp_path / letter
        folder.mkdir()
        (folder / "answers.json").write_text(json.dumps({**others, question.id: letter}))
        results = results_json(grade(folder, assignment=ASSIGNMENT))
        tests = {t["name"]: t for t in results["tests"]}
        entry = tests[f"Question {question.id} (auto-graded)"]
        assert entry["visibility"] == "after_published", entry
        outputs.add(student_view(results))
    assert len(outputs) == 1, f"expected one view for a right and a wrong answer, got {outputs}"
