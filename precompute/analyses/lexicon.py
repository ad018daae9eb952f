"""Concepts and translations a token's text has: the lexicon that the token table and the meaning
statistic both read (METHODS §6).

* **CLDR concepts** (always; shipped in ``babel``): for every well-covered locale, the names of
  territories, languages and currencies, and the wide names of months and weekdays. One concept (the
  territory US, the month January) with its names in every locale is one translation cluster:
  ``アメリカ合衆国`` (ja), ``미국`` (ko), ``美国`` (zh), ``美國`` (zh_Hant), ``USA`` (sv) and
  ``United States`` (en) all name ``territory:US``.
* **Bilingual dictionaries**: FreeDict's English↔X dictionaries where Debian's packages are installed
  (:mod:`precompute.analyses.freedict`, read into the token table), and the paper's MUSE files given to
  the build (``--dictionaries``, added by the meaning step). Words that translate to the same English
  word form one concept, ``en:`` and that word, which English tokens name too: ``▁Hund`` (de),
  ``hond`` (nl), ``perro`` (es) and ``▁dog`` all name ``en:dog``.

A token can name several concepts (German ``▁Bank``: ``en:bank`` and ``en:bench``); the token table's
``concept`` column lists them, joined by ``CONCEPT_SEPARATOR``. A token is looked up in the
dictionaries of its guessed language only (the English ``▁bank`` is no bench), and a short piece from
inside a word in none (``is_short_piece``); a CLDR name counts for a token of a language that uses it
(``köln`` is Colognian in Azerbaijani, not in German). English function words (``FUNCTION_WORDS``:
"the", "in", "what") are no concept: each language cuts them up differently. Glosses show the
translations both directions of a dictionary give first, then the commoner in English (``gloss_words``).

CLDR names that are mostly common words ("here" is October in one locale, "man" the Isle of Man,
"dan" Danish) are dropped (``common_word_names``), from the matches and from the glosses alike.
Apart from :mod:`precompute.analyses.meaning` because the token table (its gloss and concept columns)
needs it too, and the meaning statistic needs the token table.
"""

from __future__ import annotations

import re
import warnings
from functools import lru_cache
from pathlib import Path

import babel
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
import wordfreq
from babel import localedata

from precompute import cache
from precompute.analyses import language
from precompute.analyses.language import WORDLIST, frequency_table, normalised_texts, wordfreq_languages
from precompute.contract import categories, schema
from precompute.contract.categories import BOUNDARY, char_label

#: CLDR name tables that form concepts. A name that several concepts share goes to the concept the
#: most locales call by that name ("май" is May in several locales, Maithili in one), then to the kind
#: listed first here, then to the smaller concept id.
#: Left out, as they matched more common words than names on real vocabularies: script names
#: ("Common", "Symbols", "I" for Yi), abbreviated month and day names ("mar", "do", "sun").
CONCEPT_KINDS: tuple[str, ...] = ("territory", "language", "currency", "month", "day")
#: Locales whose language has fewer own territory names than this are skipped: CLDR's basic-coverage
#: locales add few, idiosyncratic names ("mas" as March, "kuma" as Cuba); 151 languages pass.
#: A fully translated locale names about 290 territories.
MIN_TERRITORY_NAMES = 280
#: Shortest name kept: "ir" (Irish) or "ma" (May) are no evidence of a concept. Names in scripts
#: that write whole words in two characters (日本, 미국, 1月) are kept from two characters on.
MIN_NAME_LENGTH = 3
DENSE_SCRIPTS = frozenset({"CJK", "HIRAGANA", "KATAKANA", "HANGUL"})
#: A name that is a common word of a language that does not use it for its concept is that word, not
#: the name: zipf frequency (log10 of occurrences per 10^9 words, wordfreq) at or above this in any
#: such language ("dan", "and" in Indonesian; "mai", "never" in Italian; "fin", "end" in French) ...
COMMON_WORD_ZIPF = 5.5
#: ... or at or above this in English, where glosses are read and most vocabularies have their
#: words: "here" (October), "man" (Isle of Man), "real" (Brazilian Real), "pole" (Poland).
ENGLISH_WORD_ZIPF = 4.0
#: A name far more frequent than names are, even in a language that uses it, is mostly another word
#: there (Romanian "mai", May and "more"; Filipino "hindi", Hindi and "not").
OWN_WORD_ZIPF = 6.5
#: CLDR languages that wordfreq lists under another code (Serbo-Croatian, Norwegian Bokmål).
WORDFREQ_CODE = {"sr": "sh", "hr": "sh", "bs": "sh", "no": "nb"}
#: The locale whose names are the glosses.
GLOSS_LOCALE = "en"
#: Prefix of a dictionary translation in a translation set, beside the CLDR concept ids.
ENGLISH_PREFIX = "en:"
#: Between the concept ids of one token in the token table's ``concept`` column.
CONCEPT_SEPARATOR = schema.CONCEPT_SEPARATOR
#: English translations shown as a token's gloss, those most dictionaries give first (``gloss_words``) ...
GLOSS_WORDS = 3
#: ... leaving out those this many times rarer in English than the commonest (100: two zipf units;
#: "eau", 3.2, beside "water", 5.5; "hound", 3.4, stays beside "dog", 5.1).
GLOSS_RARER = 100
#: English function words, which name no dictionary concept: the closed word classes (Quirk et al.
#: 1985, *A Comprehensive Grammar of the English Language*, ch. 2): articles and other
#: determiners (quantifiers among them), pronouns, wh-words, prepositions and adverbial particles,
#: conjunctions, modal auxiliaries, the negator. Languages cut these words up differently (German has
#: six words for "the", by gender and case; "auf" is "on", "in", "at" and "up"; "como" is "how", "as"
#: and "what"), so two words whose dictionaries give one of them are seldom each other's translation:
#: they were a quarter of the wrong matches judged in docs/translation_precision_freedict.csv (aux / het
#: through "the", auf / dans through "in", como / wat through "what"). Kept: numerals (два / zwei
#: translate one to one), adverbs (an open class: "again", "very"), and "be", "have", "do", which are
#: main verbs too. Glosses still show them ("the" for ``▁der``).
FUNCTION_WORDS = frozenset("""
    a an the this that these those
    my your his her its our their mine yours hers ours theirs
    i me you he him she it we us they them myself yourself himself herself itself oneself ourselves
    yourselves themselves
    who whom whose which what whatever whoever whichever when where why how
    all any both each either every few many much more most neither no none several some such other another
    anybody anyone anything everybody everyone everything nobody nothing somebody someone something
    about above across after against along amid amidst among amongst around at before behind below beneath
    beside besides between beyond by despite during except for from in inside into of off on onto out
    outside over per since through throughout till to toward towards under underneath until up upon via
    with within without
    and or but nor although though because if unless whether while whereas than as lest
    can could may might must shall should will would ought not
""".split())
#: Two tokens are one word when they agree but for their last one or two characters (``листопад`` /
#: ``листопада``, ``сентябрь`` / ``сентября``, ``chien`` / ``chienne``) and this many are left: an
#: inflection is no translation. Near-identical spellings across languages (``Musik`` / ``music``)
#: go with them; their embeddings could be close for their letters alone.
STEM_CUT, MIN_STEM = 2, 4
#: A piece from inside a word (no boundary mark) shorter than this names no dictionary concept
#: (``is_short_piece``): ``his``, ``ker``, ``par`` are pieces, not the Dutch, Turkish or French words.
MIN_PIECE_LENGTH = 4
#: MUSE file names: en-de.txt, de-en.txt, and the split files en-de.0-5000.txt, en-de.5000-6500.txt.
_MUSE_NAME = re.compile(r"^([a-z]{2,3})-([a-z]{2,3})(?:\.[\w-]+)?\.txt$")
_ACCENTS = "[\u0300-\u036f]"


def _locale_names(data: dict) -> list[tuple[str, str]]:
    """(concept id, name) pairs of one locale's own CLDR data (inherited entries are not repeated).

    Months and weekdays: the wide format and stand-alone forms (Russian ``января`` and ``январь``).
    Weekdays are numbered as ISO 8601 does, Monday = 1 (babel counts Monday = 0).
    """
    pairs: list[tuple[str, str]] = []
    for kind, key in (("territory", "territories"), ("language", "languages"), ("currency", "currency_names")):
        table = data.get(key)
        if isinstance(table, dict):
            pairs += [(f"{kind}:{code}", name) for code, name in table.items()]
    for kind, key, offset in (("month", "months", 0), ("day", "days", 1)):
        for context in ("format", "stand-alone"):
            table = data.get(key, {}).get(context, {})
            wide = table.get("wide") if isinstance(table, dict) else None
            if isinstance(wide, dict):  # an Alias (inherited) is skipped: its owner lists the names
                pairs += [(f"{kind}:{number + offset}", name) for number, name in wide.items()]
    return [(concept, name) for concept, name in pairs if isinstance(name, str)]


def _is_dense(name: str) -> bool:
    """Whether a name of two characters is a whole word: it has a CJK, kana or Hangul character."""
    return len(name) == 2 and any(char_label(ch) in DENSE_SCRIPTS for ch in name)


@lru_cache(maxsize=1)
def concept_table() -> pd.DataFrame:
    """The CLDR translation clusters: one row per distinct normalised name, built once a process.

    Reads every well-covered locale babel ships (see ``MIN_TERRITORY_NAMES``; ~5 s) without
    inheritance, so a sub-locale (en_GB, zh_Hant) adds only the names it changes. Kept concepts:
    territories but "unknown" (ZZ); languages that have a locale themselves (not the hundreds of
    rarely named ones such as Ao Naga, whose names are often common words); currencies except the
    X codes (gold, test and fund units). Names with whitespace are dropped (no token equals them),
    as are names shorter than ``MIN_NAME_LENGTH`` and names that are common words
    (``common_word_names``; not acronyms such as "USA"; reading wordfreq's lists takes a few seconds,
    shared with the language guess).
    Indexed by ``name`` (lower-cased); columns ``concept``, ``gloss`` (the English name),
    ``concept_language`` (the language using the name for that concept, NaN when several
    languages do — "Nigeria" is no hint, "미국" is Korean), ``languages`` (frozenset of every language
    using it, in wordfreq's codes as ``WORDFREQ_CODE`` maps them: what ``concept_columns`` checks a
    token's guessed language against).

    The same for every model: kept on disk for the next process (:func:`precompute.cache.cached_table`,
    keyed by babel's version, wordfreq's lists and the sources of this module, ``language`` and
    ``precompute.contract.categories``, whose script labels it reads), so that each worker of an
    overlapped build does not spend the 5 s again.
    """
    lists = sorted(wordfreq.available_languages(wordlist=WORDLIST).values())
    key = [babel.__version__, [cache.file_key(f) for f in lists],
           *(cache.source_of(f) for f in (__file__, language.__file__, categories.__file__))]
    rows = cache.cached_table("cldr-concepts", key, _concept_rows)
    # Kept as a list column (what a file holds); read back as the frozensets a lookup checks against.
    return rows.assign(languages=[frozenset(v) for v in rows["languages"]]).set_index("name")


def _concept_rows() -> pd.DataFrame:
    """:func:`concept_table` computed, its ``name`` a column and its ``languages`` sorted lists."""
    data = {loc: localedata.load(loc, merge_inherited=False) for loc in localedata.locale_identifiers()}
    covered = {
        loc for loc, d in data.items() if "_" not in loc and len(d.get("territories", {})) >= MIN_TERRITORY_NAMES
    }
    with_locale = {loc.split("_", 1)[0] for loc in data}
    rows = [
        (concept, name, locale.split("_", 1)[0])
        for locale, d in data.items()
        if locale.split("_", 1)[0] in covered
        for concept, name in _locale_names(d)
    ]
    names = pd.DataFrame(rows, columns=["concept", "name", "language"])
    kind, code = names["concept"].str.split(":", n=1).str[0], names["concept"].str.split(":", n=1).str[1]
    keep = (
        ((kind == "territory") & (code != "ZZ"))
        | ((kind == "language") & code.str.split("_", n=1).str[0].isin(with_locale))
        | ((kind == "currency") & ~code.str.startswith("X"))
        | kind.isin(["month", "day"])
    )
    names = names[keep]
    acronyms = pd.Index(names.loc[names["name"].str.fullmatch(r"[A-Z]{2,}"), "name"].str.lower().unique())
    names = names.assign(name=names["name"].str.lower())
    names = names[~names["name"].str.contains(r"\s", regex=True)]
    long_enough = {n for n in names["name"].unique() if len(n) >= MIN_NAME_LENGTH or _is_dense(n)}
    names = names[names["name"].isin(long_enough)]

    per_concept = names.groupby(["name", "concept"], sort=False).agg(
        n_locales=("language", "size"),
        n_languages=("language", "nunique"),
        language=("language", "first"),
    ).reset_index()
    per_concept["rank"] = per_concept["concept"].str.split(":", n=1).str[0].map(
        {kind: i for i, kind in enumerate(CONCEPT_KINDS)}
    )
    best = per_concept.sort_values(["name", "n_locales", "rank", "concept"], ascending=[True, False, True, True])
    best = best.drop_duplicates("name").set_index("name")
    users = names.merge(best["concept"].reset_index(), on=["name", "concept"])[["name", "language"]]
    best = best.drop(index=common_word_names(users).difference(acronyms))  # "USA" is no common word

    glosses = dict(_locale_names(data[GLOSS_LOCALE]))
    in_wordfreq_codes = users.assign(language=users["language"].replace(WORDFREQ_CODE)).drop_duplicates()
    return pd.DataFrame(
        {
            "name": best.index.to_numpy(object),
            "concept": best["concept"].to_numpy(object),
            "gloss": best["concept"].map(glosses).to_numpy(object),
            "concept_language": best["language"].where(best["n_languages"] == 1).to_numpy(object),
            "languages": in_wordfreq_codes.groupby("name")["language"].agg(sorted).reindex(best.index).to_numpy(object),
        }
    )


def common_word_names(users: pd.DataFrame) -> pd.Index:
    """The names among ``users`` (columns ``name``, ``language``: which CLDR languages use the name
    for its concept) that are mostly another word: see ``COMMON_WORD_ZIPF``, ``ENGLISH_WORD_ZIPF`` and
    ``OWN_WORD_ZIPF``. Frequencies come from wordfreq's lists (42 languages); a language wordfreq
    does not list cannot object.

        >>> common_word_names(pd.DataFrame({"name": ["here", "januari", "mai"], "language": ["ee", "sv", "ro"]}))
        Index(['here', 'mai'], dtype='object', name='word')
    """
    table = frequency_table()
    hits = table.filter(pc.is_in(table["word"], value_set=pa.array(users["name"].unique(), type=pa.string())))
    hits = hits.to_pandas()
    hits["language"] = np.asarray(wordfreq_languages(), dtype=object)[hits["language"].to_numpy()]
    hits["zipf"] = np.log10(hits["frequency"].astype(np.float64)) + 9
    own_pairs = users.assign(language=users["language"].replace(WORDFREQ_CODE)).rename(columns={"name": "word"})
    hits = hits.merge(own_pairs.drop_duplicates().assign(own=True), on=["word", "language"], how="left")
    own = hits["own"].eq(True)
    common = (
        (~own & (hits["zipf"] >= COMMON_WORD_ZIPF))
        | (~own & (hits["language"] == "en") & (hits["zipf"] >= ENGLISH_WORD_ZIPF))
        | (own & (hits["zipf"] >= OWN_WORD_ZIPF))
    )
    return pd.Index(sorted(hits.loc[common, "word"].unique()), dtype=object, name="word")


def folded_texts(texts: list[str]) -> pd.Series:
    """Texts without boundary marks, case and accents: how ``word_stems`` compares them.

    Accents are the combining diacritics (U+0300–U+036F) after NFKD decomposition: Latin, Greek and
    Cyrillic accents, not the marks that make other scripts' letters (kana's dakuten, Indic vowel signs).
    """
    return normalised_texts(texts).str.casefold().str.normalize("NFKD").str.replace(_ACCENTS, "", regex=True)


def word_stems(texts: list[str]) -> sp.csr_matrix:
    """(N, S) CSR incidence of each text's stems: two texts are one word when their rows share a column.

    A text's stems are its ``folded_texts`` form and that form cut by up to ``STEM_CUT`` final
    characters while ``MIN_STEM`` remain. So a case, boundary-mark or accent variant (``▁Welt`` /
    ``welt``, ``▁Türk`` / ``turk``) and an inflection (``листопад`` / ``листопада``) are one word, not
    a translation; ``ト`` / ``ド`` (kana's voicing mark makes another letter) and ``Hund`` / ``hond`` are two.

        >>> same = word_stems(["▁Welt", "welt", "листопад", "▁листопада", "ト", "ド", "hund", "hond"])
        >>> ((same @ same.T).toarray()[[0, 2, 4, 6], [1, 3, 5, 7]] > 0).tolist()
        [True, True, False, False]
    """
    folded = folded_texts(texts).fillna("").astype(object)
    lengths = folded.str.len().to_numpy()
    parts = [pd.DataFrame({"token": np.arange(len(folded)), "stem": folded.to_numpy(object)})]
    for cut in range(1, STEM_CUT + 1):
        cuttable = np.flatnonzero(lengths - cut >= MIN_STEM)
        parts.append(pd.DataFrame({"token": cuttable, "stem": folded.iloc[cuttable].str[:-cut].to_numpy(object)}))
    stems = pd.concat(parts, ignore_index=True)
    codes, uniques = pd.factorize(stems["stem"])
    return sp.csr_matrix(
        (np.ones(len(codes), dtype=np.int32), (stems["token"].to_numpy(), codes)), shape=(len(folded), len(uniques))
    )


def dictionary_labels(
    texts: list[str], dictionaries: pd.DataFrame, languages: pd.Series | None = None
) -> pd.DataFrame:
    """The English words each text translates to: ``token`` (position in ``texts``), ``label`` ("en:dog"),
    ``support`` (how many dictionaries give that translation: a FreeDict pair counts once for each of
    its two directions that gives it, ``load_freedict``'s ``dictionaries``, a MUSE pair once; summed
    over languages; an English word naming itself counts once), ``first`` (the first row of
    ``dictionaries`` that gives it: dictionaries list a word's main sense first).

    ``dictionaries`` has columns ``english, foreign, language`` and optionally ``dictionaries``
    (``freedict.load_freedict``, ``load_muse_dictionaries``); words are looked up by their normalised
    text (``normalised_texts``).
    ``languages``: each text's language (the token table's ``language_guess``, wordfreq's codes; NA
    where there is none): a text is looked up only in its language's dictionaries (English: the
    English words themselves). Without it, in every language: then ``▁water`` is also Dutch "water"
    (``aquatic``) and English synonyms meet through a foreign word (``impression`` and ``effect``
    through Dutch "indruk"), which is why the token table passes it.

        >>> pairs = pd.DataFrame({"english": ["aquatic", "water"], "foreign": ["water", "water"], "language": "nl"})
        >>> dictionary_labels(["▁water", "water"], pairs, pd.Series(["en", "nl"]))["label"].tolist()
        ['en:water', 'en:aquatic', 'en:water']
    """
    english, rows = dictionaries["english"].astype(object).to_numpy(), np.arange(len(dictionaries))
    given = dictionaries["dictionaries"].to_numpy(np.int64) if "dictionaries" in dictionaries else 1
    lookup = pd.concat([
        pd.DataFrame({"word": dictionaries["foreign"].astype(object).to_numpy(), "label": english,
                      "language": dictionaries["language"].astype(object).replace(WORDFREQ_CODE).to_numpy(),
                      "first": rows, "given": given}),
        pd.DataFrame({"word": english, "label": english, "language": "en", "first": rows, "given": 1})
        .drop_duplicates("word"),
    ], ignore_index=True)
    words = pd.DataFrame({"token": np.arange(len(texts)), "word": normalised_texts(texts).astype(object).to_numpy()})
    if languages is None:
        found = lookup.groupby(["word", "label"], sort=False).agg(
            support=("given", "sum"), first=("first", "min")).reset_index()
        found = words.merge(found, on="word")
    else:
        if len(languages) != len(texts):
            raise ValueError(f"languages has {len(languages)} entries for {len(texts)} texts")
        words["language"] = pd.Series(languages, dtype=object).to_numpy()
        found = words.dropna(subset=["language"]).merge(lookup, on=["word", "language"]).groupby(
            ["token", "label"], sort=False).agg(support=("given", "sum"), first=("first", "min")).reset_index()
    return pd.DataFrame({
        "token": found["token"].to_numpy(np.int64),
        "label": (ENGLISH_PREFIX + found["label"]).to_numpy(object),
        "support": found["support"].to_numpy(np.int64),
        "first": found["first"].to_numpy(np.int64),
    })


def is_short_piece(texts: list[str]) -> np.ndarray:
    """(N,) bool: a piece from inside a word (no boundary mark) shorter than ``MIN_PIECE_LENGTH``, in a
    script that writes words with more than two characters: ``his`` and ``zin``, ``vir`` and ``gen``,
    ``par`` of ``▁part``. Read as whole words they meet through dictionaries of languages they were
    never cut from. Pieces of dense scripts (``優先``, ``シンプル``: words without spaces) are no such thing.

        >>> is_short_piece(["his", "▁his", "gebiet", "優先", "▁"]).tolist()
        [True, False, False, False, False]
    """
    words = normalised_texts(texts)
    inside = ~pd.Series(texts, dtype=object).str.startswith(BOUNDARY).to_numpy(bool)
    candidates = np.flatnonzero(inside & (words.str.len() < MIN_PIECE_LENGTH).to_numpy(bool))
    out = np.zeros(len(texts), dtype=bool)
    out[candidates] = [not any(char_label(ch) in DENSE_SCRIPTS for ch in w) for w in words.iloc[candidates]]
    return out


def concept_columns(
    texts: list[str], dictionaries: pd.DataFrame | None = None, languages: pd.Series | None = None
) -> pd.DataFrame:
    """The token table's ``concept, gloss, concept_language`` columns (string dtype, NA where none).

    ``concept``: the CLDR concept the token's normalised text names (see ``concept_table`` for how a
    name shared by several concepts is assigned; with ``languages``, only where the token's language
    is one that uses the name for it: ``köln`` is Colognian in Azerbaijani, not in German), then the
    English words it translates to in ``dictionaries`` (``dictionary_labels``, in the token's own
    language where ``languages`` gives it; not for words shorter than ``MIN_NAME_LENGTH``, two
    characters in dense scripts: ``de``, ``la`` or ``en`` are a dozen words in as many languages, nor
    for short pieces from inside a word, ``is_short_piece``; not ``FUNCTION_WORDS``), most widely
    given first, then as the dictionaries list them, joined by ``CONCEPT_SEPARATOR``. ``gloss``: the
    concept's English name, else ``gloss_words`` of the English words (function words included: "the"
    glosses ``▁der``; not the token's own text: an English word needs no gloss). ``concept_language``:
    CLDR's hint only (see ``concept_table``).

        >>> concept_columns(["▁美国", "▁januari", "▁dog"])["concept"].tolist()
        ['territory:US', 'month:1', <NA>]
        >>> concept_columns(["▁Köln", "▁januari"], languages=pd.Series(["de", "sv"]))["concept"].tolist()
        [<NA>, 'month:1']
        >>> pairs = pd.DataFrame({"english": ["dog", "hound"], "foreign": ["hund", "hund"], "language": "sv"})
        >>> concept_columns(["▁Hund", "▁dog"], pairs, pd.Series(["sv", "en"]))[["concept", "gloss"]].to_numpy().tolist()
        [['en:dog|en:hound', 'dog, hound'], ['en:dog', <NA>]]
    """
    words = normalised_texts(texts).to_numpy(object)
    matched = concept_table().reindex(words)
    if languages is not None:
        if len(languages) != len(texts):
            raise ValueError(f"languages has {len(languages)} entries for {len(texts)} texts")
        own = [isinstance(users, frozenset) and language in users
               for users, language in zip(matched["languages"], pd.Series(languages, dtype=object), strict=True)]
        matched.loc[~np.asarray(own, dtype=bool), ["concept", "gloss"]] = np.nan
    n = len(texts)
    labels = pd.DataFrame({"token": np.flatnonzero(matched["concept"].notna().to_numpy()), "support": np.inf,
                           "first": -1})
    labels["label"] = matched["concept"].to_numpy(object)[labels["token"].to_numpy()]
    gloss = pd.Series(matched["gloss"].to_numpy(object), dtype=object)
    if dictionaries is not None and len(dictionaries):
        found = dictionary_labels(texts, dictionaries, languages)
        long_enough = np.array([len(w) >= MIN_NAME_LENGTH or _is_dense(w) for w in words], dtype=bool)
        found = found[(long_enough & ~is_short_piece(texts))[found["token"].to_numpy()]]
        labels = pd.concat([labels, without_function_words(found)], ignore_index=True)
        english = found["label"].str.removeprefix(ENGLISH_PREFIX)
        other = found[english.to_numpy() != words[found["token"].to_numpy()]]
        gloss = gloss.fillna(gloss_words(other).reindex(range(n)))  # a CLDR concept's name first
    labels = labels.sort_values(["token", "support", "first"], ascending=[True, False, True])
    labels = labels.drop_duplicates(["token", "label"])
    concept = joined_runs(labels["token"].to_numpy(), labels["label"].to_numpy(object), CONCEPT_SEPARATOR)
    return pd.DataFrame({
        "concept": pd.array(concept.reindex(range(n)).to_numpy(object), dtype="string"),
        "gloss": pd.array(gloss.to_numpy(object), dtype="string"),
        "concept_language": pd.array(matched["concept_language"].to_numpy(object), dtype="string"),
    })


def without_function_words(labels: pd.DataFrame) -> pd.DataFrame:
    """``labels`` (``dictionary_labels``' rows) less those whose English word is one of ``FUNCTION_WORDS``."""
    return labels[~labels["label"].str.removeprefix(ENGLISH_PREFIX).isin(FUNCTION_WORDS).to_numpy(bool)]


def gloss_words(labels: pd.DataFrame) -> pd.Series:
    """Per token (the index), its gloss: up to ``GLOSS_WORDS`` of its English translations (``labels``:
    ``dictionary_labels``' rows), joined by ", ": those most dictionaries give first (both directions of
    a FreeDict pair: a main sense), then the commonest in English (wordfreq).

    A translation more than ``GLOSS_RARER`` times rarer in English than the token's commonest is left
    out: a rare sense, a loanword the dictionary gives as English, or a run-together phrase
    ("thesedays"), not what a reader needs (``Wasser``: "water", not "eau").

        >>> found = pd.DataFrame({"token": [0, 0, 1, 1, 1], "support": [1, 2, 1, 1, 2],
        ...                       "label": ["en:eau", "en:water", "en:are", "en:set", "en:group"]})
        >>> gloss_words(found).tolist()
        ['water', 'group, are, set']
    """
    english = labels["label"].str.removeprefix(ENGLISH_PREFIX).to_numpy(object)
    ranked = pd.DataFrame({"token": labels["token"].to_numpy(), "word": english,
                           "support": labels["support"].to_numpy(), "zipf": english_zipf(english)})
    ranked = ranked.sort_values(["token", "support", "zipf", "word"], ascending=[True, False, False, True])
    best = ranked.groupby("token")["zipf"].transform("max")
    kept = ranked[ranked["zipf"] >= best - np.log10(GLOSS_RARER)]
    kept = kept.groupby("token").head(GLOSS_WORDS)
    return joined_runs(kept["token"].to_numpy(), kept["word"].to_numpy(object), ", ")


def joined_runs(keys: np.ndarray, words: np.ndarray, separator: str) -> pd.Series:
    """Per key, its ``words`` joined by ``separator``, in their order: ``keys`` sorted, so that each key's
    words are one run. What ``groupby(keys).agg(separator.join)`` gives, without pandas' Python call per
    group (133,000 groups on multilingual-e5-small: 0.7 s each time).

        >>> joined_runs(np.array([0, 0, 3]), np.array(["dog", "hound", "cat"], dtype=object), ", ").to_dict()
        {0: 'dog, hound', 3: 'cat'}
    """
    if not len(keys):
        return pd.Series([], dtype=object)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    listed = words.tolist()
    return pd.Series([separator.join(listed[lo:hi]) for lo, hi in zip(starts, ends, strict=True)],
                     index=keys[starts], dtype=object)


def english_zipf(words: np.ndarray) -> np.ndarray:
    """(N,) float64 zipf frequency (log10 per 10^9 words) of each word in wordfreq's English list, 0 if absent."""
    table = frequency_table()
    english = wordfreq_languages().index("en")
    hits = table.filter(pc.and_(pc.equal(table["language"], pa.scalar(english, type=pa.int8())),
                                pc.is_in(table["word"], value_set=pa.array(pd.unique(words), type=pa.string()))))
    frequency = pd.Series(hits["frequency"].to_numpy(), index=hits["word"].to_pylist(), dtype=np.float64)
    frequency = frequency[~frequency.index.duplicated()]
    found = frequency.reindex(words).to_numpy(np.float64)
    return np.where(np.isnan(found), 0.0, np.log10(np.where(np.isnan(found), 1.0, found)) + 9)


def concept_labels(concepts: pd.Series) -> pd.DataFrame:
    """The token table's ``concept`` column as pairs: ``token`` (row position), ``label``.

        >>> concept_labels(pd.Series(["territory:US", None, "en:dog|en:hound"])).to_numpy().tolist()
        [[0, 'territory:US'], [2, 'en:dog'], [2, 'en:hound']]
    """
    split = pd.Series(np.asarray(concepts, dtype=object)).dropna().str.split(CONCEPT_SEPARATOR).explode()
    return pd.DataFrame({"token": split.index.to_numpy(np.int64), "label": split.to_numpy(object)})


def load_muse_dictionaries(directory: Path) -> pd.DataFrame:
    """Every MUSE bilingual dictionary in ``directory``: columns ``english, foreign, language``.

    Files are named ``en-xx.txt`` (lines "english foreign") or ``xx-en.txt`` (lines "foreign
    english"), also the split files ``en-xx.0-5000.txt``; words are lower-cased, pairs deduplicated.
    A line without exactly two whitespace-separated words is skipped; the count per file is
    warned about and kept in ``result.attrs["malformed"]``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"MUSE dictionary directory {directory} does not exist")
    frames, malformed = [], {}
    for path in sorted(directory.iterdir()):
        match = _MUSE_NAME.match(path.name)
        if not match or "en" not in match.groups()[:2] or match[1] == match[2]:
            continue
        english_first = match[1] == "en"
        lines = pd.Series(path.read_text(encoding="utf-8", errors="replace").splitlines(), dtype=object)
        words = lines.str.split()
        n_words = words.str.len()
        bad = int(((n_words != 2) & (n_words != 0)).sum())  # blank lines are no error
        if bad:
            malformed[path.name] = bad
            warnings.warn(
                f"{path}: skipped {bad} malformed line(s); MUSE lines hold two words, "
                f"'{'english foreign' if english_first else 'foreign english'}'",
                stacklevel=2,
            )
        pairs = words[n_words == 2]
        first, second = pairs.str[0].str.lower(), pairs.str[1].str.lower()
        frames.append(
            pd.DataFrame(
                {
                    "english": first if english_first else second,
                    "foreign": second if english_first else first,
                    "language": match[2] if english_first else match[1],
                }
            )
        )
    if not frames:
        raise ValueError(
            f"no MUSE dictionary in {directory}: expected files named en-xx.txt or xx-en.txt "
            "(https://github.com/facebookresearch/MUSE#ground-truth-bilingual-dictionaries)"
        )
    result = pd.concat(frames, ignore_index=True).drop_duplicates(ignore_index=True)
    result.attrs["malformed"] = malformed
    result.attrs["directory"] = str(directory)  # the rebuild command repeats it
    return result
