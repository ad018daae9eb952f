"""Translation clusters and the "shared meaning" statistics of neighbours (METHODS §6).

Two sources of meaning, used together:

* **CLDR concepts** (always; shipped in ``babel``): for every well-covered locale, the names of
  territories, languages and currencies, and the wide names of months and weekdays. One concept (the
  territory US, the month January) with its names in every locale is one translation cluster:
  ``アメリカ合衆国`` (ja), ``미국`` (ko), ``美国`` (zh), ``美國`` (zh_Hant), ``USA`` (sv) and
  ``United States`` (en) all name ``territory:US``.
* **Bilingual dictionaries** (optional; the paper's MUSE English↔X files): a token's English
  translations.

A token's translation set is the union of its concept and its English translations (an English
word translates to itself); a neighbour shares meaning with the token when their sets intersect and
it is not the same word written differently (``surface_keys``: ``▁Welt``/``welt``, ``Türk``/``turk``
are one word, not a translation). Tokens are looked up by their normalised text (boundary marks
removed, lower-cased).

CLDR names that are mostly common words ("here" is October in one locale, "man" the Isle of Man,
"dan" Danish) are dropped (``common_word_names``), from the matches and from the glosses alike. The
precision of the matches, judged by hand on seeded samples of 200, is recomputed by
``benchmarks/translation_precision.py`` from ``docs/translation_precision*.csv``.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
from babel import localedata

from precompute import schema
from precompute.categories import char_label
from precompute.intervals import ci95
from precompute.language import frequency_table, normalised_texts, wordfreq_languages
from precompute.steps import Step
from precompute.tokens import eligible_mask

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
#: The top-n neighbours that translation retrieval looks at (TRANSLATION_RETRIEVAL p_at_1, p_at_10).
RETRIEVAL_AT = (1, 10)
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
    languages do — "Nigeria" is no hint, "미국" is Korean).
    """
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
    return pd.DataFrame(
        {
            "concept": best["concept"],
            "gloss": best["concept"].map(glosses),
            "concept_language": best["language"].where(best["n_languages"] == 1),
        },
        index=best.index,
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


def surface_keys(texts: list[str]) -> np.ndarray:
    """(N,) int codes, equal for texts that differ only by case, boundary marks or accents.

    Such a pair is one word written twice (``▁Welt`` and ``welt``, ``▁Türk`` and ``turk``), not a
    translation. Accents are the combining diacritics (U+0300–U+036F) after NFKD decomposition:
    Latin, Greek and Cyrillic accents, not the marks that make other scripts' letters (kana's
    dakuten, Indic vowel signs).

        >>> surface_keys(["▁Welt", "welt", "Türk", "▁turk", "ト", "ド"]).tolist()
        [0, 0, 1, 1, 2, 3]
    """
    folded = normalised_texts(texts).str.casefold().str.normalize("NFKD").str.replace(_ACCENTS, "", regex=True)
    return pd.factorize(folded)[0]


def concept_columns(texts: list[str]) -> pd.DataFrame:
    """The token table's ``concept, gloss, concept_language`` columns (string dtype, NA where none).

    A token names a concept when its normalised text equals one of the concept's names in some
    locale (see ``concept_table`` for how a name shared by several concepts is assigned).

        >>> concept_columns(["▁美国", "▁januari", "▁dog"])["concept"].tolist()
        ['territory:US', 'month:1', <NA>]
    """
    matched = concept_table().reindex(normalised_texts(texts).to_numpy())
    return pd.DataFrame(
        {column: pd.array(matched[column].to_numpy(object), dtype="string") for column in matched.columns}
    )


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


@dataclass(frozen=True)
class TranslationSets:
    """Every token's translation set as a sparse incidence: ``matrix[i, j]`` = token i has ``labels[j]``.

    ``matrix`` is (N, L) CSR of int8 ones; ``labels`` (L,) holds CLDR concept ids ("territory:US")
    and English translations ("en:dog"). Two tokens share meaning when their rows share a column.
    """

    matrix: sp.csr_matrix
    labels: np.ndarray

    def of(self, token: int) -> frozenset[str]:
        """The translation set of one token, for display."""
        row = self.matrix.indices[self.matrix.indptr[token]:self.matrix.indptr[token + 1]]
        return frozenset(self.labels[row].tolist())


def translation_sets(
    texts: list[str], concepts: pd.Series, dictionaries: pd.DataFrame | None = None
) -> TranslationSets:
    """Translation sets of N tokens: their CLDR concept (``concepts``, None where there is none)
    and, with ``dictionaries`` (``load_muse_dictionaries``), the English words they translate to.
    """
    concepts = pd.Series(np.asarray(concepts, dtype=object), dtype=object)
    if len(concepts) != len(texts):
        raise ValueError(f"concepts has {len(concepts)} entries for {len(texts)} texts")
    has = concepts.notna().to_numpy()
    pairs = [pd.DataFrame({"token": np.flatnonzero(has), "label": concepts[has].to_numpy()})]
    if dictionaries is not None and len(dictionaries):
        english = dictionaries["english"].astype(object)
        lookup = pd.DataFrame(
            {
                "word": pd.concat([dictionaries["foreign"].astype(object), english], ignore_index=True),
                "label": ENGLISH_PREFIX + pd.concat([english, english], ignore_index=True),
            }
        )
        words = pd.DataFrame({"token": np.arange(len(texts)), "word": normalised_texts(texts).astype(object)})
        pairs.append(words.merge(lookup, on="word")[["token", "label"]])
    pairs_all = pd.concat(pairs, ignore_index=True).drop_duplicates()
    codes, labels = pd.factorize(pairs_all["label"], sort=True)
    matrix = sp.csr_matrix(
        (np.ones(len(codes), dtype=np.int8), (pairs_all["token"].to_numpy(), codes)),
        shape=(len(texts), len(labels)),
    )
    return TranslationSets(matrix=matrix, labels=np.asarray(labels, dtype=object))


def shared_meaning(
    neighbors: np.ndarray, sets: sp.csr_matrix, keys: np.ndarray, chunk: int = 1 << 20
) -> np.ndarray:
    """(N, k) bool: ``neighbors[i, j]`` shares a translation with token i and is another word.

    ``keys`` are the tokens' ``surface_keys``: a neighbour with the token's own key (the same word
    in another case, with or without ``▁`` or accents) is no translation. -1 (no neighbour) is
    False. Only pairs where both tokens have a set are tested, ``chunk`` pairs at a time, as the
    row-wise product of the two tokens' sparse rows.
    """
    has = sets.getnnz(axis=1) > 0
    valid = neighbors >= 0
    safe = np.where(valid, neighbors, 0)
    rows, cols = np.nonzero(valid & has[:, None] & has[safe] & (keys[safe] != keys[:, None]))
    out = np.zeros(neighbors.shape, dtype=bool)
    for start in range(0, len(rows), chunk):
        r, c = rows[start:start + chunk], cols[start:start + chunk]
        common = sets[r].multiply(sets[neighbors[r, c]]).sum(axis=1)
        out[r, c] = np.asarray(common).ravel() > 0
    return out


def translations_per_token(sets: sp.csr_matrix, keys: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """(N,) int64: how many other tokens share meaning with each token (as ``shared_meaning`` counts).

    The boolean product ``sets @ setsᵀ`` by blocks of ``chunk`` rows, the token itself and its
    surface variants (same ``keys``) left out.
    """
    sets = sets.astype(np.int32)
    counts = np.zeros(sets.shape[0], dtype=np.int64)
    transposed = sets.T.tocsc()
    for start in range(0, sets.shape[0], chunk):
        block = (sets[start:start + chunk] @ transposed).tocoo()
        row = block.row + start
        other = keys[row] != keys[block.col]  # also drops the token itself
        counts += np.bincount(row[other], minlength=len(counts))
    return counts


def meaning_artifacts(
    neighbors: np.ndarray, tokens: pd.DataFrame, k: int, dictionaries: pd.DataFrame | None = None
) -> dict[str, pd.DataFrame]:
    """The three meaning artifacts of one model (schema.MEANING, MEANING_TOKENS, TRANSLATION_RETRIEVAL).

    ``neighbors`` is the (N, k_stored) int32 neighbour table (best first, -1 = none); ``tokens`` the
    token table with ``id, text, category, is_special, is_zero, concept``. Only eligible tokens
    (``tokens.eligible_mask``) have translation sets.

    * MEANING: per category, over eligible tokens with a non-empty set, the mean number of their k
      nearest neighbours sharing meaning, with 1.96 x SEM; and ``chance_mean``, the same mean for
      k neighbours drawn at random from the other eligible tokens (METHODS §10). Exact: a token
      that shares meaning with m of the n - 1 others expects k·m / (n - 1) of k random ones.
    * MEANING_TOKENS: that number per such token.
    * TRANSLATION_RETRIEVAL: per category, over tokens that have a translation in another
      category (another token sharing meaning, of a different category), the share whose top-1 /
      top-10 neighbours (all stored ones when fewer) include such a translation.
    """
    if not 1 <= k <= neighbors.shape[1]:
        raise ValueError(f"k must lie in 1..{neighbors.shape[1]} (the neighbours stored), got {k}")
    if len(neighbors) != len(tokens):
        raise ValueError(f"neighbors has {len(neighbors)} rows for {len(tokens)} tokens")
    eligible = eligible_mask(tokens)
    sets = translation_sets(tokens["text"].tolist(), tokens["concept"], dictionaries).matrix
    sets = (sp.diags(eligible.astype(np.int8), dtype=np.int8) @ sets).tocsr()
    sets.eliminate_zeros()
    has = sets.getnnz(axis=1) > 0
    keys = surface_keys(tokens["text"].tolist())
    category_codes, categories = pd.factorize(tokens["category"].astype(object))

    depth = min(max(k, max(RETRIEVAL_AT)), neighbors.shape[1])
    shared = shared_meaning(neighbors[:, :depth], sets, keys)
    n_shared = shared[:, :k].sum(axis=1)
    others = max(int(eligible.sum()) - 1, 1)
    chance = min(k, others) * translations_per_token(sets, keys) / others

    per_token = pd.DataFrame(
        {"id": tokens["id"].to_numpy(np.int32)[has], "k": np.int32(k), "n_shared": n_shared[has].astype(np.int32)}
    )
    grouped = pd.DataFrame(
        {"n_shared": n_shared[has].astype(np.float64), "chance": chance[has]}
    ).groupby(categories[category_codes[has]])
    by_category = pd.DataFrame(
        {"n_tokens": grouped.size(), "mean": grouped["n_shared"].mean(),
         "ci95": ci95(grouped["n_shared"].std(ddof=1), grouped.size()), "chance_mean": grouped["chance"].mean()}
    ).rename_axis("category").reset_index()
    by_category.insert(0, "k", np.int32(k))
    by_category = schema.TABLES[schema.MEANING].cast(by_category)  # typed also when empty

    # Translations in another category: concept-by-category counts, then per token.
    one_hot = sp.csr_matrix(
        (np.ones(len(tokens), dtype=np.int32), (np.arange(len(tokens)), category_codes)),
        shape=(len(tokens), len(categories)),
    )
    per_category = np.asarray((sets @ (sets.T.astype(np.int32) @ one_hot)).todense())
    own = per_category[np.arange(len(tokens)), category_codes]
    has_other = has & (per_category.sum(axis=1) - own > 0)
    safe = np.where(neighbors[:, :depth] >= 0, neighbors[:, :depth], 0)
    hit = shared & (category_codes[safe] != category_codes[:, None])
    hits = pd.DataFrame(
        {f"p_at_{n}": hit[has_other, : min(n, depth)].any(axis=1) for n in RETRIEVAL_AT}
    ).groupby(categories[category_codes[has_other]])
    retrieval = hits.mean().assign(n_tokens=hits.size()).rename_axis("category").reset_index()
    retrieval = retrieval[["category", "n_tokens"] + [f"p_at_{n}" for n in RETRIEVAL_AT]]
    retrieval["category"] = retrieval["category"].astype("str")  # also when empty (the contract's dtype)
    return {schema.MEANING: by_category, schema.MEANING_TOKENS: per_token, schema.TRANSLATION_RETRIEVAL: retrieval}


def _dictionaries_fingerprint(frame: pd.DataFrame | None) -> str | None:
    """What the meaning step's result depends on in the dictionaries given to the build (None: none)."""
    if frame is None:
        return None
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()[:16]


STEP = Step(
    "meaning", needs=("tokens", "neighbors"), params=("meaning_k",),
    writes=(schema.MEANING, schema.MEANING_TOKENS, schema.TRANSLATION_RETRIEVAL),
    inputs=lambda ctx: [_dictionaries_fingerprint(ctx.extra.get("dictionaries"))],
    compute=lambda ctx: meaning_artifacts(ctx.array(schema.NEIGHBORS), ctx.table(schema.TOKENS), ctx.config.meaning_k,
                                          ctx.extra.get("dictionaries")),
)
