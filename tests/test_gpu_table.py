"""The GPU benchmark's checks (benchmarks/gpu_table.py), run on the CPU: the digests that stand for the
CPU table and the float64 check that tells near-ties from wrong neighbours."""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.gpu_table import float64_check, row_digests, tie_tolerance
from precompute.knn.neighbors import top_k_neighbors


def test_row_digests_tell_orders_and_ids_apart() -> None:
    ids = np.array([[1, 2, 3], [1, 2, 3], [2, 1, 3], [1, 2, 4], [-1, -1, -1]], dtype=np.int32)
    digests = row_digests(ids)
    assert digests[0] == digests[1]
    assert len(set(digests[1:].tolist())) == 4


def test_float64_check_passes_the_table_and_fails_a_wrong_neighbour() -> None:
    e = np.random.default_rng(0).standard_normal((400, 16)).astype(np.float32)
    e[7] = 0.0  # a zero row: nobody's neighbour
    ids, _ = top_k_neighbors(e, 10, progress=False)
    rows = np.r_[0:7, 8:400]
    gaps = float64_check(e, rows, ids, torch.device("cpu"), chunk=64)
    assert gaps.max() <= tie_tolerance(16) and tie_tolerance(16) < 2e-6
    wrong = ids.copy()
    wrong[0, 0] = wrong[0, 9]  # the 10th best listed first: off by a real gap, not a tie
    wrong[0, 9] = int(np.argmin(e[0] @ e.T))
    assert float64_check(e, np.array([0]), wrong, torch.device("cpu"))[0] > 1e-3
