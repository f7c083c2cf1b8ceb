"""The labs' questions: answer keys, the submitted ``answers.json``, and their grading.

A lab's questions (``**Question L.Q**`` cells, answered with :func:`seqlab.answers.answer`) have
their key in ``autograder/answer_keys/<lab>.toml`` (never in the student release), one table
per question::

    [[question]]
    id = "4.2"
    kind = "number"        # number | shape | choice | written
    answer = 37633         # number: int/float; shape: [2, 64]; choice: "B"; written: model text
    tolerance = 0          # numbers only: absolute tolerance accepted
    points = 1
    printed_by = "the parameter table two cells below"   # auto-graded: where it is printed
    explanation = "..."    # for the TA

An assignment grades the questions of every lab that course.toml's ``[labs]`` maps to its
module (the sentiment assignment: labs 3, 4 and 5). They join the assignment's checks
(:func:`register_questions`, called by :func:`autograder.assignments.load_assignment`) as
*parent-only* checks: judged in this process from ``answers.json`` alone (plain JSON, parsed
with a size cap, never executed), whether or not the module was submitted or imports. Each
auto-graded question is one test ("Question 4.2 (auto-graded)", its points); the written ones
are one ungraded test (0 points) listing the student's answers for the TA, who grades them as
Gradescope manual questions (README, "Questions"). An auto-graded question's test (its points,
passed or failed, "correct" or "not the expected ...") is shown to students as course.toml's
``[questions] verdicts`` says: by default ``after_published``, like the hidden checks, since a
verdict shown at once lets a student find a k-choice key in k - 1 resubmissions. The written
ones' test and a malformed key's stay visible: they give no verdict away. A malformed key is
the grader's problem: its questions become one ``grader_error`` test saying what to fix.

``python -m autograder.questions --write-reference`` writes ``solutions/answers.json`` (the
keys' auto-graded answers: the reference submission's), ``--check`` says whether it is up to
date.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from autograder.registry import (
    REGISTRY,
    VISIBILITIES,
    Outcome,
    check,
    failed,
    grader_error,
    passed,
)
from seqlab import answers as _limits
from seqlab.answers import AnswerError, check_value
from seqlab.course import load_course, tomllib
from seqlab.paths import REPO_ROOT

KEYS_DIR = Path(__file__).resolve().parent / "answer_keys"
REFERENCE = REPO_ROOT / "solutions" / _limits.ANSWERS_FILE
KINDS = ("number", "shape", "choice", "written")
AUTO = ("number", "shape", "choice")
FIELDS = {"id", "kind", "answer", "tolerance", "points", "printed_by", "explanation"}
REQUIRED = {"id", "kind", "answer", "points"}
MAX_POINTS = 10
UNGRADED = "ungraded"  # the written questions' test: 0 of 0, for the TA to read


class AnswerKeyError(ValueError):
    """An answer key file is malformed (the message names the file and what to fix)."""


@dataclass(frozen=True)
class Question:
    """One question of an answer key."""

    id: str
    kind: str
    answer: object
    points: float
    tolerance: float = 0.0
    printed_by: str = ""
    explanation: str = ""

    @property
    def auto(self) -> bool:
        return self.kind in AUTO


# ------------------------------------------------------------------ answer keys
def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value) and abs(value) < _limits.MAX_ABS


def _question(entry, where: str, lab_number: int) -> Question:
    if not isinstance(entry, dict):
        raise AnswerKeyError(f"{where}: expected a [[question]] table, got {entry!r}")
    unknown, missing = set(entry) - FIELDS, REQUIRED - set(entry)
    if unknown or missing:
        raise AnswerKeyError(f"{where}: " + "; ".join(
            ([f"unknown field(s) {sorted(unknown)} (expected some of {sorted(FIELDS)})"]
             if unknown else []) + ([f"missing {sorted(missing)}"] if missing else [])))
    qid, kind, answer = entry["id"], entry["kind"], entry["answer"]
    if not isinstance(qid, str) or not _limits.ID_PATTERN.match(qid):
        raise AnswerKeyError(f'{where}: id must be a string like "4.2", got {qid!r}')
    where = f"{where} (question {qid})"
    if int(qid.split(".")[0]) != lab_number:
        raise AnswerKeyError(f"{where}: the id's lab is not {lab_number}, this file's lab")
    if kind not in KINDS:
        raise AnswerKeyError(f"{where}: kind must be one of {KINDS}, got {kind!r}")
    good = {"number": _is_number(answer),
            "shape": isinstance(answer, list) and 0 < len(answer) <= _limits.MAX_ITEMS and all(
                isinstance(v, int) and not isinstance(v, bool) for v in answer),
            "choice": isinstance(answer, str) and re.fullmatch(r"[A-Z]", answer) is not None,
            "written": isinstance(answer, str) and answer.strip() != ""}[kind]
    if not good:
        wanted = {"number": "a finite number", "shape": "a list of whole numbers like [2, 64]",
                  "choice": 'one capital letter like "B"', "written": "the model answer text"}
        raise AnswerKeyError(f"{where}: a {kind} question's answer must be {wanted[kind]}, "
                             f"got {answer!r}")
    points = entry["points"]
    if not _is_number(points) or not 0 < points <= MAX_POINTS:
        raise AnswerKeyError(f"{where}: points must be a number in (0, {MAX_POINTS}], "
                             f"got {points!r}")
    tolerance = entry.get("tolerance", 0)
    if "tolerance" in entry and kind != "number":
        raise AnswerKeyError(f"{where}: only a number question has a tolerance")
    if not _is_number(tolerance) or tolerance < 0:
        raise AnswerKeyError(f"{where}: tolerance must be a number >= 0, got {tolerance!r}")
    texts = {k: entry.get(k, "") for k in ("printed_by", "explanation")}
    if not all(isinstance(v, str) for v in texts.values()):
        raise AnswerKeyError(f"{where}: printed_by and explanation must be text")
    if kind in AUTO and not texts["printed_by"].strip():
        raise AnswerKeyError(f"{where}: an auto-graded question says where the notebook "
                             "prints its answer (printed_by)")
    return Question(qid, kind, answer, points, tolerance, **texts)


def load_key(path: Path) -> list[Question]:
    """The questions of one key file, validated strictly (else an :class:`AnswerKeyError`)."""
    path = Path(path)
    where = f"autograder/answer_keys/{path.name}"
    number = path.stem.split("_")[0]
    if not number.isdigit():
        raise AnswerKeyError(f"{where}: the file is named after its lab, e.g. 04_rnn_sentiment")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise AnswerKeyError(f"{where} is not valid TOML: {err}") from None
    if set(data) - {"question"} or not isinstance(data.get("question"), list):
        raise AnswerKeyError(f"{where}: expected only [[question]] tables, got keys "
                             f"{sorted(data)}")
    questions = [_question(entry, f"{where}, entry {i + 1}", int(number))
                 for i, entry in enumerate(data["question"])]
    ids = [q.id for q in questions]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise AnswerKeyError(f"{where}: question(s) {', '.join(twice)} appear more than once")
    return questions


def key_files(directory: Path = KEYS_DIR) -> dict[str, Path]:
    """Lab name -> its key file."""
    return {p.stem: p for p in sorted(Path(directory).glob("*.toml"))}


def keys_digest(directory: Path = KEYS_DIR) -> str:
    """A short digest of every answer key file (names and bytes): a gradebook row graded
    with other keys is graded again."""
    import hashlib

    digest = hashlib.sha256()
    for name, path in key_files(directory).items():
        digest.update(f"{name}\0".encode() + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def labs_of(assignment: str) -> list[str]:
    """The labs course.toml maps to ``assignment``'s module."""
    from importlib import import_module

    module = Path(import_module(f"autograder.assignments.{assignment}").ASSIGNMENT.FILENAME).stem
    return [lab for lab, modules in load_course().labs.items() if module in modules]


def questions_of(assignment: str, directory: Path = KEYS_DIR) -> list[Question]:
    """Every question ``assignment`` grades, in lab order (keys validated)."""
    files = key_files(directory)
    found = []
    for lab in labs_of(assignment):
        if lab in files:
            found += load_key(files[lab])
    return found


def question_points(assignment: str, directory: Path = KEYS_DIR) -> float:
    """The points of ``assignment``'s auto-graded questions (what they add to its total)."""
    return sum(q.points for q in questions_of(assignment, directory) if q.auto)


# ------------------------------------------------------------------ the submitted answers
class _Unreadable:
    """A value json could parse but an answer cannot be (NaN, a 400-digit number)."""

    def __init__(self, why: str):
        self.why = why


_SURROGATE = re.compile("[\ud800-\udfff]")


def _pairs(pairs):
    found = {}
    for key, value in pairs:
        found[key] = _Unreadable("it is given twice") if key in found else value
    return found


def _int(text: str):
    return _Unreadable("the number is too large") if len(text.lstrip("-")) > 16 else int(text)


def parse_answers(raw: bytes) -> dict:
    """Read a submitted ``answers.json`` as hostile input; never raises.

    Returns ``{"answers": {id: value}, "problems": {id: why}, "error": str | None}``: a file
    that cannot be read at all has an ``error`` (every question then says so); a value that
    cannot be an answer has a problem for its question only. Bounded: at most 64 KB, and the
    JSON decoder's own recursion limit for nesting.
    """
    result = {"answers": {}, "problems": {}, "error": None}
    if len(raw) > _limits.MAX_FILE_BYTES:
        result["error"] = f"answers.json is larger than {_limits.MAX_FILE_BYTES >> 10} KB"
        return result
    try:
        text = raw.decode("utf-8-sig")
        data = json.loads(text, object_pairs_hook=_pairs, parse_int=_int,
                          parse_constant=lambda name: _Unreadable(f"{name} is not a number"))
    except UnicodeDecodeError:
        result["error"] = "answers.json is not UTF-8 text"
        return result
    except RecursionError:
        result["error"] = "answers.json is nested too deeply to be an answers file"
        return result
    except ValueError as err:
        result["error"] = f"answers.json is not valid JSON ({str(err)[:80]})"
        return result
    if not isinstance(data, dict):
        result["error"] = "answers.json must be one JSON object of question id -> answer"
        return result
    for key, value in data.items():
        if not _limits.ID_PATTERN.match(key):
            continue  # not a question id: nothing reads it
        if isinstance(value, _Unreadable):
            result["problems"][key] = value.why
            continue
        if isinstance(value, list) and any(isinstance(v, _Unreadable) for v in value):
            result["problems"][key] = "the shape holds a number too large"
            continue
        if isinstance(value, str) and _SURROGATE.search(value):
            result["problems"][key] = ("the text holds an invalid character (a lone surrogate "
                                       "such as \\ud800, which no file can store)")
            continue
        try:
            result["answers"][key] = check_value(value, "the value")
        except AnswerError as err:
            result["problems"][key] = str(err)
    return result


def submitted_answers(folder: Path) -> dict:
    """:func:`parse_answers` of ``folder/answers.json`` (no file: no answers, no error)."""
    path = Path(folder) / _limits.ANSWERS_FILE
    if not path.is_file():
        return {"answers": {}, "problems": {}, "error": None}
    with open(path, "rb") as handle:
        return parse_answers(handle.read(_limits.MAX_FILE_BYTES + 1))


# ------------------------------------------------------------------ judging
def _number(value):
    if isinstance(value, str) and len(value) <= 40:
        try:
            value = float(value.strip().replace(",", "").replace("_", ""))
        except ValueError:
            return None
    return value if _is_number(value) else None


def _shown(value) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def judge_question(question: Question, found: dict) -> Outcome:
    """Grade one auto-graded question from :func:`parse_answers`'s result. A missed answer
    never reveals the key: the message says what was read and that it is not the one."""
    qid = question.id
    lab = qid.split(".")[0]
    if found.get("error"):
        return failed(f"could not read your answer: {found['error']}")
    if qid in found["problems"]:
        return failed(f"could not read your answer: {found['problems'][qid]}")
    if qid not in found["answers"]:
        return failed(f'not answered (write answer("{qid}", ...) in lab {lab}, run it, and '
                      "submit again)")
    got = found["answers"][qid]
    if question.kind == "number":
        value = _number(got)
        if value is None:
            return failed(f"expected a number, got {_shown(got)}")
        scale = max(1.0, abs(question.answer))
        right = abs(value - question.answer) <= question.tolerance + 1e-9 * scale
        return passed(f"got {value:g}: correct") if right else \
            failed(f"got {value:g}: not the expected number")
    if question.kind == "shape":
        if not isinstance(got, list):
            return failed(f"expected a shape such as [2, 64], got {_shown(got)}")
        return passed(f"got {_shown(got)}: correct") if got == list(question.answer) else \
            failed(f"got {_shown(got)}: not the expected shape")
    choice = got.strip().strip("()").upper() if isinstance(got, str) else None
    if not choice or len(choice) != 1:
        return failed(f"expected one letter such as \"B\", got {_shown(got)}")
    return passed(f"got {choice}: correct") if choice == question.answer else \
        failed(f"got {choice}: not the expected choice")


def written_summary(questions: list[Question], found: dict) -> Outcome:
    """The ungraded test of the written questions: the student's answers, for the TA."""
    lines = ["For your TA, who grades these by hand (points on Gradescope):"]
    if found.get("error"):
        lines.append(f"could not read answers.json: {found['error']}")
    for question in questions:
        got = found["answers"].get(question.id)
        if question.id in found["problems"]:
            text = f"(could not read: {found['problems'][question.id]})"
        elif isinstance(got, str) and got.strip():
            text = got.strip()
        elif got is None:
            text = "(not answered)"
        else:
            text = _shown(got)
        lines.append(f"Question {question.id}: {text}")
    return Outcome(0.0, UNGRADED, "\n".join(lines))


def _register(assignment: str, name: str, points: float, judge,
              visibility: str = "visible") -> None:
    check(name, points=points, assignment=assignment, visibility=visibility, public=False,
          parent_only=True)(judge)


_REGISTERED: set[str] = set()


def register_questions(assignment: str, directory: Path = KEYS_DIR,
                       verdicts: str | None = None) -> None:
    """Add ``assignment``'s questions to its checks (once).

    Each auto-graded question's test has the visibility ``verdicts`` (default: course.toml's
    ``[questions] verdicts``, itself ``"after_published"`` by default): a test students see
    at once would give away a key to resubmissions, one letter at a time.
    """
    if assignment in _REGISTERED:
        return
    verdicts = verdicts or load_course().question_verdicts  # a bad course.toml: raised here
    if verdicts not in VISIBILITIES:
        raise ValueError(f"verdicts must be one of {VISIBILITIES}, got {verdicts!r}")
    _REGISTERED.add(assignment)
    REGISTRY.setdefault(assignment, [])
    try:
        questions = questions_of(assignment, directory)
    except AnswerKeyError as err:  # the grader's problem: withheld, said clearly
        message = f"the answer key is malformed, so questions were not graded: {err}"
        _register(assignment, "Questions (answer key)", 0, lambda obs: grader_error(message))
        return
    for question in questions:
        if question.auto:
            _register(assignment, f"Question {question.id} (auto-graded)", question.points,
                      lambda obs, q=question: judge_question(q, _found(obs)), verdicts)
    written = [q for q in questions if not q.auto]
    if written:
        ids = ", ".join(q.id for q in written)
        _register(assignment, f"Written questions {ids} (graded by your TA)", 0,
                  lambda obs: written_summary(written, _found(obs)))


def _found(obs) -> dict:
    return obs.submitted.get("answers") or {"answers": {}, "problems": {}, "error": None}


# ------------------------------------------------------------------ the reference answers
def reference_answers(directory: Path = KEYS_DIR) -> dict:
    """Every key's auto-graded answers, as a submission would hold them (the written ones'
    model answers stay in the keys: the reference's written test says "not answered")."""
    answers = {}
    for path in key_files(directory).values():
        for question in load_key(path):
            if question.auto:
                answers[question.id] = question.answer
    return dict(sorted(answers.items(), key=lambda kv: tuple(map(int, kv[0].split(".")))))


def reference_text(directory: Path = KEYS_DIR) -> str:
    return json.dumps(reference_answers(directory), indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.questions",
                                     description="Validate the answer keys; write or check "
                                                 "the reference submission's answers.json.")
    parser.add_argument("--write-reference", action="store_true",
                        help=f"write {REFERENCE.relative_to(REPO_ROOT)} from the keys")
    parser.add_argument("--check", action="store_true",
                        help=f"exit 1 when {REFERENCE.relative_to(REPO_ROOT)} differs")
    args = parser.parse_args(argv)
    try:
        text = reference_text()
    except AnswerKeyError as err:
        print(f"error: {err}")
        return 2
    if args.write_reference:
        REFERENCE.write_text(text, encoding="utf-8")
        print(f"wrote {REFERENCE.relative_to(REPO_ROOT)} ({text.count(chr(10)) - 2} answers)")
    elif args.check and (not REFERENCE.is_file() or REFERENCE.read_text() != text):
        print(f"{REFERENCE.relative_to(REPO_ROOT)} is out of date: run "
              "`python -m autograder.questions --write-reference`")
        return 1
    else:
        print(f"{len(key_files())} answer key(s) valid")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
