"""Compiled block scans for the exact neighbour search (see ``precompute.knn.neighbors``), and the
exact rescoring behind its bfloat16 filter (``rescore_rows``, see ``precompute.knn.rescore``).

Kept apart so that importing ``precompute.knn.neighbors`` does not import numba; numba caches the
compiled code next to this file, so only the first run pays the compilation (a few seconds).

Each row's running top-k lives in ``values[r]``/``ids[r]`` as a min-heap whose root is the worst
entry kept: smaller similarity, or equal similarity and larger id. An entry enters only when it
beats the root, so the result is the top-k by (similarity desc, id asc) whatever the order in
which the blocks arrive. A row whose heap is still filling (its first block) starts from a floor,
a lower bound of its k-th best from the maxima of disjoint groups of its entries, collects the
entries at or above it (about k) and merges them into the heap in one selection, rather than
pushing each one through a heap whose root is still -inf.

Each thread owns whole rows of a tile of similarities (``scan_rows``): per row, one branch-free pass
marks the entries that reach the row's threshold or their column's, a bit per entry from SIMD compares
(``_mark_groups``), and only the marked entries are then visited, found 64 bits at a time; the
row's heap is updated directly. The entries that may enter a *column's* heap (those at
or above the column's k-th best) are few: they are appended to the thread's own list and applied
once the other threads are done with those columns too, grouped by column, each thread on its own
columns (``apply_columns``). No heap has two writers at a time, so nothing is locked.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic

from precompute.contract.indices import EMPTY_ID

#: Entries per group in a filling row's floor: small, so that a 4096-column block has well over
#: k groups. Of G groups, group c holds the entries c, c + G, c + 2G, ..., so that the group
#: maxima are elementwise maxima of contiguous slices, which the compiler vectorises.
_FLOOR_GROUP = 16
#: Entries whose marks are visited per test: one 64-bit word of bits.
_WORD_BITS = 64
_NEG_INF = np.float32(-np.inf)
#: Bit masks of the integer keys that order (similarity desc, id asc) in ``_merge``.
_SIGN = np.uint32(0x80000000)
_ALL = np.uint32(0xFFFFFFFF)
#: Candidates whose rows the rescoring asks for ahead of the one it scores (1-16 measured alike, 0 was
#: a fifth slower).
_AHEAD = 2


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


@numba.njit(inline="always")
def _key(bits: np.uint32, label: int) -> np.uint64:
    """One integer whose order is the heaps' order: the similarity's float32 ``bits`` made monotone
    (sign flipped) above the complement of the ``label``, so that a smaller label wins a tie. The
    similarity must have had +0.0 added, so that -0.0 ties +0.0 as the float comparison says."""
    monotone = bits ^ _ALL if bits & _SIGN else bits | _SIGN
    return (np.uint64(monotone) << np.uint64(32)) | np.uint64(_ALL - np.uint32(label))


@numba.njit(inline="always")
def _unkey(key: np.uint64) -> tuple[np.uint32, np.int32]:
    """The (float32 bits, label) that :func:`_key` made ``key`` from."""
    monotone = np.uint32(key >> np.uint64(32))
    bits = monotone ^ _SIGN if monotone & _SIGN else monotone ^ _ALL
    return bits, np.int32(_ALL - np.uint32(key & np.uint64(_ALL)))


@numba.njit
def _merge(heap_v: np.ndarray, heap_i: np.ndarray, cand_v: np.ndarray, cand_i: np.ndarray) -> None:
    """Replace one heap by the best k of its entries and the candidates, in one selection: cheaper
    than a push per candidate while a heap fills from empty, when nearly every candidate enters.

    Each entry becomes one integer key whose order is the heaps' order (:func:`_key`). The best k
    keys are selected, made a min-heap and decoded back; empty slots (key 0) stay empty.
    """
    k = heap_v.shape[0]
    kept = heap_v != _NEG_INF
    vals = np.concatenate((heap_v[kept], cand_v)) + np.float32(0.0)
    labels = np.concatenate((heap_i[kept], cand_i))
    m = vals.shape[0]
    bits = vals.view(np.uint32)
    # Every real entry has its own id, so the keys are distinct; empty slots get the smallest key.
    keys = np.zeros(max(m, k), dtype=np.uint64)
    for t in range(m):
        keys[t] = _key(bits[t], labels[t])
    if m > k:
        _select_largest(keys, k)
    best = keys[keys.shape[0] - k :]
    for start in range(k // 2 - 1, -1, -1):
        _sift_down(best, start)
    out = np.empty(k, dtype=np.uint32)
    for t in range(k):
        out[t], heap_i[t] = _unkey(best[t])
    heap_v[:] = out.view(np.float32)
    for t in range(k):
        if best[t] == 0:
            heap_v[t], heap_i[t] = _NEG_INF, EMPTY_ID


@numba.njit
def _select_largest(keys: np.ndarray, k: int) -> None:
    """Reorder ``keys`` in place so that its last k are its k largest (a quickselect; NumPy's
    partition, which copies first, took twice as long on these short arrays)."""
    target = keys.shape[0] - k
    lo, hi = 0, keys.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) // 2
        # Median of three as the pivot, moved to hi.
        if keys[mid] < keys[lo]:
            keys[mid], keys[lo] = keys[lo], keys[mid]
        if keys[hi] < keys[lo]:
            keys[hi], keys[lo] = keys[lo], keys[hi]
        if keys[mid] < keys[hi]:
            keys[mid], keys[hi] = keys[hi], keys[mid]
        pivot = keys[hi]
        store = lo
        for t in range(lo, hi):
            if keys[t] < pivot:
                keys[t], keys[store] = keys[store], keys[t]
                store += 1
        keys[store], keys[hi] = keys[hi], keys[store]
        if store == target:
            return
        if store < target:
            lo = store + 1
        else:
            hi = store - 1


@numba.njit
def _sift_down(keys: np.ndarray, pos: int) -> None:
    """Restore the min-heap order below ``pos`` (a step of heapify)."""
    k = keys.shape[0]
    key = keys[pos]
    while True:
        child = 2 * pos + 1
        if child >= k:
            break
        if child + 1 < k and keys[child + 1] < keys[child]:
            child += 1
        if keys[child] >= key:
            break
        keys[pos] = keys[child]
        pos = child
    keys[pos] = key


@numba.njit
def _floor(row: np.ndarray, self_col: int, k: int) -> np.float32:
    """A lower bound of the row's k-th best from this block alone: a value reached by at least k of
    its group maxima (self left out), the largest such up to float rounding. Those k groups each
    hold a distinct entry at or above it, so no entry below it can end in the top-k; a row whose
    heap is still filling skips those entries. -inf when the block has fewer than k groups.
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
    # Any t with at least k maxima at or above it is such a bound: bisect for the largest one
    # (counting is a vectorised loop; a partition of the maxima cost five times more).
    lo, hi = maxima.min(), maxima.max()
    for _ in range(24):
        mid = np.float32(0.5) * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        count = 0
        for c in range(n_groups):
            count += maxima[c] >= mid
        if count >= k:
            lo = mid
        else:
            hi = mid
    return lo


@intrinsic
def _mark_groups(typingctx, row, row_worst, col_worst, mask):  # noqa: ARG001 (numba's signature)
    """Bit t of ``mask[j]`` = whether ``row[8j + t]`` reaches ``row_worst`` or ``col_worst[8j + t]``, for each
    whole group of eight entries of the row (float32 ``row`` and ``col_worst``, uint8 ``mask``, contiguous).

    Written as one <8 x float> compare pair per group whose eight results are stored as one byte: the
    processor's compare and move-mask (vcmpps, vmovmskps), with AVX2 as with AVX-512. numba's own loop
    stored a byte per entry, and the visits then tested eight such bytes at a time: half the speed of
    the scan as a whole (measured on a block of use-multilingual-v3, AVX2 and AVX-512 alike)."""
    if not (isinstance(row, types.Array) and isinstance(col_worst, types.Array) and isinstance(mask, types.Array)
            and row.dtype == col_worst.dtype == types.float32 and row_worst == types.float32
            and mask.dtype == types.uint8 and row.layout == col_worst.layout == mask.layout == "C"
            and row.ndim == col_worst.ndim == mask.ndim == 1):
        raise TypingError("_mark_groups takes contiguous 1-D float32 row and col_worst, a float32 and a uint8 mask")

    def codegen(context, builder, signature, args):
        rows, cols, out = (context.make_array(signature.args[i])(context, builder, args[i]) for i in (0, 2, 3))
        f32x8 = ir.VectorType(ir.FloatType(), 8)
        i32 = ir.IntType(32)
        intp = context.get_value_type(types.intp)
        eight = ir.Constant(intp, 8)
        one = builder.insert_element(ir.Constant(f32x8, None), args[1], ir.Constant(i32, 0))
        worst = builder.shuffle_vector(one, ir.Constant(f32x8, None), ir.Constant(ir.VectorType(i32, 8), [0] * 8))
        with cgutils.for_range(builder, builder.sdiv(builder.extract_value(rows.shape, 0), eight)) as loop:
            at = builder.mul(loop.index, eight)
            xv = builder.load(builder.bitcast(builder.gep(rows.data, [at]), f32x8.as_pointer()), align=4)
            cv = builder.load(builder.bitcast(builder.gep(cols.data, [at]), f32x8.as_pointer()), align=4)
            hit = builder.or_(builder.fcmp_ordered(">=", xv, worst), builder.fcmp_ordered(">=", xv, cv))
            builder.store(builder.bitcast(hit, ir.IntType(8)), builder.gep(out.data, [loop.index]))
        return context.get_dummy_value()

    return types.void(row, row_worst, col_worst, mask), codegen


@numba.njit(inline="always")
def _mark(row: np.ndarray, row_worst: np.float32, col_worst: np.ndarray, mask: np.ndarray) -> None:
    """Bit b of the bit array ``mask`` (bit t of byte j is entry 8j + t) = whether row[b] reaches the row's
    threshold or column b's (x >= a or x >= b is x >= min(a, b)): the whole groups of eight at once
    (``_mark_groups``), the last few one by one."""
    _mark_groups(row, row_worst, col_worst, mask)
    n = row.shape[0]
    whole = n - n % 8
    if whole < n:
        tail = 0
        for b in range(whole, n):
            if row[b] >= min(row_worst, col_worst[b]):
                tail |= 1 << (b - whole)
        mask[whole // 8] = tail


@numba.njit(nogil=True, cache=True)
def scan_rows(
    sims: np.ndarray,
    a_lo: int,
    a_hi: int,
    r0: int,
    c0: int,
    values: np.ndarray,
    ids: np.ndarray,
    labels: np.ndarray,
    columns_too: bool,
    cand_r: np.ndarray,
    cand_c: np.ndarray,
    cand_v: np.ndarray,
    n_cand: np.ndarray,
) -> int:
    """Offer the entries of rows ``a_lo:a_hi`` of a (R, C) similarity tile (rows r0.., columns
    c0..) to their rows' heaps, and list those that may enter their column's heap.

    Rows and heaps are indexed by position; ``labels`` (int32) gives each position the id that
    goes into the heaps and breaks ties. When ``columns_too`` (an off-diagonal tile of the
    symmetric product), the entries at or above their column's k-th best, read once here (no call
    writes those heaps while rows are scanned), may enter that column's heap: these candidates
    (row and column positions, similarity) are appended to ``cand_r``, ``cand_c`` and ``cand_v``
    from ``n_cand[0]`` on, for ``apply_columns``. A row is only started with room for all of its
    entries; the return value is the first row not scanned (``a_hi`` when all were), so that the
    caller can grow the lists and go on from there. One thread per call, on rows no other call touches.
    """
    n_cols = sims.shape[1]
    k = values.shape[1]
    # On a diagonal block the columns are rows that another call is updating: not read at all.
    col_worst = values[c0 : c0 + n_cols, 0].copy() if columns_too else np.full(n_cols, np.inf, dtype=np.float32)
    # One bit per entry, visited 64 at a time; the bytes past the row's last entry stay 0.
    mask = np.zeros(-(-n_cols // _WORD_BITS) * 8, dtype=np.uint8)
    words = mask.view(np.uint64)
    row_v = np.empty(n_cols, dtype=np.float32)
    row_i = np.empty(n_cols, dtype=np.int32)
    count = n_cand[0]
    for a in range(a_lo, a_hi):
        if cand_r.shape[0] - count < n_cols:
            n_cand[0] = count
            return a
        r = r0 + a
        row = sims[a]
        heap_v = values[r]
        heap_i = ids[r]
        # A heap still filling collects its candidates and merges them at the end of the row.
        filling = heap_v[0] == _NEG_INF
        floor = _floor(row, r - c0, k) if filling else _NEG_INF
        worst = max(floor, heap_v[0])
        n_row = 0
        # Thresholds only rise while the row is walked, so the bits set at the start are a
        # superset of the entries that still pass when they are visited.
        _mark(row, worst, col_worst, mask)
        for w in range(words.shape[0]):
            bits = words[w]
            while bits != 0:
                b = w * _WORD_BITS + np.int64(trailing_zeros(bits))
                bits &= bits - np.uint64(1)
                v = row[b]
                if v >= worst and c0 + b != r:
                    if filling:
                        row_v[n_row] = v
                        row_i[n_row] = labels[c0 + b]
                        n_row += 1
                    else:
                        _offer(heap_v, heap_i, v, labels[c0 + b])
                        worst = heap_v[0]
                if v >= col_worst[b]:
                    cand_r[count] = r
                    cand_c[count] = c0 + b
                    cand_v[count] = v
                    count += 1
        if filling:
            _merge(heap_v, heap_i, row_v[:n_row], row_i[:n_row])
    n_cand[0] = count
    return a_hi


@numba.njit(nogil=True, cache=True)
def apply_columns(
    c_lo: int,
    c_hi: int,
    values: np.ndarray,
    ids: np.ndarray,
    labels: np.ndarray,
    cand_r: np.ndarray,
    cand_c: np.ndarray,
    cand_v: np.ndarray,
) -> None:
    """Offer the column candidates listed by ``scan_rows`` (row and column positions, similarity)
    whose column lies in ``c_lo:c_hi`` to those columns' heaps, once every tile that reads those
    columns' thresholds was scanned. One thread per call, on columns no other call touches."""
    width = c_hi - c_lo
    # Counting sort of this range's candidates by column, so that each column's heap is visited once.
    per_col = np.zeros(width + 1, dtype=np.int64)
    for t in range(cand_c.shape[0]):
        c = cand_c[t]
        if c_lo <= c < c_hi:
            per_col[c - c_lo + 1] += 1
    starts = np.cumsum(per_col)
    fill = starts[:-1].copy()
    by_col = np.empty(starts[-1], dtype=np.int64)
    for t in range(cand_c.shape[0]):
        c = cand_c[t] - c_lo
        if 0 <= c < width:
            by_col[fill[c]] = t
            fill[c] += 1
    for c in range(width):
        heap_v = values[c_lo + c]
        heap_i = ids[c_lo + c]
        for s in range(starts[c], starts[c + 1]):
            t = by_col[s]
            _offer(heap_v, heap_i, cand_v[t], labels[cand_r[t]])


@numba.njit(nogil=True, cache=True)
def sort_heaps(values: np.ndarray, ids: np.ndarray) -> None:
    """Turn each row's heap, in place, into its entries best first (similarity desc, id asc).

    A heap sort: the root is the worst entry, so moving it to the end and sifting the last
    entry down from an empty root leaves the row ordered from best to worst.
    """
    k = values.shape[1]
    for r in range(values.shape[0]):
        heap_v = values[r]
        heap_i = ids[r]
        for end in range(k - 1, 0, -1):
            v, i = heap_v[end], heap_i[end]
            heap_v[end], heap_i[end] = heap_v[0], heap_i[0]
            heap_v[0], heap_i[0] = _NEG_INF, EMPTY_ID
            _offer(heap_v[:end], heap_i[:end], v, i)


@intrinsic
def _lane_sums(typingctx, x, y, lanes):  # noqa: ARG001 (numba's signature)
    """``lanes[l]`` = the sum of x[j] * float64(y[j]) over j = l (mod 8) below the last multiple of 8, in
    order of j (x float64, y float32, both contiguous). Written as one <8 x double> multiply and add per
    eight entries, which numba's own loop (eight scalar sums) never became: three to four times fewer
    instructions, and the same bits, since the IR carries no fast-math flags (no fused multiply-add,
    no reordering)."""
    if not (x.dtype == types.float64 and y.dtype == types.float32 and lanes.dtype == types.float64
            and x.layout == y.layout == lanes.layout == "C" and x.ndim == y.ndim == lanes.ndim == 1):
        raise TypingError("_lane_sums takes contiguous 1-D float64, float32 and float64 arrays")

    def codegen(context, builder, signature, args):
        xs, ys, out = (context.make_array(t)(context, builder, a) for t, a in zip(signature.args, args, strict=True))
        f64x8 = ir.VectorType(ir.DoubleType(), 8)
        f32x8 = ir.VectorType(ir.FloatType(), 8)
        intp = context.get_value_type(types.intp)
        eight = ir.Constant(intp, 8)
        d = builder.extract_value(xs.shape, 0)
        total = cgutils.alloca_once_value(builder, ir.Constant(f64x8, None))
        with cgutils.for_range_slice(builder, ir.Constant(intp, 0), builder.sub(d, builder.srem(d, eight)),
                                     eight) as (j, _):
            xv = builder.load(builder.bitcast(builder.gep(xs.data, [j]), f64x8.as_pointer()), align=8)
            yv = builder.load(builder.bitcast(builder.gep(ys.data, [j]), f32x8.as_pointer()), align=4)
            builder.store(builder.fadd(builder.load(total), builder.fmul(xv, builder.fpext(yv, f64x8))), total)
        builder.store(builder.load(total), builder.bitcast(out.data, f64x8.as_pointer()), align=8)
        return context.get_dummy_value()

    return types.void(x, y, lanes), codegen


@intrinsic
def _prefetch_row(typingctx, matrix, row):  # noqa: ARG001 (numba's signature)
    """Ask the memory for every cache line of ``matrix[row]`` (C-contiguous 2-D) ahead of its use: the
    rescoring reads its candidates' rows in no order the hardware prefetcher can follow."""
    if not (isinstance(matrix, types.Array) and matrix.layout == "C" and matrix.ndim == 2
            and isinstance(row, types.Integer)):
        raise TypingError("_prefetch_row takes a C-contiguous 2-D array and a row number")

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        intp = context.get_value_type(types.intp)
        row_index = context.cast(builder, args[1], signature.args[1], types.intp)
        start = cgutils.get_item_pointer(context, builder, signature.args[0], array,
                                         [row_index, ir.Constant(intp, 0)])
        byte = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        hint = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte, i32, i32, i32]), "llvm.prefetch.p0i8")
        row_bytes = builder.mul(builder.extract_value(array.shape, 1),
                                ir.Constant(intp, context.get_abi_sizeof(context.get_data_type(matrix.dtype))))
        base = builder.bitcast(start, byte)
        with cgutils.for_range_slice(builder, ir.Constant(intp, 0), row_bytes, ir.Constant(intp, 64)) as (at, _):
            # read, keep in every cache level, data
            builder.call(hint, [builder.gep(base, [at]), ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(matrix, row), codegen


@numba.njit(inline="always")
def _dot64(x: np.ndarray, y: np.ndarray, lanes: np.ndarray) -> float:
    """x . y in float64 (x float64, y float32), summed in eight fixed lanes (``_lane_sums``, ``lanes`` its
    scratch), then the lanes pairwise and the tail: the order of every addition is fixed."""
    _lane_sums(x, y, lanes)
    d = x.shape[0]
    tail = 0.0
    for j in range(d - d % 8, d):
        tail += x[j] * np.float64(y[j])
    return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7])) + tail


@numba.njit(nogil=True, cache=True)
def rescore_rows(
    unit: np.ndarray,
    position: np.ndarray,
    rows: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    candidates: np.ndarray,
    best_v: np.ndarray,
    best_i: np.ndarray,
) -> None:
    """For each row position ``rows[t]``, the exact best k (``best_v.shape[1]``) of its candidate labels
    ``candidates[starts[t]:starts[t] + lengths[t]]`` (``position`` maps a label to its row of ``unit``):
    similarities rounded from float64 dot products of the unit rows, ordered (similarity desc, label asc).
    Written to ``best_v[r]``/``best_i[r]``; one thread per call, on rows no other call touches."""
    k = best_v.shape[1]
    d = unit.shape[1]
    x = np.empty(d, dtype=np.float64)
    lanes = np.empty(8, dtype=np.float64)
    keys = np.empty(max(k, lengths.max()) if lengths.size else k, dtype=np.uint64)
    value = np.empty(1, dtype=np.float32)
    bits = value.view(np.uint32)
    for t in range(rows.shape[0]):
        r = rows[t]
        for j in range(d):
            x[j] = unit[r, j]
        lo = starts[t]
        m = lengths[t]
        # Empty slots (fewer candidates than k) get key 0, below every real entry.
        keys[:] = 0
        for c in range(min(m, _AHEAD)):
            _prefetch_row(unit, position[candidates[lo + c]])
        for c in range(m):
            if c + _AHEAD < m:
                _prefetch_row(unit, position[candidates[lo + c + _AHEAD]])
            label = candidates[lo + c]
            value[0] = np.float32(_dot64(x, unit[position[label]], lanes)) + np.float32(0.0)
            keys[c] = _key(bits[0], label)
        used = keys[: max(m, k)]
        used.sort()
        for slot in range(k):
            key = used[used.shape[0] - 1 - slot]
            if key == 0:
                best_v[r, slot], best_i[r, slot] = _NEG_INF, EMPTY_ID
                continue
            bits[0], best_i[r, slot] = _unkey(key)
            best_v[r, slot] = value[0]


@numba.njit(nogil=True, cache=True)
def rounding_norms(rows: np.ndarray, rounded: np.ndarray, residual: np.ndarray, copy: np.ndarray) -> None:
    """Per row of float32 ``rows``, with ``rounded`` the bits (int16) of its bfloat16 copy: the float64
    norms of the rounding residual and of the copy, into ``residual`` and ``copy``."""
    word = np.empty(1, dtype=np.uint32)
    single = word.view(np.float32)
    for r in range(rows.shape[0]):
        res = 0.0
        own = 0.0
        for j in range(rows.shape[1]):
            word[0] = np.uint32(np.uint16(rounded[r, j])) << np.uint32(16)  # a bfloat16 is a float32's top half
            kept = np.float64(single[0])
            gap = np.float64(rows[r, j]) - kept
            res += gap * gap
            own += kept * kept
        residual[r] = np.sqrt(res)
        copy[r] = np.sqrt(own)
