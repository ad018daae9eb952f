"""Compiled block scans for the exact neighbour search (see ``precompute.knn.neighbors``).

Kept apart so that importing ``precompute.knn.neighbors`` does not import numba; numba caches the
compiled code next to this file, so only the first run pays the compilation (a few seconds).

Each row's running top-k lives in ``values[r]``/``ids[r]`` as a min-heap whose root is the worst
entry kept: smaller similarity, or equal similarity and larger id. An entry enters only when it
beats the root, so the result is the top-k by (similarity desc, id asc) whatever the order in
which the blocks arrive. A row whose heap is still filling (its first block) starts from a floor,
the k-th largest of the maxima of disjoint groups of its entries, so that it pushes about k
entries rather than every entry that beats a half-empty heap.

One block (rows r0.., columns c0..) is read once, for both directions at the same time. Per row,
one branch-free pass marks the entries that reach the row's threshold or their column's (a loop
the compiler turns into SIMD compares over the whole row), and only the marked entries are then
visited, eight flags at a time. Each thread owns whole rows, so it updates their heaps directly;
the entries that may enter a *column's* heap (those at or above the column's k-th best when the
block started) are few, so they are written to a small per-row list and applied afterwards,
grouped by column.
"""

from __future__ import annotations

import numba
import numpy as np

from precompute.contract.indices import EMPTY_ID

#: Entries per group in a filling row's floor: small, so that a 4096-column block has well over
#: k groups. Of G groups, group c holds the entries c, c + G, c + 2G, ..., so that the group
#: maxima are elementwise maxima of contiguous slices, which the compiler vectorises.
_FLOOR_GROUP = 16
#: Flags visited per test: one 64-bit word of eight byte flags.
_WORD = 8
_NEG_INF = np.float32(-np.inf)


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


@numba.njit
def _floor(row: np.ndarray, self_col: int, k: int) -> np.float32:
    """A lower bound of the row's k-th best from this block alone: the k-th largest of its group
    maxima (self left out). Each of those k groups holds a distinct entry at or above it, so no
    entry below it can end in the top-k; a row whose heap is still filling skips those entries
    instead of pushing them. -inf when the block has fewer than k groups.
    """
    n_groups = row.shape[0] // _FLOOR_GROUP
    if n_groups < k:
        return _NEG_INF
    maxima = row[:n_groups].copy()
    for j in range(1, _FLOOR_GROUP):
        part = row[j * n_groups : (j + 1) * n_groups]
        for c in range(n_groups):
            maxima[c] = max(maxima[c], part[c])
    if 0 <= self_col < n_groups * _FLOOR_GROUP:
        c = self_col % n_groups
        top = _NEG_INF
        for b in range(c, n_groups * _FLOOR_GROUP, n_groups):
            if b != self_col:
                top = max(top, row[b])
        maxima[c] = top
    return np.partition(maxima, n_groups - k)[n_groups - k]


@numba.njit
def _mark(row: np.ndarray, row_worst: np.float32, col_worst: np.ndarray, flags: np.ndarray) -> None:
    """flags[b] = 1 where row[b] reaches the row's threshold or column b's (x >= a or x >= b is
    x >= min(a, b)): one branch-free loop over the row, vectorised by the compiler."""
    for b in range(flags.shape[0]):
        flags[b] = row[b] >= min(row_worst, col_worst[b])


@numba.njit(parallel=True, nogil=True, cache=True)
def scan_block(
    sims: np.ndarray,
    r0: int,
    c0: int,
    values: np.ndarray,
    ids: np.ndarray,
    labels: np.ndarray,
    columns_too: bool,
    pending: np.ndarray,
    pending_v: np.ndarray,
    n_pending: np.ndarray,
) -> None:
    """Offer every entry of a (R, C) similarity block to its rows' heaps, and to its columns' heaps
    when ``columns_too`` (an off-diagonal block of the symmetric product).

    Rows and heaps are indexed by position; ``labels`` (int32) gives each position the id that
    goes into the heaps and breaks ties.

    ``pending`` (R, cap) int32, ``pending_v`` (R, cap) float32 and ``n_pending`` (R,) int64 are
    scratch space for the column candidates (column, similarity); a row with more than ``cap`` of
    them is rescanned instead.
    """
    n_rows, n_cols = sims.shape
    cap = pending.shape[1]
    col_worst = values[c0 : c0 + n_cols, 0].copy()
    if not columns_too:
        col_worst[:] = np.inf
    n_words = n_cols // _WORD
    k = values.shape[1]
    for a in numba.prange(n_rows):
        r = r0 + a
        row = sims[a]
        heap_v = values[r]
        heap_i = ids[r]
        floor = _floor(row, r - c0, k) if heap_v[0] == _NEG_INF else _NEG_INF
        worst = max(floor, heap_v[0])
        # Thresholds only rise while the row is walked, so the flags set at the start are a
        # superset of the entries that still pass when they are visited.
        flags = np.empty(n_words * _WORD, dtype=np.uint8)
        _mark(row, worst, col_worst, flags)
        words = flags.view(np.uint64)
        count = 0
        for w in range(n_words + 1):
            if w < n_words and words[w] == 0:
                continue
            for b in range(w * _WORD, min(n_cols, (w + 1) * _WORD)):
                v = row[b]
                if v >= worst and c0 + b != r:
                    _offer(heap_v, heap_i, v, labels[c0 + b])
                    worst = max(floor, heap_v[0])
                if v >= col_worst[b]:
                    if count < cap:
                        pending[a, count] = b
                        pending_v[a, count] = v
                    count += 1
        n_pending[a] = count
    if columns_too:
        _apply_columns(sims, r0, c0, values, ids, labels, pending, pending_v, n_pending, col_worst)


@numba.njit(parallel=True, nogil=True)
def _apply_columns(
    sims: np.ndarray,
    r0: int,
    c0: int,
    values: np.ndarray,
    ids: np.ndarray,
    labels: np.ndarray,
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
            _offer(heap_v, heap_i, by_col_v[t], labels[r0 + by_col[t]])
        for t in range(n_overflow):
            a = overflow[t]
            if sims[a, b] >= col_worst[b]:
                _offer(heap_v, heap_i, sims[a, b], labels[r0 + a])


@numba.njit(parallel=True, nogil=True, cache=True)
def sort_heaps(values: np.ndarray, ids: np.ndarray) -> None:
    """Turn each row's heap, in place, into its entries best first (similarity desc, id asc).

    A heap sort: the root is the worst entry, so moving it to the end and sifting the last
    entry down from an empty root leaves the row ordered from best to worst.
    """
    k = values.shape[1]
    for r in numba.prange(values.shape[0]):
        heap_v = values[r]
        heap_i = ids[r]
        for end in range(k - 1, 0, -1):
            v, i = heap_v[end], heap_i[end]
            heap_v[end], heap_i[end] = heap_v[0], heap_i[0]
            heap_v[0], heap_i[0] = _NEG_INF, EMPTY_ID
            _offer(heap_v[:end], heap_i[:end], v, i)
