"""Serial builds against builds through Ray, on this machine: time, overhead, and identical files.

    .venv/bin/python benchmarks/ray_build.py [MODEL ...]      (default: the default models)

Builds the models into two fresh roots, once one after the other in this process and once as Ray
tasks on a local Ray with this machine's cores, prints both wall times, Ray's overhead in percent,
and whether every file is byte-identical (manifest timing fields aside). On a 2-core machine the
point is the overhead and the identity, not a speed-up: two builds share the same two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from precompute.build.distributed import build_models  # noqa: E402
from precompute.build.pipeline import build_model  # noqa: E402
from precompute.contract.bundle import sha256_of  # noqa: E402
from precompute.contract.config import BuildConfig  # noqa: E402
from precompute.contract.naming import model_slug  # noqa: E402
from precompute.sources import DEFAULT_MODELS, load_model  # noqa: E402


def contents(directory: Path) -> dict[str, object]:
    files = {p.name: sha256_of(p) for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")
             and p.name != "manifest.json"}
    manifest = json.loads((directory / "manifest.json").read_text())
    for step in manifest["steps"].values():
        step.pop("seconds", None)
        step.pop("finished_at", None)
    for key in ("built_at", "rebuild"):
        manifest.pop(key, None)
    manifest.get("annoy", {}).pop("build_seconds", None)
    return {**files, "manifest": manifest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=list(DEFAULT_MODELS))
    args = parser.parse_args()
    config = BuildConfig()
    with tempfile.TemporaryDirectory() as tmp:
        serial, parallel = Path(tmp) / "serial", Path(tmp) / "ray"
        start = time.perf_counter()
        for name in args.models:
            report = build_model(load_model(name), serial, config, progress=False)
            print(f"serial  {name}: {len(report.ran)} steps, failed {sorted(report.failed)}")
        serial_seconds = time.perf_counter() - start
        start = time.perf_counter()
        results = build_models([(name, model_slug(name)) for name in args.models], parallel, config)
        ray_seconds = time.perf_counter() - start
        for name, result in results.items():
            print(f"ray     {name}: {result if isinstance(result, str) else f'{result.seconds:.0f} s in its task'}")
        same = all(contents(serial / model_slug(n)) == contents(parallel / model_slug(n)) for n in args.models)
    print(f"cores {os.cpu_count()}, models {', '.join(args.models)}")
    print(f"serial {serial_seconds:.0f} s, Ray {ray_seconds:.0f} s (Ray start included): "
          f"overhead {100 * (ray_seconds / serial_seconds - 1):+.1f}%")
    print(f"files byte-identical (timing fields aside): {same}")


if __name__ == "__main__":
    main()
