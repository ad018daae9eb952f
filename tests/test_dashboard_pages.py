"""The dashboard's pages, driven by Streamlit's AppTest against the real artifact set (conftest)."""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from dashboard import charts, mapdata, pages, state, tables, ui  # noqa: E402
from dashboard.components import copybox  # noqa: E402
from precompute.contract import schema  # noqa: E402
from precompute.contract.categories import PLOTTED, WRITING_SYSTEMS, display_category  # noqa: E402
from precompute.steps import discover  # noqa: E402

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
#: The declared pages (dashboard.pages), by name: what the router serves.
PAGES = {p.name: p for p in pages.discover().pages}


def run_app(monkeypatch: pytest.MonkeyPatch, root: Path, page: str = "overview", app: Path = APP,
            **params: str | list[str]) -> AppTest:
    """The app over ``root``, opened with ``params`` in the URL, on the page named ``page``."""
    monkeypatch.setenv(schema.ARTIFACTS_ENV, str(root))
    at = AppTest.from_file(str(app), default_timeout=30)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    if page != "overview":
        at.switch_page(str(app.parent / "app_pages" / f"{page}.py"))
        at.run()
    assert not at.exception, at.exception
    return at


def models(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if (p / schema.MANIFEST).exists())


def manifest(root: Path, slug: str) -> dict:
    return json.loads((root / slug / schema.MANIFEST).read_text())


def first_k(root: Path) -> int:
    return int(manifest(root, models(root)[0])["params"]["diversity_ks"][0])


def copied(node) -> list[str]:
    """The texts offered for copying (share links, rebuild commands: ``dashboard.components.copybox``) under
    ``node``."""
    return [json.loads(c.proto.json) for c in node.get("bidi_component") if c.proto.component_name == copybox.NAME]


def opened(at: AppTest, *keys: str) -> AppTest:
    """``at`` run again with the boxes ``keys`` open, as a reader's click opens them: they are filled only then
    ("Copy link to this view": ``share_link``; "Reproduce this figure": ``reproduce_`` and the figure's key)."""
    for key in keys:
        at.session_state[key] = True
    return at.run()


def figures(at: AppTest) -> set[tuple[str, str, str | None]]:
    """The headline figures of a run (``ui.figure``): label, number, and the note under it."""
    found = set()

    def walk(node) -> None:
        kids = list(getattr(node, "children", {}).values())
        for metric in (k for k in kids if k.type == "metric"):
            notes = [k.value for k in kids if k.type == "caption"]
            found.add((metric.label, metric.value, notes[0] if notes else None))
        for kid in kids:
            walk(kid)

    walk(at.main)
    return found


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(monkeypatch, artifact_root, page):
    from dashboard import ui

    at = run_app(monkeypatch, artifact_root, page)
    assert not at.error, [e.value for e in at.error]
    assert at.title
    # every chart is followed by its "Reproduce this figure" box, which exports it (none left for another box)
    assert [key for key, _ in at.session_state[ui.DRAWN_KEY]] == []


def chance_at(root: Path, slug: str, k: int, convention: str) -> pd.Series:
    chance = pd.read_parquet(root / slug / schema.DIVERSITY_CHANCE)
    return chance[(chance["convention"] == convention) & (chance["k"] == k)].iloc[0]


@pytest.mark.parametrize("conv", [None, "refined"], ids=["default-paper", "refined"])
def test_overview_headline_numbers_come_from_the_tables(monkeypatch, artifact_root, conv):
    """Each model's findings under the chosen conventions (the paper's by default), beside chance."""
    k = first_k(artifact_root)
    convention = conv or "paper"
    suffix = "_paper" if convention == "paper" else ""
    at = run_app(monkeypatch, artifact_root, k=str(k), **({"conv": conv} if conv else {}))
    metrics = figures(at)
    expected = set()
    for slug in models(artifact_root):
        chance = chance_at(artifact_root, slug, k, convention)
        values = pd.read_parquet(artifact_root / slug / schema.DIVERSITY)[f"n_categories_at_{k}{suffix}"]
        n = len(values)
        expected.add((f"Categories in {k}-NN", f"{values.mean():.2f}",
                      f"std {values.std(ddof=1):.2f} over {n:,} tokens · chance {chance['expected_random']:.2f}, "
                      f"shuffled {chance['permutation_mean']:.2f} (over {n:,} tokens)"))
    assert {m for m in metrics if m[0] == f"Categories in {k}-NN"} == expected
    sep = sorted(v for label, v, _ in metrics if label == "Separability")
    probes = {slug: pd.read_parquet(artifact_root / slug / schema.SEPARABILITY) for slug in models(artifact_root)}
    expected = [f"{p[p['convention'] == convention]['mean'].mean():.1%}" for p in probes.values()]  # every probe
    assert sep == sorted(expected)
    assert any(f"Conventions: {convention} (" in c.value for c in at.caption)


def test_overview_puts_the_papers_figures_beside_ours_under_its_conventions(monkeypatch, artifact_root):
    """The paper's 7.61 is numNeighborCategory@50 under its conventions: the table sets our value at the paper's
    k (50; the sample models stop at 20, so the test moves the paper's k to one they have) under the paper's
    conventions, whatever the sidebar says (here: refined, another k), each beside its chance value."""
    from precompute.contract import paper

    k = first_k(artifact_root) * 2
    monkeypatch.setattr(paper, "K", k)
    at = run_app(monkeypatch, artifact_root, k=str(first_k(artifact_root)), conv="refined")
    table = at.dataframe[0].value.set_index("source")
    mean, std = f"categories@{k}: mean", f"categories@{k}: std"
    papers = table.iloc[0]
    assert (papers[mean], papers[std], papers["separability"]) == ("7.61", "4.24; 0.98", "99.2%")
    for slug in models(artifact_root):
        values = pd.read_parquet(artifact_root / slug / schema.DIVERSITY)[f"n_categories_at_{k}_paper"]
        chance = chance_at(artifact_root, slug, k, "paper")
        probes = pd.read_parquet(artifact_root / slug / schema.SEPARABILITY)
        assert table.loc[slug].to_dict() == {
            mean: f"{values.mean():.2f} (chance {chance['expected_random']:.2f})",
            std: f"{values.std(ddof=1):.2f} (chance {chance['permutation_sd']:.2f})",
            "separability": f"{probes[probes['convention'] == 'paper']['mean'].dropna().mean():.1%}"}


def test_no_artifacts_page_says_how_to_build(monkeypatch, tmp_path):
    at = run_app(monkeypatch, tmp_path / "empty")
    codes = [c.value for c in at.code]
    assert "make run" in codes and "python -m precompute build --default" in codes
    assert any("No model artifacts" in w.value for w in at.warning)


def test_neighbours_of_a_token_are_the_exact_table(monkeypatch, artifact_root):
    slug = models(artifact_root)[0]
    tokens = pd.read_parquet(artifact_root / slug / schema.TOKENS)
    neighbors = np.load(artifact_root / slug / schema.NEIGHBORS)
    token_id = int(tokens.index[~tokens["is_special"] & ~tokens["is_zero"]][5])
    k = first_k(artifact_root)
    at = run_app(monkeypatch, artifact_root, "neighbors", q=str(tokens["text"][token_id]), models=slug, k=str(k))
    table = at.dataframe[0].value
    expected = tokens["text"].to_numpy()[neighbors[token_id, :k][neighbors[token_id, :k] >= 0]]
    assert list(table["token"]) == list(expected)
    assert at.text_input(key="q").value == tokens["text"][token_id]


def test_neighbours_preset_and_unknown_token(monkeypatch, artifact_root):
    at = run_app(monkeypatch, artifact_root, "neighbors", q='"zzzqqqxx-not-a-token"')  # in quotes: one piece
    assert any("has no token exactly 'zzzqqqxx-not-a-token'" in i.value for i in at.info)
    # as a word, each model's tokenizer splits it: the split and the mean of its pieces (Annoy)
    at = run_app(monkeypatch, artifact_root, "neighbors", q="zzzqqqxx-not-a-token")
    split = [c.value for c in at.caption if c.value.startswith("zzzqqqxx-not-a-token → ")]
    unknown = [i.value for i in at.info if "reads 'zzzqqqxx-not-a-token' as " in i.value]
    assert len(split) + len(unknown) == 2 and all("approximate (Annoy)" in c for c in split), (split, unknown)
    # the samples keep the poster's examples (tests/samples.py KEEP): all three are offered
    presets = [b for b in at.button if b.key and b.key.startswith("nb_preset_")]
    assert [b.label for b in presets] == ["när", "アメリカ", "Comment"]
    presets[1].click().run()
    assert not at.exception
    assert at.query_params["q"] == "アメリカ"
    assert at.text_input(key="q").value == "アメリカ"
    assert [df.value["token"].iloc[0] for df in at.dataframe]  # a table per model that has the token


@pytest.mark.parametrize("cats", ["LATIN,CYRILLIC", ["LATIN", "CYRILLIC"]], ids=["old-comma-link", "repeated"])
def test_query_parameters_round_trip(monkeypatch, artifact_root, cats):
    slug = models(artifact_root)[-1]
    k = first_k(artifact_root)
    at = run_app(monkeypatch, artifact_root, "map", models=slug, cats=cats, k=str(k), layout="pca", color="norm")
    assert at.multiselect(key="models").value == [slug]
    assert at.multiselect(key="cats").value == ["LATIN", "CYRILLIC"]
    assert at.select_slider(key="k").value == k
    assert at.segmented_control(key="layout").value == "pca" and at.selectbox(key="color").value == "norm"
    assert not at.warning
    # the URL holds the view, lists as repeated parameters (links with commas were rewritten once)
    expected = {"models": slug, "cats": ["LATIN", "CYRILLIC"], "k": str(k), "layout": "pca", "color": "norm"}
    assert {name: at.query_params[name] for name in expected} == expected
    # moving to another page keeps the sidebar's state in the URL
    at.switch_page(str(PAGES["diversity"].file)).run()
    assert not at.exception
    assert at.query_params["models"] == slug and at.query_params["k"] == str(k)
    assert at.multiselect(key="cats").value == ["LATIN", "CYRILLIC"]
    # back on the Map, its own settings come back
    at.switch_page(str(PAGES["map"].file)).run()
    assert at.segmented_control(key="layout").value == "pca" and at.selectbox(key="color").value == "norm"


def test_category_preset_button(monkeypatch, artifact_root):
    at = run_app(monkeypatch, artifact_root)
    at.button(key="preset_writing_systems").click().run()
    assert at.multiselect(key="cats").value == list(WRITING_SYSTEMS)
    assert at.query_params["cats"] == list(WRITING_SYSTEMS)


@pytest.mark.parametrize("params", [
    {"models": "no-such-model"},
    {"k": "-3"},
    {"k": "9" * 400},
    {"cats": "<script>alert(1)</script>"},
    {"layout": "<b>x</b>", "color": "\ufffd\ufffd"},
    {"q": "x" * 5000},
])
def test_nonsense_urls_warn_and_render(monkeypatch, artifact_root, params):
    page = "neighbors" if "q" in params else "map" if "layout" in params else "overview"
    at = run_app(monkeypatch, artifact_root, page, **params)
    assert at.warning, "expected a visible warning"
    assert not at.exception


def test_broken_manifest_and_missing_file(monkeypatch, artifact_root, tmp_path):
    root = tmp_path / "artifacts"
    shutil.copytree(artifact_root, root)
    good, other = models(root)[:2]
    (root / other / schema.MANIFEST).write_text("{not json")
    (root / good / schema.MAP).unlink()
    at = run_app(monkeypatch, root, "map")
    assert any(other in w.value for w in at.warning)
    # a file the build wrote that has gone since is "missing" (an error), not "not built"
    assert any(f"{schema.MAP} is missing" in e.value and manifest(root, good)["rebuild"] in e.value for e in at.error)


def test_corrupt_file_shows_the_rebuild_command(monkeypatch, artifact_root, tmp_path):
    root = tmp_path / "artifacts"
    shutil.copytree(artifact_root, root)
    slug = models(root)[0]
    (root / slug / schema.SEPARABILITY).write_bytes(b"garbage")
    at = run_app(monkeypatch, root, "separability", models=slug)
    rebuild = manifest(root, slug)["rebuild"]  # the command the build recorded (precompute.contract.rebuild)
    assert any("corrupt" in e.value and rebuild in e.value for e in at.error), [e.value for e in at.error]


def test_vector_expression_is_answered_by_annoy(monkeypatch, artifact_root):
    pytest.importorskip("precompute.knn.annoy_index")
    slug = models(artifact_root)[0]
    tokens = pd.read_parquet(artifact_root / slug / schema.TOKENS)
    usable = tokens[~tokens["is_special"] & ~tokens["is_zero"] & ~tokens["text"].str.contains(r"[\s,()\"]")]
    a, b, c = usable["text"].iloc[10:13]
    k = first_k(artifact_root)
    # in quotes: the pieces as they are (a bare text is a word, split by the model's tokenizer)
    at = run_app(monkeypatch, artifact_root, "neighbors", q=f'"{a}" - "{b}" + "{c}"', models=slug, k=str(k))
    table = at.dataframe(key=f"nb_table_{slug}").value
    assert len(table) == k
    assert not {a, b, c} & set(table["token"])
    assert table["similarity"].is_monotonic_decreasing


@pytest.mark.parametrize("conv", ["paper", "refined"])
def test_separability_lists_the_categories_too_small_to_probe(monkeypatch, artifact_root, conv):
    at = run_app(monkeypatch, artifact_root, "separability", conv=conv)
    skipped = 0
    for s in models(artifact_root):
        probes = pd.read_parquet(artifact_root / s / schema.SEPARABILITY)
        skipped += int(probes[probes["convention"] == conv]["mean"].isna().sum())
    assert skipped > 0, "the sample models have categories below min_category_tokens"
    assert [e.label for e in at.expander if e.label.startswith("Not probed")] == [
        f"Not probed: {skipped} categories with too few tokens"]
    minimum = manifest(artifact_root, models(artifact_root)[0])["params"]["min_category_tokens"]
    assert any(f"(fewer than {minimum} tokens)" in md.value for md in at.markdown)


def charts_drawn(at: AppTest) -> list[tuple[dict, dict[str, pd.DataFrame]]]:
    """Every chart of a run: its Vega-Lite spec and its datasets by name."""
    import pyarrow as pa

    return [(json.loads(c.proto.spec), {d.name: pa.ipc.open_stream(d.data.data).read_pandas()
                                         for d in c.proto.datasets}) for c in at.get("vega_lite_chart")]


def chart_data(at: AppTest, *columns: str) -> pd.DataFrame:
    """The first dataset of the run's charts that has all ``columns`` (a bar layer's, before its error bars')."""
    return next(df for _, data in charts_drawn(at) for df in data.values() if set(columns) <= set(df.columns))


@pytest.mark.parametrize("conv", ["paper", "refined"])
def test_separability_bars_and_error_bars_follow_the_conventions(monkeypatch, artifact_root, conv):
    """paper: each category's bar with the 95% bootstrap interval of its folds; refined: mean ± sd."""
    at = run_app(monkeypatch, artifact_root, "separability", conv=conv)
    bars = chart_data(at, "mean", "_lo", "_hi", "probe").sort_values(["model", "category"]).reset_index(drop=True)
    expected = []
    for slug in models(artifact_root):
        probes = pd.read_parquet(artifact_root / slug / schema.SEPARABILITY)
        expected.append(probes[probes["convention"] == conv].dropna(subset=["mean"]).assign(model=slug))
    expected = pd.concat(expected)
    expected = expected[expected["category"].isin(PLOTTED)]  # P, ARMENIAN …: named, not drawn
    expected = expected.sort_values(["model", "category"]).reset_index(drop=True)
    assert len(expected) > 2 and list(bars["category"]) == list(expected["category"])
    assert bars["mean"].to_numpy(float) == pytest.approx(expected["mean"].to_numpy(float))
    lo, hi = ((expected["ci_low"], expected["ci_high"]) if conv == "paper"
              else (expected["mean"] - expected["std"], expected["mean"] + expected["std"]))
    assert bars["_lo"].to_numpy(float) == pytest.approx(lo.clip(0.5, 1.0).to_numpy(float))
    assert bars["_hi"].to_numpy(float) == pytest.approx(hi.clip(0.5, 1.0).to_numpy(float))
    says = {"paper": "error bars: 95% bootstrap interval", "refined": "error bars: mean ± sd"}[conv]
    assert any(f"Conventions: {conv} (" in c.value and says in c.value for c in at.caption)


def test_separability_on_the_shared_vocabulary_beside_the_full_one(monkeypatch, artifact_root):
    """The samples' comparison shares too few tokens for any probe (its table says why): the page says so, and
    the chart keeps each model's full-vocabulary bars. (The chart of both: tests/test_dashboard_units.py.)"""
    at = run_app(monkeypatch, artifact_root, "separability", shared="true")
    assert at.toggle(key="shared").value is True
    shared = pd.read_parquet(artifact_root / schema.COMPARISONS_DIR / "default" / schema.SEPARABILITY_SHARED)
    shared = shared[shared["convention"] == "paper"]
    assert len(shared) and shared["mean"].isna().all()
    largest = shared.sort_values("n_tokens").iloc[-1]
    assert any(f"the largest: {largest['category']}, {largest['n_tokens']:,} tokens; {largest['note']}" in i.value
               for i in at.info), [i.value for i in at.info]
    bars = chart_data(at, "mean", "probe", "vocabulary")
    assert set(bars["vocabulary"]) == {"full vocabulary"}
    assert set(bars["probe"]) == {f"{slug} · full vocabulary" for slug in models(artifact_root)}


@pytest.mark.parametrize("conv", [None, "refined"], ids=["default-paper", "refined"])
@pytest.mark.parametrize("cats", [None, "LATIN"])
def test_diversity_page_shows_each_models_mean_and_std(monkeypatch, artifact_root, cats, conv):
    """The headline numbers, computed here from the parquet files (merge, the chosen convention's category
    filter and column, mean, sd), beside the chance value of that convention."""
    k = first_k(artifact_root)
    convention = conv or "paper"
    suffix = "_paper" if convention == "paper" else ""
    at = run_app(monkeypatch, artifact_root, "diversity", k=str(k), **({"cats": cats} if cats else {}),
                 **({"conv": conv} if conv else {}))
    shown = {label: (value, note) for label, value, note in figures(at)}
    expected = {}
    for slug in models(artifact_root):
        div = pd.read_parquet(artifact_root / slug / schema.DIVERSITY)
        tok = pd.read_parquet(artifact_root / slug / schema.TOKENS).set_index("id")
        keep = tok["category" + suffix].astype("string").fillna("Unknown").map(display_category).loc[div["id"]]
        column = div[f"n_categories_at_{k}{suffix}"]
        values = column[keep.to_numpy() == cats] if cats else column
        assert len(values) > 10  # real samples, not an empty filter
        chance = chance_at(artifact_root, slug, k, convention)
        expected[f"{slug}: mean categories@{k}"] = (
            f"{values.mean():.2f}",
            f"std {values.std(ddof=1):.2f} over {len(values):,} tokens · chance {chance['expected_random']:.2f}")
    assert shown == expected
    assert any(f"Conventions: {convention} (" in c.value for c in at.caption)


def histograms(at: AppTest) -> list[tuple[dict, dict[str, pd.DataFrame]]]:
    """The Diversity page's histograms: one bar layer and one rule layer each."""
    return [(s, d) for s, d in charts_drawn(at) if [layer["mark"]["type"] for layer in s.get("layer", [])]
            == ["bar", "rule"] and s["layer"][0]["encoding"]["x"]["field"] == "_lo"]


@pytest.mark.parametrize("cats", [None, "LATIN"])
def test_diversity_histogram_marks_the_posters_mean_only_for_the_same_statistic(monkeypatch, artifact_root, cats):
    """The poster's mT5-XL mean is drawn at the paper's k (here set to the samples' k = 20), under its
    conventions, over every category; not under a category filter."""
    from precompute.contract import paper

    monkeypatch.setattr(paper, "K", 20)
    at = run_app(monkeypatch, artifact_root, "diversity", k="20", conv="paper", **({"cats": cats} if cats else {}))
    drawn = pd.concat([df for _, data in histograms(at) for df in data.values()])
    posters = drawn[drawn["reference"] == charts.POSTER]
    if cats:
        assert posters.empty and not any(charts.POSTER in c.value for c in at.caption)
    else:
        assert posters["at"].tolist() == [paper.MT5_XL_CATEGORIES_MEAN] * len(models(artifact_root))
        assert any(f"“{charts.POSTER}”: the poster's mT5-XL mean (7.61)" in c.value for c in at.caption)


def test_diversity_histogram_draws_the_chance_rules(monkeypatch, artifact_root):
    k = first_k(artifact_root)
    at = run_app(monkeypatch, artifact_root, "diversity", k=str(k), conv="refined")
    panels = histograms(at)
    assert len(panels) == len(models(artifact_root))  # one per model, side by side (stacked on a phone)
    assert [s["title"] for s, _ in panels] == models(artifact_root)
    df = pd.concat([df for _, data in panels for df in data.values()])
    assert charts.POSTER not in set(df["reference"])  # not the paper's statistic: refined, k = {k}
    rules = df[df["_kind"] == "reference"].set_index(["model", "reference"])["at"]
    for slug in models(artifact_root):
        chance = chance_at(artifact_root, slug, k, "refined")
        assert rules[(slug, charts.RANDOM)] == pytest.approx(chance["expected_random"])
        assert rules[(slug, charts.SHUFFLED)] == pytest.approx(chance["permutation_mean"])
    # the frequency bins: decile 0 is the bin of the tokens never seen, labelled so and first on the axis
    deciles = chart_data(at, "frequency", "decile")
    assert list(deciles.loc[deciles["decile"] == 0, "frequency"].unique()) in ([], ["never seen"])
    [line] = [s for s, _ in charts_drawn(at) if any(layer.get("encoding", {}).get("x", {}).get("field") == "frequency"
                                                    for layer in s.get("layer", []))]
    assert line["layer"][0]["encoding"]["x"]["sort"][0] == ("never seen" if (deciles["decile"] == 0).any() else "1")


def test_a_shared_link_with_the_refined_conventions_reopens_that_view(monkeypatch, artifact_root):
    k = first_k(artifact_root)
    at = run_app(monkeypatch, artifact_root, "diversity", k=str(k), conv="refined")
    assert at.segmented_control(key="conv").value == "refined" and at.query_params["conv"] == "refined"
    [link] = {c for c in copied(opened(at, "share_link", "reproduce_div_hist")) if c.startswith("/")}  # both boxes'
    assert "conv=refined" in link
    refined = {m.label: m.value for m in at.metric}
    at.segmented_control(key="conv").set_value("paper").run()
    paper = {m.label: m.value for m in at.metric}
    for slug in models(artifact_root):
        div = pd.read_parquet(artifact_root / slug / schema.DIVERSITY)
        label = f"{slug}: mean categories@{k}"
        assert (refined[label], paper[label]) == (f"{div[f'n_categories_at_{k}'].mean():.2f}",
                                                  f"{div[f'n_categories_at_{k}_paper'].mean():.2f}")


#: Where each page says the conventions of its figures (with the parameters that make it draw them), and what
#: it says under each: a page whose tables exist under one convention only says so.
SAYS_PAPER = {"paper": "Conventions: paper (", "refined": "Conventions: refined ("}
SAYS_REFINED_ONLY = {"paper": "computes this figure under the refined conventions only",
                     "refined": "Conventions: refined ("}
CONVENTION_CAPTIONS = {
    "overview": ({}, SAYS_PAPER), "diversity": ({}, SAYS_PAPER), "separability": ({}, SAYS_PAPER),
    "neighbors": ({"q": "▁when"}, SAYS_PAPER), "meaning": ({}, SAYS_REFINED_ONLY),
    "norms": ({}, SAYS_REFINED_ONLY), "vocabulary": ({}, SAYS_REFINED_ONLY),
    "geometry": ({}, dict.fromkeys(("paper", "refined"), "Conventions: both shown. Overlap (paper)")),
}


@pytest.mark.parametrize("conv", ["paper", "refined"])
@pytest.mark.parametrize("page", CONVENTION_CAPTIONS)
def test_every_caption_says_its_conventions(monkeypatch, artifact_root, page, conv):
    params, says = CONVENTION_CAPTIONS[page]
    at = run_app(monkeypatch, artifact_root, page, conv=conv, **params)
    assert any(says[conv] in c.value for c in at.caption), [c.value for c in at.caption]


@pytest.mark.parametrize("conv", ["paper", "refined"])
def test_neighbours_category_column_follows_the_conventions(monkeypatch, artifact_root, conv):
    """A token some of whose neighbours the two conventions put in different categories (▁a: S for the paper)."""
    slug = models(artifact_root)[0]
    tokens = pd.read_parquet(artifact_root / slug / schema.TOKENS)
    neighbors = np.load(artifact_root / slug / schema.NEIGHBORS)
    k = first_k(artifact_root)
    differ = tokens["category_paper"].to_numpy() != tokens["category"].to_numpy()
    token_id = int(np.flatnonzero((differ[neighbors[:, :k]] & (neighbors[:, :k] >= 0)).any(axis=1))[0])
    at = run_app(monkeypatch, artifact_root, "neighbors", q=f"id:{token_id}", models=slug, k=str(k), conv=conv)
    ids = neighbors[token_id, :k][neighbors[token_id, :k] >= 0]
    column = "category_paper" if conv == "paper" else "category"
    shown = at.dataframe[0].value["category"].str.split("·").str[0]
    assert list(shown) == list(tokens[column].to_numpy()[ids])


def test_meaning_draws_chance_beside_each_bar(monkeypatch, artifact_root):
    at = run_app(monkeypatch, artifact_root, "meaning")
    bars = chart_data(at, "mean", "chance_mean", "ci95").sort_values(["model", "category"])
    expected = pd.concat([pd.read_parquet(artifact_root / s / schema.MEANING).assign(model=s)
                          for s in models(artifact_root)]).sort_values(["model", "category"])
    expected = expected[expected["category"].map(display_category).isin(bars["category"])]
    assert len(bars) and bars["chance_mean"].to_numpy(float) == pytest.approx(expected["chance_mean"].to_numpy(float))
    [spec] = [s for s, d in charts_drawn(at) if any("chance_mean" in df for df in d.values())]
    ticks = [layer for layer in spec["layer"] if layer["encoding"].get("y2", {}).get("field") == "chance_mean"]
    assert len(ticks) == 1 and ticks[0]["mark"]["type"] == "bar"  # a 2 px bar on the bar (charts.grouped_bars)
    assert any("fewer than 30 tokens" in c.value for c in at.caption)  # the threshold greying bars, stated


def test_geometry_against_chance_at_the_chosen_k(monkeypatch, artifact_root):
    geometry = pd.read_parquet(artifact_root / schema.COMPARISONS_DIR / "default" / schema.GEOMETRY)
    ks = manifest(artifact_root, models(artifact_root)[0])["params"]["diversity_ks"]
    k = min(set(ks) & set(geometry["k"]))
    at = run_app(monkeypatch, artifact_root, "geometry", k=str(k))
    got = chart_data(at, "pair", "measure", "value", "chance").set_index(["pair", "measure"])
    rows = geometry[(geometry["k"] == k) & (geometry["category"] == schema.ALL_CATEGORIES)
                    & (geometry["model_a"] < geometry["model_b"])]
    assert len(rows)
    for r in rows.itertuples():
        pair = f"{r.model_a} · {r.model_b}"
        assert tuple(got.loc[(pair, "Jaccard"), ["value", "chance"]]) == pytest.approx((r.jaccard_mean,
                                                                                        r.jaccard_chance))
        assert tuple(got.loc[(pair, "overlap"), ["value", "chance"]]) == pytest.approx((r.overlap_mean,
                                                                                        r.overlap_chance))
        assert tuple(got.loc[(pair, "overlap (paper)"), ["value", "chance"]]) == pytest.approx(
            (r.overlap_paper_mean, r.overlap_paper_chance))


def test_geometry_lists_a_pairs_most_different_and_most_alike_tokens_of_the_selected_categories(monkeypatch,
                                                                                                artifact_root):
    """The two token tables at the bottom of Geometry: the pair's 50 lowest and 50 highest Jaccard at the chosen k,
    either order of the pair, and under a category filter only tokens whose text is of those categories."""
    from precompute.contract.categories import token_categories

    per_token = pd.read_parquet(artifact_root / schema.COMPARISONS_DIR / "default" / schema.GEOMETRY_TOKENS)
    k = int(per_token["k"].min())
    for cats in (None, "LATIN"):
        at = run_app(monkeypatch, artifact_root, "geometry", k=str(k), **({"cats": cats} if cats else {}))
        a, b = at.selectbox(key=state.MODEL_A.name).value, at.selectbox(key=state.MODEL_B.name).value
        pair = per_token[(per_token["k"] == k) & (per_token["model_a"].isin([a, b]))
                         & (per_token["model_b"].isin([a, b]))]
        if cats:
            pair = pair[[c == cats for c in token_categories(pair["text"].astype(str).tolist())]]
        different, alike = (at.dataframe[-2].value, at.dataframe[-1].value)
        assert len(pair) and len(different) == len(alike) == min(50, len(pair))
        assert list(different["jaccard"]) == pytest.approx(sorted(pair["jaccard"])[:50])
        assert list(alike["jaccard"]) == pytest.approx(sorted(pair["jaccard"], reverse=True)[:50])
        assert set(different["shown"]) <= {tables.visible(t) for t in pair["text"]}


def test_norms_page_shows_the_norms_by_category(monkeypatch, artifact_root):
    at = run_app(monkeypatch, artifact_root, "norms")
    shown = at.dataframe[0].value.sort_values(["model", "category"])
    expected = pd.concat([pd.read_parquet(artifact_root / s / schema.NORMS_BY_CATEGORY).assign(model=s)
                          for s in models(artifact_root)]).sort_values(["model", "category"])
    assert len(shown) and list(shown["category"]) == list(expected["category"])
    assert shown["median"].to_numpy(float) == pytest.approx(expected["median"].to_numpy(float))


@pytest.mark.parametrize("name", [schema.ANNOY, schema.TOKENS])
def test_neighbours_page_reports_a_corrupt_file_instead_of_failing(monkeypatch, artifact_root, tmp_path, name):
    root = tmp_path / "artifacts"
    shutil.copytree(artifact_root, root)
    broken, fine = models(root)
    (root / broken / name).write_bytes(b"garbage")
    at = run_app(monkeypatch, root, "neighbors", q="▁king - ▁man + ▁woman", k=str(first_k(root)))
    assert any("corrupt" in e.value and name in e.value for e in at.error), [e.value for e in at.error]
    answers = [df for df in at.dataframe if str(df.key).startswith("nb_table_")]
    assert [df.key for df in answers] == [f"nb_table_{fine}"]  # the other model still answers


# ---- one model's file corrupt: that model's error, every other model's content --------------------------
#: Link parameters under which a page reads a file it declares: the Neighbours page reads the tables for
#: a token and the Annoy index for an expression; the Map reads diversity when coloured by it.
READS_WITH: dict[tuple[str, str], dict[str, str]] = {
    **{("neighbors", name): {"q": "▁when"} for name in PAGES["neighbors"].needs},
    ("neighbors", schema.ANNOY): {"q": "▁king - ▁man + ▁woman"},
    ("neighbors", schema.TOKENIZER): {"q": "when"},  # a word: split by the model's tokenizer
    ("map", schema.DIVERSITY): {"color": "diversity"},
    # the Poster tour reads each file at the step of the claim it shows
    **{("tour", name): {"step": "2"} for name in (schema.NEIGHBORS, schema.TOKENS, schema.MEANING)},
    **{("tour", name): {"step": "3"} for name in (schema.DIVERSITY, schema.DIVERSITY_CHANCE)},
    ("tour", schema.DIVERSITY_BY_CATEGORY): {"step": "4"},
    ("tour", schema.GEOMETRY): {"step": "5"},
}
#: Files the Map reads only for a selection (its neighbours in every panel, a token's neighbour table), which
#: a link carries: the test selects a token of the model that is left working.
READ_FOR_A_SELECTION = {("map", schema.NEIGHBORS), ("map", schema.SIMILARITIES)}
#: The files a comparison writes (in comparisons/<name>/), apart from those of each model.
COMPARISON_FILES = {name for s in discover() if s.kind == "comparison" for name in s.writes}
CORRUPTIONS = [(p.name, name) for p in PAGES.values() for name in p.needs if name not in COMPARISON_FILES]
COMPARISON_CORRUPTIONS = [(p.name, name) for p in PAGES.values() for name in p.needs if name in COMPARISON_FILES]


def selecting_a_token(root: Path, slug: str) -> dict[str, str]:
    """The Map's link parameter selecting one drawn LATIN token of model ``slug``."""
    tokens = pd.read_parquet(root / slug / schema.TOKENS)
    drawn = pd.read_parquet(root / slug / schema.MAP).dropna(subset=["umap_x"]).merge(
        tokens[~tokens["is_special"] & (tokens["category"] == "LATIN")], on="id")
    return {state.SELECTION.name: f"{slug}~{mapdata.encode_ids([int(drawn['id'].iloc[0])])}"}


def map_panels(at: AppTest) -> list[pd.DataFrame]:
    """The points the Map sent to the browser: one table per panel (its texts, positions and colours)."""
    out = []
    for c in at.get("bidi_component"):
        if c.proto.component_name == "hp_map":
            header, arrays = mapdata.unpack(c.proto.bytes)
            per_point = ("x", "y", "lang", "cat", *mapdata.VALUE_COLUMNS)  # not the density grid
            out += [pd.DataFrame({"panel": p["slug"], "text": p["texts"], **{n: a[n] for n in per_point}})
                    for p, a in zip(header["panels"], arrays, strict=True)]
    return out


def content(at: AppTest) -> tuple[set, list[pd.DataFrame]]:
    """What a run drew: its headline numbers, and the rows of every table, of every chart's data and of
    every map panel."""
    import pyarrow as pa

    frames = [df.value for df in at.dataframe]
    frames += [pa.ipc.open_stream(d.data.data).read_pandas() for c in at.get("vega_lite_chart")
               for d in c.proto.datasets]
    return figures(at), frames + map_panels(at)


def rows(df: pd.DataFrame) -> set[tuple]:
    return set(df.reset_index(drop=True).astype(str).itertuples(index=False))


def lost(alone: tuple[set, list[pd.DataFrame]], shown: tuple[set, list[pd.DataFrame]]) -> list:
    """What a model shows alone that a run with another model does not: numbers, and tables or chart data
    whose rows are in no table or chart of the run (a chart of several models holds its rows among others')."""
    numbers = sorted(alone[0] - shown[0])
    tables = [df for df in alone[1] if not any(list(df.columns) == list(other.columns) and rows(df) <= rows(other)
                                               for other in shown[1])]
    return numbers + [df.head(3).to_dict("records") for df in tables]


@functools.cache
def _alone(root: Path, page: str, slug: str, params: tuple[tuple[str, str], ...]) -> tuple[set, list[pd.DataFrame]]:
    with pytest.MonkeyPatch.context() as mp:
        return content(run_app(mp, root, page, models=slug, **dict(params)))


@pytest.mark.parametrize(("page", "name"), CORRUPTIONS, ids=[f"{p}-{n}" for p, n in CORRUPTIONS])
def test_a_corrupt_file_of_one_model_leaves_the_others_on_screen(monkeypatch, artifact_root, tmp_path, page, name):
    """Every page, every file it declares: the broken model's error quotes the file and the command that
    rebuilds it, and the other model shows exactly what it shows alone."""
    root = tmp_path / "artifacts"
    shutil.copytree(artifact_root, root)
    broken, fine = models(root)
    (root / broken / name).write_bytes(b"garbage")
    params = {**READS_WITH.get((page, name), {}),
              **(selecting_a_token(root, fine) if (page, name) in READ_FOR_A_SELECTION else {})}
    at = run_app(monkeypatch, root, page, k=str(first_k(root)), **params)  # no exception (run_app checks)
    rebuild = manifest(root, broken)["rebuild"]
    assert any(name in e.value and "corrupt" in e.value and rebuild in e.value for e in at.error), \
        [e.value for e in at.error]
    alone = _alone(artifact_root, page, fine, tuple(sorted({"k": str(first_k(root)), **params}.items())))
    assert alone[0] or alone[1], f"{fine} shows nothing on {page}"
    assert not lost(alone, content(at)), f"{fine}'s content on {page} is lost when {broken}'s {name} is corrupt"


@pytest.mark.parametrize(("page", "name"), COMPARISON_CORRUPTIONS, ids=[f"{p}-{n}" for p, n in COMPARISON_CORRUPTIONS])
def test_a_corrupt_comparison_file_is_reported(monkeypatch, artifact_root, tmp_path, page, name):
    root = tmp_path / "artifacts"
    shutil.copytree(artifact_root, root)
    comparison = root / schema.COMPARISONS_DIR / "default"
    (comparison / name).write_bytes(b"garbage")
    at = run_app(monkeypatch, root, page, **READS_WITH.get((page, name), {}))
    rebuild = json.loads((comparison / schema.MANIFEST).read_text())["rebuild"]
    assert any(name in e.value and rebuild in e.value for e in at.error), [e.value for e in at.error]


def test_every_token_by_id_its_code_points_and_invisible_characters_written_out(monkeypatch, artifact_root):
    """wordllama-l2 has tokens ending in a carriage return (``>\\r``), which a lookup by text strips;
    ``id:N`` finds the token itself, and the caption and the table write the CR out."""
    slug = "wordllama-sample"
    tokens = pd.read_parquet(artifact_root / slug / schema.TOKENS)
    token_id = int(tokens.index[tokens["text"] == ">\r"][0])
    neighbors = np.load(artifact_root / slug / schema.NEIGHBORS)
    k = first_k(artifact_root)
    at = run_app(monkeypatch, artifact_root, "neighbors", q=f"id:{token_id}", models=slug, k=str(k))
    assert any(c.value.startswith(f">⟨U+000D⟩ · id {token_id} · U+003E U+000D · ") for c in at.caption), \
        [c.value for c in at.caption]
    expected = tokens["text"].to_numpy()[neighbors[token_id, :k][neighbors[token_id, :k] >= 0]]
    shown = list(at.dataframe[0].value["token"])
    assert shown == [tables.visible(t) for t in expected]
    assert "()⟨U+000D⟩" in shown and not any("\r" in t for t in shown)  # a CR neighbour, written out
    # by its text, the token is not found: the lookup strips white space, and a CR is white space
    at = run_app(monkeypatch, artifact_root, "neighbors", q=">\r", models=slug, k=str(k))
    assert not any(f"id {token_id}" in c.value for c in at.caption)


def test_long_links_are_refused_before_they_are_offered(monkeypatch, artifact_root):
    at = run_app(monkeypatch, artifact_root, "neighbors", q="▁when")
    assert at.text_input(key="q").max_chars == state.MAX_TEXT_LENGTH == 100
    [link] = {c for c in copied(opened(at, "share_link")) if c.startswith("/")}
    assert link.startswith("/neighbours?") and "q=%E2%96%81when" in link
    monkeypatch.setattr(state, "MAX_LINK_LENGTH", len(link) - 1)
    at = opened(run_app(monkeypatch, artifact_root, "neighbors", q="▁when"), "share_link")
    assert not [c for c in copied(at) if c.startswith("/")]
    assert any(f"would be {len(link)} characters long, more than the {len(link) - 1}" in w.value for w in at.warning)


def test_overview_separability_card_is_the_tables_number(monkeypatch, artifact_root):
    """One definition, one number: a model's separability card (paper conventions, every category) is the value
    of the "Beside the paper" table, the mean over every category it was probed on."""
    at = run_app(monkeypatch, artifact_root, "overview")
    table = at.dataframe[0].value.iloc[1:].set_index("source")  # row 0: the paper's own figures
    cards = [m.value for m in at.metric if m.label == "Separability"]
    assert len(cards) == len(table) == len(models(artifact_root)) and sorted(cards) == sorted(table["separability"])
    for slug in models(artifact_root):
        probes = pd.read_parquet(artifact_root / slug / schema.SEPARABILITY)
        assert f"{probes[probes['convention'] == 'paper']['mean'].mean():.1%}" in cards
    assert not any("0 categories" in c.value or "(none)" in c.value for c in at.caption)


def _category_sizes(root: Path, slug: str) -> pd.Series:
    """Tokens with a diversity row per display category (paper conventions), as the Overview's card counts them."""
    tokens = pd.read_parquet(root / slug / schema.TOKENS)
    ids = pd.read_parquet(root / slug / schema.DIVERSITY)["id"]
    return tokens.loc[tokens["id"].isin(ids), "category_paper"].map(display_category).value_counts()


def test_overview_cards_under_a_small_filter_say_their_n_and_grey(monkeypatch, artifact_root):
    """Under a filter that leaves a model a handful of tokens, its card says how many and is greyed (not a
    headline), and the threshold is on screen."""
    slug = models(artifact_root)[0]
    sizes = _category_sizes(artifact_root, slug)
    small = sizes[(sizes > 1) & (sizes < ui.MIN_TOKENS) & sizes.index.isin(PLOTTED)]
    assert len(small), sizes  # the samples have a script with a few tokens
    category, n = str(small.index[0]), int(small.iloc[0])
    at = run_app(monkeypatch, artifact_root, "overview", models=slug, cats=category)
    notes = [c.value for c in at.caption]
    assert any(f"only {n:,} tokens (under {ui.MIN_TOKENS}): too few to read" in c for c in notes), notes
    assert not [m for m in at.metric if m.label.startswith("Categories in")]  # greyed, not a headline
    assert any(f"fewer than {ui.MIN_TOKENS} tokens is greyed" in c for c in notes)


def test_separability_says_not_probed_instead_of_zero_errors(monkeypatch, artifact_root):
    """A category a model was never probed on: "not probed", not "0 errors in N predictions" of other probes."""
    for slug in models(artifact_root):
        probes = pd.read_parquet(artifact_root / slug / schema.SEPARABILITY)
        probed = set(probes.loc[probes["mean"].notna() & (probes["convention"] == "paper"), "category"])
        unprobed = [c for c in PLOTTED if c not in probed and c in set(_category_sizes(artifact_root, slug).index)]
        if unprobed:
            break
    at = run_app(monkeypatch, artifact_root, "separability", models=slug, cats=unprobed[0])
    infos = [i.value for i in at.info]
    assert any(i.startswith("Not probed: ") and unprobed[0] in i for i in infos), infos
    assert not any("errors in" in c.value for c in at.caption)


def test_a_hosted_dashboard_without_models_says_who_can_fix_it(monkeypatch, tmp_path):
    """A reader of a bundle URL has nothing to build: the page names the host, not `make run`."""
    from dashboard import data

    monkeypatch.setattr(data, "artifact_root", lambda argv=None: tmp_path / "empty")
    monkeypatch.setenv(schema.ARTIFACTS_ENV, "https://example.org/hyperpolyglot/bundle")
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    assert not at.code and "make run" not in " ".join(m.value for m in at.markdown)
    assert any("https://example.org/hyperpolyglot/bundle" in w.value for w in at.warning)
    assert any("The host can fix it" in m.value for m in at.markdown)


def test_separability_captions_say_the_folds_the_build_used(monkeypatch, artifact_root):
    folds = {manifest(artifact_root, slug)["params"]["folds"] for slug in models(artifact_root)}
    at = run_app(monkeypatch, artifact_root, "separability")
    captions = " ".join(c.value for c in at.caption)
    assert f"{folds.pop()} folds" in captions and "10 folds" not in captions
