"""Public checks of lab 01's ``rnn_numpy.py`` (NumPy only: nothing here imports Keras).

Values come from ``fixtures/rnn_numpy.npz``: fixed small inputs and the outputs recorded for
them (forward pass, loss and exact gradient, clipping, Jacobian norms).
"""

from __future__ import annotations

import numpy as np

from seqlab.checks import fixture_data as fx
from seqlab.checks.core import Mismatch, describe, expect_close, expect_shape, public_check

NAME = "rnn_numpy"
TIMEOUT = 10.0
KEYS = ("W_hx", "W_hh", "b_h", "W_y", "b_y")


def param_text(params: dict) -> str:
    r, q = params["W_hx"].shape
    return f"params (q={q}, r={r}, s={params['W_y'].shape[0]})"


def expect_dict(got, want_keys, call: str) -> dict:
    """``got`` as a dict with exactly ``want_keys``, else a :class:`Mismatch`."""
    if not isinstance(got, dict):
        raise Mismatch(f"{call}: expected a dict", f"dict with keys {sorted(want_keys)}",
                       describe(got))
    if set(got) != set(want_keys):
        raise Mismatch(f"{call}: wrong keys", str(sorted(want_keys)), str(sorted(got)))
    return got


@public_check("init_params", "init_params: five float64 arrays of the right shapes", TIMEOUT)
def init_shapes(mod):
    q, r, s = 3, 5, 4
    want = {"W_hx": (r, q), "W_hh": (r, r), "b_h": (r,), "W_y": (s, r), "b_y": (s,)}
    call = f"init_params(q={q}, r={r}, s={s}, seed=7)"
    got = expect_dict(mod.init_params(q, r, s, seed=7), want, call)
    for key, shape in want.items():
        array = expect_shape(got[key], shape, key, call)
        if array.dtype != np.float64:
            raise Mismatch(f"{call}: {key} is not float64", "float64", str(array.dtype))
    return "W_hx (5, 3), W_hh (5, 5), b_h (5,), W_y (4, 5), b_y (4,), float64", "the same"


@public_check("init_params", "init_params: random weights, the same for the same seed", TIMEOUT)
def init_seeded(mod):
    a, b, c = (mod.init_params(3, 5, 4, seed=seed) for seed in (7, 7, 8))
    call = "init_params(3, 5, 4, seed=7)"
    for key in ("W_hx", "W_hh", "W_y"):
        array = np.asarray(a[key])
        if np.allclose(array, array.flat[0]):
            raise Mismatch(f"{call}: every entry of {key} is equal: equal weights make all "
                           "state units learn the same thing", f"random {key}",
                           f"all {array.flat[0]:.3g}")
    if any(not np.array_equal(a[k], b[k]) for k in KEYS):
        raise Mismatch(f"{call} twice gave different weights: draw them from "
                       "np.random.default_rng(seed)", "the same arrays", "different arrays")
    if all(np.array_equal(a[k], c[k]) for k in ("W_hx", "W_hh", "W_y")):
        raise Mismatch("seed=7 and seed=8 gave the same weights: use the seed",
                       "different weights", "the same weights")
    return "same seed: same weights; seed 8: other weights", "as expected"


def _forward(mod, case: str) -> tuple[str, dict, np.ndarray, np.ndarray]:
    data, params = fx.group(NAME, case), fx.params(NAME, case)
    call = f"rnn_forward({param_text(params)}, x {data['x'].shape})"
    got = mod.rnn_forward(params, data["x"].copy())
    if not isinstance(got, tuple) or len(got) != 2:
        raise Mismatch(f"{call}: expected a tuple (h, logits)", "tuple (h, logits)",
                       describe(got))
    return call, data, np.asarray(got[0]), np.asarray(got[1])


@public_check("rnn_forward", "rnn_forward: shapes (batch, T, r) and (batch, T, s)", TIMEOUT)
def forward_shapes(mod):
    for case in ("forward", "forward_one"):
        call, data, h, logits = _forward(mod, case)
        expect_shape(h, data["h"].shape, "h", call)
        expect_shape(logits, data["logits"].shape, "logits", call)
    return "h (3, 7, 6), logits (3, 7, 5); (1, 1, 3), (1, 1, 2)", "the same"


@public_check("rnn_forward", "rnn_forward: values of h and logits", TIMEOUT)
def forward_values(mod):
    for case in ("forward", "forward_one"):
        call, data, h, logits = _forward(mod, case)
        hint = ""
        if h.shape == data["h"].shape and np.allclose(h[:, 0], data["h"][:, 0], atol=1e-6):
            hint = ("; the first step is right, so look at how the state is carried: "
                    "W_hh h[t-1] (is W_hh transposed?)")
        gap = expect_close(h, data["h"], "h", call, hint=hint)
        expect_close(logits, data["logits"], "logits", call,
                     hint="; h is right, so look at logits = W_y h + b_y")
    return "h, logits as recorded (to 1e-6)", gap


def _loss(mod) -> tuple[str, dict, object, object]:
    data, params = fx.group(NAME, "loss"), fx.params(NAME, "loss")
    call = (f"rnn_loss_and_grads({param_text(params)}, x {data['x'].shape}, "
            f"targets {data['targets'].shape})")
    got = mod.rnn_loss_and_grads(params, data["x"].copy(), data["targets"].copy())
    if not isinstance(got, tuple) or len(got) != 2:
        raise Mismatch(f"{call}: expected a tuple (loss, grads)", "tuple (loss, grads)",
                       describe(got))
    return call, data, got[0], got[1]


@public_check("rnn_loss_and_grads", "rnn_loss_and_grads: the mean cross-entropy", TIMEOUT)
def loss_value(mod):
    call, data, loss, _ = _loss(mod)
    want = float(data["loss"])
    try:
        value = float(np.asarray(loss).reshape(()))
    except (TypeError, ValueError):
        raise Mismatch(f"{call}: the loss is not one number", f"{want:.6f}",
                       describe(loss)) from None
    if not abs(value - want) <= 1e-6:
        steps = int(np.prod(data["targets"].shape))
        hint = ""
        if abs(value - want * steps) <= 1e-5:
            hint = ": that is the sum; take the mean over batch and time"
        elif abs(value - want * data["targets"].shape[1]) <= 1e-5:
            hint = ": divide by batch * T, not by the batch size only"
        raise Mismatch(f"{call}: wrong loss{hint}", f"{want:.6f}", f"{value:.6f}")
    return f"{want:.6f}", f"{value:.6f}"


@public_check("rnn_loss_and_grads", "rnn_loss_and_grads: the exact gradient (BPTT)", TIMEOUT)
def loss_grads(mod):
    call, _, _, grads = _loss(mod)
    want = fx.group(NAME, "loss.grads")
    grads = expect_dict(grads, want, call)
    worst = 0.0
    for key in KEYS:
        array = expect_shape(grads[key], want[key].shape, f"grads[{key!r}]", call)
        error = float(np.linalg.norm(array - want[key]) / max(np.linalg.norm(want[key]), 1e-12))
        if not error <= 1e-5:
            raise Mismatch(f"{call}: grads[{key!r}] is off (relative error {error:.2g}); "
                           "check it against a numerical gradient, as the lab does",
                           f"{key} {np.round(want[key].reshape(-1)[:4], 4).tolist()}",
                           f"{key} {np.round(array.reshape(-1)[:4], 4).tolist()}")
        worst = max(worst, error)
    return "all five gradients as recorded", f"relative error {worst:.1e}"


def _clip(mod, case: str) -> tuple[str, dict, dict, float]:
    grads = {k: v.copy() for k, v in fx.group(NAME, f"{case}.grads").items()}
    max_norm = float(fx.arrays(NAME)[f"{case}.max_norm"])
    norm = float(np.sqrt(sum(np.sum(v ** 2) for v in grads.values())))
    call = f"clip_by_global_norm(grads (global norm {norm:.3g}), max_norm={max_norm:g})"
    got = expect_dict(mod.clip_by_global_norm(grads, max_norm), grads, call)
    return call, got, fx.group(NAME, f"{case}.clipped"), norm


@public_check("clip_by_global_norm", "clip_by_global_norm: above max_norm, all scaled together",
              TIMEOUT)
def clip_big(mod):
    call, got, want, norm = _clip(mod, "clip_big")
    for key in KEYS:
        expect_close(got[key], want[key], f"grads[{key!r}]", call,
                     hint=f": scale every gradient by max_norm / {norm:.3g} (the global norm "
                          "over all of them, not each one's own)")
    new = float(np.sqrt(sum(np.sum(np.asarray(got[k]) ** 2) for k in KEYS)))
    return f"global norm {norm:.3g} -> 5", f"global norm {new:.3g}"


@public_check("clip_by_global_norm", "clip_by_global_norm: below max_norm, unchanged", TIMEOUT)
def clip_small(mod):
    call, got, want, norm = _clip(mod, "clip_small")
    for key in KEYS:
        expect_close(got[key], want[key], f"grads[{key!r}]", call,
                     hint=": the global norm is below max_norm, so nothing changes")
    return f"global norm {norm:.3g} kept", "unchanged"


@public_check("state_jacobian_norms", "state_jacobian_norms: the curve ||dh[T]/dh[k+1]||",
              TIMEOUT)
def jacobian(mod):
    data, params = fx.group(NAME, "jacobian"), fx.params(NAME, "jacobian")
    call = f"state_jacobian_norms({param_text(params)}, x {data['x'].shape})"
    got = expect_shape(mod.state_jacobian_norms(params, data["x"].copy()),
                       data["norms"].shape, "norms", call)
    r = params["W_hh"].shape[0]
    if abs(float(got[-1]) - np.sqrt(r)) > 1e-6:
        raise Mismatch(f"{call}: the last entry is ||dh[T]/dh[T]|| = ||I|| = sqrt(r)",
                       f"last {np.sqrt(r):.4f}", f"last {float(got[-1]):.4f}")
    hint = ""
    if np.allclose(got[::-1], data["norms"], atol=1e-6):
        hint = ": the curve is reversed (entry k is for dh[k+1])"
    gap = expect_close(got, data["norms"], "norms", call, hint=hint)
    return f"norms {np.round(data['norms'][:3], 3).tolist()}...", gap
