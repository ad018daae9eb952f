"""Across models: vocabulary overlap, geometry similarity and side-by-side maps (METHODS §7–9).

``compare_artifacts`` takes each model's token table and embedding matrix and returns the tables of
a comparison directory. Geometry and maps use the vocabulary shared by *all* the models given
(METHODS §1, §3): each model's embeddings are restricted to it and its neighbour table recomputed
over it, so neighbour ids of every model index the same list of texts and can be compared.

For the default three models (USEm-v3, WordLlama-L2, all-MiniLM-L6-v2) the shared vocabulary is
7,586 texts: overlap, neighbours and geometry take about 16 s on 2 busy CPU cores; the three UMAPs
about 35 s, plus numba's one-off compilation of UMAP (about 2 min, once per process).
"""

from __future__ import annotations

from itertools import combinations_with_replacement
from typing import NamedTuple

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from precompute import schema
from precompute.config import BuildConfig
from precompute.geometry import Prepared, neighbor_jaccard, pair_similarity
from precompute.intervals import ci95
from precompute.maps import umap_2d
from precompute.neighbors import top_k_neighbors
from precompute.overlap import shared_vocabulary, vocabulary_overlap
from precompute.steps import BuildContext, Step, StepOutput

#: Fewest shared tokens with a neighbour (k >= 1), and fewest UMAP accepts.
MIN_SHARED_GEOMETRY = 2
MIN_SHARED_MAP = 3


class Comparison(NamedTuple):
    """What a comparison produces: artifact file name -> table, and notes for the user.

    A note says what could not be computed and why (e.g. no shared vocabulary); such tables are
    written empty, with their columns, rather than filled with made-up numbers.
    """

    tables: dict[str, pd.DataFrame]
    notes: list[str]


def compare_artifacts(
    models: dict[str, tuple[pd.DataFrame, np.ndarray]], config: BuildConfig, progress: bool = True
) -> Comparison:
    """All comparison tables for ``models`` (slug -> (token table, (N, d) float32 embeddings)).

    Returns ``Comparison(tables, notes)``; ``tables`` holds schema.VOCAB_OVERLAP,
    schema.SHARED_TOKENS, schema.GEOMETRY, schema.GEOMETRY_TOKENS and schema.SHARED_MAP.

    * GEOMETRY is a full square: every ordered pair (a, b), diagonal included, so a heatmap draws
      straight from it. All four statistics are symmetric, so (b, a) repeats (a, b); the diagonal
      is computed like any pair (Jaccard 1, CKA 1, residual 0 up to rounding) as a visible check.
      One ``ALL`` row per pair carries CKA and the Procrustes residual (null on category rows).
    * GEOMETRY_TOKENS holds each unordered pair once (model_a before model_b in the order given),
      one row per shared text, for the "whose neighbourhood moved most" table.
    * CKA and Procrustes use the L2-normalised rows: the cosine geometry the neighbours see, not
      the norms (which mostly track token frequency).
    """
    if len(models) < 2:
        raise ValueError("compare needs at least two models")
    for slug, (tokens, embeddings) in models.items():
        if np.ndim(embeddings) != 2 or len(embeddings) != len(tokens):
            raise ValueError(
                f"model {slug!r}: embeddings of shape {np.shape(embeddings)} do not match its "
                f"{len(tokens)}-row token table: rebuild the model with the command in its manifest"
            )
    slugs = list(models)
    tokens_by_model = {slug: tokens for slug, (tokens, _) in models.items()}
    shared = shared_vocabulary(tokens_by_model)
    tables = {schema.VOCAB_OVERLAP: vocabulary_overlap(tokens_by_model), schema.SHARED_TOKENS: shared}
    notes: list[str] = []
    empty = {name: schema.TABLES[name].empty() for name in (schema.GEOMETRY, schema.GEOMETRY_TOKENS, schema.SHARED_MAP)}
    n = len(shared)
    if n < MIN_SHARED_GEOMETRY:
        notes.append(
            f"The {len(slugs)} models share {n} eligible token text(s); geometry needs at least "
            f"{MIN_SHARED_GEOMETRY}, so geometry similarity and the shared maps were not computed. "
            f"{schema.VOCAB_OVERLAP} shows what each pair shares."
        )
        return Comparison({**tables, **empty}, notes)

    k = min(config.k, n - 1)
    if k < config.k:
        notes.append(f"Neighbours per token lowered from k={config.k} to {k}: only {n} shared tokens.")
    subsets = {
        slug: np.ascontiguousarray(models[slug][1][shared[schema.shared_id_column(slug)].to_numpy()],
                                   dtype=np.float32)
        for slug in slugs
    }
    neighbors = {}
    for slug in tqdm(slugs, desc="shared-vocabulary neighbours", disable=not progress):
        neighbors[slug], _ = top_k_neighbors(
            subsets[slug], k, valid=None, device=config.device, n_threads=config.n_jobs, progress=progress
        )
    prepared = {slug: Prepared.of(_unit_rows(x), slug) for slug, x in subsets.items()}
    texts = shared["text"].to_numpy(object)
    categories = shared["category"].to_numpy(object)

    summaries, per_token = [], []
    pairs = list(combinations_with_replacement(slugs, 2))
    for a, b in tqdm(pairs, desc="geometry", disable=not progress):
        jaccard, overlap = neighbor_jaccard(neighbors[a], neighbors[b], k)
        summary = _summarise(jaccard, overlap, categories)
        is_all = summary["category"] == schema.ALL_CATEGORIES
        cka, residual = pair_similarity(prepared[a], prepared[b])
        summary["cka"] = np.where(is_all, cka, np.nan)
        summary["procrustes_residual"] = np.where(is_all, residual, np.nan)
        summaries += [summary.assign(model_a=a, model_b=b)]
        if a != b:
            summaries += [summary.assign(model_a=b, model_b=a)]
            per_token.append(pd.DataFrame({"model_a": a, "model_b": b, "text": texts, "jaccard": jaccard}))
    tables[schema.GEOMETRY] = schema.TABLES[schema.GEOMETRY].cast(pd.concat(summaries, ignore_index=True))
    tables[schema.GEOMETRY_TOKENS] = schema.TABLES[schema.GEOMETRY_TOKENS].cast(pd.concat(per_token, ignore_index=True))

    if n < MIN_SHARED_MAP:
        notes.append(f"Only {n} shared tokens: UMAP needs at least {MIN_SHARED_MAP}, so no shared maps.")
        tables[schema.SHARED_MAP] = empty[schema.SHARED_MAP]
    else:
        maps = []
        for slug in tqdm(slugs, desc="shared-vocabulary maps", disable=not progress):
            xy = umap_2d(subsets[slug], config, progress=progress)
            maps.append(pd.DataFrame({"model": slug, "text": texts, "x": xy[:, 0], "y": xy[:, 1]}))
        tables[schema.SHARED_MAP] = schema.TABLES[schema.SHARED_MAP].cast(pd.concat(maps, ignore_index=True))
    return Comparison(tables, notes)


def _summarise(jaccard: np.ndarray, overlap: np.ndarray, categories: np.ndarray) -> pd.DataFrame:
    """Mean Jaccard (with a 95% interval, 1.96 × s.e.m.) and mean overlap: ALL, then per category.

    ALL comes first, then categories by size. A one-token category has no interval (null, not 0).
    """
    frame = pd.DataFrame({"category": categories, "jaccard": jaccard, "overlap": overlap})
    frame = pd.concat([frame.assign(category=schema.ALL_CATEGORIES), frame], ignore_index=True)
    stats = frame.groupby("category", sort=False).agg(
        n_tokens=("jaccard", "count"), jaccard_mean=("jaccard", "mean"), jaccard_std=("jaccard", "std"),
        overlap_mean=("overlap", "mean"),
    )
    stats["jaccard_ci95"] = ci95(stats["jaccard_std"].to_numpy(), stats["n_tokens"].to_numpy())
    names = stats.index.to_numpy(str)
    order = np.lexsort((names, -stats["n_tokens"].to_numpy(), names != schema.ALL_CATEGORIES))
    stats = stats.iloc[order].reset_index()
    return stats[["category", "n_tokens", "jaccard_mean", "jaccard_ci95", "overlap_mean"]]


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, float64 (shared rows are never zero: zero rows are not eligible)."""
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _compare_step(ctx: BuildContext) -> StepOutput:
    tables, notes = compare_artifacts(ctx.extra["models"], ctx.config, progress=ctx.progress)
    ctx.extra["notes"].extend(notes)
    return tables


STEP = Step(
    "compare", kind="comparison", params=("k", "umap_neighbors", "umap_min_dist", "seed"),
    writes=(schema.VOCAB_OVERLAP, schema.SHARED_TOKENS, schema.GEOMETRY, schema.GEOMETRY_TOKENS, schema.SHARED_MAP),
    compute=_compare_step,
)
