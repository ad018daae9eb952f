"""Poster tour: the poster's claims one step each, in its order; each with the paper's figure, a verdict for
every loaded model computed the paper's way (dashboard.claims decides), and a link to the view with the evidence."""

import pandas as pd
import streamlit as st

from dashboard import charts, claims, data, lookup, pages, state, tables, ui
from precompute.contract import conventions, paper, schema
from precompute.contract.categories import WRITING_SYSTEMS

PAGE = {"title": "Poster tour", "url_path": "tour", "icon": ":material/tour:", "order": 15,
        "summary": "the poster's claims one by one, each with a verdict computed from the loaded models and a link "
                   "to the view that shows it",
        "needs": ("SEPARABILITY", "NEIGHBORS", "TOKENS", "MEANING", "DIVERSITY", "DIVERSITY_CHANCE",
                  "DIVERSITY_BY_CATEGORY")}

#: The steps as the URL spells them (?step=3): one per claim.
STEPS = list(range(1, len(claims.CLAIMS) + 1))
#: How a verdict's family is marked.
BADGES = {claims.MT5: ":violet-badge[like mT5]", claims.XLMR: ":orange-badge[like XLM-R]"}
#: The poster's token whose neighbour lists the second step compares with.
POSTER_TOKEN = "när"


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
        rows[len(claim.paper_rows):] = [{**r, "behaves like": (x.family or "neither") if x.text else ""}
                                        for r, x in zip(rows[len(claim.paper_rows):], verdicts, strict=True)]
    st.dataframe(pd.DataFrame(rows).fillna(""), hide_index=True)
    draw(claim, verdicts)
    badge = {None: ":gray-badge[neither]" if claim.families else ":gray-badge[no family]"}
    st.markdown("\n".join(f"- {BADGES.get(x.family, badge[None])} {x.text}" for x in verdicts if x.text))


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
    palette = {**ui.model_colors(ui.view()), **{name: PAPER_GREY for name, _ in claim.paper_bars}}
    others = sorted(set(df["source"]) - set(palette))  # model pairs: colours of their own
    palette |= charts.model_colors(others)
    ui.chart(charts.grouped_bars(df, "value", x=x, group="source", y_title=claim.measure, reference="chance",
                                 palette=palette), key=f"tour_chart_{x}", reproduce=False)  # the evidence link has it
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
        accuracy, n = tables.separability_headline(probes)
        if n == 0:
            st.info(f"**{m.label}** has no category with enough tokens for a probe "
                    f"(at least {m.params.get('min_category_tokens', '?')}).")
            continue
        verdicts.append(claims.separability_verdict(m.label, accuracy, n))
    note.caption("Each model's one-vs-rest probes under the paper's conventions (raw-text categories, unshuffled "
               "folds), averaged over every category it has enough tokens for, on its full vocabulary (the paper "
               "probed XLM-R and mT5 on the vocabulary they share: the Separability page does that for a "
               f"comparison). Like XLM-R: within {claims.SEPARABILITY_MARGIN:.0%} of its average.")
    return verdicts


def poster_overlap(m: data.ModelInfo) -> dict[str, tuple[int, int]] | None:
    """Per poster column, how many of its listed neighbours of när the model's as many nearest hold, and how
    many it lists; None when the model has no när (or no neighbour table, said by the loader)."""
    index = ui.load_text_index(m)
    tok = ui.load(m, schema.TOKENS, "token table")
    nb = ui.load_array(m, schema.NEIGHBORS, "neighbour table")
    found = lookup.find_token(index, POSTER_TOKEN) if index else None
    if found is None or tok is None or nb is None:
        return None
    overlap = {}
    for column, listed in paper.POSTER_NEIGHBORS[POSTER_TOKEN].items():
        ids = [int(i) for i in nb[found[0], :len(listed)] if i >= 0]
        overlap[column] = (len(tables.poster_overlap(tok["text"].iloc[ids], listed)), len(listed))
    return overlap


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
        at_k = meaning[meaning["k"] == k]
        verdicts.append(claims.translation_verdict(m.label, tables.weighted_mean(at_k),
                                                 tables.weighted_mean(at_k, "chance_mean"), k,
                                                 poster_overlap(m), POSTER_TOKEN))
    shown_ks = ", ".join(map(str, sorted(ks))) or "?"
    note.caption(f"Translations: the mean over the tokens that have one, at k = {shown_ks}"
               f" (the build's meaning k), all categories; chance: as many neighbours drawn at random. "
               f"The poster's {POSTER_TOKEN}: each model's nearest 18 against XLM-R-XL's 18 listed, its nearest 15 "
               "against mT5-XL's 15 (as printed); the closer column is the one whose list it shares the larger "
               "share of. " + ui.convention_note(v, "category", only=conventions.REFINED))
    return verdicts


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
        verdicts.append(claims.diversity_verdict(m.label, mean, std, float(chance["expected_random"]),
                                               float(chance["permutation_sd"]), paper.K))
    note.caption(f"numNeighborCategory@{paper.K} as the paper counted it (the token itself among its neighbours, "
               "raw-text categories), every eligible token (the paper sampled 1%). A family is named when the mean "
               "and the standard deviation agree: the mean nearer mT5-XL's or 1 (where XLM-R-XL's neighbourhoods "
               "mostly stay; the paper gives no XLM-R-XL mean), the standard deviation nearer either family's. "
               "Chance: the mean for "
               f"{paper.K} tokens drawn at random; the standard deviation with the categories shuffled over the "
               "tokens.")
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
        geo = geo[(geo["category"] == schema.ALL_CATEGORIES) & (geo["model_a"] < geo["model_b"])
                  & geo["model_a"].isin(list(chosen)) & geo["model_b"].isin(list(chosen))]
        if geo.empty:
            continue
        k = paper.K if paper.K in set(geo["k"]) else int(geo["k"].max())
        for row in geo[geo["k"] == k].itertuples():
            if (row.model_a, row.model_b) in compared:
                continue
            compared.add((row.model_a, row.model_b))
            verdicts.append(claims.geometry_verdict((chosen[row.model_a], chosen[row.model_b]), row.jaccard_mean,
                                                  None if pd.isna(row.jaccard_ci95) else float(row.jaccard_ci95),
                                                  row.jaccard_chance, k, int(row.n_tokens)))
    alone = [label for slug, label in chosen.items() if not any(slug in pair for pair in compared)]
    if alone:
        st.info(f"No comparison holds {', '.join(alone)} with another selected model: build one with "
                f"`python -m precompute compare {' '.join(chosen)}`.")
    note.caption(f"Each pair on the tokens it shares: the mean Jaccard index of their {paper.K} nearest neighbours "
               "(or the comparison's largest k), against two random sets of as many shared tokens (exact). Beyond "
               "chance: the 95% interval lies above it. About models, not families: no family is named. "
               + ui.convention_note(v, depends=False))
    return verdicts


#: Each step's verdicts, by claim (in claims.CLAIMS' order).
VERDICTS = (separability, translations, diversity, by_category, geometry)
#: Each step's evidence view: extra query parameters of the linked page.
EVIDENCE: tuple[dict[str, str | list[str]], ...] = (
    {state.SHARED_VOCABULARY.name: "true"}, {state.QUERY.name: POSTER_TOKEN}, {},
    {state.CATEGORIES.name: list(WRITING_SYSTEMS)}, {})


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
