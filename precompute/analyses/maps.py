"""2-D maps of the vocabulary (METHODS §9): UMAP as in the paper, PCA as a linear, deterministic check.

Both work on L2-normalised rows, so distances follow the cosine geometry the neighbour table uses.
UMAP takes that exact neighbour table as its k-NN graph instead of searching again:
``map_table(embeddings, tokens, config, neighbors=ids, similarities=sims)``. Its steps are
umap-learn's, two of them made faster where a 250k vocabulary spends its time: the spectral
initialisation (``spectral_init``) and the layout optimisation (``optimize_layout``, float32).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from precompute.analyses.tokens import eligible_mask
from precompute.contract import schema
from precompute.contract.config import BuildConfig
from precompute.contract.indices import unit_rows
from precompute.knn.neighbors import top_k_neighbors
from precompute.steps import Step

#: Negative samples per positive one in the layout optimisation (umap-learn's negative_sample_rate).
NEGATIVE_SAMPLES = 5


def umap_knn(neighbors: np.ndarray, similarities: np.ndarray, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    """An exact neighbour table in the form umap-learn's ``precomputed_knn`` takes: (indices, distances).

    ``neighbors``, ``similarities``: (n, k) over the same n rows as the data, self excluded, best
    first, -1 (similarity 0) where there is none. umap-learn wants each row itself first at distance
    0, then its ``n_neighbors - 1`` nearest, so both returned arrays are (n, n_neighbors), int32 and
    float32. Distances are Euclidean between unit vectors, sqrt(2 − 2 cos): the metric UMAP runs
    with here, whose ranking equals the cosine ranking of the table. A missing neighbour becomes
    index -1 at distance inf, umap-learn's own mark for an edge it disconnected.

    >>> idx, dist = umap_knn(np.array([[1], [-1]]), np.array([[0.5], [0.0]]), 2)
    >>> idx.tolist(), dist.round(3).tolist()
    ([[0, 1], [1, -1]], [[0.0, 1.0], [0.0, inf]])
    """
    n, k = neighbors.shape
    if similarities.shape != (n, k):
        raise ValueError(f"similarities must have the neighbours' shape {(n, k)}, got {similarities.shape}")
    if k < n_neighbors - 1:
        raise ValueError(
            f"UMAP with n_neighbors={n_neighbors} needs {n_neighbors - 1} neighbours per row, the table has {k}; "
            "build the neighbour table with a larger k or lower umap_neighbors"
        )
    ids = neighbors[:, : n_neighbors - 1]
    missing = ids < 0
    dists = np.sqrt(np.maximum(2 - 2 * similarities[:, : n_neighbors - 1].astype(np.float32), 0))
    indices = np.hstack([np.arange(n, dtype=np.int32)[:, None], np.where(missing, -1, ids).astype(np.int32)])
    distances = np.hstack([np.zeros((n, 1), np.float32), np.where(missing, np.inf, dists).astype(np.float32)])
    return indices, distances


def eligible_neighbors(
    neighbors: np.ndarray, similarities: np.ndarray, eligible: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """The table restricted to eligible tokens: (n_eligible, width) rows and ids as eligible-row positions.

    ``neighbors``, ``similarities``: (N, k) by vocabulary id (the NEIGHBORS/SIMILARITIES artifacts);
    ``eligible``: (N,) bool. A token's neighbours that are not eligible (a special token, say) are
    skipped and the next ones move up, keeping their order; a row with fewer than ``width``
    eligible neighbours ends in -1 (similarity 0).
    """
    position = np.full(len(eligible) + 1, -1, dtype=np.int64)  # the extra last entry maps id -1 to -1
    position[np.flatnonzero(eligible)] = np.arange(int(eligible.sum()))
    mapped = position[neighbors[eligible]]
    keep = mapped >= 0
    rank = np.cumsum(keep, axis=1, dtype=np.int32) - 1  # column each kept entry moves to
    rows, cols = np.nonzero(keep & (rank < width))
    ids = np.full((len(mapped), width), -1, dtype=np.int32)
    sims = np.zeros((len(mapped), width), dtype=np.float32)
    ids[rows, rank[rows, cols]] = mapped[rows, cols]
    sims[rows, rank[rows, cols]] = similarities[eligible][rows, cols]
    return ids, sims


def spectral_init(graph, seed: int) -> np.ndarray | None:
    """umap-learn's spectral initialisation of a connected graph, found faster: (n, 2) float32, or None.

    The same coordinates as umap-learn's ``init="spectral"``: the eigenvectors of the normalised
    Laplacian I − D^-½ W D^-½ (W the fuzzy graph, D its degrees) with the 2nd and 3rd smallest
    eigenvalues, scaled to ±10 with N(0, 1e-4) noise (``noisy_scale_coords``). umap-learn asks ARPACK
    for the smallest eigenvalues with √n Lanczos vectors: 109 CPU seconds at 250k tokens (measured;
    as long as the 200 layout epochs). The same vectors are the largest eigenvalues of D^-½ W D^-½,
    which ARPACK finds with its default subspace in about 2 s (eigenvalues agree to 1e-6).
    ``graph``: the (n, n) sparse fuzzy graph. One of several components returns None: umap-learn's
    own initialisation places them (it needs the data).
    """
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components
    from scipy.sparse.linalg import eigsh
    from umap.umap_ import noisy_scale_coords

    if connected_components(graph, directed=False)[0] > 1:
        return None
    scale = sp.diags(1 / np.sqrt(np.asarray(graph.sum(axis=0), dtype=np.float64).ravel()))
    _, vectors = eigsh(scale @ graph @ scale, k=3, which="LA", tol=1e-4, v0=np.ones(graph.shape[0]))
    # eigsh sorts ascending: the last vector is the trivial one (eigenvalue 1), then the two wanted.
    return noisy_scale_coords(vectors[:, [1, 0]], np.random.RandomState(seed))


def initial_layout(x: np.ndarray, graph, n_neighbors: int, seed: int) -> np.ndarray:
    """Where the layout starts, as umap-learn's ``init="spectral"`` would: (n, 2) float32.

    ``spectral_init`` for a connected graph; umap-learn's ``spectral_layout`` (which places each
    component apart, from the data ``x``) for several; uniform noise in ±10 when the rows are too few
    for a spectral embedding (n ≤ ``n_neighbors`` + 1), as umap-learn falls back to there.
    """
    from umap.spectral import spectral_layout
    from umap.umap_ import noisy_scale_coords

    random_state = np.random.RandomState(seed)
    if len(x) <= n_neighbors + 1:
        return random_state.uniform(-10, 10, (len(x), 2)).astype(np.float32)
    layout = spectral_init(graph, seed)
    if layout is None:
        layout = noisy_scale_coords(spectral_layout(x, graph, 2, random_state), random_state)
    return layout


def optimize_layout(
    graph, init: np.ndarray, epochs: int, min_dist: float, seed: int, progress: bool = False
) -> np.ndarray:
    """UMAP's layout optimisation of the fuzzy graph from ``init``: (n, 2) float32.

    umap-learn's ``optimize_layout_euclidean`` step for step (edges sampled in proportion to their
    weight, edges below max/epochs dropped, 5 negative samples per positive one, learning rate 1
    falling linearly, gradients clipped at ±4, the curve a, b fitted to ``min_dist`` with spread 1),
    in float32 arithmetic instead of float64, which makes each epoch about twice as fast, and with
    one random stream per vertex drawn from ``seed``. Sequential, so the same inputs give the same
    bytes; umap-learn itself also runs single-threaded under a fixed seed.
    ``graph``: the (n, n) sparse fuzzy graph; ``init``: (n, 2), as ``initial_layout`` gives.
    """
    from tqdm.auto import tqdm
    from umap.umap_ import find_ab_params, make_epochs_per_sample

    from precompute.analyses.layout_kernels import epoch

    edges = graph.tocoo()
    edges.sum_duplicates()
    edges.data[edges.data < edges.data.max() / epochs] = 0
    edges.eliminate_zeros()
    period = make_epochs_per_sample(edges.data, epochs)
    negative_period = period / NEGATIVE_SAMPLES
    next_sample, next_negative = period.copy(), negative_period.copy()
    a, b = (np.float32(v) for v in find_ab_params(1.0, min_dist))
    rng = np.random.RandomState(seed).randint(np.iinfo(np.int32).min, np.iinfo(np.int32).max, (len(init), 3))
    y = (10 * (init - init.min(axis=0)) / (init.max(axis=0) - init.min(axis=0))).astype(np.float32)
    for n in tqdm(range(epochs), desc="UMAP epochs", unit="epoch", disable=not progress):
        alpha = np.float32(1.0 - max(n - 1, 0) / epochs)  # umap-learn lowers the rate after an epoch's end
        epoch(y, edges.row, edges.col, period, next_sample, negative_period, next_negative, n, a, b, alpha, rng)
    return y


def umap_2d(
    embeddings: np.ndarray,
    config: BuildConfig,
    progress: bool = False,
    *,
    neighbors: np.ndarray | None = None,
    similarities: np.ndarray | None = None,
) -> np.ndarray:
    """UMAP of the L2-normalised rows: (n, 2) float32.

    ``n_neighbors=config.umap_neighbors`` (15) and ``min_dist=config.umap_min_dist`` (0.2) as in
    the paper, ``config.umap_epochs`` epochs. ``config.seed`` makes the map reproducible byte for
    byte — rebuilding an artifact must not move every point. With fewer rows than
    ``umap_neighbors + 1`` the neighbourhood shrinks to ``n - 1``.

    ``neighbors``, ``similarities``: the exact neighbour table of these same rows ((n, k), self
    excluded, best first, -1 where none; see ``umap_knn``), which becomes UMAP's k-NN graph; without
    it the table is searched here (exact, as umap-learn itself searches below 4,096 rows). The steps
    are umap-learn's: its fuzzy graph, its spectral initialisation (found faster, ``spectral_init``),
    its layout optimisation (in float32, ``optimize_layout``).
    """
    n = len(embeddings)
    if n < 3:
        raise ValueError(f"UMAP needs at least 3 tokens, got {n}")
    if (neighbors is None) != (similarities is None):
        raise ValueError("pass both neighbors and similarities (the exact table), or neither")
    if neighbors is not None and len(neighbors) != n:
        raise ValueError(f"the neighbour table has {len(neighbors)} rows for {n} embedding rows")
    try:
        from umap.umap_ import fuzzy_simplicial_set  # slow import (numba): only when a map is built

        from precompute.analyses.layout_kernels import cache_graph_functions
    except ImportError:
        raise ImportError("umap-learn is required for the map: pip install umap-learn") from None
    n_neighbors = min(config.umap_neighbors, n - 1)
    x = unit_rows(embeddings)
    if neighbors is None:
        neighbors, similarities = top_k_neighbors(x, n_neighbors - 1, n_threads=1, progress=False)
    indices, distances = umap_knn(neighbors, similarities, n_neighbors)
    cache_graph_functions()
    graph = fuzzy_simplicial_set(x, n_neighbors, None, "euclidean", knn_indices=indices, knn_dists=distances)[0]
    init = initial_layout(x, graph, config.umap_neighbors, config.seed)
    return optimize_layout(graph, init, config.umap_epochs, config.umap_min_dist, config.seed, progress)


def kept_neighbors(xy: np.ndarray, exact: np.ndarray) -> float:
    """How well a map keeps neighbourhoods: the mean share of each row's k exact neighbours among its k
    nearest points on the map (k-NN preservation; 1 is perfect, k/n is chance).

    ``xy``: (n, 2) map; ``exact``: (n, k) each row's exact nearest rows, best first, -1 where none
    (counted as not kept). A point that shares its position with others may be found after them; it
    is left out of its own list either way.

    >>> kept_neighbors(np.array([[0.0, 0], [1, 0], [5, 0]]), np.array([[1], [2], [1]]))
    0.6666666666666666
    """
    from scipy.spatial import cKDTree

    k = exact.shape[1]
    near = cKDTree(xy).query(xy, k=k + 1)[1]
    itself = near == np.arange(len(xy))[:, None]
    near = np.take_along_axis(near, np.argsort(itself, axis=1, kind="stable"), axis=1)[:, :k]
    return float((near[:, :, None] == exact[:, None, :]).any(axis=2).sum(axis=1).mean() / k)


def pca_2d(embeddings: np.ndarray) -> np.ndarray:
    """The first two principal components of the L2-normalised rows: (n, 2) float32.

    Eigenvectors of the d x d scatter matrix, each signed so its largest loading is positive, which
    makes the result independent of the eigensolver's sign choice. The scatter matrix is summed in
    float32 (half the time of float64; its error, ~1e-5 relative, cannot move a 2-D map).
    """
    x = unit_rows(embeddings)
    centred = x - x.mean(axis=0, dtype=np.float64).astype(np.float32)
    _, vectors = np.linalg.eigh((centred.T @ centred).astype(np.float64))
    top = vectors[:, ::-1][:, :2]
    top *= np.sign(top[np.abs(top).argmax(axis=0), [0, 1]])
    return (centred @ top.astype(np.float32)).astype(np.float32)


def map_table(
    embeddings: np.ndarray,
    tokens: pd.DataFrame,
    config: BuildConfig,
    progress: bool = False,
    *,
    neighbors: np.ndarray | None = None,
    similarities: np.ndarray | None = None,
) -> pd.DataFrame:
    """``schema.MAP`` rows for the eligible tokens: id, umap_x, umap_y, pca_x, pca_y (float32).

    ``neighbors``, ``similarities``: optionally the model's exact neighbour table (the NEIGHBORS and
    SIMILARITIES artifacts, (N, k) by vocabulary id), which UMAP then uses as its k-NN graph.
    """
    eligible = eligible_mask(tokens)
    rows = embeddings[eligible]
    if neighbors is not None and similarities is not None:
        neighbors, similarities = eligible_neighbors(neighbors, similarities, eligible, config.umap_neighbors - 1)
    # One BLAS thread: the eigenvectors of the spectral initialisation and the PCA otherwise differ in
    # their last bits with the thread count (a Ray worker gets one thread, a plain build all cores), and
    # 200 epochs of UMAP carry that into a different map. Both take seconds either way.
    with threadpool_limits(limits=1, user_api="blas"):
        u = umap_2d(rows, config, progress=progress, neighbors=neighbors, similarities=similarities)
        p = pca_2d(rows)
    return pd.DataFrame(
        {
            "id": tokens["id"].to_numpy(np.int32)[eligible],
            "umap_x": u[:, 0],
            "umap_y": u[:, 1],
            "pca_x": p[:, 0],
            "pca_y": p[:, 1],
        }
    )


STEP = Step(
    "map", needs=("tokens", "neighbors"), params=("umap_neighbors", "umap_min_dist", "umap_epochs", "seed"),
    writes=(schema.MAP,),
    threads=1,
    compute=lambda ctx: {schema.MAP: map_table(
        ctx.model.embeddings, ctx.table(schema.TOKENS), ctx.config, progress=ctx.progress,
        neighbors=ctx.array(schema.NEIGHBORS), similarities=ctx.array(schema.SIMILARITIES))},
)
