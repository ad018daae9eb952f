"""Benchmark the map step on a built model: UMAP with umap-learn's own k-NN search against UMAP on the
exact neighbour table the build already has.

    .venv/bin/python -m precompute build multilingual-e5-small --artifacts /tmp/e5_artifacts
    .venv/bin/python benchmarks/maps.py /tmp/e5_artifacts/multilingual-e5-small

Each variant runs in a fresh process (numba compilation included in both, as in a build) with the
build's parameters and seed. Printed per variant: seconds, CPU seconds (the UMAP layout runs on one
thread under a fixed seed, so on a busy machine CPU time says more than wall time), peak memory,
and how well the map keeps neighbourhoods: over 2,000 sampled tokens, the share of their 10 nearest
eligible neighbours (exact table) that are among their 10 nearest points on the map.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from precompute.analyses.maps import eligible_neighbors, map_table  # noqa: E402
from precompute.analyses.tokens import eligible_mask  # noqa: E402
from precompute.contract import schema  # noqa: E402
from precompute.contract.config import BuildConfig  # noqa: E402
from precompute.contract.store import ArtifactDir  # noqa: E402

SAMPLE, K = 2000, 10


def kept_on_map(xy: np.ndarray, exact: np.ndarray, seed: int) -> float:
    """Mean share of a sampled row's K exact neighbours (row positions) among its K nearest on the map."""
    from sklearn.neighbors import NearestNeighbors

    rows = np.random.default_rng(seed).choice(len(xy), size=min(SAMPLE, len(xy)), replace=False)
    _, near = NearestNeighbors(n_neighbors=K + 1).fit(xy).kneighbors(xy[rows])
    return float(np.mean([len(set(near[i, 1:]) & set(exact[r][exact[r] >= 0])) / K for i, r in enumerate(rows)]))


def run_variant(directory: Path, precomputed: bool) -> dict:
    store = ArtifactDir.open(directory)
    config = BuildConfig.from_dict(store.manifest["params"])
    tokens = store.load_table(schema.TOKENS)
    embeddings = store.load_array(schema.EMBEDDINGS, mmap=False)
    ids = store.load_array(schema.NEIGHBORS, mmap=False)
    sims = store.load_array(schema.SIMILARITIES, mmap=False)
    table = {"neighbors": ids, "similarities": sims} if precomputed else {}
    t0, cpu0 = time.perf_counter(), time.process_time()
    out = map_table(embeddings, tokens, config, **table)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    exact, _ = eligible_neighbors(ids, sims, eligible_mask(tokens), K)
    return {
        "precomputed_knn": precomputed,
        "rows": len(out),
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        f"kept_{K}_nn_on_map": round(kept_on_map(out[["umap_x", "umap_y"]].to_numpy(), exact, config.seed), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path, help="a built model's artifact directory")
    parser.add_argument("--only", choices=["search", "precomputed"], help="run one variant, in this process")
    args = parser.parse_args()
    if args.only:
        print(json.dumps(run_variant(args.directory, args.only == "precomputed")))
        return
    for variant in ("precomputed", "search"):
        out = subprocess.run([sys.executable, __file__, str(args.directory), "--only", variant],
                             check=True, capture_output=True, text=True).stdout
        print(out.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
