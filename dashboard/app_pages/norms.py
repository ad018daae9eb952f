"""Norms: how long each category's embedding rows are (mean L2 norm with its spread, and the median),
models side by side. Neighbours by cosine and the probes on normalised rows see only directions: this
page is the one view of the lengths."""

from functools import partial

import pandas as pd
import streamlit as st

from dashboard import charts, tables, ui
from precompute.contract import conventions, schema
from precompute.contract.categories import display_category

PAGE = {"title": "Norms", "url_path": "norms", "icon": ":material/straighten:", "order": 75,
        "summary": "the length of the embedding rows, by category",
        "needs": ("NORMS_BY_CATEGORY",)}

v = ui.view()
st.title("Norms")
st.caption("L2 norm of each eligible token's embedding row (not special, not a byte piece, not a zero row); per "
           "category the mean, error bars ± one sd, and the median as a black tick. "
           + ui.convention_note(v, "category", only=conventions.REFINED))

if ui.require_models(v):
    frames = []
    for m in v.models:
        norms = ui.load(m, schema.NORMS_BY_CATEGORY, "norms by category")
        if norms is not None:
            frames.append(norms[norms["category"].map(display_category).isin(v.categories)].assign(model=m.label))
    if frames:
        norms = pd.concat(frames, ignore_index=True)
        drawn, left_out = tables.plotted(norms)
        if drawn.empty:
            ui.nothing_to_draw(v, "norms")
        else:
            ui.chart(partial(charts.grouped_bars, drawn, "mean", "std", y_title="L2 norm", reference="median",
                             title="Embedding norm by category", palette=ui.model_colors(v),
                             n="n_tokens", min_n=ui.MIN_TOKENS), key="norms_bars")
            st.caption(ui.few_tokens_note())
        ui.not_drawn(left_out)
        ui.downloads(norms, "norms_by_category", v.models, "norms", statistic="norms")
        st.dataframe(norms[["model", "category", "n_tokens", "mean", "std", "median"]], hide_index=True,
                     column_config={"n_tokens": st.column_config.NumberColumn("tokens", format="localized"),
                                    **{c: st.column_config.NumberColumn(format="%.3f")
                                       for c in ("mean", "std", "median")}})
ui.share_link()
