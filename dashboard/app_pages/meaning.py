"""Meaning: how many of a token's neighbours are its translations (share a dictionary concept),
by category; translation retrieval precision; example tokens with their translated neighbours."""

from functools import partial

import pandas as pd
import streamlit as st

from dashboard import charts, state, tables, ui
from precompute.contract import conventions, schema
from precompute.contract.categories import display_category

PAGE = {"title": "Meaning", "url_path": "meaning", "icon": ":material/translate:", "order": 60,
        "summary": "how often neighbours are translations of the token",
        "needs": ("MEANING", "TRANSLATION_RETRIEVAL", "MEANING_TOKENS", "TOKENS", "NEIGHBORS", "SIMILARITIES")}

def selected(frames: list[tuple[str, pd.DataFrame]], categories: list[str]) -> pd.DataFrame | None:
    """The rows of each model's table (``(label, table)``) in the selected categories, with a ``model`` column, as
    one table; None without any."""
    if not frames:
        return None
    return pd.concat([df[df["category"].map(display_category).isin(categories)].assign(model=label)
                      for label, df in frames], ignore_index=True)


def retrieval_drawn(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Translation retrieval one row per model, category and metric (P@1, P@10): its drawn rows and the
    categories left out (:func:`tables.plotted`)."""
    long = df.melt(id_vars=["model", "category", "n_tokens"], value_vars=["p_at_1", "p_at_10"],
                   var_name="metric", value_name="precision")
    long["metric"] = long["metric"].str.replace("p_at_", "P@")
    long["model · metric"] = long["model"] + " · " + long["metric"]
    return tables.plotted(long)


def best_examples(mt: pd.DataFrame, tok: pd.DataFrame, categories: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The first 200 tokens of the selected categories with the most translated neighbours (ids and texts), and
    their texts as the box offers them (written out)."""
    best = mt[mt["n_shared"] > 0].merge(tok[["id", "text", "gloss", "shown_category"]], on="id")
    best = ui.filter_categories(best, categories).sort_values(["n_shared", "id"], ascending=[False, True]).head(200)
    return best, tables.visible_texts(best["text"]).tolist()


def example_rows(nb, sim, tok: pd.DataFrame, token_id: int, k: int) -> tuple[str, object]:
    """An example token's caption and its neighbours that name its concept (as an Arrow table, converted once)."""
    rows = tables.neighbour_table(nb, sim, tok, token_id, min(k, nb.shape[1]))
    same = tables.shares_concept(tok["concept"], token_id, rows["id"].to_numpy())
    caption = (f"{int(same.sum())} of {len(rows)} neighbours name the concept “{tok['gloss'].iloc[token_id]}”.")
    shown = rows[same].drop(columns=["id"])
    return caption, ui.arrow_table(shown.assign(token=tables.visible_texts(shown["token"])))


v = ui.view()
st.title("Meaning")
st.caption("A neighbour shares meaning with a token when both name a same concept: a CLDR name cluster, or an "
           "English headword of the FreeDict bilingual dictionaries (general vocabulary, as the paper's MUSE "
           "dictionaries), where the build had them. Only tokens with a translation count.")

if ui.require_models(v):
    shares, retrieval = [], []
    for m in v.models:
        mean = ui.load(m, schema.MEANING, "meaning statistics")
        if mean is not None:
            shares.append((m.label, mean))
        ret = ui.load(m, schema.TRANSLATION_RETRIEVAL, "translation retrieval")
        if ret is not None:
            retrieval.append((m.label, ret))
    if shares:
        df = ui.per_view(v, "shares", partial(selected, shares, v.categories))
        drawn, left_out = ui.per_view(v, "shares drawn", lambda: tables.plotted(df))
        ks = sorted(df["k"].unique())
        st.subheader(f"Neighbours that share a translation (of {', '.join(map(str, ks))})")
        st.caption("Mean per category with its 95% interval; black tick: the mean for as many neighbours drawn at "
                   "random (chance). " + ui.convention_note(v, "category", only=conventions.REFINED))
        if drawn.empty:
            ui.nothing_to_draw(v, "tokens with a translation")
        else:
            ui.chart(partial(charts.grouped_bars, drawn, "mean", "ci95", y_title="neighbours sharing a concept",
                             reference="chance_mean", palette=ui.model_colors(v), n="n_tokens",
                             min_n=ui.MIN_TOKENS), key="meaning_bars")
            st.caption(ui.few_tokens_note())
        ui.not_drawn(left_out)
        ui.downloads(df, "meaning", v.models, "meaning", statistic="meaning")
    if retrieval:
        st.subheader("Translation retrieval")
        st.caption("For tokens with a translation in the vocabulary: is one among the nearest 1 / 10 neighbours? "
                   + ui.convention_note(v, "category", only=conventions.REFINED))
        df = ui.per_view(v, "retrieval", partial(selected, retrieval, v.categories))
        drawn, left_out = ui.per_view(v, "retrieval drawn", partial(retrieval_drawn, df))
        if drawn.empty:
            ui.nothing_to_draw(v, "translation retrieval")
        else:
            ui.chart(partial(charts.grouped_bars, drawn, "precision", group="model · metric", color="model",
                             shade="metric", y_title="precision", palette=ui.model_colors(v),
                             n="n_tokens", min_n=ui.MIN_TOKENS), key="retrieval_bars")
            counts = drawn.drop_duplicates(["model", "category"]).groupby("model", sort=False)["n_tokens"].sum()
            st.caption("Solid: P@1; pale with an outline: P@10. Tokens with a translation: "
                       + "; ".join(f"{model} {int(n):,}" for model, n in counts.items()) + ". "
                       + ui.few_tokens_note())
        ui.not_drawn(left_out)
        ui.downloads(df, "translation_retrieval", v.models, "retrieval", statistic="retrieval")

    st.subheader("Examples")
    st.caption("Tokens with the most translated neighbours, among the selected categories. "
               + ui.convention_note(v, "category"))
    for m in ui.model_columns(v.models):
        mt = ui.load(m, schema.MEANING_TOKENS, "per-token meaning")
        tok = ui.load(m, schema.TOKENS, "token table", convention=v.convention)
        nb = ui.load_array(m, schema.NEIGHBORS, "neighbour table")
        sim = ui.load_array(m, schema.SIMILARITIES, "neighbour similarities")
        if mt is None or tok is None or nb is None or sim is None:
            continue
        # options as the URL spells them: written out
        best, options = ui.per_view(v, ("best", m.slug), partial(best_examples, mt, tok, v.categories))
        if best.empty:
            st.info("No token among the selected categories has a translated neighbour.")
            continue
        chosen = st.selectbox("Token", options, **state.bind(state.example(m.slug), options, "example token"))
        token_id = int(best["id"].iloc[options.index(chosen)])
        caption, rows = ui.per_view(v, ("example", m.slug, token_id),  # the token's box is in the key too
                                    partial(example_rows, nb, sim, tok, token_id, int(mt["k"].iloc[0])))
        st.caption(caption)
        st.dataframe(rows, hide_index=True)
ui.share_link()
