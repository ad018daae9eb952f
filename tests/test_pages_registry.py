"""The page registry: a page is one file in app_pages/ declaring itself; nothing else changes to add one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("streamlit")

from dashboard import pages  # noqa: E402
from precompute.contract import schema  # noqa: E402
from tests.test_dashboard_pages import APP, copied, manifest, models, run_app  # noqa: E402

TOY_PAGE = '''"""A toy page, written by the test: one table read through the guarded loader."""

import streamlit as st

from dashboard import ui
from precompute.contract import schema

PAGE = {"title": "Toy", "url_path": "toy", "icon": ":material/toys:", "order": 90,
        "summary": "a page the test added", "needs": ("NORMS_BY_CATEGORY",)}

v = ui.view()
st.title("Toy")
for m in v.models:
    table = ui.load(m, schema.NORMS_BY_CATEGORY, "norms by category")
    if table is not None:
        st.dataframe(table, hide_index=True)
ui.share_link()
'''


def test_the_default_pages_in_their_order():
    registry = pages.discover()
    assert [(p.name, p.url_path) for p in registry.pages] == [
        ("overview", ""), ("tour", "tour"), ("map", "map"), ("separability", "separability"),
        ("neighbors", "neighbours"), ("diversity", "diversity"), ("meaning", "meaning"), ("geometry", "geometry"),
        ("norms", "norms"), ("vocabulary", "vocabulary")]
    assert registry.fallback.name == "build" and registry.fallback.title == "Build artifacts"
    assert registry["map"].needs == (schema.MAP, schema.TOKENS, schema.DIVERSITY, schema.NEIGHBORS,
                                     schema.SIMILARITIES)
    assert {p.file.name for p in [*registry.pages, registry.fallback]} == {
        f.name for f in pages.APP_PAGES.glob("*.py")}


@pytest.mark.parametrize(("text", "message"), [
    ('"""No declaration."""\n', "declares no PAGE"),
    ('PAGE = {"title": "X", "url_path": "x", "icon": "i", "order": 1}\n', "needs 'summary'"),
    ('PAGE = {"title": "X", "url_path": "x", "icon": "i", "order": 1, "summary": "s", "needs": ("NOPE",)}\n',
     "precompute.contract.schema does not define"),
    ('PAGE = {"title": "X", "url_path": "x", "icon": "i", "order": 1, "summary": "s", "colour": 1}\n',
     "unknown key 'colour'"),
    ('PAGE = {"title": TITLE, "url_path": "x", "icon": "i", "order": 1, "summary": "s"}\n', "literal dict"),
])
def test_a_bad_declaration_names_the_file_and_the_fix(tmp_path, text, message):
    page = tmp_path / "bad.py"
    page.write_text(text)
    with pytest.raises(ValueError, match=message) as caught:
        pages.read_declaration(page)
    assert str(page) in str(caught.value)


def test_two_pages_on_one_url_path_are_an_error(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.py").write_text(
            f'PAGE = {{"title": "{name}", "url_path": "", "icon": "i", "order": 1, "summary": "s"}}\n')
    with pytest.raises(ValueError, match="distinct URL paths"):
        pages.discover(tmp_path)


@pytest.fixture
def app_with_a_toy_page(tmp_path: Path) -> Path:
    """A copy of the dashboard with one more file in app_pages/ and no other change."""
    copy = tmp_path / "dashboard"
    shutil.copytree(APP.parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "app_pages" / "toy.py").write_text(TOY_PAGE)
    return copy / "app.py"


def test_a_new_page_file_is_discovered_routed_listed_and_loads_its_table(monkeypatch, artifact_root,
                                                                          app_with_a_toy_page):
    registry = pages.discover(app_with_a_toy_page.parent / "app_pages")
    assert registry.pages[-1].name == "toy" and registry.pages[-1].url_path == "toy"

    at = run_app(monkeypatch, artifact_root, app=app_with_a_toy_page)
    listed = [md.value for md in at.markdown if "**Toy** —" in md.value]
    assert listed and "- **Toy** — a page the test added." in listed[0].splitlines()

    at = run_app(monkeypatch, artifact_root, "toy", app=app_with_a_toy_page)
    assert [t.value for t in at.title] == ["Toy"]
    tables = [df.value.reset_index(drop=True) for df in at.dataframe]
    expected = [pd.read_parquet(artifact_root / slug / schema.NORMS_BY_CATEGORY) for slug in models(artifact_root)]
    assert len(tables) == len(expected) == 2
    for shown, table in zip(tables, expected, strict=True):
        pd.testing.assert_frame_equal(shown, table, check_dtype=False)
    assert copied(at) == ["/toy"]  # its share link (relative: no browser address in tests)


def test_the_toy_page_tells_what_is_missing_and_how_to_rebuild(monkeypatch, artifact_root, app_with_a_toy_page,
                                                                 tmp_path):
    root = tmp_path / "artifacts"
    shutil.copytree(artifact_root, root)
    slug = models(root)[0]
    (root / slug / schema.NORMS_BY_CATEGORY).unlink()
    at = run_app(monkeypatch, root, "toy", app=app_with_a_toy_page)
    assert len(at.dataframe) == 1
    [error] = [e.value for e in at.error if schema.NORMS_BY_CATEGORY in e.value]
    assert "is missing" in error and slug in error and manifest(root, slug)["rebuild"] in error
