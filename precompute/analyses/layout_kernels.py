"""The maps' compiled code (``precompute.analyses.maps``), kept on disk so that a process loads it instead
of compiling it.

A first map in a process compiled umap-learn's fuzzy-graph functions and the layout's epoch: 4.4 s
(AMD EPYC, fresh process, 3,000 rows), paid by every build worker and by every comparison run in a new
process. numba keeps compiled code on disk for a function that asks (``cache=True``): the epoch below
does; umap-learn's two graph functions do not, so :func:`cache_graph_functions` asks their dispatchers
(``enable_caching``, what ``cache=True`` calls). Once cached, that first map took 0.9 s. The code is the
same either way, hence the same bytes.

Kept apart so that importing ``precompute.analyses.maps`` does not import numba or umap-learn.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
from umap.utils import tau_rand_int


@functools.cache
def cache_graph_functions() -> bool:
    """Ask numba to keep umap-learn's compiled fuzzy-graph functions on disk; whether it could.

    numba writes beside umap-learn's sources or, where those are read-only, in the user's cache
    folder ($NUMBA_CACHE_DIR); where neither is writable it compiles in memory as before.
    """
    from umap import umap_

    try:
        for function in (umap_.smooth_knn_dist, umap_.compute_membership_strengths):
            function.enable_caching()
    except RuntimeError:  # numba found no writable cache folder
        return False
    return True


@numba.njit(fastmath=True, nogil=True, cache=True)
def epoch(y, head, tail, period, next_sample, negative_period, next_negative, n, a, b, alpha, rng):
    """One epoch of UMAP's layout optimisation, in place on ``y`` (see ``maps.optimize_layout``).

    nogil: a comparison may run its maps in a thread beside its searches.
    """
    f = np.float32
    n_vertices = y.shape[0]
    for i in range(head.shape[0]):
        if next_sample[i] > n:
            continue
        j, k = head[i], tail[i]
        dx, dy = y[j, 0] - y[k, 0], y[j, 1] - y[k, 1]
        d2 = dx * dx + dy * dy
        c = f(0.0)
        if d2 > 0:  # attraction: -2ab d^(2b-2) / (1 + a d^2b)
            p = d2 ** (b - f(1.0))
            c = f(-2.0) * a * b * p / (a * p * d2 + f(1.0))
        gx = min(max(c * dx, f(-4.0)), f(4.0)) * alpha
        gy = min(max(c * dy, f(-4.0)), f(4.0)) * alpha
        y[j, 0] += gx
        y[j, 1] += gy
        y[k, 0] -= gx
        y[k, 1] -= gy
        next_sample[i] += period[i]
        m = int((n - next_negative[i]) / negative_period[i])
        for _ in range(m):  # repulsion from random vertices: 2b / ((0.001 + d^2) (1 + a d^2b))
            k = tau_rand_int(rng[j]) % n_vertices
            dx, dy = y[j, 0] - y[k, 0], y[j, 1] - y[k, 1]
            d2 = dx * dx + dy * dy
            if d2 > 0:
                c = f(2.0) * b / ((f(0.001) + d2) * (a * d2**b + f(1.0)))
                y[j, 0] += min(max(c * dx, f(-4.0)), f(4.0)) * alpha
                y[j, 1] += min(max(c * dy, f(-4.0)), f(4.0)) * alpha
        next_negative[i] += m * negative_period[i]
