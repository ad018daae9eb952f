"""How fast the dashboard is on an artifact set: cold start, warm page renders, lookups, server memory.

    .venv/bin/python benchmarks/dashboard.py --artifacts ./artifacts

Prints figures against the goals (every page <= 1 s warm, a lookup <= 50 ms, server <= 1.5 GB):

- cold start: ``streamlit run`` process start -> /_stcore/health -> the Overview drawn in headless
  Chromium (every element rendered, nothing running);
- warm render per page: Streamlit's AppTest ``run()`` of the page after one warm-up run (script time,
  caches filled), and the browser's navigation time to the drawn page on the running server;
- neighbour lookups through the dashboard's own functions: a token via the exact table
  (find_token + neighbour_table) and a vector expression ``a - b + c`` via Annoy (expression_vector +
  query_vector), p50/p95 over ``--queries`` random queries each;
- resident memory (psutil RSS) of the streamlit server after the browser has visited every page.

Without /usr/bin/chromium the browser figures are left out and said so. Not a test: run it once.
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

#: The page files of the router (dashboard/app.py) and their URL paths.
PAGES = {"overview": "", "map": "map", "separability": "separability", "neighbours": "neighbours",
         "diversity": "diversity", "meaning": "meaning", "geometry": "geometry", "vocabulary": "vocabulary"}
GOAL_PAGE_S, GOAL_LOOKUP_MS, GOAL_RSS_GB = 1.0, 50.0, 1.5


def _verdict(ok: bool) -> str:
    return "ok" if ok else "OVER GOAL"


def percentiles(seconds: list[float]) -> tuple[float, float]:
    """p50 and p95 in milliseconds."""
    ms = np.asarray(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def browser_figures(root: Path, queries: list[str]) -> None:
    """Cold start, browser navigation per page and server RSS, with a real server and Chromium."""
    import psutil

    from tests.test_browser import CHROMIUM, chromium, open_app, settle, streamlit_server

    if not CHROMIUM.exists():
        print(f"browser figures skipped: {CHROMIUM} not found")
        return
    log = Path(tempfile.mkdtemp(prefix="hp_bench_")) / "server.log"
    start = time.monotonic()
    with streamlit_server(root, log, timeout=300) as (url, process), chromium() as browser:
        healthy = time.monotonic()
        page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        page.goto(url, wait_until="domcontentloaded")
        drawn = settle(page, timeout=300)
        print(f"cold start: process -> health {healthy - start:.2f} s, -> Overview drawn {drawn - start:.2f} s")
        print("browser navigation, warm server (goto -> page drawn; includes the websocket session):")
        for name, path in PAGES.items():
            target = f"{url}/{path}" + (f"?q={quote(queries[0])}" if name == "neighbours" else "")
            open_app(page, target)  # first visit fills the caches of this page
            seconds = [open_app(page, target) for _ in range(3)]
            print(f"  {name:<13} {np.median(seconds):6.2f} s")
        server = psutil.Process(process.pid)
        rss = server.memory_info().rss + sum(c.memory_info().rss for c in server.children(recursive=True))
        print(f"server memory after visiting every page: RSS {rss / 2**30:.2f} GB "
              f"[goal <= {GOAL_RSS_GB} GB: {_verdict(rss / 2**30 <= GOAL_RSS_GB)}]")


def apptest_figures(root: Path, query: str) -> None:
    """Script time of each page, warm: AppTest run() after a warm-up run (Neighbours: on ``query``)."""
    import os

    from streamlit.testing.v1 import AppTest

    from precompute.contract import schema

    os.environ[schema.ARTIFACTS_ENV] = str(root)
    app = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
    print("page script time, warm (AppTest run(), median of 3 after one warm-up):")
    for name in PAGES:
        at = AppTest.from_file(app, default_timeout=300)
        if name == "neighbours":
            at.query_params["q"] = query
        at.run()
        if name != "overview":
            at.switch_page(f"app_pages/{name}.py")
        at.run()
        if at.exception:
            print(f"  {name:<13} raised: {at.exception[0].message}")
            continue
        seconds = []
        for _ in range(3):
            t = time.perf_counter()
            at.run()
            seconds.append(time.perf_counter() - t)
        median = float(np.median(seconds))
        print(f"  {name:<13} {median:6.3f} s [goal <= {GOAL_PAGE_S:.0f} s: {_verdict(median <= GOAL_PAGE_S)}]")


def timed(calls: list[Callable[[], object]]) -> list[float]:
    out = []
    for call in calls:
        t = time.perf_counter()
        call()
        out.append(time.perf_counter() - t)
    return out


def lookup_figures(root: Path, n: int, k: int, seed: int = 0) -> list[str]:
    """Token and expression lookups through the dashboard's functions; returns the token queries used."""
    from dashboard import data, lookup, tables, wordpieces
    from precompute.contract import schema
    from precompute.contract.indices import query_vector

    catalog = data.scan(root)
    rng = np.random.default_rng(seed)
    print(f"neighbour lookups, k = {k}, {n} queries each (p50 / p95):")
    first_queries: list[str] = []
    for m in catalog.models.values():
        tok = data.tokens(m)
        nb, sim = data.array(m, schema.NEIGHBORS), data.array(m, schema.SIMILARITIES)
        index = data.text_index(m)
        usable = tok[~tok["is_special"] & ~tok["is_zero"] & ~tok["text"].str.contains(r"[\s,()\"]")
                     & ~tok["text"].isin(lookup.OPERATORS)]["text"]  # terms an expression reads as they are
        texts = list(rng.choice(usable.to_numpy(), size=3 * n + n))
        tokens, triples = texts[:n], [texts[n + 3 * i: n + 3 * i + 3] for i in range(n)]
        first_queries = first_queries or tokens

        def by_token(text: str, m=m, tok=tok, nb=nb, sim=sim, index=index) -> object:
            found = lookup.find_token(index, text)
            return tables.neighbour_table(nb, sim, tok, found[0], min(k, nb.shape[1]))

        p50, p95 = percentiles(timed([lambda t=t: by_token(t) for t in tokens]))
        print(f"  {m.slug:<28} token (exact table)     {p50:7.2f} / {p95:7.2f} ms "
              f"[goal <= {GOAL_LOOKUP_MS:.0f} ms: {_verdict(p95 <= GOAL_LOOKUP_MS)}]")

        annoy = data.annoy(m)
        if annoy is None:
            print(f"  {m.slug:<28} no Annoy index: expressions not timed")
            continue
        search_k = data.annoy_search_k(m)
        encoder = data.tokenizer(m)  # the page splits words with the model's own tokenizer
        split = (functools.partial(wordpieces.split_word, encoder, texts=tok["text"].to_numpy(object),
                                   special=tok["is_special"].to_numpy(bool))
                 if encoder is not None and encoder.available else None)
        resolve = functools.partial(lookup.resolve, index=index, texts=tok["text"].to_numpy(object), split=split)

        def by_word(word: str, tok=tok, nb=nb, sim=sim, annoy=annoy, split=split, search_k=search_k) -> object:
            pieces = split(word)
            if pieces.one is not None:
                return tables.neighbour_table(nb, sim, tok, pieces.one, min(k, nb.shape[1]))
            mean = lookup.unit_mean(pieces.usable, annoy.get_item_vector).astype(np.float32)
            ids, sims = query_vector(annoy, mean, k, search_k, exclude=set(pieces.usable))
            return tables.rows_for_ids(tok, ids, sims)

        if split is not None:
            words = [t.replace("▁", "") or t for t in tokens]
            p50, p95 = percentiles(timed([lambda w=w: by_word(w) for w in words]))
            print(f"  {m.slug:<28} word (own tokenizer)    {p50:7.2f} / {p95:7.2f} ms "
                  f"[goal <= {GOAL_LOOKUP_MS:.0f} ms: {_verdict(p95 <= GOAL_LOOKUP_MS)}]")

        def by_expression(expression: str, tok=tok, annoy=annoy, resolve=resolve, search_k=search_k) -> object:
            resolved = lookup.expression_vector(lookup.parse_expression(expression), resolve, annoy.get_item_vector)
            ids, sims = query_vector(annoy, resolved.vector, k, search_k, exclude=set(resolved.ids))
            return tables.rows_for_ids(tok, ids, sims)

        expressions = [" - ".join(t[:2]) + " + " + t[2] for t in triples]
        if all(lookup.find_token(index, w) for w in ("king", "man", "woman")):
            expressions[0] = "king - man + woman"
        p50, p95 = percentiles(timed([lambda e=e: by_expression(e) for e in expressions]))
        print(f"  {m.slug:<28} expression (Annoy)      {p50:7.2f} / {p95:7.2f} ms "
              f"[goal <= {GOAL_LOOKUP_MS:.0f} ms: {_verdict(p95 <= GOAL_LOOKUP_MS)}]  e.g. {expressions[0]!r}")
    return first_queries


def _rows(model) -> int:
    """Tokens actually stored (the manifest's model metadata may describe the full source vocabulary)."""
    from precompute.contract import schema

    return int((model.manifest.get("files", {}).get(schema.NEIGHBORS, {}).get("shape") or [0])[0])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"), help="artifact directory to serve")
    parser.add_argument("--queries", type=int, default=50, help="lookups timed per kind and model")
    parser.add_argument("--k", type=int, default=50, help="neighbours per lookup (capped at the stored k)")
    parser.add_argument("--no-browser", action="store_true", help="skip cold start, navigation and memory")
    args = parser.parse_args(argv)
    root = args.artifacts.resolve()
    from streamlit.logger import set_log_level

    set_log_level("error")  # calling cached loaders outside `streamlit run` warns once per call

    from dashboard import data

    catalog = data.scan(root)
    if catalog.empty:
        sys.exit(f"No model artifacts in {root}; build them with `python -m precompute build --default` "
                 "or pass --artifacts DIR.")
    models = ", ".join(f"{m.slug} ({_rows(m):,} tokens)" for m in catalog.models.values())
    print(f"artifacts: {root}\nmodels: {models}; comparisons: {', '.join(catalog.comparisons) or 'none'}")
    queries = lookup_figures(root, args.queries, args.k)
    apptest_figures(root, queries[0])
    if not args.no_browser:
        browser_figures(root, queries)


if __name__ == "__main__":
    main()
