"""The student release (``python -m seqlab release``): what it holds and what it must not.

The notebooks' runs inside a release are in test_notebooks.py (top to bottom with the
reference modules copied in, and against the starter up to the first check).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from seqlab.course import load_course, setup_cell, tomllib
from seqlab.release import (
    MARKER,
    ReleaseError,
    build_release,
    reference_functions,
    release_files,
    solution_secrets,
    verify_release,
)
from seqlab.starter import _find_regions

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "seqlab-student"
    result = subprocess.run([sys.executable, "-m", "seqlab", "release", "--out", str(out)],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verified" in result.stdout
    return out


def _all_files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def test_release_holds_what_students_need(release):
    files = {p.as_posix() for p in _all_files(release)}
    for lab in (REPO / "labs").glob("[0-9][0-9]_*.ipynb"):
        assert f"labs/{lab.name}" in files
    for module in (REPO / "starter").glob("*.py"):
        assert f"starter/{module.name}" in files
        assert (release / "starter" / module.name).read_text() == module.read_text()
    for needed in ("seqlab/__init__.py", "seqlab/colab.py", "seqlab/submit.py",
                   "seqlab/checks/__init__.py", "data/sources.json", "bench/baseline.py",
                   "README.md", "requirements.txt", "pyproject.toml", "course.toml", MARKER):
        assert needed in files, needed
    assert any(f.startswith("seqlab/checks/fixtures/") for f in files)
    size = sum((release / f).stat().st_size for f in files)
    assert size < 5_000_000, f"the release is {size / 1e6:.1f} MB"


def test_release_holds_no_solution_code_and_no_grader(release):
    files = _all_files(release)
    assert not [f for f in files if f.parts[0] in {"autograder", "solutions"}]
    for teacher_only in ("seqlab/starter.py", "seqlab/release.py",
                         "seqlab/checks/make_fixtures.py"):
        assert not (release / teacher_only).exists(), teacher_only
    # Every solution region, as text, is absent from every file (notebook cells included).
    texts = {f: (release / f).read_bytes().decode("utf-8", "replace") for f in files}
    regions = 0
    for path in sorted((REPO / "solutions").glob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        for region in _find_regions(source, path.name):
            regions += 1
            body = [line.strip() for line in lines[region.begin:region.end - 1]
                    if line.strip() and not line.strip().startswith("#")]
            longest = max(body, key=len)
            for name, text in texts.items():
                assert longest not in text or len(longest) < 25, (
                    f"{name} contains {path.name}:{region.begin} ({region.function}): {longest}")
    assert regions >= 19
    # The grader's reference implementations and its modules are absent.
    for name, text in texts.items():
        assert "fundamentals_reference" not in text, name
        assert "generative_models" not in text, name
        assert "import autograder" not in text and "from autograder" not in text, name
    assert verify_release(release) == []


def test_secrets_cover_every_region_and_reference_function():
    secrets = solution_secrets()
    regions = sum(len(_find_regions(p.read_text(), p.name))
                  for p in (REPO / "solutions").glob("*.py"))
    references = sum(len(names) for names in reference_functions().values())
    assert len(secrets) == regions + references
    assert all(secret.windows for secret in secrets)


def test_verification_finds_a_pasted_region_and_a_copied_reference(release, tmp_path):
    leaky = tmp_path / "leaky"
    shutil.copytree(release, leaky)
    shutil.copy(REPO / "solutions" / "sentiment.py", leaky / "starter" / "sentiment.py")
    problems = verify_release(leaky)
    assert any("starter/sentiment.py" in p and "build_rnn_classifier" in p for p in problems)

    # A region re-indented into a notebook cell, and a grader file, are found too.
    shutil.copy(REPO / "starter" / "sentiment.py", leaky / "starter" / "sentiment.py")
    source = (REPO / "solutions" / "rnn_numpy.py").read_text()
    region = next(r for r in _find_regions(source, "rnn_numpy.py")
                  if r.function == "rnn_loss_and_grads")
    pasted = "\n".join(line.strip() for line in
                       source.splitlines()[region.begin:region.end - 1])
    nb_path = leaky / "labs" / "01_rnn_numpy.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(f"if True:\n    {pasted[:400]}"))
    nbformat.write(nb, nb_path)
    (leaky / "autograder").mkdir()
    shutil.copy(REPO / "autograder" / "generative_models.py", leaky / "autograder")
    problems = verify_release(leaky)
    assert any("01_rnn_numpy.ipynb" in p and "rnn_loss_and_grads" in p for p in problems)
    assert any(p.startswith("autograder/") for p in problems)


def test_release_requirements_give_jupyter_and_package_only_seqlab(release):
    requirements = (release / "requirements.txt").read_text()
    assert "jupyterlab" in requirements and "-e ." in requirements
    assert "pytest" not in requirements and "ruff" not in requirements
    pyproject = tomllib.loads((release / "pyproject.toml").read_text())
    assert pyproject["tool"]["setuptools"]["packages"] == ["seqlab", "seqlab.checks"]
    readme = (release / "README.md").read_text()
    for words in ("Open a lab in Colab", "jupyter lab labs/", "MyDrive/", "check(", "Submit",
                  load_course().release_url):
        assert words in readme, words


def test_release_notebooks_have_generated_setup_and_no_outputs(release):
    course = load_course()
    for path in sorted((release / "labs").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        setup = next(c for c in nb.cells if c.cell_type == "code")
        assert setup.source == setup_cell(course, path.stem)
        assert course.release_url in setup.source
        assert f"github/{course.github_repo}/blob/{course.branch}/labs/{path.name}" in (
            nb.cells[0].source)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


def test_release_overrides_url_and_rebuilds_in_a_clone_keeping_git(tmp_path):
    out = tmp_path / "student"
    course = load_course().with_release("https://github.com/a-school/rnn-course", "spring")
    build_release(out, course)
    (out / ".git").mkdir()
    (out / ".git" / "HEAD").write_text("ref: refs/heads/spring\n")
    (out / "stale.txt").write_text("from an older release")
    build_release(out, course)
    assert (out / ".git" / "HEAD").exists() and not (out / "stale.txt").exists()
    nb = nbformat.read(out / "labs" / "01_rnn_numpy.ipynb", as_version=4)
    assert "github/a-school/rnn-course/blob/spring/labs/01_rnn_numpy.ipynb" in nb.cells[0].source
    assert 'RELEASE, BRANCH = "https://github.com/a-school/rnn-course", "spring"' in (
        nb.cells[2].source)
    assert 'url = "https://github.com/a-school/rnn-course"' in (out / "course.toml").read_text()


def test_release_refuses_unsafe_folders(tmp_path):
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "thesis.tex").write_text("mine")
    with pytest.raises(ReleaseError, match="not empty"):
        build_release(occupied)
    assert (occupied / "thesis.tex").exists()
    with pytest.raises(ReleaseError, match="inside the teacher's repository"):
        build_release(REPO / "labs" / "release")


def test_release_files_is_an_allow_list():
    files = {p.as_posix() for p in release_files()}
    assert not [f for f in files if f.startswith(("autograder/", "solutions/", "tests/"))]
    assert "seqlab/starter.py" not in files and "bench/grading.py" not in files


def test_verification_finds_an_answer_key_and_a_written_model_answer(release, tmp_path):
    """No key file, no written model answer, no TA explanation reaches the release."""
    from autograder.questions import KEYS_DIR, key_files, load_key

    keys = key_files()
    assert keys, f"no answer keys in {KEYS_DIR}"
    lab, path = next(iter(keys.items()))
    written = [q for q in load_key(path) if q.kind == "written"] or \
        [q for f in keys.values() for q in load_key(f) if q.kind == "written"]
    assert written, "no written question in any answer key"
    leaky = tmp_path / "leaky"
    shutil.copytree(release, leaky)
    shutil.copy(path, leaky / "data" / "notes.toml")                   # a key file, renamed
    nb_path = leaky / "labs" / f"{lab}.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    model = written[0].answer.replace("\n", "\n  ")                    # re-wrapped, indented
    nb.cells.append(nbformat.v4.new_markdown_cell(f"A good answer:\n  {model}"))
    nbformat.write(nb, nb_path)
    problems = verify_release(leaky)
    assert any(p.startswith("data/notes.toml: an answer key") for p in problems), problems
    assert any(f"{lab}.ipynb" in p and f"question {written[0].id} (answer)" in p
               for p in problems), problems
