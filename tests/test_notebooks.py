"""The lab notebooks: stored clean, generated setup, student flow, and runs in a student release.

The slow runs happen inside a release built by ``python -m seqlab release`` (so they also prove
that the release works): every notebook top to bottom with the reference modules copied in as
a finished student would have them, and every notebook against the unmodified starter up to
its first ``check()`` cell, which must show the check table ("not implemented yet") and not a
traceback.
"""

import re

import nbformat
import pytest

from seqlab.checks import ASSIGNMENTS
from seqlab.course import SETUP_MARKER, load_course, sync_labs
from seqlab.prose_numbers import untraced_numbers
from tests.notebook_runs import NOTEBOOKS, make_release, outputs_text, run_all, run_to_first_check
from tests.test_questions import unprinted_answers

COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
YOUR_TURN = re.compile(r"\*\*Your turn|## Your turn")


def _read(path):
    return nbformat.read(path, as_version=4)


def _module_of(path) -> str:
    (module,) = load_course().modules_of(path.stem)
    return module


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_clean_and_opens_with_badge_and_setup(path):
    nb = _read(path)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs, f"{path.name} is stored with outputs: clear them"
            assert cell.execution_count is None, f"{path.name} has execution counts"
    assert COLAB_BADGE in nb.cells[0].source, f"{path.name}: first cell needs the Colab badge"
    assert f"labs/{path.name}" in nb.cells[0].source, f"{path.name}: badge links elsewhere"
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert setup.source.startswith(SETUP_MARKER), f"{path.name}: setup cell not generated"
    assert "google.colab" in setup.source, f"{path.name}: first code cell must set up Colab"
    assert "tensorflow" not in setup.source.lower(), (
        f"{path.name}: the Colab setup must not reinstall TensorFlow")
    assert "seqlab-course/seqlab/" not in "".join(c.source for c in nb.cells), (
        f"{path.name}: a hard-coded repository URL is left")


def test_badges_and_setup_cells_follow_course_toml():
    stale = sync_labs(NOTEBOOKS[0].parent, load_course(), check=True)
    assert stale == [], f"run `python -m seqlab labs`: {[p.name for p in stale]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_your_turn_cells_reimport_and_check_before_any_demo(path):
    """Each 'Your turn' is followed by a cell that re-imports the module and checks the
    function, and no cell uses the function before its check; the lab ends with Submit."""
    nb = _read(path)
    module = _module_of(path)
    functions = ASSIGNMENTS[module]
    checked_at = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and (match := YOUR_TURN.search(cell.source)):
            asked = [f for f in functions if re.search(rf"`{f}\b", cell.source[match.start():])]
            assert asked, f"{path.name} cell {index}: a Your turn without a function"
            follow = nb.cells[index + 1]
            assert follow.cell_type == "code", f"{path.name} cell {index + 1}: not code"
            assert re.search(rf'= student_module\("{module}"\)', follow.source), (
                f"{path.name} cell {index + 1}: must re-import {module}")
            for function in asked:
                assert f'check("{function}")' in follow.source, (
                    f"{path.name} cell {index + 1}: must check {function} before the demo")
                checked_at.setdefault(function, index + 1)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for function in functions:
            if re.search(rf"\.{function}\b", cell.source):
                checked_at.setdefault(function, next(  # a function of an earlier lab
                    (i for i, c in enumerate(nb.cells) if f'check("{function}")' in c.source),
                    None))
                assert checked_at[function] is not None and checked_at[function] < index, (
                    f"{path.name} cell {index} uses {function} before its check() cell")
    assert "autograder" not in "".join(c.source for c in nb.cells if c.cell_type == "code")
    last = nb.cells[-1]
    assert last.cell_type == "code" and f'submit("{path.stem}")' in last.source
    assert nb.cells[-2].source.startswith("## Submit")


@pytest.fixture(scope="module")
def student_release(tmp_path_factory):
    return make_release(tmp_path_factory.mktemp("release") / "seqlab-student")


@pytest.fixture(scope="module")
def finished_release(tmp_path_factory):
    return make_release(tmp_path_factory.mktemp("finished") / "seqlab-student", finished=True)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_meets_the_check_table_at_the_first_stub(path, student_release):
    """Against the unmodified starter, in the release: no traceback before the first check,
    whose table says 'not implemented yet'. Execution stops there."""
    index, cell, seconds = run_to_first_check(student_release, path.name)
    text = ANSI.sub("", outputs_text(cell))
    assert not any(o.get("output_type") == "error" for o in cell.outputs), text
    assert "not implemented yet" in text, f"{path.name} cell {index}: no check table:\n{text}"
    assert "Traceback" not in text
    print(f"{path.name}: first check at cell {index} after {seconds:.0f} s")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom_in_the_release_when_finished(path, finished_release):
    """The release with the reference modules in starter/: every cell runs, submit included,
    every number of the prose is traced to the code, the outputs or a cited record, and the
    answer key's numbers and shapes are printed after their questions."""
    seconds, nb = run_all(finished_release, path.name)
    assert (finished_release / "labs" / f"submission_{path.stem}.zip").is_file()
    untraced = untraced_numbers(path, nb)
    assert not untraced, "numbers in the prose from nowhere:\n" + "\n".join(map(str, untraced))
    unprinted = unprinted_answers(path, nb)  # the answer keys agree with the notebook
    assert not unprinted, "\n".join(unprinted)
    print(f"{path.name}: {seconds:.0f} s")
