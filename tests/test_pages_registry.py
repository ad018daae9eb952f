"""The page registry: a page is one file in app_pages/ declaring itself; nothing else changes to add one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

pytest.importorskip("streamlit")

from dashboard import data, pages  # noqa: E402
from precompute.build.pipeline import build_model  # noqa: E402
from precompute.contract import schema  # noqa: E402
from precompute.steps import discover  # noqa: E402
from tests.test_dashboard_pages import APP, copied, manifest, opened, run_app  # noqa: E402
from tests.test_steps import CONFIG, tiny_model  # noqa: E402
from tests.test_steps import toy_package as toy_package  # noqa: E402  (a fixture)

TOY_PAGE = '''"""A toy page, written by the test: the toy analysis's own table, read through the guarded loader."""

import streamlit as st

from dashboard import ui

PAGE = {"title": "Toy", "url_path": "toy", "icon": ":material/toys:", "order": 90,
        "summary": "a page the test added", "needs": ("toy.parquet",)}

v = ui.view()
st.title("Toy")
for m in v.models:
    table = ui.load(m, "toy.parquet", "toy counts")
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
     "neither names in precompute.contract.schema"),
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


@pytest.fixture
def toy_artifacts(toy_package: Path, tmp_path: Path) -> Path:
    """Two tiny models built with the toy analysis (tests/test_steps.py), whose table no built-in page reads."""
    root = tmp_path / "artifacts"
    steps = [s for s in discover() if s.name in ("embeddings", "tokens", "toy")]
    for slug in ("tiny-a", "tiny-b"):
        report = build_model(tiny_model(), root, CONFIG, slug=slug, steps=steps, progress=False)
        assert report.ok, report.failed
    return root


def test_a_new_analysis_and_page_need_no_other_file(monkeypatch, toy_artifacts, app_with_a_toy_page):
    registry = pages.discover(app_with_a_toy_page.parent / "app_pages")
    assert registry.pages[-1].name == "toy" and registry.pages[-1].url_path == "toy"
    assert registry.pages[-1].needs == ("toy.parquet",)

    at = run_app(monkeypatch, toy_artifacts, app=app_with_a_toy_page)
    listed = [md.value for md in at.markdown if "**Toy** —" in md.value]
    assert listed and "- **Toy** — a page the test added." in listed[0].splitlines()

    at = run_app(monkeypatch, toy_artifacts, "toy", app=app_with_a_toy_page)
    assert [t.value for t in at.title] == ["Toy"]
    shown = [dict(zip(df.value["category"], df.value["n_tokens"], strict=True)) for df in at.dataframe]
    assert shown == [{"CYRILLIC": 20, "LATIN": 20}] * 2  # eligible tokens a script, times the seed (0) + 1
    assert copied(opened(at, "share_link")) == ["/toy"]  # its share link (relative: no browser address in tests)


def test_the_toy_page_tells_what_is_missing_and_how_to_rebuild(monkeypatch, toy_artifacts, app_with_a_toy_page):
    (toy_artifacts / "tiny-a" / "toy.parquet").unlink()
    at = run_app(monkeypatch, toy_artifacts, "toy", app=app_with_a_toy_page)
    assert len(at.dataframe) == 1
    [error] = [e.value for e in at.error if "toy.parquet" in e.value]
    assert "is missing" in error and "tiny-a" in error and manifest(toy_artifacts, "tiny-a")["rebuild"] in error


# ---- a page reads only what it declares ----------------------------------------------------------------
#: The links under which each page reads all it can: a token, a word and an expression on Neighbours.
READING_VIEWS: dict[str, list[dict[str, str]]] = {
    "neighbors": [{"q": "▁when"}, {"q": "when"}, {"q": "▁king - ▁man + ▁woman"}],
    "map": [{"color": "diversity"}],
    "tour": [{"step": str(n)} for n in range(1, 6)],
}
#: What each reader of dashboard.data loads: the name argument, or a fixed artifact.
READERS = {"table": None, "array": None, "tokens": schema.TOKENS, "text_index": schema.TOKENS,
           "annoy": schema.ANNOY, "tokenizer": schema.TOKENIZER}


@pytest.mark.parametrize("page", sorted(p.name for p in pages.discover().pages))
def test_a_page_reads_no_artifact_it_does_not_declare(monkeypatch, artifact_root, page):
    """Every read goes through dashboard.data; what a page's runs ask for must be in its ``needs`` (so
    that the corruption test, which loops over ``needs``, covers every file a page shows)."""
    reads: set[str] = set()

    def recording(function, fixed: str | None):
        def call(info, *args, **kwargs):
            reads.add(fixed or (args[0] if args else kwargs["name"]))
            return function(info, *args, **kwargs)
        return call

    for reader, fixed in READERS.items():
        monkeypatch.setattr(data, reader, recording(getattr(data, reader), fixed))
    monkeypatch.setenv(schema.ARTIFACTS_ENV, str(artifact_root))
    for params in READING_VIEWS.get(page, [{}]):
        at = AppTest.from_file(str(APP), default_timeout=30)
        at.run()  # the router's first run draws the default page: its reads are not this page's
        reads.clear()
        for name, value in params.items():
            at.query_params[name] = value
        at.switch_page(str(APP.parent / "app_pages" / f"{page}.py"))
        at.run()
        assert not at.exception, at.exception
    undeclared = sorted(reads - set(pages.discover()[page].needs))
    assert undeclared == [], f"the {page} page reads {undeclared} without declaring them in its PAGE needs"
