"""Across models: vocabulary overlap, geometry similarity and side-by-side maps (METHODS §7–9).

``compare_artifacts`` takes each model's token table and embedding matrix and returns the tables of
a comparison directory. Geometry compares each pair of models on the vocabulary *that pair* shares
(METHODS §1, §3): both models' embeddings are restricted to it and their neighbour tables
recomputed over it, so neighbour ids of both index the same list of texts and can be compared. The
shared maps, and the diagonal of the geometry matrix (a model against itself, a visible check), use
the vocabulary *all* the models share (SHARED_TOKENS).

What the models' builds already computed is read, not recomputed: the token tables' categories
(``overlap.eligible_texts``). Their neighbour tables cannot serve: a top 100 over the whole
vocabulary holds on average 60 (use-multilingual-v3) and 41 (multilingual-e5-small) of the 66,422
texts those two share, and all 100 for 0.02 % and 0.4 % of the rows, so the top 100 within the
shared texts is searched again. The shared maps take their k-NN graph from the exact table of every
model's shared rows, searched for the geometry's diagonal anyway, rather than an approximate search
of UMAP's own (which cost pynndescent's compilation and search in every process). (Running the maps
in a thread beside the searches was tried: it needs one BLAS thread throughout, which moved CKA and
the Procrustes residual in their last bits, 7e-16 and 5e-14.)

The four default models all share 6,001 texts, the pairs 9,193–66,422; the 16 neighbour tables are
most of the work, the two of multilingual-e5-small and use-multilingual-v3 (66,422 texts) the most.
Measured in a fresh process (``benchmarks/comparison.py``; AMD EPYC, AVX-512, 2 cores, load average
1–5): the four models' comparison took 149 s (160 CPU s) before the shared maps used the exact table
and 100 s (123 CPU s) after; every file but ``shared_map.parquet`` keeps its sha256. Then 48.7 → 40.4 s (quiet,
same files) once NumPy stopped advising huge pages (``precompute/__init__.py``) and the maps' numba code was
kept on disk (``layout_kernels``): the 16 searches, about 31 s, are now most of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations_with_replacement
from typing import NamedTuple

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits
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
    neighbors: dict[str, np.ndarray]  # slug -> (n, ≥ k) int32 ids into ``shared``, exact, best first
    similarities: dict[str, np.ndarray]  # slug -> their (n, ≥ k) float32 cosines
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

    everyone = view(tuple(slugs))
    summaries, per_token = [], []
    for a, b in tqdm(list(combinations_with_replacement(slugs, 2)), desc="geometry", disable=not progress):
        pair = everyone if a == b else view((a, b))
        if pair is None:
            continue
        for summary, jaccard in _pair_geometry(pair, a, b):
            summaries += [summary.assign(model_a=a, model_b=b)]
            if a != b:
                summaries += [summary.assign(model_a=b, model_b=a)]
                per_token += [jaccard]
    tables[schema.SHARED_MAP], map_notes = _shared_maps(models, shared, everyone, config, progress)
    for name, rows in ((schema.GEOMETRY, summaries), (schema.GEOMETRY_TOKENS, per_token)):
        table = schema.TABLES[name]
        tables[name] = table.cast(pd.concat(rows, ignore_index=True)) if rows else table.empty()
    return Comparison(tables, notes + map_notes)


def _pair_geometry(pair: SharedView, a: str, b: str) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """Models ``a`` and ``b`` on ``pair``'s texts, k by k: the GEOMETRY rows (without the model columns)
    and the per-token Jaccard rows of GEOMETRY_TOKENS."""
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
        yield summary, pd.DataFrame({"model_a": a, "model_b": b, "k": k, "text": texts, "jaccard": jaccard})


def _shared_maps(
    models: dict[str, tuple[pd.DataFrame, np.ndarray]], shared: pd.DataFrame, everyone: SharedView | None,
    config: BuildConfig, progress: bool,
) -> tuple[pd.DataFrame, list[str]]:
    """schema.SHARED_MAP: each model's UMAP of the texts all share, and a note when they are too few.

    UMAP's k-NN graph is ``everyone``'s exact table of these same rows, as for a model's own map,
    not an approximate search of its own. One BLAS thread, as there: the spectral initialisation
    differs in its last bits with the thread count, and the map with it.
    """
    table = schema.TABLES[schema.SHARED_MAP]
    n = len(shared)
    if everyone is None:  # fewer than MIN_SHARED_GEOMETRY: the geometry's note says so
        return table.empty(), []
    if n < MIN_SHARED_MAP:
        return table.empty(), [f"Only {n} shared tokens: UMAP needs at least {MIN_SHARED_MAP}, so no shared maps."]
    maps = []
    texts = shared["text"].to_numpy(object)
    for slug in tqdm(list(models), desc="shared-vocabulary maps", disable=not progress):
        with threadpool_limits(limits=1, user_api="blas"):
            xy = umap_2d(_subset(models[slug][1], shared, slug), config, progress=progress,
                         neighbors=everyone.neighbors[slug], similarities=everyone.similarities[slug])
        maps.append(pd.DataFrame({"model": slug, "text": texts, "x": xy[:, 0], "y": xy[:, 1]}))
    return table.cast(pd.concat(maps, ignore_index=True)), []


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
    # The view of every model also gives the shared maps their k-NN graph: at least umap_neighbors - 1 wide.
    width = min(max(k, config.umap_neighbors - 1), n - 1) if everyone else k
    if k < config.k:
        message = f"neighbours per token lowered from k={config.k} to {k}: only {n} shared tokens."
        notes.append(message[0].upper() + message[1:] if everyone else f"{who}: {message}")
    neighbors, similarities, prepared = {}, {}, {}
    for slug in tqdm(group, desc=f"neighbours on the {n:,} texts shared", disable=not progress):
        rows = _subset(models[slug][1], shared, slug)
        neighbors[slug], similarities[slug] = top_k_neighbors(
            rows, width, valid=None, device=config.device, n_threads=config.n_jobs, progress=progress
        )
        prepared[slug] = Prepared.of(unit_rows(rows), slug)
    return SharedView(shared, k, neighbors, similarities, prepared)


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
    "compare", kind="comparison", params=("k", "umap_neighbors", "umap_min_dist", "umap_epochs", "seed"),
    writes=(schema.VOCAB_OVERLAP, schema.SHARED_TOKENS, schema.GEOMETRY, schema.GEOMETRY_TOKENS, schema.SHARED_MAP),
    compute=_compare_step,
)
