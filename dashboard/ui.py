"""Page building blocks shared by every page: the current view, loading with messages, export, links.

Pages call these so that a missing file is always an ``st.info`` naming the build command, a
corrupt one an ``st.error`` with the store's message, and every chart has a CSV and provenance next
to it. No ``unsafe_allow_html`` anywhere: token text (RTL, combining marks, CJK) is shown as text.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import altair as alt
import pandas as pd
import streamlit as st
from streamlit import dataframe_util
from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec
from streamlit.runtime.scriptrunner import get_script_run_ctx

from dashboard import charts, data, definitions, pages, state, viewcache
from dashboard.components import copybox
from precompute.contract import conventions, schema
from precompute.contract.categories import OTHER, PLOTTED
from precompute.contract.config import BuildConfig
from precompute.contract.store import ArtifactError

T = TypeVar("T")
#: The page other pages link tokens to (its name in the registry: the file's stem).
NEIGHBORS_PAGE = "neighbors"
#: Category choices of the sidebar: the paper's 15 plotted categories and "other".
CATEGORY_OPTIONS: tuple[str, ...] = PLOTTED + (OTHER,)
#: Session key of the artifact root the router resolved.
ROOT_KEY = "_hp_root"


@dataclass(frozen=True)
class View:
    """What the sidebar selected: the catalog, the models (in order), the categories, k, the conventions."""

    catalog: data.Catalog
    models: list[data.ModelInfo]
    categories: list[str]
    k: int
    convention: str = conventions.DEFAULT  #: "paper" or "refined" (precompute.contract.conventions)


def view() -> View:
    """The current selection, as the router (app.py) validated it this run."""
    catalog = data.catalog(str(st.session_state[ROOT_KEY]))
    slugs = state.value(state.MODELS) or []
    return View(
        catalog=catalog,
        models=[catalog.models[s] for s in slugs if s in catalog.models],
        categories=list(state.value(state.CATEGORIES) or CATEGORY_OPTIONS),
        k=int(state.value(state.K) or 10),
        convention=str(state.value(state.CONVENTION) or conventions.DEFAULT),
    )


def view_key(v: View, *parts: Hashable) -> tuple[Hashable, ...]:
    """What defines the view a page draws, as a cache key (:mod:`dashboard.viewcache`): the page, the
    artifacts' signature, the models, categories, k, conventions, the value of every widget bound to the URL
    that this run has drawn so far (a page's own, by the parameter names of :mod:`dashboard.state`: what is
    computed here can depend on no widget drawn later), and ``parts`` (what the page adds: a model, a chart's
    name). Values, not the URL's text: a widget just changed may not have reached the URL yet."""
    ctx = get_script_run_ctx()
    drawn = ctx.shared.widget_user_keys_this_run.snapshot() if ctx is not None else ()
    state_now = st.session_state
    widgets = tuple(sorted((name, tuple(value) if isinstance(value, list) else value)
                           for name in drawn if _bound(name) and name in state_now
                           for value in [state_now[name]]))
    return (pages.shown_url_path(), catalog_signature(v.catalog), tuple(m.slug for m in v.models),
            tuple(v.categories), v.k, v.convention, widgets, *parts)


#: The signature of the catalogs seen last (by identity, the catalog held so that its id is not reused): a page
#: asks for it at every cached part, and hashing every manifest each time was a tenth of a cached page's run.
_SIGNATURES: dict[int, tuple[data.Catalog, str]] = {}
_SIGNATURES_KEPT = 8
_SIGNATURES_LOCK = threading.Lock()


def catalog_signature(catalog: data.Catalog) -> str:
    """:func:`viewcache.signature` of every model and comparison in ``catalog``, computed once per catalog object
    (:func:`data.catalog` makes a new one when it looks at the artifact root again)."""
    known = _SIGNATURES.get(id(catalog))
    if known is not None and known[0] is catalog:
        return known[1]
    sources = [*catalog.models.values(), *catalog.comparisons.values()]
    value = viewcache.signature((str(i.path), i.manifest) for i in sources)
    with _SIGNATURES_LOCK:
        while len(_SIGNATURES) >= _SIGNATURES_KEPT:
            del _SIGNATURES[next(iter(_SIGNATURES))]
        _SIGNATURES[id(catalog)] = (catalog, value)
    return value


#: The URL parameters' names, as :mod:`dashboard.state` declares them; the Meaning page's examples by prefix.
_PARAMS = frozenset(p.name for p in vars(state).values() if isinstance(p, state.Param))
_EXAMPLE = state.example("").name


def _bound(name: str) -> bool:
    return name in _PARAMS or name.startswith(_EXAMPLE)


def per_view(v: View, part: Hashable, compute: Callable[[], T], keep: Callable[[T], bool] | None = None) -> T:
    """``compute()``, once per view and ``part`` for every session (:data:`viewcache.CACHE`), the same object
    each time: for a page's pure derivations (selected rows, aggregates), not for drawing or messages.

    ``part`` must name everything ``compute`` reads beyond the view (e.g. the model), and its result must
    not be changed by the page (pandas' Copy-on-Write keeps a DataFrame safe). ``keep``: :meth:`ViewCache.get`."""
    return viewcache.CACHE.get(view_key(v, part), compute, keep)


def arrow_table(df: pd.DataFrame) -> Any:
    """``df`` as the Arrow table ``st.dataframe`` sends for it (Streamlit's own conversion, the same bytes): made
    inside a cached computation, a table is converted once per view instead of at every run (pandas to Arrow
    was a fifth of the Meaning page's run)."""
    return dataframe_util.convert_pandas_df_to_arrow_table(df)


def rendered_once(styler: Any, uuid: str) -> Any:
    """``styler`` (a pandas Styler) with its styles computed and translated now, and kept: ``st.dataframe``
    computes and translates a Styler at every run (pandas' private ``_compute`` and ``_translate``, which
    Streamlit calls), four tenths of the Neighbours page's run. Made inside a cached computation, the
    styled table is rendered once per view and only read afterwards. ``uuid`` names the table's CSS (a
    Styler without one is named by its place on the page, which a shared one cannot know)."""
    styler.set_uuid(uuid)
    styler._compute()
    translated = styler._translate(False, False)
    object.__setattr__(styler, "_compute", lambda: styler)
    object.__setattr__(styler, "_translate", lambda *args, **kwargs: translated)
    return styler


def per_artifacts(info: data.ArtifactInfo, part: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, once per artifact directory (its path and files' sha256s) and ``part`` for every session
    and view: for what follows from the artifacts alone (a model's token texts as an array), shared by views."""
    return viewcache.CACHE.get(("artifacts", viewcache.signature([(str(info.path), info.manifest)]), part), compute)


#: What each convention means for the figures that depend on it, as captions say it, by aspect
#: (the conventions themselves: precompute.contract.conventions and docs/METHODS.md, "The paper's conventions").
CONVENTION_RULES: dict[str, dict[str, str]] = {
    conventions.PAPER: {
        "category": "categories of the raw text, ▁ a symbol",
        "self": "the token itself counted among its neighbours",
        "breakdown": "mean over the tokens with at least one neighbour in the column's category",
        "error": "error bars: 95% bootstrap interval of the fold accuracies",
    },
    conventions.REFINED: {
        "category": "categories with ▁ stripped",
        "self": "the token itself left out",
        "breakdown": "mean over all tokens of the row's category, zeros included",
        "error": "error bars: mean ± sd over the folds",
    },
}


def convention_note(v: View, *aspects: str, only: str | None = None) -> str:
    """The sentence a figure's caption says its conventions with: which one it shows, what that means for it.

    ``aspects`` are what the figure depends on (keys of :data:`CONVENTION_RULES`); ``only`` names the one
    convention the build computed this figure under (said when the sidebar asks for the other)::

        convention_note(v, "category", "self")
        # 'Conventions: paper (categories of the raw text, ▁ a symbol; the token itself counted among its neighbours).'
    """
    shown = only or v.convention
    rules = "; ".join(CONVENTION_RULES[shown][a] for a in aspects)
    text = f"Conventions: {shown}" + (f" ({rules})" if rules else "") + "."
    if shown != v.convention:
        text += f" The build computes this figure under the {shown} conventions only."
    return text


class Notes:
    """What a computation cached for every session (:func:`per_view`) has to tell the reader, kept as data:
    drawn where it would have been (:meth:`draw`) by every session shown the cached result, not only by the
    one that computed it. Records the ``st`` calls it offers (``notes.info(text)``), so that code that says
    things takes ``say=st`` or ``say=notes`` alike."""

    def __init__(self) -> None:
        self.said: list[tuple[str, str, dict[str, Any]]] = []

    def info(self, text: str, **kwargs: Any) -> None:
        self.said.append(("info", text, kwargs))

    def warning(self, text: str, **kwargs: Any) -> None:
        self.said.append(("warning", text, kwargs))

    def error(self, text: str, **kwargs: Any) -> None:
        self.said.append(("error", text, kwargs))

    @property
    def settled(self) -> bool:
        """Whether what was said will hold for later runs: no error or warning (a file that could not be read, a
        package missing), which the next run may find otherwise; a result with one is not cached."""
        return all(kind == "info" for kind, _, _ in self.said)

    def draw(self) -> None:
        for kind, text, kwargs in self.said:
            getattr(st, kind)(text, **kwargs)


def missing_message(info: data.ArtifactInfo, name: str, what: str, say: Any = st) -> None:
    """Say which file is absent and who can add it: the command that rebuilds its directory (from the
    manifest) where the reader runs the build, the dashboard's host where it reads a published bundle."""
    whose = f"**{info.label}**" if isinstance(info, data.ModelInfo) else f"Comparison **{info.slug}**"
    say.info(f"{whose} has no {what} ({name}): that build step failed or was skipped. {rebuild_hint(info)}")


def rebuild_hint(info: data.ArtifactInfo) -> str:
    """Who can bring ``info`` up to date, and how: the rebuild command (from the manifest) where the reader
    runs the build, the dashboard's host where it reads a published bundle."""
    if data.is_hosted(info):
        return ("Only the dashboard's host can add it, by building that step and publishing the bundle "
                "again.")
    return f"Build it with `{data.rebuild_command(info)}`."


def _told(info: data.ArtifactInfo, name: str, what: str, fetch: Callable[[], Any], say: Any = st) -> Any | None:
    """``fetch()``, or None after telling the user why not (absent: ``say.info``; corrupt: ``say.error``;
    ``say``: ``st``, or :class:`Notes` inside a cached computation)."""
    try:
        value = fetch()
    except ArtifactError as e:
        say.error(str(e))
        return None
    if value is None:
        missing_message(info, name, what, say)
    return value


def load(info: data.ArtifactInfo, name: str, what: str, columns: list[str] | None = None,
         convention: str | None = None, say: Any = st) -> pd.DataFrame | None:
    """A table, or None after telling the user why not.

    With ``convention``, only that convention's view: the token table's categories (:func:`data.tokens`),
    the rows of a table with a ``convention`` column (:func:`data.table`). Without, the table as its
    file holds it. Tables without a ``convention`` column exist under one convention: the figure's caption
    says which (:func:`convention_note`). ``say``: where to tell why not (:func:`_told`).
    """
    if name == schema.TOKENS:
        return _told(info, name, what,
                     lambda: _loaded(info, name, (convention,), lambda: data.tokens(info, convention)), say)
    return _told(info, name, what, lambda: _loaded(info, name, (columns and tuple(columns), convention),
                                                   lambda: data.table(info, name, columns, convention)), say)


def _loaded(info: data.ArtifactInfo, name: str, part: Hashable, fetch: Callable[[], Any]) -> Any:
    """``fetch()`` of the artifact ``name`` of ``info`` (a loader of :mod:`dashboard.data`), looked up once per
    file version and ``part`` in the view cache: the loaders are ``st.cache_resource`` functions, whose every call
    inspects the function's signature to hash its arguments (a fifth of the Separability page's run, a dozen
    tables). A table comes back as a Copy-on-Write copy of the shared one, as from the loader; a failure to
    read is not kept (:meth:`ViewCache.get`)."""
    entry = info.manifest.get("files", {}).get(name)
    sha = entry.get("sha256") if isinstance(entry, dict) else None
    value = viewcache.CACHE.get(("loaded", str(info.path), name, sha, part), fetch)
    return value.copy(deep=False) if isinstance(value, pd.DataFrame) else value


def load_array(info: data.ModelInfo, name: str, what: str, say: Any = st) -> Any | None:
    """A memory-mapped array, or None after telling the user (``say``: :func:`_told`) why not."""
    return _told(info, name, what, lambda: _loaded(info, name, None, lambda: data.array(info, name)), say)


def load_annoy(info: data.ModelInfo, say: Any = st) -> Any | None:
    """The model's Annoy index (for vector expressions), or None after telling the user why not."""
    return _told(info, schema.ANNOY, "Annoy index (needed for expressions)",
                 lambda: _loaded(info, schema.ANNOY, None, lambda: data.annoy(info)), say)


def load_tokenizer(info: data.ModelInfo, say: Any = st) -> Any | None:
    """The model's own tokenizer (``precompute.contract.tokenizer.Encoder``), or None after telling the user why not:
    a build from before the tokenizer step, a corrupt file, or a host without ``tokenizers``/``sentencepiece``."""
    try:
        return _told(info, schema.TOKENIZER, "tokenizer artifact (words are looked up by their text)",
                     lambda: _loaded(info, schema.TOKENIZER, None, lambda: data.tokenizer(info)), say)
    except ImportError as e:
        say.warning(f"**{info.label}**'s tokenizer needs the package {e.name}: `pip install -r "
                    "dashboard/requirements.txt`. Words are looked up by their text meanwhile.")
        return None


def load_text_index(info: data.ModelInfo) -> dict[str, int] | None:
    """Token text -> id (for lookups by text), or None after telling the user why not."""
    return _told(info, schema.TOKENS, "token table",
                 lambda: _loaded(info, schema.TOKENS, "text index",
                                 lambda: data.text_index(info) if info.has(schema.TOKENS) else None))


#: Models side by side in a row at most: four heatmaps of 15 categories in one row left cells of 10 px
#: and dropped their labels; two keep them legible from 800 px up (a phone stacks them anyway).
MODELS_PER_ROW = 2


def in_columns(items: Sequence[T], per_row: int = MODELS_PER_ROW) -> Iterator[tuple[Any, T]]:
    """Each item with a column of its own, ``per_row`` columns to a row."""
    items = list(items)
    for start in range(0, len(items), per_row):
        yield from zip(st.columns(min(len(items), per_row)), items[start:start + per_row], strict=False)


def model_columns(models: Sequence[data.ModelInfo]) -> Iterator[data.ModelInfo]:
    """Each model in its own column under its name (:func:`in_columns`); the loop body draws inside it."""
    for col, m in in_columns(models):
        with col:
            st.markdown(f"**{m.label}**")
            yield m


def require_models(v: View) -> bool:
    """Stop the page with a hint when no model is selected; True when there is something to show."""
    if not v.models:
        st.info("Select at least one model in the sidebar.")
        return False
    return True


def pick_comparison(slugs: Sequence[str]) -> str:
    """The comparison a page shows: chosen in a box bound to the URL when the build has several."""
    slugs = list(slugs)
    if len(slugs) == 1:
        return slugs[0]
    return st.selectbox("Comparison", slugs, **state.bind(state.COMPARISON, slugs, "comparison"))


#: Check every chart against the Vega-Lite schema as it is drawn. Off when serving: the check (jsonschema)
#: is two thirds of a chart's conversion and runs under Streamlit's global Altair lock, so under load every
#: session waits on it. The charts come from the builders in charts.py, with no shape a reader's input can
#: change; the tests draw every page with the check on (tests/conftest.py).
VALIDATE_CHARTS = False


#: Where :func:`chart` keeps the charts this run has drawn and no "Reproduce this figure" box has taken yet:
#: a box exports the charts whose keys start with its own (:func:`downloads`). app.py empties it when a run
#: starts; the tests check that every page leaves it empty (no chart without its box).
DRAWN_KEY = "_hp_charts_drawn"


def chart(c: alt.TopLevelMixin | Callable[[], alt.TopLevelMixin], key: str, reproduce: bool = True,
          **kwargs: Any) -> Any:
    """Draw a chart full-width. The "Reproduce this figure" box that follows it offers it as SVG and PNG under
    the figure's name (Streamlit keeps vega-embed's own export menu off). ``reproduce=False``: a chart with
    no box of its own (the Poster tour's, whose evidence link opens the page that has it).

    ``c`` a function that builds the chart (``lambda: charts.heatmap(df, ...)``): the chart is built and
    converted to its Vega-Lite dict once per view and ``key`` (:func:`per_view`), and every session showing
    that view is sent the same dict (building and converting were half of a page run's CPU). The function
    must read nothing that the view key leaves out. A chart itself is converted at every run.
    """
    if isinstance(c, alt.TopLevelMixin):
        built, spec = _converted(c)
    else:
        built, spec = per_view(view(), ("chart", key), lambda: _converted(c()))
    if reproduce:
        st.session_state.setdefault(DRAWN_KEY, []).append((key, built))
    return st.vega_lite_chart(spec=spec, width="stretch", key=key, **kwargs)


def _converted(c: alt.TopLevelMixin) -> tuple[alt.TopLevelMixin, dict[str, Any]]:
    """The chart and its Vega-Lite dict as Streamlit sends it (its data as Arrow datasets; Streamlit copies
    the dict before changing it), converted the way ``st.altair_chart`` does."""
    if not VALIDATE_CHARTS:  # Streamlit calls c.to_dict() with Altair's default, validate=True
        object.__setattr__(c, "to_dict", functools.partial(type(c).to_dict, c, validate=False))
    return c, _convert_altair_to_vega_lite_spec(c)


#: The width of a chart saved as a file, in CSS pixels (PNG at twice that).
EXPORT_WIDTH = 720


def rendered(c: alt.TopLevelMixin, fmt: str) -> bytes:
    """A chart drawn to SVG or PNG on the server (vl-convert: the same Vega-Lite, no browser)."""
    import vl_convert

    # on screen a chart takes its column's width; a file has none to take
    spec = {**c.to_dict(), "autosize": {"type": "pad"}, "width": EXPORT_WIDTH}
    if fmt == "svg":
        return vl_convert.vegalite_to_svg(spec).encode("utf-8")
    return vl_convert.vegalite_to_png(spec, scale=2)


#: A figure resting on fewer tokens than this is greyed and said to be too few to read: a mean of 3 tokens'
#: neighbourhoods (a THAI-only filter) is no finding. One threshold for cards and bars; pages state it.
MIN_TOKENS = 30


def too_few(n: int | float | None) -> bool:
    """Whether a figure resting on ``n`` tokens is below :data:`MIN_TOKENS` (None: it rests on none)."""
    return n is None or pd.isna(n) or n < MIN_TOKENS


def few_tokens_note() -> str:
    """The sentence under a chart that greys its bars on too few tokens."""
    return f"Grey: a bar resting on fewer than {MIN_TOKENS} tokens, too few to read (its tooltip gives the count)."


def figure(label: str, value: str, note: str | None = None, help: str | None = None, container: Any = st,
           n: int | None = None) -> None:
    """A headline number, its label above and a note under it (std, sample size, chance) in grey.

    ``n``: the tokens the number rests on, said in the note; under :data:`MIN_TOKENS` the number is
    drawn grey with a warning instead of as a headline.

    ``st.metric`` cuts its label and its delta to one line with an ellipsis (at 800 px a column read
    "std 1.29 over 1,494 tokens · chan…"), so the metric draws only the number (its label kept for
    screen readers) and the words are text that wraps.
    """
    box = container.container(gap=None)
    box.text(label, help=help)
    if n is not None and too_few(n):
        box.markdown(f"#### :gray[{value}]", help=f"{n:,} tokens: fewer than {MIN_TOKENS}, too few to read.")
        note = f"only {n:,} tokens (under {MIN_TOKENS}): too few to read" + (f" · {note}" if note else "")
    else:
        box.metric(label, value, label_visibility="collapsed")
    if note:
        box.caption(note)


def view_record(v: View | None = None) -> dict[str, Any]:
    """The view a downloaded table was taken from: page, models, categories, k, conventions, every URL
    option of the page, and the link that reopens it."""
    v = v or view()
    return {"page": pages.shown_url_path() or "overview", "models": [m.slug for m in v.models],
            "categories": v.categories, "k": v.k, "convention": v.convention,
            "options": {name: st.query_params.get_all(name) for name in st.query_params},
            "link": state.share_url(pages.shown_url_path(), pages.current().url_paths)}


def provenance(models: Sequence[data.ArtifactInfo], extra: dict[str, Any] | None = None,
               approximate: bool = False) -> dict[str, Any]:
    """What a downloaded table needs to be cited: the tool, each model (source, revision, parameters, build)
    with the sha256 of every artifact it was built into, the view, and whether the figures are approximate."""
    return {"tool": "hyperpolyglot",
            "models": [{**m.provenance(), "artifacts": {name: f.get("sha256") for name, f in
                                                        m.manifest.get("files", {}).items()}}
                       if isinstance(m, data.ModelInfo) else {"comparison": m.slug} for m in models],
            "view": view_record(),
            "approximate": ("yes: neighbours found by the Annoy index (approximate nearest neighbours; see each "
                            "model's measured recall)") if approximate else "no: exact neighbour tables",
            **(extra or {})}


class FailedDownloads:
    """Downloads that failed to be written, by session, so that the box that offered them says so.

    A "Reproduce this figure" file is written when its button is clicked, outside the script run: an
    exception there reaches no page (Streamlit logs it and its button flashes "Failed to generate file"
    for five seconds). :meth:`guard` wraps the writer so that its failure is kept here, and the box shows
    it, with what to do, on the reader's next run. A click starts no run (``on_click="ignore"``): a run
    started beside the download replaced the button's file id, and the download, racing it, could find
    none (seen as a download that never came in the browser test under load).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failed: dict[tuple[str, str], dict[str, str]] = {}  # (session, box key) -> label -> why

    def guard(self, session: str, key: str, label: str, write: Callable[[], bytes]) -> Callable[[], bytes]:
        """``write``, keeping its failure under ``session`` and the box's ``key``, and raising it on."""
        def written() -> bytes:
            try:
                return write()
            except Exception as e:
                with self._lock:
                    self._failed.setdefault((session, key), {})[label] = f"{type(e).__name__}: {e}"
                raise
        return written

    def take(self, session: str, key: str) -> dict[str, str]:
        """The failures of the box ``key`` in ``session`` since it last asked, by button label."""
        with self._lock:
            return self._failed.pop((session, key), {})


#: The downloads that failed, server-wide (each session sees only its own).
FAILED_DOWNLOADS = FailedDownloads()


def _session_id() -> str:
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else ""


def downloads(df: pd.DataFrame, name: str, models: Sequence[data.ArtifactInfo], key: str,
              extra: dict[str, Any] | None = None, statistic: str | None = None, approximate: bool = False) -> None:
    """A "Reproduce this figure" box under a chart: its data as CSV, where the data came from (JSON), the
    link to the view, the commands that rebuild its artifacts, and the statistic's definition.

    The files are written when clicked (Streamlit's deferred download), not at every run: written eagerly
    they took a seventh of the server's time under load and were held in memory per session. What a file
    needs from the run (the view, the URL: session state exists only inside a script run) is taken by the run
    that draws the open box; a file that fails to be written is reported in the box (:class:`FailedDownloads`).

    The box is filled only when a reader opens it (which reruns the page): its ten or so elements under every
    chart (buttons, two copy boxes, the provenance record) were a fifth of a cached run, for readers who
    mostly never open it; fifty readers of one link each paid for them.
    """
    waiting = st.session_state.get(DRAWN_KEY, [])  # this box's charts: their keys start with its own
    drawn = [(k, c) for k, c in waiting if k.startswith(key)]
    st.session_state[DRAWN_KEY] = [(k, c) for k, c in waiting if not k.startswith(key)]
    box = st.expander("Reproduce this figure", icon=":material/replay:", key=f"reproduce_{key}", on_change="rerun")
    if not box.open:  # filled when opened (a rerun): most readers never open it
        return
    session = _session_id()
    record = provenance(models, {"table": f"{name}.csv", **(extra or {})}, approximate)  # needs the script run

    def button(container: Any, label: str, write: Callable[[], bytes], file_name: str, mime: str,
               button_key: str, icon: str) -> None:
        container.download_button(label, FAILED_DOWNLOADS.guard(session, key, label, write), file_name, mime,
                                  key=button_key, icon=icon, on_click="ignore")

    with box:
        for label, why in FAILED_DOWNLOADS.take(session, key).items():
            st.error(f"“{label}” could not be written ({why}). Try again; if it fails again, the server's log "
                     "has the details for whoever runs this dashboard.", icon=":material/error:")
        buttons = st.container(horizontal=True)  # side by side where they fit, one under the other where not
        button(buttons, "Data (CSV)", lambda: df.to_csv(index=False).encode("utf-8"), f"{name}.csv", "text/csv",
               f"dl_csv_{key}", ":material/download:")
        button(buttons, "Provenance (JSON)",
               lambda: json.dumps(record, indent=2, ensure_ascii=False, default=str).encode("utf-8"),
               f"{name}.provenance.json", "application/json", f"dl_prov_{key}", ":material/info:")
        for chart_key, c in drawn:  # one chart: "Chart (SVG)"; several (a panel per model): named by title
            stem, label = name, "Chart"
            if len(drawn) > 1:
                stem, label = f"{name}-{chart_key}", c.title if isinstance(c.title, str) and c.title else chart_key
            for fmt, mime in (("svg", "image/svg+xml"), ("png", "image/png")):
                button(buttons, f"{label} ({fmt.upper()})", functools.partial(rendered, c, fmt), f"{stem}.{fmt}",
                       mime, f"dl_{fmt}_{key}_{chart_key}", ":material/image:")
        if statistic:
            st.markdown(f"**What it is.** {definitions.DEFINITIONS[statistic]}")
        st.markdown("**Rebuild its artifacts**")
        copybox.copy_box("\n".join(dict.fromkeys(data.rebuild_command(m) for m in models)) or "(none)",
                         key=f"rebuild_{key}")
        st.markdown("**This view**")
        link_box(key)


def share_link() -> None:
    """The full address of the view on screen, in a code box with a copy button (see :func:`link_box`), made
    when the box is opened."""
    box = st.expander("Copy link to this view", icon=":material/link:", key="share_link", on_change="rerun")
    if box.open:
        with box:
            link_box("share")


def link_box(key: str) -> None:
    """The view's full address in a box with a copy button (:mod:`dashboard.components.copybox`); refused when too long.

    A link longer than :data:`state.MAX_LINK_LENGTH` would be cut or refused on its way (browsers,
    proxies, chat tools): the box then says so and what shortens it instead of offering it.
    """
    link = state.share_url(pages.shown_url_path(), pages.current().url_paths)
    if len(link) > state.MAX_LINK_LENGTH:
        st.warning(f"The link to this view would be {len(link):,} characters long, more than the "
                   f"{state.MAX_LINK_LENGTH:,} that browsers and proxies accept. Select fewer models or "
                   "categories (or all of them: a default is left out of the link) to shorten it.")
    else:
        copybox.copy_box(link, key=f"link_{key}")


def neighbors_link_params(text: str, models: Sequence[str]) -> dict[str, str | list[str]]:
    """The query parameters that open the Neighbours page on ``text`` for ``models``."""
    return {state.QUERY.name: text, state.MODELS.name: list(models)}


def neighbors_href(text: str, models: Sequence[str]) -> str:
    """A relative link opening the Neighbours page on ``text`` for ``models`` (for LinkColumn cells)."""
    return (pages.current()[NEIGHBORS_PAGE].url_path + "?"
            + urlencode(neighbors_link_params(text, models), doseq=True))


def page_link(name: str, label: str, query_params: dict[str, str | list[str]], icon: str | None = None) -> None:
    """A link (drawn here) that switches to the page named ``name`` (its file's stem) with ``query_params``
    in the URL, so that it opens in that view (the page's own icon unless ``icon`` is given)."""
    spec = pages.current()[name]
    st.page_link(pages.st_page(spec), label=label, icon=icon or spec.icon, query_params=query_params)


def page_link_to_neighbors(text: str, models: Sequence[str]) -> None:
    """A link (drawn here) that switches to the Neighbours page on ``text`` for ``models``."""
    page_link(NEIGHBORS_PAGE, f"Open {text} on the Neighbours page", neighbors_link_params(text, models),
              icon=":material/hub:")


def filter_categories(df: pd.DataFrame, categories: Sequence[str], column: str = "shown_category") -> pd.DataFrame:
    return df[df[column].isin(list(categories))]


def filtered(v: View) -> bool:
    """Whether the sidebar leaves some categories out."""
    return set(v.categories) != set(CATEGORY_OPTIONS)


def filter_ignored(v: View, what: str) -> None:
    """Say, while a category filter is on, that ``what`` is not filtered and why (it has no categories)."""
    if filtered(v):
        st.caption(f":material/filter_alt_off: The category filter does not apply to {what}.")


def nothing_to_draw(v: View, what: str) -> None:
    """Say that the selected categories leave ``what`` empty, instead of drawing empty axes."""
    st.info(f"No {what} for the selected categories ({', '.join(v.categories)}): choose others in the sidebar.",
            icon=":material/filter_alt:")


def not_drawn(labels: Sequence[str]) -> None:
    """Name the raw categories a chart leaves out (they have no display category of their own)."""
    if labels:
        st.caption(f"Not drawn: {', '.join(labels)} — categories the paper does not plot (“{OTHER}”), whose "
                   "per-category figures cannot be pooled; they are in the CSV.")


def model_colors(v: View) -> dict[str, str]:
    """Every model's colour, by its place in the catalog: the same on every page whatever is selected."""
    return charts.model_colors([m.label for m in v.catalog.models.values()])


def folds_text(models: list[data.ModelInfo]) -> str:
    """How many cross-validation folds the shown models' probes used, from their manifests (``--folds``)."""
    default = BuildConfig().folds
    counts = {m.label: int(m.params.get("folds", default)) for m in models}
    if len(set(counts.values())) <= 1:
        return f"{next(iter(counts.values()), default)} folds"
    return "folds: " + ", ".join(f"{n} ({label})" for label, n in counts.items())
