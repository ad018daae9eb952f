"""The overlapped build's scheduler replayed on measured step times: pool sizes and backfill compared.

    .venv/bin/python benchmarks/schedule.py                      (the models and comparison in artifacts/)
    .venv/bin/python benchmarks/schedule.py --artifacts DIR --runs 500 --cores 2

Reads each model's and the default comparison's step seconds from their manifests (as the build that
wrote them measured them) and replays ``precompute.build.schedule``'s own rules on them: the start order,
the first page's lead, and ``grants`` with a given ``backfill``. A step's time varies from one build to
the next with the load, so each run scales every step by a factor drawn from ±``--spread``; the same
draws for every setting, so the settings are paired. Prints, per pool size (the cores, one more) and
backfill (0: a narrower step never starts before a waiting wider one, the rule before), the median and
90th percentile of the whole build and of the first model's end, and the median's ratio to the cores
without backfill. Reading a model (a second or two, in no manifest) counts as ``LOAD`` seconds for every
model, so the models start in turn, as ``in_turn`` makes them (a real build's readings differ); a step
timed in a build beside others carries that build's waits for memory and caches, not for cores (a step
holds its cores from its start), so the simulation's figures are close to, not equal to, a real build's.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from precompute.build.schedule import ModelTask, Request, grants, start_order  # noqa: E402
from precompute.contract import schema  # noqa: E402
from precompute.steps import discover, ordered  # noqa: E402

#: Seconds a worker takes to read a model before its first step (single-threaded).
LOAD = 1.5


@dataclass
class Task:
    name: str
    size: int | None  # the embedding matrix's elements: the lead and the priorities use it
    steps: list[tuple[int, float]]  # (threads, seconds) in order; threads 0: every core


def read_tasks(root: Path, comparison: str = "default") -> tuple[list[Task], Task | None]:
    """The models under ``root`` with their step times, and the comparison ``comparison`` (None if absent)."""
    steps = ordered(discover())

    def timed(manifest: dict) -> list[tuple[int, float]]:
        done = manifest["steps"]
        return [(s.threads, float(done[s.name]["seconds"])) for s in steps if s.name in done]

    models = []
    for path in sorted(root.glob(f"*/{schema.MANIFEST}")):
        manifest = json.loads(path.read_text())
        if manifest.get("kind", "model") != "model":
            continue
        model = manifest.get("model", {})
        size = int(model["vocab_size"]) * int(model["dim"]) if "vocab_size" in model and "dim" in model else None
        models.append(Task(path.parent.name, size, [(1, LOAD), *timed(manifest)]))
    path = root / schema.COMPARISONS_DIR / comparison / schema.MANIFEST
    compared = None
    if path.exists():
        compared = Task(f"{schema.COMPARISONS_DIR}/{comparison}", None, timed(json.loads(path.read_text())))
    return models, compared


def simulate(models: list[Task], compared: Task | None, cores: int, jobs: int, backfill: int,
             scale: dict[str, list[float]]) -> tuple[float, float]:
    """One build: (seconds to the last task's end, seconds to the first model's end)."""
    order = [m.name for m in start_order([ModelTask(t.name, t.name, load=lambda: None, size=t.size) for t in models])]
    by_name = {t.name: t for t in [*models, *([compared] if compared else [])]}
    pending, waiting, running, ends = list(order), [], {}, {}
    free, now, arrivals, events = cores, 0.0, 0, []
    rank = {name: i for i, name in enumerate(order)}

    def ask(name: str) -> None:
        nonlocal arrivals
        arrivals += 1
        threads = by_name[name].steps[running[name]][0] or cores
        waiting.append(Request(name, min(threads, cores), (-(by_name[name].size or 0), rank.get(name, len(rank))),
                               arrivals))

    while True:
        while len(running) < jobs and pending:
            running[pending[0]] = 0
            ask(pending.pop(0))
        if not pending and not running and compared and compared.name not in ends and compared.name not in running:
            running[compared.name] = 0
            ask(compared.name)
        building = [n for n in running if n in rank]
        lead = None if any(n in rank for n in ends) else min(building, key=lambda n: (by_name[n].size or 0, rank[n]),
                                                             default=None)
        for request in grants(waiting, free, lead, backfill):
            waiting.remove(request)
            free -= request.threads
            step = running[request.task]
            seconds = by_name[request.task].steps[step][1] * scale[request.task][step]
            heapq.heappush(events, (now + seconds, request.task, request.threads))
        if not events:
            break
        now, name, threads = heapq.heappop(events)
        free += threads
        running[name] += 1
        if running[name] == len(by_name[name].steps):
            del running[name]
            ends[name] = now
        else:
            ask(name)
    return max(ends.values()), min(ends[n] for n in rank)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifacts", type=Path, default=ROOT / "artifacts")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--spread", type=float, default=0.2, help="Each step's time varies by ± this share.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    models, compared = read_tasks(args.artifacts)
    if len(models) < 2:
        raise SystemExit(f"error: {args.artifacts} holds {len(models)} built model(s); build some first")
    rng = random.Random(args.seed)
    tasks = [*models, *([compared] if compared else [])]
    draws = [{t.name: [rng.uniform(1 - args.spread, 1 + args.spread) for _ in t.steps] for t in tasks}
             for _ in range(args.runs)]
    work = sum(s * (th or args.cores) for t in tasks for th, s in t.steps)
    print(f"{len(models)} models{' and their comparison' if compared else ''} from {args.artifacts.name}/: "
          f"{work:.0f} core-seconds of steps, so at least {work / args.cores:.0f} s on {args.cores} cores")
    print(f"{'processes':>9} {'backfill':>8} {'build p50':>10} {'p90':>7} {'ratio':>6} {'first model p50':>16}")
    baseline = None
    for jobs in (args.cores, args.cores + 1):
        for backfill in range(4):
            runs = [simulate(models, compared, args.cores, jobs, backfill, d) for d in draws]
            total = sorted(r[0] for r in runs)
            median = statistics.median(total)
            baseline = baseline or median
            print(f"{jobs:>9} {backfill:>8} {median:>9.1f}s {total[int(0.9 * len(total))]:>6.1f}s "
                  f"{median / baseline:>6.3f} {statistics.median(r[1] for r in runs):>15.1f}s")


if __name__ == "__main__":
    main()
