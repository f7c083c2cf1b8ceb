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
    # BEGIN SOLUTION hint: drop the tail, reshape to (batch_size, n_steps), transpose
    data = np.asarray(data)
    n_steps = len(data) // batch_size
    return np.ascontiguousarray(data[: n_steps * batch_size].reshape(batch_size, n_steps).T)
    # END SOLUTION


def get_batch(source: np.ndarray, i: int, bptt: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and next-character targets for the window of rows starting at row ``i``.

    ``source`` is ``batchify``'s ``(n_steps, batch_size)``. With
    ``L = min(bptt, len(source) - 1 - i)`` (the last window may be shorter),
    ``x = source[i:i+L].T`` and ``y = source[i+1:i+1+L].T``, both ``(batch_size, L)``:
    ``y[:, t]`` is the character that follows ``x[:, t]``.
    """
    # BEGIN SOLUTION hint: L = min(bptt, len(source) - 1 - i); slice rows, shift by one, transpose
    length = min(bptt, len(source) - 1 - i)
    x = source[i : i + length].T
    y = source[i + 1 : i + 1 + length].T
    return np.ascontiguousarray(x), np.ascontiguousarray(y)
    # END SOLUTION


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
    # BEGIN SOLUTION hint: Input (batch_shape when stateful), Embedding, GRU/LSTM, Dense, compile
    if batch_size is None:
        inputs = keras.Input(shape=(None,), dtype="int32", name="char_ids")
    else:
        inputs = keras.Input(batch_shape=(batch_size, None), dtype="int32", name="char_ids")
    x = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")(inputs)
    layer_class = keras.layers.GRU if cell == "gru" else keras.layers.LSTM
    x = layer_class(units, return_sequences=True, stateful=batch_size is not None,
                    name=cell)(x)                                  # (batch, T, units)
    logits = keras.layers.Dense(vocab_size, name="logits")(x)      # (batch, T, vocab_size)
    model = keras.Model(inputs, logits, name=f"char_lm_{cell}")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE,
                                                  global_clipnorm=CLIPNORM),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model
    # END SOLUTION


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
    # BEGIN SOLUTION hint: argmax at T=0; else a stable softmax of logits/T, then one draw per row
    logits = np.atleast_2d(np.asarray(logits, dtype=np.float64))
    if temperature == 0:
        return np.argmax(logits, axis=-1).astype(np.int64)
    rng = rng if rng is not None else np.random.default_rng()
    scaled = logits / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    probs = np.exp(scaled)
    probs /= probs.sum(axis=-1, keepdims=True)
    cumulative = np.cumsum(probs, axis=-1)
    draws = rng.random((probs.shape[0], 1))
    ids = (cumulative <= draws * cumulative[:, -1:]).sum(axis=-1)  # inverse CDF per row
    return np.minimum(ids, probs.shape[-1] - 1).astype(np.int64)
    # END SOLUTION


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
    # BEGIN SOLUTION hint: seeded rng, stateful_copy; read the prime, then sample and feed back
    rng = np.random.default_rng(seed)
    runner = stateful_copy(model)
    x = np.asarray([prime], dtype=np.int32)                          # (1, len(prime))
    out: list[int] = []
    for _ in range(length):
        logits = keras.ops.convert_to_numpy(runner(x, training=False))[:, -1]  # (1, vocab)
        out.append(int(sample_next(logits, temperature, rng)[0]))
        x = np.asarray([[out[-1]]], dtype=np.int32)                  # (1, 1)
    return out
    # END SOLUTION
