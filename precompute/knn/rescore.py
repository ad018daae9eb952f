"""The exact table from bfloat16 products: a filter whose candidates are rescored exactly.

On CPUs that multiply bfloat16 in hardware (Intel's AMX), a bfloat16 product runs five to six times
faster than a float32 one (1.5-1.7 against 0.27 TFLOP/s on 2 cores of a Xeon with AMX, measured), and
the float32 products were nine tenths of the exact table's time there. So the blocks are multiplied
in bfloat16 and the heaps keep more than k entries per row (``filter_width``); each kept entry is
then rescored exactly, and the best k of those are the table. Nothing is approximate in the result:

- Every bfloat16 similarity s~ is within a bound of the exact cosine s (rounding the unit rows to
  bfloat16, the float32 sums: ``error_bounds``, per row, from the rows themselves; rounding the
  product to bfloat16: relative).
- Let t~ be a row's k-th best s~. Its k best entries are at least about t~ - eps exactly, so is its
  exact k-th best, and every entry of its exact top k has s~ at least about t~ - 2 eps: the
  *window* (``window_cut`` says it exactly).
- A row whose heap holds its whole window (the heap's last entry lies below it, or the heap is not
  full) is rescored from the heap. The rest (103 of 128,000 rows on use-multilingual-v3) are searched
  again against every row, their window taken whole; any bfloat16 product of theirs keeps the bound.

The exact similarity of a pair is the float64 dot product of the two float32 unit rows, summed in
eight fixed lanes and rounded to float32: the same bits for any block size or thread count. The
rescoring is bound by reading the candidates' rows, in no order the hardware can guess: it asks for
them ahead and multiplies eight doubles at a time (6.5 s of multilingual-e5-small's table, from 12.8).
(The float32 path keeps the products' own values, which may differ from these in the last bit.)
Ties go to the smaller id, as everywhere.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np

from precompute.contract.config import PRODUCTS
from precompute.contract.indices import EMPTY_ID

#: Entries kept per row behind a bfloat16 filter: the window (two error bounds below the k-th best)
#: holds 170 entries per row in the median on multilingual-e5-small and 267 at the 99th percentile
#: (k = 100); rows whose window overflows are searched again.
FILTER_WIDTH = 256
#: Below this many rows the products are too small a share of the table for the filter to pay: "auto"
#: keeps float32 products. (Xeon with AMX, 2 cores: 30,522 x 384 and 32,000 x 256 took 2.4 and 2.0 s in
#: float32, 3.9 and 3.5 s behind the filter; 128,000 x 512 took 37.9 s against 28.4 s.)
MIN_FILTER_ROWS = 100_000
#: Rows searched again at a time when their window overflowed the heap: (rows, N) bfloat16 products.
_REDO_CHUNK = 256
#: bfloat16 keeps 8 significant bits: rounding to nearest is off by at most 2^-8 relatively.
_BF16_UNIT = 2.0**-8
_F32_UNIT = 2.0**-24


def filter_width(k: int, n: int) -> int:
    """Heap width behind the filter: FILTER_WIDTH (at least k), never more than the other rows."""
    return min(max(k, FILTER_WIDTH), n - 1)


@cache
def bfloat16_in_hardware() -> bool:
    """True on a CPU with AMX bfloat16 tiles (Linux's flag ``amx_bf16``) that oneDNN may use: there torch's
    bfloat16 products beat float32 ones several times over; elsewhere they are emulated and slower.
    oneDNN's ``ONEDNN_MAX_CPU_ISA`` (``benchmarks/avx2`` sets it) can hold it below AMX."""
    limit = (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "ALL").upper()
    return ("AMX" in limit or limit in ("ALL", "DEFAULT")) and _cpu_has_amx()


def _cpu_has_amx() -> bool:
    return " amx_bf16" in _cpuinfo_field("flags")


@cache
def float32_blas() -> str:
    """The library for the exact table's float32 products on this CPU: "mkl" (torch's) on Intel
    processors, "openblas" (NumPy's) on the others, where it was the faster of the two.

    Measured with each thread making single-threaded calls of the table's shapes, 2 cores: on a Zen 3
    OpenBLAS ran 4096 x 512 x 4096 at ~145 GFLOP/s where MKL reached ~115, on a Zen 4 ~195 against
    ~170 (4096 x 512 x 16384); on a Xeon held to AVX2 MKL ran 2048 x 384 x 2048..4096 at 235-237 where
    OpenBLAS reached 228-230 (multilingual-e5-small's table 114 s against 117), and with AVX-512 it was
    2 % faster in the table. Chosen by the vendor, not by timing, so that reruns give the same bits.
    """
    import torch

    return "mkl" if "GenuineIntel" in _cpuinfo_field("vendor_id") and torch.backends.mkl.is_available() else "openblas"


def _cpuinfo_field(name: str) -> str:
    """The first ``name`` line of Linux's /proc/cpuinfo, padded with spaces; "" elsewhere."""
    try:
        with open("/proc/cpuinfo") as info:
            return next((f" {line.strip()} " for line in info if line.startswith(name)), "")
    except OSError:
        return ""


def choose_products(products: str, n_rows: int, device_type: str) -> str:
    """Resolve ``products`` ("auto", "float32", "bfloat16") for ``n_rows`` valid rows on a "cpu" or "cuda"."""
    if products not in PRODUCTS:
        raise ValueError(f"products must be one of {', '.join(PRODUCTS)}; got {products!r}")
    if products == "bfloat16" and device_type != "cpu":
        raise ValueError("bfloat16 products run on the CPU only; pass products='float32' or 'auto' with a GPU")
    if products == "auto":
        fast = device_type == "cpu" and n_rows >= MIN_FILTER_ROWS and bfloat16_in_hardware()
        return "bfloat16" if fast else "float32"
    return products


def error_bounds(unit: np.ndarray) -> np.ndarray:
    """Per row x, an upper bound a of |x.y - P| over every row y, P the float32 sum of the bfloat16 copies'
    products (before the product is rounded to bfloat16).

    With x^ the bfloat16 copy: |x.y - x^.y^| <= |x - x^| + |x^| |y - y^| (Cauchy-Schwarz), the second
    residual taken at its largest over the rows; the float32 sum of d products adds at most
    d u32 / (1 - d u32) |x^| |y^|. Norms are computed in float64 and rounded up by a factor 1 + 1e-6.
    """
    import torch

    from precompute.knn import kernels

    residual = np.empty(len(unit))
    copy = np.empty(len(unit))
    for lo in range(0, len(unit), 16384):
        part = unit[lo : lo + 16384]
        # torch's own rounding (what the products multiply), its bits read back as integers
        rounded = torch.from_numpy(part).to(torch.bfloat16).view(torch.int16).numpy()
        kernels.rounding_norms(part, rounded, residual[lo : lo + len(part)], copy[lo : lo + len(part)])
    residual, copy = residual * (1 + 1e-6), copy * (1 + 1e-6)
    d = unit.shape[1]
    sums = d * _F32_UNIT / (1 - d * _F32_UNIT) * copy * copy.max()
    return residual + copy * residual.max() + sums


def window_cut(kth: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """The lowest bfloat16 similarity an entry of a row's exact top k can have, from the row's k-th best
    bfloat16 similarity ``kth`` and its ``error_bounds``.

    Rounding to bfloat16 (to nearest) is monotone and off by at most u |P|, u = 2^-8, so P >= L(s~) =
    s~ - u |s~| / (1 - u). The k best entries have s >= L(kth) - a, hence so has the exact k-th best;
    an entry at or above it has P >= c = L(kth) - 2a, and s~ >= c - u |c|. Computed in float64 and
    rounded down to float32.
    """
    kth = kth.astype(np.float64)
    low = kth - _BF16_UNIT * np.abs(kth) / (1 - _BF16_UNIT) - 2 * bound
    cut = low - _BF16_UNIT * np.abs(low)
    single = cut.astype(np.float32)
    return np.where(single > cut, np.nextafter(single, np.float32(-np.inf)), single)


def rescore(unit: np.ndarray, order: np.ndarray, values: np.ndarray, labels: np.ndarray, k: int, *,
            n_threads: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The exact top-k of every searched row from its bfloat16 heap (sorted, best first).

    ``unit`` holds the unit rows in search order, ``order`` each position's label, ``values`` and
    ``labels`` the (n, width) heaps by position. Returns (n, k) float32 exact similarities and labels,
    best first, ties to the smaller label.
    """
    from precompute.knn import kernels

    n, width = labels.shape
    cut = window_cut(values[:, k - 1], error_bounds(unit))
    # The heaps are sorted, best first: each row's window is a prefix of its heap.
    counts = ((values >= cut[:, None]) & (labels != EMPTY_ID)).sum(axis=1)
    overflow = counts == width if width < n - 1 else np.zeros(n, bool)
    rows = np.flatnonzero(~overflow)
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)

    best_v = np.full((n, k), -np.inf, dtype=np.float32)
    best_i = np.full((n, k), EMPTY_ID, dtype=np.int32)
    threads = n_threads or os.cpu_count() or 1
    parts = [(rows, rows * width, counts[rows], labels.reshape(-1)),
             *_windows_searched_again(unit, order, np.flatnonzero(overflow), cut)]
    with ThreadPoolExecutor(threads) as pool:
        jobs = []
        for part_rows, starts, lengths, candidates in parts:
            edges = np.linspace(0, part_rows.size, min(threads, max(part_rows.size, 1)) + 1).astype(int)
            jobs += [pool.submit(kernels.rescore_rows, unit, position, part_rows[lo:hi], starts[lo:hi],
                                 lengths[lo:hi], candidates, best_v, best_i)
                     for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
        for job in jobs:
            job.result()
    return best_v, best_i


def _windows_searched_again(unit: np.ndarray, order: np.ndarray, rows: np.ndarray, cut: np.ndarray):
    """(rows, starts, lengths, candidate labels) of the rows whose window overflowed their heap, in chunks:
    each chunk's bfloat16 similarities against every row, the window (at or above ``cut``, whose k-th
    best the heap already knew) taken whole."""
    import torch

    if rows.size == 0:
        return
    rows16 = torch.from_numpy(unit).to(torch.bfloat16)
    for lo in range(0, rows.size, _REDO_CHUNK):
        chunk = torch.from_numpy(rows[lo : lo + _REDO_CHUNK])
        sims = torch.mm(rows16[chunk], rows16.T)
        sims[torch.arange(len(chunk)), chunk] = -torch.inf
        found_rows, found_positions = torch.nonzero(sims >= torch.from_numpy(cut)[chunk][:, None], as_tuple=True)
        lengths = np.bincount(found_rows.numpy(), minlength=len(chunk))
        starts = np.cumsum(lengths) - lengths
        yield rows[lo : lo + _REDO_CHUNK], starts, lengths, order[found_positions.numpy()]
