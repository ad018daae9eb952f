"""Shared vocabulary and vocabulary overlap on three hand-made token tables, counted by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from precompute.analyses.overlap import shared_vocabulary, vocabulary_overlap
from precompute.contract import schema
from precompute.contract.categories import token_categories


def token_table(texts: list[str], special: set[str] = frozenset(), byte: set[str] = frozenset(),
                zero: set[int] = frozenset()) -> pd.DataFrame:
    n = len(texts)
    return pd.DataFrame({
        "id": range(n), "text": texts, "category": token_categories(texts),
        "is_special": [t in special for t in texts], "is_byte": [t in byte for t in texts],
        "is_zero": [i in zero for i in range(n)],
    })


@pytest.fixture
def tables() -> dict[str, pd.DataFrame]:
    # eligible a: ▁the ▁кот ▁東京 a ▁dog 7   (▁the twice: ids 1 and 8; ▁zero is a zero row)
    # eligible b: ▁the ▁кот a 7 ▁cat ▁zero
    # eligible c: ▁the ▁東京 a 7 ▁кот x
    return {
        "a": token_table(["<pad>", "▁the", "▁кот", "▁東京", "a", "<0xE3>", "▁dog", "7", "▁the", "▁zero"],
                         special={"<pad>"}, byte={"<0xE3>"}, zero={9}),
        "b": token_table(["[CLS]", "▁the", "▁кот", "a", "7", "▁cat", "<0xE3>", "▁zero"],
                         special={"[CLS]"}, byte={"<0xE3>"}),
        "c": token_table(["▁the", "▁東京", "a", "7", "▁кот", "x"]),
    }


def test_shared_vocabulary_keeps_texts_in_every_model_with_lowest_ids(tables):
    shared = shared_vocabulary(tables)
    assert list(shared.columns) == ["text", "category", "id__a", "id__b", "id__c"]
    assert shared["text"].tolist() == ["7", "a", "▁the", "▁кот"]  # code-point order
    assert shared["category"].tolist() == ["N", "LATIN", "LATIN", "CYRILLIC"]
    assert shared["id__a"].tolist() == [7, 4, 1, 2]  # ▁the: id 1, not its duplicate 8
    assert shared["id__b"].tolist() == [4, 3, 1, 2]
    assert shared["id__c"].tolist() == [3, 2, 0, 4]
    assert all(shared[schema.shared_id_column(s)].dtype == "int32" for s in "abc")


def test_vocabulary_overlap_counts_every_ordered_pair(tables):
    overlap = vocabulary_overlap(tables).set_index(["model_a", "model_b"])
    assert len(overlap) == 9
    assert overlap.loc[("a", "b"), "n_shared"] == 4  # ▁the ▁кот a 7
    assert overlap.loc[("a", "b"), "n_shared_non_latin"] == 2  # ▁кот 7
    assert overlap.loc[("a", "b"), "non_latin_share"] == pytest.approx(0.5)
    assert overlap.loc[("a", "c"), "n_shared"] == 5  # + ▁東京
    assert overlap.loc[("a", "c"), "non_latin_share"] == pytest.approx(0.6)
    assert overlap.loc[("c", "a"), "n_shared"] == 5
    assert overlap.loc[("b", "c"), "n_shared"] == 4
    # Diagonal: the whole eligible vocabulary (no special, byte, zero row; a duplicate counted once).
    assert overlap.loc[("a", "a"), "n_shared"] == 6
    assert overlap.loc[("b", "b"), "n_shared"] == 6
    assert overlap.loc[("b", "b"), "non_latin_share"] == pytest.approx(1 / 3)
    assert overlap.loc[("c", "c"), "n_shared_non_latin"] == 3


def test_no_shared_text_gives_zero_and_a_null_share(tables):
    tables = {"a": tables["a"], "sv": token_table(["▁hej", "på"])}
    overlap = vocabulary_overlap(tables).set_index(["model_a", "model_b"])
    assert overlap.loc[("a", "sv"), "n_shared"] == 0
    assert pd.isna(overlap.loc[("a", "sv"), "non_latin_share"])
    assert overlap.loc[("sv", "sv"), "non_latin_share"] == 0.0
    assert shared_vocabulary(tables).empty


def test_missing_flag_column_says_what_is_needed(tables):
    with pytest.raises(ValueError, match=r"token table of 'a' lacks columns \['is_byte'\]"):
        shared_vocabulary({"a": tables["a"].drop(columns="is_byte")})
