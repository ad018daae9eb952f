"""The GPU benchmark's checks (benchmarks/gpu_table.py), run on the CPU: the digests that stand for the
CPU table, the reference they are compared with, and the float64 check that tells near-ties from wrong
neighbours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from benchmarks.gpu_table import Float64Truth, matching_reference, matrix_digest, row_digests, tie_tolerance
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
    truth = Float64Truth(e, torch.device("cpu"))
    gaps = truth.gaps(np.r_[0:7, 8:400], ids, chunk=64)
    assert gaps.max() <= tie_tolerance(16) and tie_tolerance(16) < 2e-6
    wrong = ids.copy()
    wrong[0, 0] = wrong[0, 9]  # the 10th best listed first: off by a real gap, not a tie
    wrong[0, 9] = int(np.argmin(e[0] @ e.T))
    assert truth.gaps(np.array([0]), wrong)[0] > 1e-3
    assert truth.gaps(np.array([], dtype=np.int64), ids).size == 0


def test_a_reference_from_other_input_bits_is_not_compared(tmp_path: Path) -> None:
    e = np.random.default_rng(1).standard_normal((50, 8)).astype(np.float32)
    np.savez(tmp_path / "m.npz", digests=np.zeros(50, np.uint64), sha256=matrix_digest(e), k=100, cpu_seconds=2.5)
    ref, why = matching_reference(tmp_path, "m", e)
    assert ref is not None and why == "2.5 s on the CPU, same input bits"
    other = e.copy()
    other[0, 0] += 1e-3
    assert matching_reference(tmp_path, "m", other) == (None, "not used: m.npz was made from other input bits "
                                                              "(another checkpoint or revision)")
    assert matching_reference(tmp_path, "x", e)[1] == f"none (no x.npz in {tmp_path}: run `reference` for x)"
    assert matching_reference(None, "m", e) == (None, "none: checked against float64 sums alone")
