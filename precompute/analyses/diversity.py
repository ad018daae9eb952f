"""Neighbourhood diversity (METHODS §4) and its chance baselines (§10), under both conventions.

Per eligible token and neighbourhood size k, from the first k columns of the neighbour table:

- ``n_categories_at_k`` — numNeighborCategory@k, the number of distinct categories among the
  neighbours;
- ``entropy_at_k`` — the entropy, in nats (natural logarithm), of the neighbours' category counts.

Then three summaries: a token-category x neighbour-category breakdown (mean count), per token
category (mean, std, mean entropy with its 95% interval) and per frequency decile; and the chance
baselines: what numNeighborCategory@k would be for k random tokens (exact) and under categories
shuffled over the tokens (a permutation null on the real neighbour table).

Every statistic exists under both conventions (``precompute.contract.conventions``): ``refined`` (the
columns above; the token itself left out, categories with ``▁`` stripped) and ``paper`` (columns
``…_paper``: the token itself counted, as the authors' top-(k+1) lists did, paper categories). The
summaries carry a ``convention`` column. Under the paper's convention a breakdown cell is the mean
over the tokens of the row category that have at least one neighbour in the column category (the
authors averaged only the pairs that occur); under ours, over all of them, zeros included.

Further conventions, so that the numbers can be checked against the paper's notebooks:

- Neighbour ids of -1 (no neighbour) are skipped, so a token with fewer than k neighbours is
  described by those it has; a token with none gets 0 categories and entropy 0.
- A neighbour that is a special token counts with its category like any other neighbour: the
  neighbour table is searched over the full vocabulary (METHODS §3), and the paper's long table
  kept every neighbour it listed.
- Byte pieces (``<0xE3>``, Llama-2's byte fallback) are left out as neighbours as they are as tokens:
  the statistics read ``neighbors_without_bytes``, each token's k nearest among the tokens that are
  not byte pieces, as the authors' scripts searched only the vocabulary they studied (their
  ``find_neighbors.py`` ranks the rows of ``vocab_map`` among themselves). ``diversity_artifacts``
  refuses a table that still lists a byte piece.
- ``std`` is the sample standard deviation (ddof=1, pandas' default as in the paper's notebooks);
  ``ci95`` is 1.96 x std / sqrt(n). Both are NaN for a group of one token.
- The paper's figures used a 1% sample of tokens, special tokens included; we use every eligible
  token (not special, not a byte piece, not a zero row) under both conventions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import gammaln

from precompute.analyses.tokens import eligible_mask, tokens_by_frequency
from precompute.contract import schema
from precompute.contract.conventions import PAPER, REFINED, category_column
from precompute.contract.intervals import ci95
from precompute.knn.neighbors import normalize_rows
from precompute.steps import BuildContext, Step, StepOutput

#: Rows per block when counting neighbour categories, bounding the (rows, categories) buffer.
_BLOCK = 16384


def neighbors_without_bytes(
    neighbors: np.ndarray, tokens: pd.DataFrame, embeddings: np.ndarray, k: int, chunk: int = 1024
) -> np.ndarray:
    """Each token's ``k`` nearest neighbours among the tokens that are not byte pieces: (N, k) int32.

    ``neighbors``: (N, k_stored) int32, the exact table (best first, ties to the smaller id, -1 for
    none); ``tokens``: the token table (``is_byte``, ``is_zero``); ``embeddings``: the (N, d) matrix.
    A byte piece (``<0xE3>``) is no text: left out of the statistics as a token, it is left out as a
    neighbour too, and the next neighbours move up (METHODS §3). Where the stored row runs out of
    non-byte neighbours before ``k`` (wordllama-l2: 5,777 of 32,000 rows at k = 100, 560 at
    k = 50), the row is searched again by cosine over the non-byte, non-zero rows, with the same
    tie rule, ``chunk`` rows at a time; so the result is the exact top-k of the vocabulary without
    its byte pieces, what a search that never saw them would have stored.

    >>> e = np.array([[1, 0], [1, .1], [1, .2], [0, 1]], dtype=np.float32)
    >>> t = pd.DataFrame({"is_byte": [False, True, False, False], "is_zero": [False] * 4})
    >>> neighbors_without_bytes(np.array([[1, 2], [0, 2], [1, 0], [2, 1]]), t, e, 2).tolist()
    [[2, 3], [0, 2], [0, 3], [2, 0]]
    """
    if not 1 <= k <= neighbors.shape[1]:
        raise ValueError(f"k must lie in 1..{neighbors.shape[1]} (the neighbours stored), got {k}")
    is_byte = tokens["is_byte"].to_numpy(bool)
    if not is_byte.any():
        return neighbors[:, :k]
    keep = (neighbors >= 0) & ~is_byte[np.maximum(neighbors, 0)]
    rank = np.cumsum(keep, axis=1) - 1  # the column each kept neighbour moves to
    out = np.full((len(neighbors), k), -1, dtype=np.int32)
    rows, cols = np.nonzero(keep & (rank < k))
    out[rows, rank[rows, cols]] = neighbors[rows, cols]
    # A full stored row left with fewer than k: its next non-byte neighbours lie beyond the table.
    short = np.flatnonzero((keep.sum(axis=1) < k) & (neighbors[:, -1] >= 0))
    if short.size:
        allowed = np.flatnonzero(~is_byte & ~tokens["is_zero"].to_numpy(bool))
        unit = normalize_rows(embeddings, allowed)
        for lo in range(0, short.size, chunk):
            part = short[lo:lo + chunk]
            sims = normalize_rows(embeddings, part) @ unit.T  # (rows, allowed), columns by ascending id
            own = np.minimum(np.searchsorted(allowed, part), allowed.size - 1)
            itself = allowed[own] == part
            sims[np.flatnonzero(itself), own[itself]] = -np.inf
            kth = -np.partition(-sims, k - 1, axis=1)[:, k - 1 : k]
            r, c = np.nonzero((sims >= kth) & (sims > -np.inf))  # the top k and any ties with the k-th
            order = np.lexsort((c, -sims[r, c], r))  # by row, similarity down, id up
            r, c = r[order], c[order]
            first = np.searchsorted(r, np.arange(len(part)))
            at = np.arange(len(r)) - first[r]
            out[part[r[at < k]], at[at < k]] = allowed[c[at < k]]
    return out


def check_no_byte_neighbors(neighbors: np.ndarray, tokens: pd.DataFrame) -> None:
    """Raise ValueError when an eligible token's neighbour list still holds a byte piece.

    The statistics leave byte pieces out as neighbours (``neighbors_without_bytes``); a raw
    neighbour table of a vocabulary with byte pieces would count them silently.
    """
    if "is_byte" not in tokens or not tokens["is_byte"].any():
        return
    rows = neighbors[eligible_mask(tokens)]
    listed = tokens["is_byte"].to_numpy(bool)[np.maximum(rows, 0)] & (rows >= 0)
    if listed.any():
        raise ValueError(
            f"{int(listed.any(axis=1).sum()):,} tokens have byte pieces among their neighbours; pass "
            "neighbors_without_bytes(neighbors, tokens, embeddings, k) instead of the stored table"
        )


def neighbor_category_counts(
    neighbors: np.ndarray, codes: np.ndarray, n_codes: int, k: int, own: np.ndarray | None = None
) -> np.ndarray:
    """How many of each row's first ``k`` neighbours fall in each category: (n, n_codes) int32.

    ``neighbors`` is (n, >=k) int32 with -1 where there is no neighbour; ``codes`` (N,) maps every
    vocabulary id to its category code in ``0..n_codes-1``. ``own`` (n,), the rows' own codes,
    counts each row itself too (the paper's convention). Vectorised with one ``bincount`` per
    block of rows: row r's code c lands in bin ``r * (n_codes + 1) + c``, and -1 neighbours in the
    extra bin ``n_codes`` that is dropped.
    """
    n = len(neighbors)
    out = np.zeros((n, n_codes), dtype=np.int32)
    width = n_codes + 1
    for start in range(0, n, _BLOCK):
        block = neighbors[start : start + _BLOCK, :k]
        rows = len(block)
        nb_codes = np.where(block >= 0, codes[np.maximum(block, 0)], n_codes)
        bins = nb_codes + (np.arange(rows, dtype=np.int64) * width)[:, None]
        counts = np.bincount(bins.ravel(), minlength=rows * width).reshape(rows, width)
        out[start : start + rows] = counts[:, :n_codes]
    if own is not None:
        out[np.arange(n), own] += 1
    return out


def expected_random_categories(sizes: np.ndarray, k: int, include_self: bool = False) -> float:
    """Expected number of distinct categories among k tokens drawn at random without replacement.

    ``sizes``: tokens per category (N in all). E = Σ_c [1 − C(N − n_c, k) / C(N, k)] (METHODS §10).
    With ``include_self`` (the paper's convention) a token of category c adds itself to k draws
    from the N − 1 others: 1 + Σ_{c' ≠ c} [1 − C(N − 1 − n_c', k) / C(N − 1, k)], averaged over the
    tokens. Ratios of binomials go through log-gamma, exact to rounding at any vocabulary size.

    >>> round(expected_random_categories(np.array([1, 1]), 1), 3)  # one draw: one category
    1.0
    """
    sizes = np.asarray(sizes, dtype=np.float64)
    sizes = sizes[sizes > 0]
    n = sizes.sum()

    def miss(pool: float, size: np.ndarray) -> np.ndarray:
        """P(no draw of k from ``pool`` falls in a category of ``size``) = C(pool − size, k) / C(pool, k)."""
        rest = pool - size
        possible = rest >= k  # otherwise some draw must fall in the category
        r = np.where(possible, rest, k)
        log = gammaln(r + 1) - gammaln(r - k + 1) - gammaln(pool + 1) + gammaln(max(pool - k, 0) + 1)
        return np.where(possible, np.exp(log), 0.0)

    if not include_self:
        return float(np.sum(1 - miss(n, sizes)))
    hit = 1 - miss(n - 1, sizes)  # per other category c'
    per_own = 1 + hit.sum() - hit  # a token of category c: itself, plus every c' != c hit
    return float(np.sum(sizes / n * per_own))


def count_entropy(counts: np.ndarray) -> np.ndarray:
    """Entropy in nats of each row's count distribution: (n,) float64, 0 for an all-zero row.

    >>> round(float(count_entropy(np.array([[2, 1, 0]]))[0]), 4)  # -(2/3 ln 2/3 + 1/3 ln 1/3)
    0.6365
    """
    total = counts.sum(axis=1, keepdims=True)
    p = counts / np.maximum(total, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return -terms.sum(axis=1) + 0.0  # + 0.0 turns -0.0 into 0.0


def diversity_artifacts(
    neighbors: np.ndarray, tokens: pd.DataFrame, ks: tuple[int, ...], seed: int = 0
) -> dict[str, pd.DataFrame]:
    """The diversity tables, keyed by their schema file names, under both conventions.

    ``neighbors``: (N, >= max(ks)) int32, rows by id, self excluded, best first, -1 where none, byte
    pieces left out (``neighbors_without_bytes``).
    ``tokens``: the token table (``id, category, category_paper``, the flags, ``frequency_decile``).
    ``ks``: neighbourhood sizes, each at most ``neighbors.shape[1]``. ``seed``: of the permutation null.

    Returns ``schema.DIVERSITY`` (one row per eligible token), ``schema.DIVERSITY_BREAKDOWN``,
    ``schema.DIVERSITY_BY_CATEGORY``, ``schema.DIVERSITY_BY_DECILE`` and ``schema.DIVERSITY_CHANCE``
    (see the schema). Never-seen tokens form decile 0; tokens not ranked (-1) are left out there.
    """
    if neighbors.ndim != 2 or len(neighbors) != len(tokens):
        raise ValueError(
            f"neighbors must be (N, k) with N = {len(tokens)} token rows, got shape {neighbors.shape}"
        )
    if not ks or any(k < 1 or k > neighbors.shape[1] for k in ks):
        raise ValueError(f"every k must lie in 1..{neighbors.shape[1]} (stored neighbours), got {ks}")
    if "frequency_decile" not in tokens.columns:
        raise ValueError(
            "tokens has no frequency_decile column; add it with precompute.analyses.tokens.frequency_deciles "
            "before computing diversity"
        )

    check_no_byte_neighbors(neighbors[:, :max(ks)], tokens)
    eligible = eligible_mask(tokens)
    rows = neighbors[eligible]
    deciles = tokens["frequency_decile"].to_numpy()[eligible]
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {"id": tokens["id"].to_numpy(np.int32)[eligible]}
    breakdown, by_category, by_decile, chance = [], [], [], []
    for convention in (REFINED, PAPER):
        paper = convention == PAPER
        codes, names = pd.factorize(tokens[category_column(convention)].astype(str), sort=True)
        names = np.asarray(names, dtype=object)
        token_codes = codes[eligible]
        shuffled = rng.permutation(codes)
        sizes = np.bincount(token_codes, minlength=len(names))
        for k in ks:
            counts = neighbor_category_counts(rows, codes, len(names), k, own=token_codes if paper else None)
            n_cat = (counts > 0).sum(axis=1).astype(np.int16)
            entropy = count_entropy(counts)
            columns[schema.n_categories_column(k, convention)] = n_cat
            columns[schema.entropy_column(k, convention)] = entropy.astype(np.float32)
            breakdown.append(_breakdown(counts, token_codes, names, k, occurring_only=paper).assign(
                convention=convention))
            stats = pd.DataFrame({"n": n_cat.astype(np.float64), "h": entropy})
            by_category.append(_summary(stats, names[token_codes], "category", k).assign(convention=convention))
            ranked = deciles >= schema.UNSEEN_DECILE
            by_decile.append(_summary(stats[ranked], deciles[ranked].astype(np.int8), "decile", k).assign(
                convention=convention))
            null = (neighbor_category_counts(rows, shuffled, len(names), k, own=shuffled[eligible] if paper else None)
                    > 0).sum(axis=1)
            chance.append((convention, k, float(n_cat.mean()), float(np.std(n_cat, ddof=1)) if len(n_cat) > 1
                           else np.nan, expected_random_categories(sizes, k, include_self=paper),
                           float(null.mean()), float(np.std(null, ddof=1)) if len(null) > 1 else np.nan))

    per_token = pd.DataFrame(columns)
    order = ["id"] + [schema.n_categories_column(k, c) for c in (REFINED, PAPER) for k in ks]
    order += [schema.entropy_column(k, c) for c in (REFINED, PAPER) for k in ks]
    tables = {
        schema.DIVERSITY_BREAKDOWN: pd.concat(breakdown, ignore_index=True),
        schema.DIVERSITY_BY_CATEGORY: pd.concat(by_category, ignore_index=True),
        schema.DIVERSITY_BY_DECILE: pd.concat(by_decile, ignore_index=True),
        schema.DIVERSITY_CHANCE: pd.DataFrame(chance, columns=schema.TABLES[schema.DIVERSITY_CHANCE].column_names),
    }
    return {schema.DIVERSITY: per_token[order], **{name: schema.TABLES[name].cast(t) for name, t in tables.items()}}


def _breakdown(counts: np.ndarray, token_codes: np.ndarray, names: np.ndarray, k: int,
               occurring_only: bool = False) -> pd.DataFrame:
    """For tokens of category c, the mean count of their k neighbours in category c′ (with ci95).

    Rows for every token category present x every neighbour category seen at least once, so a
    heatmap can show true zeros. With ``occurring_only`` (the paper's convention) a cell averages
    only the tokens with at least one neighbour in c′ (``n_tokens`` counts them), and cells where
    no token has one are left out, as the authors' long table had no such pairs.
    """
    seen = np.flatnonzero(counts.sum(axis=0) > 0)
    frame = pd.DataFrame(counts[:, seen], columns=names[seen])
    if occurring_only:
        frame = frame.where(frame > 0)  # zeros become NaN, which mean/std/count skip
    grouped = frame.groupby(names[token_codes], sort=True)
    mean, std, n = grouped.mean(), grouped.std(), grouped.count().to_numpy(np.int64)
    rows, cols = mean.shape
    out = pd.DataFrame(
        {
            "k": np.int16(k),
            "category": np.repeat(mean.index.to_numpy(), cols),
            "neighbor_category": np.tile(mean.columns.to_numpy(), rows),
            "mean": mean.to_numpy().ravel(),
            "ci95": ci95(std.to_numpy(), n).ravel(),
            "n_tokens": n.ravel(),
        }
    )
    if occurring_only:
        out = out[out["n_tokens"] > 0]
    for column in ("category", "neighbor_category"):
        out[column] = out[column].astype("string")
    return out.reset_index(drop=True)


def _summary(stats: pd.DataFrame, groups: np.ndarray, column: str, k: int) -> pd.DataFrame:
    """Per group: n_tokens, mean/std/ci95 of numNeighborCategory@k, mean/ci95 of entropy."""
    agg = stats.groupby(groups, sort=True).agg(
        n_tokens=("n", "size"), mean=("n", "mean"), std=("n", "std"),
        entropy_mean=("h", "mean"), entropy_std=("h", "std"),
    )
    n = agg["n_tokens"].to_numpy(np.int64)
    return pd.DataFrame(
        {
            "k": np.int16(k),
            column: agg.index.to_numpy() if column != "category" else pd.array(agg.index, dtype="string"),
            "n_tokens": n,
            "mean": agg["mean"].to_numpy(),
            "std": agg["std"].to_numpy(),
            "ci95": ci95(agg["std"].to_numpy(), n),
            "entropy_mean": agg["entropy_mean"].to_numpy(),
            "entropy_ci95": ci95(agg["entropy_std"].to_numpy(), n),
        }
    )


def _diversity_step(ctx: BuildContext) -> StepOutput:
    tokens = tokens_by_frequency(ctx)
    ks = ctx.config.diversity_ks
    neighbors = neighbors_without_bytes(ctx.array(schema.NEIGHBORS), tokens, ctx.model.embeddings, max(ks))
    return diversity_artifacts(neighbors, tokens, ks, ctx.config.seed)


# version 2: byte pieces left out as neighbours
STEP = Step(
    "diversity", needs=("tokens", "neighbors"), params=("diversity_ks", "seed"), threads=1, version=2,
    writes=(schema.DIVERSITY, schema.DIVERSITY_BREAKDOWN, schema.DIVERSITY_BY_CATEGORY, schema.DIVERSITY_BY_DECILE,
            schema.DIVERSITY_CHANCE),
    inputs=lambda ctx: [ctx.file_sha(schema.CORPUS_FREQUENCY)],
    compute=_diversity_step,
)
