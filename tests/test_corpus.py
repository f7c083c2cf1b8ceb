"""Character vocabularies, the char LM corpora (split by document) and the n-gram baseline."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from seqlab import corpus as corpus_module
from seqlab.corpus import CHAR_BUDGETS, SPLITS, load_char_corpus, split_in_order, take_documents
from seqlab.download import DownloadError, Source
from seqlab.ngram import CharNGram, ngram_bits_per_char
from seqlab.text import PAD_ID, CharVocabulary

# --- CharVocabulary -----------------------------------------------------------------------------


def test_char_vocabulary_reserves_padding_then_specials_then_sorted_chars():
    vocab = CharVocabulary.build(["hello", "world"], start=True, end=True, unknown=True)
    assert vocab.itos[:4] == ["<pad>", "<s>", "</s>", "<unk>"]
    assert (vocab.pad_id, vocab.start_id, vocab.end_id, vocab.unknown_id) == (PAD_ID, 1, 2, 3)
    assert vocab.chars == sorted(set("helloworld")) and len(vocab) == 4 + 7
    plain = CharVocabulary.build("ba")
    assert plain.itos == ["<pad>", "a", "b"] and plain.start_id is None
    assert CharVocabulary.build("aab", min_count=2, unknown=True).chars == ["a"]


def test_char_vocabulary_encode_decode():
    vocab = CharVocabulary("abc", start=True, end=True, unknown=True)
    encoded = vocab.encode("cab?", add_start=True, add_end=True)
    assert encoded == [1, 6, 4, 5, 3, 2]
    assert vocab.decode(encoded) == "cab\ufffd"
    assert vocab.decode([*encoded, 4, 0]) == "cab\ufffd"            # stops at the end id
    assert vocab.decode([*encoded, 4, 0], stop_at_end=False) == "cab\ufffda"
    assert vocab.decode([0, 0, 4]) == "a"
    plain = CharVocabulary("ab")
    with pytest.raises(KeyError, match="unknown=True"):
        plain.encode("abc")
    with pytest.raises(ValueError, match="no start token"):
        plain.encode("ab", add_start=True)
    with pytest.raises(ValueError, match="single characters"):
        CharVocabulary(["ab"])
    with pytest.raises(ValueError, match="unique"):
        CharVocabulary("aa")


def test_encode_array_matches_encode():
    text = "Naïve films, 10/10!\nÉtonnant \U0001f600 ok"
    vocab = CharVocabulary.build(text[:20], unknown=True)
    array = vocab.encode_array(text)
    assert array.dtype == np.int32 and array.shape == (len(text),)
    assert array.tolist() == vocab.encode(text)
    assert vocab.encode_array("").shape == (0,)
    with pytest.raises(KeyError):
        CharVocabulary("ab").encode_array("abc")


def test_char_vocabulary_round_trips(tmp_path):
    vocab = CharVocabulary.build("some text\n", end=True)
    vocab.save(tmp_path / "chars.json")
    assert CharVocabulary.load(tmp_path / "chars.json") == vocab


def test_char_helpers_work_without_tensorflow():
    code = ("import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"
            "import seqlab.text, seqlab.programs, seqlab.ngram, seqlab.corpus\n"
            "v = seqlab.text.CharVocabulary.build('ab', unknown=True)\n"
            "print(v.encode_array('abz').tolist())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[2, 3, 1]"


# --- corpora ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reviews():
    return load_char_corpus("rotten_tomatoes", profile="quick", seed=0)


def test_splits_are_disjoint_by_document(reviews):
    docs = {split: set(reviews.documents[split]) for split in SPLITS}
    assert all(docs.values())
    assert not docs["train"] & docs["validation"]
    assert not docs["train"] & docs["test"]
    assert not docs["validation"] & docs["test"]
    assert reviews.text("train") == "\n".join(reviews.documents["train"])
    for split in SPLITS:
        assert reviews.sizes[split] <= CHAR_BUDGETS["quick"][split]


def test_corpus_ids_and_vocabulary(reviews):
    vocab = reviews.vocab
    assert vocab.itos[0] == "<pad>" and vocab.unknown_id == 1 and "\n" in vocab
    train = reviews.ids("train")
    assert train.dtype == np.int32 and len(train) == reviews.sizes["train"]
    assert train.min() >= 1 and train.max() < len(vocab)
    assert vocab.decode(train[:200]) == reviews.train[:200]
    assert 40 < len(vocab) < 100


def test_corpus_is_a_pure_function_of_the_seed(reviews):
    again = load_char_corpus("rotten_tomatoes", profile="quick", seed=0)
    assert again.documents == reviews.documents and again.vocab == reviews.vocab
    other = load_char_corpus("rotten_tomatoes", profile="quick", seed=1)
    assert other.documents["test"] != reviews.documents["test"]


def test_imdb_quick_profile_is_sized_for_a_cpu():
    imdb = load_char_corpus("imdb", profile="quick", seed=0)
    assert 700_000 < imdb.sizes["train"] <= 800_000
    assert 80_000 < imdb.sizes["validation"] <= 100_000
    assert not set(imdb.documents["train"]) & set(imdb.documents["test"])
    assert "<br" not in imdb.train


def test_take_documents_and_split_in_order():
    docs = ["aaaa", "bb", "cccccc", "d"]
    assert take_documents(docs, None) == docs
    assert take_documents(docs, 7) == ["aaaa", "bb"]              # 4 + 1 + 2 = 7
    assert take_documents(docs, 2) == ["aaaa"]                    # at least one document
    parts = split_in_order([f"{i:02d}" * 5 for i in range(20)], (0.9, 0.05, 0.05))
    assert [len(parts[s]) for s in SPLITS] == [18, 1, 1]
    assert parts["validation"] == ["18" * 5] and parts["test"] == ["19" * 5]


def test_unknown_corpus_and_profile():
    with pytest.raises(ValueError, match="unknown corpus"):
        load_char_corpus("wikipedia")
    with pytest.raises(ValueError, match="unknown profile"):
        load_char_corpus("imdb", profile="huge")


SHAKESPEARE = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
               "All:\nSpeak, speak.\n\n") * 200


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = SHAKESPEARE.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_tiny_shakespeare_goes_through_the_checked_download(monkeypatch, tmp_path):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/input.txt"
        good = Source(name="tiny_shakespeare", url=url, filename="tinyshakespeare.txt",
                      sha256=hashlib.sha256(SHAKESPEARE.encode()).hexdigest())
        monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path))
        monkeypatch.setattr("seqlab.download.source", lambda name: good)
        corpus = load_char_corpus("tiny_shakespeare", profile="full")
        assert (tmp_path / "downloads" / "tinyshakespeare.txt").exists()
        assert corpus.separator == "\n\n"
        assert corpus.text("train").startswith("First Citizen:\nBefore we proceed")
        joined = "\n\n".join(d for s in SPLITS for d in corpus.documents[s])
        assert joined == SHAKESPEARE.strip("\n")                  # in order, nothing lost
        assert 0.85 < corpus.sizes["train"] / len(joined) < 0.95

        bad = Source(name="tiny_shakespeare", url=url, filename="other.txt", sha256="0" * 64)
        monkeypatch.setattr("seqlab.download.source", lambda name: bad)
        with pytest.raises(DownloadError, match="corrupted"):
            load_char_corpus("tiny_shakespeare", profile="full")
        assert not (tmp_path / "downloads" / "other.txt").exists()
    finally:
        httpd.shutdown()


def test_tiny_shakespeare_is_in_the_manifest_with_its_checksum():
    from seqlab.download import source

    src = source("tiny_shakespeare")
    assert src.url.endswith("tinyshakespeare/input.txt") and src.size == 1_115_394
    assert src.sha256 == "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
    assert corpus_module.CORPORA[0] == "imdb"


# --- n-gram baseline ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ngram_data(reviews):
    return reviews.ids("train"), reviews.ids("validation"), len(reviews.vocab)


def test_ngram_distributions_are_normalised(ngram_data):
    train, valid, vocab_size = ngram_data
    for order in (1, 3, 6):
        model = CharNGram(order).fit(train[:200_000], vocab_size)
        for history in ([], valid[:10].tolist(), [5, 5, 5, 5, 5], [1]):
            dist = model.distribution(history)
            assert dist.shape == (vocab_size,) and dist[0] == 0.0
            assert np.all(dist[1:] > 0)
            np.testing.assert_allclose(dist.sum(), 1.0, atol=1e-9)
        # The vectorised scores agree with the full distributions.
        logs = model.log2_probs(valid[:60])
        for t in range(0, 60, 7):
            context = valid[max(0, t - order + 1):t].tolist()
            expected = np.log2(model.distribution(context)[valid[t]])
            assert logs[t] == pytest.approx(expected, abs=1e-9)


def test_ngram_bits_per_char_improve_with_order(ngram_data):
    train, valid, vocab_size = ngram_data
    bits = ngram_bits_per_char(train, valid, vocab_size, orders=range(1, 7))
    assert 3.9 < bits[1] < 4.6                                    # about log2 of ~20 letters
    assert bits[3] < bits[1] - 1.0
    assert bits[6] < bits[3]
    assert all(1.0 < b < np.log2(vocab_size - 1) for b in bits.values())
    # Training text is (much) easier than held-out text for a high order.
    model = CharNGram(6).fit(train, vocab_size)
    assert model.bits_per_char(train[:50_000]) < bits[6] - 0.3


def test_ngram_rejects_bad_input():
    with pytest.raises(ValueError, match="order"):
        CharNGram(0)
    with pytest.raises(ValueError, match="padding"):
        CharNGram(2).fit(np.array([0, 1, 2]), 3)
    with pytest.raises(RuntimeError, match="fit"):
        CharNGram(2).bits_per_char(np.array([1]))
