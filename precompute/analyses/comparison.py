"""Across models: vocabulary overlap, geometry similarity and side-by-side maps (METHODS §7–9).

``compare_artifacts`` takes each model's token table and embedding matrix and returns the tables of
a comparison directory. Geometry compares each pair of models on the vocabulary *that pair* shares
(METHODS §1, §3): both models' embeddings are restricted to it and their neighbour tables
recomputed over it, so neighbour ids of both index the same list of texts and can be compared. The
shared maps, and the diagonal of the geometry matrix (a model against itself, a visible check), use
the vocabulary *all* the models share (SHARED_TOKENS).

For the default three models (USEm-v3, WordLlama-L2, all-MiniLM-L6-v2) all three share 7,586
texts, the pairs 9,193–20,109; overlap, the nine neighbour tables and geometry take 25–50 s on 2
busy CPU cores (13–14 s when every pair used the 7,586), the three UMAPs about 35 s, plus numba's
one-off compilation of UMAP (about 2 min, once per process).
"""

from __future__ import annotations

from itertools import combinations_with_replacement
from typing import NamedTuple

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from precompute.analyses.geometry import (
    Prepared,
    neighbor_jaccard,
    pair_similarity,
    paper_overlap,
    random_paper_overlap,
    random_set_overlap,
)
from precompute.analyses.maps import umap_2d
from precompute.analyses.overlap import shared_vocabulary, vocabulary_overlap
from precompute.contract import schema
from precompute.contract.config import BuildConfig
from precompute.contract.indices import unit_rows
from precompute.contract.intervals import ci95
from precompute.knn.neighbors import top_k_neighbors
from precompute.steps import BuildContext, Step, StepOutput

#: Fewest shared tokens with a neighbour (k >= 1), and fewest UMAP accepts.
MIN_SHARED_GEOMETRY = 2
MIN_SHARED_MAP = 3
#: Neighbourhood sizes geometry is reported at (METHODS §7): those up to a pair's k (the build's k,
#: lowered below the pair's shared tokens), and that k itself.
GEOMETRY_KS = schema.DIVERSITY_KS


class Comparison(NamedTuple):
    """What a comparison produces: artifact file name -> table, and notes for the user.

    A note says what could not be computed and why (e.g. no shared vocabulary); such tables are
    written empty, with their columns, rather than filled with made-up numbers.
    """

    tables: dict[str, pd.DataFrame]
    notes: list[str]


class SharedView(NamedTuple):
    """Some models restricted to the texts they all share: rows aligned across the models."""

    shared: pd.DataFrame  # overlap.shared_vocabulary of the models
    k: int  # neighbours per token: the build's k, or fewer when few texts are shared
    neighbors: dict[str, np.ndarray]  # slug -> (n, k) int32 ids into ``shared``
    prepared: dict[str, Prepared]  # slug -> unit rows prepared for CKA and Procrustes


def compare_artifacts(
    models: dict[str, tuple[pd.DataFrame, np.ndarray]], config: BuildConfig, progress: bool = True
) -> Comparison:
    """All comparison tables for ``models`` (slug -> (token table, (N, d) float32 embeddings)).

    Returns ``Comparison(tables, notes)``; ``tables`` holds schema.VOCAB_OVERLAP,
    schema.SHARED_TOKENS, schema.GEOMETRY, schema.GEOMETRY_TOKENS and schema.SHARED_MAP.

    * GEOMETRY is a full square per k (``geometry_ks``): every ordered pair (a, b), diagonal
      included, so a heatmap draws straight from it. All statistics are symmetric, so (b, a)
      repeats (a, b); the diagonal is computed like any pair (Jaccard 1, CKA 1, residual 0 up to
      rounding) as a visible check. One ``ALL`` row per pair and k carries CKA and the Procrustes
      residual (null on category rows; the same at every k). ``jaccard_chance`` and
      ``overlap_chance`` are the exact values for two random k-sets of the pair's other shared
      tokens (``geometry.random_set_overlap``), the reference for "how much is a lot".
    * ``overlap_paper_mean`` is the paper's measure beside ours: k-entry lists holding the token itself
      and its k − 1 nearest, |A∩B| / |A| (``geometry.paper_overlap``; the authors' k was 100), with
      ``overlap_paper_chance`` its value for random neighbours.
    * GEOMETRY_TOKENS holds each unordered pair once (model_a before model_b in the order given),
      one row per k and text the pair shares, for the "whose neighbourhood moved most" table.
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
    views: dict[tuple[str, ...], SharedView | None] = {}

    def view(group: tuple[str, ...]) -> SharedView | None:
        if group not in views:
            texts = shared if group == tuple(slugs) else shared_vocabulary({s: tokens_by_model[s] for s in group})
            views[group] = _shared_view(models, group, texts, config, notes, progress)
        return views[group]

    summaries, per_token = [], []
    pairs = list(combinations_with_replacement(slugs, 2))
    for a, b in tqdm(pairs, desc="geometry", disable=not progress):
        pair = view(tuple(slugs) if a == b else (a, b))
        if pair is None:
            continue
        cka, residual = pair_similarity(pair.prepared[a], pair.prepared[b])
        texts = pair.shared["text"].to_numpy(object)
        for k in geometry_ks(pair.k):
            jaccard, overlap = neighbor_jaccard(pair.neighbors[a], pair.neighbors[b], k)
            as_paper = paper_overlap(pair.neighbors[a], pair.neighbors[b], k)
            summary = _summarise(jaccard, overlap, as_paper, pair.shared["category"].to_numpy(object))
            summary.insert(0, "k", k)
            summary["jaccard_chance"], summary["overlap_chance"] = random_set_overlap(len(texts), k)
            summary["overlap_paper_chance"] = random_paper_overlap(len(texts), k)
            is_all = summary["category"] == schema.ALL_CATEGORIES
            summary["cka"] = np.where(is_all, cka, np.nan)
            summary["procrustes_residual"] = np.where(is_all, residual, np.nan)
            summaries += [summary.assign(model_a=a, model_b=b)]
            if a != b:
                summaries += [summary.assign(model_a=b, model_b=a)]
                per_token.append(pd.DataFrame({"model_a": a, "model_b": b, "k": k, "text": texts, "jaccard": jaccard}))
    for name, rows in ((schema.GEOMETRY, summaries), (schema.GEOMETRY_TOKENS, per_token)):
        table = schema.TABLES[name]
        tables[name] = table.cast(pd.concat(rows, ignore_index=True)) if rows else table.empty()

    n = len(shared)
    if n < MIN_SHARED_GEOMETRY:
        tables[schema.SHARED_MAP] = schema.TABLES[schema.SHARED_MAP].empty()
    elif n < MIN_SHARED_MAP:
        notes.append(f"Only {n} shared tokens: UMAP needs at least {MIN_SHARED_MAP}, so no shared maps.")
        tables[schema.SHARED_MAP] = schema.TABLES[schema.SHARED_MAP].empty()
    else:
        maps = []
        texts = shared["text"].to_numpy(object)
        for slug in tqdm(slugs, desc="shared-vocabulary maps", disable=not progress):
            xy = umap_2d(_subset(models[slug][1], shared, slug), config, progress=progress)
            maps.append(pd.DataFrame({"model": slug, "text": texts, "x": xy[:, 0], "y": xy[:, 1]}))
        tables[schema.SHARED_MAP] = schema.TABLES[schema.SHARED_MAP].cast(pd.concat(maps, ignore_index=True))
    return Comparison(tables, notes)


def geometry_ks(k: int) -> list[int]:
    """The neighbourhood sizes a pair with ``k`` neighbours per token is reported at.

    >>> geometry_ks(100), geometry_ks(60), geometry_ks(5)
    ([10, 50, 100], [10, 50, 60], [5])
    """
    return sorted({x for x in GEOMETRY_KS if x <= k} | {k})


def _shared_view(
    models: dict[str, tuple[pd.DataFrame, np.ndarray]], group: tuple[str, ...], shared: pd.DataFrame,
    config: BuildConfig, notes: list[str], progress: bool,
) -> SharedView | None:
    """``group``'s models on the texts they share (``shared``), or None (with a note) when too few."""
    n = len(shared)
    everyone = len(group) == len(models)
    who = f"The {len(group)} models" if everyone else " and ".join(group)
    if n < MIN_SHARED_GEOMETRY:
        notes.append(
            f"{who} share {n} eligible token text(s); geometry needs at least {MIN_SHARED_GEOMETRY}, so "
            + ("geometry similarity and the shared maps were not computed. " if everyone else
               "their geometry similarity was not computed. ")
            + f"{schema.VOCAB_OVERLAP} shows what each pair shares."
        )
        return None
    k = min(config.k, n - 1)
    if k < config.k:
        message = f"neighbours per token lowered from k={config.k} to {k}: only {n} shared tokens."
        notes.append(message[0].upper() + message[1:] if everyone else f"{who}: {message}")
    neighbors, prepared = {}, {}
    for slug in tqdm(group, desc=f"neighbours on the {n:,} texts shared", disable=not progress):
        rows = _subset(models[slug][1], shared, slug)
        neighbors[slug], _ = top_k_neighbors(
            rows, k, valid=None, device=config.device, n_threads=config.n_jobs, progress=progress
        )
        prepared[slug] = Prepared.of(unit_rows(rows), slug)
    return SharedView(shared, k, neighbors, prepared)


def _subset(embeddings: np.ndarray, shared: pd.DataFrame, slug: str) -> np.ndarray:
    """The (n, d) float32 rows of one model's ``embeddings`` for the texts of ``shared``, in its order."""
    return np.ascontiguousarray(embeddings[shared[schema.shared_id_column(slug)].to_numpy()], dtype=np.float32)


def _summarise(jaccard: np.ndarray, overlap: np.ndarray, as_paper: np.ndarray, categories: np.ndarray) -> pd.DataFrame:
    """Mean Jaccard (with a 95% interval, 1.96 × s.e.m.), mean overlap and the paper's: ALL, then per category.

    ALL comes first, then categories by size. A one-token category has no interval (null, not 0).
    """
    frame = pd.DataFrame({"category": categories, "jaccard": jaccard, "overlap": overlap, "paper": as_paper})
    frame = pd.concat([frame.assign(category=schema.ALL_CATEGORIES), frame], ignore_index=True)
    stats = frame.groupby("category", sort=False).agg(
        n_tokens=("jaccard", "count"), jaccard_mean=("jaccard", "mean"), jaccard_std=("jaccard", "std"),
        overlap_mean=("overlap", "mean"), overlap_paper_mean=("paper", "mean"),
    )
    stats["jaccard_ci95"] = ci95(stats["jaccard_std"].to_numpy(), stats["n_tokens"].to_numpy())
    names = stats.index.to_numpy(str)
    order = np.lexsort((names, -stats["n_tokens"].to_numpy(), names != schema.ALL_CATEGORIES))
    stats = stats.iloc[order].reset_index()
    return stats[["category", "n_tokens", "jaccard_mean", "jaccard_ci95", "overlap_mean", "overlap_paper_mean"]]


def _compare_step(ctx: BuildContext) -> StepOutput:
    tables, notes = compare_artifacts(ctx.extra["models"], ctx.config, progress=ctx.progress)
    ctx.extra["notes"].extend(notes)
    return tables


STEP = Step(
    "compare", kind="comparison", params=("k", "umap_neighbors", "umap_min_dist", "seed"),
    writes=(schema.VOCAB_OVERLAP, schema.SHARED_TOKENS, schema.GEOMETRY, schema.GEOMETRY_TOKENS, schema.SHARED_MAP),
    compute=_compare_step,
)
