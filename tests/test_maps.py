"""The 2-D maps (UMAP, PCA) and the norm summary, on small matrices whose shape is known.

The UMAP test pays umap-learn's numba compilation once (about 25 s on a quiet machine): one
module-scoped fixture runs it, and every assertion reads that one result.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.decomposition import PCA

from precompute.analyses.maps import (
    STEP,
    eligible_neighbors,
    initial_layout,
    kept_neighbors,
    map_table,
    optimize_layout,
    pca_2d,
    spectral_init,
    umap_2d,
    umap_knn,
)
from precompute.analyses.norms import norm_artifacts
from precompute.contract import schema
from precompute.contract.config import BuildConfig
from precompute.contract.indices import unit_rows
from precompute.knn.neighbors import top_k_neighbors

CONFIG = BuildConfig(umap_neighbors=8, seed=3)


def two_clusters() -> tuple[np.ndarray, pd.DataFrame]:
    """30 tokens near +e0, 30 near +e1 (at various norms), a special token and a zero row."""
    rng = np.random.default_rng(0)
    d = 10
    a = np.eye(d)[0] + 0.05 * rng.standard_normal((30, d))
    b = np.eye(d)[1] + 0.05 * rng.standard_normal((30, d))
    x = np.vstack([np.ones((1, d)), np.zeros((1, d)), a * 3.0, b]).astype(np.float32)
    tokens = pd.DataFrame(
        {
            "id": np.arange(len(x), dtype=np.int32),
            "is_special": np.arange(len(x)) == 0,
            "is_zero": np.arange(len(x)) == 1,
            "category": ["S", "LATIN"] + ["LATIN"] * 30 + ["CJK"] * 30,
        }
    )
    return x, tokens


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return map_table(*two_clusters(), CONFIG)


def test_map_table_rows_and_columns(table: pd.DataFrame) -> None:
    assert list(table.columns) == ["id", "umap_x", "umap_y", "pca_x", "pca_y"]
    assert table["id"].tolist() == list(range(2, 62))  # special and zero rows have no place
    assert all(table[c].dtype == np.float32 for c in ["umap_x", "umap_y", "pca_x", "pca_y"])
    assert np.isfinite(table.drop(columns="id").to_numpy()).all()


def test_umap_separates_the_clusters_and_is_reproducible(table: pd.DataFrame) -> None:
    xy = table[["umap_x", "umap_y"]].to_numpy()
    a, b = xy[:30], xy[30:]
    gap = np.linalg.norm(a.mean(0) - b.mean(0))
    spread = max(np.linalg.norm(a - a.mean(0), axis=1).max(), np.linalg.norm(b - b.mean(0), axis=1).max())
    print(f"UMAP gap {gap:.2f}, largest spread {spread:.2f}")
    assert gap > 2 * spread
    x, tokens = two_clusters()
    again = umap_2d(x[2:], CONFIG)  # the same seed gives the same map
    np.testing.assert_array_equal(again, xy)


def test_umap_knn_puts_each_row_first_at_distance_zero() -> None:
    ids = np.array([[2, 1, -1], [0, 2, -1], [0, -1, -1]])
    sims = np.array([[1.0, 0.5, 0.0], [0.5, -1.0, 0.0], [1.0, 0.0, 0.0]], dtype=np.float32)
    indices, distances = umap_knn(ids, sims, 3)
    assert indices.tolist() == [[0, 2, 1], [1, 0, 2], [2, 0, -1]]
    assert indices.dtype == np.int32 and distances.dtype == np.float32
    # sqrt(2 - 2 cos): 0 for cos 1, 1 for cos 0.5, 2 for cos -1; a missing neighbour is infinitely far.
    assert distances.tolist() == [[0, 0, 1], [0, 1, 2], [0, 0, np.inf]]
    with pytest.raises(ValueError, match="needs 3 neighbours per row, the table has 2"):
        umap_knn(ids[:, :2], sims[:, :2], 4)


def test_eligible_neighbors_skips_special_and_zero_tokens() -> None:
    """Vocabulary ids 0 (special) and 3 (zero) leave; ids 1, 2, 4, 5 become rows 0, 1, 2, 3."""
    eligible = np.array([False, True, True, False, True, True])
    ids = np.array([[1, 2, 4], [0, 2, 5], [3, 0, 1], [-1, -1, -1], [5, 2, 1], [4, -1, -1]])
    sims = np.array([[.9, .8, .7], [.9, .8, .7], [.9, .8, .7], [0, 0, 0], [.6, .5, .4], [.3, 0, 0]], dtype=np.float32)
    rows, row_sims = eligible_neighbors(ids, sims, eligible, 2)
    assert rows.tolist() == [[1, 3], [0, -1], [3, 1], [2, -1]]
    np.testing.assert_array_equal(row_sims, np.array([[.8, .7], [.7, 0], [.6, .5], [.3, 0]], dtype=np.float32))


def test_umap_takes_the_exact_table_as_its_graph() -> None:
    """With the exact table UMAP still separates the clusters, reproducibly; and it follows the graph it
    is given: a table that pairs tokens by the parity of their id splits the map by parity instead."""
    x, tokens = two_clusters()
    ids, sims = top_k_neighbors(x, 20, valid=~tokens["is_zero"].to_numpy(), progress=False)
    table = map_table(x, tokens, CONFIG, neighbors=ids, similarities=sims)
    xy = table[["umap_x", "umap_y"]].to_numpy()
    gap = np.linalg.norm(xy[:30].mean(0) - xy[30:].mean(0))
    spread = max(np.linalg.norm(c - c.mean(0), axis=1).max() for c in (xy[:30], xy[30:]))
    print(f"UMAP on the exact table: gap {gap:.2f}, largest spread {spread:.2f}")
    assert gap > 2 * spread
    again = map_table(x, tokens, CONFIG, neighbors=ids, similarities=sims)
    np.testing.assert_array_equal(again[["umap_x", "umap_y"]].to_numpy(), xy)

    rows = np.arange(60)
    parity = np.stack([(rows + 2 * s) % 60 for s in range(1, 15)], axis=1)  # same parity, both clusters
    odd_even = umap_2d(x[2:], CONFIG, neighbors=parity, similarities=np.full(parity.shape, 0.9, np.float32))
    even, odd = odd_even[::2], odd_even[1::2]
    gap = np.linalg.norm(even.mean(0) - odd.mean(0))
    spread = max(np.linalg.norm(c - c.mean(0), axis=1).max() for c in (even, odd))
    print(f"UMAP on the parity graph: gap {gap:.2f}, largest spread {spread:.2f}")
    assert gap > 2 * spread


def test_spectral_init_is_umaps_own_up_to_sign() -> None:
    """On a connected graph: umap-learn's spectral_layout, before its scaling and noise; None on two components."""
    from sklearn.utils import check_random_state
    from umap.spectral import spectral_layout
    from umap.umap_ import fuzzy_simplicial_set

    x = np.random.default_rng(2).standard_normal((300, 6)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids, sims = top_k_neighbors(x, 14, progress=False)
    knn = umap_knn(ids, sims, 15)
    graph = fuzzy_simplicial_set(x, 15, None, "euclidean", knn_indices=knn[0], knn_dists=knn[1])[0]
    ours = spectral_init(graph, seed=0)
    theirs = spectral_layout(x, graph, 2, check_random_state(0))
    theirs = theirs * 10 / np.abs(theirs).max()  # umap-learn's noisy_scale_coords, less its 1e-4 noise
    assert ours.shape == (300, 2) and ours.dtype == np.float32
    np.testing.assert_allclose(np.abs(ours), np.abs(theirs), atol=0.002)  # measured 3e-4: the noise, the tolerance
    assert spectral_init(sp.block_diag([graph, graph]), seed=0) is None


@pytest.mark.filterwarnings("ignore:.*knn_search_index:UserWarning")  # umap-learn: no transform() later
def test_optimize_layout_keeps_neighbourhoods_as_umap_learn_does() -> None:
    """Same graph, same start, same epochs: the float32 optimisation keeps as many of each point's 10
    exact neighbours on the map as umap-learn's own (12 clusters of 100 points in 16-D), and fewer
    epochs keep fewer; the number of epochs is a build parameter, so changing it rebuilds the map."""
    import umap
    from umap.umap_ import fuzzy_simplicial_set

    rng = np.random.default_rng(4)
    x = unit_rows((np.repeat(rng.standard_normal((12, 16)), 100, axis=0) + 0.4 * rng.standard_normal((1200, 16)))
                  .astype(np.float32))
    ids, sims = top_k_neighbors(x, 14, progress=False)
    indices, distances = umap_knn(ids, sims, 15)
    graph = fuzzy_simplicial_set(x, 15, None, "euclidean", knn_indices=indices, knn_dists=distances)[0]
    init = initial_layout(x, graph, 15, seed=0)
    theirs = umap.UMAP(n_neighbors=15, min_dist=0.2, random_state=0, n_epochs=200, init=init,
                       precomputed_knn=(indices, distances, None)).fit_transform(x)
    ours = optimize_layout(graph, init, 200, 0.2, seed=0)
    short = optimize_layout(graph, init, 20, 0.2, seed=0)
    maps = {"umap-learn": theirs, "ours": ours, "20 epochs": short}
    kept = {name: kept_neighbors(xy, ids[:, :10]) for name, xy in maps.items()}
    print("10-NN kept on the map:", kept)
    assert ours.dtype == np.float32 and ours.shape == (1200, 2)
    assert kept["ours"] >= kept["umap-learn"] - 0.02
    assert kept["20 epochs"] < kept["ours"]
    assert "umap_epochs" in STEP.params


def test_pca_sees_direction_not_norm(table: pd.DataFrame) -> None:
    """Rows are L2-normalised first: the 3x longer cluster does not stretch the map."""
    p = table[["pca_x", "pca_y"]].to_numpy()
    # Two unit-norm clusters at e0 and e1: the first component runs between them (distance sqrt 2).
    assert abs(p[:30, 0].mean() - p[30:, 0].mean()) == pytest.approx(math.sqrt(2), abs=0.02)
    assert abs(p[:, 1]).max() < 0.3  # the second component holds only the noise


def test_pca_matches_scikit_learn_up_to_sign() -> None:
    x = np.random.default_rng(1).standard_normal((50, 7)).astype(np.float32)
    ours = pca_2d(x)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    theirs = PCA(n_components=2).fit_transform(unit)
    np.testing.assert_allclose(np.abs(ours), np.abs(theirs), atol=1e-5)
    assert ours.dtype == np.float32 and ours.shape == (50, 2)


def test_norms_by_category() -> None:
    tokens = pd.DataFrame(
        {
            "id": np.arange(6, dtype=np.int32),
            "is_special": [True, False, False, False, False, False],
            "is_zero": [False, False, False, False, False, True],
            "category": pd.array(["S", "LATIN", "LATIN", "LATIN", "CJK", "LATIN"], dtype="string"),
            "norm": np.array([9.0, 1.0, 2.0, 6.0, 4.0, 0.0], dtype=np.float32),
        }
    )
    t = norm_artifacts(tokens)[schema.NORMS_BY_CATEGORY]
    assert list(t.columns) == ["category", "n_tokens", "mean", "std", "median"]
    assert t["category"].tolist() == ["CJK", "LATIN"]  # the special S token is out
    latin = t.set_index("category").loc["LATIN"]
    assert (latin.n_tokens, latin["mean"], latin["median"]) == (3, 3.0, 2.0)  # the zero row is out
    assert latin["std"] == pytest.approx(math.sqrt(7))  # ddof=1 over (1, 2, 6)
