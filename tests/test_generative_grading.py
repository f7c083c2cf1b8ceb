"""Grading the generative assignments ``char_lm`` and ``seq2seq`` (labs 6 and 7).

The reference passes every check; purpose-built wrong modules, made from the reference by
small source edits, lose the points of exactly the functions they break, with messages that
name the usual mistake. Independent faults (one per function) share a submission to keep the
suite fast: every check judges one function, so each fault is seen on its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.grader import grade
from autograder.questions import question_points
from tests.submissions import edit as _edit
from tests.submissions import is_question
from tests.submissions import submission as _submission

REPO = Path(__file__).resolve().parent.parent
CHAR_LM = (REPO / "solutions" / "char_lm.py").read_text()
SEQ2SEQ = (REPO / "solutions" / "seq2seq.py").read_text()


def _by_prefix(result) -> dict[str, object]:
    return {t.name.split(":")[0]: t for t in result.tests}


def _lost(result) -> list[str]:
    return sorted(t.name for t in result.tests if t.points < t.max_points
                  and not is_question(t))  # these submissions answer no question


@pytest.mark.slow
@pytest.mark.parametrize("assignment, total", [("char_lm", 61), ("seq2seq", 48)])
def test_reference_passes_every_check(assignment, total):
    result = grade(REPO / "solutions", assignment=assignment)
    problems = [(t.name, t.message) for t in result.tests
                if t.status not in ("passed", "ungraded")]  # ungraded: the written questions
    assert not problems
    assert result.score == result.max_score == total + question_points(assignment)


@pytest.mark.slow
def test_char_lm_mistakes_each_lose_their_function_points(tmp_path):
    source = _edit(
        CHAR_LM,
        # batchify: consecutive ids along rows instead of down columns
        ("return np.ascontiguousarray(data[: n_steps * batch_size].reshape(batch_size, "
         "n_steps).T)", "return data[: n_steps * batch_size].reshape(n_steps, batch_size)"),
        # get_batch: targets not shifted by one step
        ("y = source[i + 1 : i + 1 + length].T", "y = source[i : i + length].T"),
        # sample_next: the temperature is ignored
        ("scaled = logits / temperature", "scaled = logits.copy()"),
        # build_char_lm: never stateful
        ("stateful=batch_size is not None,", "stateful=False,"),
        # generate: returns the prime too
        ("        x = np.asarray([[out[-1]]], dtype=np.int32)                  # (1, 1)\n"
         "    return out", "        x = np.asarray([[out[-1]]], dtype=np.int32)\n"
                           "    return prime + out"),
    )
    result = grade(_submission(tmp_path, "char_lm.py", source), assignment="char_lm")
    tests = _by_prefix(result)
    assert "run along a row" in tests["batchify"].message
    assert "shifted by one" in tests["get_batch"].message
    assert "temperature is ignored" in tests["sample_next"].message
    stateful = next(t for t in result.tests if "stateful with batch_size" in t.name)
    assert "expected a stateful recurrent layer" in stateful.message
    generate = next(t for t in result.tests if t.name.startswith("generate"))
    assert generate.points == 0 and "the new ones only" in generate.message
    stateless = [t for t in result.tests if t.name.startswith("build_char_lm") and
                 "stateful" not in t.name]
    assert all(t.status == "passed" for t in stateless), [(t.name, t.message)
                                                         for t in stateless]
    assert len(_lost(result)) == 5


@pytest.mark.slow
def test_char_lm_more_mistakes(tmp_path):
    source = _edit(
        CHAR_LM,
        # get_batch: the last window keeps bptt rows although fewer are left
        ("length = min(bptt, len(source) - 1 - i)", "length = bptt"),
        # sample_next: its own generator instead of the one it is given
        ("rng = rng if rng is not None else np.random.default_rng()",
         "rng = np.random.default_rng()"),
        # build_char_lm: probabilities instead of logits
        ('logits = keras.layers.Dense(vocab_size, name="logits")(x)',
         'logits = keras.layers.Dense(vocab_size, activation="softmax", name="logits")(x)'),
    )
    result = grade(_submission(tmp_path, "char_lm.py", source), assignment="char_lm",
                   functions=("get_batch", "sample_next", "build_char_lm"), public_only=True)
    messages = {t.name: t.message for t in result.tests if t.status != "passed"}
    assert any("L = min(bptt, len(source) - 1 - i)" in m for m in messages.values()), messages
    assert any("numpy.random.default_rng(1)" in m for m in messages.values()), messages
    assert any("sum to 1, so they are probabilities" in m for m in messages.values()), messages


@pytest.mark.slow
def test_seq2seq_unshared_decoder_and_decoding_mistakes(tmp_path):
    """Three independent faults: an unshared inference decoder, greedy decoding that keeps
    the end id, and a beam that never narrows."""
    source = _edit(
        SEQ2SEQ,
        # the inference decoder gets its own GRU: no weight sharing with the model
        ("step, state_out = decoder_gru(target_embedding(token), initial_state=state_in)",
         "step, state_out = keras.layers.GRU(units, return_sequences=True, "
         "return_state=True)(target_embedding(token), initial_state=state_in)"),
        # greedy_decode keeps the end id in the output
        ("            if best[row] == end_id:\n                done[row] = True\n"
         "            else:\n                outputs[row].append(int(best[row]))",
         "            outputs[row].append(int(best[row]))\n"
         "            if best[row] == end_id:\n                done[row] = True"),
        # beam search that refills the beam to beam_width every step (never narrows)
        ("                    width[row] -= 1\n", ""),
    )
    result = grade(_submission(tmp_path, "seq2seq.py", source), assignment="seq2seq")
    lost = {t.name: t.message for t in result.tests if t.points < t.max_points
            and not t.name.startswith("Question")}  # the submission answers no question
    # Trained, the model's decoder weights never reach the unshared inference decoder, so
    # the learning check is lost too (its greedy decoding is no better than chance).
    assert len(lost) == 4, lost
    assert any(name.startswith("learning") for name in lost)
    shared = next(m for n, m in lost.items() if "share" in n)
    assert "share weights" in shared
    greedy = next(m for n, m in lost.items() if n.startswith("greedy_decode"))
    assert "must not be included" in greedy
    beam = next(m for n, m in lost.items() if n.startswith("beam_search_decode"))
    assert "narrow the beam" in beam


def test_notebook_check_knows_the_generative_functions():
    from autograder.notebook import checked_functions

    known = checked_functions()
    for function in ("batchify", "get_batch", "build_char_lm", "sample_next", "generate"):
        assert known[function] == "char_lm"
    for function in ("build_seq2seq", "greedy_decode", "beam_search_decode"):
        assert known[function] == "seq2seq"
