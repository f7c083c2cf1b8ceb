"""A TA's private holdout (``gradescope --holdout FILE``): validated, bundled root-only, and
used, encoded as lab 4 encodes its test split, to score a submitted model.keras."""

import csv
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from autograder.cli import main as cli
from autograder.holdout import HoldoutError, read_holdout
from tests.submissions import only_submitted_model_check, tiny_imdb_model

REPO = Path(__file__).resolve().parent.parent


def _csv(path: Path, rows, header=("text", "label")) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_a_valid_holdout_reads_texts_and_labels(tmp_path):
    path = _csv(tmp_path / "h.csv", [[1, "Great, truly great.<br />Loved it"],
                                     ["0", 'He said "no" - awful']], header=("label", "text"))
    texts, labels = read_holdout(path)  # any column order, quoted commas
    assert texts == ["Great, truly great.<br />Loved it", 'He said "no" - awful']
    assert labels.tolist() == [1, 0] and labels.dtype == np.int64
    path.write_bytes(b"\xef\xbb\xbftext,label\nfine,1\n\n")  # a BOM and a blank line
    assert read_holdout(path)[1].tolist() == [1]


@pytest.mark.parametrize("content, said", [
    (b"", "empty"),
    (b"review,label\ngood,1\n", "expected the columns text,label, got review,label"),
    (b"text,label,source\ngood,1,imdb\n", "expected the columns text,label"),
    (b"text,label\ngood,positive\n", "row 2: label 'positive', expected 0 (negative) or 1"),
    (b"text,label\ngood,1\nbad,2\n", "row 3: label '2'"),
    (b"text,label\n", "a header but no reviews"),
    (b"text,label\ngood,bad,1\n", "row 2: 3 fields, expected 2"),
    (b"text,label\n,1\n", "row 2: the text is empty"),
    (b"text,label\ncaf\xe9,1\n", "not UTF-8"),
])
def test_a_bad_holdout_is_refused_with_what_is_wrong(tmp_path, content, said):
    path = tmp_path / "holdout.csv"
    path.write_bytes(content)
    with pytest.raises(HoldoutError, match=r"holdout\.csv") as error:
        read_holdout(path)
    assert said in str(error.value)


def test_the_command_refuses_a_bad_holdout_before_building(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"text,stars\ngood,5\n")
    out = tmp_path / "autograder.zip"
    assert cli(["gradescope", "--out", str(out), "--assignment", "sentiment",
                "--holdout", str(bad)]) == 2
    assert "expected the columns text,label" in capsys.readouterr().err
    assert not out.exists()
    good = _csv(tmp_path / "good.csv", [["fine", 1]])
    assert cli(["gradescope", "--out", str(out), "--assignment", "cells",
                "--holdout", str(good)]) == 2  # cells takes no model.keras
    assert "sentiment does" in capsys.readouterr().err


def test_holdout_reviews_are_encoded_exactly_as_lab_4_encodes_its_test_split(tmp_path):
    from autograder.assignments.sentiment_inputs import encoded_splits, submitted_model_inputs
    from seqlab.data import load_sentiment

    data = load_sentiment("imdb", profile="full", seed=0)
    rows = [[text, int(label)] for text, label in zip(data.test.texts[:40],
                                                      data.test.labels[:40], strict=True)]
    x, y = submitted_model_inputs("imdb", _csv(tmp_path / "h.csv", rows))
    packaged = encoded_splits("imdb", "full")
    assert np.array_equal(x, packaged["x_test"][:40])
    assert np.array_equal(y, packaged["y_test"][:40])


@pytest.mark.slow
def test_a_holdout_bundle_holds_the_file_for_root_only(tmp_path):
    holdout = _csv(tmp_path / "reviews.csv", [["a fine film", 1], ["dull", 0]])
    out = tmp_path / "autograder.zip"
    assert cli(["gradescope", "--out", str(out), "--assignment", "sentiment",
                "--holdout", str(holdout)]) == 0
    with zipfile.ZipFile(out) as bundle:
        names = set(bundle.namelist())
        script = bundle.read("run_autograder").decode()
    assert "grading_inputs/holdout.csv" in names
    assert any(n.startswith("grading_inputs/holdout-imdb-") for n in names)  # encoded once
    assert '--profile full --holdout "$SEQLAB_GRADING_INPUTS/holdout.csv"' in script
    assert 'chmod -R go-rwx "$ROOT/source/grading_inputs"' in script
    assert script.index("chmod -R go-rwx") < script.index("-m autograder.gradescope run")


@pytest.mark.slow
def test_a_submitted_model_is_scored_on_the_holdout_not_the_packaged_split(tmp_path,
                                                                          monkeypatch):
    """A model whose predictions are the holdout's labels scores full marks on it, though it
    is near chance on the packaged split; the run report is still re-measured there."""

    from autograder.grader import grade

    only_submitted_model_check(monkeypatch)
    model = tiny_imdb_model()
    folder = tmp_path / "submission"
    folder.mkdir()
    shutil.copyfile(REPO / "solutions" / "sentiment.py", folder / "sentiment.py")
    model.save(folder / "model.keras")

    from autograder.assignments.sentiment_inputs import submitted_model_inputs

    texts = [f"review number {i} with words like good bad film plot actor {i % 7}"
             for i in range(60)]
    draft = _csv(tmp_path / "draft.csv", [[t, 0] for t in texts])
    x, _ = submitted_model_inputs("imdb", draft)
    said = (model.predict(x, verbose=0).reshape(-1) > 0.5).astype(int)
    holdout = _csv(tmp_path / "holdout.csv", [[t, int(s)] for t, s in zip(texts, said,
                                                                          strict=True)])
    packaged = grade(folder, assignment="sentiment", profile="full").tests[0]
    hidden = grade(folder, assignment="sentiment", profile="full", holdout=holdout).tests[0]
    assert hidden.points == hidden.max_points == 10, hidden.message
    assert "holdout accuracy 1.000 on 60 private IMDB reviews held out by your TA" in \
        hidden.message
    assert packaged.points < 5 and "4,981 IMDB reviews" in packaged.message
