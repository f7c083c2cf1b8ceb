"""Public checks of lab 02's ``cells.py``: the NumPy LSTM and GRU against real Keras layers.

``fixtures/cells.npz`` holds random weights in Keras' layouts, inputs and states, and what
``keras.layers.LSTM`` / ``keras.layers.GRU`` (``reset_after=True``) computed with them, so
these checks need no Keras at check time; for ``gru_state_jacobian``, the Jacobian of one step
of a float64 ``keras.layers.GRU``, measured by central differences.
"""

from __future__ import annotations

import numpy as np

from seqlab.checks import fixture_data as fx
from seqlab.checks.core import Mismatch, describe, expect_close, expect_shape, public_check

NAME = "cells"
TIMEOUT = 10.0
TOLERANCE = 1e-5
GATES = {"lstm": ("input", "forget", "output", "cell"), "gru": ("update", "reset")}


def _weights(data: dict) -> tuple:
    return data["kernel"].copy(), data["recurrent_kernel"].copy(), data["bias"].copy()


def _step(mod, cell: str):
    """Call ``<cell>_step`` on the fixture; returns (call, data, result)."""
    data = fx.group(NAME, f"{cell}_step")
    batch, u = data["h_prev"].shape
    states = (data["h_prev"].copy(), data["c_prev"].copy()) if cell == "lstm" else (
        data["h_prev"].copy(),)
    names = "h_prev, c_prev" if cell == "lstm" else "h_prev"
    call = (f"{cell}_step(x_t {data['x_t'].shape}, {names} ({batch}, {u}), "
            f"kernel {data['kernel'].shape}, ...)")
    got = getattr(mod, f"{cell}_step")(data["x_t"].copy(), *states, *_weights(data))
    return call, data, got


def _lstm_pair(call: str, got) -> tuple:
    if not isinstance(got, tuple) or len(got) != 2:
        raise Mismatch(f"{call}: expected a tuple (h, c)", "tuple (h, c)", describe(got))
    return got


@public_check("lstm_step", "returns (h, c), each (batch, u)", TIMEOUT)
def lstm_step_shapes(mod):
    call, data, got = _step(mod, "lstm")
    h, c = _lstm_pair(call, got)
    expect_shape(h, data["h"].shape, "h", call)
    expect_shape(c, data["c"].shape, "c", call)
    return "h (2, 4), c (2, 4)", "the same"


@public_check("lstm_step", "equals keras.layers.LSTM from a nonzero state", TIMEOUT)
def lstm_step_values(mod):
    call, data, got = _step(mod, "lstm")
    h, c = _lstm_pair(call, got)
    order = "; gate blocks are input, forget, candidate, output (Keras order)"
    expect_close(c, data["c"], "c", call, TOLERANCE, hint=order)
    gap = expect_close(h, data["h"], "h", call, TOLERANCE,
                       hint="; c is right, so look at h = output gate * tanh(c)")
    return "h, c of keras.layers.LSTM", gap


@public_check("gru_step", "returns h, (batch, u)", TIMEOUT)
def gru_step_shape(mod):
    call, data, got = _step(mod, "gru")
    expect_shape(got, data["h"].shape, "h", call)
    return "h (2, 4)", "the same"


@public_check("gru_step", "equals keras.layers.GRU (reset_after=True) from a nonzero state",
              TIMEOUT)
def gru_step_values(mod):
    call, data, got = _step(mod, "gru")
    gap = expect_close(got, data["h"], "h", call, TOLERANCE,
                       hint="; blocks are update z, reset r, candidate; bias row 0 is the "
                            "input's, row 1 the recurrent one's; h = z * h_prev + (1 - z) * "
                            "candidate")
    return "h of keras.layers.GRU", gap


def _sequence(mod, cell: str):
    data = fx.group(NAME, f"{cell}_sequence")
    call = f"{cell}_sequence(x {data['x'].shape}, kernel {data['kernel'].shape}, ...)"
    got = getattr(mod, f"{cell}_sequence")(data["x"].copy(), *_weights(data))
    if not isinstance(got, tuple) or len(got) != 2:
        raise Mismatch(f"{call}: expected a tuple (outputs, gates)", "tuple (outputs, gates)",
                       describe(got))
    return call, data, got[0], got[1]


def _outputs(mod, cell: str, layer: str):
    call, data, outputs, _ = _sequence(mod, cell)
    gap = expect_close(outputs, data["outputs"], "outputs", call, TOLERANCE,
                       hint=f"; check {cell}_step first, then that the state starts at zero "
                            "and is carried from step to step")
    return f"outputs {data['outputs'].shape} of keras.layers.{layer}", gap


def _gates(mod, cell: str) -> tuple[str, str]:
    call, data, _, gates = _sequence(mod, cell)
    want = GATES[cell]
    if not isinstance(gates, dict) or not set(want) <= set(gates):
        raise Mismatch(f"{call}: gates must map names to arrays", f"keys {list(want)}",
                       describe(gates))
    for key in want:
        array = expect_shape(gates[key], data["outputs"].shape, f'gates["{key}"]', call)
        if key != "cell" and not (np.all(array > 0) and np.all(array < 1)):
            raise Mismatch(f'{call}: gates["{key}"] is a sigmoid, so every value lies in '
                           "(0, 1)", "values in (0, 1)",
                           f"{float(array.min()):.3g}..{float(array.max()):.3g}")
    if cell == "lstm":
        expect_close(np.asarray(gates["cell"])[:, -1], data["c_last"], 'gates["cell"][:, -1]',
                     call, TOLERANCE, hint=": the last cell state is Keras' final c")
    return f"{', '.join(want)}: (2, 5, 4)", "the same, gates in (0, 1)"


@public_check("lstm_sequence", "outputs equal keras.layers.LSTM", TIMEOUT)
def lstm_sequence_outputs(mod):
    return _outputs(mod, "lstm", "LSTM")


@public_check("lstm_sequence", "gates input, forget, output in (0, 1) and the cell state",
              TIMEOUT)
def lstm_sequence_gates(mod):
    return _gates(mod, "lstm")


@public_check("gru_sequence", "outputs equal keras.layers.GRU", TIMEOUT)
def gru_sequence_outputs(mod):
    return _outputs(mod, "gru", "GRU")


@public_check("gru_sequence", "gates update and reset in (0, 1)", TIMEOUT)
def gru_sequence_gates(mod):
    return _gates(mod, "gru")


def _jacobian(mod):
    data = fx.group(NAME, "gru_state_jacobian")
    batch, u = data["h_prev"].shape
    call = (f"gru_state_jacobian(x_t {data['x_t'].shape}, h_prev ({batch}, {u}), "
            f"kernel {data['kernel'].shape}, ...)")
    got = mod.gru_state_jacobian(data["x_t"].copy(), data["h_prev"].copy(), *_weights(data))
    return call, data, expect_shape(got, data["jacobian"].shape, "J", call)


@public_check("gru_state_jacobian", "returns J (batch, u, u)", TIMEOUT)
def gru_state_jacobian_shape(mod):
    _jacobian(mod)
    return "J (2, 4, 4)", "the same"


def _jacobian_hint(got: np.ndarray, data: dict) -> str:
    """Which usual mistake ``got`` matches (transposed, no diag(z), no reset-gate path)."""
    want, z = data["jacobian"], data["z"]

    def near(other) -> bool:
        return bool(np.all(np.abs(got.astype(np.float64) - other) < 1e-4))

    if near(np.swapaxes(want, 1, 2)):
        return ("; J is transposed: J[b, i, j] is dh[b, i] / dh_prev[b, j] (row i: the new "
                "unit), so each recurrent block enters as U^T")
    if near(want - z[:, :, None] * np.eye(z.shape[1])):
        return "; diag(z) is missing: the keep path z * h_prev puts z[i] on the diagonal"
    if near(want - data["reset_path"]):
        return ("; the reset-gate path is missing: r depends on h_prev too (through "
                "r * (h_prev @ U_n + b'_n))")
    return ("; J = diag(z) + the update-gate path + the candidate's paths through tanh and "
            "through the reset gate, each recurrent block transposed (see the docstring)")


@public_check("gru_state_jacobian", "equals keras.layers.GRU's dh/dh_prev (central "
              "differences, float64)", TIMEOUT)
def gru_state_jacobian_values(mod):
    call, data, got = _jacobian(mod)
    hint = "" if not np.all(np.isfinite(got.astype(np.float64))) else _jacobian_hint(got, data)
    gap = expect_close(got, data["jacobian"], "J", call, TOLERANCE, hint=hint)
    return "J of keras.layers.GRU, one step", gap
