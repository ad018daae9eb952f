"""Language guesses on real wordfreq lists: the rule, its prior, fallbacks and threshold, the frequency proxy."""

import numpy as np
import pandas as pd
import pytest

from precompute.analyses.language import (
    SHOWN_CONFIDENCE,
    has_letter,
    language_columns,
    language_shares,
    vocabulary_prior,
    wordfreq_languages,
)

#: A small English vocabulary: its prior is English, so "her" and "end" read as English.
ENGLISH = ["▁the", "▁and", "▁of", "▁her", "▁here", "▁end", "▁when", "▁house", "▁water", "▁people", "▁Her", "▁tall"]


@pytest.fixture(scope="module")
def guesses():
    texts = ["▁the", "▁när", "▁cuando", "▁똠뚧", "สหรัฐอเมริกา", "▁", "xqzwv", "<s>", "4", "▁5%", "★"]
    categories = np.array(["LATIN", "LATIN", "LATIN", "HANGUL", "THAI", "Unknown", "LATIN", "P", "N", "N", "S"])
    hints = [None, "da", None, None, "th", None, None, None, None, None, None]
    return language_columns(texts, categories, hints)


def test_wordfreq_guesses_the_most_likely_language(guesses):
    assert guesses["language"].tolist()[:3] == ["en", "sv", "es"]
    assert (guesses["language_source"][:3] == "wordfreq").all()
    assert guesses["language_confidence"][0] == pytest.approx(0.9871, abs=1e-3)
    assert guesses["language_confidence"][1] > 0.99  # a wordfreq entry beats the CLDR hint "da"
    # frequency is the plain sum over languages, whatever the prior
    assert guesses["frequency"][0] == pytest.approx(0.0706, abs=1e-3)


def test_fallbacks_cldr_then_script_then_none(guesses):
    assert guesses.loc[3, ["language", "language_source"]].tolist() == ["ko", "script"]
    assert guesses.loc[4, ["language", "language_source"]].tolist() == ["th", "cldr"]
    assert guesses["language_confidence"][3:5].tolist() == [1.0, 1.0]
    for row in (5, 6, 7):
        assert guesses["language"].isna()[row] and guesses["language_source"][row] == "none"
        assert guesses["language_confidence"][row] == 0 and guesses["frequency"][row] == 0


def test_tokens_without_a_letter_get_no_language_but_keep_their_frequency(guesses):
    # wordfreq lists "4" in Korean, "5%" in Chinese and "★" in Japanese: none is a language's word
    for row in (8, 9, 10):
        assert guesses["language_guess"].isna()[row] and guesses["language"].isna()[row]
        assert guesses["language_source"][row] == "none" and guesses["language_confidence"][row] == 0
    assert guesses["frequency"][8] == pytest.approx(0.0289, abs=1e-3)  # "4" is frequent all the same
    assert has_letter(pd.Series(["4", "½", "ो", "ʰ", "a4", "ก", ""], dtype="string")).tolist() == [
        False, False, False, True, True, True, False]


def test_a_guess_under_the_threshold_is_kept_but_not_shown():
    texts = ["的", "是", "中国", "の", "です", "日本", "雄"]
    cjk = language_columns(texts, np.array(["CJK", "CJK", "CJK", "HIRAGANA", "HIRAGANA", "CJK", "CJK"]))
    assert cjk["language"].tolist()[:5] == ["zh", "zh", "zh", "ja", "ja"]
    # 日本 and 雄 are written alike in Chinese and Japanese: the guess is kept, not shown
    assert cjk["language_guess"].tolist()[5:] == ["zh", "zh"] and cjk["language"].isna().tolist()[5:] == [True, True]
    assert cjk["language_confidence"][5:].tolist() == pytest.approx([0.523, 0.563], abs=1e-3)
    shown = cjk["language"].notna()
    assert (cjk.loc[shown, "language_confidence"] >= SHOWN_CONFIDENCE).all() and SHOWN_CONFIDENCE == 0.9


def test_the_vocabulary_prior_reads_english_words_as_english():
    # wordfreq alone: Turkish "her" (every) and Danish "end" (than) outrank the English words
    alone = language_shares(pd.Series(["her", "end"])).sort_values("share").groupby("word").tail(1)
    assert dict(zip(alone["word"], alone["language"], strict=True)) == {"her": "tr", "end": "da"}
    english = language_columns(ENGLISH, np.array(["LATIN"] * len(ENGLISH)))
    assert english["language_guess"].tolist() == ["en"] * len(ENGLISH)
    assert english.loc[10, "language"] == "en"  # ▁Her
    assert english["language_confidence"][10] > 0.999  # twelve English words: the prior is all but English


def test_the_prior_is_the_vocabularys_language_mixture():
    mixed = ["▁när", "▁och", "▁inte", "▁cuando", "▁pero", "▁the", "▁and"]
    hits = language_shares(pd.Series([t[1:] for t in mixed]))
    prior = vocabulary_prior(hits)
    assert prior.sum() == pytest.approx(1.0)
    assert prior[["sv", "es", "en"]].sum() > 0.9
    assert prior["sv"] == pytest.approx(3 / 7, abs=0.05) and prior["es"] == pytest.approx(2 / 7, abs=0.05)


def test_columns_types_and_languages(guesses):
    assert list(guesses.columns) == ["language", "language_guess", "language_confidence", "language_source",
                                     "frequency"]
    assert str(guesses["language"].dtype) == str(guesses["language_guess"].dtype) == "string"
    assert guesses["language_confidence"].dtype == np.float32 and guesses["frequency"].dtype == np.float32
    assert len(wordfreq_languages()) == 42 and "sv" in wordfreq_languages()


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="categories has 1 entries for 2 texts"):
        language_columns(["a", "b"], np.array(["LATIN"]))
