"""A GRU encoder-decoder that learns to execute programs, character by character.

The encoder reads the source (a program, or ``"123+45"``) and compresses it into one state
vector; the decoder starts from that state and writes the target (``"168"``) one character
at a time, each step reading the previous character (Sutskever et al. 2014's design, with the
GRU of Cho et al. 2014, whose decoder also reads the state at every step)::

    source ids (batch, S) -> Embedding -> encoder GRU -> state (batch, units)
                                                              |
    target_in (batch, L)  -> Embedding -> decoder GRU (initial state) -> (batch, L, units)
                                                  -> Dense + softmax -> (batch, L, tgt_vocab)

Training uses *teacher forcing*: the decoder's input at step t is the true character t - 1
(``target_in`` is ``<s>`` followed by the target; the labels are the target followed by
``</s>``). At test time the true characters are unknown, so ``greedy_decode`` feeds back the
decoder's own most likely character, one step at a time, with the ``encoder`` and
``decoder`` models that share the training model's layers (and so its weights);
``beam_search_decode`` keeps the ``beam_width`` most likely partial answers instead, and
returns the most likely complete one.

Id 0 is padding in both vocabularies. Sources are padded at the front (the encoder reads the
real characters last, so no mask is needed); targets at the back, with the padded
positions given zero weight in the loss (``seqlab.programs.encode_pairs`` does both).

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

LEARNING_RATE = 5e-3
"""Adam's step size."""

CLIPNORM = 1.0
"""All gradients together are scaled down to at most this global norm (``global_clipnorm``:
lab 1's ``clip_by_global_norm``, which keeps the update's direction; Keras' ``clipnorm`` would
clip each weight's gradient on its own and turn the update)."""

PROBABILITY_FLOOR = 1e-12
"""Beam search scores a probability ``p`` as ``log(max(p, PROBABILITY_FLOOR))``: never -inf."""


def build_seq2seq(src_vocab_size: int, tgt_vocab_size: int, embedding_dim: int = 32,
                  units: int = 128) -> tuple[keras.Model, keras.Model, keras.Model]:
    """The training model and the two inference models, sharing every layer.

    Layers (create each once and call it from the models that need it):
    source ``Embedding(src_vocab_size, embedding_dim)``; encoder ``GRU(units)`` (final state
    only); target ``Embedding(tgt_vocab_size, embedding_dim)``; decoder
    ``GRU(units, return_sequences=True, return_state=True)``; ``Dense(tgt_vocab_size,
    activation="softmax")``. Keep Keras' default activations and no recurrent dropout (cuDNN).

    Returns ``(model, encoder, decoder)`` (the training model may call the ``encoder``
    model itself, as a layer):

    - ``model``: ``[src (batch, S), tgt_in (batch, L)]`` -> probabilities
      ``(batch, L, tgt_vocab_size)``: the decoder GRU starts from the encoder's state and
      reads ``tgt_in`` (teacher forcing). Compiled with Adam (``LEARNING_RATE``,
      ``global_clipnorm=CLIPNORM``) and sparse categorical cross-entropy.
    - ``encoder``: ``src (batch, S)`` -> state ``(batch, units)``.
    - ``decoder``: ``[token (batch, 1), state (batch, units)]`` -> ``[probabilities
      (batch, 1, tgt_vocab_size), new state (batch, units)]``: one step.
    """
    # BEGIN SOLUTION hint: create the five layers once, then wire three keras.Model from them
    source_embedding = keras.layers.Embedding(src_vocab_size, embedding_dim,
                                              name="source_embedding")
    target_embedding = keras.layers.Embedding(tgt_vocab_size, embedding_dim,
                                              name="target_embedding")
    encoder_gru = keras.layers.GRU(units, name="encoder_gru")
    decoder_gru = keras.layers.GRU(units, return_sequences=True, return_state=True,
                                   name="decoder_gru")
    output = keras.layers.Dense(tgt_vocab_size, activation="softmax", name="probabilities")

    src = keras.Input(shape=(None,), dtype="int32", name="source")
    state = encoder_gru(source_embedding(src))                     # (batch, units)
    encoder = keras.Model(src, state, name="encoder")

    tgt_in = keras.Input(shape=(None,), dtype="int32", name="target_in")
    sequence, _ = decoder_gru(target_embedding(tgt_in), initial_state=state)  # (batch, L, u)
    model = keras.Model([src, tgt_in], output(sequence), name="seq2seq")

    token = keras.Input(shape=(1,), dtype="int32", name="token")
    state_in = keras.Input(shape=(units,), name="state")
    step, state_out = decoder_gru(target_embedding(token), initial_state=state_in)
    decoder = keras.Model([token, state_in], [output(step), state_out], name="decoder")

    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE,
                                                  global_clipnorm=CLIPNORM),
                  loss="sparse_categorical_crossentropy", weighted_metrics=["accuracy"])
    return model, encoder, decoder
    # END SOLUTION


def greedy_decode(encoder: keras.Model, decoder: keras.Model, src: np.ndarray, start_id: int,
                  end_id: int, max_len: int) -> list[list[int]]:
    """Decode each row of ``src (batch, S)`` greedily: a list of id lists, one per row.

    Encode ``src`` once; then feed ``start_id`` and, step by step, the most likely id the
    decoder returns, with its new state. A row's list holds the ids emitted after
    ``start_id``: it stops before ``end_id`` (not included) or after ``max_len`` ids. Stop
    early once every row has ended.
    """
    # BEGIN SOLUTION hint: encode once; loop max_len steps feeding back the argmax and state
    src = np.asarray(src, dtype=np.int32)
    batch = len(src)
    state = keras.ops.convert_to_numpy(encoder(src, training=False))  # (batch, units)
    token = np.full((batch, 1), start_id, dtype=np.int32)
    outputs: list[list[int]] = [[] for _ in range(batch)]
    done = np.zeros(batch, dtype=bool)
    for _ in range(max_len):
        probs, state = (keras.ops.convert_to_numpy(t)
                        for t in decoder([token, state], training=False))
        best = np.argmax(probs[:, -1], axis=-1)                   # (batch,)
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


def beam_search_decode(encoder: keras.Model, decoder: keras.Model, src: np.ndarray,
                       start_id: int, end_id: int, max_len: int,
                       beam_width: int = 3) -> list[list[int]]:
    """Decode each row of ``src (batch, S)`` by beam search: a list of id lists, one per row.

    A hypothesis is a partial answer (the ids after ``start_id``), its score (a sum of
    natural logs of the decoder's probabilities, as float64) and its decoder state. Each
    row is searched on its own, with a width ``k`` that starts at ``beam_width``:

    1. The row starts with one live hypothesis: no ids, score 0, the row's encoder state
       (the whole batch is encoded once).
    2. At each step, every live hypothesis is fed to the decoder (its last id, or
       ``start_id`` while it has none, with its state) and extended by every id ``v`` of
       the vocabulary: the extension's score is the hypothesis' score plus
       ``log(max(p_v, PROBABILITY_FLOOR))``, ``p_v`` the decoder's probability of ``v``.
    3. The ``k`` highest-scoring extensions over all the row's live hypotheses are kept
       (all of them if there are fewer); ties go to the earlier in (hypothesis order, id)
       order. The kept ones, best first (ties: earlier first), are the new hypothesis order.
       A kept extension by ``end_id`` is set aside as finished: ``end_id`` is not one of
       its ids, but its log probability stays in its score, and ``k`` decreases by one
       (the beam narrows). The other kept extensions are the new live hypotheses, with the
       decoder's new states.
    4. The search stops when no hypothesis is live (``k`` reached 0) or after ``max_len``
       steps. The result is the ids of the highest-scoring hypothesis among the finished
       ones (in the order they were set aside) followed by the still-live ones (in their
       order); ties go to the first. No length normalisation: a finished answer scores the
       log probability of its ids followed by ``end_id``, a live one (``max_len`` ids) that
       of its ids alone.

    So at most ``max_len`` ids per row, never ``end_id``; ``beam_width=1`` gives
    ``greedy_decode``'s answers. Every step runs the decoder once, on the live hypotheses of
    all rows together.
    """
    if beam_width < 1:
        raise ValueError(f"beam_width must be >= 1, got {beam_width}")
    # BEGIN SOLUTION hint: per row keep (ids, score, state) hypotheses; one decoder batch a step
    src = np.asarray(src, dtype=np.int32)
    batch = len(src)
    states = keras.ops.convert_to_numpy(encoder(src, training=False))  # (batch, units)
    # The live hypotheses of all rows, grouped by row, each row's in hypothesis order.
    owner = np.arange(batch)                                       # row of each hypothesis
    sequences: list[list[int]] = [[] for _ in range(batch)]
    scores = np.zeros(batch, dtype=np.float64)
    tokens = np.full(batch, start_id, dtype=np.int32)
    width = np.full(batch, beam_width)                             # k, per row
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
        for row in np.unique(owner):
            rows = np.flatnonzero(owner == row)                     # ascending: stays grouped
            flat = candidates[rows].ravel()                         # (hypothesis, id) order
            for index in np.argsort(-flat, kind="stable")[: width[row]]:
                live, token = rows[index // vocab], int(index % vocab)
                if token == end_id:
                    finished[row].append((float(flat[index]), sequences[live]))
                    width[row] -= 1
                else:
                    keep_rows.append(live)
                    keep_ids.append(token)
                    keep_scores.append(float(flat[index]))
        keep = np.asarray(keep_rows, dtype=np.int64)
        owner, states = owner[keep], new_states[keep]
        sequences = [[*sequences[live], token] for live, token in zip(keep_rows, keep_ids,
                                                                      strict=True)]
        scores = np.asarray(keep_scores, dtype=np.float64)
        tokens = np.asarray(keep_ids, dtype=np.int32)
    results = []
    for row in range(batch):
        options = finished[row] + [(float(scores[live]), sequences[live])
                                   for live in np.flatnonzero(owner == row)]
        best = max(range(len(options)), key=lambda n: (options[n][0], -n))  # first on ties
        results.append([int(i) for i in options[best][1]])
    return results
    # END SOLUTION
