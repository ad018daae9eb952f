"""Issue #13 on the pages (AppTest over the session's real artifact set): one category vocabulary in every
chart, filters that apply or say they do not, like compared with like, sources a reader can cite."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("streamlit")

from dashboard import charts  # noqa: E402
from precompute.contract import schema  # noqa: E402
from precompute.contract.categories import display_category  # noqa: E402
from tests.test_dashboard_pages import charts_drawn, copied, first_k, manifest, models, opened, run_app  # noqa: E402

CATEGORY_COLUMNS = ("category", "category_a", "category_b", "neighbor_category", "shown_category")


@pytest.mark.parametrize("page", ["diversity", "separability", "norms", "meaning"])
@pytest.mark.parametrize("conv", ["paper", "refined"])
def test_no_raw_category_label_reaches_a_chart(monkeypatch, artifact_root, page, conv):
    at = run_app(monkeypatch, artifact_root, page, conv=conv)
    seen = set()
    for _, datasets in charts_drawn(at):
        for df in datasets.values():
            for column in set(CATEGORY_COLUMNS) & set(df.columns):
                seen |= set(df[column].dropna().astype(str))
    assert seen and seen <= set(charts.CATEGORY_ORDER), seen - set(charts.CATEGORY_ORDER)


def test_diversity_by_frequency_follows_the_filter_and_equals_the_build_unfiltered(monkeypatch, artifact_root):
    k = first_k(artifact_root)
    at = run_app(monkeypatch, artifact_root, "diversity", conv="refined", k=str(k))
    drawn = next(df for _, d in charts_drawn(at) for df in d.values() if "frequency" in df.columns)
    slug = models(artifact_root)[0]
    stored = pd.read_parquet(artifact_root / slug / schema.DIVERSITY_BY_DECILE)
    stored = stored[(stored["k"] == k) & (stored["convention"] == "refined")].sort_values("decile")
    label = manifest(artifact_root, slug)["model"].get("id", slug)
    ours = drawn[drawn["model"] == label].sort_values("decile")
    assert np.allclose(ours["mean"], stored["mean"]) and ours["n_tokens"].tolist() == stored["n_tokens"].tolist()
    latin = run_app(monkeypatch, artifact_root, "diversity", conv="refined", k=str(k), cats="LATIN")
    drawn = next(df for _, d in charts_drawn(latin) for df in d.values() if "frequency" in df.columns)
    assert drawn[drawn["model"] == label]["n_tokens"].sum() < ours["n_tokens"].sum()
    assert any("rows no longer sum" in c.value for c in latin.caption)


def test_neighbours_outside_the_filter_are_marked_and_kept(monkeypatch, artifact_root):
    slug = models(artifact_root)[0]
    k = first_k(artifact_root)
    tokens = pd.read_parquet(artifact_root / slug / schema.TOKENS)
    neighbors = np.load(artifact_root / slug / schema.NEIGHBORS)
    token_id = int(tokens.index[~tokens["is_special"] & ~tokens["is_zero"]][5])
    at = run_app(monkeypatch, artifact_root, "neighbors", q=str(tokens["text"][token_id]), models=slug, k=str(k),
                 cats="LATIN", conv="refined")
    ids = neighbors[token_id, :k][neighbors[token_id, :k] >= 0]
    assert len(at.dataframe[0].value) == len(ids)  # the true list, not filtered
    n_out = int((tokens["category"].iloc[ids].map(display_category) != "LATIN").sum())
    assert any(f"the {n_out} neighbours outside the selected categories" in c.value for c in at.caption)


def test_model_cards_show_the_source_not_the_build_machines_path(monkeypatch, artifact_root):
    at = run_app(monkeypatch, artifact_root, "overview")
    text = " ".join(md.value for md in at.markdown)
    for slug in models(artifact_root):
        model = manifest(artifact_root, slug)["model"]
        assert model["origin"] not in text
        assert f"PyPI {model['package']} {model['revision']}" in text


def test_every_chart_says_how_to_reproduce_it(monkeypatch, artifact_root):
    at = opened(run_app(monkeypatch, artifact_root, "separability"), "reproduce_sep")
    boxes = [e for e in at.expander if e.label == "Reproduce this figure"]
    assert boxes
    code = " ".join(copied(boxes[0]))
    assert "python -m precompute build" in code and "numNeighborCategory" not in code
    assert any("logistic-regression probe" in md.value for md in boxes[0].markdown)


def test_a_filter_that_empties_a_chart_says_so(monkeypatch, artifact_root):
    at = run_app(monkeypatch, artifact_root, "norms", cats="other")
    assert any("No norms for the selected categories" in i.value for i in at.info)
    assert not charts_drawn(at)
