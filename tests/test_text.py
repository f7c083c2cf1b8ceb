"""Tokenizer, vocabulary and padding rules; seqlab.text must not need TensorFlow."""

import subprocess
import sys

import numpy as np
import pytest

from seqlab.text import (
    OOV_ID,
    PAD_ID,
    Vocabulary,
    encode_texts,
    length_stats,
    pad_sequences,
    tokenize,
)


def test_tokenizer_follows_glove_conventions():
    assert tokenize("It's NOT bad, it wasn't great!") == [
        "it", "'s", "not", "bad", "it", "was", "n't", "great", "!"]
    assert tokenize("A well-made film?") == ["a", "well-made", "film", "?"]
    assert tokenize("I can\u2019t") == ["i", "ca", "n't"]


def test_vocabulary_reserves_padding_and_oov_then_orders_by_frequency():
    vocab = Vocabulary.build(["b a b c", "b a"], max_size=10)
    assert vocab.itos[:2] == ["<pad>", "<unk>"]
    assert vocab.words == ["b", "a", "c"]  # 3, 2, 1 occurrences
    assert len(vocab) == 5 and vocab.lookup("zzz") == OOV_ID and vocab.lookup("b") == 2


def test_vocabulary_max_size_counts_reserved_ids_and_ties_break_alphabetically():
    vocab = Vocabulary.build(["d c b a", "a"], max_size=4)
    assert len(vocab) == 4 and vocab.words == ["a", "b"]
    with pytest.raises(ValueError, match="at least 3"):
        Vocabulary.build(["a"], max_size=2)


def test_vocabulary_round_trips(tmp_path):
    vocab = Vocabulary.build(["the movie was good", "the end"], max_size=100)
    vocab.save(tmp_path / "vocab.json")
    again = Vocabulary.load(tmp_path / "vocab.json")
    assert again.itos == vocab.itos
    assert vocab.decode(vocab.encode("the movie")) == "the movie"


def test_pre_padding_and_pre_truncation_keep_the_end():
    out = pad_sequences([[5, 6, 7], [1, 2, 3, 4, 5, 6]], max_len=4)
    assert out.dtype == np.int32
    assert out.tolist() == [[0, 5, 6, 7], [3, 4, 5, 6]]


def test_post_padding_for_the_padding_experiment():
    out = pad_sequences([[5, 6], [1, 2, 3]], max_len=2, padding="post", truncating="post")
    assert out.tolist() == [[5, 6], [1, 2]]
    out = pad_sequences([[5]], max_len=3, padding="post")
    assert out.tolist() == [[5, 0, 0]]


def test_empty_sequences_and_bad_arguments():
    assert pad_sequences([[]], max_len=3).tolist() == [[PAD_ID] * 3]
    with pytest.raises(ValueError, match="'pre' or 'post'"):
        pad_sequences([[1]], 3, padding="middle")


def test_encode_texts_shape_and_unknown_words():
    vocab = Vocabulary.build(["good movie"], max_size=10)
    ids = encode_texts(["good movie", "bad movie indeed"], vocab, max_len=4)
    assert ids.shape == (2, 4)
    assert ids[1].tolist() == [0, OOV_ID, vocab.lookup("movie"), OOV_ID]
    assert length_stats(["a b c", "a"])["max"] == 3


def test_text_module_works_without_tensorflow():
    code = ("import sys; sys.modules['tensorflow'] = None\n"
            "import seqlab.text, seqlab.data, seqlab.glove\n"
            "v = seqlab.text.Vocabulary.build(['a b'], 5)\n"
            "print(seqlab.text.encode_texts(['a b'], v, 3).tolist())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[[0, 2, 3]]"


def test_accented_words_stay_whole():
    assert tokenize("Naïveté, clichés and Almodóvar") == ["naïveté", "clichés", "and", "almodóvar"]
