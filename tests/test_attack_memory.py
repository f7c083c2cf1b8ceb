"""Memory a submission demands counts against it, never as the grader's failure.

A child that fills tmpfs (``/dev/shm``, its private ``/tmp``: ``RLIMIT_DATA`` does not count
them) is stopped by its call's own memory cgroup (:class:`autograder.sandbox.CallMemory`) and
fails its checks with the maximum unchanged; a worker task on the student's model that runs
out of memory fails the check; the grader's own models running out, or the container's OOM
while the call stayed below its bound, stay ``grader_error``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.sandbox import GIB, CallMemory, Limits, TaskResult, _over_own_memory
from autograder.worker_runs import worker_problem
from tests.attacks import grade_rnn, prepend, with_reference_answers, write_module

CGROUP = CallMemory(64 << 20)
HAS_CGROUP = CGROUP.path is not None
CGROUP.remove()
needs_cgroup = pytest.mark.skipif(not HAS_CGROUP, reason="no memory cgroup can be made here")


@needs_cgroup
def test_a_call_cgroup_is_made_entered_bounded_and_removed():
    memory = CallMemory(96 << 20)
    try:
        fill = "b = bytearray(400 << 20)\nb[::4096] = b'x' * len(b[::4096])\n"
        done = subprocess.run([sys.executable, "-c", fill], preexec_fn=memory.enter,
                              capture_output=True)
        assert done.returncode == -9, done  # the cgroup's OOM killer, not the machine's
        used = memory.usage()
        assert used["oom_kills"] >= 1 and memory.exceeded(), used
        path = memory.path
    finally:
        memory.remove()
    assert not path.exists()


def test_without_a_cgroup_nothing_is_claimed():
    memory = CallMemory(1 << 20)
    made, memory.path = memory.path, None  # as where /sys/fs/cgroup is read-only
    assert memory.usage()["oom_kills"] is None and not memory.exceeded()
    memory.path = made
    memory.remove()


FILL = """
import errno as _errno, os as _os, time as _time
_chunk = b"x" * (16 << 20)
for _where in ("/dev/shm", "/tmp"):  # tmpfs: RLIMIT_DATA does not count it
    try:
        for _number in range(8):  # 1 GB each, in files below RLIMIT_FSIZE, until full
            with open(_os.path.join(_where, f"fill{_number}"), "wb") as _file:
                for _ in range(8):
                    _file.write(_chunk)
    except OSError as _error:
        if _error.errno not in (_errno.EACCES, _errno.ENOSPC):
            raise
_pids = []
for _ in range(3):  # each below its own RLIMIT_DATA, together far above the call's bound
    _pid = _os.fork()
    if _pid == 0:
        _block = bytearray(700 << 20)
        _block[::4096] = b"y" * len(_block[::4096])
        _time.sleep(1)
        _os._exit(0)
    _pids.append(_pid)
_ends = [_os.waitpid(_pid, 0)[1] for _pid in _pids]
if any(_ends):
    raise MemoryError(f"helpers ended with {_ends}")
"""


@pytest.mark.slow
@needs_cgroup
def test_a_child_filling_tmpfs_fails_its_own_checks_and_the_grader_survives(tmp_path):
    """tmpfs (/dev/shm where writable, /tmp) then three 700 MB processes, each under its
    1 GB RLIMIT_DATA: unbounded, all of it fits and every check passes; the call's cgroup
    (1.5 GB in all) stops it, and that is the student's failure."""
    folder = with_reference_answers(write_module(tmp_path / "sub", prepend(FILL)))
    result = grade_rnn(folder, limits=Limits(memory_bytes=1 << 30))
    code = [t for t in result.tests if not t.name.startswith(("question", "Q"))]
    assert code and all(t.status != "grader_error" for t in result.tests)
    failed = [t for t in code if t.status == "failed"]
    assert failed and all(t.points == 0 and t.max_points > 0 for t in failed)
    said = "\n".join(t.message for t in failed)
    assert ("needed more memory than the sandbox allows" in said
            and "expected at most 1536 MB" in said) or "No space left" in said or (
            "Cannot allocate memory" in said), said


def test_memory_over_the_calls_own_bound_is_the_students():
    used = {"oom_kills": 1, "peak": 800 << 20, "limit": 768 << 20}
    spec = {"tasks": [{"id": "t"}]}
    killed = TaskResult("t", "crashed", "the process running t was killed by SIGKILL")
    said = _over_own_memory({"t": killed}, spec, lambda task: task["id"], used)["t"]
    assert said.status == "crashed" and "expected at most 768 MB" in said.message
    assert "got 800 MB" in said.message and said.data["out_of_memory"]["oom_kills"] == 1
    assert worker_problem(said, GIB) is None  # the check fails, the maximum stays


@pytest.mark.parametrize("status, message", [
    ("error", "MemoryError: Unable to allocate 7.45 GiB for an array"),
    ("error", "ResourceExhaustedError: OOM when allocating tensor with shape[1000000]"),
])
def test_a_student_models_memory_error_in_the_worker_fails_the_check(status, message):
    task = TaskResult("t", status, message)
    assert worker_problem(task, GIB) is None
    grader_own = worker_problem(task, GIB, student_model=False)  # grader_models
    assert grader_own and "not about your code" in grader_own


def test_an_unexplained_kill_of_the_worker_stays_the_graders():
    said = worker_problem(TaskResult("t", "crashed", "killed by SIGKILL"), GIB)
    assert said and "not about your code" in said
    container = TaskResult("t", "grader_error", "the grading machine ran out of memory")
    assert worker_problem(container, GIB) == container.message


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_the_call_cgroup_is_removed_when_the_child_cannot_start(tmp_path, monkeypatch):
    from autograder import sandbox

    made = []
    real = sandbox.CallMemory.__init__

    def spy(self, limit):
        real(self, limit)
        made.append(self.path)

    monkeypatch.setattr(sandbox.CallMemory, "__init__", spy)
    monkeypatch.setattr(sandbox, "_argv", lambda launch, path: ["/nonexistent/python"])
    with pytest.raises(OSError):
        sandbox.run_tasks("autograder.child", {}, [{"id": "t", "timeout": 5}],
                          workdir=tmp_path, limits=Limits())
    assert made and all(p is None or not p.exists() for p in made)


def _saved(tmp_path, layers, name="m.keras"):
    import keras

    model = keras.Sequential(layers)  # never built: saving it allocates no weights
    path = tmp_path / name
    model.save(path)
    return str(path)


def test_huge_declared_sizes_fail_before_building_with_a_sentence(tmp_path):
    import keras

    from autograder.worker_runs import MAX_DECLARED_PARAMS, declared_params, within_declared_sizes

    loaded = []
    load = within_declared_sizes(lambda path, *a, **k: loaded.append(path) or "model")
    for layers in ([keras.layers.Embedding(10 ** 8, 16), keras.layers.GRU(8)],
                   [keras.layers.Embedding(1000, 16), keras.layers.GRU(units=10 ** 5)],
                   [keras.layers.Embedding(1000, 256), keras.layers.Dense(10 ** 6)]):
        path = _saved(tmp_path, layers, f"m{len(loaded)}-{layers[-1].name}.keras")
        with pytest.raises(MemoryError) as caught:
            load(path)
        said = f"MemoryError: {caught.value}"
        assert f"expected at most {MAX_DECLARED_PARAMS:,}" in said and "got at least" in said
        task = TaskResult("train", "error", said)
        assert worker_problem(task, GIB) is None  # failed, its maximum unchanged
    assert loaded == []
    fine = [keras.layers.Embedding(20000, 100), keras.layers.GRU(64), keras.layers.Dense(1)]
    path = _saved(tmp_path, fine, "fine.keras")
    assert load(path) == "model" and declared_params(None) == 0


@pytest.mark.slow
def test_the_containers_oom_while_the_call_stayed_below_its_bound_is_the_graders(
        tmp_path, monkeypatch):
    """A SIGKILL with the container's OOM count rising and the call's own cgroup below its
    limit: the container was full, not the student's call. Withheld, graded again."""
    from autograder import sandbox

    kills = iter(range(1000))
    monkeypatch.setattr(sandbox, "container_memory", lambda: (768 << 20, next(kills)))
    killed = prepend("import os as _o, signal as _s\n_o.kill(_o.getpid(), _s.SIGKILL)\n")
    result = grade_rnn(with_reference_answers(write_module(tmp_path / "sub", killed)))
    withheld = [t for t in result.tests if t.status == "grader_error"]
    assert withheld and all(t.points == t.max_points == 0 for t in withheld)
    assert "ran out of memory" in withheld[0].message and "not about your code" in (
        withheld[0].message)
    assert not any("needed more memory than the sandbox" in t.message for t in result.tests)


@needs_cgroup
def test_a_killed_graders_empty_call_cgroup_is_removed_by_the_next_call():
    memory = CallMemory(64 << 20)
    stale = memory.path.with_name("seqlab-999999999-1-1")
    stale.mkdir()
    memory.remove()
    CallMemory(64 << 20).remove()
    assert not stale.exists()


SENTIMENT = (Path(__file__).resolve().parent.parent / "solutions" / "sentiment.py").read_text()
# Kim's CNN with the contract's layers and parameter count, but each sequence stretched
# 4,000 times before the convolutions: training on the holdout's reviews needs gigabytes.
MEMORY_HUNGRY_CNN = SENTIMENT.replace(
    "    x = embedding(inputs)                                      # (batch, T, d)\n"
    "    pooled = []\n",
    "    x = embedding(inputs)                                      # (batch, T, d)\n"
    "    x = keras.layers.UpSampling1D(4000)(x)                     # (batch, 4000 T, d)\n"
    "    pooled = []\n", 1)


@pytest.mark.slow
@needs_cgroup
def test_a_model_whose_training_outgrows_the_worker_fails_its_accuracy_check(tmp_path):
    """End to end: a student model that trains past the worker's memory fails the accuracy
    check with expected vs got (the maximum unchanged), never ``grader_error``."""
    from dataclasses import replace

    from autograder.grader import grade

    assert MEMORY_HUNGRY_CNN != SENTIMENT, "the reference changed"
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "sentiment.py").write_text(MEMORY_HUNGRY_CNN)
    limits = replace(Limits(), worker_memory_bytes=2 * GIB)
    result = grade(folder, assignment="sentiment", functions=("build_cnn_classifier",),
                   limits=limits, case_timeout=300)
    accuracy = next(t for t in result.tests if t.name.startswith("accuracy: Kim CNN"))
    assert accuracy.status == "failed" and accuracy.points == 0 < accuracy.max_points, accuracy
    assert "needs more memory than the grader gives one call" in accuracy.message, accuracy
    assert "Lambda" not in accuracy.message  # not the reload rule's advice
    assert not [t for t in result.tests if t.status == "grader_error"]
