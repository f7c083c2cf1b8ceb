"""The ``captioning`` assignment: a CNN encoder, a GRU decoder, greedy and beam search (lab 8).

``build_captioner``'s three models are saved by the child and probed by the trusted worker
(shapes; encoder + decoder one step at a time reproduce the teacher-forced model, which only
happens when the three share their layers; layers and parameters). ``greedy_captions`` and
``beam_search_captions`` are handed *the grader's own* seeded encoder and decoder, so they are
graded on their own, against the worker's references. The learning checks train the
student's architecture with the grader's recipe on :mod:`seqlab.scenes` pictures, decode the
test pictures greedily, and rate the captions here, where the test scenes are: the share the
lecture's rubric calls "describes without errors" (:mod:`seqlab.rubric`) and corpus BLEU
against the reference captions, each against a band calibrated from the reference.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict

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
from autograder.metrics import Metric, band_fraction, cut_at_end
from autograder.registry import check, failed, partial, passed
from seqlab import scenes

NAME = "captioning"
FILENAME = "captioning.py"
FUNCTIONS = {
    "build_captioner": [("vocab_size", None), ("image_shape", "(64, 64, 3)"),
                        ("filters", "(16, 32, 64)"), ("embedding_dim", "32"),
                        ("units", "128")],
    "greedy_captions": [("encoder", None), ("decoder", None), ("images", None),
                      ("start_id", None), ("end_id", None), ("max_len", None)],
    "beam_search_captions": [("encoder", None), ("decoder", None), ("images", None),
                           ("start_id", None), ("end_id", None), ("max_len", None),
                           ("beam_width", "3")],
}
VOCAB = len(scenes.WORDS)
MAX_LEN = scenes.MAX_CAPTION_WORDS + 1
# The learning checks: the grader trains build_captioner(VOCAB, image_shape=(32, 32, 3))'s
# models (its other defaults) on every (picture, reference caption) pair of `train` scenes,
# the pictures halved to 32 x 32 (2 x 2 means: four times faster, and better in the same
# time, measured), decodes `test` other scenes greedily and rates the captions. Two bands:
# the rubric's top level, and BLEU.
LEARN_SHAPE = (32, 32, 3)
RECIPES = {"captioning_scenes": dict(train=1500, test=300, epochs=10, batch_size=64,
                                     learning_rate=2e-3, seed=0, start_id=scenes.START_ID,
                                     max_len=MAX_LEN, metric="caption_top",
                                     margins={"caption_top": 0.05, "bleu": 5.0})}
BANDS = {"caption_top": "captioning_scenes", "bleu": "captioning_scenes/bleu"}  # metric: key
METRICS = {
    "caption_top": Metric("share of test captions that describe without errors", False,
                          "share a caption that ignores the picture earns (the most "
                          "frequent training caption, or a random training picture's)"),
    "bleu": Metric("corpus BLEU", False, "BLEU of a caption that ignores the picture (the "
                   "most frequent training caption, or a random training picture's)"),
}
GRADER_CAPTIONER = {"vocab_size": 8, "image_shape": [16, 16, 3], "filters": [4],
                    "embedding_dim": 5, "units": 10, "seed": 1}
START_ID, DECODE_LEN, SHORT_LEN = 1, 9, 3
END_IDS = (2, 4, 6)
# Two cases of beam calls: a call's id lists come back as one array each, and a case's
# result file may hold at most 256 (autograder.safeload).
# (end 3, width 2) and (end 6, width 5): calls where a beam that does not narrow (keeps
# beam_width live hypotheses however many finished) returns other captions (measured).
BEAMS = {"beam_narrow": (*({"end_id": end, "max_len": DECODE_LEN, "beam_width": width}
                           for width in (1, 2) for end in (2, 5)),
                         {"end_id": 3, "max_len": DECODE_LEN, "beam_width": 2}),
         "beam_wide": (*({"end_id": end, "max_len": DECODE_LEN, "beam_width": width}
                         for width in (3, 5) for end in (2, 5)),
                       {"end_id": 6, "max_len": DECODE_LEN, "beam_width": 5},
                       {"end_id": 0, "max_len": SHORT_LEN, "beam_width": 3})}
PROBES = [[2, 5], [3, 1]]


def _inputs() -> dict:
    """Four 16 x 16 pictures of 4 x 4 coloured blocks: with the grader's model (seed 1),
    four different greedy paths that meet every end id of END_IDS, and beams that part
    from them (measured in tests/test_captioning_grading.py)."""
    blocks = np.random.default_rng(11).integers(0, 256, size=(4, 4, 4, 3))
    return {"images": np.repeat(np.repeat(blocks, 4, axis=1), 4, axis=2).astype(np.uint8)}


INPUTS = _inputs()
GREEDY_CALLS = (*({"inputs": ("images",), "kwargs": {"start_id": START_ID, "end_id": end,
                                                    "max_len": DECODE_LEN}}
                  for end in END_IDS),
                {"inputs": ("images",), "kwargs": {"start_id": START_ID, "end_id": 0,
                                                   "max_len": SHORT_LEN}})
BEAM_CALLS = {case_id: tuple({"inputs": ("images",), "kwargs": {"start_id": START_ID, **beam}}
                             for beam in beams) for case_id, beams in BEAMS.items()}
GRADER_ARGS = "the grader's encoder, decoder, images (4, 16, 16, 3)"


def _captioner(case_id, vocab_size, **kwargs):
    return Case(case_id, "build_captioner", {"vocab_size": vocab_size, **kwargs},
                kind="build_models", count=3)


CASES = {c.id: c for c in (
    _captioner("captioner", 9, image_shape=(24, 32, 3), filters=(4, 6), embedding_dim=5,
               units=7),
    _captioner("captioner_one_block", 11, image_shape=(16, 16, 3), filters=(5,), units=6),
    _captioner("captioner_defaults", VOCAB),
    Case("acc_cap", "build_captioner", {"vocab_size": VOCAB, "image_shape": LEARN_SHAPE},
         kind="build_models", count=3, recipe="captioning_scenes"),
    Case("greedy", "greedy_captions", {}, kind="call_with_models", args_text=GRADER_ARGS,
         builder="captioner", build=GRADER_CAPTIONER, calls=GREEDY_CALLS),
    *(Case(case_id, "beam_search_captions", {}, kind="call_with_models",
           args_text=GRADER_ARGS, builder="captioner", build=GRADER_CAPTIONER, calls=calls)
      for case_id, calls in BEAM_CALLS.items()),
)}
STRUCTURE_CASES = ("captioner", "captioner_one_block", "captioner_defaults")


def _kwargs(case: Case) -> dict:
    return {"image_shape": (64, 64, 3), "filters": (16, 32, 64), "embedding_dim": 32,
            "units": 128, **case.kwargs}


def captioner_params(vocab: int, image_shape, filters, embedding_dim: int, units: int) -> int:
    """Conv2D blocks (each halving the picture), Flatten, the Dense projection, the
    embedding, the GRU (reset_after: two bias rows) and the softmax Dense, as Keras counts."""
    height, width, channels = image_shape
    convs = 0
    for count in filters:
        convs += (9 * channels + 1) * count
        channels, height, width = count, height // 2, width // 2
    projection = (height * width * channels + 1) * units
    gru = 3 * units * (embedding_dim + units + 2)
    return convs + projection + vocab * embedding_dim + gru + (units + 1) * vocab


# ---------------------------------------------------------------- checks
signature_check(NAME, FILENAME, FUNCTIONS, points=2)


@check("build_captioner: model, encoder and decoder shapes", points=6, assignment=NAME,
       function="build_captioner", timeout=90, needs=STRUCTURE_CASES)
def shapes(obs):
    for case_id in STRUCTURE_CASES:
        kwargs, call = _kwargs(obs.cases[case_id]), obs.call(case_id)
        for probe in obs.measured[case_id]["probes"]:
            rows = probe["batch"]
            where = (f"{call} on images ({rows}, {', '.join(map(str, kwargs['image_shape']))})"
                     f" and tgt_in ({rows}, {probe['tgt_len']})")
            problem = probe_problem(probe, where, kwargs["units"], kwargs["vocab_size"])
            if problem:
                return failed(problem)
    return passed("model (batch, L, vocab_size), encoder (batch, units), decoder one step "
                  "[(batch, 1, vocab_size), (batch, units)], for three picture sizes")


@check("build_captioner: encoder + decoder step by step reproduce the model (shared weights)",
       points=8, assignment=NAME, function="build_captioner", timeout=90,
       needs=STRUCTURE_CASES)
def shared_weights(obs):
    problem = step_gap_problem(obs, STRUCTURE_CASES)
    if problem:
        return failed(problem)
    return passed(f"step-by-step decoding equals teacher forcing to {STEP_TOLERANCE:g}")


def _layer_problem(obs, case_id: str) -> str | None:
    info, kwargs, call = obs.measured[case_id]["model"], _kwargs(obs.cases[case_id]), \
        obs.call(case_id)
    layers = info["layers"]
    convs = [layer["config"].get("filters") for layer in layers if layer["class"] == "Conv2D"]
    if convs != list(kwargs["filters"]):
        return (f"{call}: expected one Conv2D per entry of filters, {list(kwargs['filters'])}"
                f", got Conv2D layers with {convs} filters")
    grus = [layer for layer in layers if layer["class"] == "GRU"]
    if len(grus) != 1:
        return (f"{call}: expected one GRU decoder, got layers "
                f"{[layer['class'] for layer in layers]}")
    config = grus[0]["config"]
    eligible = {"activation": "tanh", "recurrent_activation": "sigmoid",
                "recurrent_dropout": 0.0, "unroll": False, "use_bias": True,
                "reset_after": True}
    wrong = {k: config.get(k) for k, v in eligible.items() if k in config and config[k] != v}
    if wrong:
        return (f"{call}: the GRU is not cuDNN-eligible: expected {eligible}, got {wrong} "
                "(keep Keras' GRU defaults)")
    return loss_problem(info, call)


@check("build_captioner: Conv2D blocks and a cuDNN-eligible GRU, compiled with sparse "
       "categorical cross-entropy", points=4, assignment=NAME, function="build_captioner",
       timeout=90, needs=("captioner", "captioner_defaults"), visibility="after_published")
def layers(obs):
    for case_id in ("captioner", "captioner_defaults"):
        problem = _layer_problem(obs, case_id)
        if problem:
            return failed(problem)
    return passed("one Conv2D per filter count, one cuDNN-eligible GRU; sparse categorical "
                  "cross-entropy")


@check("build_captioner: parameter count", points=4, assignment=NAME,
       function="build_captioner", timeout=90, needs=STRUCTURE_CASES)
def parameter_count(obs):
    for case_id in STRUCTURE_CASES:
        kwargs = _kwargs(obs.cases[case_id])
        want = captioner_params(kwargs["vocab_size"], kwargs["image_shape"], kwargs["filters"],
                                kwargs["embedding_dim"], kwargs["units"])
        got = obs.measured[case_id]["model"]["params"]
        if got != want:
            return failed(f"{obs.call(case_id)}: expected {want:,} parameters (Conv2D 3x3 "
                          "blocks, each halving the picture, Flatten, Dense(units), "
                          f"Embedding, GRU, Dense(vocab_size)), got {got:,}")
    return passed("the contract's parameter count for three configurations")


@check("greedy_captions: the argmax path, stopping before end_id or after max_len", points=8,
       assignment=NAME, function="greedy_captions", timeout=60, needs=("greedy",))
def greedy_captions(obs):
    paths = np.asarray(obs.references["captioning_references"]["paths"])
    for call, got in zip(GREEDY_CALLS, obs.arrays["greedy"], strict=True):
        end, max_len = call["kwargs"]["end_id"], call["kwargs"]["max_len"]
        where = (f"greedy_captions({GRADER_ARGS}, start_id={START_ID}, end_id={end}, "
                 f"max_len={max_len})")
        problem = decoding_problem(got, cut_at_end(paths, end, max_len), where, paths=paths,
                                   end_id=end, max_len=max_len)
        if problem:
            return failed(problem)
    return passed("the grader's argmax paths, cut before end_id and after max_len")


@check("beam_search_captions: the contract's beam search, widths 1 to 5", points=10,
       assignment=NAME, function="beam_search_captions", timeout=90, needs=tuple(BEAMS))
def beam_search(obs):
    problem = beam_problem(
        [call for case_id in BEAMS for call in BEAM_CALLS[case_id]],
        [got for case_id in BEAMS for got in obs.arrays[case_id]],
        obs.references["captioning_references"]["beams"],
        lambda kwargs: (f"beam_search_captions({GRADER_ARGS}, start_id={START_ID}, end_id="
                        f"{kwargs['end_id']}, max_len={kwargs['max_len']}, beam_width="
                        f"{kwargs['beam_width']})"))
    if problem:
        return failed(problem)
    return passed("the contract's beam search on the grader's model, widths 1, 2, 3 and 5")


def caption_scores(obs, case_id: str) -> dict:
    """``{"caption_top": share at rubric level 0, "bleu": corpus BLEU, "report": ...}`` of
    the greedy captions the worker decoded for the test pictures, rated here."""
    from seqlab.rubric import LEVELS, corpus_bleu, rubric_report

    kept = obs.labels[obs.cases[case_id].recipe]
    ids = cut_at_end(obs.trained[case_id]["ids"], scenes.END_ID, MAX_LEN)
    captions = [scenes.decode_ids(row) for row in ids]
    report = rubric_report(captions, [_scene(s) for s in kept["scenes"]])
    return {"caption_top": report["fractions"][LEVELS[0]],
            "bleu": corpus_bleu(captions, kept["references"]), "report": report}


def _learning(obs, metric: str):
    band = obs.bands[BANDS[metric]]
    recipe = obs.recipes["captioning_scenes"]
    scores = caption_scores(obs, "acc_cap")
    value = scores[metric]
    what = {"caption_top": f"{value:.3f} of {recipe['test']} test pictures captioned "
                           "without errors (the rubric's top level)",
            "bleu": f"corpus BLEU {value:.1f} on {recipe['test']} test pictures"}[metric]
    return partial(band_fraction(value, band),
                   f"{what} after the grader's {recipe['epochs']}-epoch recipe: full credit at "
                   f"{band['full_credit_at']:.3f} or more, none at {band['zero_credit_at']:.3f}"
                   f" or less (the reference scores {band['reference_min']:.3f}-"
                   f"{band['reference_max']:.3f})")


@check("learning: build_captioner trained on shape scenes (quick recipe), rubric top level",
       points=8, assignment=NAME, function="build_captioner", needs=("acc_cap",), timeout=120,
       visibility="after_published")
def learning_rubric(obs):
    return _learning(obs, "caption_top")


@check("learning: build_captioner trained on shape scenes (quick recipe), BLEU", points=4,
       assignment=NAME, function="build_captioner", needs=("acc_cap",), timeout=120,
       visibility="after_published")
def learning_bleu(obs):
    return _learning(obs, "bleu")


# ---------------------------------------------------------------- data
def halved(images: np.ndarray) -> np.ndarray:
    """``(n, 64, 64, 3)`` uint8 pictures as ``(n, 32, 32, 3)``: means of 2 x 2 pixels."""
    n, height, width, channels = images.shape
    return images.reshape(n, height // 2, 2, width // 2, 2, channels).mean(axis=(2, 4)
                                                                          ).astype(np.uint8)


def _scene(shapes: list[dict]) -> scenes.Scene:
    return scenes.Scene(tuple(scenes.Shape(**shape) for shape in shapes))


def _floors(train: scenes.CaptionData, test: scenes.CaptionData) -> tuple[dict, str]:
    """What a model that ignores the picture earns, the better of two: the most frequent
    training caption written for every test picture, and for each test picture a reference
    caption of a random training picture (fluent captions, with the grammar's n-grams)."""
    from seqlab.rubric import LEVELS, corpus_bleu, rubric_report

    common = Counter(c for captions in train.captions for c in captions).most_common(1)[0][0]
    rng = np.random.default_rng(0)
    others = [train.captions[i][j] for i, j in zip(rng.integers(0, len(train), len(test)),
                                                   rng.integers(0, 5, len(test)), strict=True)]
    floors = {"caption_top": 0.0, "bleu": 0.0}
    for captions in ([common] * len(test), others):
        report = rubric_report(captions, test.scenes)
        floors["caption_top"] = max(floors["caption_top"], report["fractions"][LEVELS[0]])
        floors["bleu"] = max(floors["bleu"], corpus_bleu(captions, test.captions))
    return floors, common


class CaptioningAssignment(Assignment):
    NAME, FILENAME, FUNCTIONS, CASES = NAME, FILENAME, FUNCTIONS, CASES
    RECIPES, INPUTS = RECIPES, INPUTS

    def band_metrics(self, name: str) -> dict[str, str]:
        return {key: metric for metric, key in BANDS.items()}

    def metric(self, name: str) -> Metric:
        return METRICS[name]

    def recipe_inputs(self, name: str) -> RecipeInputs:
        """Training pictures and every (picture, caption) pair, and the test *pictures*
        for the worker; the test scenes, their reference captions and the floors stay."""
        recipe = RECIPES[name]
        train = scenes.make_captioning_data(recipe["train"], seed=1000 + recipe["seed"])
        test = scenes.make_captioning_data(recipe["test"], seed=2000)
        pair_image, target_in, target_out, weights = scenes.training_pairs(train)
        floors, common = _floors(train, test)
        worker = {"images": halved(train.images), "pair_image": pair_image,
                  "target_in": target_in, "target_out": target_out, "weights": weights,
                  "test_images": halved(test.images)}
        kept = {"scenes": [[asdict(shape) for shape in scene.shapes] for scene in test.scenes],
                "references": test.captions, "floors": floors, "constant_caption": common}
        return RecipeInputs(worker=worker, kept=kept)

    def worker_task(self, case: Case, files: list[str], *, inputs, recipe=None) -> dict:
        if case.recipe:
            return {"id": case.id, "kind": "captioning_train", "models": files,
                    "data": str(inputs / f"{case.recipe}.npz"), "recipe": recipe}
        kwargs = _kwargs(case)
        return {"id": case.id, "kind": "captioning_probe", "models": files,
                "image_shape": list(kwargs["image_shape"]),
                "vocab_size": kwargs["vocab_size"], "probes": PROBES}

    def worker_references(self, inputs) -> list[dict]:
        return [{"id": "captioning_references", "kind": "captioning_references",
                 "build": GRADER_CAPTIONER, "images": INPUTS["images"].tolist(),
                 "start_id": START_ID, "max_len": DECODE_LEN,
                 "beams": [beam for beams in BEAMS.values() for beam in beams]}]

    def recipe_score(self, obs, case_id: str, metric: str | None = None) -> float:
        return float(caption_scores(obs, case_id)[metric or "caption_top"])


ASSIGNMENT = CaptioningAssignment()
