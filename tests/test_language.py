"""Language guesses on real wordfreq lists: the rule, its fallbacks, and the frequency proxy."""

import numpy as np
import pytest

from precompute.language import language_columns, wordfreq_languages


@pytest.fixture(scope="module")
def guesses():
    texts = ["▁the", "▁när", "▁cuando", "▁똠뚧", "สหรัฐอเมริกา", "▁", "xqzwv", "<s>"]
    categories = np.array(["LATIN", "LATIN", "LATIN", "HANGUL", "THAI", "Unknown", "LATIN", "P"])
    hints = [None, "da", None, None, "th", None, None, None]
    return language_columns(texts, categories, hints)


def test_wordfreq_guesses_the_language_where_the_word_is_most_frequent(guesses):
    assert guesses["language"].tolist()[:3] == ["en", "sv", "es"]
    assert (guesses["language_source"][:3] == "wordfreq").all()
    assert guesses["language_confidence"][0] == pytest.approx(0.7605, abs=1e-3)
    assert guesses["language_confidence"][1] > 0.99  # a wordfreq entry beats the CLDR hint "da"
    # frequency is the sum over languages; confidence the English share of it
    assert guesses["frequency"][0] * guesses["language_confidence"][0] == pytest.approx(0.0537, abs=1e-3)


def test_fallbacks_cldr_then_script_then_none(guesses):
    assert guesses.loc[3, ["language", "language_source"]].tolist() == ["ko", "script"]
    assert guesses.loc[4, ["language", "language_source"]].tolist() == ["th", "cldr"]
    assert guesses["language_confidence"][3:5].tolist() == [1.0, 1.0]
    for row in (5, 6, 7):
        assert guesses["language"].isna()[row] and guesses["language_source"][row] == "none"
        assert guesses["language_confidence"][row] == 0 and guesses["frequency"][row] == 0


def test_columns_types_and_languages(guesses):
    assert list(guesses.columns) == ["language", "language_confidence", "language_source", "frequency"]
    assert guesses["language_confidence"].dtype == np.float32 and guesses["frequency"].dtype == np.float32
    assert len(wordfreq_languages()) == 42 and "sv" in wordfreq_languages()


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="categories has 1 entries for 2 texts"):
        language_columns(["a", "b"], np.array(["LATIN"]))
