"""The sentiment assignment's data, as the parent prepares it: the labs' encoded splits,
the GloVe rows ``build_embedding_matrix`` is compared with, and the split (or a TA's holdout)
a submitted ``model.keras`` is scored on. Cached (:mod:`autograder.grading_inputs`), so a
bundle can hold them computed ahead of time and the parent never reads the data packages.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from autograder.grading_inputs import cached_arrays


def submitted_model_inputs(dataset: str, holdout: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """``(x_test, y_test)`` a submitted model.keras is scored on: the full profile's test split,
    or a TA's ``holdout`` CSV (:mod:`autograder.holdout`) encoded exactly the same way (the
    full-profile training split's vocabulary, its length, front padding)."""
    if holdout is None:
        def packaged():
            inputs = encoded_splits(dataset, "full")
            return {"x_test": inputs["x_test"], "y_test": inputs["y_test"].astype(np.int64)}

        found = cached_arrays(f"submitted-{dataset}-full-test", packaged)
        return found["x_test"], found["y_test"]
    digest = hashlib.sha256(Path(holdout).read_bytes()).hexdigest()[:16]

    def compute():  # the texts are read only here: a bundle holds them encoded already
        from autograder.holdout import read_holdout
        from seqlab.data import clean_text, load_sentiment
        from seqlab.text import Vocabulary, encode_texts

        texts, labels = read_holdout(holdout)
        data = load_sentiment(dataset, profile="full", seed=0)
        vocab = Vocabulary.build(data.train.texts, max_size=data.vocab_size)
        return {"x_test": encode_texts([clean_text(t) for t in texts], vocab, data.max_len),
                "y_test": labels.astype(np.int64)}

    found = cached_arrays(f"holdout-{dataset}-{digest}", compute)
    return found["x_test"], found["y_test"]


def encoded_splits(dataset: str, profile: str = "quick") -> dict[str, np.ndarray]:
    """The seed-0 splits as the labs encode them (vocabulary from train, front padding) and
    the GloVe matrix for that vocabulary: ``matrix``, ``x_/y_`` ``train``, ``val``, ``test``."""
    def compute():
        from seqlab.data import load_sentiment
        from seqlab.glove import load_glove
        from seqlab.text import Vocabulary, encode_texts

        data = load_sentiment(dataset, profile=profile, seed=0)
        vocab = Vocabulary.build(data.train.texts, max_size=data.vocab_size)
        found = {"matrix": load_glove().embedding_matrix(vocab, seed=0).matrix}
        for name, split in (("train", data.train), ("val", data.validation),
                            ("test", data.test)):
            found[f"x_{name}"] = encode_texts(split.texts, vocab, data.max_len)
            found[f"y_{name}"] = split.labels.astype("float32" if name != "test" else "int64")
        return found

    return cached_arrays(f"splits-{dataset}-{profile}", compute)


def expected_embedding_matrix(words) -> dict:
    def compute():
        from seqlab.glove import load_glove
        from seqlab.text import Vocabulary

        glove = load_glove()
        vocab = Vocabulary(list(words))
        known = [i for i, w in enumerate(vocab.itos) if i >= 2 and w in glove]
        return {"shape": np.array([len(vocab), glove.dim]), "known_ids": np.array(known),
                "known_vectors": np.array([glove.vector(vocab.itos[i]) for i in known],
                                          dtype=np.float32).reshape(len(known), glove.dim),
                "words": np.array(vocab.itos)}

    key = hashlib.sha256(json.dumps(list(words)).encode()).hexdigest()[:12]
    found = cached_arrays(f"glove-rows-{key}", compute)
    known = {int(i): v for i, v in zip(found["known_ids"], found["known_vectors"],
                                       strict=True)}
    size = int(found["shape"][0])
    return {"shape": (size, int(found["shape"][1])), "known": known,
            "unknown_ids": [i for i in range(1, size) if i not in known],
            "words": [str(w) for w in found["words"]]}
