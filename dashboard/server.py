"""The dashboard as served: Streamlit's app server around the router (app.py), plus one fix of its paths.

Run: ``streamlit run dashboard/server.py`` (same options and ``-- --artifacts DIR`` as ``app.py``).
``streamlit run`` finds the ``app`` below and serves ``app.py`` with it.

The fix: Streamlit answers every unknown path with its page (``index.html``), whose scripts load from
``./static/``. At ``/nope`` that resolves to ``/static/`` and Streamlit shows its "Page not found" dialog
over the default page; at ``/nope/deeper`` it resolves to ``/nope/static/``, which is the page again,
not a script, and the browser shows a blank page. :class:`NestedPathRedirect` sends such an address
to a one-segment one (``/nope-deeper``, query kept), where the "Page not found" dialog shows.
``.streamlit/config.toml`` has no option for this, and the router cannot help: it never runs.

It also serves the Map's payload over plain HTTP, cacheable, instead of inside every session's websocket
(:class:`dashboard.components.payloads.MapPayloadRoute`, answered before the redirect above sees its path).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `streamlit run` only adds dashboard/

import streamlit as st  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from starlette.responses import RedirectResponse  # noqa: E402

from dashboard.components.payloads import MapPayloadRoute  # noqa: E402

#: First path segments of Streamlit's own routes (API, assets, media, components, auth, app files).
STREAMLIT_ROUTES = frozenset({"_stcore", "static", "media", "component", "bidi-components", "app", "auth"})


def flat_path(path: str, base: str = "") -> str | None:
    """The one-segment path to send ``path`` to, or None when it is served as it is.

    ``base`` is the app's own prefix (``server.baseUrlPath``).

    >>> flat_path("/nope/deeper"), flat_path("/neighbours"), flat_path("/neighbours/_stcore/health")
    ('/nope-deeper', None, None)
    """
    prefix = "/" + base.strip("/") if base.strip("/") else ""
    if prefix and not path.startswith(prefix + "/"):
        return None
    segments = [s for s in path[len(prefix):].split("/") if s]
    # a Streamlit route under a page (``/neighbours/_stcore/health``) is the front end probing for the
    # app's base path: Streamlit's 404 there is the answer it needs
    if len(segments) < 2 or STREAMLIT_ROUTES.intersection(segments):
        return None
    return f"{prefix}/{'-'.join(segments)}"


class NestedPathRedirect:
    """ASGI middleware: a GET of an unknown nested path is redirected (302) by :func:`flat_path`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            target = flat_path(scope["path"], st.get_option("server.baseUrlPath"))
            if target is not None:
                query = scope.get("query_string", b"").decode("latin-1")
                await RedirectResponse(target + (f"?{query}" if query else ""), status_code=302)(scope, receive, send)
                return
        await self.app(scope, receive, send)


app = st.App("app.py", middleware=[Middleware(MapPayloadRoute, base=lambda: st.get_option("server.baseUrlPath")),
                                   Middleware(NestedPathRedirect)])
