"""Vocabulary: how many token texts the models' tokenizers share, and how many of those are not LATIN."""

from functools import partial

import streamlit as st

from dashboard import charts, ui
from precompute.contract import conventions, schema

PAGE = {"title": "Vocabulary", "url_path": "vocabulary", "icon": ":material/abc:", "order": 80,
        "summary": "how many tokens the tokenizers share", "needs": ("VOCAB_OVERLAP",)}

v = ui.view()
st.title("Vocabulary overlap")
st.caption("Token texts after normalisation (word-boundary mark ▁ for every tokenizer); not LATIN by the category "
           "of the text. " + ui.convention_note(v, "category", only=conventions.REFINED))
ui.filter_ignored(v, "this page: a tokenizer's vocabulary is counted whole (its share not LATIN is the one "
                    "category figure)")
if not v.catalog.comparisons:
    st.info("No comparison built yet. Build one with `python -m precompute compare MODEL_A MODEL_B` "
            "(`python -m precompute build --default` builds the default one).")
for cmp in v.catalog.comparisons.values():
    st.subheader(f"Comparison {cmp.slug}")
    df = ui.load(cmp, schema.VOCAB_OVERLAP, "vocabulary overlap")
    if df is None:
        continue
    models = [m for m in v.catalog.models.values() if m.slug in cmp.models]
    left, right = st.columns(2)
    with left:
        ui.chart(partial(charts.heatmap, df, "model_b", "model_a", "n_shared", title="Shared tokens", fmt=",.0f"),
                 key=f"voc_{cmp.slug}_shared")
    with right:
        ui.chart(partial(charts.heatmap, df, "model_b", "model_a", "non_latin_share",
                         title="Share of shared tokens not LATIN", fmt=".1%", domain=(0.0, 1.0)),
                 key=f"voc_{cmp.slug}_nonlatin")
    st.dataframe(df, hide_index=True, column_config={
        "model_a": "model a", "model_b": "model b",
        "n_shared": st.column_config.NumberColumn("shared tokens", format="localized"),
        "n_shared_non_latin": st.column_config.NumberColumn("of them not LATIN", format="localized"),
        "non_latin_share": st.column_config.NumberColumn("share not LATIN", format="percent"),
    })
    ui.downloads(df, f"vocab_overlap_{cmp.slug}", [cmp, *models], f"voc_{cmp.slug}", {"comparison": cmp.manifest},
                 statistic="vocabulary")
ui.share_link()
