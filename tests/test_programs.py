"""seqlab.programs: every generated program prints its target; seeds, levels, curricula."""

from __future__ import annotations

import ast
import re

import numpy as np
import pytest

from seqlab.programs import (
    SOURCE_CHARS,
    STRATEGIES,
    TARGET_CHARS,
    ProgramError,
    curriculum,
    encode_pairs,
    exact_match,
    make_additions,
    make_copies,
    make_programs,
    prepare_source,
    run_program,
    source_vocabulary,
    target_vocabulary,
)

LEVELS = [(length, nesting) for length in (1, 2, 3, 4) for nesting in (1, 2, 3)]


def python_prints(program: str) -> str:
    """What the real interpreter prints (full builtins), independent of run_program."""
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        exec(program, {})
    return buffer.getvalue().removesuffix("\n")


@pytest.mark.parametrize(("length", "nesting"), LEVELS)
def test_every_program_prints_its_target(length, nesting):
    pairs = make_programs(200, length=length, nesting=nesting, seed=length * 10 + nesting)
    for program, target in pairs:
        assert python_prints(program) == target, program
        assert re.fullmatch(r"-?\d+", target)
        assert set(program) <= set(SOURCE_CHARS) and set(target) <= set(TARGET_CHARS)
        assert program.splitlines()[-1].startswith("print(")


def literals(program: str) -> tuple[list[int], list[int]]:
    """``(constants, small numbers)`` of a program: loop counts and multiplication factors are
    small; in ``(a*b)`` with two literals the factor is the smaller one."""
    small: set[int] = set()                    # ids of the small literal nodes
    tree = ast.parse(program)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "range":
            small.add(id(node.args[0]))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            sides = [side for side in (node.left, node.right) if isinstance(side, ast.Constant)]
            small.add(id(min(sides, key=lambda side: side.value)))
    numbers = [n for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    return ([n.value for n in numbers if id(n) not in small],
            [n.value for n in numbers if id(n) in small])


def constants(program: str) -> list[str]:
    """The numeric literals of a program, minus loop counts and small factors."""
    return [str(value) for value in literals(program)[0]]


@pytest.mark.parametrize(("length", "nesting"), LEVELS)
def test_length_and_nesting_are_respected(length, nesting):
    for program, _ in make_programs(100, length=length, nesting=nesting, seed=7):
        numbers, small = literals(program)
        assert numbers and all(len(str(c)) == length for c in numbers), program
        if length > 1:  # with one-digit constants, (1*3) does not say which is the factor
            assert all(2 <= k <= 4 * length for k in small), program
        assert len(small) == program.count("*") + program.count("for ")
        # One operation per nesting level, each leaving exactly one trace: a binary + or -
        # (sums and assignments), a * (small multiplication), an " if " or a "for " loop.
        binary = (program.count("+") + program.count("-") - program.count("+=")
                  - program.count("-="))
        operations = (binary + program.count("*") + program.count(" if ")
                      + program.count("for "))
        assert operations == nesting, program
        assert program.count("for ") <= nesting and program.count(" if ") <= nesting


def test_programs_use_every_construct_of_the_lecture():
    text = "\n".join(p for p, _ in make_programs(300, length=2, nesting=2, seed=0))
    for construct in ("+", "-", "*", " if ", " else ", "for x in range(", "+=", "-=", "=",
                      "print(("):
        assert construct in text, construct
    assert any(t.startswith("-") for _, t in make_programs(300, 2, 2, seed=0))


def test_the_lecture_example_runs():
    program = "j=8584\nfor x in range(8):\n  j+=920\nb=(1500+j)\nprint((b+7567))"
    assert run_program(program) == "25011"


def test_run_program_has_no_builtins():
    with pytest.raises(NameError):
        run_program("print(len('abc'))")
    with pytest.raises(ImportError):
        run_program("import os")
    assert run_program("print(1, 2)\nprint(3)") == "1 2\n3"


def test_pure_functions_of_the_seed():
    assert make_programs(20, 3, 2, seed=5) == make_programs(20, 3, 2, seed=5)
    assert make_programs(20, 3, 2, seed=5) != make_programs(20, 3, 2, seed=6)
    assert make_programs(5, 3, 2, seed=5) == make_programs(20, 3, 2, seed=5)[:5]
    assert make_additions(30, 4, seed=1) == make_additions(30, 4, seed=1)
    assert make_additions(30, 4, seed=1) != make_additions(30, 4, seed=2)
    assert make_copies(30, 5, seed=1) == make_copies(30, 5, seed=1)
    for strategy in STRATEGIES:
        a = curriculum(strategy, 10, 2, 2, seed=3)
        b = curriculum(strategy, 10, 2, 2, seed=3)
        assert [s.examples for s in a] == [s.examples for s in b]


def test_generation_mismatch_would_raise(monkeypatch):
    import seqlab.programs as programs

    monkeypatch.setattr(programs, "run_program", lambda program: "wrong")
    with pytest.raises(ProgramError, match="expected"):
        programs.make_programs(1)


@pytest.mark.parametrize("digits", [1, 2, 3, 9])
def test_additions_are_correct_and_bounded(digits):
    pairs = make_additions(500, digits, seed=digits)
    lengths = []
    for source, target in pairs:
        a, b = source.split("+")
        assert int(a) + int(b) == int(target) and str(int(target)) == target
        assert str(int(a)) == a and str(int(b)) == b        # no leading zeros
        assert len(a) <= digits and len(b) <= digits
        lengths.append(len(a))
    assert max(lengths) == digits
    if digits > 1:
        assert min(lengths) < digits                       # "up to digits" digits
    assert make_additions(1, 3) == [("850+636", "1486")]


def test_copies():
    pairs = make_copies(50, 7, seed=0)
    assert all(s == t and len(s) == 7 and s.isdigit() for s, t in pairs)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_levels_must_be_positive_integers(bad):
    with pytest.raises(ValueError, match="positive integer"):
        make_programs(1, length=bad)
    with pytest.raises(ValueError, match="positive integer"):
        make_additions(1, digits=bad)


def test_curriculum_none_and_mix():
    [none] = curriculum("none", 40, length=3, nesting=2, seed=0)
    assert (none.length, none.nesting) == (3, 2) and len(none) == 40
    assert set(none.levels) == {(3, 2)}
    [mix] = curriculum("mix", 600, length=3, nesting=2, seed=0)
    assert len(mix) == 600
    assert set(mix.levels) == {(lv, nv) for lv in (1, 2, 3) for nv in (1, 2)}
    counts = np.array([mix.levels.count((lv, nv)) for lv in (1, 2, 3) for nv in (1, 2)])
    assert counts.min() > 600 / 6 * 0.6                       # roughly uniform
    for (program, target), (length, _) in zip(mix.examples, mix.levels, strict=True):
        assert python_prints(program) == target
        assert all(len(c) == length for c in constants(program))


def test_curriculum_naive_stages_grow_length_then_nesting():
    stages = curriculum("naive", 20, length=3, nesting=2, seed=0)
    assert [(s.length, s.nesting) for s in stages] == [(1, 1), (2, 1), (3, 1),
                                                        (1, 2), (2, 2), (3, 2)]
    for stage in stages:
        assert len(stage) == 20 and set(stage.levels) == {(stage.length, stage.nesting)}
        for program, target in stage.examples:
            assert python_prints(program) == target
            assert all(len(c) == stage.length for c in constants(program))


def test_curriculum_combined_mixes_each_stage():
    stages = curriculum("combined", 400, length=2, nesting=2, seed=0)
    assert [(s.length, s.nesting) for s in stages] == [(1, 1), (2, 1), (1, 2), (2, 2)]
    first = stages[0]
    at_stage = first.levels.count((1, 1)) / len(first)
    assert 0.55 < at_stage < 0.75              # 1/2 at the stage + 1/2 * 1/4 mixed draws
    assert len(set(first.levels)) == 4
    only_stage = curriculum("combined", 50, 2, 2, seed=0, mix_share=0.0)
    assert [s.levels for s in only_stage] == [[(s.length, s.nesting)] * 50 for s in only_stage]


def test_curriculum_other_tasks():
    [mix] = curriculum("mix", 300, length=4, task="additions", seed=0)
    assert {lv for lv, _ in mix.levels} == {1, 2, 3, 4}
    for (source, target), (digits, _) in zip(mix.examples, mix.levels, strict=True):
        a, b = source.split("+")
        assert int(a) + int(b) == int(target) and max(len(a), len(b)) <= digits
    stages = curriculum("naive", 5, length=3, task="copies", seed=0)
    assert [len(s.examples[0][0]) for s in stages] == [1, 2, 3]
    with pytest.raises(ValueError, match="no nesting"):
        curriculum("mix", 5, length=3, nesting=2, task="additions")
    with pytest.raises(ValueError, match="strategy"):
        curriculum("anti", 5, 2)
    with pytest.raises(ValueError, match="task"):
        curriculum("mix", 5, 2, task="sorting")


def test_vocabularies_cover_every_task():
    source, target = source_vocabulary(), target_vocabulary()
    assert source.itos[0] == "<pad>" and source.unknown_id is None
    assert (target.start_id, target.end_id) == (1, 2)
    pairs = (make_programs(50, 4, 3) + make_additions(50, 9) + make_copies(50, 9))
    for s, t in pairs:
        assert target.decode(target.encode(t, add_start=True, add_end=True)) == t
        assert source.decode(source.encode(s)) == s


def test_encode_pairs_pads_source_first_and_targets_last():
    pairs = [("12+5", "17"), ("3+4", "7")]
    encoded = encode_pairs(pairs, reverse=True)
    source, target = source_vocabulary(), target_vocabulary()
    assert encoded.source.shape == (2, 4) and encoded.target_in.shape == (2, 3)
    assert encoded.source.dtype == np.int32
    assert encoded.source[1, 0] == 0 and source.decode(encoded.source[1]) == "4+3"
    assert source.decode(encoded.source[0]) == "5+21"
    assert encoded.target_in[0].tolist() == [1, *target.encode("17")]
    assert encoded.target_out[0].tolist() == [*target.encode("17"), 2]
    assert encoded.target_in[1].tolist() == [1, target.lookup("7"), 0]
    assert encoded.target_out[1].tolist() == [target.lookup("7"), 2, 0]
    assert encoded.weights.tolist() == [[1, 1, 1], [1, 1, 0]]
    doubled = encode_pairs(pairs, double=True, source_len=10, target_len=4)
    assert doubled.source.shape == (2, 10) and source.decode(doubled.source[1]) == "3+43+4"
    assert prepare_source("ab", reverse=True, double=True) == "baba"
    with pytest.raises(ValueError, match="longer"):
        encode_pairs(pairs, source_len=3)


def test_exact_match():
    assert exact_match(["17", "8"], ["17", "7"]) == 0.5
    with pytest.raises(ValueError):
        exact_match(["1"], [])
