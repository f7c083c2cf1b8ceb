# Starter code generated from solutions/char_lm.py by `python -m seqlab.starter`.
# Write your code where a function raises NotImplementedError: replace each
# `raise NotImplementedError(...)` with your implementation. Keep the names, signatures and
# return types: the notebooks and the autograder call them.
"""A character-level language model: truncated backpropagation through time, then sampling.

The model reads characters (ids, ``(batch, T)``) and predicts, at every step, the next one:

    ids (batch, T) -> Embedding -> (batch, T, d) -> GRU/LSTM -> (batch, T, u) -> Dense -> logits

Training on a long corpus uses the scheme of PyTorch's word_language_model example:

1. ``batchify`` cuts the corpus (1-D ids) into ``batch_size`` equal columns, side by side,
   ``(n_steps, batch_size)``: column j is the j-th slice of the text, so each row of a batch
   follows its own slice from beginning to end. With the alphabet and 4 columns::

       a g m s
       b h n t
       c i o u        (y and z, which do not fill a row, are dropped)
       d j p v
       e k q w
       f l r x

2. ``get_batch`` takes ``bptt`` consecutive rows starting at row ``i`` as the input and the
   same rows shifted by one as the target (the next character), transposed to batch first.
3. A *stateful* recurrent layer keeps its final state from one window to the next, so the
   model sees the whole column as one long sequence while gradients flow back at most
   ``bptt`` steps (truncated BPTT). Reset the state (``reset_state``) at the start of every
   epoch and before evaluating.

Generation (Karpathy's char-rnn): feed a prime, draw the next character from
``softmax(logits / temperature)``, feed it back, and repeat.

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

CELLS = ("gru", "lstm")
"""The recurrent cells ``build_char_lm`` accepts."""

LEARNING_RATE = 2e-3
"""Adam's step size."""

CLIPNORM = 1.0
"""All gradients together are scaled down to at most this global norm (``global_clipnorm``:
lab 1's ``clip_by_global_norm``, which keeps the update's direction; Keras' ``clipnorm`` would
clip each weight's gradient on its own and turn the update)."""


def batchify(data: np.ndarray, batch_size: int) -> np.ndarray:
    """Cut 1-D ids ``data`` into ``batch_size`` columns: ``(n_steps, batch_size)``.

    ``n_steps = len(data) // batch_size``; the tail that does not fill a row is dropped.
    Column ``j`` is ``data[j * n_steps:(j + 1) * n_steps]``: consecutive text runs *down* a
    column, not along a row.
    """
    raise NotImplementedError(
        "batchify: drop the tail, reshape to (batch_size, n_steps), transpose (not implemented yet)"
    )


def get_batch(source: np.ndarray, i: int, bptt: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and next-character targets for the window of rows starting at row ``i``.

    ``source`` is ``batchify``'s ``(n_steps, batch_size)``. With
    ``L = min(bptt, len(source) - 1 - i)`` (the last window may be shorter),
    ``x = source[i:i+L].T`` and ``y = source[i+1:i+1+L].T``, both ``(batch_size, L)``:
    ``y[:, t]`` is the character that follows ``x[:, t]``.
    """
    raise NotImplementedError(
        "get_batch: L = min(bptt, len(source) - 1 - i); slice rows, shift by one, transpose "
        "(not implemented yet)"
    )


def build_char_lm(vocab_size: int, embedding_dim: int = 32, units: int = 128, cell: str = "gru",
                  batch_size: int | None = None) -> keras.Model:
    """A character language model: ids ``(batch, T)`` -> logits ``(batch, T, vocab_size)``.

    ``Embedding(vocab_size, embedding_dim)`` -> (batch, T, embedding_dim); a ``GRU`` or
    ``LSTM`` (``cell``) with ``units`` units and ``return_sequences=True`` -> (batch, T,
    units); ``Dense(vocab_size)`` with no activation -> logits. Works for any T.

    With ``batch_size`` given, the input is ``keras.Input(batch_shape=(batch_size, None))``
    and the recurrent layer is ``stateful=True``: its final state becomes the next call's
    initial state until ``reset_state(model)``. Without it, the model is stateless (a zero
    state every call). Keep Keras' default activations and no recurrent dropout (cuDNN).
    Compiled with Adam (``LEARNING_RATE``, ``global_clipnorm=CLIPNORM``) and sparse categorical
    cross-entropy from logits.
    """
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
    raise NotImplementedError(
        "build_char_lm: Input (batch_shape when stateful), Embedding, GRU/LSTM, Dense, compile "
        "(not implemented yet)"
    )


def reset_state(model: keras.Model) -> None:
    """Zero the state of every stateful recurrent layer of ``model`` (given, not graded).

    Keras 3 keeps a stateful layer's state in variables that ``layer.reset_state()`` zeroes;
    the model itself has no such method, so this calls it on each layer that has one.
    """
    for layer in model.layers:
        if getattr(layer, "stateful", False) and hasattr(layer, "reset_state"):
            layer.reset_state()


def sample_next(logits: np.ndarray, temperature: float = 1.0,
                rng: np.random.Generator | None = None) -> np.ndarray:
    """One id per row of ``logits (batch, vocab_size)``, drawn from softmax(logits / T).

    ``temperature`` T below 1 sharpens the distribution (safer, more repetitive text), above
    1 flattens it (more surprising, more mistakes). ``temperature=0`` is the argmax. Draws
    use ``rng`` (a ``numpy.random.Generator``; a fresh unseeded one if None). Returns int64
    ``(batch,)`` (a 1-D ``logits`` counts as one row).
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    raise NotImplementedError(
        "sample_next: argmax at T=0; else a stable softmax of logits/T, then one draw per row "
        "(not implemented yet)"
    )


def stateful_copy(model: keras.Model, batch_size: int = 1) -> keras.Model:
    """A copy of ``model`` with its weights, whose recurrent layers are stateful for
    ``batch_size`` rows (given, not graded).

    Feeding it one id at a time carries the state from call to call, so generating n ids
    costs n one-step calls instead of re-reading the whole text at every step.
    """
    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, keras.layers.RNN):
            config["stateful"] = True
        return layer.__class__.from_config(config)

    inputs = keras.Input(batch_shape=(batch_size, None), dtype="int32")
    copy = keras.models.clone_model(model, input_tensors=inputs, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def generate(model: keras.Model, prime_ids, length: int, temperature: float = 1.0,
             seed: int = 0) -> list[int]:
    """``length`` ids sampled one at a time after ``prime_ids`` from a stateless ``model``.

    Each new id is drawn by ``sample_next`` (with ``temperature`` and one
    ``numpy.random.default_rng(seed)``) from the logits ``(1, vocab_size)`` that follow
    everything so far: the prime (at least one id), then the ids drawn before it, fed back.
    Re-reading the whole sequence at every step is correct but slow (quadratic); instead,
    read the prime once with ``stateful_copy(model)`` and then feed it only the id just
    drawn, ``(1, 1)``, its state carrying the rest. Returns the new ids only; the same seed
    gives the same ids.
    """
    prime = [int(i) for i in prime_ids]
    if not prime:
        raise ValueError("prime_ids must hold at least one id")
    raise NotImplementedError(
        "generate: seeded rng, stateful_copy; read the prime, then sample and feed back "
        "(not implemented yet)"
    )
