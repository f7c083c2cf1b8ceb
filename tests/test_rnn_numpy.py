"""The vanilla RNN reference (solutions/rnn_numpy.py), its starter, and the grader's reference.

The solution and ``autograder/assignments/fundamentals_reference.py`` are written
independently; each is checked against first principles (central differences, a brute-force
Jacobian) and against the other.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from autograder.assignments import fundamentals_reference as ref
from seqlab.student import student_module

FUNCTIONS = ("init_params", "rnn_forward", "rnn_loss_and_grads", "clip_by_global_norm",
             "state_jacobian_norms")


@pytest.fixture(scope="module")
def rnn():
    return student_module("rnn_numpy", impl="solutions")


@pytest.fixture(scope="module")
def problem(rnn):
    rng = np.random.default_rng(5)
    params = rnn.init_params(4, 6, 3, seed=2)
    params["b_h"] = rng.normal(0, 0.3, size=6)       # nonzero biases catch more slips
    params["b_y"] = rng.normal(0, 0.3, size=3)
    x = rng.normal(size=(3, 5, 4))
    targets = rng.integers(0, 3, size=(3, 5))
    return params, x, targets


def test_init_params_contract(rnn):
    params = rnn.init_params(3, 5, 4, seed=1)
    assert {k: v.shape for k, v in params.items()} == {
        "W_hx": (5, 3), "W_hh": (5, 5), "b_h": (5,), "W_y": (4, 5), "b_y": (4,)}
    assert all(v.dtype == np.float64 for v in params.values())
    again, other = rnn.init_params(3, 5, 4, seed=1), rnn.init_params(3, 5, 4, seed=2)
    assert all(np.array_equal(params[k], again[k]) for k in params)
    assert not np.array_equal(params["W_hh"], other["W_hh"])
    assert inspect.signature(rnn.init_params).parameters["seed"].default == 0


def test_forward_is_the_recurrence(rnn, problem):
    params, x, _ = problem
    h, logits = rnn.rnn_forward(params, x)
    assert h.shape == (3, 5, 6) and logits.shape == (3, 5, 3)
    state = np.zeros(6)
    for t in range(5):  # one sequence, written as in the lecture (column vectors)
        state = np.tanh(params["W_hx"] @ x[1, t] + params["W_hh"] @ state + params["b_h"])
        np.testing.assert_allclose(h[1, t], state, atol=1e-12)
        np.testing.assert_allclose(logits[1, t], params["W_y"] @ state + params["b_y"],
                                   atol=1e-12)


def test_loss_is_the_mean_cross_entropy(rnn, problem):
    params, x, targets = problem
    loss, _ = rnn.rnn_loss_and_grads(params, x, targets)
    _, logits = rnn.rnn_forward(params, x)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    want = -np.mean(np.log(np.take_along_axis(probs, targets[..., None], -1)))
    assert isinstance(loss, float) and loss == pytest.approx(want, rel=1e-12)


def test_gradients_match_central_differences(rnn, problem):
    params, x, targets = problem
    _, grads = rnn.rnn_loss_and_grads(params, x, targets)
    numeric = ref.numerical_grads(params, x, targets)
    assert set(grads) == set(params)
    for name in params:
        assert ref.relative_error(grads[name], numeric[name]) < 1e-7, name


def test_grader_reference_agrees_with_the_solution(rnn, problem):
    params, x, targets = problem
    _, grads = rnn.rnn_loss_and_grads(params, x, targets)
    mine = ref.rnn_grads(params, x, targets)
    for name in params:
        np.testing.assert_allclose(mine[name], grads[name], rtol=1e-10, atol=1e-13)
    assert ref.rnn_loss(params, x, targets) == pytest.approx(
        rnn.rnn_loss_and_grads(params, x, targets)[0], rel=1e-12)
    # The known mistakes the grader recognises really differ from the right answer.
    truncated = ref.rnn_grads(params, x, targets, truncate=1)
    assert ref.relative_error(truncated["W_hh"], grads["W_hh"]) > 0.05
    np.testing.assert_allclose(truncated["W_y"], grads["W_y"])


def test_clip_by_global_norm(rnn):
    grads = {"a": np.full((2, 2), 3.0), "b": np.array([4.0, 0.0])}    # global norm sqrt(52)
    clipped = rnn.clip_by_global_norm(grads, max_norm=2.0)
    factor = 2.0 / np.sqrt(52.0)
    np.testing.assert_allclose(clipped["a"], grads["a"] * factor)
    np.testing.assert_allclose(clipped["b"], grads["b"] * factor)
    assert grads["a"][0, 0] == 3.0                                     # input untouched
    same = rnn.clip_by_global_norm(grads, max_norm=100.0)
    assert all(np.array_equal(same[k], grads[k]) for k in grads)
    for name in grads:  # the grader's reference agrees; per-tensor clipping does not
        np.testing.assert_allclose(ref.clip_global(grads, 2.0)[name], clipped[name])
    assert not np.allclose(ref.clip_per_tensor(grads, 2.0)["b"], clipped["b"])


def test_state_jacobian_norms_match_a_brute_force_jacobian(rnn, problem):
    params, _, _ = problem
    x = np.random.default_rng(9).normal(size=(7, 4))
    norms = rnn.state_jacobian_norms(params, x)
    assert norms.shape == (7,) and norms[-1] == pytest.approx(np.sqrt(6))

    def last_state_from(k, state):  # rerun steps k+1.. from a given (0-based) state k
        for t in range(k + 1, len(x)):
            state = np.tanh(params["W_hx"] @ x[t] + params["W_hh"] @ state + params["b_h"])
        return state

    h, _ = rnn.rnn_forward(params, x[None])
    eps = 1e-6
    for k in (0, 3, 5):
        jac = np.stack([(last_state_from(k, h[0, k] + eps * e) -
                         last_state_from(k, h[0, k] - eps * e)) / (2 * eps)
                        for e in np.eye(6)], axis=1)
        assert norms[k] == pytest.approx(np.linalg.norm(jac), rel=1e-6)
    np.testing.assert_allclose(ref.jacobian_norms(params, x), norms, rtol=1e-10)
    assert not np.allclose(ref.jacobian_norms(params, x, tanh_derivative=False), norms)


def test_starter_stubs_keep_the_contract():
    stub = student_module("rnn_numpy", impl="starter")
    solution = student_module("rnn_numpy", impl="solutions")
    params = solution.init_params(2, 3, 2)
    arguments = {"init_params": (2, 3, 2), "rnn_forward": (params, np.zeros((1, 2, 2))),
                 "rnn_loss_and_grads": (params, np.zeros((1, 2, 2)), np.zeros((1, 2), int)),
                 "clip_by_global_norm": (params, 1.0),
                 "state_jacobian_norms": (params, np.zeros((2, 2)))}
    for name in FUNCTIONS:
        with pytest.raises(NotImplementedError, match=rf"^{name}: .*not implemented yet"):
            getattr(stub, name)(*arguments[name])
        assert inspect.signature(getattr(stub, name)) == inspect.signature(
            getattr(solution, name))
        assert getattr(stub, name).__doc__ == getattr(solution, name).__doc__
    assert stub.__doc__ == solution.__doc__
