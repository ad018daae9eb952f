"""Build steps: from a loaded model to its artifact directory, each step skipped when current.

A step's fingerprint hashes its inputs (the model's data fingerprint, the fingerprints of the steps
it reads) and the parameters it uses; when the manifest already holds that fingerprint and the
step's files are intact, the step is skipped. Files are written atomically by the store, and the
manifest is saved after every step, so an interrupted build resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from precompute import schema
from precompute.config import BuildConfig
from precompute.sources.base import ModelData
from precompute.store import ArtifactDir, ArtifactError, fingerprint, slugify

log = logging.getLogger("precompute")

#: A file a step writes itself (e.g. an Annoy index): called with the temporary path, returns
#: facts about the file that the manifest records beside it.
FileWriter = Callable[[Path], dict[str, Any]]
#: What a step returns: artifact file name -> a table, an array or a FileWriter; the runner writes it.
StepOutput = dict[str, pd.DataFrame | np.ndarray | FileWriter]


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


def data_fingerprint(model: ModelData) -> str:
    """Hash of the embedding matrix and the vocabulary: what every model step depends on."""
    h = hashlib.sha256()
    h.update(str(model.embeddings.shape).encode())
    h.update(memoryview(np.ascontiguousarray(model.embeddings)).cast("B"))
    h.update("\x00".join(model.vocab.texts).encode("utf-8", "surrogatepass"))
    h.update(model.vocab.is_special.tobytes())
    return h.hexdigest()[:16]


class StepRunner:
    """Runs named steps against one artifact directory, skipping current ones."""

    def __init__(self, store: ArtifactDir, report: BuildReport, force: bool = False) -> None:
        self.store, self.report, self.force = store, report, force

    def fingerprint_of(self, step: str) -> str:
        return self.store.manifest["steps"][step]["fingerprint"]

    def run(self, step: str, inputs: list[Any], compute: Callable[[], StepOutput | None]) -> bool:
        """Run ``compute`` unless ``step`` is current for ``inputs``; return whether it succeeded."""
        fp = fingerprint(step, *inputs)
        if not self.force and self.store.step_is_current(step, fp):
            log.info("%-13s current, skipped", step)
            self.report.skipped.append(step)
            return True
        log.info("%-13s running …", step)
        start = time.perf_counter()
        try:
            output = compute() or {}
            for name, value in output.items():
                if isinstance(value, np.ndarray):
                    self.store.write_array(name, value)
                elif isinstance(value, pd.DataFrame):
                    self.store.write_table(name, value)
                else:
                    self.store.write_file(name, value, fmt=Path(name).suffix.lstrip("."))
        except (KeyboardInterrupt, ArtifactError):
            raise
        except Exception as e:  # one failing analysis must not lose the others; reported below
            log.exception("%s failed", step)
            self.report.failed[step] = f"{type(e).__name__}: {e}"
            self.store.manifest.setdefault("steps", {}).pop(step, None)
            self.store.save_manifest()
            return False
        seconds = time.perf_counter() - start
        self.store.record_step(step, fp, seconds, sorted(output))
        log.info("%-13s done in %.1f s", step, seconds)
        self.report.ran.append(step)
        return True


def model_dir(root: Path, slug: str) -> Path:
    return root / slug


def build_model(
    model: ModelData,
    root: Path,
    config: BuildConfig,
    *,
    slug: str | None = None,
    force: bool = False,
    dictionaries: pd.DataFrame | None = None,
    progress: bool = True,
) -> BuildReport:
    """Write (or bring up to date) every artifact of one model under ``root/<slug>``.

    Steps: embeddings, tokens, neighbors, annoy, diversity, separability, norms, map, meaning.
    A failing step is logged and reported (``BuildReport.failed``) and the steps that do not need
    it still run; steps that need it are reported as failed too.
    """
    from precompute import annoy_index, diversity, language, maps, meaning, neighbors, norms, separability
    from precompute.tokens import base_token_table, eligible_mask, frequency_deciles

    slug = slug or slugify(str(model.metadata["id"]))
    path = model_dir(root, slug)
    store = ArtifactDir.create(
        path,
        rebuild_hint=f"python -m precompute build {model.metadata['id']} --force",
        kind="model",
        model={**model.metadata, "slug": slug},
        params=config.to_dict(),
    )
    report = BuildReport(path)
    runner = StepRunner(store, report, force)
    data_fp = data_fingerprint(model)
    store.manifest["data_fingerprint"] = data_fp
    store.save_manifest()

    def load_tokens() -> pd.DataFrame:
        return store.load_table(schema.TOKENS)

    def load_neighbors() -> np.ndarray:
        return store.load_array(schema.NEIGHBORS, mmap=False)

    corpus_fp = None
    if store.has(schema.CORPUS_FREQUENCY):
        corpus_fp = store.manifest["files"][schema.CORPUS_FREQUENCY]["sha256"]

    def tokens_by_frequency() -> pd.DataFrame:
        """The token table, its deciles from corpus counts where `precompute frequency` wrote them."""
        table = load_tokens()
        if corpus_fp is not None:
            counts = store.load_table(schema.CORPUS_FREQUENCY)["count"].to_numpy()
            table["frequency_decile"] = frequency_deciles(counts, eligible_mask(table))
        return table

    def tokens_step() -> StepOutput:
        table = base_token_table(model.vocab, model.embeddings)
        texts = model.vocab.texts
        concepts = meaning.concept_columns(texts)
        langs = language.language_columns(
            texts, table["category"].to_numpy(object), concepts["concept_language"].tolist()
        )
        table = pd.concat([table, langs, concepts[["gloss", "concept"]]], axis=1)
        table["frequency_decile"] = frequency_deciles(table["frequency"].to_numpy(), eligible_mask(table))
        return {schema.TOKENS: table[list(schema.TOKEN_COLUMNS)]}

    def neighbors_step() -> StepOutput:
        valid = ~store.load_table(schema.TOKENS, columns=["is_zero"])["is_zero"].to_numpy(bool)
        ids, sims = neighbors.top_k_neighbors(
            model.embeddings, config.k, valid=valid, device=config.device,
            block_size=config.block_size, n_threads=config.n_jobs, progress=progress,
        )
        return {schema.NEIGHBORS: ids, schema.SIMILARITIES: sims}

    def annoy_step() -> StepOutput:
        valid = ~load_tokens()["is_zero"].to_numpy(bool)

        def write(tmp: Path) -> dict[str, Any]:
            store.manifest["annoy"] = annoy_index.build_annoy(
                model.embeddings, tmp, exact_neighbors=load_neighbors(), valid=valid,
                n_trees=config.annoy_trees, search_k=config.annoy_search_k,
                target_recall=config.annoy_target_recall, seed=config.seed, n_jobs=config.n_jobs,
                progress=progress,
            )
            return {}

        return {schema.ANNOY: write}

    steps: list[tuple[str, list[str], list[Any], Callable[[], StepOutput]]] = [
        # (name, steps it reads, parameters it uses, compute)
        ("embeddings", [], [], lambda: {schema.EMBEDDINGS: model.embeddings}),
        ("tokens", [], [], tokens_step),
        ("neighbors", ["tokens"], [config.subset("k")], neighbors_step),
        ("annoy", ["neighbors"], [config.subset("annoy_trees", "annoy_search_k", "annoy_target_recall", "seed")],
         annoy_step),
        ("diversity", ["tokens", "neighbors"], [config.subset("diversity_ks"), corpus_fp],
         lambda: diversity.diversity_artifacts(load_neighbors(), tokens_by_frequency(), config.diversity_ks)),
        ("separability", ["tokens"],
         [config.subset("min_category_tokens", "folds", "pairwise_max_per_class", "seed")],
         lambda: separability.separability_artifacts(model.embeddings, load_tokens(), config, progress=progress)),
        ("norms", ["tokens"], [], lambda: norms.norm_artifacts(load_tokens())),
        ("map", ["tokens"], [config.subset("umap_neighbors", "umap_min_dist", "seed")],
         lambda: {schema.MAP: maps.map_table(model.embeddings, load_tokens(), config, progress=progress)}),
        ("meaning", ["tokens", "neighbors"], [config.subset("meaning_k"), _frame_fingerprint(dictionaries)],
         lambda: meaning.meaning_artifacts(load_neighbors(), load_tokens(), config.meaning_k, dictionaries)),
    ]
    bar = tqdm(steps, desc=slug, unit="step", disable=not progress)
    for name, needs, params, compute in bar:
        bar.set_postfix_str(name)
        missing = [n for n in needs if n in report.failed or n not in store.manifest.get("steps", {})]
        if missing:
            report.failed[name] = f"not built: it needs {', '.join(missing)}, which failed"
            continue
        inputs = [data_fp, *[runner.fingerprint_of(n) for n in needs], *params]
        runner.run(name, inputs, compute)

    store.manifest["notes"] = [f"step {s} failed: {why}" for s, why in report.failed.items()]
    store.manifest["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    store.save_manifest()
    return report


def _frame_fingerprint(frame: pd.DataFrame | None) -> str | None:
    if frame is None:
        return None
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()[:16]


def build_comparison(
    slugs: list[str],
    root: Path,
    config: BuildConfig,
    *,
    name: str | None = None,
    force: bool = False,
    progress: bool = True,
) -> BuildReport:
    """Compare models already built under ``root`` (vocabulary overlap, geometry, shared maps).

    Written to ``root/comparisons/<name>``; ``name`` defaults to the slugs joined by ``__``.
    """
    from precompute.comparison import compare_artifacts

    if len(slugs) < 2:
        raise ValueError(f"compare needs at least two models, got {slugs}")
    name = name or "__".join(slugs)
    models: dict[str, tuple[pd.DataFrame, np.ndarray]] = {}
    fingerprints = []
    for slug in slugs:
        d = ArtifactDir.open(model_dir(root, slug), rebuild_hint=f"python -m precompute build {slug}")
        models[slug] = (d.load_table(schema.TOKENS), d.load_array(schema.EMBEDDINGS))
        fingerprints.append(d.manifest.get("data_fingerprint"))
    store = ArtifactDir.create(
        root / schema.COMPARISONS_DIR / name,
        rebuild_hint=f"python -m precompute compare {' '.join(slugs)} --name {name} --force",
        kind="comparison", slug=name, models=slugs, params=config.to_dict(),
    )
    report = BuildReport(store.path)
    runner = StepRunner(store, report, force)
    notes: list[str] = []

    def compare() -> StepOutput:
        tables, step_notes = compare_artifacts(models, config, progress=progress)
        notes.extend(step_notes)
        return tables

    runner.run("compare", [fingerprints, config.subset("k", "umap_neighbors", "umap_min_dist", "seed")], compare)
    if notes or "compare" in report.failed:
        store.manifest["notes"] = notes + [f"step {s} failed: {why}" for s, why in report.failed.items()]
    store.manifest["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    store.save_manifest()
    return report
