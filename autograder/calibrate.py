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

import numpy as np

from autograder.assignments import load_assignment
from autograder.grader import BANDS_FILE, observe
from autograder.sandbox import Limits
from autograder.submission import resolve
from seqlab.paths import REPO_ROOT

CHANCE_MARGIN = 0.05


def reference_accuracies(assignment: str, seeds: list[int], profile: str = "quick"
                         ) -> tuple[dict[str, list[float]], dict[str, float], str]:
    """Holdout accuracy of the reference for each recipe of ``profile`` and seed, the
    majority rate of each holdout, and the device the worker trained on."""
    spec = load_assignment(assignment)
    accuracy_cases = {c.id: c for c in spec.CASES.values()
                      if c.recipe and spec.RECIPES[c.recipe].get("profile", "quick") == profile}
    timeout = 180.0 if profile == "quick" else 3600.0
    found: dict[str, list[float]] = {c.recipe: [] for c in accuracy_cases.values()}
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
                probabilities = np.asarray(obs.trained[case_id]["probabilities"])
                accuracy = float(((probabilities > 0.5) == obs.labels[case.recipe]).mean())
                found[case.recipe].append(round(accuracy, 4))
                trained = obs.trained[case_id]
                print(f"seed {seed} {case.recipe}: accuracy {accuracy:.4f} "
                      f"({trained['train_seconds']:.1f} s training, "
                      f"{trained.get('epochs_run', '?')} epochs)", flush=True)
            device = " ".join(next(iter(obs.trained.values()))["device"].values())
            chance = {case.recipe: float(max(np.mean(obs.labels[case.recipe]),
                                             1 - np.mean(obs.labels[case.recipe])))
                      for case in accuracy_cases.values()}
    return found, chance, device


def calibrate(seeds: list[int], margin: float = 0.03, assignment: str = "sentiment",
              profile: str = "quick") -> dict:
    start = time.perf_counter()
    accuracies, chance, device = reference_accuracies(assignment, seeds, profile)
    spec = load_assignment(assignment)
    recipes = spec.RECIPES
    bands = json.loads(BANDS_FILE.read_text()) if BANDS_FILE.exists() else {}
    quick = bands.setdefault(profile, {})
    for recipe, values in accuracies.items():
        if profile == "full" and recipe == spec.SUBMITTED_MODEL_RECIPE:
            recipe_key = "submitted_model"
        else:
            recipe_key = recipe
        full = round(min(values) - margin, 4)
        zero = round(chance[recipe] + CHANCE_MARGIN, 4)
        if full <= zero:
            raise RuntimeError(f"{recipe}: the reference ({min(values):.3f}) is too close to "
                               f"chance ({chance[recipe]:.3f}) to make a band")
        quick[recipe_key] = {
            "recipe": recipes[recipe], "seeds": seeds, "accuracies": values,
            "reference_min": min(values), "reference_max": max(values),
            "full_credit_at": full, "zero_credit_at": zero, "margin": margin,
            "chance": round(chance[recipe], 4),
            "why": (f"full credit at the worst reference seed minus {margin} (other machines and "
                    f"library versions move accuracy by about 0.01); no credit at the majority "
                    f"rate + {CHANCE_MARGIN}, which a model that ignores its input cannot beat"),
        }
    quick["_made"] = {
        "command": (f"python -m autograder calibrate --profile {profile} --seeds "
                    + " ".join(map(str, seeds)) + f" --margin {margin}"),
        "machine": {"python": platform.python_version(), "machine": platform.machine(),
                    "device": device},
        "seconds": round(time.perf_counter() - start, 1)}
    for stale in ("command", "machine", "seconds"):  # the old top-level record (quick only)
        bands.pop(stale, None)
    BANDS_FILE.write_text(json.dumps(bands, indent=2) + "\n")
    print(f"wrote {BANDS_FILE}")
    return bands
