"""Approximate neighbour index (Annoy, angular) for the dashboard's free-text and cross-model queries.

The exact table (``precompute.knn.neighbors``) answers "neighbours of token i"; the index answers
"neighbours of an arbitrary vector" in milliseconds. Item i is vocabulary id i.

Invalid rows (zero norm, or excluded by ``valid``) are not added. Annoy keeps the ids in between
as empty slots that are never part of a tree, so they are never returned; a zero vector added
instead would sit at distance sqrt(2) from everything and turn up as a spurious neighbour.

High-dimensional embeddings need a large ``search_k`` (on use-multilingual-v3, 50 trees with
Annoy's default search_k find only two thirds of the true neighbours), so ``build_annoy`` tunes it
against the exact table and reports the recall it reached. A query's time grows in proportion to
search_k (each candidate is a row read from the file and a dot product), so the tuning takes the
smallest search_k that reaches the target. It does not query the index at trial values: one walk
of Annoy's search per tuning token (``precompute.knn.annoy_walk``) tells at which search_k each of
its true neighbours becomes a candidate, which gives recall at every search_k at once; Annoy's own
queries then confirm the value on held-out tokens. ``benchmarks/knn.py`` measures recall and
latency over trees x search_k.

Building and tuning only: the dashboard reads indices through ``precompute.contract.indices``.
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from annoy import AnnoyIndex

from precompute.contract import schema
from precompute.contract.config import BuildConfig
from precompute.contract.indices import METRIC, open_annoy, valid_rows
from precompute.steps import BuildContext, Step, StepOutput

#: Held-out tokens on which the reported recall is measured (with Annoy's queries), and tokens on
#: which search_k is tuned (by walking: on multilingual-e5-small about 1 CPU-ms a token, where one of
#: Annoy's queries at the tuned search_k takes 8). 2000 tuning tokens measure recall@10 to about
#: ±0.002 (the search_k picked varies by 3-4 % from one sample of tokens to another).
HELD_OUT = 1000
TUNING = 2000
#: Trees built when the caller leaves n_trees at 0: the build's default (BuildConfig.annoy_trees).
#: Measured on multilingual-e5-small (benchmarks/knn.py, 300 tokens): recall@10 0.955 takes
#: search_k ~62,000 with 16 trees, ~43,000 with 32 and ~37,000 with 64, and a query's time follows
#: search_k; 64 trees cost a 34 % larger index (558 MiB against 416) and ~20 s more of build.
DEFAULT_TREES = BuildConfig.annoy_trees
#: When the held-out tokens miss the target, search_k is raised by this factor until they reach it.
SEARCH_K_RESOLUTION = 1.1
#: The tuning tokens must reach the target by this much more, so that the held-out tokens, another
#: sample, reach the target itself: 1000 of them measure recall@10 to about ±0.003, so they still
#: miss it about one time in eight (200 resamplings each of multilingual-e5-small and
#: use-multilingual-v3), and then cost one more round of held-out queries.
TUNING_MARGIN = 0.005


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
        search_k: nodes inspected per query; 0 picks the smallest one whose recall@10 reaches
            ``target_recall`` + TUNING_MARGIN on TUNING tokens, then confirms the target on
            HELD_OUT other tokens (raising it by SEARCH_K_RESOLUTION while they miss it).
        target_recall: recall@10 to reach against the exact table.
        seed: seeds the trees and the token samples.
        n_jobs: threads for the held-out queries; 0 uses all cores.
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
    # Built in the file itself: no copy in memory to write out afterwards (the same bytes as save()).
    index.on_disk_build(str(path))
    # Annoy has no bulk insert. A memoryview of a float32 row hands it each value as it reads it,
    # three times cheaper than a list of Python floats made first (the same values).
    for i in ids.tolist():
        index.add_item(i, memoryview(embeddings[i]))
    index.build(n_trees, n_jobs=build_threads)
    build_seconds = time.perf_counter() - start
    index.unload()
    # Queried from here on as the dashboard opens it (a loaded index finds its roots in the file).
    index = open_annoy(path, dim)

    rng = np.random.default_rng(seed)
    sample = rng.permutation(ids)
    held_out = np.sort(sample[:HELD_OUT])
    tuning = np.sort(sample[HELD_OUT : HELD_OUT + TUNING]) if sample.size > HELD_OUT else held_out
    depths = (10, 50) if exact_neighbors.shape[1] >= 50 else (10,)
    tuned = search_k == 0
    if tuned:
        goal = min(1.0, target_recall + TUNING_MARGIN)
        search_k = tune_search_k(path, dim, tuning, exact_neighbors, goal, ceiling=n_trees * ids.size)
        if progress:
            print(f"annoy: search_k={search_k} reaches recall@10 {goal:.3f} on {tuning.size} tuning tokens")
    while True:
        recall = recalls(index, held_out, exact_neighbors, depths, search_k, threads)
        if recall[10] >= target_recall or not tuned or search_k >= n_trees * ids.size:
            break
        search_k = int(search_k * SEARCH_K_RESOLUTION)
    recall_10, recall_50 = recall[10], recall.get(50)
    if progress:
        print(f"annoy: {n_trees} trees, search_k={search_k}: recall@10={recall_10:.3f} on "
              f"{held_out.size} held-out tokens")
    index.unload()
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


def tune_search_k(path: Path, dim: int, tokens: np.ndarray, exact_neighbors: np.ndarray, target: float,
                  ceiling: int) -> int:
    """The smallest search_k whose recall@10 on ``tokens`` reaches ``target``, for the index saved at
    ``path``; ``ceiling`` (search_k that visits every tree to its leaves) where none does.

    Recall at search_k is the share of the tokens' 10 exact neighbours whose ``needed_search_k`` is
    at most search_k, so the answer is the needed value of the h-th neighbour found, h being the
    fewest hits that make the target.
    """
    from precompute.knn.annoy_walk import needed_search_k  # numba: only when a build tunes

    needed = needed_search_k(path, dim, tokens, exact_neighbors[tokens, :10])
    hits = math.ceil(round(target * needed.size, 6))  # rounded: 0.935 * 8600 is 8041.000000000001
    return int(min(np.partition(needed, hits - 1, axis=None)[hits - 1], ceiling))


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
            writes=(schema.ANNOY,), compute=_annoy_step, threads=1, version=2)
