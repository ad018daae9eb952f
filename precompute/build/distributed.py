"""Builds on a Ray cluster: one task per model, then the comparison, and exact tables split in panels.

``python -m precompute build MODEL… --ray [ADDRESS]`` runs each model's build (the same
``pipeline.build_model``, so the same files) as a Ray task with the resources it needs, and the
default comparison once its models are done; without an address Ray starts on this machine,
``auto`` or an address joins a cluster. Ray retries a task whose worker died; a model that fails
does not stop the others, and the summary says which failed and why.

Every task writes into the artifact root itself, so on a cluster the root must be one shared
filesystem (NFS, a mounted bucket …) that every worker sees at the same path. The per-directory
build lock (precompute.build.locks) keeps a retried task and a late original from writing at once.

One large model can also be split: :func:`top_k_neighbors_on_ray` runs the products of the exact
table's block plan as Ray tasks over the unit rows, put once into Ray's object store, and merges
their partial top-k lists. Each task computes its products with the same blocks and thread slices
as a single process, so the similarities are the same bits and the merged table the same table,
ties included (tested).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from precompute.contract.config import BuildConfig

log = logging.getLogger("precompute")
#: Attempts Ray makes after a worker dies mid-task (a build resumes from its finished steps).
RETRIES = 2


@dataclass(frozen=True)
class TaskResult:
    """What one remote build reports back: its directory, steps, and failures (step -> why)."""

    name: str
    slug: str
    ran: list[str]
    skipped: list[str]
    failed: dict[str, str]
    seconds: float


def start(address: str | None, cpus: int | None = None) -> Any:
    """Connect to Ray: ``None`` starts a local one (``cpus`` of this machine), else join ``address``."""
    try:
        import ray
    except ImportError:
        raise ImportError("--ray needs Ray: pip install ray (it is in requirements.txt)") from None
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
        if address is None:
            kwargs["num_cpus"] = cpus or os.cpu_count()
        else:
            kwargs["address"] = address
        ray.init(**kwargs)
    return ray


def _build_one(name: str, slug: str, root: str, config: dict[str, Any], load: dict[str, Any],
               force: bool, dictionaries: str | None) -> TaskResult:
    """The remote body: load the model and run the ordinary pipeline into ``root/slug``."""
    from precompute.analyses.lexicon import load_muse_dictionaries
    from precompute.build.pipeline import build_model
    from precompute.sources import load_model

    logging.getLogger("precompute").setLevel(logging.INFO)
    start_time = time.perf_counter()
    model = load_model(name, **load)
    report = build_model(model, Path(root), BuildConfig.from_dict(config), slug=slug, force=force,
                         dictionaries=load_muse_dictionaries(Path(dictionaries)) if dictionaries else None,
                         progress=False)
    return TaskResult(name, slug, report.ran, report.skipped, report.failed, time.perf_counter() - start_time)


def _compare(slugs: list[str], root: str, config: dict[str, Any], name: str, force: bool,
             *finished: TaskResult) -> TaskResult:
    """The remote comparison, run once the model tasks it depends on (``finished``) are done."""
    from precompute.build.pipeline import build_comparison

    start_time = time.perf_counter()
    report = build_comparison(slugs, Path(root), BuildConfig.from_dict(config), name=name, force=force,
                              progress=False)
    return TaskResult(f"comparison {name}", name, report.ran, report.skipped, report.failed,
                      time.perf_counter() - start_time)


def build_models(
    models: list[tuple[str, str]], root: Path, config: BuildConfig, *, address: str | None = None,
    load: dict[str, Any] | None = None, force: bool = False, dictionaries: str | None = None,
    comparison: str | None = None,
) -> dict[str, TaskResult | str]:
    """Build ``models`` ((name, slug) pairs) as Ray tasks; then ``comparison`` of them, if named.

    Returns, per model name (and ``comparison <name>``), its TaskResult, or the reason it failed.
    A CUDA build asks each task for a GPU; a CPU build for the cores it will use.
    """
    ray = start(address)
    # A task asks for the threads its build will use (--n-jobs; 0: this machine's cores), so that two
    # builds never share cores they each count on, and threads match a local build's (same bits).
    resources: dict[str, Any] = {"num_cpus": _threads(config), "max_retries": RETRIES}
    if config.device == "cuda":
        resources["num_gpus"] = 1
    build = ray.remote(**resources)(_build_one)
    pending = {build.remote(name, slug, str(root), config.to_dict(), load or {}, force, dictionaries): name
               for name, slug in models}
    results: dict[str, TaskResult | str] = {}
    refs = list(pending)
    while refs:
        done, refs = ray.wait(refs, num_returns=1)
        name = pending[done[0]]
        try:
            result = ray.get(done[0])
            results[name] = result
            log.warning("done %d/%d: %s, %d steps built, %d current, %d failed, in %.0f s", len(results),
                        len(models), name, len(result.ran), len(result.skipped), len(result.failed), result.seconds)
        except Exception as e:  # a task that raised (a model that cannot be loaded) or died past its retries
            results[name] = _reason(e)
            log.warning("done %d/%d: %s FAILED: %s", len(results), len(models), name, results[name])
    ok = [slug for name, slug in models if isinstance(results[name], TaskResult) and not results[name].failed]
    if comparison and len(ok) >= 2:
        compare = ray.remote(num_cpus=_threads(config), max_retries=RETRIES)(_compare)
        key = f"comparison {comparison}"
        try:
            results[key] = ray.get(compare.remote(ok, str(root), config.to_dict(), comparison, force))
        except Exception as e:
            results[key] = _reason(e)
    return results


def _threads(config: BuildConfig) -> int:
    return config.n_jobs or os.cpu_count() or 1


def _reason(error: Exception) -> str:
    """The cause of a failed task in one line (Ray wraps a task's exception with its traceback)."""
    cause = getattr(error, "cause", None) or error
    return f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}"


def _panel(unit: np.ndarray, width: int, labels: np.ndarray, plan: list, block: int, threads: int,
           products: str) -> tuple[np.ndarray, np.ndarray]:
    """The remote body of one panel: the best ``width`` entries over the products of ``plan`` (CPU)."""
    import torch

    from precompute.knn.neighbors import _exact_top_k

    return _exact_top_k(unit, width, labels=labels, plan=plan, block_size=block, device=torch.device("cpu"),
                        n_threads=threads, progress=False, products=products)


def top_k_neighbors_on_ray(
    embeddings: np.ndarray, k: int, *, tasks: int, valid: np.ndarray | None = None, block_size: int = 0,
    n_threads: int = 0, address: str | None = None, products: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`precompute.knn.neighbors.top_k_neighbors`, its products split into ``tasks`` Ray tasks (CPU).

    The block plan is cut into ``tasks`` parts of about equal work (whole row blocks each); every
    task reads the unit rows from the object store (put once) and returns its partial top-k.
    ``n_threads`` is the thread count of each task's products: the same as a local build's
    (0: this machine's cores) gives the same bits, hence the same table. ``products`` as there
    (chosen here, on the driver, for every task; the rescoring of a bfloat16 filter runs here too).
    """
    from precompute.knn.neighbors import block_plan, merge_top_k, panel_blocks, prepare_search

    ray = start(address)
    search = prepare_search(embeddings, k, valid=valid, device="cpu", block_size=block_size, products=products)
    threads = n_threads or os.cpu_count() or 1
    plan = block_plan(len(search.unit), search.block, panel_blocks(search.device) * search.block)
    parts = _split(plan, tasks)
    unit_ref, labels_ref = ray.put(search.unit), ray.put(search.order)
    panel = ray.remote(num_cpus=threads, max_retries=RETRIES)(_panel)
    results = ray.get([panel.remote(unit_ref, search.width, labels_ref, part, search.block, threads, search.products)
                       for part in parts])
    return search.finish(*merge_top_k(results, search.width), n_threads=n_threads)


def _split(plan: list, tasks: int) -> list[list]:
    """``plan`` in at most ``tasks`` parts of near-equal work, each part whole row blocks."""
    rows: dict[int, list] = {}
    for product in plan:
        rows.setdefault(product[0], []).append(product)
    work = {r0: sum((r1 - r0_) * (c1 - c0) for r0_, r1, c0, c1 in ps) for r0, ps in rows.items()}
    target = sum(work.values()) / max(1, tasks)
    parts: list[list] = [[]]
    done = 0.0
    for r0, products in rows.items():
        if done >= target * len(parts) and len(parts) < tasks:
            parts.append([])
        parts[-1].extend(products)
        done += work[r0]
    return [p for p in parts if p]
