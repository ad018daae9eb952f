"""Many readers at once: N concurrent sessions that speak Streamlit's websocket protocol, no browser.

    .venv/bin/python benchmarks/load.py --artifacts ./artifacts              # N = 1, 10, 20, 50
    .venv/bin/python benchmarks/load.py --artifacts ./artifacts --sessions 5 --samples 10
    .venv/bin/python benchmarks/load.py --artifacts ./artifacts --sessions 20 --think 0 --workers 1 2  # nginx

A browser does two things for a page: it asks the server to run the page's script, and it renders
what comes back. Twenty headless Chromiums on two cores spend the machine on rendering (issue #15),
so this client does only the first, as the front end does it: it opens ``/_stcore/stream`` with the
``streamlit`` subprotocol, sends a ``rerun_script`` BackMsg holding the page's URL path
(``page_name``) and query string, and reads ForwardMsgs until ``script_finished`` (a run that ends
early for a rerun is followed to the end of the next one). A run's time is from that request to its
end, as the client sees it over loopback: the server's time, queueing for its threads included. The Map's
payload is not in the websocket messages where the server serves it over HTTP (dashboard/server.py): the
client then fetches its address as the map component does, once per session and address (a new reader's
browser has nothing cached), and the run ends when both the script and the fetch are done.

It starts its own server (``streamlit run``, on 127.0.0.1: loopback only; with ``--workers W ...``, for each
W, W of them behind nginx as ``make serve`` runs them, then each N's p50/p95, errors and each process's heap
side by side), runs every page once to
fill the caches, then for each N opens N sessions at once; each runs every visit (each page, with its
query parameters) in its own rotation until every visit has at least ``--samples`` runs. The
sessions then stay open, idle, while the server's memory is read again (what they hold), and close;
it is read once more after they closed.
``--one-link``: every session follows the same order, so that all N ask for the same view at once (a class
opening one shared link; the view cache, dashboard/viewcache.py, computes it once), then the same N again
on N different views (each session its own random categories, k and conventions); it ends with the line
``burst one-link N=…: p95 X s, errors E, heap H GB``. ``HYPERPOLYGLOT_VIEW_CACHE=0`` in the environment
turns the view cache off in the server it starts (the "before").
Bounded: at most :data:`MAX_SESSIONS` sessions, ``--timeout`` seconds a run, ``--phase-timeout`` a
phase. Printed per N: per-page p50/p95 and the most bytes one run received over the websocket and over
HTTP (the first Map of a session: its payload), errors (exception elements in the ForwardMsgs, compile
errors, runs past the timeout, refused connections, a payload not fetched), the server's peak RSS
(psutil, the process and its children, sampled every 50 ms), what an open session costs, and server CPU per run. With
``--browsers B`` (and /usr/bin/chromium), B headless Chromium tabs then open every page at once, to
see that pages still draw (no exception, heading shown). Not a test: run it once; it says how loaded
the machine was.
"""

from __future__ import annotations

import argparse
import asyncio
import http.cookies
import json
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import psutil  # noqa: E402
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402 (installed with streamlit)

from dashboard import pages, state  # noqa: E402
from precompute.contract import conventions, schema  # noqa: E402
from precompute.contract.categories import OTHER, PLOTTED  # noqa: E402

#: Upper bound on concurrent sessions (a benchmark, not a flood).
MAX_SESSIONS = 100
#: Upper bound on dashboard processes behind the balancer (``--workers``).
MAX_WORKERS = 16
#: The Neighbours page is run with a token and with an expression (the exact table, then Annoy).
NEIGHBOUR_QUERIES = ("▁when", "king - man + woman")
GOAL_RATIO, GOAL_RSS_GB = 3.0, 1.5
#: A reader's mean pause before the next click, in seconds: reading a figure, a table of neighbours, a
#: caption. Ten seconds is brisk for a research dashboard; `--think` sets others.
READING = 10.0


@dataclass(frozen=True)
class Visit:
    """One page opened by a link: its URL path and query string."""

    label: str
    url_path: str
    query: str = ""


def visits() -> list[Visit]:
    """Every declared page with its default view; the Neighbours page once per :data:`NEIGHBOUR_QUERIES`."""
    out = []
    for page in pages.discover().pages:
        if page.name == "neighbors":
            out += [Visit(f"{page.name} {q!r}", page.url_path, urlencode({state.QUERY.name: q}))
                    for q in NEIGHBOUR_QUERIES]
        else:
            out.append(Visit(page.name, page.url_path))
    return out


def random_views(all_visits: list[Visit], n: int, ks: list[int], seed: int = 0) -> list[list[Visit]]:
    """``all_visits`` for each of ``n`` sessions under a view of its own: a random set of categories (one to
    all), one of ``ks`` and a convention, added to each visit's query string (seeded: the same views each run)."""
    rng = np.random.default_rng(seed)
    options = [*PLOTTED, OTHER]
    out = []
    for _ in range(n):
        cats = sorted(rng.choice(options, size=int(rng.integers(1, len(options) + 1)), replace=False).tolist())
        convention = str(rng.choice([conventions.PAPER, conventions.REFINED]))
        params = [(state.K.name, str(rng.choice(ks))), (state.CONVENTION.name, convention)]
        params += [(state.CATEGORIES.name, c) for c in cats]
        out.append([Visit(v.label, v.url_path, "&".join(q for q in (v.query, urlencode(params)) if q))
                    for v in all_visits])
    return out


def built_ks(root: Path) -> list[int]:
    """The ks every model under ``root`` was analysed at (the sidebar offers these)."""
    common: set[int] | None = None
    for manifest in root.glob(f"*/{schema.MANIFEST}"):
        ks = {int(k) for k in json.loads(manifest.read_text()).get("params", {}).get("diversity_ks", [])}
        common = ks if common is None else common & ks
    return sorted(common or schema.DIVERSITY_KS)


@dataclass
class Tally:
    """What the runs of one phase gave: seconds per visit, and every error with where it happened."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    websocket_bytes: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    http_bytes: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    @property
    def runs(self) -> int:
        return sum(len(s) for s in self.seconds.values())


class Browser:
    """What one reader's browser does besides the websocket: fetch the Map payload's address (relative to the
    app's ``url``) once, with the cookies the server set on the websocket (nginx's sticky one), as the map
    component does; and count the bytes of the last run (websocket, HTTP)."""

    def __init__(self, url: str, ws) -> None:
        self.url = url
        cookies = http.cookies.SimpleCookie()
        for header in ws.response.headers.get_all("Set-Cookie"):
            cookies.load(header)
        self.cookie = "; ".join(f"{k}={m.value}" for k, m in cookies.items())
        self.fetched: set[str] = set()
        self.websocket_bytes = self.http_bytes = 0

    def wants(self, element) -> str | None:
        """The payload address a map component asks for, if this browser has not fetched it yet."""
        if element.component_name != "hp_map" or element.WhichOneof("data") != "json":
            return None
        address = json.loads(element.json).get("url")
        if address is None or address in self.fetched:
            return None
        self.fetched.add(address)
        return address

    async def fetch(self, address: str) -> str | None:
        """GET the address (gzip accepted, as browsers do) to its end; a problem, or None."""
        parts = urlsplit(f"{self.url}/{address}")
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            writer.write((f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept-Encoding: gzip\r\n"
                          f"Connection: close\r\n" + (f"Cookie: {self.cookie}\r\n" if self.cookie else "")
                          + "\r\n").encode("latin-1"))
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            body = await reader.read()
        finally:
            writer.close()
        self.http_bytes += len(head) + len(body)
        status = head.split(" ", 2)[1]
        return None if status == "200" else f"map payload: HTTP {status} for {parts.path}"


async def run_page(ws, visit: Visit, timeout: float, browser: Browser | None = None) -> tuple[float, list[str]]:
    """Ask for one page run and read its ForwardMsgs to the end; (seconds, exception messages).

    With ``browser``: also fetch what a map component's data points to, and count the run's bytes in it."""
    request = BackMsg()
    request.rerun_script.query_string = visit.query
    request.rerun_script.page_name = visit.url_path
    start = time.perf_counter()
    await ws.send(request.SerializeToString())
    problems: list[str] = []
    fetches = []
    if browser:
        browser.websocket_bytes = browser.http_bytes = 0
    async with asyncio.timeout(timeout):
        while True:
            msg = ForwardMsg()
            data = await ws.recv()
            msg.ParseFromString(data)
            if browser:
                browser.websocket_bytes += len(data)
            kind = msg.WhichOneof("type")
            element = msg.delta.new_element if kind == "delta" else None
            if element is not None and element.WhichOneof("type") == "exception":
                e = msg.delta.new_element.exception
                problems.append(f"{e.type}: {e.message}"[:300])
            elif browser and element is not None and element.WhichOneof("type") == "bidi_component" and (
                    address := browser.wants(element.bidi_component)):
                fetches.append(asyncio.create_task(browser.fetch(address)))
            elif kind == "page_not_found":
                problems.append(f"page not found: {visit.url_path!r}")
            elif kind == "script_finished":
                if msg.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    problems.append("compile error")
                if msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    problems += [p for p in await asyncio.gather(*fetches) if p]
                    return time.perf_counter() - start, problems


async def session(url: str, order: list[Visit], timeout: float, tally: Tally, done: asyncio.Event,
                  release: asyncio.Event, pauses: list[float]) -> None:
    """One reader: connect, run ``order`` (pausing ``pauses[i]`` seconds before visit i: reading the page
    before), signal ``done``, stay connected until ``release``."""
    try:
        async with connect(f"ws://{url.split('://', 1)[1]}/_stcore/stream", subprotocols=["streamlit"],
                           max_size=None, open_timeout=timeout) as ws:
            browser = Browser(url, ws)
            for visit, pause in zip(order, pauses, strict=True):
                await asyncio.sleep(pause)
                try:
                    seconds, problems = await run_page(ws, visit, timeout, browser)
                except TimeoutError:
                    tally.errors.append(f"{visit.label}: no end of run within {timeout:.0f} s")
                    break
                tally.seconds[visit.label].append(seconds)
                tally.websocket_bytes[visit.label].append(browser.websocket_bytes)
                tally.http_bytes[visit.label].append(browser.http_bytes)
                tally.errors += [f"{visit.label}: {p}" for p in problems]
            done.set()
            await release.wait()
    except (OSError, TimeoutError, Exception) as e:  # a refused or dropped connection is a measured error
        tally.errors.append(f"session: {type(e).__name__}: {e}")
        done.set()


class MemorySampler:
    """Peak RSS of a process and its children (or of several: the processes behind a balancer, summed, and
    each one's heap), sampled in a thread every ``every`` seconds."""

    def __init__(self, pid: int | list[int], every: float = 0.05) -> None:
        self.processes = [psutil.Process(p) for p in ([pid] if isinstance(pid, int) else pid)]
        self.every = every
        self.peak = self.peak_private = 0
        self.peak_private_each = [0] * len(self.processes)  # the heap of each process
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        return self._sum("rss")

    def mapped(self) -> int:
        """Resident pages of mapped files (the Annoy indices and .npy tables are memory-mapped): shared
        with the page cache, reclaimable, and filled by what queries touch, not by sessions."""
        return self._sum("shared")

    def _sum(self, field: str, of: list[psutil.Process] | None = None) -> int:
        total = 0
        for process in of or self.processes:
            for p in [process, *process.children(recursive=True)]:
                try:
                    total += getattr(p.memory_info(), field)
                except psutil.NoSuchProcess:
                    pass
        return total

    def cpu_seconds(self) -> float:
        return sum(t.user + t.system for t in (p.cpu_times() for p in self.processes))

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = [self._sum("rss", [p]) for p in self.processes]
            heap = [r - self._sum("shared", [p]) for r, p in zip(rss, self.processes, strict=True)]
            self.peak = max(self.peak, sum(rss))
            self.peak_private = max(self.peak_private, sum(heap))
            self.peak_private_each = [max(a, b) for a, b in zip(self.peak_private_each, heap, strict=True)]
            self._stop.wait(self.every)

    def __enter__(self) -> MemorySampler:
        self.peak = self.rss()
        self.peak_private = self.peak - self.mapped()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Phase:
    """The figures of one N."""

    n: int
    tally: Tally
    wall: float
    rss_before: int
    rss_peak: int
    rss_open: int
    rss_closed: int
    mapped_open: int  # of rss_open, resident pages of memory-mapped files
    mapped_closed: int
    cpu_per_run: float
    private_peak: int  # the peak of RSS less mapped files: the heap
    private_peaks: list[int] = field(default_factory=list)  # the heap of each process (behind a balancer)

    @property
    def per_session(self) -> float:
        """Bytes an open session holds: the heap with the sessions open less the heap after they closed
        (not RSS growth, which also counts index pages that queries touched once and caches filled)."""
        return ((self.rss_open - self.mapped_open) - (self.rss_closed - self.mapped_closed)) / self.n

    def p(self, label: str, q: float) -> float:
        return float(np.percentile(np.asarray(self.tally.seconds[label]) * 1000, q))


async def phase(url: str, pid: int | list[int], all_visits: list[Visit], n: int, samples: int, timeout: float,
                phase_timeout: float, think: float = 0.0, one_link: bool = False,
                views: list[list[Visit]] | None = None) -> Phase:
    """N sessions at once, each running every visit ``ceil(samples / n)`` times in its own rotation.

    ``one_link``: every session in the same order, so that all ask for the same view at the same time.
    ``views``: session i runs ``views[i]`` (the visits under a view of its own: :func:`random_views`).

    ``think``: a reader's mean pause before each click, in seconds (exponential, seeded, so that the
    clicks of N readers arrive as independent events do); 0 clicks again as soon as a page is drawn, every
    session at once: a burst, the most a server can be asked. One reader alone does not pause: nobody else's
    run can come between, so pausing would only lengthen the benchmark.
    """
    rounds = -(-samples // n)
    rng = np.random.default_rng(n)
    clicks = rounds * len(all_visits)
    pauses = [list(rng.exponential(think, clicks)) if think and n > 1 else [0.0] * clicks for _ in range(n)]
    tally = Tally()
    release = asyncio.Event()
    dones = [asyncio.Event() for _ in range(n)]
    own = views or [all_visits] * n
    orders = [[own[i][(j if one_link else i + j) % len(all_visits)] for j in range(len(all_visits))] * rounds
              for i in range(n)]
    sampler = MemorySampler(pid)
    rss_before, cpu_before = sampler.rss(), sampler.cpu_seconds()
    start = time.perf_counter()
    with sampler:
        tasks = [asyncio.create_task(session(url, orders[i], timeout, tally, dones[i], release, pauses[i]))
                 for i in range(n)]
        try:
            async with asyncio.timeout(phase_timeout):
                await asyncio.gather(*(d.wait() for d in dones))
        except TimeoutError:
            tally.errors.append(f"phase not done within {phase_timeout:.0f} s")
        wall = time.perf_counter() - start
        cpu = sampler.cpu_seconds() - cpu_before
        await asyncio.sleep(1.0)  # let the last messages go out; the sessions are now open and idle
        rss_open, mapped_open = sampler.rss(), sampler.mapped()
        release.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(2.0)  # the server has seen the sessions go
        rss_closed, mapped_closed = sampler.rss(), sampler.mapped()
    return Phase(n, tally, wall, rss_before, sampler.peak, rss_open, rss_closed, mapped_open, mapped_closed,
                 cpu / max(tally.runs, 1), sampler.peak_private, sampler.peak_private_each)


def machine() -> str:
    """The CPU, whether it has AVX-512, and the load when the benchmark starts."""
    name = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")), "unknown CPU")
    avx512 = " avx512f " in Path("/proc/cpuinfo").read_text().replace("\n", " ")
    return (f"{name} ({'AVX-512' if avx512 else 'no AVX-512'}), {os.cpu_count()} CPUs, "
            f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def report(p: Phase, all_visits: list[Visit]) -> None:
    gb = 2**30
    print(f"\nN = {p.n}: {p.tally.runs} runs in {p.wall:.1f} s, {len(p.tally.errors)} errors; server RSS before "
          f"{p.rss_before / gb:.2f} GB, peak {p.rss_peak / gb:.2f} GB, with the {p.n} sessions open "
          f"{p.rss_open / gb:.2f} GB ({p.mapped_open / gb:.2f} GB of it mapped files), after they closed "
          f"{p.rss_closed / gb:.2f} GB; a session holds {p.per_session / 2**20:+.1f} MiB; server CPU "
          f"{p.cpu_per_run:.2f} s a run; load average {os.getloadavg()[0]:.1f}")
    if len(p.private_peaks) > 1:
        print(f"  peak heap of each process: {', '.join(f'{h / gb:.2f}' for h in p.private_peaks)} GB")
    print(f"  {'page':<34} {'runs':>5} {'p50 ms':>8} {'p95 ms':>8}  most a run received: websocket / HTTP kB")
    for v in all_visits:
        most = [max(p.tally.websocket_bytes[v.label], default=0), max(p.tally.http_bytes[v.label], default=0)]
        print(f"  {v.label:<34} {len(p.tally.seconds[v.label]):>5} {p.p(v.label, 50):>8.0f} {p.p(v.label, 95):>8.0f}"
              f"  {most[0] / 1000:>9.0f} / {most[1] / 1000:.0f}")
    for e in sorted(set(p.tally.errors))[:10]:
        print(f"  error ({p.tally.errors.count(e)}x): {e}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"), help="artifact root (default ./artifacts)")
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 10, 20, 50], help="the Ns (default 1 10 20 50)")
    parser.add_argument("--samples", type=int, default=20, help="at least this many runs of each visit per N")
    parser.add_argument("--timeout", type=float, default=120, help="seconds one run may take")
    parser.add_argument("--phase-timeout", type=float, default=1200, help="seconds one N may take")
    parser.add_argument("--browsers", type=int, default=0, help="then this many Chromium tabs at once (<= 5)")
    parser.add_argument("--pages", nargs="+", metavar="PAGE", help="only these pages (default: every page)")
    parser.add_argument("--think", type=float, nargs="+", default=[READING, 0.0], metavar="SECONDS",
                        help=f"a reader's mean pause before each click; 0: every session clicks again at once "
                             f"(default {READING:g} then 0)")
    parser.add_argument("--one-link", action="store_true",
                        help="every session on the same view at once (one shared link), then N sessions on N "
                             "different views (random categories, k, conventions)")
    parser.add_argument("--workers", type=int, nargs="+", metavar="W",
                        help="through nginx (deploy/serve.py) to W dashboard processes, for each W (e.g. 1 2), "
                             "then the Ns of each W side by side; default: one Streamlit, no balancer")
    args = parser.parse_args(argv)
    if not all(1 <= n <= MAX_SESSIONS for n in args.sessions):
        parser.error(f"--sessions: each N between 1 and {MAX_SESSIONS}")
    if not 0 <= args.browsers <= 5:
        parser.error("--browsers: between 0 and 5")
    if args.workers and not all(1 <= w <= MAX_WORKERS for w in args.workers):
        parser.error(f"--workers: each W between 1 and {MAX_WORKERS}")
    all_visits = [v for v in visits() if not args.pages or v.label.split()[0] in args.pages]
    if not all_visits:
        parser.error(f"--pages: none of {args.pages} is a page ({', '.join(p.name for p in pages.discover().pages)})")
    print(f"machine: {machine()}")
    print(f"artifacts: {args.artifacts}; {len(all_visits)} visits: {', '.join(v.label for v in all_visits)}")
    log = Path(tempfile.mkdtemp(prefix="hp_load_")) / "server.log"
    measured: list[tuple[int, float, list[Phase]]] = []  # (processes, think, the phase of each N)
    last_line = ""  # with --one-link: the headline of the last one-link phase
    for url, pids in servers(args, all_visits, log):
        warm = asyncio.run(phase(url, pids, all_visits, 1, 1, args.timeout, args.phase_timeout))
        print(f"warm-up (every visit once, caches filled): {warm.wall:.1f} s, {len(warm.tally.errors)} errors, "
              f"server RSS {warm.rss_open / 2**30:.2f} GB")
        for think in args.think:
            print(f"\n--- readers pausing {think:g} s on average before each click" if think else
                  "\n--- a burst: every session clicks again as soon as its page is drawn")
            results, lines = [], []
            for n in args.sessions:
                if args.one_link:
                    views = random_views(all_visits, n, built_ks(args.artifacts), seed=n)
                    different = asyncio.run(phase(url, pids, all_visits, n, args.samples, args.timeout,
                                                  args.phase_timeout, think, views=views))
                    print(f"\n{n} sessions on {n} different views:", end="")
                    report(different, all_visits)
                    lines += headline(different, all_visits, think, "different views")
                results.append(asyncio.run(phase(url, pids, all_visits, n, args.samples, args.timeout,
                                                 args.phase_timeout, think, one_link=args.one_link)))
                if args.one_link:
                    print(f"\n{n} sessions on one link:", end="")
                    lines += headline(results[-1], all_visits, think, "one-link")
                    last_line = lines[-1]
                report(results[-1], all_visits)
            summarise(results, all_visits, think)
            measured.append((len(pids), think, results))
            print("\n".join(lines))
        if args.browsers:
            browsers_at_once(url, args.browsers)
    print(f"\nserver logs: {log.parent}")
    if args.workers:
        compare_processes(measured, all_visits)
    if last_line:  # the one-link figure last, on a line of its own (with --workers: the last W measured)
        print(last_line)
    return 0


def browsers_at_once(url: str, n: int) -> None:
    """``n`` headless Chromiums (one thread each), each opening every page; seconds per page, and problems."""
    from tests.test_browser import CHROMIUM, HEADINGS, PAGES, assert_no_exception, chromium, open_app

    if not CHROMIUM.exists():
        print(f"browser check skipped: {CHROMIUM} not found")
        return
    seconds: dict[str, list[float]] = defaultdict(list)
    problems: list[str] = []

    def reader() -> None:
        with chromium() as browser:
            tab = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            for name, spec in PAGES.items():
                try:
                    seconds[name].append(open_app(tab, f"{url}/{spec.url_path}"))
                    assert_no_exception(tab)
                    heading = tab.locator('[data-testid="stMain"] h1').first.inner_text().strip()
                    assert heading == HEADINGS.get(name, spec.title), f"heading {heading!r}"
                except AssertionError as e:
                    problems.append(f"{name}: {str(e)[:300]}")

    threads = [threading.Thread(target=reader) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"\n{n} Chromium tabs at once, every page (open -> drawn, slowest of the {n}): " + ", ".join(
        f"{name} {max(s):.1f} s" for name, s in seconds.items()) + f"; {len(problems)} problems")
    for p in problems:
        print(f"  problem: {p}")


def headline(p: Phase, all_visits: list[Visit], think: float, what: str) -> list[str]:
    """One phase in two lines: its p50 and CPU a run, then ``burst one-link N=50: p95 X s, errors E, heap H GB``."""
    every = np.concatenate([p.tally.seconds[v.label] for v in all_visits]) if p.tally.runs else np.zeros(1)
    name = f"{'burst' if not think else f'pausing {think:g} s'} {what} N={p.n}"
    return [f"{name}: p50 {np.percentile(every, 50):.2f} s, server CPU {p.cpu_per_run:.3f} s a run, "
            f"load average {os.getloadavg()[0]:.1f}",
            f"{name}: p95 {np.percentile(every, 95):.2f} s, errors {len(p.tally.errors)}, "
            f"heap {p.private_peak / 2**30:.2f} GB"]


def summarise(results: list[Phase], all_visits: list[Visit], think: float) -> None:
    """The goals: no error at the largest N, p95 at N = 20 within 3x N = 1, peak RSS within 1.5 GB."""
    by_n = {p.n: p for p in results}
    print(f"\nsummary, {f'readers pausing {think:g} s' if think else 'burst'}:")
    print("  N  runs  errors  p50 ms (all)  p95 ms (all)  peak RSS GB  MiB a session  CPU s a run")
    for p in results:
        every = np.concatenate([p.tally.seconds[v.label] for v in all_visits]) * 1000
        print(f"{p.n:>3} {p.tally.runs:>5} {len(p.tally.errors):>7} {np.percentile(every, 50):>13.0f} "
              f"{np.percentile(every, 95):>13.0f} {p.rss_peak / 2**30:>12.2f} "
              f"{p.per_session / 2**20:>14.1f} {p.cpu_per_run:>12.2f}")
    top = results[-1]
    print(f"goal: no error at N = {top.n}: {'ok' if not top.tally.errors else 'MISSED'}")
    print(f"goal: peak RSS <= {GOAL_RSS_GB} GB at N = {top.n}: {top.rss_peak / 2**30:.2f} GB, "
          f"{'ok' if top.rss_peak / 2**30 <= GOAL_RSS_GB else 'MISSED'}; without the pages of memory-mapped "
          f"files (Annoy, .npy: page cache, shared, dropped under pressure) {top.private_peak / 2**30:.2f} GB, "
          f"{'ok' if top.private_peak / 2**30 <= GOAL_RSS_GB else 'MISSED'}")
    if 1 in by_n and 20 in by_n:
        ratios = {v.label: by_n[20].p(v.label, 95) / by_n[1].p(v.label, 95) for v in all_visits}
        worst = max(ratios, key=ratios.get)
        print(f"goal: p95 at N = 20 <= {GOAL_RATIO:.0f}x N = 1, per page: worst {ratios[worst]:.1f}x ({worst}): "
              f"{'ok' if ratios[worst] <= GOAL_RATIO else 'MISSED'}")


def servers(args: argparse.Namespace, all_visits: list[Visit], log: Path) -> Iterator[tuple[str, list[int]]]:
    """The servers to measure, each (its URL, the pids of its dashboard processes) while it runs.

    Without ``--workers``: one Streamlit, asked directly. With it, for each W: W processes behind nginx
    (:func:`deploy.serve.balancer`, on loopback), each warmed on its own port first so that none meets
    the measured sessions cold. A session's websocket carries no cookie here, so nginx hashes each onto
    a process of its own choosing: N sessions spread over the W processes as N browsers would.
    """
    from deploy.serve import balancer, free_port
    from tests.test_browser import streamlit_server

    if not args.workers:
        with streamlit_server(args.artifacts, log, timeout=300) as (url, process):
            yield url, [process.pid]
        return
    for w in args.workers:
        print(f"\n=== {w} dashboard process{'es' if w > 1 else ''} behind nginx (deploy/serve.py)")
        with balancer(w, free_port(), "127.0.0.1", args.artifacts, log.parent / f"workers-{w}", timeout=300) as b:
            for port, worker in zip(b.worker_ports, b.workers, strict=True):
                asyncio.run(phase(f"http://127.0.0.1:{port}", worker.pid, all_visits, 1, 1, args.timeout,
                                  args.phase_timeout))
            yield b.url, [worker.pid for worker in b.workers]


def compare_processes(measured: list[tuple[int, float, list[Phase]]], all_visits: list[Visit]) -> None:
    """Each N side by side for each count of processes: p50/p95 over every run, errors, each process's heap."""
    print("\nprocesses behind nginx, side by side:")
    print("  readers   N  processes  runs  errors  p50 ms  p95 ms  peak heap of each process GB")
    for processes, think, results in sorted(measured, key=lambda m: (-m[1], m[0])):
        for p in results:
            every = np.concatenate([p.tally.seconds[v.label] for v in all_visits]) * 1000
            print(f"  {f'pause {think:g} s' if think else 'burst':<9} {p.n:>2} {processes:>10} {p.tally.runs:>5} "
                  f"{len(p.tally.errors):>7} {np.percentile(every, 50):>7.0f} {np.percentile(every, 95):>7.0f}  "
                  f"{', '.join(f'{h / 2**30:.2f}' for h in p.private_peaks)}")
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    sys.exit(main())
