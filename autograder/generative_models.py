"""The grader's own generative models and the worker's measurements of students' ones.

Two roles, both trusted code:

* **Reference builders** (:func:`reference_char_lm`, :func:`reference_seq2seq`): small models
  with seeded random weights, built by the grader's code, never the student's. The child
  builds one and hands it to a student function that *uses* a model (``generate``,
  ``greedy_decode``), so those functions are graded on their own, whatever the student's
  builder does; the worker builds the same model from the same seed to compute what the
  answer must be.
* **Worker kinds** (registered in :mod:`autograder.worker`): run a student's saved model on
  the grader's inputs and report shapes, layer types and the numbers the checks compare
  (causality, stateful carry and reset, teacher forcing vs step by step).
"""

from __future__ import annotations

import numpy as np

from autograder.keras_inspect import Rule, describe_layer, flat_layers, fresh_model, load
from autograder.worker_runs import within_declared_sizes

# Every student model (labs 6-8 too) passes the worker's full check, its HDF5 included, and
# the declared-size bound before Keras loads it, exactly as lab 4's do (autograder.worker).
load = within_declared_sizes(load)


# ---------------------------------------------------------------- the grader's own models
def reference_char_lm(vocab_size: int, embedding_dim: int, units: int, seed: int):
    """A stateless GRU char LM: ids ``(batch, T)`` -> logits ``(batch, T, vocab_size)``."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(vocab_size, embedding_dim,
                               embeddings_initializer=keras.initializers.RandomNormal(
                                   stddev=1.0))(inputs)
    x = keras.layers.GRU(units, return_sequences=True)(x)
    logits = keras.layers.Dense(vocab_size, kernel_initializer=keras.initializers.RandomNormal(
        stddev=1.5))(x)
    return keras.Model(inputs, logits, name="grader_char_lm")


def reference_seq2seq(src_vocab_size: int, tgt_vocab_size: int, embedding_dim: int,
                      units: int, seed: int):
    """The grader's ``(encoder, decoder)`` with shared, seeded random weights."""
    import keras

    keras.utils.set_random_seed(seed)
    wide = keras.initializers.RandomNormal(stddev=1.0)
    src_embedding = keras.layers.Embedding(src_vocab_size, embedding_dim,
                                           embeddings_initializer=wide)
    tgt_embedding = keras.layers.Embedding(tgt_vocab_size, embedding_dim,
                                           embeddings_initializer=wide)
    encoder_gru = keras.layers.GRU(units)
    decoder_gru = keras.layers.GRU(units, return_sequences=True, return_state=True)
    output = keras.layers.Dense(tgt_vocab_size, activation="softmax",
                                kernel_initializer=keras.initializers.RandomNormal(stddev=1.5))
    src = keras.Input(shape=(None,), dtype="int32")
    encoder = keras.Model(src, encoder_gru(src_embedding(src)), name="grader_encoder")
    token = keras.Input(shape=(1,), dtype="int32")
    state = keras.Input(shape=(units,))
    step, new_state = decoder_gru(tgt_embedding(token), initial_state=state)
    decoder = keras.Model([token, state], [output(step), new_state], name="grader_decoder")
    return encoder, decoder


BUILDERS = {"char_lm": lambda **kw: (reference_char_lm(**kw),),
            "seq2seq": lambda **kw: reference_seq2seq(**kw)}


def save_grader_models(task: dict) -> dict:
    """Build ``BUILDERS[task["builder"]](**task["build"])`` and save each model as
    ``out/grader.<i>.keras``, for the child to hand to a student function."""
    from autograder.assignments import worker_modules

    builders = dict(BUILDERS)
    for module in worker_modules():
        builders.update(getattr(module, "BUILDERS", {}))
    models = builders[task["builder"]](**task["build"])
    for number, model in enumerate(models):
        model.save(f"out/grader.{number}.keras")
    return {"count": len(models)}


def to_numpy(value) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)


# ---------------------------------------------------------------- references (worker)
def char_lm_greedy(task: dict) -> dict:
    """The argmax continuation of ``prime`` by the grader's model, re-reading the whole
    sequence at every step (slow and obviously right)."""
    (model,) = BUILDERS["char_lm"](**task["build"])
    ids = [int(i) for i in task["prime"]]
    out = []
    for _ in range(task["length"]):
        logits = to_numpy(model(np.asarray([ids + out], dtype="int32")))[0, -1]
        out.append(int(np.argmax(logits)))
    return {"ids": out}


def seq2seq_greedy(task: dict) -> dict:
    """Per source row, the ``max_len`` ids the grader's decoder emits greedily after
    ``start_id`` (never stopping: the checks cut at each end id themselves)."""
    encoder, decoder = BUILDERS["seq2seq"](**task["build"])
    src = np.asarray(task["src"], dtype="int32")
    return {"paths": greedy_paths(encoder, decoder, src, task["start_id"],
                                  task["max_len"]).tolist()}


def greedy_paths(encoder, decoder, inputs, start_id: int, max_len: int) -> np.ndarray:
    """``(batch, max_len)`` ids an ``encoder`` (inputs -> state ``(batch, units)``) and a
    one-step ``decoder`` (``[token (batch, 1), state]`` -> ``[probabilities (batch, 1, V),
    state]``) emit greedily after ``start_id``, never stopping: callers cut each row at its
    end id (:func:`autograder.metrics.cut_at_end`). The grader's one greedy decoder."""
    state = to_numpy(encoder(inputs))
    token = np.full((len(state), 1), start_id, dtype="int32")
    steps = []
    for _ in range(int(max_len)):
        probs, state = (to_numpy(v) for v in decoder([token, state]))
        token = np.argmax(probs[:, -1], axis=-1).astype("int32")[:, None]
        steps.append(token[:, 0])
    return np.stack(steps, axis=1)


PROBABILITY_FLOOR = 1e-12  # the decoding contracts': log(max(p, floor)), never -inf
GLOBAL_CLIPNORM = 1.0
"""The grader's recipes clip all gradients together to this global norm (Keras'
``global_clipnorm``, lab 1's ``clip_by_global_norm``), as the student modules of labs 6-8 do."""


def _extensions(live: list, log_probs: np.ndarray) -> list[tuple[float, int, int]]:
    """Every ``(score, hypothesis, id)`` extension, best first; ties in (hypothesis, id)
    order (a stable sort of that order)."""
    found = [(live[h][1] + float(log_probs[h, v]), h, v)
             for h in range(len(live)) for v in range(log_probs.shape[1])]
    return sorted(found, key=lambda item: -item[0])


def beam_reference(encoder, decoder, inputs, start_id: int, end_id: int, max_len: int,
                   beam_width: int) -> list[tuple[list[int], float]]:
    """Per row of ``inputs`` (what ``encoder`` reads, already of its dtype), the beam search
    result and its score (natural log), exactly as the contracts of ``beam_search_decode``
    (lab 7) and ``beam_search_captions`` (lab 8) say, written plainly: one row, one
    hypothesis at a time. The grader's one beam search."""
    states = to_numpy(encoder(inputs))
    results = []
    for state in states:
        live = [([], 0.0, state)]  # (ids, score, decoder state)
        finished, width = [], beam_width
        for _ in range(max_len):
            if not live:
                break
            tokens = np.array([[h[0][-1] if h[0] else start_id] for h in live], dtype="int32")
            probs, new_states = (to_numpy(v) for v in decoder(
                [tokens, np.stack([h[2] for h in live]).astype("float32")]))
            log_probs = np.log(np.maximum(probs[:, -1], PROBABILITY_FLOOR))
            survivors = []
            for score, h, v in _extensions(live, log_probs)[:width]:
                if v == end_id:  # set aside, and the beam narrows
                    finished.append((live[h][0], score))
                    width -= 1
                else:
                    survivors.append((live[h][0] + [v], score, new_states[h]))
            live = survivors
        pool = finished + [(ids, score) for ids, score, _ in live]
        best = max(range(len(pool)), key=lambda n: (pool[n][1], -n))  # the first on ties
        results.append(pool[best])
    return results


# ---------------------------------------------------------------- students' models (worker)
def describe_model(model) -> dict:
    loss = getattr(model, "loss", None)
    return {"layers": [describe_layer(layer) for layer in flat_layers(model)],
            "params": int(model.count_params()), "compiled": bool(model.compiled),
            "loss": type(loss).__name__ if loss is not None and not isinstance(loss, str)
            else loss, "from_logits": bool(getattr(loss, "from_logits", False)),
            "inputs": [list(t.shape) for t in model.inputs],
            "n_outputs": len(model.outputs)}


def _reset(model) -> None:
    for layer in model.layers:
        if getattr(layer, "stateful", False) and hasattr(layer, "reset_state"):
            layer.reset_state()


def char_lm_probe(task: dict) -> dict:
    """Shapes, causality and (for a stateful model) state carry and reset.

    Stateless: outputs for ``(batch, T)`` probes; ``causal_gap``: the largest difference
    between the outputs for a prefix and the first steps of the outputs for the whole
    sequence (0 for a left-to-right model). Stateful (``batch_size`` set): ``carry_gap``
    compares the second of two consecutive calls with the same steps of one call on the
    joined windows; ``reset_gap`` compares a call after ``reset_state`` with a fresh one;
    ``no_carry_gap`` is how far a second call is from a fresh one (0 means no carry).
    """
    model = load(task["model"])
    info = describe_model(model)
    vocab = int(task["vocab_size"])
    rng = np.random.default_rng(0)
    batch = task.get("batch_size")
    probes = []
    if batch is None:
        for rows, steps in task["probes"]:
            x = rng.integers(1, vocab, size=(rows, steps)).astype("int32")
            try:
                y = to_numpy(model(x))
            except Exception as exc:
                probes.append({"batch": rows, "length": steps,
                               "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
                continue
            prefix = to_numpy(model(x[:, : max(1, steps // 2)]))
            probes.append({"batch": rows, "length": steps, "shape": list(y.shape),
                           "finite": bool(np.isfinite(y).all()),
                           "row_sums_one": bool(np.allclose(y.sum(-1), 1.0, atol=1e-4)),
                           "negative": bool((y < 0).any()),
                           "causal_gap": float(np.max(np.abs(
                               prefix - y[:, : prefix.shape[1]]))) if y.ndim == 3
                           and prefix.shape[:2] == (rows, max(1, steps // 2)) else None})
        info["probes"] = probes
        return info
    first = rng.integers(1, vocab, size=(batch, 4)).astype("int32")
    second = rng.integers(1, vocab, size=(batch, 3)).astype("int32")
    _reset(model)
    to_numpy(model(first))
    carried = to_numpy(model(second))
    _reset(model)
    joined = to_numpy(model(np.concatenate([first, second], axis=1)))[:, 4:]
    _reset(model)
    fresh = to_numpy(model(second))
    _reset(model)
    to_numpy(model(first))
    _reset(model)
    after_reset = to_numpy(model(second))
    info.update({"shape": list(carried.shape), "carry_gap": float(np.max(np.abs(
        carried - joined))) if carried.shape == joined.shape else None,
        "no_carry_gap": float(np.max(np.abs(carried - fresh))),
        "reset_gap": float(np.max(np.abs(after_reset - fresh))),
        "stateful_layers": [layer.name for layer in model.layers
                            if getattr(layer, "stateful", False)]})
    return info


def seq2seq_probe(task: dict) -> dict:
    """:func:`encoder_decoder_probe` of a student's seq2seq models on random sources."""
    def sources(rows, src_len):
        return lambda rng: rng.integers(1, task["src_vocab_size"],
                                        size=(rows, src_len)).astype("int32")

    probes = [(sources(rows, src_len), {"batch": rows, "src_len": src_len, "tgt_len": tgt_len})
              for rows, src_len, tgt_len in task["probes"]]
    return encoder_decoder_probe(task["models"], probes, task["tgt_vocab_size"],
                                 np.random.default_rng(1))


def encoder_decoder_probe(paths: list[str], probes: list, tgt_vocab_size: int, rng) -> dict:
    """Shapes of a student's ``(model, encoder, decoder)`` and ``step_gap``: the largest
    difference between the teacher-forced model's probabilities and encoder + decoder run
    one step at a time on the same target inputs (0 when the three share their weights).

    ``probes``: ``(make_source, info)`` pairs: ``make_source(rng)`` draws the encoder's
    input batch, ``info`` describes the probe, with ``tgt_len``; the targets are drawn from
    ``rng`` after each source."""
    model, encoder, decoder = (load(path) for path in paths)
    info = {"model": describe_model(model), "encoder": describe_model(encoder),
            "decoder": describe_model(decoder), "probes": []}
    for make_source, probe in probes:
        src = make_source(rng)
        rows, tgt_len = len(src), probe["tgt_len"]
        tgt = rng.integers(1, tgt_vocab_size, size=(rows, tgt_len)).astype("int32")
        probe = dict(probe)
        try:
            probs = to_numpy(model([src, tgt]))
            probe.update(shape=list(probs.shape),
                         sums_one=bool(np.allclose(probs.sum(-1), 1.0, atol=1e-4)))
            state = to_numpy(encoder(src))
            probe["state_shape"] = list(state.shape)
            steps = []
            for t in range(tgt_len):
                step_probs, state = (to_numpy(v) for v in decoder([tgt[:, t: t + 1], state]))
                if t == 0:
                    probe["step_shape"] = list(step_probs.shape)
                    probe["step_state_shape"] = list(state.shape)
                steps.append(step_probs.reshape(rows, -1))
            stepped = np.stack(steps, axis=1)
            probe["step_gap"] = float(np.max(np.abs(stepped - probs))) \
                if stepped.shape == probs.shape else None
        except Exception as exc:
            probe["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        info["probes"].append(probe)
    return info


# ---------------------------------------------------------------- learning (worker)
def seed_recipe(recipe: dict) -> None:
    from seqlab.train import seed_everything

    seed_everything(int(recipe["seed"]), deterministic=True)


def device_info() -> dict:
    from seqlab.devices import accelerator

    device = accelerator()
    return {"platform": device.platform, "name": device.name}


def char_lm_train(task: dict) -> dict:
    """The grader's recipe for a student's (stateless) char LM: Adam on non-overlapping
    windows of the training text, then bits per character on the held-out text.

    ``task["data"]`` holds ``train_ids`` and ``heldout_ids`` (1-D); windows of
    ``recipe["window"]`` ids predict the next id at every step. The student's architecture
    is trained from the grader's own fresh initialisation, every layer trainable
    (:func:`autograder.keras_inspect.fresh_model`), never from the weights the student left.
    """
    import time

    import keras

    recipe = task["recipe"]
    seed_recipe(recipe)
    model = fresh_model(load(task["model"]))
    with np.load(task["data"], allow_pickle=False) as data:
        train, heldout = data["train_ids"], data["heldout_ids"]
    window = int(recipe["window"])

    def windows(ids):
        count = (len(ids) - 1) // window
        x = ids[: count * window].reshape(count, window)
        y = ids[1: count * window + 1].reshape(count, window)
        return x.astype("int32"), y.astype("int32")

    x, y = windows(train)
    model.compile(optimizer=keras.optimizers.Adam(recipe["learning_rate"],
                                                  global_clipnorm=GLOBAL_CLIPNORM),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    start = time.perf_counter()
    model.fit(x, y, epochs=recipe["epochs"], batch_size=recipe["batch_size"], shuffle=True,
              verbose=0)
    seconds = time.perf_counter() - start
    hx, hy = windows(heldout)
    nats = float(model.evaluate(hx, hy, batch_size=256, verbose=0))
    return {"bits_per_char": nats / np.log(2), "train_seconds": seconds,
            "params": int(model.count_params()), "device": device_info()}


def share_weights(trained, models, roles=("encoder", "decoder")) -> int:
    """Copy the trained model's weights into ``models`` layer by layer, by name, looking
    inside nested models (the three models a student built share their layers, so names
    match, even when the encoder ``Model`` is called inside the training model). Every
    layer with weights must receive them: a layer the training model does not have raises
    (the decoding would otherwise run on untrained weights and look like "does not learn").
    Returns layers copied."""
    copied = 0
    by_name: dict = {}
    for layer in flat_layers(trained):
        if layer.weights:
            by_name.setdefault(layer.name, []).append(layer)
    for model, role in zip(models, roles, strict=True):
        for layer in flat_layers(model):
            if not layer.weights:
                continue
            shapes = [tuple(w.shape) for w in layer.weights]
            sources = [s for s in by_name.get(layer.name, ())
                       if [tuple(w.shape) for w in s.weights] == shapes]
            if len(sources) != 1:
                raise Rule(f"the {role}'s layer {layer.name!r} ({type(layer).__name__}) is "
                           "not a layer of the training model, so the trained weights cannot "
                           "reach it: create each layer once and call it from all three models")
            layer.set_weights(sources[0].get_weights())
            copied += 1
    return copied


def seq2seq_train(task: dict) -> dict:
    """:func:`train_encoder_decoder` on the training programs' (source, target) pairs,
    decoding the test sources."""
    return train_encoder_decoder(task, lambda arrays: arrays["source"],
                                 lambda arrays: arrays["test_source"].astype("int32"),
                                 forbidden=("test_target",))


def train_encoder_decoder(task: dict, sources, test_sources, forbidden=()) -> dict:
    """The grader's recipe for a student's encoder-decoder: Adam with teacher forcing
    (``[sources(arrays), target_in] -> target_out``, weighted), then the grader's own greedy
    decoding of ``test_sources(arrays)`` with the student's encoder and decoder (given the
    trained weights). The training model is rebuilt from its config with the grader's own
    fresh initialisation, every layer trainable
    (:func:`autograder.keras_inspect.fresh_model`). Returns the decoded ids; the parent,
    which alone has the test answers (the worker refuses data holding ``forbidden``), scores
    them."""
    import time

    import keras

    recipe = task["recipe"]
    seed_recipe(recipe)
    built, encoder, decoder = (load(path) for path in task["models"])
    model = fresh_model(built)
    with np.load(task["data"], allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    if any(key in arrays for key in forbidden):
        raise RuntimeError("the test answers must not be sent to the worker")
    model.compile(optimizer=keras.optimizers.Adam(recipe["learning_rate"],
                                                  global_clipnorm=GLOBAL_CLIPNORM),
                  loss="sparse_categorical_crossentropy")
    start = time.perf_counter()
    history = model.fit([sources(arrays), arrays["target_in"]], arrays["target_out"],
                        sample_weight=arrays["weights"], epochs=recipe["epochs"],
                        batch_size=recipe["batch_size"], shuffle=True, verbose=0)
    seconds = time.perf_counter() - start
    copied = share_weights(model, (encoder, decoder))
    paths = greedy_paths(encoder, decoder, test_sources(arrays), int(recipe["start_id"]),
                         int(recipe["max_len"]))
    losses = history.history.get("loss", [])
    return {"ids": paths.tolist(), "train_seconds": seconds, "layers_copied": copied,
            "epochs_run": len(losses), "loss": [round(float(v), 4) for v in losses],
            "device": device_info()}


KINDS = {"save_grader_models": save_grader_models,
         "char_lm_greedy": char_lm_greedy, "seq2seq_greedy": seq2seq_greedy,
         "char_lm_probe": char_lm_probe, "seq2seq_probe": seq2seq_probe,
         "char_lm_train": char_lm_train, "seq2seq_train": seq2seq_train}
