"""Tokenizing, vocabularies and integer encoding, in NumPy only (no TensorFlow needed).

Conventions every model in the kit relies on:

- id 0 is padding, id 1 is out-of-vocabulary, then words from most to least frequent;
- sequences are padded and truncated at the *front* (``"pre"``): zeros come first and the
  end of a review is kept, so a many-to-one RNN reads the text last and needs no mask.

Tokens follow GloVe's (Penn Treebank) conventions so that most of them have a vector:
lower case, ``don't`` -> ``do n't``, ``it's`` -> ``it 's``, and ``!``/``?`` kept as tokens.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

PAD_ID = 0
OOV_ID = 1
PAD_TOKEN = "<pad>"
OOV_TOKEN = "<unk>"

_NEGATION = re.compile(r"n't\b")
_CLITIC = re.compile(r"'(s|re|ve|ll|m|d)\b")
# Words are runs of Unicode letters and digits (GloVe has "naïveté", "almodóvar").
_TOKEN = re.compile(r"n't|'(?:s|re|ve|ll|m|d)\b|[^\W_]+(?:-[^\W_]+)*|[!?]")


def tokenize(text: str) -> list[str]:
    """Split ``text`` into lower-case GloVe-style tokens.

    >>> tokenize("It's not bad, it wasn't <b>great</b>!")
    ['it', "'s", 'not', 'bad', 'it', 'was', "n't", 'b', 'great', 'b', '!']
    """
    text = text.lower().replace("\u2019", "'")
    text = _NEGATION.sub(" n't", text)
    text = _CLITIC.sub(r" '\1", text)
    return _TOKEN.findall(text)


class Vocabulary:
    """Maps tokens to ids: 0 padding, 1 out-of-vocabulary, then by frequency.

    ``len(vocab)`` counts every id, the two reserved ones included, so it is the
    ``input_dim`` of an embedding layer and the row count of an embedding matrix.
    """

    def __init__(self, tokens: Sequence[str]):
        self.itos: list[str] = [PAD_TOKEN, OOV_TOKEN, *tokens]
        self.stoi: dict[str, int] = {tok: i for i, tok in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("vocabulary tokens must be unique and must not be the reserved "
                             f"{PAD_TOKEN!r}/{OOV_TOKEN!r}")

    @classmethod
    def build(cls, texts: Iterable[str], max_size: int = 20_000, min_count: int = 1,
              tokenizer=tokenize) -> Vocabulary:
        """Count tokens over ``texts`` and keep the ``max_size - 2`` most frequent.

        Ties are broken alphabetically so the same texts always give the same ids.
        """
        if max_size < 3:
            raise ValueError(f"max_size must be at least 3 (pad, oov and one word), got {max_size}")
        counts = Counter(tok for text in texts for tok in tokenizer(text))
        ranked = sorted((item for item in counts.items() if item[1] >= min_count),
                        key=lambda item: (-item[1], item[0]))
        return cls([tok for tok, _ in ranked[: max_size - 2]])

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __repr__(self) -> str:
        preview = ", ".join(self.itos[2:8])
        return f"Vocabulary({len(self)} ids: pad, oov, {preview}, ...)"

    @property
    def words(self) -> list[str]:
        """The real tokens, in id order (ids 2, 3, ...)."""
        return self.itos[2:]

    def lookup(self, token: str) -> int:
        return self.stoi.get(token, OOV_ID)

    def encode(self, text: str, tokenizer=tokenize) -> list[int]:
        """Token ids of one text, unpadded."""
        return [self.stoi.get(tok, OOV_ID) for tok in tokenizer(text)]

    def decode(self, ids: Iterable[int], skip_padding: bool = True) -> str:
        """Tokens for ``ids`` joined by spaces (padding dropped unless asked)."""
        return " ".join(self.itos[i] for i in ids if not (skip_padding and i == PAD_ID))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"tokens": self.words}))

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        return cls(json.loads(Path(path).read_text())["tokens"])


def pad_sequences(sequences: Sequence[Sequence[int]], max_len: int, padding: str = "pre",
                  truncating: str = "pre") -> np.ndarray:
    """Stack id lists into an int32 array ``(n, max_len)``.

    ``padding="pre"`` puts zeros first; ``truncating="pre"`` drops tokens from the front,
    keeping the end of each sequence. ``"post"`` does the opposite (for the padding lab).
    """
    if padding not in ("pre", "post") or truncating not in ("pre", "post"):
        raise ValueError(f"padding and truncating must be 'pre' or 'post', got "
                         f"{padding!r} and {truncating!r}")
    if max_len < 1:
        raise ValueError(f"max_len must be positive, got {max_len}")
    out = np.zeros((len(sequences), max_len), dtype=np.int32)
    for row, seq in enumerate(sequences):
        seq = list(seq)
        seq = seq[-max_len:] if truncating == "pre" else seq[:max_len]
        if not seq:
            continue
        if padding == "pre":
            out[row, max_len - len(seq):] = seq
        else:
            out[row, : len(seq)] = seq
    return out


def encode_texts(texts: Sequence[str], vocab: Vocabulary, max_len: int, padding: str = "pre",
                 truncating: str = "pre") -> np.ndarray:
    """Tokenize, look up and pad ``texts``: int32 ``(len(texts), max_len)``."""
    return pad_sequences([vocab.encode(t) for t in texts], max_len, padding=padding,
                         truncating=truncating)


def length_stats(texts: Sequence[str]) -> dict[str, float]:
    """Token-count percentiles, to choose ``max_len`` (e.g. keep 90% of reviews whole)."""
    lengths = np.array([len(tokenize(t)) for t in texts])
    return {"mean": float(lengths.mean()), "p50": float(np.percentile(lengths, 50)),
            "p90": float(np.percentile(lengths, 90)), "max": int(lengths.max())}
