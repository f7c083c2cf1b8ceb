"""The ``captioning`` assignment's trusted worker code (imported by :mod:`autograder.worker`).

* :func:`reference_captioner`: the grader's own CNN encoder and GRU decoder with seeded,
  wide random weights (so different pictures get different captions), handed to the
  student's ``greedy_captions`` and ``beam_search_captions``;
* :func:`beam_reference`: beam search exactly as the contract's docstring says, written
  plainly (one image, one hypothesis at a time; the code lab 7's beam search is graded
  with too, :func:`autograder.generative_models.beam_reference`), and the greedy paths,
  both on the grader's model: the references the checks compare with;
* :func:`captioning_probe` and :func:`captioning_train`: a student's three models, probed
  (shapes, shared weights) or trained with the grader's recipe and decoded greedily.

Never imports student code: models are reloaded with ``safe_mode``
(:func:`autograder.keras_inspect.load`).
"""

from __future__ import annotations

import numpy as np

from autograder.generative_models import beam_reference as shared_beam_reference
from autograder.generative_models import (
    encoder_decoder_probe,
    greedy_paths,
    train_encoder_decoder,
)


def reference_captioner(vocab_size: int, image_shape, filters, embedding_dim: int,
                        units: int, seed: int):
    """The grader's ``(encoder, decoder)``: images ``(batch, *image_shape)`` to a state
    ``(batch, units)``; ``[token (batch, 1), state]`` to ``[probabilities (batch, 1,
    vocab_size), state]``; seeded random weights."""
    import keras

    keras.utils.set_random_seed(seed)
    normal = keras.initializers.RandomNormal
    images = keras.Input(shape=tuple(image_shape))
    x = keras.layers.Rescaling(1.0 / 255)(images)
    for count in filters:
        x = keras.layers.Conv2D(count, 3, padding="same", activation="relu",
                                kernel_initializer=normal(stddev=1.0))(x)
        x = keras.layers.MaxPooling2D(2)(x)
    state = keras.layers.Dense(units, activation="tanh", kernel_initializer=normal(stddev=1.0))(
        keras.layers.Flatten()(x))
    encoder = keras.Model(images, state, name="grader_encoder")
    # Wide embeddings and recurrent weights: paths that wander over the vocabulary, and
    # beams that part from the greedy path (see captioning.INPUTS).
    embedding = keras.layers.Embedding(vocab_size, embedding_dim,
                                       embeddings_initializer=normal(stddev=2.0))
    gru = keras.layers.GRU(units, return_sequences=True, return_state=True,
                           recurrent_initializer=normal(stddev=1.0))
    output = keras.layers.Dense(vocab_size, activation="softmax",
                                kernel_initializer=normal(stddev=1.0))
    token = keras.Input(shape=(1,), dtype="int32")
    state_in = keras.Input(shape=(units,))
    step, new_state = gru(embedding(token), initial_state=state_in)
    decoder = keras.Model([token, state_in], [output(step), new_state], name="grader_decoder")
    return encoder, decoder


BUILDERS = {"captioner": reference_captioner}


def beam_reference(encoder, decoder, images: np.ndarray, start_id: int, end_id: int,
                   max_len: int, beam_width: int) -> list[tuple[list[int], float]]:
    """Per image, the contract's beam search result and its score (natural log): the
    grader's :func:`autograder.generative_models.beam_reference` on the pictures as float32."""
    return shared_beam_reference(encoder, decoder, np.asarray(images, dtype="float32"),
                                 start_id, end_id, max_len, beam_width)


def captioning_references(task: dict) -> dict:
    """The grader's greedy paths (``max_len`` ids, never stopped) and, for each beam call
    (``end_id``, ``max_len``, ``beam_width``), every image's beam result and score."""
    encoder, decoder = reference_captioner(**task["build"])
    images = np.asarray(task["images"], dtype="float32")
    paths = greedy_paths(encoder, decoder, images, task["start_id"], task["max_len"])
    beams = []
    for call in task["beams"]:
        found = beam_reference(encoder, decoder, images, task["start_id"], call["end_id"],
                               call["max_len"], call["beam_width"])
        beams.append({"ids": [ids for ids, _ in found], "scores": [s for _, s in found]})
    return {"paths": paths.tolist(), "beams": beams}


def captioning_probe(task: dict) -> dict:
    """:func:`encoder_decoder_probe` of a student's captioner on random pictures of the
    case's ``image_shape`` (pixel values 0-255)."""
    height, width, channels = task["image_shape"]

    def pictures(rows):
        return lambda rng: rng.integers(0, 256, size=(rows, height, width, channels)
                                        ).astype("float32")

    probes = [(pictures(rows), {"batch": rows, "tgt_len": tgt_len})
              for rows, tgt_len in task["probes"]]
    return encoder_decoder_probe(task["models"], probes, task["vocab_size"],
                                 np.random.default_rng(1))


def captioning_train(task: dict) -> dict:
    """:func:`train_encoder_decoder` on every (picture, reference caption) pair, decoding
    the test pictures; the test scenes and captions stay with the parent, which rates
    the captions."""
    return train_encoder_decoder(task, lambda arrays: arrays["images"][arrays["pair_image"]],
                                 lambda arrays: arrays["test_images"].astype("float32"),
                                 forbidden=("test_scenes", "test_captions"))


KINDS = {"captioning_references": captioning_references, "captioning_probe": captioning_probe,
         "captioning_train": captioning_train}
