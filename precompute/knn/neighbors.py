"""Exact top-k cosine neighbours of every token (METHODS §3), at the speed of a matrix product.

The work is one blocked product E·Eᵀ over L2-normalised rows. Because E·Eᵀ is symmetric, each
pair of blocks (i <= j) is multiplied once and feeds the running top-k of both its row block and
its column block: about N²·d multiply-adds instead of 2·N²·d. Nothing N x N is ever held; one
product (at most b x 4b similarities) at a time.

Selecting the top-k from each block is the other cost. A row's running top-k is a min-heap whose
root is its current k-th best, so one pass over a block compares every similarity against its
row's (and column's) root and touches the heap only for the few that beat it. On CPU that pass is
a small compiled kernel (``precompute.knn.kernels``, numba, already installed with umap-learn):
it reads each block once for both directions, marks the entries that reach a threshold in one
SIMD loop per row and visits only those. Each thread selects its own rows right after its own
slice of the product, so that no thread waits for another in between, and the columns' share is
applied after, the columns split between the threads; a heap filling from empty takes its first
block's candidates in one selection rather than one push each. On a GPU the same selection is
done with torch operations (``topk``, a mask, and a stable sort); both give the same table (tests
run both).

The rows are searched in a locality order (a small k-means, ``locality_order``), so that each
diagonal block, computed first, already holds many of its rows' true neighbours: the heaps start
near their final thresholds and later blocks push few entries. The heaps hold the original ids.

On CPU the products are NumPy's OpenBLAS calls, not torch's MKL (faster on the AMD machines this
was measured on), one single-threaded call per thread (see ``_cpu_products``), and each row block
meets the columns to its right in panels four blocks wide, which run closer to the BLAS peak than
square blocks. Measured on use-multilingual-v3 (128,000 x 512, 2 cores, k=100): products 43.7 s
(at the machine's GEMM peak; the diagonal blocks, computed whole, are ~3% of them), selection
3.7 s, locality order, normalisation and the final sort 0.8 s. Tried and dropped, being slower
or no faster: running the next product in a thread beside the current selection (both already
use every core), fusing product and selection into cache-sized tiles (the small products lose
more than the cache saves), half- or quarter-size diagonal blocks to waste fewer products
(the smaller products and weaker first thresholds cost what they saved), and each thread searching
half of the products with heaps of its own, merged at the end (no wait between products, but each
half's thresholds are weaker: use-multilingual-v3 under AVX2 50.8 s + 2.0 s to merge, against 41.4 s).
Selecting each thread's rows right after its product, instead of in numba's thread pool between
products (whose waits spun on the cores), and filling the heaps in one selection, took the selection
from 9.2 to 5.3 CPU s on use-multilingual-v3 and to 16.6 CPU s on multilingual-e5-small (2 cores, load 5–11),
every id and similarity unchanged.

On CPUs with AMX the products are multiplied in bfloat16 instead (``products="auto"``), five to six
times faster; the heaps then keep 256 entries per row, and ``precompute.knn.rescore`` rescores the
candidates exactly: the same neighbours. Measured on a Xeon with AMX (2 cores, benchmarks/knn.py, the
same hour): use-multilingual-v3 29.2 s in float32, 19.9 s so; multilingual-e5-small 88.4 s, 58.8 s.
There the float32 products alone took nine tenths of the table (OpenBLAS and MKL alike ran its
4096 x 384..512 x 16384 shapes at 230-270 GFLOP/s, against 290-330 for 4096³), and the selection
scans the blocks at the memory's pace. Tried there in float32 and dropped: torch's MKL products
instead of OpenBLAS's (2 % faster in the table), products and scans in smaller row slices (slower).

Ties are broken by the smaller id, so reruns give identical files: an entry beats the heap root
when its similarity is larger, or equal with a smaller id. The order in which blocks arrive
therefore does not matter. (A different block size, thread count or BLAS may round a product
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
from precompute.knn.rescore import choose_products, filter_width, rescore
from precompute.steps import BuildContext, Step, StepOutput

if TYPE_CHECKING:
    import torch

#: Rows per block when neither the caller nor the memory limits it: large enough that the product
#: runs near the machine's peak, small enough that a diagonal block (64 MiB) stays cheap to scan.
DEFAULT_BLOCK = 4096
#: Share of the available memory the similarity blocks may take.
MEMORY_SHARE = 0.25
#: Column blocks per CPU product: wider products run closer to the BLAS peak (measured).
PANEL_BLOCKS = 4
#: Clusters of the locality order per block of rows: a block then holds a few whole clusters.
CLUSTERS_PER_BLOCK = 4
#: Columns per column candidate listed in a product row before the row is rescanned instead
#: (numba scan): room for 256 candidates in a 4096-column block.
_COLUMNS_PER_PENDING = 16
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
    if not np.isfinite(embeddings).all():
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


def normalize_rows(matrix: np.ndarray, rows: np.ndarray | None = None, chunk: int = 4096) -> np.ndarray:
    """matrix[rows] (all rows by default) as float32 scaled to unit L2 norm, computed in float64;
    the rows must be non-zero.

    Done ``chunk`` rows at a time, so that the float64 copy stays small and in cache (the whole
    128,000 x 512 matrix at once took 1.8 s, in slices 0.2 s, with identical results), and the
    selected rows are taken slice by slice, so that no full copy of them is made first.
    """
    n = matrix.shape[0] if rows is None else len(rows)
    out = np.empty((n, matrix.shape[1]), dtype=np.float32)
    for lo in range(0, n, chunk):
        part = matrix[lo : lo + chunk] if rows is None else matrix[rows[lo : lo + chunk]]
        part = part.astype(np.float64)
        out[lo : lo + chunk] = part / np.sqrt(np.einsum("ij,ij->i", part, part))[:, None]
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
    step = 16384
    nearest = np.concatenate([np.argmax(matrix[rows[lo : lo + step]].astype(np.float32) @ centroids.T, axis=1)
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
    """Rows per block: DEFAULT_BLOCK, fewer when one (b, panel_blocks · b) float32 product would take
    too much memory."""
    import psutil
    import torch

    if device.type == "cuda":
        free = torch.cuda.mem_get_info(device)[0]
    else:
        free = psutil.virtual_memory().available
    by_memory = int(np.sqrt(MEMORY_SHARE * free / (4 * panel_blocks(device))))
    return max(1, min(n, DEFAULT_BLOCK, by_memory))


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
            select = (_NumbaSelect(n, k, labels, plan, pool, threads) if backend == "numba"
                      else _TorchSelect(n, k, labels, device))
            on_rows = select.scan_rows if isinstance(select, _NumbaSelect) else None
            blocks = (_cpu_products(unit, plan, pool, threads, on_rows, bfloat16=products == "bfloat16")
                      if device.type == "cpu" else _device_products(unit, plan, device))
            # The bar counts multiply-adds, so that its rate and ETA stay true across blocks of any shape.
            what = f"exact top-{k}" if products == "float32" else f"bfloat16 products, best {k} kept per row"
            bar = tqdm(total=sum((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in plan) * unit.shape[1],
                       desc=f"{what} ({device.type}, {n} x {unit.shape[1]})", unit="FMA", unit_scale=True,
                       disable=not progress)
            with bar:
                for block, r0, c0 in blocks:
                    select.update(block, r0, c0, columns_too=r0 != c0)
                    bar.update(block.shape[0] * block.shape[1] * unit.shape[1])
            return select.result()
    finally:
        torch.set_num_threads(previous_threads)


#: Products to compute, as (r0, r1, c0, c1): rows r0:r1 against columns c0:c1.
Plan = list[tuple[int, int, int, int]]


def block_plan(n: int, b: int, width: int) -> Plan:
    """The products that cover each unordered pair of rows once: the (b, b) diagonal blocks, then,
    for each row block, the columns to its right in panels of at most ``width`` (near-equal widths).

    Diagonal blocks come first: they fill every row's heap, so that the other products meet
    thresholds that already reject most entries. (The order never changes the result.) Wider
    panels make fewer, larger products, which BLAS runs closer to its peak.
    """
    plan = [(r0, min(r0 + b, n), r0, min(r0 + b, n)) for r0 in range(0, n, b)]
    for r0 in range(0, n, b):
        left = min(r0 + b, n)
        if left == n:
            continue
        edges = np.linspace(left, n, -(-(n - left) // width) + 1).astype(int)
        plan += [(r0, min(r0 + b, n), int(c0), int(c1)) for c0, c1 in itertools.pairwise(edges)]
    return plan


def _cpu_products(unit: np.ndarray, plan: Plan, pool: ThreadPoolExecutor, threads: int,
                  on_rows: Callable[[np.ndarray, int, int, int, int], None] | None = None, *,
                  bfloat16: bool = False) -> Iterator[tuple[np.ndarray, int, int]]:
    """Yield (block, r0, c0): unit[r0:r1] · unit[c0:c1]ᵀ for each product of the plan, in one reused buffer.

    NumPy's OpenBLAS, not torch's MKL: on the AMD machines measured, OpenBLAS runs the
    4096 x 512 x 4096 products at ~145 GFLOP/s where MKL reaches ~115 (Zen 3, 2 cores), and at
    ~195 where MKL reaches ~170 (Zen 4, 4096 x 512 x 16384). Each block is cut into row slices, one per
    thread of ``pool``, each a single-threaded BLAS call (the calls release the GIL): OpenBLAS's own
    thread pool keeps its workers spinning after every call, and they took the cores from the
    selection that runs between products, doubling its time. ``on_rows(block, lo, hi, r0, c0)``,
    when given, runs in the same thread right after its slice's product (the rows' own selection),
    so that no thread waits for another between the two.

    With ``bfloat16``, each slice is torch's bfloat16 product of bfloat16 copies of the rows (oneDNN;
    on CPUs with AMX five to six times the float32 rate), widened into the float32 block.
    """
    import torch
    from threadpoolctl import threadpool_limits

    size = max((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in plan)
    buffer = np.empty(size, dtype=np.float32)
    if bfloat16:
        rows16 = torch.from_numpy(unit).to(torch.bfloat16)
        narrow, wide = torch.empty(size, dtype=torch.bfloat16), torch.from_numpy(buffer)

    def rows_of(block: np.ndarray, lo: int, hi: int, r0: int, c0: int) -> None:
        if bfloat16:
            shape = block.shape
            part = narrow[: shape[0] * shape[1]].view(shape)[lo:hi]
            torch.mm(rows16[r0 + lo : r0 + hi], rows16[c0 : c0 + shape[1]].T, out=part)
            wide[: shape[0] * shape[1]].view(shape)[lo:hi].copy_(part)
        else:
            np.matmul(unit[r0 + lo : r0 + hi], unit[c0 : c0 + block.shape[1]].T, out=block[lo:hi])
        if on_rows is not None:
            on_rows(block, lo, hi, r0, c0)

    previous_threads = torch.get_num_threads()
    if bfloat16:
        torch.set_num_threads(1)  # one single-threaded call per slice, as with NumPy's (process-wide: restored)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            for r0, r1, c0, c1 in plan:
                rows, cols = r1 - r0, c1 - c0
                block = buffer[: rows * cols].reshape(rows, cols)
                edges = np.linspace(0, rows, min(threads, rows) + 1).astype(int)
                jobs = [pool.submit(rows_of, block, lo, hi, r0, c0) for lo, hi in itertools.pairwise(edges)]
                for job in jobs:
                    job.result()
                yield block, r0, c0
    finally:
        torch.set_num_threads(previous_threads)


def _device_products(unit: np.ndarray, plan: Plan, device: torch.device) -> Iterator[tuple[torch.Tensor, int, int]]:
    """Yield (block, r0, c0) like ``_cpu_products``, computed by torch on ``device`` (a GPU)."""
    import torch

    e = torch.from_numpy(unit).to(device)
    buffer = torch.empty(max((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in plan), dtype=torch.float32, device=device)
    for r0, r1, c0, c1 in plan:
        block = buffer[: (r1 - r0) * (c1 - c0)].view(r1 - r0, c1 - c0)
        torch.mm(e[r0:r1], e[c0:c1].T, out=block)
        yield block, r0, c0


class _NumbaSelect:
    """Running top-k as per-row min-heaps in NumPy arrays, updated by compiled scans.

    Each thread selects its own rows of a block right after its product (``scan_rows``, called
    from ``_cpu_products``), listing the entries that may enter a column's heap; once every row
    is done, ``update`` applies those lists, the columns split between the threads. No heap ever
    has two writers, so nothing is locked or shared beyond the block itself.
    """

    def __init__(self, n: int, k: int, labels: np.ndarray, plan: Plan, pool: ThreadPoolExecutor,
                 threads: int) -> None:
        from precompute.knn import kernels  # numba compiles on first import: only when this path runs

        self._kernels = kernels
        self._pool = pool
        self._threads = threads
        self.labels = labels
        self.values = np.full((n, k), -np.inf, dtype=np.float32)
        self.ids = np.full((n, k), EMPTY_ID, dtype=np.int32)
        rows = max(r1 - r0 for r0, r1, _, _ in plan)
        cap = max(1, max(c1 - c0 for _, _, c0, c1 in plan) // _COLUMNS_PER_PENDING)
        self.pending = np.empty((rows, cap), dtype=np.int32)
        self.pending_v = np.empty((rows, cap), dtype=np.float32)
        self.n_pending = np.empty(rows, dtype=np.int64)

    def scan_rows(self, sims: np.ndarray, lo: int, hi: int, r0: int, c0: int) -> None:
        self._kernels.scan_rows(sims, lo, hi, r0, c0, self.values, self.ids, self.labels, r0 != c0,
                                self.pending, self.pending_v, self.n_pending)

    def update(self, sims: np.ndarray, r0: int, c0: int, columns_too: bool) -> None:
        if columns_too:
            self._split(sims.shape[1], lambda lo, hi: self._kernels.apply_columns(
                sims, lo, hi, r0, c0, self.values, self.ids, self.labels, self.pending, self.pending_v,
                self.n_pending))

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        self._split(self.values.shape[0], lambda lo, hi: self._kernels.sort_heaps(self.values[lo:hi],
                                                                                  self.ids[lo:hi]))
        return self.values, self.ids

    def _split(self, n: int, work: Callable[[int, int], None]) -> None:
        """Run work(lo, hi) over near-equal ranges of 0..n, one per thread."""
        edges = np.linspace(0, n, min(self._threads, n) + 1).astype(int)
        for job in [self._pool.submit(work, int(lo), int(hi)) for lo, hi in itertools.pairwise(edges)]:
            job.result()


class _TorchSelect:
    """Running top-k as sorted (n, k) tensors, merged with each block's candidates on the device.

    For one block row, no entry below both the block's own k-th best and the running k-th best can
    end in the top-k; the entries at or above that cut (about k, more on ties) are extracted, put
    beside the running list and re-sorted by (similarity desc, id asc) with two stable sorts.
    """

    def __init__(self, n: int, k: int, labels: np.ndarray, device: torch.device) -> None:
        import torch

        self.k = k
        self.labels = torch.from_numpy(labels).to(device)
        self.values = torch.full((n, k), -torch.inf, dtype=torch.float32, device=device)
        self.ids = torch.full((n, k), EMPTY_ID, dtype=torch.int32, device=device)

    def update(self, block: np.ndarray | torch.Tensor, r0: int, c0: int, columns_too: bool) -> None:
        import torch

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
        kth_block = torch.topk(sims, min(self.k, n_cols), dim=1, sorted=False).values.amin(dim=1)
        cut = torch.maximum(kth_block, top_v[:, -1])
        rows, cols = torch.nonzero((sims >= cut[:, None]) & (sims > -torch.inf), as_tuple=True)
        if rows.numel() == 0:
            return
        counts = torch.bincount(rows, minlength=n_rows)
        slot = torch.arange(rows.numel(), device=sims.device) - (torch.cumsum(counts, 0) - counts)[rows]
        width = int(counts.max())
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
