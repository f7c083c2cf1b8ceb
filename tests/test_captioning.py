"""The reference captioning module (solutions/captioning.py) meets the fixed contract."""

from __future__ import annotations

import ast
import itertools
import math
import time

import keras
import numpy as np
import pytest

from seqlab.student import implementation_dir, student_module

VOCAB, DIM, UNITS, FILTERS = 7, 5, 8, (4, 6)
PAD, START, END = 0, 1, 2
SIZE = (64, 64, 3)


@pytest.fixture(scope="module")
def cap():
    return student_module("captioning", impl="solutions")


@pytest.fixture(scope="module")
def built(cap):
    keras.utils.set_random_seed(0)
    return cap.build_captioner(VOCAB, SIZE, filters=FILTERS, embedding_dim=DIM, units=UNITS)


def numpy(x) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


def images(batch: int, shape=SIZE, seed: int = 0) -> np.ndarray:
    """uint8 images, each a random colour with a random left-right ramp and some noise (pure
    noise would average out to nearly the same state for every image)."""
    rng = np.random.default_rng(seed)
    height, width, channels = shape
    colour = rng.uniform(0, 255, size=(batch, 1, 1, channels))
    ramp = rng.uniform(-128, 128, size=(batch, 1, 1, channels)) * np.linspace(-1, 1, width)[
        None, None, :, None]
    noise = rng.normal(0, 16, size=(batch, height, width, channels))
    return np.clip(colour + ramp + noise, 0, 255).astype(np.uint8)


def ids(batch: int, length: int, vocab: int = VOCAB, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, vocab, size=(batch, length)).astype("int32")


def peaked(cap, vocab: int, seed: int, scale: float = 2.0):
    """A small random captioner with weights scaled up, so its distributions are uneven."""
    keras.utils.set_random_seed(seed)
    model, encoder, decoder = cap.build_captioner(vocab, SIZE, filters=FILTERS,
                                                  embedding_dim=DIM, units=UNITS)
    model.set_weights([w * scale for w in model.get_weights()])
    return model, encoder, decoder


def log_p(p: float) -> float:
    return math.log(max(float(p), 1e-12))


# --- the models --------------------------------------------------------------------------------

@pytest.mark.parametrize(("batch", "length", "shape"), [(1, 1, SIZE), (3, 7, SIZE),
                                                        (2, 17, SIZE), (2, 4, (32, 48, 3))])
def test_shapes(cap, built, batch, length, shape):
    if shape == SIZE:
        model, encoder, decoder = built
    else:
        model, encoder, decoder = cap.build_captioner(VOCAB, shape, FILTERS, DIM, UNITS)
    pictures, tgt = images(batch, shape), ids(batch, length, seed=1)
    probs = numpy(model([pictures, tgt], training=False))
    assert probs.shape == (batch, length, VOCAB)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    state = numpy(encoder(pictures, training=False))
    assert state.shape == (batch, UNITS)
    assert np.all(np.abs(state) <= 1.0)                       # tanh projection
    step, new_state = decoder([tgt[:, :1], state], training=False)
    assert numpy(step).shape == (batch, 1, VOCAB) and numpy(new_state).shape == (batch, UNITS)


def test_layers_each_created_once_shared_and_cudnn_eligible(built, cap):
    model, encoder, decoder = built
    model_weights = {id(w) for w in model.weights}
    assert {id(w) for w in encoder.weights} <= model_weights
    assert {id(w) for w in decoder.weights} <= model_weights
    assert {id(w) for w in encoder.weights} | {id(w) for w in decoder.weights} == model_weights
    assert not {id(w) for w in encoder.weights} & {id(w) for w in decoder.weights}

    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    kinds = [type(layer).__name__ for layer in layers]
    assert sorted(kinds) == sorted(["Rescaling", "Conv2D", "MaxPooling2D", "Conv2D",
                                    "MaxPooling2D", "Flatten", "Dense",
                                    "Embedding", "GRU", "Dense"])
    rescaling, = (layer for layer in layers if isinstance(layer, keras.layers.Rescaling))
    assert rescaling.get_config()["scale"] == pytest.approx(1 / 255)
    assert rescaling.get_config()["offset"] == 0
    convs = [layer for layer in layers if isinstance(layer, keras.layers.Conv2D)]
    assert [conv.filters for conv in convs] == list(FILTERS)
    for conv in convs:
        config = conv.get_config()
        assert tuple(config["kernel_size"]) == (3, 3) and tuple(config["strides"]) == (1, 1)
        assert config["padding"] == "same" and config["activation"] == "relu"
        assert config["use_bias"] is True
    for pool in (layer for layer in layers if isinstance(layer, keras.layers.MaxPooling2D)):
        assert tuple(pool.get_config()["pool_size"]) == (2, 2)
    projection, output = (layer for layer in layers if isinstance(layer, keras.layers.Dense))
    if projection.units == VOCAB:
        projection, output = output, projection
    assert projection.units == UNITS and projection.get_config()["activation"] == "tanh"
    assert output.units == VOCAB and output.get_config()["activation"] == "softmax"
    embedding, = (layer for layer in layers if isinstance(layer, keras.layers.Embedding))
    assert embedding.input_dim == VOCAB and embedding.output_dim == DIM
    gru, = (layer for layer in layers if isinstance(layer, keras.layers.GRU))
    config = gru.get_config()
    assert config["units"] == UNITS and config["reset_after"] is True
    assert config["return_sequences"] is True and config["return_state"] is True
    assert config["activation"] == "tanh" and config["recurrent_activation"] == "sigmoid"
    assert config["recurrent_dropout"] == 0 and config["dropout"] == 0
    assert config["unroll"] is False and config["use_bias"] is True

    for layer in layers:                       # the same objects in the inference models
        assert layer in encoder.layers or layer in decoder.layers
    assert projection in encoder.layers and gru in decoder.layers and output in decoder.layers

    loss = model.loss
    name = loss if isinstance(loss, str) else getattr(loss, "name", type(loss).__name__)
    assert name == "sparse_categorical_crossentropy"
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(numpy(model.optimizer.learning_rate)) == pytest.approx(cap.LEARNING_RATE)
    assert model.optimizer.global_clipnorm == cap.CLIPNORM


def expected_params(vocab, filters=(16, 32, 64), embedding_dim=32, units=128,
                    image_shape=(64, 64, 3)) -> int:
    convs, channels = 0, image_shape[2]
    height, width = image_shape[:2]
    for f in filters:
        convs += (9 * channels + 1) * f
        channels, height, width = f, height // 2, width // 2   # each MaxPooling2D(2)
    projection = (height * width * channels + 1) * units       # Flatten, then Dense
    gru = 3 * units * (embedding_dim + units + 2)              # reset_after: two bias vectors
    return convs + projection + vocab * embedding_dim + gru + (units + 1) * vocab


@pytest.mark.parametrize(("vocab", "kwargs"), [(30, {}), (VOCAB, {"filters": FILTERS,
                                                                  "embedding_dim": DIM,
                                                                  "units": UNITS}),
                                               (11, {"filters": (8,), "units": 16})])
def test_parameter_count(cap, vocab, kwargs):
    model, encoder, decoder = cap.build_captioner(vocab, **kwargs)
    assert model.count_params() == expected_params(vocab, **kwargs)
    assert encoder.count_params() + decoder.count_params() == model.count_params()
    if not kwargs:
        assert model.count_params() == 615_038


def test_encoder_and_decoder_step_by_step_reproduce_the_model(built):
    model, encoder, decoder = built
    pictures, tgt = images(4, seed=2), ids(4, 9, seed=3)
    tgt[1, 5:] = PAD                                            # padded at the back
    teacher = numpy(model([pictures, tgt], training=False))
    state = numpy(encoder(pictures, training=False))
    for t in range(tgt.shape[1]):
        probs, state = (numpy(x) for x in decoder([tgt[:, t:t + 1], state], training=False))
        np.testing.assert_allclose(probs[:, 0], teacher[:, t], atol=1e-5)


def test_uint8_and_float_images_agree(built):
    model, encoder, _ = built
    pictures, tgt = images(3, seed=4), ids(3, 5, seed=5)
    as_float = pictures.astype("float32")
    np.testing.assert_allclose(numpy(encoder(pictures)), numpy(encoder(as_float)), atol=1e-6)
    np.testing.assert_allclose(numpy(model([pictures, tgt])), numpy(model([as_float, tgt])),
                               atol=1e-6)


def test_weight_changes_reach_every_model(cap):
    keras.utils.set_random_seed(1)
    model, encoder, decoder = cap.build_captioner(VOCAB, SIZE, FILTERS, DIM, UNITS)
    pictures, token = images(2), ids(2, 1)
    before = numpy(encoder(pictures))
    step_before = numpy(decoder([token, before])[0])
    model.set_weights([w * 1.5 for w in model.get_weights()])
    assert not np.allclose(numpy(encoder(pictures)), before)
    assert not np.allclose(numpy(decoder([token, before])[0]), step_before)


def test_models_reload_in_safe_mode(built, tmp_path):
    pictures, tgt = images(2, seed=6), ids(2, 4, seed=7)
    for built_model, inputs in zip(built, ([pictures, tgt], pictures, None), strict=True):
        if inputs is None:
            inputs = [tgt[:, :1], numpy(built[1](pictures))]
        path = tmp_path / f"{built_model.name}.keras"
        built_model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
        for got, want in zip(keras.tree.flatten(loaded(inputs)),
                             keras.tree.flatten(built_model(inputs)), strict=True):
            np.testing.assert_allclose(numpy(got), numpy(want), atol=1e-6)


def test_module_imports_only_keras_and_numpy(cap):
    with open(cap.__file__, encoding="utf-8") as source:
        tree = ast.parse(source.read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"__future__", "keras", "numpy"}


# --- greedy decoding ---------------------------------------------------------------------------

class FakeEncoder:
    """An 'encoder' whose state is the image's top-left red value, as a float, (batch, 1)."""

    def __init__(self):
        self.dtypes = []

    def __call__(self, pictures, training=False):
        pictures = np.asarray(pictures)
        self.dtypes.append(pictures.dtype)
        return pictures[:, 0, 0, :1].astype("float32")


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


def scripted_images(*script_ids: int) -> np.ndarray:
    pictures = np.zeros((len(script_ids), 4, 4, 3), dtype=np.uint8)
    pictures[:, 0, 0, 0] = script_ids
    return pictures


def test_greedy_decode_stops_at_end_and_max_len(cap):
    scripts = {3: [4, 5, END, 4], 4: [5, 5, 5, 5, 5, 5, 5], 5: [END]}
    encoder, decoder = FakeEncoder(), FakeDecoder(scripts)
    out = cap.greedy_captions(encoder, decoder, scripted_images(3, 4, 5), START, END, max_len=4)
    assert out == [[4, 5], [5, 5, 5, 5], []]
    assert encoder.dtypes == [np.float32]                      # encoded once, as float32
    assert decoder.fed[0] == [START] * 3                       # starts from the start id
    assert decoder.fed[1] == [4, 5, END]                       # then feeds back its argmax
    assert len(decoder.fed) == 4                               # max_len steps at most
    decoder = FakeDecoder(scripts)
    assert cap.greedy_captions(FakeEncoder(), decoder, scripted_images(3, 5), START, END,
                             10) == [[4, 5], []]
    assert len(decoder.fed) == 3                               # stops once every row ended
    assert cap.greedy_captions(FakeEncoder(), FakeDecoder(scripts), scripted_images(3), START,
                             END, 0) == [[]]


def hand_greedy(encoder, decoder, pictures, max_len):
    """Greedy decoding one image at a time, written out step by step."""
    out = []
    for picture in pictures:
        state = numpy(encoder(picture[None].astype("float32")))
        token, caption = START, []
        for _ in range(max_len):
            probs, state = (numpy(x) for x in decoder([np.array([[token]], "int32"), state]))
            token = int(np.argmax(probs[0, 0]))
            if token == END:
                break
            caption.append(token)
        out.append(caption)
    return out


def test_greedy_decode_with_the_real_models(cap, built):
    model, encoder, decoder = built
    pictures = images(3, seed=8)
    out = cap.greedy_captions(encoder, decoder, pictures, START, END, max_len=5)
    assert out == hand_greedy(encoder, decoder, pictures, 5)
    for row, decoded in enumerate(out):
        assert len(decoded) <= 5 and END not in decoded
        # Teacher forcing with the decoded prefix reproduces each greedy choice.
        tgt = np.array([[START, *decoded]], dtype="int32")
        probs = numpy(model([pictures[row:row + 1], tgt]))[0]
        assert [int(p.argmax()) for p in probs[: len(decoded)]] == decoded
        if len(decoded) < 5:
            assert int(probs[len(decoded)].argmax()) == END


def test_greedy_decode_stops_early_on_a_peaked_model(cap):
    _, encoder, decoder = peaked(cap, 5, seed=3)
    pictures = images(12, seed=9)
    out = cap.greedy_captions(encoder, decoder, pictures, START, END, max_len=8)
    assert out == hand_greedy(encoder, decoder, pictures, 8)
    assert any(len(o) < 8 for o in out)                        # some end before max_len


# --- beam search -------------------------------------------------------------------------------

X, Y = 3, 4                                                    # two words of a 5-id vocabulary


class TreeModels:
    """A scripted encoder and decoder: the next-id distribution is a function of the image and
    the ids so far, looked up in ``tree[(image, *ids)]`` (default: ``END`` with probability 1).

    The state is a code for (image, ids so far); ``calls`` records each decoder batch.
    """

    def __init__(self, tree: dict[tuple, list[float]], vocab: int = 5):
        self.tree, self.vocab, self.calls, self.codes = tree, vocab, [], []

    def code(self, prefix: tuple, fresh: bool) -> float:
        self.codes.append((prefix, fresh))
        return float(len(self.codes) - 1)

    def encoder(self, pictures, training=False):
        pictures = np.asarray(pictures)
        return np.array([[self.code((int(p[0, 0, 0]),), True)] for p in pictures], "float32")

    def decoder(self, inputs, training=False):
        token, state = (np.asarray(x) for x in inputs)
        self.calls.append(len(token))
        probs = np.zeros((len(token), 1, self.vocab), "float32")
        new_state = np.zeros_like(state)
        for row in range(len(token)):
            prefix, fresh = self.codes[int(state[row, 0])]
            if fresh:
                assert token[row, 0] == START
            else:
                prefix = (*prefix, int(token[row, 0]))
            distribution = self.tree.get(prefix)
            if distribution is None:
                probs[row, 0, END] = 1.0
            else:
                probs[row, 0] = distribution
            new_state[row, 0] = self.code(prefix, False)
        return probs, new_state


#            pad  <s>  </s>   x     y
TREE = {(0,): [0, 0, 0.30, 0.65, 0.05],           # image 0: the beam width changes the answer
        (0, X): [0, 0, 0.00, 0.51, 0.49],
        (0, X, X): [0, 0, 0.10, 0.90, 0.00],
        (0, X, Y): [0, 0, 1.00, 0.00, 0.00],
        (1,): [0, 0, 0.20, 0.40, 0.40],           # image 1: ties between ids
        (2,): [0, 0, 0.00, 0.50, 0.50],           # image 2: ties between hypotheses
        (2, X): [0, 0, 0.00, 0.50, 0.50],
        (2, Y): [0, 0, 0.00, 0.50, 0.50]}


@pytest.mark.parametrize(("beam_width", "max_len", "expected"), [
    # width 1 is greedy: x (.65), x (.51), x (.9): [x, x, x], probability .298
    (1, 3, [[X, X, X], [X], [X, X]]),
    # step 1 keeps x (.65) and </s> (.30): [] is finished, the beam narrows to 1;
    # step 2 keeps x x (.3315) only; step 3 x x x (.2984) < .30: [] wins
    (2, 3, [[], [X], [X, X]]),
    # step 1 keeps x, </s>, y; step 2 (width 2) x x (.3315) and x y (.3185);
    # step 3: x y </s> (.3185) finishes, x x x (.2984) lives: [x, y] wins
    (3, 3, [[X, Y], [X], [X, X]]),
    # max_len 2: after step 2 the live x x (.3315) beats the finished [] (.30)
    (2, 2, [[X, X], [X], [X, X]]),
    (3, 1, [[X], [X], [X]]),
    (3, 0, [[], [], []]),
])
def test_beam_search_on_a_scripted_tree(cap, beam_width, max_len, expected):
    scripted = TreeModels(TREE)
    out = cap.beam_search_captions(scripted.encoder, scripted.decoder, scripted_images(0, 1, 2),
                                 START, END, max_len, beam_width)
    assert out == expected
    assert len(scripted.calls) <= max_len                      # one decoder batch per step
    assert all(rows <= 3 * beam_width for rows in scripted.calls)


def test_beam_search_narrows_and_stops_when_every_hypothesis_finished(cap):
    scripted = TreeModels(TREE)
    out = cap.beam_search_captions(scripted.encoder, scripted.decoder, scripted_images(0), START,
                                 END, max_len=10, beam_width=3)
    assert out == [[X, Y]]
    # rows per step: 1 (start: </s> finishes, k = 2), 2 (x, y), 2 (x x, x y: x y </s>
    # finishes, k = 1), 1 (x x x, whose </s> finishes, k = 0): 4 steps, not max_len
    assert scripted.calls == [1, 2, 2, 1]


def test_beam_search_rejects_a_zero_width(cap):
    scripted = TreeModels(TREE)
    with pytest.raises(ValueError, match="beam_width"):
        cap.beam_search_captions(scripted.encoder, scripted.decoder, scripted_images(0), START,
                               END, 3, beam_width=0)


def reference_beam(encoder, decoder, picture, max_len, beam_width):
    """The docstring's beam search for one image, one decoder call per hypothesis."""
    state = numpy(encoder(picture[None].astype("float32")))
    live, finished, width = [((), 0.0, state)], [], beam_width
    for _ in range(max_len):
        if not live:
            break
        candidates = []
        for caption, score, hyp_state in live:
            token = caption[-1] if caption else START
            probs, new_state = (numpy(x) for x in decoder([np.array([[token]], "int32"),
                                                          hyp_state]))
            candidates += [(score + log_p(p), caption, v, new_state)
                           for v, p in enumerate(probs[0, 0])]
        candidates.sort(key=lambda c: -c[0])                   # stable: (hypothesis, id) order
        live = []
        for score, caption, v, new_state in candidates[:width]:
            if v == END:
                finished.append((score, caption))
            else:
                live.append(((*caption, v), score, new_state))
        width = beam_width - len(finished)
    best_score, best = max(finished + [(score, caption) for caption, score, _ in live],
                           key=lambda option: option[0])       # the first of the best
    return list(best), best_score


def test_beam_search_matches_a_per_hypothesis_reference(cap):
    _, encoder, decoder = peaked(cap, 5, seed=4)
    pictures = images(6, seed=10)
    early = 0
    for beam_width, max_len in [(1, 6), (2, 6), (3, 6), (4, 4), (2, 1)]:
        out = cap.beam_search_captions(encoder, decoder, pictures, START, END, max_len,
                                     beam_width)
        for picture, caption in zip(pictures, out, strict=True):
            expected, _ = reference_beam(encoder, decoder, picture, max_len, beam_width)
            assert caption == expected
            early += len(caption) < max_len
    assert early > 0                                           # finished hypotheses won


def test_caption_log_probability_matches_teacher_forcing(cap):
    model, encoder, decoder = peaked(cap, 5, seed=5)
    picture, caption = images(1, seed=11), [3, 4, 4, 0]
    probs = numpy(model([picture, np.array([[START, *caption]], "int32")]))[0]
    expected = sum(log_p(probs[t, i]) for t, i in enumerate([*caption, END]))
    got = cap.caption_log_probability(encoder, decoder, picture[0], caption, START, END)
    assert got == pytest.approx(expected, abs=1e-5)
    without_end = cap.caption_log_probability(encoder, decoder, picture[0], caption, START, END,
                                              max_len=4)
    assert without_end == pytest.approx(expected - log_p(probs[4, END]), abs=1e-5)


def test_beam_width_one_is_greedy(cap):
    for seed, vocab in [(6, 5), (7, 12)]:
        _, encoder, decoder = peaked(cap, vocab, seed=seed)
        pictures = images(16, seed=seed)
        assert (cap.beam_search_captions(encoder, decoder, pictures, START, END, 8, beam_width=1)
                == cap.greedy_captions(encoder, decoder, pictures, START, END, 8))


def test_beam_search_scores_at_least_as_well_as_greedy(cap):
    _, encoder, decoder = peaked(cap, 8, seed=8, scale=2.0)
    pictures, max_len = images(20, seed=12), 6
    greedy = cap.greedy_captions(encoder, decoder, pictures, START, END, max_len)
    beam = cap.beam_search_captions(encoder, decoder, pictures, START, END, max_len, beam_width=3)
    better_or_equal = strictly_better = 0
    for picture, g, b in zip(pictures, greedy, beam, strict=True):
        greedy_score = cap.caption_log_probability(encoder, decoder, picture, g, START, END,
                                                   max_len)
        beam_score = cap.caption_log_probability(encoder, decoder, picture, b, START, END,
                                                 max_len)
        better_or_equal += beam_score >= greedy_score - 1e-6
        strictly_better += beam_score > greedy_score + 1e-6
    assert better_or_equal >= 18                               # not guaranteed for every image
    assert strictly_better >= 1


@pytest.mark.parametrize(("vocab", "max_len", "beam_width"), [(4, 2, 4), (4, 2, 6), (3, 3, 9)])
def test_a_wide_enough_beam_is_exhaustive(cap, vocab, max_len, beam_width):
    # With beam_width >= vocab ** (max_len - 1), nothing is dropped before the last step: if
    # nothing was dropped before step t, step t's candidates (every t-id string with no
    # </s> before its last id) and the hypotheses finished so far (each the prefix of
    # vocab ** (t - s) t-id strings, s its length with </s>, disjoint from the candidates)
    # number at most vocab ** t <= beam_width, so the width left (beam_width minus the
    # finished) covers the candidates. The last step keeps at least its best candidate, so
    # the answer is the best of every caption: ids then </s>, or max_len ids without </s>.
    _, encoder, decoder = peaked(cap, vocab, seed=9)
    pictures = images(5, seed=13)
    out = cap.beam_search_captions(encoder, decoder, pictures, START, END, max_len, beam_width)
    captions = [[]]                                           # every caption the search can end in
    for length in range(1, max_len + 1):
        captions += [list(c) for c in itertools.product(range(vocab), repeat=length)
                     if END not in c]
    for picture, caption in zip(pictures, out, strict=True):
        scores = [cap.caption_log_probability(encoder, decoder, picture, c, START, END, max_len)
                  for c in captions]
        best = captions[int(np.argmax(scores))]
        assert caption == best
        assert sorted(scores)[-1] - sorted(scores)[-2] > 1e-4   # no near tie to flip


def test_beam_search_is_fast_for_a_batch(cap):
    keras.utils.set_random_seed(10)
    _, encoder, decoder = cap.build_captioner(30)
    calls = []

    def counting_decoder(inputs, training=False):
        calls.append(len(inputs[0]))
        return decoder(inputs, training=training)

    pictures = images(200, seed=14)
    start = time.perf_counter()
    out = cap.beam_search_captions(encoder, counting_decoder, pictures, START, END, 16, 3)
    seconds = time.perf_counter() - start
    print(f"beam search, 200 images x 16 steps x width 3: {seconds:.2f} s")
    assert len(out) == 200 and all(len(c) <= 16 and END not in c for c in out)
    assert len(calls) <= 16 and max(calls) <= 600
    assert seconds < 20                                        # about 1 s on 2 CPU cores


# --- the starter -------------------------------------------------------------------------------

def test_starter_raises_not_implemented():
    if not (implementation_dir("starter") / "captioning.py").exists():
        pytest.skip("starter/captioning.py not generated yet (python -m seqlab.starter)")
    stub = student_module("captioning", impl="starter")
    solution = student_module("captioning", impl="solutions")
    calls = {"build_captioner": (VOCAB,),
             "greedy_captions": (None, None, np.zeros((1, 4, 4, 3)), START, END, 3),
             "beam_search_captions": (None, None, np.zeros((1, 4, 4, 3)), START, END, 3)}
    for function, arguments in calls.items():
        with pytest.raises(NotImplementedError, match=rf"^{function}: .*not implemented yet"):
            getattr(stub, function)(*arguments)
        assert stub.__dict__[function].__doc__ == solution.__dict__[function].__doc__
    assert stub.__doc__ == solution.__doc__
    assert stub.PROBABILITY_FLOOR == solution.PROBABILITY_FLOOR


# --- training ----------------------------------------------------------------------------------

COLOURS = {5: (220, 30, 30), 6: (30, 200, 40), 7: (40, 60, 230), 8: (230, 220, 40)}
A, PICTURE = 3, 4                    # captions: "a <colour> picture", colours are ids 5..8


def colour_data(n: int, seed: int):
    """Images filled with one of four colours (plus noise) and the caption naming it."""
    rng = np.random.default_rng(seed)
    colour_ids = rng.choice(list(COLOURS), size=n)
    rgb = np.array([COLOURS[c] for c in colour_ids], dtype=np.float32)[:, None, None, :]
    pictures = np.clip(rgb + rng.normal(0, 20, size=(n, *SIZE)), 0, 255).astype(np.uint8)
    captions = np.stack([np.full(n, A), colour_ids, np.full(n, PICTURE)], axis=1)
    target_in = np.concatenate([np.full((n, 1), START), captions], axis=1).astype("int32")
    target_out = np.concatenate([captions, np.full((n, 1), END)], axis=1).astype("int32")
    return pictures, target_in, target_out, captions.tolist()


@pytest.mark.slow
def test_learns_to_name_the_colour(cap):
    start = time.perf_counter()
    keras.utils.set_random_seed(0)
    pictures, target_in, target_out, _ = colour_data(200, seed=1)
    held_out, _, _, expected = colour_data(100, seed=2)
    model, encoder, decoder = cap.build_captioner(9, filters=(8, 16), units=32)
    history = model.fit([pictures, target_in], target_out, batch_size=32, epochs=8, verbose=0)
    losses = history.history["loss"]
    greedy = cap.greedy_captions(encoder, decoder, held_out, START, END, max_len=5)
    beam = cap.beam_search_captions(encoder, decoder, held_out, START, END, 5, beam_width=3)
    greedy_accuracy = np.mean([g == e for g, e in zip(greedy, expected, strict=True)])
    beam_accuracy = np.mean([b == e for b, e in zip(beam, expected, strict=True)])
    print(f"colours: loss {losses[0]:.3f} -> {losses[-1]:.3f}, exact match greedy "
          f"{greedy_accuracy:.2f}, beam {beam_accuracy:.2f} in "
          f"{time.perf_counter() - start:.1f} s")
    assert losses[-1] < 0.5 * losses[0]
    assert greedy_accuracy >= 0.8 and beam_accuracy >= 0.8     # chance: 0.25


def test_fits_the_scenes_data(cap):
    scenes = pytest.importorskip("seqlab.scenes")      # the lab's data, if it is there yet
    keras.utils.set_random_seed(0)
    data = scenes.make_captioning_data(16, seed=0, captions_per_image=2)
    index, target_in, target_out, weights = scenes.training_pairs(data)
    model, encoder, decoder = cap.build_captioner(len(scenes.WORDS))
    assert model.count_params() == expected_params(len(scenes.WORDS))
    history = model.fit([data.images[index], target_in], target_out, sample_weight=weights,
                        batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    max_len = scenes.MAX_CAPTION_WORDS + 1
    for decode in (cap.greedy_captions, cap.beam_search_captions):
        out = decode(encoder, decoder, data.images[:4], scenes.START_ID, scenes.END_ID, max_len)
        assert len(out) == 4
        for caption in out:
            assert len(caption) <= max_len and scenes.END_ID not in caption
            assert all(0 <= i < len(scenes.WORDS) for i in caption)
            assert isinstance(scenes.decode_ids(caption), str)
