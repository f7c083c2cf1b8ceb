"""Sentiment classifiers: many-to-one RNNs and Kim's (2014) CNN over word embeddings.

Every model here reads a batch of padded token ids ``(batch, T)`` (int32; id 0 is padding,
id 1 out-of-vocabulary) and returns the probability that each review is positive,
``(batch, 1)``. The pipeline is always the same:

    ids (batch, T) -> Embedding -> vectors (batch, T, d) -> encoder -> features -> Dense(1)

The encoder is either a recurrent layer that reads the sequence left to right and keeps only
its final state (many-to-one), or a bank of 1-D convolutions whose outputs are max-pooled over
time. The kit pads at the front (``"pre"``), so the last real word is the last step the RNN
sees and no mask is needed.

The embedding layer starts from a pretrained matrix (e.g. GloVe, see
``build_embedding_matrix``) and is frozen unless asked otherwise. Create it with
``input_dim``/``output_dim`` and load the matrix with ``layer.set_weights([matrix])`` once the
model is built, or pass ``embeddings_initializer=keras.initializers.Constant(matrix)``
(keras.io's pretrained-embeddings example): both are graded the same.

Build every model from built-in Keras pieces (``keras.Input``, ``keras.layers``, functional
``keras.Model`` or ``keras.Sequential``, either API): the grader saves the models your
functions return and reloads them without running your code, so ``Lambda`` layers and
subclassed layers or models cannot be graded. The grader also trains your architecture
from its own fresh start, so keep every learned number in a layer's weights: constant
arrays passed to ``keras.ops`` calls in a model may hold at most 256 numbers in total.
Memory a model needs is its own: one whose layers declare more than 100,000,000 parameters
is refused before it is built, and one whose building or training needs more memory than
the grader gives a call (6 GiB by default; the container's size on a smaller Gradescope
machine) fails the checks that need it, with the same maximum.
"""

from __future__ import annotations

import keras
import numpy as np

CELLS = ("rnn", "gru", "lstm")
"""The recurrent cells ``build_rnn_classifier`` accepts."""

LEARNING_RATE = 1e-3
"""Adam's step size for every model in this module."""


def build_embedding_matrix(vocab, glove, seed: int = 0) -> np.ndarray:
    """An embedding matrix for ``vocab`` from GloVe: float32 ``(len(vocab), glove.dim)``.

    Row ``i`` is the vector of the token with id ``i``. Row 0 (padding) is all zeros. A word
    GloVe knows gets its GloVe vector; every other row, including row 1 (out-of-vocabulary),
    gets a small random normal vector (standard deviation 0.1, seeded with ``seed``), so those
    words start distinguishable but close to the origin.

    ``vocab`` is a ``seqlab.text.Vocabulary`` (``vocab.itos[i]`` is the token of id ``i``) and
    ``glove`` a ``seqlab.glove.GloVe`` (``word in glove``, ``glove.vector(word) -> (dim,)``).
    """
    # BEGIN SOLUTION hint: seeded random normal rows, row 0 zeros, GloVe vectors for known words
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, 0.1, size=(len(vocab), glove.dim)).astype(np.float32)
    matrix[0] = 0.0
    for token_id, word in enumerate(vocab.itos):
        if token_id >= 2 and word in glove:
            matrix[token_id] = glove.vector(word)
    return matrix
    # END SOLUTION


def build_rnn_classifier(embedding_matrix: np.ndarray, cell: str = "gru", units: int = 64,
                         bidirectional: bool = False,
                         trainable_embeddings: bool = False) -> keras.Model:
    """A many-to-one recurrent classifier: ids ``(batch, T)`` -> probabilities ``(batch, 1)``.

    The embedding turns ids into vectors ``(batch, T, d)``; the recurrent layer (``cell`` is
    ``"rnn"`` for SimpleRNN, ``"gru"`` or ``"lstm"``, with ``units`` = u) reads them and returns
    only its final state ``(batch, u)``; with ``bidirectional=True`` a second layer reads the
    sequence backwards and the two final states are concatenated, ``(batch, 2u)``
    (``Bidirectional``, or by hand: a second layer with ``go_backwards=True`` and
    ``Concatenate``). A
    ``Dense(1, activation="sigmoid")`` turns the state into a probability.

    ``embedding_matrix`` is ``(vocab_size, d)``; the embedding starts from it exactly and is
    frozen unless ``trainable_embeddings=True``. Keep Keras' default activations and no
    ``recurrent_dropout`` so the layer can run on the fast cuDNN kernel on a GPU. The model is
    compiled with Adam, binary cross-entropy and accuracy.
    """
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
    # BEGIN SOLUTION hint: Embedding, recurrent layer (Bidirectional if asked), Dense(1), compile
    vocab_size, dim = embedding_matrix.shape
    layer_class = {"rnn": keras.layers.SimpleRNN, "gru": keras.layers.GRU,
                   "lstm": keras.layers.LSTM}[cell]

    inputs = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    embedding = keras.layers.Embedding(vocab_size, dim, trainable=trainable_embeddings,
                                       name="embedding")
    x = embedding(inputs)                                      # (batch, T, d)
    recurrent = layer_class(units, name=cell)                  # final state only
    if bidirectional:
        recurrent = keras.layers.Bidirectional(recurrent, name=f"bi_{cell}")
    x = recurrent(x)                                           # (batch, u) or (batch, 2u)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="output")(x)
    model = keras.Model(inputs, outputs, name=f"{'bi' if bidirectional else ''}{cell}_classifier")

    # Load the matrix after building, so it is not written into the model's config.
    embedding.set_weights([np.asarray(embedding_matrix, dtype=np.float32)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
                  loss="binary_crossentropy", metrics=["accuracy"])
    return model
    # END SOLUTION


def build_cnn_classifier(embedding_matrix: np.ndarray, filter_sizes: tuple[int, ...] = (3, 4, 5),
                         num_filters: int = 100, dropout: float = 0.5,
                         trainable_embeddings: bool = False) -> keras.Model:
    """Kim's (2014) CNN: ids ``(batch, T)`` -> probabilities ``(batch, 1)``, for T >= max size.

    For each region size k in ``filter_sizes`` a ``Conv1D(num_filters, k, activation="relu")``
    slides over the embedded words ``(batch, T, d)`` and gives ``(batch, T - k + 1, F)``: each
    filter is an n-gram detector. ``GlobalMaxPooling1D`` keeps each filter's strongest match
    anywhere in the text, ``(batch, F)``; the branches are concatenated,
    ``(batch, len(filter_sizes) * F)``, then ``Dropout(dropout)`` and
    ``Dense(1, activation="sigmoid")``.

    ``embedding_matrix`` is ``(vocab_size, d)``; the embedding starts from it exactly and is
    frozen unless ``trainable_embeddings=True`` (Kim's "static" vs "non-static"). The model is
    compiled with Adam, binary cross-entropy and accuracy.
    """
    # BEGIN SOLUTION hint: Embedding, a Conv1D + max-pool branch per size, concat, Dropout, Dense(1)
    vocab_size, dim = embedding_matrix.shape
    inputs = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    embedding = keras.layers.Embedding(vocab_size, dim, trainable=trainable_embeddings,
                                       name="embedding")
    x = embedding(inputs)                                      # (batch, T, d)
    pooled = []
    for size in filter_sizes:
        h = keras.layers.Conv1D(num_filters, size, activation="relu", name=f"conv_{size}")(x)
        pooled.append(keras.layers.GlobalMaxPooling1D(name=f"pool_{size}")(h))   # (batch, F)
    x = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name="concat")(pooled)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="output")(x)
    model = keras.Model(inputs, outputs, name="cnn_classifier")

    # Load the matrix after building, so it is not written into the model's config.
    embedding.set_weights([np.asarray(embedding_matrix, dtype=np.float32)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
                  loss="binary_crossentropy", metrics=["accuracy"])
    return model
    # END SOLUTION
