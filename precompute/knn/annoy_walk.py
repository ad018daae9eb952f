"""Annoy's query walk, compiled: the search_k at which each true neighbour of a token becomes a candidate.

An Annoy query (``_get_all_nns`` in annoylib.h) walks all trees at once, best first: a priority
queue of nodes, roots first; a split node pushes its two children, keyed by the smaller of its own
key and the query's margin on the child's side; a leaf adds its items to the candidates. It stops
once search_k candidates are collected (repeats counted), then ranks them by distance. The
candidates of a smaller search_k are therefore a prefix of those of a larger one, and a true
neighbour is among the 10 returned exactly when it is among the candidates (ties aside: whatever
ranks above it is nearer, hence a true neighbour too).

So one walk per token, stopped when its last true neighbour turns up, gives recall@10 at every
search_k at once: ``needed[t, j]`` is the smallest search_k whose candidates include the j-th
neighbour of token t, and recall@10(search_k) = mean(needed <= search_k). Annoy's own queries spend
their time on the distances of the search_k candidates; the walk computes none (500 tokens of
multilingual-e5-small: 0.2 CPU-s, against 27 s for the nine rounds of real queries of a bisection).

The walk reads the saved file (layout in ``precompute.contract.indices.check_annoy``) and repeats
Annoy's steps: the queue orders by (key, node id) as std::priority_queue of pairs does, the roots
and the item count are found as ``AnnoyIndex.load`` finds them. Margins are float32 dot products
summed in order, where Annoy sums with SIMD in another order: a margin within rounding of a tie
may differ, which is why the build confirms the tuned value with Annoy's own queries.

Kept apart from ``precompute.knn.annoy_index`` so that importing the build's steps does not import
numba; numba caches the compiled code next to this file.
"""

from __future__ import annotations

from pathlib import Path

import numba
import numpy as np

#: ``needed`` of a neighbour that is not in the index (a row left out): no search_k finds it.
UNREACHABLE = int(np.iinfo(np.int64).max)


def needed_search_k(path: Path, dim: int, tokens: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(T, k) int64: the smallest search_k at which ``get_nns_by_item(tokens[t], ...)`` on the index
    saved at ``path`` has ``targets[t, j]`` among its candidates; UNREACHABLE where it never does.

    Args:
        path: an angular index of ``dim``-vectors, as ``AnnoyIndex.save`` or ``on_disk_build`` wrote it.
        tokens: (T,) item ids to query.
        targets: (T, k) item ids to look for, e.g. the first 10 columns of the exact table; -1 for
            one known not to be in the index (a walk looking for it would visit every tree to the end).
    """
    words = np.memmap(path, dtype="<i4", mode="r").reshape(-1, 3 + dim)
    floats = np.memmap(path, dtype="<f4", mode="r").reshape(-1, 3 + dim)
    roots, n_items = _roots(words[:, :2])
    tokens = np.asarray(tokens, dtype=np.int64)
    targets = np.ascontiguousarray(targets, dtype=np.int64)
    if targets.ndim != 2 or targets.shape[0] != tokens.size:
        raise ValueError(f"targets must be a (T={tokens.size}, k) array of item ids, got shape {targets.shape}")
    return _walk(words, floats, roots, n_items, tokens, targets)


def _roots(head: np.ndarray) -> tuple[np.ndarray, int]:
    """The roots and item count as ``AnnoyIndex.load`` finds them: the trailing nodes with as many
    descendants as the last (a copy of every root), less the original of the last root when the
    scan reached it; a loaded index counts as items that number of descendants."""
    count = head[:, 0]
    last = int(count[-1])
    start = len(count) - 1
    while start > 0 and count[start - 1] == last:
        start -= 1
    roots = np.arange(len(count) - 1, start - 1, -1)
    if roots.size > 1 and head[roots[0], 1] == head[roots[-1], 1]:
        roots = roots[:-1]
    return roots, last


@numba.njit(inline="always")
def _before(key1: float, id1: int, key2: float, id2: int) -> bool:
    """Whether (key1, id1) leaves a max-queue of (key, node) pairs before (key2, id2)."""
    return key1 > key2 or (key1 == key2 and id1 > id2)


@numba.njit(inline="always")
def _push(keys: np.ndarray, ids: np.ndarray, size: int, key: float, node: int) -> tuple[np.ndarray, np.ndarray]:
    if size == keys.size:
        keys = np.concatenate((keys, np.empty_like(keys)))
        ids = np.concatenate((ids, np.empty_like(ids)))
    c = size
    while c > 0:
        parent = (c - 1) // 2
        if not _before(key, node, keys[parent], ids[parent]):
            break
        keys[c], ids[c] = keys[parent], ids[parent]
        c = parent
    keys[c], ids[c] = key, node
    return keys, ids


@numba.njit(inline="always")
def _pop(keys: np.ndarray, ids: np.ndarray, size: int) -> None:
    """Remove the first pair of a queue of ``size`` pairs (the caller has read it)."""
    last_key, last_id = keys[size - 1], ids[size - 1]
    size -= 1
    c = 0
    while True:
        child = 2 * c + 1
        if child >= size:
            break
        if child + 1 < size and _before(keys[child + 1], ids[child + 1], keys[child], ids[child]):
            child += 1
        if not _before(keys[child], ids[child], last_key, last_id):
            break
        keys[c], ids[c] = keys[child], ids[child]
        c = child
    keys[c], ids[c] = last_key, last_id


@numba.njit(cache=True)
def _walk(words: np.ndarray, floats: np.ndarray, roots: np.ndarray, n_items: int, tokens: np.ndarray,
          targets: np.ndarray) -> np.ndarray:
    n_nodes, width = words.shape
    dim = width - 3
    most = dim + 2  # item ids a leaf holds in the space of a vector
    needed = np.full(targets.shape, UNREACHABLE, np.int64)
    slot = np.full(n_nodes, -1, np.int64)  # item id -> its column in the current token's targets
    keys = np.empty(1024, np.float32)
    ids = np.empty(1024, np.int64)
    for t in range(tokens.size):
        query = floats[tokens[t], 3:]
        left = 0
        for j in range(targets.shape[1]):
            item = targets[t, j]
            if 0 <= item < n_nodes and slot[item] < 0:
                slot[item] = j
                left += 1
        size = 0
        for root in roots:
            keys, ids = _push(keys, ids, size, np.float32(np.inf), root)
            size += 1
        collected = 0
        while left > 0 and size > 0:
            key, node = keys[0], ids[0]
            _pop(keys, ids, size)
            size -= 1
            count = words[node, 0]
            if count == 1 and node < n_items:
                first, found = 0, 1  # an item reached as a child of one item: itself
            elif count <= most:
                first, found = 1, count  # a leaf: its item ids
            else:
                margin = np.float32(0.0)
                for z in range(dim):
                    margin += floats[node, 3 + z] * query[z]
                keys, ids = _push(keys, ids, size, min(key, margin), words[node, 2])
                size += 1
                keys, ids = _push(keys, ids, size, min(key, -margin), words[node, 1])
                size += 1
                continue
            for z in range(found):
                item = node if first == 0 else words[node, first + z]
                j = slot[item]
                if j >= 0 and needed[t, j] == UNREACHABLE:
                    needed[t, j] = collected + 1
                    left -= 1
            collected += found
        for j in range(targets.shape[1]):
            item = targets[t, j]
            if 0 <= item < n_nodes:
                slot[item] = -1
    return needed
