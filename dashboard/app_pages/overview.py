"""Overview: the findings as numbers computed from the loaded artifacts, one card per model, a guide."""

import json

import streamlit as st

from dashboard import tables, ui
from precompute import schema

v = ui.view()
st.title("Hyperpolyglot")
st.caption("How language models represent languages in their token embeddings — after Wen-Yi & Mimno, "
           "*Hyperpolyglot LLMs* (EMNLP 2023).")

if ui.require_models(v):
    st.subheader("Findings")
    cols = st.columns(len(v.models))
    for col, m in zip(cols, v.models, strict=True):
        with col:
            st.markdown(f"**{m.label}**")
            div = ui.load(m, schema.DIVERSITY, "neighbourhood diversity")
            column = f"n_categories_at_{v.k}"
            if div is not None and column in div:
                mean, std = tables.mean_std(div[column])
                st.metric(f"Categories among the {v.k} nearest neighbours", f"{mean:.2f}",
                          help=f"numNeighborCategory@{v.k}, mean over {len(div):,} tokens (std {std:.2f}). "
                               "The paper: mT5-XL 7.61 at k = 50.")
            sep = ui.load(m, schema.SEPARABILITY, "separability probes")
            if sep is not None:
                accuracy, n = tables.separability_headline(sep)
                st.metric("Average separability of categories", f"{accuracy:.1%}",
                          help=f"Mean 10-fold accuracy of a linear probe over {n} categories "
                               "(one category vs the rest). The paper: XLM-R 99.2%.")
            meaning = ui.load(m, schema.MEANING, "meaning statistics")
            if meaning is not None and len(meaning):
                mk = int(meaning["k"].max())
                shared = tables.weighted_mean(meaning[meaning["k"] == mk])
                st.metric(f"Neighbours sharing a translation (of {mk})", f"{shared:.2f}",
                          help="Mean over tokens with a dictionary translation.")
    for cmp in v.catalog.comparisons.values():
        geometry = ui.load(cmp, schema.GEOMETRY, "geometry comparison")
        if geometry is None:
            continue
        overall = geometry[(geometry["category"] == schema.ALL_CATEGORIES)
                           & (geometry["model_a"] < geometry["model_b"])]
        for row in overall.itertuples():
            st.metric(f"Neighbourhood overlap (Jaccard@k), {row.model_a} vs {row.model_b}",
                      f"{row.jaccard_mean:.3f}", help=f"Mean over {row.n_tokens:,} shared tokens.")

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
            absent = [name for name in (schema.TOKENS, schema.NEIGHBORS, schema.ANNOY, schema.DIVERSITY,
                                        schema.SEPARABILITY, schema.MAP, schema.MEANING) if not m.has(name)]
            if absent:
                st.info("Not built: " + ", ".join(absent))
            for note in m.manifest.get("notes", []):
                st.caption(str(note))
            with st.expander("Build parameters"):
                st.code(json.dumps(m.params, indent=2, ensure_ascii=False), language="json")

st.subheader("Pages")
st.markdown(
    """
- **Map** — each model's vocabulary in 2-D (UMAP or PCA), coloured by writing system; click a token for its neighbours.
- **Separability** — how well a linear probe tells one writing system from the rest, per category and pair.
- **Neighbours** — the nearest neighbours of any token, or of `king - man + woman`, in each model side by side.
- **Diversity** — how many writing systems a token's neighbours span, by category and by frequency.
- **Meaning** — how often neighbours are translations of the token.
- **Geometry** — how similar two models' neighbourhoods are (Jaccard, CKA, Procrustes).
- **Vocabulary** — how many tokens the tokenizers share.

The sidebar choices (models, categories, k) and each page's settings live in the address bar: copy it to share a view.
"""
)
ui.share_link("")
