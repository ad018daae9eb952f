"""The 2-D maps (UMAP, PCA) and the norm summary, on small matrices whose shape is known.

The UMAP test pays umap-learn's numba compilation once (about 25 s on a quiet machine): one
module-scoped fixture runs it, and every assertion reads that one result.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA

from precompute import schema
from precompute.config import BuildConfig
from precompute.maps import map_table, pca_2d, umap_2d
from precompute.norms import norm_artifacts

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
