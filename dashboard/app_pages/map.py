"""Map: every token of each selected model in 2-D (UMAP or PCA), drawn with WebGL and linked across models:
select a token or a lasso of tokens in one panel and the same texts light up in the others with their k
nearest neighbours. Figure 1 mode draws two models on their shared vocabulary (the paper's Figure 1)."""

import hashlib
from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import charts, data, lookup, mapdata, state, tables, ui
from dashboard.components import webmap
from precompute.contract import conventions, schema
from precompute.contract.categories import UNKNOWN, display_category

PAGE = {"title": "Map", "url_path": "map", "icon": ":material/scatter_plot:", "order": 20,
        "summary": "every token of each model in 2-D (UMAP or PCA) with WebGL, coloured by writing system; "
                   "select a token or a lasso and see it in every model",
        "needs": ("MAP", "TOKENS", "DIVERSITY", "NEIGHBORS", "SIMILARITIES")}

#: Options as the URL spells them (Streamlit's binding writes what a widget shows, so no format_func).
MODES = {"models": "models", "figure1": "Figure 1"}
LAYOUTS = {"umap": "UMAP", "pca": "PCA"}
COLOURS = {"category": "token category", "diversity": "categories among the k nearest neighbours",
           "norm": "embedding norm", "frequency": f"frequency decile ({schema.DECILE_MEANING})"}
#: How many of the tokens whose neighbourhoods differ most (lowest Jaccard@k) Figure 1 mode marks.
DIFFERING_TOKENS = 200


def category_column(tokens: pd.DataFrame, convention: str) -> str:
    """The token-table column to colour by under the sidebar's convention (the paper's when it is there)."""
    column = conventions.category_column(convention)
    return column if column in tokens else "category"


@st.cache_resource(show_spinner="Preparing the map…", max_entries=24)
def model_points(_tokens: pd.DataFrame, _diversity: pd.DataFrame | None, _coords: Callable[[], pd.DataFrame],
                 key: tuple, on: str, k: int, convention: str, categories: tuple[str, ...]) -> tuple[pd.DataFrame, int]:
    """The points of one panel: coordinates (joined ``on`` id or text) with what hover, colour and labels need;
    and how many of the tokens shown the layout left without a position (UMAP can return none for a token).

    Cached per (model files, layout, k, convention, categories): ``key`` names the inputs' versions.
    ``_coords`` makes the (``on``, x, y) table, on a cache miss only (a 250k-row selection at every run
    was a tenth of a cached Map run).
    """
    column = category_column(_tokens, convention)
    tok = _tokens[~_tokens["is_special"].to_numpy(bool)]
    tok = tok.assign(category=tok[column].astype("string").fillna(UNKNOWN).map(display_category))
    tok = tok[tok["category"].isin(categories)]
    keep = ["id", "text", "category", "language", "gloss", "norm", "frequency", "frequency_decile"]
    tok = tok[[c for c in keep if c in tok]]
    if _diversity is not None:
        n_cat = schema.n_categories_column(k, convention)
        n_cat = n_cat if n_cat in _diversity else schema.n_categories_column(k)
        if n_cat in _diversity:
            tok = tok.merge(_diversity[["id", n_cat]].rename(columns={n_cat: "diversity"}), on="id", how="left")
    if on == "text":
        tok = tok.drop_duplicates("text")
    joined = _coords().merge(tok, on=on)
    points = joined.dropna(subset=["x", "y"]).reset_index(drop=True)
    return points.assign(text=tables.visible_texts(points["text"])), len(joined) - len(points)


def layout_xy(coords: pd.DataFrame, layout: str) -> pd.DataFrame:
    """A model's map table as (id, x, y) in ``layout`` (umap or pca)."""
    return coords.rename(columns={f"{layout}_x": "x", f"{layout}_y": "y"})[["id", "x", "y"]]


def shared_xy(shared: pd.DataFrame, slug: str) -> pd.DataFrame:
    """One model's shared-vocabulary map as (text, x, y)."""
    return shared[shared["model"] == slug][["text", "x", "y"]]


def version(m: data.ModelInfo) -> tuple:
    """What names a model's map inputs: its slug and the files' checksums."""
    files = m.manifest.get("files", {})
    return (m.slug, *(files.get(n, {}).get("sha256") for n in (schema.MAP, schema.TOKENS, schema.DIVERSITY)))


@st.cache_resource(show_spinner=False, max_entries=24)
def packed(_panel: mapdata.Panel, key: tuple) -> tuple[dict, bytes]:
    """A panel packed for the browser, once per ``key`` (its slug, label and version): a warm page packs
    nothing, and adding a model packs only its panel. (The bytes are never mutated: shared, not copied.)"""
    return mapdata.pack_panel(_panel, charts.CATEGORY_ORDER)


def panels_for_models(v: ui.View, layout: str) -> list[mapdata.Panel]:
    out = []
    for m in v.models:
        coords, tok = ui.load(m, schema.MAP, "2-D map"), ui.load(m, schema.TOKENS, "token table")
        if coords is None or tok is None:
            continue
        div = ui.load(m, schema.DIVERSITY, "neighbourhood diversity")
        key = (version(m), layout)
        xy = partial(layout_xy, coords, layout)
        made_of = (key, "id", v.k, v.convention, tuple(v.categories))
        points, unplaced = model_points(tok, div, xy, *made_of)
        out.append(mapdata.Panel(m.slug, m.label, points, made_of, unplaced))
    return out


def panels_for_figure1(v: ui.View) -> tuple[list[mapdata.Panel], pd.DataFrame | None, list[str]]:
    """Two models of a comparison on their shared vocabulary; also its per-token table and the two slugs."""
    comparisons = list(v.catalog.comparisons)
    if not comparisons:
        st.info("No comparison built yet. Build one with `python -m precompute compare MODEL_A MODEL_B`.")
        return [], None, []
    with st.container(horizontal=True):
        slug = (st.selectbox("Comparison", comparisons, **state.bind(state.COMPARISON, comparisons, "comparison"))
                if len(comparisons) > 1 else comparisons[0])
        cmp = v.catalog.comparisons[slug]
        models = [m for m in cmp.models if m in v.catalog.models] or cmp.models
        a = st.selectbox("Model a", models, **state.bind(state.MODEL_A, models, "model a"))
        b = st.selectbox("Model b", models, index=min(1, len(models) - 1),
                         **state.bind(state.MODEL_B, models, "model b"))
    shared = ui.load(cmp, schema.SHARED_MAP, "shared-vocabulary map")
    if shared is None:
        return [], None, []
    out = []
    for s in dict.fromkeys([a, b]):
        m = v.catalog.models.get(s)
        tok = ui.load(m, schema.TOKENS, "token table", convention=v.convention) if m else None
        if tok is None:
            continue
        div = ui.load(m, schema.DIVERSITY, "neighbourhood diversity")
        xy = partial(shared_xy, shared, s)
        key = (slug, s, cmp.manifest["files"].get(schema.SHARED_MAP, {}).get("sha256"), version(m))
        made_of = (key, "text", v.k, v.convention, tuple(v.categories))
        points, unplaced = model_points(tok, div, xy, *made_of)
        out.append(mapdata.Panel(s, f"{m.label} (shared vocabulary)", points, made_of, unplaced))
    return out, ui.load(cmp, schema.GEOMETRY_TOKENS, "per-token geometry"), [a, b]


def url_view(panels: dict[str, mapdata.Panel]) -> dict:
    """The selection, isolated category and zooms that the link asks for, in the map's terms (rows)."""
    view: dict = {"selection": None, "only": st.query_params.get(state.ISOLATE.name), "zoom": {}}
    slug, _, ids = (st.query_params.get(state.SELECTION.name) or "").partition("~")
    if slug in panels:
        rows = np.flatnonzero(panels[slug].tokens["id"].isin(mapdata.decode_ids(ids)).to_numpy()).tolist()
        view["selection"] = {"panel": slug, "rows": rows} if rows else None
    for entry in st.query_params.get_all(state.ZOOM.name):
        name, _, numbers = entry.partition("~")
        try:
            cx, cy, s = (float(x) for x in numbers.split(","))
        except ValueError:
            continue
        if name in panels and 0.5 <= s <= 400:
            view["zoom"][name] = [cx, cy, s]
    return view


def write_url(view: dict, panels: dict[str, mapdata.Panel]) -> None:
    """Put what the user did on the map into the address bar (so the share link holds it)."""
    sel = view.get("selection")
    values = {
        state.SELECTION.name: (f"{sel['panel']}~" + mapdata.encode_ids(
            panels[sel["panel"]].tokens["id"].to_numpy()[sel["rows"]]) if sel and sel["panel"] in panels else None),
        state.ISOLATE.name: view.get("only"),
        state.ZOOM.name: [f"{s}~{cx:g},{cy:g},{z:g}" for s, (cx, cy, z) in (view.get("zoom") or {}).items()] or None,
    }
    for name, value in values.items():
        if value:
            st.query_params[name] = value
        elif name in st.query_params:
            del st.query_params[name]


def linked_neighbours(view: dict, panels: dict[str, mapdata.Panel], k: int) -> dict | None:
    """The k nearest neighbours, in every panel, of the selection's texts (the key says which selection)."""
    sel = view.get("selection")
    if not sel or sel["panel"] not in panels or not sel["rows"]:
        return None
    texts = panels[sel["panel"]].tokens["text"].to_numpy()[sel["rows"][:mapdata.MAX_LINKED]]
    rows = {}
    for slug, p in panels.items():
        nb = ui.load_array(v.catalog.models[slug], schema.NEIGHBORS, "neighbour table")
        if nb is None:
            continue
        ids = p.tokens["id"].to_numpy()
        chosen = ids[mapdata.rows_of_texts(p.tokens["text"], texts)]
        rows[slug] = mapdata.drawn_neighbour_positions(ids, nb, chosen, min(k, nb.shape[1])).tolist()
    return {"key": f"{sel['panel']}:{len(sel['rows'])}:{sel['rows'][0]}", "rows": rows}


def searched(query: str, panels: dict[str, mapdata.Panel]) -> dict | None:
    """Where the searched token is in each panel (lookup rules of the Neighbours page), or None."""
    if not query.strip():
        return None
    rows = {}
    for slug, p in panels.items():
        token_id = lookup.parse_id(query)
        if token_id is None:
            found = lookup.find_token(ui.load_text_index(v.catalog.models[slug]) or {}, query)
            token_id = found[0] if found else None
        at = np.flatnonzero(p.tokens["id"].to_numpy() == token_id) if token_id is not None else []
        if len(at):
            rows[slug] = int(at[0])
    if not rows:
        st.warning(f"No token {tables.visible(query)!r} in the panels shown (try another spelling or id:N).")
    return {"key": query, "rows": rows}


def selection_tables(view: dict, panels: dict[str, mapdata.Panel], k: int) -> None:
    """Under the map: a single token's k nearest neighbours in each model, or what a lasso holds."""
    sel = view.get("selection")
    if not sel or sel["panel"] not in panels:
        st.caption("Hover a point for its token; click one, or draw around several with the lasso "
                   "(or Shift + drag), to see them in every model with their neighbours.")
        return
    source = panels[sel["panel"]].tokens.iloc[sel["rows"]]
    if len(source) > 1:
        st.markdown(f"**{len(source):,} tokens** selected in {sel['panel']}; the same texts are lit in the other "
                    f"panels, with the {k} nearest neighbours of the first {mapdata.MAX_LINKED}.")
        st.dataframe(source[["text", "category", "language"]].head(1000), hide_index=True, height=220)
        return
    text = str(source["text"].iloc[0])
    st.markdown(f"Nearest neighbours of **{text}**")
    for m in ui.model_columns([v.catalog.models[s] for s in panels]):
        index = ui.load_text_index(m) or {}
        tok, nb, sim = (ui.load(m, schema.TOKENS, "token table"), ui.load_array(m, schema.NEIGHBORS, "neighbour table"),
                        ui.load_array(m, schema.SIMILARITIES, "neighbour similarities"))
        hit = np.flatnonzero(panels[m.slug].tokens["text"].to_numpy() == text)
        if tok is None or nb is None or sim is None or not len(hit):
            st.caption("Not in this vocabulary.")
            continue
        token_id = int(panels[m.slug].tokens["id"].iloc[hit[0]])
        rows = tables.neighbour_table(nb, sim, tok, token_id, min(k, nb.shape[1]))
        st.dataframe(rows.drop(columns=["id"]).assign(token=tables.visible_texts(rows["token"])), hide_index=True)
        ui.page_link_to_neighbors(lookup.query_for(index, str(tok["text"].iloc[token_id]), token_id), [m.slug])


v = ui.view()
st.title("Map")
with st.container(horizontal=True):
    mode = st.segmented_control("Show", list(MODES), default="models", required=True,
                                **state.bind(state.MAP_MODE, list(MODES), "map mode"),
                                help="models: every selected model's whole vocabulary; Figure 1: two models of a "
                                     "comparison on the vocabulary they share (the paper's Figure 1)")
    if mode == "models":
        layout = st.segmented_control("Layout", list(LAYOUTS), default="umap", required=True,
                                      **state.bind(state.LAYOUT, list(LAYOUTS), "layout"))
    colour = st.selectbox("Colour by", list(COLOURS), **state.bind(state.COLOR, list(COLOURS), "colour"),
                          help="; ".join(f"{k}: {text}" for k, text in COLOURS.items()))
    query = st.text_input("Find a token", placeholder="▁when, 東京, id:16006", **state.bind_text(state.FIND, "token"))

if ui.require_models(v):
    geometry_tokens, pair = None, []
    if mode == "models":
        shown = panels_for_models(v, layout)
    else:
        shown, geometry_tokens, pair = panels_for_figure1(v)
        differ = st.toggle(f"Mark the {DIFFERING_TOKENS} tokens whose neighbourhoods differ most (lowest Jaccard@k)",
                           **state.bind(state.DIFFERING, [True, False], "differing"))
    panels = {p.slug: p for p in shown}
    if panels:
        keys = [(p.slug, p.label, p.version) for p in shown]
        signature = hashlib.sha1(repr(keys).encode()).hexdigest()
        caption = st.empty()  # above the map; its size is known once the map is drawn
        # one payload per signature for every session: a burst of readers of one link packs it once
        size, view = webmap.draw(signature, lambda: mapdata.pack(
            [packed(p, key) for p, key in zip(shown, keys, strict=True)], charts.CATEGORY_ORDER,
            charts.CATEGORY_COLORS, signature), PAGE["url_path"])
        view = view or url_view(panels)
        caption.caption(f"Every token: {' + '.join(f'{len(p.tokens):,}' for p in shown)} points "
                        f"({size / 2**20:.1f} MB, sent once). Scroll to zoom, drag to pan, double-click to reset; "
                        "click a legend entry to show only that category.")
        write_url(view, panels)
        marks = {}
        if mode == "figure1" and differ and geometry_tokens is not None:
            texts = tables.visible_texts(pd.Series(mapdata.differing_texts(geometry_tokens, *pair, v.k,
                                                                           DIFFERING_TOKENS), dtype="string"))
            marks = {s: mapdata.rows_of_texts(p.tokens["text"], texts).tolist() for s, p in panels.items()}
        webmap.link({"signature": signature, "colour": colour, "init": url_view(panels),
                     "focus": searched(query or "", panels), "neighbours": linked_neighbours(view, panels, v.k),
                     "marks": marks})
        selection_tables(view, panels, v.k)
ui.share_link()
