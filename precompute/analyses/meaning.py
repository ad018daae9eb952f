"""Translation clusters and the "shared meaning" statistics of neighbours (METHODS §6).

The concepts and dictionary translations come from :mod:`precompute.analyses.lexicon`. A token's
translation set is its concepts (the token table's ``concept`` column: CLDR and FreeDict) and, with MUSE
files given to the build, their English translations (an English word translates to itself); a
neighbour shares meaning with the token when their sets intersect and it is a translation: not the
same word written or inflected differently (``word_stems``: ``▁Welt``/``welt``, ``Türk``/``turk``,
``листопад``/``листопада`` are one word), nor another word of the same language (``one_word_or_language``).
Tokens are looked up by their normalised text (boundary marks removed, lower-cased).

The precision of the matches, judged by hand on seeded samples of 200, is recomputed by
``benchmarks/translation_precision.py`` from ``docs/translation_precision*.csv``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from precompute.analyses.diversity import check_no_byte_neighbors, neighbors_without_bytes
from precompute.analyses.lexicon import concept_labels, dictionary_labels, without_function_words, word_stems
from precompute.analyses.tokens import eligible_mask
from precompute.contract import schema
from precompute.contract.intervals import ci95
from precompute.steps import BuildContext, Step, StepOutput

#: The top-n neighbours that translation retrieval looks at (TRANSLATION_RETRIEVAL p_at_1, p_at_10).
RETRIEVAL_AT = (1, 10)
#: Token pairs tested at a time for sharing a word or a language (a few hundred MB at most).
PAIRS_AT_ONCE = 1 << 20

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
    texts: list[str], concepts: pd.Series, dictionaries: pd.DataFrame | None = None,
    languages: pd.Series | None = None,
) -> TranslationSets:
    """Translation sets of N tokens: their concepts (``concepts``, the token table's column: ids joined
    by ``lexicon.CONCEPT_SEPARATOR``, None where there is none) and, with ``dictionaries``
    (``load_muse_dictionaries``), the English words they translate to, in each token's language
    (``languages``, the token table's ``language_guess``) as the token table's FreeDict concepts.
    """
    if len(concepts) != len(texts):
        raise ValueError(f"concepts has {len(concepts)} entries for {len(texts)} texts")
    pairs = [concept_labels(concepts)]
    if dictionaries is not None and len(dictionaries):
        pairs.append(without_function_words(dictionary_labels(texts, dictionaries, languages))[["token", "label"]])
    pairs_all = pd.concat(pairs, ignore_index=True).drop_duplicates()
    codes, labels = pd.factorize(pairs_all["label"], sort=True)
    matrix = sp.csr_matrix(
        (np.ones(len(codes), dtype=np.int8), (pairs_all["token"].to_numpy(), codes)),
        shape=(len(texts), len(labels)),
    )
    return TranslationSets(matrix=matrix, labels=np.asarray(labels, dtype=object))


def one_word_or_language(texts: list[str], languages: pd.Series | None = None) -> sp.csr_matrix:
    """(N, S + L) CSR incidence: two tokens whose rows share a column are no translation of each other.

    The columns are the tokens' ``word_stems`` (the same word in another case, with or without ``▁``
    or accents, or inflected), then their languages (``languages``: the token table's
    ``language_guess``, NA where none): two words of one language that a dictionary gives the same
    English word are synonyms at best (``Anfang`` / ``Beginn``), more often two senses of it (Turkish
    ``kötü`` "bad" and ``büyük`` "big" through "gross") or two forms of one function word (``der`` /
    ``dem``, ``los`` / ``las``); in the English-only all-MiniLM-L6-v2 they were most of the wrong matches
    (``russian`` / ``rus``, ``burma`` / ``burmese``). A translation is a word of another language, as the
    paper's English↔X dictionaries have it. A token without a language is kept apart by its stems only.

        >>> texts, languages = ["▁Welt", "world", "▁der", "▁dem", "▁monde"], pd.Series(["de", "en", "de", "de", None])
        >>> same = one_word_or_language(texts, languages)
        >>> ((same @ same.T).toarray() > 0).astype(int)[[0, 0, 2, 1], [1, 2, 3, 4]].tolist()
        [0, 1, 1, 0]
    """
    stems = word_stems(texts)
    if languages is None:
        return stems
    if len(languages) != len(texts):
        raise ValueError(f"languages has {len(languages)} entries for {len(texts)} texts")
    codes, _ = pd.factorize(pd.Series(languages, dtype=object))
    rows = np.flatnonzero(codes >= 0)
    by_language = sp.csr_matrix((np.ones(len(rows), dtype=stems.dtype), (rows, codes[rows])),
                                shape=(len(texts), max(int(codes.max()) + 1, 0)))
    return sp.hstack([stems, by_language], format="csr")


def shared_meaning(
    neighbors: np.ndarray, sets: sp.csr_matrix, same: sp.csr_matrix, chunk: int = PAIRS_AT_ONCE
) -> np.ndarray:
    """(N, k) bool: ``neighbors[i, j]`` shares a translation with token i and is a translation of it.

    ``same`` is ``one_word_or_language`` of the tokens (or their ``word_stems`` alone): a neighbour
    sharing a column with the token (the same word in another case, with or without ``▁`` or accents,
    or inflected; a word of the same language) is no translation. -1 (no neighbour) is False. Only
    pairs where both tokens have a set are tested, ``chunk`` pairs at a time, as the row-wise products
    of the two tokens' sparse rows.
    """
    has = sets.getnnz(axis=1) > 0
    valid = neighbors >= 0
    safe = np.where(valid, neighbors, 0)
    rows, cols = np.nonzero(valid & has[:, None] & has[safe])
    out = np.zeros(neighbors.shape, dtype=bool)
    for start in range(0, len(rows), chunk):
        r, c = rows[start:start + chunk], cols[start:start + chunk]
        common = np.asarray(sets[r].multiply(sets[neighbors[r, c]]).sum(axis=1)).ravel()
        same_word = np.asarray(same[r].multiply(same[neighbors[r, c]]).sum(axis=1)).ravel()
        out[r, c] = (common > 0) & (same_word == 0)
    return out


def translations_per_token(
    sets: sp.csr_matrix, same: sp.csr_matrix, groups: np.ndarray | None = None, chunk: int = 4096
) -> np.ndarray:
    """(N,) int64: how many other tokens share meaning with each token (as ``shared_meaning`` counts);
    with ``groups`` ((N,) int codes 0..G-1, a category each), (N, G): how many in each group.

    The pairs of the boolean product ``sets @ setsᵀ``, by blocks of ``chunk`` rows, less those that
    share a column of ``same`` (``one_word_or_language``: one word, or one language; the token itself
    included), tested pair by pair: ``same @ sameᵀ`` would be dense where a language has many tokens.
    """
    n = sets.shape[0]
    codes = np.zeros(n, dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
    n_groups = int(codes.max(initial=0)) + 1
    sets, same = sets.astype(np.int32), same.astype(np.int32).tocsr()
    counts = np.zeros(n * n_groups, dtype=np.int64)
    sets_t = sets.T.tocsc()
    for start in range(0, n, chunk):
        shared = ((sets[start:start + chunk] @ sets_t) > 0).tocoo()
        for first in range(0, shared.nnz, PAIRS_AT_ONCE):
            rows = shared.row[first:first + PAIRS_AT_ONCE].astype(np.int64) + start
            cols = shared.col[first:first + PAIRS_AT_ONCE].astype(np.int64)
            apart = np.asarray(same[rows].multiply(same[cols]).sum(axis=1)).ravel() == 0
            counts += np.bincount(rows[apart] * n_groups + codes[cols[apart]], minlength=n * n_groups)
    counts = counts.reshape(n, n_groups)
    return counts[:, 0] if groups is None else counts


def meaning_artifacts(
    neighbors: np.ndarray, tokens: pd.DataFrame, k: int, dictionaries: pd.DataFrame | None = None
) -> dict[str, pd.DataFrame]:
    """The three meaning artifacts of one model (schema.MEANING, MEANING_TOKENS, TRANSLATION_RETRIEVAL).

    ``neighbors`` is the (N, >= k) int32 neighbour table (best first, -1 = none) with byte pieces left
    out (``diversity.neighbors_without_bytes``); ``tokens`` the token table with ``id, text, category,
    is_special, is_zero, concept`` (and ``is_byte``). Only eligible tokens (``tokens.eligible_mask``)
    have translation sets.

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
    depth = min(max(k, max(RETRIEVAL_AT)), neighbors.shape[1])
    check_no_byte_neighbors(neighbors[:, :depth], tokens)
    eligible = eligible_mask(tokens)
    languages = tokens["language_guess"] if "language_guess" in tokens else None
    sets = translation_sets(tokens["text"].tolist(), tokens["concept"], dictionaries, languages).matrix
    sets = (sp.diags(eligible.astype(np.int8), dtype=np.int8) @ sets).tocsr()
    sets.eliminate_zeros()
    has = sets.getnnz(axis=1) > 0
    same = one_word_or_language(tokens["text"].tolist(), languages)
    category_codes, categories = pd.factorize(tokens["category"].astype(object))

    shared = shared_meaning(neighbors[:, :depth], sets, same)
    n_shared = shared[:, :k].sum(axis=1)
    others = max(int(eligible.sum()) - 1, 1)
    per_category = translations_per_token(sets, same, category_codes)
    chance = min(k, others) * per_category.sum(axis=1) / others

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

    # Translations in another category (per_category: each token's translations by their category).
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


def _meaning_step(ctx: BuildContext) -> StepOutput:
    tokens, stored = ctx.table(schema.TOKENS), ctx.array(schema.NEIGHBORS)
    depth = min(max(ctx.config.meaning_k, max(RETRIEVAL_AT)), stored.shape[1])
    neighbors = neighbors_without_bytes(stored, tokens, ctx.model.embeddings, depth)
    return meaning_artifacts(neighbors, tokens, ctx.config.meaning_k, ctx.extra.get("dictionaries"))


# version 2: byte pieces left out as neighbours; 3: two words of one language are no translation
STEP = Step(
    "meaning", needs=("tokens", "neighbors"), params=("meaning_k",), threads=1, version=3,
    writes=(schema.MEANING, schema.MEANING_TOKENS, schema.TRANSLATION_RETRIEVAL),
    inputs=lambda ctx: [_dictionaries_fingerprint(ctx.extra.get("dictionaries"))],
    compute=_meaning_step,
)
