"""`precompute compile` (run by `make install`) leaves the build's numba code compiled for later processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: A later process: the build's calls on other sizes than the warm-up's, then each cached function's
#: compilations (misses) and loads (hits) as numba counted them.
LATER = """
import numpy as np
from pathlib import Path
import tempfile
from precompute.analyses import layout_kernels, maps
from precompute.contract.config import BuildConfig
from precompute.knn import annoy_index, annoy_walk, kernels, neighbors
from umap import umap_

x = np.random.default_rng(7).standard_normal((700, 24)).astype(np.float32)
ids, sims = neighbors.top_k_neighbors(x, 16, device="cpu", products="float32", block_size=300, progress=False)
neighbors.top_k_neighbors(x, 16, device="cpu", products="bfloat16", block_size=300, progress=False)
with tempfile.TemporaryDirectory() as folder:
    annoy_index.build_annoy(x, Path(folder) / "a.ann", exact_neighbors=ids, n_trees=2, progress=False)
maps.umap_2d(x, BuildConfig(umap_epochs=3), neighbors=ids, similarities=sims)
functions = {
    "scan_rows": kernels.scan_rows, "apply_columns": kernels.apply_columns, "sort_heaps": kernels.sort_heaps,
    "rescore_rows": kernels.rescore_rows, "rounding_norms": kernels.rounding_norms, "walk": annoy_walk._walk,
    "epoch": layout_kernels.epoch, "smooth_knn_dist": umap_.smooth_knn_dist,
    "compute_membership_strengths": umap_.compute_membership_strengths,
}
for name, f in functions.items():
    print(name, sum(f.stats.cache_misses.values()), sum(f.stats.cache_hits.values()))
"""


def run(args: list[str], cache: Path) -> str:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_a_later_process_loads_every_kernel_instead_of_compiling(tmp_path: Path) -> None:
    cache = tmp_path / "numba"  # empty: as on a fresh clone
    out = run(["-m", "precompute", "compile"], cache)
    assert "exact table scans:" in out and "compiled for this processor" in out
    counts = {name: (int(misses), int(hits)) for name, misses, hits in
              (line.split() for line in run(["-c", LATER], cache).splitlines())}
    assert len(counts) == 9
    assert all(misses == 0 and hits >= 1 for misses, hits in counts.values()), counts
