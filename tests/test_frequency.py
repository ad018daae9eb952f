"""Corpus token counts through the real ``datasets`` text loader, offline."""

import numpy as np
import pytest

from precompute.analyses import frequency
from precompute.analyses.frequency import corpus_texts, count_tokens, frequency_table

VOCAB = {"a": 0, "b": 1, "c": 2, "d": 3}


def encode(text: str) -> list[int]:
    return [VOCAB[w] for w in text.split()]


@pytest.fixture
def offline(monkeypatch):
    """No hub access, whether or not ``datasets`` was imported before (it reads the variables then)."""
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture
def corpus(tmp_path, offline):
    (tmp_path / "one.txt").write_text("a b c\nb c\n", encoding="utf-8")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "two.txt").write_text("c\n\nd a\n", encoding="utf-8")
    return tmp_path


def test_corpus_texts_reads_local_files_through_datasets(corpus):
    assert list(corpus_texts(str(corpus))) == ["c", "", "d a", "a b c", "b c"]  # nested/two.txt sorts first
    assert list(corpus_texts(str(corpus / "one.txt"), limit=1)) == ["a b c"]


def test_count_tokens_exact(corpus, monkeypatch):
    monkeypatch.setattr(frequency, "BATCH_TEXTS", 2)  # several batches
    counts = count_tokens(encode, corpus_texts(str(corpus)), vocab_size=5, progress=False)
    assert counts.tolist() == [2, 2, 3, 1, 0]
    table = frequency_table(counts)
    assert table["id"].tolist() == [0, 1, 2, 3, 4] and table["count"].dtype == np.int64


def test_an_id_outside_the_vocabulary_is_an_error():
    with pytest.raises(ValueError, match="emitted id 3, outside the vocabulary of 3 ids"):
        count_tokens(encode, ["a d"], vocab_size=3, progress=False)


def test_hub_id_offline_tells_to_pass_local_files(offline):
    with pytest.raises(ValueError, match="pass local text files instead"):
        corpus_texts("allenai/c4", config_name="sv", limit=2)


def test_unreachable_hub_fails_at_once(monkeypatch):
    """One connection probe, not the data set client's retries, when the hub cannot be reached."""
    import huggingface_hub.constants

    for proxy in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "https://hub.invalid")  # a reserved name
    with pytest.raises(ValueError, match=r"\(no connection to the hub\)\. Without network access pass local"):
        corpus_texts("allenai/c4", config_name="sv", limit=2)
