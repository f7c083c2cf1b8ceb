"""Generate the student starter code (``starter/``) from the reference solutions (``solutions/``).

Inside a function of a solution file, the reference code sits between two comment lines::

    def build(...):
        \"\"\"Docstring (kept).\"\"\"
        # BEGIN SOLUTION hint: one short sentence telling the student what to do
        ...reference code...
        # END SOLUTION

In the starter each region becomes, at the indentation of its ``BEGIN`` line,
``raise NotImplementedError("build: <hint> (not implemented yet)")``. Lines of a region that
start with ``# STARTER: `` are kept, uncommented, above the ``raise`` (a skeleton hint).
Everything outside the regions (imports, signatures, docstrings, constants) is copied as is.

    python -m seqlab.starter            # write starter/ from solutions/
    python -m seqlab.starter --check    # exit 1 if starter/ is out of date, naming the files

Malformed regions (nested, unmatched, unclosed, outside a function) raise :class:`StarterError`
naming the file and line; the command line prints that message and exits 2.
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import sys
import tempfile
import textwrap
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from seqlab.paths import REPO_ROOT

SOLUTIONS_DIR = REPO_ROOT / "solutions"
STARTER_DIR = REPO_ROOT / "starter"
LINE_LENGTH = 100

_BEGIN = re.compile(r"#\s*BEGIN SOLUTION\b(?P<rest>.*)$")
_END = re.compile(r"#\s*END SOLUTION\b")
_STARTER = re.compile(r"^(?P<indent>[ \t]*)# STARTER: ?(?P<code>.*)$")
_HINT = re.compile(r"^\s*(?:hint\s*:)?\s*", re.IGNORECASE)
DEFAULT_HINT = "write this part"
_SUFFIX = "(not implemented yet)"

HEADER = """\
# Starter code generated from solutions/{name} by `python -m seqlab.starter`.
# Write your code where a function raises NotImplementedError: replace each
# `raise NotImplementedError(...)` with your implementation. Keep the names, signatures and
# return types: the notebooks and the autograder call them.
"""


class StarterError(ValueError):
    """A solution file whose SOLUTION regions cannot be turned into a starter."""


@dataclass
class _Region:
    begin: int                      # 1-based line numbers
    end: int = 0
    indent: str = ""
    hint: str = DEFAULT_HINT
    function: str = ""
    span: tuple = ()
    kept: list[str] = field(default_factory=list)


def _marker_lines(source: str, filename: str) -> dict[int, tuple[str, str]]:
    """Comment-only lines that are region markers: ``{line: ("begin"|"end", rest)}``.

    Uses the tokenizer so that marker-like text inside strings and docstrings is ignored.
    """
    lines = source.splitlines()
    markers: dict[int, tuple[str, str]] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type != tokenize.COMMENT:
                continue
            row, col = tok.start
            if lines[row - 1][:col].strip():
                continue                        # a comment after code, not a marker line
            if match := _BEGIN.match(tok.string):
                markers[row] = ("begin", match.group("rest"))
            elif _END.match(tok.string):
                markers[row] = ("end", "")
    except (tokenize.TokenError, SyntaxError) as exc:
        raise StarterError(f"{filename}: cannot tokenize: {exc}") from None
    return markers


def _functions(source: str, filename: str) -> list[tuple[int, int, int, str]]:
    """``(def line, last line, column, name)`` of every function, innermost last when nested."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise StarterError(f"{filename}:{exc.lineno}: syntax error: {exc.msg}") from None
    lines = source.splitlines()
    found = [(node.lineno, _extend_over_comments(lines, node.end_lineno or node.lineno,
                                                 node.col_offset), node.col_offset, node.name)
             for node in ast.walk(tree)
             if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    return sorted(found)


def _indent_width(text: str) -> int:
    return len(text.expandtabs()) - len(text.expandtabs().lstrip())


def _extend_over_comments(lines: list[str], last: int, column: int) -> int:
    """Extend a function's last line over the comment lines indented into its body after it.

    The AST ends a function at its last statement; an ``# END SOLUTION`` after a ``return``
    still belongs to the function.
    """
    following = last + 1
    while following <= len(lines):
        text = lines[following - 1]
        stripped = text.lstrip()
        if not stripped:
            following += 1
        elif stripped.startswith("#") and _indent_width(text) > column:
            last = following
            following += 1
        else:
            break
    return last


def _enclosing(functions, line: int):
    """The innermost function whose body spans ``line`` (after its ``def`` line), or None."""
    inside = [f for f in functions if f[0] < line <= f[1]]
    return max(inside, key=lambda f: f[0]) if inside else None


def _find_regions(source: str, filename: str) -> list[_Region]:
    lines = source.splitlines()
    markers = _marker_lines(source, filename)
    functions = _functions(source, filename)
    regions: list[_Region] = []
    current: _Region | None = None
    for number in range(1, len(lines) + 1):
        kind, rest = markers.get(number, (None, ""))
        if kind == "begin":
            if current is not None:
                raise StarterError(f"{filename}:{number}: BEGIN SOLUTION inside the region opened "
                                   f"at line {current.begin} (nested regions are not allowed)")
            func = _enclosing(functions, number)
            if func is None:
                raise StarterError(f"{filename}:{number}: BEGIN SOLUTION outside any function "
                                   "(regions must be inside a function body)")
            indent = lines[number - 1][: len(lines[number - 1]) - len(lines[number - 1].lstrip())]
            if _indent_width(indent) <= func[2]:
                raise StarterError(f"{filename}:{number}: BEGIN SOLUTION must be indented inside "
                                   f"the body of {func[3]}()")
            hint = _HINT.sub("", rest, count=1).strip() or DEFAULT_HINT
            current = _Region(begin=number, indent=indent, hint=hint, function=func[3],
                              span=func)
        elif kind == "end":
            if current is None:
                raise StarterError(f"{filename}:{number}: END SOLUTION without a BEGIN SOLUTION")
            func = _enclosing(functions, number)
            if func != current.span:
                raise StarterError(f"{filename}:{number}: END SOLUTION is not in "
                                   f"{current.function}(), where its region opened at line "
                                   f"{current.begin}")
            current.end = number
            regions.append(current)
            current = None
        elif current is not None and (match := _STARTER.match(lines[number - 1])):
            current.kept.append(match.group("indent") + match.group("code"))
    if current is not None:
        raise StarterError(f"{filename}:{current.begin}: BEGIN SOLUTION is never closed "
                           "(no END SOLUTION before the end of the file)")
    return regions


def _string_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _raise_lines(indent: str, message: str) -> list[str]:
    """``raise NotImplementedError("message")``, split over lines if it is too long.

    When split, the closing ``(not implemented yet)`` stays whole on the last line.
    """
    one_line = f"{indent}raise NotImplementedError({_string_literal(message)})"
    if len(one_line) <= LINE_LENGTH:
        return [one_line]
    inner = indent + "    "
    width = LINE_LENGTH - len(inner) - 2
    head, tail = message[: -len(_SUFFIX)], _SUFFIX
    pieces = textwrap.wrap(head, width=width, drop_whitespace=False, break_long_words=True,
                           break_on_hyphens=False)
    if pieces and len(pieces[-1]) + len(tail) <= width:
        pieces[-1] += tail
    else:
        pieces.append(tail)
    return [f"{indent}raise NotImplementedError(",
            *(f"{inner}{_string_literal(piece)}" for piece in pieces),
            f"{indent})"]


def render(source_text: str, filename: str) -> str:
    """The starter version of one solution file's text (``filename`` is used in messages)."""
    regions = _find_regions(source_text, filename)
    lines = source_text.splitlines()
    out = HEADER.format(name=Path(filename).name).splitlines()
    position = 0
    for region in regions:
        out.extend(lines[position : region.begin - 1])
        out.extend(region.kept)
        message = f"{region.function}: {region.hint} {_SUFFIX}"
        out.extend(_raise_lines(region.indent, message))
        position = region.end
    out.extend(lines[position:])
    text = "\n".join(out) + "\n"
    try:
        compile(text, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise StarterError(f"{filename}: the generated starter does not compile (line "
                           f"{exc.lineno} of the output: {exc.msg}); check the regions") from None
    return text


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def generate(src_dir: str | Path = SOLUTIONS_DIR, dst_dir: str | Path = STARTER_DIR) -> list[Path]:
    """Write ``dst_dir/<name>.py`` for every ``src_dir/*.py``; returns the written paths.

    Every file is rendered before any is written, so a malformed file leaves ``dst_dir``
    untouched. Files whose content is unchanged are not rewritten.
    """
    src_dir, dst_dir = Path(src_dir), Path(dst_dir)
    if not src_dir.is_dir():
        raise StarterError(f"{src_dir}: no such solutions folder")
    rendered = {path.name: render(path.read_text(encoding="utf-8"), _display(path))
                for path in sorted(src_dir.glob("*.py"))}
    dst_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered.items():
        target = dst_dir / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def out_of_sync(src_dir: str | Path = SOLUTIONS_DIR,
                dst_dir: str | Path = STARTER_DIR) -> list[str]:
    """Problems that make ``dst_dir`` differ from a fresh generation (empty when in sync).

    Each entry names a file: missing, differing, or a ``.py`` file with no solution.
    """
    dst_dir = Path(dst_dir)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = {path.name: path.read_text(encoding="utf-8") for path in generate(src_dir, tmp)}
    problems = []
    for name, text in fresh.items():
        target = dst_dir / name
        if not target.exists():
            problems.append(f"{_display(target)}: missing")
        elif target.read_text(encoding="utf-8") != text:
            problems.append(f"{_display(target)}: differs from the generated version")
    if dst_dir.is_dir():
        for target in sorted(dst_dir.glob("*.py")):
            if target.name not in fresh:
                problems.append(f"{_display(target)}: has no solution file in "
                                f"{_display(Path(src_dir))}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqlab.starter",
                                     description="Generate starter/ from solutions/.")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the starter files are out of date")
    parser.add_argument("--src", type=Path, default=SOLUTIONS_DIR,
                        help="folder of solution files (default: solutions/)")
    parser.add_argument("--dst", type=Path, default=STARTER_DIR,
                        help="folder for the starter files (default: starter/)")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = out_of_sync(args.src, args.dst)
            if problems:
                print("starter files out of date (run `python -m seqlab.starter`):")
                for problem in problems:
                    print(f"  {problem}")
                return 1
            print(f"{_display(args.dst)} is in sync with {_display(args.src)}")
            return 0
        for path in generate(args.src, args.dst):
            print(f"generated {_display(path)}")
        return 0
    except StarterError as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
