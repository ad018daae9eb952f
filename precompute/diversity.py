"""Neighbourhood diversity (METHODS §4): how many writing systems a token's nearest neighbours span.

Per eligible token and neighbourhood size k, from the first k columns of the neighbour table:

- ``n_categories_at_k`` — numNeighborCategory@k, the number of distinct categories among the
  neighbours;
- ``entropy_at_k`` — the entropy, in nats (natural logarithm), of the neighbours' category counts.

Then three summaries: a token-category x neighbour-category breakdown (mean count), per token
category (mean, std, mean entropy with its 95% interval) and per frequency decile.

Conventions, so that the numbers can be checked against the paper's notebooks:

- Neighbour ids of -1 (no neighbour) are skipped, so a token with fewer than k neighbours is
  described by those it has; a token with none gets 0 categories and entropy 0.
- A neighbour that is a special token counts with its category like any other neighbour: the
  neighbour table is searched over the full vocabulary (METHODS §3), and the paper's long table
  kept every neighbour it listed.
- ``std`` is the sample standard deviation (ddof=1, pandas' default as in the paper's notebooks);
  ``ci95`` is 1.96 x std / sqrt(n). Both are NaN for a group of one token.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from precompute import schema
from precompute.intervals import ci95
from precompute.steps import Step
from precompute.tokens import eligible_mask, tokens_by_frequency

_BY_CATEGORY = list(schema.TABLES[schema.DIVERSITY_BY_CATEGORY].column_names)
_BY_DECILE = list(schema.TABLES[schema.DIVERSITY_BY_DECILE].column_names)
#: Rows per block when counting neighbour categories, bounding the (rows, categories) buffer.
_BLOCK = 16384


def neighbor_category_counts(neighbors: np.ndarray, codes: np.ndarray, n_codes: int, k: int) -> np.ndarray:
    """How many of each row's first ``k`` neighbours fall in each category: (n, n_codes) int32.

    ``neighbors`` is (n, >=k) int32 with -1 where there is no neighbour; ``codes`` (N,) maps every
    vocabulary id to its category code in ``0..n_codes-1``. Vectorised with one ``bincount`` per
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
    return out


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
    neighbors: np.ndarray, tokens: pd.DataFrame, ks: tuple[int, ...]
) -> dict[str, pd.DataFrame]:
    """The four diversity tables, keyed by their schema file names.

    ``neighbors``: (N, k_stored) int32, rows by id, self excluded, best first, -1 where none.
    ``tokens``: the token table (``id, category, is_special, is_zero, frequency_decile`` used).
    ``ks``: neighbourhood sizes, each at most ``neighbors.shape[1]``.

    Returns ``schema.DIVERSITY`` (one row per eligible token), ``schema.DIVERSITY_BREAKDOWN``,
    ``schema.DIVERSITY_BY_CATEGORY`` and ``schema.DIVERSITY_BY_DECILE`` (see the schema comments).
    Deciles 1..10 only; tokens with decile 0 (not ranked) are left out of that table.
    """
    if neighbors.ndim != 2 or len(neighbors) != len(tokens):
        raise ValueError(
            f"neighbors must be (N, k) with N = {len(tokens)} token rows, got shape {neighbors.shape}"
        )
    if not ks or any(k < 1 or k > neighbors.shape[1] for k in ks):
        raise ValueError(f"every k must lie in 1..{neighbors.shape[1]} (stored neighbours), got {ks}")
    if "frequency_decile" not in tokens.columns:
        raise ValueError(
            "tokens has no frequency_decile column; add it with precompute.tokens.frequency_deciles "
            "before computing diversity"
        )

    eligible = eligible_mask(tokens)
    codes, names = pd.factorize(tokens["category"].astype(str), sort=True)
    names = np.asarray(names, dtype=object)
    rows = neighbors[eligible]
    token_codes = codes[eligible]
    deciles = tokens["frequency_decile"].to_numpy()[eligible]

    per_token = {"id": tokens["id"].to_numpy(np.int32)[eligible]}
    breakdown, by_category, by_decile = [], [], []
    for k in ks:
        counts = neighbor_category_counts(rows, codes, len(names), k)
        n_cat = (counts > 0).sum(axis=1).astype(np.int16)
        entropy = count_entropy(counts)
        per_token[schema.n_categories_column(k)] = n_cat
        per_token[schema.entropy_column(k)] = entropy.astype(np.float32)
        breakdown.append(_breakdown(counts, token_codes, names, k))
        stats = pd.DataFrame({"n": n_cat.astype(np.float64), "h": entropy})
        by_category.append(_summary(stats, names[token_codes], "category", k)[_BY_CATEGORY])
        ranked = deciles > 0
        by_decile.append(_summary(stats[ranked], deciles[ranked].astype(np.int8), "decile", k)[_BY_DECILE])

    diversity = pd.DataFrame(per_token)
    order = ["id"] + [schema.n_categories_column(k) for k in ks] + [schema.entropy_column(k) for k in ks]
    return {
        schema.DIVERSITY: diversity[order],
        schema.DIVERSITY_BREAKDOWN: pd.concat(breakdown, ignore_index=True),
        schema.DIVERSITY_BY_CATEGORY: pd.concat(by_category, ignore_index=True),
        schema.DIVERSITY_BY_DECILE: pd.concat(by_decile, ignore_index=True),
    }


def _breakdown(counts: np.ndarray, token_codes: np.ndarray, names: np.ndarray, k: int) -> pd.DataFrame:
    """For tokens of category c, the mean count of their k neighbours in category c′ (with ci95).

    Rows for every token category present x every neighbour category seen at least once, so a
    heatmap can show true zeros.
    """
    seen = np.flatnonzero(counts.sum(axis=0) > 0)
    frame = pd.DataFrame(counts[:, seen], columns=names[seen])
    grouped = frame.groupby(names[token_codes], sort=True)
    mean, std, n = grouped.mean(), grouped.std(), grouped.size().to_numpy(np.int64)
    rows, cols = mean.shape
    out = pd.DataFrame(
        {
            "k": np.int16(k),
            "category": np.repeat(mean.index.to_numpy(), cols),
            "neighbor_category": np.tile(mean.columns.to_numpy(), rows),
            "mean": mean.to_numpy().ravel(),
            "ci95": ci95(std.to_numpy(), n[:, None]).ravel(),
            "n_tokens": np.repeat(n, cols),
        }
    )
    for column in ("category", "neighbor_category"):
        out[column] = out[column].astype("string")
    return out


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


STEP = Step(
    "diversity", needs=("tokens", "neighbors"), params=("diversity_ks",),
    writes=(schema.DIVERSITY, schema.DIVERSITY_BREAKDOWN, schema.DIVERSITY_BY_CATEGORY, schema.DIVERSITY_BY_DECILE),
    inputs=lambda ctx: [ctx.file_sha(schema.CORPUS_FREQUENCY)],
    compute=lambda ctx: diversity_artifacts(ctx.array(schema.NEIGHBORS), tokens_by_frequency(ctx),
                                            ctx.config.diversity_ks),
)
