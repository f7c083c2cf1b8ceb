"""Every number in a lab's prose is traced (seqlab.prose_numbers): the rule itself, on small
notebooks made here, and the labs' cited records. The labs' numbers are checked against their
own outputs in the finished-notebook runs of tests/test_notebooks.py."""

import nbformat
import pytest

from seqlab.prose_numbers import main, matches, missing_records, prose_numbers, untraced_numbers
from tests.notebook_runs import NOTEBOOKS


def _notebook(markdown, code="", output=None):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(code)
    if output is not None:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=output)]
    nb.cells = [nbformat.v4.new_markdown_cell(markdown), cell]
    return nb


def _texts(markdown):
    return [n.text for n in prose_numbers(markdown)]


def test_an_invented_number_is_reported_with_its_cell_and_sentence(tmp_path):
    nb = _notebook("On the full data the GRU reaches 0.854 after 20 epochs.", "EPOCHS = 20")
    (problem,) = untraced_numbers(tmp_path / "lab.ipynb", nb)
    assert problem.number.text == "0.854" and problem.number.cell == 0
    assert "0.854" in str(problem) and "full data" in str(problem)


def test_code_and_outputs_trace_numbers_to_the_precision_written(tmp_path):
    nb = _notebook("It trains 300,000 characters and reaches 0.73 (about 2.1 bits).",
                   "TRAIN_CHARS = 300_000", "accuracy 0.7311, bits 2.27\n")
    assert untraced_numbers(tmp_path / "lab.ipynb", nb) == []
    nb = _notebook("It reaches 0.74.", "", "accuracy 0.7311\n")
    assert [p.number.text for p in untraced_numbers(tmp_path / "lab.ipynb", nb)] == ["0.74"]


def test_precision_follows_the_digits_written():
    (number,) = prose_numbers("The CNN trains at 74,700 reviews per second.")
    assert matches(number, [74_723.0]) and not matches(number, [74_760.0])
    (number,) = prose_numbers("About 2% have no vector.")
    assert matches(number, [0.019]) and matches(number, [1.8]) and not matches(number, [0.05])
    (number,) = prose_numbers("It scores 40.6% without errors.")
    assert matches(number, [0.4061]) and not matches(number, [0.41])


def test_references_years_small_counts_grids_code_and_math_are_not_claims():
    assert _texts("# Lab 12\nSee lab 14, step 23, id 11, levels 12 and 13, Question 14.2.") == []
    assert _texts("Kim 2014 used 3x3 and 64x64 grids, `units=128`, $W_{12}$ and 7 cells.") == []
    assert _texts("[the record](bench/results/x123.md) and https://x.org/5555") == []
    assert _texts("It keeps 128 units.") == ["128"]


def test_a_sentence_quoting_a_paper_is_its_own_source():
    assert _texts("Kim (2014) reports 81.5% on MR with fine-tuned vectors.") == []
    assert _texts("Sutskever et al. 2014 reached 34.8 BLEU. We get 21.3 here.") == ["21.3"]


def test_a_cited_record_traces_its_numbers_and_a_missing_one_is_named(tmp_path):
    (tmp_path / "bench" / "results").mkdir(parents=True)
    (tmp_path / "bench" / "results" / "run.md").write_text(
        "`python bench/run.py`\n\n| model | accuracy |\n| gru | 0.8312 |\n")
    nb = _notebook("On the full data the GRU reaches 0.831 (`bench/results/run.md`).")
    assert untraced_numbers(tmp_path / "lab.ipynb", nb, root=tmp_path) == []
    nb = _notebook("It reaches 0.854 (`bench/results/run.md`, `bench/results/gone.md`).")
    (problem,) = untraced_numbers(tmp_path / "lab.ipynb", nb, root=tmp_path)
    assert "bench/results/run.md" in str(problem) and "gone.md (no such record)" in str(problem)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_record_a_lab_cites_exists(path):
    assert missing_records(path) == [], f"{path.name} cites records that do not exist"


def test_the_command_exits_1_on_an_executed_notebook_with_an_untraced_number(tmp_path, capsys):
    path = tmp_path / "lab.ipynb"
    nbformat.write(_notebook("It reaches 0.854.", "", "accuracy 0.70\n"), path)
    assert main([str(path), "--executed"]) == 1
    assert "0.854" in capsys.readouterr().out
    nbformat.write(_notebook("It reaches 0.70.", "", "accuracy 0.70\n"), path)
    assert main([str(path), "--executed"]) == 0
