"""Poster tour: the poster's claims one step each, in its order; each with the paper's figure, a verdict for
every loaded model computed the paper's way (dashboard.claims decides), and a link to the view with the evidence."""

import pandas as pd
import streamlit as st

from dashboard import charts, claims, data, pages, state, tables, ui
from precompute.contract import conventions, paper, schema
from precompute.contract import verdicts as rules
from precompute.contract.categories import WRITING_SYSTEMS
from precompute.contract.verdicts import Estimate

PAGE = {"title": "Poster tour", "url_path": "tour", "icon": ":material/tour:", "order": 15,
        "summary": "the poster's claims one by one, each with a verdict computed from the loaded models and a link "
                   "to the view that shows it",
        "needs": ("SEPARABILITY", "NEIGHBORS", "TOKENS", "MEANING", "DIVERSITY", "DIVERSITY_CHANCE",
                  "DIVERSITY_BY_CATEGORY", "GEOMETRY")}

#: The steps as the URL spells them (?step=3): one per claim, then the summary.
STEPS = list(range(1, len(claims.CLAIMS) + 2))
SUMMARY = STEPS[-1]
#: How a verdict's family is marked.
BADGES = {claims.MT5: ":violet-badge[like mT5]", claims.XLMR: ":orange-badge[like XLM-R]",
          claims.UNDECIDED: ":gray-badge[undecided]"}


def like_the_paper(v: ui.View, **extra: str | list[str]) -> dict[str, str | list[str]]:
    """Query parameters of a view as the paper computed it: the selected models, its k, its conventions."""
    return {state.MODELS.name: [m.slug for m in v.models], state.K.name: str(paper.K),
            state.CONVENTION.name: conventions.PAPER, **extra}


def say(claim: claims.Claim, verdicts: list[claims.Verdict]) -> None:
    """The step's numbers as a table (the paper's rows first), then the verdicts, one line each, marked with
    the family each behaves like."""
    if not verdicts:
        return
    rows = [*claim.paper_rows, *({"source": x.subject, **x.row} for x in verdicts)]
    if claim.families:  # a model without a verdict (not built at the paper's k) has no family either
        rows[len(claim.paper_rows):] = [{**r, "behaves like": claims.CALLED[x.family] if x.text else ""}
                                        for r, x in zip(rows[len(claim.paper_rows):], verdicts, strict=True)]
    st.dataframe(pd.DataFrame(rows).fillna(""), hide_index=True)
    draw(claim, verdicts)
    st.markdown("\n".join(f"- {BADGES.get(x.family, ':gray-badge[no family]')} {x.text}" for x in verdicts if x.text))


#: The colour of the paper's own bars (its models are none of the loaded ones).
PAPER_GREY = "#868e96"


def draw(claim: claims.Claim, verdicts: list[claims.Verdict]) -> None:
    """The step's chart: each model's (or pair's) value, the paper's figure beside them where it has one, and
    chance as a black tick on each bar."""
    if not any(v.bars for v in verdicts):
        return
    # per category, or one group of bars side by side (long model names on the axis would squeeze the plot)
    x = "category" if claim.by_category else "statistic"
    rows = [{x: claim.measure, "source": name, "value": value, "chance": None} for name, value in claim.paper_bars]
    rows += [{x: bar if claim.by_category else claim.measure, "source": v.subject, "value": value, "chance": v.chance}
             for v in verdicts for bar, value in v.bars.items()]
    df = pd.DataFrame(rows)
    palette = {**{name: PAPER_GREY for name, _ in claim.paper_bars}, **ui.model_colors(ui.view())}  # paper first
    others = sorted(set(df["source"]) - set(palette))  # model pairs: colours of their own
    palette |= charts.model_colors(others)
    ui.chart(lambda: charts.grouped_bars(df, "value", x=x, group="source", y_title=claim.measure, reference="chance",
                                 palette=palette, x_labels=claim.by_category),
             key=f"tour_chart_{x}", reproduce=False)  # the evidence link has it
    st.caption("Black tick: the value for neighbours that carry no information (chance)"
               + ("; grey: the paper's figure." if claim.paper_bars else "."))


def not_at_k(m: data.ModelInfo, what: str) -> None:
    """Say that ``m`` has no ``what`` at the paper's k under its conventions, why, and the command that fixes it."""
    if paper.K in m.diversity_ks:
        why = "its build predates the paper's conventions"
    else:
        why = f"it was analysed at k = {', '.join(map(str, m.diversity_ks))}; add {paper.K} with `--diversity-ks`"
    st.info(f"**{m.label}** has no {what} at k = {paper.K} under the paper's conventions ({why}). "
            f"Rebuild it with `{data.rebuild_command(m)}`.")


def as_the_paper(m: data.ArtifactInfo, name: str, what: str) -> pd.DataFrame | None:
    """A summary table's rows under the paper's conventions, or None after saying why not (not built, corrupt,
    or built before the conventions were computed, with the command that rebuilds it)."""
    df = ui.load(m, name, what, convention=conventions.PAPER)
    if df is None:
        return None
    if schema.CONVENTION[0] not in df:
        st.info(f"**{m.label}**: its {what} were built before the paper's conventions were computed, so they "
                f"cannot be set beside the paper's figure. Rebuild it with `{data.rebuild_command(m)}`.")
        return None
    return df


def chance_at_k(m: data.ModelInfo) -> tuple[pd.Series | None, bool]:
    """The model's chance row at the paper's k under its conventions (None after saying why when the table
    cannot be read), and whether the table is there but lacks that k (the caller says so)."""
    chance = as_the_paper(m, schema.DIVERSITY_CHANCE, "chance baselines")
    row = tables.row_at_k(chance, paper.K)
    return row, chance is not None and row is None


def not_built_at_k(m: data.ModelInfo, column: str, what: str) -> claims.Verdict:
    """Say that ``m`` lacks ``what`` at the paper's k, and the table row that says it too."""
    not_at_k(m, what)
    return claims.Verdict(m.label, "", row={column: f"not built at k = {paper.K}"})


def separability(v: ui.View) -> list[claims.Verdict]:
    note = st.container()  # the method first, then what is missing, then the numbers
    verdicts = []
    for m in v.models:
        probes = as_the_paper(m, schema.SEPARABILITY, "separability probes")
        if probes is None:
            continue
        probed = probes[probes["category"].isin(WRITING_SYSTEMS) & probes["mean"].notna()]
        if probed.empty:
            st.info(f"**{m.label}** has none of the paper's writing systems with enough tokens for a probe "
                    f"(at least {m.params.get('min_category_tokens', '?')}).")
            continue
        accuracy = rules.mean_of_probes(*(probed[c].astype(float).tolist() for c in ("mean", "ci_low", "ci_high")))
        verdicts.append(claims.separability_verdict(m.label, accuracy, list(probed["category"])))
    note.caption("Each model's one-vs-rest probes under the paper's conventions (raw-text categories, unshuffled "
                 "folds), averaged over the paper's writing systems it has enough tokens for, on its full vocabulary "
                 "(the paper probed XLM-R and mT5 on the vocabulary they share: the Separability page does that for "
                 "a comparison); the interval combines each probe's. Like XLM-R: the interval above "
                 f"{rules.SEPARABILITY_BOUNDARY.value:.1%} (XLM-R's {paper.XLMR_SEPARABILITY:.1%} less "
                 f"{rules.SEPARABILITY_MARGIN:.0%}); like mT5: below it; undecided: across it; no family with "
                 "fewer than two writing systems or at chance (50%).")
    return verdicts


def poster_found(m: data.ModelInfo) -> dict[str, list[str]] | None:
    """Per poster column, the listed neighbours of när among the model's nearest ``claims.POSTER_DEPTH``; None
    when the model has no när (or no neighbour table, said by the loader)."""
    index = ui.load_text_index(m)
    tok = ui.load(m, schema.TOKENS, "token table")
    nb = ui.load_array(m, schema.NEIGHBORS, "neighbour table")
    if not index or tok is None or nb is None:
        return None
    neighbours = claims.poster_neighbours(index, tok["text"], nb)
    return None if neighbours is None else claims.poster_found(neighbours)


def translations(v: ui.View) -> list[claims.Verdict]:
    note = st.container()  # the method first, then what is missing, then the numbers
    verdicts, ks = [], set()
    for m in v.models:
        meaning = ui.load(m, schema.MEANING, "meaning statistics")
        if meaning is not None and "chance_mean" not in meaning:
            st.info(f"**{m.label}**: its meaning statistics were built before their chance values were. "
                    f"Rebuild it with `{data.rebuild_command(m)}`.")
            continue
        if meaning is None or meaning.empty:
            continue
        k = paper.K if paper.K in set(meaning["k"]) else int(meaning["k"].max())
        ks.add(k)
        at_k = meaning[(meaning["k"] == k) & meaning["category"].isin(WRITING_SYSTEMS)]
        verdicts.append(claims.translation_verdict(m.label, pooled(at_k), tables.weighted_mean(at_k, "chance_mean"),
                                                   k, poster_found(m)))
    shown_ks = ", ".join(map(str, sorted(ks))) or "?"
    note.caption(f"Translations: the mean over the tokens of the paper's writing systems that have one, at k = "
                 f"{shown_ks} (the build's meaning k), its 95% interval pooled over the categories; chance: as many "
                 f"neighbours drawn at random. The family comes from the poster's {claims.POSTER_TOKEN}: each model's "
                 f"nearest {claims.POSTER_DEPTH} neighbours of ▁{claims.POSTER_TOKEN} against the words only one "
                 "column lists (the words both list say nothing about the family); a family where the difference "
                 "of the two shares is clear of 0 at 95% (Newcombe's interval), undecided where it is not. "
                 + ui.convention_note(v, "category", only=conventions.REFINED))
    return verdicts


def pooled(at_k: pd.DataFrame) -> Estimate:
    """The token-weighted mean of per-category rows with their 95% half-widths (``ci95``) pooled as
    independent errors: √Σ(w·h)² for weights w summing to 1."""
    w = at_k["n_tokens"].to_numpy(float)
    w = w / w.sum() if w.sum() else w
    half = float(((w * at_k["ci95"].fillna(0).to_numpy(float)) ** 2).sum() ** 0.5)
    return Estimate.around(tables.weighted_mean(at_k), half)


def diversity(v: ui.View) -> list[claims.Verdict]:
    note = st.container()  # the method first, then what is missing, then the numbers
    verdicts = []
    column = schema.n_categories_column(paper.K, conventions.PAPER)
    for m in v.models:
        div = ui.load(m, schema.DIVERSITY, "neighbourhood diversity", columns=["id", column])
        chance, chance_lacks_k = chance_at_k(m)
        if (div is not None and column not in div) or (div is not None and chance_lacks_k):
            verdicts.append(not_built_at_k(m, claims.MEAN, "numNeighborCategory and its chance value"))
        if div is None or column not in div or chance is None:
            continue
        mean, std = tables.mean_std(div[column])
        n = int(div[column].notna().sum())
        verdicts.append(claims.diversity_verdict(m.label, rules.mean_with_interval(mean, std, n), std,
                                                 float(chance["expected_random"]), float(chance["permutation_sd"]),
                                                 paper.K))
    note.caption(f"numNeighborCategory@{paper.K} as the paper counted it (the token itself among its neighbours, "
                 "raw-text categories), every eligible token (the paper sampled 1%: its 7.61 is ± "
                 f"{rules.MT5_XL_MEAN.high - rules.MT5_XL_MEAN.value:.2f}). Each vocabulary has its own chance, so "
                 "the mean is read on a scale from 0 (every neighbour in the token's own category) to 1 (the mean "
                 f"for {paper.K} tokens drawn at random): (mean − 1) / (chance − 1). mT5-XL's 7.61 is "
                 f"{rules.MT5_XL_DIVERSITY.value:.2f} on it (its vocabulary's chance taken as XLM-R's, "
                 f"{rules.MT5_XL_CHANCE:.2f}, measured on multilingual-e5-small, which uses XLM-R's vocabulary). "
                 f"Like mT5-XL: above {rules.DIVERSITY_BOUNDARY.value:.3f}, midway to the token's own category "
                 "(where the poster puts XLM-R-XL; the paper reports no XLM-R-XL mean); undecided where the "
                 "intervals overlap; no family when the interval holds chance. The standard deviation does not "
                 "decide; shuffled: with the categories shuffled over the tokens.")
    return verdicts


def by_category(v: ui.View) -> list[claims.Verdict]:
    note = st.container()  # the method first, then what is missing, then the numbers
    verdicts = []
    for m in v.models:
        cats = as_the_paper(m, schema.DIVERSITY_BY_CATEGORY, "diversity by category")
        chance, chance_lacks_k = chance_at_k(m)
        if cats is not None:
            cats = cats[cats["k"] == paper.K]
            if cats.empty or chance_lacks_k:
                verdicts.append(not_built_at_k(m, "lowest", "diversity by category and its chance value"))
        if cats is None or cats.empty or chance is None:
            continue
        enough = int(m.params.get("min_category_tokens", 0))
        cats = cats[cats["category"].isin(WRITING_SYSTEMS) & (cats["n_tokens"] >= enough)]
        verdicts.append(claims.category_verdict(m.label, dict(zip(cats["category"], cats["mean"], strict=True)),
                                              float(chance["expected_random"]), paper.K))
    note.caption(f"Mean numNeighborCategory@{paper.K} per token category (paper's conventions), among the paper's 13 "
               "writing systems with as many tokens as a probe needs (the build's minimum). The paper gives no "
               "per-category numbers, so no family is named.")
    return verdicts


def geometry(v: ui.View) -> list[claims.Verdict]:
    note = st.container()  # the method first, then what is missing, then the numbers
    if len(v.models) < 2:
        st.info("This claim compares models: select at least two in the sidebar (and build their comparison with "
                "`python -m precompute compare MODEL_A MODEL_B`).")
        return []
    if not v.catalog.comparisons:
        st.info("No comparison built yet: build one with `python -m precompute compare "
                + " ".join(m.slug for m in v.models) + "`.")
        return []
    verdicts, compared = [], set()
    chosen = {m.slug: m.label for m in v.models}
    for cmp in v.catalog.comparisons.values():
        geo = ui.load(cmp, schema.GEOMETRY, "geometry comparison")
        if geo is None:
            continue
        geo = geo[(geo["model_a"] < geo["model_b"]) & geo["model_a"].isin(list(chosen))
                  & geo["model_b"].isin(list(chosen))]
        if geo.empty:
            continue
        k = paper.K if paper.K in set(geo["k"]) else int(geo["k"].max())
        at_k = geo[geo["k"] == k]
        for row in at_k[at_k["category"] == schema.ALL_CATEGORIES].itertuples():
            if (row.model_a, row.model_b) in compared:
                continue
            compared.add((row.model_a, row.model_b))
            pair = at_k[(at_k["model_a"] == row.model_a) & (at_k["model_b"] == row.model_b)
                        & (at_k["category"] != schema.ALL_CATEGORIES)]
            same = rules.same_category_jaccard(dict(zip(pair["category"], pair["n_tokens"], strict=True)), k)
            jaccard = Estimate.around(row.jaccard_mean, float("nan") if pd.isna(row.jaccard_ci95)
                                      else float(row.jaccard_ci95))
            verdicts.append(claims.geometry_verdict((chosen[row.model_a], chosen[row.model_b]), jaccard,
                                                    row.jaccard_chance, same, k, int(row.n_tokens)))
    alone = [label for slug, label in chosen.items() if not any(slug in pair for pair in compared)]
    if alone:
        st.info(f"No comparison holds {', '.join(alone)} with another selected model: build one with "
                f"`python -m precompute compare {' '.join(chosen)}`.")
    note.caption(f"Each pair on the tokens it shares: the mean Jaccard index of their {paper.K} nearest neighbours "
               "(or the comparison's largest k), against two random sets of as many shared tokens (exact) and "
               "against two models that agree only on writing systems (each token's neighbours drawn at random from "
               "its own category: within-category chance). Beyond either: the 95% interval lies above it. About "
               "models, not families: no family is named. "
               + ui.convention_note(v, "self", only=conventions.REFINED))
    return verdicts


#: Each step's verdicts, by claim (in claims.CLAIMS' order).
VERDICTS = (separability, translations, diversity, by_category, geometry)
#: Each step's evidence view: extra query parameters of the linked page.
EVIDENCE: tuple[dict[str, str | list[str]], ...] = (
    {state.SHARED_VOCABULARY.name: "true"}, {state.QUERY.name: claims.POSTER_TOKEN}, {},
    {state.CATEGORIES.name: list(WRITING_SYSTEMS)}, {})


def summary(v: ui.View) -> None:
    """The closing step: one line per model over the claims that compare families (the steps' notes, which say
    how each call is made, folded away)."""
    with st.expander("How each call is made: the notes of those steps"):
        by_claim = {claim.short: {x.subject: x for x in verdicts_of(v) if x.text}
                    for claim, verdicts_of in zip(claims.CLAIMS, VERDICTS, strict=True) if claim.families}
    lines = [claims.summary_line(m.label, {short: got.get(m.label) for short, got in by_claim.items()})
             for m in v.models]
    st.markdown("\n".join(f"- {line}" for line in lines))


def go(step: int) -> None:
    state.set_value(state.STEP, step)


v = ui.view()
st.title("Poster tour")
st.caption(f"The claims of the poster of {paper.CITATION}, in its order: each with the paper's figure and what the "
           "loaded models show, computed as the paper computed it (its conventions, k = "
           f"{paper.K}, every category, whatever the sidebar says). The loaded models are not XLM-R or mT5: a "
           "verdict says which family a model behaves like on one statistic, with the numbers.")
with st.container(horizontal=True, vertical_alignment="bottom"):
    step = st.segmented_control("Claim", STEPS, default=STEPS[0], required=True,
                                **state.bind(state.STEP, STEPS, "step"))
    step = int(step or STEPS[0])
    st.button("Previous", icon=":material/arrow_back:", on_click=go, args=(step - 1,), disabled=step == STEPS[0],
              key="tour_previous")
    st.button("Next", icon=":material/arrow_forward:", on_click=go, args=(step + 1,), disabled=step == STEPS[-1],
              key="tour_next")

if step == SUMMARY:
    st.subheader(f"{step}. Each model's verdicts")
    st.caption("Per model, the call of each claim the paper gives figures or lists for (steps "
               + ", ".join(str(i) for i, c in enumerate(claims.CLAIMS, 1) if c.families) + "), with the numbers "
               "that decide it: like XLM-R, like mT5, undecided (its interval overlaps the boundary's), or no "
               "family (the statistic cannot tell). The other steps compare models with chance, not with a family.")
    if ui.require_models(v):
        summary(v)
else:
    claim = claims.CLAIMS[step - 1]
    st.subheader(f"{step}. {claim.title}")
    st.markdown(f"> {claim.words}")
    st.markdown(f"**The paper.** {claim.figure}")
    if ui.require_models(v):
        st.markdown("**The loaded models.**")
        say(claim, VERDICTS[step - 1](v))
        spec = pages.current()[claim.page]
        st.caption(f"The evidence: {claim.evidence}, on the {spec.title} page under the paper's conventions at "
                   f"k = {paper.K}.")
        ui.page_link(claim.page, f"Open this view on the {spec.title} page", like_the_paper(v, **EVIDENCE[step - 1]))
ui.share_link()
