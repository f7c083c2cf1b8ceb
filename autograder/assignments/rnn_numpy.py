"""The ``rnn_numpy`` assignment: a vanilla RNN, backprop through time and clipping (lab 1).

Every case calls one student function on NumPy inputs built here (fixed seeds) and the
checks compare the returned arrays with values the grader computes itself in this process
(``fundamentals_reference``): the forward pass, the loss, the gradient by central
differences of the loss (a numerical check, not the student's own backprop), global-norm
clipping and the Jacobian curve. When the numbers match a known mistake instead, the
message names it. NumPy only: the child does not even import TensorFlow.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from autograder.assignments import Assignment, Case
from autograder.assignments import fundamentals_reference as ref
from autograder.registry import check, failed, passed

NAME = "rnn_numpy"
FILENAME = "rnn_numpy.py"
USES_KERAS = False
FUNCTIONS = {
    "init_params": [("q", None), ("r", None), ("s", None), ("seed", "0")],
    "rnn_forward": [("params", None), ("x", None)],
    "rnn_loss_and_grads": [("params", None), ("x", None), ("targets", None)],
    "clip_by_global_norm": [("grads", None), ("max_norm", None)],
    "state_jacobian_norms": [("params", None), ("x", None)],
}
RECIPES: dict = {}
CASE_TIMEOUT = 15  # seconds per call: tiny NumPy inputs take milliseconds
MAX_NORM = 5.0
TOLERANCE = 1e-6          # forward values, losses, clipped gradients, Jacobian norms
GRAD_TOLERANCE = 1e-5     # relative L2 error of a gradient against central differences


def _params(q: int, r: int, s: int, seed: int, radius: float = 1.0) -> dict:
    """Random weights with nonzero biases; ``W_hh`` scaled to spectral radius ``radius``."""
    rng = np.random.default_rng(seed)
    w_hh = rng.normal(size=(r, r))
    w_hh *= radius / np.max(np.abs(np.linalg.eigvals(w_hh)))
    return {"W_hx": rng.normal(0, 0.8, size=(r, q)), "W_hh": w_hh,
            "b_h": rng.normal(0, 0.2, size=r), "W_y": rng.normal(0, 0.8, size=(s, r)),
            "b_y": rng.normal(0, 0.2, size=s)}


def _inputs() -> dict:
    rng = np.random.default_rng(2024)
    big = {"W_hx": rng.normal(size=(6, 4)) * 0.7, "W_hh": rng.normal(size=(6, 6)) * 0.5,
           "b_h": np.full(6, 2.4), "W_y": rng.normal(size=(5, 6)) * 0.6,
           "b_y": np.full(5, 0.3)}
    small = {k: v * 0.05 for k, v in big.items()}
    return {
        "params": _params(4, 6, 5, seed=1, radius=1.1),
        "x": rng.normal(size=(3, 7, 4)),
        "targets": rng.integers(0, 5, size=(3, 7)),
        "params_tiny": _params(2, 3, 2, seed=2),
        "x_one": rng.normal(size=(1, 1, 2)),
        "targets_one": np.array([[1]]),
        "x_long": rng.normal(size=(2, 12, 4)),
        # Gradient sets: each tensor's norm is below MAX_NORM except one, the global norm is
        # above it (clipping must scale all together); and one set below it (unchanged).
        "grads_big": big, "grads_small": small, "max_norm": MAX_NORM,
        "params_jac": _params(4, 6, 5, seed=3, radius=1.6),
        "x_jac": rng.normal(size=(10, 4)) * 0.5,
        "x_jac_one": rng.normal(size=(1, 4)),
    }


INPUTS = _inputs()


def _text(name: str) -> str:
    """How an input is named in messages: ``x (3, 7, 4)``, ``params (q=4, r=6, s=5)``."""
    value = INPUTS[name]
    label = name.split("_")[0] if name != "max_norm" else name
    if isinstance(value, dict) and "W_hx" in value:
        r, q = value["W_hx"].shape
        return f"{label} (q={q}, r={r}, s={value['W_y'].shape[0]})"
    if isinstance(value, dict):
        return f"{label} ({len(value)} arrays)"
    if isinstance(value, np.ndarray):
        return f"{label} {ref.shape_text(value.shape)}"
    return f"{label}={value!r}"


def _call(case_id, function, inputs=(), **kwargs):
    return Case(case_id, function, kwargs, kind="call", inputs=tuple(inputs),
                args_text=", ".join(_text(name) for name in inputs))


CASES = {c.id: c for c in (
    _call("init_a", "init_params", q=3, r=5, s=4, seed=7),
    _call("init_b", "init_params", q=3, r=5, s=4, seed=7),
    _call("init_c", "init_params", q=3, r=5, s=4, seed=8),
    _call("init_default", "init_params", q=2, r=3, s=2),
    _call("forward", "rnn_forward", ("params", "x")),
    _call("forward_one", "rnn_forward", ("params_tiny", "x_one")),
    _call("forward_long", "rnn_forward", ("params", "x_long")),
    _call("loss", "rnn_loss_and_grads", ("params", "x", "targets")),
    _call("loss_one", "rnn_loss_and_grads", ("params_tiny", "x_one", "targets_one")),
    _call("clip_big", "clip_by_global_norm", ("grads_big", "max_norm")),
    _call("clip_small", "clip_by_global_norm", ("grads_small", "max_norm")),
    _call("jacobian", "state_jacobian_norms", ("params_jac", "x_jac")),
    _call("jacobian_one", "state_jacobian_norms", ("params_jac", "x_jac_one")),
)}


def _args(case: Case) -> list:
    return [INPUTS[name] for name in case.inputs]


# ---------------------------------------------------------------- checks
ref.signature_check(NAME, FILENAME, FUNCTIONS, points=2)


ref.numpy_only_check(NAME, FILENAME, points=3, done_by_hand="every step and every gradient by hand")


@check("init_params: shapes, float64, seeded", points=5, assignment=NAME,
       function="init_params", timeout=CASE_TIMEOUT,
       needs=("init_a", "init_b", "init_c", "init_default"))
def init_params(obs):
    for case_id in ("init_a", "init_default"):
        kwargs = {"seed": 0, **obs.cases[case_id].kwargs}
        q, r, s = kwargs["q"], kwargs["r"], kwargs["s"]
        want = {"W_hx": (r, q), "W_hh": (r, r), "b_h": (r,), "W_y": (s, r), "b_y": (s,)}
        got = obs.arrays[case_id]
        call = obs.call(case_id)
        if not isinstance(got, dict):
            return failed(f"{call}: expected a dict of five arrays, got {type(got).__name__}")
        if set(got) != set(want):
            return failed(f"{call}: expected the keys {sorted(want)}, got {sorted(got)}")
        for key, shape in want.items():
            if not ref.has_shape(got[key], shape):
                return failed(f"{call}: expected {key} of shape {ref.shape_text(shape)}, got "
                              f"{ref.describe(got[key])}")
            if got[key].dtype != np.float64:
                return failed(f"{call}: expected {key} as float64, got {got[key].dtype}")
            if not np.all(np.isfinite(got[key])):
                return failed(f"{call}: {key} holds NaN or infinite values")
        for key in ("W_hx", "W_hh", "W_y"):
            if np.allclose(got[key], got[key].flat[0]):
                return failed(f"{call}: expected random values in {key}, got every entry equal "
                              f"to {got[key].flat[0]:.3g}: equal weights make all state units "
                              "learn the same thing")
    a, b, c = (obs.arrays[k] for k in ("init_a", "init_b", "init_c"))
    if any(not np.array_equal(a[k], b[k]) for k in a):
        return failed(f"{obs.call('init_a')} twice gave different weights: draw them from "
                      "np.random.default_rng(seed)")
    if all(np.array_equal(a[k], c[k]) for k in a if k.startswith("W")):
        return failed(f"{obs.call('init_a')} and seed=8 gave the same weights: use the seed")
    return passed("five float64 arrays of the right shapes, random, the same for the same seed")


def _forward_shapes(obs, case_id):
    case = obs.cases[case_id]
    params, x = _args(case)
    batch, steps, _ = x.shape
    want_h = (batch, steps, params["W_hh"].shape[0])
    want_logits = (batch, steps, params["W_y"].shape[0])
    got = obs.arrays[case_id]
    where = f"{obs.call(case_id)} with x of shape {ref.shape_text(x.shape)}"
    if not isinstance(got, tuple) or len(got) != 2:
        return f"{where}: expected a tuple (h, logits)"
    for label, array, want in (("h", got[0], want_h), ("logits", got[1], want_logits)):
        if not ref.has_shape(array, want):
            return (f"{where}: expected {label} of shape {ref.shape_text(want)} (batch, T, "
                    f"{'r' if label == 'h' else 's'}), got {ref.describe(array)}")
    return None


@check("rnn_forward: shapes (batch, T, r) and (batch, T, s)", points=5, assignment=NAME,
       function="rnn_forward", timeout=CASE_TIMEOUT,
       needs=("forward", "forward_one", "forward_long"))
def forward_shapes(obs):
    for case_id in ("forward", "forward_one", "forward_long"):
        problem = _forward_shapes(obs, case_id)
        if problem:
            return failed(problem)
    return passed("h and logits have the right shapes for batch 1-3 and T = 1, 7, 12")


def _forward_hint(params, x, h) -> str:
    """A guess at what went wrong, from the first step's state."""
    first = np.tanh(x[:, 0] @ params["W_hx"].T + params["b_h"])
    if not ref.close(h[:, 0], first):
        if ref.close(h[:, 0], x[:, 0] @ params["W_hx"].T + params["b_h"]):
            return ": apply tanh to the pre-activation"
        if ref.close(h[:, 0], np.tanh(x[:, 0] @ params["W_hx"].T)):
            return ": the bias b_h is missing"
        return (": already the first state h[:, 0] = tanh(W_hx x[:, 0] + b_h) (zero state "
                "before it) differs")
    return ": the first step is right, so look at how the state is carried to the next step"


@check("rnn_forward: values of h and logits", points=8, assignment=NAME,
       function="rnn_forward", timeout=CASE_TIMEOUT,
       needs=("forward", "forward_one", "forward_long"))
def forward_values(obs):
    for case_id in ("forward", "forward_one", "forward_long"):
        if _forward_shapes(obs, case_id):
            return failed("the shapes are wrong (see the shape check), so the values cannot "
                          "be compared")
        params, x = _args(obs.cases[case_id])
        want_h, want_logits = ref.rnn_forward(params, x)
        h, logits = obs.arrays[case_id]
        if not ref.close(h, want_h):
            return failed(f"{obs.call(case_id)}: h is wrong {ref.worst(h, want_h)}"
                          f"{_forward_hint(params, x, h)}")
        if not ref.close(logits, want_logits):
            hint = ""
            if ref.close(logits, h @ params["W_y"].T):
                hint = ": the bias b_y is missing"
            return failed(f"{obs.call(case_id)}: h is right but logits are wrong "
                          f"{ref.worst(logits, want_logits)}{hint}")
    return passed("h and logits equal the grader's forward pass to 1e-6")


def _loss_problem(obs, case_id) -> str | None:
    params, x, targets = _args(obs.cases[case_id])
    got = obs.arrays[case_id]
    call = obs.call(case_id)
    if not isinstance(got, tuple) or len(got) != 2:
        return f"{call}: expected a tuple (loss, grads)"
    loss = got[0]
    if not ref.has_shape(loss, ()):
        return f"{call}: expected the loss as one number, got {ref.describe(loss)}"
    want = ref.rnn_loss(params, x, targets)
    if ref.close(loss, want, atol=1e-8, rtol=TOLERANCE):
        return None
    value = float(loss)
    batch, steps = targets.shape
    hints = [(want * batch * steps,
              f"the sum, not the mean over batch and time (x {batch * steps})"),
             (want * steps, f"averaged over the batch only, not over time (x {steps})"),
             (want * batch, f"averaged over time only, not over the batch (x {batch})"),
             (want / np.log(2), "in bits (log2); use the natural log")]
    for other, why in hints:
        if batch * steps > 1 and np.isclose(value, other, rtol=1e-6):
            return f"{call}: expected loss {want:.6g}, got {value:.6g}: {why}"
    return f"{call}: expected loss {want:.6g} (mean cross-entropy), got {value:.6g}"


@check("rnn_loss_and_grads: the loss (mean softmax cross-entropy)", points=6, assignment=NAME,
       function="rnn_loss_and_grads", timeout=CASE_TIMEOUT,
       needs=("loss", "loss_one"))
def loss_value(obs):
    for case_id in ("loss", "loss_one"):
        problem = _loss_problem(obs, case_id)
        if problem:
            return failed(problem)
    return passed("the mean cross-entropy over batch and time, as the grader computes it")


@lru_cache(maxsize=4)
def _expected_grads(case_id: str) -> dict:
    """The gradient by central differences of the grader's loss (this process)."""
    params, x, targets = _args(CASES[case_id])
    return ref.numerical_grads(params, x, targets)


def _grad_hint(name, got, params, x, targets, want) -> str:
    batch, steps = targets.shape
    if np.allclose(got, 0) and not np.allclose(want, 0):
        return f": the gradient of {name} is all zeros: is it never accumulated?"
    variants = (("truncate", dict(truncate=1), "did backprop stop after one step? The gradient "
                 "reaching h_t must also carry what flows back from step t+1 through W_hh"),
                ("tanh", dict(tanh_derivative=False), "is the tanh derivative (1 - h**2) missing?"))
    for _, kwargs, why in variants:
        if ref.close(got, ref.rnn_grads(params, x, targets, **kwargs)[name]):
            return f": {why}"
    if ref.close(got, want * batch * steps, rtol=1e-4):
        return f": {batch * steps} times too large: the loss is a mean over batch and time"
    if got.shape == want.shape and got.ndim == 2 and got.shape[0] == got.shape[1] and \
            ref.close(got, want.T, rtol=1e-4):
        return ": it is the transpose of the right gradient"
    return ""


def _grads_check(obs, names: tuple[str, ...], label: str):
    for case_id in ("loss", "loss_one"):
        got = obs.arrays[case_id]
        call = obs.call(case_id)
        if not isinstance(got, tuple) or len(got) != 2 or not isinstance(got[1], dict):
            return failed(f"{call}: expected a tuple (loss, grads) with grads a dict")
        grads = got[1]
        params, x, targets = _args(obs.cases[case_id])
        want = _expected_grads(case_id)
        missing = [n for n in names if n not in grads]
        if missing:
            return failed(f"{call}: grads has no {', '.join(repr(n) for n in missing)} "
                          f"(expected the keys of params: {', '.join(ref.PARAM_NAMES)})")
        for name in names:
            g = grads[name]
            if not ref.has_shape(g, want[name].shape):
                return failed(f"{call}: expected the gradient of {name} of shape "
                              f"{ref.shape_text(want[name].shape)} like params[{name!r}], got "
                              f"{ref.describe(g)}")
            error = ref.relative_error(g, want[name])
            if not np.isfinite(error) or error > GRAD_TOLERANCE:
                off = "NaN or infinite values" if not np.isfinite(error) else \
                    f"off by {error:.0%}" if error >= 0.01 else f"off by {error:.2g} (relative)"
                return failed(f"{call}: gradient of {name} is {off}, largest difference "
                              f"{ref.worst(g, want[name])} (the grader's numerical gradient)"
                              f"{_grad_hint(name, g, params, x, targets, want[name])}")
    return passed(f"{label} match the grader's central-difference gradient to "
                  f"{GRAD_TOLERANCE:g} (relative)")


@check("rnn_loss_and_grads: gradients of the output layer (W_y, b_y)", points=6,
       assignment=NAME, function="rnn_loss_and_grads", timeout=CASE_TIMEOUT,
       needs=("loss", "loss_one"), visibility="after_published")
def output_grads(obs):
    return _grads_check(obs, ("W_y", "b_y"), "the gradients of W_y and b_y")


@check("rnn_loss_and_grads: gradients through time (W_hx, W_hh, b_h)", points=12,
       assignment=NAME, function="rnn_loss_and_grads", timeout=CASE_TIMEOUT,
       needs=("loss", "loss_one"))
def recurrent_grads(obs):
    return _grads_check(obs, ("W_hh", "W_hx", "b_h"), "the gradients of W_hx, W_hh and b_h")


@check("clip_by_global_norm: one common scale when the global norm is too large", points=7,
       assignment=NAME, function="clip_by_global_norm", timeout=CASE_TIMEOUT,
       needs=("clip_big", "clip_small"))
def clipping(obs):
    for case_id in ("clip_big", "clip_small"):
        grads = INPUTS[obs.cases[case_id].inputs[0]]
        got = obs.arrays[case_id]
        call = obs.call(case_id)
        if not isinstance(got, dict) or set(got) != set(grads):
            keys = sorted(got) if isinstance(got, dict) else type(got).__name__
            return failed(f"{call}: expected a dict with the keys {sorted(grads)}, got {keys}")
        want = ref.clip_global(grads, MAX_NORM)
        norm = np.sqrt(sum(np.sum(g**2) for g in grads.values()))
        for name in grads:
            if not ref.has_shape(got[name], grads[name].shape):
                return failed(f"{call}: expected {name} of shape "
                              f"{ref.shape_text(grads[name].shape)}, got "
                              f"{ref.describe(got[name])}")
        if all(ref.close(got[n], want[n], atol=1e-9, rtol=TOLERANCE) for n in grads):
            continue
        if norm <= MAX_NORM:
            return failed(f"{call}: the global norm {norm:.3g} is below max_norm={MAX_NORM:g}, "
                          "so the gradients must come back unchanged; got changed values")
        factors = [float(np.linalg.norm(got[n]) / max(np.linalg.norm(grads[n]), 1e-300))
                   for n in grads]
        per_tensor = ref.clip_per_tensor(grads, MAX_NORM)
        if all(ref.close(got[n], per_tensor[n], atol=1e-9) for n in grads):
            why = ("each gradient was clipped by its own norm (per-tensor): compute one norm "
                   "over all of them together and scale every array by the same factor")
        else:
            why = "scale every array by max_norm / global_norm"
        return failed(f"{call}: global norm {norm:.3g} > max_norm={MAX_NORM:g}, so expected "
                      f"every gradient scaled by the same factor {MAX_NORM / norm:.3f}, got "
                      f"factors {', '.join(f'{f:.3f}' for f in factors)}: {why}")
    return passed("one global norm, one common factor; unchanged below max_norm")


@check("state_jacobian_norms: the curve of Jacobian norms ||dh_T/dh_k||", points=6,
       assignment=NAME,
       function="state_jacobian_norms", timeout=CASE_TIMEOUT,
       needs=("jacobian", "jacobian_one"))
def jacobian(obs):
    for case_id in ("jacobian", "jacobian_one"):
        params, x = _args(obs.cases[case_id])
        got = obs.arrays[case_id]
        call = obs.call(case_id)
        steps, size = x.shape[0], params["W_hh"].shape[0]
        if not ref.has_shape(got, (steps,)):
            return failed(f"{call} with x of shape {ref.shape_text(x.shape)}: expected shape "
                          f"({steps},), one norm per step, got {ref.describe(got)}")
        want = ref.jacobian_norms(params, x)
        if ref.close(got, want, atol=1e-9, rtol=TOLERANCE):
            continue
        if not np.isclose(got[-1], np.sqrt(size)):
            return failed(f"{call}: the last entry is ||dh_T/dh_T|| = ||I|| (Frobenius) = "
                          f"sqrt({size}) = "
                          f"{np.sqrt(size):.6g}, got {got[-1]:.6g}")
        hints = ((ref.jacobian_norms(params, x, tanh_derivative=False),
                  "each step's Jacobian is diag(1 - h_t**2) @ W_hh: the tanh derivative is "
                  "missing"),
                 (ref.jacobian_norms(params, x, shift=-1),
                  "the tanh derivative is taken at the wrong step: dh_t/dh_(t-1) uses "
                  "1 - h_t**2, the state the step produces"),
                 (ref.jacobian_norms(params, x, ord=2),
                  "these are spectral norms (largest singular value); use the Frobenius norm, "
                  "np.linalg.norm(J)"),
                 (want[::-1], "the curve is reversed: entry k is for dh_T/dh_(k+1), so the last "
                              "entry is sqrt(r)"))
        why = next((text for other, text in hints if ref.close(got, other, rtol=1e-6)), "")
        return failed(f"{call}: norms differ {ref.worst(got, want)}"
                      f"{': ' + why if why else ''}")
    return passed("the Frobenius norms of dh_T/dh_(k+1) for every k, ending at sqrt(r)")


class RnnNumpy(Assignment):
    NAME, FILENAME, FUNCTIONS, CASES = NAME, FILENAME, FUNCTIONS, CASES
    INPUTS, USES_KERAS = INPUTS, USES_KERAS


ASSIGNMENT = RnnNumpy()
