"""Compiled block scans for the exact neighbour search (see ``precompute.neighbors``).

Kept apart so that importing ``precompute.neighbors`` does not import numba; numba caches the
compiled code next to this file, so only the first run pays the compilation (a few seconds).

Each row's running top-k lives in ``values[r]``/``ids[r]`` as a min-heap whose root is the worst
entry kept: smaller similarity, or equal similarity and larger id. An entry enters only when it
beats the root, so the result is the top-k by (similarity desc, id asc) whatever the order in
which the blocks arrive. A row whose heap is still filling (its first block) starts from a floor,
the k-th largest of its 16-entry chunk maxima, so that it pushes about k entries rather than
every entry that beats a half-empty heap.

One block (rows r0.., columns c0..) is read once, for both directions at the same time. Each
thread owns whole rows, so it updates their heaps directly; the entries that may enter a
*column's* heap (those at or above the column's k-th best when the block started) are few, so
they are written to a small per-row list and applied afterwards, grouped by column.
"""

from __future__ import annotations

import numba
import numpy as np

#: Entries per vectorised check: a whole chunk is skipped when none of it reaches a threshold.
#: 32 measured fastest (16: one horizontal reduction per two AVX2 vectors costs more than the
#: comparisons; 64: more chunks with a hit to walk entry by entry).
_CHUNK = 32
#: Entries per chunk maximum in a filling row's floor; small, so that a 4096-column block has
#: well over k chunks.
_FLOOR_CHUNK = 16
#: Floating-point licence for the vectorised maximum; inputs are finite, thresholds may be -inf.
_FAST = {"nnan", "nsz", "reassoc", "arcp"}


@numba.njit(inline="always")
def _worse(v1: float, i1: int, v2: float, i2: int) -> bool:
    return v1 < v2 or (v1 == v2 and i1 > i2)


@numba.njit
def _offer(heap_v: np.ndarray, heap_i: np.ndarray, v: float, i: int) -> None:
    """Put (v, i) into one heap if it beats the worst entry kept, dropping that entry."""
    if not _worse(heap_v[0], heap_i[0], v, i):
        return
    k = heap_v.shape[0]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= k:
            break
        right = child + 1
        if right < k and _worse(heap_v[right], heap_i[right], heap_v[child], heap_i[child]):
            child = right
        if not _worse(heap_v[child], heap_i[child], v, i):
            break
        heap_v[pos] = heap_v[child]
        heap_i[pos] = heap_i[child]
        pos = child
    heap_v[pos] = v
    heap_i[pos] = i


@numba.njit(fastmath=_FAST, inline="always")
def _chunk_reaches(row: np.ndarray, lo: int, row_worst: float, col_worst: np.ndarray) -> bool:
    """Whether any row[b], b in [lo, lo + _CHUNK), reaches its row's or its column's threshold.

    One OR over a fixed-length chunk of comparisons, which the compiler turns into a few SIMD
    instructions and one test; this check is most of the time spent on a block once the heaps
    are full (twice as fast as the two maxima it replaced).
    """
    hit = False
    for b in range(lo, lo + _CHUNK):
        hit |= (row[b] >= row_worst) | (row[b] >= col_worst[b])
    return hit


@numba.njit(fastmath=_FAST)
def _floor(row: np.ndarray, n_full: int, self_col: int, k: int) -> float:
    """A lower bound of the row's k-th best from this block alone: the k-th largest of its chunk
    maxima (self left out). Each of those k chunks holds a distinct entry at or above it, so no
    entry below it can end in the top-k; a row whose heap is still filling skips those entries
    instead of pushing them. -inf when the block has fewer than k whole chunks.
    """
    n_chunks = n_full // _FLOOR_CHUNK
    if n_chunks < k:
        return -np.inf
    maxima = np.empty(n_chunks, dtype=np.float32)
    for c in range(n_chunks):
        top = -np.inf
        for b in range(c * _FLOOR_CHUNK, (c + 1) * _FLOOR_CHUNK):
            top = max(top, row[b])
        maxima[c] = top
    if 0 <= self_col < n_full:
        c = self_col // _FLOOR_CHUNK
        top = -np.inf
        for b in range(c * _FLOOR_CHUNK, (c + 1) * _FLOOR_CHUNK):
            if b != self_col:
                top = max(top, row[b])
        maxima[c] = top
    return np.partition(maxima, n_chunks - k)[n_chunks - k]


@numba.njit(parallel=True, nogil=True, cache=True)
def scan_block(
    sims: np.ndarray,
    r0: int,
    c0: int,
    values: np.ndarray,
    ids: np.ndarray,
    columns_too: bool,
    pending: np.ndarray,
    pending_v: np.ndarray,
    n_pending: np.ndarray,
) -> None:
    """Offer every entry of a (R, C) similarity block to its rows' heaps, and to its columns' heaps
    when ``columns_too`` (an off-diagonal block of the symmetric product).

    ``pending`` (R, cap) int32, ``pending_v`` (R, cap) float32 and ``n_pending`` (R,) int64 are
    scratch space for the column candidates (column, similarity); a row with more than ``cap`` of
    them is rescanned instead.
    """
    n_rows, n_cols = sims.shape
    cap = pending.shape[1]
    col_worst = values[c0 : c0 + n_cols, 0].copy()
    if not columns_too:
        col_worst[:] = np.inf
    n_full = n_cols - n_cols % _CHUNK
    k = values.shape[1]
    for a in numba.prange(n_rows):
        r = r0 + a
        row = sims[a]
        heap_v = values[r]
        heap_i = ids[r]
        floor = _floor(row, n_full, r - c0, k) if heap_v[0] == -np.inf else -np.inf
        worst = max(floor, heap_v[0])
        count = 0
        for lo in range(0, n_cols, _CHUNK):
            if lo < n_full and not _chunk_reaches(row, lo, worst, col_worst):
                continue
            for b in range(lo, min(n_cols, lo + _CHUNK)):
                v = row[b]
                if v >= worst and c0 + b != r:
                    _offer(heap_v, heap_i, v, c0 + b)
                    worst = max(floor, heap_v[0])
                if v >= col_worst[b]:
                    if count < cap:
                        pending[a, count] = b
                        pending_v[a, count] = v
                    count += 1
        n_pending[a] = count
    if columns_too:
        _apply_columns(sims, r0, c0, values, ids, pending, pending_v, n_pending, col_worst)


@numba.njit(parallel=True, nogil=True)
def _apply_columns(
    sims: np.ndarray,
    r0: int,
    c0: int,
    values: np.ndarray,
    ids: np.ndarray,
    pending: np.ndarray,
    pending_v: np.ndarray,
    n_pending: np.ndarray,
    col_worst: np.ndarray,
) -> None:
    """Apply the column candidates, grouped by column so that each heap has one writer."""
    n_rows, n_cols = sims.shape
    cap = pending.shape[1]
    # Counting sort of the listed candidates by column, so that each column's are contiguous.
    per_col = np.zeros(n_cols + 1, dtype=np.int64)
    for a in range(n_rows):
        if n_pending[a] <= cap:
            for t in range(n_pending[a]):
                per_col[pending[a, t] + 1] += 1
    starts = np.cumsum(per_col)
    fill = starts[:-1].copy()
    by_col = np.empty(starts[-1], dtype=np.int32)
    by_col_v = np.empty(starts[-1], dtype=np.float32)
    overflow = np.empty(n_rows, dtype=np.int32)
    n_overflow = 0
    for a in range(n_rows):
        if n_pending[a] > cap:
            overflow[n_overflow] = a
            n_overflow += 1
            continue
        for t in range(n_pending[a]):
            b = pending[a, t]
            by_col[fill[b]] = a
            by_col_v[fill[b]] = pending_v[a, t]
            fill[b] += 1
    for b in numba.prange(n_cols):
        c = c0 + b
        heap_v = values[c]
        heap_i = ids[c]
        for t in range(starts[b], starts[b + 1]):
            _offer(heap_v, heap_i, by_col_v[t], r0 + by_col[t])
        for t in range(n_overflow):
            a = overflow[t]
            if sims[a, b] >= col_worst[b]:
                _offer(heap_v, heap_i, sims[a, b], r0 + a)
