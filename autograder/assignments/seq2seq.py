"""The ``seq2seq`` assignment: a GRU encoder-decoder, greedy decoding and beam search (lab 7).

``build_seq2seq``'s three models are saved by the child and run by the trusted worker: the
teacher-forced model's probabilities must be reproduced by the encoder and the decoder run
one step at a time (which only happens when the three share their layers). ``greedy_decode``
is handed *the grader's own* seeded encoder and decoder, so it is graded on its own; the
worker decodes the same sources itself and the checks cut its paths at each end id.
``beam_search_decode`` likewise, against the worker's plain beam search
(:func:`autograder.generative_models.beam_reference`, shared with lab 8's
``beam_search_captions``), run in :mod:`autograder.assignments.seq2seq_worker`.
"""

from __future__ import annotations

import numpy as np

from autograder.assignments import Assignment, Case, RecipeInputs
from autograder.assignments.encoder_decoder import (
    STEP_TOLERANCE,
    beam_problem,
    decoding_problem,
    loss_problem,
    probe_problem,
    step_gap_problem,
)
from autograder.assignments.fundamentals_reference import signature_check
from autograder.metrics import band_fraction, cut_at_end
from autograder.registry import check, failed, partial, passed
from seqlab.programs import source_vocabulary, target_vocabulary

NAME = "seq2seq"
FILENAME = "seq2seq.py"
FUNCTIONS = {
    "build_seq2seq": [("src_vocab_size", None), ("tgt_vocab_size", None),
                      ("embedding_dim", "32"), ("units", "128")],
    "greedy_decode": [("encoder", None), ("decoder", None), ("src", None), ("start_id", None),
                      ("end_id", None), ("max_len", None)],
    "beam_search_decode": [("encoder", None), ("decoder", None), ("src", None),
                           ("start_id", None), ("end_id", None), ("max_len", None),
                           ("beam_width", "3")],
}
# The learning check: the grader trains build_seq2seq's models on two-digit additions
# (source reversed, as Zaremba and Sutskever do) and scores exact match on held-out sums.
RECIPES = {"seq2seq_additions": dict(digits=2, train=4000, test=500, epochs=12,
                                     batch_size=64, learning_rate=5e-3, seed=0, reverse=True,
                                     start_id=1, max_len=5, metric="exact_match")}
# seqlab.programs' fixed vocabularies (48 and 14 ids, padding included)
LEARN_SOURCE_VOCAB, LEARN_TARGET_VOCAB = len(source_vocabulary()), len(target_vocabulary())
GRADER_MODEL = {"src_vocab_size": 11, "tgt_vocab_size": 8, "embedding_dim": 6, "units": 12,
                "seed": 4}
START_ID, MAX_LEN, SHORT_LEN = 1, 9, 3
END_IDS = tuple(range(2, GRADER_MODEL["tgt_vocab_size"]))
# Beam search runs on the same architecture with seed 6: there, on INPUTS, beams part from
# the greedy path, and with end id 0 (widths 2 and 3) a beam that does not narrow (keeps
# beam_width live hypotheses however many finished) returns other answers (measured in
# tests/test_seq2seq.py).
BEAM_MODEL = {**GRADER_MODEL, "seed": 6}
BEAMS = (*({"end_id": end, "max_len": MAX_LEN, "beam_width": width}
           for width in (1, 2, 3, 5) for end in (2, 5)),
         {"end_id": 0, "max_len": MAX_LEN, "beam_width": 2},
         {"end_id": 0, "max_len": MAX_LEN, "beam_width": 3},
         {"end_id": 0, "max_len": SHORT_LEN, "beam_width": 3})


def _inputs() -> dict:
    rng = np.random.default_rng(7)
    return {"src": rng.integers(1, GRADER_MODEL["src_vocab_size"], size=(5, 6))}


INPUTS = _inputs()
CALLS = (*({"inputs": ("src",), "kwargs": {"start_id": START_ID, "end_id": end,
                                           "max_len": MAX_LEN}} for end in END_IDS),
         {"inputs": ("src",), "kwargs": {"start_id": START_ID, "end_id": 0,
                                         "max_len": SHORT_LEN}})
BEAM_CALLS = tuple({"inputs": ("src",), "kwargs": {"start_id": START_ID, **beam}}
                   for beam in BEAMS)

CASES = {c.id: c for c in (
    Case("s2s", "build_seq2seq", {"src_vocab_size": 13, "tgt_vocab_size": 9,
                                  "embedding_dim": 6, "units": 10},
         kind="build_models", count=3),
    Case("s2s_default", "build_seq2seq", {"src_vocab_size": 12, "tgt_vocab_size": 8},
         kind="build_models", count=3),
    Case("acc_s2s", "build_seq2seq", {"src_vocab_size": LEARN_SOURCE_VOCAB,
                                      "tgt_vocab_size": LEARN_TARGET_VOCAB,
                                      "embedding_dim": 16, "units": 128},
         kind="build_models", count=3, recipe="seq2seq_additions"),
    Case("greedy", "greedy_decode", {}, kind="call_with_models",
         args_text="the grader's encoder, decoder, src (5, 6)", builder="seq2seq",
         build=GRADER_MODEL, calls=CALLS),
    Case("beam", "beam_search_decode", {}, kind="call_with_models",
         args_text="the grader's encoder, decoder, src (5, 6)", builder="seq2seq",
         build=BEAM_MODEL, calls=BEAM_CALLS),
)}


VOCABS = {case.id: (case.kwargs["src_vocab_size"], case.kwargs["tgt_vocab_size"])
          for case in CASES.values() if case.function == "build_seq2seq"}


def exact_match_of(obs, case_id: str) -> float:
    from seqlab.programs import exact_match, target_vocabulary

    vocab = target_vocabulary()
    predictions = [vocab.decode(ids) for ids in obs.trained[case_id]["ids"]]
    return exact_match(predictions, obs.labels[obs.cases[case_id].recipe]["targets"])


def _units(case: Case) -> int:
    return case.kwargs.get("units", 128)


# ---------------------------------------------------------------- checks
signature_check(NAME, FILENAME, FUNCTIONS, points=2)


@check("build_seq2seq: model, encoder and decoder shapes", points=6, assignment=NAME,
       function="build_seq2seq", timeout=60, needs=("s2s", "s2s_default"))
def shapes(obs):
    for case_id in ("s2s", "s2s_default"):
        call = obs.call(case_id)
        for probe in obs.measured[case_id]["probes"]:
            where = (f"{call} on src ({probe['batch']}, {probe['src_len']}) and tgt_in "
                     f"({probe['batch']}, {probe['tgt_len']})")
            problem = probe_problem(probe, where, _units(obs.cases[case_id]),
                                    VOCABS[case_id][1], "tgt_vocab_size")
            if problem:
                return failed(problem)
    return passed("model (batch, L, tgt_vocab), encoder (batch, units), decoder one step "
                  "[(batch, 1, tgt_vocab), (batch, units)]")


@check("build_seq2seq: encoder + decoder step by step reproduce the model (shared weights)",
       points=8, assignment=NAME, function="build_seq2seq", timeout=60,
       needs=("s2s", "s2s_default"))
def shared_weights(obs):
    problem = step_gap_problem(obs, ("s2s", "s2s_default"))
    if problem:
        return failed(problem)
    return passed(f"step-by-step decoding equals teacher forcing to {STEP_TOLERANCE:g}")


@check("build_seq2seq: GRU encoder-decoder, compiled with sparse categorical cross-entropy",
       points=4, assignment=NAME, function="build_seq2seq", timeout=60, needs=("s2s",),
       visibility="after_published")
def layers(obs):
    info = obs.measured["s2s"]["model"]
    classes = [layer["class"] for layer in info["layers"]]
    if classes.count("GRU") != 2:
        return failed(f"{obs.call('s2s')}: expected two GRU layers (encoder and decoder) in "
                      f"the model, got layers {classes}")
    problem = loss_problem(info, obs.call("s2s"))
    if problem:
        return failed(problem)
    return passed("two GRU layers; sparse categorical cross-entropy")


@check("greedy_decode: the argmax path, stopping before end_id or after max_len", points=8,
       assignment=NAME, function="greedy_decode", timeout=60, needs=("greedy",))
def greedy_decode(obs):
    results = obs.arrays["greedy"]
    paths = np.asarray(obs.references["greedy_reference"]["paths"])
    ended = 0
    for call, got in zip(CALLS, results, strict=True):
        end, max_len = call["kwargs"]["end_id"], call["kwargs"]["max_len"]
        ended += sum(end in path[:max_len].tolist() for path in paths)
        where = (f"greedy_decode(the grader's encoder and decoder, src (5, 6), start_id="
                 f"{START_ID}, end_id={end}, max_len={max_len})")
        problem = decoding_problem(got, cut_at_end(paths, end, max_len), where, paths=paths,
                                   end_id=end, max_len=max_len)
        if problem:
            return failed(problem)
    note = f" ({ended} rows met their end id)" if ended else ""
    return passed(f"the grader's argmax paths, cut before end_id and after max_len{note}")


@check("beam_search_decode: the contract's beam search, widths 1 to 5", points=10,
       assignment=NAME, function="beam_search_decode", timeout=90, needs=("beam",))
def beam_search_decode(obs):
    problem = beam_problem(
        BEAM_CALLS, obs.arrays["beam"], obs.references["beam_reference"]["beams"],
        lambda kwargs: (f"beam_search_decode(the grader's encoder and decoder, src (5, 6), "
                        f"start_id={START_ID}, end_id={kwargs['end_id']}, max_len="
                        f"{kwargs['max_len']}, beam_width={kwargs['beam_width']})"))
    if problem:
        return failed(problem)
    return passed("the contract's beam search on the grader's model, widths 1, 2, 3 and 5")


@check("learning: build_seq2seq trained on two-digit additions (quick recipe), exact match",
       points=10, assignment=NAME, function="build_seq2seq", needs=("acc_s2s",),
       timeout=120, visibility="after_published")
def learning(obs):
    band = obs.bands["seq2seq_additions"]
    recipe = obs.recipes["seq2seq_additions"]
    score = exact_match_of(obs, "acc_s2s")
    full, zero = band["full_credit_at"], band["zero_credit_at"]
    return partial(band_fraction(score, band),
                   f"exact match {score:.3f} on {recipe['test']} held-out sums after the "
                   f"grader's {recipe['epochs']}-epoch recipe: full credit at {full:.3f} or "
                   f"more, none at {zero:.3f} or less (the reference scores "
                   f"{band['reference_min']:.3f}-{band['reference_max']:.3f})")


class Seq2Seq(Assignment):
    NAME, FILENAME, FUNCTIONS, CASES = NAME, FILENAME, FUNCTIONS, CASES
    RECIPES, INPUTS = RECIPES, INPUTS

    def worker_task(self, case: Case, files: list[str], *, inputs,
                    recipe: dict | None = None) -> dict:
        if case.recipe:
            return {"id": case.id, "kind": "seq2seq_train", "models": files,
                    "data": str(inputs / f"{case.recipe}.npz"), "recipe": recipe}
        src_vocab, tgt_vocab = VOCABS[case.id]
        return {"id": case.id, "kind": "seq2seq_probe", "models": files,
                "src_vocab_size": src_vocab, "tgt_vocab_size": tgt_vocab,
                "probes": [[2, 7, 5], [3, 4, 1]]}

    def worker_references(self, inputs) -> list[dict]:
        return [{"id": "greedy_reference", "kind": "seq2seq_greedy", "build": GRADER_MODEL,
                 "src": INPUTS["src"].tolist(), "start_id": START_ID, "max_len": MAX_LEN},
                {"id": "beam_reference", "kind": "seq2seq_beams", "build": BEAM_MODEL,
                 "src": INPUTS["src"].tolist(), "start_id": START_ID, "beams": list(BEAMS)}]

    def recipe_inputs(self, name: str) -> RecipeInputs:
        """Training pairs and test *sources* for the worker; the test targets stay here."""
        from seqlab.programs import encode_pairs, make_additions

        recipe = RECIPES[name]
        train = make_additions(recipe["train"], recipe["digits"], seed=1000 + recipe["seed"])
        seen = {source for source, _ in train}
        test = [pair for pair in make_additions(recipe["test"] * 2, recipe["digits"], seed=2000)
                if pair[0] not in seen][: recipe["test"]]
        encoded = encode_pairs(train, reverse=recipe["reverse"])
        test_encoded = encode_pairs(test, reverse=recipe["reverse"],
                                    source_len=encoded.source.shape[1])
        arrays = {"source": encoded.source, "target_in": encoded.target_in,
                  "target_out": encoded.target_out, "weights": encoded.weights,
                  "test_source": test_encoded.source}
        return RecipeInputs(worker=arrays, kept={"targets": [target for _, target in test]})

    def recipe_score(self, obs, case_id: str, metric: str | None = None) -> float:
        return exact_match_of(obs, case_id)


ASSIGNMENT = Seq2Seq()
