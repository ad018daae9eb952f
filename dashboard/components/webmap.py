"""The Map page's WebGL scatter as a Streamlit component (``st.components.v2``, no library).

Two components work together, so that what changes often stays small:

- ``hp_map`` draws the panels from the payload of :func:`dashboard.mapdata.pack` (every token, a few
  MB). Where the server serves payloads (``dashboard/server.py``: :mod:`dashboard.components.payloads`)
  the component is sent only the payload's address and fetches it over HTTP, cacheable and compressed;
  elsewhere (``streamlit run dashboard/app.py``, AppTest) it is sent the bytes, and on every rerun after
  the first Streamlit sends a reference to them. The payload changes only with the models, layout, k or
  categories shown. Its state value ``view`` is what the
  user did: the selection (a panel and its rows), the category isolated in the legend, each panel's zoom.
- ``hp_map_link`` (invisible) carries the rest from Python: the colouring, the URL's view (applied once,
  when a link is opened), the searched token, the neighbours of the selection and the tokens to mark.
  Its script hands them to the map through a bus on ``globalThis``.

Why not pydeck or embedding-atlas: the measurements are in benchmarks/map_page.py and the README.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from dashboard import viewcache
from dashboard.components import payloads

#: Height of a panel's drawing area, in CSS pixels.
PANEL_HEIGHT = 440

CSS = f"""
.hpmap {{ position: relative; font-family: "Source Sans Pro", "Noto Sans", sans-serif; font-size: 14px; }}
.hpmap .legend {{ display: flex; flex-wrap: wrap; gap: 4px 12px; align-items: center; margin-bottom: 6px; }}
.hpmap .chips, .hpmap .tools {{ display: flex; flex-wrap: wrap; gap: 4px; align-items: center; }}
.hpmap .chip {{ border: 1px solid #d5d9e0; background: #fff; border-radius: 12px; padding: 1px 8px; cursor: pointer;
  font: inherit; font-size: 12px; display: inline-flex; align-items: center; gap: 4px; color: #1b1f24; }}
.hpmap .chip.off {{ opacity: 0.35; }}
.hpmap .chip.on {{ background: #1f77b4; color: #fff; }}
.hpmap .dot {{ width: 10px; height: 10px; border-radius: 50%; display: inline-block; }}
.hpmap .ramp {{ display: inline-flex; align-items: center; gap: 6px; font-size: 12px; }}
.hpmap .gradient {{ width: 120px; height: 10px; border-radius: 2px; display: inline-block; }}
.hpmap .panels {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 380px), 1fr)); gap: 10px; }}
.hpmap .head {{ font-size: 14px; margin-bottom: 2px; overflow-wrap: anywhere; }}
.hpmap .count {{ color: #5f6b7a; font-size: 12px; }}
.hpmap .stage {{ position: relative; height: {PANEL_HEIGHT}px; border: 1px solid #e3e6eb; border-radius: 4px;
  touch-action: none; }}
.hpmap canvas {{ position: absolute; inset: 0; width: 100%; height: 100%; }}
.hpmap canvas.overlay {{ cursor: crosshair; }}
.hpmap .tip {{ position: absolute; z-index: 5; pointer-events: none; background: #fff; border: 1px solid #c9ced6;
  border-radius: 4px; padding: 4px 8px; box-shadow: 0 2px 6px rgba(0,0,0,.15); max-width: 260px; font-size: 12px; }}
.hpmap .tip .token {{ font-size: 18px; font-family: "Noto Sans", "Noto Sans CJK JP", "Noto Sans Arabic",
  "Noto Sans Hebrew", "Noto Sans Thai", "Noto Sans Devanagari", "Noto Sans Tamil", "Noto Sans Georgian", sans-serif; }}
.hpmap .tip .gloss {{ color: #5f6b7a; font-style: italic; }}
.hpmap .status {{ min-height: {PANEL_HEIGHT}px; display: flex; flex-direction: column; gap: 8px; align-items: center;
  justify-content: center; border: 1px dashed #c9ced6; border-radius: 4px; color: #5f6b7a; padding: 16px; }}
.hpmap .status.failed {{ color: #a61b1b; border-color: #e0a0a0; background: #fff6f6; }}
"""

_MAP = st.components.v2.component(
    "hp_map", html='<div class="hpmap"></div>', css=CSS,
    js=(Path(__file__).with_name("webmap.js")).read_text(encoding="utf-8"))
_LINK = st.components.v2.component("hp_map_link", js="""
export default function ({ data }) {
  const bus = (globalThis.__hpMapBus ||= { link: null, maps: new Set() });
  bus.link = data;
  bus.maps.forEach(m => m.onLink(data));
}""")


def _ignore() -> None:
    """The map's state changes rerun the page, which reads them; nothing to do before that."""


def draw(signature: str, pack: Callable[[], bytes], page: str,
         key: str = "hp_map") -> tuple[int, dict[str, Any] | None]:
    """Draw the map of the payload ``pack()`` makes, packed once per ``signature`` for every session.

    ``page`` is the page's URL path: the browser finds the app's base URL by taking it off its address.
    Returns the bytes the browser is sent (compressed, when it fetches them) and what the user did on the map
    (None before anything).
    """
    if payloads.STORE.served:
        payload = payloads.STORE.get(signature, pack)
        size, data = len(payload.gzipped), {"url": payload.path, "page": page, "signature": signature}
    else:
        data = viewcache.CACHE.get(("map-payload", signature), pack)
        size = len(data)
    result = _MAP(data=data, key=key, on_view_change=_ignore)
    return size, getattr(result, "view", None)


def link(data: dict[str, Any], key: str = "hp_map") -> None:
    """Hand the map drawn under ``key`` what Python knows now (see the module docstring).

    ``data`` must hold the payload's ``signature``: the map ignores a link meant for an older payload.
    """
    _LINK(data=data, key=f"{key}_link", height=0)
