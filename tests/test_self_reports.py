"""Self-reports are labelled as such: a Colab run report is a claim, and it earns its points
only when the grader's own re-measurement of the submitted model.keras agrees with it.

Each attack is graded end to end (``autograder.grader.grade``, ``--profile full``) with only
the two checks that read model.keras and run_report.json: the trusted worker loads the model
with ``safe_mode=True`` and predicts the full profile's IMDB test split, the parent (which
holds the labels) computes the accuracy.
"""

import hashlib
import json
import math
import os
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import keras
import pytest

from autograder.assignments import sentiment
from autograder.assignments.sentiment_inputs import encoded_splits
from autograder.grader import grade
from autograder.registry import REGISTRY
from autograder.report import results_json
from autograder.sandbox import TaskResult
from seqlab.train import save_for_submission, seed_everything, train

REPO = Path(__file__).resolve().parent.parent
RUN_REPORT = "self-reported: run report"
T4 = {"platform": "gpu", "name": "Tesla T4", "count": 1}
LAB4_SPLIT = {"dataset": "imdb", "profile": "full", "seed": 0}


@pytest.fixture
def model_checks_only(monkeypatch):
    """Grade only the checks that read model.keras and run_report.json (fast)."""
    kept = [c for c in REGISTRY["sentiment"]
            if c.judge in (sentiment.run_report, sentiment.submitted_model)]
    assert len(kept) == 2
    monkeypatch.setitem(REGISTRY, "sentiment", kept)


@pytest.fixture(scope="module")
def lab4_run(tmp_path_factory) -> Path:
    """A tiny real model trained and saved the way lab 4 does it (``seqlab.train.train`` with
    the full profile's IMDB test split as ``test_data``, then ``save_for_submission``), with
    its report edited to claim a Colab T4, as a student on a CPU could."""
    splits = encoded_splits("imdb", "full")
    seed_everything(0)
    inputs = keras.Input(shape=(None,), dtype="int32")
    h = keras.layers.Embedding(splits["matrix"].shape[0], 8)(inputs)
    h = keras.layers.GlobalAveragePooling1D()(h)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(h), name="tiny")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy",
                  metrics=["accuracy"])
    result = train(model, splits["x_train"][:2000], splits["y_train"][:2000], epochs=1,
                   batch_size=64, patience=None, progress=False,
                   test_data=(splits["x_test"], splits["y_test"]))
    folder = tmp_path_factory.mktemp("lab4")
    save_for_submission(result, folder, data=LAB4_SPLIT)
    report = json.loads((folder / "run_report.json").read_text())
    assert report["data"] == {**LAB4_SPLIT, "samples": {"test": len(splits["y_test"])}}
    report["device"] = T4  # the claim the grader cannot verify
    (folder / "run_report.json").write_text(json.dumps(report))
    return folder


def _submission(folder: Path, model: Path | bytes, report: dict) -> Path:
    folder.mkdir()
    shutil.copyfile(REPO / "solutions" / "sentiment.py", folder / "sentiment.py")
    if isinstance(model, bytes):
        (folder / "model.keras").write_bytes(model)
    else:
        shutil.copyfile(model, folder / "model.keras")
    (folder / "run_report.json").write_text(json.dumps(report))
    return folder


def _grade(folder: Path):
    result = grade(folder, assignment="sentiment", profile="full")
    tests = {t.name.split(":")[0]: t for t in result.tests}
    return result, tests["self-reported"], tests["accuracy"]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_random_bytes_with_a_matching_gpu_report_earn_nothing(tmp_path, model_checks_only):
    noise = os.urandom(50_000)
    report = {"model_name": "gru", "backend": "tensorflow", "device": T4,
              "weights_file": "model.keras", "weights_sha256": hashlib.sha256(noise).hexdigest(),
              "metrics": {"test": {"accuracy": 0.91, "loss": 0.25}}, "data": LAB4_SPLIT}
    result, reported, accuracy = _grade(_submission(tmp_path / "s", noise, report))
    assert result.score == 0 and all(t.points == 0 for t in result.tests)
    assert reported.status == "failed" and "model.keras does not load" in reported.message
    assert accuracy.status == "failed" and "could not be loaded" in accuracy.message
    assert all(entry["score"] == 0 for entry in results_json(result)["tests"])


def test_a_report_whose_metrics_disagree_with_the_model_earns_nothing(tmp_path, lab4_run,
                                                                      model_checks_only):
    report = json.loads((lab4_run / "run_report.json").read_text())
    honest = report["metrics"]["test"]["accuracy"]
    report["metrics"]["test"]["accuracy"] = 0.95
    result, reported, _ = _grade(_submission(tmp_path / "s", lab4_run / "model.keras", report))
    assert _sha(tmp_path / "s" / "model.keras") == report["weights_sha256"]
    assert reported.status == "failed" and reported.points == 0
    found = re.search(r"the report says test accuracy 0\.950, the grader measured (0\.\d{3}) "
                      r"on the same reviews", reported.message)
    assert found, reported.message
    assert abs(float(found.group(1)) - honest) < 0.002  # the grader measured the true value
    entry = next(e for e in results_json(result)["tests"] if e["name"] == reported.name)
    assert entry["score"] == 0 and entry["status"] == "failed"


def test_a_matching_report_earns_its_points_labelled_as_a_self_report(tmp_path, lab4_run,
                                                                      model_checks_only):
    report = json.loads((lab4_run / "run_report.json").read_text())
    result, reported, accuracy = _grade(
        _submission(tmp_path / "s", lab4_run / "model.keras", report))
    assert reported.status == "passed" and reported.points == reported.max_points == 4
    assert reported.name.startswith("self-reported:")
    assert reported.message.startswith("self-reported:")
    assert "Tesla T4" in reported.message and "not verified" in reported.message
    assert f"{report['metrics']['test']['accuracy']:.3f}" in reported.message
    # The GPU points come from agreement only; the accuracy points from the band (none here).
    assert accuracy.points == 0 and "holdout accuracy" in accuracy.message
    entry = next(e for e in results_json(result)["tests"] if e["name"] == reported.name)
    assert entry["name"].startswith("self-reported:") and entry["score"] == 4
    assert entry["output"].startswith("self-reported:")


def _obs(report, profile="full", probabilities=(0.9, 0.2, 0.7, 0.4), labels=(1, 0, 0, 0)):
    import numpy as np

    prediction = TaskResult("submitted_model", "ok",
                            data={"probabilities": list(probabilities),
                                  "shape": [len(probabilities), 1]})
    return SimpleNamespace(profile=profile, labels={"submitted_model": np.array(labels)},
                           submitted={"report": report, "model_sha256": "ab" * 32,
                                      "prediction": prediction})


def _report(accuracy=0.75, **data):
    return {"device": T4, "weights_sha256": "ab" * 32, "data": {**LAB4_SPLIT, **data},
            "metrics": {"test": {"accuracy": accuracy}}}


def test_what_the_report_must_state_to_be_re_measured():
    assert sentiment.run_report(_obs(_report())).status == "passed"  # 3 of 4 right
    assert sentiment.run_report(_obs(_report(0.754))).status == "passed"  # within 0.005
    wrong = sentiment.run_report(_obs(_report(0.76)))
    assert "the report says test accuracy 0.760, the grader measured 0.750" in wrong.message
    quick = sentiment.run_report(_obs(_report(profile="quick")))
    assert quick.status == "failed" and "SEQLAB_PROFILE=full" in quick.message
    fewer = sentiment.run_report(_obs(_report(samples={"test": 2})))
    assert fewer.status == "failed" and "on 2 reviews" in fewer.message
    for missing in (None, math.nan, "0.75"):
        outcome = sentiment.run_report(_obs(_report(missing)))
        assert outcome.status == "failed" and "metrics.test.accuracy" in outcome.message
    old = _report()
    del old["data"]  # a report from before seqlab recorded the split: still re-measured
    assert sentiment.run_report(_obs(old)).status == "passed"
    later = sentiment.run_report(_obs(_report(), profile="quick"))
    assert later.status == "skipped" and "--profile full" in later.message
