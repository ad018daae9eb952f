"""Per-token language guess, its confidence and source, and a word-frequency proxy (METHODS §2, §4).

The guess is the language in which the token's text (boundary mark stripped, lower-cased) is most
frequent as a word in wordfreq's lists; its confidence is that language's share of the word's
frequency summed over all languages. ``frequency`` is that sum: a stand-in for the paper's mC4
counts that weighs every language equally (``precompute frequency`` counts a real corpus instead).
A word found in several languages ("de": es, pt, fr, nl …) is frequent in a multilingual corpus in
all of them, which the sum keeps and a maximum would not.

When wordfreq has no entry, two fallbacks follow, each named in ``language_source``:
``"cldr"`` — the token is a CLDR name (a country, month …) that only one language uses
(``precompute.meaning.concept_columns``); ``"script"`` — a script written by (nearly) one language
(``categories.SCRIPT_LANGUAGE``: HANGUL -> ko). Their confidence is 1.0: the rule admits one
language; it is not a frequency share. Otherwise the language is None, source ``"none"``, confidence 0.

wordfreq tokenizes text itself before its own lookups (CJK segmentation, digit smashing); we
look the token text up as it is, since a token is already a piece of text the model sees whole.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import wordfreq

from precompute.categories import BOUNDARY, SCRIPT_LANGUAGE

#: The wordfreq list consulted: "best" merges every source wordfreq has for a language.
WORDLIST = "best"
SOURCE_WORDFREQ, SOURCE_CLDR, SOURCE_SCRIPT, SOURCE_NONE = "wordfreq", "cldr", "script", "none"


def wordfreq_languages() -> tuple[str, ...]:
    """The languages whose frequency lists are consulted: all that wordfreq ships (42 in 3.1), sorted.

    The order breaks ties between languages with equal frequency (the first wins).
    """
    return tuple(sorted(wordfreq.available_languages(wordlist=WORDLIST)))


@lru_cache(maxsize=1)
def frequency_table() -> pa.Table:
    """Every (word, language, frequency) of wordfreq's lists in one Arrow table, built once a process.

    About 9.4M rows (~10 s to decode, ~200 MB). Read through ``wordfreq.read_cBpack`` rather than
    ``get_frequency_dict``: the latter caches a Python dict and a list per language (several GB for
    all 42); Arrow strings keep the same data compact and allow a vectorised ``is_in`` lookup.
    Columns: ``word`` (str), ``language`` (int8 index into ``wordfreq_languages()``),
    ``frequency`` (float32, wordfreq's proportion 10^(cB/100)).
    """
    files = wordfreq.available_languages(wordlist=WORDLIST)
    parts = []
    for code, lang in enumerate(wordfreq_languages()):
        buckets = wordfreq.read_cBpack(files[lang])  # bucket i holds the words at -i centibels
        sizes = np.fromiter((len(b) for b in buckets), dtype=np.int64, count=len(buckets))
        centibels = -np.repeat(np.arange(len(buckets)), sizes)
        words = pa.array([w for bucket in buckets for w in bucket], type=pa.string())
        parts.append(
            pa.table(
                {
                    "word": words,
                    "language": pa.array(np.full(len(words), code, dtype=np.int8)),
                    "frequency": pa.array((10.0 ** (centibels / 100.0)).astype(np.float32)),
                }
            )
        )
    return pa.concat_tables(parts).combine_chunks()


def normalised_texts(texts: list[str]) -> pd.Series:
    """Token texts as dictionaries see them: every boundary mark removed, lower-cased."""
    return pd.Series(texts, dtype="string").str.replace(BOUNDARY, "", regex=False).str.lower()


def wordfreq_guess(words: pd.Series) -> pd.DataFrame:
    """For each distinct word in ``words`` found in wordfreq: its most frequent language, share, sum.

    Returns a frame indexed by word with columns ``language``, ``language_confidence``,
    ``frequency``; words that no list has are absent.
    """
    table = frequency_table()
    query = pa.array(words.dropna().unique(), type=pa.string())
    hits = table.filter(pc.is_in(table["word"], value_set=query)).to_pandas()
    if hits.empty:
        return pd.DataFrame(columns=["language", "language_confidence", "frequency"])
    total = hits.groupby("word", sort=False)["frequency"].sum()
    # Highest frequency first; among equals the language listed first (stable sort on language).
    best = hits.sort_values(["word", "frequency", "language"], ascending=[True, False, True], kind="stable")
    best = best.drop_duplicates("word").set_index("word")
    languages = np.array(wordfreq_languages(), dtype=object)
    return pd.DataFrame(
        {
            "language": languages[best["language"].to_numpy()],
            "language_confidence": (best["frequency"] / total.reindex(best.index)).to_numpy(np.float32),
            "frequency": total.reindex(best.index).to_numpy(np.float32),
        },
        index=best.index,
    )


def language_columns(
    texts: list[str], categories: np.ndarray, concept_languages: list[str | None] | None = None
) -> pd.DataFrame:
    """The token table's columns ``language, language_confidence, language_source, frequency``.

    ``texts`` are the N token texts, ``categories`` their (N,) categories (precompute.categories),
    ``concept_languages`` the optional (N,) CLDR language hints of ``meaning.concept_columns``.
    See the module docstring for the rule; ``language`` and ``language_source`` are string
    columns (``language`` NA where there is no guess).

        >>> language_columns(["▁the", "▁när", "▁겨울잠"], np.array(["LATIN", "LATIN", "HANGUL"]))["language"].tolist()
        ['en', 'sv', 'ko']
    """
    n = len(texts)
    if len(categories) != n:
        raise ValueError(f"categories has {len(categories)} entries for {n} texts")
    if concept_languages is not None and len(concept_languages) != n:
        raise ValueError(f"concept_languages has {len(concept_languages)} entries for {n} texts")
    words = normalised_texts(texts)
    found = wordfreq_guess(words[words.str.len() > 0])
    matched = found.reindex(words.to_numpy())  # one row per token, NaN where wordfreq has nothing
    in_wordfreq = matched["language"].notna().to_numpy()

    cldr = pd.Series(concept_languages if concept_languages is not None else [None] * n, dtype=object)
    cldr = cldr.where(cldr.notna() & ~in_wordfreq, None)
    script = pd.Series(categories, dtype=object).map(SCRIPT_LANGUAGE)
    script = script.where(script.notna() & ~in_wordfreq & cldr.isna(), None)

    source = np.select(
        [in_wordfreq, cldr.notna().to_numpy(), script.notna().to_numpy()],
        [SOURCE_WORDFREQ, SOURCE_CLDR, SOURCE_SCRIPT],
        default=SOURCE_NONE,
    ).astype(object)
    language = matched["language"].to_numpy(object)
    language = np.where(in_wordfreq, language, cldr.to_numpy(object))
    language = np.where(source == SOURCE_SCRIPT, script.to_numpy(object), language)
    language = np.where(source == SOURCE_NONE, None, language)
    confidence = np.where(
        in_wordfreq, matched["language_confidence"].to_numpy(np.float32, na_value=0), source != SOURCE_NONE
    ).astype(np.float32)
    return pd.DataFrame(
        {
            "language": pd.array(language, dtype="string"),
            "language_confidence": confidence,
            "language_source": pd.array(source, dtype="string"),
            "frequency": matched["frequency"].to_numpy(np.float32, na_value=0),
        }
    )
