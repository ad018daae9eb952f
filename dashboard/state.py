"""The view state that lives in the URL: parameter names (defined once), parsing, validation, carrying.

Every widget whose value belongs in a shareable link is bound through :func:`choose`, which

1. takes the value from the widget if it is already on screen, else from the URL, else from the
   copy kept in ``st.session_state`` (Streamlit clears the query string when the page changes),
   else the default;
2. validates it against the options the page offers *now* and warns (``st.warning``) about
   anything it had to drop — an unknown model, ``k=-3``, ``cats=<script>`` — keeping the nearest
   valid state instead of failing;
3. writes the value back to ``st.query_params`` (omitted when it equals the default, to keep links
   short), so the address bar always reproduces the view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import streamlit as st

#: Longest raw parameter value we look at; anything longer is nonsense, not a token.
MAX_RAW_LENGTH = 200
#: Session key of the copy of all parameter values, carried across page switches.
_CARRIED = "_hp_carried_params"


@dataclass(frozen=True)
class Param:
    """One URL query parameter: its name in the address bar and whether it holds a list."""

    name: str
    multi: bool = False

    @property
    def key(self) -> str:
        """The ``st.session_state`` key of the widget bound to this parameter."""
        return f"qp_{self.name}"


# ---- the parameter names: the one place they are spelled ------------------------------------
MODELS = Param("models", multi=True)
CATEGORIES = Param("cats", multi=True)
K = Param("k")
QUERY = Param("q")
LAYOUT = Param("layout")
COLOR = Param("color")
MAX_POINTS = Param("points")
AXIS = Param("axis")
PROBE = Param("probe")
METRIC = Param("metric")
SCOPE = Param("scope")
COMPARISON = Param("cmp")
MODEL_A = Param("a")
MODEL_B = Param("b")
EXAMPLE = Param("example")

#: Parameters the sidebar owns, carried to every page.
SHARED: tuple[Param, ...] = (MODELS, CATEGORIES, K)


def _raw(param: Param) -> list[str] | None:
    """The parameter's strings from the URL, else from the carried copy; None when neither has it."""
    if param.name in st.query_params:
        values = st.query_params.get_all(param.name)
        if param.multi:  # accept both ?models=a&models=b and ?models=a,b
            values = [v for value in values for v in value.split(",")]
        return [v.strip() for v in values if v.strip()]
    carried = st.session_state.get(_CARRIED, {})
    return list(carried[param.name]) if param.name in carried else None


def _display(text: str) -> str:
    shown = text if len(text) <= 40 else text[:40] + "…"
    return repr(shown)


def choose(
    param: Param,
    options: Sequence[Any],
    default: Any,
    to_str: Callable[[Any], str] = str,
    label: str | None = None,
) -> Any:
    """Put a valid value of ``param`` into its widget's session key and the URL; return it.

    ``options`` are the values the widget offers; ``default`` is used (or, for lists, a list) when
    nothing valid is given. Call it *before* drawing the widget with ``key=param.key``.
    """
    label = label or param.name
    by_text = {to_str(o): o for o in options}
    if param.key in st.session_state:  # the widget is on screen: its value wins, options may have changed
        current = st.session_state[param.key]
        if param.multi:
            value = [v for v in (current or []) if to_str(v) in by_text]
        else:
            value = current if to_str(current) in by_text else default
    else:
        raw = _raw(param)
        value = _from_strings(param, raw, by_text, default, label)
    st.session_state[param.key] = value
    publish(param, value, default, to_str)
    return value


def _from_strings(param: Param, raw: list[str] | None, by_text: dict[str, Any], default: Any, label: str) -> Any:
    if raw is None:
        return default
    bad = [r for r in raw if len(r) > MAX_RAW_LENGTH or r not in by_text]
    good = [by_text[r] for r in raw if len(r) <= MAX_RAW_LENGTH and r in by_text]
    if param.multi:
        good = list(dict.fromkeys(good))
        if bad:
            st.warning(
                f"Ignored {label} from the link that this view does not offer: "
                f"{', '.join(_display(b) for b in bad[:5])}" + (" …" if len(bad) > 5 else "")
            )
        if not good and raw:
            return default
        return good
    if bad or len(raw) != 1:
        shown = _display(raw[0]) if raw else "nothing"
        st.warning(f"{label} = {shown} from the link is not available here; showing {default!r} instead.")
        return default
    return good[0]


def publish(param: Param, value: Any, default: Any, to_str: Callable[[Any], str] = str) -> None:
    """Write one value to the URL (dropped when it equals the default) and to the carried copy."""
    carried = st.session_state.setdefault(_CARRIED, {})
    strings = [to_str(v) for v in value] if param.multi else [to_str(value)]
    is_default = value == default or (param.multi and strings == [to_str(v) for v in default])
    if is_default:
        carried.pop(param.name, None)
        if param.name in st.query_params:
            del st.query_params[param.name]
        return
    carried[param.name] = strings
    encoded = ",".join(strings) if param.multi else strings[0]
    if st.query_params.get(param.name) != encoded:
        st.query_params[param.name] = encoded


def set_value(param: Param, value: Any) -> None:
    """Change a bound widget's value from a callback (e.g. a preset button); the URL follows on rerun."""
    st.session_state[param.key] = value


def share_url(page_path: str) -> str:
    """The full link reproducing the current view: the app's address, the page, the query string.

    ``page_path`` is the page's URL path ("" for the default page). The host comes from
    ``st.context.url`` when the browser told us one; otherwise the link is relative.
    """
    try:
        url = st.context.url or ""
    except Exception:  # outside a browser session (tests, bare mode) there is no address
        url = ""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    head, _, last = path.rpartition("/")
    if last in _PAGE_PATHS:
        path = head
    origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
    query = urlencode({k: st.query_params[k] for k in st.query_params}, safe=",")
    link = f"{origin}{path}/{page_path}"
    return f"{link}?{query}" if query else link


#: URL paths of the pages, registered by the router (app.py); used to rebuild a shareable address.
_PAGE_PATHS: set[str] = set()


def register_page_paths(paths: Sequence[str]) -> None:
    _PAGE_PATHS.update(paths)


def choose_text(param: Param, default: str = "", label: str | None = None, max_length: int = MAX_RAW_LENGTH) -> str:
    """Like :func:`choose` for free text (a token or an expression): any text up to ``max_length``.

    Control characters are dropped (they cannot be typed and only confuse lookups); text that
    is too long is cut, with a warning.
    """
    label = label or param.name
    if param.key in st.session_state:
        value = str(st.session_state[param.key] or "")
    else:
        raw = _raw(param)
        value = ",".join(raw) if raw else default
    clean = "".join(ch for ch in value if ch.isprintable() or ch == " ")
    if len(clean) > max_length:
        st.warning(f"The {label} from the link is {len(clean):,} characters long; keeping the first {max_length}.")
        clean = clean[:max_length]
    st.session_state[param.key] = clean
    publish(param, clean, default)
    return clean
