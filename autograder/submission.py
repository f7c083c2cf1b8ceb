"""Turn a submission (a directory or a .zip) into a clean folder of the files graders use.

Only the student module files named as in ``starter/`` plus ``model.keras``,
``run_report.json`` and ``answers.json`` (the questions' answers: copied up to 1 MB, so that
the grader can say when it is over its own 64 KB limit) are copied; everything else is
ignored. Zip members are read by name
(no path from the archive is ever used to write), with size limits against zip bombs.
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from autograder.assignments import ASSIGNMENTS, load_assignment

EXTRA_FILES = ("model.keras", "run_report.json", "answers.json")
MAX_FILE_BYTES = {"model.keras": 200 << 20, "run_report.json": 1 << 20,
                  "answers.json": 1 << 20}
MAX_MODULE_BYTES = 1 << 20


class SubmissionError(ValueError):
    """The submission cannot be read at all (not a folder or zip, corrupt zip)."""


@dataclass(frozen=True)
class Submission:
    folder: Path
    files: tuple[str, ...]
    ignored: tuple[str, ...]

    def has(self, name: str) -> bool:
        return name in self.files


def wanted_files() -> dict[str, int]:
    names = {load_assignment(a).FILENAME: MAX_MODULE_BYTES for a in ASSIGNMENTS}
    return {**names, **MAX_FILE_BYTES}


def resolve(path: str | Path, into: Path) -> Submission:
    """Copy the usable files of ``path`` into the empty folder ``into``."""
    path = Path(path)
    wanted = wanted_files()
    into.mkdir(parents=True, exist_ok=True)
    copied, ignored = [], []
    if path.is_dir():
        candidates = {p.name: p for p in sorted(path.rglob("*")) if p.is_file() and not any(
            part.startswith((".", "__")) for part in p.relative_to(path).parts)}
        for name, source in candidates.items():
            if name in wanted and source.stat().st_size <= wanted[name] and not source.is_symlink():
                shutil.copyfile(source, into / name)
                copied.append(name)
            else:
                ignored.append(str(source.relative_to(path)))
    elif path.is_file() and zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    name = PurePosixPath(info.filename).name
                    if info.is_dir() or name.startswith((".", "__")):
                        continue
                    if name in wanted and name not in copied and info.file_size <= wanted[name]:
                        with archive.open(info) as src, open(into / name, "wb") as dst:
                            shutil.copyfileobj(src, dst, length=1 << 20)
                        if (into / name).stat().st_size > wanted[name]:
                            raise SubmissionError(f"{name} in the zip is larger than allowed")
                        copied.append(name)
                    else:
                        ignored.append(info.filename)
        except (zipfile.BadZipFile, OSError) as err:
            raise SubmissionError(f"{path.name} is not a readable zip file: {err}") from None
    else:
        raise SubmissionError(f"{path} is neither a folder nor a .zip file")
    return Submission(into, tuple(sorted(copied)), tuple(ignored))
