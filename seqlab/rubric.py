"""Rating captions of :mod:`seqlab.scenes` pictures: the lecture's four-level rubric, and BLEU.

The lecture rates a caption on four levels (:data:`LEVELS`). Here the scene is known, so the
rating is computed, in three steps.

**Parsing** (:func:`parse_caption`). The caption's words (:func:`seqlab.scenes.tokenize_caption`)
are read left to right. A *mention* is a run of attribute words (a size, a colour) closed by a
kind word (``circle``, ``square``, ``triangle``), by a generic noun (``shape``, ``one``,
``object``: the mention has no kind), or by any other word. A second colour or size in a run
starts a new mention (``a red blue circle`` names a red thing and a blue circle). A mention
names a kind, a colour or a size, at least one of them. Synonyms: ``disc``/``disk`` (circle),
``box`` (square), ``big`` (large), ``little``/``tiny`` (small). A *relation* word (``left``,
``right``, ``above``/``over``, ``below``/``under``/``beneath``) claims a relation of the last
mention before it to the first mention after it (``of``, ``to``, ``the``, ``is`` are skipped
like every other word); a relation word with no mention on one side claims nothing. A *count*
is ``two``/``three``/``four`` directly before ``shapes``/``objects``/``things``; the first one
counts. Any word sequence parses, garbage to no mentions.

**Errors** (:func:`caption_errors`). The mentions are matched to *distinct* shapes of the
scene; a mention may stay unmatched only when every shape is taken. A matching's errors are

- one per named attribute of a matched mention that differs from its shape's;
- one per named attribute of an unmatched mention (a shape that is not there: all it says is
  wrong);
- one per relation claimed that does not hold between the shapes of its two mentions, or that
  involves an unmatched mention. ``a left of b`` holds when ``a``'s centre is left of ``b``'s
  at least as much as it is above or below it (the dominant axis; so whatever
  :func:`seqlab.scenes.relation` says holds, and a bit more);
- one if the caption claims a count of shapes that is not the scene's;
- one per shape left out below two: a caption of a scene with two or more shapes must
  mention at least two of them (so ``there is a red circle`` of a three-shape scene has one
  error, an omission, however right it is about the circle).

The caption's errors are the fewest over all matchings (brute force: scenes have at most three
shapes). Leaving a mention unmatched when a shape is free never has fewer errors, so only
matchings that use ``min(mentions, shapes)`` pairs are tried.

**Level** (:func:`rubric_level`). A mention is *informative* if it names a kind or a colour.

- 0, "describes without errors": an informative mention and no error. A caption need not
  mention every shape of a three-shape scene, but at least two (see the omission error);
- 1, "describes with minor errors": an informative mention and exactly one error;
- 2, "somewhat related to the image": at least one correct object: an informative mention
  whose kind and colour (those it names) are those of some shape of the scene, whatever its
  size (more than one error elsewhere);
- 3, "unrelated to the image": everything else, empty or unparseable captions included.

Every reference caption of :func:`seqlab.scenes.describe` is level 0 of its scene.

:func:`corpus_bleu` is sacrebleu's corpus BLEU on the same words. NumPy and sacrebleu only
(imported when BLEU is first computed); no Keras.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from seqlab.scenes import COLOURS, RELATIONS, SHAPES, SIZES, Scene, Shape, tokenize_caption

LEVELS = ("describes without errors", "describes with minor errors",
          "somewhat related to the image", "unrelated to the image")

KIND_WORDS = {**{k: k for k in SHAPES}, "disc": "circle", "disk": "circle", "box": "square"}
COLOUR_WORDS = {c: c for c in COLOURS}
SIZE_WORDS = {**{s: s for s in SIZES}, "big": "large", "little": "small", "tiny": "small"}
RELATION_WORDS = {"left": "left of", "right": "right of", "above": "above", "over": "above",
                  "below": "below", "under": "below", "beneath": "below"}
COUNT_WORDS = {"two": 2, "three": 3, "four": 4}
PLURAL_WORDS = frozenset({"shapes", "objects", "things"})


@dataclass(frozen=True)
class Mention:
    """An object a caption names: its kind, colour and size, None where it names none
    (``a red one`` has kind None)."""

    kind: str | None
    colour: str | None
    size: str | None

    @property
    def named(self) -> int:
        """How many attributes the mention names (1 to 3)."""
        return sum(a is not None for a in (self.kind, self.colour, self.size))

    @property
    def informative(self) -> bool:
        """Whether it names a kind or a colour."""
        return self.kind is not None or self.colour is not None


@dataclass(frozen=True)
class ParsedCaption:
    """What a caption claims: the objects it names, relations ``(mention index, RELATIONS
    entry, mention index)`` between them, and the number of shapes it says there are (None if
    it says none)."""

    mentions: tuple[Mention, ...]
    relations: tuple[tuple[int, str, int], ...]
    count: int | None = None


# --- parsing ------------------------------------------------------------------------------------

class _Parser:
    """The left-to-right reader of :func:`parse_caption` (see the module docstring)."""

    def __init__(self) -> None:
        self.mentions: list[Mention] = []
        self.relations: list[tuple[int, str, int]] = []
        self.count: int | None = None
        self.attributes: dict[str, str] = {}      # the open mention's colour and size
        self.relation: tuple[int, str] | None = None

    def close(self, kind: str | None = None) -> None:
        """End the open mention (if it names anything) and attach a pending relation to it."""
        if kind is None and not self.attributes:
            return
        index = len(self.mentions)
        self.mentions.append(Mention(kind, self.attributes.get("colour"),
                                     self.attributes.get("size")))
        self.attributes = {}
        if self.relation is not None:
            self.relations.append((self.relation[0], self.relation[1], index))
            self.relation = None

    def attribute(self, name: str, value: str) -> None:
        if name in self.attributes:
            self.close()
        self.attributes[name] = value

    def read(self, word: str, following: str | None) -> None:
        if word in KIND_WORDS:
            self.close(KIND_WORDS[word])
        elif word in COLOUR_WORDS:
            self.attribute("colour", COLOUR_WORDS[word])
        elif word in SIZE_WORDS:
            self.attribute("size", SIZE_WORDS[word])
        elif word in COUNT_WORDS and following in PLURAL_WORDS:
            self.close()
            self.count = self.count if self.count is not None else COUNT_WORDS[word]
        elif word in RELATION_WORDS:
            self.close()
            if self.mentions:
                self.relation = (len(self.mentions) - 1, RELATION_WORDS[word])
        else:           # generic nouns (shape, one, object, ...), function words, garbage
            self.close()

    def parsed(self) -> ParsedCaption:
        self.close()
        return ParsedCaption(tuple(self.mentions), tuple(self.relations), self.count)


def _words(text) -> list[str]:
    if text is None:
        return []
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):               # a sequence of words
        text = " ".join(map(str, text))
    return tokenize_caption(text)


def parse_caption(text: str) -> ParsedCaption:
    """The mentions, relations and count a caption claims (see the module docstring).

    Never raises on any word sequence (repeats, missing words, special tokens, garbage);
    ``text`` may also be a sequence of words.

    >>> parse_caption("a big red circle is left of a square")
    ParsedCaption(mentions=(Mention(kind='circle', colour='red', size='large'), \
Mention(kind='square', colour=None, size=None)), relations=((0, 'left of', 1),), count=None)
    """
    parser = _Parser()
    words = _words(text)
    for word, following in itertools.zip_longest(words, words[1:]):
        parser.read(word, following)
    return parser.parsed()


# --- errors and levels --------------------------------------------------------------------------

def relation_holds(a: Shape, rel: str, b: Shape) -> bool:
    """Whether ``a rel b`` holds along the dominant axis (ties count for both axes)."""
    dx, dy = a.x - b.x, a.y - b.y
    if rel == "left of":
        return dx < 0 and -dx >= abs(dy)
    if rel == "right of":
        return dx > 0 and dx >= abs(dy)
    if rel == "above":
        return dy < 0 and -dy >= abs(dx)
    if rel == "below":
        return dy > 0 and dy >= abs(dx)
    raise ValueError(f"unknown relation {rel!r}: expected one of {RELATIONS}")


def _attribute_errors(mention: Mention, shape: Shape) -> int:
    return sum(named is not None and named != actual for named, actual in
               ((mention.kind, shape.kind), (mention.colour, shape.colour),
                (mention.size, shape.size)))


@functools.lru_cache(maxsize=64)
def _matchings(mentions: int, shapes: int) -> np.ndarray:
    """``(a, mentions)`` int: every matching of ``min(mentions, shapes)`` mention-shape pairs,
    as the shape of each mention, ``shapes`` for an unmatched one."""
    if mentions <= shapes:
        rows = list(itertools.permutations(range(shapes), mentions))
        return np.array(rows, int).reshape(len(rows), mentions)
    chosen = np.array(list(itertools.permutations(range(mentions), shapes)), int)
    chosen = chosen.reshape(len(chosen), shapes)               # the mention of each shape
    rows = np.full((len(chosen), mentions), shapes)
    rows[np.arange(len(chosen))[:, None], chosen] = np.arange(shapes)
    return rows


def caption_errors(caption: str | ParsedCaption, scene: Scene) -> int:
    """The fewest errors of any matching of the caption's mentions to the scene's shapes."""
    parsed = caption if isinstance(caption, ParsedCaption) else parse_caption(caption)
    shapes, mentions = scene.shapes, parsed.mentions
    k = len(shapes)
    count_error = int(parsed.count is not None and parsed.count != k)
    omissions = max(0, min(2, k) - min(len(mentions), k))
    if not mentions:
        return count_error + omissions
    # cost[i, s]: errors of mention i matched to shape s; column k: i unmatched
    cost = np.array([[_attribute_errors(m, s) for s in shapes] + [m.named] for m in mentions])
    matchings = _matchings(len(mentions), k)                    # (a, m)
    errors = cost[np.arange(len(mentions)), matchings].sum(axis=1)
    for i, rel, j in parsed.relations:
        # fails[s, t]: the relation is false of shapes s, t (or one of them is missing)
        fails = np.ones((k + 1, k + 1), int)
        for s, t in itertools.permutations(range(k), 2):
            fails[s, t] = not relation_holds(shapes[s], rel, shapes[t])
        errors = errors + fails[matchings[:, i], matchings[:, j]]
    return int(errors.min()) + count_error + omissions


def _somewhat_related(parsed: ParsedCaption, scene: Scene) -> bool:
    """Whether one informative mention names a shape of the scene by its kind and colour."""
    return any(m.informative and m.kind in (None, s.kind) and m.colour in (None, s.colour)
               for m in parsed.mentions for s in scene.shapes)


def rubric_level(caption: str, scene: Scene) -> int:
    """The caption's rubric level for ``scene``: 0 (describes without errors) to 3 (unrelated);
    :data:`LEVELS` names them (definitions in the module docstring)."""
    parsed = parse_caption(caption)
    if not any(m.informative for m in parsed.mentions):
        return 3
    errors = caption_errors(parsed, scene)
    if errors <= 1:
        return errors
    return 2 if _somewhat_related(parsed, scene) else 3


def rubric_report(captions: Sequence[str], scenes: Sequence[Scene], examples: int = 3) -> dict:
    """Rate every caption of its scene; a summary by level.

    Returns ``{"fractions": {level name: fraction}, "counts": {level name: count},
    "examples": {level name: [(index, caption), ...]}, "levels": [level of each caption]}``;
    the examples are the first ``examples`` captions of each level. Fractions are NaN when
    there are no captions.
    """
    if len(captions) != len(scenes):
        raise ValueError(f"{len(captions)} captions for {len(scenes)} scenes")
    levels = [rubric_level(c, s) for c, s in zip(captions, scenes, strict=True)]
    counts = {name: levels.count(level) for level, name in enumerate(LEVELS)}
    total = len(levels)
    return {
        "fractions": {name: counts[name] / total if total else float("nan") for name in LEVELS},
        "counts": counts,
        "examples": {name: [(i, captions[i]) for i, lv in enumerate(levels) if lv == level]
                     [:examples] for level, name in enumerate(LEVELS)},
        "levels": levels,
    }


# --- BLEU ---------------------------------------------------------------------------------------

def _normalise(text: str) -> str:
    return " ".join(tokenize_caption(text))


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[Iterable[str]]) -> float:
    """sacrebleu's corpus BLEU (0-100) of ``hypotheses[i]`` against ``references[i]``, a list
    of one or more reference captions each (e.g. :attr:`CaptionData.captions`).

    Both sides are normalised with :func:`seqlab.scenes.tokenize_caption` (lower case, no
    ``.,:;``) and scored with ``tokenize="none"``, so BLEU counts the words a model emits.
    sacrebleu wants as many reference streams as the most references any hypothesis has:
    shorter reference lists are padded by repeating their captions, which changes nothing
    (clipped n-gram counts take the maximum over references, and the closest reference length
    is the same). NaN for no hypotheses.
    """
    try:
        from sacrebleu.metrics import BLEU
    except ImportError:  # Colab's image does not have it; requirements.txt does
        raise ImportError("corpus_bleu needs sacrebleu: `pip install sacrebleu` (in Colab, "
                          "run `%pip install sacrebleu` in a cell)") from None

    references = [[_normalise(r) for r in refs] for refs in references]
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} reference lists")
    if not hypotheses:
        return float("nan")
    if any(not refs for refs in references):
        raise ValueError("every hypothesis needs at least one reference")
    streams = max(len(refs) for refs in references)
    padded = [[refs[j % len(refs)] for refs in references] for j in range(streams)]
    bleu = BLEU(tokenize="none")
    return float(bleu.corpus_score([_normalise(h) for h in hypotheses], padded).score)
