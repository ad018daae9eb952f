"""CLDR translation clusters, MUSE dictionaries, and the meaning statistics on a hand-made vocabulary."""

import math

import numpy as np
import pandas as pd
import pytest

from precompute.analyses import lexicon
from precompute.analyses.lexicon import concept_columns, load_muse_dictionaries, word_stems
from precompute.analyses.meaning import (
    meaning_artifacts,
    one_word_or_language,
    translation_sets,
    translations_per_token,
)
from precompute.contract import schema
from precompute.contract.schema import CACHE_ENV


def test_cldr_names_in_many_languages_form_one_concept():
    texts = ["▁アメリカ合衆国", "美国", "▁미국", "▁USA", "▁januari", "▁Montag", "▁май", "▁dog", "▁"]
    got = concept_columns(texts)
    assert got["concept"].tolist()[:4] == ["territory:US"] * 4
    assert got["gloss"][0] == "United States"
    # the locale is a hint only when one language alone uses the name
    hints = got["concept_language"]
    assert hints[0] == "ja" and hints[2] == "ko" and pd.isna(hints[1])  # 美国: zh and yue
    assert got.loc[4, ["concept", "gloss"]].tolist() == ["month:1", "January"]
    assert got.loc[5, ["concept", "gloss", "concept_language"]].tolist() == ["day:1", "Monday", "de"]
    assert got["concept"][6] == "month:5"  # May in seven languages beats Maithili in one
    assert got[["concept", "gloss", "concept_language"]].iloc[7:].isna().all().all()


def test_the_concept_table_is_computed_once_and_read_back_as_it_was(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    lexicon.concept_table.cache_clear()
    computed = lexicon.concept_table()
    assert list(tmp_path.glob("precompute/cldr-concepts-*.arrow"))
    lexicon.concept_table.cache_clear()  # a new process: the file, not the computation

    def not_again():
        raise AssertionError("computed again although the cache holds it")

    monkeypatch.setattr(lexicon, "_concept_rows", not_again)
    read = lexicon.concept_table()
    lexicon.concept_table.cache_clear()  # other tests compute their own
    assert read.equals(computed) and read.index.name == "name"
    assert read.loc["januari", "languages"] == computed.loc["januari", "languages"]
    assert isinstance(read.loc["januari", "languages"], frozenset) and "sv" in read.loc["januari", "languages"]
    assert pd.isna(read.loc["美国", "concept_language"]) and read.loc["미국", "concept_language"] == "ko"


def test_names_that_are_common_words_name_no_concept():
    # "here" is October, "man" the Isle of Man, "dan" Danish, "mai" May in some locale: as tokens
    # they are the English, Indonesian and Romanian/Italian words, so neither concept nor gloss.
    got = concept_columns(["▁here", "▁Man", "dan", "▁mai", "▁Deutschland", "▁januari", "▁world"])
    assert got["concept"].isna().tolist() == [True] * 4 + [False] * 3
    assert got["gloss"].tolist()[4:] == ["Germany", "January", "world"]


def test_cldr_names_count_in_the_languages_that_use_them():
    texts = ["▁Köln", "▁januari", "▁mae", "▁Deutschland", "▁美国"]
    # köln is Colognian in Azerbaijani only, mae May in Breton only: read as German and English, neither
    got = concept_columns(texts, languages=pd.Series(["de", "sv", "en", "de", "zh"]))
    assert got["concept"].fillna("").tolist() == ["", "month:1", "", "territory:DE", "territory:US"]
    assert got["gloss"].fillna("").tolist() == ["", "January", "", "Germany", "United States"]
    # without languages (the hints the language guess reads) every name counts
    assert concept_columns(texts)["concept"].tolist()[:3] == ["language:ksh", "month:1", "month:5"]


def test_word_stems_join_case_accent_and_inflection_variants_only():
    texts = ["▁Welt", "welt", "WELT", "▁Türk", "turk", "İtalya", "▁italya", "ト", "ド", "▁world",
             "листопад", "▁листопада", "сентябрь", "сентября", "hund", "hond", "lutego", "luty"]
    stems = word_stems(texts)
    same = (stems @ stems.T).toarray() > 0
    groups = [sorted(np.flatnonzero(row).tolist()) for row in same]
    assert groups[:10] == [[0, 1, 2]] * 3 + [[3, 4]] * 2 + [[5, 6]] * 2 + [[7], [8], [9]]
    assert groups[10:14] == [[10, 11]] * 2 + [[12, 13]] * 2  # inflected: the last one or two letters
    assert groups[14:] == [[14], [15], [16], [17]]  # other words; luty/lutego differ in more than 2


@pytest.fixture
def vocabulary():
    """Seven tokens: two countries in two scripts each, a Swedish-English pair, and a special token."""
    return pd.DataFrame(
        {
            "id": np.arange(7, dtype=np.int32),
            "text": ["▁USA", "美国", "▁Sverige", "スウェーデン", "▁dog", "▁hund", "<s>"],
            "category": ["LATIN", "CJK", "LATIN", "KATAKANA", "LATIN", "LATIN", "P"],
            "is_special": [False] * 6 + [True],
            "is_zero": [False] * 7,
            # the special token claims a concept: it must still be left out
            "concept": ["territory:US", "territory:US", "territory:SE", "territory:SE", None, None, "territory:US"],
        }
    )


@pytest.fixture
def dictionary():
    return pd.DataFrame({"english": ["dog"], "foreign": ["hund"], "language": ["sv"]})


def test_translation_sets_join_concepts_and_dictionary(vocabulary, dictionary):
    sets = translation_sets(vocabulary["text"].tolist(), vocabulary["concept"], dictionary)
    assert sets.matrix.shape == (7, 3)
    assert sets.of(0) == {"territory:US"} and sets.of(4) == {"en:dog"} and sets.of(5) == {"en:dog"}


def test_meaning_artifacts_by_hand(vocabulary, dictionary):
    neighbors = np.array(
        [[1, 6, 2], [2, 0, -1], [4, 5, 3], [2, 0, 1], [5, 0, 1], [4, -1, -1], [0, 1, 2]], dtype=np.int32
    )
    out = meaning_artifacts(neighbors, vocabulary, k=2, dictionaries=dictionary)

    per_token = out[schema.MEANING_TOKENS]
    assert per_token["id"].tolist() == [0, 1, 2, 3, 4, 5]
    assert per_token["n_shared"].tolist() == [1, 1, 0, 1, 1, 1]
    assert (per_token["k"] == 2).all()

    meaning = out[schema.MEANING].set_index("category")
    assert meaning.loc["LATIN", "n_tokens"] == 4
    assert meaning.loc["LATIN", "mean"] == pytest.approx(0.75)
    assert meaning.loc["LATIN", "ci95"] == pytest.approx(1.96 * 0.5 / 2)  # std 0.5 over 4 tokens
    assert meaning.loc["CJK", "mean"] == 1 and math.isnan(meaning.loc["CJK", "ci95"])
    assert "P" not in meaning.index
    # Chance: each of the six tokens shares meaning with one of the 5 other eligible tokens, so
    # 2 random neighbours hold 2 x 1/5 of a translation on average, in every category.
    assert meaning["chance_mean"].tolist() == pytest.approx([0.4] * 3)

    # dog/hund share meaning but not a script: only the four country names enter retrieval
    retrieval = out[schema.TRANSLATION_RETRIEVAL].set_index("category")
    assert retrieval.loc["LATIN"].tolist() == [2, 0.5, 1.0]
    assert retrieval.loc["CJK"].tolist() == [1, 0.0, 1.0]
    assert retrieval.loc["KATAKANA"].tolist() == [1, 1.0, 1.0]


def test_meaning_without_dictionary_counts_concepts_only(vocabulary):
    neighbors = np.array([[5, 4], [0, 2], [3, 0], [2, 1], [5, 0], [4, 0], [0, 1]], dtype=np.int32)
    out = meaning_artifacts(neighbors, vocabulary, k=2)
    assert out[schema.MEANING_TOKENS]["n_shared"].tolist() == [0, 1, 1, 1]


def test_surface_variants_are_no_translation(vocabulary):
    # ▁USA's neighbour "usa" names the same concept but is the same word: not counted, by chance either.
    tokens = pd.concat([vocabulary, pd.DataFrame({
        "id": [7], "text": ["usa"], "category": ["LATIN"], "is_special": [False], "is_zero": [False],
        "concept": ["territory:US"],
    })], ignore_index=True).astype({"id": np.int32})
    neighbors = np.array([[7, 1], [7, 0], [3, 0], [2, 0], [5, 0], [4, 0], [0, 1], [1, 0]], dtype=np.int32)
    out = meaning_artifacts(neighbors, tokens, k=2)
    assert out[schema.MEANING_TOKENS]["n_shared"].tolist() == [1, 2, 1, 1, 1]  # 美国 has two translations
    meaning = out[schema.MEANING].set_index("category")
    # LATIN ▁USA, ▁Sverige, usa share with 1, 1, 1 others; CJK 美国 with 2 (of 6 other eligible tokens).
    assert meaning.loc["LATIN", "chance_mean"] == pytest.approx(2 * 1 / 6)
    assert meaning.loc["CJK", "chance_mean"] == pytest.approx(2 * 2 / 6)


def test_chance_expectation_matches_a_simulation():
    # 40 tokens in 6 meaning clusters plus 10 without one; some clusters hold surface variants.
    rng = np.random.default_rng(3)
    words = [f"▁w{i}" for i in range(40)]
    words[1], words[2] = "▁W0", "w0"  # variants of ▁w0
    concepts = pd.Series([f"c{i % 6}" if i < 30 else None for i in range(40)], dtype=object)
    sets = translation_sets(words, concepts).matrix
    stems = word_stems(words)
    k, draws = 5, 200_000
    expected = k * translations_per_token(sets, stems) / 39
    dense = (sets @ sets.T).toarray() > 0
    same = (stems @ stems.T).toarray() == 0
    token = np.repeat(np.arange(40), draws // 40)
    others = np.argsort(rng.random((len(token), 40)) + (np.arange(40) == token[:, None]), axis=1)[:, :k]
    hits = (dense[token[:, None], others] & same[token[:, None], others]).sum(axis=1)
    simulated = np.bincount(token, weights=hits) / np.bincount(token)
    print(f"chance, exact vs simulated: max |difference| {np.abs(expected - simulated).max():.3f}")
    assert translations_per_token(sets, stems)[[0, 6, 35]].tolist() == [4, 4, 0]  # ▁w0: c0 minus its 2 variants
    assert simulated == pytest.approx(expected, abs=0.04)  # 5,000 draws per token: s.e. <= 0.01


def test_two_words_of_one_language_are_no_translation():
    # German Anfang and Beginn both give "beginning": synonyms of one language, not translations; Swedish
    # början translates both
    dictionary = pd.DataFrame({"english": ["beginning"] * 3, "foreign": ["anfang", "beginn", "början"],
                               "language": ["de", "de", "sv"]})
    tokens = pd.DataFrame({
        "id": np.arange(4, dtype=np.int32), "text": ["▁Anfang", "▁Beginn", "▁början", "▁dog"], "category": "LATIN",
        "is_special": False, "is_zero": False, "concept": None, "language_guess": ["de", "de", "sv", "en"],
    })
    neighbors = np.array([[1, 2], [0, 2], [0, 1], [0, 1]], dtype=np.int32)
    out = meaning_artifacts(neighbors, tokens, k=2, dictionaries=dictionary)
    assert out[schema.MEANING_TOKENS]["n_shared"].tolist() == [1, 1, 2]
    meaning = out[schema.MEANING].set_index("category")
    # chance: Anfang and Beginn have one translation among the 3 other eligible tokens, början two
    assert meaning.loc["LATIN", "mean"] == pytest.approx(4 / 3)
    assert meaning.loc["LATIN", "chance_mean"] == pytest.approx((2 / 3 + 2 / 3 + 4 / 3) / 3)
    sets = translation_sets(tokens["text"].tolist(), tokens["concept"], dictionary, tokens["language_guess"]).matrix
    same = one_word_or_language(tokens["text"].tolist(), tokens["language_guess"])
    assert translations_per_token(sets, same, np.array([0, 1, 1, 0])).tolist() == [[0, 1], [0, 1], [1, 1], [0, 0]]
    # without language guesses only the stems keep words apart: the German pair counts
    unguessed = meaning_artifacts(neighbors, tokens.drop(columns="language_guess"), k=2, dictionaries=dictionary)
    assert unguessed[schema.MEANING_TOKENS]["n_shared"].tolist() == [2, 2, 2]


def test_k_beyond_the_stored_neighbours_is_an_error(vocabulary):
    with pytest.raises(ValueError, match="k must lie in 1..2"):
        meaning_artifacts(np.zeros((7, 2), dtype=np.int32), vocabulary, k=3)


def test_byte_piece_neighbours_are_refused_and_muse_follows_the_language(vocabulary, dictionary):
    neighbors = np.array([[1, 6], [2, 0], [4, 5], [2, 0], [5, 0], [4, 0], [0, 1]], dtype=np.int32)
    as_byte = vocabulary.assign(is_byte=[False] * 6 + [True])  # <s> read as a byte piece: ▁USA lists it
    with pytest.raises(ValueError, match="1 tokens have byte pieces"):
        meaning_artifacts(neighbors, as_byte, k=2)
    # ▁hund guessed Swedish finds "dog" in the Swedish MUSE file; guessed Danish it finds nothing
    for language, shared in (("sv", [1, 1]), ("da", [0, 0])):
        guessed = vocabulary.assign(language_guess=["en", "zh", "sv", "ja", "en", language, None])
        out = meaning_artifacts(neighbors, guessed, k=2, dictionaries=dictionary)[schema.MEANING_TOKENS]
        assert out.set_index("id").reindex([4, 5])["n_shared"].fillna(0).astype(int).tolist() == shared


def test_muse_loader_skips_malformed_lines(tmp_path):
    (tmp_path / "en-sv.txt").write_text("dog hund\ncat katt\nthree words here\n\nalone\nDog Hund\n", encoding="utf-8")
    (tmp_path / "de-en.txt").write_text("Hund\tdog\n", encoding="utf-8")
    (tmp_path / "README.txt").write_text("not a dictionary\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="en-sv.txt: skipped 2 malformed line"):
        got = load_muse_dictionaries(tmp_path)
    assert got.attrs["malformed"] == {"en-sv.txt": 2}
    assert sorted(map(tuple, got.to_numpy().tolist())) == [
        ("cat", "katt", "sv"), ("dog", "hund", "de"), ("dog", "hund", "sv")
    ]


def test_muse_loader_without_dictionaries_says_what_it_wants(tmp_path):
    with pytest.raises(ValueError, match="expected files named en-xx.txt or xx-en.txt"):
        load_muse_dictionaries(tmp_path)
