"""The shared sidebar: models, token categories, k, conventions, bound to the URL (see :mod:`dashboard.state`)."""

from __future__ import annotations

import streamlit as st

from dashboard import data, state, ui
from precompute.contract import conventions, paper
from precompute.contract.categories import WRITING_SYSTEMS


def k_options(models: list[data.ModelInfo]) -> list[int]:
    """Neighbourhood sizes every selected model was analysed at (their diversity ks)."""
    if not models:
        return [10]
    common = set(models[0].diversity_ks)
    for m in models[1:]:
        common &= set(m.diversity_ks)
    return sorted(common or set(models[0].diversity_ks))


def draw(catalog: data.Catalog) -> None:
    """Draw the sidebar; its widgets leave the choices in st.session_state (read by ui.view()). k starts at
    the paper's headline neighbourhood size when the build has it."""
    for name, message in catalog.broken:
        st.warning(f"Artifacts of **{name}** cannot be read and are left out: {message}")
    slugs = list(catalog.models)
    with st.sidebar:
        chosen = st.multiselect(
            "Models", slugs, default=slugs, **state.bind(state.MODELS, slugs, "models"),
            help="Models side by side on every page. Build more with `python -m precompute build MODEL`.")
        st.multiselect("Token categories", ui.CATEGORY_OPTIONS, default=list(ui.CATEGORY_OPTIONS),
                       **state.bind(state.CATEGORIES, ui.CATEGORY_OPTIONS, "categories"),
                       help="The paper's 13 writing systems, S (symbols), N (numbers), and other.")
        left, right = st.columns(2)
        left.button("Scripts only", on_click=state.set_value, args=(state.CATEGORIES, list(WRITING_SYSTEMS)),
                    key="preset_writing_systems", width="stretch",
                    help="The paper's 13 writing systems, without S, N and other.")
        right.button("All", on_click=state.set_value, args=(state.CATEGORIES, list(ui.CATEGORY_OPTIONS)),
                     key="preset_all_categories", width="stretch")
        ks = k_options([catalog.models[s] for s in chosen])
        st.select_slider("k (neighbourhood size)", ks, value=paper.K if paper.K in ks else ks[len(ks) // 2],
                         **state.bind(state.K, ks, "k"),
                         help="How many nearest neighbours the statistics and lists use.")
        st.segmented_control(
            "Conventions", conventions.CONVENTIONS, default=conventions.DEFAULT, required=True,
            **state.bind(state.CONVENTION, conventions.CONVENTIONS, "conventions"),
            help="paper: as the authors' code counted (▁ a symbol, the token itself among its neighbours, "
                 "bootstrap error bars), so that numbers compare with the publication. refined: ours (▁ stripped "
                 "before the category rule, the token itself left out, mean ± sd). See docs/METHODS.md.")
