"""How alike two models' embedding geometries are, on the same tokens (METHODS §7).

Three views, from local to global:

* **neighbour Jaccard** — per token, |A∩B| / |A∪B| of its top-k neighbour sets in the two models
  (the token itself left out), and the overlap |A∩B| / k; both beside their value for two random
  k-sets (``random_set_overlap``, METHODS §10);
* **the paper's overlap** — |A∩B| / |A| of k-entry lists that hold the token itself and its k − 1
  nearest, as the authors' ``display_neighbors.py`` compared their 100-entry lists
  (``paper_overlap``, chance ``random_paper_overlap``);
* **linear CKA** (Kornblith et al., 2019) — similarity of the two Gram structures, invariant to
  rotations and isotropic scaling, defined even when the widths differ;
* **orthogonal Procrustes residual** — how far one matrix is from a rotation of the other
  (the "Procrustes distance" of Ding et al., 2021): 0 = identical up to rotation, 2 = maximally apart.

All functions are pure: rows of the inputs are aligned (row i = the same shared token in both).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import hypergeom


def _tables(neighbors_a: np.ndarray, neighbors_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Two neighbour tables of the same rows, checked, and the width they both have."""
    a = np.asarray(neighbors_a)
    b = np.asarray(neighbors_b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(f"neighbour tables must be 2-D with the same rows, got {a.shape} and {b.shape}")
    return a, b, min(a.shape[1], b.shape[1])


def _intersections(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, how many ids (>= 0) two id tables share; a row never repeats an id.

    Vectorised: both rows are concatenated and sorted, and an id that appears twice is in both.
    """
    both = np.sort(np.concatenate([a, b], axis=1), axis=1)
    return ((both[:, 1:] == both[:, :-1]) & (both[:, 1:] >= 0)).sum(axis=1)


def neighbor_jaccard(neighbors_a: np.ndarray, neighbors_b: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row Jaccard index and overlap of two top-k neighbour tables (the token itself left out).

    ``neighbors_a`` and ``neighbors_b`` are (n, ≥k) int arrays of ids into the same index space
    (the shared vocabulary), -1 where there is no neighbour; only their first ``k`` columns count.
    A row never repeats an id (a neighbour table does not). Returns two (n,) float64 arrays:
    ``jaccard = |A∩B| / |A∪B|`` (NaN only where both sets are empty) and ``overlap = |A∩B| / k``.

    >>> a = np.array([[1, 2, 3]]); b = np.array([[3, 4, 2]])
    >>> neighbor_jaccard(a, b, 3)
    (array([0.5]), array([0.66666667]))
    """
    a, b, width = _tables(neighbors_a, neighbors_b)
    if not 1 <= k <= width:
        raise ValueError(f"k must lie in 1..{width} (the tables' width), got {k}")
    a, b = a[:, :k], b[:, :k]
    intersection = _intersections(a, b)
    union = (a >= 0).sum(axis=1) + (b >= 0).sum(axis=1) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        jaccard = np.where(union > 0, intersection / np.maximum(union, 1), np.nan)
    return jaccard, intersection / k


def paper_overlap(neighbors_a: np.ndarray, neighbors_b: np.ndarray, k: int) -> np.ndarray:
    """Per row, the paper's overlap of two k-entry neighbour lists that include the token itself.

    The authors' lists were the top k by cosine *with* the token (cosine 1 with itself, so first) and
    were compared as |A∩B| / |A|, A the first model's list: the token itself always counts as shared.
    From tables that leave the token out (as ours do): A = {token} ∪ the first k − 1 columns, so the
    overlap is (1 + |A'∩B'|) / (1 + |A'|). Needs k − 1 columns; k = 1 lists only the token (1.0).
    Returns (n,) float64.

    >>> paper_overlap(np.array([[1, 2, 3]]), np.array([[3, 4, 2]]), 3)  # {0,1,2} and {0,3,4}: 1 of 3
    array([0.33333333])
    """
    a, b, width = _tables(neighbors_a, neighbors_b)
    if not 1 <= k <= width + 1:
        raise ValueError(f"k must lie in 1..{width + 1} (the token and the tables' {width} columns), got {k}")
    a, b = a[:, : k - 1], b[:, : k - 1]
    return (1 + _intersections(a, b)) / (1 + (a >= 0).sum(axis=1))


def random_set_overlap(n_tokens: int, k: int) -> tuple[float, float]:
    """``(Jaccard, overlap)`` expected of two top-k neighbour sets that carry no information.

    A token's two sets are drawn independently and uniformly from the ``n_tokens - 1`` other shared
    tokens: their intersection I is hypergeometric (population n - 1, k marked, k drawn), so
    E[I / k] = k / (n - 1) and E[J] = Σ_i P(I = i) · i / (2k - i), both exact.

    >>> random_set_overlap(11, 5)  # 5 of 10 others, twice: half of a set is shared, on average
    (0.3504031242126481, 0.5)
    """
    if not 1 <= k <= n_tokens - 1:
        raise ValueError(f"k must lie in 1..{n_tokens - 1} (the other tokens), got {k}")
    shared = np.arange(k + 1)
    probability = hypergeom.pmf(shared, n_tokens - 1, k, k)
    return float(probability @ (shared / (2 * k - shared))), k / (n_tokens - 1)


def random_paper_overlap(n_tokens: int, k: int) -> float:
    """:func:`paper_overlap` expected of neighbours that carry no information: (1 + (k−1)² / (n−1)) / k.

    The token itself is in both lists; the other k − 1 entries are two random (k−1)-sets of the
    ``n_tokens - 1`` other shared tokens, which share (k−1)² / (n−1) on average (hypergeometric).

    >>> random_paper_overlap(11, 6)  # (1 + 25/10) / 6
    0.5833333333333334
    """
    if not 1 <= k <= n_tokens:
        raise ValueError(f"k must lie in 1..{n_tokens} (the token and the other tokens), got {k}")
    return (1 + (k - 1) ** 2 / (n_tokens - 1)) / k if k > 1 else 1.0


@dataclass(frozen=True)
class Prepared:
    """One model's rows prepared for comparisons: centred, scaled to unit Frobenius norm, float64.

    Comparing m models pairwise needs each matrix's own Gram norm once, not once per pair; build
    one ``Prepared`` per model and call :func:`pair_similarity` per pair.
    """

    matrix: np.ndarray  # (n, d) float64, column means 0, ||matrix||_F = 1
    gram_norm: float  # ||XᵀX||_F of that matrix

    @classmethod
    def of(cls, x: np.ndarray, name: str = "x") -> Prepared:
        m = np.array(x, dtype=np.float64)  # a copy, centred in place: one large allocation, not two
        if m.ndim != 2 or m.shape[0] < 2:
            raise ValueError(f"{name} must be an (n, d) matrix with n >= 2 rows, got shape {m.shape}")
        m -= m.mean(axis=0)
        norm = np.linalg.norm(m)
        if norm == 0:
            raise ValueError(f"{name} has no variance after centring (all rows equal): similarity is undefined")
        m /= norm
        return cls(m, float(np.linalg.norm(m.T @ m)))


def pair_similarity(x: Prepared, y: Prepared) -> tuple[float, float]:
    """``(linear CKA, Procrustes residual)`` of two prepared matrices, from one cross product YᵀX.

    CKA = ||YᵀX||²_F / (||XᵀX||_F ||YᵀY||_F) (Kornblith et al., 2019, eq. 4, linear kernel; the
    feature-space form costs O(n·d²), not the O(n²) of Gram matrices). Procrustes: with unit norms
    the best rotation leaves ||XR − Y||²_F = 2 − 2·||XᵀY||_* (Schönemann, 1966; nuclear norm = sum
    of singular values). Differing widths: the narrower matrix counts as zero-padded to the wider
    one; the rectangular XᵀY has exactly the singular values of the padded product.
    """
    if x.matrix.shape[0] != y.matrix.shape[0]:
        raise ValueError(
            f"x and y must hold the same tokens in the same rows, got {x.matrix.shape[0]} and "
            f"{y.matrix.shape[0]} rows"
        )
    cross = y.matrix.T @ x.matrix
    cka = float(np.linalg.norm(cross) ** 2 / (x.gram_norm * y.gram_norm))
    residual = float(np.clip(2.0 - 2.0 * np.linalg.svd(cross, compute_uv=False).sum(), 0.0, 2.0))
    return min(cka, 1.0), residual


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of (n, d_x) ``x`` and (n, d_y) ``y`` (see :func:`pair_similarity`).

    1 = the same geometry up to rotation and isotropic scale; near 0 for unrelated matrices.

    >>> rng = np.random.default_rng(0); x = rng.normal(size=(50, 4))
    >>> round(linear_cka(x, 3 * x), 6)
    1.0
    """
    return pair_similarity(Prepared.of(x, "x"), Prepared.of(y, "y"))[0]


def procrustes_residual(x: np.ndarray, y: np.ndarray) -> float:
    """Residual ||XR − Y||²_F of the best rotation R of ``x`` onto ``y``, both centred and at unit norm.

    In [0, 2], symmetric in x and y: 0 = identical up to rotation (and scale, removed by the
    normalisation). Differing widths: the narrower is zero-padded (see :func:`pair_similarity`).

    >>> rng = np.random.default_rng(0); x = rng.normal(size=(50, 4))
    >>> q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    >>> round(procrustes_residual(x, x @ q), 6)
    0.0
    """
    return pair_similarity(Prepared.of(x, "x"), Prepared.of(y, "y"))[1]
