"""Overview: the findings as numbers computed from the loaded artifacts, one card per model, a guide."""

import json
from functools import partial

import pandas as pd
import streamlit as st

from dashboard import data, pages, tables, ui
from precompute.contract import conventions, paper, schema
from precompute.contract.categories import display_category

PAGE = {"title": "Overview", "url_path": "", "icon": ":material/dashboard:", "order": 10,
        "summary": "the findings as numbers from the loaded artifacts, one card per model",
        "needs": ("DIVERSITY", "DIVERSITY_CHANCE", "SEPARABILITY", "MEANING", "TOKENS", "GEOMETRY")}


def diversity_at(m: data.ModelInfo, k: int, convention: str, categories: list[str] | None = None,
                 say: ui.Notes | None = None) -> tuple[float, float, int] | None:
    """numNeighborCategory@k of one model under ``convention``: mean, sd and tokens (of ``categories``
    only, when given), or None without it (``say``: where to tell why, :func:`ui.load`)."""
    div = ui.load(m, schema.DIVERSITY, "neighbourhood diversity", say=say or st)
    column = schema.n_categories_column(k, convention)
    if div is None or column not in div:
        return None
    tok = None
    if categories is not None:
        tok = ui.load(m, schema.TOKENS, "token table", convention=convention, say=say or st)
        if tok is None:
            return None
    chosen = div if tok is None else ui.filter_categories(div.merge(tok[["id", "shown_category"]], on="id"),
                                                          categories)
    return (*tables.mean_std(chosen[column]), len(chosen))


def beside_the_paper(models: list[data.ModelInfo]) -> tuple[object, ui.Notes]:
    """The paper's reported figures and each model's own, computed as the paper did (its conventions,
    k = its k), each beside its chance value: one row per source (the paper, each model), one column per figure;
    as the Arrow table drawn, with what to tell the reader about missing files. Once per view (:func:`ui.per_view`)."""
    say = ui.Notes()
    mean, std, sep = f"categories@{paper.K}: mean", f"categories@{paper.K}: std", "separability"
    rows = [{"source": "the paper (mT5-XL; std also XLM-R-XL; separability XLM-R)",
             mean: f"{paper.MT5_XL_CATEGORIES_MEAN:.2f}",
             std: f"{paper.MT5_XL_CATEGORIES_STD:.2f}; {paper.XLMR_XL_CATEGORIES_STD:.2f}",
             sep: f"{paper.XLMR_SEPARABILITY:.1%}"}]
    for m in models:
        stats = diversity_at(m, paper.K, conventions.PAPER, say=say)
        chance = tables.row_at_k(ui.load(m, schema.DIVERSITY_CHANCE, "chance baselines",
                                         convention=conventions.PAPER, say=say), paper.K)
        expected, spread = (None, None) if chance is None else (chance["expected_random"], chance["permutation_sd"])
        not_built = f"not built at k = {paper.K}"
        probes = ui.load(m, schema.SEPARABILITY, "separability probes", convention=conventions.PAPER, say=say)
        rows.append({"source": m.label,
                     mean: tables.with_chance(stats[0], expected) if stats else not_built,
                     std: tables.with_chance(stats[1], spread) if stats else not_built,
                     sep: f"{tables.separability_headline(probes)[0]:.1%}" if probes is not None else "not built"})
    return ui.arrow_table(pd.DataFrame(rows)), say


def findings(m: data.ModelInfo, v: ui.View) -> tuple[ui.Notes, dict[str, tuple]]:
    """One model's findings in the view: what to tell the reader about missing files, and the figures drawn (by
    name: the arguments of :func:`ui.figure`, ready to draw). Once per view (:func:`ui.per_view`)."""
    say, drawn = ui.Notes(), {}
    stats = diversity_at(m, v.k, v.convention, v.categories, say=say)
    chance = tables.row_at_k(ui.load(m, schema.DIVERSITY_CHANCE, "chance baselines", convention=v.convention,
                                     say=say), v.k)
    if stats is not None:
        mean, std, n = stats
        over = "all tokens" if ui.filtered(v) else f"{n:,} tokens"
        drawn["diversity"] = (
            f"Categories in {v.k}-NN", f"{mean:.2f}",
            f"std {std:.2f} over {n:,} tokens" + (f" · chance {chance['expected_random']:.2f}, shuffled "
                                                  f"{chance['permutation_mean']:.2f} (over {over})"
                                                  if chance is not None else ""),
            {"n": n, "help": f"numNeighborCategory@{v.k}: the number of distinct categories among a token's "
                             f"{v.k} nearest neighbours, mean over {n:,} tokens (std {std:.2f}). Chance: the mean "
                             f"for {v.k} tokens drawn at random, and for the real neighbours with the categories "
                             "shuffled over the tokens; the build computes both over every token, so they do not "
                             "follow the category filter."})
    probes = ui.load(m, schema.SEPARABILITY, "separability probes", convention=v.convention, say=say)
    if probes is not None:
        selected = probes[probes["category"].map(display_category).isin(v.categories)]
        accuracy, n_probed = tables.separability_headline(selected)
        if n_probed:
            probed = selected.dropna(subset=["mean"])
            drawn["separability"] = (
                "Separability", f"{accuracy:.1%}",
                f"mean over {n_probed} probed categor{'y' if n_probed == 1 else 'ies'} · chance 50%",
                {"help": f"Mean 10-fold accuracy of a linear probe over the {n_probed} selected categories "
                         f"this model was probed on ({', '.join(probed['category'])}; one category vs the "
                         "rest, balanced: chance is 50%)."})
        else:
            drawn["separability"] = ("Separability", "not probed",
                                     "none of the selected categories had enough tokens for a probe", {})
    meaning = ui.load(m, schema.MEANING, "meaning statistics", say=say)
    if meaning is not None:
        meaning = meaning[meaning["category"].map(display_category).isin(v.categories)]
    if meaning is not None and len(meaning):
        mk = int(meaning["k"].max())
        at_k = meaning[meaning["k"] == mk]
        n_meaning = int(pd.to_numeric(at_k["n_tokens"], errors="coerce").fillna(0).sum())
        drawn["meaning"] = (
            f"Translations in {mk}-NN", f"{tables.weighted_mean(at_k):.2f}",
            f"over {n_meaning:,} tokens · chance {tables.weighted_mean(at_k, 'chance_mean'):.3f}",
            {"n": n_meaning, "help": f"How many of a token's {mk} nearest neighbours share a translation with it (a "
                                     "CLDR concept or a dictionary translation), mean over the tokens that have one; "
                                     f"chance: the same for {mk} neighbours drawn at random."})
    return say, drawn


def page_list(registry: pages.Registry) -> str:
    """The other pages as a Markdown list, each with the one line its file declares."""
    return "\n".join(f"- **{p.title}** — {p.summary}." for p in registry.pages if p.url_path)


def not_built(m: data.ModelInfo, registry: pages.Registry) -> list[str]:
    """The artifacts some page shows that this model's build lacks, each with the pages that need it."""
    needed: dict[str, list[str]] = {}
    for p in registry.pages:
        for name in p.needs:
            needed.setdefault(name, []).append(p.title)
    return [f"{name} ({', '.join(titles)})" for name, titles in needed.items() if not m.has(name)]


def not_the_papers_models(models: list[data.ModelInfo]) -> None:
    """Say plainly when the shown models are the packaged stand-ins, not the paper's XLM-R and mT5."""
    packaged = [f"{m.label} (PyPI `{m.model['package']}`)" for m in models
                if m.model.get("source") == "builtin" and m.model.get("package")]
    if packaged:
        st.info("Not the paper's models: " + ", ".join(packaged) + " ship inside PyPI packages so that the tool "
                "runs offline. Their numbers are findings about these models, not a reproduction of the paper's "
                "figures for XLM-R and mT5, which the table gives for orientation.", icon=":material/info:")


v = ui.view()
st.title("Hyperpolyglot")
st.caption("How language models represent languages in their token embeddings — after Wen-Yi & Mimno, "
           "*Hyperpolyglot LLMs* (EMNLP 2023).")

if ui.require_models(v):
    st.subheader("Beside the paper")
    not_the_papers_models(v.models)
    st.caption(f"Each model computed as the paper did: its conventions, k = {paper.K} and every category, whatever the "
               "sidebar says, "
               "so that like is compared with like. Chance: k tokens drawn at random (the mean); the categories "
               f"shuffled over the real neighbours (the std). {paper.CITATION}.")
    beside, said = ui.per_view(v, ("beside the paper", paper.K), partial(beside_the_paper, v.models),
                               keep=lambda table_said: table_said[1].settled)
    said.draw()
    st.dataframe(beside, hide_index=True)

    st.subheader("Findings")
    st.caption(f"At k = {v.k}, each beside its value for neighbours that carry no information (METHODS §10), over the "
               "tokens of the selected categories, with how many tokens it rests on; a number on fewer than "
               f"{ui.MIN_TOKENS} tokens is greyed, too few to read. Separability: the mean accuracy over the "
               "selected categories the model was probed on, as in the table above. "
               + ui.convention_note(v, "category", "self"))
    for col, m in ui.in_columns(v.models):
        with col:
            st.markdown(f"**{m.label}**")
            said, drawn = ui.per_view(v, ("findings", m.slug), partial(findings, m, v),
                                      keep=lambda found: found[0].settled)
            said.draw()
            for label, value, note, options in drawn.values():  # in the order computed
                ui.figure(label, value, note, **options)
    for cmp in v.catalog.comparisons.values():
        geometry = ui.load(cmp, schema.GEOMETRY, "geometry comparison")
        if geometry is None:
            continue
        overall = geometry[(geometry["category"] == schema.ALL_CATEGORIES)
                           & (geometry["model_a"] < geometry["model_b"])]
        k = v.k if v.k in set(overall["k"]) else int(overall["k"].max()) if len(overall) else cmp.neighbor_k
        overall = overall[overall["k"] == k]
        st.markdown(f"**Neighbourhood overlap (Jaccard@{k})** on the vocabulary each pair shares")
        st.caption(ui.convention_note(v, "self", only=conventions.REFINED)
                   + " The paper's own measure, overlap with the token included, is on the Geometry page.")
        ui.filter_ignored(v, "the overlap: it is over every token each pair shares")
        for col, row in ui.in_columns(list(overall.itertuples()), per_row=3):  # 0.… at 800 px with six in a row
            overlap = tables.with_chance(row.overlap_mean, row.overlap_chance, ".3f")
            ui.figure(f"{row.model_a} vs {row.model_b}", f"{row.jaccard_mean:.3f}",
                      f"chance {row.jaccard_chance:.4f} · overlap {overlap}", container=col,
                      help=f"Mean Jaccard index of the two models' {k} nearest neighbours among the "
                           f"{row.n_tokens:,} tokens both vocabularies share (comparison '{cmp.slug}'); overlap: "
                           f"|A∩B| / {k}; chance: two random sets of {k} of those tokens.")

    st.subheader("Models")
    for col, m in ui.in_columns(v.models):
        with col, st.container(border=True):
            model = m.model
            st.markdown(f"#### {m.label}")
            if model.get("description"):
                st.caption(str(model["description"]))
            st.markdown(
                f"- source: {m.source_text}\n"
                f"- vocabulary: **{int(model.get('vocab_size') or 0):,}** tokens, "
                f"dimension **{model.get('dim', '?')}**\n"
                f"- tokenizer: {model.get('tokenizer') or 'n/a'}\n"
                f"- built: {m.manifest.get('built_at', '?')} (tool {m.manifest.get('tool_version', '?')})"
            )
            annoy = m.manifest.get("annoy") or {}
            if annoy:
                st.markdown(f"- Annoy: {annoy.get('n_trees', '?')} trees, search_k {annoy.get('search_k', '?')}, "
                            f"recall@10 {float(annoy.get('recall_at_10', float('nan'))):.3f}")
            absent = not_built(m, pages.current())
            if absent:
                st.info("Not built: " + ", ".join(absent))
            for note in m.manifest.get("notes", []):
                st.caption(str(note))
            with st.expander("Build parameters"):
                st.code(json.dumps(m.params, indent=2, ensure_ascii=False), language="json")

st.subheader("Pages")
st.markdown(page_list(pages.current()))
st.markdown("The sidebar choices (models, categories, k) and each page's settings live in the address bar: "
            "copy it to share a view.")
ui.share_link()
