"""The ``cells`` assignment: LSTM and GRU steps and sequences by hand, in NumPy (lab 2).

The student's cells get random weights in Keras' layouts and, for the step functions, a
*nonzero* start state (a zero state would hide a reset gate applied in the wrong place).
Their outputs are compared with real ``keras.layers.LSTM`` and ``GRU`` layers holding the same
weights, run by the trusted worker (``worker_references``); the gate arrays are compared
with the grader's own NumPy reference (``fundamentals_reference``), which also recognises
the usual mistakes (gate blocks in another order, the update convention flipped, the reset
gate applied before the recurrent matmul) to name them in the message. The GRU's state
Jacobian (``gru_state_jacobian``) is compared with the reference's exact one, which can also
be computed transposed or without one of its terms, to name those mistakes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autograder.assignments import Assignment, Case
from autograder.assignments import fundamentals_reference as ref
from autograder.registry import check, failed, passed

NAME = "cells"
FILENAME = "cells.py"
USES_KERAS = False          # the student's module is NumPy only; the worker runs Keras
FUNCTIONS = {
    "lstm_step": [("x_t", None), ("h_prev", None), ("c_prev", None), ("kernel", None),
                  ("recurrent_kernel", None), ("bias", None)],
    "gru_step": [("x_t", None), ("h_prev", None), ("kernel", None),
                 ("recurrent_kernel", None), ("bias", None)],
    "lstm_sequence": [("x", None), ("kernel", None), ("recurrent_kernel", None),
                      ("bias", None)],
    "gru_sequence": [("x", None), ("kernel", None), ("recurrent_kernel", None),
                     ("bias", None)],
    "gru_state_jacobian": [("x_t", None), ("h_prev", None), ("kernel", None),
                           ("recurrent_kernel", None), ("bias", None)],
}
RECIPES: dict = {}
CASE_TIMEOUT = 15  # seconds per call: tiny NumPy inputs take milliseconds
KERAS_TOLERANCE = 1e-5      # Keras computes in float32
TOLERANCE = 1e-6            # against the grader's float64 reference


SATURATED = (7.0, -7.0, 0.5, 2.0, -6.0, 6.0, 1.0, -1.5)
"""The pre-activations of z (4 units), then r, in the saturated Jacobian case."""


def _weights(rng, d: int, u: int, blocks: int, gru: bool) -> dict:
    bias_shape = (2, blocks * u) if gru else (blocks * u,)
    return {"kernel": rng.normal(0, 0.7, size=(d, blocks * u)),
            "recurrent_kernel": rng.normal(0, 0.7, size=(u, blocks * u)),
            "bias": rng.normal(0, 0.5, size=bias_shape)}


def _inputs() -> dict:
    rng = np.random.default_rng(77)
    inputs = {}
    for suffix, batch, steps, d, u in (("", 3, 6, 4, 5), ("_small", 1, 2, 2, 3)):
        for cell, blocks in (("lstm", 4), ("gru", 3)):
            for key, value in _weights(rng, d, u, blocks, cell == "gru").items():
                inputs[f"{cell}_{key}{suffix}"] = value
        inputs[f"x_t{suffix}"] = rng.normal(size=(batch, d))
        inputs[f"h0{suffix}"] = rng.normal(0, 0.8, size=(batch, u))
        inputs[f"c0{suffix}"] = rng.normal(0, 1.0, size=(batch, u))
        inputs[f"x{suffix}"] = rng.normal(size=(batch, steps, d))
    # One GRU step (batch 1, d 3, u 4) whose gates saturate unit by unit: the input biases of
    # z and r are set to give the pre-activations SATURATED (z near 1, near 0, then two units
    # in between; r near 0, near 1, in between). Large weights saturate the candidate.
    d, u = 3, 4
    kernel, recurrent = rng.normal(0, 1.5, size=(d, 3 * u)), rng.normal(0, 1.5, size=(u, 3 * u))
    bias = rng.normal(0, 0.5, size=(2, 3 * u))
    x_t, h0 = rng.normal(size=(1, d)), rng.normal(0, 0.8, size=(1, u))
    rest = (x_t @ kernel + h0 @ recurrent + bias[1])[0, :2 * u]
    bias[0, :2 * u] = np.asarray(SATURATED) - rest
    inputs.update(gru_kernel_saturated=kernel, gru_recurrent_kernel_saturated=recurrent,
                  gru_bias_saturated=bias, x_t_saturated=x_t, h0_saturated=h0)
    return inputs


INPUTS = _inputs()


def _text(name: str) -> str:
    base = name.removesuffix("_small").removesuffix("_saturated")
    label = {"x_t": "x_t", "h0": "h_prev", "c0": "c_prev", "x": "x"}.get(
        base, base.split("_", 1)[-1])
    return f"{label} {ref.shape_text(INPUTS[name].shape)}"


def _case(case_id: str, function: str, names: tuple[str, ...]) -> Case:
    return Case(case_id, function, {}, kind="call", inputs=names,
                args_text=", ".join(_text(n) for n in names))


def _names(function: str, suffix: str) -> tuple[str, ...]:
    cell = function.split("_")[0]
    weights = tuple(f"{cell}_{k}{suffix}" for k in ("kernel", "recurrent_kernel", "bias"))
    if function == "lstm_step":
        return (f"x_t{suffix}", f"h0{suffix}", f"c0{suffix}", *weights)
    if function in ("gru_step", "gru_state_jacobian"):
        return (f"x_t{suffix}", f"h0{suffix}", *weights)
    return (f"x{suffix}", *weights)


CASES = {c.id: c for c in (
    *(_case(f"{function}{suffix}", function, _names(function, suffix))
      for function in FUNCTIONS for suffix in ("", "_small")),
    _case("gru_state_jacobian_saturated", "gru_state_jacobian",
          _names("gru_state_jacobian", "_saturated")),
)}


def _args(case_id: str) -> list:
    return [INPUTS[name] for name in CASES[case_id].inputs]


def _keras(obs, task_id: str) -> dict:
    data = obs.references[task_id]
    return {k: np.asarray(v, dtype=np.float64) for k, v in data.items() if v is not None}


# ---------------------------------------------------------------- messages
def _lstm_hint(got_h, args) -> str:
    """Which known mistake reproduces ``got_h`` (an LSTM step or sequence output)."""
    step = len(args) == 6
    for order in ref.lstm_orders():
        if step:
            other = ref.lstm_step(*args, order=order)[0]
        else:
            other = ref.lstm_sequence(*args, order=order)[0]
        if ref.close(got_h, other, atol=1e-5, rtol=1e-5):
            return (f": your numbers match gate blocks read in the order {', '.join(order)}; Keras "
                    "stores them as input, forget, candidate (cell), output")
    other = (ref.lstm_step(*args, forget_shift=1.0)[0] if step
             else ref.lstm_sequence(*args, forget_shift=1.0)[0])
    if ref.close(got_h, other, atol=1e-5, rtol=1e-5):
        return (": your numbers match a forget gate sigmoid(... + 1): Keras' unit_forget_bias "
                "is already part of the bias array, do not add 1 in the step")
    return ""


def _gru_hint(got_h, args) -> str:
    step = len(args) == 5
    variants = (
        (dict(flipped=True), "h = (1 - z) * h_prev + z * candidate; Keras keeps the old state "
                             "where z = 1: h = z * h_prev + (1 - z) * candidate"),
        (dict(reset_before=True), "the reset gate is applied before the recurrent matmul, "
                                  "(r * h_prev) @ U_n; Keras' GRU (reset_after=True) applies "
                                  "it after: r * (h_prev @ U_n + b'_n)"),
        (dict(flipped=True, reset_before=True), "the update convention is flipped and the "
                                                "reset gate is applied before the matmul"),
        (dict(order=("reset", "update")), "the update and reset blocks are swapped: Keras "
                                          "stores z, r, candidate"),
    )
    for kwargs, why in variants:
        other = (ref.gru_step(*args, **kwargs)[0] if step
                 else ref.gru_sequence(*args, **kwargs)[0])
        if ref.close(got_h, other, atol=1e-5, rtol=1e-5):
            return f": your numbers match {why}"
    return ""


_JACOBIAN_MISTAKES = (
    (dict(keep=False), "diag(z) is missing: the keep path z * h_prev puts z[i] on the "
                       "diagonal"),
    (dict(reset_path=False), "the reset-gate path is missing: r depends on h_prev too, "
                             "adding diag((1 - z)(1 - n**2) m r (1 - r)) U_r^T with "
                             "m = h_prev @ U_n + b'_n"),
    (dict(update_path=False), "the update-gate path is missing: z depends on h_prev, adding "
                              "diag((h_prev - n) z (1 - z)) U_z^T"),
    (dict(tanh_derivative=False), "the candidate's tanh derivative 1 - n**2 is missing"),
)


def _jacobian_hint(got, args) -> str:
    """Which known mistake reproduces ``got`` (a GRU state Jacobian)."""
    transposed = ("the Jacobian is transposed: entry [b, i, j] is dh[b, i] / dh_prev[b, j] "
                  "(row i: the new unit), yours holds [b, j, i]; in Keras' layout the "
                  "recurrent blocks enter as U^T")
    if ref.close(got, ref.gru_state_jacobian(*args, transposed=True), atol=1e-5, rtol=1e-5):
        return f": {transposed}"
    for kwargs, why in _JACOBIAN_MISTAKES:
        if ref.close(got, ref.gru_state_jacobian(*args, **kwargs), atol=1e-5, rtol=1e-5):
            return f": {why}"
        if ref.close(got, ref.gru_state_jacobian(*args, **kwargs, transposed=True),
                     atol=1e-5, rtol=1e-5):
            return f": your numbers match the transpose ([b, j, i]) of a Jacobian where {why}"
    return (" (J = diag(z) + the update-gate, candidate and reset-gate terms, each recurrent "
            "block transposed: see the docstring)")


def _shape_problem(call, got, want_shapes, labels) -> str | None:
    arrays = got if isinstance(got, tuple) else (got,)
    if len(arrays) != len(want_shapes):
        return f"{call}: expected {' and '.join(labels)}, got {len(arrays)} value(s)"
    for label, array, want in zip(labels, arrays, want_shapes, strict=True):
        if not isinstance(array, np.ndarray):
            return f"{call}: expected {label} as an array, got {type(array).__name__}"
        if array.shape != want:
            return (f"{call}: expected {label} of shape {ref.shape_text(want)}, got "
                    f"{ref.shape_text(array.shape)}")
    return None


# ---------------------------------------------------------------- checks
ref.signature_check(NAME, FILENAME, FUNCTIONS, points=2)


ref.numpy_only_check(NAME, FILENAME, points=3, done_by_hand="every gate by hand")


@check("lstm_step: returns (h, c), each (batch, u)", points=2, assignment=NAME,
       function="lstm_step", timeout=CASE_TIMEOUT,
       needs=("lstm_step", "lstm_step_small"))
def lstm_step_shapes(obs):
    for case_id in ("lstm_step", "lstm_step_small"):
        shape = INPUTS[CASES[case_id].inputs[1]].shape
        problem = _shape_problem(obs.call(case_id), obs.arrays[case_id], (shape, shape),
                                 ("h", "c"))
        if problem:
            return failed(problem)
    return passed("a tuple (h, c) of (batch, u) arrays")


@check("lstm_step: equals keras.layers.LSTM from a nonzero state (random weights)", points=10,
       assignment=NAME, function="lstm_step", timeout=CASE_TIMEOUT,
       needs=("lstm_step", "lstm_step_small"))
def lstm_step_values(obs):
    keras_out = _keras(obs, "keras_lstm_step")
    for case_id in ("lstm_step", "lstm_step_small"):
        args = _args(case_id)
        want_h, want_c, _ = ref.lstm_step(*args)
        got = obs.arrays[case_id]
        call = obs.call(case_id)
        if _shape_problem(call, got, (want_h.shape,) * 2, ("h", "c")):
            return failed(f"{call}: the shapes are wrong (see the shape check)")
        h, c = got
        if case_id == "lstm_step":
            want_h, want_c, source = keras_out["h"], keras_out["c"], "keras.layers.LSTM"
            tol = KERAS_TOLERANCE
        else:
            source, tol = "the grader's LSTM", TOLERANCE
        if ref.close(h, want_c, atol=tol, rtol=tol) and ref.close(c, want_h, atol=tol, rtol=tol):
            return failed(f"{call}: h and c are swapped: return (h, c)")
        if not ref.close(h, want_h, atol=tol, rtol=tol):
            return failed(f"{call}: h differs from {source} with the same weights "
                          f"{ref.worst(h, want_h)}{_lstm_hint(h, args)}")
        if not ref.close(c, want_c, atol=tol, rtol=tol):
            return failed(f"{call}: h is right but the cell state c differs from {source} "
                          f"{ref.worst(c, want_c)} (c = f * c_prev + i * candidate)")
    return passed("h and c equal keras.layers.LSTM's to 1e-5 from a nonzero (h, c)")


@check("gru_step: returns h, (batch, u)", points=2, assignment=NAME, function="gru_step",
       timeout=CASE_TIMEOUT,
       needs=("gru_step", "gru_step_small"))
def gru_step_shapes(obs):
    for case_id in ("gru_step", "gru_step_small"):
        shape = INPUTS[CASES[case_id].inputs[1]].shape
        problem = _shape_problem(obs.call(case_id), obs.arrays[case_id], (shape,), ("h",))
        if problem:
            return failed(problem)
    return passed("one (batch, u) array")


@check("gru_step: equals keras.layers.GRU from a nonzero state (random weights)", points=10,
       assignment=NAME, function="gru_step", timeout=CASE_TIMEOUT,
       needs=("gru_step", "gru_step_small"))
def gru_step_values(obs):
    keras_out = _keras(obs, "keras_gru_step")
    for case_id in ("gru_step", "gru_step_small"):
        args = _args(case_id)
        want = ref.gru_step(*args)[0]
        got = obs.arrays[case_id]
        call = obs.call(case_id)
        if _shape_problem(call, got, (want.shape,), ("h",)):
            return failed(f"{call}: the shape is wrong (see the shape check)")
        if case_id == "gru_step":
            want, source, tol = keras_out["h"], "keras.layers.GRU", KERAS_TOLERANCE
        else:
            source, tol = "the grader's GRU", TOLERANCE
        if not ref.close(got, want, atol=tol, rtol=tol):
            return failed(f"{call}: h differs from {source} (reset_after=True) with the same "
                          f"weights {ref.worst(got, want)}{_gru_hint(got, args)}")
    return passed("h equals keras.layers.GRU's (reset_after=True) to 1e-5 from a nonzero h")


def _sequence_outputs(obs, function: str, source: str, hint):
    keras_out = _keras(obs, f"keras_{function.split('_')[0]}_sequence")
    sequence = ref.lstm_sequence if function == "lstm_sequence" else ref.gru_sequence
    for case_id in (function, f"{function}_small"):
        args = _args(case_id)
        want = sequence(*args)[0]
        got = obs.arrays[case_id]
        call = obs.call(case_id)
        if not isinstance(got, tuple) or len(got) != 2:
            return failed(f"{call}: expected a tuple (outputs, gates)")
        outputs = got[0]
        if not ref.has_shape(outputs, want.shape):
            return failed(f"{call}: expected outputs of shape {ref.shape_text(want.shape)} "
                          f"(batch, T, u), got {ref.describe(outputs)}")
        if case_id == function:
            want, tol, against = keras_out["outputs"], KERAS_TOLERANCE, source
        else:
            tol, against = TOLERANCE, "the grader's reference"
        if not ref.close(outputs, want, atol=tol, rtol=tol):
            first = "" if ref.close(outputs[:, 0], want[:, 0], atol=tol, rtol=tol) else \
                " (already at the first step, from the zero state)"
            return failed(f"{call}: outputs differ from {against} with return_sequences=True "
                          f"{ref.worst(outputs, want)}{first}{hint(outputs, args)}")
    return passed(f"outputs equal {source}(return_sequences=True) to 1e-5")


def _teacher_forced(function: str, args, outputs, cell_states):
    """The reference gates at every step, each step started from the *student's* previous
    state (so a wrong output costs the output check, not this one too)."""
    x, *weights = args
    batch, steps, _ = x.shape
    u = np.asarray(weights[1]).shape[0]
    record: dict[str, list] = {}
    for t in range(steps):
        h_prev = outputs[:, t - 1] if t else np.zeros((batch, u))
        if function == "lstm_sequence":
            c_prev = cell_states[:, t - 1] if t else np.zeros((batch, u))
            _, c, gates = ref.lstm_step(x[:, t], h_prev, c_prev, *weights)
            gates = {**gates, "cell": c}
        else:
            _, gates = ref.gru_step(x[:, t], h_prev, *weights)
        for name, value in gates.items():
            record.setdefault(name, []).append(value)
    return {k: np.stack(v, 1) for k, v in record.items()}


def _gates(obs, function: str, names: tuple[str, ...], sigmoid_gates: tuple[str, ...]):
    sequence = ref.lstm_sequence if function == "lstm_sequence" else ref.gru_sequence
    for case_id in (function, f"{function}_small"):
        args = _args(case_id)
        want_outputs, want = sequence(*args)
        got = obs.arrays[case_id]
        call = obs.call(case_id)
        if not isinstance(got, tuple) or len(got) != 2 or not isinstance(got[1], dict):
            return failed(f"{call}: expected a tuple (outputs, gates) with gates a dict")
        outputs, gates = got
        if set(gates) != set(names):
            return failed(f"{call}: expected gates with the keys {', '.join(names)}, got "
                          f"{', '.join(sorted(gates)) or 'none'}")
        for name in names:
            shape = want[name].shape
            if not ref.has_shape(gates[name], shape):
                return failed(f"{call}: expected gates[{name!r}] of shape "
                              f"{ref.shape_text(shape)} (batch, T, u), got "
                              f"{ref.describe(gates[name])}")
        for name in sigmoid_gates:
            values = gates[name]
            if not np.all((values > 0) & (values < 1)):
                return failed(f"{call}: gates[{name!r}] has values from {np.nanmin(values):.3g} "
                              f"to {np.nanmax(values):.3g}, expected every value in (0, 1): a "
                              "gate is a sigmoid")
        own_states = ref.has_shape(outputs, want_outputs.shape) and \
            bool(np.all(np.isfinite(outputs)))
        if own_states:  # judge each step from the student's own previous state
            want = _teacher_forced(function, args, outputs, gates.get("cell"))
        for name in names:
            if ref.close(gates[name], want[name], atol=TOLERANCE, rtol=TOLERANCE):
                continue
            swapped = next((other for other in names if other != name and
                            ref.close(gates[name], want[other], atol=TOLERANCE)), None)
            why = f": it holds the {swapped} values" if swapped else ""
            if name == "cell" and ref.close(gates[name], outputs, atol=TOLERANCE):
                why = ": it holds h; 'cell' is the cell state c"
            start = " (each step computed from your own previous state)" if own_states else ""
            return failed(f"{call}: gates[{name!r}] differs from the grader's reference{start} "
                          f"{ref.worst(gates[name], want[name])}{why}")
    return passed(f"{', '.join(names)}: right shapes, values equal the grader's, gates in (0, 1)")


@check("lstm_sequence: outputs equal keras.layers.LSTM (random weights)", points=6,
       assignment=NAME, function="lstm_sequence",
       timeout=CASE_TIMEOUT,
       needs=("lstm_sequence", "lstm_sequence_small"))
def lstm_sequence_outputs(obs):
    return _sequence_outputs(obs, "lstm_sequence", "keras.layers.LSTM", _lstm_hint)


@check("lstm_sequence: gates input, forget, output in (0, 1) and the cell state", points=5,
       assignment=NAME, function="lstm_sequence",
       timeout=CASE_TIMEOUT,
       needs=("lstm_sequence", "lstm_sequence_small"))
def lstm_sequence_gates(obs):
    return _gates(obs, "lstm_sequence", ("input", "forget", "output", "cell"),
                  ("input", "forget", "output"))


@check("gru_sequence: outputs equal keras.layers.GRU (random weights)", points=6,
       assignment=NAME, function="gru_sequence", timeout=CASE_TIMEOUT,
       needs=("gru_sequence", "gru_sequence_small"))
def gru_sequence_outputs(obs):
    return _sequence_outputs(obs, "gru_sequence", "keras.layers.GRU", _gru_hint)


@check("gru_sequence: gates update and reset in (0, 1)", points=4, assignment=NAME,
       function="gru_sequence", timeout=CASE_TIMEOUT,
       needs=("gru_sequence", "gru_sequence_small"), visibility="after_published")
def gru_sequence_gates(obs):
    return _gates(obs, "gru_sequence", ("update", "reset"), ("update", "reset"))


def _jacobian_values(obs, case_ids: tuple[str, ...], what: str):
    for case_id in case_ids:
        args = _args(case_id)
        want = ref.gru_state_jacobian(*args)
        got = obs.arrays[case_id]
        call = obs.call(case_id)
        problem = _shape_problem(call, got, (want.shape,), ("J (batch, u, u)",))
        if problem:
            if isinstance(got, np.ndarray) and got.shape == want.shape[1:]:
                problem += ": keep the batch axis, one (u, u) matrix per batch row"
            return failed(problem)
        if not ref.close(got, want, atol=TOLERANCE, rtol=TOLERANCE):
            return failed(f"{call}: the Jacobian dh/dh_prev differs from the exact one "
                          f"{ref.worst(got, want)}{_jacobian_hint(got, args)}")
    return passed(f"J[b, i, j] = dh[b, i] / dh_prev[b, j] equals the exact Jacobian to 1e-6 "
                  f"({what})")


@check("gru_state_jacobian: equals the exact dh/dh_prev of gru_step (random weights, nonzero "
       "state)", points=6, assignment=NAME, function="gru_state_jacobian",
       timeout=CASE_TIMEOUT, needs=("gru_state_jacobian", "gru_state_jacobian_small"))
def gru_state_jacobian_values(obs):
    return _jacobian_values(obs, ("gru_state_jacobian", "gru_state_jacobian_small"),
                            "random weights, a nonzero state")


@check("gru_state_jacobian: a batch of one with saturated gates", points=3, assignment=NAME,
       function="gru_state_jacobian", timeout=CASE_TIMEOUT,
       needs=("gru_state_jacobian_saturated",), visibility="after_published")
def gru_state_jacobian_saturated(obs):
    return _jacobian_values(obs, ("gru_state_jacobian_saturated",),
                            "gates near 0 and 1, a batch of one")


class Cells(Assignment):
    NAME, FILENAME, FUNCTIONS, CASES = NAME, FILENAME, FUNCTIONS, CASES
    INPUTS, USES_KERAS = INPUTS, USES_KERAS

    def worker_references(self, inputs: Path) -> list[dict]:
        """Real Keras layers on the main cases' weights, in the trusted worker."""
        tasks = []
        for cell in ("lstm", "gru"):
            weights = {k: INPUTS[f"{cell}_{k}"] for k in ("kernel", "recurrent_kernel", "bias")}
            start = {"h0": INPUTS["h0"], **({"c0": INPUTS["c0"]} if cell == "lstm" else {})}
            for kind, data in (("step", {"x": INPUTS["x_t"][:, None], **start}),
                               ("sequence", {"x": INPUTS["x"]})):
                path = Path(inputs) / f"keras_{cell}_{kind}.npz"
                np.savez(path, **weights, **data)
                tasks.append({"id": f"keras_{cell}_{kind}", "kind": "keras_recurrent",
                              "cell": cell, "data": str(path)})
        return tasks


ASSIGNMENT = Cells()
