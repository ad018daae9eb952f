"""Shown instead of every page while the artifact directory holds no model: how to build one."""

import streamlit as st

from dashboard import data, ui

PAGE = {"title": "Build artifacts", "url_path": "", "icon": ":material/build:", "order": 0, "fallback": True,
        "summary": "how to build the artifacts the dashboard shows"}

root = st.session_state[ui.ROOT_KEY]
catalog = data.catalog(root)

st.title("Hyperpolyglot")
st.warning(f"No model artifacts found in `{root}`.")
for name, message in catalog.broken:
    st.error(f"**{name}** cannot be read: {message}")
st.markdown(
    """
The dashboard shows precomputed artifacts; it never loads a model itself. Build them first:

1. **Everything at once** — installs, builds the default models and their comparison, starts the app:
"""
)
st.code("make run", language="bash")
st.markdown("2. **Only the default artifacts** (then reload this page):")
st.code("python -m precompute build --default", language="bash")
st.markdown("3. **One model** of your choice (a built-in name, a Hugging Face id or a local checkpoint):")
st.code("python -m precompute build MODEL", language="bash")
st.markdown(
    "Artifacts go to `./artifacts` unless `HYPERPOLYGLOT_ARTIFACTS` names another directory, or you "
    "start the dashboard with `streamlit run dashboard/app.py -- --artifacts DIR`."
)
