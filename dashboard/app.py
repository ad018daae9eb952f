"""Hyperpolyglot dashboard — the router: page list, the shared sidebar, navigation.

Run: ``streamlit run dashboard/app.py`` (artifacts from $HYPERPOLYGLOT_ARTIFACTS or ./artifacts,
or ``streamlit run dashboard/app.py -- --artifacts DIR``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `streamlit run` only adds dashboard/

import streamlit as st  # noqa: E402

from dashboard import data, sidebar, state, ui  # noqa: E402

st.set_page_config(page_title="Hyperpolyglot", page_icon=":material/translate:", layout="wide")

PAGES = [
    st.Page("app_pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("app_pages/map.py", title="Map", icon=":material/scatter_plot:", url_path="map"),
    st.Page("app_pages/separability.py", title="Separability", icon=":material/call_split:",
            url_path="separability"),
    st.Page(ui.NEIGHBOURS_PAGE, title="Neighbours", icon=":material/hub:", url_path="neighbours"),
    st.Page("app_pages/diversity.py", title="Diversity", icon=":material/bar_chart:", url_path="diversity"),
    st.Page("app_pages/meaning.py", title="Meaning", icon=":material/translate:", url_path="meaning"),
    st.Page("app_pages/geometry.py", title="Geometry", icon=":material/grid_on:", url_path="geometry"),
    st.Page("app_pages/vocabulary.py", title="Vocabulary", icon=":material/abc:", url_path="vocabulary"),
]
NO_ARTIFACTS = st.Page("app_pages/build.py", title="Build artifacts", icon=":material/build:", default=True)
state.register_page_paths([p.url_path for p in PAGES])

st.session_state[ui.ROOT_KEY] = str(data.artifact_root())
catalog = data.catalog(st.session_state[ui.ROOT_KEY])
if catalog.empty:
    navigation = st.navigation([NO_ARTIFACTS])
else:
    navigation = st.navigation(PAGES)
    sidebar.draw(catalog)
navigation.run()
