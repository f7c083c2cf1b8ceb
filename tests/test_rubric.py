"""seqlab.rubric: reference captions are level 0, each kind of error costs what the rubric
says, any word sequence parses, and BLEU uses every reference."""

from __future__ import annotations

import numpy as np
import pytest

from seqlab.rubric import (
    LEVELS,
    Mention,
    ParsedCaption,
    caption_errors,
    corpus_bleu,
    parse_caption,
    relation_holds,
    rubric_level,
    rubric_report,
)
from seqlab.scenes import WORDS, Scene, Shape, make_captioning_data

RED_CIRCLE = Shape("circle", "red", "large", 20, 32)
BLUE_SQUARE = Shape("square", "blue", "small", 46, 30)
TWO = Scene((RED_CIRCLE, BLUE_SQUARE))                    # the circle is left of the square
ONE = Scene((RED_CIRCLE,))


@pytest.fixture(scope="module")
def data():
    return make_captioning_data(2000, seed=21)


def test_every_reference_caption_is_level_0(data):
    for scene, captions in zip(data.scenes, data.captions, strict=True):
        for caption in captions:
            assert caption_errors(caption, scene) == 0, (caption, scene)
            assert rubric_level(caption, scene) == 0, (caption, scene)


def test_reference_relations_are_parsed(data):
    relations = [r for captions in data.captions for c in captions
                 for r in parse_caption(c).relations]
    assert {rel for _, rel, _ in relations} == {"left of", "right of", "above", "below"}
    assert all(i < j for i, _, j in relations)


def test_parse_caption_reads_mentions_relations_and_counts():
    parsed = parse_caption("There is a big red disc to the left of a small box.")
    assert parsed == ParsedCaption((Mention("circle", "red", "large"),
                                    Mention("square", None, "small")), ((0, "left of", 1),))
    parsed = parse_caption("two shapes: a red shape and a blue triangle")
    assert parsed.count == 2 and parsed.relations == ()
    assert parsed.mentions == (Mention(None, "red", None), Mention("triangle", "blue", None))
    assert parse_caption("a red blue circle").mentions == (Mention(None, "red", None),
                                                           Mention("circle", "blue", None))
    assert parse_caption("a circle under a square above a triangle").relations == (
        (0, "below", 1), (1, "above", 2))
    assert parse_caption("left of a red circle").relations == ()
    assert parse_caption("a shape").mentions == ()


def test_parse_caption_never_raises():
    rng = np.random.default_rng(0)
    vocabulary = [*WORDS, "foo", "big", "box", "of", "two", "shapes", ":", ",", "."]
    scenes = make_captioning_data(50, seed=2).scenes
    for trial in range(1500):
        words = rng.choice(vocabulary, size=int(rng.integers(0, 20)))
        caption = " ".join(words)
        assert isinstance(parse_caption(caption), ParsedCaption)
        assert rubric_level(caption, scenes[trial % 50]) in (0, 1, 2, 3)
    for odd in ("", "   ", None, b"a red circle", ["a", "red", "circle"], "<s> </s> <pad>"):
        assert isinstance(parse_caption(odd), ParsedCaption)
    assert parse_caption(["a", "red", "circle"]).mentions == (Mention("circle", "red", None),)


@pytest.mark.parametrize(("caption", "level"), [
    ("a large red circle to the left of a small blue square", 0),
    ("a blue square is right of a red circle", 0),
    ("two shapes: a small blue square and a large red circle", 0),
    ("there is a red shape", 1),                                      # one shape left out
    ("a large red circle", 1),
    ("a large green circle to the left of a small blue square", 1),   # one wrong colour
    ("a small red circle", 2),                        # a wrong size and a shape left out
    ("a large red circle to the left of a small square", 0),
    ("a small red circle to the left of a small blue square", 1),     # one wrong size
    ("a red circle to the right of a blue square", 1),                # a false relation
    ("a red circle above a blue square", 1),
    ("three shapes: a red circle and a blue square", 1),              # a wrong count
    ("a red circle and a blue square and a triangle", 1),             # one extra kind
    ("a blue circle to the right of a red square", 3),                # everything swapped
    ("a red circle and a yellow triangle", 2),                        # half right
    ("a green triangle", 3),
    ("", 3),
    ("the of to is and", 3),
    ("a large shape", 3),                                             # names no kind or colour
])
def test_levels_of_a_two_shape_scene(caption, level):
    assert rubric_level(caption, TWO) == level, caption


def test_levels_of_a_one_shape_scene():
    assert rubric_level("a red circle", ONE) == 0
    assert rubric_level("a blue circle", ONE) == 1                    # wrong colour
    assert rubric_level("a red square", ONE) == 1                     # wrong kind
    assert rubric_level("a blue square", ONE) == 3                    # wrong colour and kind
    assert rubric_level("a large blue square", ONE) == 3              # only the size right
    assert rubric_level("a red circle and a blue square", ONE) == 2   # an invented shape
    assert rubric_level("a red circle a red circle", ONE) == 2        # a repeat
    assert rubric_level("two shapes: a red circle", ONE) == 1
    assert rubric_level("a red circle left of a red circle", ONE) == 2


def test_matching_uses_distinct_shapes_and_the_best_one():
    twins = Scene((Shape("circle", "red", "small", 10, 30),
                   Shape("circle", "red", "small", 50, 30)))
    assert rubric_level("a red circle left of a red circle", twins) == 0
    assert rubric_level("a red circle right of a red circle", twins) == 0
    assert caption_errors("a red circle above a red circle", twins) == 1
    assert caption_errors("a red circle, a red circle and a red circle", twins) == 2


def test_relations_hold_along_the_dominant_axis():
    a = Shape("circle", "red", "small", 10, 30)
    assert relation_holds(a, "left of", Shape("square", "red", "small", 40, 40))   # 18 deg off
    assert not relation_holds(a, "above", Shape("square", "red", "small", 40, 40))
    assert relation_holds(a, "above", Shape("square", "red", "small", 20, 60))
    assert not relation_holds(a, "right of", Shape("square", "red", "small", 40, 30))
    with pytest.raises(ValueError):
        relation_holds(a, "near", a)


def test_rubric_report_counts_levels_and_keeps_examples():
    captions = ["a large red circle", "a green circle", "", "a red circle left of a blue square",
                "a blue triangle and a green square", "a small red circle"]
    report = rubric_report(captions, [TWO] * len(captions), examples=1)
    assert report["levels"] == [1, 3, 3, 0, 3, 2]
    assert report["counts"] == dict(zip(LEVELS, (1, 1, 1, 3), strict=True))
    assert report["fractions"][LEVELS[0]] == pytest.approx(1 / 6)
    assert sum(report["fractions"].values()) == pytest.approx(1.0)
    assert report["examples"][LEVELS[1]] == [(0, "a large red circle")]
    assert report["examples"][LEVELS[2]] == [(5, "a small red circle")]
    with pytest.raises(ValueError):
        rubric_report(captions, [TWO])
    assert np.isnan(rubric_report([], [])["fractions"][LEVELS[0]])


def test_corpus_bleu_perfect_unrelated_and_every_reference(data):
    references = data.captions[:200]
    first = [refs[0] for refs in references]
    assert corpus_bleu(first, references) == pytest.approx(100.0)
    assert corpus_bleu([refs[1] for refs in references], references) == pytest.approx(100.0)
    assert corpus_bleu([h.upper() + "." for h in first], references) == pytest.approx(100.0)
    unrelated = ["zebra quantum lemon purple" for _ in references]
    assert corpus_bleu(unrelated, references) < 1.0
    half = corpus_bleu(first[:100] + unrelated[:100], references)
    assert 1.0 < half < 100.0


def test_corpus_bleu_takes_unequal_numbers_of_references():
    hypotheses = ["a red circle left of a blue square", "there is a green triangle"]
    references = [["a blue square right of a red circle", "a red circle left of a blue square"],
                  ["there is a green triangle"]]
    assert corpus_bleu(hypotheses, references) == pytest.approx(100.0)
    assert corpus_bleu(hypotheses, [references[0][:1], references[1]]) < 100.0
    with pytest.raises(ValueError):
        corpus_bleu(hypotheses, references[:1])
    with pytest.raises(ValueError):
        corpus_bleu(hypotheses, [references[0], []])
    assert np.isnan(corpus_bleu([], []))
