"""Tokenizing, vocabularies and integer encoding, in NumPy only (no TensorFlow needed).

Conventions every model in the kit relies on:

- id 0 is padding, id 1 is out-of-vocabulary, then words from most to least frequent;
- sequences are padded and truncated at the *front* (``"pre"``): zeros come first and the
  end of a review is kept, so a many-to-one RNN reads the text last and needs no mask.

Character models (the language model and seq2seq labs) use :class:`CharVocabulary`: id 0 is
padding there too, then optional start / end / unknown ids, then the characters.

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


# --- characters ---------------------------------------------------------------------------------

PAD_CHAR_TOKEN = "<pad>"
START_TOKEN = "<s>"
END_TOKEN = "</s>"
UNKNOWN_CHAR_TOKEN = "<unk>"


class CharVocabulary:
    """Maps single characters to ids for character models: id 0 is always padding.

    The optional special tokens come next, in this order and only when asked for: ``start``
    (``<s>``, what a decoder is fed first), ``end`` (``</s>``, what it emits to stop) and
    ``unknown`` (``<unk>``, every character not in the vocabulary). Then the characters, in
    the order given (``build`` sorts them by code point, so the same text always gives the
    same ids). ``len(vocab)`` counts every id, padding and specials included: it is the
    ``input_dim`` of an embedding and the number of logits of a character model.

    >>> vocab = CharVocabulary("ab", start=True, end=True)
    >>> vocab.itos
    ['<pad>', '<s>', '</s>', 'a', 'b']
    >>> vocab.encode("ba", add_start=True, add_end=True)
    [1, 4, 3, 2]
    >>> vocab.decode([1, 4, 3, 2, 0, 0])
    'ba'
    """

    pad_id = PAD_ID

    def __init__(self, chars: Iterable[str], *, start: bool = False, end: bool = False,
                 unknown: bool = False):
        chars = list(chars)
        bad = [c for c in chars if not isinstance(c, str) or len(c) != 1]
        if bad:
            raise ValueError(f"a CharVocabulary holds single characters, got {bad[:5]!r}")
        if len(set(chars)) != len(chars):
            raise ValueError("CharVocabulary characters must be unique")
        specials = [PAD_CHAR_TOKEN]
        self.start_id = self.end_id = self.unknown_id = None
        for wanted, token, attr in ((start, START_TOKEN, "start_id"), (end, END_TOKEN, "end_id"),
                                    (unknown, UNKNOWN_CHAR_TOKEN, "unknown_id")):
            if wanted:
                setattr(self, attr, len(specials))
                specials.append(token)
        self.num_special = len(specials)
        self.itos: list[str] = [*specials, *chars]
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(chars, start=self.num_special)}

    @classmethod
    def build(cls, texts: str | Iterable[str], *, min_count: int = 1, start: bool = False,
              end: bool = False, unknown: bool = False) -> CharVocabulary:
        """The characters of ``texts`` (one string or many) seen at least ``min_count`` times.

        Characters are sorted by code point. With ``min_count > 1`` rare characters are left
        out, so ask for ``unknown=True`` to be able to encode them.
        """
        if isinstance(texts, str):
            texts = [texts]
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(text)
        return cls(sorted(c for c, n in counts.items() if n >= min_count), start=start,
                   end=end, unknown=unknown)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, char: str) -> bool:
        return char in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocabulary) and other.itos == self.itos

    def __hash__(self) -> int:
        return hash(tuple(self.itos))

    def __repr__(self) -> str:
        preview = "".join(self.chars[:40])
        specials = ", ".join(self.itos[: self.num_special])
        return f"CharVocabulary({len(self)} ids: {specials}, then {preview!r}...)"

    @property
    def chars(self) -> list[str]:
        """The characters, in id order (after padding and the special tokens)."""
        return self.itos[self.num_special:]

    def lookup(self, char: str) -> int:
        """The id of ``char``: the unknown id for a character outside the vocabulary.

        Raises ``KeyError`` for such a character when the vocabulary has no unknown token.
        """
        token_id = self.stoi.get(char)
        if token_id is not None:
            return token_id
        if self.unknown_id is None:
            raise KeyError(f"character {char!r} is not in the vocabulary and it has no "
                           "unknown token (build it with unknown=True)")
        return self.unknown_id

    def encode(self, text: str, *, add_start: bool = False, add_end: bool = False) -> list[int]:
        """Ids of the characters of ``text``, optionally framed by the start and end ids."""
        ids = [self.lookup(c) for c in text]
        if add_start:
            ids.insert(0, self._special("start_id"))
        if add_end:
            ids.append(self._special("end_id"))
        return ids

    def encode_array(self, text: str) -> np.ndarray:
        """A whole corpus as one int32 array ``(len(text),)``, vectorised for long texts."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
        if codes.size == 0:
            return np.zeros(0, dtype=np.int32)
        table = np.full(int(codes.max()) + 1, -1, dtype=np.int32)  # code point -> id
        for char, token_id in self.stoi.items():
            if ord(char) < table.size:
                table[ord(char)] = token_id
        ids = table[codes]
        missing = ids < 0
        if missing.any():
            if self.unknown_id is None:
                char = chr(int(codes[np.argmax(missing)]))
                raise KeyError(f"character {char!r} is not in the vocabulary and it has no "
                               "unknown token (build it with unknown=True)")
            ids[missing] = self.unknown_id
        return ids

    def decode(self, ids: Iterable[int], *, stop_at_end: bool = True,
               unknown: str = "\ufffd") -> str:
        """The text of ``ids``: padding and start ids dropped, unknown ids shown as ``unknown``.

        Decoding stops at the first end id (``stop_at_end=False`` drops end ids instead).
        """
        out = []
        for token_id in ids:
            token_id = int(token_id)
            if token_id == self.end_id and self.end_id is not None:
                if stop_at_end:
                    break
                continue
            if token_id in (PAD_ID, self.start_id):
                continue
            if token_id == self.unknown_id:
                out.append(unknown)
                continue
            out.append(self.itos[token_id])
        return "".join(out)

    def _special(self, attr: str) -> int:
        value = getattr(self, attr)
        if value is None:
            name = attr.removesuffix("_id")
            raise ValueError(f"this vocabulary has no {name} token (create it with {name}=True)")
        return value

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({
            "chars": self.chars, "start": self.start_id is not None,
            "end": self.end_id is not None, "unknown": self.unknown_id is not None}))

    @classmethod
    def load(cls, path: str | Path) -> CharVocabulary:
        raw = json.loads(Path(path).read_text())
        return cls(raw["chars"], start=raw["start"], end=raw["end"], unknown=raw["unknown"])
