"""Per-token language guess, its confidence and source, and a word-frequency proxy (METHODS §2, §4).

Only a token with a letter gets a guess: digits, punctuation and symbols belong to no language.
The guess is the language most likely to have produced the token's text (boundary mark stripped,
lower-cased) as a word: each language's wordfreq frequency of the word weighted by how much of
the vocabulary that language accounts for (``vocabulary_prior``), so that ``▁Her`` in an English
vocabulary is English although Turkish "her" is the more frequent word; its confidence is that
language's posterior share. ``frequency`` is the plain sum over languages: a stand-in for the
paper's mC4 counts that weighs every language equally (``precompute frequency`` counts a real
corpus instead). A word found in several languages ("de": es, pt, fr, nl …) is frequent in a
multilingual corpus in all of them, which the sum keeps and a maximum would not.

When wordfreq has no entry, two fallbacks follow, each named in ``language_source``:
``"cldr"`` — the token is a CLDR name (a country, month …) that only one language uses
(``precompute.analyses.lexicon.concept_columns``); ``"script"`` — a script written by (nearly) one language
(``categories.SCRIPT_LANGUAGE``: HANGUL -> ko). Their confidence is 1.0: the rule admits one
language; it is not a frequency share. Otherwise the language is None, source ``"none"``, confidence 0.

The guess is kept in ``language_guess``; ``language``, what is shown, holds it only from
``SHOWN_CONFIDENCE`` up. That threshold is measured, not chosen: ``benchmarks/language_precision.py``
and the hand-judged samples in ``docs/language_precision*.csv``.

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

from precompute import cache
from precompute.contract.categories import BOUNDARY, SCRIPT_LANGUAGE

#: The wordfreq list consulted: "best" merges every source wordfreq has for a language.
WORDLIST = "best"
SOURCE_WORDFREQ, SOURCE_CLDR, SOURCE_SCRIPT, SOURCE_NONE = "wordfreq", "cldr", "script", "none"
#: A guess is shown (``language``) from this confidence up: the lowest at which hand-judged wordfreq
#: guesses of the three default models are right at least 9 times in 10 (benchmarks/language_precision.py).
#: First sample (docs/language_precision_before.csv, re-judged where the prior changed a guess): 0.94
#: from 0.9 up (102 guesses), 0.93 from 0.8. A new sample drawn at 0.8 (docs/language_precision.csv):
#: 0.875 from 0.8 (152), 0.906 from 0.9 (128); both pooled 0.922 from 0.9 (230). CLDR and script
#: guesses (confidence 1.0) were right 96 times in 96.
SHOWN_CONFIDENCE = 0.9


def wordfreq_languages() -> tuple[str, ...]:
    """The languages whose frequency lists are consulted: all that wordfreq ships (42 in 3.1), sorted.

    The order breaks ties between languages with equal frequency (the first wins).
    """
    return tuple(sorted(wordfreq.available_languages(wordlist=WORDLIST)))


@lru_cache(maxsize=1)
def frequency_table() -> pa.Table:
    """Every (word, language, frequency) of wordfreq's lists in one Arrow table, built once a process.

    About 9.4M rows (~4 s to decode, ~200 MB), each language's kept on disk for the next process
    (:func:`precompute.cache.cached_parts`, keyed by its list file and this module's source; the worker
    processes of a build, which all want it as they start, share the decoding out). Read
    through ``wordfreq.read_cBpack`` rather than ``get_frequency_dict``: the latter caches a Python dict
    and a list per language (several GB for all 42); Arrow strings keep the same data compact and allow
    a vectorised ``is_in`` lookup.
    Columns: ``word`` (str), ``language`` (int8 index into ``wordfreq_languages()``),
    ``frequency`` (float32, wordfreq's proportion 10^(cB/100)).
    """
    files = wordfreq.available_languages(wordlist=WORDLIST)
    source = cache.source_of(__file__)
    codes = {lang: code for code, lang in enumerate(wordfreq_languages())}
    keys = {lang: [lang, codes[lang], *cache.file_key(files[lang]), source] for lang in codes}
    parts = cache.cached_parts("wordfreq", keys, lambda lang: _decoded(files[lang], codes[lang]))
    return pa.concat_tables(parts.values()).combine_chunks()


def _decoded(path: str, code: int) -> pa.Table:
    """One language's part of ``frequency_table``, read from its cBpack file ``path``."""
    buckets = wordfreq.read_cBpack(path)  # bucket i holds the words at -i centibels
    sizes = np.fromiter((len(b) for b in buckets), dtype=np.int64, count=len(buckets))
    centibels = -np.repeat(np.arange(len(buckets)), sizes)
    words = pa.array([w for bucket in buckets for w in bucket], type=pa.string())
    return pa.table({
        "word": words,
        "language": pa.array(np.full(len(words), code, dtype=np.int8)),
        "frequency": pa.array((10.0 ** (centibels / 100.0)).astype(np.float32)),
    })


def normalised_texts(texts: list[str]) -> pd.Series:
    """Token texts as dictionaries see them: every boundary mark removed, lower-cased."""
    return pd.Series(texts, dtype="string").str.replace(BOUNDARY, "", regex=False).str.lower()


def has_letter(words: pd.Series) -> np.ndarray:
    """(N,) bool: the word holds a letter (Unicode category L*), so it can belong to a language.

    Digits, punctuation, symbols and lone combining marks belong to none, although wordfreq lists
    some ("4" in its Korean list, "★" in its Japanese one, "ो" in its Chinese one).
    """
    found = pc.match_substring_regex(pa.array(words, type=pa.string()), r"\pL")
    return found.fill_null(False).to_numpy(zero_copy_only=False)


def language_shares(words: pd.Series) -> pd.DataFrame:
    """Every (word, language) of ``words`` that wordfreq lists: ``word, language, frequency, share``.

    ``share`` is the language's part of the word's frequency summed over all languages.
    """
    table = frequency_table()
    query = pa.array(words.dropna().unique(), type=pa.string())
    hits = table.filter(pc.is_in(table["word"], value_set=query)).to_pandas()
    hits["language"] = np.asarray(wordfreq_languages(), dtype=object)[hits["language"].to_numpy()]
    hits["share"] = hits["frequency"] / hits.groupby("word", sort=False)["frequency"].transform("sum")
    return hits


def vocabulary_prior(hits: pd.DataFrame, tolerance: float = 1e-5, max_iterations: int = 200) -> pd.Series:
    """How likely each language is a priori among ``hits``' words: the vocabulary's language mixture.

    ``hits`` are ``language_shares`` rows of one vocabulary's words. wordfreq weighs every language
    alike, so an English word that is also a Turkish, Danish or Filipino word ("her", "end", "mo")
    is guessed as whichever list ranks it higher, whatever the model was trained on. The prior is
    the maximum-likelihood mixture weight of each language over the vocabulary's words, each word
    drawn from one language with wordfreq's frequency as its likelihood, fitted by EM (converges in
    about 20 iterations). It recovers what a vocabulary is for without being told: all-MiniLM-L6-v2
    0.91 English; use-multilingual-v3 its 15 wordfreq-listed training languages, each 0.03–0.11
    and every other language under 0.01. Returns the weight per language code, summing to 1.
    """
    codes, words = pd.factorize(hits["word"])
    languages = wordfreq_languages()
    lang = pd.Categorical(hits["language"], categories=languages).codes
    likelihood = hits["frequency"].to_numpy(np.float64)
    prior = np.full(len(languages), 1.0 / len(languages))
    for _ in range(max_iterations):
        joint = prior[lang] * likelihood
        posterior = joint / np.bincount(codes, joint)[codes]
        updated = np.bincount(lang, posterior, minlength=len(languages)) / max(len(words), 1)
        converged = np.abs(updated - prior).max() < tolerance
        prior = updated
        if converged:
            break
    return pd.Series(prior, index=languages)


def wordfreq_guess(words: pd.Series) -> pd.DataFrame:
    """For each distinct word in ``words`` found in wordfreq: its most likely language, posterior, frequency.

    ``words`` are one vocabulary's words: the posterior weighs each language's wordfreq frequency
    by the vocabulary's prior (``vocabulary_prior``). Returns a frame indexed by word with columns
    ``language``, ``language_confidence`` (the posterior of that language) and ``frequency`` (the
    plain sum over languages); words that no list has are absent.
    """
    hits = language_shares(words)
    prior = vocabulary_prior(hits[has_letter(hits["word"])])  # digits and symbols belong to no language
    weighted = hits["frequency"] * prior.reindex(hits["language"]).to_numpy()
    hits["posterior"] = weighted / weighted.groupby(hits["word"], sort=False).transform("sum")
    total = hits.groupby("word", sort=False)["frequency"].sum()
    # Most likely first; among equals the language listed first (stable sort on language).
    best = hits.sort_values(["word", "posterior", "language"], ascending=[True, False, True], kind="stable")
    best = best.drop_duplicates("word").set_index("word")
    return pd.DataFrame(
        {
            "language": best["language"].to_numpy(object),
            "language_confidence": best["posterior"].to_numpy(np.float32),
            "frequency": total.reindex(best.index).to_numpy(np.float32),
        },
        index=best.index,
    )


def language_columns(
    texts: list[str], categories: np.ndarray, concept_languages: list[str | None] | None = None
) -> pd.DataFrame:
    """The token table's columns ``language, language_guess, language_confidence, language_source, frequency``.

    ``texts`` are the N token texts, ``categories`` their (N,) categories (precompute.contract.categories),
    ``concept_languages`` the optional (N,) CLDR language hints of ``lexicon.concept_columns``.
    See the module docstring for the rule. ``language_guess`` is the guess, NA where there is
    none; ``language`` is the guess shown, NA also where its confidence is under ``SHOWN_CONFIDENCE``.

        >>> texts, categories = ["▁the", "▁när", "▁겨울잠", "4"], np.array(["LATIN", "LATIN", "HANGUL", "N"])
        >>> language_columns(texts, categories)["language"].tolist()
        ['en', 'sv', 'ko', <NA>]
    """
    n = len(texts)
    if len(categories) != n:
        raise ValueError(f"categories has {len(categories)} entries for {n} texts")
    if concept_languages is not None and len(concept_languages) != n:
        raise ValueError(f"concept_languages has {len(concept_languages)} entries for {n} texts")
    words = normalised_texts(texts)
    found = wordfreq_guess(words[words.str.len() > 0])
    matched = found.reindex(words.to_numpy())  # one row per token, NaN where wordfreq has nothing
    lettered = has_letter(words)
    in_wordfreq = matched["language"].notna().to_numpy() & lettered

    cldr = pd.Series(concept_languages if concept_languages is not None else [None] * n, dtype=object)
    cldr = cldr.where(cldr.notna() & ~in_wordfreq & lettered, None)
    script = pd.Series(categories, dtype=object).map(SCRIPT_LANGUAGE)
    script = script.where(script.notna() & ~in_wordfreq & cldr.isna() & lettered, None)

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
    guess = pd.Series(language, dtype="string")
    return pd.DataFrame(
        {
            "language": guess.where(confidence >= SHOWN_CONFIDENCE),
            "language_guess": guess,
            "language_confidence": confidence,
            "language_source": pd.array(source, dtype="string"),
            "frequency": matched["frequency"].to_numpy(np.float32, na_value=0),
        }
    )
