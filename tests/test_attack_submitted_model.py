"""A submitted ``model.keras`` passes the one gate every child-saved model passes, and no
root process parses a student's HDF5 (issue 21).

Every ``.keras`` from a student (saved by the sandboxed child, or submitted in the zip and
scored in the full profile) is handed to the worker only through
:func:`autograder.safeload.take_keras`: a bounded, link-proof copy checked at the zip level
(members, sizes, JSON config, an HDF5 signature on ``model.weights.h5``, no other HDF5
file). The parent (root on Gradescope) never opens the HDF5 inside: the sandboxed worker
(bubblewrap, a fresh uid) checks its metadata (:func:`autograder.safeload.check_keras`)
before Keras parses it. Attacks were first seen to succeed (the forged model reached the
worker by a plain copy; ``h5py.File`` ran in the parent), then refused.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from autograder import observe, safeload, worker_cache
from autograder.assignments import Case, ParentInputs, load_assignment
from autograder.sandbox import Limits, TaskResult
from autograder.submission import Submission
from tests.submissions import only_submitted_model_check, tiny_imdb_model
from tests.test_bounded_files import bomb_weights, edit_keras, patch_directory_size

REPO = Path(__file__).resolve().parent.parent


def _declared_2gib(model: Path, dest: Path) -> Path:
    path = edit_keras(model, dest, extra={"assets/vocab.txt": b"2 GiB"})
    patch_directory_size(path, "assets/vocab.txt", 2 * 2**30)
    return path


def _zip_bomb(model: Path, dest: Path) -> Path:
    """300 MiB of zeros deflated to ~300 KB, as an asset."""
    with zipfile.ZipFile(model) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        with archive.open("assets/pad.bin", "w", force_zip64=True) as member:
            for _ in range(300):
                member.write(bytes(2**20))
    return dest


def _weights(model: Path) -> bytes:
    with zipfile.ZipFile(model) as archive:
        return archive.read("model.weights.h5")


ATTACKS = {
    # name: (forge(real_model, dest) -> dest, what the refusal says)
    "a member declaring 2 GiB": (
        _declared_2gib, r"^model\.keras declares 2 GiB uncompressed, more than the 256 MiB "
                        r"allowed$"),
    "a zip bomb": (
        _zip_bomb, r"^model\.keras declares 300 MiB uncompressed, more than the 256 MiB"),
    "a 5 MiB config": (
        lambda m, d: edit_keras(m, d, extra={"config.json": b" " * 5 * 2**20}),
        r"^model\.keras config\.json is 5 MiB, more than the 4 MiB allowed$"),
    "a Python file": (
        lambda m, d: edit_keras(m, d, extra={"evil.py": b"import os"}),
        r"^model\.keras holds 'evil\.py', expected only config\.json, metadata\.json, "
        r"model\.weights\.h5 and assets/$"),
    "HDF5 weights outside model.weights.h5": (
        lambda m, d: edit_keras(m, d, extra={"assets/more.weights.h5": _weights(m)}),
        r"^model\.keras holds HDF5 data in assets/more\.weights\.h5, expected it only in "
        r"model\.weights\.h5$"),
    "weights that are not HDF5": (
        lambda m, d: edit_keras(m, d, extra={"model.weights.h5": b"PK\x03\x04" + bytes(60)}),
        r"^model\.keras model\.weights\.h5 is not an HDF5 file \(it starts with "),
}


def _grading(tmp_path: Path, model: Path) -> observe.Grading:
    """A full-profile sentiment grading whose only case is the submitted model.keras."""
    folder = tmp_path / "submission"
    folder.mkdir()
    shutil.copyfile(model, folder / "model.keras")
    shutil.copyfile(REPO / "starter" / "sentiment.py", folder / "sentiment.py")
    grading = observe.Grading(load_assignment("sentiment"),
                              Submission(folder, ("model.keras", "sentiment.py"), ()),
                              tmp_path / "grading", {"submitted_model": 60.0}, Limits(),
                              profile="full")
    for where in (grading.child_dir / "out", grading.inputs_dir, grading.taken):
        where.mkdir(parents=True)
    x, y = np.ones((3, 5), dtype="int32"), np.array([0, 1, 1])
    grading.inputs = ParentInputs(submitted={"submitted_model": (x, y)})
    np.savez(grading.inputs_dir / "submitted_model.npz", x_test=x)
    return grading


@pytest.fixture
def handed(monkeypatch):
    """The tasks handed to the worker (by ``observe``'s ``run_worker``), each answered ok."""
    tasks = []

    def run_worker(given, workdir, limits, log_dir):
        tasks.extend(given)
        return {t["id"]: TaskResult(t["id"], "ok", "", {"probabilities": [0.5] * 3,
                                                         "shape": [3, 1]}) for t in given}

    monkeypatch.setattr(observe, "run_worker", run_worker)
    return tasks


def _refuse_h5(monkeypatch) -> list:
    """From now on, every ``h5py.File`` this (parent) process opens: refused and recorded."""
    import h5py

    opened = []

    def refuse(*args, **kwargs):
        opened.append(args[0] if args else kwargs)
        raise AssertionError("the parent opened an HDF5 file")

    monkeypatch.setattr(h5py, "File", refuse)
    return opened


@pytest.fixture
def parent_h5(monkeypatch):
    """Every ``h5py.File`` this (parent) process opens, refused and recorded."""
    return _refuse_h5(monkeypatch)


# ---------------------------------------------------------------- the submitted model


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_forged_submitted_model_never_reaches_the_worker(attack, tmp_path, model_keras,
                                                           handed):
    forge, said = ATTACKS[attack]
    grading = _grading(tmp_path, forge(model_keras, tmp_path / "forged.keras"))
    observe.measure_in_worker(grading)
    given = [t for t in handed if t["id"] == "submitted_model"]
    assert not given, f"expected the forged model.keras refused, got it handed over: {given}"
    assert not (grading.worker_dir / "submitted.keras").exists()
    result = grading.measured["submitted_model"]
    assert result.status == "error" and "submitted_model" not in grading.grader_problems
    assert result.message.startswith("its file was refused: "), result.message
    assert re.search(said, result.message.removeprefix("its file was refused: ")), \
        result.message


def test_a_refused_submitted_model_scores_0_of_10_saying_why(tmp_path, model_keras, handed):
    from autograder.assignments.sentiment import submitted_model

    grading = _grading(tmp_path, _declared_2gib(model_keras, tmp_path / "forged.keras"))
    observe.measure_in_worker(grading)
    obs = SimpleNamespace(profile="full", full_bands={"submitted_model": {
        "full_credit_at": 0.85, "zero_credit_at": 0.6}}, labels={},
        submitted={"model_sha256": "0" * 64,
                   "prediction": grading.measured["submitted_model"]})
    outcome = submitted_model(obs)
    assert (outcome.status, outcome.fraction) == ("failed", 0.0)
    assert outcome.message == (
        "model.keras could not be loaded or run on token ids (batch, T): its file was "
        "refused: model.keras declares 2 GiB uncompressed, more than the 256 MiB allowed")


def test_a_real_submitted_model_is_handed_over_checked_and_unchanged(tmp_path, model_keras,
                                                                     handed, parent_h5):
    grading = _grading(tmp_path, model_keras)
    observe.measure_in_worker(grading)
    (task,) = [t for t in handed if t["id"] == "submitted_model"]
    assert Path(task["model"]).read_bytes() == model_keras.read_bytes()
    assert grading.measured["submitted_model"].ok
    assert parent_h5 == [], "expected the parent never to open the student's HDF5"


def test_a_submitted_model_linked_to_a_grader_file_is_refused(tmp_path, model_keras, handed):
    grading = _grading(tmp_path, model_keras)
    target = grading.submission.folder / "model.keras"
    target.unlink()
    target.symlink_to(model_keras)
    observe.measure_in_worker(grading)
    assert not [t for t in handed if t["id"] == "submitted_model"]
    assert "model.keras is a symbolic link" in grading.measured["submitted_model"].message


# ---------------------------------------------------------------- no HDF5 in the parent


def test_child_saved_models_are_taken_without_the_parent_opening_their_hdf5(
        tmp_path, model_keras, parent_h5):
    grading = _grading(tmp_path, model_keras)
    case = Case("m", "build_rnn_classifier", {}, kind="build_model")
    shutil.copyfile(model_keras, grading.child_dir / "out" / "m.keras")
    grading.built = {"m": TaskResult("m", "ok", "")}
    files = observe._take_models(case, grading)
    assert files == [str(grading.worker_dir / "m.keras")], grading.built["m"]
    assert parent_h5 == [], "expected the parent never to open the student's HDF5"


def test_a_child_saved_zip_bomb_is_refused_by_the_same_gate(tmp_path, model_keras):
    grading = _grading(tmp_path, model_keras)
    case = Case("m", "build_rnn_classifier", {}, kind="build_model")
    _zip_bomb(model_keras, grading.child_dir / "out" / "m.keras")
    grading.built = {"m": TaskResult("m", "ok", "")}
    assert observe._take_models(case, grading) is None
    assert grading.built["m"].message.startswith(
        "its saved model was refused (m.keras declares 300 MiB uncompressed")
    assert not (grading.worker_dir / "m.keras").exists()


def test_worker_results_are_reused_without_the_parent_opening_hdf5(tmp_path, model_keras,
                                                                   monkeypatch):
    """Reuse keys a model by its members' bytes (HDF5 weights included, unparsed)."""
    first, second = tmp_path / "a.keras", tmp_path / "b.keras"
    shutil.copyfile(model_keras, first)
    edit_keras(model_keras, second, extra={"metadata.json": b'{"date_saved": "later"}'})
    other = edit_keras(model_keras, tmp_path / "c.keras", bomb_weights)
    opened = _refuse_h5(monkeypatch)
    keys = [worker_cache._task_key({"id": "x", "kind": "inspect", "model": str(p)}, 2)
            for p in (first, second, other)]
    assert keys[0] is not None and keys[0] == keys[1], keys
    assert keys[2] not in (None, keys[0]), keys
    assert opened == [], "expected the parent never to open the student's HDF5"


# ---------------------------------------------------------------- HDF5 in the worker


def test_the_worker_checks_the_hdf5_before_keras_parses_it(tmp_path, model_keras):
    """The sandboxed worker's loader refuses forged weights with the gate's sentence."""
    from autograder.worker_runs import within_declared_sizes

    loaded = []
    load = within_declared_sizes(lambda path, *a, **k: loaded.append(path) or "model")
    bomb = edit_keras(model_keras, tmp_path / "bomb.keras", bomb_weights)
    with pytest.raises(safeload.UnsafeFile, match=r"dataset layers/dense/vars/0 declares a "
                                                  r"\(3, 268435456\) float32 array \(3 GiB\)"):
        load(str(bomb))
    assert loaded == []
    assert load(str(model_keras)) == "model" and loaded == [str(model_keras)]


def test_the_gate_opens_no_hdf5_and_check_keras_still_does(tmp_path, model_keras, parent_h5):
    copy = safeload.take_keras(model_keras.parent, model_keras.name, tmp_path / "m.keras")
    assert copy.read_bytes() == model_keras.read_bytes()
    assert copy.stat().st_mode & 0o777 == 0o644
    assert parent_h5 == []
    with pytest.raises(AssertionError, match="opened an HDF5 file"):
        safeload.check_keras(copy)  # the full check is for the sandboxed worker only


@pytest.mark.slow
def test_a_forged_submitted_model_in_the_sandboxed_worker(tmp_path, model_keras):
    """End to end through the real worker (sandboxed): a model whose weights keep their
    data in a grader file fails its prediction with the gate's sentence."""
    from autograder.worker_runs import run_worker

    secret = tmp_path / "answers.npy"
    np.save(secret, np.arange(10))

    def external(file):
        file.create_dataset("layers/dense/vars/2", shape=(16,), dtype="u1",
                            external=[(str(secret), 0, 16)])

    grading = _grading(tmp_path, edit_keras(model_keras, tmp_path / "ext.keras", external))
    copy = safeload.take_keras(grading.submission.folder, "model.keras",
                               grading.worker_dir / "submitted.keras")
    task = {"id": "submitted_model", "kind": "predict", "model": str(copy),
            "data": str(grading.inputs_dir / "submitted_model.npz"), "timeout": 60}
    result = run_worker([task], grading.worker_dir, Limits(), grading.root)["submitted_model"]
    assert result.status == "error"
    assert "keeps its data in an external file" in result.message, result.message


@pytest.mark.slow
def test_a_full_grading_gates_the_submitted_model_and_never_opens_its_hdf5(tmp_path,
                                                                          monkeypatch):
    """A real full-profile grading (the parent's h5py refused): a real model.keras is
    scored by the sandboxed worker; the same model with a 2 GiB-declared member scores 0 of
    10, the refusal said in one sentence."""

    from autograder.grader import grade

    only_submitted_model_check(monkeypatch)
    model = tiny_imdb_model()
    folders = {}
    for name in ("real", "forged"):
        folders[name] = tmp_path / name
        folders[name].mkdir()
        shutil.copyfile(REPO / "solutions" / "sentiment.py", folders[name] / "sentiment.py")
    model.save(folders["real"] / "model.keras")
    _declared_2gib(folders["real"] / "model.keras", folders["forged"] / "model.keras")
    opened = _refuse_h5(monkeypatch)
    real = grade(folders["real"], assignment="sentiment", profile="full").tests[0]
    forged = grade(folders["forged"], assignment="sentiment", profile="full").tests[0]
    assert real.max_points == 10 and "holdout accuracy" in real.message, real.message
    assert (forged.points, forged.max_points) == (0, 10)
    assert forged.message == (
        "model.keras could not be loaded or run on token ids (batch, T): its file was "
        "refused: model.keras declares 2 GiB uncompressed, more than the 256 MiB allowed")
    assert opened == [], "expected the parent never to open the student's HDF5"


@pytest.mark.slow
def test_a_grading_of_child_saved_models_never_opens_their_hdf5_in_the_parent(tmp_path,
                                                                              monkeypatch):
    """The reference's build_rnn_classifier, built by the child and measured by the
    sandboxed worker, passes with the parent's h5py refused."""
    from autograder.grader import grade

    opened = _refuse_h5(monkeypatch)
    result = grade(REPO / "solutions", assignment="sentiment",
                   functions=("build_rnn_classifier",), public_only=True, case_timeout=60)
    tests = [t for t in result.tests if t.name.startswith("build_rnn_classifier")]
    assert tests and all(t.status in ("passed", "skipped") for t in tests), \
        [(t.name, t.message) for t in tests if t.status not in ("passed", "skipped")]
    assert opened == [], "expected the parent never to open the student's HDF5"
