"""Outcome 4: the child's word is never believed.

Modules that forge the child's protocol events on the result pipe, monkeypatch NumPy, or
load a framework in the NumPy-only ``rnn_numpy`` and then hide it from ``sys.modules``:
none of them may earn a point their code did not earn. Loading a framework must fail
structurally (the import itself fails), so the module scores 0 with one clear sentence.
"""

from __future__ import annotations

import pytest

from autograder import isolation
from tests.attacks import (
    FUNCTIONS,
    REFERENCE,
    grade_rnn,
    messages,
    points,
    prepend,
    write_module,
)
from tests.submissions import is_question

TASK_IDS = ["signatures", "init_a", "init_b", "init_c", "init_default", "forward",
            "forward_one", "forward_long", "loss", "loss_one", "clip_big", "clip_small",
            "jacobian", "jacobian_one", "imports"]

FORGE = r'''
import json
import os
import sys

_SIGNATURES = {
    "init_params": {"parameters": [{"name": n, "kind": "POSITIONAL_OR_KEYWORD", "default": d}
                                   for n, d in (("q", None), ("r", None), ("s", None),
                                                ("seed", "0"))]},
    "rnn_forward": {"parameters": [{"name": n, "kind": "POSITIONAL_OR_KEYWORD", "default": None}
                                   for n in ("params", "x")]},
    "rnn_loss_and_grads": {"parameters": [{"name": n, "kind": "POSITIONAL_OR_KEYWORD",
                                           "default": None} for n in ("params", "x", "targets")]},
    "clip_by_global_norm": {"parameters": [{"name": n, "kind": "POSITIONAL_OR_KEYWORD",
                                            "default": None} for n in ("grads", "max_norm")]},
    "state_jacobian_norms": {"parameters": [{"name": n, "kind": "POSITIONAL_OR_KEYWORD",
                                             "default": None} for n in ("params", "x")]},
}


def _task_ids():
    ids = list(@IDS@)
    for arg in sys.argv[1:]:  # the spec, if the child was given one it can read
        try:
            ids = [t["id"] for t in json.load(open(arg))["tasks"]] + ids
        except Exception:
            pass
    return list(dict.fromkeys(ids))


def _pipes():
    fds = set()
    if os.environ.get("SEQLAB_RESULT_FD", "").isdigit():
        fds.add(int(os.environ["SEQLAB_RESULT_FD"]))
    for name in os.listdir("/proc/self/fd"):
        try:
            if int(name) > 2 and os.readlink(f"/proc/self/fd/{name}").startswith("pipe:"):
                fds.add(int(name))
        except (OSError, ValueError):
            pass
    return sorted(fds)


def _forge():
    lines = [{"event": "ready", "functions": _SIGNATURES}]
    for task in _task_ids():
        lines += [{"event": "start", "id": task},
                  {"event": "done", "id": task, "status": "ok", "message": "", "seconds": 0.0,
                   "data": {"functions": _SIGNATURES, "modules": [],
                            "structure": {"type": "array", "key": "r"}}}]
    payload = "".join(json.dumps(line) + "\n" for line in lines).encode()
    for fd in _pipes():
        try:
            os.write(fd, payload)
        except OSError:
            pass


_forge()
os._exit(0)  # honestly a crash at import; and the real events cannot contradict the forgery
'''


def test_forged_protocol_events_earn_nothing(tmp_path):
    """No functions at all, and the process exits at import: forged "ready" (all five
    signatures) and "done ok" events for every task (imports: none) must earn nothing."""
    folder = write_module(tmp_path / "sub", FORGE.replace("@IDS@", repr(TASK_IDS)))
    result = grade_rnn(folder)
    assert len(result.tests) >= 7
    assert result.score == 0, {t.name: (t.points, t.message) for t in result.tests if t.points}


def test_forged_events_after_a_correct_import_earn_only_what_the_code_earns(tmp_path):
    """The reference minus its gradients (rnn_loss_and_grads returns zeros) forges "done ok"
    for every task from inside each call: the gradient checks still score 0."""
    source = REFERENCE.replace("def rnn_loss_and_grads(", "def _true_loss_and_grads(", 1) + (
        FORGE.split("_forge()\nos._exit")[0] + "\n\n"
        "def rnn_loss_and_grads(params, x, targets):\n"
        "    _forge()\n"
        "    loss, grads = _true_loss_and_grads(params, x, targets)\n"
        "    return loss, {k: np.zeros_like(v) for k, v in grads.items()}\n").replace(
        "@IDS@", repr(TASK_IDS))
    result = grade_rnn(write_module(tmp_path / "sub", source))
    gradients = [t for t in result.tests if t.name.startswith("rnn_loss_and_grads: gradients")]
    assert len(gradients) == 2
    assert all(t.points == 0 for t in gradients), [(t.name, t.message) for t in gradients]


PATCHES = r'''
import numpy as np
for _name in ("allclose", "array_equal", "isclose", "isfinite", "all", "any"):
    setattr(np, _name, lambda *a, **k: True)
np.testing.assert_allclose = lambda *a, **k: None
np.linalg.norm = lambda *a, **k: 0.0
try:
    np.ndarray.__eq__ = lambda self, other: True
except TypeError:
    pass
'''


def test_monkeypatched_numpy_earns_nothing(tmp_path):
    """Garbage answers (zeros of the right shapes) with NumPy's comparisons patched to say
    "equal": every function check scores 0."""
    source = prepend(PATCHES) + (
        "\n\ndef init_params(q, r, s, seed=0):\n"
        "    return {'W_hx': np.zeros((r, q)), 'W_hh': np.zeros((r, r)), 'b_h': np.zeros(r),\n"
        "            'W_y': np.zeros((s, r)), 'b_y': np.zeros(s)}\n\n\n"
        "def rnn_forward(params, x):\n"
        "    b, t, _ = x.shape\n"
        "    r, s = params['W_hh'].shape[0], params['W_y'].shape[0]\n"
        "    return np.zeros((b, t, r)), np.zeros((b, t, s))\n")
    result = grade_rnn(write_module(tmp_path / "sub", source))
    earned = {t.name: t.points for t in result.tests if t.name.startswith(FUNCTIONS) and t.points}
    assert not earned, earned


HIDE = '''
def _hide():
    for name in list(sys.modules):
        if name.split(".")[0] in ("tensorflow", "keras", "torch", "jax", "autograd",
                                  "_stolen_tf") or "tensorflow" in name:
            del sys.modules[name]


@LOAD@
_hide()
'''

LOADS = {
    "import keras": "import keras as _framework",
    "__import__('tensorflow')": "_framework = __import__('tensorflow')",
    "importlib from the file": (
        "import importlib.util as _util\n"
        "_spec = _util.find_spec('tensorflow')\n"
        "_spec = _util.spec_from_file_location('_stolen_tf', _spec.origin,\n"
        "                                      submodule_search_locations=[])\n"
        "_framework = _util.module_from_spec(_spec)\n"
        "_spec.loader.exec_module(_framework)"),
}


@pytest.mark.slow
@pytest.mark.parametrize("how", list(LOADS))
def test_a_framework_in_a_numpy_only_module_fails_at_import(tmp_path, how):
    """The reference that also loads a framework, then deletes it from sys.modules: the
    import must fail, every check scores 0, with one clear sentence naming the cause."""
    source = prepend("import sys\n" + HIDE.replace("@LOAD@", LOADS[how]))
    result = grade_rnn(write_module(tmp_path / "sub", source))
    assert result.score == 0, {t.name: t.points for t in result.tests if t.points}
    sentences = {t.message for t in result.tests if not is_question(t)}  # no answers.json
    assert len(sentences) == 1, sentences
    sentence = sentences.pop()
    assert "Traceback" not in sentence and "\n" not in sentence
    assert "rnn_numpy.py" in sentence


NESTED_NAMESPACE_ESCAPE = r'''
import subprocess as _sp, sys as _sys
_probe = """
import ctypes, importlib.util
libc = ctypes.CDLL(None, use_errno=True)
libc.unshare(0x10000000 | 0x00020000)  # a new user + mount namespace: 'root' in there
spec = importlib.util.find_spec('keras')
if spec and spec.submodule_search_locations:
    libc.umount2(list(spec.submodule_search_locations)[0].encode(), 2)  # unmask keras?
import keras
print('IMPORTED', keras.__version__)
"""
_out = _sp.run([_sys.executable, "-I", "-c", _probe], capture_output=True, text=True).stdout
if "IMPORTED" in _out:
    raise RuntimeError("escaped the mask: " + _out)
'''


@pytest.mark.skipif(isolation.detect().level != "bubblewrap",
                    reason="the frameworks are masked only inside bubblewrap")
def test_a_nested_user_namespace_cannot_unmask_the_frameworks(tmp_path):
    """'root' in a user namespace of its own, the module tries to unmount the mask over
    Keras; the kernel keeps mounts inherited from the grader's namespace locked."""
    source = prepend(NESTED_NAMESPACE_ESCAPE)
    result = grade_rnn(write_module(tmp_path / "nested", source), functions=("init_params",))
    assert points(result)["init_params: shapes, float64, seeded"] == 5, messages(result)
