"""Read the contract functions' signatures from the student's source, without running it.

The child could report any signature it likes (student code runs in the same process and can
forge its messages), so the grader reads parameter names and defaults from the module's
syntax tree itself. The contract functions must therefore be defined with ``def`` at the top
level of the module (as in the starter); a name bound any other way (an assignment, an
import, a decorator that replaces the function) has no signature the grader can read.
"""

from __future__ import annotations

import ast
from pathlib import Path


def _default_text(node: ast.expr) -> str:
    """The ``repr`` of a literal default (as ``inspect`` would show it), else its source."""
    try:
        return repr(ast.literal_eval(node))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return ast.unparse(node)


def _parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[dict]:
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    kinds = (["POSITIONAL_ONLY"] * len(args.posonlyargs)
             + ["POSITIONAL_OR_KEYWORD"] * len(args.args))
    found = [{"name": a.arg, "kind": kind, "default": None if d is None else _default_text(d)}
             for a, kind, d in zip(positional, kinds, defaults, strict=True)]
    if args.vararg:
        found.append({"name": args.vararg.arg, "kind": "VAR_POSITIONAL", "default": None})
    for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        found.append({"name": a.arg, "kind": "KEYWORD_ONLY",
                      "default": None if d is None else _default_text(d)})
    if args.kwarg:
        found.append({"name": args.kwarg.arg, "kind": "VAR_KEYWORD", "default": None})
    return found


def read_signatures(path: Path, names) -> dict[str, dict]:
    """``{name: {"parameters": [{"name", "kind", "default"}]}}`` for each top-level ``def``
    among ``names`` in the Python file ``path`` (the last definition wins, as at run time).

    A name that is not defined with ``def`` at the top level is absent; a file that does not
    parse gives ``{}`` (the import then fails and says why).
    """
    try:
        tree = ast.parse(Path(path).read_bytes(), filename=Path(path).name)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return {}
    wanted = set(names)
    found: dict[str, dict] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in wanted:
            found[node.name] = {"parameters": _parameters(node)}
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.Import, ast.ImportFrom)):
            for name in _bound_names(node):
                found.pop(name, None)  # rebound later: no longer the def above
    return found


def _bound_names(node) -> list[str]:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(alias.asname or alias.name).split(".")[0] for alias in node.names]
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return [t.id for t in targets if isinstance(t, ast.Name)]
