"""Benchmark the map step's UMAP on a built model: the build's layout against umap-learn's own 200-epoch
optimisation (the map before #24), on the same input.

    .venv/bin/python -m precompute build multilingual-e5-small --artifacts /tmp/e5_artifacts
    .venv/bin/python benchmarks/maps.py /tmp/e5_artifacts/multilingual-e5-small [--twice]

Both variants start from the same fuzzy graph (the exact neighbour table) and the same spectral
initialisation; they differ in the optimisation: umap-learn's ``UMAP`` with 200 epochs, or the build's
``optimize_layout`` with ``umap_epochs`` from the manifest (or ``--epochs``). Each runs in a fresh
process (numba compilation included, as in a build) under one BLAS thread, as the map step runs.
Printed per variant: seconds, CPU seconds (the layout runs on one thread, so on a busy machine CPU
time says more than wall time), peak memory, the sha256 of the layout (``--twice`` runs the build's
layout again: the same hash twice is the reproducibility check), and how well the map keeps
neighbourhoods: over all eligible tokens, the share of their 10 nearest eligible neighbours (exact
table) among their 10 nearest points on the map. Then the difference, new minus before.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import precompute  # noqa: E402, F401  before NumPy: its page advice, as in a build (precompute/__init__.py)

# isort: split
import numpy as np  # noqa: E402

from precompute.analyses.maps import (  # noqa: E402
    eligible_neighbors,
    initial_layout,
    kept_neighbors,
    umap_2d,
    umap_knn,
)
from precompute.analyses.tokens import eligible_mask  # noqa: E402
from precompute.contract import schema  # noqa: E402
from precompute.contract.config import BuildConfig  # noqa: E402
from precompute.contract.indices import unit_rows  # noqa: E402
from precompute.contract.store import ArtifactDir  # noqa: E402

K = 10
#: umap-learn's epochs for 10,000 rows or more, the map's optimisation before #24.
BEFORE_EPOCHS = 200


def umap_learn_2d(embeddings: np.ndarray, config: BuildConfig, neighbors: np.ndarray,
                  similarities: np.ndarray) -> np.ndarray:
    """The map before #24: umap-learn's ``UMAP`` on the exact table from the same initialisation, 200 epochs."""
    import umap
    from umap.umap_ import fuzzy_simplicial_set

    x = unit_rows(embeddings)
    knn = umap_knn(neighbors, similarities, config.umap_neighbors)
    graph = fuzzy_simplicial_set(x, config.umap_neighbors, None, "euclidean", knn_indices=knn[0], knn_dists=knn[1])[0]
    reducer = umap.UMAP(n_components=2, n_neighbors=config.umap_neighbors, min_dist=config.umap_min_dist,
                        random_state=config.seed, n_epochs=BEFORE_EPOCHS, precomputed_knn=knn,
                        init=initial_layout(x, graph, config.umap_neighbors, config.seed))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)  # single thread under a seed; no search index
        return reducer.fit_transform(x).astype(np.float32)


def run_variant(directory: Path, variant: str, epochs: int | None) -> dict:
    from threadpoolctl import threadpool_limits

    store = ArtifactDir.open(directory)
    config = BuildConfig.from_dict(store.manifest["params"])
    if epochs:
        config = replace(config, umap_epochs=epochs)
    tokens = store.load_table(schema.TOKENS)
    eligible = eligible_mask(tokens)
    if (directory / schema.EMBEDDINGS).exists():
        embeddings = store.load_array(schema.EMBEDDINGS, mmap=False)[eligible]
    else:
        from precompute.sources import load_model

        embeddings = load_model(store.manifest["model"]["id"]).embeddings[eligible]
    ids = store.load_array(schema.NEIGHBORS, mmap=False)
    sims = store.load_array(schema.SIMILARITIES, mmap=False)
    neighbors, similarities = eligible_neighbors(ids, sims, eligible, config.umap_neighbors - 1)
    t0, cpu0 = time.perf_counter(), time.process_time()
    with threadpool_limits(limits=1, user_api="blas"):
        if variant == "before":
            xy = umap_learn_2d(embeddings, config, neighbors, similarities)
        else:
            xy = umap_2d(embeddings, config, neighbors=neighbors, similarities=similarities)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    exact, _ = eligible_neighbors(ids, sims, eligible, K)
    return {
        "variant": variant,
        "epochs": BEFORE_EPOCHS if variant == "before" else config.umap_epochs,
        "rows": len(xy),
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        f"kept_{K}_nn_on_map": round(kept_neighbors(xy, exact), 4),
        "sha256": hashlib.sha256(xy.tobytes()).hexdigest()[:16],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path, help="a built model's artifact directory")
    parser.add_argument("--epochs", type=int, help="the build's layout with this many epochs (default: the manifest's)")
    parser.add_argument("--twice", action="store_true", help="run the build's layout twice (same hash: reproducible)")
    parser.add_argument("--only", choices=["before", "build"], help="run one variant, in this process")
    args = parser.parse_args()
    if args.only:
        print(json.dumps(run_variant(args.directory, args.only, args.epochs)))
        return
    extra = ["--epochs", str(args.epochs)] if args.epochs else []
    results = {}
    for variant in ["before", "build"] + (["build"] if args.twice else []):
        out = subprocess.run([sys.executable, __file__, str(args.directory), "--only", variant, *extra],
                             check=True, capture_output=True, text=True).stdout
        line = out.strip().splitlines()[-1]
        print(line, flush=True)
        results.setdefault(variant, []).append(json.loads(line))
    before, after = results["before"][0], results["build"][0]
    key = f"kept_{K}_nn_on_map"
    print(json.dumps({
        "time_ratio": round(after["seconds"] / before["seconds"], 3),
        "cpu_ratio": round(after["cpu_seconds"] / before["cpu_seconds"], 3),
        f"{key}_difference": round(after[key] - before[key], 4),
        **({"reproducible": len({r["sha256"] for r in results["build"]}) == 1} if args.twice else {}),
    }))


if __name__ == "__main__":
    main()
