"""The Gradescope bundle: ``python -m autograder gradescope --out autograder.zip``.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once on its Ubuntu
image, then ``run_autograder`` for every submission, which must leave
``/autograder/results/results.json``. The bundle holds the kit's library and grader (never
``solutions/``), pinned requirements and the calibrated bands. Gradescope runs as root, so
``run_autograder`` makes the holdout and the grader's files unreadable to others and runs the
student's code as ``nobody``.

The bundle also holds ``grading_inputs/``: every input the grader would otherwise compute
from the data packages (encoded splits, GloVe rows, the assignment's data, and with
``--holdout`` the TA's private reviews, encoded), made when the bundle is built. With them
the grading process never imports pandas or scikit-learn nor reads the review CSV or GloVe,
which keeps it small for Gradescope's default container (0.5 vCPU, 768 MB); the child's and
the worker's memory caps are sized to the container (:func:`container_limits`).
``run_autograder`` makes ``grading_inputs/`` readable by root only.

``SEQLAB_GRADESCOPE_ROOT`` (default ``/autograder``) and ``SEQLAB_PYTHON`` let a test lay
out a fake Gradescope root and run the real ``run_autograder`` against it. Student code runs
in the sandbox of :mod:`autograder.isolation` (``setup.sh`` installs bubblewrap; where the
container allows no namespaces, a fresh uid per call); as root without either, grading is
refused and ``results.json`` says so as the grader's problem, never as lost points.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from seqlab.paths import REPO_ROOT

INCLUDED = ("seqlab", "autograder", "data", "pyproject.toml", "README.md", "course.toml")


def kit_packages() -> list[str]:
    """The kit's own dependencies, as pyproject.toml lists them, that this Python has (a
    dependency for older Pythons only, such as tomli, is left out where it is absent)."""
    import re

    from seqlab.course import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    names = [re.match(r"[A-Za-z0-9_.\-]+", dep).group() for dep in project["dependencies"]]
    return [name for name in names if _installed(name)]


SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, on its Ubuntu image.
set -euo pipefail
apt-get update -qq
apt-get install -y -qq python3 python3-venv python3-pip bubblewrap util-linux > /dev/null
python3 -m venv /opt/seqlab
/opt/seqlab/bin/pip install -q --upgrade pip
/opt/seqlab/bin/pip install -q -r /autograder/source/requirements.txt
/opt/seqlab/bin/pip install -q --no-deps -e /autograder/source
chmod -R go-w /autograder/source
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission, as root.
set -uo pipefail
ROOT="${SEQLAB_GRADESCOPE_ROOT:-/autograder}"
PYTHON="${SEQLAB_PYTHON:-/opt/seqlab/bin/python}"
mkdir -p "$ROOT/results"
chmod 700 "$ROOT/results"
# Labels and the TA's holdout: for the grader (root) only, never for a sandboxed uid.
chmod -R go-rwx "$ROOT/source/grading_inputs"
chmod 700 "$ROOT/source/grading_inputs"
export SEQLAB_GRADING_INPUTS="$ROOT/source/grading_inputs"
cd "$ROOT/source"
"$PYTHON" -m autograder.gradescope run --root "$ROOT"@ARGUMENTS@
"""
INPUTS = "grading_inputs"
HOLDOUT = "holdout.csv"  # in grading_inputs/


def pinned_requirements() -> str:
    """Exact versions of what this machine grades with, so Gradescope grades the same way."""
    from autograder.preflight import keras_problem

    if keras_problem():  # the bundle would refuse every submission on Gradescope
        raise ValueError(keras_problem())
    lines = ["# Pinned by `python -m autograder gradescope` from the machine that built it."]
    for name in kit_packages():
        lines.append(f"{name}=={metadata.version(name)}")
    lines.append(f"tensorflow-cpu=={metadata.version('tensorflow-cpu')}"
                 if _installed("tensorflow-cpu") else
                 f"tensorflow=={metadata.version('tensorflow')}")
    return "\n".join(lines) + "\n"


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def build_bundle(out: str | Path, assignment: str | None = None, *,
                 holdout: str | Path | None = None, profile: str | None = None) -> Path:
    """Write the Gradescope autograder zip to ``out``.

    With ``assignment`` (e.g. ``"sentiment"``) the bundle grades just that assignment, as
    Gradescope has one autograder per assignment: a submission without its file scores 0
    with "sentiment.py was not submitted". Without, it grades every assignment whose file
    the submission holds. ``holdout``: a TA's labelled CSV (:mod:`autograder.holdout`),
    validated, copied in and used to score a submitted model.keras; it implies the full
    profile (``profile``, default quick, else).
    """
    from autograder.assignments import ASSIGNMENTS, load_assignment
    from autograder.grading_inputs import precompute
    from autograder.holdout import read_holdout

    if assignment is not None and assignment not in ASSIGNMENTS:
        raise ValueError(f"unknown assignment {assignment!r}: expected one of "
                         f"{', '.join(ASSIGNMENTS)}")
    names = [assignment] if assignment else list(ASSIGNMENTS)
    if holdout is not None:
        read_holdout(holdout)  # a HoldoutError says what is wrong with it, before anything
        takers = [n for n in ASSIGNMENTS if load_assignment(n).SUBMITTED_MODEL_RECIPE]
        if not any(n in takers for n in names):
            raise ValueError(f"--holdout scores a submitted model.keras, which assignment "
                             f"{assignment} does not take ({', '.join(takers)} does)")
        if profile == "quick":
            raise ValueError("--holdout scores a submitted model.keras, which only the full "
                             "profile does: leave out --profile quick")
        profile = "full"
    profile = profile or "quick"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    bands = REPO_ROOT / "autograder" / "bands.json"
    if not bands.exists():
        raise FileNotFoundError("autograder/bands.json is missing: run "
                                "`python -m autograder calibrate` first")
    arguments = (f" --assignment {assignment}" if assignment else "") + (
        f" --profile {profile}" if profile != "quick" else "") + (
        f' --holdout "$SEQLAB_GRADING_INPUTS/{HOLDOUT}"' if holdout is not None else "")
    staging = Path(tempfile.mkdtemp(prefix="seqlab-bundle-"))
    try:
        inputs = staging / INPUTS
        for name in names:
            precompute(inputs, name, profile=profile,
                       holdout=Path(holdout) if holdout is not None else None)
        if holdout is not None:
            shutil.copyfile(holdout, inputs / HOLDOUT)
        _write_bundle(out, arguments, inputs)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _write_bundle(out: Path, arguments: str, inputs: Path) -> None:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        run_script = RUN_AUTOGRADER.replace("@ARGUMENTS@", arguments)
        for name, text in (("setup.sh", SETUP_SH), ("run_autograder", run_script)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            bundle.writestr(info, text)
        bundle.writestr("requirements.txt", pinned_requirements())
        for item in INCLUDED:
            path = REPO_ROOT / item
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            for file in files:
                if "__pycache__" in file.parts or file.suffix in (".pyc",):
                    continue
                bundle.write(file, file.relative_to(REPO_ROOT).as_posix())
        for file in sorted(inputs.iterdir()):
            bundle.write(file, f"{INPUTS}/{file.name}")


def container_limits(limit: int | None = None):
    """The sandbox limits for this container: the defaults, or, in a container with less
    memory than a child may take (Gradescope's default is 768 MB), the student child's data
    cap (``RLIMIT_DATA``) at the container's size, so that a submission that allocates far
    too much gets its own MemoryError ("ran out of memory") rather than filling the container.

    The cap counts address space (TensorFlow reserves more than it touches), so it cannot be
    set lower without failing correct submissions; the trusted worker keeps the default cap
    and, like the child, is what the kernel kills first when the container is full (the
    grader's ``oom_score_adj`` is lowest): its checks are then withheld as ``grader_error``.
    """
    import dataclasses
    import os

    from autograder.sandbox import Limits, container_memory

    limit = container_memory()[0] if limit is None else limit
    found = default = Limits()
    if limit is not None and limit < default.memory_bytes:
        found = Limits(memory_bytes=limit, worker_memory_bytes=default.memory_bytes)
    worker = os.environ.get(WORKER_MEMORY_ENV, "").strip()
    if worker:  # a test (or a TA diagnosing) caps the trusted worker alone
        found = dataclasses.replace(found, worker_memory_bytes=int(worker) << 20)
    return found


# The trusted worker's own memory cap in MB, for tests of the grader running out of memory.
WORKER_MEMORY_ENV = "SEQLAB_WORKER_MEMORY_MB"


def run(root: Path, assignment: str | None = None, *, profile: str = "quick",
        holdout: Path | None = None) -> int:
    """Grade ``<root>/submission`` into ``<root>/results/results.json`` (inside Gradescope)."""
    from autograder.grader import grade
    from autograder.report import write_json

    results = root / "results" / "results.json"
    limits = container_limits()  # as root: a fresh uid per call (autograder.sandbox)
    from autograder.submission import RefusedSubmission, grade_refused

    try:
        try:
            result = grade(root / "submission", limits=limits, assignment=assignment,
                           profile=profile, holdout=holdout)
        except RefusedSubmission as err:  # 0 of the full maximum, one sentence
            result = grade_refused(err, grade, root / "submission", limits=limits,
                                   assignment=assignment, profile=profile, holdout=holdout)
    except Exception as exc:  # the grader itself failed: no score at all, never a 0
        results.unlink(missing_ok=True)  # Gradescope: "The autograder failed to execute
        print(f"The autograder could not run ({type(exc).__name__}: {exc}); no results.json "
              "was written, so this submission has no score rather than a 0. This is not "
              "about the student's code: fix the grading machine, then regrade.",
              file=sys.stderr)  # correctly"; the instructor reads this in results/stdout
        return 2
    write_json(result, results)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.gradescope")
    sub = parser.add_subparsers(dest="command", required=True)
    runner = sub.add_parser("run")
    runner.add_argument("--root", type=Path, default=Path("/autograder"))
    runner.add_argument("--assignment")
    runner.add_argument("--profile", choices=["quick", "full"], default="quick")
    runner.add_argument("--holdout", type=Path)
    add_build_arguments(sub.add_parser("build"))
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.root, args.assignment, profile=args.profile, holdout=args.holdout)
    return build_cli(args)


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    from autograder.assignments import ASSIGNMENTS

    parser.add_argument("--out", type=Path, default=Path("autograder.zip"))
    parser.add_argument("--assignment", choices=list(ASSIGNMENTS),
                        help="the one assignment this Gradescope autograder grades "
                             "(default: every assignment whose file is submitted)")
    parser.add_argument("--profile", choices=["quick", "full"],
                        help="full scores a submitted model.keras (default quick; --holdout "
                             "implies full)")
    parser.add_argument("--holdout", type=Path, metavar="FILE",
                        help="a private CSV (columns text,label; label 0 or 1) that scores a "
                             "submitted model.keras instead of the packaged test split")


def build_cli(args) -> int:
    import sys

    from autograder.holdout import HoldoutError

    try:
        out = build_bundle(args.out, args.assignment, holdout=args.holdout,
                           profile=args.profile)
    except (HoldoutError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    what = f"assignment {args.assignment}" if args.assignment else "every submitted assignment"
    extra = f", model.keras scored on {args.holdout.name}" if args.holdout else ""
    print(f"wrote {out} (grades {what}{extra}); upload it as the Gradescope autograder")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
