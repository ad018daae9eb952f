"""Separability: how well a linear probe tells one category's tokens from the rest (10-fold accuracy),
models side by side; the pairwise matrix; the tokens the probe gets wrong."""

from functools import partial

import pandas as pd
import streamlit as st

from dashboard import charts, data, lookup, state, tables, ui
from precompute.contract import conventions, schema
from precompute.contract.categories import OTHER, display_category

PAGE = {"title": "Separability", "url_path": "separability", "icon": ":material/call_split:", "order": 30,
        "summary": "how well a linear probe tells one writing system from the rest, per category and pair",
        "needs": ("SEPARABILITY", "SEPARABILITY_PAIRWISE", "SEPARABILITY_PREDICTIONS", "TOKENS")}

AXES = {"half": "from 0.5 (chance)", "paper": "0.85–1.0 (as in the paper)"}
DOMAINS = {"half": (0.5, 1.0), "paper": (0.85, 1.0)}
#: The error bar of each convention: the paper's 95% bootstrap interval of the folds, our ± one sd.
ERRORS: dict[str, str | tuple[str, str]] = {conventions.PAPER: ("ci_low", "ci_high"), conventions.REFINED: "std"}
FULL, SHARED = "full vocabulary", "shared tokens"


def shared_probes(v: ui.View) -> pd.DataFrame | None:
    """The selected models' probes on the tokens their comparison's models share (the paper's token set),
    or None after saying why there are none."""
    slugs = [m.slug for m in v.models]
    options = [c for c, info in v.catalog.comparisons.items() if set(slugs) & set(info.models)]
    if not options:
        st.info("No comparison holds the selected models: build one with `python -m precompute compare MODEL_A "
                "MODEL_B` to probe them on the tokens they share.")
        return None
    cmp = v.catalog.comparisons[ui.pick_comparison(options)]
    shared = ui.load(cmp, schema.SEPARABILITY_SHARED, "shared-token probes", convention=v.convention)
    if shared is None:
        return None
    outside = [m.label for m in v.models if m.slug not in cmp.models]
    if outside:
        st.info(f"Comparison **{cmp.slug}** ({', '.join(cmp.models)}) does not hold {', '.join(outside)}: "
                "shown on its full vocabulary only.")
    labels = {m.slug: m.label for m in v.models}
    shared = shared[shared["model"].isin(list(labels))]
    if shared["mean"].isna().all() and len(shared):
        largest = shared.sort_values("n_tokens").iloc[-1]
        st.info(f"On the tokens the models of comparison **{cmp.slug}** share, no category has enough tokens for a "
                f"probe (the largest: {largest['category']}, {largest['n_tokens']:,} tokens; {largest['note']}).")
    return shared.assign(model=shared["model"].map(labels))


def errors(pred: pd.DataFrame, tok: pd.DataFrame, index: dict[str, int], slug: str,
           categories: list[str]) -> tuple[int, str, pd.DataFrame, pd.DataFrame] | None:
    """The predictions of the probes of ``categories``: how many, the probes' names, the wrong ones with their
    tokens (the surest first), and the first 500 of those as shown (text written out, a link to the token's
    neighbours); None when no selected category was probed. A pass over every token's prediction, a merge over
    the vocabulary and 500 links per model: computed once per view (:func:`ui.per_view`)."""
    pred = pred[pred["category"].map(display_category).isin(categories)]
    if pred.empty:
        return None
    wrong = pred[pred["label"] != pred["predicted"]].merge(
        tok[["id", "text", "category", "language", "gloss"]].rename(columns={"category": "token_category"}),
        on="id")
    wrong = wrong.assign(error=wrong["label"].map({True: "missed", False: "false alarm"})).sort_values(
        "probability", key=lambda p: (p - 0.5).abs(), ascending=False)
    shown = wrong.head(500)  # links only for the rows on screen: a large model has tens of thousands
    shown = shown.assign(open=[ui.neighbors_href(lookup.query_for(index, t, i), [slug])
                               for t, i in zip(shown["text"], shown["id"], strict=True)],
                         text=tables.visible_texts(shown["text"]))
    shown = shown[["text", "category", "error", "probability", "token_category", "language", "gloss", "open"]]
    return len(pred), ", ".join(sorted(pred["category"].astype(str).unique())), wrong, ui.arrow_table(shown)


def probes(frames: list[tuple[pd.DataFrame, dict[str, str]]], on_shared: bool,
           categories: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[str]]:
    """The probes of the selected categories: those scored, those skipped for too few tokens (full vocabulary),
    and of the scored the rows drawn and the categories left out (:func:`tables.plotted`). ``frames``: each
    table of probes with the columns it gets (its model, its vocabulary)."""
    sep = pd.concat([frame.assign(**columns) for frame, columns in frames], ignore_index=True).drop(columns=["folds"])
    sep = sep.assign(shown_category=sep["category"].map(display_category),
                     probe=sep["model"] + (" · " + sep["vocabulary"] if on_shared else ""))
    scored = ui.filter_categories(sep.dropna(subset=["mean"]), categories)
    skipped = ui.filter_categories(sep[sep["mean"].isna() & (sep["vocabulary"] == FULL)], categories)
    return scored, skipped, *tables.plotted(scored)


def not_probed(skipped: pd.DataFrame, models: list[data.ModelInfo]) -> list[str]:
    """A line per model: the categories it has too few tokens to probe, with their counts."""
    minimum = {m.label: m.params.get("min_category_tokens", "?") for m in models}
    return [f"**{model}** (fewer than {minimum[model]} tokens): "
            + ", ".join(f"{r.category} ({r.n_tokens:,})" for r in rows.sort_values("category").itertuples())
            for model, rows in skipped.groupby("model", sort=False)]


def pairwise(pair: pd.DataFrame, categories: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """One model's pairwise probes among the selected categories the paper plots, and the categories' order."""
    keep = set(categories) - {OTHER}  # a probe of ARMENIAN vs P is no probe of "other"
    pair = pair[pair["category_a"].isin(keep) & pair["category_b"].isin(keep)]
    return pair, charts.category_sort(pd.concat([pair["category_a"], pair["category_b"]]))


v = ui.view()
st.title("Separability")
st.caption("Per category: a logistic-regression probe on the L2-normalised rows, category vs the rest, balanced by "
           f"undersampling; mean accuracy over {ui.folds_text(v.models)}. "
           + ui.convention_note(v, "category", "error"))
with st.container(horizontal=True):
    axis = st.segmented_control("Accuracy axis", list(AXES), default="half", required=True,
                                **state.bind(state.AXIS, list(AXES), "axis"),
                                help="; ".join(f"{k}: {text}" for k, text in AXES.items())
                                + ". A bar below the axis is marked ▼ with its value.")
    on_shared = st.toggle("On the vocabulary the models share (as the paper)",
                          **state.bind(state.SHARED_VOCABULARY, ["true", "false"], "shared vocabulary"),
                          help="Beside each model's probes on its full vocabulary, the same probes on the tokens "
                               "all models of a comparison share, so that the models are measured on one token set.")

if ui.require_models(v):
    frames = []
    for m in v.models:
        sep = ui.load(m, schema.SEPARABILITY, "separability probes", convention=v.convention)
        if sep is not None:
            frames.append((sep, {"model": m.label, "vocabulary": FULL}))
    shared = shared_probes(v) if on_shared else None
    if shared is not None:
        frames.append((shared, {"vocabulary": SHARED}))
    if frames:
        scored, skipped, drawn, left_out = ui.per_view(v, "probes", partial(probes, frames, on_shared, v.categories))
        if drawn.empty:
            ui.nothing_to_draw(v, "probe")
        else:
            ui.chart(partial(charts.grouped_bars, drawn, "mean", ERRORS[v.convention], group="probe", color="model",
                             shade="vocabulary" if on_shared else None, y_title="accuracy",
                             y_domain=DOMAINS[axis], title="Category identification accuracy",
                             palette=ui.model_colors(v), n="n_tokens", min_n=ui.MIN_TOKENS),
                     key="sep_bars")
            st.caption(ui.few_tokens_note())
        ui.not_drawn(left_out)
        if on_shared:
            st.caption("Opaque: each model's full vocabulary; pale: the tokens the comparison's models share.")
        ui.downloads(ui.per_view(v, "probes table", lambda: scored.drop(columns=["shown_category"])),
                     f"separability_{v.convention}", v.models, "sep",
                     {"convention": v.convention}, statistic="separability")
        if len(skipped):
            with st.expander(f"Not probed: {len(skipped)} categories with too few tokens"):
                for line in ui.per_view(v, "not probed", partial(not_probed, skipped, v.models)):
                    st.markdown(line)

    st.subheader("Pairwise: category a vs category b")
    st.caption("Mean accuracy of a probe telling category a from category b (balanced, "
               f"{ui.folds_text(v.models)}), among the "
               "categories the paper plots. "
               + ui.convention_note(v, "category", only=conventions.REFINED))
    for m in ui.model_columns(v.models):
        pair = ui.load(m, schema.SEPARABILITY_PAIRWISE, "pairwise probes", convention=conventions.REFINED)
        if pair is None:
            continue
        pair, order = ui.per_view(v, ("pairwise", m.slug), partial(pairwise, pair, v.categories))
        if pair.empty:
            ui.nothing_to_draw(v, "pairwise probe")
            continue
        ui.chart(partial(charts.heatmap, pair, "category_b", "category_a", "mean", fmt=".3f", domain=(0.5, 1.0),
                         x_sort=order, y_sort=order), key=f"sep_pair_{m.slug}")
        ui.downloads(pair, f"separability_pairwise_{m.slug}", [m], f"sep_pair_{m.slug}", statistic="pairwise")

    st.subheader("Tokens the probe gets wrong")
    st.caption("Out-of-fold predictions: the token's category (label) disagrees with the probe's answer. "
               "Open a token to see its neighbours. " + ui.convention_note(v, "category"))
    for m in ui.model_columns(v.models):
        pred = ui.load(m, schema.SEPARABILITY_PREDICTIONS, "probe predictions", convention=v.convention)
        tok = ui.load(m, schema.TOKENS, "token table", convention=v.convention)
        if pred is None or tok is None:
            continue
        index = ui.load_text_index(m) or {}
        found = ui.per_view(v, ("errors", m.slug), partial(errors, pred, tok, index, m.slug, v.categories))
        if found is None:
            st.info(f"Not probed: {m.label} has no probe of the selected categories ({', '.join(v.categories)}): "
                    "each had too few tokens (see “Not probed” above).", icon=":material/block:")
            continue
        n_predictions, probed, wrong, shown = found
        st.caption(f"{len(wrong):,} errors in {n_predictions:,} predictions of the probes of {probed}.")
        st.dataframe(shown, hide_index=True, column_config={
                         "category": st.column_config.TextColumn("probe"),
                         "probability": st.column_config.NumberColumn(format="%.3f"),
                         "open": st.column_config.LinkColumn("neighbours", display_text="open")})
        ui.downloads(wrong, f"separability_errors_{m.slug}", [m], f"sep_err_{m.slug}", statistic="separability")
ui.share_link()
