"""Running the build: every declared step (precompute.steps) against one artifact directory.

The steps themselves live beside their analyses; this module only runs them, in dependency order,
skipping each one whose fingerprint (see ``Step.fingerprint_inputs``) the manifest already holds
with its files intact. Files are written atomically by the store, and the manifest is saved after
every step, so an interrupted build resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from precompute.build import locks
from precompute.contract import rebuild, schema
from precompute.contract.config import BuildConfig
from precompute.contract.indices import valid_rows
from precompute.contract.naming import comparison_name, comparison_task, model_slug
from precompute.contract.store import ArtifactDir, ArtifactError, fingerprint
from precompute.sources.base import ModelData
from precompute.sources.sizes import build_needs
from precompute.steps import BuildContext, DeclaredConfig, Step, StepOutput, discover, params_that_change_artifacts

log = logging.getLogger("precompute")

@dataclass
class BuildReport:
    """What a build did: steps run, skipped and failed (with the error), and where."""

    path: Path
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def name(self) -> str:
        """The model's directory, or comparisons/NAME: what a log line of a side-by-side build says."""
        in_comparisons = self.path.parent.name == schema.COMPARISONS_DIR
        return comparison_task(self.path.name) if in_comparisons else self.path.name


def data_fingerprint(model: ModelData) -> str:
    """Hash of the embedding matrix and the vocabulary: what every model step depends on."""
    h = hashlib.sha256()
    h.update(str(model.embeddings.shape).encode())
    h.update(memoryview(np.ascontiguousarray(model.embeddings)).cast("B"))
    h.update("\x00".join(model.vocab.texts).encode("utf-8", "surrogatepass"))
    h.update(model.vocab.is_special.tobytes())
    return h.hexdigest()[:16]


class StepTracker:
    """Told where a build is: the steps it plans, each step it runs, each one it finishes.

    This one does nothing; precompute.build.schedule's trackers write the build's progress file and,
    in an overlapped build, wait for the cores a step declares before letting it start.
    """

    def plan(self, steps: list[Step]) -> None:
        """The steps this directory's build will go through, in order."""

    @contextlib.contextmanager
    def running(self, step: Step, threads: int) -> Iterator[None]:
        """Around the computation of ``step`` on ``threads`` cores (not entered for a current step)."""
        yield

    def finished(self, step: Step, ok: bool) -> None:
        """``step`` is built or found current (``ok``), or failed or could not run."""


def step_threads(step: Step, config: BuildConfig) -> int:
    """The cores ``step`` runs on: 1 for a single-threaded step, else the build's ``n_jobs`` (0: every core)."""
    return step.threads or config.n_jobs or os.cpu_count() or 1


class StepRunner:
    """Runs declared steps against one artifact directory, skipping current ones."""

    def __init__(self, ctx: BuildContext, report: BuildReport, force: bool = False,
                 tracker: StepTracker | None = None) -> None:
        self.ctx, self.store, self.report, self.force = ctx, ctx.store, report, force
        self.tracker = tracker or StepTracker()

    def run_all(self, steps: list[Step]) -> None:
        """Each step in order; a step whose needs failed is reported as not built."""
        self.tracker.plan(steps)
        bar = tqdm(steps, desc=self.report.name, unit="step", disable=not self.ctx.progress)
        for step in bar:
            bar.set_postfix_str(step.name)
            missing = [n for n in step.needs if n in self.report.failed or n not in self.store.manifest["steps"]]
            if missing:
                self.report.failed[step.name] = f"not built: it needs {', '.join(missing)}, which failed"
                self.tracker.finished(step, ok=False)
                continue
            # The step's own thread count in every build, serial or overlapped: some results (the map's
            # spectral initialisation, BLAS reductions) differ in their last bits with it.
            config = dataclasses.replace(self.ctx.full_config, n_jobs=step_threads(step, self.ctx.full_config))
            self.ctx.config = DeclaredConfig(config, step.name, step.params)
            needs = [self.store.manifest["steps"][n]["fingerprint"] for n in step.needs]
            self.tracker.finished(step, ok=self.run(step, step.fingerprint_inputs(self.ctx, needs)))

    def run(self, step: Step, inputs: list) -> bool:
        """Compute ``step`` unless it is current for ``inputs``; return whether it succeeded."""
        fp = fingerprint(step.name, *inputs)
        if not self.force and self.store.step_is_current(step.name, fp):
            log.info("%s %-13s current, skipped", self.report.name, step.name)
            self.report.skipped.append(step.name)
            return True
        threads = step_threads(step, self.ctx.full_config)
        try:
            with self.tracker.running(step, threads), threadpool_limits(limits=threads):
                log.info("%s %-13s running …", self.report.name, step.name)
                start = time.perf_counter()
                output = step.compute(self.ctx) or {}
                self._write(step, output)
        except (KeyboardInterrupt, ArtifactError, schema.SchemaError):
            raise
        except Exception as e:  # one failing analysis must not lose the others; reported below
            log.exception("%s %s failed", self.report.name, step.name)
            self.report.failed[step.name] = f"{type(e).__name__}: {e}"
            self.store.manifest.setdefault("steps", {}).pop(step.name, None)
            self.store.save_manifest()
            return False
        seconds = time.perf_counter() - start
        self.store.record_step(step.name, fp, seconds, sorted(output))
        log.info("%s %-13s done in %.1f s", self.report.name, step.name, seconds)
        self.report.ran.append(step.name)
        return True

    def _write(self, step: Step, output: StepOutput) -> None:
        if set(output) != set(step.writes):
            raise schema.SchemaError(
                f"step {step.name!r} returned {sorted(output)} but declares it writes {sorted(step.writes)}"
            )
        for name, value in output.items():
            if isinstance(value, np.ndarray):
                self.store.write_array(name, value)
            elif isinstance(value, pd.DataFrame):
                self.store.write_table(name, value)
            else:
                self.store.write_file(name, value, fmt=Path(name).suffix.lstrip("."))


#: Fewest non-zero rows a model needs: the Annoy step measures recall@10 against exact neighbours.
MIN_ROWS = 12


def check_model(model: ModelData, config: BuildConfig) -> None:
    """Refuse, before any work, a model whose neighbour table cannot be built, saying what would work."""
    n = int(valid_rows(model.embeddings).sum())
    name = model.metadata.get("id", "the model")
    if n < MIN_ROWS:
        raise ValueError(
            f"{name} has {n} tokens with a non-zero embedding; a build needs at least {MIN_ROWS} (neighbour "
            "tables and the Annoy recall check need more than 10). Check that the matrix holds the model's "
            "input embeddings, one row per token."
        )
    if config.k >= n:
        k = n - 1
        raise ValueError(
            f"k={config.k} neighbours need more than k tokens with a non-zero embedding, and {name} has {n}: "
            f"pass --k {k} --diversity-ks {' '.join(map(str, sorted({min(x, k) for x in config.diversity_ks})))} "
            f"--meaning-k {min(config.meaning_k, k)}"
        )


def _rebuild_params(steps: list[Step] | None) -> list[str]:
    """What a rebuild command must repeat: every parameter any step reads (so the command also
    passes the checks that relate parameters, such as diversity_ks <= k)."""
    return params_that_change_artifacts([*discover(), *(steps or [])])


def model_dir(root: Path, slug: str) -> Path:
    return root / slug


def _finish(store: ArtifactDir, notes: list[str], report: BuildReport) -> None:
    store.manifest["failed"] = dict(report.failed)  # step -> why, read by verify
    store.manifest["notes"] = notes + [f"step {s} failed: {why}" for s, why in report.failed.items()]
    store.manifest["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    store.save_manifest()


def open_model_dir(
    model: ModelData,
    root: Path,
    config: BuildConfig,
    *,
    slug: str | None = None,
    steps: list[Step] | None = None,
    dictionaries: pd.DataFrame | None = None,
) -> ArtifactDir:
    """The model's artifact directory, opened for building, its manifest naming how to rebuild it."""
    slug = slug or model_slug(str(model.metadata["id"]))
    return ArtifactDir.create(
        model_dir(root, slug),
        rebuild.model_command(model.metadata, slug, root, config, _rebuild_params(steps),
                              None if dictionaries is None else dictionaries.attrs.get("directory")),
        kind="model",
        model={**model.metadata, "slug": slug},
        params=config.to_dict(),
    )


def build_model(
    model: ModelData,
    root: Path,
    config: BuildConfig,
    *,
    slug: str | None = None,
    force: bool = False,
    dictionaries: pd.DataFrame | None = None,
    progress: bool = True,
    steps: list[Step] | None = None,
    wait: bool = True,
    before: Callable[[ArtifactDir], None] | None = None,
    tracker: StepTracker | None = None,
    gemm_flops: float | None = None,
) -> BuildReport:
    """Write (or bring up to date) every artifact of one model under ``root/<slug>``.

    ``steps`` defaults to every model step the package declares (:func:`precompute.steps.discover`).
    A failing step is logged and reported (``BuildReport.failed``) and the steps that do not need
    it still run; steps that need it are reported as failed too. ``dictionaries`` (MUSE pairs from
    ``lexicon.load_muse_dictionaries``) feed the meaning statistics.

    The directory is locked for the whole build (:mod:`precompute.build.locks`; ``wait=False`` raises
    ``locks.Busy`` instead of waiting), and temporary files an interrupted build left are removed
    first. ``before(store)`` runs under the lock before the steps (``precompute frequency`` writes
    its counts there). ``tracker`` is told of each step (precompute.build.schedule: progress, cores).
    ``gemm_flops``: the GEMM rate the logged time estimate uses (default: measured now).
    """
    check_model(model, config)
    log.info("%s: %s", model.metadata.get("id", slug or "the model"),
             build_needs(*model.embeddings.shape, config, gemm_flops=gemm_flops).describe())
    steps = [s for s in (steps if steps is not None else discover()) if s.kind == "model"]
    slug = slug or model_slug(str(model.metadata["id"]))
    with locks.building(model_dir(root, slug), wait=wait):
        store = open_model_dir(model, root, config, slug=slug, steps=steps, dictionaries=dictionaries)
        store.remove_stale_temporaries()
        if before is not None:
            before(store)
        report = BuildReport(store.path)
        store.manifest["data_fingerprint"] = data_fingerprint(model)
        store.save_manifest()
        ctx = BuildContext(store, config, store.manifest["data_fingerprint"], model=model, progress=progress,
                           extra={"dictionaries": dictionaries})
        StepRunner(ctx, report, force, tracker).run_all(steps)
        _finish(store, [], report)
    return report


def build_comparison(
    slugs: list[str],
    root: Path,
    config: BuildConfig,
    *,
    name: str | None = None,
    force: bool = False,
    progress: bool = True,
    steps: list[Step] | None = None,
    wait: bool = True,
    tracker: StepTracker | None = None,
) -> BuildReport:
    """Compare models already built under ``root`` (vocabulary overlap, geometry, shared maps).

    Written to ``root/comparisons/<name>``; ``name`` defaults to the slugs joined by ``__``.
    Holds the models' read locks and the comparison's write lock meanwhile (:mod:`precompute.build.locks`).
    """
    if len(slugs) < 2:
        raise ValueError(f"compare needs at least two models, got {slugs}")
    steps = [s for s in (steps if steps is not None else discover()) if s.kind == "comparison"]
    name = name or comparison_name(slugs)
    path = root / schema.COMPARISONS_DIR / name
    for slug in slugs:  # before locking: a model that was never built gets no lock file either
        ArtifactDir.open(model_dir(root, slug))
    with locks.comparing(path, [model_dir(root, slug) for slug in slugs], wait=wait):
        models: dict[str, tuple[pd.DataFrame, np.ndarray]] = {}
        fingerprints = []
        for slug in slugs:
            d = ArtifactDir.open(model_dir(root, slug))
            models[slug] = (d.load_table(schema.TOKENS), d.load_array(schema.EMBEDDINGS))
            fingerprints.append(d.manifest.get("data_fingerprint"))
        store = ArtifactDir.create(
            path, rebuild.comparison_command(slugs, name, root, config, _rebuild_params(steps)),
            kind="comparison", slug=name, models=slugs, params=config.to_dict(),
        )
        store.remove_stale_temporaries()
        report = BuildReport(store.path)
        ctx = BuildContext(store, config, fingerprints, progress=progress, extra={"models": models, "notes": []})
        StepRunner(ctx, report, force, tracker).run_all(steps)
        _finish(store, ctx.extra["notes"], report)
    return report
