"""Neighbour Jaccard, linear CKA and the Procrustes residual on matrices whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from precompute.analyses.geometry import (
    linear_cka,
    neighbor_jaccard,
    paper_overlap,
    procrustes_residual,
    random_paper_overlap,
    random_set_overlap,
)
from precompute.knn.neighbors import top_k_neighbors


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def orthogonal(rng: np.random.Generator, d: int) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return q


def test_jaccard_of_a_table_with_itself_is_one(rng):
    table = np.argsort(rng.normal(size=(37, 20)), axis=1)[:, :8]
    jaccard, overlap = neighbor_jaccard(table, table, 8)
    assert jaccard.tolist() == [1.0] * 37
    assert overlap.tolist() == [1.0] * 37


def test_jaccard_of_hand_made_tables():
    a = np.array([[1, 2, 3], [0, 2, -1], [4, -1, -1], [1, 2, 3], [7, 8, 9]])
    b = np.array([[3, 4, 2], [5, 6, -1], [4, 5, -1], [2, 1, 9], [9, 8, 7]])
    jaccard, overlap = neighbor_jaccard(a, b, 3)
    # {1,2,3}&{2,3,4}: 2 of 4; {0,2}&{5,6}: 0 of 4; {4}&{4,5}: 1 of 2 (-1 is no id); then 2 of 4; 3 of 3.
    assert jaccard == pytest.approx([0.5, 0.0, 0.5, 0.5, 1.0])
    assert overlap == pytest.approx([2 / 3, 0.0, 1 / 3, 2 / 3, 1.0])
    # Only the first k columns count: {1,2} and {2,1}.
    jaccard, overlap = neighbor_jaccard(a[3:4], b[3:4], 2)
    assert jaccard.tolist() == [1.0] and overlap.tolist() == [1.0]


def test_jaccard_rejects_bad_k():
    with pytest.raises(ValueError, match="k must lie in 1..3"):
        neighbor_jaccard(np.zeros((2, 3), int), np.zeros((2, 4), int), 4)


def on_circle(degrees: list[float]) -> np.ndarray:
    """Unit vectors at these angles: cosine order = angular distance order, easy to rank by hand."""
    radians = np.radians(degrees)
    return np.stack([np.cos(radians), np.sin(radians)], axis=1).astype(np.float32)


def test_the_papers_overlap_on_six_tokens_by_hand():
    """Six tokens on a circle in two models; lists of 3 as the paper built them: the token, then its 2 nearest.

    Model a at 0, 10, 30, 100, 130, 210 degrees; model b at 0, 25, 300, 160, 90, 210. Nearest first:
      a: t0 1 2 (3) | t1 0 2 (3) | t2 1 0 (3) | t3 4 2 (1) | t4 3 5 (2) | t5 4 3 (0)
      b: t0 1 2 (4) | t1 0 4 (2) | t2 0 1 (5) | t3 5 4 (1) | t4 1 3 (0) | t5 3 2 (4)
    Paper lists {t, 2 nearest}: shared 3, 2, 3, 2, 2, 2 of 3 -> 7/9. Ours at k = 3 (3 nearest, the token
    left out): 2, 2, 2, 2, 1, 2 of 3 -> 11/18; at k = 2: 2, 1, 2, 1, 1, 1 of 2 -> 2/3.
    """
    a, _ = top_k_neighbors(on_circle([0, 10, 30, 100, 130, 210]), 3, device="cpu", n_threads=1, progress=False)
    b, _ = top_k_neighbors(on_circle([0, 25, 300, 160, 90, 210]), 3, device="cpu", n_threads=1, progress=False)
    assert a.tolist() == [[1, 2, 3], [0, 2, 3], [1, 0, 3], [4, 2, 1], [3, 5, 2], [4, 3, 0]]
    assert b.tolist() == [[1, 2, 4], [0, 4, 2], [0, 1, 5], [5, 4, 1], [1, 3, 0], [3, 2, 4]]
    assert paper_overlap(a, b, 3) == pytest.approx([1, 2 / 3, 1, 2 / 3, 2 / 3, 2 / 3])
    assert paper_overlap(a, b, 3).mean() == pytest.approx(7 / 9)
    assert neighbor_jaccard(a, b, 3)[1].mean() == pytest.approx(11 / 18)
    assert neighbor_jaccard(a, b, 2)[1].mean() == pytest.approx(2 / 3)
    assert paper_overlap(a, b, 4).mean() == pytest.approx(np.mean([3, 3, 3, 3, 2, 3]) / 4)  # 3 nearest + itself
    assert paper_overlap(a, b, 1).tolist() == [1.0] * 6  # the token alone


def test_the_papers_overlap_counts_short_lists_by_their_length():
    # Row 0: A = {0, 5} (one neighbour, then none), B = {0, 5, 6}: |A∩B| / |A| = 2 / 2, as the authors' len(A).
    a = np.array([[5, -1], [1, 2]])
    b = np.array([[5, 6], [3, 4]])
    assert paper_overlap(a, b, 3).tolist() == [1.0, 1 / 3]
    with pytest.raises(ValueError, match="k must lie in 1..3"):
        paper_overlap(a, b, 4)


def test_random_paper_overlap_by_hand_and_by_simulation(rng):
    assert random_paper_overlap(5, 1) == 1.0  # the token alone
    assert random_paper_overlap(5, 5) == 1.0  # every token
    # 2 of 3 others: they share 1 or 2 (mean 4/3), plus the token: (1 + 4/3) / 3.
    assert random_paper_overlap(4, 3) == pytest.approx((1 + 4 / 3) / 3)
    n, k, draws = 40, 6, 20_000
    keys = rng.random((2, draws, n - 1))
    a, b = np.argsort(keys[0], axis=1)[:, : k - 1], np.argsort(keys[1], axis=1)[:, : k - 1]
    simulated = paper_overlap(a, b, k).mean()
    print(f"random lists of {k} with the token, {n} tokens: exact {random_paper_overlap(n, k):.4f}, "
          f"simulated {simulated:.4f}")
    assert simulated == pytest.approx(random_paper_overlap(n, k), abs=0.003)


def test_random_set_overlap_by_hand():
    # One neighbour of two others: the same one half the time, so overlap = Jaccard = 1/2.
    assert random_set_overlap(3, 1) == pytest.approx((0.5, 0.5))
    # Two of three others: they share 1 (P = 2/3, J = 1/3) or 2 (P = 1/3, J = 1).
    assert random_set_overlap(4, 2) == pytest.approx((2 / 3 * 1 / 3 + 1 / 3, 2 / 3))
    # Every other token: both sets are all of them.
    assert random_set_overlap(8, 7) == pytest.approx((1.0, 1.0))
    with pytest.raises(ValueError, match="k must lie in 1..7"):
        random_set_overlap(8, 8)


def test_random_set_overlap_matches_a_simulation(rng):
    n, k, draws = 60, 10, 40_000
    keys = rng.random((2, draws, n - 1))
    a, b = np.argsort(keys[0], axis=1)[:, :k], np.argsort(keys[1], axis=1)[:, :k]
    jaccard, overlap = neighbor_jaccard(a, b, k)
    expected_jaccard, expected_overlap = random_set_overlap(n, k)
    print(f"random {k}-sets of {n - 1}: Jaccard exact {expected_jaccard:.4f}, simulated {jaccard.mean():.4f}; "
          f"overlap exact {expected_overlap:.4f}, simulated {overlap.mean():.4f}")
    assert expected_overlap == pytest.approx(10 / 59)
    # 40,000 draws: standard errors about 0.0006 (Jaccard) and 0.0009 (overlap).
    assert jaccard.mean() == pytest.approx(expected_jaccard, abs=0.003)
    assert overlap.mean() == pytest.approx(expected_overlap, abs=0.004)


def test_cka_is_one_on_itself_and_invariant_to_rotation_and_scale(rng):
    x = rng.normal(size=(300, 16))
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, 5.0 * x @ orthogonal(rng, 16) + 3.0) == pytest.approx(1.0)
    # Different widths: x placed in a 24-dimensional space by a semi-orthogonal map.
    assert linear_cka(x, x @ orthogonal(rng, 24)[:16]) == pytest.approx(1.0)


def test_cka_of_unrelated_matrices_is_small(rng):
    value = linear_cka(rng.normal(size=(2000, 10)), rng.normal(size=(2000, 12)))
    print(f"CKA of independent random matrices: {value:.4f}")
    assert 0 <= value < 0.05


def test_cka_rejects_a_constant_matrix(rng):
    with pytest.raises(ValueError, match="no variance"):
        linear_cka(np.ones((5, 3)), rng.normal(size=(5, 3)))


def test_procrustes_residual_is_zero_for_a_rotation_and_large_for_unrelated(rng):
    x = rng.normal(size=(300, 16))
    assert procrustes_residual(x, 2.0 * x @ orthogonal(rng, 16) - 1.0) == pytest.approx(0.0, abs=1e-9)
    assert procrustes_residual(x, x @ orthogonal(rng, 24)[:16]) == pytest.approx(0.0, abs=1e-9)
    y = rng.normal(size=(300, 16))
    unrelated = procrustes_residual(x, y)
    print(f"Procrustes residual of independent random matrices: {unrelated:.3f}")
    assert 1.0 < unrelated <= 2.0
    assert procrustes_residual(y, x) == pytest.approx(unrelated)  # symmetric


def test_procrustes_residual_of_a_hand_made_pair():
    # Centred, unit norm: x = [[1,0],[-1,0]]/√2, y = [[0,1],[0,-1]]/√2 is x rotated by 90°: 0.
    x = np.array([[1.0, 0.0], [-1.0, 0.0]])
    assert procrustes_residual(x, x[:, ::-1]) == pytest.approx(0.0, abs=1e-12)
    # x against a one-column y: XᵀY = [[1],[0]] → nuclear norm 1 → residual 0 after zero-padding.
    assert procrustes_residual(x, np.array([[3.0], [-3.0]])) == pytest.approx(0.0, abs=1e-12)
    # Three points, both already centred: ||x||_F = √2, ||y||_F = 2; XᵀY = [[1, 1], [0, 0]] has the
    # single singular value √2, so ||XᵀY||_* = √2 / (√2 · 2) = 1/2 and the residual is 2 − 2·1/2 = 1.
    x = np.array([[1.0, 0.0], [0.0, 0.0], [-1.0, 0.0]])
    y = np.array([[1.0, 0.0], [-1.0, 1.0], [0.0, -1.0]])
    assert procrustes_residual(x, y) == pytest.approx(1.0)


def test_mismatched_rows_are_refused(rng):
    with pytest.raises(ValueError, match="same tokens in the same rows"):
        procrustes_residual(rng.normal(size=(5, 3)), rng.normal(size=(6, 3)))
