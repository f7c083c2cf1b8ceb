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
