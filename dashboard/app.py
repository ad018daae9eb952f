"""Hyperpolyglot dashboard — the router: the declared pages, the shared sidebar, navigation.

Run: ``streamlit run dashboard/app.py`` (artifacts from $HYPERPOLYGLOT_ARTIFACTS or ./artifacts,
or ``streamlit run dashboard/app.py -- --artifacts DIR``). The pages are the files in
``app_pages/`` next to this script, each declaring itself (see :mod:`dashboard.pages`).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `streamlit run` only adds dashboard/

import streamlit as st  # noqa: E402

from dashboard import allocator, buildstatus, data, pages, sidebar, state, ui  # noqa: E402

allocator.configure()

#: The browser tab's icon, a local file sent inline: a ":material/…" icon would make the browser fetch it
#: from a public font host, and a hosted or air-gapped dashboard requests nothing but the app itself.
ICON = Path(__file__).resolve().parent / "icon.svg"

st.set_page_config(page_title="Hyperpolyglot", page_icon=str(ICON), layout="wide")

root = st.session_state[ui.ROOT_KEY] = str(data.artifact_root())
st.session_state[ui.DRAWN_KEY] = []  # the charts this run draws (ui.chart), exported by their Reproduce box
catalog = data.take_catalog(root)  # the models of this run: sidebar and page agree while a build adds some
registry = pages.discover(Path(__file__).resolve().parent / "app_pages")
navigation = pages.route(registry, show_fallback=catalog.empty)
if not catalog.empty:
    state.upgrade_comma_lists(navigation)
    buildstatus.keep_selection(catalog)
    sidebar.draw(catalog)
    buildstatus.show(root)  # a running build's progress above every page (the fallback page shows its own)
navigation.run()
