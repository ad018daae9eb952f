"""The exact table from bfloat16 products: the same neighbours as brute force, ties and overflowing
windows included, and a bound that every bfloat16 similarity keeps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from precompute.knn import rescore
from precompute.knn.neighbors import normalize_rows, top_k_neighbors
from tests.test_neighbors import exactly_representable


def float64_reference(embeddings: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute force on float64 products of the float32 unit rows, rounded to float32, ordered by
    (similarity desc, id asc): what the filter's rescoring computes, by other code."""
    n = embeddings.shape[0]
    ids = np.flatnonzero(np.any(embeddings != 0, axis=1))
    unit = normalize_rows(embeddings[ids]).astype(np.float64)
    sims = (unit @ unit.T).astype(np.float32)
    np.fill_diagonal(sims, -np.inf)
    order = np.lexsort((np.tile(np.arange(ids.size), (ids.size, 1)), -sims), axis=-1)[:, :k]
    neighbors = np.full((n, k), -1, dtype=np.int32)
    similarities = np.zeros((n, k), dtype=np.float32)
    neighbors[ids] = ids[order]
    similarities[ids] = np.take_along_axis(sims, order, axis=1)
    return neighbors, similarities


@pytest.mark.parametrize("width", [40, 256])
def test_bfloat16_filter_equals_brute_force(monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    """Random rows with a bundle of 40 copies (ties at one, wider than a 40-wide heap's window: those
    rows are searched again) and a zero row."""
    monkeypatch.setattr(rescore, "FILTER_WIDTH", width)
    rng = np.random.default_rng(0)
    e = rng.standard_normal((1500, 40)).astype(np.float32)
    e[100:140] = e[5]
    e[200] = 0
    expected_ids, expected_sims = float64_reference(e, 30)
    ids, sims = top_k_neighbors(e, 30, block_size=256, progress=False, products="bfloat16")
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(sims, expected_sims, atol=2e-7)
    assert ids[100, :30].tolist() == [5, *range(101, 130)]  # the copies, smaller ids first


def test_bfloat16_filter_breaks_exact_ties_by_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cosines in quarters: bfloat16 holds them exactly, every cut is a tie, the smaller id wins."""
    monkeypatch.setattr(rescore, "FILTER_WIDTH", 64)
    e = exactly_representable(211, seed=5)
    expected_ids, expected_sims = float64_reference(e, 40)
    ids, sims = top_k_neighbors(e, 40, block_size=64, progress=False, products="bfloat16")
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_array_equal(sims, expected_sims)


def test_every_bfloat16_similarity_lies_above_its_window_cut() -> None:
    """The bound behind the window: for each row, the lowest bfloat16 similarity that an entry of
    its exact top k may have (from its bfloat16 k-th best) is at or below every such entry's."""
    rng = np.random.default_rng(1)
    raw = rng.standard_normal((600, 64)).astype(np.float32)
    raw[:, 0] *= 20  # one large component: the largest rounding residuals
    unit = normalize_rows(raw)
    exact = unit.astype(np.float64) @ unit.T.astype(np.float64)
    rows16 = torch.from_numpy(unit).to(torch.bfloat16)
    approx = torch.mm(rows16, rows16.T).to(torch.float32).numpy()
    np.fill_diagonal(exact, -np.inf)
    np.fill_diagonal(approx, -np.inf)
    bounds = rescore.error_bounds(unit)
    k = 10
    cut = rescore.window_cut(-np.sort(-approx, axis=1)[:, k - 1], bounds)
    top = np.argsort(-exact, axis=1)[:, :k]
    assert (np.take_along_axis(approx, top, axis=1) >= cut[:, None]).all()
    assert (cut < -np.sort(-approx, axis=1)[:, k - 1]).all()


def test_auto_keeps_float32_for_small_tables_and_without_bfloat16_hardware(monkeypatch) -> None:
    cpu = "cpu"
    assert rescore.choose_products("auto", rescore.MIN_FILTER_ROWS - 1, cpu) == "float32"
    monkeypatch.setattr(rescore, "bfloat16_in_hardware", lambda: False)
    assert rescore.choose_products("auto", 10**6, cpu) == "float32"
    monkeypatch.setattr(rescore, "bfloat16_in_hardware", lambda: True)
    assert rescore.choose_products("auto", 10**6, cpu) == "bfloat16"
    assert rescore.choose_products("auto", 10**6, "cuda") == "float32"
    with pytest.raises(ValueError, match="products must be"):
        rescore.choose_products("half", 100, cpu)
    with pytest.raises(ValueError, match="CPU only"):
        rescore.choose_products("bfloat16", 100, "cuda")


@pytest.mark.parametrize(("limit", "allowed"), [("AVX2", False), ("avx512_core_bf16", False),
                                                ("AVX512_CORE_AMX", True), ("ALL", True)])
def test_bfloat16_hardware_obeys_onednns_limit(monkeypatch: pytest.MonkeyPatch, limit: str, allowed: bool) -> None:
    """With oneDNN held below AMX (benchmarks/avx2 does so) the products are not bfloat16's to take."""
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", limit)
    rescore.bfloat16_in_hardware.cache_clear()
    try:
        assert rescore.bfloat16_in_hardware() == (allowed and rescore._cpu_has_amx())
    finally:
        rescore.bfloat16_in_hardware.cache_clear()


@pytest.mark.parametrize(("vendor", "blas"), [("GenuineIntel", "mkl"), ("AuthenticAMD", "openblas"), ("", "openblas")])
def test_float32_products_take_the_blas_that_was_faster_on_the_vendors_processors(
        monkeypatch: pytest.MonkeyPatch, vendor: str, blas: str) -> None:
    """MKL on Intel, OpenBLAS elsewhere (and where /proc/cpuinfo says nothing): by the vendor, never by a timing."""
    cpuinfo = {"vendor_id": f" vendor_id\t: {vendor} " if vendor else ""}
    monkeypatch.setattr(rescore, "_cpuinfo_field", lambda name: cpuinfo.get(name, ""))
    rescore.float32_blas.cache_clear()
    try:
        assert rescore.float32_blas() == (blas if torch.backends.mkl.is_available() else "openblas")
    finally:
        rescore.float32_blas.cache_clear()


def test_bfloat16_filter_split_in_parts_equals_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a Ray build does (precompute.build.distributed), without Ray: the plan in three parts, each
    part's heaps as wide as the filter, merged, then rescored: the same table as one process."""
    from precompute.build.distributed import _panel, _split
    from precompute.knn.neighbors import block_plan, merge_top_k, panel_blocks, prepare_search

    monkeypatch.setattr(rescore, "FILTER_WIDTH", 48)
    e = np.random.default_rng(2).standard_normal((700, 24)).astype(np.float32)
    e[100:110] = e[5]
    expected = top_k_neighbors(e, 12, block_size=64, n_threads=1, progress=False, products="bfloat16")
    search = prepare_search(e, 12, block_size=64, products="bfloat16")
    plan = block_plan(len(search.unit), search.block, panel_blocks(search.device) * search.block)
    parts = [_panel(search.unit, search.width, search.order, part, search.block, 1, search.products)
             for part in _split(plan, 3)]
    got = search.finish(*merge_top_k(parts, search.width), n_threads=1)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


@pytest.mark.parametrize("d", [1, 7, 8, 37, 384])
def test_exact_similarity_sums_eight_fixed_lanes(d: int) -> None:
    """The rescoring's dot product (vector code written as LLVM IR) has the bits of its definition:
    eight lanes, each summed in order, the lanes pairwise, then the tail; computed here by NumPy
    (a reduction over axis 0 adds the rows in order)."""
    from precompute.knn import kernels

    rng = np.random.default_rng(d)
    x = rng.standard_normal(d)
    y = rng.standard_normal(d).astype(np.float32)
    products = x * y.astype(np.float64)
    end = d - d % 8
    lane = np.add.reduce(products[:end].reshape(-1, 8), axis=0) if end else np.zeros(8)
    tail = 0.0
    for p in products[end:]:
        tail += p
    expected = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7])) + tail
    assert kernels._dot64(x, y, np.empty(8)) == expected


def test_rounding_norms_read_torchs_bfloat16_copy() -> None:
    from precompute.knn import kernels

    rows = normalize_rows(np.random.default_rng(3).standard_normal((50, 33)).astype(np.float32))
    rounded = torch.from_numpy(rows).to(torch.bfloat16)
    residual, copy = np.empty(50), np.empty(50)
    kernels.rounding_norms(rows, rounded.view(torch.int16).numpy(), residual, copy)
    kept = rounded.to(torch.float64).numpy()
    np.testing.assert_allclose(residual, np.linalg.norm(rows - kept, axis=1), rtol=1e-12)
    np.testing.assert_allclose(copy, np.linalg.norm(kept, axis=1), rtol=1e-12)
