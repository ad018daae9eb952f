"""How fast and how big the WebGL Map page is: ready time, bytes sent per panel, frames while panning,
the selection's round trip to Python, server memory.

    .venv/bin/python benchmarks/map_page.py --artifacts DIR      # e.g. four models, the largest 250k tokens

Serves the dashboard (``streamlit run dashboard/server.py``) and drives Debian's headless Chromium:

- ready: navigation to the Map page until every panel is drawn (cold: the first visit of the server;
  warm: the median of new tabs afterwards, tables and payload cached, each tab a first visit of its
  browser; and for a returning reader, whose browser has Streamlit's scripts cached); goal <= 2 s warm. Where a warm
  tab's time goes: until the payload reaches the map (Streamlit's start, the script, the transfer), its
  parsing, building the panels, the first frame;
- bytes: what the WebSocket carried to the browser, and the payload fetched over HTTP (its address is all the
  WebSocket carries of it: dashboard/components/payloads.py; gzip, cacheable, so a returning reader's tab
  fetches nothing), for the page with each model alone; goal <= 8 MB per panel. A rerun after a selection is
  measured too (the payload is not sent again);
- frames: a 3-second drag in the largest panel; frames drawn per second and the median time to issue a
  frame. Headless Chromium renders WebGL on the CPU (SwiftShader): a GPU draws far faster;
- selection round trip: a click until the other panels show the token's neighbours (sent by Python);
- server memory: resident set of the streamlit process at the end; goal <= 1.5 GB.
Not a test: run it once and copy the figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402

from precompute.contract.naming import default_root  # noqa: E402
from tests.test_browser import chromium, streamlit_server  # noqa: E402

STAGES = ".hpmap .stage"


def open_map(browser, url: str, received: list[int], context=None) -> tuple[object, float]:
    """A new tab on ``url``; the seconds until every panel has drawn a frame (WebSocket bytes into ``received``).

    In a fresh browser context (a first visit: Streamlit's scripts fetched again), or in ``context`` (a
    returning reader: the browser's cache holds them)."""
    tab = context.new_page() if context else browser.new_page(viewport={"width": 1440, "height": 1000})
    tab.on("websocket", lambda ws: ws.on("framereceived", lambda f: received.append(len(f))))
    start = time.monotonic()
    tab.goto(url, wait_until="domcontentloaded")
    tab.wait_for_selector(STAGES, timeout=120_000)
    tab.wait_for_function("() => globalThis.__hpMapStats && globalThis.__hpMapStats.frames.length > 0",
                          timeout=120_000)
    return tab, time.monotonic() - start


def fetched(tab) -> list[int]:
    """Bytes of each Map payload fetched over HTTP by ``tab`` (headers included; 0: from the browser's cache)."""
    return tab.evaluate("() => performance.getEntriesByType('resource').filter(e => e.name.includes('/_hp/map/'))"
                        ".map(e => e.transferSize)")


def timeline(tab) -> tuple[float, float, float, float]:
    """Milliseconds since navigation: payload at the map, parsed, panels built, first frame drawn."""
    s = tab.evaluate("() => globalThis.__hpMapStats")
    return s["arrivedMs"], s["parseMs"], s["buildMs"], s["frames"][0]["at"]


def pan_fps(tab, index: int, seconds: float = 3.0) -> tuple[float, float]:
    box = tab.locator(STAGES).nth(index).bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    tab.evaluate("() => { globalThis.__hpMapStats.frames.length = 0 }")
    tab.mouse.move(cx, cy)
    tab.mouse.down()
    end, i = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        i += 1
        tab.mouse.move(cx + 60 * ((i % 40) / 40 - 0.5), cy + 40 * ((i % 25) / 25 - 0.5))
    tab.mouse.up()
    frames = tab.evaluate("() => globalThis.__hpMapStats.frames.map(f => [f.at, f.ms])")
    span = (frames[-1][0] - frames[0][0]) / 1000 if len(frames) > 1 else float("nan")
    return (len(frames) - 1) / span, statistics.median(ms for _, ms in frames)


def selection_round_trip(tab, index: int) -> float:
    """Click near the middle of panel ``index`` until a token is selected; seconds until neighbours are lit."""
    stages = tab.locator(STAGES)
    box = stages.nth(index).bounding_box()
    for step in range(60):
        x = box["x"] + box["width"] * (0.3 + 0.4 * ((step * 7) % 10) / 10)
        y = box["y"] + box["height"] * (0.3 + 0.4 * ((step * 3) % 10) / 10)
        start = time.monotonic()
        tab.mouse.click(x, y)
        if int(stages.nth(index).get_attribute("data-selected") or 0):
            tab.wait_for_function("""() => [...document.querySelectorAll('*')].some(e => e.shadowRoot &&
                [...e.shadowRoot.querySelectorAll('.stage')].some(s => +s.dataset.near > 0))""", timeout=60_000)
            return time.monotonic() - start
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=default_root())
    parser.add_argument("--warm", type=int, default=5, help="warm tabs to open (the median is printed)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, \
            streamlit_server(args.artifacts, Path(tmp) / "server.log") as (url, process), chromium() as browser:
        page = f"{url}/map"
        cold_bytes: list[int] = []
        tab, cold = open_map(browser, page, cold_bytes)
        tab.close()
        warm, steps = [], []
        for i in range(args.warm):
            if i:
                tab.close()
            warm_bytes: list[int] = []
            tab, seconds = open_map(browser, page, warm_bytes)
            warm_fetched = fetched(tab)
            warm.append(seconds)
            steps.append(timeline(tab))
        sizes = tab.evaluate("() => [...document.querySelectorAll('*')].flatMap(e => e.shadowRoot ? "
                             "[...e.shadowRoot.querySelectorAll('.stage')].map(s => s.dataset.slug) : [])")
        counts = tab.locator(".hpmap .count").all_inner_texts()
        largest = max(range(len(counts)), key=lambda i: int(counts[i].split()[0].replace(",", "")))
        shown = ", ".join(f"{s} {c.strip()}" for s, c in zip(sizes, counts, strict=True))
        print(f"Map page, {len(sizes)} models ({shown})")
        print(f"ready: cold {cold:.2f} s, warm {statistics.median(warm):.2f} s (median of "
              f"{', '.join(f'{w:.2f}' for w in warm)}; goal <= 2 s warm); sent {sum(warm_bytes) / 2**20:.2f} MB "
              f"over the WebSocket and {sum(warm_fetched) / 2**20:.2f} MB over HTTP ({len(warm_fetched)} fetches)")
        returning_reader = browser.new_context(viewport={"width": 1440, "height": 1000})
        open_map(browser, page, [], returning_reader)[0].close()  # the visit that fills the browser's cache
        returning, returning_fetched = [], []
        for _ in range(args.warm):
            again, seconds = open_map(browser, page, [], returning_reader)
            returning.append(seconds)
            returning_fetched += fetched(again)
            again.close()
        print(f"ready for a returning reader (the browser's cache warm): {statistics.median(returning):.2f} s "
              f"(median of {', '.join(f'{w:.2f}' for w in returning)}; goal <= 2 s); payload over HTTP: "
              f"{sum(returning_fetched) / 2**20:.2f} MB in {len(returning_fetched)} fetches (0: the browser's cache)")
        arrived, parse, build, frame = (statistics.median(s) for s in zip(*steps, strict=True))
        print(f"  warm, in the browser (medians): payload at the map {arrived:.0f} ms after navigation, parsed in "
              f"{parse:.0f} ms, panels built in {build:.0f} ms, first frame at {frame:.0f} ms")
        fps, issue = pan_fps(tab, largest)
        print(f"panning {sizes[largest]}: {fps:.1f} frames/s, {issue:.1f} ms to issue a frame (SwiftShader)")
        before = len(warm_bytes)
        seconds = selection_round_trip(tab, largest)
        tab.wait_for_timeout(1500)
        print(f"selection -> neighbours lit in every panel: {seconds:.2f} s; that rerun sent "
              f"{sum(warm_bytes[before:]) / 2**10:.0f} kB (the payload is not sent again)")
        tab.close()
        for slug in sizes:
            alone: list[int] = []
            tab, _ = open_map(browser, f"{page}?models={slug}", alone)
            tab.wait_for_timeout(1000)
            print(f"  {slug}: {(sum(alone) + sum(fetched(tab))) / 2**20:.2f} MB to the browser, of which "
                  f"{sum(fetched(tab)) / 2**20:.2f} MB over HTTP (goal <= 8 MB per panel)")
            tab.close()
        rss = psutil.Process(process.pid).memory_info().rss + sum(
            c.memory_info().rss for c in psutil.Process(process.pid).children(recursive=True))
        print(f"server memory (RSS): {rss / 2**30:.2f} GB (goal <= 1.5 GB)")


if __name__ == "__main__":
    main()
