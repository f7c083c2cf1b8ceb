"""Synthetic ShapeWorld-style scenes for the image captioning lab: scenes, pictures, captions.

A scene is one to three filled shapes (a circle, a square or a triangle; red, green, blue,
yellow or white; small or large) on a dark 64x64 canvas, none overlapping. Because the scene
is known, every reference caption is generated from it and is true of it, and a model's
caption can be rated automatically (:mod:`seqlab.rubric`). For example::

    a large blue square to the left of a green triangle
    a green triangle is right of a large blue square
    there is a yellow circle above a small white square
    two shapes: a red circle and a blue triangle
    three shapes: a small red circle, a large blue square and a green triangle

The grammar (:func:`describe`): a noun phrase is ``a [size] colour kind``, and rarely
``a [size] colour shape`` (no kind) or ``a [size] kind`` (no colour). A caption describes one
shape (``NP``, ``there is NP``, ``a picture of NP``), or a pair with the relation that holds
between them (``NP REL NP``, ``NP is REL NP``, ``there is NP REL NP``; REL is ``[to the] left
of``, ``[to the] right of``, ``above``, ``below`` or ``under``), or lists shapes in a random
order (``two shapes: NP and NP``, ``three shapes: NP, NP and NP``, or two of three shapes
without a count). A relation is only ever stated when :func:`relation` finds it unambiguous.

Coordinates are pixels of a :data:`IMAGE_SIZE` image: ``x`` is the column, ``y`` the row
(``y`` grows downwards, so "above" means a smaller ``y``). Every shape lies inside the square
of side ``2 * RADIUS[size]`` around its centre, and inside a circle of radius
``1.25 * RADIUS[size]`` (which is what "not overlapping" is checked on).

Captions are a closed vocabulary (:data:`WORDS`), so the decoder needs no unknown word;
:func:`encode_captions` pads them for teacher forcing like
:func:`seqlab.programs.encode_pairs`. Everything here is a pure function of its ``seed``
(``numpy.random.default_rng``) and uses NumPy only.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SHAPES = ("circle", "square", "triangle")
COLOURS = ("red", "green", "blue", "yellow", "white")
SIZES = ("small", "large")
RELATIONS = ("left of", "right of", "above", "below")
IMAGE_SIZE = 64

COLOUR_RGB = {
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (60, 100, 255),
    "yellow": (245, 215, 40),
    "white": (245, 245, 245),
}
"""The RGB value each colour is painted with (no anti-aliasing: exactly these values)."""

BACKGROUND_RGB = (16, 16, 24)
"""The dark background."""

RADIUS = {"small": 6.0, "large": 10.0}
"""Half the width of a shape of each size, in pixels of a 64x64 image."""

BOUND = 1.25
"""Every shape lies within ``BOUND * RADIUS[size]`` of its centre (the triangle's corners)."""

GAP = 2.0
"""Pixels at least between the bounding circles of two shapes of a scene."""

DOMINANCE = 2.0
""":func:`relation` needs the offset along one axis to be this many times the other's."""

_SQUARE_HALF = 0.85      # a square's half side, in radii
_TRIANGLE_BASE = 0.75    # a triangle's apex is one radius above the centre, its base this below
_CANDIDATES = 48         # random positions drawn for each shape
_SCENE_TRIES = 50


# --- scenes -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Shape:
    """One filled shape: ``kind`` in :data:`SHAPES`, ``colour`` in :data:`COLOURS`, ``size`` in
    :data:`SIZES`, centre ``(x, y)`` in pixels of a :data:`IMAGE_SIZE` image (x = column)."""

    kind: str
    colour: str
    size: str
    x: float
    y: float

    def __post_init__(self) -> None:
        for name, value, allowed in (("kind", self.kind, SHAPES),
                                     ("colour", self.colour, COLOURS),
                                     ("size", self.size, SIZES)):
            if value not in allowed:
                raise ValueError(f"unknown {name} {value!r}: expected one of {allowed}")

    @property
    def radius(self) -> float:
        return RADIUS[self.size]


@dataclass(frozen=True)
class Scene:
    """One to three shapes that do not overlap (``shapes`` is a tuple)."""

    shapes: tuple[Shape, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "shapes", tuple(self.shapes))


def relation(a: Shape, b: Shape) -> str | None:
    """The :data:`RELATIONS` entry that holds of ``a`` relative to ``b``, or None if ambiguous.

    The relation is along the dominant axis of the offset between the centres: ``"left of"``
    if ``a`` is further left than it is above or below by a factor :data:`DOMINANCE`, and so
    on; None when neither axis dominates (a diagonal) or the centres coincide.
    """
    dx, dy = a.x - b.x, a.y - b.y
    if abs(dx) > 0 and abs(dx) >= DOMINANCE * abs(dy):
        return "left of" if dx < 0 else "right of"
    if abs(dy) > 0 and abs(dy) >= DOMINANCE * abs(dx):
        return "above" if dy < 0 else "below"
    return None


def _check_max_shapes(max_shapes: int) -> int:
    if isinstance(max_shapes, bool) or not isinstance(max_shapes, int | np.integer) \
            or not 1 <= max_shapes <= 3:
        raise ValueError(f"max_shapes must be 1, 2 or 3, got {max_shapes!r}")
    return int(max_shapes)


def _fits(x: float, y: float, radius: float, placed: list[Shape]) -> tuple[bool, bool]:
    """``(apart, clear)``: whether a shape of ``radius`` at ``(x, y)`` is far enough from every
    placed shape, and whether its :func:`relation` to each is unambiguous."""
    apart = clear = True
    for other in placed:
        dx, dy = abs(x - other.x), abs(y - other.y)
        apart = apart and math.hypot(dx, dy) >= BOUND * (radius + other.radius) + GAP
        clear = clear and max(dx, dy) >= DOMINANCE * min(dx, dy)
    return apart, clear


def _centre(candidates: list[list[float]], radius: float,
            placed: list[Shape]) -> tuple[float, float] | None:
    """The first candidate (unit square coordinates) that keeps clear of the placed shapes
    with an unambiguous relation to each, else the first that keeps clear, else None."""
    low, high = radius + 1.0, IMAGE_SIZE - 2.0 - radius
    fallback = None
    for u, v in candidates:
        x, y = round(low + u * (high - low), 1), round(low + v * (high - low), 1)
        apart, clear = _fits(x, y, radius, placed)
        if apart and clear:
            return x, y
        if apart and fallback is None:
            fallback = x, y
    return fallback


def _place(rng: np.random.Generator, count: int) -> tuple[Shape, ...] | None:
    """``count`` random shapes that do not overlap, or None if one could not be placed
    (each centre is the first good one of :data:`_CANDIDATES` random positions)."""
    attributes = rng.integers(0, [len(SHAPES), len(COLOURS), len(SIZES)], size=(count, 3))
    candidates = rng.random((count, _CANDIDATES, 2)).tolist()
    placed: list[Shape] = []
    for (kind, colour, size), mine in zip(attributes.tolist(), candidates, strict=True):
        centre = _centre(mine, RADIUS[SIZES[size]], placed)
        if centre is None:
            return None
        placed.append(Shape(SHAPES[kind], COLOURS[colour], SIZES[size], *centre))
    return tuple(placed)


def random_scene(rng: np.random.Generator, max_shapes: int = 3) -> Scene:
    """A random scene of 1 to ``max_shapes`` (at most 3) shapes, their number uniform.

    Kinds, colours and sizes are uniform and independent (two shapes may look alike); the
    shapes lie inside the canvas with a margin of a pixel, :data:`GAP` pixels apart, placed so
    that most pairs (about 88%) have an unambiguous :func:`relation`.
    """
    max_shapes = _check_max_shapes(max_shapes)
    count = int(rng.integers(1, max_shapes + 1))
    for _ in range(_SCENE_TRIES):
        shapes = _place(rng, count)
        if shapes is not None:
            return Scene(shapes)
    raise RuntimeError(f"could not place {count} shapes in {_SCENE_TRIES} tries")


# --- pictures -----------------------------------------------------------------------------------

def _masks(kind: str, x: np.ndarray, y: np.ndarray, r: np.ndarray,
           gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """``(m, p, p)`` bool: which pixels of each of ``m`` patches a shape of ``kind`` covers.

    ``x, y, r (m,)``: the shapes' centres and radii; ``gx, gy (m, p)``: the patches' pixel
    centres (columns, rows), all in pixels of a 64x64 image.
    """
    dx = gx[:, None, :] - x[:, None, None]                                # (m, 1, p)
    dy = gy[:, :, None] - y[:, None, None]                                # (m, p, 1)
    r = r[:, None, None]
    if kind == "circle":
        return dx**2 + dy**2 <= r**2
    if kind == "square":
        return (np.abs(dx) <= _SQUARE_HALF * r) & (np.abs(dy) <= _SQUARE_HALF * r)
    # triangle, apex up: its half width grows from 0 at the apex to r at the base
    height = (1.0 + _TRIANGLE_BASE) * r
    from_apex = dy + r
    return (from_apex >= 0) & (from_apex <= height) & (np.abs(dx) <= from_apex / height * r)


def _paint(labels: np.ndarray, image: np.ndarray, shapes: list[Shape]) -> None:
    """Write the colour ids (+1) of ``shapes``, all of one kind and each of a different image
    ``image[k]``, into ``labels (n, size, size)``, over a square patch around each centre."""
    size = labels.shape[1]
    scale = size / IMAGE_SIZE
    x, y, r = (np.array([getattr(s, a) for s in shapes]) for a in ("x", "y", "radius"))
    half = int(np.ceil(RADIUS["large"] * scale)) + 1
    offsets = np.arange(-half, half + 1)
    # clipped at the border: a repeated pixel gets the same value each time it is written
    cols = np.clip(np.rint((x + 0.5) * scale - 0.5).astype(int)[:, None] + offsets, 0, size - 1)
    rows = np.clip(np.rint((y + 0.5) * scale - 0.5).astype(int)[:, None] + offsets, 0, size - 1)
    mask = _masks(shapes[0].kind, x, y, r, (cols + 0.5) / scale - 0.5, (rows + 0.5) / scale - 0.5)
    colour = np.array([COLOURS.index(s.colour) + 1 for s in shapes], np.uint8)
    at = (image[:, None, None], rows[:, :, None], cols[:, None, :])
    labels[at] = np.where(mask, colour[:, None, None], labels[at])


def render_many(scenes: Sequence[Scene], size: int = IMAGE_SIZE, chunk: int = 2048) -> np.ndarray:
    """Every scene's picture, ``(len(scenes), size, size, 3)`` uint8, as :func:`render` draws it.

    Vectorised: the ``j``-th shapes of all scenes (one per scene at most) are painted at once,
    kind by kind, ``chunk`` at a time, as masks over a patch of pixels around each centre, into
    a label image that a look-up colours (``size`` other than 64 scales the scene).
    """
    labels = np.zeros((len(scenes), size, size), np.uint8)         # 0 background, c+1 colour c
    for slot in range(max((len(s.shapes) for s in scenes), default=0)):
        for kind in SHAPES:
            mine = [(i, s.shapes[slot]) for i, s in enumerate(scenes)
                    if len(s.shapes) > slot and s.shapes[slot].kind == kind]
            for start in range(0, len(mine), chunk):
                part = mine[start:start + chunk]
                _paint(labels, np.array([i for i, _ in part]), [s for _, s in part])
    palette = np.array([BACKGROUND_RGB, *(COLOUR_RGB[c] for c in COLOURS)], np.uint8)
    return palette[labels]


def render(scene: Scene, size: int = IMAGE_SIZE) -> np.ndarray:
    """The scene's picture, ``(size, size, 3)`` uint8: filled shapes in :data:`COLOUR_RGB` on
    :data:`BACKGROUND_RGB`, no anti-aliasing."""
    return render_many([scene], size)[0]


# --- captions -----------------------------------------------------------------------------------

_SINGLE = ("{0}", "there is {0}", "a picture of {0}")
_PAIR = ("{0} {rel} {1}", "{0} is {rel} {1}", "there is {0} {rel} {1}")
_PHRASES = {
    "left of": ("to the left of", "left of"),
    "right of": ("to the right of", "right of"),
    "above": ("above",),
    "below": ("below", "under"),
}
_COUNTS = {2: "two", 3: "three"}
_GENERIC = "shape"
_P_SIZE, _P_NO_KIND, _P_NO_COLOUR = 0.5, 0.08, 0.08


def _pick(rng: np.random.Generator, options: Sequence):
    """A uniform choice (one ``rng.random()`` call: faster than ``rng.choice``)."""
    return options[int(rng.random() * len(options))]


def _noun_phrase(shape: Shape, rng: np.random.Generator) -> str:
    """``a [size] colour kind``, rarely without the kind (``shape``) or the colour."""
    size = [shape.size] if rng.random() < _P_SIZE else []
    u = rng.random()
    if u < _P_NO_KIND:
        return " ".join(["a", *size, shape.colour, _GENERIC])
    if u < _P_NO_KIND + _P_NO_COLOUR:
        return " ".join(["a", *size, shape.kind])
    return " ".join(["a", *size, shape.colour, shape.kind])


def _single_caption(scene: Scene, rng: np.random.Generator) -> str:
    return _pick(rng, _SINGLE).format(_noun_phrase(_pick(rng, scene.shapes), rng))


def _pair_caption(pairs: list[tuple[Shape, Shape, str]], rng: np.random.Generator) -> str:
    a, b, rel = _pick(rng, pairs)
    return _pick(rng, _PAIR).format(_noun_phrase(a, rng), _noun_phrase(b, rng),
                                    rel=_pick(rng, _PHRASES[rel]))


def _list_caption(scene: Scene, rng: np.random.Generator) -> str:
    """All shapes with their count, or without it; for three, sometimes just two of them."""
    shapes = [scene.shapes[i] for i in rng.permutation(len(scene.shapes))]
    counted = rng.random() < 0.7
    if len(shapes) == 3 and rng.random() < 0.25:
        shapes, counted = shapes[:2], False
    phrases = [_noun_phrase(s, rng) for s in shapes]
    listed = ", ".join(phrases[:-1]) + " and " + phrases[-1]
    return f"{_COUNTS[len(shapes)]} shapes: {listed}" if counted else listed


def _caption(scene: Scene, pairs: list[tuple[Shape, Shape, str]],
             rng: np.random.Generator) -> str:
    if len(scene.shapes) == 1:
        return _single_caption(scene, rng)
    if rng.random() < 0.55 and pairs:  # several shapes: always two of them at least
        return _pair_caption(pairs, rng)
    return _list_caption(scene, rng)


def describe(scene: Scene, rng: np.random.Generator, n: int = 5) -> list[str]:
    """``n`` reference captions of ``scene``, all true of it, distinct where the grammar allows.

    One-shape scenes get a noun phrase in a frame; larger ones mostly a relation between an
    unambiguous pair (:func:`relation`) or a list of their shapes (see the module docstring).
    """
    pairs = [(a, b, rel) for a, b in itertools.permutations(scene.shapes, 2)
             if (rel := relation(a, b)) is not None]
    captions: list[str] = []
    for _ in range(4 * n):
        caption = _caption(scene, pairs, rng)
        if caption not in captions:
            captions.append(caption)
        if len(captions) == n:
            return captions
    while len(captions) < n:            # a one-shape scene has few captions
        captions.append(_caption(scene, pairs, rng))
    return captions


# --- data sets ----------------------------------------------------------------------------------

@dataclass
class CaptionData:
    """Pictures and their reference captions.

    - ``images (n, 64, 64, 3)`` uint8;
    - ``captions[i]``: the reference captions of image ``i`` (strings, with punctuation);
    - ``scenes[i]``: the scene image ``i`` shows (what :mod:`seqlab.rubric` rates against).
    """

    images: np.ndarray
    captions: list[list[str]]
    scenes: list[Scene]

    def __len__(self) -> int:
        return len(self.scenes)


def make_captioning_data(n: int, seed: int = 0, captions_per_image: int = 5,
                         max_shapes: int = 3) -> CaptionData:
    """``n`` random scenes, their pictures and ``captions_per_image`` captions each.

    Each scene is drawn then described before the next, so the first ``m`` examples of
    ``make_captioning_data(n, seed)`` are ``make_captioning_data(m, seed)``. Same arguments,
    same data.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if isinstance(captions_per_image, bool) or not isinstance(captions_per_image, int) \
            or captions_per_image < 1:
        raise ValueError(f"captions_per_image must be a positive integer, got "
                         f"{captions_per_image!r}")
    max_shapes = _check_max_shapes(max_shapes)
    rng = np.random.default_rng(seed)
    scenes, captions = [], []
    for _ in range(n):
        scenes.append(random_scene(rng, max_shapes))
        captions.append(describe(scenes[-1], rng, captions_per_image))
    return CaptionData(render_many(scenes), captions, scenes)


# --- vocabulary and encoding --------------------------------------------------------------------

PAD, START, END = "<pad>", "<s>", "</s>"
PAD_ID, START_ID, END_ID = 0, 1, 2
_PUNCTUATION = re.compile(r"[.,:;]")


def tokenize_caption(text: str) -> list[str]:
    """Lower-case words, split on whitespace, with ``.``, ``,``, ``:`` and ``;`` removed.

    >>> tokenize_caption("Two shapes: a red circle, and a blue square.")
    ['two', 'shapes', 'a', 'red', 'circle', 'and', 'a', 'blue', 'square']
    """
    return _PUNCTUATION.sub(" ", text.lower()).split()


def _grammar_words() -> set[str]:
    """Every word :func:`describe` can emit."""
    frames = [re.sub(r"\{\w*\}", " ", t) for t in (*_SINGLE, *_PAIR)]
    phrases = [p for options in _PHRASES.values() for p in options]
    fixed = " ".join([*frames, *phrases, *_COUNTS.values(), "shapes and a", _GENERIC])
    return {*tokenize_caption(fixed), *SHAPES, *COLOURS, *SIZES}


def _longest_caption() -> int:
    """The most words a caption of :func:`describe` can have."""
    def words(text: str) -> int:
        return len(tokenize_caption(re.sub(r"\{\w*\}", " ", text)))
    noun_phrase = 4                                                  # a size colour kind
    single = max(map(words, _SINGLE)) + noun_phrase
    pair = (max(map(words, _PAIR)) + 2 * noun_phrase
            + max(words(p) for options in _PHRASES.values() for p in options))
    listing = 2 + 3 * noun_phrase + 1                                # three shapes: NP, NP and NP
    return max(single, pair, listing)


WORDS: tuple[str, ...] = (PAD, START, END, *sorted(_grammar_words()))
"""The vocabulary: padding, start, end, then every word of the grammar; a word's id is its
position (``len(WORDS)`` is the decoder's output size)."""

WORD_IDS = {word: i for i, word in enumerate(WORDS)}

MAX_CAPTION_WORDS: int = _longest_caption()
"""The most words a reference caption has (``three shapes: a small red circle, ...``)."""


def encode_captions(captions: Sequence[str], max_len: int = MAX_CAPTION_WORDS + 1,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Captions as padded arrays for teacher forcing, ``(target_in, target_out, weights)``.

    Each ``(len(captions), max_len)``: ``target_in`` is the start id then the word ids, then
    zeros; ``target_out`` the word ids then the end id, then zeros (``target_in`` shifted left
    by one: what the decoder must predict); ``weights`` float32, 1.0 where ``target_out`` is a
    real token (the end id included). The ids are int32. A word not in :data:`WORDS`, or a
    caption of ``max_len`` words or more, raises ValueError.
    """
    rows = []
    for caption in captions:
        words = tokenize_caption(caption)
        unknown = [w for w in words if w not in WORD_IDS or WORD_IDS[w] <= END_ID]
        if unknown:
            raise ValueError(f"caption {caption!r} has words not in WORDS: {unknown}")
        if len(words) + 1 > max_len:
            raise ValueError(f"caption {caption!r} has {len(words)} words: it needs "
                             f"max_len >= {len(words) + 1} (with its start/end token)")
        rows.append([WORD_IDS[w] for w in words])
    target_in = np.zeros((len(rows), max_len), np.int32)
    target_out = np.zeros((len(rows), max_len), np.int32)
    for row, ids in enumerate(rows):
        target_in[row, : len(ids) + 1] = [START_ID, *ids]
        target_out[row, : len(ids) + 1] = [*ids, END_ID]
    return target_in, target_out, (target_out != PAD_ID).astype(np.float32)


def decode_ids(ids) -> str:
    """Word ids (a sequence, array or tensor) to a caption: stops at the end id, skips padding
    and start ids. An id outside :data:`WORDS` raises ValueError.

    >>> decode_ids([1, WORD_IDS["a"], WORD_IDS["red"], WORD_IDS["circle"], 2, 0])
    'a red circle'
    """
    words = []
    for i in np.asarray(ids).astype(np.int64).reshape(-1).tolist():
        if not 0 <= i < len(WORDS):
            raise ValueError(f"id {i} is not in WORDS (0 to {len(WORDS) - 1})")
        if i == END_ID:
            break
        if i not in (PAD_ID, START_ID):
            words.append(WORDS[i])
    return " ".join(words)


def training_pairs(data: CaptionData) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One row per (image, reference caption): ``(image_index, target_in, target_out, weights)``.

    ``image_index (p,)`` int32 indexes ``data.images`` (``data.images[image_index]`` are the
    encoder's inputs); the other three are :func:`encode_captions` of the captions, in order
    (image 0's captions first), so a model trains on every reference caption.
    """
    counts = [len(c) for c in data.captions]
    image_index = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
    flat = [caption for captions in data.captions for caption in captions]
    return (image_index, *encode_captions(flat))
