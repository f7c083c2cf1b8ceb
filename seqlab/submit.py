"""The last cell of every lab: build ``submission_<lab>.zip``, check it, hand it over.

    from seqlab.submit import submit
    submit("04_rnn_sentiment")

The zip holds the lab's student modules (named as in ``starter/``, from wherever the notebook
imports them: ``starter/`` locally, the Drive course folder in Colab) plus ``model.keras``
and ``run_report.json`` when the lab saved them in the workspace's ``models/`` folder, plus
``answers.json``: the student's answers (:mod:`seqlab.answers`) to the questions of every lab
whose modules the zip holds (course.toml's ``[labs]``; e.g. lab 4's zip holds ``sentiment``,
so it carries the answers of labs 3, 4 and 5, the labs the sentiment assignment grades), taken
from the workspace's ``answers.json``; no answer, no file. The
public checks (:mod:`seqlab.checks`) then run on the zip's own copy of the modules, so what is
checked is what is submitted. In Colab the zip is downloaded (``google.colab.files.download``);
locally its path is printed.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from seqlab.answers import ANSWERS_FILE, answers_of_labs, load_answers
from seqlab.colab import Workspace, in_colab, workspace
from seqlab.course import load_course

MODEL_FILES = ("model.keras", "run_report.json")


@dataclass
class Submission:
    """What :func:`submit` built and what the public checks said about it."""

    path: Path
    files: list[str]
    passed: int = 0
    failed: list[str] = field(default_factory=list)


def labs_of_modules(modules: tuple[str, ...]) -> list[str]:
    """Every lab of course.toml whose submission holds one of ``modules``."""
    return [lab for lab, held in load_course().labs.items() if set(held) & set(modules)]


def submitted_answers(work: Workspace, modules: tuple[str, ...]) -> dict:
    """The workspace's answers to the questions of the labs that ``modules`` are graded for."""
    return answers_of_labs(load_answers(work.folder / ANSWERS_FILE), labs_of_modules(modules))


def build_submission(lab: str, work: Workspace, modules: tuple[str, ...]) -> Path:
    """Write ``<work.folder>/submission_<lab>.zip``; a missing module is a clear error."""
    missing = [m for m in modules if not (work.code / f"{m}.py").is_file()]
    if missing:
        raise FileNotFoundError(f"{', '.join(m + '.py' for m in missing)} not found in "
                                f"{work.code}: that is where your code should be")
    path = work.folder / f"submission_{lab}.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for module in modules:
            archive.write(work.code / f"{module}.py", f"{module}.py")
        for name in MODEL_FILES:
            if (work.models / name).is_file():
                archive.write(work.models / name, name)
        answers = submitted_answers(work, modules)
        if answers:
            archive.writestr(ANSWERS_FILE, json.dumps(answers, indent=1, ensure_ascii=False))
    partial.replace(path)
    return path


def check_submission(path: Path, modules: tuple[str, ...], show: bool = True) -> tuple[int, list]:
    """Run the public checks of every function of ``modules`` on the zip's copy of them."""
    from seqlab.checks import ASSIGNMENTS, check

    passed, failed = 0, []
    with tempfile.TemporaryDirectory(prefix="seqlab-submission-") as tmp:
        with zipfile.ZipFile(path) as archive:
            for module in modules:
                archive.extract(f"{module}.py", tmp)
        for module in modules:
            for function in ASSIGNMENTS.get(module, ()):
                report = check(function, module=tmp, show=show)
                if report.passed:
                    passed += 1
                else:
                    failed.append(function)
    return passed, failed


def submit(lab: str, work: Workspace | None = None, show: bool = True,
           download: bool = True) -> Submission:
    """Build, check and download (Colab) or locate (locally) ``submission_<lab>.zip``."""
    work = work or workspace(lab)
    modules = load_course().modules_of(lab)
    path = build_submission(lab, work, modules)
    with zipfile.ZipFile(path) as archive:
        files = archive.namelist()
    passed, failed = check_submission(path, modules, show=show)
    result = Submission(path, files, passed, failed)
    verdict = (f"every public check passed ({passed} functions)" if not failed else
               f"public checks not passed yet: {', '.join(failed)}")
    print(f"{path.name}: {', '.join(files)}; {verdict}.")
    if in_colab() and download:
        from google.colab import files as colab_files

        colab_files.download(str(path))
        print(f"Downloading {path.name}; a copy stays at {path}. Upload it to the assignment.")
    else:
        print(f"Your submission: {path}. Upload it to the assignment.")
    return result
