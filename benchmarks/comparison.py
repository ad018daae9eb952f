"""Time the comparison of built models against a baseline revision, and check that it writes the same files.

    .venv/bin/python benchmarks/comparison.py                       # the default models in ./artifacts
    .venv/bin/python benchmarks/comparison.py --artifacts DIR --baseline REV --repeats 2 MODEL MODEL ...

The baseline is the ``precompute`` package as it was at ``--baseline`` (a git revision, read with
``git archive``; the checkout is not touched; or a directory that holds a ``precompute`` package), the
other is this working tree's. Each builds the
comparison of the models (every comparison step, ``force``) in a fresh process, as ``precompute
compare`` does, imports and numba's compilation included, on hard links of the models' directories;
the two alternate ``--repeats`` times, so that both see the same load. Printed: the machine and load,
each run's step seconds and process time, the ratio of the medians, which of the comparison's files
differ by sha256, and, for a shared map that differs, how well each map keeps neighbourhoods: over
2,000 sampled shared tokens, the share of their 10 nearest shared tokens (exact, cosine) among their
10 nearest points on the map (the measure benchmarks/maps.py prints for a model's own map).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from precompute.contract import schema  # noqa: E402
from precompute.contract.store import ArtifactDir  # noqa: E402
from precompute.sources import DEFAULT_MODELS  # noqa: E402

#: The last revision before the comparison reused its own exact neighbour table for the shared maps.
DEFAULT_BASELINE = "083ceeb"
SAMPLE, K = 2000, 10

#: Run in a fresh process whose working directory holds the ``precompute`` package to time.
CHILD = """
import json, resource, sys, time
start = time.perf_counter()
from pathlib import Path
from precompute.build.pipeline import build_comparison
from precompute.contract.config import BuildConfig
root, name, *slugs = sys.argv[1:]
report = build_comparison(slugs, Path(root), BuildConfig(), name=name, force=True, progress=False)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"process_seconds": time.perf_counter() - start, "cpu_seconds": usage.ru_utime + usage.ru_stime,
                  "peak_rss_gb": usage.ru_maxrss / 2**20, "failed": report.failed}))
"""


def machine() -> str:
    """The CPU, whether it has AVX-512, the core count and the load average now."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                "unknown CPU")
    simd = "AVX-512" if " avx512f" in info else "AVX2" if " avx2" in info else "no AVX2"
    return f"{name} ({simd}), {os.cpu_count()} cores, load average {load()}"


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def linked_models(source: Path, target: Path, slugs: list[str]) -> Path:
    """``target`` holding hard links of the models' files (read only by a comparison), nothing copied."""
    for slug in slugs:
        shutil.copytree(source / slug, target / slug, copy_function=os.link,
                        ignore=shutil.ignore_patterns("*.lock", "*.tmp*"))
    return target


def baseline_package(revision: str, target: Path) -> Path:
    """A directory holding the ``precompute`` package at ``revision`` (extracted under ``target``, git state
    untouched), or ``revision`` itself when it is such a directory."""
    if (Path(revision) / "precompute" / "__init__.py").is_file():
        return Path(revision)
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision, "precompute"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def run_once(code: Path, root: Path, name: str, slugs: list[str]) -> dict:
    """One comparison build by the package under ``code``: step seconds, process seconds, files' sha256."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(root), name, *slugs], cwd=code, env=env, check=True,
                         capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    manifest = json.loads((root / schema.COMPARISONS_DIR / name / "manifest.json").read_text())
    result["steps"] = {step: info["seconds"] for step, info in manifest["steps"].items()}
    result["files"] = {file: info["sha256"] for file, info in manifest["files"].items()}
    return result


def kept_on_map(directory: Path, slugs: list[str], models: Path, seed: int = 0) -> dict[str, float]:
    """Per model, the mean share of a sampled shared token's K nearest shared tokens among its K nearest on the map."""
    from sklearn.neighbors import NearestNeighbors

    from precompute.knn.neighbors import top_k_neighbors

    store = ArtifactDir.open(directory)
    shared, maps = store.load_table(schema.SHARED_TOKENS), store.load_table(schema.SHARED_MAP)
    rows = np.random.default_rng(seed).choice(len(shared), size=min(SAMPLE, len(shared)), replace=False)
    kept = {}
    for slug in slugs:
        embeddings = ArtifactDir.open(models / slug).load_array(schema.EMBEDDINGS)
        exact, _ = top_k_neighbors(embeddings[shared[schema.shared_id_column(slug)].to_numpy()], K, progress=False)
        xy = maps[maps["model"] == slug].set_index("text").loc[shared["text"], ["x", "y"]].to_numpy()
        _, near = NearestNeighbors(n_neighbors=K + 1).fit(xy).kneighbors(xy[rows])
        kept[slug] = float(np.mean([len(set(near[i, 1:]) & set(exact[r])) / K for i, r in enumerate(rows)]))
    return kept


def describe(label: str, run: dict) -> str:
    steps = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in run["steps"].items())
    failed = f"; FAILED {run['failed']}" if run["failed"] else ""
    total = sum(run["steps"].values())
    return (f"  {label:<22} {steps}; total {total:.1f} s; process {run['process_seconds']:.1f} s, CPU "
            f"{run['cpu_seconds']:.1f} s, peak RSS {run['peak_rss_gb']:.2f} GiB{failed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=list(DEFAULT_MODELS), help="built models (default: the four)")
    parser.add_argument("--artifacts", type=Path, default=REPO / "artifacts", help="where the models are built")
    parser.add_argument("--baseline", default=DEFAULT_BASELINE,
                        help=f"git revision, or a directory holding a precompute package (default {DEFAULT_BASELINE})")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each, alternating")
    args = parser.parse_args()

    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="comparison-bench-") as tmp:
        work = Path(tmp)
        codes = {f"baseline {args.baseline}": baseline_package(args.baseline, work / "baseline"), "this tree": REPO}
        roots = {label: linked_models(args.artifacts, work / f"models{i}", args.models)
                 for i, label in enumerate(codes)}
        runs: dict[str, list[dict]] = {label: [] for label in codes}
        for repeat in range(args.repeats):
            print(f"run {repeat + 1} of {args.repeats} (load average {load()} at its start)")
            for label, code in codes.items():
                runs[label].append(run_once(code, roots[label], "bench", args.models))
                print(describe(label, runs[label][-1]), flush=True)
        old, new = runs.values()
        totals = [statistics.median(sum(r["steps"].values()) for r in rs) for rs in (old, new)]
        processes = [statistics.median(r["process_seconds"] for r in rs) for rs in (old, new)]
        cpus = [statistics.median(r["cpu_seconds"] for r in rs) for rs in (old, new)]
        print(f"comparison of {', '.join(args.models)} (medians): steps {totals[0]:.1f} s -> {totals[1]:.1f} s "
              f"({totals[1] / totals[0]:.2f}x), process {processes[0]:.1f} s -> {processes[1]:.1f} s "
              f"({processes[1] / processes[0]:.2f}x), CPU {cpus[0]:.1f} s -> {cpus[1]:.1f} s "
              f"({cpus[1] / cpus[0]:.2f}x); load average {load()} at the end")
        differ = sorted(f for f in old[-1]["files"] if old[-1]["files"][f] != new[-1]["files"].get(f))
        print(f"files with the same sha256: {len(old[-1]['files']) - len(differ)} of {len(old[-1]['files'])}"
              + (f"; differ: {', '.join(differ)}" if differ else ""))
        if schema.SHARED_MAP in differ:
            for label in codes:
                kept = kept_on_map(roots[label] / schema.COMPARISONS_DIR / "bench", args.models, roots[label])
                print(f"  shared map, {label}: {K} nearest kept on the map "
                      + ", ".join(f"{slug} {value:.3f}" for slug, value in kept.items()))
        shared = pd.read_parquet(roots["this tree"] / schema.COMPARISONS_DIR / "bench" / schema.SHARED_TOKENS)
        print(f"texts all {len(args.models)} models share: {len(shared):,}; {time.strftime('%H:%M:%S')}")


if __name__ == "__main__":
    main()
