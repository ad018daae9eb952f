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

from dashboard import pages, state, tables  # noqa: E402
from precompute import schema  # noqa: E402
from precompute.categories import WRITING_SYSTEMS, display_category  # noqa: E402

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


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(monkeypatch, artifact_root, page):
    at = run_app(monkeypatch, artifact_root, page)
    assert not at.error, [e.value for e in at.error]
    assert at.title


def test_overview_headline_numbers_come_from_the_tables(monkeypatch, artifact_root):
    k = first_k(artifact_root)
    at = run_app(monkeypatch, artifact_root, k=str(k))
    metrics = [(m.label, m.value) for m in at.metric]
    shown = [v for label, v in metrics if label == f"Categories in {k}-NN"]
    expected = [f"{pd.read_parquet(artifact_root / s / schema.DIVERSITY)[f'n_categories_at_{k}'].mean():.2f}"
                for s in sorted(models(artifact_root), key=lambda s: s)]
    assert sorted(shown) == sorted(expected)
    sep = [v for label, v in metrics if label == "Separability"]
    expected = []
    for slug in models(artifact_root):
        table = pd.read_parquet(artifact_root / slug / schema.SEPARABILITY)
        expected.append(f"{table['mean'].dropna().mean():.1%}")
    assert sorted(sep) == sorted(expected)


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
    at = run_app(monkeypatch, artifact_root, "neighbors", q="zzzqqqxx-not-a-token")
    assert any("has no token" in i.value for i in at.info)
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
    rebuild = manifest(root, slug)["rebuild"]  # the command the build recorded (precompute.rebuild)
    assert any("corrupt" in e.value and rebuild in e.value for e in at.error), [e.value for e in at.error]


def test_vector_expression_is_answered_by_annoy(monkeypatch, artifact_root):
    pytest.importorskip("precompute.annoy_index")
    slug = models(artifact_root)[0]
    tokens = pd.read_parquet(artifact_root / slug / schema.TOKENS)
    usable = tokens[~tokens["is_special"] & ~tokens["is_zero"] & ~tokens["text"].str.contains(r"[\s,()]")]
    a, b, c = usable["text"].iloc[10:13]
    k = first_k(artifact_root)
    at = run_app(monkeypatch, artifact_root, "neighbors", q=f"{a} - {b} + {c}", models=slug, k=str(k))
    table = at.dataframe[0].value
    assert len(table) == k
    assert not {a, b, c} & set(table["token"])
    assert table["similarity"].is_monotonic_decreasing


def test_separability_lists_the_categories_too_small_to_probe(monkeypatch, artifact_root):
    at = run_app(monkeypatch, artifact_root, "separability")
    skipped = sum(int(pd.read_parquet(artifact_root / s / schema.SEPARABILITY)["mean"].isna().sum())
                  for s in models(artifact_root))
    assert skipped > 0, "the sample models have categories below min_category_tokens"
    assert [e.label for e in at.expander if e.label.startswith("Not probed")] == [
        f"Not probed: {skipped} categories with too few tokens"]
    minimum = manifest(artifact_root, models(artifact_root)[0])["params"]["min_category_tokens"]
    assert any(f"(fewer than {minimum} tokens)" in md.value for md in at.markdown)


@pytest.mark.parametrize("cats", [None, "LATIN"])
def test_diversity_page_shows_each_models_mean_and_std(monkeypatch, artifact_root, cats):
    """The headline numbers, computed here from the parquet files (merge, category filter, mean, sd)."""
    k = first_k(artifact_root)
    at = run_app(monkeypatch, artifact_root, "diversity", k=str(k), **({"cats": cats} if cats else {}))
    shown = {m.label: (m.value, m.delta) for m in at.metric}
    expected = {}
    for slug in models(artifact_root):
        div = pd.read_parquet(artifact_root / slug / schema.DIVERSITY)
        tok = pd.read_parquet(artifact_root / slug / schema.TOKENS).set_index("id")
        keep = tok["category"].astype("string").fillna("Unknown").map(display_category).loc[div["id"]].to_numpy()
        values = div[f"n_categories_at_{k}"][keep == cats] if cats else div[f"n_categories_at_{k}"]
        assert len(values) > 10  # real samples, not an empty filter
        expected[f"{slug}: mean categories@{k}"] = (
            f"{values.mean():.2f}", f"std {values.std(ddof=1):.2f} over {len(values):,} tokens")
    assert shown == expected


@pytest.mark.parametrize("name", [schema.ANNOY, schema.TOKENS])
def test_neighbours_page_reports_a_corrupt_file_instead_of_failing(monkeypatch, artifact_root, tmp_path, name):
    root = tmp_path / "artifacts"
    shutil.copytree(artifact_root, root)
    broken, fine = models(root)
    (root / broken / name).write_bytes(b"garbage")
    at = run_app(monkeypatch, root, "neighbors", q="▁king - ▁man + ▁woman", k=str(first_k(root)))
    assert any("corrupt" in e.value and name in e.value for e in at.error), [e.value for e in at.error]
    assert len(at.dataframe) == 1  # the other model still answers


# ---- one model's file corrupt: that model's error, every other model's content --------------------------
#: Link parameters under which a page reads a file it declares: the Neighbours page reads the tables for
#: a token and the Annoy index for an expression; the Map reads diversity when coloured by it.
READS_WITH: dict[tuple[str, str], dict[str, str]] = {
    **{("neighbors", name): {"q": "▁when"} for name in PAGES["neighbors"].needs},
    ("neighbors", schema.ANNOY): {"q": "▁king - ▁man + ▁woman"},
    ("map", schema.DIVERSITY): {"color": "diversity"},
}
#: Files a page reads only after a click on a chart point, which AppTest cannot make.
AFTER_A_CLICK = {("map", schema.NEIGHBORS), ("map", schema.SIMILARITIES)}
CORRUPTIONS = [(p.name, name) for p in PAGES.values() for name in p.needs if (p.name, name) not in AFTER_A_CLICK]


def content(at: AppTest) -> tuple[set, list[pd.DataFrame]]:
    """What a run drew: its headline numbers, and the rows of every table and of every chart's data."""
    import pyarrow as pa

    frames = [df.value for df in at.dataframe]
    frames += [pa.ipc.open_stream(d.data.data).read_pandas() for c in at.get("vega_lite_chart")
               for d in c.proto.datasets]
    return {(m.label, m.value, m.delta) for m in at.metric}, frames


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
    params = READS_WITH.get((page, name), {})
    at = run_app(monkeypatch, root, page, k=str(first_k(root)), **params)  # no exception (run_app checks)
    rebuild = manifest(root, broken)["rebuild"]
    assert any(name in e.value and "corrupt" in e.value and rebuild in e.value for e in at.error), \
        [e.value for e in at.error]
    alone = _alone(artifact_root, page, fine, tuple(sorted({"k": str(first_k(root)), **params}.items())))
    assert alone[0] or alone[1], f"{fine} shows nothing on {page}"
    assert not lost(alone, content(at)), f"{fine}'s content on {page} is lost when {broken}'s {name} is corrupt"


@pytest.mark.parametrize(("page", "name"), [("overview", schema.GEOMETRY), ("geometry", schema.GEOMETRY),
                                            ("geometry", schema.GEOMETRY_TOKENS), ("vocabulary", schema.VOCAB_OVERLAP)])
def test_a_corrupt_comparison_file_is_reported(monkeypatch, artifact_root, tmp_path, page, name):
    root = tmp_path / "artifacts"
    shutil.copytree(artifact_root, root)
    comparison = root / schema.COMPARISONS_DIR / "default"
    (comparison / name).write_bytes(b"garbage")
    at = run_app(monkeypatch, root, page)
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
    [link] = [c.value for c in at.code]
    assert link.startswith("/neighbours?") and "q=%E2%96%81when" in link
    monkeypatch.setattr(state, "MAX_LINK_LENGTH", len(link) - 1)
    at = run_app(monkeypatch, artifact_root, "neighbors", q="▁when")
    assert not at.code
    assert any(f"would be {len(link)} characters long, more than the {len(link) - 1}" in w.value for w in at.warning)
