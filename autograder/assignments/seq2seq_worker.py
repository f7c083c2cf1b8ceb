"""The ``seq2seq`` assignment's trusted worker code (imported by :mod:`autograder.worker`).

* :func:`seq2seq_beams`: for each beam call, every source row's beam search result and
  score on the grader's own seeded encoder and decoder
  (:func:`autograder.generative_models.reference_seq2seq`), by the grader's plain beam
  search (:func:`autograder.generative_models.beam_reference`, the one lab 8's
  ``beam_search_captions`` is graded with): the reference ``beam_search_decode`` is
  compared with.

The greedy paths, the probes and the training run are the generative kinds of
:mod:`autograder.generative_models`. Never imports student code.
"""

from __future__ import annotations

import numpy as np

from autograder.generative_models import BUILDERS, beam_reference


def seq2seq_beams(task: dict) -> dict:
    """``{"beams": [{"ids": per row, "scores": per row}, ...]}``, one entry per beam call
    (``end_id``, ``max_len``, ``beam_width``) of ``task["beams"]``, on ``task["src"]``."""
    encoder, decoder = BUILDERS["seq2seq"](**task["build"])
    src = np.asarray(task["src"], dtype="int32")
    beams = []
    for call in task["beams"]:
        found = beam_reference(encoder, decoder, src, task["start_id"], call["end_id"],
                               call["max_len"], call["beam_width"])
        beams.append({"ids": [ids for ids, _ in found], "scores": [s for _, s in found]})
    return {"beams": beams}


KINDS = {"seq2seq_beams": seq2seq_beams}
