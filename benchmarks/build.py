"""A build against its baseline: wall time, the first model's end, peak memory, and the same bytes.

    .venv/bin/python benchmarks/build.py                       (serial against overlapped, the default models)
    .venv/bin/python benchmarks/build.py wordllama-l2 all-MiniLM-L6-v2 --jobs 2 --out /tmp/b
    .venv/bin/python benchmarks/build.py --baseline 9829437 --repeats 2   (this tree against a revision)
    .venv/bin/python benchmarks/build.py --k 20                (other options go to every build)

Runs ``python -m precompute build`` into fresh roots (under ``--out``, else a temporary directory), each
from a fresh copy of the ``precompute`` package (no ``__pycache__``: numba compiles its kernels as on a
fresh clone) and with an empty table cache (``$HYPERPOLYGLOT_CACHE``: the dictionaries and word lists are
read as on a fresh clone). Without ``--baseline``: once with ``--jobs 1`` (one task after another, the order of every
build before the overlap) and once overlapped (``--jobs``, default the tree's own). With ``--baseline
REV``: the ``precompute`` package at that git revision against this tree's, each with its own default
``--jobs``, alternating ``--repeats`` times so that both see the same load. Prints each build's wall
time, when its first model was done (from the build's progress file), the peak resident memory of its
process tree (sampled every 0.2 s; shared pages count once per process), the ratio of the medians, and
whether every artifact's sha256 (from the manifests) agrees. Timing on a shared machine is noisy: the
processor and the load average are printed beside the figures.
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

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.comparison import baseline_package, load, machine  # noqa: E402
from precompute.contract import progress, schema  # noqa: E402
from precompute.contract.store import ArtifactDir  # noqa: E402


def file_hashes(root: Path) -> dict[str, str]:
    """Every artifact under ``root`` (models and comparisons): relative path -> the manifest's sha256."""
    hashes = {}
    for manifest in [*root.glob(f"*/{schema.MANIFEST}"), *root.glob(f"{schema.COMPARISONS_DIR}/*/{schema.MANIFEST}")]:
        for name, info in ArtifactDir.open(manifest.parent).manifest["files"].items():
            hashes[f"{manifest.parent.relative_to(root)}/{name}"] = info["sha256"]
    return hashes


def first_model_done(root: Path) -> bool:
    """Whether the build's progress file under ``root`` has a model done."""
    state = progress.read(root)
    return state is not None and any(t.kind == "model" and t.state == "done" for t in state.tasks)


def fresh_copy(code: Path, target: Path) -> Path:
    """``target`` holding a copy of the ``precompute`` package under ``code``, without compiled caches."""
    shutil.copytree(code / "precompute", target / "precompute", ignore=shutil.ignore_patterns("__pycache__"))
    return target


def timed_build(command: list[str], root: Path, code: Path = ROOT) -> dict:
    """Run ``command`` (in ``code``, with an empty table cache) building into ``root``: wall seconds, seconds to
    the first model done (None without), peak RSS of its process tree in bytes, exit status."""
    with tempfile.TemporaryDirectory(prefix="build-bench-cache-") as cache:
        env = {**os.environ, "PYTHONPATH": str(code), schema.CACHE_ENV: cache}
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=code, env=env)
        parent = psutil.Process(process.pid)
        peak, first = 0, None
        while process.poll() is None:
            rss = 0
            for p in [parent, *parent.children(recursive=True)]:
                try:
                    rss += p.memory_info().rss
                except psutil.Error:  # ended between the listing and the reading
                    pass
            peak = max(peak, rss)
            if first is None and first_model_done(root):
                first = time.perf_counter() - start
            time.sleep(0.2)
    return {"seconds": time.perf_counter() - start, "first": first, "peak": peak, "status": process.returncode}


def describe(label: str, run: dict) -> str:
    first = "no model done" if run["first"] is None else f"first model done after {run['first']:.1f} s"
    return (f"{label:<22} {run['seconds']:6.1f} s ({first}), peak RSS {run['peak'] / 2**30:.2f} GiB, "
            f"exit {run['status']}, load average now {load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="Models to build (default: --default, with the comparison).")
    parser.add_argument("--jobs", type=int, help="Tasks at once in the overlapped build (default: the tree's own).")
    parser.add_argument("--baseline", help="git revision (or a directory holding a precompute package) to time this "
                                           "tree's overlapped build against, instead of its serial one")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each, alternating")
    parser.add_argument("--out", type=Path, help="Folder for the roots (default: a temporary one, removed).")
    args, extra = parser.parse_known_args()
    what = args.models or ["--default"]
    jobs = [] if args.jobs is None else ["--jobs", str(args.jobs)]
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        if args.baseline:
            builds = {f"baseline {args.baseline}": (baseline_package(args.baseline, out / "baseline-code"), jobs),
                      "this tree": (ROOT, jobs)}
        else:
            builds = {"serial": (ROOT, ["--jobs", "1"]), "overlapped": (ROOT, jobs)}
        print(f"machine: {machine()}")
        runs: dict[str, list[dict]] = {label: [] for label in builds}
        for repeat in range(args.repeats):
            for i, (label, (code, options)) in enumerate(builds.items()):
                root = out / f"root{i}-{repeat}"
                command = [sys.executable, "-m", "precompute", "build", *what, "--quiet", *options,
                           "--artifacts", str(root), *extra]
                copy = fresh_copy(code, out / f"code{i}-{repeat}")
                runs[label].append(timed_build(command, root, copy) | {"root": root})
                print(describe(label, runs[label][-1]), flush=True)
                if runs[label][-1]["status"] != 0:
                    sys.exit(f"the {label} build failed: {' '.join(command)}")
        (old_label, old), (new_label, new) = runs.items()
        median = {label: statistics.median(r["seconds"] for r in rs) for label, rs in runs.items()}
        print(f"{new_label} / {old_label} (medians of {args.repeats}): {median[new_label]:.1f} / "
              f"{median[old_label]:.1f} s = {median[new_label] / median[old_label]:.3f}")
        a, b = file_hashes(old[-1]["root"]), file_hashes(new[-1]["root"])
        differ = sorted(n for n in a.keys() | b.keys() if a.get(n) != b.get(n))
        print(f"sha256 of all {len(a)} artifacts agree: {not differ}" + (f" (differ: {', '.join(differ)})"
                                                                         if differ else ""))
        print(json.dumps({label: [{k: v for k, v in r.items() if k != "root"} for r in rs]
                          for label, rs in runs.items()}))


if __name__ == "__main__":
    main()
