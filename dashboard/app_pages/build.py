"""Shown instead of every page while the artifact directory holds no model: how far the running build is (the
first model replaces this page when it is ready), else how to build one, or, on a dashboard serving a published
bundle, who can fix it (its reader has nothing to build)."""

import streamlit as st

from dashboard import buildstatus, data, remote, ui

PAGE = {"title": "Build artifacts", "url_path": "", "icon": ":material/build:", "order": 0, "fallback": True,
        "summary": "how to build the artifacts the dashboard shows"}

root = st.session_state[ui.ROOT_KEY]
source = data.configured_root()
catalog = data.catalog(root)

st.title("Hyperpolyglot")
if buildstatus.running(root) is not None:
    st.info("The models are being built. The dashboard opens on its own as soon as the first one is ready; "
            "the others join it as they are done.", icon=":material/hourglass_top:")
    buildstatus.show(root, detailed=True)
    st.stop()
if remote.is_url(source):
    st.warning(f"The published artifacts at `{source}` hold no model this dashboard can show.")
else:
    st.warning(f"No model artifacts found in `{root}`.")
for name, message in catalog.broken:
    st.error(f"**{name}** cannot be read: {message}")
for task in buildstatus.failed_last_time(root):
    st.error(f"The last build could not build **{buildstatus.task_label(task)}**: {task.error or 'see its output'}. "
             "Its output says more (under `make run`: `build.log` in the artifact directory).")
if remote.is_url(source):
    st.markdown(
        "This dashboard shows a bundle published by whoever hosts it; there is nothing to build or install on "
        "your side. **The host can fix it**: publish the bundle again (`python -m precompute publish --all --out "
        "DIR`, then upload DIR to the address above) or point the dashboard at a bundle that holds models. "
        "Please tell them what this page says."
    )
    st.markdown("To see the figures meanwhile, run your own copy from the project's repository (its README: "
                "one command builds the default models and starts the dashboard on your machine).")
    st.stop()
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
