"""The dashboard in a real browser: headless Chromium against `streamlit run dashboard/server.py` (the
app as served) on the conftest artifacts.

AppTest (test_dashboard_pages.py) runs the scripts; only a browser shows what users see: that the
front end draws every Altair chart, that no exception box appears, that no request leaves for
another host, that a shared link's filters come back in the widgets and survive a page switch, that
long links and unknown paths are answered, and how RTL and CJK tokens look. Every page is saved as a
full-page screenshot in tests/screenshots/ (git-ignored) for a human look.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from dashboard import pages
from precompute.contract import schema

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
#: The declared pages (dashboard.pages), by name.
PAGES = {p.name: p for p in pages.discover().pages}
#: The h1 of the pages whose heading is not their title in the navigation.
HEADINGS = {"overview": "Hyperpolyglot", "diversity": "Neighbourhood diversity", "geometry": "Geometry similarity",
            "vocabulary": "Vocabulary overlap"}
#: Pages that show tables and numbers but no Altair chart (the Map draws with WebGL).
WITHOUT_CHARTS = {"overview", "neighbors", "map"}
#: The shared link of the round-trip test: one model, three categories, a non-default k, a katakana query.
SHARED_MODEL = "usem3-sample"
SHARED_CATEGORIES = ["LATIN", "KATAKANA", "HEBREW"]
SHARED_K = 20
SHARED_QUERY = "▁アメリカ"
#: Every page is drawn at these window widths: a laptop, half a screen, a phone.
WIDTHS = (1440, 800, 390)

NO_BROWSER = (f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium fonts-noto-core "
              "fonts-noto-cjk) to run the browser test" if not CHROMIUM.exists() else None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"streamlit did not answer {url}/_stcore/health within {timeout:.0f} s:\n"
                       f"{log.read_text()[-3000:]}")


@contextlib.contextmanager
def streamlit_server(artifacts: Path, log: Path, timeout: float = 90) -> Iterator[tuple[str, subprocess.Popen]]:
    """`streamlit run dashboard/app.py` on a free port over ``artifacts``; stopped however the block ends."""
    port = _free_port()
    env = {**os.environ, schema.ARTIFACTS_ENV: str(artifacts)}
    command = [sys.executable, "-m", "streamlit", "run", "dashboard/server.py", "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
               "--client.showErrorDetails", "full"]  # a traceback, if any, is then on screen for the assertion
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log, timeout)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright (its own browser downloads are not needed)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def server(artifact_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if NO_BROWSER:
        pytest.skip(NO_BROWSER)
    with streamlit_server(artifact_root, tmp_path_factory.mktemp("streamlit") / "server.log") as (url, _):
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if NO_BROWSER:
        pytest.skip(NO_BROWSER)
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900}, locale="en-GB")
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


#: How long a download may take after its click: a chart's first SVG or PNG starts vl-convert's JavaScript
#: engine in the server process, which took over 30 s (Playwright's default) once on a busy 2-core machine.
DOWNLOAD_MS = 90_000


# ---- waiting for Streamlit -----------------------------------------------------------------------------
#: null while the page is still working (a "running" indicator, a skeleton placeholder, a spinner, a
#: Vega chart without its marks), else the length of the page's text, to see whether it still changes.
_SETTLED_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main || !main.querySelector('h1')) return null;
  if (document.querySelector('[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"]'))
    return null;
  if (document.querySelector('[data-testid="stSkeleton"], [data-testid="stSpinner"]')) return null;
  for (const c of document.querySelectorAll('[data-testid="stVegaLiteChart"]'))
    if (!c.querySelector('canvas.marks, svg.marks')) return null;
  return document.body.innerText.length;
}"""


def settle(page, timeout: float = 45) -> float:
    """Wait until the page has stopped changing for 0.8 s after its script run (Streamlit reruns in bursts).

    Returns the time (time.monotonic) the final state was first seen: when the page was done.
    """
    deadline = time.monotonic() + timeout
    last, since, stable = None, 0.0, 0
    while time.monotonic() < deadline:
        state = page.evaluate(_SETTLED_JS)
        if state is not None and state == last:
            stable += 1
        else:
            last, since, stable = state, time.monotonic(), 0
        if stable >= 8:
            return since
        page.wait_for_timeout(100)
    raise AssertionError(f"{page.url} did not finish rendering within {timeout:.0f} s")


def open_app(page, url: str) -> float:
    """Load ``url`` and wait until it is drawn; returns the seconds it took."""
    start = time.monotonic()
    page.goto(url, wait_until="domcontentloaded")
    return settle(page) - start


def assert_no_exception(page) -> None:
    boxes = page.locator('[data-testid="stException"]')
    assert boxes.count() == 0, f"{page.url} shows an exception:\n{boxes.first.inner_text()}"
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert "Traceback" not in text, f"{page.url} shows a traceback:\n{text[:2000]}"


def screenshot(page, name: str) -> Path:
    """The whole page: Streamlit scrolls inside its main section, so grow the viewport to fit it first."""
    SCREENSHOTS.mkdir(exist_ok=True)
    height = page.evaluate("""() => Math.max(...['stMain', 'stSidebarContent'].map(id =>
        (document.querySelector(`[data-testid="${id}"]`) || {scrollHeight: 0}).scrollHeight))""")
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": min(max(int(height), size["height"]), 12_000)})
    page.wait_for_timeout(300)  # same width: charts keep their layout, the page only paints the rest
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path


#: Text the reader cannot read whole: an element that clips its own text (overflow hidden, or an ellipsis:
#: a button reading "D…"), text that runs past the right edge of the window, a chart wider than its column,
#: or a chart's label that Vega cut to its labelLimit ("multilingual-e5-s…": the charts are drawn as SVG,
#: charts.fit_width, so their text is in the page). Components' shadow DOM (the Map's panel heads) is
#: searched too. Content inside a box the reader can scroll sideways (a wide table) is not counted.
_OVERFLOW_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const width = document.documentElement.clientWidth;
  const scrolls = el => { for (let a = el.parentElement; a && a !== main; a = a.parentElement) {
      const x = getComputedStyle(a).overflowX; if (x === 'auto' || x === 'scroll') return true; } return false; };
  const name = el => ((el.closest('[data-testid]') || el).getAttribute('data-testid') || el.className) + ' ' +
    el.tagName.toLowerCase();
  const every = root => [...root.querySelectorAll('*')].flatMap(el =>
    el.shadowRoot ? [el, ...every(el.shadowRoot)] : [el]);
  const found = [];
  for (const el of every(main)) {
    const own = [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
    const style = getComputedStyle(el), box = el.getBoundingClientRect();
    if (style.visibility === 'hidden' || box.width === 0 || box.height === 0 || scrolls(el)) continue;
    // a box that cuts what it holds: its own text, or text a child holds (a metric's label, a button's)
    const cuts = ['hidden', 'clip'].includes(style.overflowX) || style.textOverflow === 'ellipsis';
    const holds = cuts && !el.querySelector('canvas, svg, input, textarea, img');
    const text = own || (holds ? (el.innerText || '').trim() : '');
    if (!text) continue;
    const clipped = cuts && el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0;
    const where = clipped ? ` clipped (${el.scrollWidth} px in ${el.clientWidth})`
                          : ` ends at ${Math.round(box.right)} px of ${width}`;
    if (clipped || (own && box.right > width + 1)) found.push(`${name(el)}: "${text.slice(0, 60)}"` + where);
  }
  for (const chart of main.querySelectorAll('[data-testid="stVegaLiteChart"]')) {
    for (const text of chart.querySelectorAll('svg.marks text'))
      if (text.textContent.endsWith('…')) found.push(`chart label cut by Vega: "${text.textContent}"`);
    const marks = chart.querySelector('canvas.marks, svg.marks');
    if (!marks || scrolls(marks)) continue;
    const outer = chart.getBoundingClientRect(), inner = marks.getBoundingClientRect();
    if (inner.right > Math.min(outer.right, width) + 1)
      found.push(`chart "${(chart.innerText || '').slice(0, 40)}" is ${Math.round(inner.width)} px wide ` +
                 `in ${Math.round(outer.width)}`);
  }
  return found;
}"""


def assert_text_fits(page) -> None:
    """No text is cut or runs off the window at the page's width (see :data:`_OVERFLOW_JS`)."""
    overflowing = page.evaluate(_OVERFLOW_JS)
    assert not overflowing, f"{page.url} at {page.viewport_size['width']} px:\n" + "\n".join(overflowing[:20])


def record_requests(page) -> list[str]:
    """Every URL the page requests from now on (documents, scripts, fonts, icons, sockets)."""
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.on("websocket", lambda ws: urls.append(ws.url))
    return urls


def elsewhere(urls: list[str], server: str) -> list[str]:
    """The requested URLs that are not the app's own (another scheme, host or port)."""
    own = urlsplit(server).netloc
    return [u for u in urls if not u.startswith(("data:", "blob:")) and urlsplit(u).netloc != own]


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def multiselect_values(page, label: str) -> list[str]:
    box = page.locator('[data-testid="stMultiSelect"]').filter(has_text=label)
    tags = box.locator("[data-tag]")
    return [tags.nth(i).get_attribute("aria-label") for i in range(tags.count())]


def page_url(server: str, name: str) -> str:
    """A page's address; the Neighbours page with the shared query, so it shows a table."""
    return f"{server}/{PAGES[name].url_path}" + (f"?q={quote(SHARED_QUERY)}" if name == "neighbors" else "")


# ---- the tests ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_renders_its_charts(page, server, name):
    url = page_url(server, name)
    requested = record_requests(page)
    open_app(page, url)
    assert_no_exception(page)
    assert requested and not elsewhere(requested, server), elsewhere(requested, server)  # hosted or air-gapped
    assert page.locator('[data-testid="stMain"] h1').first.inner_text().strip() == HEADINGS.get(name, PAGES[name].title)
    charts = page.locator('[data-testid="stVegaLiteChart"]')
    if name not in WITHOUT_CHARTS:
        assert charts.count() >= 1, f"no chart on {url}"
        for i in range(charts.count()):
            box = charts.nth(i).locator("canvas.marks, svg.marks").first.bounding_box()
            assert box and box["width"] > 50 and box["height"] > 50, f"chart {i} of {url} is empty: {box}"
    if name == "neighbors":  # the USE sample has the katakana word, Llama-2's vocabulary has not
        assert page.locator('[data-testid="stDataFrame"]').count() == 1
        assert "wordllama-sample has no token" in page.locator('[data-testid="stMain"]').inner_text()
    screenshot(page, f"page_{name}")
    assert_text_fits(page)


@pytest.mark.parametrize("width", WIDTHS[1:])
@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_fits_narrower_windows(page, server, name, width):
    page.set_viewport_size({"width": width, "height": 900})
    open_app(page, page_url(server, name))
    assert_no_exception(page)
    screenshot(page, f"page_{name}_{width}")  # first, so a failure can be seen
    assert_text_fits(page)


def test_shared_link_restores_filters_across_pages(page, server):
    link = (f"{server}/{PAGES['neighbors'].url_path}?models={SHARED_MODEL}&cats={','.join(SHARED_CATEGORIES)}"
            f"&k={SHARED_K}&q={quote(SHARED_QUERY)}")
    open_app(page, link)
    assert_no_exception(page)
    assert multiselect_values(page, "Models") == [SHARED_MODEL]
    assert multiselect_values(page, "Token categories") == SHARED_CATEGORIES
    assert page.locator('[data-testid="stSliderThumbValue"]').first.inner_text().strip() == str(SHARED_K)
    assert page.locator('input[aria-label="Token or expression"]').input_value() == SHARED_QUERY
    # one model selected: one neighbour table of k rows, headed by the query's own line
    assert page.locator('[data-testid="stDataFrame"]').count() == 1
    assert SHARED_QUERY in page.locator('[data-testid="stMain"]').inner_text()
    screenshot(page, "shared_link_neighbours")

    # the link spelled the list with commas, as links were shared before; the URL now repeats the parameter
    expected = {"models": [SHARED_MODEL], "cats": SHARED_CATEGORIES, "k": [str(SHARED_K)]}
    assert {name: query(page).get(name) for name in expected} == expected
    page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="Diversity").click()
    page.wait_for_url(f"**/{PAGES['diversity'].url_path}**")
    settle(page)
    assert_no_exception(page)
    assert {name: query(page).get(name) for name in expected} == expected, page.url
    assert multiselect_values(page, "Models") == [SHARED_MODEL]
    assert multiselect_values(page, "Token categories") == SHARED_CATEGORIES
    assert f"k = {SHARED_K}" in page.locator('[data-testid="stMain"]').inner_text()


def test_nonsense_link_warns_instead_of_failing(page, server):
    open_app(page, f"{server}/map?models=no-such-model&k=-3&cats=%3Cscript%3Ealert(1)%3C/script%3E"
                   f"&layout=%3Cb%3Ex%3C/b%3E&q={'x' * 3000}")
    assert_no_exception(page)
    warnings = page.locator('[data-testid="stAlert"]').all_inner_texts()
    assert any("no-such-model" in w for w in warnings), warnings
    assert any("-3" in w for w in warnings), warnings
    assert page.locator("script", has_text="alert(1)").count() == 0
    screenshot(page, "nonsense_link")


def test_unknown_nested_path_shows_page_not_found(page, server):
    """Streamlit's page at /nope/deeper loads its scripts from /nope/static/ (its page again): a blank
    page; dashboard/server.py sends it to /nope-deeper, where the "Page not found" dialog shows."""
    open_app(page, f"{server}/nope/deeper?k={SHARED_K}")
    assert "Page not found" in page.locator('[role="dialog"]').inner_text()
    assert page.locator('[data-testid="stMain"] h1').first.inner_text().strip() == HEADINGS["overview"]
    assert_no_exception(page)


def test_long_queries_never_reach_the_address_bar(page, server):
    """A query longer than the box takes is refused as it is pasted or typed (the box counts up to 100),
    so it never reaches the address; a 10 kB link opens, warns, and is rewritten to the cut text. Every
    address stays under 2,000 characters.

    A 100 kB link is refused by the server before the app runs (HTTP 400, when the browser's request
    arrives in pieces: uvicorn's h11 parser buffers at most 16 KiB of an incomplete request head, and
    Streamlit does not expose that setting). Nothing the app writes comes near it.
    """
    from dashboard import state

    open_app(page, f"{server}/{PAGES['neighbors'].url_path}")
    box = page.locator('input[aria-label="Token or expression"]')
    box.click()
    page.keyboard.insert_text("ж" * 150)  # as pasted; 2 UTF-8 bytes: 6 characters each in the address
    assert box.input_value() == "" and "q" not in query(page)  # refused whole, as Streamlit does
    assert page.locator('[data-testid="InputInstructions"]').inner_text().endswith(f"0/{state.MAX_TEXT_LENGTH}")
    page.keyboard.insert_text("ж" * state.MAX_TEXT_LENGTH)
    page.keyboard.type("жж")  # typed past the limit: not taken
    assert box.input_value() == "ж" * state.MAX_TEXT_LENGTH
    box.press("Enter")
    page.wait_for_function("() => location.search.includes('q=')")
    settle(page)
    assert query(page)["q"] == ["ж" * state.MAX_TEXT_LENGTH] and len(page.url) < state.MAX_LINK_LENGTH
    screenshot(page, "long_query_typed")

    linked = page.context.new_page()  # a link opened in a new tab: a new session
    seconds = open_app(linked, f"{server}/{PAGES['neighbors'].url_path}?q={'x' * 10_000}")
    assert_no_exception(linked)
    warnings = linked.locator('[data-testid="stAlert"]').all_inner_texts()
    assert any("10,000 characters long" in w for w in warnings), warnings
    assert linked.locator('input[aria-label="Token or expression"]').input_value() == "x" * state.MAX_TEXT_LENGTH
    linked.wait_for_function(f"() => location.href.length < {state.MAX_LINK_LENGTH}")
    print(f"10 kB link: opened and cut in {seconds:.1f} s")
    screenshot(linked, "long_query_link")


def map_labels(page) -> list[list[dict]]:
    """Each panel's cluster labels as drawn: their category and box (left, top, right, bottom, CSS px)."""
    stages = page.locator(".hpmap .stage")
    page.wait_for_function("() => [...document.querySelectorAll('*')].some(e => e.shadowRoot && "
                           "e.shadowRoot.querySelector('.hpmap .stage[data-labels]'))")
    return [json.loads(stages.nth(i).get_attribute("data-labels") or "[]") for i in range(stages.count())]


def test_map_labels_its_crowds_legibly(page, server):
    """Every panel names its crowds (category, share, frequent tokens) on the map: each label whole inside its
    panel, none over another; isolating a category in the legend keeps only its labels."""
    open_app(page, f"{server}/{PAGES['map'].url_path}")
    size = page.locator(".hpmap .stage").first.bounding_box()
    panels = map_labels(page)
    assert len(panels) == 2 and all(panels), panels
    for labels in panels:
        boxes = [x["box"] for x in labels]
        assert all(0 <= b[0] < b[2] <= size["width"] and 0 <= b[1] < b[3] <= size["height"] for b in boxes), boxes
        assert not any(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
                       for i, a in enumerate(boxes) for b in boxes[i + 1:]), boxes
    page.locator(".hpmap .chip[data-category='N']").click()
    page.wait_for_function("() => location.search.includes('only=N')")
    assert {x["category"] for labels in map_labels(page) for x in labels} == {"N"}
    screenshot(page, "map_labels_isolated")


def test_map_pans_hovers_searches_and_links_the_selection(page, server):
    """The WebGL map: every panel drawn, a hover shows the token, a pan redraws, a search flies to the token and
    selects it, and the same text lights up in the other panel with its neighbours (sent back by Python)."""
    requested = record_requests(page)
    open_app(page, f"{server}/{PAGES['map'].url_path}")
    assert_no_exception(page)
    stages = page.locator(".hpmap .stage")
    assert stages.count() == 2
    box = stages.nth(0).bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    tip = page.locator(".hpmap .tip")
    for step in range(80):  # the sample is sparse: walk until a point is under the pointer
        page.mouse.move(box["x"] + 20 + (step * 37) % (box["width"] - 40), cy - 120 + (step * 53) % 240)
        page.wait_for_timeout(40)
        if tip.is_visible():
            break
    assert tip.is_visible() and " · " in tip.inner_text(), "no tooltip while hovering the map"
    frames = page.evaluate("() => globalThis.__hpMapStats.frames.length")
    page.mouse.move(cx, cy)
    page.mouse.down()
    for i in range(10):
        page.mouse.move(cx + 8 * i, cy + 4 * i)
    page.mouse.up()
    page.wait_for_function(f"() => globalThis.__hpMapStats.frames.length > {frames}")
    box = page.locator('input[aria-label="Find a token"]')
    box.fill("when")
    box.press("Enter")
    page.wait_for_function("() => location.search.includes('find=when') && location.search.includes('sel=')")
    settle(page)
    selected = [int(stages.nth(i).get_attribute("data-selected") or 0) for i in range(2)]
    near = [int(stages.nth(i).get_attribute("data-near") or 0) for i in range(2)]
    assert selected == [1, 1], f"the searched token is not lit in both panels: {selected}"
    assert all(n > 0 for n in near), f"no neighbours lit: {near}"
    assert "Nearest neighbours of" in page.locator('[data-testid="stMain"]').inner_text()
    assert not elsewhere(requested, server), elsewhere(requested, server)
    screenshot(page, "map_linked_selection")


def test_map_colours_every_panel_on_one_scale(page, server):
    """Coloured by numNeighborCategory@k, one colour means one value in every panel: each panel maps its
    values onto the span of all panels, which the legend's ramp names."""
    open_app(page, f"{server}/{PAGES['map'].url_path}?color=diversity")
    assert_no_exception(page)
    stages = page.locator(".hpmap .stage")
    page.wait_for_function("() => [...document.querySelectorAll('.hpmap .stage')].every(s => s.dataset.ramp)")
    spans = {stages.nth(i).get_attribute("data-ramp") for i in range(stages.count())}
    assert stages.count() == 2 and len(spans) == 1, spans
    lo, hi = (float(x) for x in spans.pop().split())
    ramp = page.locator(".hpmap .ramp").inner_text()
    assert f"{lo:g}" in ramp and f"{hi:g}" in ramp and lo < hi, ramp



def test_a_chart_downloads_as_svg_under_the_figures_name(page, server):
    """The "Reproduce this figure" box saves its chart as SVG (drawn on the server when clicked) under the
    figure's name: page, statistic, k and conventions."""
    open_app(page, f"{server}/{PAGES['diversity'].url_path}?k=10")
    box = page.locator('[data-testid="stExpander"]').filter(has_text="Reproduce this figure").last
    box.locator("summary").click()
    settle(page)  # a click during a rerun set off by opening the box can be lost (seen once in a full run)
    with page.expect_download(timeout=DOWNLOAD_MS) as info:
        box.get_by_role("button", name="Chart (SVG)").click()
    download = info.value
    assert download.suggested_filename == "diversity_by_decile_k10_paper.svg"
    svg = Path(download.path()).read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<svg") and "frequency decile" in svg


def test_the_share_box_copies_the_full_link(page, server):
    """"Copy link to this view" shows the full address of the view and its button puts it on the clipboard."""
    from playwright.sync_api import expect

    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_app(page, f"{server}/{PAGES['diversity'].url_path}?k={SHARED_K}")
    settle(page)
    page.get_by_text("Copy link to this view").click()
    settle(page)  # opening the box reruns the page, which fills it
    box = page.locator(".hpcopy").last
    expect(box.locator("textarea")).not_to_have_value("")  # the component's script fills it once mounted
    shown = box.locator("textarea").input_value()
    assert shown.startswith(f"{server}/{PAGES['diversity'].url_path}?") and f"k={SHARED_K}" in shown, shown
    box.get_by_role("button", name="Copy").click()
    assert page.evaluate("() => navigator.clipboard.readText()") == shown
    assert box.get_by_role("button").inner_text() == "Copied"


def test_every_download_kind_of_a_figure_downloads(page, server):
    """Each button of a "Reproduce this figure" box gives its file: the CSV, the provenance (whose view is read
    during the script run: read on click, outside it, it once failed silently), the chart as SVG and PNG."""
    open_app(page, f"{server}/{PAGES['norms'].url_path}")
    box = page.locator('[data-testid="stExpander"]').filter(has_text="Reproduce this figure").first
    box.locator("summary").click()
    box.get_by_role("button", name="Data (CSV)").wait_for()  # opening the box reruns the page, which fills it
    settle(page)
    got = {}
    for label in ("Data (CSV)", "Provenance (JSON)", "Chart (SVG)", "Chart (PNG)"):
        with page.expect_download(timeout=DOWNLOAD_MS) as info:
            box.get_by_role("button", name=label).click()
        got[label] = (info.value.suggested_filename, Path(info.value.path()).read_bytes())
        settle(page)
    assert {label: name for label, (name, _) in got.items()} == {
        "Data (CSV)": "norms_by_category.csv", "Provenance (JSON)": "norms_by_category.provenance.json",
        "Chart (SVG)": "norms_by_category.svg", "Chart (PNG)": "norms_by_category.png"}
    assert {"category", "n_tokens", "median", "model"} <= set(got["Data (CSV)"][1].decode().splitlines()[0].split(","))
    record = json.loads(got["Provenance (JSON)"][1])
    assert record["tool"] == "hyperpolyglot" and record["view"]["page"] == PAGES["norms"].url_path
    assert record["table"] == "norms_by_category.csv" and record["view"]["link"].startswith(server)
    assert got["Chart (SVG)"][1].lstrip().startswith(b"<svg") and got["Chart (PNG)"][1][:4] == b"\x89PNG"
    assert page.locator('[data-testid="stDownloadButtonError"]').count() == 0
    assert_no_exception(page)
