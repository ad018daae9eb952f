"""The view cache (dashboard/viewcache.py): one computation per view key, bounded, new keys for new artifacts."""

from __future__ import annotations

import json
import threading

import pytest

from dashboard import viewcache
from dashboard.viewcache import ViewCache, signature

MANIFEST = {"files": {"diversity.parquet": {"sha256": "aa"}, "tokens.parquet": {"sha256": "bb"}},
            "built_at": "2026-01-01T00:00:00"}


def counting(value: object, calls: list[int]):
    def compute() -> object:
        calls.append(1)
        return value
    return compute


def test_the_same_view_key_returns_the_same_object_computed_once():
    cache, calls = ViewCache(max_entries=4), []
    key = ("diversity", signature([("/a/m", MANIFEST)]), ("m",), ("LATIN",), 10, "paper")
    first = cache.get(key, counting(object(), calls))
    assert cache.get(key, counting(object(), calls)) is first
    assert cache.get(tuple(key), counting(object(), calls)) is first  # an equal key, built anew
    assert len(calls) == 1
    assert (cache.stats.computed, cache.stats.hits) == (1, 2)


def test_changed_artifacts_give_another_signature_and_a_new_computation():
    cache, calls = ViewCache(), []
    rebuilt = json.loads(json.dumps(MANIFEST))
    rebuilt["files"]["tokens.parquet"]["sha256"] = "cc"
    arrived = [("/a/m", MANIFEST), ("/a/n", MANIFEST)]  # a second model arrives during a progressive build
    signatures = [signature(s) for s in ([("/a/m", MANIFEST)], [("/a/m", rebuilt)], arrived,
                                         [("/b/m", MANIFEST)], [("/a/m", {**MANIFEST, "built_at": "later"})])]
    assert len(set(signatures)) == 5
    assert signature([("/a/m", MANIFEST)]) == signature([("/a/m", json.loads(json.dumps(MANIFEST)))])
    assert signature(arrived) == signature(arrived[::-1])  # the order the catalog lists them in is no change
    values = [cache.get(("overview", s), counting(s, calls)) for s in signatures]
    assert values == signatures and len(calls) == 5


def test_the_cache_keeps_at_most_max_entries_dropping_the_least_recently_used():
    cache, calls = ViewCache(max_entries=3), []
    for k in (10, 50, 100):
        cache.get(("diversity", k), counting(k, calls))
    cache.get(("diversity", 10), counting(10, calls))  # used again: now the most recent
    cache.get(("diversity", 5), counting(5, calls))  # a fourth: k = 50, the least recently used, goes
    assert len(cache) == 3 and cache.stats.evicted == 1
    cache.get(("diversity", 10), counting(10, calls))
    assert len(calls) == 4
    cache.get(("diversity", 50), counting(50, calls))
    assert len(calls) == 5 and len(cache) == 3 and cache.stats.evicted == 2
    with pytest.raises(ValueError, match="max_entries must be at least 1, got 0"):
        ViewCache(max_entries=0)


def test_sessions_asking_at_once_wait_for_one_computation():
    cache, calls, release = ViewCache(), [], threading.Event()
    got: list[object] = []

    def compute() -> object:
        calls.append(1)
        release.wait()  # the first session is still computing while the others ask
        return object()

    threads = [threading.Thread(target=lambda: got.append(cache.get("one link", compute))) for _ in range(8)]
    for t in threads:
        t.start()
    release.set()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(got) == 8 and all(g is got[0] for g in got)


def test_a_failed_computation_is_not_kept_and_off_computes_every_time():
    cache, calls = ViewCache(), []

    def failing() -> object:
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        cache.get("view", failing)
    assert cache.get("view", counting(1, calls)) == 1 and len(cache) == 1
    off = ViewCache(enabled=False)
    off.get("view", counting(2, calls))
    off.get("view", counting(2, calls))
    assert len(calls) == 3 and len(off) == 0


def test_a_page_is_computed_once_per_view_and_follows_its_widgets(monkeypatch, artifact_root):
    """Geometry drawn twice in one view: its charts come from the cache, the same spec; a measure chosen in its
    box is another view (the widget is bound to the URL, which the key holds), drawn anew."""
    from tests.test_dashboard_pages import charts_drawn, run_app

    at = run_app(monkeypatch, artifact_root, "geometry")
    specs = [spec for spec, _ in charts_drawn(at)]
    computed = viewcache.CACHE.stats.computed
    at.run()
    assert [spec for spec, _ in charts_drawn(at)] == specs and viewcache.CACHE.stats.computed == computed
    at.selectbox(key="metric").select("cka").run()
    assert not at.exception
    assert viewcache.CACHE.stats.computed > computed
    assert charts_drawn(at)[0][0]["title"].startswith("linear CKA")


def test_a_value_that_keep_refuses_is_returned_but_computed_again_next_time():
    """A result that told of a file that could not be read is not kept: the next run may read it."""
    cache, calls = ViewCache(), []
    assert cache.get("view", counting("unreadable", calls), keep=lambda value: value != "unreadable") == "unreadable"
    assert len(cache) == 0
    assert cache.get("view", counting("read", calls), keep=lambda value: value != "unreadable") == "read"
    assert cache.get("view", counting("other", calls)) == "read" and len(calls) == 2 and len(cache) == 1


def test_notes_keep_what_a_cached_computation_says_and_whether_it_holds():
    from dashboard.ui import Notes

    notes = Notes()
    notes.info("**m** has no token 'x'.")
    assert notes.settled and notes.said == [("info", "**m** has no token 'x'.", {})]
    notes.error("tokens.parquet is corrupt")
    assert not notes.settled


def test_a_styled_table_is_rendered_once_and_read_afterwards():
    """pandas renders a Styler anew at every st.dataframe; rendered once, later renderings compute nothing."""
    import pandas as pd

    from dashboard.ui import rendered_once

    calls = []

    def style(column: pd.Series) -> list[str]:
        calls.append(1)
        return ["color: red" if v > 1 else "" for v in column]

    styler = rendered_once(pd.DataFrame({"a": [1, 2]}).style.apply(style, axis=0), "nb_table_m")
    first = styler._translate(False, False)
    styler._compute()
    assert styler._translate(False, False) is first and len(calls) == 1
    assert styler.uuid == "nb_table_m"
    assert [c["props"] for c in first["cellstyle"]] == [[("color", "red")]]


def test_the_catalog_signature_is_computed_once_per_catalog_and_follows_its_manifests(tmp_path):
    from dashboard import data, ui

    def catalog(sha: str) -> data.Catalog:
        manifest = {"files": {"tokens.parquet": {"sha256": sha}}, "built_at": "2026-01-01T00:00:00"}
        return data.Catalog(tmp_path, models={"m": data.ModelInfo("m", tmp_path / "m", manifest)})

    first, same, rebuilt = catalog("aa"), catalog("aa"), catalog("bb")
    assert ui.catalog_signature(first) == ui.catalog_signature(same) != ui.catalog_signature(rebuilt)
    assert ui.catalog_signature(first) == signature([(str(tmp_path / "m"), first.models["m"].manifest)])


def test_every_session_shown_a_cached_answer_is_told_what_the_first_was_told(monkeypatch, artifact_root):
    """The Neighbours page's answer is computed once per view; its messages are data, drawn in every session."""
    from tests.test_dashboard_pages import run_app

    first = run_app(monkeypatch, artifact_root, "neighbors", q='"zzzqqqxx-not-a-token"')
    told = [i.value for i in first.info if "has no token exactly" in i.value]
    computed = viewcache.CACHE.stats.computed
    second = run_app(monkeypatch, artifact_root, "neighbors", q='"zzzqqqxx-not-a-token"')
    assert [i.value for i in second.info if "has no token exactly" in i.value] == told and len(told) == 2
    assert viewcache.CACHE.stats.computed == computed  # the Overview on the way and the page: nothing anew


def test_a_table_is_looked_up_once_per_file_version_and_each_caller_gets_its_own_copy(artifact_root):
    """ui.load asks Streamlit's loader once per file version (its every call inspected the loader's signature);
    each caller still gets a Copy-on-Write copy, so that a column it adds is its own."""
    from dashboard import data, ui
    from precompute.contract import schema

    m = data.scan(artifact_root).models[sorted(data.scan(artifact_root).models)[0]]
    first = ui.load(m, schema.NORMS_BY_CATEGORY, "norms by category")
    hits = viewcache.CACHE.stats.hits
    second = ui.load(m, schema.NORMS_BY_CATEGORY, "norms by category")
    assert viewcache.CACHE.stats.hits == hits + 1
    assert second is not first and second.equals(first)
    second["mine"] = 1
    assert "mine" not in ui.load(m, schema.NORMS_BY_CATEGORY, "norms by category")
