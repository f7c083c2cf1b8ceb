"""Command line: ``python -m autograder grade|grade-all|gradescope|calibrate ...``."""

from __future__ import annotations

import argparse
import sys

from autograder.assignments import ASSIGNMENTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder",
                                     description="Grade seqlab assignments in a sandbox.")
    sub = parser.add_subparsers(dest="command", required=True)
    grade = sub.add_parser("grade", help="grade one submission (a folder or a .zip)")
    grade.add_argument("submission")
    grade.add_argument("--json", metavar="PATH", help="write Gradescope results.json here")
    grade.add_argument("--profile", choices=["quick", "full"], default="quick")
    grade.add_argument("--assignment", choices=list(ASSIGNMENTS),
                       help="grade just this assignment (a missing file then scores 0)")
    calibrate = sub.add_parser("calibrate", help="calibrate accuracy bands on the reference")
    calibrate.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    calibrate.add_argument("--margin", type=float, default=0.03)
    calibrate.add_argument("--assignment", nargs="+", choices=list(ASSIGNMENTS),
                           help="only these assignments (default: every one with a recipe)")
    calibrate.add_argument("--profile", choices=["quick", "full"], default="quick",
                           help="quick: the grader's training recipes; full: the band for a "
                                "submitted model.keras (lab 4's model on the full data)")
    from autograder.batch import add_arguments as add_batch_arguments

    add_batch_arguments(sub.add_parser(
        "grade-all", help="grade every submission in a folder into a gradebook (resumable)"))
    from autograder.gradescope import add_build_arguments

    add_build_arguments(sub.add_parser(
        "gradescope", help="build the autograder zip to upload to Gradescope"))
    args = parser.parse_args(argv)

    if args.command == "grade":
        from autograder.grader import grade as run_grade
        from autograder.report import print_table, write_json
        from autograder.sandbox import SandboxError
        from autograder.submission import RefusedSubmission, SubmissionError, grade_refused

        try:
            try:
                result = run_grade(args.submission, profile=args.profile,
                                   assignment=args.assignment)
            except RefusedSubmission as err:  # 0 of the full maximum, results written
                result = grade_refused(err, run_grade, args.submission, profile=args.profile,
                                       assignment=args.assignment)
        except (SubmissionError, SandboxError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        if args.json:  # first: nothing the table prints can stop the results being written
            written = write_json(result, args.json)
        print_table(result)
        if args.json:
            print(f"wrote {written}")
        return 0
    if args.command == "calibrate":
        from autograder.calibrate import calibrate as run_calibrate

        run_calibrate(seeds=args.seeds, margin=args.margin, profile=args.profile,
                      assignments=args.assignment)
        return 0
    if args.command == "grade-all":
        from autograder.batch import run_cli

        return run_cli(args)
    if args.command == "gradescope":
        from autograder.gradescope import build_cli

        return build_cli(args)
    return 2
