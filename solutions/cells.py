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
    # BEGIN SOLUTION hint: one matmul for all four gates, split in Keras order i, f, g, o
    u = h_prev.shape[-1]
    z = x_t @ kernel + h_prev @ recurrent_kernel + bias
    i = sigmoid(z[:, :u])
    f = sigmoid(z[:, u:2 * u])
    g = np.tanh(z[:, 2 * u:3 * u])
    o = sigmoid(z[:, 3 * u:])
    c = f * c_prev + i * g
    h = o * np.tanh(c)
    return h, c
    # END SOLUTION


def gru_step(x_t: np.ndarray, h_prev: np.ndarray, kernel: np.ndarray,
             recurrent_kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """One GRU step as Keras computes it (``reset_after=True``): -> the new state (batch, u).

    ``kernel (d, 3u)``, ``recurrent_kernel (u, 3u)``, ``bias (2, 3u)`` (row 0 is added to the
    input part, row 1 to the recurrent part); the blocks are update z, reset r, candidate n.
    The reset gate multiplies the recurrent part of the candidate *after* the matmul:
    ``n = tanh(x_n + r * (h_prev @ U_n + b'_n))``. Then ``h = z * h_prev + (1 - z) * n``.
    """
    # BEGIN SOLUTION hint: input and recurrent parts separately, split in Keras order z, r, n
    u = h_prev.shape[-1]
    x_part = x_t @ kernel + bias[0]
    h_part = h_prev @ recurrent_kernel + bias[1]
    z = sigmoid(x_part[:, :u] + h_part[:, :u])
    r = sigmoid(x_part[:, u:2 * u] + h_part[:, u:2 * u])
    n = np.tanh(x_part[:, 2 * u:] + r * h_part[:, 2 * u:])
    return z * h_prev + (1.0 - z) * n
    # END SOLUTION


def lstm_sequence(x: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray,
                  bias: np.ndarray) -> tuple[np.ndarray, dict]:
    """Run an LSTM over ``x (batch, T, d)`` from a zero state: -> ``(outputs, gates)``.

    ``outputs (batch, T, u)`` is h at every step (Keras' ``LSTM(u, return_sequences=True)``
    with the same weights gives the same numbers). ``gates`` maps ``"input"``, ``"forget"``,
    ``"output"`` to the gate values and ``"cell"`` to the cell state c, each ``(batch, T, u)``.
    The gates are not returned by ``lstm_step``: recompute them from the pre-activations (or
    write a helper both functions use).
    """
    # BEGIN SOLUTION hint: loop lstm_step over t from zero states, recording the gates at each step
    batch, T, _ = x.shape
    u = recurrent_kernel.shape[0]
    h, c = np.zeros((batch, u)), np.zeros((batch, u))
    outputs = np.zeros((batch, T, u))
    gates = {name: np.zeros((batch, T, u)) for name in LSTM_GATES}
    for t in range(T):
        z = x[:, t] @ kernel + h @ recurrent_kernel + bias
        gates["input"][:, t] = sigmoid(z[:, :u])
        gates["forget"][:, t] = sigmoid(z[:, u:2 * u])
        gates["output"][:, t] = sigmoid(z[:, 3 * u:])
        h, c = lstm_step(x[:, t], h, c, kernel, recurrent_kernel, bias)
        outputs[:, t], gates["cell"][:, t] = h, c
    return outputs, gates
    # END SOLUTION


def gru_sequence(x: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray,
                 bias: np.ndarray) -> tuple[np.ndarray, dict]:
    """Run a GRU over ``x (batch, T, d)`` from a zero state: -> ``(outputs, gates)``.

    ``outputs (batch, T, u)`` is h at every step, as Keras' ``GRU(u, return_sequences=True)``
    computes it with the same weights. ``gates`` maps ``"update"`` (z) and ``"reset"`` (r) to
    their values at every step, each ``(batch, T, u)``.
    """
    # BEGIN SOLUTION hint: loop gru_step over t from a zero state, recording z and r at each step
    batch, T, _ = x.shape
    u = recurrent_kernel.shape[0]
    h = np.zeros((batch, u))
    outputs = np.zeros((batch, T, u))
    gates = {name: np.zeros((batch, T, u)) for name in GRU_GATES}
    for t in range(T):
        x_part = x[:, t] @ kernel + bias[0]
        h_part = h @ recurrent_kernel + bias[1]
        gates["update"][:, t] = sigmoid(x_part[:, :u] + h_part[:, :u])
        gates["reset"][:, t] = sigmoid(x_part[:, u:2 * u] + h_part[:, u:2 * u])
        h = gru_step(x[:, t], h, kernel, recurrent_kernel, bias)
        outputs[:, t] = h
    return outputs, gates
    # END SOLUTION
