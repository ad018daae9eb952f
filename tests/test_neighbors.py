"""Exact neighbour table: equal to brute force, deterministic on ties, safe on zero rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import precompute.knn.neighbors as neighbors_module
from precompute.knn.neighbors import _exact_top_k, locality_order, normalize_rows, top_k_neighbors


def brute_force(embeddings: np.ndarray, k: int, valid: np.ndarray | None = None):
    """The full N x N cosine matrix, ordered by (similarity desc, id asc); -1 / 0.0 for invalid rows."""
    n = embeddings.shape[0]
    ok = np.any(embeddings != 0, axis=1) if valid is None else valid & np.any(embeddings != 0, axis=1)
    ids = np.flatnonzero(ok)
    unit = normalize_rows(embeddings[ids])
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    local = np.tile(np.arange(ids.size), (ids.size, 1))
    order = np.lexsort((local, -sims), axis=-1)[:, :k]
    neighbors = np.full((n, k), -1, dtype=np.int32)
    similarities = np.zeros((n, k), dtype=np.float32)
    neighbors[ids] = ids[order]
    similarities[ids] = np.take_along_axis(sims, order, axis=1)
    return neighbors, similarities


def exactly_representable(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    """Rows with four entries of ±1 (norm 2): every cosine is a multiple of 1/4, exact in float32,
    so there are many exact ties and any summation order gives the same values."""
    rng = np.random.default_rng(seed)
    e = np.zeros((n, d), dtype=np.float32)
    for row in e:
        row[rng.choice(d, 4, replace=False)] = rng.choice([-1.0, 1.0], 4)
    return e


def test_hand_placed_vectors() -> None:
    degrees = np.array([0, 10, 30, 90, 180])
    e = np.stack([np.cos(np.radians(degrees)), np.sin(np.radians(degrees))], axis=1).astype(np.float32)
    e = np.vstack([e, np.zeros((1, 2), np.float32)])  # a zero row
    ids, sims = top_k_neighbors(e, 2, progress=False)
    assert ids.tolist() == [[1, 2], [0, 2], [1, 0], [2, 1], [3, 2], [-1, -1]]
    assert sims[0] == pytest.approx([np.cos(np.radians(10)), np.cos(np.radians(30))], abs=1e-6)
    assert sims[4] == pytest.approx([0.0, np.cos(np.radians(150))], abs=1e-6)
    assert sims[5].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize(
    "n, k, block_size",
    # The last two have at least k floor groups (16 entries each) per block: rows then start from a floor.
    [(37, 1, 7), (203, 10, 7), (203, 60, 7), (203, 60, 50), (150, 20, 150), (203, 5, 100), (300, 12, 300)],
)
def test_equals_brute_force_on_random_data(backend: str, n: int, k: int, block_size: int) -> None:
    rng = np.random.default_rng(n + k)
    unit = normalize_rows(rng.standard_normal((n, 24)).astype(np.float32))
    expected_ids, expected_sims = brute_force(unit, k)
    sims, ids = _exact_top_k(unit, k, block_size=block_size, device=torch.device("cpu"), progress=False,
                             backend=backend)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(sims, expected_sims, atol=1e-6)


def assert_ties_kept(e: np.ndarray, k: int, block_sizes: tuple[int, ...], backend: str) -> None:
    """The table at each block size equals brute force bit for bit, ids and similarities."""
    expected_ids, expected_sims = brute_force(e, k)
    for block_size in block_sizes:
        sims, ids = _exact_top_k(normalize_rows(e), k, block_size=block_size, device=torch.device("cpu"),
                                 progress=False, backend=backend)
        np.testing.assert_array_equal(ids, expected_ids)
        np.testing.assert_array_equal(sims, expected_sims)


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_exact_ties_go_to_the_smaller_id(backend: str) -> None:
    e = exactly_representable(211)
    assert_ties_kept(e, 40, (7, 64, 211), backend)
    # The data really has ties at the cut: many rows' 40th and 41st similarities are equal.
    cut = brute_force(e, 41)[1]
    assert np.sum(cut[:, 39] == cut[:, 40]) > 100


def test_floor_keeps_exact_ties_at_the_cut() -> None:
    """k=3 with 13 floor groups per block: the first block of each row starts from the group-maxima
    floor, and the many ties at the cut (cosines in quarters) must still go to the smaller id."""
    e = exactly_representable(211, seed=7)
    assert_ties_kept(e, 3, (211, 106), "numba")
    cut = brute_force(e, 4)[1]
    assert np.sum(cut[:, 2] == cut[:, 3]) > 100


@pytest.mark.parametrize("merge_width", [0, 1_000_000])
def test_torch_merges_with_and_without_the_block_cut(monkeypatch: pytest.MonkeyPatch, merge_width: int) -> None:
    """The GPU's merge takes the running k-th best as its cut unless too many entries pass it; both
    ways (every merge cut at the block's own k-th best, or none) give the table, ties included."""
    monkeypatch.setattr(neighbors_module, "MERGE_WIDTH", merge_width)
    assert_ties_kept(exactly_representable(211, seed=3), 40, (7, 64), "torch")


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_row_order_never_changes_the_table(backend: str) -> None:
    """Rows searched in a shuffled order, with their ids as labels: the same table, ties included."""
    e = exactly_representable(211, seed=5)
    expected_ids, expected_sims = brute_force(e, 40)
    order = np.random.default_rng(0).permutation(211)
    sims, ids = _exact_top_k(normalize_rows(e, order), 40, labels=order, block_size=64,
                             device=torch.device("cpu"), progress=False, backend=backend)
    np.testing.assert_array_equal(ids, expected_ids[order])
    np.testing.assert_array_equal(sims, expected_sims[order])


def test_locality_order_puts_similar_rows_together() -> None:
    """Three tight bundles of directions, interleaved: the order makes each bundle contiguous."""
    rng = np.random.default_rng(0)
    centres = np.eye(3, 16, dtype=np.float32) * 10
    bundle = np.arange(300) % 3
    e = centres[bundle] + rng.standard_normal((300, 16)).astype(np.float32)
    rows = np.arange(300)
    order = locality_order(e, rows, 3)
    assert sorted(order.tolist()) == rows.tolist()
    assert (np.diff(bundle[order]) != 0).sum() == 2
    np.testing.assert_array_equal(order, locality_order(e, rows, 3))
    np.testing.assert_array_equal(locality_order(e, rows, 1), rows)
    # Consecutive rows are read in place, others gathered: the same order for the same vectors.
    gapped = np.insert(e, 150, 0.0, axis=0)
    np.testing.assert_array_equal(order, locality_order(gapped, np.r_[0:150, 151:301], 3))
    np.testing.assert_array_equal(locality_order(e[20:220], np.arange(200), 3),
                                  locality_order(e, np.arange(20, 220), 3))


def test_normalize_rows_takes_the_rows_asked_for() -> None:
    e = np.random.default_rng(3).standard_normal((50, 8)).astype(np.float32) * 5
    rows = np.array([7, 3, 3, 49])
    np.testing.assert_array_equal(normalize_rows(e, rows, chunk=3), normalize_rows(e[rows]))
    np.testing.assert_array_equal(normalize_rows(e, chunk=4, threads=3), normalize_rows(e, threads=1))
    assert normalize_rows(e, np.array([], dtype=np.int64)).shape == (0, 8)  # no rows asked: none, no thread
    np.testing.assert_allclose(np.linalg.norm(normalize_rows(e, chunk=7), axis=1), 1.0, rtol=1e-6)


def test_thread_count_is_restored() -> None:
    torch_threads = torch.get_num_threads()
    top_k_neighbors(np.eye(8, dtype=np.float32), 2, n_threads=2, progress=False)
    assert torch.get_num_threads() == torch_threads


def test_one_selection_merge_orders_like_the_heap() -> None:
    """A filling heap's merge keeps the best k by (similarity desc, id asc), -0.0 tying +0.0 as the
    float comparison says, and leaves the slots it cannot fill empty."""
    from precompute.contract.indices import EMPTY_ID
    from precompute.knn import kernels

    heap_v = np.array([-np.inf, 0.5, -np.inf, -0.0], dtype=np.float32)
    heap_i = np.array([EMPTY_ID, 9, EMPTY_ID, 7], dtype=np.int32)
    kernels._merge(heap_v, heap_i, np.array([0.0, 0.5, 0.25], dtype=np.float32), np.array([4, 2, 8], dtype=np.int32))
    kernels.sort_heaps(heap_v[None], heap_i[None])
    assert heap_i.tolist() == [2, 9, 8, 4]  # 0.5 (id 2 before 9), 0.25, then 0.0 (id 4 before 7)
    assert heap_v.tolist() == [0.5, 0.5, 0.25, 0.0]
    heap_v, heap_i = np.full(4, -np.inf, dtype=np.float32), np.full(4, EMPTY_ID, dtype=np.int32)
    kernels._merge(heap_v, heap_i, np.array([0.1, 0.3], dtype=np.float32), np.array([5, 1], dtype=np.int32))
    kernels.sort_heaps(heap_v[None], heap_i[None])
    assert heap_i.tolist() == [1, 5, EMPTY_ID, EMPTY_ID]
    assert heap_v[:2].tolist() == pytest.approx([0.3, 0.1]) and np.isneginf(heap_v[2:]).all()


@pytest.mark.parametrize("width", [1, 7, 8, 9, 63, 64, 65, 130])
def test_marks_are_one_bit_per_entry_that_reaches_a_threshold(width: int) -> None:
    """The scan's bit array: bit b (bit b % 8 of byte b // 8) is set where the entry reaches the row's threshold
    or its column's, for whole groups of eight (one SIMD compare) and the last few alike; bytes past it stay 0."""
    from precompute.knn import kernels

    rng = np.random.default_rng(width)
    row = rng.standard_normal(width).astype(np.float32)
    columns = rng.standard_normal(width).astype(np.float32)
    columns[::5] = np.inf  # a diagonal block's columns
    for row_worst in (np.float32(0.3), np.float32(-np.inf), np.float32(np.inf)):
        mask = np.zeros(-(-width // 64) * 8, dtype=np.uint8)
        kernels._mark(row, row_worst, columns, mask)
        expected = np.packbits((row >= row_worst) | (row >= columns), bitorder="little")
        assert mask[: expected.size].tolist() == expected.tolist() and not mask[expected.size :].any()


@pytest.mark.parametrize("blas", ["openblas", "mkl"])
@pytest.mark.parametrize("tile", [5, 8, 13])
def test_tiles_and_growing_candidate_lists_give_the_brute_force_table(monkeypatch: pytest.MonkeyPatch,
                                                                      tile: int, blas: str) -> None:
    """Tiles narrower than a block, of widths that do and do not fill the scan's groups of eight, and
    column-candidate lists that start with room for one entry and must grow many times; with either
    library's products (the CPU's vendor picks one)."""
    monkeypatch.setattr(neighbors_module, "float32_blas", lambda: blas)
    monkeypatch.setattr(neighbors_module, "TILE_COLUMNS", tile)
    monkeypatch.setattr(neighbors_module, "CANDIDATES_AT_FIRST", 1)
    e = exactly_representable(150, seed=3)
    ids, sims = top_k_neighbors(e, 30, block_size=16, progress=False)
    expected_ids, expected_sims = brute_force(e, 30)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_array_equal(sims, expected_sims)


def test_reruns_are_identical() -> None:
    e = np.random.default_rng(1).standard_normal((300, 32)).astype(np.float32)
    first = top_k_neighbors(e, 25, block_size=64, progress=False)
    second = top_k_neighbors(e, 25, block_size=64, progress=False)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_zero_rows_have_no_neighbours_and_are_nobodys() -> None:
    e = np.random.default_rng(2).standard_normal((60, 8)).astype(np.float32)
    e[[0, 17, 59]] = 0
    ids, sims = top_k_neighbors(e, 10, block_size=7, progress=False)
    assert (ids[[0, 17, 59]] == -1).all() and (sims[[0, 17, 59]] == 0).all()
    assert not np.isin(ids, [0, 17, 59]).any()
    assert np.isfinite(sims).all()
    np.testing.assert_array_equal(ids, brute_force(e, 10)[0])


def test_invalid_mask_excludes_rows_both_ways() -> None:
    e = np.random.default_rng(4).standard_normal((50, 8)).astype(np.float32)
    valid = np.ones(50, dtype=bool)
    valid[[3, 4, 40]] = False
    ids, _ = top_k_neighbors(e, 5, valid=valid, block_size=9, progress=False)
    assert (ids[~valid] == -1).all()
    assert not np.isin(ids, [3, 4, 40]).any()
    np.testing.assert_array_equal(ids, brute_force(e, 5, valid)[0])


def test_duplicate_rows_are_each_others_nearest_at_one() -> None:
    e = np.random.default_rng(5).standard_normal((40, 16)).astype(np.float32)
    e[[7, 21, 33]] = e[12]
    e[21] *= 3  # same direction, longer: still cosine 1
    ids, sims = top_k_neighbors(e, 4, block_size=8, progress=False)
    assert ids[12, :3].tolist() == [7, 21, 33]
    assert ids[33, :3].tolist() == [7, 12, 21]
    assert sims[[7, 12, 21, 33], :3] == pytest.approx(np.ones((4, 3)), abs=1e-6)
    assert sims.max() <= 1.0


def test_k_must_be_smaller_than_the_valid_rows() -> None:
    e = np.eye(6, dtype=np.float32)
    e[5] = 0
    with pytest.raises(ValueError, match=r"k=5 .* only 5 of 6 rows are valid"):
        top_k_neighbors(e, 5, progress=False)
    assert top_k_neighbors(e, 4, progress=False)[0].shape == (6, 4)


def test_bad_inputs_say_what_is_wrong() -> None:
    e = np.ones((5, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"valid must have shape \(5,\)"):
        top_k_neighbors(e, 2, valid=np.ones(4, bool), progress=False)
    e[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite values in 1 rows \(first: \[2\]\)"):
        top_k_neighbors(e, 2, progress=False)
    with pytest.raises(ValueError, match="device must be"):
        top_k_neighbors(np.eye(4, dtype=np.float32), 1, device="tpu", progress=False)



def test_runs_share_no_written_heap_between_threads() -> None:
    """The threads wait for each other only between runs: within one, no row written by a thread is
    written by another or read as a column."""
    plan = neighbors_module.block_plan(20, 4, 8)
    runs = list(neighbors_module._unshared(plan))
    assert [p for run in runs for p in run] == plan
    assert runs[:3] == [
        [(r, r + 2, r, r + 2) for r in range(0, 20, 2)],  # the diagonal blocks' halves
        [(r, r + 2, r + 2, r + 4) for r in range(0, 20, 4)],  # each block's halves against each other
        [(0, 4, 4, 12), (0, 4, 12, 20)],  # a row block's panels
    ]
    for run in runs:
        written = [(t, r0 + lo, r0 + hi) for r0, r1, _, _ in run
                   for t, (lo, hi) in enumerate([(0, (r1 - r0) // 2), ((r1 - r0) // 2, r1 - r0)])]
        read = [(c0, c1) for r0, _, c0, c1 in run if c0 != r0]
        for t, a0, a1 in written:
            assert not any(a0 < b1 and b0 < a1 for u, b0, b1 in written if u != t)
            assert not any(a0 < c1 and c0 < a1 for c0, c1 in read)


@pytest.mark.parametrize(("n", "b", "width"), [(1, 1, 1), (10, 3, 3), (10, 3, 7), (203, 16, 64), (128, 32, 128)])
def test_block_plan_covers_every_pair_once(n: int, b: int, width: int) -> None:
    """Each unordered pair of rows in exactly one product; a diagonal block holds its pairs once."""
    pairs = np.zeros((n, n), dtype=int)
    for r0, r1, c0, c1 in neighbors_module.block_plan(n, b, width):
        assert r1 - r0 <= b and c1 - c0 <= max(width, b)
        if r0 == c0:
            pairs[r0:r1, c0:c1] += np.triu(np.ones((r1 - r0, c1 - c0), dtype=int), 1)
        else:
            assert c0 >= r1, "an off-diagonal product must lie right of the diagonal"
            pairs[r0:r1, c0:c1] += 1
    np.testing.assert_array_equal(pairs, np.triu(np.ones((n, n), dtype=int), 1))
