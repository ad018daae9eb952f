"""Surface-text decoding (METHODS §1) on hand-written pieces of each tokenizer family."""

import numpy as np
import pytest

from precompute.sources.decode import (
    build_vocabulary,
    byte_to_unicode,
    decode_byte_level,
    decode_sentencepiece,
    decode_wordpiece,
    guess_kind,
    special_by_name,
    tokenizer_kind,
)


def test_byte_to_unicode_is_gpt2_map():
    table = byte_to_unicode()
    assert len(table) == 256 and len(set(table.values())) == 256
    assert table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ" and table[ord("a")] == "a"


def test_byte_level_decodes_utf8_and_shows_spaces_as_boundary():
    texts, is_byte = decode_byte_level(["ĠHello", "ĠĠ", "æĹ¥", "Ċ", "ãģ", "Ġãģ"])
    # 日 is E6 97 A5; "ãģ" is E3 81, the first two bytes of a kana: not text on its own.
    assert texts == ["▁Hello", "▁▁", "日", "\n", "<0xE3><0x81>", "▁<0xE3><0x81>"]
    assert is_byte.tolist() == [False, False, False, False, True, True]


def test_byte_level_keeps_pieces_outside_the_byte_alphabet():
    texts, is_byte = decode_byte_level(["日本", "<|endoftext|>"])
    assert texts == ["日本", "<|endoftext|>"] and not is_byte.any()


def test_sentencepiece_keeps_boundary_and_flags_byte_fallback():
    texts, is_byte = decode_sentencepiece(["▁the", "<0xE3>", "<0x0A>", "s", "<0xZZ>"])
    assert texts == ["▁the", "<0xE3>", "<0x0A>", "s", "<0xZZ>"]
    assert is_byte.tolist() == [False, True, True, False, False]


def test_wordpiece_marks_word_starts_and_strips_continuations():
    texts, _ = decode_wordpiece(["play", "##ing", "##", "日"])
    assert texts == ["▁play", "ing", "▁##", "▁日"]


def test_build_vocabulary_keeps_special_tokens_raw():
    vocab = build_vocabulary(["[CLS]", "play", "##ing", "[unused0]", "[SEP]"], "wordpiece", special_ids=[0])
    assert vocab.texts == ["[CLS]", "▁play", "ing", "[unused0]", "[SEP]"]
    assert vocab.is_special.tolist() == [True, False, False, True, True]


def test_build_vocabulary_byte_level_special_is_not_a_byte():
    vocab = build_vocabulary(["<|endoftext|>", "Ġa", "ãģ"], "byte-bpe", special_ids=[0])
    assert vocab.texts == ["<|endoftext|>", "▁a", "<0xE3><0x81>"]
    assert vocab.is_special.tolist() == [True, False, False]
    assert vocab.is_byte.tolist() == [False, False, True]


def test_build_vocabulary_pads_rows_past_the_tokenizer():
    vocab = build_vocabulary(["<pad>", "▁a", "b"], "sentencepiece", n_rows=5)
    assert vocab.texts == ["<pad>", "▁a", "b", "<unused 3>", "<unused 4>"]
    assert vocab.is_special.tolist() == [True, False, False, True, True]
    assert vocab.is_byte.tolist() == [False] * 5


def test_build_vocabulary_rejects_more_tokens_than_rows():
    with pytest.raises(ValueError, match="3 tokens but the embedding matrix only 2 rows"):
        build_vocabulary(["a", "b", "c"], "plain", n_rows=2)
    with pytest.raises(ValueError, match="unknown tokenizer kind"):
        build_vocabulary(["a"], "morse")


def test_special_by_name_is_narrow():
    names = ["<pad>", "</s>", "[CLS]", "[unused12]", "<|endoftext|>", "<extra_id_7>", "extra_token_id_1",
             "<div>", "<br>", "<0xE3>", "[citation]", "▁<s>"]
    assert special_by_name(names).tolist() == [True] * 7 + [False] * 5


def test_guess_kind_from_pieces():
    assert guess_kind(["Ġthe", "Ġa", "b"]) == "byte-bpe"
    assert guess_kind(["[CLS]", "the", "##s"]) == "wordpiece"
    assert guess_kind(["<s>", "▁the", "s"]) == "sentencepiece"
    assert guess_kind(["the", "cat"]) == "plain"
    assert guess_kind([]) == "plain"


def test_tokenizer_kind_from_components():
    assert tokenizer_kind("BPE", "ByteLevel(add_prefix_space=False)") == "byte-bpe"
    assert tokenizer_kind("WordPiece", 'WordPiece(prefix="##")') == "wordpiece"
    assert tokenizer_kind("Unigram", "Metaspace()") == "sentencepiece"
    assert tokenizer_kind("BPE", 'Replace(pattern=String("▁"), content=" ")') == "sentencepiece"
    assert tokenizer_kind("WordLevel", "Whitespace()") == "plain"


def test_decoding_a_large_vocabulary_is_fast():
    import time

    pieces = [f"Ġtok{i}" for i in range(250_000)]
    start = time.perf_counter()
    texts, is_byte = decode_byte_level(pieces)
    assert texts[7] == "▁tok7" and not np.any(is_byte)
    assert time.perf_counter() - start < 5
