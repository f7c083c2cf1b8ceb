"""Judge the contract functions' signatures: the grader's reading of the source, and the
child's report of the object the module actually binds.

Python calls whatever the module binds last under a name (a ``def`` under ``if``, an
assignment after the ``def``, ``globals()[...]``, ``exec``, a decorator's result), so the
object the grader calls is judged, not merely one top-level ``def``. Its signature can only be
read where it lives, in the child, and the child runs student code that can forge any
report; so that report may only ever make a signature FAIL. A signature passes only when the
grader's own reading of the source (:func:`read_source`, never running it) agrees with the
contract as well:

* when the top-level code binds the name last with a ``def``, a ``lambda`` or an alias of a
  top-level ``def`` (``f = _f``), that definition must have the contract's parameters;
* when it binds it some other way (under ``if``/``try``, through a decorator call such as
  ``f = wrap(_f)``, ``exec``), some ``def`` or ``lambda`` for the name anywhere in the source
  (or one that such an assignment passes along) must have them.
"""

from __future__ import annotations

import ast
from pathlib import Path

KINDS = ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD", "VAR_POSITIONAL", "KEYWORD_ONLY",
         "VAR_KEYWORD")
MAX_PARAMETERS, MAX_TEXT = 64, 300  # what a report of the child may hold
FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef)
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


# ---------------------------------------------------------------- reading the source
def _default_text(node: ast.expr) -> str:
    """The ``repr`` of a literal default (as ``inspect`` would show it), else its source."""
    try:
        return repr(ast.literal_eval(node))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return ast.unparse(node)


def _parameters(function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> list[dict]:
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


def _module_scope(node: ast.AST):
    """``node`` and what inside it runs in the module's own scope (not nested bodies)."""
    yield node
    if isinstance(node, SCOPES):  # its name (if any) is bound here; its body is another scope
        return
    for child in ast.iter_child_nodes(node):
        yield from _module_scope(child)


def _binds(statement: ast.stmt, name: str) -> bool:
    """Whether running the top-level ``statement`` may bind (or delete) ``name``."""
    for node in _module_scope(statement):
        if isinstance(node, ast.Name) and node.id == name and \
                isinstance(node.ctx, (ast.Store, ast.Del)):
            return True
        if isinstance(node, (*FUNCTION_NODES, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, ast.alias) and (node.name == "*" or
                                            (node.asname or node.name).split(".")[0] == name):
            return True
        if isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and \
                node.name == name:
            return True
        if isinstance(node, ast.MatchMapping) and node.rest == name:
            return True
    return False


def _targets(node: ast.stmt) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        return list(node.targets)
    if isinstance(node, ast.AnnAssign) and node.value is not None:
        return [node.target]
    return []


def _names_target(target: ast.expr, name: str) -> bool:
    """``name = ...`` or ``globals()["name"] = ...``."""
    if isinstance(target, ast.Name):
        return target.id == name
    return (isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant)
            and target.slice.value == name)


class _Source:
    """One parsed module: its definitions by name, anywhere and at the top level."""

    def __init__(self, tree: ast.Module):
        self.tree = tree
        self.defs: dict[str, list] = {}  # every def, at any depth
        self.top: dict[str, list] = {}  # top-level defs only
        self.assigned: list[tuple[list[ast.expr], ast.expr]] = []  # (targets, value)
        self.globals: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, FUNCTION_NODES):
                self.defs.setdefault(node.name, []).append(node)
            elif isinstance(node, ast.Global):
                self.globals.update(node.names)
            elif _targets(node):
                self.assigned.append((_targets(node), node.value))
        for node in tree.body:
            if isinstance(node, FUNCTION_NODES):
                self.top.setdefault(node.name, []).append(node)

    def resolve(self, value: ast.expr, depth: int = 0) -> list[dict] | None:
        """The parameters an assigned value certainly has (a lambda, or a top-level def's
        name), else None."""
        if isinstance(value, ast.Lambda):
            return _parameters(value)
        if isinstance(value, ast.Name) and self.top.get(value.id) and depth < 8:
            return self.last_binding(value.id, depth + 1)[0]
        return None

    def passed_along(self, value: ast.expr, depth: int = 0) -> list[list[dict]]:
        """Parameters of every def or lambda ``value`` names or passes to a call."""
        if isinstance(value, ast.Lambda):
            return [_parameters(value)]
        if isinstance(value, ast.Name):
            return [_parameters(d) for d in self.defs.get(value.id, [])]
        if isinstance(value, ast.Call) and depth < 4:
            return [p for arg in value.args for p in self.passed_along(arg, depth + 1)]
        return []

    def last_binding(self, name: str, depth: int = 0) -> tuple[list[dict] | None, str | None]:
        """The parameters of what the top-level code binds to ``name`` last, when the source
        says for certain (a def, a lambda, an alias), else None; and how it binds it last
        (``"def"``, ``"assignment"``, ``"other"``; None: not at all)."""
        found, how = None, None
        for node in self.tree.body:
            if isinstance(node, FUNCTION_NODES) and node.name == name:
                found, how = _parameters(node), "def"
            elif any(isinstance(t, ast.Name) and t.id == name for t in _targets(node)):
                found, how = self.resolve(node.value, depth), "assignment"
            elif _binds(node, name):
                found, how = None, "other"
        if name in self.globals:  # a function may bind it: the source cannot say
            return None, "other"
        return found, how

    def reading(self, name: str) -> dict:
        """What the source says about ``name`` (see :func:`read_source`)."""
        tops = self.top.get(name, [])
        candidates = [_parameters(d) for d in self.defs.get(name, [])]
        for targets, value in self.assigned:
            if any(_names_target(t, name) for t in targets):
                candidates += self.passed_along(value)
        bound, how = self.last_binding(name)
        return {"bound": bound, "how": how, "candidates": candidates, "has_def": bool(tops),
                "decorated": bool(tops and tops[-1].decorator_list)}


def read_source(path: Path, names) -> dict[str, dict]:
    """``{name: reading}`` for each of ``names`` in the Python file ``path``, never run.

    A reading holds ``bound``: the parameters of what the module's top-level code binds to
    the name last, where the source says for certain (a ``def``, ``name = lambda ...``,
    ``name = other_top_level_def``), else None; ``how``: how that statement binds it
    (``"def"``, ``"assignment"``, ``"other"``, None); ``candidates``: the parameters of every def
    of that name at any depth, and of the defs and lambdas assigned to it (directly or
    through a call such as ``name = wrap(_name)``); ``has_def`` and ``decorated``: whether
    a top-level def of that name exists, and whether its last one has decorators. A file
    that does not parse gives ``{}`` (the import then fails and says why).
    """
    try:
        tree = ast.parse(Path(path).read_bytes(), filename=Path(path).name)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return {}
    try:
        source = _Source(tree)
        return {name: source.reading(name) for name in names}
    except (MemoryError, RecursionError):  # absurdly nested code: nothing can be read
        return {}


# ---------------------------------------------------------------- the child's report
def reported_parameters(report) -> list[dict] | None:
    """The parameters in the child's report of one function, or None when the report is
    missing, says the signature is unreadable, or is not well formed (a forgery)."""
    if not isinstance(report, dict) or not isinstance(report.get("parameters"), list):
        return None
    parameters = report["parameters"]
    if len(parameters) > MAX_PARAMETERS:
        return None
    for p in parameters:
        if not (isinstance(p, dict) and set(p) == {"name", "kind", "default"}
                and isinstance(p["name"], str) and 0 < len(p["name"]) <= MAX_TEXT
                and p["kind"] in KINDS and (p["default"] is None or (
                    isinstance(p["default"], str) and len(p["default"]) <= MAX_TEXT))):
            return None
    return [dict(p) for p in parameters]


# ---------------------------------------------------------------- judging both
def _agrees(name: str, parameters: list[dict], expected) -> bool:
    """The signature check's own rule (contract names and defaults, in order)."""
    from autograder.assignments.fundamentals_reference import signature_problems

    return not signature_problems({name: {"parameters": parameters}}, {name: expected})


def _text(parameters) -> str:
    """``(a, b=1, *args, **kwargs)`` for report/source parameters or contract pairs."""
    stars = {"VAR_POSITIONAL": "*", "VAR_KEYWORD": "**"}
    pairs = [(stars.get(p["kind"], "") + p["name"], p["default"]) if isinstance(p, dict)
             else p for p in parameters]
    return "(" + ", ".join(n if d is None else f"{n}={d}" for n, d in pairs) + ")"


def _bound_problem(name: str, reading: dict, bound: list[dict], expected) -> str:
    calls = f"the object Python calls has parameters {_text(bound)}, expected {_text(expected)}"
    if reading.get("decorated") and reading.get("how") == "def":
        return f"{name}'s decorators replace its def: {calls}"
    if reading.get("has_def"):
        return f"{name} is rebound after its def: {calls}"
    return f"{name} as the module binds it: {calls}"


def _judge_one(name: str, reading: dict, report, expected) -> dict | None:
    """One function's entry for the signature check: the parameters it judges, and (when it
    fails) ``problem``, the sentence why; None (the check says it is missing) when the module
    binds no callable under the name, its report is unreadable or forged, or no def or
    lambda for it exists in the source."""
    if report is None:
        return None
    bound = reported_parameters(report)
    if bound is None:  # nothing to show: the check says it is missing
        return None
    if not _agrees(name, bound, expected):
        return {"parameters": bound, "problem": _bound_problem(name, reading, bound, expected)}
    if reading.get("bound") is not None:  # the source says for certain what is bound
        static = reading["bound"]
        if _agrees(name, static, expected):
            return {"parameters": static}
        return {"parameters": static, "problem": (
            f"{name}: expected {_text(expected)}, got {_text(static)}"
            if reading.get("how") == "def" else _bound_problem(name, reading, static, expected))}
    candidates = reading.get("candidates", [])
    agreeing = [c for c in candidates if _agrees(name, c, expected)]
    if agreeing:
        return {"parameters": agreeing[-1]}
    if not candidates:  # no def or lambda for it at all (bound through exec, say)
        return None
    return {"parameters": candidates[-1],
            "problem": f"{name}: no def or lambda for it in the source has the contract's "
                       f"parameters {_text(expected)} (the grader reads them from the source: "
                       "define it with def)"}


def judge_signatures(readings: dict[str, dict], reported, contract: dict) -> dict[str, dict]:
    """``{name: {"parameters": [...], "problem"?: sentence}}`` for the signature check.

    ``readings``: :func:`read_source`'s; ``reported``: the child's ``{name: report}`` of the
    objects the module binds (untrusted); ``contract``: ``{name: [(parameter, default)]}``.
    An entry passes the check only if the source and the report both agree with the
    contract; one that fails carries parameters that fail it too, and ``problem`` says why.
    A name with nothing to show (see :func:`_judge_one`) is absent: the check says missing.
    """
    reported = reported if isinstance(reported, dict) else {}
    judged = {}
    for name, expected in contract.items():
        entry = _judge_one(name, readings.get(name, {}), reported.get(name), expected)
        if entry is not None and "problem" in entry and \
                _agrees(name, entry["parameters"], expected):
            entry = None  # a failure must never read as a pass: then say it is missing
        if entry is not None:
            judged[name] = entry
    return judged
