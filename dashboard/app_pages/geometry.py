"""Geometry: how alike two models' neighbourhoods are on their shared vocabulary (Jaccard of top-k
sets; CKA and Procrustes residual as alternatives), overall and per category; for a pair, the tokens
whose neighbourhoods differ most and least."""

from functools import partial

import pandas as pd
import streamlit as st

from dashboard import charts, state, tables, ui
from precompute.contract import conventions, schema
from precompute.contract.categories import PLOTTED, token_categories

PAGE = {"title": "Geometry", "url_path": "geometry", "icon": ":material/grid_on:", "order": 70,
        "summary": "how similar two models' neighbourhoods are (Jaccard, overlap, CKA, Procrustes), against chance",
        "needs": ("GEOMETRY", "GEOMETRY_TOKENS")}

METRICS = {"jaccard_mean": "Jaccard of the top-k neighbour sets", "overlap_mean": "overlap |A∩B| / k",
           "overlap_paper_mean": "overlap as the paper: k-entry lists with the token itself, |A∩B| / |A|",
           "cka": "linear CKA", "procrustes_residual": "Procrustes residual (lower = more alike)"}
#: The neighbour-set measures and their chance columns (two random k-sets of the pair's shared tokens).
AGAINST_CHANCE = {"jaccard_mean": "jaccard_chance", "overlap_mean": "overlap_chance",
                  "overlap_paper_mean": "overlap_paper_chance"}
#: What the two conventions mean here: the geometry differs between them (the token in its own list or not).
CONVENTIONS_SAID = ("Conventions: both shown. Overlap (paper), as the authors' code: lists of k holding the token "
                    "itself and its k − 1 nearest, |A∩B| / |A| (they compared k = 100); Jaccard and overlap "
                    "(refined): the k nearest, the token left out.")


def against_chance(cells: pd.DataFrame) -> pd.DataFrame:
    """Each model pair's Jaccard and overlap beside their chance values, long: pair, measure, value, chance."""
    pairs = cells[cells["model_a"] < cells["model_b"]]
    pair = pairs["model_a"] + " · " + pairs["model_b"]
    return pd.concat([pd.DataFrame({"pair": pair, "measure": charts.title_of(value),
                                    "value": pairs[value], "chance": pairs[chance], "n_tokens": pairs["n_tokens"]})
                      for value, chance in AGAINST_CHANCE.items() if value in pairs and chance in pairs],
                     ignore_index=True)


def at_k(tokens: pd.DataFrame, k: int) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The per-token rows at ``k`` (the comparison's largest k where it lacks ``k``), the pairs they hold
    ("a | b") and their models. Over every shared token of every pair: computed once per view."""
    built_ks = tokens["k"].unique()
    tokens = tokens[tokens["k"] == (k if k in built_ks else built_ks.max())]
    built = tokens[["model_a", "model_b"]].drop_duplicates().astype(str)
    return (tokens, sorted(f"{a} | {b}" for a, b in built.itertuples(index=False)),
            sorted(set(built["model_a"]) | set(built["model_b"])))


def pair_tokens(tokens: pd.DataFrame, a: str, b: str, categories: list[str],
                filtered: bool) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The rows of the pair ``a``, ``b`` (either order) whose tokens the category filter keeps, and the 50
    most different and most alike as shown (the text made visible, a link to its neighbours)."""
    pair = tokens[((tokens["model_a"] == a) & (tokens["model_b"] == b))
                  | ((tokens["model_a"] == b) & (tokens["model_b"] == a))]
    if filtered:  # the shared tokens' categories, from their text (refined, like the comparison's)
        shown_category = pd.Series(token_categories(pair["text"].astype(str).tolist()), index=pair.index)
        pair = pair[~tables.outside(shown_category, categories)]

    def listed(rows: pd.DataFrame) -> pd.DataFrame:
        """The rows as shown, as Arrow: the text made visible, a link to its neighbours (for these rows only)."""
        return ui.arrow_table(rows.assign(shown=tables.visible_texts(rows["text"]),
                                          open=[ui.neighbors_href(t, [a, b]) for t in rows["text"]])[
                                                   ["shown", "jaccard", "open"]])

    return pair, listed(pair.nsmallest(50, "jaccard")), listed(pair.nlargest(50, "jaccard"))


v = ui.view()
st.title("Geometry similarity")
comparisons = list(v.catalog.comparisons)
if not comparisons:
    st.info("No comparison built yet. Build one with `python -m precompute compare MODEL_A MODEL_B` "
            "(`python -m precompute build --default` builds the default one).")
    st.stop()
controls = st.container(horizontal=True)
with controls:
    slug = ui.pick_comparison(comparisons)
cmp = v.catalog.comparisons[slug]
geometry = ui.load(cmp, schema.GEOMETRY, "geometry comparison")
# a comparison built before a measure existed (the paper's overlap) offers the measures it has
measures = [m for m in METRICS if geometry is None or m in geometry]
with controls:
    metric = st.selectbox("Measure", measures, **state.bind(state.METRIC, measures, "measure"),
                          help="; ".join(f"{k}: {METRICS[k]}" for k in measures))
if geometry is not None and len(measures) < len(METRICS):
    lacking = ", ".join(charts.title_of(m) for m in METRICS if m not in measures)
    st.info(f"This comparison was built before this version computed {lacking}. {ui.rebuild_hint(cmp)}")
# one category's tokens: the categories the paper plots that the sidebar selects (pooling "other" from
# per-category rows is not possible)
present = set(geometry["category"]) if geometry is not None else set()
scopes = [schema.ALL_CATEGORIES] + [c for c in PLOTTED if c in present and c in v.categories]
with controls:
    scope = st.selectbox("Tokens", scopes, **state.bind(state.SCOPE, scopes, "category"),
                         help=f"{schema.ALL_CATEGORIES}: all shared tokens; else the shared tokens of one of the "
                              "categories selected in the sidebar.")
if ui.filtered(v):
    st.caption(f":material/filter_alt: The category filter chooses the categories offered under “Tokens” and the "
               f"tokens listed at the bottom; “{schema.ALL_CATEGORIES}” is all shared tokens, whatever the filter.")

if geometry is not None:  # at the sidebar's k where the comparison has it, else its largest
    ks = sorted(int(k) for k in geometry["k"].unique())
    geo_k = v.k if v.k in ks else ks[-1]
    st.caption(f"k = {geo_k} neighbours compared (the sidebar's k; this comparison has k = "
               f"{', '.join(map(str, ks))}). Each pair on the tokens it shares. "
               + CONVENTIONS_SAID + ("" if scope == schema.ALL_CATEGORIES
                                     else " " + ui.convention_note(v, "category", only=conventions.REFINED)))
    geometry = geometry[geometry["k"] == geo_k]
    sources = [cmp, *(m for m in v.catalog.models.values() if m.slug in cmp.models)]  # what the figures come from
    cell = geometry[geometry["category"] == scope].dropna(subset=[metric])
    if cell.empty:
        st.info(f"{METRICS[metric]} is computed on all shared tokens only; choose “all shared tokens”.")
    else:
        domain = None if metric == "procrustes_residual" else (0.0, 1.0)
        ui.chart(partial(charts.heatmap, cell, "model_b", "model_a", metric,
                         title=f"{METRICS[metric]} @{geo_k} — {scope}", fmt=".3f", domain=domain), key="geo_matrix")
        ui.downloads(cell, f"geometry_{slug}_{metric}_{scope}", sources, "geo",
                     {"comparison": cmp.manifest.get("params"), "models": cmp.models}, statistic="geometry")
    chance = against_chance(geometry[geometry["category"] == scope])
    if len(chance):
        st.subheader("Against chance")
        st.caption(f"Jaccard and overlap |A∩B| / {geo_k} of each pair, and the paper's overlap (lists of {geo_k} "
                   f"with the token itself); black tick: the same for random neighbours among the pair's shared "
                   "tokens (exact).")
        ui.chart(partial(charts.grouped_bars, chance, "value", x="pair", group="measure", reference="chance",
                         y_title=f"Jaccard or overlap @{geo_k} ({scope})"), key="geo_chance")
        ui.downloads(chance, f"geometry_chance_{slug}_k{geo_k}_{scope}", sources, "geo_chance",
                     {"comparison": cmp.manifest.get("params"), "models": cmp.models}, statistic="geometry")
st.subheader("Tokens whose neighbourhoods differ most and least")
tokens = ui.load(cmp, schema.GEOMETRY_TOKENS, "per-token geometry")
if tokens is not None and len(tokens):
    tokens, pairs, models = ui.per_view(v, "tokens at k", partial(at_k, tokens, v.k))
    first_a, first_b = pairs[0].split(" | ")
    with st.container(horizontal=True):
        a = st.selectbox("Model a", models, index=models.index(first_a), **state.bind(state.MODEL_A, models, "model a"))
        b = st.selectbox("Model b", models, index=models.index(first_b), **state.bind(state.MODEL_B, models, "model b"))
    pair, most_different, most_alike = ui.per_view(v, "tokens of a pair",  # a and b: widgets, in the view's key
                                                   partial(pair_tokens, tokens, a, b, v.categories, ui.filtered(v)))
    if pair.empty and ui.filtered(v):
        ui.nothing_to_draw(v, f"shared tokens of {a} and {b}")
    elif pair.empty:
        st.info(f"No per-token comparison of {a} and {b} in this build; pairs: {', '.join(pairs)}.")
    else:
        config = {"shown": st.column_config.TextColumn("text"), "jaccard": st.column_config.NumberColumn(format="%.3f"),
                  "open": st.column_config.LinkColumn("neighbours", display_text="open")}
        left, right = st.columns(2)
        left.markdown("**Most different** (lowest Jaccard)")
        left.dataframe(most_different, hide_index=True, column_config=config)
        right.markdown("**Most alike** (highest Jaccard)")
        right.dataframe(most_alike, hide_index=True, column_config=config)
        ui.downloads(pair, f"geometry_tokens_{a}_{b}",
                     [cmp, *(m for m in v.catalog.models.values() if m.slug in (a, b))], "geo_tokens",
                     statistic="geometry")
ui.share_link()
