"""The reference seq2seq module (solutions/seq2seq.py) meets the fixed contract."""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest

from seqlab.programs import (
    encode_pairs,
    exact_match,
    make_additions,
    source_vocabulary,
    target_vocabulary,
)
from seqlab.student import student_module

SRC, TGT, DIM, UNITS = 13, 9, 5, 8
START, END = 1, 2


@pytest.fixture(scope="module")
def s2s():
    return student_module("seq2seq", impl="solutions")


@pytest.fixture(scope="module")
def built(s2s):
    keras.utils.set_random_seed(0)
    return s2s.build_seq2seq(SRC, TGT, embedding_dim=DIM, units=UNITS)


def numpy(x) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


def ids(batch: int, length: int, vocab: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, vocab, size=(batch, length)).astype("int32")


@pytest.mark.parametrize(("batch", "source_len", "target_len"), [(1, 1, 1), (3, 7, 4),
                                                                  (2, 30, 12)])
def test_shapes(built, batch, source_len, target_len):
    model, encoder, decoder = built
    src, tgt = ids(batch, source_len, SRC), ids(batch, target_len, TGT, seed=1)
    probs = numpy(model([src, tgt], training=False))
    assert probs.shape == (batch, target_len, TGT)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    state = numpy(encoder(src, training=False))
    assert state.shape == (batch, UNITS)
    step, new_state = decoder([tgt[:, :1], state], training=False)
    assert numpy(step).shape == (batch, 1, TGT) and numpy(new_state).shape == (batch, UNITS)


def test_layers_are_shared_and_cudnn_eligible(built):
    model, encoder, decoder = built
    model_weights = {id(w) for w in model.weights}
    assert {id(w) for w in encoder.weights} <= model_weights
    assert {id(w) for w in decoder.weights} <= model_weights
    assert {id(w) for w in encoder.weights} | {id(w) for w in decoder.weights} == model_weights
    grus = [layer for layer in model.layers if isinstance(layer, keras.layers.GRU)]
    assert len(grus) == 2
    for gru in grus:
        config = gru.get_config()
        assert config["units"] == UNITS and config["reset_after"] is True
        assert config["activation"] == "tanh" and config["recurrent_activation"] == "sigmoid"
        assert config["recurrent_dropout"] == 0 and config["unroll"] is False
    loss = model.loss
    name = loss if isinstance(loss, str) else getattr(loss, "name", type(loss).__name__)
    assert name == "sparse_categorical_crossentropy"


def test_encoder_and_decoder_step_by_step_reproduce_the_model(built):
    model, encoder, decoder = built
    src, tgt = ids(4, 9, SRC, seed=2), ids(4, 6, TGT, seed=3)
    src[1, :3] = 0                                             # pre-padded row
    teacher = numpy(model([src, tgt], training=False))
    state = numpy(encoder(src, training=False))
    for t in range(tgt.shape[1]):
        probs, state = (numpy(x) for x in decoder([tgt[:, t:t + 1], state], training=False))
        np.testing.assert_allclose(probs[:, 0], teacher[:, t], atol=1e-5)


def test_weight_changes_reach_every_model(s2s):
    keras.utils.set_random_seed(1)
    model, encoder, _ = s2s.build_seq2seq(SRC, TGT, DIM, UNITS)
    src = ids(2, 5, SRC)
    before = numpy(encoder(src))
    model.set_weights([w * 1.5 for w in model.get_weights()])
    assert not np.allclose(numpy(encoder(src)), before)


class FakeEncoder:
    """An 'encoder' whose state is the row's first source id, as a float, (batch, 1)."""

    def __call__(self, src, training=False):
        return np.asarray(src, dtype="float32")[:, :1]


class FakeDecoder:
    """Emits, per row, a scripted sequence of ids indexed by its step counter (the state)."""

    def __init__(self, scripts: dict[int, list[int]], vocab: int = 6):
        self.scripts, self.vocab, self.fed = scripts, vocab, []

    def __call__(self, inputs, training=False):
        token, state = (np.asarray(x) for x in inputs)
        self.fed.append(token[:, 0].tolist())
        step = state[:, 0] // 100
        row_ids = state[:, 0] % 100
        probs = np.zeros((len(token), 1, self.vocab), "float32")
        for row, (script_id, k) in enumerate(zip(row_ids, step, strict=True)):
            script = self.scripts[int(script_id)]
            probs[row, 0, script[min(int(k), len(script) - 1)]] = 1.0
        return probs, (state + 100).astype("float32")


def test_greedy_decode_stops_at_end_and_max_len(s2s):
    scripts = {3: [4, 5, END, 4], 4: [5, 5, 5, 5, 5, 5, 5], 5: [END]}
    decoder = FakeDecoder(scripts)
    src = np.array([[3, 0], [4, 0], [5, 0]], dtype="int32")
    out = s2s.greedy_decode(FakeEncoder(), decoder, src, START, END, max_len=4)
    assert out == [[4, 5], [5, 5, 5, 5], []]
    assert decoder.fed[0] == [START] * 3                      # starts from the start id
    assert decoder.fed[1] == [4, 5, END]                       # then feeds back its argmax
    assert len(decoder.fed) == 4                               # max_len steps at most
    decoder = FakeDecoder(scripts)
    assert s2s.greedy_decode(FakeEncoder(), decoder, src[[0, 2]], START, END, 10) == [[4, 5], []]
    assert len(decoder.fed) == 3                               # stops once every row ended


def test_greedy_decode_with_the_real_models(built, s2s):
    model, encoder, decoder = built
    src = ids(3, 6, SRC, seed=4)
    out = s2s.greedy_decode(encoder, decoder, src, START, END, max_len=5)
    assert len(out) == 3
    for row, decoded in enumerate(out):
        assert len(decoded) <= 5 and END not in decoded
        # Teacher forcing with the decoded prefix reproduces each greedy choice.
        tgt = np.array([[START, *decoded]], dtype="int32")
        probs = numpy(model([src[row:row + 1], tgt]))[0]
        assert [int(p.argmax()) for p in probs[: len(decoded)]] == decoded
        if len(decoded) < 5:
            assert int(probs[len(decoded)].argmax()) == END


def _never_narrowing(encoder, decoder, src, start_id, end_id, max_len, beam_width):
    """The usual mistake: a beam that keeps beam_width live hypotheses however many
    finished (the grader's plain search with the narrowing step taken out)."""
    from autograder.generative_models import PROBABILITY_FLOOR, _extensions, to_numpy

    results = []
    for state in to_numpy(encoder(src)):
        live, finished = [([], 0.0, state)], []
        for _ in range(max_len):
            if not live:
                break
            tokens = np.array([[h[0][-1] if h[0] else start_id] for h in live], dtype="int32")
            probs, new = (to_numpy(v) for v in decoder(
                [tokens, np.stack([h[2] for h in live]).astype("float32")]))
            log_probs = np.log(np.maximum(probs[:, -1], PROBABILITY_FLOOR))
            survivors = []
            for score, h, v in _extensions(live, log_probs)[:beam_width]:
                if v == end_id:
                    finished.append((live[h][0], score))
                else:
                    survivors.append((live[h][0] + [v], score, new[h]))
            live = survivors
        pool = finished + [(ids, score) for ids, score, _ in live]
        results.append(max(pool, key=lambda item: item[1])[0])
    return results


def test_beam_search_matches_the_graders_plain_search_and_its_calls_are_worth_it(s2s):
    """On the grader's beam model and sources: the batched reference equals the worker's
    plain search at every call; width 1 is greedy; beams part from the greedy path; and
    at least one call tells a never-narrowing beam apart (the calls' reason to exist)."""
    from autograder.assignments import seq2seq as spec
    from autograder.assignments.seq2seq_worker import seq2seq_beams
    from autograder.generative_models import BUILDERS, greedy_paths
    from autograder.metrics import cut_at_end

    encoder, decoder = BUILDERS["seq2seq"](**spec.BEAM_MODEL)
    src = spec.INPUTS["src"].astype("int32")
    task = spec.ASSIGNMENT.worker_references(None)[1]
    assert task["kind"] == "seq2seq_beams"
    references = seq2seq_beams(task)["beams"]
    paths = greedy_paths(encoder, decoder, src, spec.START_ID, spec.MAX_LEN)
    parted = narrowing = 0
    for beam, found in zip(spec.BEAMS, references, strict=True):
        got = s2s.beam_search_decode(encoder, decoder, src, spec.START_ID, **beam)
        assert got == found["ids"], beam
        greedy = cut_at_end(paths, beam["end_id"], beam["max_len"])
        if beam["beam_width"] == 1:
            assert got == greedy
        parted += sum(a != b for a, b in zip(got, greedy, strict=True))
        narrowing += _never_narrowing(encoder, decoder, src, spec.START_ID, **beam) != got
    assert parted >= 10, "too few beams part from the greedy path to test beam search"
    assert narrowing >= 1, "no call tells a beam that never narrows apart"


def test_beam_search_scores_at_least_greedy(built, s2s):
    """Beam search returns a hypothesis at least as likely as greedy's (no length
    normalisation), and never end_id or more than max_len ids."""
    model, encoder, decoder = built
    src = ids(4, 6, SRC, seed=5)

    def log_probability(row, answer, max_len):
        targets = answer if len(answer) >= max_len else [*answer, END]
        probs = numpy(model([src[row:row + 1], np.array([[START, *answer]], dtype="int32")]))
        return sum(float(np.log(probs[0, t, v])) for t, v in enumerate(targets))

    greedy = s2s.greedy_decode(encoder, decoder, src, START, END, max_len=6)
    for width in (1, 2, 4):
        beams = s2s.beam_search_decode(encoder, decoder, src, START, END, 6, width)
        if width == 1:
            assert beams == greedy
        for row, (beam, plain) in enumerate(zip(beams, greedy, strict=True)):
            assert len(beam) <= 6 and END not in beam
            assert log_probability(row, beam, 6) >= log_probability(row, plain, 6) - 1e-5
    with pytest.raises(ValueError, match="beam_width"):
        s2s.beam_search_decode(encoder, decoder, src, START, END, 6, 0)


@pytest.mark.slow
def test_learns_two_digit_additions(s2s):
    start = time.perf_counter()
    keras.utils.set_random_seed(0)
    train, test = make_additions(5000, 2, seed=1), make_additions(300, 2, seed=2)
    source, target = source_vocabulary(), target_vocabulary()
    data = encode_pairs(train, reverse=True, source_len=5, target_len=4)
    held_out = encode_pairs(test, reverse=True, source_len=5, target_len=4)
    model, encoder, decoder = s2s.build_seq2seq(len(source), len(target), 16, 128)
    model.fit([data.source, data.target_in], data.target_out, sample_weight=data.weights,
              batch_size=64, epochs=15, verbose=0)
    decoded = s2s.greedy_decode(encoder, decoder, held_out.source, target.start_id,
                                target.end_id, max_len=4)
    accuracy = exact_match([target.decode(d) for d in decoded], [t for _, t in test])
    print(f"2-digit additions: exact match {accuracy:.3f} in "
          f"{time.perf_counter() - start:.1f} s")
    assert accuracy >= 0.8                 # 0.99 on TF, 0.90 on JAX (seed 0)
