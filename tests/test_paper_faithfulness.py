"""The diversity figures recomputed the way the paper's notebooks did, under both conventions.

The notebooks wrote one line per (token, neighbour) pair, read them into a long pandas table, kept
rank <= k, and grouped: ``nunique`` of the neighbour category per token (numNeighborCategory@k),
neighbour-category counts per token averaged per token category (the breakdown), and
``scipy.stats.entropy`` of those counts. Here that slow, obvious route runs on a random neighbour
table and must give exactly what the vectorised ``diversity_artifacts`` stored.

Under the paper's convention the long table also holds each token itself (rank 0: their top-(k+1)
lists included it), categories are the paper's (``category_paper``), and the breakdown groups the
(token, neighbour category) counts that occur, so a mean is over the tokens with at least one. Under
the refined one the token is left out and the breakdown fills absent pairs with zeros.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from precompute.analyses.diversity import diversity_artifacts
from precompute.contract import schema

N, K, KS = 400, 20, (5, 20)
CATEGORIES = ["LATIN", "CYRILLIC", "CJK", "HIRAGANA", "N", "S", "THAI"]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(4)
    # Skewed category sizes, like a real vocabulary (LATIN the largest, THAI a handful).
    category = rng.choice(CATEGORIES, size=N, p=[0.45, 0.15, 0.15, 0.1, 0.07, 0.05, 0.03])
    special = np.zeros(N, bool)
    special[[0, 1, 2]] = True
    category[special] = "Z"  # a category no ordinary token has, to trace special neighbours
    zero = np.zeros(N, bool)
    zero[3] = True
    candidates = np.flatnonzero(~zero)
    neighbors = np.empty((N, K), np.int32)
    for i in range(N):  # a test-sized loop building the input, not the computation under test
        neighbors[i] = rng.choice(candidates[candidates != i], size=K, replace=False)
    short = rng.random(N) < 0.2  # some tokens have fewer than K neighbours
    neighbors[short, 12:] = -1
    neighbors[3] = -1
    paper = np.where(rng.random(N) < 0.15, "S", category)  # "▁" makes some tokens symbols for the paper
    tokens = pd.DataFrame(
        {
            "id": np.arange(N, dtype=np.int32),
            "is_special": special,
            "is_byte": np.zeros(N, bool),
            "is_zero": zero,
            "category": pd.array(category, dtype="string"),
            "category_paper": pd.array(paper, dtype="string"),
            "frequency_decile": np.where(special | zero, -1, rng.integers(1, 11, N)).astype(np.int8),
        }
    )
    return neighbors, tokens


def paper_long_table(neighbors: np.ndarray, tokens: pd.DataFrame, convention: str) -> pd.DataFrame:
    """(token, neighbour, rank, token category, neighbour category), one row per listed neighbour."""
    long = pd.DataFrame(
        {
            "token": np.repeat(np.arange(N), K),
            "neighbor": neighbors.ravel(),
            "rank": np.tile(np.arange(1, K + 1), N),
        }
    )
    if convention == "paper":
        itself = pd.DataFrame({"token": np.arange(N), "neighbor": np.arange(N), "rank": 0})
        long = pd.concat([itself, long], ignore_index=True)
    long = long[long["neighbor"] >= 0]
    category = tokens["category" + ("_paper" if convention == "paper" else "")].astype(str).to_numpy()
    long["token_category"] = category[long["token"]]
    long["neighbor_category"] = category[long["neighbor"]]
    excluded = (tokens["is_special"] | tokens["is_zero"]).to_numpy()
    return long[~excluded[long["token"]]]


@pytest.fixture(scope="module")
def stored(data: tuple[np.ndarray, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return diversity_artifacts(*data, ks=KS)


@pytest.mark.parametrize("convention", ["paper", "refined"])
@pytest.mark.parametrize("k", KS)
def test_diversity_equals_the_paper_group_by(
    data: tuple[np.ndarray, pd.DataFrame], stored: dict[str, pd.DataFrame], k: int, convention: str
) -> None:
    neighbors, tokens = data
    at_k = paper_long_table(neighbors, tokens, convention).query("rank <= @k")
    suffix = "_paper" if convention == "paper" else ""
    token_category = tokens.set_index("id")["category" + suffix].astype(str)
    stored = {name: t[t["convention"] == convention] if "convention" in t else t for name, t in stored.items()}

    # numNeighborCategory@k and entropy, per token.
    num = at_k.groupby("token")["neighbor_category"].nunique()
    counts = at_k.groupby(["token", "neighbor_category"]).size().unstack(fill_value=0)
    entropy = counts.apply(lambda row: scipy.stats.entropy(row.to_numpy()), axis=1)
    per_token = stored[schema.DIVERSITY].set_index("id")
    assert per_token.index.tolist() == num.index.tolist()
    assert (per_token[schema.n_categories_column(k, convention)] == num).all()
    np.testing.assert_allclose(per_token[schema.entropy_column(k, convention)], entropy, rtol=1e-6)  # float32

    # Breakdown: mean count of neighbours in each category, per token category.
    ours = stored[schema.DIVERSITY_BREAKDOWN].query("k == @k")
    if convention == "paper":  # the pairs that occur, as the long table has them, then a mean per cell
        pairs = at_k.groupby(["token", "neighbor_category"]).size().rename("n").reset_index()
        pairs["category"] = token_category.loc[pairs["token"]].to_numpy()
        cells = pairs.groupby(["category", "neighbor_category"])["n"].agg(["mean", "sem", "size"])
        assert len(ours) == len(cells)
        for _, row in ours.iterrows():
            cell = cells.loc[(row.category, row.neighbor_category)]
            assert (row["mean"], row["n_tokens"]) == (pytest.approx(cell["mean"], rel=1e-12), cell["size"])
            assert row["ci95"] == pytest.approx(1.96 * cell["sem"], nan_ok=True)
    else:
        paper = counts.groupby(token_category.loc[counts.index].to_numpy()).agg(["mean", "sem"])
        for _, row in ours.iterrows():
            assert row["mean"] == pytest.approx(paper.loc[row.category, (row.neighbor_category, "mean")], rel=1e-12)
            assert row["ci95"] == pytest.approx(1.96 * paper.loc[row.category, (row.neighbor_category, "sem")])
        assert len(ours) == paper.shape[0] * counts.shape[1]

    # Per token category: mean, std of numNeighborCategory@k; mean and 95% interval of entropy.
    frame = pd.DataFrame({"num": num, "entropy": entropy, "category": token_category.loc[num.index]})
    by_cat = frame.groupby("category").agg(n=("num", "size"), mean=("num", "mean"), std=("num", "std"),
                                           h=("entropy", "mean"), h_sem=("entropy", "sem"))
    ours = stored[schema.DIVERSITY_BY_CATEGORY].query("k == @k").set_index("category")
    assert ours.index.tolist() == by_cat.index.tolist()
    assert ours["n_tokens"].tolist() == by_cat["n"].tolist()
    np.testing.assert_allclose(ours["mean"], by_cat["mean"], rtol=1e-12)
    np.testing.assert_allclose(ours["std"], by_cat["std"], rtol=1e-12)
    np.testing.assert_allclose(ours["entropy_mean"], by_cat["h"], rtol=1e-6)
    np.testing.assert_allclose(ours["entropy_ci95"], 1.96 * by_cat["h_sem"], rtol=1e-6)

    # Per frequency decile (METHODS §4, "Frequency").
    decile = tokens.set_index("id")["frequency_decile"].loc[num.index]
    by_dec = frame.groupby(decile.to_numpy())["num"].agg(["size", "mean", "sem"])
    ours = stored[schema.DIVERSITY_BY_DECILE].query("k == @k").set_index("decile")
    assert ours.index.tolist() == list(range(1, 11))
    assert ours["n_tokens"].tolist() == by_dec["size"].tolist()
    np.testing.assert_allclose(ours["mean"], by_dec["mean"], rtol=1e-12)
    np.testing.assert_allclose(ours["ci95"], 1.96 * by_dec["sem"], rtol=1e-12)


def test_special_neighbours_count_with_their_category(stored: dict[str, pd.DataFrame]) -> None:
    """Special tokens are listed as neighbours and counted as such, but are never rows themselves."""
    breakdown = stored[schema.DIVERSITY_BREAKDOWN].query("convention == 'refined'")
    assert "Z" in set(breakdown["neighbor_category"])
    assert "Z" not in set(breakdown["category"])


def test_the_papers_neighbour_overlap_as_their_scripts_computed_it(monkeypatch) -> None:
    """Cross-model overlap recomputed as ``find_neighbors.py`` + ``display_neighbors.py`` did: on the shared
    vocabulary, unit rows, the top k by cosine *with* the token itself, one dict per token text keyed by the
    neighbours' texts, |A∩B| / |A| per token; the mean must be the stored ``overlap_paper_mean``. Byte pieces
    are neither tokens nor neighbours (the shared vocabulary leaves them out)."""
    from precompute.analyses import comparison
    from precompute.analyses.maps import pca_2d
    from precompute.contract.categories import token_categories
    from precompute.contract.config import BuildConfig

    monkeypatch.setattr(comparison, "umap_2d", lambda embeddings, config, progress=False, **knn: pca_2d(embeddings))
    rng = np.random.default_rng(11)
    words = [f"▁{a}{b}" for a in "abcdefgh" for b in "xyzw"] + ["▁да", "▁нет", "7", "<0xE3>"]  # 36

    def model(order: np.ndarray, d: int) -> tuple[pd.DataFrame, np.ndarray]:
        texts = [words[i] for i in order]
        return pd.DataFrame({"id": np.arange(len(texts), dtype=np.int32), "text": texts,
                             "category": token_categories(texts),
                             "is_special": np.zeros(len(texts), bool), "is_zero": np.zeros(len(texts), bool),
                             "is_byte": np.array([t == "<0xE3>" for t in texts])}), \
            rng.normal(size=(len(texts), d)).astype(np.float32)

    a = model(np.arange(36), 8)
    b = model(rng.permutation(36), 5)
    b[1][:] += 0.8 * a[1][[words.index(t) for t in b[0]["text"]], :5]  # related to a, not the same
    k = 10
    tables, _ = comparison.compare_artifacts({"a": a, "b": b}, BuildConfig(k=12, diversity_ks=(10,), meaning_k=10,
                                                                            device="cpu", n_jobs=1), progress=False)
    row = tables[schema.GEOMETRY].set_index(["model_a", "model_b", "k", "category"]).loc[("a", "b", k, "ALL")]

    shared = sorted(set(a[0]["text"]) & set(b[0]["text"]) - {"<0xE3>"})
    assert row["n_tokens"] == len(shared) == 35

    def lists(m: tuple[pd.DataFrame, np.ndarray]) -> dict[str, set[str]]:
        ids = m[0].set_index("text")["id"]
        x = m[1][ids.loc[shared].to_numpy()]
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        top = np.argsort(-(x @ x.T), axis=1, kind="stable")[:, :k]  # the token itself first: cosine 1
        return {shared[i]: {shared[j] for j in top[i]} for i in range(len(shared))}

    left, right = lists(a), lists(b)
    assert all(t in left[t] for t in shared)
    overlap = [len(left[t] & right[t]) / len(left[t]) for t in shared]
    print(f"the paper's overlap @{k}: {np.mean(overlap):.4f}; ours (token left out): {row['overlap_mean']:.4f}")
    assert row["overlap_paper_mean"] == pytest.approx(np.mean(overlap), rel=1e-12)
    assert row["overlap_paper_chance"] == pytest.approx((1 + 9 * 9 / 34) / 10)
