# Starter code generated from solutions/rnn_numpy.py by `python -m seqlab.starter`.
# Write your code where a function raises NotImplementedError: replace each
# `raise NotImplementedError(...)` with your implementation. Keep the names, signatures and
# return types: the notebooks and the autograder call them.
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
    raise NotImplementedError(
        "init_params: seeded default_rng, normal weights with std 1/sqrt(fan_in), zero biases "
        "(not implemented yet)"
    )


def rnn_forward(params: dict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run the RNN over a batch of sequences: ``x (batch, T, q)`` -> ``(h, logits)``.

    ``h (batch, T, r)``: ``h[:, t] = tanh(W_hx x[:, t] + W_hh h[:, t-1] + b_h)``, where the
    state before the first step is zeros. ``logits (batch, T, s)``:
    ``logits[:, t] = W_y h[:, t] + b_y``. Loop over time (the state at t needs the state at
    t-1); work on the whole batch at each step.
    """
    raise NotImplementedError(
        "rnn_forward: loop over t, carrying the state (zeros before the first step) "
        "(not implemented yet)"
    )


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
    raise NotImplementedError(
        "rnn_loss_and_grads: forward, softmax cross-entropy, then a backward loop over t from T-1 "
        "to 0 (not implemented yet)"
    )


def clip_by_global_norm(grads: dict, max_norm: float) -> dict:
    """Scale all gradients together when their global L2 norm exceeds ``max_norm``.

    The global norm is ``sqrt(sum over every array g of sum(g**2))``. If it is larger than
    ``max_norm``, every array is multiplied by the same factor ``max_norm / norm`` (so the
    direction of the whole update is kept); otherwise the gradients are returned unchanged.
    Returns a new dict with the same keys; the input is not modified.
    """
    raise NotImplementedError(
        "clip_by_global_norm: one norm over all arrays together, one common scale factor "
        "(not implemented yet)"
    )


def state_jacobian_norms(params: dict, x: np.ndarray) -> np.ndarray:
    """How much the last state depends on each earlier state: the vanishing-gradient curve.

    ``x (T, q)`` is one sequence (no batch axis). With the states h[1..T] of the forward pass
    (numbered from 1 here: h[k] is ``h[:, k-1]`` of ``rnn_forward``), returns ``(T,)`` whose
    entry k (0-based) is the Frobenius norm of the Jacobian ``dh[T] / dh[k+1]``; the last entry
    is the norm of the identity, ``sqrt(r)``. One step's Jacobian is
    ``dh[t] / dh[t-1] = diag(1 - h[t]**2) @ W_hh``; chain them backwards from the end.
    """
    raise NotImplementedError(
        "state_jacobian_norms: forward once, then multiply step Jacobians from the last step "
        "backwards (not implemented yet)"
    )
