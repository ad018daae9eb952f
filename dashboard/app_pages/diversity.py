"""Diversity: how many categories a token's k nearest neighbours span (numNeighborCategory@k), per
model; which categories the neighbours of each category fall in; entropy by category; by frequency."""

from functools import partial

import pandas as pd
import streamlit as st

from dashboard import charts, data, tables, ui
from precompute.contract import paper, schema
from precompute.contract.categories import OTHER, display_category
from precompute.contract.conventions import PAPER as paper_conventions

PAGE = {"title": "Diversity", "url_path": "diversity", "icon": ":material/bar_chart:", "order": 50,
        "summary": "how many writing systems a token's neighbours span, by category and by frequency",
        "needs": ("DIVERSITY", "TOKENS", "DIVERSITY_BREAKDOWN", "DIVERSITY_BY_CATEGORY", "DIVERSITY_CHANCE")}


def frequency_source(models: list[data.ModelInfo]) -> str:
    """Where each model's frequency deciles come from: its own corpus counts when ``precompute
    frequency`` wrote them (the manifest's ``corpus`` entry), else the estimate the tokens step recorded
    (``frequency_source``; builds from before it have the wordfreq word frequency)."""
    counted = {m.label: m.manifest["corpus"] for m in models if m.manifest.get("corpus")}
    parts = [f"{label}: deciles of token counts over `{c.get('corpus', '?')}` "
             f"({int(c.get('tokens_counted') or 0):,} tokens counted)."
             for label, c in counted.items()]
    proxied = [m for m in models if m.label not in counted]
    if proxied:
        whose = f" for {', '.join(m.label for m in proxied)}" if counted else ""
        how = sorted({m.manifest.get("frequency_source") or "the wordfreq frequency of each token's text as a word"
                      for m in proxied})
        parts.append(f"Frequency{whose} is an estimate of the paper's mC4 token counts: {'; '.join(how)}; tokens "
                     "no word list produces have no estimate and are left out (count a corpus with "
                     "`python -m precompute frequency MODEL --corpus DIR`).")
    return " ".join(parts)


def same_as_paper(v: ui.View) -> bool:
    """Whether the histogram shows the paper's own statistic: k = 50, its conventions, every category."""
    return v.k == paper.K and v.convention == paper_conventions and not ui.filtered(v)


def references(model: str, mean: float, chance: pd.Series | None, v: ui.View) -> list[dict]:
    """The histogram's reference rules of one model: its mean; where the build has them, the mean for k
    random tokens (exact) and for shuffled categories (permutation null); and the poster's mT5-XL mean
    when the view computes the same statistic (k = 50, the paper's conventions, no category filter)."""
    refs = [{"model": model, "reference": charts.MEAN, "at": mean}]
    if chance is not None:
        refs += [{"model": model, "reference": charts.RANDOM, "at": float(chance["expected_random"])},
                 {"model": model, "reference": charts.SHUFFLED, "at": float(chance["permutation_mean"])}]
    if same_as_paper(v):
        refs.append({"model": model, "reference": charts.POSTER, "at": paper.MT5_XL_CATEGORIES_MEAN})
    return refs


def of_selected_tokens(div: pd.DataFrame, tok: pd.DataFrame, column: str, v: ui.View,
                       model: str) -> tuple[int, float, float, pd.DataFrame, pd.DataFrame] | None:
    """One model's ``column`` over the tokens of the selected categories: their number, mean, std, the
    histogram's shares and the means by frequency decile; None when no token is selected. A merge over the
    whole vocabulary: computed once per view (:func:`ui.per_view`)."""
    div = ui.filter_categories(div.merge(tok[["id", "shown_category", "frequency_decile"]], on="id"), v.categories)
    if div.empty:
        return None
    mean, std = tables.mean_std(div[column])
    return (len(div), mean, std, tables.value_counts_share(div[column], model, f"categories@{v.k}"),
            tables.by_decile(div[column], div["frequency_decile"]).assign(model=model))


def breakdown(br: pd.DataFrame, v: ui.View) -> pd.DataFrame:
    """One model's category breakdown at the view's k and conventions, among the selected categories."""
    br = tables.fold_breakdown(br[br["k"] == v.k], v.convention)
    return br[br["category"].isin(v.categories) & br["neighbor_category"].isin(v.categories)]


def deciles(by_decile: list[pd.DataFrame]) -> tuple[pd.DataFrame, list[str]]:
    """The models' means by frequency decile as one table with the deciles' labels, and the labels' order."""
    dec = pd.concat(by_decile, ignore_index=True)
    labels, order = tables.decile_labels(dec["decile"])
    return dec.assign(frequency=labels), order


v = ui.view()
st.title("Neighbourhood diversity")
st.caption(f"k = {v.k} (change it in the sidebar). The paper reports k = {paper.K} under its conventions: mT5-XL mean "
           f"{paper.MT5_XL_CATEGORIES_MEAN:.2f} (std {paper.MT5_XL_CATEGORIES_STD:.2f}), XLM-R-XL std "
           f"{paper.XLMR_XL_CATEGORIES_STD:.2f} ({paper.CITATION}).")

if ui.require_models(v):
    column = schema.n_categories_column(v.k, v.convention)
    colors = ui.model_colors(v)
    counts, summary, rules, by_decile = [], [], [], []
    for m in v.models:
        div = ui.load(m, schema.DIVERSITY, "neighbourhood diversity")
        tok = ui.load(m, schema.TOKENS, "token table", convention=v.convention)
        if div is None or tok is None:
            continue
        if column not in div:
            st.info(f"**{m.label}** has no `{column}`: it was analysed at k = {', '.join(map(str, m.diversity_ks))}"
                    f" (or built before the {v.convention} conventions were; rebuild it with "
                    f"`{data.rebuild_command(m)}`).")
            continue
        parts = ui.per_view(v, ("histogram", m.slug), partial(of_selected_tokens, div, tok, column, v, m.label))
        if parts is None:
            ui.nothing_to_draw(v, f"tokens of {m.label}")
            continue
        n_tokens, mean, std, model_counts, model_by_decile = parts
        by_decile.append(model_by_decile)
        chance = tables.row_at_k(ui.load(m, schema.DIVERSITY_CHANCE, "chance baselines", convention=v.convention), v.k)
        summary.append({"model": m.label, "tokens": n_tokens, "mean": mean, "std": std,
                        "chance": None if chance is None else float(chance["expected_random"])})
        rules += references(m.label, mean, chance, v)
        counts.append(model_counts)
    if not summary:
        ui.nothing_to_draw(v, "tokens")
    else:
        for col, row in ui.in_columns(summary):
            ui.figure(f"{row['model']}: mean categories@{v.k}", f"{row['mean']:.2f}",
                      f"std {row['std']:.2f} over {row['tokens']:,} tokens"
                      + (f" · chance {row['chance']:.2f}" if row["chance"] is not None else ""), container=col)
        hist, refs = ui.per_view(v, "histograms", lambda: (pd.concat(counts, ignore_index=True), pd.DataFrame(rules)))
        st.markdown(f"**numNeighborCategory@{v.k}**")
        for col, model in ui.in_columns([row["model"] for row in summary]):
            with col:  # a panel per column: on a phone the columns stack, one panel under the other
                ui.chart(partial(charts.histogram, hist[hist["model"] == model], f"categories@{v.k}", title=model,
                                 x_title=f"categories among {v.k} NN",
                                 references=refs[refs["model"] == model]),
                         key=f"div_hist_{model}")
        st.caption(f"Lines: the {charts.MEAN}, and what k neighbours would span by chance, over all eligible tokens: "
                   f"“{charts.RANDOM}”, k tokens drawn at random (exact expectation); “{charts.SHUFFLED}”, the real "
                   "neighbours with the categories shuffled over the tokens (permutation null). "
                   + (f"“{charts.POSTER}”: the poster's mT5-XL mean ({paper.MT5_XL_CATEGORIES_MEAN:.2f}), drawn at "
                      f"k = {paper.K} under the paper's conventions with every category selected, where it is the "
                      "same statistic. " if same_as_paper(v) else "")
                   + ui.convention_note(v, "category", "self"))
        ui.downloads(ui.per_view(v, "histogram table", lambda: pd.concat([hist, refs], ignore_index=True)),
                     f"diversity_histogram_k{v.k}_{v.convention}",
                     v.models, "div_hist", {"k": v.k, "convention": v.convention}, statistic="diversity")

    st.subheader("Where the neighbours of each category fall")
    breakdowns = {}
    for m in v.models:
        br = ui.load(m, schema.DIVERSITY_BREAKDOWN, "category breakdown", convention=v.convention)
        if br is not None:
            breakdowns[m.slug] = ui.per_view(v, ("breakdown", m.slug), partial(breakdown, br, v))
    st.caption(f"Mean number of a token's {v.k} neighbours in each category"
               + (f", the categories the paper does not plot pooled as “{OTHER}”: a row sums to {v.k}"
                  if v.convention != paper_conventions else
                  f"; the categories the paper does not plot are left out, as in its figure, so a row sums to less "
                  f"than {v.k}")
               + (". Filtered: the columns outside the selected categories are left out, so rows no longer sum to "
                  f"{v.k}" if ui.filtered(v) else "")
               + ". One colour scale for all models. " + ui.convention_note(v, "category", "breakdown"))
    top = max((float(b["mean"].max()) for b in breakdowns.values() if len(b)), default=float(v.k))
    for slug, br in breakdowns.items():
        m = v.catalog.models[slug]
        if br.empty:
            ui.nothing_to_draw(v, f"breakdown of {m.label}")
            continue
        order = ui.per_view(v, ("breakdown order", slug),
                            lambda br=br: charts.category_sort(pd.concat([br["category"], br["neighbor_category"]])))
        ui.chart(partial(charts.heatmap, br, "neighbor_category", "category", "mean", title=m.label, fmt=".1f",
                         x_sort=order, y_sort=order, domain=(0.0, top)), key=f"div_break_{m.slug}")
        ui.downloads(br, f"diversity_breakdown_{m.slug}_k{v.k}_{v.convention}", [m], f"div_break_{m.slug}",
                     {"k": v.k, "convention": v.convention}, statistic="breakdown")

    by_cat = []
    for m in v.models:
        c = ui.load(m, schema.DIVERSITY_BY_CATEGORY, "diversity by category", convention=v.convention)
        if c is not None:
            by_cat.append(ui.per_view(v, ("by category", m.slug), lambda c=c, m=m: c[
                (c["k"] == v.k) & c["category"].map(display_category).isin(v.categories)].assign(model=m.label)))
    if by_cat:
        st.subheader("Entropy of the neighbours' categories")
        st.caption("Per token, the entropy (nats) of its neighbours' category counts; mean per category, "
                   "error bars: 95% interval. " + ui.convention_note(v, "category", "self"))
        ent = ui.per_view(v, "entropy", lambda: pd.concat(by_cat, ignore_index=True))
        drawn, left_out = ui.per_view(v, "entropy drawn", lambda: tables.plotted(ent))
        if drawn.empty:
            ui.nothing_to_draw(v, "entropy")
        else:
            ui.chart(partial(charts.grouped_bars, drawn, "entropy_mean", "entropy_ci95", y_title="entropy (nats)",
                             palette=colors), key="div_ent")
        ui.not_drawn(left_out)
        ui.downloads(ent, f"diversity_by_category_k{v.k}_{v.convention}", v.models, "div_ent",
                     {"k": v.k, "convention": v.convention}, statistic="entropy")
    if by_decile:
        st.subheader("By token frequency")
        st.caption(f"Frequency deciles of the tokens seen (1 = rarest); tokens never seen form their own bin. "
                   f"{frequency_source(v.models)} Band: 95% interval; over the tokens of the selected categories. "
                   + ui.convention_note(v, "category", "self"))
        dec, order = ui.per_view(v, "deciles", partial(deciles, by_decile))
        ui.chart(partial(charts.line_with_band, dec, "frequency", "mean", "ci95", x_title="frequency decile",
                         y_title=f"mean categories@{v.k}", x_sort=order, palette=colors),
                 key="div_dec")
        ui.downloads(dec, f"diversity_by_decile_k{v.k}_{v.convention}", v.models, "div_dec",
                     {"k": v.k, "convention": v.convention}, statistic="decile")
ui.share_link()
