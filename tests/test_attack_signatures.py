"""Issue 21: the signature check judges the object Python calls, not one top-level ``def``.

A module may bind a contract name after its ``def`` (``globals()[...]``, ``exec``, an
assignment under ``if``, a tuple assignment, a ``for`` target, a replacing decorator): the
grader then calls that other object, so a correct ``def`` above it must not earn the
signature check. The child's report of the bound object (student-controlled) may only ever
make the check fail; it passes only when the grader's own reading of the source agrees too.
A correct module that defines a function under ``if``, or through a ``functools.wraps``
decorator, must still pass.
"""

from __future__ import annotations

import types

import pytest

from autograder import child, signatures
from autograder.assignments.fundamentals_reference import signature_problems
from tests.attacks import REFERENCE, grade_rnn, write_module

CHECK = "rnn_numpy.py: functions with the contract's signatures"
CONTRACT = {"rnn_forward": [("params", None), ("x", None)]}

OTHER = '''

_true_forward = rnn_forward


def _other(a, b):
    return _true_forward(a, b)

'''

# Each rebinds rnn_forward, after its correct def, to _other(a, b).
REBINDS = {
    "globals": OTHER + "globals()['rnn_forward'] = _other\n",
    "exec": OTHER + "exec('rnn_forward = _other')\n",
    "under_if": OTHER + "if True:\n    rnn_forward = _other\n",
    "tuple_assignment": OTHER + "rnn_forward, _unused = _other, 0\n",
    "for_target": OTHER + "for rnn_forward in (_other,):\n    pass\n",
    "setattr_sys_modules": OTHER + "import sys\n"
                                   "setattr(sys.modules[__name__], 'rnn_forward', _other)\n",
}

LOOSE_DECORATOR = REFERENCE.replace(
    "def rnn_forward(", "def _loose(fn):\n    return lambda *args: fn(*args)\n\n\n"
    "@_loose\ndef rnn_forward(", 1)


def signature_test(result):
    return next(t for t in result.tests if t.name == CHECK)


@pytest.mark.parametrize("how", sorted(REBINDS))
def test_a_def_rebound_after_it_fails(tmp_path, how):
    """The object Python calls has (a, b): a correct def above it earns nothing."""
    result = grade_rnn(write_module(tmp_path / "sub", REFERENCE + REBINDS[how]))
    test = signature_test(result)
    assert test.points == 0, (how, test.message)
    assert "(a, b)" in test.message and "rnn_forward" in test.message, test.message
    assert "rnn_forward is rebound after its def" in test.message, test.message


def test_a_decorator_that_replaces_the_function_fails(tmp_path):
    """``@_loose`` binds ``lambda *args``: its signature, not the def's, is judged."""
    test = signature_test(grade_rnn(write_module(tmp_path / "sub", LOOSE_DECORATOR)))
    assert test.points == 0, test.message
    assert "args" in test.message, test.message


CONDITIONAL = REFERENCE.replace("def rnn_forward(", "import sys\n\nif sys.version_info >= (3,):\n"
                                "  def rnn_forward(", 1)
CONDITIONAL = CONDITIONAL.replace("\ndef rnn_loss_and_grads(",
                                  "\nelse:\n    def rnn_forward(a, b):\n        raise "
                                  "RuntimeError\n\n\ndef rnn_loss_and_grads(", 1)

WRAPPED = REFERENCE.replace("def rnn_forward(", "def _rnn_forward(", 1) + '''

def _logged(fn):
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)
    return wrapper


rnn_forward = _logged(_rnn_forward)
'''

DECORATED = REFERENCE.replace("def rnn_forward(", "def _logged(fn):\n    import functools\n\n"
                              "    @functools.wraps(fn)\n    def wrapper(*args, **kwargs):\n"
                              "        return fn(*args, **kwargs)\n    return wrapper\n\n\n"
                              "@_logged\ndef rnn_forward(", 1)


@pytest.mark.parametrize("source", [CONDITIONAL, WRAPPED, DECORATED, REFERENCE],
                         ids=["def_under_if", "assigned_wraps", "decorated_wraps", "reference"])
def test_a_correct_module_bound_another_way_passes(tmp_path, source):
    """Defined under ``if``/``else`` (the bound branch indented by two spaces), bound as
    ``rnn_forward = _logged(_rnn_forward)`` or decorated with a ``functools.wraps``
    decorator: the object Python calls has the contract's parameters, so the check passes."""
    assert compile(source, "rnn_numpy.py", "exec")
    test = signature_test(grade_rnn(write_module(tmp_path / "sub", source)))
    assert test.points == test.max_points > 0, test.message


def test_a_correct_function_bound_only_through_exec_fails_saying_why(tmp_path):
    """No def or lambda in the source has the contract's parameters (the source the grader
    reads is the only evidence it trusts), so the child's word alone earns nothing."""
    source = REFERENCE.replace("def rnn_forward(", "def _hidden(", 1) + (
        "\nexec('rnn_forward = lambda ' + 'params, x: _hidden(params, x)')\n")
    test = signature_test(grade_rnn(write_module(tmp_path / "sub", source)))
    assert test.points == 0, test.message


# ---------------------------------------------------------------- the combination itself
def parameters(*names):
    return {"parameters": [{"name": n, "kind": "POSITIONAL_OR_KEYWORD", "default": None}
                           for n in names]}


def judged(source, reported, tmp_path):
    path = tmp_path / "m.py"
    path.write_text(source)
    return signatures.judge_signatures(signatures.read_source(path, CONTRACT), reported,
                                      CONTRACT)


def test_a_forged_report_cannot_pass_a_wrong_def(tmp_path):
    """The child says (params, x) but the only def says (a, b): failed."""
    entry = judged("def rnn_forward(a, b):\n    pass\n",
                   {"rnn_forward": parameters("params", "x")}, tmp_path)["rnn_forward"]
    assert [p["name"] for p in entry["parameters"]] == ["a", "b"]
    assert "expected (params, x)" in entry["problem"], entry


def passes(entries: dict) -> bool:
    """What the signature check itself says of these entries."""
    return not signature_problems(entries, CONTRACT)


def test_a_missing_or_malformed_report_fails(tmp_path):
    source = "def rnn_forward(params, x):\n    pass\n"
    assert passes(judged(source, {"rnn_forward": parameters("params", "x")}, tmp_path))
    assert not passes(judged(source, {}, tmp_path))
    for forged in ("(params, x)", {"parameters": "params, x"}, {"parameters": [{"name": 1}]},
                   {"error": "has no readable signature"}, None, [parameters("params", "x")],
                   {"parameters": [{"name": "params", "kind": "POSITIONAL_OR_KEYWORD",
                                    "default": None, "extra": 1}]}):
        entries = judged(source, {"rnn_forward": forged}, tmp_path)
        assert not passes(entries), forged


def test_a_local_of_another_function_is_no_rebinding(tmp_path):
    """``rnn_forward = ...`` inside another function binds a local, not the module's name:
    the top-level def is still what the source binds, and it is judged."""
    source = ("def rnn_forward(a, b):\n    pass\n\n\ndef main():\n"
              "    rnn_forward = lambda params, x: None\n    return rnn_forward\n")
    entries = judged(source, {"rnn_forward": parameters("params", "x")}, tmp_path)
    assert not passes(entries), entries
    assert passes(judged(source.replace("(a, b)", "(params, x)"),
                         {"rnn_forward": parameters("params", "x")}, tmp_path))


def test_an_alias_the_source_can_read_is_judged_without_the_child(tmp_path):
    """``rnn_forward = _other`` with ``def _other(a, b)``: failed, whatever the child says."""
    source = ("def rnn_forward(params, x):\n    pass\n\n\ndef _other(a, b):\n    pass\n\n\n"
              "rnn_forward = _other\n")
    entries = judged(source, {"rnn_forward": parameters("params", "x")}, tmp_path)
    assert not passes(entries), entries
    assert entries["rnn_forward"]["problem"] == (
        "rnn_forward is rebound after its def: the object Python calls has parameters (a, b), "
        "expected (params, x)")


def test_the_rebound_sentence(tmp_path):
    entry = judged("def rnn_forward(params, x):\n    pass\n",
                   {"rnn_forward": parameters("a", "b")}, tmp_path)["rnn_forward"]
    assert entry["problem"] == ("rnn_forward is rebound after its def: the object Python "
                                "calls has parameters (a, b), expected (params, x)")


def test_the_grader_calls_the_object_it_judged():
    """A call that rebinds a contract name in the module: later tasks still call the object
    whose signature was reported (the one bound right after the import)."""
    module = types.ModuleType("m")

    def rnn_forward(params, x):
        return params

    module.rnn_forward = rnn_forward
    bound = child.bound_functions(module, ["rnn_forward", "init_params"])
    assert bound == {"rnn_forward": rnn_forward}
    context = child._Context(None, None, isinstance, bound)
    assert context.functions["rnn_forward"]["parameters"][0]["name"] == "params"
    module.rnn_forward = lambda a, b: None  # rebound by a call, after the report
    assert child.called_object(module, "rnn_forward", context) is rnn_forward
    assert child.called_object(module, "init_params", context) is None
