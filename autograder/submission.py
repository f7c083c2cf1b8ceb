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


class RefusedSubmission(SubmissionError):
    """A zip that is readable but ambiguous or locked: refused, graded 0 of the full maximum.

    ``modules`` are the assignments whose module file the zip names, so that every one of
    their tests is present (see :func:`grade_refused`).
    """

    def __init__(self, why: str, modules: tuple[str, ...] = ()):
        super().__init__(why)
        self.modules = modules


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
                refuse_ambiguous(archive)
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


def _modules_named(names) -> tuple[str, ...]:
    found = {PurePosixPath(n).name for n in names}
    return tuple(a for a in ASSIGNMENTS if load_assignment(a).FILENAME in found)


def refuse_ambiguous(archive: zipfile.ZipFile) -> None:
    """Raise :class:`RefusedSubmission` (one sentence) for a zip that tools would read apart.

    Refused: an encrypted member (it cannot be read without a password); a name that is
    absolute or climbs out (``/x``, ``C:x``, ``../x``); two members that name one file once
    ``\\`` is ``/``, ``./`` is dropped and case is ignored (``unzip`` and similarity tools
    see the last, this grader would see the first; on a case-insensitive disk they collide);
    and two members both named like one graded file in different folders.
    """
    infos = archive.infolist()
    names = [info.filename.replace("\\", "/") for info in infos]
    modules = _modules_named(names)
    wanted = wanted_files()
    seen: dict[str, str] = {}
    kept: dict[str, str] = {}
    for info, name in zip(infos, names, strict=True):
        shown = ascii(info.filename)
        if info.flag_bits & 0x1:
            raise RefusedSubmission(f"the zip's member {shown} is encrypted: submit a zip "
                                    "made without a password", modules)
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if name.startswith("/") or (len(name) > 1 and name[1] == ":") or ".." in parts:
            raise RefusedSubmission(f"the zip's member {shown} has an absolute or "
                                    "parent-folder path: zip the files themselves", modules)
        key = "/".join(parts).casefold()
        if key in seen and not info.is_dir():
            raise RefusedSubmission(f"the zip holds two members that name one file, "
                                    f"{seen[key]!a} and {shown}: keep one", modules)
        seen[key] = info.filename
        base = parts[-1] if parts else ""
        if base in wanted and not info.is_dir() and not base.startswith((".", "__")):
            if base in kept and kept[base] != info.filename:
                raise RefusedSubmission(f"the zip holds {base} twice, {kept[base]!a} and "
                                        f"{shown}: keep one", modules)
            kept[base] = info.filename


def grade_refused(err: RefusedSubmission, grade_fn, submission, **kwargs):
    """0 of the full maximum for a refused submission: ``grade_fn`` on an empty folder for
    each assignment the zip names (every test present, as for a missing module), each test's
    message the refusal sentence."""
    import tempfile

    chosen = kwargs.pop("assignment", None)
    named = [chosen] if chosen else list(err.modules)
    result = None
    with tempfile.TemporaryDirectory(prefix="seqlab-refused-") as empty:
        for assignment in named or [None]:
            part = grade_fn(Path(empty), assignment=assignment, **kwargs)
            if result is None:
                result = part
            else:
                result.tests += part.tests
    why = f"the submission was refused: {err}"
    for test in result.tests:
        test.points, test.message = 0.0, why
        test.status = "skipped" if test.status == "skipped" else "failed"
    result.submission = str(submission)
    result.notes = [why]
    return result
