"""Diversity: how many categories a token's k nearest neighbours span (numNeighborCategory@k), per
model; which categories the neighbours of each category fall in; entropy by category; by frequency."""

import pandas as pd
import streamlit as st

from dashboard import charts, data, tables, ui
from precompute import paper, schema
from precompute.categories import display_category

PAGE = {"title": "Diversity", "url_path": "diversity", "icon": ":material/bar_chart:", "order": 50,
        "summary": "how many writing systems a token's neighbours span, by category and by frequency",
        "needs": ("DIVERSITY", "TOKENS", "DIVERSITY_BREAKDOWN", "DIVERSITY_BY_CATEGORY", "DIVERSITY_BY_DECILE")}


def frequency_source(models: list[data.ModelInfo]) -> str:
    """Where each model's frequency deciles come from: its own corpus counts when ``precompute
    frequency`` wrote them (the manifest's ``corpus`` entry), else the wordfreq estimate."""
    counted = {m.label: m.manifest["corpus"] for m in models if m.manifest.get("corpus")}
    parts = [f"{label}: deciles of token counts over `{c.get('corpus', '?')}` "
             f"({int(c.get('tokens_counted') or 0):,} tokens counted)."
             for label, c in counted.items()]
    proxied = [m.label for m in models if m.label not in counted]
    if proxied:
        whose = f" for {', '.join(proxied)}" if counted else ""
        parts.append(f"Frequency{whose} is a wordfreq estimate, a proxy for the paper's mC4 token counts "
                     "(count a corpus with `python -m precompute frequency MODEL --corpus DIR`).")
    return " ".join(parts)


v = ui.view()
st.title("Neighbourhood diversity")
st.caption(f"k = {v.k} (change it in the sidebar). The paper reports k = {paper.K}: mT5-XL mean "
           f"{paper.MT5_XL_CATEGORIES_MEAN:.2f} (std {paper.MT5_XL_CATEGORIES_STD:.2f}), XLM-R-XL std "
           f"{paper.XLMR_XL_CATEGORIES_STD:.2f} ({paper.CITATION}).")

if ui.require_models(v):
    column = schema.n_categories_column(v.k)
    counts, summary = [], []
    for m in v.models:
        div = ui.load(m, schema.DIVERSITY, "neighbourhood diversity")
        tok = ui.load(m, schema.TOKENS, "token table")
        if div is None or tok is None:
            continue
        if column not in div:
            st.info(f"**{m.label}** was analysed at k = {', '.join(map(str, m.diversity_ks))}, not {v.k}.")
            continue
        div = div.merge(tok[["id", "shown_category"]], on="id")
        div = ui.filter_categories(div, v.categories)
        mean, std = tables.mean_std(div[column])
        summary.append({"model": m.label, "tokens": len(div), "mean": mean, "std": std})
        counts.append(tables.value_counts_share(div[column], m.label, f"categories@{v.k}"))
    if summary:
        cols = st.columns(len(summary))
        for col, row in zip(cols, summary, strict=True):
            ui.figure(f"{row['model']}: mean categories@{v.k}", f"{row['mean']:.2f}",
                      f"std {row['std']:.2f} over {row['tokens']:,} tokens", container=col)
        hist = pd.concat(counts, ignore_index=True)
        ui.chart(charts.facet_histogram(hist, f"categories@{v.k}", title=f"numNeighborCategory@{v.k}",
                                        x_title=f"categories among {v.k} NN"),
                 key="div_hist")
        ui.downloads(hist, f"diversity_histogram_k{v.k}", v.models, "div_hist", {"k": v.k})

    st.subheader("Where the neighbours of each category fall")
    st.caption(f"Mean number of a token's {v.k} neighbours in each category.")
    for m in v.models:
        br = ui.load(m, schema.DIVERSITY_BREAKDOWN, "category breakdown")
        if br is None:
            continue
        br = br[(br["k"] == v.k) & br["category"].map(display_category).isin(v.categories)
                & br["neighbor_category"].map(display_category).isin(v.categories)]
        order = charts.category_sort(pd.concat([br["category"], br["neighbor_category"]]))
        ui.chart(charts.heatmap(br, "neighbor_category", "category", "mean", title=m.label, fmt=".1f",
                                x_sort=order, y_sort=order), key=f"div_break_{m.slug}")
        ui.downloads(br, f"diversity_breakdown_{m.slug}_k{v.k}", [m], f"div_break_{m.slug}", {"k": v.k})

    by_cat, by_decile = [], []
    for m in v.models:
        c = ui.load(m, schema.DIVERSITY_BY_CATEGORY, "diversity by category")
        d = ui.load(m, schema.DIVERSITY_BY_DECILE, "diversity by frequency")
        if c is not None:
            by_cat.append(c[(c["k"] == v.k) & c["category"].map(display_category).isin(v.categories)]
                          .assign(model=m.label))
        if d is not None:
            by_decile.append(d[d["k"] == v.k].assign(model=m.label))
    if by_cat:
        st.subheader("Entropy of the neighbours' categories")
        st.caption("Per token, the entropy (nats) of its neighbours' category counts; mean per category, "
                   "error bars: 95% interval.")
        ent = pd.concat(by_cat, ignore_index=True)
        ui.chart(charts.grouped_bars(ent, "entropy_mean", "entropy_ci95", y_title="entropy (nats)"), key="div_ent")
        ui.downloads(ent, f"diversity_by_category_k{v.k}", v.models, "div_ent", {"k": v.k})
    if by_decile:
        st.subheader("By token frequency")
        st.caption(f"Frequency deciles (1 = rarest). {frequency_source(v.models)} Band: 95% interval.")
        dec = pd.concat(by_decile, ignore_index=True)
        ui.chart(charts.line_with_band(dec, "decile", "mean", "ci95", x_title="frequency decile",
                                       y_title=f"mean categories@{v.k}"), key="div_dec")
        ui.downloads(dec, f"diversity_by_decile_k{v.k}", v.models, "div_dec", {"k": v.k})
ui.share_link()
