"""The reference sentiment models (``solutions/sentiment.py``) against the TF-IDF baseline.

Trains each model on the kit's IMDB and Rotten Tomatoes splits over a few seeds and prints one
row per (dataset, model): test accuracy (mean and max-min spread over seeds), epochs run,
seconds per epoch, samples/s, trainable parameters, and ``vs_tfidf``: accuracy minus the
TF-IDF + logistic regression accuracy measured in the same run on the same splits (its own
row). ``target`` shows the full-profile goals (IMDB GRU/BiGRU >= 0.90, RT CNN >= 0.80);
nothing asserts them.

    python bench/sentiment.py                                   # quick profile, seed 0, all
    python bench/sentiment.py --profile quick --seeds 0 1 2 --record
    python bench/sentiment.py --profile full --models gru_finetuned cnn --datasets imdb \\
        --epochs 8 --record --note "shared 2-core CPU"

``--record`` writes ``bench/results/sentiment_<profile>.{json,md}`` (``--name`` overrides).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.baseline import tfidf_logreg
from bench.common import print_table, record
from seqlab.data import DATASETS, SentimentData, load_sentiment
from seqlab.glove import load_glove
from seqlab.profiles import get_profile
from seqlab.student import student_module
from seqlab.text import Vocabulary, encode_texts
from seqlab.train import seed_everything, train

UNITS = 64
PATIENCE = 2
BASELINE = "tfidf_logreg"

# name -> (builder in solutions/sentiment.py, keyword arguments)
MODELS = {
    "rnn": ("build_rnn_classifier", {"cell": "rnn", "units": UNITS}),
    "gru": ("build_rnn_classifier", {"cell": "gru", "units": UNITS}),
    "lstm": ("build_rnn_classifier", {"cell": "lstm", "units": UNITS}),
    "bigru": ("build_rnn_classifier", {"cell": "gru", "units": UNITS, "bidirectional": True}),
    "gru_finetuned": ("build_rnn_classifier",
                      {"cell": "gru", "units": UNITS, "trainable_embeddings": True}),
    "cnn": ("build_cnn_classifier", {"filter_sizes": (3, 4, 5), "num_filters": 100}),
    "cnn_finetuned": ("build_cnn_classifier", {"filter_sizes": (3, 4, 5), "num_filters": 100,
                                               "trainable_embeddings": True}),
}

# dataset -> (accuracy goal in the full profile, models it applies to)
TARGETS = {
    "imdb": (0.90, {"gru", "bigru", "gru_finetuned"}),
    "rotten_tomatoes": (0.80, {"cnn", "cnn_finetuned"}),
}

COLUMNS = ["dataset", "model", "seeds", "accuracy", "spread", "vs_tfidf", "target", "epochs",
           "s/epoch", "samples/s", "seconds", "params"]


def encode(data: SentimentData) -> dict[str, np.ndarray]:
    """Vocabulary from train, front-padded ids for every split, and the GloVe matrix."""
    vocab = Vocabulary.build(data.train.texts, max_size=data.vocab_size)
    arrays = {"matrix": load_glove().embedding_matrix(vocab).matrix}
    for split in ("train", "validation", "test"):
        part = getattr(data, split)
        arrays[f"x_{split}"] = encode_texts(part.texts, vocab, data.max_len)
        arrays[f"y_{split}"] = part.labels
    return arrays


def run_model(name: str, arrays: dict[str, np.ndarray], seed: int, epochs: int,
              batch_size: int) -> dict[str, float]:
    """Seed, build and train one reference model; its test accuracy and timings."""
    builder, kwargs = MODELS[name]
    seed_everything(seed)
    model = getattr(student_module("sentiment", impl="solutions"), builder)(
        arrays["matrix"], **kwargs)
    start = time.perf_counter()
    report = train(model, arrays["x_train"], arrays["y_train"],
                   validation_data=(arrays["x_validation"], arrays["y_validation"]),
                   test_data=(arrays["x_test"], arrays["y_test"]), epochs=epochs,
                   batch_size=batch_size, seed=seed, patience=PATIENCE, progress=False).report
    return {"accuracy": report.metrics["test"]["accuracy"], "epochs": report.epochs_run,
            "s/epoch": float(np.median(report.seconds_per_epoch)),
            "samples/s": report.samples_per_second, "seconds": time.perf_counter() - start,
            "params": sum(int(np.prod(w.shape)) for w in model.trainable_weights)}


def target_text(dataset: str, model: str, accuracy: float) -> str:
    """'0.90 met' or '0.90 -0.052' (the miss) for the models a goal applies to, else ''."""
    goal, models = TARGETS.get(dataset, (None, set()))
    if model not in models:
        return ""
    return f"{goal:.2f} met" if accuracy >= goal else f"{goal:.2f} {accuracy - goal:+.3f}"


def summarize(dataset: str, model: str, seeds: list[int], results: list[dict],
              baseline: float | None) -> dict:
    """One table row: accuracy mean and spread, other measures averaged over seeds."""
    accs = [r["accuracy"] for r in results]
    row = {"dataset": dataset, "model": model, "seeds": ",".join(map(str, seeds)),
           "accuracy": float(np.mean(accs)), "spread": float(np.max(accs) - np.min(accs))}
    for key in ("epochs", "s/epoch", "samples/s", "seconds", "params"):
        if key in results[0]:
            row[key] = float(np.mean([r[key] for r in results]))
    if "params" in row:
        row["params"] = int(row["params"])
    if baseline is not None:
        row["vs_tfidf"] = row["accuracy"] - baseline
        row["target"] = target_text(dataset, model, row["accuracy"])
    return row


def run_dataset(name: str, args: argparse.Namespace) -> list[dict]:
    """The baseline row and one row per model for one dataset, over the seeds."""
    profile = get_profile(args.profile)
    epochs = args.epochs or profile.epochs
    results: dict[str, list[dict]] = {m: [] for m in [BASELINE, *args.models]}
    for seed in args.seeds:
        data = load_sentiment(name, profile=args.profile, seed=seed)
        results[BASELINE].append(tfidf_logreg(data))
        say(name, seed, BASELINE, results[BASELINE][-1])
        arrays = encode(data)
        for model in args.models:
            results[model].append(run_model(model, arrays, seed, epochs, profile.batch_size))
            say(name, seed, model, results[model][-1])
    base = summarize(name, BASELINE, args.seeds, results.pop(BASELINE), None)
    return [base] + [summarize(name, m, args.seeds, r, base["accuracy"])
                     for m, r in results.items()]


def say(dataset: str, seed: int, model: str, result: dict) -> None:
    """A progress line, so a long run shows life."""
    epochs = f", {result['epochs']} epochs" if "epochs" in result else ""
    print(f"[{dataset} seed {seed}] {model:14s} acc {result['accuracy']:.3f} "
          f"in {result['seconds']:.0f} s{epochs}", flush=True)


def notes(args: argparse.Namespace, load: tuple[float, float], wall: float) -> str:
    """What was measured and how far to trust the timings."""
    profile = get_profile(args.profile)
    return (
        f"Test accuracy of the reference models (solutions/sentiment.py), frozen or fine-tuned "
        f"GloVe 50d, units {UNITS}, Adam 1e-3, batch {profile.batch_size}, at most "
        f"{args.epochs or profile.epochs} epochs with early stopping on val_loss (patience "
        f"{PATIENCE}, best weights restored). 'spread' is max-min over the seeds (each seed is a "
        f"different split and initialization); 'target' is the full-profile goal and, when "
        f"missed, accuracy minus the goal; 'vs_tfidf' is accuracy minus the TF-IDF 1-2 gram "
        f"+ logistic regression row of the same run (trained on train+validation); 's/epoch' "
        f"is the median epoch time of a run, averaged over seeds; 'seconds' is the whole "
        f"training call (fit + evaluation; for the baseline, fit + predict); 'params' counts "
        f"trainable weights. Targets apply to the full profile. CPU only, {os.cpu_count()} "
        f"cores; load average {load[0]:.1f} at start, {load[1]:.1f} at end; whole run "
        f"{wall / 60:.1f} min. {args.note}").strip()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=["quick", "full"], default="quick")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--epochs", type=int, default=None,
                        help="maximum epochs (default: the profile's)")
    parser.add_argument("--record", action="store_true",
                        help="write bench/results/<name>.{json,md}")
    parser.add_argument("--name", default=None,
                        help="record name (default: sentiment_<profile>)")
    parser.add_argument("--note", default="", help="a remark appended to the recorded notes")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    start, load = time.perf_counter(), os.getloadavg()[0]
    rows = [row for name in args.datasets for row in run_dataset(name, args)]
    wall = time.perf_counter() - start
    print_table(f"Sentiment models vs TF-IDF ({args.profile} profile)", rows, COLUMNS)
    print(f"whole run {wall / 60:.1f} min")
    if args.record:
        command = "python bench/sentiment.py " + shlex.join(argv or sys.argv[1:])
        path = record(args.name or f"sentiment_{args.profile}", command=command.strip(),
                      rows=rows, columns=COLUMNS,
                      notes=notes(args, (load, os.getloadavg()[0]), wall))
        print(f"recorded {path}")


if __name__ == "__main__":
    main()
