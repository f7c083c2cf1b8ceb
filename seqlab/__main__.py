"""``python -m seqlab``: the teacher's course commands.

    python -m seqlab labs [--check]        # the labs' Colab badges and setup cells from course.toml
    python -m seqlab release --out DIR     # build the student repository (see seqlab.release)
"""

from __future__ import annotations

import argparse
import sys


def labs(argv: list[str]) -> int:
    from seqlab.course import CourseError, load_course, sync_labs
    from seqlab.paths import REPO_ROOT

    parser = argparse.ArgumentParser(
        prog="python -m seqlab labs",
        description="Write the labs' Colab badges and setup cells from course.toml.")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if a notebook differs from course.toml")
    args = parser.parse_args(argv)
    try:
        changed = sync_labs(REPO_ROOT / "labs", load_course(), check=args.check)
    except CourseError as exc:
        print(exc, file=sys.stderr)
        return 2
    names = ", ".join(p.name for p in changed)
    if args.check:
        if changed:
            print(f"out of date with course.toml (run `python -m seqlab labs`): {names}")
            return 1
        print("labs/ is in sync with course.toml")
        return 0
    print(f"rewrote {names}" if changed else "labs/ was already in sync with course.toml")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    commands = {"labs": labs}
    if argv and argv[0] == "release":
        try:
            from seqlab.release import main as release
        except ImportError:  # the student release leaves the release tool out
            print("`python -m seqlab release` runs in the teacher's repository, not in a "
                  "student release.", file=sys.stderr)
            return 2
        return release(argv[1:])
    if not argv or argv[0] not in commands:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
