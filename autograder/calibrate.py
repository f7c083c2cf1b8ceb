"""Calibrate accuracy bands: train the reference with the grading recipe over several seeds.

    python -m autograder calibrate --seeds 0 1 2 3 4 --margin 0.03
    python -m autograder calibrate --profile full --seeds 0 1 2   # best on a GPU

For every accuracy recipe, the reference solution's architecture is trained by the same
sandboxed pipeline that grades students, once per seed, and scored on the holdout. The band
gives full credit at ``min(reference) - margin`` and none at ``chance + 0.05``, with partial
credit in between. The margin covers what the seeds do not: other CPUs, library versions and
thread counts change the last digits of training. The per-seed accuracies, the band and the
command are written to ``autograder/bands.json``, which is reviewed and committed.

``--profile quick`` calibrates the recipes the grader trains students' models with;
``--profile full`` the recipe of lab 4's model on the full data (``SUBMITTED_MODEL_RECIPE``):
its band scores the ``model.keras`` a student submits.
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from pathlib import Path

from autograder.assignments import ASSIGNMENTS, load_assignment
from autograder.bands import BANDS_FILE
from autograder.metrics import METRICS
from autograder.observe import observe
from autograder.sandbox import Limits
from autograder.submission import resolve
from seqlab.paths import REPO_ROOT

CHANCE_MARGIN = 0.05


def reference_accuracies(assignment: str, seeds: list[int], profile: str = "quick"
                         ) -> tuple[dict[str, list[float]], dict[str, float], str]:
    """The reference's metric for each band of the recipes of ``profile`` and seed (see
    :meth:`Assignment.band_metrics`), what a model that ignores its input scores on each,
    and the device the worker trained on."""
    spec = load_assignment(assignment)
    accuracy_cases = {c.id: c for c in spec.CASES.values()
                      if c.recipe and spec.RECIPES[c.recipe].get("profile", "quick") == profile}
    timeout = 180.0 if profile == "quick" else 3600.0
    found: dict[str, list[float]] = {key: [] for c in accuracy_cases.values()
                                     for key in spec.band_metrics(c.recipe)}
    chance, device = {}, "none"
    for seed in seeds:
        with tempfile.TemporaryDirectory(prefix="seqlab-calibrate-") as tmp:
            root = Path(tmp)
            submission = resolve(REPO_ROOT / "solutions", root / "submission")
            obs, built, measured = observe(spec, submission, root,
                                           {case_id: timeout for case_id in accuracy_cases},
                                           limits=Limits(), recipe_seed=seed)
            for case_id, case in accuracy_cases.items():
                if case_id not in obs.trained:
                    problem = measured.get(case_id) or built[case_id]
                    raise RuntimeError(f"the reference failed {case_id}: {problem.message}")
                trained = obs.trained[case_id]
                for key, metric in spec.band_metrics(case.recipe).items():
                    value = float(spec.recipe_score(obs, case_id, metric))
                    found[key].append(round(value, 4))
                    chance[key] = spec.recipe_floor(case.recipe, obs.labels[case.recipe],
                                                    metric)
                    print(f"seed {seed} {key}: {metric} {value:.4f} "
                          f"({trained['train_seconds']:.1f} s training, "
                          f"{trained.get('epochs_run', '?')} epochs)", flush=True)
                if "device" in trained:
                    device = " ".join(trained["device"].values())
    return found, chance, device


def make_band(recipe: dict, values: list[float], floor: float, margin: float,
              seeds: list[int], metric_name: str | None = None, metric=None) -> dict:
    """Full credit a margin beyond the worst reference seed, none at the floor.

    ``metric_name`` (default the recipe's ``metric``) and its :class:`Metric` say which way
    is better; the margin is the recipe's ``margins[metric_name]``, else its ``margin``."""
    metric_name = metric_name or recipe.get("metric", "accuracy")
    metric = metric or METRICS[metric_name]
    margin = recipe.get("margins", {}).get(metric_name, recipe.get("margin", margin))
    if metric.lower_is_better:
        full, zero = round(max(values) + margin, 4), round(floor, 4)
        worst, too_close = max(values), full >= zero
        why = (f"full credit at the worst reference seed plus {margin} {metric.name}; no "
               f"credit at {metric.floor_words}")
    else:
        full, zero = round(min(values) - margin, 4), round(floor + CHANCE_MARGIN, 4)
        worst, too_close = min(values), full <= zero
        why = (f"full credit at the worst reference seed minus {margin} (other machines and "
               f"library versions move the result by about 0.01); no credit at the "
               f"{metric.floor_words} + {CHANCE_MARGIN}, which a model that ignores its "
               "input cannot beat")
    if too_close:
        raise RuntimeError(f"the reference ({worst:.3f}) is too close to chance "
                           f"({floor:.3f}) to make a band")
    return {"recipe": recipe, "metric": metric_name, "seeds": seeds,
            "accuracies": values,
            "reference_min": min(values), "reference_max": max(values),
            "full_credit_at": full, "zero_credit_at": zero, "margin": margin,
            "chance": round(floor, 4), "why": why}


def _bands_of(spec, values_by_key: dict) -> list[tuple[str, str, str]]:
    """``(recipe, band key, metric)`` for every band calibrated for ``spec``."""
    return [(recipe, key, metric) for recipe in spec.RECIPES
            for key, metric in spec.band_metrics(recipe).items() if key in values_by_key]


def calibrate(seeds: list[int], margin: float = 0.03, assignments: list[str] | None = None,
              profile: str = "quick") -> dict:
    """Calibrate every recipe of ``profile`` in ``assignments`` (default: all that have
    one) and write them to bands.json, keeping the other bands."""
    start = time.perf_counter()
    chosen = assignments or [name for name in ASSIGNMENTS if any(
        recipe.get("profile", "quick") == profile
        for recipe in load_assignment(name).RECIPES.values())]
    results = {name: reference_accuracies(name, seeds, profile) for name in chosen}
    bands = json.loads(BANDS_FILE.read_text()) if BANDS_FILE.exists() else {}
    section = bands.setdefault(profile, {})
    devices = set()
    for name, (values_by_key, floors, device) in results.items():
        spec = load_assignment(name)
        devices.add(device)
        for recipe, key, metric in _bands_of(spec, values_by_key):
            band_key = ("submitted_model" if profile == "full"
                        and recipe == spec.SUBMITTED_MODEL_RECIPE and key == recipe else key)
            try:
                section[band_key] = make_band(spec.RECIPES[recipe], values_by_key[key],
                                              floors[key], margin, seeds, metric,
                                              spec.metric(metric))
            except RuntimeError as err:
                raise RuntimeError(f"{key}: {err}") from None
            section[band_key]["made"] = None  # filled below, once timed
    made = {
        "command": (f"python -m autograder calibrate --profile {profile} --seeds "
                    + " ".join(map(str, seeds)) + f" --margin {margin}"
                    + (" --assignment " + " ".join(assignments) if assignments else "")),
        "machine": {"python": platform.python_version(), "machine": platform.machine(),
                    "device": ", ".join(sorted(devices))},
        "seconds": round(time.perf_counter() - start, 1)}
    for band in section.values():
        if isinstance(band, dict) and "made" in band and band["made"] is None:
            band["made"] = made
    section.pop("_made", None)
    for stale in ("command", "machine", "seconds"):  # the old top-level record (quick only)
        bands.pop(stale, None)
    BANDS_FILE.write_text(json.dumps(bands, indent=2) + "\n")
    print(f"wrote {BANDS_FILE}")
    return bands
