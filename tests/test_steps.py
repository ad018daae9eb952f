"""Steps and tables declared once: a new analysis is one new module, found and run by the pipeline."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from precompute import analyses
from precompute.build.pipeline import build_model
from precompute.contract import schema
from precompute.contract.config import BuildConfig
from precompute.contract.store import ArtifactDir
from precompute.sources.base import ModelData, Vocabulary
from precompute.steps import Step, discover, ordered, params_that_change_artifacts

#: A whole analysis in one file: its table, its step (reading the token table and one parameter).
TOY_MODULE = '''
"""Toy analysis: how many eligible tokens each category has, times the seed (to read a parameter)."""
from precompute.contract import schema
from precompute.steps import Step
from precompute.analyses.tokens import eligible_mask

TOY = schema.declare(schema.Table("toy.parquet", "Per category.", (
    schema.Column("category", "string"), schema.Column("n_tokens", "int64"),
)))


def toy_table(tokens, seed):
    eligible = tokens[eligible_mask(tokens)]
    counts = eligible.groupby("category").size().mul(seed + 1).rename("n_tokens").astype("int64")
    return counts.reset_index().astype({"category": "string"})


STEP = Step("toy", needs=("tokens",), params=("seed",), writes=(TOY,),
            compute=lambda ctx: {TOY: toy_table(ctx.table(schema.TOKENS), ctx.config.seed)})
'''


def tiny_model() -> ModelData:
    """Forty-one tokens in two scripts (and one special), with random vectors."""
    latin = [f"▁{c}{d}" for c in "ab" for d in "abcdefghij"]
    texts = ["<s>", *latin, *[f"▁{c}{d}" for c in "яб" for d in "абвгдежзик"]]
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(len(texts), 8)).astype(np.float32)
    special = np.zeros(len(texts), bool)
    special[0] = True
    return ModelData(Vocabulary(texts, special, np.zeros(len(texts), bool)), emb, {"id": "tiny", "source": "builtin"})


@pytest.fixture
def toy_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on the precompute package's path holding the toy module: as if it were precompute/analyses/toy.py."""
    (tmp_path / "toy.py").write_text(textwrap.dedent(TOY_MODULE), encoding="utf-8")
    monkeypatch.setattr(analyses, "__path__", [*analyses.__path__, str(tmp_path)])
    yield tmp_path
    sys.modules.pop("precompute.analyses.toy", None)
    schema.TABLES.pop("toy.parquet", None)


CONFIG = BuildConfig(k=12, diversity_ks=(5, 12), meaning_k=5, min_category_tokens=5, folds=2, umap_neighbors=3,
                     n_jobs=1)


def test_a_new_module_adds_a_step_and_a_table_with_no_other_file_changed(toy_package: Path, tmp_path: Path) -> None:
    names = [s.name for s in discover()]
    assert names.index("toy") > names.index("tokens")
    report = build_model(tiny_model(), tmp_path / "art", CONFIG.__class__(**{**CONFIG.to_dict(), "seed": 1}),
                         progress=False)
    assert "toy" in report.ran, report.failed
    table = ArtifactDir.open(tmp_path / "art" / "tiny").load_table("toy.parquet")
    assert dict(zip(table["category"], table["n_tokens"], strict=True)) == {"CYRILLIC": 40, "LATIN": 40}
    assert report.ok, report.failed
    # the declared parameter is in the step's fingerprint: another seed rebuilds it, and only the steps reading seed
    again = build_model(tiny_model(), tmp_path / "art", CONFIG, progress=False)
    assert "toy" in again.ran and "tokens" in again.skipped and "neighbors" in again.skipped


def test_a_table_that_drifts_from_its_declaration_is_refused(toy_package: Path, tmp_path: Path) -> None:
    import precompute.analyses.toy as toy

    toy.toy_table = lambda tokens, seed: pd.DataFrame({"category": pd.array(["x"], dtype="string"), "n_tokens": [1.5]})
    with pytest.raises(schema.SchemaError, match="n_tokens.*float64, declared int64"):
        build_model(tiny_model(), tmp_path / "art", CONFIG, progress=False)


def test_reading_an_undeclared_parameter_fails_loudly(tmp_path: Path) -> None:
    sneaky = Step("sneaky", needs=("tokens",), writes=(), compute=lambda ctx: {"k": ctx.config.k} and {})
    steps = [s for s in discover() if s.name in ("embeddings", "tokens")] + [sneaky]
    report = build_model(tiny_model(), tmp_path / "art", CONFIG, steps=steps, progress=False)
    assert "reads build parameter 'k' without declaring it" in report.failed["sneaky"]


def test_order_follows_needs_and_rejects_cycles_and_unknown_needs() -> None:
    def step(name: str, *needs: str) -> Step:
        return Step(name, compute=lambda ctx: {}, writes=(), needs=needs)

    assert [s.name for s in ordered([step("b", "a"), step("a"), step("c", "a", "b")])] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="cycle"):
        ordered([step("a", "b"), step("b", "a")])
    with pytest.raises(ValueError, match="needs \\['nope'\\]"):
        ordered([step("a", "nope")])
    with pytest.raises(ValueError, match="unknown build parameters \\['kk'\\]"):
        Step("x", compute=lambda ctx: {}, writes=(), params=("kk",))


def test_every_declared_step_and_table_of_the_package() -> None:
    steps = discover()
    assert [s.name for s in steps if s.kind == "model"] == [
        "tokens", "neighbors", "annoy", "diversity", "map", "meaning", "norms", "separability", "tokenizer",
        "embeddings"]
    assert [s.name for s in steps if s.kind == "comparison"] == ["compare", "separability_shared"]
    written = {name for s in steps for name in s.writes if name.endswith(".parquet")}
    assert written | {schema.CORPUS_FREQUENCY} == set(schema.TABLES)  # every table has a producer, and a schema
    assert "n_jobs" not in params_that_change_artifacts(steps) and "k" in params_that_change_artifacts(steps)


def test_a_changed_table_declaration_rebuilds_its_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Artifacts built before an upgrade that changed a table's columns are rebuilt, not read back."""
    first = build_model(tiny_model(), tmp_path, CONFIG, progress=False)
    assert first.ok, first.failed
    norms = schema.TABLES[schema.NORMS_BY_CATEGORY]
    changed = schema.Table(norms.name, norms.doc, (*norms.columns, schema.Column("iqr", "float64")))
    monkeypatch.setitem(schema.TABLES, schema.NORMS_BY_CATEGORY, changed)
    again = build_model(tiny_model(), tmp_path, CONFIG, progress=False)
    assert "norms" not in again.skipped and "iqr" in again.failed["norms"]  # run again (and it lacks iqr)
    assert sorted(again.skipped) == sorted(set(first.ran) - {"norms"})  # nothing else
