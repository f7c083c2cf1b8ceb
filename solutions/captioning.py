"""Image captioning: a small CNN encodes a picture, a GRU decoder writes its caption, word by word.

The encoder turns the image into one state vector; the decoder starts from that state and
writes the caption one word at a time, each step reading the previous word (Vinyals et al.
2015, "Show and tell", with the image as the decoder's initial state)::

    images (batch, H, W, 3) -> Rescaling(1/255) -> [Conv2D 3x3 relu -> MaxPooling2D 2] per filter
                            -> Flatten -> Dense(units, tanh) -> state (batch, units)
                                                                                  |
    target_in (batch, L) -> Embedding -> decoder GRU (initial state) -> (batch, L, units)
                                                  -> Dense + softmax -> (batch, L, vocab_size)

Images are RGB with pixel values in [0, 255], ``uint8`` or float (the model rescales them).
Captions are word ids with id 0 padding, 1 the start ``<s>`` and 2 the end ``</s>``.
Training uses *teacher forcing*: the decoder's input at step t is the true word t - 1
(``target_in`` is ``<s>`` followed by the caption, padded at the back; the labels are the
caption followed by ``</s>``, with the padded positions given zero weight in the loss). At
test time the true words are unknown, so the ``encoder`` and ``decoder`` models, which share
the training model's layers (and so its weights), write the caption one step at a time:
``greedy_captions`` feeds back the decoder's most likely word; ``beam_search_captions`` keeps the
``beam_width`` most likely partial captions instead, and returns the most likely complete one.

Build every model from built-in Keras pieces (``keras.Input``, ``keras.layers``, functional
``keras.Model`` or ``keras.Sequential``, either API): the grader saves the models your
functions return and reloads them without running your code, so ``Lambda`` layers and
subclassed layers or models cannot be graded. The grader also trains your architecture
from its own fresh start, so keep every learned number in a layer's weights: constant
arrays passed to ``keras.ops`` calls in a model may hold at most 256 numbers in total.
"""

from __future__ import annotations

import keras
import numpy as np

LEARNING_RATE = 2e-3
"""Adam's step size (5e-3 sometimes stalls this model on the quick data; measured)."""

CLIPNORM = 1.0
"""All gradients together are scaled down to at most this global norm (``global_clipnorm``:
lab 1's ``clip_by_global_norm``, which keeps the update's direction; Keras' ``clipnorm`` would
clip each weight's gradient on its own and turn the update)."""

PROBABILITY_FLOOR = 1e-12
"""Beam search scores a probability ``p`` as ``log(max(p, PROBABILITY_FLOOR))``: never -inf."""


def build_captioner(vocab_size: int, image_shape=(64, 64, 3), filters=(16, 32, 64),
                    embedding_dim: int = 32,
                    units: int = 128) -> tuple[keras.Model, keras.Model, keras.Model]:
    """The training model and the two inference models, sharing every layer.

    Layers (create each once and call it from the models that need it), in order: on the
    image, ``Rescaling(1 / 255)``; for each entry ``f`` of ``filters``,
    ``Conv2D(f, 3, padding="same", activation="relu")`` then ``MaxPooling2D(2)``; then
    ``Flatten()`` (not a global pooling: where a shape is, left of or above another, must
    reach the decoder) and the projection ``Dense(units, activation="tanh")``,
    whose output is the decoder's initial state. On the caption, ``Embedding(vocab_size,
    embedding_dim)``; decoder ``GRU(units, return_sequences=True, return_state=True)``;
    ``Dense(vocab_size, activation="softmax")``. Keep Keras' other defaults; in particular
    the GRU's default activations and no recurrent dropout (cuDNN).

    Returns ``(model, encoder, decoder)`` (the training model may call the ``encoder``
    model itself, as a layer):

    - ``model``: ``[images (batch, *image_shape), tgt_in (batch, L)]`` -> probabilities
      ``(batch, L, vocab_size)``: the decoder GRU starts from the image's projected state
      and reads ``tgt_in`` (teacher forcing). Compiled with Adam (``LEARNING_RATE``,
      ``global_clipnorm=CLIPNORM``) and sparse categorical cross-entropy.
    - ``encoder``: ``images (batch, *image_shape)`` -> state ``(batch, units)``.
    - ``decoder``: ``[token (batch, 1), state (batch, units)]`` -> ``[probabilities
      (batch, 1, vocab_size), new state (batch, units)]``: one step.
    """
    # BEGIN SOLUTION hint: create the layers once, then wire three keras.Model from them
    rescale = keras.layers.Rescaling(1.0 / 255, name="rescaling")
    convs = [keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv_{i}")
             for i, f in enumerate(filters, start=1)]
    pools = [keras.layers.MaxPooling2D(2, name=f"pool_{i}")
             for i in range(1, len(filters) + 1)]
    flatten = keras.layers.Flatten(name="flatten")
    projection = keras.layers.Dense(units, activation="tanh", name="projection")
    caption_embedding = keras.layers.Embedding(vocab_size, embedding_dim,
                                               name="caption_embedding")
    decoder_gru = keras.layers.GRU(units, return_sequences=True, return_state=True,
                                   name="decoder_gru")
    output = keras.layers.Dense(vocab_size, activation="softmax", name="probabilities")

    images = keras.Input(shape=tuple(image_shape), name="images")
    x = rescale(images)
    for conv, pool in zip(convs, pools, strict=True):
        x = pool(conv(x))
    state = projection(flatten(x))                                 # (batch, units)
    encoder = keras.Model(images, state, name="encoder")

    tgt_in = keras.Input(shape=(None,), dtype="int32", name="target_in")
    sequence, _ = decoder_gru(caption_embedding(tgt_in), initial_state=state)  # (batch, L, u)
    model = keras.Model([images, tgt_in], output(sequence), name="captioner")

    token = keras.Input(shape=(1,), dtype="int32", name="token")
    state_in = keras.Input(shape=(units,), name="state")
    step, state_out = decoder_gru(caption_embedding(token), initial_state=state_in)
    decoder = keras.Model([token, state_in], [output(step), state_out], name="decoder")

    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE,
                                                  global_clipnorm=CLIPNORM),
                  loss="sparse_categorical_crossentropy", weighted_metrics=["accuracy"])
    return model, encoder, decoder
    # END SOLUTION


def greedy_captions(encoder: keras.Model, decoder: keras.Model, images: np.ndarray,
                  start_id: int, end_id: int, max_len: int) -> list[list[int]]:
    """Caption each image of ``images (batch, H, W, 3)`` greedily: a list of id lists.

    Encode the whole batch once (as float32); then feed ``start_id`` and, step by step, the
    most likely id the decoder returns (the first one on ties, as ``np.argmax``), with its
    new state, all images in one decoder batch. An image's list holds the ids emitted after
    ``start_id``: it stops before ``end_id`` (not included) or after ``max_len`` ids. Stop
    early once every image has ended.
    """
    # BEGIN SOLUTION hint: encode once; loop max_len steps feeding back the argmax and state
    images = np.asarray(images, dtype=np.float32)
    batch = len(images)
    state = keras.ops.convert_to_numpy(encoder(images, training=False))  # (batch, units)
    token = np.full((batch, 1), start_id, dtype=np.int32)
    outputs: list[list[int]] = [[] for _ in range(batch)]
    done = np.zeros(batch, dtype=bool)
    for _ in range(max_len):
        probs, state = (keras.ops.convert_to_numpy(t)
                        for t in decoder([token, state], training=False))
        best = np.argmax(probs[:, -1], axis=-1)                      # (batch,)
        for row in np.flatnonzero(~done):
            if best[row] == end_id:
                done[row] = True
            else:
                outputs[row].append(int(best[row]))
        if done.all():
            break
        token = best[:, None].astype(np.int32)
    return outputs
    # END SOLUTION


def beam_search_captions(encoder: keras.Model, decoder: keras.Model, images: np.ndarray,
                       start_id: int, end_id: int, max_len: int,
                       beam_width: int = 3) -> list[list[int]]:
    """Caption each image of ``images (batch, H, W, 3)`` by beam search: a list of id lists.

    A hypothesis is a partial caption (the ids after ``start_id``), its score (a sum of
    natural logs of the decoder's probabilities, as float64) and its decoder state. Each
    image is searched on its own, with a width ``k`` that starts at ``beam_width``:

    1. The image starts with one live hypothesis: no ids, score 0, the image's encoder
       state (the whole batch is encoded once, as float32).
    2. At each step, every live hypothesis is fed to the decoder (its last id, or
       ``start_id`` while it has none, with its state) and extended by every id ``v`` of
       the vocabulary: the extension's score is the hypothesis' score plus
       ``log(max(p_v, PROBABILITY_FLOOR))``, ``p_v`` the decoder's probability of ``v``.
    3. The ``k`` highest-scoring extensions over all the image's live hypotheses are kept
       (all of them if there are fewer); ties go to the earlier in (hypothesis order, id)
       order. The kept ones, best first (ties: earlier first), are the new hypothesis order.
       A kept extension by ``end_id`` is set aside as finished: ``end_id`` is not one of
       its ids, but its log probability stays in its score, and ``k`` decreases by one
       (the beam narrows). The other kept extensions are the new live hypotheses, with the
       decoder's new states.
    4. The search stops when no hypothesis is live (``k`` reached 0) or after ``max_len``
       steps. The result is the ids of the highest-scoring hypothesis among the finished
       ones (in the order they were set aside) followed by the still-live ones (in their
       order); ties go to the first. No length normalisation: a finished caption scores
       the log probability of its ids followed by ``end_id``, a live one (``max_len`` ids)
       that of its ids alone, as ``caption_log_probability`` computes.

    So at most ``max_len`` ids per caption, never ``end_id``; ``beam_width=1`` gives
    ``greedy_captions``'s captions. Every step runs the decoder once, on the live
    hypotheses of all images together.
    """
    if beam_width < 1:
        raise ValueError(f"beam_width must be >= 1, got {beam_width}")
    # BEGIN SOLUTION hint: per image keep (ids, score, state) hypotheses; one decoder batch a step
    images = np.asarray(images, dtype=np.float32)
    batch = len(images)
    states = keras.ops.convert_to_numpy(encoder(images, training=False))  # (batch, units)
    # The live hypotheses of all images, grouped by image, each image's in hypothesis order.
    owner = np.arange(batch)                                       # image of each hypothesis
    sequences: list[list[int]] = [[] for _ in range(batch)]
    scores = np.zeros(batch, dtype=np.float64)
    tokens = np.full(batch, start_id, dtype=np.int32)
    width = np.full(batch, beam_width)                             # k, per image
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch)]
    for _ in range(max_len):
        if len(owner) == 0:
            break
        probs, new_states = (keras.ops.convert_to_numpy(t)
                             for t in decoder([tokens[:, None], states], training=False))
        log_probs = np.log(np.maximum(probs[:, -1].astype(np.float64), PROBABILITY_FLOOR))
        candidates = scores[:, None] + log_probs                    # (live, vocab)
        vocab = candidates.shape[1]
        keep_rows, keep_ids, keep_scores = [], [], []
        images_live, firsts, counts = np.unique(owner, return_index=True, return_counts=True)
        for image, first, count in zip(images_live, firsts, counts, strict=True):
            rows = np.arange(first, first + count)                  # ascending: stays grouped
            flat = candidates[rows].ravel()                         # (hypothesis, id) order
            best = np.argsort(-flat, kind="stable")[: width[image]]
            for index in best:
                row, token = rows[index // vocab], int(index % vocab)
                if token == end_id:
                    finished[image].append((float(flat[index]), sequences[row]))
                    width[image] -= 1
                else:
                    keep_rows.append(row)
                    keep_ids.append(token)
                    keep_scores.append(float(flat[index]))
        keep = np.asarray(keep_rows, dtype=np.int64)
        owner, states = owner[keep], new_states[keep]
        sequences = [[*sequences[row], token] for row, token in zip(keep_rows, keep_ids,
                                                                    strict=True)]
        scores = np.asarray(keep_scores, dtype=np.float64)
        tokens = np.asarray(keep_ids, dtype=np.int32)
    results = []
    for image in range(batch):
        options = finished[image] + [(float(scores[row]), sequences[row])
                                     for row in np.flatnonzero(owner == image)]
        best_score, best_ids = options[0]
        for score, ids in options[1:]:
            if score > best_score:
                best_score, best_ids = score, ids
        results.append([int(i) for i in best_ids])
    return results
    # END SOLUTION


def caption_log_probability(encoder: keras.Model, decoder: keras.Model, image: np.ndarray,
                            ids, start_id: int, end_id: int,
                            max_len: int | None = None) -> float:
    """The natural log probability the models give to caption ``ids`` of one ``image (H, W, 3)``
    (given, not graded).

    The sum, over the ids followed by ``end_id``, of ``log(max(p, PROBABILITY_FLOOR))``,
    ``p`` the decoder's probability of that id after ``start_id`` and the ids before it, as
    float64: the score ``beam_search_captions`` gives a finished caption. When ``max_len`` is
    given and ``ids`` holds ``max_len`` ids (or more), ``end_id`` is not counted: the score
    of a caption that stopped at ``max_len`` ids.
    """
    ids = [int(i) for i in ids]
    image = np.asarray(image, dtype=np.float32)[None]
    state = keras.ops.convert_to_numpy(encoder(image, training=False))
    targets = ids if max_len is not None and len(ids) >= max_len else [*ids, end_id]
    inputs = [start_id, *ids]
    total = 0.0
    for token, target in zip(inputs, targets, strict=False):
        probs, state = (keras.ops.convert_to_numpy(t) for t in
                        decoder([np.array([[token]], dtype=np.int32), state], training=False))
        total += float(np.log(max(float(probs[0, -1, target]), PROBABILITY_FLOOR)))
    return total
