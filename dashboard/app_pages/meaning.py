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
            shares.append(mean[mean["category"].map(display_category).isin(v.categories)].assign(model=m.label))
        ret = ui.load(m, schema.TRANSLATION_RETRIEVAL, "translation retrieval")
        if ret is not None:
            retrieval.append(ret[ret["category"].map(display_category).isin(v.categories)].assign(model=m.label))
    if shares:
        df = pd.concat(shares, ignore_index=True)
        ks = sorted(df["k"].unique())
        st.subheader(f"Neighbours that share a translation (of {', '.join(map(str, ks))})")
        st.caption("Mean per category with its 95% interval; black tick: the mean for as many neighbours drawn at "
                   "random (chance). " + ui.convention_note(v, "category", only=conventions.REFINED))
        drawn, left_out = tables.plotted(df)
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
        df = pd.concat(retrieval, ignore_index=True)
        long = df.melt(id_vars=["model", "category", "n_tokens"], value_vars=["p_at_1", "p_at_10"],
                       var_name="metric", value_name="precision")
        long["metric"] = long["metric"].str.replace("p_at_", "P@")
        long["model · metric"] = long["model"] + " · " + long["metric"]
        drawn, left_out = tables.plotted(long)
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
        best = mt[mt["n_shared"] > 0].merge(tok[["id", "text", "gloss", "shown_category"]], on="id")
        best = ui.filter_categories(best, v.categories).sort_values(["n_shared", "id"], ascending=[False, True])
        if best.empty:
            st.info("No token among the selected categories has a translated neighbour.")
            continue
        shown = tables.visible_texts(best["text"].head(200))  # options as the URL spells them: written out
        options = shown.tolist()
        chosen = st.selectbox("Token", options, **state.bind(state.example(m.slug), options, "example token"))
        token_id = int(best["id"].head(200)[shown == chosen].iloc[0])
        k = int(mt["k"].iloc[0])
        rows = tables.neighbour_table(nb, sim, tok, token_id, min(k, nb.shape[1]))
        rows["same concept"] = tables.shares_concept(tok["concept"], token_id, rows["id"].to_numpy())
        st.caption(f"{int(rows['same concept'].sum())} of {len(rows)} neighbours name the concept "
                   f"“{tok['gloss'].iloc[token_id]}”.")
        st.dataframe(rows[rows["same concept"]].drop(columns=["id", "same concept"])
                     .assign(token=lambda r: tables.visible_texts(r["token"])), hide_index=True)
ui.share_link()
