# Starter code generated from solutions/cells.py by `python -m seqlab.starter`.
# Write your code where a function raises NotImplementedError: replace each
# `raise NotImplementedError(...)` with your implementation. Keep the names, signatures and
# return types: the notebooks and the autograder call them.
"""LSTM and GRU cells by hand, in NumPy, with the weight layouts of Keras.

A gated cell decides, unit by unit and step by step, how much of its memory to keep and how
much new input to write: each gate is a sigmoid in (0, 1) that multiplies a signal.

LSTM (Hochreiter and Schmidhuber 1997, with a forget gate), Keras' ``keras.layers.LSTM``:

    i = sigmoid(x W_i + h_prev U_i + b_i)        input gate: how much to write
    f = sigmoid(x W_f + h_prev U_f + b_f)        forget gate: how much memory to keep
    g = tanh(x W_g + h_prev U_g + b_g)           candidate values to write
    o = sigmoid(x W_o + h_prev U_o + b_o)        output gate: how much memory to show
    c = f * c_prev + i * g                       the cell state (the memory)
    h = o * tanh(c)                              the output and hidden state

GRU (Cho et al. 2014), Keras' ``keras.layers.GRU`` with its default ``reset_after=True``:

    z = sigmoid(x W_z + b_z + h_prev U_z + b'_z)             update gate
    r = sigmoid(x W_r + b_r + h_prev U_r + b'_r)             reset gate
    n = tanh(x W_n + b_n + r * (h_prev U_n + b'_n))          candidate (reset *after* U_n)
    h = z * h_prev + (1 - z) * n                             z = 1 keeps the old state

Weights are stored as Keras stores them, so ``layer.get_weights()`` plugs straight in: the
gate blocks sit side by side along the last axis (``kernel[:, :u]`` is the first block),
in the order i, f, g (candidate), o for the LSTM and z, r, n for the GRU:

    LSTM  kernel (d, 4u)   recurrent_kernel (u, 4u)   bias (4u,)
    GRU   kernel (d, 3u)   recurrent_kernel (u, 3u)   bias (2, 3u): row 0 input, row 1 recurrent

Shapes: ``x_t (batch, d)``, states ``(batch, u)``, sequences ``(batch, T, d)``. NumPy only.

``gru_state_jacobian`` differentiates one GRU step with respect to the state, ``dh/dh_prev
(batch, u, u)``: the matrix a gradient is multiplied by at every step back in time.
"""

from __future__ import annotations

import numpy as np

LSTM_GATES = ("input", "forget", "output", "cell")
"""The keys of the ``gates`` dict ``lstm_sequence`` returns ("cell" is the cell state c)."""

GRU_GATES = ("update", "reset")
"""The keys of the ``gates`` dict ``gru_sequence`` returns."""


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + exp(-z)), written with tanh so large |z| cannot overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


def lstm_step(x_t: np.ndarray, h_prev: np.ndarray, c_prev: np.ndarray, kernel: np.ndarray,
              recurrent_kernel: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One LSTM step: ``x_t (batch, d)``, ``h_prev``, ``c_prev (batch, u)`` -> ``(h, c)``.

    ``kernel (d, 4u)``, ``recurrent_kernel (u, 4u)``, ``bias (4u,)`` in Keras' layout: the
    pre-activations ``x_t @ kernel + h_prev @ recurrent_kernel + bias`` are split into four
    blocks of u columns, in the order input, forget, candidate, output. Then
    ``c = f * c_prev + i * g`` and ``h = o * tanh(c)`` (see the module docstring).
    """
    raise NotImplementedError(
        "lstm_step: one matmul for all four gates, split in Keras order i, f, g, o "
        "(not implemented yet)"
    )


def gru_step(x_t: np.ndarray, h_prev: np.ndarray, kernel: np.ndarray,
             recurrent_kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """One GRU step as Keras computes it (``reset_after=True``): -> the new state (batch, u).

    ``kernel (d, 3u)``, ``recurrent_kernel (u, 3u)``, ``bias (2, 3u)`` (row 0 is added to the
    input part, row 1 to the recurrent part); the blocks are update z, reset r, candidate n.
    The reset gate multiplies the recurrent part of the candidate *after* the matmul:
    ``n = tanh(x_n + r * (h_prev @ U_n + b'_n))``. Then ``h = z * h_prev + (1 - z) * n``.
    """
    raise NotImplementedError(
        "gru_step: input and recurrent parts separately, split in Keras order z, r, n "
        "(not implemented yet)"
    )


def lstm_sequence(x: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray,
                  bias: np.ndarray) -> tuple[np.ndarray, dict]:
    """Run an LSTM over ``x (batch, T, d)`` from a zero state: -> ``(outputs, gates)``.

    ``outputs (batch, T, u)`` is h at every step (Keras' ``LSTM(u, return_sequences=True)``
    with the same weights gives the same numbers). ``gates`` maps ``"input"``, ``"forget"``,
    ``"output"`` to the gate values and ``"cell"`` to the cell state c, each ``(batch, T, u)``.
    The gates are not returned by ``lstm_step``: recompute them from the pre-activations (or
    write a helper both functions use).
    """
    raise NotImplementedError(
        "lstm_sequence: loop lstm_step over t from zero states, recording the gates at each step "
        "(not implemented yet)"
    )


def gru_sequence(x: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray,
                 bias: np.ndarray) -> tuple[np.ndarray, dict]:
    """Run a GRU over ``x (batch, T, d)`` from a zero state: -> ``(outputs, gates)``.

    ``outputs (batch, T, u)`` is h at every step, as Keras' ``GRU(u, return_sequences=True)``
    computes it with the same weights. ``gates`` maps ``"update"`` (z) and ``"reset"`` (r) to
    their values at every step, each ``(batch, T, u)``.
    """
    raise NotImplementedError(
        "gru_sequence: loop gru_step over t from a zero state, recording z and r at each step "
        "(not implemented yet)"
    )


def gru_state_jacobian(x_t: np.ndarray, h_prev: np.ndarray, kernel: np.ndarray,
                       recurrent_kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """The exact Jacobian of one :func:`gru_step` with respect to the state: ``(batch, u, u)``.

    The arguments are ``gru_step``'s, in Keras' layout (``reset_after=True``): ``x_t (batch,
    d)``, ``h_prev (batch, u)``, ``kernel (d, 3u)``, ``recurrent_kernel (u, 3u)``, ``bias (2,
    3u)``. With ``h = gru_step(x_t, h_prev, ...)``, returns ``J`` of shape ``(batch, u, u)``,
    float64, with ``J[b, i, j] = dh[b, i] / dh_prev[b, j]``: the row ``i`` is a unit of the
    new state, the column ``j`` one of the old state, one matrix per batch row (the rows of a
    batch never mix). Steps chain as ``J_T @ ... @ J_2 @ J_1``, and a gradient row vector
    ``g = dL/dh (u,)`` goes one step back as ``g @ J[b]``.

    Notation. The lecture uses column vectors and writes ``s_t = f(W s_{t-1} + U x_t)``, with
    ``W`` the recurrent matrix multiplied from the left, so ``ds_t/ds_{t-1} = diag(f') W``.
    Keras puts ``x`` first and multiplies *row* vectors from the left, ``x @ kernel + h_prev @
    recurrent_kernel`` (its ``kernel`` is the lecture's ``U`` transposed, its
    ``recurrent_kernel`` the lecture's ``W`` transposed). Since ``d(h_prev @ U)[i] /
    dh_prev[j] = U[j, i]``, every recurrent block enters the Jacobian transposed, as ``U^T``.
    With ``U_z, U_r, U_n`` the three ``(u, u)`` blocks of ``recurrent_kernel`` (columns
    ``0:u``, ``u:2u``, ``2u:3u``) and, per batch row, every product elementwise except ``@``::

        z = sigmoid(x W_z + b_z + h_prev U_z + b'_z)          update gate
        r = sigmoid(x W_r + b_r + h_prev U_r + b'_r)          reset gate
        m = h_prev U_n + b'_n                                 the recurrent part of the candidate
        n = tanh(x W_n + b_n + r * m)                         candidate
        h = z * h_prev + (1 - z) * n

    the product rule on ``h = z * h_prev + (1 - z) * n`` gives four terms:

    1. the **keep** path, ``h_prev`` copied through the gate: ``diag(z)``;
    2. the **update-gate** path, ``z`` itself depends on ``h_prev`` (``dh/dz = h_prev - n``,
       ``sigmoid' = z (1 - z)``): ``diag((h_prev - n) z (1 - z)) U_z^T``;
    3. the **candidate** path through ``tanh`` and ``U_n`` (``dh/dn = 1 - z``,
       ``tanh' = 1 - n^2``): ``diag((1 - z)(1 - n^2) r) U_n^T``;
    4. the candidate path through the **reset gate**, which multiplies ``m`` and depends on
       ``h_prev``: ``diag((1 - z)(1 - n^2) m r (1 - r)) U_r^T``.

    ``J = diag(z) + diag(...) U_z^T + diag(...) U_n^T + diag(...) U_r^T``. Only the first term
    has no weight matrix and no derivative of a squashing function, and every other term
    carries a factor ``z (1 - z)`` or ``1 - z``: where ``z[i]`` is close to 1, row ``i`` of
    ``J`` is close to that of the identity, and the state and its gradient pass unchanged.
    The vanilla RNN has only a term like 3, ``diag(1 - h^2) W``.
    """
    raise NotImplementedError(
        "gru_state_jacobian: recompute z, r, n as in gru_step, then sum the four terms (U^T blocks)"
        " (not implemented yet)"
    )
