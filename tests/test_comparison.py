"""compare_artifacts end to end on small models whose answer is known by construction.

Model "sp" has random rows; "wp" holds the same shared tokens as a scaled, rotated copy embedded in
a wider space (plus tokens of its own, in another order): every cosine between shared tokens is
preserved, so neighbourhoods must agree exactly (Jaccard 1), CKA must be 1 and the Procrustes
residual 0. UMAP is tested with the maps module; here PCA stands in for it to keep the test fast, but
for one test that checks the shared map is UMAP on the exact table geometry searched.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from precompute.analyses import comparison
from precompute.analyses.comparison import compare_artifacts
from precompute.analyses.maps import pca_2d, umap_2d
from precompute.contract import schema
from precompute.contract.categories import token_categories
from precompute.contract.config import BuildConfig
from precompute.knn.neighbors import top_k_neighbors

CONFIG = BuildConfig(k=5, diversity_ks=(5,), meaning_k=5, device="cpu", n_jobs=1)
LATIN = [f"▁w{c}{d}" for c in "abcde" for d in "xyzw"]  # 20
CYRILLIC = ["▁да", "▁нет", "▁кот", "▁дом", "▁мир", "▁сон"]
NUMBERS = ["1", "22", "333", "4444"]
SHARED = LATIN + CYRILLIC + NUMBERS  # 30


def token_table(texts: list[str], special: int = 0, zero: tuple[int, ...] = ()) -> pd.DataFrame:
    n = len(texts)
    return pd.DataFrame({
        "id": np.arange(n, dtype=np.int32), "text": texts, "category": token_categories(texts),
        "is_special": np.arange(n) < special, "is_byte": np.zeros(n, bool), "is_zero": np.isin(np.arange(n), zero),
    })


@pytest.fixture(autouse=True)
def pca_for_umap(monkeypatch):
    monkeypatch.setattr(comparison, "umap_2d", lambda embeddings, config, progress=False, **knn: pca_2d(embeddings))


@pytest.fixture
def models() -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
    rng = np.random.default_rng(7)
    sp_texts = ["<pad>"] + SHARED + ["▁only", "▁sp", "▁zero"]
    sp = rng.normal(size=(len(sp_texts), 8)).astype(np.float32)
    sp[-1] = 0.0
    wp_texts = ["[CLS]", "wp", "##x"] + SHARED[::-1]  # another id order
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    wp = rng.normal(size=(len(wp_texts), 12)).astype(np.float32)
    wp[3:] = 2.5 * sp[1:31][::-1] @ q[:8]  # shared rows: scaled, rotated, widened copies
    return {
        "sp": (token_table(sp_texts, special=1, zero=(len(sp_texts) - 1,)), sp),
        "wp": (token_table(wp_texts, special=1), wp),
    }


def test_rotated_copy_has_identical_geometry(models):
    tables, notes = compare_artifacts(models, CONFIG, progress=False)
    assert notes == []
    shared = tables[schema.SHARED_TOKENS]
    assert len(shared) == 30
    geometry = tables[schema.GEOMETRY]
    assert list(geometry.columns) == [
        "model_a", "model_b", "k", "category", "n_tokens", "jaccard_mean", "jaccard_ci95", "overlap_mean",
        "jaccard_chance", "overlap_chance", "overlap_paper_mean", "overlap_paper_chance", "cka", "procrustes_residual",
    ]
    # Every ordered pair (diagonal included) x (ALL + LATIN, CYRILLIC, N), at the one k (5 < 10).
    assert len(geometry) == 4 * 4
    assert (geometry["k"] == 5).all()
    assert geometry["overlap_chance"].tolist() == pytest.approx([5 / 29] * 16)  # 5 of the 29 other tokens
    assert geometry["jaccard_mean"].tolist() == [1.0] * 16
    assert geometry["overlap_mean"].tolist() == [1.0] * 16
    assert geometry["overlap_paper_mean"].tolist() == [1.0] * 16
    assert geometry["overlap_paper_chance"].tolist() == pytest.approx([(1 + 4 * 4 / 29) / 5] * 16)  # self + 4 of 29
    rows = geometry.set_index(["model_a", "model_b", "category"])
    for pair in [("sp", "wp"), ("wp", "sp"), ("sp", "sp")]:
        assert rows.loc[(*pair, "ALL"), "n_tokens"] == 30
        assert rows.loc[(*pair, "ALL"), "cka"] == pytest.approx(1.0)
        assert rows.loc[(*pair, "ALL"), "procrustes_residual"] == pytest.approx(0.0, abs=1e-6)
        assert rows.loc[(*pair, "ALL"), "jaccard_ci95"] == 0.0
        assert rows.loc[(*pair, "CYRILLIC"), "n_tokens"] == 6
    assert geometry.loc[geometry["category"] != "ALL", "cka"].isna().all()
    assert geometry.loc[geometry["category"] != "ALL", "procrustes_residual"].isna().all()
    assert geometry["category"].tolist()[:4] == ["ALL", "LATIN", "CYRILLIC", "N"]  # ALL, then by size

    per_token = tables[schema.GEOMETRY_TOKENS]
    assert len(per_token) == 30
    assert per_token[["model_a", "model_b", "k"]].drop_duplicates().values.tolist() == [["sp", "wp", 5]]
    assert per_token["jaccard"].tolist() == [1.0] * 30
    shared_map = tables[schema.SHARED_MAP]
    assert len(shared_map) == 60 and shared_map.groupby("model")["text"].apply(set).map(len).tolist() == [30, 30]


def test_shared_maps_use_the_exact_table_geometry_searched(models, monkeypatch):
    """UMAP's k-NN graph is the exact table of the shared rows, umap_neighbors - 1 = 14 wide even where
    geometry's k is 5 (its first 5 columns are geometry's table), not an approximate search of UMAP's own."""
    given = {}

    def record(embeddings, config, progress=False, *, neighbors, similarities):
        given[len(given)] = (embeddings, neighbors, similarities)
        return pca_2d(embeddings)

    monkeypatch.setattr(comparison, "umap_2d", record)
    tables, _ = compare_artifacts(models, CONFIG, progress=False)
    shared = tables[schema.SHARED_TOKENS]
    for i, slug in enumerate(models):
        rows, neighbors, similarities = given[i]
        np.testing.assert_array_equal(rows, models[slug][1][shared[schema.shared_id_column(slug)]])
        exact = top_k_neighbors(rows, 14, device="cpu", n_threads=1, progress=False)
        np.testing.assert_array_equal(neighbors, exact[0])
        np.testing.assert_array_equal(similarities, exact[1])
    # The rotated copy has the same neighbours among the shared tokens, so the same graph.
    np.testing.assert_array_equal(given[0][1], given[1][1])


def test_shared_map_is_umap_on_that_table(models, monkeypatch):
    monkeypatch.undo()  # the real UMAP, once
    tables, _ = compare_artifacts(models, CONFIG, progress=False)
    shared = tables[schema.SHARED_TOKENS]
    rows = models["sp"][1][shared[schema.shared_id_column("sp")]]
    neighbors, similarities = top_k_neighbors(rows, 14, device="cpu", n_threads=1, progress=False)
    with threadpool_limits(limits=1, user_api="blas"):
        xy = umap_2d(rows, CONFIG, neighbors=neighbors, similarities=similarities)
    drawn = tables[schema.SHARED_MAP].query("model == 'sp'")
    assert drawn["text"].tolist() == shared["text"].tolist()
    np.testing.assert_array_equal(drawn[["x", "y"]].to_numpy(), xy)


def test_tables_round_trip_through_parquet_with_nulls(models, tmp_path):
    tables, _ = compare_artifacts(models, CONFIG, progress=False)
    for name, table in tables.items():
        table.to_parquet(tmp_path / name, index=False)
        back = pd.read_parquet(tmp_path / name)
        assert list(back.columns) == list(table.columns) and len(back) == len(table)
    geometry = pd.read_parquet(tmp_path / schema.GEOMETRY)
    assert geometry["cka"].isna().sum() == 4 * 3  # category rows: null, not NaN passed off as a number


def test_unrelated_model_scores_low(models):
    rng = np.random.default_rng(1)
    tokens, embeddings = models["wp"]
    models["noise"] = (tokens, rng.normal(size=embeddings.shape).astype(np.float32))
    tables, _ = compare_artifacts(models, CONFIG, progress=False)
    rows = tables[schema.GEOMETRY].set_index(["model_a", "model_b", "category"])
    noise = rows.loc[("sp", "noise", "ALL")]
    print(f"random vs model: jaccard {noise.jaccard_mean:.3f}, cka {noise.cka:.3f}, "
          f"procrustes {noise.procrustes_residual:.3f}")
    # Chance Jaccard of two random 5-sets out of 29 is about 0.1.
    assert noise.jaccard_mean < 0.4
    assert noise.cka < 0.6
    assert noise.procrustes_residual > 0.5
    assert rows.loc[("sp", "noise", "ALL"), "cka"] == rows.loc[("noise", "sp", "ALL"), "cka"]
    # Three models: each pair on the texts it shares. wp and noise share all 32 eligible texts of wp
    # ("wp" and "##x" too); sp shares the 30 of SHARED with either.
    per_token = tables[schema.GEOMETRY_TOKENS]
    assert per_token.groupby(["model_a", "model_b"]).size().to_dict() == {
        ("sp", "wp"): 30, ("sp", "noise"): 30, ("wp", "noise"): 32,
    }
    assert rows.loc[("noise", "wp", "ALL"), "n_tokens"] == 32
    assert rows.loc[("noise", "wp", "ALL"), "jaccard_mean"] < 0.4
    assert rows.loc[("noise", "wp", "ALL"), "overlap_chance"] == pytest.approx(5 / 31)
    assert rows.loc[("noise", "noise", "ALL"), "n_tokens"] == 30  # the diagonal: what all three share
    assert rows.loc[("noise", "noise", "ALL"), "jaccard_mean"] == 1.0


def test_geometry_at_each_k_up_to_the_builds(models):
    tables, _ = compare_artifacts(models, BuildConfig(k=12, diversity_ks=(5,), meaning_k=5, device="cpu", n_jobs=1),
                                  progress=False)
    geometry = tables[schema.GEOMETRY]
    assert sorted(geometry["k"].unique()) == [10, 12]
    assert len(geometry) == 2 * 4 * 4
    everything = geometry[geometry["category"] == "ALL"].set_index(["model_a", "model_b", "k"])
    assert everything.loc[("sp", "wp", 10), "overlap_chance"] == pytest.approx(10 / 29)
    assert everything.loc[("sp", "wp", 12), "overlap_chance"] == pytest.approx(12 / 29)
    assert everything["jaccard_mean"].tolist() == [1.0] * 8  # a rotated copy agrees at every k
    assert everything.loc[("sp", "wp", 10), "cka"] == everything.loc[("sp", "wp", 12), "cka"]
    assert tables[schema.GEOMETRY_TOKENS].groupby("k").size().to_dict() == {10: 30, 12: 30}


def test_the_papers_overlap_beside_ours_on_unrelated_models(models):
    """Unrelated models: the paper's lists share the token itself and so read higher than ours, by exactly
    (1 + |A'∩B'|) / k against |A∩B| / k, A' the first k − 1 neighbours (geometry.paper_overlap)."""
    rng = np.random.default_rng(1)
    tokens, embeddings = models["wp"]
    noise = (tokens, rng.normal(size=embeddings.shape).astype(np.float32))
    tables, _ = compare_artifacts({"sp": models["sp"], "noise": noise}, CONFIG, progress=False)
    row = tables[schema.GEOMETRY].set_index(["model_a", "model_b", "category"]).loc[("sp", "noise", "ALL")]
    per_token = comparison.shared_vocabulary({"sp": models["sp"][0], "noise": tokens})
    ids = {s: per_token[schema.shared_id_column(s)].to_numpy() for s in ("sp", "noise")}
    lists = {s: top_k_neighbors(m[1][ids[s]], 4, device="cpu", n_threads=1, progress=False)[0]
             for s, m in (("sp", models["sp"]), ("noise", noise))}
    shared = [len(set(a) & set(b)) for a, b in zip(lists["sp"], lists["noise"], strict=True)]
    print(f"unrelated models @5: overlap {row.overlap_mean:.3f}, the paper's {row.overlap_paper_mean:.3f}")
    assert row.overlap_paper_mean == pytest.approx(np.mean([(1 + s) / 5 for s in shared]))
    assert row.overlap_paper_mean > row.overlap_mean


def test_small_shared_vocabulary_lowers_k(models):
    texts = ["▁да", "▁wax", "▁way", "▁waz", "▁hej"]
    small = (token_table(texts), np.random.default_rng(2).normal(size=(5, 8)).astype(np.float32))
    tables, notes = compare_artifacts({"sp": models["sp"], "small": small}, CONFIG, progress=False)
    assert notes == ["Neighbours per token lowered from k=5 to 3: only 4 shared tokens."]
    assert tables[schema.SHARED_TOKENS]["text"].tolist() == ["▁wax", "▁way", "▁waz", "▁да"]
    assert len(tables[schema.GEOMETRY_TOKENS]) == 4
    assert len(tables[schema.SHARED_MAP]) == 8


def test_two_shared_tokens_give_geometry_but_no_map(models):
    small = (token_table(["▁wax", "▁way"]), np.eye(2, 3, dtype=np.float32))
    tables, notes = compare_artifacts({"sp": models["sp"], "small": small}, CONFIG, progress=False)
    assert notes[0] == "Neighbours per token lowered from k=5 to 1: only 2 shared tokens."
    assert notes[1].startswith("Only 2 shared tokens: UMAP needs at least 3")
    assert tables[schema.SHARED_MAP].empty
    assert tables[schema.GEOMETRY_TOKENS]["jaccard"].tolist() == [1.0, 1.0]  # each other's only neighbour


def test_no_shared_vocabulary_writes_overlap_and_notes(models):
    other = (token_table(["<s>", "▁hej", "▁på"], special=1), np.ones((3, 4), np.float32))
    tables, notes = compare_artifacts({"sp": models["sp"], "sv": other}, CONFIG, progress=False)
    overlap = tables[schema.VOCAB_OVERLAP].set_index(["model_a", "model_b"])
    assert overlap.loc[("sp", "sv"), "n_shared"] == 0
    assert overlap.loc[("sv", "sv"), "n_shared"] == 2
    assert len(notes) == 1 and "share 0 eligible token text(s)" in notes[0]
    for name in (schema.GEOMETRY, schema.GEOMETRY_TOKENS, schema.SHARED_MAP):
        assert tables[name].empty and len(tables[name].columns) >= 4


def test_one_model_is_refused(models):
    with pytest.raises(ValueError, match="compare needs at least two models"):
        compare_artifacts({"sp": models["sp"]}, CONFIG, progress=False)


def test_embeddings_must_match_the_token_table(models):
    tokens, embeddings = models["wp"]
    with pytest.raises(ValueError, match="model 'wp': embeddings of shape"):
        compare_artifacts({"sp": models["sp"], "wp": (tokens, embeddings[:-1])}, CONFIG, progress=False)
