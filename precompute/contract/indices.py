"""Reading neighbour indices: which rows take part, opening a saved Annoy index, querying it by vector.

The light half of the neighbour code (numpy and annoy only): the dashboard imports it, so that a
hosted dashboard never loads the exact-neighbour engine (``precompute.knn.neighbors``, numba, torch)
or the code that builds and tunes indices (``precompute.knn.annoy_index``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from annoy import AnnoyIndex

#: Id of an empty slot of a running top-k heap: larger than any real id, so any real entry beats
#: it on a tie. Shared by the exact search and its compiled kernels.
EMPTY_ID = int(np.iinfo(np.int32).max)
#: Annoy's metric for cosine neighbours: the Euclidean distance between unit vectors.
METRIC = "angular"


def valid_rows(embeddings: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """(N,) bool: rows that take part in the search — those allowed by ``valid`` with non-zero norm.

    A zero row has no direction, so its cosine is undefined: it gets no neighbours and is nobody's.
    """
    n = embeddings.shape[0]
    nonzero = np.any(embeddings != 0, axis=1)
    if valid is None:
        return nonzero
    valid = np.asarray(valid, dtype=bool)
    if valid.shape != (n,):
        raise ValueError(f"valid must have shape ({n},) like the embedding rows, got {valid.shape}")
    return valid & nonzero


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, float32; a zero row stays zero (cosine geometry for maps and probes)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), np.finfo(np.float32).tiny)


def check_annoy(path: Path, dim: int, rows: int | None = None) -> None:
    """ValueError unless ``path`` is an angular Annoy index of ``dim``-vectors whose every link points inside it.

    Annoy trusts its file: a malformed one (right size, wrong numbers) reads memory past the map and
    crashes the process. An angular node is (int32 descendants, int32 children[2], float32 v[dim]); items
    come first, then the trees (a node of more than ``dim + 2`` descendants links two nodes, a smaller one
    lists item ids), the roots last. Only the tree nodes are read, not the vectors.
    """
    node = 12 + 4 * dim
    size = Path(path).stat().st_size
    if size == 0 or size % node:
        raise ValueError(f"{size:,} bytes is not a whole number of {dim}-dimensional Annoy nodes ({node} bytes)")
    nodes = np.memmap(path, dtype="<i4", mode="r").reshape(-1, node // 4)
    items, limit = int(nodes[-1, 0]), rows or len(nodes)
    if not 0 < items <= min(limit, len(nodes)):
        raise ValueError(f"its roots hold {items:,} items, not between 1 and {min(limit, len(nodes)):,}")
    most = node // 4 - 1  # ids a leaf list can hold
    tree = np.asarray(nodes[items:, : 1 + most])
    count = tree[:, 0]
    split = tree[count > most, 1:3]
    listed = tree[(count >= 2) & (count <= most), 1:]
    listed = listed[np.arange(most) < count[(count >= 2) & (count <= most), None]]
    if (split < 0).any() or (split >= len(nodes)).any() or (listed < 0).any() or (listed >= limit).any():
        raise ValueError("a tree node links outside the index")


def open_annoy(path: Path, dim: int) -> AnnoyIndex:
    """Memory-map a saved index (pages are read on demand, so opening is instant)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Annoy index {path} not found; build it with `python -m precompute build`")
    index = AnnoyIndex(dim, METRIC)
    index.load(str(path))
    return index


def query_vector(
    index: AnnoyIndex,
    vector: np.ndarray,
    n: int,
    search_k: int,
    exclude: set[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The n nearest items to ``vector``, best first: (ids int32, cosine similarities float32).

    Annoy's angular distance is the Euclidean distance between unit vectors, sqrt(2 - 2 cos), so
    cos = 1 - d² / 2. Ids in ``exclude`` (e.g. the query token itself) are skipped.
    """
    vector = np.asarray(vector, dtype=np.float32)
    if vector.shape != (index.f,):
        raise ValueError(f"query vector must have shape ({index.f},) like the index, got {vector.shape}")
    if not np.any(vector):
        raise ValueError("query vector is all zeros: it has no direction, so no cosine neighbours")
    exclude = exclude or set()
    found, distances = index.get_nns_by_vector(
        vector, n + len(exclude), search_k=search_k, include_distances=True
    )
    kept = [(j, dist) for j, dist in zip(found, distances, strict=True) if j not in exclude][:n]
    ids = np.array([j for j, _ in kept], dtype=np.int32)
    dist = np.array([dist for _, dist in kept], dtype=np.float32)
    return ids, (1 - dist**2 / 2).astype(np.float32)
