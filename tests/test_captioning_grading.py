"""Grading the ``captioning`` assignment (lab 8).

The reference passes every check and the starter scores 0 with "not implemented yet";
purpose-built wrong modules, made from the reference by small source edits, lose the points
of exactly the functions they break. The grader's own model and pictures are measured here
to be worth testing with: different greedy paths that meet every end id, and beams that part
from them, and the worker's plain beam search agrees with the reference's batched one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autograder.assignments import ASSIGNMENTS, load_assignment
from autograder.assignments import captioning as spec
from autograder.assignments.captioning_worker import (
    beam_reference,
    captioning_references,
    reference_captioner,
)
from autograder.grader import grade
from autograder.metrics import cut_at_end
from autograder.questions import question_points
from seqlab.student import student_module
from tests.submissions import edit, submission

REPO = Path(__file__).resolve().parent.parent
SOURCE = (REPO / "solutions" / "captioning.py").read_text()


@pytest.fixture(scope="module")
def references():
    return captioning_references(spec.ASSIGNMENT.worker_references(None)[0])


def test_the_graders_model_decodes_differently_for_each_picture(references):
    paths = np.asarray(references["paths"])
    assert len({tuple(path) for path in paths.tolist()}) == len(paths)   # four pictures
    for end in spec.END_IDS:
        assert (paths == end).any(), f"no greedy path meets end id {end}"
    beams = [beam for beams in spec.BEAMS.values() for beam in beams]
    differ = sum(ids != greedy for beam, found in zip(beams, references["beams"], strict=True)
                 for ids, greedy in zip(found["ids"], cut_at_end(paths, beam["end_id"],
                                                                 beam["max_len"]), strict=True))
    assert differ >= 8, "too few beams part from the greedy path to test beam search"


def test_plain_beam_search_agrees_with_the_reference(references):
    reference = student_module("captioning", "solutions")
    encoder, decoder = reference_captioner(**spec.GRADER_CAPTIONER)
    images = spec.INPUTS["images"]
    beams = [beam for beams in spec.BEAMS.values() for beam in beams]
    for beam, found in zip(beams, references["beams"], strict=True):
        got = reference.beam_search_captions(encoder, decoder, images, spec.START_ID,
                                             beam["end_id"], beam["max_len"],
                                             beam["beam_width"])
        assert [list(map(int, row)) for row in got] == found["ids"], beam
        for row, (ids, score) in enumerate(zip(found["ids"], found["scores"], strict=True)):
            own = reference.caption_log_probability(encoder, decoder, images[row], ids,
                                                    spec.START_ID, beam["end_id"],
                                                    max_len=beam["max_len"])
            assert own == pytest.approx(score, abs=1e-6)
    width_one = beam_reference(encoder, decoder, images, spec.START_ID, 2, 9, 1)
    assert [ids for ids, _ in width_one] == cut_at_end(references["paths"], 2, 9)


def test_contract_function_names_are_unique_across_assignments():
    owners: dict[str, str] = {}
    for name in ASSIGNMENTS:
        for function in load_assignment(name).FUNCTIONS:
            assert function not in owners, (function, owners.get(function), name)
            owners[function] = name


def test_parameter_count_formula_matches_keras():
    reference = student_module("captioning", "solutions")
    for case_id in spec.STRUCTURE_CASES:
        kwargs = spec._kwargs(spec.CASES[case_id])
        model, _, _ = reference.build_captioner(**kwargs)
        assert model.count_params() == spec.captioner_params(
            kwargs["vocab_size"], kwargs["image_shape"], kwargs["filters"],
            kwargs["embedding_dim"], kwargs["units"])


def test_the_assignment_is_worth_54_points_and_hides_its_learning_checks():
    from autograder.registry import REGISTRY

    checks = REGISTRY["captioning"]
    assert sum(c.points for c in checks) == 54 + question_points("captioning")
    assert all(not c.public for c in checks if c.name.startswith("learning"))


@pytest.mark.slow
def test_starter_scores_zero_with_not_implemented_messages():
    """(The reference's full marks: tests/test_autograder.py grades all of solutions/.)"""
    starter = grade(REPO / "starter", assignment="captioning", functions=tuple(spec.FUNCTIONS))
    assert starter.score == 0
    assert all("implemented yet" in t.message for t in starter.tests
               if t.status == "failed"), [t.message for t in starter.tests]


@pytest.mark.slow
def test_beam_and_greedy_mistakes_lose_their_points(tmp_path):
    source = edit(
        SOURCE,
        # beam search that refills the beam to beam_width every step (never narrows)
        ("                    width[image] -= 1\n", ""),
        # greedy keeps the end id
        ("            if best[row] == end_id:\n                done[row] = True\n"
         "            else:\n                outputs[row].append(int(best[row]))",
         "            outputs[row].append(int(best[row]))\n"
         "            if best[row] == end_id:\n                done[row] = True"),
    )
    result = grade(submission(tmp_path, "captioning.py", source), assignment="captioning",
                   functions=("greedy_captions", "beam_search_captions"))
    lost = {t.name: t.message for t in result.tests if t.points < t.max_points}
    assert sorted(name.split(":")[0] for name in lost) == ["beam_search_captions",
                                                           "greedy_captions"], lost
    assert "must not be included" in next(m for n, m in lost.items() if n.startswith("greedy"))
    assert "narrow the beam" in next(m for n, m in lost.items() if n.startswith("beam"))
