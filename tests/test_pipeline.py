"""The build pipeline on the session's real sample models: contract, skipping, damage, failure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from precompute.build.pipeline import BuildReport, build_model
from precompute.contract import schema
from precompute.contract.store import ArtifactDir
from precompute.steps import Step, discover
from tests.samples import SAMPLES, SMALL_CONFIG, sample_model

#: Every file the declared model steps write (precompute.steps): what each sample must hold.
MODEL_FILES = [name for step in discover() if step.kind == "model" for name in step.writes]


@pytest.fixture(scope="module")
def small_model():
    from precompute.sources import load_model

    return sample_model(load_model("wordllama-l2"), "wordllama-small", size=400)


def test_every_artifact_is_listed_with_its_hash(artifact_root: Path) -> None:
    for slug in SAMPLES.values():
        d = ArtifactDir.open(artifact_root / slug)
        assert d.manifest["kind"] == "model"
        assert sorted(d.manifest["files"]) == sorted(MODEL_FILES)
        for name in MODEL_FILES:
            d.verify(name)
        assert set(d.manifest["steps"]) >= {"tokens", "neighbors", "annoy", "diversity", "separability", "map"}
        assert d.manifest["params"]["k"] == SMALL_CONFIG.k
        assert d.manifest["notes"] == []


def test_token_table_has_the_contract_columns(artifact_root: Path) -> None:
    d = ArtifactDir.open(artifact_root / SAMPLES["use-multilingual-v3"])
    tokens = d.load_table(schema.TOKENS)
    assert tuple(tokens.columns) == schema.TABLES[schema.TOKENS].column_names
    assert len(tokens) == d.manifest["model"]["vocab_size"]
    row = tokens.set_index("text").loc["▁アメリカ"]
    assert row["category"] == "KATAKANA"
    neighbors = d.load_array(schema.NEIGHBORS)
    assert neighbors.shape == (len(tokens), SMALL_CONFIG.k) and neighbors.dtype == np.int32


def test_rebuild_skips_current_steps_and_reruns_what_a_parameter_changes(tmp_path: Path, small_model,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    first = build_model(small_model, tmp_path, SMALL_CONFIG, slug="m", progress=False)
    assert first.ok and first.skipped == []
    caplog.set_level("INFO", logger="precompute")
    again = build_model(small_model, tmp_path, SMALL_CONFIG, slug="m", progress=False)
    assert again.ran == [] and len(again.skipped) == len(first.ran)
    # models build side by side: each line names its model
    assert "m neighbors     current, skipped" in caplog.messages
    assert BuildReport(tmp_path / "comparisons" / "default").name == "comparisons/default"
    from dataclasses import replace

    changed = build_model(small_model, tmp_path, replace(SMALL_CONFIG, meaning_k=5), slug="m", progress=False)
    assert changed.ran == ["meaning"]


def test_a_corrupt_artifact_is_detected_and_rebuilt(tmp_path: Path, small_model) -> None:
    build_model(small_model, tmp_path, SMALL_CONFIG, slug="m", progress=False)
    path = tmp_path / "m" / schema.MAP
    path.write_bytes(path.read_bytes()[:100])
    report = build_model(small_model, tmp_path, SMALL_CONFIG, slug="m", progress=False)
    assert report.ran == ["map"]
    ArtifactDir.open(tmp_path / "m").verify(schema.MAP)


def test_a_failing_step_is_reported_and_the_others_still_built(tmp_path: Path, small_model, monkeypatch) -> None:
    from precompute.analyses import separability

    def broken(*args, **kwargs):
        raise RuntimeError("probe exploded")

    monkeypatch.setattr(separability, "separability_artifacts", broken)
    report = build_model(small_model, tmp_path, SMALL_CONFIG, slug="m", progress=False)
    assert report.failed == {"separability": "RuntimeError: probe exploded"}
    manifest = json.loads((tmp_path / "m" / schema.MANIFEST).read_text())
    assert manifest["notes"] == ["step separability failed: RuntimeError: probe exploded"]
    assert "map" in manifest["steps"] and "separability" not in manifest["steps"]
    assert not (tmp_path / "m" / schema.SEPARABILITY).exists()


def test_each_step_runs_on_the_threads_it_declares(tmp_path: Path, small_model) -> None:
    """1 for a single-threaded step, n_jobs for the others: in every build, so that results that depend on
    the thread count (BLAS reductions) are the same whether the build overlaps models or not."""
    from threadpoolctl import threadpool_info

    seen = {}

    def record(name: str):
        def compute(ctx) -> dict:
            seen[name] = (ctx.config.n_jobs, {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})
            return {}

        return compute

    steps = [Step("single", writes=(), threads=1, compute=record("single")),
             Step("wide", writes=(), compute=record("wide"))]
    build_model(small_model, tmp_path, SMALL_CONFIG, slug="m", progress=False, steps=steps)
    assert seen == {"single": (1, {1}), "wide": (2, {2})}  # SMALL_CONFIG.n_jobs == 2


def test_comparison_of_the_samples(artifact_root: Path) -> None:
    d = ArtifactDir.open(artifact_root / schema.COMPARISONS_DIR / "default")
    assert d.manifest["kind"] == "comparison" and d.manifest["models"] == list(SAMPLES.values())
    overlap = d.load_table(schema.VOCAB_OVERLAP)
    shared = d.load_table(schema.SHARED_TOKENS)
    a, b = SAMPLES.values()
    pair = overlap[(overlap.model_a == a) & (overlap.model_b == b)]
    assert int(pair["n_shared"].iloc[0]) == len(shared) > 0
    geometry = d.load_table(schema.GEOMETRY)
    assert ((geometry["jaccard_mean"] >= 0) & (geometry["jaccard_mean"] <= 1)).all()


def test_copied_artifacts_stay_valid(artifact_root: Path, tmp_path: Path) -> None:
    """Manifests hold no absolute paths: an artifact folder can be moved to a host."""
    shutil.copytree(artifact_root / SAMPLES["wordllama-l2"], tmp_path / "moved")
    d = ArtifactDir.open(tmp_path / "moved")
    assert isinstance(d.load_table(schema.DIVERSITY), pd.DataFrame)


def test_muse_dictionaries_add_translations_and_rebuild_only_meaning(tmp_path: Path, small_model) -> None:
    from precompute.analyses.lexicon import FUNCTION_WORDS, load_muse_dictionaries

    build_model(small_model, tmp_path, SMALL_CONFIG, slug="m", progress=False)
    before = ArtifactDir.open(tmp_path / "m").load_table(schema.MEANING_TOKENS)
    # a token is looked up in its guessed language's file (METHODS §6): b's file is named for b's guess
    guesses = ArtifactDir.open(tmp_path / "m").load_table(schema.TOKENS).set_index("text")["language_guess"]
    words = [t[1:] for t in small_model.vocab.texts if t.startswith("▁") and t[1:].isalpha() and t[1:].islower()
             and pd.notna(guesses[t])]
    a = next(w for w in words if guesses["▁" + w] == "en" and w not in FUNCTION_WORDS)  # names itself (not "the")
    b = next(w for w in words if guesses["▁" + w] != "en")
    (tmp_path / "muse").mkdir()
    (tmp_path / "muse" / f"en-{guesses['▁' + b]}.txt").write_text(f"{a} {b}\nmalformed-line\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="skipped 1 malformed line"):
        dictionaries = load_muse_dictionaries(tmp_path / "muse")
    report = build_model(small_model, tmp_path, SMALL_CONFIG, slug="m", progress=False, dictionaries=dictionaries)
    assert report.ran == ["meaning"]
    after = ArtifactDir.open(tmp_path / "m").load_table(schema.MEANING_TOKENS)
    ids = {small_model.vocab.texts.index("▁" + w) for w in (a, b)}
    assert ids <= set(after["id"]) and not ids <= set(before["id"])
