"""GloVe 6B 50d offline: loading, neighbours, analogies, embedding matrices, subsets."""

import numpy as np
import pytest

from seqlab.glove import GloVe, load_glove, load_glove_file
from seqlab.text import Vocabulary


@pytest.fixture(scope="module")
def glove():
    return load_glove()


def test_packaged_vectors_are_memory_mapped_and_loaded_once(glove):
    assert len(glove) == 400_000 and glove.dim == 50
    assert isinstance(glove.vectors, np.memmap)
    assert load_glove() is glove
    assert glove.words[0] == "the"


def test_king_minus_man_plus_woman_is_queen(glove):
    answers = [w for w, _ in glove.analogy("man", "king", "woman", k=3)]
    assert answers[0] == "queen"


def test_neighbours_of_good_are_evaluative_words(glove):
    near = [w for w, _ in glove.neighbours("good", k=10)]
    assert "good" not in near
    assert {"better", "bad"} & set(near)
    scores = [s for _, s in glove.neighbours("terrible", k=5)]
    assert scores == sorted(scores, reverse=True)
    assert "horrible" in [w for w, _ in glove.neighbours("terrible", k=5)]


def test_similarity_and_unknown_word(glove):
    assert glove.similarity("good", "great") > glove.similarity("good", "carburetor")
    with pytest.raises(KeyError, match="not in GloVe"):
        glove.vector("qwzxnotaword")


def test_embedding_matrix_rows_and_oov_statistics(glove):
    vocab = Vocabulary(["the", "good", "cliche-ridden", "qwzxnotaword"])
    emb = glove.embedding_matrix(vocab, seed=0)
    assert emb.matrix.shape == (6, 50) and emb.matrix.dtype == np.float32
    assert not emb.matrix[0].any()
    np.testing.assert_array_equal(emb.matrix[vocab.lookup("good")], glove.vector("good"))
    parts = (glove.vector("cliche") + glove.vector("ridden")) / 2
    np.testing.assert_allclose(emb.matrix[vocab.lookup("cliche-ridden")], parts, rtol=1e-6)
    assert emb.missing == ["qwzxnotaword"] and emb.composed == ["cliche-ridden"]
    assert emb.oov_rate == pytest.approx(0.25)
    again = glove.embedding_matrix(vocab, seed=0)
    np.testing.assert_array_equal(emb.matrix, again.matrix)


def test_save_subset_is_small_and_round_trips(glove, tmp_path):
    vocab = Vocabulary(["good", "bad", "qwzxnotaword"])
    path = glove.save_subset(vocab, tmp_path / "glove_subset.npz")
    assert path.stat().st_size < 10_000
    small = load_glove_file(path)
    assert isinstance(small, GloVe) and sorted(small.words) == ["bad", "good"]
    np.testing.assert_array_equal(small.vector("bad"), glove.vector("bad"))
    np.testing.assert_array_equal(small.embedding_matrix(vocab).matrix[2:4],
                                  glove.embedding_matrix(vocab).matrix[2:4])


def test_unsupported_dimension():
    with pytest.raises(ValueError, match="not 64"):
        load_glove(64)


def test_neighbours_in_a_tiny_table():
    small = GloVe(["a", "b", "c"], np.eye(3, dtype=np.float32))
    assert [w for w, _ in small.neighbours("a", k=10)] == ["b", "c"]
