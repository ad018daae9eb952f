"""Map: each selected model's vocabulary in 2-D (UMAP or PCA), side by side, coloured by category,
the number of categories among a token's neighbours, or its embedding norm. Click a point for its
neighbours."""

import streamlit as st

from dashboard import charts, lookup, state, tables, ui
from precompute import schema

PAGE = {"title": "Map", "url_path": "map", "icon": ":material/scatter_plot:", "order": 20,
        "summary": "each model's vocabulary in 2-D (UMAP or PCA), coloured by writing system; "
                   "click a token for its neighbours",
        "needs": ("MAP", "TOKENS", "DIVERSITY", "NEIGHBORS", "SIMILARITIES")}

#: Options as the URL spells them (Streamlit's binding writes what a widget shows, so no format_func).
LAYOUTS = {"umap": "UMAP", "pca": "PCA"}
COLOURS = {"category": "token category", "diversity": "categories among the k nearest neighbours",
           "norm": "embedding norm"}
POINT_LIMITS = (2_000, 5_000, 10_000, 20_000)

v = ui.view()
st.title("Map")
with st.container(horizontal=True):
    layout = st.segmented_control("Layout", list(LAYOUTS), default="umap", required=True,
                                  **state.bind(state.LAYOUT, list(LAYOUTS), "layout"))
    colour = st.selectbox("Colour by", list(COLOURS), **state.bind(state.COLOR, list(COLOURS), "colour"),
                          help="; ".join(f"{k}: {text}" for k, text in COLOURS.items()))
    limit = st.selectbox("Points per model", POINT_LIMITS, index=POINT_LIMITS.index(10_000),
                         **state.bind(state.MAX_POINTS, POINT_LIMITS, "points"),
                         help="Sampled per category (fixed seed) so that small scripts stay visible.")

if ui.require_models(v):
    for m in ui.model_columns(v.models):
        coords = ui.load(m, schema.MAP, "2-D map")
        tok = ui.load(m, schema.TOKENS, "token table")
        if coords is None or tok is None:
            continue
        df = coords.rename(columns={f"{layout}_x": "x", f"{layout}_y": "y"})[["id", "x", "y"]].merge(
            tok[["id", "text", "category", "shown_category", "language", "gloss", "norm", "is_special"]], on="id")
        df = df[~df["is_special"].to_numpy(bool)].dropna(subset=["x", "y"])
        value = "category"
        if colour == "diversity":
            column = schema.n_categories_column(v.k)
            div = ui.load(m, schema.DIVERSITY, "neighbourhood diversity", ["id", column])
            if div is not None and column in div:
                value = f"categories@{v.k}"
                df = df.merge(div.rename(columns={column: value}), on="id")
        elif colour == "norm":
            value = "norm"
        total = len(df)
        df = tables.stratified_sample(ui.filter_categories(df, v.categories), "shown_category", limit)
        st.caption(f"Showing {len(df):,} of {total:,} tokens ({LAYOUTS[layout]}"
                   + (f", categories: {len(v.categories)} selected" if len(v.categories) < len(ui.CATEGORY_OPTIONS)
                      else "") + ").")
        event = ui.chart(charts.token_map(df.assign(text=tables.visible_texts(df["text"])), value, selection="token"),
                         key=f"map_{m.slug}_{layout}",
                         on_select="rerun", selection_mode="token")
        ui.downloads(df.drop(columns=["is_special"]), f"map_{m.slug}_{layout}", [m], f"map_{m.slug}",
                     {"layout": layout, "sampled_rows": len(df), "total_rows": total})
        picked = (event or {}).get("selection", {}).get("token") or []
        if picked:
            token_id = int(picked[0]["id"])
            nb = ui.load_array(m, schema.NEIGHBORS, "neighbour table")
            sim = ui.load_array(m, schema.SIMILARITIES, "neighbour similarities")
            text = str(tok["text"].iloc[token_id])
            st.markdown(f"Nearest neighbours of **{tables.visible(text)}**")
            if nb is not None and sim is not None:
                rows = tables.neighbor_rows(nb, sim, tok, token_id, min(v.k, nb.shape[1]))
                st.dataframe(rows.drop(columns=["id"]).assign(token=tables.visible_texts(rows["token"])),
                             hide_index=True)
            ui.page_link_to_neighbors(lookup.query_for(ui.load_text_index(m) or {}, text, token_id),
                                      [x.slug for x in v.models])
ui.share_link()
