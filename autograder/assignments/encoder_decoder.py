"""Judging shared by the encoder-decoder assignments (``seq2seq``, ``captioning``).

Both build ``(model, encoder, decoder)`` whose worker probes come from
:func:`autograder.generative_models.encoder_decoder_probe`, and both decode with the grader's
own seeded models, so the same sentences say what is wrong: the three models' shapes, the
shared weights (step-by-step decoding equals teacher forcing) and a decoded id list against
the grader's.
"""

from __future__ import annotations

import numpy as np

from autograder.assignments.fundamentals_reference import describe, shape_text

STEP_TOLERANCE = 1e-5


def probe_problem(probe: dict, where: str, units: int, vocab: int,
                  vocab_name: str = "vocab_size") -> str | None:
    """What is wrong with one probe of ``(model, encoder, decoder)``, or None: the model's
    probabilities ``(batch, L, vocab)``, the encoder's state ``(batch, units)``, the
    decoder's step ``[(batch, 1, vocab), (batch, units)]``."""
    if "error" in probe:
        return f"{where} failed: {probe['error']}"
    rows, tgt_len = probe["batch"], probe["tgt_len"]
    want = [rows, tgt_len, vocab]
    if probe["shape"] != want:
        return (f"{where}: expected model probabilities {shape_text(want)} (batch, L, "
                f"{vocab_name}), got {shape_text(probe['shape'])}")
    if not probe["sums_one"]:
        return (f"{where}: the model's output rows do not sum to 1: end with a softmax (the "
                "contract asks for probabilities)")
    if probe["state_shape"] != [rows, units]:
        return (f"{where}: expected the encoder's state ({rows}, {units}), got "
                f"{shape_text(probe['state_shape'])}")
    if probe["step_shape"] != [rows, 1, vocab] or probe["step_state_shape"] != [rows, units]:
        return (f"{where}: expected the decoder to return [({rows}, 1, {vocab}), ({rows}, "
                f"{units})], got [{shape_text(probe['step_shape'])}, "
                f"{shape_text(probe['step_state_shape'])}]")
    return None


def step_gap_problem(obs, case_ids) -> str | None:
    """Why the cases' encoder + decoder, one step at a time, do not reproduce the
    teacher-forced model (they do not share weights), or None."""
    for case_id in case_ids:
        for probe in obs.measured[case_id]["probes"]:
            if "error" in probe or probe.get("step_gap") is None:
                return ("the shapes are wrong (see the shape check), so the models cannot "
                        "be compared")
            if probe["step_gap"] > STEP_TOLERANCE:
                return (f"{obs.call(case_id)}: feeding tgt_in to the decoder one step at a "
                        f"time from the encoder's state differs from the model's "
                        f"probabilities by {probe['step_gap']:.3g}: build each layer once "
                        "and call it from all three models, so they share weights")
    return None


def loss_problem(info: dict, call: str) -> str | None:
    """Why the training model is not compiled with sparse categorical cross-entropy."""
    if not info["compiled"]:
        return f"{call}: the training model is not compiled"
    loss = str(info["loss"]).lower().replace("_", "")
    if "sparsecategoricalcrossentropy" not in loss:
        return f"expected sparse categorical cross-entropy, got {info['loss']}"
    return None


def as_ids(value) -> list[int] | None:
    """A returned id list as plain ints, or None when it is not a flat list of numbers."""
    if isinstance(value, dict):
        return None
    return [int(i) for i in np.asarray(value).reshape(-1)]


def decoding_problem(got, want: list[list[int]], where: str, *, paths=None, end_id=None,
                     max_len=None) -> str | None:
    """What differs between a decoder's returned id lists ``got`` and the grader's ``want``
    (one list per row), or None. With the never-stopped greedy ``paths``, a hint says
    whether the end id was included, decoding did not stop, or ran past ``max_len``."""
    if not isinstance(got, tuple) or len(got) != len(want):
        return (f"{where}: expected a list of {len(want)} id lists (one per row), got "
                f"{describe(got)}")
    for row, (value, expected) in enumerate(zip(got, want, strict=True)):
        ids = as_ids(value)
        if ids == expected:
            continue
        hint = ""
        if paths is not None and ids is not None:
            full = [int(i) for i in paths[row][:max_len]]
            if end_id in full and ids == full[: full.index(end_id) + 1]:
                hint = ": the end id must not be included"
            elif end_id in full and ids[: len(expected)] == expected:
                hint = ": decoding must stop at the end id"
            elif len(ids) != len(expected) and \
                    ids[: min(len(ids), len(expected))] == expected[: len(ids)]:
                hint = f": at most max_len={max_len} ids"
        return f"{where}: row {row}: expected {expected}, got {ids}{hint}"
    return None


BEAM_HINT = (" (keep the k best extensions, set the ones ending in end_id aside and narrow "
             "the beam by one for each, no length normalisation)")


def beam_problem(calls, results, references, call_text) -> str | None:
    """The first beam-search call whose ids differ from the grader's plain reference search,
    with a hint, or None. ``call_text(kwargs)`` writes the call for the message."""
    for call, got, want in zip(calls, results, references, strict=True):
        kwargs = call["kwargs"]
        problem = decoding_problem(got, want["ids"], call_text(kwargs))
        if problem:
            return problem + (" (with beam_width=1, beam search is greedy decoding)"
                              if kwargs["beam_width"] == 1 else BEAM_HINT)
    return None
