"""TF-IDF (1-2 grams) + logistic regression on the kit's IMDB and Rotten Tomatoes splits.

This is the line every neural model in the kit is compared with. It trains in seconds on a
CPU and needs no TensorFlow.

    python bench/baseline.py                       # full profile, seed 0, prints a table
    python bench/baseline.py --seeds 0 1 2 --record # mean over seeds, writes bench/results/
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import print_table, record
from seqlab.data import DATASETS, SentimentData, load_sentiment

COLUMNS = ["dataset", "profile", "seeds", "train", "test", "accuracy", "spread", "seconds",
           "samples/s"]


def tfidf_logreg(data: SentimentData) -> dict[str, float]:
    """Fit TF-IDF + logistic regression on train (+validation), score on test."""
    start = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_df=0.9, sublinear_tf=True,
                                 strip_accents="unicode")
    texts = data.train.texts + data.validation.texts
    labels = np.concatenate([data.train.labels, data.validation.labels])
    features = vectorizer.fit_transform(texts)
    classifier = LogisticRegression(C=4.0, max_iter=2000).fit(features, labels)
    accuracy = float((classifier.predict(vectorizer.transform(data.test.texts))
                      == data.test.labels).mean())
    seconds = time.perf_counter() - start
    return {"accuracy": accuracy, "seconds": seconds,
            "samples/s": (len(texts) + len(data.test)) / seconds}


def run(profile: str, seeds: list[int]) -> list[dict]:
    rows = []
    for name in DATASETS:
        results = [tfidf_logreg(load_sentiment(name, profile=profile, seed=s)) for s in seeds]
        data = load_sentiment(name, profile=profile, seed=seeds[0])
        accs = [r["accuracy"] for r in results]
        rows.append({
            "dataset": name, "profile": profile, "seeds": ",".join(map(str, seeds)),
            "train": len(data.train) + len(data.validation), "test": len(data.test),
            "accuracy": float(np.mean(accs)), "spread": float(np.max(accs) - np.min(accs)),
            "seconds": float(np.mean([r["seconds"] for r in results])),
            "samples/s": float(np.mean([r["samples/s"] for r in results])),
        })
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=["quick", "full"], default="full")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--record", action="store_true",
                        help="write bench/results/baseline_<profile>.{json,md}")
    args = parser.parse_args(argv)
    rows = run(args.profile, args.seeds)
    print_table(f"TF-IDF 1-2 grams + logistic regression ({args.profile} profile)", rows,
                COLUMNS)
    if args.record:
        command = "python bench/baseline.py " + " ".join(argv or sys.argv[1:])
        path = record(f"baseline_{args.profile}", command=command.strip(), rows=rows,
                      columns=COLUMNS,
                      notes="Trained on train+validation, scored on test. 'spread' is max-min "
                            "accuracy over the seeds (each seed is a different split).")
        print(f"recorded {path}")


if __name__ == "__main__":
    main()
