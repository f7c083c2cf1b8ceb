"""The labs' questions: ``answer("4.2", 37633)`` records a student's answer.

Each lab asks a few questions in cells that start with ``**Question L.Q**``; the code cell under
each one is a single call::

    from seqlab.answers import answer
    answer("4.2", 37633)            # a number
    answer("4.3", [2, 64])          # a shape
    answer("4.4", "B")              # a choice
    answer("4.5", \"\"\"The forget gate ...\"\"\")   # a written answer

``...`` (the stored notebook's value; the text ``"..."`` for a written one) means "not answered
yet" and records nothing. Every
answer goes into one file for the whole course, ``answers.json`` in the lab's workspace folder
(:func:`seqlab.colab.workspace`: the Drive course folder in Colab, the folder the notebook runs
in locally, i.e. ``labs/``), keyed by question id; answering again replaces the answer.
:func:`seqlab.submit.submit` puts the answers of the submission's labs into the zip, and the
autograder grades the questions that have one right answer (a number, a shape, a choice); your
TA grades the written ones.
"""

from __future__ import annotations

import json
import math
import operator
import os
import re
import tempfile
from pathlib import Path

ANSWERS_FILE = "answers.json"
ID_PATTERN = re.compile(r"^\d{1,2}\.\d{1,2}$")
MAX_TEXT = 4000          # characters of one written answer
MAX_ITEMS = 8            # entries of a shape
MAX_ABS = 10 ** 15       # the largest number a question can have as its answer
MAX_FILE_BYTES = 64 << 10  # answers.json as a whole, here and in the grader


class AnswerError(ValueError):
    """A value :func:`answer` cannot record (the message says what to write instead)."""


def check_id(question_id) -> str:
    """``question_id`` if it looks like ``"4.2"`` (lab, question), else an :class:`AnswerError`."""
    if not isinstance(question_id, str) or not ID_PATTERN.match(question_id):
        raise AnswerError(f"the question id must be a string like \"4.2\" (lab.question), "
                          f"got {question_id!r}")
    return question_id


def check_value(value, where: str = "the answer"):
    """The JSON form of ``value`` (a tuple becomes a list), or an :class:`AnswerError` that says
    why it cannot be an answer. Accepted: an int or float (finite, below 10**15 in size), a
    string (at most 4000 characters), or a list or tuple of at most 8 ints (a shape)."""
    if isinstance(value, bool):
        raise AnswerError(f"{where} must be a number, a shape, a letter or text, got {value!r}")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise AnswerError(f"{where} must be a finite number, got {value!r}")
        if abs(value) >= MAX_ABS:
            raise AnswerError(f"{where} is too large a number ({abs(value):.3g}): at most 1e15")
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise AnswerError(f"{where} is {len(value)} characters long: keep it under "
                              f"{MAX_TEXT} (a few sentences)")
        return value
    if isinstance(value, (list, tuple)):
        items = [_whole(v) for v in value] if len(value) <= MAX_ITEMS else [None]
        if None in items:
            raise AnswerError(f"{where}: a shape is a list of at most {MAX_ITEMS} whole numbers "
                              f"such as [2, 64], got {_short(value)}")
        return items
    if hasattr(value, "item") and getattr(value, "shape", None) == ():  # a NumPy scalar
        return check_value(value.item(), where)
    raise AnswerError(f"{where} must be a number, a shape such as [2, 64], a letter such as "
                      f"\"B\" or text, got {type(value).__name__}")


def _whole(value) -> int | None:
    """``value`` as an int when it is a whole number (a NumPy int too) of sensible size."""
    if isinstance(value, bool):
        return None
    try:
        number = operator.index(value)
    except TypeError:
        return None
    return number if abs(number) < MAX_ABS else None


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def answers_path() -> Path:
    """Where this course's ``answers.json`` lives (the workspace folder of the labs)."""
    from seqlab.colab import workspace

    return workspace("").folder / ANSWERS_FILE


def load_answers(path: str | Path | None = None) -> dict:
    """The recorded answers (``{}`` when there are none yet, or the file is not readable)."""
    path = Path(path) if path else answers_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _existing(path: Path) -> dict:
    """The answers recorded so far; a file that is not an answers file (edited by hand,
    damaged) is kept aside as ``answers.json.unreadable``, never silently overwritten."""
    if not path.exists():
        return {}
    answers = load_answers(path)
    if not answers and path.read_bytes().strip() not in (b"", b"{}"):
        kept = path.with_name(path.name + ".unreadable")
        os.replace(path, kept)
        print(f"{path.name} could not be read: kept as {kept.name}; starting a new one "
              "(run your answer cells again).")
    return answers


def _write(path: Path, answers: dict) -> None:
    """Write ``answers`` atomically: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".answers-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(dict(sorted(answers.items(), key=lambda kv: _order(kv[0]))), out,
                      indent=1, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _order(question_id: str) -> tuple:
    lab, _, number = question_id.partition(".")
    return (int(lab), int(number)) if lab.isdigit() and number.isdigit() else (999, 0)


def answer(question_id: str, value, path: str | Path | None = None):
    """Record ``value`` as the answer to question ``question_id`` (e.g. ``"4.2"``).

    ``...`` (or the text ``"..."``) records nothing (the question is not answered yet).
    Returns the recorded value.
    A wrong id or a value that cannot be an answer raises a short :class:`AnswerError`.
    """
    try:
        check_id(question_id)
        if value is Ellipsis or (isinstance(value, str) and value.strip() in ("", "...")):
            print(f"Question {question_id}: not answered yet (replace ... with your answer).")
            return None
        recorded = check_value(value)
    except AnswerError as err:
        raise AnswerError(f"Question {question_id}: {err}") from None
    path = Path(path) if path else answers_path()
    answers = _existing(path)
    answers[question_id] = recorded
    encoded = json.dumps(answers, ensure_ascii=False).encode("utf-8")
    if len(encoded) > MAX_FILE_BYTES:
        raise AnswerError(f"Question {question_id}: {path.name} would exceed "
                          f"{MAX_FILE_BYTES >> 10} KB; shorten your written answers") from None
    _write(path, answers)
    shown = recorded if not isinstance(recorded, str) or len(recorded) <= 60 else \
        recorded[:57] + "..."
    print(f"Question {question_id}: recorded {shown!r} (in {path}).")
    return recorded


def answers_of_labs(answers: dict, labs) -> dict:
    """The answers whose question belongs to one of ``labs`` (e.g. ``"04_rnn_sentiment"``, or
    lab numbers), in question order."""
    numbers = {int(str(lab).split("_")[0]) for lab in labs}
    return {k: v for k, v in sorted(answers.items(), key=lambda kv: _order(kv[0]))
            if ID_PATTERN.match(str(k)) and int(k.split(".")[0]) in numbers}
