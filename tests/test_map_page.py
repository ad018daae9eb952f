"""The WebGL map: its payload (dashboard.mapdata) on hand-made tokens, the route that serves it over HTTP
(dashboard.components.payloads), and the Map page through AppTest on the conftest artifacts, through nginx, and
in Chromium for the fetch and its failure (tests/test_browser.py drives the drawing itself)."""

from __future__ import annotations

import asyncio
import gzip
import http.cookies
import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.load import Browser, Visit, run_page
from dashboard import charts, mapdata
from dashboard.components import payloads
from deploy.serve import STICKY_COOKIE
from precompute.contract import schema
from precompute.contract.categories import OTHER, PLOTTED
from tests.test_balancer import two  # noqa: F401 (a fixture: two processes behind nginx under /hp)
from tests.test_browser import PAGES, browser, open_app, page, server  # noqa: F401 (fixtures)

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402 (installed with streamlit)

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


def tokens(n: int = 5) -> pd.DataFrame:
    return pd.DataFrame({
        "id": np.arange(10, 10 + n), "x": np.linspace(-1, 3, n), "y": np.linspace(5, 7, n),
        "text": ["▁when", "▁quando", "когда", "東京", "!"][:n],
        "category": ["LATIN", "LATIN", "CYRILLIC", "CJK", "ARMENIAN"][:n],
        "language": ["en", "it", "ru", None, None][:n], "gloss": [None, "when", "when", "Tokyo", None][:n],
        "diversity": [1, 3, 3, 2, np.nan][:n], "norm": [1.0, 2.0, 3.0, 4.0, 5.0][:n],
        "frequency_decile": [9, 8, 0, 5, -1][:n],
    })


def test_payload_holds_every_token_compactly():
    order = list(charts.CATEGORY_ORDER)
    panel = mapdata.pack_panel(mapdata.Panel("m", "model m", tokens()), order)
    blob = mapdata.pack([panel, panel], order, charts.CATEGORY_COLORS, "sig")  # the second after the first's texts
    header, [arrays, again] = mapdata.unpack(blob)
    p = header["panels"][0]
    assert header["panels"][1] == p and all(np.array_equal(again[name], a) for name, a in arrays.items())
    assert header["signature"] == "sig" and p["n"] == 5 and p["extent"] == [-1, 3, 5, 7]
    assert arrays["x"].tolist() == [0, 16384, 32768, 49151, 65535]  # a quarter of the extent each
    assert arrays["y"].tolist() == arrays["x"].tolist()
    # ARMENIAN is no plotted category: it takes the last entry ("other")
    assert arrays["cat"].tolist() == [order.index("LATIN")] * 2 + [order.index("CYRILLIC"), order.index("CJK"),
                                                                    len(order) - 1]
    assert header["colours"][order.index("LATIN")] == charts.CATEGORY_COLORS["LATIN"]
    assert [p["languages"][i] for i in arrays["lang"]] == ["en", "it", "ru", "", ""]
    assert p["texts"] == ["▁when", "▁quando", "когда", "東京", "!"]
    assert p["glosses"] == ["", "when", "when", "Tokyo", ""]
    # integer colourings keep their values (byte = value - min), a missing one is MISSING
    assert arrays["diversity"].tolist() == [0, 2, 2, 1, mapdata.MISSING]
    assert p["ranges"]["diversity"] == {"min": 1.0, "max": 3.0, "integral": True}
    assert arrays["frequency"].tolist() == [10, 9, 1, 6, 0]
    assert arrays["density"].max() == 255
    assert len(blob) % 4 == 0


def test_value_bytes_quantise_real_values_over_their_central_range():
    values = pd.Series(np.r_[np.linspace(0, 1, 99), 100.0])  # one outlier
    b, lo, hi, integral = mapdata.value_bytes(values)
    assert not integral and hi < 2  # the 99th percentile, not the outlier
    assert b[0] == 0 and b[-1] == 254 and np.all(np.diff(b[:99].astype(int)) >= 0)


def test_density_peaks_where_points_pile_up():
    x = np.r_[np.full(50, 0.25), np.linspace(0, 1, 50)]
    grid = mapdata.density(x, np.full(100, 0.5), grid=8)
    assert grid.shape == (8, 8) and grid[4, 2] == 255 and grid[0].max() == 0


def test_labels_name_each_categorys_crowd_with_its_most_frequent_tokens():
    """Hand-placed: 40 LATIN tokens at (0.2, 0.2) with 10 CYRILLIC among them, 30 THAI at (0.8, 0.7), 5 CJK
    (too few for a label), and a second LATIN crowd of 26 at (0.8, 0.2)."""
    def crowd(x: float, y: float, n: int) -> tuple[np.ndarray, np.ndarray]:
        return np.full(n, x), np.full(n, y)

    parts = [(crowd(0.2, 0.2, 40), 0), (crowd(0.21, 0.2, 10), 1), (crowd(0.8, 0.7, 30), 2), (crowd(0.5, 0.5, 5), 3),
             (crowd(0.8, 0.2, 26), 0)]
    ux = np.concatenate([xy[0] for xy, _ in parts])
    uy = np.concatenate([xy[1] for xy, _ in parts])
    cat = np.concatenate([np.full(len(xy[0]), c) for xy, c in parts])
    texts = np.array([f"t{i}" for i in range(len(ux))], dtype=object)
    texts[[0, 1, 2, 3]] = ["a", "▁b", "▁internationale", "▁de"]  # one letter, long: behind and left out
    rank = np.arange(len(ux))
    labels = mapdata.cluster_labels(ux, uy, cat, ["LATIN", "CYRILLIC", "THAI", "CJK"], texts, rank)
    assert [(x["category"], x["n"]) for x in labels] == [("LATIN", 40), ("THAI", 30), ("LATIN", 26)]
    assert labels[0]["share"] == pytest.approx(0.8) and labels[1]["share"] == 1.0  # 40 of the 50 there
    assert labels[0]["tokens"] == ["▁de", "t4", "t5"]  # most frequent of 2+ characters; none over 12
    assert (labels[1]["x"], labels[1]["y"]) == (0.8, 0.7)
    assert mapdata.cluster_labels(ux, uy, cat, ["LATIN", "CYRILLIC", "THAI", "CJK"], texts, rank, min_tokens=10,
                                  most=3)[2]["category"] == "CYRILLIC"  # every category's first, then seconds
    assert mapdata.cluster_labels(ux, uy, cat, ["LATIN", "CYRILLIC", "THAI", "CJK"], texts, rank) == labels


def test_frequency_ranks_the_most_frequent_first_and_no_estimate_last():
    df = pd.DataFrame({"id": [7, 3, 5, 1], "frequency": [0.1, np.nan, 0.5, np.nan]})
    assert mapdata.frequency_rank(df).tolist() == [1, 3, 0, 2]


@pytest.mark.parametrize("ids", [[], [0], [7], [3, 1, 2], list(range(0, 5000, 37)), [123456, 5]])
def test_ids_round_trip_through_the_link(ids):
    text = mapdata.encode_ids(ids)
    assert mapdata.decode_ids(text) == sorted(set(ids))
    assert len(text) <= 4 * max(len(ids), 1)


def test_neighbour_rows_are_positions_of_drawn_neighbours():
    # vocabulary ids 0..5; the panel draws 5, 3, 1, 0 (2 and 4 are not drawn)
    neighbors = np.array([[1, 2, 3], [0, 5, 4], [3, 0, 1], [2, 1, -1], [0, 1, 2], [1, 0, 3]])
    ids = np.array([5, 3, 1, 0])
    # neighbours of 1 at k=2: 0 and 5, at rows 3 and 0; of 1 and 3 at k=3: 0, 5, 4, 2 -> drawn 0, 5
    assert mapdata.drawn_neighbour_positions(ids, neighbors, [1], 2).tolist() == [0, 3]
    assert mapdata.drawn_neighbour_positions(ids, neighbors, [1, 3], 3).tolist() == [0, 3]
    assert mapdata.drawn_neighbour_positions(ids, neighbors, [0], 3).tolist() == [1, 2]  # 1 and 3; 2 is not drawn
    assert mapdata.drawn_neighbour_positions(ids, neighbors, [], 3).tolist() == []


def test_differing_texts_take_the_lowest_jaccard_of_the_pair_in_either_order():
    table = pd.DataFrame({"model_a": ["a", "a", "a", "b", "a"], "model_b": ["b", "b", "b", "c", "b"],
                          "k": [10, 10, 10, 10, 50], "text": ["x", "y", "z", "w", "v"],
                          "jaccard": [0.5, 0.1, 0.3, 0.0, 0.0]})
    assert mapdata.differing_texts(table, "b", "a", 10, 2) == ["y", "z"]
    assert mapdata.differing_texts(table, "a", "b", 40, 5) == ["v"]  # the nearest k the table holds
    assert mapdata.differing_texts(table, "a", "c", 10, 5) == []


# ---- the payload over HTTP -------------------------------------------------------------------------------
def call(route: payloads.MapPayloadRoute, path: str, method: str = "GET",
         **headers: str) -> tuple[int, dict[str, str], bytes]:
    """One request through the ASGI middleware: (status, response headers, body)."""
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path,
             "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]}
    asyncio.run(route(scope, None, send))
    return (sent[0]["status"], {k.decode(): v.decode() for k, v in sent[0]["headers"]},
            b"".join(m.get("body", b"") for m in sent[1:]))


def test_the_route_serves_each_payload_packed_once_cacheable_and_compressed():
    store, packs = payloads.PayloadStore(kept=1), []

    def pack() -> bytes:
        packs.append(1)
        return b"HPM2" + bytes(range(256)) * 40

    async def inner(scope, receive, send) -> None:  # what Streamlit would answer
        await send({"type": "http.response.start", "status": 299, "headers": []})

    route = payloads.MapPayloadRoute(inner, base=lambda: "hp", store=store)
    assert store.served  # the page now sends addresses
    first = store.get("sig-a", pack)
    assert store.get("sig-a", pack) is first and len(packs) == 1
    assert first.path == f"_hp/map/{first.digest}.bin" and len(first.digest) == 32
    status, headers, body = call(route, f"/hp/{first.path}", accept_encoding="gzip, deflate, br")
    assert status == 200 and gzip.decompress(body) == pack() and len(body) < first.size == 4 + 256 * 40
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers["etag"] == f'"{first.digest}"' and headers["content-encoding"] == "gzip"
    assert headers["content-length"] == str(len(body))
    status, headers, body = call(route, f"/hp/{first.path}")  # a client that takes no gzip
    assert status == 200 and body == pack() and "content-encoding" not in headers
    status, headers, body = call(route, f"/hp/{first.path}", if_none_match=f'"x", "{first.digest}"')
    assert (status, body) == (304, b"") and headers["etag"] == f'"{first.digest}"'
    status, headers, body = call(route, f"/hp/{first.path}", "HEAD", accept_encoding="gzip")
    assert (status, body, headers["content-length"]) == (200, b"", str(len(first.gzipped)))
    assert call(route, f"/hp/{first.path}", "POST")[0] == 405
    assert call(route, f"/{first.path}")[0] == 299  # not under the base path: Streamlit's
    assert call(route, "/hp/map")[0] == 299
    digest = first.digest
    del first
    store.get("sig-b", lambda: pack()[::-1])  # the store keeps one: sig-a's payload is dropped
    for gone in (f"/hp/_hp/map/{digest}.bin", "/hp/_hp/map/../../etc/passwd", "/hp/_hp/map/x.bin"):
        status, headers, body = call(route, gone)
        assert status == 404 and headers["cache-control"] == "no-store" and b"Reload the page" in body


# ---- the page ----------------------------------------------------------------------------------------
def run_map(monkeypatch: pytest.MonkeyPatch, root: Path, **params: str | list[str]) -> AppTest:
    monkeypatch.setenv(schema.ARTIFACTS_ENV, str(root))
    at = AppTest.from_file(str(APP), default_timeout=60)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    at.switch_page(str(APP.parent / "app_pages" / "map.py")).run()
    assert not at.exception, at.exception
    return at


def map_data(at: AppTest) -> tuple[dict, dict]:
    """The payload's header and the link the page sent to the map."""
    elements = [e for e in at.get("bidi_component")]
    blob = next(e.proto.bytes for e in elements if e.proto.component_name == "hp_map")
    link = json.loads(next(e.proto.json for e in elements if e.proto.component_name == "hp_map_link"))
    return mapdata.unpack(blob)[0], link


def test_map_page_sends_every_token_of_every_model(monkeypatch, artifact_root):
    at = run_map(monkeypatch, artifact_root)
    header, link = map_data(at)
    assert link["signature"] == header["signature"] and link["colour"] == "category"
    assert header["categories"] == [*PLOTTED, OTHER]  # one legend, one colour per category, as every chart
    assert len(set(header["colours"])) == 16 and header["colours"][-1] == charts.CATEGORY_COLORS[OTHER]
    for p in header["panels"]:
        tok = pd.read_parquet(artifact_root / p["slug"] / schema.TOKENS)
        coords = pd.read_parquet(artifact_root / p["slug"] / schema.MAP)
        joined = coords.merge(tok[~tok["is_special"]], on="id")
        drawn = joined.dropna(subset=["umap_x"])
        assert p["n"] == len(drawn) > 100 and p["unplaced"] == len(joined) - len(drawn)
        assert p["labels"] and all(x["category"] in header["categories"] and x["n"] >= mapdata.MIN_LABEL_TOKENS
                                   and set(x["tokens"]) <= set(p["texts"]) for x in p["labels"])


def test_with_the_route_the_page_sends_the_payloads_address_not_its_bytes(monkeypatch, artifact_root):
    """As served by dashboard/server.py: the session gets an address of a few dozen bytes; the bytes behind it
    are the payload the page would otherwise have sent."""
    inline = next(e.proto for e in run_map(monkeypatch, artifact_root).get("bidi_component")
                  if e.proto.component_name == "hp_map")
    monkeypatch.setattr(payloads.STORE, "served", True)
    at = run_map(monkeypatch, artifact_root)
    element = next(e.proto for e in at.get("bidi_component") if e.proto.component_name == "hp_map")
    sent = json.loads(element.json)
    link = json.loads(next(e.proto.json for e in at.get("bidi_component") if e.proto.component_name == "hp_map_link"))
    payload = payloads.STORE.find(sent["url"].removeprefix(payloads.ROUTE).removesuffix(".bin"))
    assert sent == {"url": payload.path, "page": "map", "signature": link["signature"]} and not element.bytes
    assert gzip.decompress(payload.gzipped) == inline.bytes  # the same payload, packed once
    assert len(element.json) < 300 < 10_000 < len(inline.bytes)
    assert any(f"{len(payload.gzipped) / 2**20:.1f} MB" in c.value for c in at.caption)


def test_a_token_without_a_position_is_counted_not_hidden(monkeypatch, artifact_root, tmp_path):
    """UMAP leaves a token unplaced now and then (wordllama-l2's "ﬁ"): the panel says how many."""
    import shutil

    from precompute.contract.store import sha256_file

    root = tmp_path / "artifacts"
    shutil.copytree(artifact_root, root)
    slug = next(d.name for d in root.iterdir() if (d / schema.MANIFEST).exists())
    coords = pd.read_parquet(root / slug / schema.MAP)
    coords.loc[coords.index[:2], ["umap_x", "umap_y"]] = np.nan
    coords.to_parquet(root / slug / schema.MAP)
    manifest = json.loads((root / slug / schema.MANIFEST).read_text())
    manifest["files"][schema.MAP]["sha256"] = sha256_file(root / slug / schema.MAP)  # (the page caches by it)
    (root / slug / schema.MANIFEST).write_text(json.dumps(manifest))
    header, _ = map_data(run_map(monkeypatch, root, models=slug))
    assert header["panels"][0]["unplaced"] == 2


def test_a_shared_selection_comes_back_with_its_neighbours_in_every_model(monkeypatch, artifact_root):
    at = run_map(monkeypatch, artifact_root)
    header, _ = map_data(at)
    first, second = header["panels"][:2]
    text = next(t for t in first["texts"] if t in set(second["texts"]) and t.startswith("▁"))
    token_id = int(pd.read_parquet(artifact_root / first["slug"] / schema.TOKENS).set_index("text")
                   .loc[text, "id"])
    at = run_map(monkeypatch, artifact_root, sel=f"{first['slug']}~{mapdata.encode_ids([token_id])}",
                 color="norm", only="LATIN")
    _, link = map_data(at)
    row = first["texts"].index(text)
    assert link["init"] == {"selection": {"panel": first["slug"], "rows": [row]}, "only": "LATIN", "zoom": {}}
    assert link["colour"] == "norm"
    assert link["neighbours"]["key"] == f"{first['slug']}:1:{row}"
    assert set(link["neighbours"]["rows"]) == {p["slug"] for p in header["panels"]}
    assert all(0 < len(rows) <= 50 for rows in link["neighbours"]["rows"].values())
    assert any(text in md.value for md in at.markdown)  # the neighbour tables under the map
    assert len(at.dataframe) == len(header["panels"])


def test_search_finds_the_token_in_each_panel(monkeypatch, artifact_root):
    at = run_map(monkeypatch, artifact_root, find="when")
    header, link = map_data(at)
    assert link["focus"]["key"] == "when"
    for p in header["panels"]:
        row = link["focus"]["rows"].get(p["slug"])
        assert row is not None and p["texts"][row] in {"▁when", "when", "When", "▁When"}


def test_figure1_mode_draws_two_models_on_their_shared_vocabulary(monkeypatch, artifact_root):
    at = run_map(monkeypatch, artifact_root, mapmode="figure1", differ="True")
    header, link = map_data(at)
    shared = pd.read_parquet(next((artifact_root / schema.COMPARISONS_DIR).iterdir()) / schema.SHARED_MAP)
    assert len(header["panels"]) == 2
    for p in header["panels"]:
        assert p["n"] == (shared["model"] == p["slug"]).sum()
    assert all(0 < len(link["marks"][p["slug"]]) <= 200 for p in header["panels"])


# ---- through nginx (the balancer test's fixture: two processes under /hp) ------------------------------
def test_through_nginx_under_a_prefix_a_reader_fetches_the_payload_from_its_own_process(two):  # noqa: F811
    """A browser's Map session through the balancer, the dashboard under /hp: the websocket carries the address,
    the payload comes over HTTP from the process of the session (its cookie), cacheable; the other process,
    which never drew this view, says 404 and what to do; nginx, which keeps what it passed on, answers that
    process's readers from its cache."""
    b = two
    host = b.url.split("://", 1)[1].split("/", 1)[0]

    async def session() -> tuple[Browser, list[str]]:
        async with connect(f"ws://{b.url.split('://', 1)[1]}/_stcore/stream", subprotocols=["streamlit"],
                           max_size=None, origin=f"http://{host}", open_timeout=60) as ws:
            reader = Browser(b.url, ws)
            _, problems = await run_page(ws, Visit("map", "map"), 120, reader)
            return reader, problems

    reader, problems = asyncio.run(session())
    [address] = reader.fetched
    assert problems == [] and address.startswith(payloads.ROUTE) and reader.cookie.startswith(f"{STICKY_COOKIE}=w")

    def get(cookie: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(f"{b.url}/{address}", headers={"Cookie": cookie, **headers})
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    status, headers, body = get(reader.cookie, **{"Accept-Encoding": "gzip"})
    reader_body = body
    header, _ = mapdata.unpack(gzip.decompress(body))
    assert status == 200 and headers["content-encoding"] == "gzip" and len(header["panels"]) >= 2
    assert reader.http_bytes > len(body) > 10_000  # what the session fetched: these bytes and the headers
    assert headers["cache-control"] == payloads.CACHE_CONTROL and headers["etag"].strip('"') in address
    assert get(reader.cookie, **{"If-None-Match": headers["etag"]})[0] == 304
    other = 1 if http.cookies.SimpleCookie(reader.cookie)[STICKY_COOKIE].value == "w0" else 0
    # the other process never drew this view: asked directly, it says 404 and what to do
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{b.worker_ports[other]}/hp/{address}", timeout=30)
    assert refused.value.code == 404 and b"Reload the page" in refused.value.read()
    # through nginx, which keeps what it passed on, a reader of that process gets the payload all the same
    status, headers, cached = get(f"{STICKY_COOKIE}=w{other}", **{"Accept-Encoding": "gzip"})
    assert status == 200 and headers["x-cache-status"] == "HIT" and cached == reader_body


def test_in_a_browser_the_map_fetches_its_payload_once_and_says_so_when_it_cannot(page, server):  # noqa: F811
    """Chromium: the map draws from the payload it fetched (gzip); when the address answers 404 (a server that
    restarted) the panel says what happened and offers a reload, never a blank panel."""
    url = f"{server}/{PAGES['map'].url_path}"
    open_app(page, url)
    page.wait_for_function("() => globalThis.__hpMapStats && globalThis.__hpMapStats.frames.length > 0")
    fetched = page.evaluate("() => performance.getEntriesByType('resource').filter(e => e.name.includes('/_hp/map/'))"
                            ".map(e => [e.encodedBodySize, e.decodedBodySize])")
    assert len(fetched) == 1 and 10_000 < fetched[0][0] < fetched[0][1]  # one fetch, compressed
    page.route("**/_hp/map/*", lambda route: route.fulfill(status=404, content_type="text/plain; charset=utf-8",
                                                           body="This map data is not on the server any more."))
    open_app(page, url)
    failed = page.locator(".hpmap .status.failed")
    failed.wait_for()
    assert "could not be loaded: HTTP 404. This map data is not on the server any more." in failed.inner_text()
    assert failed.locator("button", has_text="Reload the page").is_visible()
