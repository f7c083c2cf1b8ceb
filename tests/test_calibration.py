"""Accuracy bands: the committed ones pass the reference on every calibrated seed and give
nothing to a model that ignores its input; `calibrate` writes them per profile."""

import json

import pytest

import autograder.calibrate as calibrate_module
from autograder.grader import BANDS_FILE


def _bands(profile):
    found = json.loads(BANDS_FILE.read_text()).get(profile, {})
    return {name: band for name, band in found.items() if not name.startswith("_")}


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_committed_bands_pass_every_reference_seed_and_fail_chance(profile):
    bands = _bands(profile)
    if profile == "quick":
        assert set(bands) == {"gru_imdb", "cnn_rotten_tomatoes", "char_lm_reviews",
                              "seq2seq_additions", "captioning_scenes",
                              "captioning_scenes/bleu"}
    for name, band in bands.items():
        assert len(band["seeds"]) == len(band["accuracies"]) >= 3, name
        if band.get("metric") == "bits_per_char":  # lower is better
            assert band["full_credit_at"] >= max(band["accuracies"]), name
            # A unigram model (it ignores the history): no credit.
            assert band["zero_credit_at"] >= band["chance"] - 1e-9, name
            assert band["zero_credit_at"] > band["full_credit_at"], name
            continue
        assert band["full_credit_at"] <= min(band["accuracies"]), name
        # A model that ignores its input scores the majority rate: no credit.
        assert band["zero_credit_at"] >= band["chance"] + 0.05 - 1e-9, name
        assert band["zero_credit_at"] < band["full_credit_at"], name
        assert band["why"] and str(band["margin"]) in band["why"]
        assert band["made"]["command"].startswith("python -m autograder calibrate")


def test_calibrate_writes_the_profiles_band_and_keeps_the_others(tmp_path, monkeypatch):
    bands_file = tmp_path / "bands.json"
    bands_file.write_text(json.dumps({"quick": {"gru_imdb": {"kept": True}}}))
    monkeypatch.setattr(calibrate_module, "BANDS_FILE", bands_file)
    monkeypatch.setattr(calibrate_module, "reference_accuracies", lambda assignment, seeds,
                        profile: ({"gru_imdb_full": [0.88, 0.9, 0.89]}, {"gru_imdb_full": 0.5},
                                  "gpu NVIDIA H100"))
    calibrate_module.calibrate([0, 1, 2], margin=0.02, profile="full",
                               assignments=["sentiment"])
    written = json.loads(bands_file.read_text())
    assert written["quick"] == {"gru_imdb": {"kept": True}}
    band = written["full"]["submitted_model"]  # the key the model.keras check reads
    assert band["full_credit_at"] == pytest.approx(0.86)
    assert band["zero_credit_at"] == pytest.approx(0.55)
    assert band["made"]["machine"]["device"] == "gpu NVIDIA H100"
    assert "--profile full --seeds 0 1 2" in band["made"]["command"]


def test_calibrate_refuses_a_reference_too_close_to_chance(tmp_path, monkeypatch):
    monkeypatch.setattr(calibrate_module, "BANDS_FILE", tmp_path / "bands.json")
    monkeypatch.setattr(calibrate_module, "reference_accuracies", lambda assignment, seeds,
                        profile: ({"gru_imdb": [0.56, 0.6]}, {"gru_imdb": 0.5}, "cpu"))
    with pytest.raises(RuntimeError, match="too close to chance"):
        calibrate_module.calibrate([0, 1], profile="quick", assignments=["sentiment"])
    assert not (tmp_path / "bands.json").exists()


def test_bits_per_char_bands_give_credit_for_fewer_bits():
    band = calibrate_module.make_band({"metric": "bits_per_char", "margin": 0.1},
                                      [2.2, 2.3], 4.3, 0.03, [0, 1])
    assert band["full_credit_at"] == pytest.approx(2.4) and band["zero_credit_at"] == 4.3
    with pytest.raises(RuntimeError, match="too close to chance"):
        calibrate_module.make_band({"metric": "bits_per_char"}, [4.2, 4.31], 4.3, 0.03, [0])
