"""The grader's own NumPy reference for the ``rnn_numpy`` and ``cells`` assignments.

Checks compare what a student's function returned with values computed here, in the parent
process, from the same inputs. Nothing here is imported from ``solutions/`` (which the
Gradescope bundle does not ship) or from the student's module. Besides the correct
computations, it can compute the usual *wrong* ones (backprop truncated to one step, the
Jacobian without the tanh derivative, LSTM gate blocks in another order, the GRU update
convention flipped, the reset gate applied before the recurrent matmul, the GRU's state
Jacobian transposed or missing a term...), so that a failing check can say which mistake the
student's numbers match.

Conventions follow ``DESIGN.md``: batch first, ``h[:, t] = tanh(x[:, t] W_hx^T + h[:, t-1]
W_hh^T + b_h)``, Keras' weight layouts for the gated cells.
"""

from __future__ import annotations

import itertools

import numpy as np

PARAM_NAMES = ("W_hx", "W_hh", "b_h", "W_y", "b_y")
LSTM_ORDER = ("input", "forget", "candidate", "output")     # Keras' gate blocks


def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


# ------------------------------------------------------------------ vanilla RNN
def rnn_states(params: dict, x: np.ndarray) -> np.ndarray:
    """States ``(batch, T, r)`` of the vanilla RNN from a zero state."""
    x = np.asarray(x, dtype=np.float64)
    batch, steps, _ = x.shape
    state = np.zeros((batch, params["W_hh"].shape[0]))
    states = []
    for t in range(steps):
        state = np.tanh(x[:, t] @ params["W_hx"].T + state @ params["W_hh"].T + params["b_h"])
        states.append(state)
    return np.stack(states, axis=1)


def rnn_forward(params: dict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h = rnn_states(params, x)
    return h, h @ params["W_y"].T + params["b_y"]


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    top = logits.max(axis=-1, keepdims=True)
    return logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))


def rnn_loss(params: dict, x: np.ndarray, targets: np.ndarray) -> float:
    """Mean softmax cross-entropy (natural log) over batch and time."""
    _, logits = rnn_forward(params, x)
    log_p = _log_softmax(logits)
    picked = np.take_along_axis(log_p, np.asarray(targets)[..., None].astype(np.int64), axis=-1)
    return float(-picked.mean())


def rnn_grads(params: dict, x: np.ndarray, targets: np.ndarray, *, truncate: int | None = None,
              tanh_derivative: bool = True) -> dict:
    """Analytic gradients by BPTT; ``truncate=k`` lets each output's gradient flow back only
    k steps (1: no flow through ``W_hh`` between steps), ``tanh_derivative=False`` forgets
    the ``1 - h**2`` factor. Only the correct variant is used as an expected value."""
    x = np.asarray(x, dtype=np.float64)
    batch, steps, _ = x.shape
    h, logits = rnn_forward(params, x)
    probs = np.exp(_log_softmax(logits))
    onehot = np.eye(logits.shape[-1])[np.asarray(targets).astype(np.int64)]
    d_logits = (probs - onehot) / (batch * steps)
    grads = {"W_y": np.einsum("bts,btr->sr", d_logits, h), "b_y": d_logits.sum(axis=(0, 1)),
             "W_hx": np.zeros_like(params["W_hx"]), "W_hh": np.zeros_like(params["W_hh"]),
             "b_h": np.zeros_like(params["b_h"])}
    h_before = np.concatenate([np.zeros_like(h[:, :1]), h[:, :-1]], axis=1)
    for out_step in range(steps):          # each output's gradient, walked back in time
        d_h = d_logits[:, out_step] @ params["W_y"]
        lowest = 0 if truncate is None else max(0, out_step - truncate + 1)
        for t in range(out_step, lowest - 1, -1):
            d_a = d_h * (1.0 - h[:, t] ** 2) if tanh_derivative else d_h
            grads["W_hx"] += d_a.T @ x[:, t]
            grads["W_hh"] += d_a.T @ h_before[:, t]
            grads["b_h"] += d_a.sum(axis=0)
            d_h = d_a @ params["W_hh"]
    return grads


def numerical_grads(params: dict, x: np.ndarray, targets: np.ndarray,
                    eps: float = 1e-6) -> dict:
    """Central differences of :func:`rnn_loss`, one entry at a time (accurate to ~1e-9)."""
    grads = {}
    for name in PARAM_NAMES:
        value = np.array(params[name], dtype=np.float64)
        grad = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            shifted = {**params, name: value.copy()}
            shifted[name][index] = value[index] + eps
            plus = rnn_loss(shifted, x, targets)
            shifted[name][index] = value[index] - eps
            minus = rnn_loss(shifted, x, targets)
            grad[index] = (plus - minus) / (2 * eps)
        grads[name] = grad
    return grads


def clip_global(grads: dict, max_norm: float) -> dict:
    norm = np.sqrt(sum(np.sum(np.square(g)) for g in grads.values()))
    factor = max_norm / norm if norm > max_norm else 1.0
    return {k: np.asarray(g) * factor for k, g in grads.items()}


def clip_per_tensor(grads: dict, max_norm: float) -> dict:
    out = {}
    for k, g in grads.items():
        norm = np.linalg.norm(g)
        out[k] = np.asarray(g) * (max_norm / norm if norm > max_norm else 1.0)
    return out


def jacobian_norms(params: dict, x: np.ndarray, *, tanh_derivative: bool = True,
                   shift: int = 0, ord=None) -> np.ndarray:
    """Entry k: Frobenius norm of dh[T]/dh[k+1] (states numbered from 1), built forwards.

    ``tanh_derivative=False``, ``shift=-1`` (the derivative of the wrong step) and ``ord=2``
    (the spectral norm) are the usual mistakes, computed only to recognise them.
    """
    h = rnn_states(params, np.asarray(x, dtype=np.float64)[None])[0]
    steps, size = h.shape
    norms = np.empty(steps)
    for k in range(steps):
        jac = np.eye(size)                            # dh[k+1]/dh[k+1], then onwards to h[T]
        for t in range(k + 1, steps):                 # 0-based state t depends on state t-1
            j = min(max(t + shift, 0), steps - 1)
            factor = 1.0 - h[j] ** 2 if tanh_derivative else np.ones(size)
            jac = (factor[:, None] * params["W_hh"]) @ jac
        norms[k] = np.linalg.norm(jac, ord)
    return norms


# ------------------------------------------------------------------ gated cells
def lstm_step(x_t, h_prev, c_prev, kernel, recurrent_kernel, bias, order=LSTM_ORDER,
              forget_shift: float = 0.0) -> tuple[np.ndarray, np.ndarray, dict]:
    """(h, c, gates). ``order`` names the meaning of blocks 0-3 (Keras: i, f, candidate, o);
    ``forget_shift=1`` adds Keras' initial "unit forget bias" a second time, in the step."""
    u = np.asarray(h_prev).shape[-1]
    z = np.asarray(x_t) @ kernel + np.asarray(h_prev) @ recurrent_kernel + bias
    block = {name: z[:, i * u:(i + 1) * u] for i, name in enumerate(order)}
    gates = {"input": sigmoid(block["input"]),
             "forget": sigmoid(block["forget"] + forget_shift),
             "output": sigmoid(block["output"])}
    c = gates["forget"] * c_prev + gates["input"] * np.tanh(block["candidate"])
    h = gates["output"] * np.tanh(c)
    return h, c, gates


def lstm_orders() -> list[tuple[str, ...]]:
    """Every order of the four blocks except Keras' own."""
    return [p for p in itertools.permutations(LSTM_ORDER) if p != LSTM_ORDER]


def gru_step(x_t, h_prev, kernel, recurrent_kernel, bias, *, flipped: bool = False,
             reset_before: bool = False, order=("update", "reset")) -> tuple[np.ndarray, dict]:
    """(h, gates) of Keras' GRU (reset_after=True); the keyword arguments make known mistakes:
    ``flipped`` uses ``h = (1 - z) h_prev + z n``, ``reset_before`` computes the candidate as
    ``tanh(x W_n + b_n + (r * h_prev) U_n + b'_n)``, ``order`` swaps the z and r blocks."""
    x_t, h_prev = np.asarray(x_t, dtype=np.float64), np.asarray(h_prev, dtype=np.float64)
    bias = np.asarray(bias, dtype=np.float64).reshape(2, -1)
    u = h_prev.shape[-1]
    x_part = x_t @ kernel + bias[0]
    h_part = h_prev @ recurrent_kernel + bias[1]
    first, second = order
    gates = {first: sigmoid(x_part[:, :u] + h_part[:, :u]),
             second: sigmoid(x_part[:, u:2 * u] + h_part[:, u:2 * u])}
    z, r = gates["update"], gates["reset"]
    if reset_before:
        recurrent = (r * h_prev) @ recurrent_kernel[:, 2 * u:] + bias[1, 2 * u:]
    else:
        recurrent = r * h_part[:, 2 * u:]
    candidate = np.tanh(x_part[:, 2 * u:] + recurrent)
    h = (1 - z) * h_prev + z * candidate if flipped else z * h_prev + (1 - z) * candidate
    return h, gates


def gru_state_jacobian(x_t, h_prev, kernel, recurrent_kernel, bias, *, keep: bool = True,
                       update_path: bool = True, reset_path: bool = True,
                       tanh_derivative: bool = True, transposed: bool = False) -> np.ndarray:
    """``J (batch, u, u)``, ``J[b, i, j] = dh[b, i] / dh_prev[b, j]`` of :func:`gru_step`.

    The product rule on ``h = z h_prev + (1 - z) n`` (Keras layout: the recurrent blocks
    enter transposed): ``diag(z)``, the update gate's ``diag((h_prev - n) z') U_z^T`` and the
    candidate's ``diag((1 - z) tanh') (diag(r) U_n^T + diag(m r') U_r^T)`` with
    ``m = h_prev U_n + b'_n``. The keywords drop a term (``keep``: diag(z), ``update_path``,
    ``reset_path``), forget ``1 - n**2`` or return ``J[b, j, i]`` (``transposed``): the usual
    mistakes, computed only to recognise them.
    """
    x_t, h_prev = np.asarray(x_t, dtype=np.float64), np.asarray(h_prev, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    blocks = np.asarray(recurrent_kernel, dtype=np.float64)
    bias = np.asarray(bias, dtype=np.float64).reshape(2, -1)
    u = h_prev.shape[-1]
    pre_x = x_t @ kernel + bias[0]
    pre_h = h_prev @ blocks + bias[1]
    gate = {name: sigmoid(pre_x[:, k * u:(k + 1) * u] + pre_h[:, k * u:(k + 1) * u])
            for k, name in enumerate(("update", "reset"))}
    z, r = gate["update"], gate["reset"]
    recurrent = pre_h[:, 2 * u:]
    new = np.tanh(pre_x[:, 2 * u:] + r * recurrent)
    w_z, w_r, w_n = blocks[:, :u], blocks[:, u:2 * u], blocks[:, 2 * u:]
    d_new = (1.0 - z) * ((1.0 - new * new) if tanh_derivative else 1.0)
    jac = np.einsum("bi,ji->bij", d_new * r, w_n)
    if update_path:
        jac += np.einsum("bi,ji->bij", (h_prev - new) * z * (1.0 - z), w_z)
    if reset_path:
        jac += np.einsum("bi,ji->bij", d_new * recurrent * r * (1.0 - r), w_r)
    if keep:
        jac += np.einsum("bi,ij->bij", z, np.eye(u))
    return np.swapaxes(jac, 1, 2) if transposed else jac


def lstm_sequence(x, kernel, recurrent_kernel, bias, **variant) -> tuple[np.ndarray, dict]:
    x = np.asarray(x, dtype=np.float64)
    batch, steps, _ = x.shape
    u = np.asarray(recurrent_kernel).shape[0]
    h, c = np.zeros((batch, u)), np.zeros((batch, u))
    outputs, record = [], {"input": [], "forget": [], "output": [], "cell": []}
    for t in range(steps):
        h, c, gates = lstm_step(x[:, t], h, c, kernel, recurrent_kernel, bias, **variant)
        outputs.append(h)
        for name in ("input", "forget", "output"):
            record[name].append(gates[name])
        record["cell"].append(c)
    return np.stack(outputs, 1), {k: np.stack(v, 1) for k, v in record.items()}


def gru_sequence(x, kernel, recurrent_kernel, bias, **variant) -> tuple[np.ndarray, dict]:
    x = np.asarray(x, dtype=np.float64)
    batch, steps, _ = x.shape
    u = np.asarray(recurrent_kernel).shape[0]
    h = np.zeros((batch, u))
    outputs, record = [], {"update": [], "reset": []}
    for t in range(steps):
        h, gates = gru_step(x[:, t], h, kernel, recurrent_kernel, bias, **variant)
        outputs.append(h)
        for name in record:
            record[name].append(gates[name])
    return np.stack(outputs, 1), {k: np.stack(v, 1) for k, v in record.items()}


# ------------------------------------------------------------------ comparing results
def close(got, want, atol: float = 1e-6, rtol: float = 1e-6) -> bool:
    """Same shape and numerically equal (NaN never equal)."""
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    want = np.asarray(want, dtype=np.float64)
    return got.shape == want.shape and bool(np.all(np.isfinite(got))) and \
        bool(np.allclose(got, want, atol=atol, rtol=rtol))


def fmt_index(index) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


def worst(got, want) -> str:
    """'at [i, j]: expected a, got b' for the largest difference (same shapes)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    diff = np.abs(got - want)
    diff = np.where(np.isnan(diff), np.inf, diff)
    index = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
    return f"at {fmt_index(index)}: expected {want[index]:.6g}, got {got[index]:.6g}"


def relative_error(got, want) -> float:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    return float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-12))


def shape_text(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def describe(value) -> str:
    """'shape (3, 4)' for an array, else what it is instead (as the child returned it)."""
    if isinstance(value, np.ndarray):
        return f"shape {shape_text(value.shape)}"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)} values instead of an array"
    if isinstance(value, dict):
        return "a dict instead of an array"
    return f"{type(value).__name__} instead of an array"


def has_shape(value, shape) -> bool:
    return isinstance(value, np.ndarray) and value.shape == tuple(shape)


def signature_problems(signatures: dict, functions: dict) -> list[str]:
    """What differs from the contract's parameter names and defaults."""
    problems = []
    for name, params in functions.items():
        got = signatures.get(name)
        if got is None:
            problems.append(f"{name} is missing")
            continue
        got_params = [(p["name"], p["default"]) for p in got.get("parameters", [])]
        if got_params[: len(params)] != params:
            want = ", ".join(n if d is None else f"{n}={d}" for n, d in params)
            have = ", ".join(n if d is None else f"{n}={d}" for n, d in got_params)
            problems.append(got.get("problem")  # e.g. rebound after its def (signatures)
                            or f"{name}: expected ({want}), got ({have})")
    return problems


_COUNTS = {1: "the", 2: "both", 3: "all three", 4: "all four", 5: "all five"}


def nothing_implemented(obs, filename: str) -> str | None:
    """Why a module-wide check earns nothing yet: every function the grader called is still
    the starter's ``NotImplementedError`` (so the unmodified starter scores 0)."""
    statuses = [result.status for case_id, result in obs.built.items() if case_id in obs.cases]
    if statuses and all(status == "not_implemented" for status in statuses):
        return (f"no function of {filename} is implemented yet: this check counts once one "
                "of them runs")
    return None


def signature_check(assignment: str, filename: str, functions: dict, points: float) -> None:
    """Register the check that every contract function exists with its parameters (worth
    nothing while no function is implemented)."""
    from autograder.registry import check, failed, passed

    @check(f"{filename}: functions with the contract's signatures", points=points,
           assignment=assignment)
    def signatures(obs):
        waiting = nothing_implemented(obs, filename)
        if waiting:
            return failed(waiting)
        problems = signature_problems(obs.signatures, functions)
        if problems:
            return failed("; ".join(problems))
        count = _COUNTS.get(len(functions), f"all {len(functions)}")
        noun = "function has" if len(functions) == 1 else "functions have"
        return passed(f"{count} {noun} the contract's parameters and defaults")


def numpy_only_check(assignment: str, filename: str, points: float, done_by_hand: str) -> None:
    """Register the check that the module works where no deep-learning framework exists.

    Enforced by the sandbox, not by asking the child (whose word student code can forge):
    under bubblewrap the child of a NumPy-only assignment runs where TensorFlow, Keras, JAX
    and PyTorch cannot be imported (:data:`autograder.isolation.FRAMEWORKS` are masked), so a
    module that imports one fails to import and every check says so. Without bubblewrap
    nothing enforces it and the check is skipped, saying why.
    """
    from autograder.registry import check, failed, passed, skipped

    @check(f"{filename}: NumPy only (no TensorFlow, Keras, PyTorch, JAX)", points=points,
           assignment=assignment)
    def numpy_only(obs):
        waiting = nothing_implemented(obs, filename)
        if waiting:
            return failed(waiting)
        if not any(value is not None for value in obs.arrays.values()):
            return failed(f"no function of {filename} returned a result the grader could read,"
                          " so nothing shows that it ran with NumPy only")
        if obs.isolation.level != "bubblewrap":
            return skipped("not enforced on this grader (no bubblewrap): TensorFlow, Keras, "
                           "PyTorch and JAX could be imported here")
        return passed(f"imported and ran where TensorFlow, Keras, PyTorch and JAX cannot be "
                      f"imported: {done_by_hand}")
