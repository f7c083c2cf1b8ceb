"""The labs' questions and their answer keys agree (format: README, "Questions").

Every ``**Question L.Q**`` cell of ``labs/NN_*.ipynb`` is followed by exactly one
``answer("L.Q", ...)`` cell, its kind matches its key's, every question has a key entry and
every key entry a question. :func:`unprinted_answers` is what the finished-notebook run in
test_notebooks.py checks: the executed notebook prints each auto-graded number and shape after
its question (a choice is a prediction the later cells show, not a printed value).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from autograder.questions import KEYS_DIR, key_files, load_key
from tests.notebook_runs import NOTEBOOKS, outputs_text

QUESTION = re.compile(r"^\*\*Question (?P<id>(?P<lab>\d+)\.(?P<q>\d+))\*\*\s*"
                      r"\((?P<kind>auto-graded: a number|auto-graded: a shape|"
                      r"auto-graded: a choice of (?P<letters>[A-Z](?:/[A-Z])+)|written)\)")
KIND = {"auto-graded: a number": "number", "auto-graded: a shape": "shape", "written": "written"}
IMPORT = "from seqlab.answers import answer"


def questions_in(nb) -> list[tuple[int, dict]]:
    """``(cell index, fields)`` of every question cell (``id``, ``lab``, ``kind``, ...)."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            match = QUESTION.match(cell.source)
            if match:
                fields = match.groupdict()
                fields["kind"] = KIND.get(fields["kind"], "choice")
                found.append((index, fields))
            elif re.search(r"\*\*Question \d", cell.source):
                found.append((index, {"malformed": cell.source[:80]}))
    return found


def _answer_call(source: str):
    """The ``(id, value node)`` of a cell that is exactly one ``answer(id, value)`` call."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return None
    if len(body) != 1 or not isinstance(body[0], ast.Expr):
        return None
    call = body[0].value
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and
            call.func.id == "answer" and len(call.args) == 2 and not call.keywords and
            isinstance(call.args[0], ast.Constant)):
        return None
    return call.args[0].value, call.args[1]


def _problems(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    number = int(path.stem.split("_")[0])
    found = questions_in(nb)
    problems = [f"cell {i}: a question cell must start with **Question L.Q** (kind), got "
                f"{q['malformed']!r}" for i, q in found if "malformed" in q]
    found = [(i, q) for i, q in found if "malformed" not in q]
    ids = [q["id"] for _, q in found]
    problems += [f"question {i} appears twice" for i in sorted(set(ids)) if ids.count(i) > 1]
    if found and not 3 <= len(found) <= 6:
        problems.append(f"{len(found)} questions: a lab has 3 to 6")
    imported = next((i for i, c in enumerate(nb.cells)
                     if c.cell_type == "code" and IMPORT in c.source), None)
    for index, question in found:
        qid = question["id"]
        if int(question["lab"]) != number or not 1 <= int(question["q"]) <= 6:
            problems.append(f"question {qid}: lab {number}'s questions are {number}.1 to "
                            f"{number}.6")
        after = nb.cells[index + 1] if index + 1 < len(nb.cells) else None
        call = _answer_call(after.source) if after is not None and \
            after.cell_type == "code" else None
        unanswered = "..." if question["kind"] == "written" else ...
        if call is None or call[0] != qid or not isinstance(call[1], ast.Constant) or \
                call[1].value != unanswered:
            value = '"""..."""' if question["kind"] == "written" else "..."
            got = after.source[:80] if after is not None else None
            problems.append(f'question {qid}: the next cell must be exactly answer("{qid}", '
                            f"{value}) (plus comments), got {got!r}")
        if imported is None or imported > index:
            problems.append(f"question {qid}: `{IMPORT}` must come in a code cell before it")
    keys = key_files()
    if found and path.stem not in keys:
        return [*problems, f"no answer key {KEYS_DIR.name}/{path.stem}.toml"]
    key = {q.id: q for q in load_key(keys[path.stem])} if path.stem in keys else {}
    asked = {q["id"]: q for _, q in found}
    problems += [f"question {i} has no key entry" for i in sorted(set(asked) - set(key))]
    problems += [f"key entry {i} has no question" for i in sorted(set(key) - set(asked))]
    for qid in sorted(set(asked) & set(key)):
        if asked[qid]["kind"] != key[qid].kind:
            problems.append(f"question {qid} says {asked[qid]['kind']}, its key "
                            f"{key[qid].kind}")
        elif key[qid].kind == "choice" and \
                key[qid].answer not in asked[qid]["letters"].split("/"):
            problems.append(f"question {qid}: the key's choice {key[qid].answer} is not one "
                            f"of {asked[qid]['letters']}")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_questions_have_answer_cells_and_key_entries(path):
    problems = _problems(path)
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def test_every_key_belongs_to_a_lab():
    labs = {p.stem for p in NOTEBOOKS}
    assert set(key_files()) <= labs, sorted(set(key_files()) - labs)
    for path in key_files().values():
        assert load_key(path), f"{path.name} has no question"


def test_the_checker_finds_what_is_wrong(tmp_path, monkeypatch):
    """A notebook with a question and no answer cell, a wrong id and no import is refused."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("**Question 9.1** (auto-graded: a number) How?"),
                nbformat.v4.new_code_cell('answer("9.2", ...)'),
                nbformat.v4.new_markdown_cell("**Question 9.2** (written) Why?"),
                nbformat.v4.new_code_cell("print(1)"),
                nbformat.v4.new_markdown_cell("**Question 3.3** (essay) Why?")]
    path = tmp_path / "09_extra.ipynb"
    nbformat.write(nb, path)
    problems = "\n".join(_problems(path))
    for says in ("question 9.1: the next cell must be exactly", "question 9.2: the next cell",
                 "must come in a code cell before it", "must start with **Question L.Q**",
                 "2 questions: a lab has 3 to 6", "no answer key"):
        assert says in problems, (says, problems)


# ------------------------------------------------------------------ the executed notebook
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
NUMBER = re.compile(r"(?<![\w.])-?\d[\d,_]*(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _numbers(text: str) -> list[float]:
    found = []
    for token in NUMBER.findall(text):
        try:
            found.append(float(token.replace(",", "").replace("_", "")))
        except ValueError:
            continue
    return found


def _shape_printed(shape: list[int], text: str) -> bool:
    inner = r",\s*".join(str(n) for n in shape)
    return re.search(rf"[(\[]\s*(?:None,\s*)?{inner}\s*,?\s*[)\]]", text) is not None


def unprinted_answers(path: Path, nb) -> list[str]:
    """The auto-graded numbers and shapes of ``path``'s key that no output after their
    question (in the executed ``nb``) prints: a key that disagrees with the notebook."""
    keys = key_files()
    if path.stem not in keys:
        return []
    key = {q.id: q for q in load_key(keys[path.stem])}
    missing = []
    for index, question in questions_in(nb):
        entry = key.get(question.get("id"))
        if entry is None or entry.kind not in ("number", "shape"):
            continue
        text = ANSI.sub("", "\n".join(outputs_text(c) for c in nb.cells[index + 2:]
                                      if c.cell_type == "code"))  # model.summary() colours
        if entry.kind == "number":
            ok = any(abs(x - entry.answer) <= max(entry.tolerance, 1e-9 * abs(entry.answer))
                     for x in _numbers(text))
        else:
            ok = _shape_printed(entry.answer, text)
        if not ok:
            missing.append(f"question {entry.id}: the key's {entry.answer} is printed by no "
                           f"cell after the question (printed_by: {entry.printed_by!r})")
    return missing


def test_unprinted_answers_reads_numbers_and_shapes():
    assert _numbers("params 37,633 and 5.6569, e 1e-3") == [37633, 5.6569, 0.001]
    assert _numbers(ANSI.sub("", "\x1b[38;5;34m18,496\x1b[0m")) == [18496]
    assert _shape_printed([2, 64], "out (None, 2, 64)") and _shape_printed([2, 64], "[2, 64]")
    assert not _shape_printed([2, 64], "(12, 64)")
