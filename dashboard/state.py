"""The view state that lives in the URL: parameter names (defined once) and what Streamlit's binding lacks.

Every widget whose value belongs in a shareable link is drawn with ``**state.bind(param, ...)``:
Streamlit's own ``bind="query-params"`` (Streamlit 1.67) then does the binding. The widget key is
the parameter's name; the URL follows the widget, a link sets it, a value the widget does not
offer is dropped, a default is left out of the URL, and list values repeat the parameter
(``?cats=LATIN&cats=CYRILLIC``). The sidebar's widgets belong to the router's script, so their
parameters stay in the URL on every page; a page's own widgets keep their value for the session
(``persist_state="session"``) and write it back when their page is shown again.

What this module adds, because Streamlit does not do it:

- a visible warning (``st.warning``) naming a link's value that had to be dropped (``?k=-3``,
  ``?models=nope``, ``?cats=<script>``); Streamlit drops it silently;
- links shared before the binding wrote lists comma-separated (``?cats=LATIN,CYRILLIC``): the router
  calls :func:`upgrade_comma_lists` to reopen them once in the repeated form;
- the full shareable address of a view (:func:`share_url`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import streamlit as st

#: Longest link value a warning quotes in full; longer ones are shown cut.
SHOWN_LENGTH = 40
#: Longest link the app writes or offers: browsers, proxies and chat tools cut or refuse longer ones.
#: (A link's longer text is cut to :data:`MAX_TEXT_LENGTH` with a warning. The server refuses an address
#: past about 16 KiB with HTTP 400 before the app runs, when the request arrives in pieces: uvicorn's h11
#: parser buffers at most 16 KiB of an incomplete request head.)
MAX_LINK_LENGTH = 2_000
#: Longest free text (a token or an expression) the query box takes and a link may set. Percent-encoded
#: in the address bar a character takes up to 12 (4 UTF-8 bytes), so 100 of them stay under 1,200 of the
#: :data:`MAX_LINK_LENGTH`, leaving the rest to the address, the page and the other parameters.
MAX_TEXT_LENGTH = 100


@dataclass(frozen=True)
class Param:
    """One URL query parameter: its name in the address bar (and its widget's key); whether it is a list."""

    name: str
    multi: bool = False


# ---- the parameter names: the one place they are spelled ------------------------------------
MODELS = Param("models", multi=True)
CATEGORIES = Param("cats", multi=True)
K = Param("k")
QUERY = Param("q")
LAYOUT = Param("layout")
COLOR = Param("color")
# the Map page: what it shows, the searched token, and the view its WebGL panels report back
MAP_MODE = Param("mapmode")
FIND = Param("find")
SELECTION = Param("sel")
ISOLATE = Param("only")
ZOOM = Param("zoom", multi=True)
DIFFERING = Param("differ")
AXIS = Param("axis")
METRIC = Param("metric")
SCOPE = Param("scope")
COMPARISON = Param("cmp")
MODEL_A = Param("a")
MODEL_B = Param("b")
CONVENTION = Param("conv")
SHARED_VOCABULARY = Param("shared")
# the Tour page: which of the poster's claims is shown
STEP = Param("step")


def example(slug: str) -> Param:
    """The Meaning page's example token of one model (one parameter per model)."""
    return Param(f"example_{slug}")


#: List parameters: the ones old links may spell comma-separated.
LISTS: tuple[Param, ...] = (MODELS, CATEGORIES)


#: Session key of the query parameters the session was opened with: the only values "from the link".
OPENING_LINK_KEY = "_hp_opening_link"


def from_the_link(param: Param, value: str) -> bool:
    """Whether ``value`` of ``param`` came in the address the session was opened with (a shared link, a
    bookmark), not from this session (typed in a box, set by a button, a page's own link).

    The opening address is recorded by the first call in a session: the router's sidebar binds its
    widgets on every run, the first included, before anything can change the URL.
    """
    if OPENING_LINK_KEY not in st.session_state:
        st.session_state[OPENING_LINK_KEY] = {name: st.query_params.get_all(name) for name in st.query_params}
    return value in st.session_state[OPENING_LINK_KEY].get(param.name, [])


def _shown(text: str) -> str:
    return repr(text if len(text) <= SHOWN_LENGTH else text[:SHOWN_LENGTH] + "…")


def warn_dropped(param: Param, options: Sequence[Any], label: str) -> None:
    """Warn about the values of ``param`` in the link that its widget will drop (not among ``options``).

    Only while the widget is not yet on screen: afterwards the URL follows the widget and holds
    nothing it does not offer.
    """
    from_the_link(param, "")  # records the opening link on a session's first run
    if param.name in st.session_state or param.name not in st.query_params:
        return
    offered = {str(o) for o in options}
    bad = [v for v in st.query_params.get_all(param.name) if v not in offered]
    if not bad:
        return
    where = " from the link" if all(from_the_link(param, b) for b in bad) else ""
    if param.multi:
        st.warning(f"Ignored {label}{where} that this view does not offer: "
                   + ", ".join(_shown(b) for b in bad[:5]) + (" …" if len(bad) > 5 else ""))
    else:
        st.warning(f"{label} = {_shown(bad[0])}{where} is not available here; showing the default instead.")


def bind(param: Param, options: Sequence[Any], label: str | None = None) -> dict[str, Any]:
    """Keyword arguments that bind a widget to ``param`` (after warning about link values it will drop).

    ``options`` are the values the widget offers, as its URL spells them (``str`` of each, the
    widget has no ``format_func``)::

        st.selectbox("Layout", LAYOUTS, **state.bind(state.LAYOUT, LAYOUTS))
    """
    warn_dropped(param, options, label or param.name)
    return {"key": param.name, "bind": "query-params", "persist_state": "session"}


def bind_text(param: Param, label: str | None = None) -> dict[str, Any]:
    """Like :func:`bind` for free text (a token or an expression), at most :data:`MAX_TEXT_LENGTH` characters.

    The box refuses more as they are typed or pasted (``max_chars``), so a long text never reaches the
    address bar; a longer text in the address is cut, with a warning that says "from the link" only when
    the session was opened with it (:func:`from_the_link`), not when this session put it there.
    """
    from_the_link(param, "")  # records the opening link on a session's first run
    if param.name not in st.session_state and param.name in st.query_params:
        text = st.query_params[param.name]
        if len(text) > MAX_TEXT_LENGTH:
            where = " from the link" if from_the_link(param, text) else ""
            st.warning(f"The {label or param.name}{where} is {len(text):,} characters long, more than the "
                       f"{MAX_TEXT_LENGTH} the box takes; keeping the first {MAX_TEXT_LENGTH}.")
            set_value(param, text[:MAX_TEXT_LENGTH])
    return {"key": param.name, "bind": "query-params", "persist_state": "session", "max_chars": MAX_TEXT_LENGTH}


def value(param: Param, default: Any = None) -> Any:
    """A bound widget's current value (its widget must have been drawn in this run or kept for the session)."""
    return st.session_state.get(param.name, default)


def set_value(param: Param, new: Any) -> None:
    """Change a bound widget's value from a callback (e.g. a preset button); the URL follows."""
    st.session_state[param.name] = new


def upgrade_comma_lists(page: Any) -> None:
    """Reopen ``page`` once with old links' comma-separated lists as repeated parameters.

    Call before any widget is drawn. ``?cats=LATIN,CYRILLIC`` (how links were shared before the
    binding) becomes ``?cats=LATIN&cats=CYRILLIC``, the form Streamlit's binding reads.
    """
    if not any("," in v for p in LISTS for v in st.query_params.get_all(p.name)):
        return
    params = {name: st.query_params.get_all(name) for name in st.query_params}
    for p in LISTS:
        if p.name in params:
            params[p.name] = [v.strip() for value in params[p.name] for v in value.split(",") if v.strip()]
    st.switch_page(page, query_params=params)


def share_url(page_path: str, page_paths: Collection[str]) -> str:
    """The full link reproducing the current view: the app's address, the page, the query string.

    ``page_path`` is the page's URL path ("" for the default page); ``page_paths`` are all pages'
    paths, to find the app's own address under the page's. The host comes from ``st.context.url``
    when the browser told us one; otherwise the link is relative.
    """
    try:
        url = st.context.url or ""
    except Exception:  # outside a browser session (tests, bare mode) there is no address
        url = ""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    head, _, last = path.rpartition("/")
    if last and last in page_paths:
        path = head
    origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
    query = urlencode([(k, v) for k in st.query_params for v in st.query_params.get_all(k)])
    link = f"{origin}{path}/{page_path}"
    return f"{link}?{query}" if query else link
