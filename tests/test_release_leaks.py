"""The release's leak scan finds the body of any reference function the grader or the
solutions hold, pasted anywhere in a built release (issue 21: the hand-kept list lacked
lab 8's and the beam-search references).

The reference functions are derived (:func:`seqlab.release.reference_functions`), not kept
by hand: every function the grader's assignment modules and generative models define.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import nbformat
import pytest

from seqlab.release import build_release, verify_release
from seqlab.starter import _find_regions

REPO = Path(__file__).resolve().parent.parent

PLANTED = [
    ("autograder/generative_models.py", "beam_reference"),             # lab 7's beam search
    ("autograder/generative_models.py", "_extensions"),
    ("autograder/generative_models.py", "greedy_paths"),
    ("autograder/assignments/captioning_worker.py", "reference_captioner"),   # lab 8
    ("autograder/assignments/captioning_worker.py", "captioning_references"),
    ("autograder/assignments/seq2seq_worker.py", "seq2seq_beams"),
    ("autograder/assignments/char_lm.py", "reference_get_batch"),
    ("autograder/assignments/char_lm.py", "softmax"),
    ("autograder/assignments/fundamentals_reference.py", "gru_state_jacobian"),
]
"""Grader functions whose bodies must never reach students (lab 8's and beam search's
among them), each planted into a release to be found."""


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("leaks") / "seqlab-student"
    build_release(out)
    return out


def _body(relative: str, name: str) -> list[str]:
    """The source lines of ``name``'s body in ``relative`` (its docstring left out)."""
    source = (REPO / relative).read_text(encoding="utf-8")
    node = next(n for n in ast.walk(ast.parse(source))
                if isinstance(n, ast.FunctionDef) and n.name == name)
    body = node.body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return source.splitlines()[body[0].lineno - 1:node.end_lineno]


def _leaky(release: Path, tmp_path: Path) -> Path:
    leaky = tmp_path / "leaky"
    shutil.copytree(release, leaky)
    return leaky


def test_the_real_release_is_clean(release):
    assert verify_release(release) == []


@pytest.mark.parametrize(("relative", "name"), PLANTED, ids=[n for _, n in PLANTED])
def test_a_planted_reference_body_is_found_in_a_starter_module(release, tmp_path,
                                                               relative, name):
    """The body, re-indented under a helper of the student's module, is named."""
    leaky = _leaky(release, tmp_path)
    module = leaky / "starter" / "seq2seq.py"
    pasted = "\n".join("        " + line.strip() for line in _body(relative, name))
    module.write_text(module.read_text() + f"\n\ndef helper(*args):\n    if True:\n{pasted}\n")
    problems = verify_release(leaky)
    assert any(p.startswith("starter/seq2seq.py") and f"({name})" in p
               for p in problems), (f"expected starter/seq2seq.py to be found holding "
                                    f"{relative}'s {name}, got {problems}")


def test_lab_8s_beam_search_reference_pasted_into_a_notebook_is_found(release, tmp_path):
    leaky = _leaky(release, tmp_path)
    nb_path = leaky / "labs" / "08_captioning.ipynb"
    if not nb_path.exists():
        nb_path = sorted((leaky / "labs").glob("08_*.ipynb"))[0]
    nb = nbformat.read(nb_path, as_version=4)
    body = "\n".join(line.strip() for line in _body("autograder/generative_models.py",
                                                     "beam_reference"))
    nb.cells.append(nbformat.v4.new_code_cell(f"def mine():\n{body}"))
    nbformat.write(nb, nb_path)
    problems = verify_release(leaky)
    assert any(nb_path.name in p and "(beam_reference)" in p for p in problems), problems


def test_every_graded_function_has_a_solution_region():
    """Every contract function the grader grades (``Assignment.FUNCTIONS``) is hidden by a
    solution region of its module, so its solution is a secret of the scan."""
    from autograder.assignments import ASSIGNMENTS, load_assignment

    missing = []
    for name in ASSIGNMENTS:
        spec = load_assignment(name)
        path = REPO / "solutions" / spec.FILENAME
        regions = {r.function for r in _find_regions(path.read_text(), path.name)}
        missing += [f"{spec.FILENAME}: {function}" for function in spec.FUNCTIONS
                    if function not in regions]
    assert not missing, f"expected a solution region in every graded function, got none in " \
                        f"{missing}"
