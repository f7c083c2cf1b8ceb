"""The lab 08 reference captioner against baselines measured in the same run, on shape scenes.

Per seed, ``--train-scenes`` scenes of ``seqlab.scenes`` (seed ``seed``) with their 5 reference
captions each train the reference captioner (``solutions/captioning.py``: a small CNN encoder,
a GRU decoder) with teacher forcing on every (picture, reference caption) pair, and
``--test-scenes`` other scenes (seed ``10000 + seed``) are captioned by:

- ``most frequent caption``: the training references' most frequent caption, for every
  picture (what a model that ignores the picture can earn);
- ``nearest neighbour``: the first reference caption of the training picture closest in
  cosine to the test picture, on two kinds of features: ``pixels`` (the picture mean-pooled to
  ``--pool`` x ``--pool`` RGB, model-free) and ``CNN`` (the trained captioner's encoder
  output, its decoder's initial state);
- ``captioner``: the trained reference model, greedy and beam search (``--beams``);
- ``reference caption``: a ceiling, each test picture's first reference scored against its
  other four references (BLEU on four references, not five: not strictly comparable).

Each row gives the fractions of the test captions at each level of the lecture's four-level
rubric (``seqlab.rubric``: ``no_errors``, ``minor``, ``related``, ``unrelated``), corpus BLEU
against the five references, and its seconds: ``train_s`` the captioner's training (fit only),
``caption_s`` the time to caption the test pictures (for a nearest neighbour: the features of
the training and test pictures and the search). Scores are means over the seeds, ``spread``
max-min of the ``no_errors`` fraction and ``bleu_spread`` of BLEU.

    python bench/captioning.py                          # quick profile, seeds 0 1 2 (2-core CPU)
    python bench/captioning.py --seeds 0 1 --record
    python bench/captioning.py --profile full --record  # GPU-sized

``--record`` writes ``bench/results/<name>.{json,md}`` (default name ``captioning``; with
``--profile full``, ``captioning_full``).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

import keras
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import print_table, record
from seqlab import scenes
from seqlab.devices import accelerator
from seqlab.rubric import LEVELS, corpus_bleu, rubric_report
from seqlab.student import student_module
from seqlab.train import seed_everything

PROFILES = {"quick": dict(train_scenes=1_000, test_scenes=300, epochs=8, batch_size=64),
            "full": dict(train_scenes=20_000, test_scenes=1_000, epochs=20, batch_size=128)}
"""Sizes per profile: quick is about 90 s of training per seed on a 2-core CPU; full a GPU's."""

LEVEL_NAMES = dict(zip(LEVELS, ("no_errors", "minor", "related", "unrelated"), strict=True))
"""The rubric's levels (``seqlab.rubric.LEVELS``) by their short column names."""

MAX_LEN = scenes.MAX_CAPTION_WORDS + 1
"""Most ids a decoded caption may have (the autograder's ``MAX_LEN``)."""

TEST_SEED_OFFSET = 10_000
"""The test scenes of seed ``s`` are ``make_captioning_data(n, TEST_SEED_OFFSET + s)``."""

COLUMNS = ["model", "features", "seeds", *LEVEL_NAMES.values(), "spread", "bleu",
           "bleu_spread", "train_s", "caption_s", "params"]


def say(text: str) -> None:
    print(text, flush=True)


# --- captions and their scores -----------------------------------------------------------------

def score(captions: list[str], test: scenes.CaptionData,
          references: list[list[str]] | None = None) -> dict:
    """Rubric fractions (by short name) and corpus BLEU of one caption per test picture."""
    fractions = rubric_report(captions, test.scenes)["fractions"]
    result = {LEVEL_NAMES[level]: float(value) for level, value in fractions.items()}
    result["bleu"] = corpus_bleu(captions, references or test.captions)
    return result


def most_frequent(train: scenes.CaptionData, test: scenes.CaptionData) -> dict:
    """The training references' most frequent caption (first seen on ties), for every picture."""
    start = time.perf_counter()
    common = Counter(c for captions in train.captions for c in captions).most_common(1)[0][0]
    captions = [common] * len(test)
    return {"captions": captions, "caption_s": time.perf_counter() - start, "caption": common}


def pooled_pixels(images: np.ndarray, pool: int) -> np.ndarray:
    """``(n, pool * pool * 3)``: each picture mean-pooled to ``pool`` x ``pool`` RGB, in [0, 1]."""
    n, height, width, channels = images.shape
    if height % pool or width % pool:
        raise ValueError(f"--pool {pool} does not divide the {height}x{width} pictures")
    blocks = images.reshape(n, pool, height // pool, pool, width // pool, channels)
    return blocks.mean(axis=(2, 4), dtype=np.float64).reshape(n, -1) / 255.0


def nearest_captions(train_features: np.ndarray, test_features: np.ndarray,
                     train: scenes.CaptionData) -> list[str]:
    """The first reference caption of the training picture whose features are closest in
    cosine to each test picture's (both centred on the training features' mean first, so a
    background every picture shares does not dominate the angle)."""
    mean = train_features.mean(axis=0)

    def unit(features: np.ndarray) -> np.ndarray:
        centred = np.asarray(features, np.float64) - mean
        return centred / np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-12)

    nearest = np.argmax(unit(test_features) @ unit(train_features).T, axis=1)
    return [train.captions[int(j)][0] for j in nearest]


def nearest_neighbour(train: scenes.CaptionData, test: scenes.CaptionData, features) -> dict:
    """Caption by nearest neighbour on ``features(images) -> (n, d)``, timed as a whole."""
    start = time.perf_counter()
    captions = nearest_captions(features(train.images), features(test.images), train)
    return {"captions": captions, "caption_s": time.perf_counter() - start}


# --- the captioner -----------------------------------------------------------------------------

def train_captioner(train: scenes.CaptionData, seed: int, args: argparse.Namespace):
    """The reference models, seeded, trained with teacher forcing on every (picture, reference
    caption) pair as the autograder does. Returns ``(encoder, decoder, facts)``."""
    cap = student_module("captioning", impl="solutions")
    pair_image, target_in, target_out, weights = scenes.training_pairs(train)
    seed_everything(seed)
    model, encoder, decoder = cap.build_captioner(len(scenes.WORDS))
    start = time.perf_counter()
    history = model.fit([train.images[pair_image].astype(np.float32), target_in], target_out,
                        sample_weight=weights, epochs=args.epochs, batch_size=args.batch_size,
                        shuffle=True, verbose=0)
    seconds = time.perf_counter() - start
    facts = {"train_s": seconds, "params": model.count_params(), "pairs": len(pair_image),
             "loss": [round(float(v), 4) for v in history.history["loss"]]}
    return encoder, decoder, facts


def decode(cap, encoder, decoder, images: np.ndarray, beam: int) -> dict:
    """Caption ``images`` greedily (``beam`` 1) or by beam search, timed."""
    start = time.perf_counter()
    if beam == 1:
        ids = cap.greedy_captions(encoder, decoder, images, scenes.START_ID, scenes.END_ID,
                                  MAX_LEN)
    else:
        ids = cap.beam_search_captions(encoder, decoder, images, scenes.START_ID,
                                       scenes.END_ID, MAX_LEN, beam_width=beam)
    return {"captions": [scenes.decode_ids(i) for i in ids],
            "caption_s": time.perf_counter() - start}


def encoder_features(encoder):
    """``images -> (n, units)``: the trained encoder's state vectors."""
    def features(images: np.ndarray) -> np.ndarray:
        return encoder.predict(images.astype(np.float32), batch_size=256, verbose=0)
    return features


# --- one seed, then rows -----------------------------------------------------------------------

def run_seed(seed: int, args: argparse.Namespace) -> dict[tuple[str, str], dict]:
    """Every method's captions of one seed's test scenes, scored, by ``(model, features)``."""
    train = scenes.make_captioning_data(args.train_scenes, seed=seed)
    test = scenes.make_captioning_data(args.test_scenes, seed=TEST_SEED_OFFSET + seed)
    cap = student_module("captioning", impl="solutions")
    results = {("reference caption (ceiling)", "-"): {
        "captions": [refs[0] for refs in test.captions], "caption_s": 0.0,
        "references": [refs[1:] for refs in test.captions]}}
    results[("most frequent caption", "-")] = most_frequent(train, test)
    results[("nearest neighbour", f"pixels {args.pool}x{args.pool}")] = nearest_neighbour(
        train, test, lambda images: pooled_pixels(images, args.pool))
    encoder, decoder, facts = train_captioner(train, seed, args)
    say(f"[seed {seed}] captioner trained on {facts['pairs']:,} pairs in "
        f"{facts['train_s']:.0f} s (loss " + ", ".join(f"{v:.3f}" for v in facts["loss"]) + ")")
    results[("nearest neighbour", "CNN encoder (trained)")] = nearest_neighbour(
        train, test, encoder_features(encoder))
    for beam in args.beams:
        name = "captioner greedy" if beam == 1 else f"captioner beam {beam}"
        results[(name, "-")] = {**decode(cap, encoder, decoder, test.images, beam), **facts}
    for (model, features), result in results.items():
        result.update(score(result["captions"], test, result.get("references")))
        result["examples"] = result["captions"][:3]
        say(f"[seed {seed}] {model:28s} {features:22s} no errors {result['no_errors']:.3f}, "
            f"BLEU {result['bleu']:5.1f}, caption {result['caption_s']:.1f} s")
    return results


def summarize(model: str, features: str, seeds: list[int], runs: list[dict]) -> dict:
    """One table row: means over the seeds, max-min spreads, per-seed values kept in JSON."""
    row = {"model": model, "features": features, "seeds": ",".join(map(str, seeds))}
    for key in (*LEVEL_NAMES.values(), "bleu", "caption_s"):
        row[key] = float(np.mean([r[key] for r in runs]))
    row["spread"] = float(np.ptp([r["no_errors"] for r in runs]))
    row["bleu_spread"] = float(np.ptp([r["bleu"] for r in runs]))
    if "train_s" in runs[0]:
        row["train_s"] = float(np.mean([r["train_s"] for r in runs]))
        row["params"] = int(runs[0]["params"])
        row["loss"] = [r["loss"] for r in runs]
    row["per_seed"] = {key: [r[key] for r in runs]
                       for key in ("no_errors", "bleu", "caption_s", "examples")}
    if "caption" in runs[0]:
        row["per_seed"]["caption"] = [r["caption"] for r in runs]
    return row


def bench_rows(args: argparse.Namespace) -> list[dict]:
    """Every seed's results, then one row per (model, features) over the seeds."""
    by_method: dict[tuple[str, str], list[dict]] = {}
    for seed in args.seeds:
        for key, result in run_seed(seed, args).items():
            by_method.setdefault(key, []).append(result)
    return [summarize(model, features, args.seeds, runs)
            for (model, features), runs in by_method.items()]


# --- command line ------------------------------------------------------------------------------

def notes(args: argparse.Namespace, rows: list[dict], load: tuple[float, float],
          wall: float) -> str:
    """What was measured and how far to trust the timings."""
    device = accelerator()
    where = (f"on {device.name} ({device.backend})" if device.is_gpu
             else f"CPU only ({device.backend}), {os.cpu_count()} cores")
    commons = next((r["per_seed"]["caption"] for r in rows if "caption" in r["per_seed"]), [])
    cap = student_module("captioning", impl="solutions")
    lines = [
        f"{args.profile} profile: per seed, {args.train_scenes:,} training scenes (seed s) x 5 "
        f"references, {args.test_scenes:,} test scenes (seed {TEST_SEED_OFFSET} + s). Reference "
        f"captioner (solutions/captioning.py, build_captioner defaults, its compiled Adam "
        f"{cap.LEARNING_RATE:g}, global_clipnorm {cap.CLIPNORM:g}) trained with teacher "
        f"forcing on every (picture, reference) pair for {args.epochs} epochs, batch "
        f"{args.batch_size}, seeded with seed_everything(s); "
        f"decoded to at most {MAX_LEN} ids. Levels: fractions of the test captions at each "
        f"rubric level (seqlab.rubric); 'bleu' corpus BLEU (sacrebleu, 0-100) against the five "
        f"references; 'spread' is max-min over the seeds of 'no_errors', 'bleu_spread' of "
        f"'bleu'. Nearest neighbour: the first reference caption of the training picture "
        f"closest in cosine, features centred on the training mean; CNN features are the "
        f"trained captioner's encoder state, so that row also needs the captioner's training. "
        f"The ceiling row scores each test picture's first reference against its other four "
        f"(BLEU on four references, not five). 'train_s': fit only; 'caption_s': captioning "
        f"the test pictures (nearest neighbour: features of train and test, and the search). "
        f"The captioner rows of a seed share one training (one 'train_s'). Most frequent "
        f"caption per seed: " + "; ".join(f"'{c}'" for c in commons) + " (a constant caption "
        "of fewer than four words has no 4-gram, so its corpus BLEU is 0 however right its "
        "words: its BLEU swings with the caption). Per-seed values, training losses and each "
        "method's first three captions are in the .json.",
        f"{where}; load average {load[0]:.1f} at start, {load[1]:.1f} at end; whole run "
        f"{wall / 60:.1f} min."]
    if args.note:
        lines.append(args.note)
    return " ".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=list(PROFILES), default="quick",
                        help="sizes: quick (a 2-core CPU) or full (a GPU)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--train-scenes", type=int, default=None,
                        help="training scenes, 5 captions each (default: the profile's)")
    parser.add_argument("--test-scenes", type=int, default=None,
                        help="test scenes (default: the profile's)")
    parser.add_argument("--epochs", type=int, default=None, help="default: the profile's")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the profile's")
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 3, 5],
                        help="decoding widths: 1 is greedy, others beam search")
    parser.add_argument("--pool", type=int, default=16,
                        help="pixel features: pictures mean-pooled to POOL x POOL")
    parser.add_argument("--record", action="store_true",
                        help="write bench/results/<name>.{json,md}")
    parser.add_argument("--name", default=None,
                        help="record name (default: captioning, or captioning_full)")
    parser.add_argument("--note", default="", help="a remark appended to the recorded notes")
    args = parser.parse_args(argv)
    for key, value in PROFILES[args.profile].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    keras.utils.disable_interactive_logging()
    start, load = time.perf_counter(), os.getloadavg()[0]
    rows = bench_rows(args)
    wall = time.perf_counter() - start
    print_table(f"Captioning shape scenes: reference captioner vs baselines ({args.profile} "
                f"profile)", rows, COLUMNS)
    print(f"whole run {wall / 60:.1f} min")
    if args.record:
        command = "python bench/captioning.py " + shlex.join(argv or sys.argv[1:])
        name = args.name or ("captioning" if args.profile == "quick" else
                             f"captioning_{args.profile}")
        path = record(name, command=command.strip(), rows=rows, columns=COLUMNS,
                      notes=notes(args, rows, (load, os.getloadavg()[0]), wall))
        print(f"recorded {path}")


if __name__ == "__main__":
    main()
