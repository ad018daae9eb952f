"""Corpus token counts through the real ``datasets`` text loader, offline; token counts estimated from word
lists with a small real tokenizer."""

import os

import numpy as np
import pandas as pd
import pytest

from precompute.analyses import frequency
from precompute.analyses.frequency import corpus_texts, count_tokens, frequency_table
from precompute.analyses.tokens import frequency_deciles
from precompute.contract import schema
from precompute.sources.base import TokenizerFile

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


def toy_tokenizer(rows: np.ndarray | None = None) -> TokenizerFile:
    """A Unigram tokenizer over 10 pieces that lower-cases and marks word starts with ▁, as XLM-R does."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    pieces = ["<unk>", "▁the", "▁cat", "s", "▁a", "▁", ",", "c", "a", "t"]
    tk = Tokenizer(models.Unigram([(p, -1.0) for p in pieces], unk_id=0, byte_fallback=False))
    tk.normalizer = normalizers.Lowercase()
    tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    return TokenizerFile("tokenizers", lambda: tk.to_str().encode("utf-8"), rows)


def test_word_lists_are_split_as_in_running_text_and_weighted_by_word_and_language():
    words = pd.DataFrame({"word": ["the", "cats", "a", "The", "cat", "tac"],
                          "language": ["en", "en", "en", "en", "sv", "xx"],
                          "frequency": [0.5, 0.25, 0.125, 0.0625, 0.5, 1.0]})
    counts = frequency.weighted_token_counts(toy_tokenizer(), words, 10, {"en": 3.0, "sv": 1.0})
    # en weighs 3/4, sv 1/4; "xx" has no share. "The" goes through the normaliser: ▁the.
    # ▁the: (0.5 + 0.0625) * 0.75; ▁cat: 0.25 * 0.75 (cats) + 0.5 * 0.25 (sv cat); s: 0.25 * 0.75;
    # ▁a: 0.125 * 0.75; ▁ and "," no word produces; c, a, t only "tac", of no listed language.
    assert counts.tolist() == pytest.approx([0, 0.421875, 0.3125, 0.1875, 0.09375, 0, 0, 0, 0, 0])


def test_tokenizer_ids_are_counted_at_their_rows():
    words = pd.DataFrame({"word": ["cats"], "language": ["en"], "frequency": [1.0]})
    rows = np.array([-1, -1, 1, 0, -1, -1, -1, -1, -1, -1])  # a sample of two rows: s, ▁cat
    counts = frequency.weighted_token_counts(toy_tokenizer(rows), words, 2, {"en": 1.0})
    assert counts.tolist() == [1.0, 1.0]


def test_no_estimate_is_its_own_decile_and_never_seen_only_for_a_corpus():
    freq = np.array([0.0, 1.0, 2.0, 0.0, 5.0])
    eligible = np.array([True, True, True, True, False])
    assert frequency_deciles(freq, eligible, estimated=True).tolist() == [-2, 1, 6, -2, -1]
    assert frequency_deciles(freq, eligible).tolist() == [0, 1, 6, 0, -1]
    assert schema.NO_ESTIMATE_DECILE == -2 and "-2 = no estimate" in schema.DECILE_MEANING


def test_characters_a_normalizer_changes_are_found_in_few_calls():
    calls: list[str] = []

    def lower(text: str) -> str:
        calls.append(text)
        return text.lower()

    assert frequency.changed_characters(lower, list("abcdefgH")) == {"H"}
    assert len(calls) == 7  # the whole run, then halves down to "H": not one call per character
    verdicts: dict[int, bool] = {}
    assert frequency.untouched_by(lower, ["cat", "Cat", "", "dOg"], verdicts).tolist() == [True, False, True, False]
    calls.clear()
    assert frequency.untouched_by(lower, ["tag", "Tag"], verdicts).tolist() == [True, False]
    assert calls == ["T"]  # only the character not judged before


def test_a_word_that_several_languages_list_is_split_once():
    encode = frequency.batch_encoder(toy_tokenizer())
    asked: list[str] = []

    def counting(texts: list[str]):
        asked.extend(texts)
        return encode(texts)

    ids, word = frequency.word_pieces(counting, ["cats", "the", "cats"], np.array([False, False, False]))
    assert ids.tolist() == [2, 3, 1, 2, 3] and word.tolist() == [0, 0, 1, 2, 2]  # ▁cat s | ▁the | ▁cat s
    assert sorted(asked) == ["a", "a cats", "a the", "。"]  # each text once, and each context alone


def test_the_tokenizer_runs_on_one_thread_inside_and_as_before_after(monkeypatch):
    monkeypatch.setenv(frequency.PARALLELISM_ENV, "true")
    with frequency.one_thread():
        assert os.environ[frequency.PARALLELISM_ENV] == "false"
    assert os.environ[frequency.PARALLELISM_ENV] == "true"
    monkeypatch.delenv(frequency.PARALLELISM_ENV)
    with frequency.one_thread():
        pass
    assert frequency.PARALLELISM_ENV not in os.environ
