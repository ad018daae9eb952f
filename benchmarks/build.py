"""A serial build against an overlapped one: wall time, peak memory, and the same bytes.

    .venv/bin/python benchmarks/build.py                       (the default models and their comparison)
    .venv/bin/python benchmarks/build.py wordllama-l2 all-MiniLM-L6-v2 --jobs 2 --out /tmp/b
    .venv/bin/python benchmarks/build.py --k 20                (other options go to both builds)

Runs ``python -m precompute build`` twice into two fresh roots (under ``--out``, else a temporary
directory): once with ``--jobs 1`` (one task after another, the order of every build before the
overlap) and once with ``--jobs N`` (tasks in worker processes, each step waiting for the cores it
declares). Prints each wall time and the peak resident memory of its process tree (sampled every
0.2 s), their ratio, and whether every artifact's sha256 (from the manifests) agrees. Timing on a
shared machine is noisy: the processor and the load average are printed beside the figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from precompute.contract import schema  # noqa: E402
from precompute.contract.store import ArtifactDir  # noqa: E402


def file_hashes(root: Path) -> dict[str, str]:
    """Every artifact under ``root`` (models and comparisons): relative path -> the manifest's sha256."""
    hashes = {}
    for manifest in [*root.glob(f"*/{schema.MANIFEST}"), *root.glob(f"{schema.COMPARISONS_DIR}/*/{schema.MANIFEST}")]:
        for name, info in ArtifactDir.open(manifest.parent).manifest["files"].items():
            hashes[f"{manifest.parent.relative_to(root)}/{name}"] = info["sha256"]
    return hashes


def timed_build(command: list[str]) -> tuple[float, int, int]:
    """Run ``command``: (wall seconds, peak RSS of its process tree in bytes, exit status)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT)
    parent = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        rss = 0
        for p in [parent, *parent.children(recursive=True)]:
            try:
                rss += p.memory_info().rss
            except psutil.Error:  # ended between the listing and the reading
                pass
        peak = max(peak, rss)
        time.sleep(0.2)
    return time.perf_counter() - start, peak, process.returncode


def processor() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown processor"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="Models to build (default: --default, with the comparison).")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="Tasks at once in the overlapped build.")
    parser.add_argument("--out", type=Path, help="Folder for the two roots (default: a temporary one, removed).")
    args, extra = parser.parse_known_args()
    what = args.models or ["--default"]
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        roots = {"serial": out / "serial", "overlapped": out / "overlapped"}
        figures = {}
        print(f"{processor()}, {os.cpu_count()} cores, load average before {os.getloadavg()[0]:.2f}")
        for label, jobs in (("serial", 1), ("overlapped", args.jobs)):
            command = [sys.executable, "-m", "precompute", "build", *what, "--quiet", "--jobs", str(jobs),
                       "--artifacts", str(roots[label]), *extra]
            seconds, peak, status = timed_build(command)
            figures[label] = seconds
            print(f"{label:<10} --jobs {jobs}: {seconds:6.1f} s, peak RSS {peak / 2**30:.2f} GiB, exit {status}, "
                  f"load average now {os.getloadavg()[0]:.2f}", flush=True)
            if status != 0:
                sys.exit(f"the {label} build failed (exit {status}): {' '.join(command)}")
        serial, overlapped = file_hashes(roots["serial"]), file_hashes(roots["overlapped"])
        differ = sorted(n for n in serial.keys() | overlapped.keys() if serial.get(n) != overlapped.get(n))
    print(f"overlapped / serial: {figures['overlapped'] / figures['serial']:.2f}")
    print(f"sha256 of all {len(serial)} artifacts agree: {not differ}" + (f" (differ: {', '.join(differ)})" if differ
                                                                            else ""))


if __name__ == "__main__":
    main()
