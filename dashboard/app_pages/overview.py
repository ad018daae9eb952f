"""Overview: the findings as numbers computed from the loaded artifacts, one card per model, a guide."""

import json

import streamlit as st

from dashboard import data, pages, tables, ui
from precompute import paper, schema

PAGE = {"title": "Overview", "url_path": "", "icon": ":material/dashboard:", "order": 10,
        "summary": "the findings as numbers from the loaded artifacts, one card per model",
        "needs": ("DIVERSITY", "SEPARABILITY", "MEANING")}


def paper_column() -> None:
    """The paper's headline figures, beside each model's own for orientation."""
    st.markdown("**The paper** (its models)")
    ui.figure(f"mT5-XL: categories in {paper.K}-NN", f"{paper.MT5_XL_CATEGORIES_MEAN:.2f}",
              f"std {paper.MT5_XL_CATEGORIES_STD:.2f} (XLM-R-XL: std {paper.XLMR_XL_CATEGORIES_STD:.2f})",
              help=f"numNeighborCategory@{paper.K} in {paper.CITATION}: mT5-XL's neighbourhoods mix "
                   "writing systems, XLM-R-XL's mostly stay within one.")
    ui.figure("XLM-R: separability", f"{paper.XLMR_SEPARABILITY:.1%}", "linear probe, one script vs the rest",
              help=f"{paper.CITATION}: XLM-R's tokens of different writing systems are linearly separable "
                   f"with {paper.XLMR_SEPARABILITY:.1%} average accuracy.")


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
                "figures for XLM-R and mT5, which the first column gives for orientation.", icon=":material/info:")


v = ui.view()
st.title("Hyperpolyglot")
st.caption("How language models represent languages in their token embeddings — after Wen-Yi & Mimno, "
           "*Hyperpolyglot LLMs* (EMNLP 2023).")

if ui.require_models(v):
    st.subheader("Findings")
    not_the_papers_models(v.models)
    if v.k != paper.K:
        st.caption(f"The paper's diversity figure is at k = {paper.K}; set k = {paper.K} in the sidebar to compare.")
    papers_column, *cols = st.columns(len(v.models) + 1)
    with papers_column:
        paper_column()
    for col, m in zip(cols, v.models, strict=True):
        with col:
            st.markdown(f"**{m.label}**")
            div = ui.load(m, schema.DIVERSITY, "neighbourhood diversity")
            column = schema.n_categories_column(v.k)
            if div is not None and column in div:
                mean, std = tables.mean_std(div[column])
                ui.figure(f"Categories in {v.k}-NN", f"{mean:.2f}",
                          f"std {std:.2f} over {len(div):,} tokens",
                          help=f"numNeighborCategory@{v.k}: the number of distinct categories among a token's "
                               f"{v.k} nearest neighbours, mean over {len(div):,} tokens.")
            sep = ui.load(m, schema.SEPARABILITY, "separability probes")
            if sep is not None:
                accuracy, n = tables.separability_headline(sep)
                ui.figure("Separability", f"{accuracy:.1%}", f"average over {n} categories",
                          help=f"Mean 10-fold accuracy of a linear probe over {n} categories "
                               "(one category vs the rest).")
            meaning = ui.load(m, schema.MEANING, "meaning statistics")
            if meaning is not None and len(meaning):
                mk = int(meaning["k"].max())
                shared = tables.weighted_mean(meaning[meaning["k"] == mk])
                ui.figure(f"Translations in {mk}-NN", f"{shared:.2f}",
                          "tokens with a dictionary translation",
                          help=f"How many of a token's {mk} nearest neighbours share a translation with it (a CLDR "
                               "concept or a dictionary translation), mean over the tokens that have one.")
    for cmp in v.catalog.comparisons.values():
        geometry = ui.load(cmp, schema.GEOMETRY, "geometry comparison")
        if geometry is None:
            continue
        overall = geometry[(geometry["category"] == schema.ALL_CATEGORIES)
                           & (geometry["model_a"] < geometry["model_b"])]
        overall = overall[overall["k"] == overall.groupby(["model_a", "model_b"])["k"].transform("max")]
        k = int(overall["k"].max()) if len(overall) else cmp.neighbor_k
        st.markdown(f"**Neighbourhood overlap (Jaccard@{k})** on the vocabulary each pair shares")
        for col, row in zip(st.columns(max(len(overall), 1)), overall.itertuples(), strict=False):
            ui.figure(f"{row.model_a} vs {row.model_b}",
                      f"{row.jaccard_mean:.3f}", f"over {row.n_tokens:,} shared tokens", container=col,
                      help=f"Mean Jaccard index of the two models' {k} nearest neighbours among the tokens "
                           f"both vocabularies share (comparison '{cmp.slug}').")

    st.subheader("Models")
    cols = st.columns(len(v.models))
    for col, m in zip(cols, v.models, strict=True):
        with col, st.container(border=True):
            model = m.model
            st.markdown(f"#### {m.label}")
            if model.get("description"):
                st.caption(str(model["description"]))
            st.markdown(
                f"- source: `{model.get('source', '?')}` {model.get('origin') or ''}\n"
                f"- revision: `{model.get('revision') or 'n/a'}`\n"
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
