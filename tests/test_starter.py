"""The starter generator (seqlab.starter) and the generated starter/ folder."""

from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from seqlab import starter
from seqlab.starter import StarterError, generate, out_of_sync, render
from seqlab.student import student_module

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
STARTER = REPO / "starter"
STUDENT_FUNCTIONS = {"sentiment": ["build_embedding_matrix", "build_rnn_classifier",
                                   "build_cnn_classifier"]}


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


GOOD = dedent('''
    """A module."""

    import numpy as np

    SCALE = 2


    def double(x):
        """Twice ``x``."""
        # BEGIN SOLUTION hint: multiply by SCALE
        y = x * SCALE
        return y
        # END SOLUTION


    def shout(text, times=1):
        """Upper case, repeated."""
        if times < 1:
            raise ValueError("times must be positive")
        # BEGIN SOLUTION hint: use str.upper
        # STARTER: loud = ...  # your code
        loud = text.upper()
        # END SOLUTION
        # BEGIN SOLUTION
        return loud * times
        # END SOLUTION
''')


# --- the real starter/ folder -------------------------------------------------------------------

def test_starter_folder_in_sync(tmp_path):
    fresh = generate(SOLUTIONS, tmp_path)
    assert fresh, "solutions/ holds no module"
    for path in fresh:
        target = STARTER / path.name
        assert target.exists(), f"{target} missing: run python -m seqlab.starter"
        assert target.read_text() == path.read_text(), (
            f"{target} is out of date: run python -m seqlab.starter")
    assert out_of_sync(SOLUTIONS, STARTER) == []


@pytest.mark.parametrize("name", sorted(STUDENT_FUNCTIONS))
def test_starter_functions_raise_not_implemented(name):
    stub = student_module(name, impl="starter")
    solution = student_module(name, impl="solutions")
    matrix = np.zeros((10, 4), dtype=np.float32)
    arguments = {"build_embedding_matrix": (None, None)}
    for function in STUDENT_FUNCTIONS[name]:
        with pytest.raises(NotImplementedError, match=rf"^{function}: .*not implemented yet"):
            getattr(stub, function)(*arguments.get(function, (matrix,)))
        stub_fn, solution_fn = getattr(stub, function), getattr(solution, function)
        assert inspect.signature(stub_fn) == inspect.signature(solution_fn)
        assert stub_fn.__doc__ == solution_fn.__doc__
    assert stub.__doc__ == solution.__doc__


def test_starter_keeps_given_code():
    stub = student_module("sentiment", impl="starter")
    assert stub.CELLS == ("rnn", "gru", "lstm")
    with pytest.raises(ValueError, match="gru"):
        stub.build_rnn_classifier(np.zeros((10, 4)), cell="transformer")


def test_starter_has_no_solution_code():
    for path in STARTER.glob("*.py"):
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
        assert text.startswith("# Starter code generated from solutions/")


# --- render -------------------------------------------------------------------------------------

def test_render_replaces_regions():
    out = render(GOOD, "solutions/demo.py")
    assert out.startswith("# Starter code generated from solutions/demo.py")
    assert "x * SCALE" not in out and "text.upper()" not in out
    assert '    raise NotImplementedError("double: multiply by SCALE (not implemented yet)")' in out
    assert '    raise NotImplementedError("shout: use str.upper (not implemented yet)")' in out
    assert '    raise NotImplementedError("shout: write this part (not implemented yet)")' in out
    assert "    loud = ...  # your code\n    raise NotImplementedError(\"shout: use" in out
    # Everything outside the regions is kept.
    for kept in ('"""A module."""', "import numpy as np", "SCALE = 2", "def double(x):",
                 '"""Twice ``x``."""', 'raise ValueError("times must be positive")'):
        assert kept in out

    namespace: dict = {}
    exec(compile(out, "demo.py", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="double: multiply by SCALE"):
        namespace["double"](1)
    with pytest.raises(ValueError):
        namespace["shout"]("a", times=0)


def test_render_wraps_long_messages_and_escapes_quotes():
    hint = 'a "quoted" hint that goes on and on and on and on and on and on and on'
    source = ("def f():\n    if True:\n"
              f"        # BEGIN SOLUTION hint: {hint}\n        return 1\n        # END SOLUTION\n")
    out = render(source, "long.py")
    assert all(len(line) <= 100 for line in out.splitlines())
    namespace: dict = {}
    exec(compile(out, "long.py", "exec"), namespace)
    with pytest.raises(NotImplementedError) as info:
        namespace["f"]()
    assert str(info.value) == ('f: a "quoted" hint that goes on and on and on and on and on and '
                               'on and on (not implemented yet)')


def test_render_ignores_markers_inside_strings():
    source = dedent('''
        def f():
            """Docstring mentioning
            # BEGIN SOLUTION
            """
            # BEGIN SOLUTION hint: h
            return 1
            # END SOLUTION
    ''')
    out = render(source, "doc.py")
    assert out.count("raise NotImplementedError(\"") == 1
    assert "    # BEGIN SOLUTION\n" in out        # the docstring line is kept


def test_region_in_method_uses_method_name():
    source = dedent('''
        class A:
            def method(self):
                # BEGIN SOLUTION hint: h
                return 1
                # END SOLUTION
    ''')
    assert 'raise NotImplementedError("method: h (not implemented yet)")' in render(source, "m.py")


@pytest.mark.parametrize(("source", "line", "words"), [
    ('''
     def f():
         # BEGIN SOLUTION
         x = 1
         # BEGIN SOLUTION
         return x
         # END SOLUTION
     ''', 4, "nested"),
    ('''
     def f():
         return 1
         # END SOLUTION
     ''', 3, "without a BEGIN"),
    ('''
     def f():
         # BEGIN SOLUTION
         return 1
     ''', 2, "never closed"),
    ('''
     # BEGIN SOLUTION
     X = 1
     # END SOLUTION
     ''', 1, "outside any function"),
    ('''
     def f():
         # BEGIN SOLUTION
         return 1


     def g():
         return 2
         # END SOLUTION
     ''', 8, "not in f()"),
])
def test_render_errors_name_file_and_line(source, line, words):
    with pytest.raises(StarterError) as info:
        render(dedent(source), "solutions/bad.py")
    message = str(info.value)
    assert message.startswith(f"solutions/bad.py:{line}: ")
    assert words in message


def test_nested_message_names_both_lines():
    source = "def f():\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    pass\n    # END SOLUTION\n"
    with pytest.raises(StarterError, match=r"^x\.py:3: BEGIN SOLUTION inside the region opened "
                                           r"at line 2 \(nested regions are not allowed\)$"):
        render(source, "x.py")


# --- generate, check and the command line --------------------------------------------------------

def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seqlab.starter", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_generate_and_check(tmp_path):
    src, dst = tmp_path / "solutions", tmp_path / "starter"
    src.mkdir()
    (src / "demo.py").write_text(GOOD)
    shutil.copy(SOLUTIONS / "sentiment.py", src / "sentiment.py")
    written = generate(src, dst)
    assert sorted(p.name for p in written) == ["demo.py", "sentiment.py"]
    assert out_of_sync(src, dst) == []
    assert starter.main(["--check", "--src", str(src), "--dst", str(dst)]) == 0

    (dst / "demo.py").write_text((dst / "demo.py").read_text() + "# edited\n")
    (dst / "sentiment.py").unlink()
    (dst / "stale.py").write_text("")
    problems = out_of_sync(src, dst)
    assert len(problems) == 3
    assert any("demo.py" in p and "differs" in p for p in problems)
    assert any("sentiment.py" in p and "missing" in p for p in problems)
    assert any("stale.py" in p for p in problems)

    result = run_cli("--check", "--src", str(src), "--dst", str(dst), cwd=REPO)
    assert result.returncode == 1
    assert "demo.py" in result.stdout and "sentiment.py" in result.stdout

    result = run_cli("--src", str(src), "--dst", str(dst), cwd=REPO)
    assert result.returncode == 0, result.stderr
    (dst / "stale.py").unlink()
    assert run_cli("--check", "--src", str(src), "--dst", str(dst), cwd=REPO).returncode == 0


def test_cli_error_exits_2_without_traceback(tmp_path):
    src, dst = tmp_path / "solutions", tmp_path / "starter"
    src.mkdir()
    (src / "good.py").write_text(GOOD)
    (src / "bad.py").write_text("def f():\n    # BEGIN SOLUTION\n    return 1\n")
    result = run_cli("--src", "solutions", "--dst", "starter", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip() == ("solutions/bad.py:2: BEGIN SOLUTION is never closed "
                                     "(no END SOLUTION before the end of the file)")
    assert not dst.exists()              # nothing written when one file is malformed


def test_generated_starter_passes_ruff(tmp_path):
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed in this environment")
    result = subprocess.run([str(ruff), "check", "starter"], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
