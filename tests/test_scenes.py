"""seqlab.scenes: seeded scenes inside the canvas, pictures that show them, captions, encoding."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest

from seqlab.scenes import (
    BACKGROUND_RGB,
    BOUND,
    COLOUR_RGB,
    COLOURS,
    END_ID,
    GAP,
    IMAGE_SIZE,
    MAX_CAPTION_WORDS,
    PAD_ID,
    RADIUS,
    RELATIONS,
    SHAPES,
    SIZES,
    START_ID,
    WORD_IDS,
    WORDS,
    CaptionData,
    Scene,
    Shape,
    decode_ids,
    describe,
    encode_captions,
    make_captioning_data,
    random_scene,
    relation,
    render,
    render_many,
    tokenize_caption,
    training_pairs,
)


@pytest.fixture(scope="module")
def data() -> CaptionData:
    return make_captioning_data(2000, seed=7)


def _same(a: CaptionData, b: CaptionData) -> bool:
    return (np.array_equal(a.images, b.images) and a.captions == b.captions
            and a.scenes == b.scenes)


def test_same_seed_same_data_and_a_prefix_for_fewer():
    first, again = make_captioning_data(60, seed=3), make_captioning_data(60, seed=3)
    assert _same(first, again)
    assert not _same(first, make_captioning_data(60, seed=4))
    fewer = make_captioning_data(25, seed=3)
    assert fewer.scenes == first.scenes[:25] and fewer.captions == first.captions[:25]
    assert np.array_equal(fewer.images, first.images[:25])


def test_shapes_and_dtypes(data):
    assert data.images.shape == (2000, IMAGE_SIZE, IMAGE_SIZE, 3)
    assert data.images.dtype == np.uint8 and len(data) == 2000
    assert len(data.captions) == len(data.scenes) == 2000
    assert all(len(c) == 5 and all(isinstance(s, str) for s in c) for c in data.captions)
    counts = Counter(len(s.shapes) for s in data.scenes)
    assert set(counts) == {1, 2, 3} and min(counts.values()) > 550          # uniform-ish
    for scene in data.scenes:
        assert isinstance(scene.shapes, tuple)
        for s in scene.shapes:
            assert s.kind in SHAPES and s.colour in COLOURS and s.size in SIZES
    other = make_captioning_data(50, seed=1, captions_per_image=2, max_shapes=1)
    assert all(len(s.shapes) == 1 for s in other.scenes)
    assert all(len(c) == 2 for c in other.captions)


def test_every_attribute_value_occurs(data):
    shapes = [s for scene in data.scenes for s in scene.shapes]
    assert {s.kind for s in shapes} == set(SHAPES)
    assert {s.colour for s in shapes} == set(COLOURS)
    assert {s.size for s in shapes} == set(SIZES)


def test_shapes_inside_the_canvas_and_apart(data):
    pairs = unambiguous = 0
    for scene in data.scenes:
        for s in scene.shapes:
            r = RADIUS[s.size]
            assert r <= s.x <= IMAGE_SIZE - 1 - r and r <= s.y <= IMAGE_SIZE - 1 - r, s
        for a, b in itertools.combinations(scene.shapes, 2):
            assert math.hypot(a.x - b.x, a.y - b.y) >= BOUND * (a.radius + b.radius) + GAP
            pairs += 1
            unambiguous += relation(a, b) is not None
    assert unambiguous > 0.8 * pairs


def test_relation_takes_the_dominant_axis():
    def at(x, y):
        return Shape("circle", "red", "small", x, y)

    assert relation(at(10, 30), at(40, 32)) == "left of"
    assert relation(at(40, 32), at(10, 30)) == "right of"
    assert relation(at(30, 10), at(33, 50)) == "above"
    assert relation(at(33, 50), at(30, 10)) == "below"
    assert relation(at(10, 10), at(30, 30)) is None                # a diagonal
    assert relation(at(10, 10), at(10, 10)) is None
    inverse = dict(zip(RELATIONS, ("right of", "left of", "below", "above"), strict=True))
    rng = np.random.default_rng(0)
    for _ in range(500):
        a, b = at(*rng.uniform(0, 64, 2)), at(*rng.uniform(0, 64, 2))
        rel = relation(a, b)
        assert (rel is None and relation(b, a) is None) or relation(b, a) == inverse[rel]


def _colours(image: np.ndarray) -> set[tuple[int, int, int]]:
    packed = np.unique(image.reshape(-1, 3).astype(np.int64) @ [65536, 256, 1])
    return {(int(p) // 65536, int(p) // 256 % 256, int(p) % 256) for p in packed}


def test_render_paints_each_shape_and_leaves_the_background(data):
    ys, xs = np.mgrid[:IMAGE_SIZE, :IMAGE_SIZE]
    area = {"circle": math.pi, "square": 1.7**2, "triangle": 1.75}      # in radii squared
    for scene, image in zip(data.scenes[:300], data.images[:300], strict=True):
        assert np.array_equal(image, render(scene))
        near = np.zeros((IMAGE_SIZE, IMAGE_SIZE), bool)
        for s in scene.shapes:
            assert tuple(image[round(s.y), round(s.x)]) == COLOUR_RGB[s.colour], s
            near |= (np.abs(xs - s.x) <= s.radius + 1) & (np.abs(ys - s.y) <= s.radius + 1)
        assert (image[~near] == BACKGROUND_RGB).all()
        painted = (image != BACKGROUND_RGB).any(axis=2).sum()
        expected = sum(area[s.kind] * s.radius**2 for s in scene.shapes)
        assert 0.8 * expected <= painted <= 1.2 * expected
        assert _colours(image) == {COLOUR_RGB[s.colour] for s in scene.shapes} | {BACKGROUND_RGB}


def test_kinds_look_different_and_size_scales():
    images = [render(Scene((Shape(kind, "white", "large", 32, 32),))) for kind in SHAPES]
    masks = [(im != BACKGROUND_RGB).any(axis=2) for im in images]
    for a, b in itertools.combinations(masks, 2):
        assert (a != b).sum() > 30
    triangle = masks[SHAPES.index("triangle")]
    rows = triangle.sum(axis=1)
    assert rows[25] < rows[38]                                     # apex up, base down
    scene = Scene((Shape("square", "blue", "small", 20, 40),
                   Shape("circle", "red", "large", 45, 20)))
    big, small = render(scene, 128), render(scene, 32)
    assert big.shape == (128, 128, 3) and small.shape == (32, 32, 3)
    assert tuple(big[81, 41]) == COLOUR_RGB["blue"] and tuple(small[10, 22]) == COLOUR_RGB["red"]
    assert render_many([], 64).shape == (0, 64, 64, 3)


def test_captions_use_the_vocabulary_and_fit_max_caption_words(data):
    emitted = Counter(w for captions in data.captions for c in captions
                      for w in tokenize_caption(c))
    assert set(emitted) <= set(WORDS)
    assert set(emitted) == set(WORDS[3:])                          # no dead word either
    assert WORDS[:3] == ("<pad>", "<s>", "</s>") and list(WORDS[3:]) == sorted(WORDS[3:])
    assert (WORD_IDS["<pad>"], WORD_IDS["<s>"], WORD_IDS["</s>"]) == (PAD_ID, START_ID, END_ID)
    longest = max(len(tokenize_caption(c)) for captions in data.captions for c in captions)
    assert longest == MAX_CAPTION_WORDS <= 16


def test_captions_are_distinct_and_name_the_scene(data):
    for scene, captions in zip(data.scenes, data.captions, strict=True):
        if len(scene.shapes) > 1:
            assert len(set(captions)) == len(captions), captions
        named = {w for s in scene.shapes for w in (s.kind, s.colour, s.size)}
        for caption in captions:
            words = set(tokenize_caption(caption))
            assert words & set(SHAPES + COLOURS + SIZES) <= named, (caption, scene)


def test_describe_is_seeded():
    scene = random_scene(np.random.default_rng(5))
    one = describe(scene, np.random.default_rng(1), n=8)
    assert one == describe(scene, np.random.default_rng(1), n=8) and len(one) == 8


def test_tokenize_caption():
    assert tokenize_caption("Two shapes: a Red circle, and a blue square.") == [
        "two", "shapes", "a", "red", "circle", "and", "a", "blue", "square"]
    assert tokenize_caption("  ") == []


def test_encode_decode_round_trip(data):
    captions = [c for captions in data.captions[:200] for c in captions]
    target_in, target_out, weights = encode_captions(captions)
    n, length = len(captions), MAX_CAPTION_WORDS + 1
    assert target_in.shape == target_out.shape == weights.shape == (n, length)
    assert target_in.dtype == target_out.dtype == np.int32 and weights.dtype == np.float32
    for row, caption in enumerate(captions):
        words = tokenize_caption(caption)
        assert decode_ids(target_out[row]) == " ".join(words)
        assert decode_ids(target_in[row]) == " ".join(words)
        assert target_in[row, 0] == START_ID and target_out[row, len(words)] == END_ID
        assert np.array_equal(target_in[row, 1:len(words) + 1], target_out[row, :len(words)])
        assert weights[row].sum() == len(words) + 1
        assert (target_in[row, len(words) + 1:] == PAD_ID).all()
    assert set(np.unique(weights)) == {0.0, 1.0}
    assert np.array_equal(weights, (target_out != 0).astype(np.float32))


def test_encode_captions_refuses_unknown_and_long_captions():
    with pytest.raises(ValueError, match="not in WORDS"):
        encode_captions(["a purple circle"])
    with pytest.raises(ValueError, match="not in WORDS"):
        encode_captions(["a <s> circle"])
    with pytest.raises(ValueError, match="max_len"):
        encode_captions(["a red circle"], max_len=3)
    target_in, _, _ = encode_captions(["a red circle"], max_len=4)
    assert target_in.shape == (1, 4)


def test_decode_ids_stops_at_end_and_skips_padding():
    ids = [START_ID, WORD_IDS["a"], PAD_ID, WORD_IDS["red"], WORD_IDS["circle"], END_ID,
           WORD_IDS["square"]]
    assert decode_ids(ids) == "a red circle"
    assert decode_ids(np.array([[START_ID, WORD_IDS["a"]]])) == "a"
    assert decode_ids([]) == ""
    with pytest.raises(ValueError):
        decode_ids([len(WORDS)])


def test_training_pairs_cover_every_reference_caption(data):
    small = CaptionData(data.images[:30], data.captions[:30], data.scenes[:30])
    image_index, target_in, target_out, weights = training_pairs(small)
    flat = [(i, c) for i, captions in enumerate(small.captions) for c in captions]
    assert image_index.shape == (len(flat),) and image_index.dtype == np.int32
    assert target_in.shape == target_out.shape == weights.shape
    assert weights.shape == (len(flat), MAX_CAPTION_WORDS + 1)
    for row, (i, caption) in enumerate(flat):
        assert image_index[row] == i
        assert decode_ids(target_out[row]) == " ".join(tokenize_caption(caption))


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        make_captioning_data(-1)
    with pytest.raises(ValueError):
        make_captioning_data(5, max_shapes=4)
    with pytest.raises(ValueError):
        make_captioning_data(5, captions_per_image=0)
    with pytest.raises(ValueError):
        Shape("hexagon", "red", "small", 10, 10)
    assert len(make_captioning_data(0)) == 0


def test_make_captioning_data_5000_is_fast():
    start = time.perf_counter()
    data = make_captioning_data(5000, seed=11)
    elapsed = time.perf_counter() - start
    assert len(data) == 5000
    # ~1 s measured on a shared 2-core machine; the bound leaves room for a busy one
    assert elapsed < 3.0, f"make_captioning_data(5000) took {elapsed:.2f} s"


def test_no_keras_or_tensorflow_import():
    code = ("import sys, seqlab.scenes, seqlab.rubric; "
            "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
