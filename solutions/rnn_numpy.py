"""A vanilla recurrent network in NumPy: forward loop, backprop through time, clipping.

The lecture's notation: an input x[t] in R^q, a state h[t] in R^r, an output y[t] in R^s.
One step of the network is

    h[t]      = tanh(W_hx x[t] + W_hh h[t-1] + b_h)        with h[0] = 0 (before the first step)
    logits[t] = W_y h[t] + b_y                             (softmax(logits[t]) predicts y[t])

The same weights are used at every step: the network is a loop with a state, unrolled over
time. Everything here works on a batch at once and in float64 (NumPy's default), with the
batch first: ``x`` is ``(batch, T, q)``, so ``x[:, t]`` is ``(batch, q)`` and
``W_hx x[t]`` is written ``x[:, t] @ W_hx.T``.

``params`` is a dict of five arrays:

    W_hx (r, q)   input to state        W_hh (r, r)   state to state      b_h (r,)
    W_y  (s, r)   state to output       b_y  (s,)

NumPy only: no Keras, TensorFlow or autograd here. You derive the gradients yourself.
"""

from __future__ import annotations

import numpy as np

PARAM_NAMES = ("W_hx", "W_hh", "b_h", "W_y", "b_y")
"""The keys of ``params`` and of ``grads``."""


def init_params(q: int, r: int, s: int, seed: int = 0) -> dict:
    """Random starting weights for an RNN with input size q, state size r, output size s.

    Returns ``{"W_hx": (r, q), "W_hh": (r, r), "b_h": (r,), "W_y": (s, r), "b_y": (s,)}``,
    float64. Draw the weight matrices from a normal distribution with standard deviation
    ``1 / sqrt(fan_in)`` (q for ``W_hx``, r for ``W_hh`` and ``W_y``) using
    ``np.random.default_rng(seed)``, so the same seed always gives the same weights; biases
    start at zero. Random (not zero) weights break the symmetry between the r state units.
    """
    # BEGIN SOLUTION hint: seeded default_rng, normal weights with std 1/sqrt(fan_in), zero biases
    rng = np.random.default_rng(seed)
    return {
        "W_hx": rng.normal(0.0, 1.0 / np.sqrt(q), size=(r, q)),
        "W_hh": rng.normal(0.0, 1.0 / np.sqrt(r), size=(r, r)),
        "b_h": np.zeros(r),
        "W_y": rng.normal(0.0, 1.0 / np.sqrt(r), size=(s, r)),
        "b_y": np.zeros(s),
    }
    # END SOLUTION


def rnn_forward(params: dict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run the RNN over a batch of sequences: ``x (batch, T, q)`` -> ``(h, logits)``.

    ``h (batch, T, r)``: ``h[:, t] = tanh(W_hx x[:, t] + W_hh h[:, t-1] + b_h)``, where the
    state before the first step is zeros. ``logits (batch, T, s)``:
    ``logits[:, t] = W_y h[:, t] + b_y``. Loop over time (the state at t needs the state at
    t-1); work on the whole batch at each step.
    """
    # BEGIN SOLUTION hint: loop over t, carrying the state (zeros before the first step)
    batch, T, _ = x.shape
    r = params["W_hh"].shape[0]
    h = np.zeros((batch, T, r))
    h_prev = np.zeros((batch, r))
    for t in range(T):
        h_prev = np.tanh(x[:, t] @ params["W_hx"].T + h_prev @ params["W_hh"].T + params["b_h"])
        h[:, t] = h_prev
    logits = h @ params["W_y"].T + params["b_y"]
    return h, logits
    # END SOLUTION


def rnn_loss_and_grads(params: dict, x: np.ndarray, targets: np.ndarray) -> tuple[float, dict]:
    """Softmax cross-entropy of the RNN's predictions and its exact gradient, by BPTT.

    ``x (batch, T, q)``; ``targets (batch, T)`` holds the index of the correct class (0..s-1)
    at every step. The loss is the mean over batch and time of ``-log softmax(logits[:, t])``
    at the target (natural log). ``grads`` has the keys and shapes of ``params``: the
    derivative of that loss with respect to each array.

    Backprop through time walks the steps backwards, t = T-1, ..., 0: the gradient reaching
    ``h[:, t]`` comes from the output at t *and* from the step after it (through ``W_hh``);
    it passes the tanh with the factor ``1 - h[:, t]**2``; the weight gradients are sums over
    all steps.
    """
    # BEGIN SOLUTION hint: forward, softmax cross-entropy, then a backward loop over t from T-1 to 0
    batch, T, _ = x.shape
    h, logits = rnn_forward(params, x)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    rows, steps = np.meshgrid(np.arange(batch), np.arange(T), indexing="ij")
    loss = -log_probs[rows, steps, targets].mean()

    d_logits = np.exp(log_probs)                       # softmax: dL/dlogits = (p - onehot) / n
    d_logits[rows, steps, targets] -= 1.0
    d_logits /= batch * T
    grads = {
        "W_y": np.einsum("bts,btr->sr", d_logits, h),
        "b_y": d_logits.sum(axis=(0, 1)),
        "W_hx": np.zeros_like(params["W_hx"]),
        "W_hh": np.zeros_like(params["W_hh"]),
        "b_h": np.zeros_like(params["b_h"]),
    }
    d_h_next = np.zeros((batch, params["W_hh"].shape[0]))     # dL/dh[t] from step t+1
    for t in reversed(range(T)):
        d_h = d_logits[:, t] @ params["W_y"] + d_h_next       # output at t + the future
        d_a = d_h * (1.0 - h[:, t] ** 2)                      # through the tanh
        h_prev = h[:, t - 1] if t > 0 else np.zeros_like(h[:, 0])
        grads["W_hx"] += d_a.T @ x[:, t]
        grads["W_hh"] += d_a.T @ h_prev
        grads["b_h"] += d_a.sum(axis=0)
        d_h_next = d_a @ params["W_hh"]
    return float(loss), grads
    # END SOLUTION


def clip_by_global_norm(grads: dict, max_norm: float) -> dict:
    """Scale all gradients together when their global L2 norm exceeds ``max_norm``.

    The global norm is ``sqrt(sum over every array g of sum(g**2))``. If it is larger than
    ``max_norm``, every array is multiplied by the same factor ``max_norm / norm`` (so the
    direction of the whole update is kept); otherwise the gradients are returned unchanged.
    Returns a new dict with the same keys; the input is not modified.
    """
    # BEGIN SOLUTION hint: one norm over all arrays together, one common scale factor
    norm = np.sqrt(sum(float(np.sum(g**2)) for g in grads.values()))
    scale = max_norm / norm if norm > max_norm else 1.0
    return {name: g * scale for name, g in grads.items()}
    # END SOLUTION


def state_jacobian_norms(params: dict, x: np.ndarray) -> np.ndarray:
    """How much the last state depends on each earlier state: the vanishing-gradient curve.

    ``x (T, q)`` is one sequence (no batch axis). With the states h[1..T] of the forward pass
    (numbered from 1 here: h[k] is ``h[:, k-1]`` of ``rnn_forward``), returns ``(T,)`` whose
    entry k (0-based) is the Frobenius norm of the Jacobian ``dh[T] / dh[k+1]``; the last entry
    is the norm of the identity, ``sqrt(r)``. One step's Jacobian is
    ``dh[t] / dh[t-1] = diag(1 - h[t]**2) @ W_hh``; chain them backwards from the end.
    """
    # BEGIN SOLUTION hint: forward once, then multiply step Jacobians from the last step backwards
    h, _ = rnn_forward(params, x[None])
    h = h[0]                                           # (T, r)
    T, r = h.shape
    norms = np.empty(T)
    jacobian = np.eye(r)                               # dh[T] / dh[T]
    norms[T - 1] = np.linalg.norm(jacobian)
    for k in range(T - 2, -1, -1):         # dh[T]/dh[k+1] = dh[T]/dh[k+2] @ dh[k+2]/dh[k+1]
        jacobian = jacobian @ ((1.0 - h[k + 1] ** 2)[:, None] * params["W_hh"])
        norms[k] = np.linalg.norm(jacobian)
    return norms
    # END SOLUTION
