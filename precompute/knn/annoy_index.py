"""Approximate neighbour index (Annoy, angular) for the dashboard's free-text and cross-model queries.

The exact table (``precompute.knn.neighbors``) answers "neighbours of token i"; the index answers
"neighbours of an arbitrary vector" in milliseconds. Item i is vocabulary id i.

Invalid rows (zero norm, or excluded by ``valid``) are not added. Annoy keeps the ids in between
as empty slots that are never part of a tree, so they are never returned; a zero vector added
instead would sit at distance sqrt(2) from everything and turn up as a spurious neighbour.

High-dimensional embeddings need a large ``search_k`` (on use-multilingual-v3, 50 trees with
Annoy's default search_k find only two thirds of the true neighbours), so ``build_annoy`` tunes it
against the exact table and reports the recall it reached.

Building and tuning only: the dashboard reads indices through ``precompute.contract.indices``.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from annoy import AnnoyIndex

from precompute.contract import schema
from precompute.contract.indices import METRIC, valid_rows
from precompute.steps import BuildContext, Step, StepOutput

#: Held-out tokens on which the reported recall is measured, and tokens used to tune search_k.
HELD_OUT = 1000
TUNING = 500
#: Trees built when the caller leaves n_trees at 0: more trees buy little at this dimension,
#: the candidates examined per query (search_k) do the work.
DEFAULT_TREES = 16
#: search_k is raised by this factor until the recall target is met.
SEARCH_K_STEP = 2
#: Rows converted to lists at a time while filling the index.
_ADD_SLICE = 4096


def build_annoy(
    embeddings: np.ndarray,
    path: Path,
    *,
    exact_neighbors: np.ndarray,
    valid: np.ndarray | None = None,
    n_trees: int = 0,
    search_k: int = 0,
    target_recall: float = 0.95,
    seed: int = 0,
    n_jobs: int = 0,
    build_threads: int = 1,
    progress: bool = True,
) -> dict:
    """Build, tune and save an angular Annoy index over the valid rows of ``embeddings``.

    Args:
        embeddings: (N, d) float matrix; item i is row i.
        path: file to write (the artifact store passes a temporary path and moves it into place).
        exact_neighbors: (N, k) int32 exact table from ``top_k_neighbors``; k >= 10.
        valid: optional (N,) bool; rows False, and zero rows, are not indexed.
        n_trees: trees to build; 0 builds DEFAULT_TREES.
        search_k: nodes inspected per query; 0 picks the smallest power-of-two multiple of
            ``n_trees * 100`` whose recall@10 reaches ``target_recall`` on TUNING tokens, then
            confirms it on HELD_OUT other tokens (raising it further if needed).
        target_recall: recall@10 to reach against the exact table.
        seed: seeds the trees and the token samples.
        n_jobs: threads for the tuning queries; 0 uses all cores.
        build_threads: threads that build the trees. Annoy's threaded build gives other trees each
            run; with 1 (the default) the file is byte-identical run to run.
        progress: print what is being tried.

    Returns:
        The manifest entry: n_trees, search_k, recall_at_10, recall_at_50 (None when k < 50),
        sample_size, build_seconds, dim, metric.
    """
    embeddings = np.asarray(embeddings, dtype=np.float32)
    n, dim = embeddings.shape
    exact_neighbors = np.asarray(exact_neighbors)
    if exact_neighbors.ndim != 2 or exact_neighbors.shape[0] != n or exact_neighbors.shape[1] < 10:
        raise ValueError(
            f"exact_neighbors must be the (N={n}, k>=10) table from top_k_neighbors, "
            f"got shape {exact_neighbors.shape}"
        )
    if not 0 < target_recall <= 1:
        raise ValueError(f"target_recall must lie in (0, 1], got {target_recall}")
    if n_trees < 0 or search_k < 0:
        raise ValueError(f"n_trees and search_k must be 0 (tune) or positive, got {n_trees}, {search_k}")
    ids = np.flatnonzero(valid_rows(embeddings, valid))
    if ids.size <= 10:
        raise ValueError(f"an index needs more than 10 valid rows to measure recall@10, got {ids.size}")
    threads = n_jobs or os.cpu_count() or 1
    n_trees = n_trees or DEFAULT_TREES

    start = time.perf_counter()
    index = AnnoyIndex(dim, METRIC)
    index.set_seed(seed)
    # Annoy has no bulk insert; it reads Python lists fastest, so rows go in as lists, a slice at a time.
    for lo in range(0, ids.size, _ADD_SLICE):
        part = ids[lo : lo + _ADD_SLICE]
        for i, row in zip(part.tolist(), embeddings[part].tolist(), strict=True):
            index.add_item(i, row)
    index.build(n_trees, n_jobs=build_threads)
    build_seconds = time.perf_counter() - start

    rng = np.random.default_rng(seed)
    sample = rng.permutation(ids)
    held_out = np.sort(sample[:HELD_OUT])
    tuning = np.sort(sample[HELD_OUT : HELD_OUT + TUNING]) if sample.size > HELD_OUT else held_out
    depths = (10, 50) if exact_neighbors.shape[1] >= 50 else (10,)
    tuned = search_k == 0
    if tuned:
        search_k = _tune_search_k(index, tuning, exact_neighbors, n_trees, ids.size, target_recall,
                                  threads, progress)
    while True:
        recall = recalls(index, held_out, exact_neighbors, depths, search_k, threads)
        if recall[10] >= target_recall or not tuned or search_k >= n_trees * ids.size:
            break
        search_k *= SEARCH_K_STEP
    recall_10, recall_50 = recall[10], recall.get(50)
    if progress:
        print(f"annoy: {n_trees} trees, search_k={search_k}: recall@10={recall_10:.3f} on "
              f"{held_out.size} held-out tokens")
    index.save(str(path))
    return {
        "n_trees": int(n_trees),
        "search_k": int(search_k),
        "recall_at_10": float(recall_10),
        "recall_at_50": None if recall_50 is None else float(recall_50),
        "sample_size": int(held_out.size),
        "build_seconds": round(build_seconds, 3),
        "dim": int(dim),
        "metric": METRIC,
    }


def _tune_search_k(
    index: AnnoyIndex,
    tokens: np.ndarray,
    exact_neighbors: np.ndarray,
    n_trees: int,
    n_items: int,
    target: float,
    threads: int,
    progress: bool,
) -> int:
    """Smallest search_k in n_trees * 100 * 2^j reaching ``target`` recall@10 on ``tokens``."""
    search_k = n_trees * 100
    while True:
        recall = recalls(index, tokens, exact_neighbors, (10,), search_k, threads)[10]
        if progress:
            print(f"annoy: search_k={search_k}: recall@10={recall:.3f} on {tokens.size} tuning tokens")
        # Past n_trees * n_items every tree is searched to its leaves: more cannot help.
        if recall >= target or search_k >= n_trees * n_items:
            return search_k
        search_k *= SEARCH_K_STEP


def recalls(
    index: AnnoyIndex,
    tokens: np.ndarray,
    exact_neighbors: np.ndarray,
    depths: tuple[int, ...],
    search_k: int,
    threads: int = 1,
) -> dict[int, float]:
    """Recall@n for each n in ``depths``: the mean share of a token's n exact neighbours that the
    index returns among its n nearest. One query per token serves every depth: with a fixed
    search_k, Annoy ranks the same candidates however many results are asked for.
    """
    deepest = max(depths)

    def hits(token: int) -> list[int]:
        found = [j for j in index.get_nns_by_item(token, deepest + 1, search_k=search_k) if j != token]
        return [len(set(found[:n]) & set(exact_neighbors[token, :n].tolist())) for n in depths]

    with ThreadPoolExecutor(threads) as pool:  # Annoy releases the GIL while it searches.
        totals = np.sum(list(pool.map(hits, tokens.tolist())), axis=0)
    return {n: float(total) / (n * len(tokens)) for n, total in zip(depths, totals, strict=True)}


def _annoy_step(ctx: BuildContext) -> StepOutput:
    valid = ~ctx.table(schema.TOKENS, columns=["is_zero"])["is_zero"].to_numpy(bool)
    c = ctx.config

    def write(tmp: Path) -> dict:
        ctx.store.manifest["annoy"] = build_annoy(
            ctx.model.embeddings, tmp, exact_neighbors=ctx.array(schema.NEIGHBORS), valid=valid,
            n_trees=c.annoy_trees, search_k=c.annoy_search_k, target_recall=c.annoy_target_recall, seed=c.seed,
            n_jobs=c.n_jobs, build_threads=c.annoy_build_threads, progress=ctx.progress,
        )
        return {}

    return {schema.ANNOY: write}


STEP = Step("annoy", needs=("tokens", "neighbors"),
            params=("annoy_trees", "annoy_search_k", "annoy_target_recall", "seed"),
            writes=(schema.ANNOY,), compute=_annoy_step)
