"""Compile the build's numba code for this processor once, before any build (``make install`` runs it).

The exact table's scans (``precompute.knn.kernels``), the Annoy tuner's walk (``precompute.knn.annoy_walk``)
and UMAP's graph and layout (umap-learn's functions and ``precompute.analyses.layout_kernels``) are numba
code that numba keeps on disk once compiled (``cache=True``, next to each source file). On a fresh clone
nothing is kept yet, and the first build compiled it inside its steps: about 20 s on one core (measured
with an empty cache, Xeon, 2 cores: the exact table 5 s, UMAP 13 s, the walk 1 s), five of them inside the
exact table's step, which holds every core while one compiles and the others wait. Compiled here, at
install, each later process loads it in about a second.

Each part runs the real function on a small random matrix of the build's own types, so that numba
compiles exactly the signatures a build calls. Nothing here is kept but numba's cache: the matrices
are thrown away. The cache is per processor: on a machine with another instruction set (AVX2 after
AVX-512) numba compiles again, in the build, as before.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: Rows of the warm-up matrix: enough for UMAP's spectral layout and for Annoy's trees to split, few
#: enough that the work itself takes a fraction of a second.
ROWS = 3000
DIM = 32
K = 20


def _exact_tables(x: np.ndarray) -> None:
    from precompute.knn.neighbors import top_k_neighbors

    # blocks smaller than the matrix: the columns' kernel runs only beside a block off the diagonal
    for products in ("float32", "bfloat16"):  # the bfloat16 filter's rescoring is kernels of its own
        top_k_neighbors(x, K, device="cpu", products=products, block_size=ROWS // 3, progress=False)


def _annoy_walk(x: np.ndarray) -> None:
    from precompute.knn.annoy_index import build_annoy
    from precompute.knn.neighbors import top_k_neighbors

    ids, _ = top_k_neighbors(x, K, device="cpu", products="float32", progress=False)
    with tempfile.TemporaryDirectory() as folder:
        build_annoy(x, Path(folder) / "warm.ann", exact_neighbors=ids, n_trees=4, progress=False)


def _umap(x: np.ndarray) -> None:
    from precompute.analyses.maps import umap_2d
    from precompute.contract.config import BuildConfig

    umap_2d(x, BuildConfig(umap_epochs=5))  # the epochs' count is no part of the compiled signatures


#: What is compiled, in order: (name, the call that compiles it).
PARTS: tuple[tuple[str, Callable[[np.ndarray], None]], ...] = (
    ("exact table scans", _exact_tables),
    ("Annoy tuner", _annoy_walk),
    ("UMAP graph and layout", _umap),
)


def precompile(report: Callable[[str, float], None] | None = None) -> float:
    """Compile (or load, when already kept) every part of ``PARTS``; ``report(name, seconds)`` after each.
    Returns the total seconds."""
    x = np.random.default_rng(0).standard_normal((ROWS, DIM)).astype(np.float32)
    start = time.perf_counter()
    for name, part in PARTS:
        begun = time.perf_counter()
        part(x)
        if report is not None:
            report(name, time.perf_counter() - begun)
    return time.perf_counter() - start
