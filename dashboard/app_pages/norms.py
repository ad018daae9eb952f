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

def selected(frames: list[tuple[str, pd.DataFrame]],
             categories: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, list[str], object]:
    """The models' norms (``(label, table)``) of the selected categories as one table, its rows drawn and the
    categories left out (:func:`tables.plotted`), and the table as shown (an Arrow table, converted once)."""
    norms = pd.concat([df[df["category"].map(display_category).isin(categories)].assign(model=label)
                       for label, df in frames], ignore_index=True)
    shown = ui.arrow_table(norms[["model", "category", "n_tokens", "mean", "std", "median"]])
    return norms, *tables.plotted(norms), shown


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
            frames.append((m.label, norms))
    if frames:
        norms, drawn, left_out, shown = ui.per_view(v, "norms", partial(selected, frames, v.categories))
        if drawn.empty:
            ui.nothing_to_draw(v, "norms")
        else:
            ui.chart(partial(charts.grouped_bars, drawn, "mean", "std", y_title="L2 norm", reference="median",
                             title="Embedding norm by category", palette=ui.model_colors(v),
                             n="n_tokens", min_n=ui.MIN_TOKENS), key="norms_bars")
            st.caption(ui.few_tokens_note())
        ui.not_drawn(left_out)
        ui.downloads(norms, "norms_by_category", v.models, "norms", statistic="norms")
        st.dataframe(shown, hide_index=True,
                     column_config={"n_tokens": st.column_config.NumberColumn("tokens", format="localized"),
                                    **{c: st.column_config.NumberColumn(format="%.3f")
                                       for c in ("mean", "std", "median")}})
ui.share_link()
