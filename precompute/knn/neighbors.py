"""Exact top-k cosine neighbours of every token (METHODS §3), at the speed of a matrix product.

The work is one blocked product E·Eᵀ over L2-normalised rows. Because E·Eᵀ is symmetric, each
pair of blocks (i <= j) is multiplied once and feeds the running top-k of both its row block and
its column block: about N²·d multiply-adds instead of 2·N²·d. Nothing N x N is ever held: on CPU
one tile of similarities per thread (its rows of a block against ``TILE_COLUMNS`` columns), on a
GPU one (b, b) product at a time.

Selecting the top-k from each block is the other cost. A row's running top-k is a min-heap whose
root is its current k-th best, so one pass over a block compares every similarity against its
row's (and column's) root and touches the heap only for the few that beat it. On CPU that pass is
a small compiled kernel (``precompute.knn.kernels``, numba, already installed with umap-learn):
it reads each similarity once for both directions, marks the entries that reach a threshold in one
SIMD loop per row and visits only those. Each thread multiplies its own rows of a product one tile
of ``TILE_COLUMNS`` columns at a time and selects from the tile at once, while it is still in cache,
and goes on to the next product without waiting for the others until its row block is done; the
entries that may enter a column's heap are listed as they are met and applied then, the columns
split between the threads. A heap filling from empty takes its first tile's candidates in one
selection rather than one push each. On a GPU the same selection is done with torch operations
(a mask at the running k-th best, ``topk`` only where too many entries pass it, and a stable sort);
both give the same table (tests run both).

The rows are searched in a locality order (a small k-means, ``locality_order``), so that each
diagonal block, computed first, already holds many of its rows' true neighbours: the heaps start
near their final thresholds and later blocks push few entries. The heaps hold the original ids.

On CPU the products are single-threaded BLAS calls, one per thread and tile (see ``_cpu_products``):
torch's MKL on Intel processors, NumPy's OpenBLAS on the others, where it was faster
(``precompute.knn.rescore.float32_blas``); each row block meets the columns to its right in panels
four blocks wide, cut into tiles, and each diagonal block is computed as two half-size ones and the
product of its halves (``block_plan``).

Measured under the AVX2 proxy (benchmarks/avx2, 2 cores), multilingual-e5-small: 121.7 s with
whole 16384-column panels scanned back from memory and a wait for both threads after every product;
116.5 s with tiles of 2048 columns (OpenBLAS ran 2048 x 384 x 2048..4096 at 228-230 GFLOP/s against
218 for 2048 x 384 x 16384, and the tile is scanned from cache; 1024-column tiles: 120.3 s); 112.6 s
with MKL's products (232-237 GFLOP/s on those shapes); 109.0 s with one wait per row block. Halving the
diagonal blocks took use-multilingual-v3 from 40.6 to 40.2 s. Tried and dropped, being slower or no
faster: running the next product in a thread beside the current selection (both already use every
core), tiles small enough for the second-level cache (the small products lose more than the cache
saves), and each thread searching half of the products with heaps of its own, merged at the end (no
wait between products, but each half's thresholds are weaker: use-multilingual-v3 50.8 s + 2.0 s to
merge, against 41.4 s). Selecting each thread's rows right after its product, instead of in numba's
thread pool between products (whose waits spun on the cores), and filling the heaps in one selection,
took the selection from 9.2 to 5.3 CPU s on use-multilingual-v3 (AMD EPYC), every id and similarity
unchanged.

On CPUs with AMX the products are multiplied in bfloat16 instead (``products="auto"``), five to six
times faster; the heaps then keep 256 entries per row, and ``precompute.knn.rescore`` rescores the
candidates exactly: the same neighbours. Measured on a Xeon with AMX (2 cores, benchmarks/knn.py):
use-multilingual-v3 25.0 s in float32, 14.9 s so; multilingual-e5-small 38.1 s so (before the tiles,
whose bfloat16 products are widened a tile at a time rather than a whole panel: 29.2 and 19.9 s; 58.8 s).

On a GPU (measured on an H200, float32 products without TF32 at 51 TFLOP/s for 8192³, 16 CPU cores;
benchmarks/gpu_table.py): multilingual-e5-small 2.9 s, 6.1x the symmetric bound at that rate (4.4x for
the GPU's part), where blocks of 4096 rows, a ``topk`` per merge and a single-threaded preparation took
7.0 s; use-multilingual-v3 1.3 s against 2.8 s; a random 250,000 x 4,096 matrix 11.0 s (2.2x the bound)
against 34.2 s, of which the preparation on the CPU (normalisation, locality order) took 3.6 s against
22.1 s. Every id equals the CPU table's except in rows whose lists differ by near-ties (0.8 % and 1.5 %
of the rows, the largest float64 gap 2.5e-6).

Ties are broken by the smaller id, so reruns give identical files: an entry beats the heap root
when its similarity is larger, or equal with a smaller id. The order in which blocks arrive
therefore does not matter. (A different block size, tile width, thread count or BLAS may round a product
differently in its last bits, which can swap two neighbours whose similarities differ by ~1e-6.
Behind the bfloat16 filter the similarities are the rescoring's float64 sums in fixed lanes, the same
bits whatever the block size or thread count.)
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from precompute.contract import schema
from precompute.contract.indices import EMPTY_ID, valid_rows
from precompute.knn.rescore import choose_products, filter_width, float32_blas, rescore
from precompute.steps import BuildContext, Step, StepOutput

if TYPE_CHECKING:
    import torch

#: Rows per block when neither the caller nor the memory limits it: on CPU each thread's share of a
#: block (2048 rows on 2 cores) is the height of its tiles, and the threads wait for each other once
#: per row block.
DEFAULT_BLOCK = 4096
#: The same on a GPU, where each (b, b) block is one product and one merge: fewer, larger steps
#: (1 GiB of similarities each) keep it busy. On an H200 the GPU's part of multilingual-e5-small's table
#: took 5.0 s with blocks of 4096 rows, 3.1 s with 8192, 2.6 s with 16384 and 2.4 s with 32768; with the
#: merge that skips ``topk`` (``MERGE_WIDTH``), 2.1 s with 16384 and 2.4 s with 32768 (benchmarks/gpu_table.py).
DEVICE_BLOCK = 16384
#: Candidates per row above which a GPU merge first cuts at the block's own k-th best, in multiples of k.
MERGE_WIDTH = 4
#: Share of the available memory the similarity blocks may take.
MEMORY_SHARE = 0.25
#: Column blocks per CPU product of the plan. The numba selection multiplies them in tiles
#: (``TILE_COLUMNS``), whatever their width; the torch selection (tests on CPU) holds a whole one.
PANEL_BLOCKS = 4
#: Values per slice of ``normalize_rows`` (16 MiB in float64): 4096 rows of use-multilingual-v3.
NORMALIZE_ELEMENTS = 1 << 21
#: Clusters of the locality order per block of rows: a block then holds a few whole clusters.
CLUSTERS_PER_BLOCK = 4
#: Columns of a CPU tile: each thread multiplies its rows of a product this many columns at a
#: time and selects from the tile at once, while it is still in cache (see ``_cpu_products``).
TILE_COLUMNS = 2048
#: Column candidates each thread's list holds at first; it grows when a tile needs more.
CANDIDATES_AT_FIRST = 1 << 16


def top_k_neighbors(
    embeddings: np.ndarray,
    k: int,
    *,
    valid: np.ndarray | None = None,
    device: str = "auto",
    block_size: int = 0,
    n_threads: int = 0,
    progress: bool = True,
    products: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k cosine neighbours of every row, itself excluded.

    Args:
        embeddings: (N, d) float matrix, one row per token.
        k: neighbours per row; must be smaller than the number of valid rows.
        valid: optional (N,) bool; rows False get no neighbours and are nobody's neighbour.
            Zero rows are always treated as invalid.
        device: "cpu", "cuda" or "auto" (cuda when available). Both give the same table.
        block_size: rows per block; 0 picks one from the memory available.
        n_threads: CPU threads; 0 uses all cores.
        progress: show a progress bar with ETA.
        products: "float32", "bfloat16" (a filter whose candidates are rescored exactly, see
            ``precompute.knn.rescore``) or "auto" (bfloat16 on a CPU that multiplies it in hardware, for
            large tables). Both give the exact top-k; their similarities may differ in the last bit.

    Returns:
        neighbors: (N, k) int32, best first, ties broken by smaller id; -1 for invalid rows.
        similarities: (N, k) float32 cosine, 0.0 where the id is -1.

    Example:
        >>> e = np.array([[1, 0], [1, 0.1], [0, 1], [0, 0]], dtype=np.float32)
        >>> ids, sims = top_k_neighbors(e, 1, progress=False)
        >>> ids[:, 0].tolist()
        [1, 0, 1, -1]
    """
    search = prepare_search(embeddings, k, valid=valid, device=device, block_size=block_size, products=products)
    values, local = _exact_top_k(search.unit, search.width, labels=search.order, block_size=search.block,
                                 device=search.device, n_threads=n_threads, progress=progress,
                                 products=search.products)
    return search.finish(values, local, n_threads=n_threads)


@dataclass(frozen=True)
class Search:
    """An exact search, prepared: the valid rows in locality order, normalised, and the block size.

    The heaps are ``width`` wide: k, or with bfloat16 products the filter's width, whose candidates
    ``finish`` rescores exactly before it turns the (values, labels) heaps of the searched rows into
    the (N, k) tables by id. Split out so that the products can run elsewhere
    (precompute.build.distributed: Ray tasks, each a part of ``block_plan``), with the same rows,
    labels and blocks, hence the same bits.
    """

    n_rows: int
    ids: np.ndarray  #: the valid rows' vocabulary ids, ascending
    order: np.ndarray  #: search position -> index into ``ids`` (the heaps' labels)
    unit: np.ndarray  #: (n, d) float32 unit rows in search order
    block: int
    device: torch.device
    k: int
    products: str  #: "float32" or "bfloat16"

    @property
    def width(self) -> int:
        """Entries kept per row while the products run."""
        return self.k if self.products == "float32" else filter_width(self.k, len(self.unit))

    def finish(self, values: np.ndarray, labels: np.ndarray, n_threads: int = 0) -> tuple[np.ndarray, np.ndarray]:
        if self.products == "bfloat16":
            values, labels = rescore(self.unit, self.order, values, labels, self.k, n_threads=n_threads)
        k = values.shape[1]
        searched = self.ids[self.order]
        neighbors = np.full((self.n_rows, k), -1, dtype=np.int32)
        similarities = np.zeros((self.n_rows, k), dtype=np.float32)
        neighbors[searched] = self.ids[labels]
        # Rounding can put identical rows a hair above 1; a cosine lies in [-1, 1].
        similarities[searched] = np.clip(values, -1.0, 1.0)
        return neighbors, similarities


def prepare_search(embeddings: np.ndarray, k: int, *, valid: np.ndarray | None = None, device: str = "auto",
                   block_size: int = 0, products: str = "auto") -> Search:
    """Check the inputs of :func:`top_k_neighbors` and prepare its search (see :class:`Search`)."""
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D (N, d) matrix, got shape {embeddings.shape}")
    # Checked in slices: no (N, d) mask is made (1 GB for 250,000 x 4,096).
    step = max(1, NORMALIZE_ELEMENTS // max(1, embeddings.shape[1]))
    if not all(np.isfinite(embeddings[lo : lo + step]).all() for lo in range(0, embeddings.shape[0], step)):
        bad = np.flatnonzero(~np.isfinite(embeddings).all(axis=1))
        raise ValueError(
            f"embeddings contain NaN or infinite values in {bad.size} rows (first: {bad[:5].tolist()}); "
            "fix the checkpoint or mark those rows invalid and zero them"
        )
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if block_size < 0:
        raise ValueError(f"block_size must be 0 (automatic) or positive, got {block_size}")
    keep = valid_rows(embeddings, valid)
    ids = np.flatnonzero(keep).astype(np.int32)
    if k >= ids.size:
        raise ValueError(
            f"k={k} neighbours need more than k valid rows, but only {ids.size} of "
            f"{embeddings.shape[0]} rows are valid (non-zero and allowed by `valid`); lower k"
        )
    dev = resolve_device(device)
    products = choose_products(products, ids.size, dev.type)
    b = min(block_size or choose_block_size(ids.size, dev), ids.size)
    # The search runs over the valid rows in an order that puts similar rows in the same block;
    # its heaps hold indices into `ids`, so the order changes the speed, never the table.
    order = locality_order(embeddings, ids, CLUSTERS_PER_BLOCK * -(-ids.size // b))
    return Search(embeddings.shape[0], ids, order, normalize_rows(embeddings, ids[order]), b, dev, k, products)


def merge_top_k(parts: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The top-k of each row over several partial top-k lists, best first (similarity desc, id asc).

    Each part is exact over the products it saw, and every pair is in one part, so the merge is
    the global top-k with the same tie rule. Empty slots (-inf, EMPTY_ID) sort last.
    """
    values = np.concatenate([v for v, _ in parts], axis=1)
    labels = np.concatenate([i for _, i in parts], axis=1)
    by_id = np.argsort(labels, axis=1, kind="stable")
    values, labels = np.take_along_axis(values, by_id, 1), np.take_along_axis(labels, by_id, 1)
    by_value = np.argsort(-values, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(values, by_value, 1), np.take_along_axis(labels, by_value, 1)


def normalize_rows(matrix: np.ndarray, rows: np.ndarray | None = None, chunk: int = 0, threads: int = 0) -> np.ndarray:
    """matrix[rows] (all rows by default) as float32 scaled to unit L2 norm, computed in float64;
    the rows must be non-zero.

    Done ``chunk`` rows at a time (by default about NORMALIZE_ELEMENTS values), so that the float64 copy
    stays small and in cache (the whole 128,000 x 512 matrix at once took 1.8 s, in slices 0.2 s, with
    identical results), and the selected rows are taken slice by slice, so that no full copy of them is
    made first. The slices are spread over ``threads`` (0: all cores; NumPy lets go of the GIL for each
    step): each row's result is the same bits whatever the slicing.
    """
    n = matrix.shape[0] if rows is None else len(rows)
    chunk = chunk or max(1, NORMALIZE_ELEMENTS // matrix.shape[1])
    out = np.empty((n, matrix.shape[1]), dtype=np.float32)

    def normalize(lo: int) -> None:
        part = matrix[lo : lo + chunk] if rows is None else matrix[rows[lo : lo + chunk]]
        part = part.astype(np.float64)
        out[lo : lo + chunk] = part / np.sqrt(np.einsum("ij,ij->i", part, part))[:, None]

    with ThreadPoolExecutor(max(1, min(threads or os.cpu_count() or 1, -(-n // chunk)))) as pool:
        list(pool.map(normalize, range(0, n, chunk)))
    return out


def locality_order(matrix: np.ndarray, rows: np.ndarray, n_clusters: int, *, iterations: int = 5,
                   per_cluster: int = 64, seed: int = 0) -> np.ndarray:
    """A permutation of ``rows`` (non-zero rows of ``matrix``) that puts similar rows next to each
    other: positions sorted (stably) by their nearest centroid of a small spherical k-means, fitted
    on ``per_cluster`` sampled rows per cluster with a fixed seed.

    Why: in this order a diagonal block, which comes first, holds many of its rows' true
    neighbours, so the heaps start near their final thresholds and the later blocks push far fewer
    entries (use-multilingual-v3, 128 clusters: selection 4.9 s down to 3.7 s, for 0.3 s here).
    The order never changes the table: the heaps hold the original ids, which break the ties.
    """
    n = len(rows)
    if n_clusters <= 1:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    fit = normalize_rows(matrix, rows[np.sort(rng.choice(n, min(n, per_cluster * n_clusters), replace=False))])
    centroids = fit[rng.choice(fit.shape[0], min(n_clusters, fit.shape[0]), replace=False)]
    for _ in range(iterations):
        members = np.zeros((centroids.shape[0], fit.shape[0]), dtype=np.float32)
        members[np.argmax(fit @ centroids.T, axis=1), np.arange(fit.shape[0])] = 1.0
        sums = members @ fit
        norms = np.linalg.norm(sums, axis=1)
        moved = norms > 0  # an empty cluster keeps its centroid
        centroids[moved] = sums[moved] / norms[moved, None]
    # A row's nearest centroid does not depend on its norm: no need to normalise them all here.
    # Assigned in slices, so that no (N, clusters) matrix is held at once.
    # Consecutive rows (all rows valid, the usual case) are read in place, not gathered and copied.
    step = 16384
    first = int(rows[0])
    consecutive = np.array_equal(rows, np.arange(first, first + n))
    nearest = np.concatenate([
        np.argmax(np.asarray(matrix[first + lo : first + min(lo + step, n)] if consecutive
                             else matrix[rows[lo : lo + step]], dtype=np.float32) @ centroids.T, axis=1)
        for lo in range(0, n, step)])
    return np.argsort(nearest, kind="stable")


def resolve_device(device: str) -> torch.device:
    import torch

    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but torch sees no GPU; pass device='cpu' or 'auto'")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def panel_blocks(device: torch.device) -> int:
    """Column blocks per product: PANEL_BLOCKS on CPU; one on a GPU, where (b, b) already runs at peak."""
    return PANEL_BLOCKS if device.type == "cpu" else 1


def choose_block_size(n: int, device: torch.device) -> int:
    """Rows per block: DEFAULT_BLOCK on CPU, DEVICE_BLOCK on a GPU, fewer when one (b, panel_blocks · b)
    float32 product would take more than MEMORY_SHARE of the memory free there (a GPU merge holds about
    twice that again: a mask of the block and, for its columns, a transposed copy)."""
    import psutil
    import torch

    if device.type == "cuda":
        free = torch.cuda.mem_get_info(device)[0]
    else:
        free = psutil.virtual_memory().available
    by_memory = int(np.sqrt(MEMORY_SHARE * free / (4 * panel_blocks(device))))
    return max(1, min(n, DEFAULT_BLOCK if device.type == "cpu" else DEVICE_BLOCK, by_memory))


def _exact_top_k(
    unit: np.ndarray,
    k: int,
    *,
    block_size: int,
    device: torch.device,
    n_threads: int = 0,
    progress: bool = True,
    backend: str = "",
    labels: np.ndarray | None = None,
    plan: Plan | None = None,
    products: str = "float32",
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k over unit rows: ((n, k) float32 similarities, (n, k) int32 ids), sorted, by row position.

    ``labels`` gives each row position its id (default: the position); heaps hold these ids and
    ties go to the smaller one. ``plan`` (default: all of :func:`block_plan`) may be a part of it:
    the result is then the exact top-k over the pairs those products cover (see merge_top_k).
    ``backend`` "numba" (the CPU default) or "torch" (the GPU default)
    picks the block selection; tests run both on CPU. ``products`` "bfloat16" (CPU only, as
    ``prepare_search`` resolved it) multiplies bfloat16 copies of the rows: the heaps then hold those
    approximate similarities (see ``precompute.knn.rescore``).
    """
    import torch
    from tqdm.auto import tqdm

    n = unit.shape[0]
    backend = backend or ("torch" if device.type == "cuda" else "numba")
    b = min(block_size or choose_block_size(n, device), n)
    plan = block_plan(n, b, panel_blocks(device) * b) if plan is None else plan

    threads = n_threads or os.cpu_count() or 1
    previous_threads = torch.get_num_threads()
    # A process-wide setting: restored on the way out, whatever happens.
    torch.set_num_threads(threads)
    try:
        labels = np.arange(n, dtype=np.int32) if labels is None else np.asarray(labels, dtype=np.int32)
        with ThreadPoolExecutor(threads) as pool:
            select = (_NumbaSelect(n, k, labels, pool, threads) if backend == "numba"
                      else _TorchSelect(n, k, labels, device))
            on_tile = select.scan_tile if isinstance(select, _NumbaSelect) else None
            blocks = (_cpu_products(unit, plan, pool, threads, on_tile, bfloat16=products == "bfloat16")
                      if device.type == "cpu" else _device_products(unit, plan, device))
            # The bar counts multiply-adds, so that its rate and ETA stay true across blocks of any shape.
            what = f"exact top-{k}" if products == "float32" else f"bfloat16 products, best {k} kept per row"
            bar = tqdm(total=sum((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in plan) * unit.shape[1],
                       desc=f"{what} ({device.type}, {n} x {unit.shape[1]})", unit="FMA", unit_scale=True,
                       disable=not progress)
            with bar:
                for done, block in blocks:
                    select.update(block, done)
                    bar.update(sum((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in done) * unit.shape[1])
            return select.result()
    finally:
        torch.set_num_threads(previous_threads)


#: Products to compute, as (r0, r1, c0, c1): rows r0:r1 against columns c0:c1.
Plan = list[tuple[int, int, int, int]]


def block_plan(n: int, b: int, width: int) -> Plan:
    """The products that cover each unordered pair of rows once: each (b, b) diagonal block as two
    half-size diagonal blocks and the product of its first half with its second, then, for each row
    block, the columns to its right in panels of at most ``width`` (near-equal widths).

    Diagonal blocks come first: they fill every row's heap, so that the other products meet
    thresholds that already reject most entries. (The order never changes the result.) A diagonal
    block is computed whole, each pair twice; in halves, a quarter of it is (b · N / 4 multiply-adds
    less: 1.6 % of use-multilingual-v3's products). Wider panels make fewer, larger products, which
    BLAS runs closer to its peak.
    """
    half = -(-b // 2)
    ends = {r0: min(r0 + b, n) for r0 in range(0, n, b)}
    plan = [(s, min(s + half, end), s, min(s + half, end)) for r0, end in ends.items()
            for s in range(r0, end, half)]
    plan += [(r0, r0 + half, r0 + half, end) for r0, end in ends.items() if r0 + half < end]
    for r0 in range(0, n, b):
        left = min(r0 + b, n)
        if left == n:
            continue
        edges = np.linspace(left, n, -(-(n - left) // width) + 1).astype(int)
        plan += [(r0, min(r0 + b, n), int(c0), int(c1)) for c0, c1 in itertools.pairwise(edges)]
    return plan


def _cpu_products(unit: np.ndarray, plan: Plan, pool: ThreadPoolExecutor, threads: int,
                  on_tile: Callable[[np.ndarray, int, int, int, bool], None] | None = None, *,
                  bfloat16: bool = False) -> Iterator[tuple[Plan, np.ndarray | None]]:
    """Compute unit[r0:r1] · unit[c0:c1]ᵀ for each product (r0, r1, c0, c1) of the plan; yield (done, block):
    the products done since the last yield and, without ``on_tile``, the one product's block.

    The float32 products are torch's MKL on Intel processors, NumPy's OpenBLAS elsewhere (see
    ``precompute.knn.rescore.float32_blas``, which gives the figures). Each product's rows are cut into
    slices, one per thread of ``pool``, each multiplied by single-threaded BLAS calls (the calls release
    the GIL): OpenBLAS's own thread pool keeps its workers spinning after every call, and they took the
    cores from the selection, doubling its time.

    With ``on_tile``, each thread multiplies its slice ``TILE_COLUMNS`` columns at a time into a tile of
    its own and calls ``on_tile(tile, thread, row0, col0, columns_too)`` on it at once, so that the
    selection reads the similarities while they are still in cache; no whole block is stored
    (``block`` is None). The threads go on to their slices of the next products without waiting for
    each other until a run of ``_unshared`` products is done (one wait per row block, not per product:
    waits took 2-3 % of multilingual-e5-small's table). Without ``on_tile`` (the torch selection), each
    product is yielded when its whole block is computed.

    With ``bfloat16``, each tile is torch's bfloat16 product of bfloat16 copies of the rows (oneDNN;
    on CPUs with AMX five to six times the float32 rate), widened into float32.
    """
    import torch
    from threadpoolctl import threadpool_limits

    tiled = on_tile is not None
    rows_per_thread = -(-max(r1 - r0 for r0, r1, _, _ in plan) // threads)
    tile_size = rows_per_thread * (TILE_COLUMNS if tiled else max(c1 - c0 for _, _, c0, c1 in plan))
    if tiled:
        tiles = [np.empty(tile_size, dtype=np.float32) for _ in range(threads)]
    else:
        buffer = np.empty(max((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in plan), dtype=np.float32)
    mkl = not bfloat16 and float32_blas() == "mkl"
    units = torch.from_numpy(unit)
    if bfloat16:
        rows16 = torch.from_numpy(unit).to(torch.bfloat16)
        narrow = [torch.empty(tile_size, dtype=torch.bfloat16) for _ in range(threads)]

    def multiply(tile: np.ndarray, slot: int, row0: int, col0: int) -> None:
        rows, cols = tile.shape
        if bfloat16:
            part = narrow[slot][: rows * cols].view(rows, cols)
            torch.mm(rows16[row0 : row0 + rows], rows16[col0 : col0 + cols].T, out=part)
            torch.from_numpy(tile).copy_(part)
        elif mkl:
            torch.mm(units[row0 : row0 + rows], units[col0 : col0 + cols].T, out=torch.from_numpy(tile))
        else:
            np.matmul(unit[row0 : row0 + rows], unit[col0 : col0 + cols].T, out=tile)

    def slices(rows: int) -> list[tuple[int, int]]:
        """The threads' rows of a product with ``rows`` rows."""
        return list(itertools.pairwise(np.linspace(0, rows, min(threads, rows) + 1).astype(int).tolist()))

    def tiles_of(slot: int, run: Plan) -> None:
        for r0, r1, c0, c1 in run:
            for lo, hi in slices(r1 - r0)[slot : slot + 1]:  # none when it has fewer rows than threads
                for col0 in range(c0, c1, TILE_COLUMNS):
                    cols = min(TILE_COLUMNS, c1 - col0)
                    tile = tiles[slot][: (hi - lo) * cols].reshape(hi - lo, cols)
                    multiply(tile, slot, r0 + lo, col0)
                    on_tile(tile, slot, r0 + lo, col0, r0 != c0)

    def wait(jobs: list) -> None:
        for job in jobs:
            job.result()

    previous_threads = torch.get_num_threads()
    if bfloat16 or mkl:
        torch.set_num_threads(1)  # one single-threaded call per slice, as with NumPy's (process-wide: restored)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            if tiled:
                for run in _unshared(plan):
                    wait([pool.submit(tiles_of, slot, run) for slot in range(threads)])
                    yield run, None
                return
            for r0, r1, c0, c1 in plan:
                block = buffer[: (r1 - r0) * (c1 - c0)].reshape(r1 - r0, c1 - c0)
                wait([pool.submit(multiply, block[lo:hi], slot, r0 + lo, c0)
                      for slot, (lo, hi) in enumerate(slices(r1 - r0))])
                yield [(r0, r1, c0, c1)], block
    finally:
        torch.set_num_threads(previous_threads)


def _unshared(plan: Plan) -> Iterator[Plan]:
    """The plan in runs of consecutive products in which the threads (each on its own rows of every
    product) share no heap that is written: in ``block_plan``'s, the diagonal blocks (each writes its
    own rows' heaps only), then the diagonal blocks' halves against each other, then each row block's
    panels (they write their rows' heaps and only read their columns', whose candidates are applied
    when the run is done)."""
    run: Plan = []
    for product in plan:
        if run and not _joins(product, run):
            yield run
            run = []
        run.append(product)
    if run:
        yield run


def _joins(product: tuple[int, int, int, int], run: Plan) -> bool:
    """Whether ``product`` can join ``run``: its rows are each product's rows or none of them (so
    that a row is written by one thread), and no product's written rows are another's read columns."""
    r0, r1, c0, c1 = product
    for q0, q1, d0, d1 in run:
        if _overlap(r0, r1, q0, q1) and (r0, r1) != (q0, q1):
            return False
        if (d0 != q0 and _overlap(r0, r1, d0, d1)) or (c0 != r0 and _overlap(c0, c1, q0, q1)):
            return False
    return True


def _overlap(a0: int, a1: int, b0: int, b1: int) -> bool:
    return a0 < b1 and b0 < a1


def _device_products(unit: np.ndarray, plan: Plan, device: torch.device) -> Iterator[tuple[Plan, torch.Tensor]]:
    """Yield ([product], block) like ``_cpu_products`` without ``on_tile``, computed by torch on ``device``
    (a GPU)."""
    import torch

    e = torch.from_numpy(unit).to(device)
    buffer = torch.empty(max((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in plan), dtype=torch.float32, device=device)
    for r0, r1, c0, c1 in plan:
        block = buffer[: (r1 - r0) * (c1 - c0)].view(r1 - r0, c1 - c0)
        torch.mm(e[r0:r1], e[c0:c1].T, out=block)
        yield [(r0, r1, c0, c1)], block


class _NumbaSelect:
    """Running top-k as per-row min-heaps in NumPy arrays, updated by compiled scans.

    Each thread selects its own rows of each tile right after multiplying it (``scan_tile``, called
    from ``_cpu_products``), listing the entries that may enter a column's heap in a list of its own;
    once a run of products is done (``_unshared``), ``update`` applies those lists, the columns split
    between the threads. No heap ever has two writers, so nothing is locked.
    """

    def __init__(self, n: int, k: int, labels: np.ndarray, pool: ThreadPoolExecutor, threads: int) -> None:
        from precompute.knn import kernels  # numba compiles on first import: only when this path runs

        self._kernels = kernels
        self._pool = pool
        self._threads = threads
        self.labels = labels
        self.values = np.full((n, k), -np.inf, dtype=np.float32)
        self.ids = np.full((n, k), EMPTY_ID, dtype=np.int32)
        self._candidates = [_ColumnCandidates(CANDIDATES_AT_FIRST) for _ in range(threads)]

    def scan_tile(self, tile: np.ndarray, slot: int, row0: int, col0: int, columns_too: bool) -> None:
        listed = self._candidates[slot]
        done = 0
        while (done := self._kernels.scan_rows(tile, done, tile.shape[0], row0, col0, self.values, self.ids,
                                               self.labels, columns_too, *listed.arrays())) < tile.shape[0]:
            listed.grow(tile.shape[1])

    def update(self, block: None, done: Plan) -> None:  # noqa: ARG002
        """Apply the column candidates of the products done (off-diagonal ones list some)."""
        panels = [(c0, c1) for r0, _, c0, c1 in done if r0 != c0]
        if not panels:
            return
        rows, cols, sims = (np.concatenate(parts) for parts in zip(*(c.listed() for c in self._candidates),
                                                                    strict=True))
        for listed in self._candidates:
            listed.count[0] = 0
        c0, c1 = min(c0 for c0, _ in panels), max(c1 for _, c1 in panels)
        self._split(c0, c1, lambda lo, hi: self._kernels.apply_columns(lo, hi, self.values, self.ids, self.labels,
                                                                       rows, cols, sims))

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        self._split(0, self.values.shape[0], lambda lo, hi: self._kernels.sort_heaps(self.values[lo:hi],
                                                                                     self.ids[lo:hi]))
        return self.values, self.ids

    def _split(self, start: int, stop: int, work: Callable[[int, int], None]) -> None:
        """Run work(lo, hi) over near-equal ranges of start..stop, one per thread."""
        edges = np.linspace(start, stop, min(self._threads, stop - start) + 1).astype(int)
        for job in [self._pool.submit(work, int(lo), int(hi)) for lo, hi in itertools.pairwise(edges)]:
            job.result()


class _ColumnCandidates:
    """One thread's list of the entries that may enter a column's heap: row and column positions and
    similarity, ``count[0]`` of them, in arrays that double when a tile's row may not fit."""

    def __init__(self, capacity: int) -> None:
        self.rows = np.empty(capacity, dtype=np.int32)
        self.cols = np.empty(capacity, dtype=np.int32)
        self.sims = np.empty(capacity, dtype=np.float32)
        self.count = np.zeros(1, dtype=np.int64)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.rows, self.cols, self.sims, self.count

    def listed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = int(self.count[0])
        return self.rows[:n], self.cols[:n], self.sims[:n]

    def grow(self, room: int) -> None:
        """Make room for at least ``room`` more entries, keeping those listed."""
        n = int(self.count[0])
        capacity = max(2 * self.rows.size, n + room)
        for name in ("rows", "cols", "sims"):
            old = getattr(self, name)
            new = np.empty(capacity, dtype=old.dtype)
            new[:n] = old[:n]
            setattr(self, name, new)


class _TorchSelect:
    """Running top-k as sorted (n, k) tensors, merged with each block's candidates on the device.

    For one block row, an entry below the running k-th best cannot enter the top-k. Once every row's
    list is full, the entries at or above it are the candidates, as long as no row has more than
    ``MERGE_WIDTH`` · k of them (after the diagonal blocks, a few per row); otherwise, and while lists
    fill, the cut is also raised to the block's own k-th best (``topk``: skipping it took the GPU's part of
    multilingual-e5-small's table from 2.6 to 2.1 s on an H200). The candidates are put beside the running
    list and re-sorted by (similarity desc, id asc) with two stable sorts.
    """

    def __init__(self, n: int, k: int, labels: np.ndarray, device: torch.device) -> None:
        import torch

        self.k = k
        self.labels = torch.from_numpy(labels).to(device)
        self.values = torch.full((n, k), -torch.inf, dtype=torch.float32, device=device)
        self.ids = torch.full((n, k), EMPTY_ID, dtype=torch.int32, device=device)

    def update(self, block: np.ndarray | torch.Tensor, done: Plan) -> None:
        import torch

        ((r0, _, c0, _),) = done
        columns_too = r0 != c0

        block = torch.as_tensor(block, device=self.values.device)
        if not columns_too:
            block.fill_diagonal_(-float("inf"))
        self._merge(block, r0, c0)
        if columns_too:
            self._merge(block.T, c0, r0)

    def _merge(self, sims: torch.Tensor, r0: int, c0: int) -> None:
        import torch

        n_rows, n_cols = sims.shape
        top_v = self.values[r0 : r0 + n_rows]
        top_i = self.ids[r0 : r0 + n_rows]
        kth = top_v[:, -1]
        taken = sims >= kth[:, None] if bool(torch.isfinite(kth).all()) else None
        counts = None if taken is None else taken.sum(dim=1)
        if counts is None or int(counts.max()) > MERGE_WIDTH * self.k:
            kth_block = torch.topk(sims, min(self.k, n_cols), dim=1, sorted=False).values.amin(dim=1)
            taken = (sims >= torch.maximum(kth_block, kth)[:, None]) & (sims > -torch.inf)
            counts = taken.sum(dim=1)
        width = int(counts.max())
        if width == 0:
            return
        rows, cols = torch.nonzero(taken, as_tuple=True)
        slot = torch.arange(rows.numel(), device=sims.device) - (torch.cumsum(counts, 0) - counts)[rows]
        cand_v = torch.full((n_rows, width), -torch.inf, dtype=torch.float32, device=sims.device)
        cand_i = torch.full((n_rows, width), EMPTY_ID, dtype=torch.int32, device=sims.device)
        cand_v[rows, slot] = sims[rows, cols]
        cand_i[rows, slot] = self.labels[cols + c0]
        all_v = torch.cat([top_v, cand_v], dim=1)
        all_i = torch.cat([top_i, cand_i], dim=1)
        by_id = torch.argsort(all_i, dim=1, stable=True)
        all_v, all_i = all_v.gather(1, by_id), all_i.gather(1, by_id)
        by_sim = torch.argsort(all_v, dim=1, descending=True, stable=True)[:, : self.k]
        top_v.copy_(all_v.gather(1, by_sim))
        top_i.copy_(all_i.gather(1, by_sim))

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        return self.values.cpu().numpy(), self.ids.cpu().numpy()



def _neighbors_step(ctx: BuildContext) -> StepOutput:
    valid = ~ctx.table(schema.TOKENS, columns=["is_zero"])["is_zero"].to_numpy(bool)
    c = ctx.config
    ids, sims = top_k_neighbors(ctx.model.embeddings, c.k, valid=valid, device=c.device, block_size=c.block_size,
                                n_threads=c.n_jobs, progress=ctx.progress, products=c.products)
    return {schema.NEIGHBORS: ids, schema.SIMILARITIES: sims}


STEP = Step("neighbors", needs=("tokens",), params=("k",), writes=(schema.NEIGHBORS, schema.SIMILARITIES),
            compute=_neighbors_step)
