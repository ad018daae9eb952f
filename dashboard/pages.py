"""The dashboard's pages, declared once: each page file says what it is, the router and links read it.

Every file in ``dashboard/app_pages/`` starts with a module-level literal::

    PAGE = {"title": "Map", "url_path": "map", "icon": ":material/scatter_plot:", "order": 20,
            "summary": "each model's vocabulary in 2-D ...", "needs": ("MAP", "TOKENS")}

:func:`discover` reads that literal with :func:`ast.literal_eval` *without running the page* (a
page is a Streamlit script: importing it would draw it), so adding a page is adding one file. The
router (``app.py``) builds ``st.navigation`` from it, the Overview lists the pages with their
``summary``, share links and cross-page links find a page's URL path by its name (the file's stem),
and the tests loop over it. ``needs`` names every artifact the page reads (a test runs each page and
fails on a read it did not declare): a built-in artifact by its name in :mod:`precompute.contract.schema`
(``"MAP"`` for ``map.parquet``), or any artifact by its file name (``"toy.parquet"``), so that a table an
analysis module declares for itself needs no other file changed.

``url_path`` ``""`` marks the default page (served at the app's root). A page with
``"fallback": True`` (``build.py``) is shown alone, instead of all others, while the artifact
directory holds no model.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from precompute.contract import schema

#: Where the page files live (the router passes its own copy's directory; tests may pass another).
APP_PAGES = Path(__file__).resolve().parent / "app_pages"
#: Session key of the registry the router uses this run (pages read it through :func:`current`).
_KEY = "_hp_pages"
#: Session key of the URL path of the page being shown.
_SHOWN = "_hp_page"
_REQUIRED = {"title": str, "url_path": str, "icon": str, "order": int, "summary": str}
_OPTIONAL = {"needs": tuple, "fallback": bool}


@dataclass(frozen=True)
class PageSpec:
    """One page as its file declares it."""

    name: str  #: the file's stem, how code refers to the page (``"neighbors"``)
    file: Path
    title: str
    url_path: str  #: "" for the default page
    icon: str
    order: int
    summary: str  #: one line for the Overview's list of pages
    needs: tuple[str, ...] = ()  #: artifact file names (schema constants' values)
    fallback: bool = False


@dataclass(frozen=True)
class Registry:
    """The pages found in one directory: the ordered pages, and the page shown without artifacts."""

    pages: tuple[PageSpec, ...]
    fallback: PageSpec | None

    def __getitem__(self, name: str) -> PageSpec:
        for page in self.pages:
            if page.name == name:
                return page
        raise KeyError(f"no page named {name!r}; pages: {', '.join(p.name for p in self.pages)}")

    @property
    def url_paths(self) -> set[str]:
        return {p.url_path for p in self.pages}


def read_declaration(file: Path) -> dict:
    """The ``PAGE = {...}`` literal of a page file, checked; ValueError naming the file otherwise."""
    tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["PAGE"]:
            try:
                page = ast.literal_eval(node.value)
            except ValueError as e:
                raise ValueError(f"{file}: PAGE must be a literal dict (no names or calls): {e}") from None
            break
    else:
        raise ValueError(f"{file} declares no PAGE = {{...}}: every file in {file.parent.name}/ is a page "
                         f"and needs one (keys: {', '.join([*_REQUIRED, *_OPTIONAL])})")
    if not isinstance(page, dict):
        raise ValueError(f"{file}: PAGE must be a dict, not {type(page).__name__}")
    for key, kind in _REQUIRED.items():
        if not isinstance(page.get(key), kind):
            raise ValueError(f"{file}: PAGE needs {key!r} ({kind.__name__}), got {page.get(key)!r}")
    for key in set(page) - set(_REQUIRED) - set(_OPTIONAL):
        raise ValueError(f"{file}: PAGE has an unknown key {key!r}")
    unknown = [n for n in page.get("needs", ()) if artifact_name(n) is None]
    if unknown:
        raise ValueError(f"{file}: PAGE needs {unknown}, which are neither names in precompute.contract.schema "
                         f"nor artifact file names (name.parquet, .npy, .json or .ann)")
    return page


#: An artifact's file name as a page may name it in ``needs``.
_FILE_NAME = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.(?:parquet|npy|json|ann)")


def artifact_name(need: str) -> str | None:
    """The artifact file a ``needs`` entry names: a schema constant's value, or the file name itself."""
    value = getattr(schema, need, None)
    if isinstance(value, str) and need.isupper():
        return value
    return need if _FILE_NAME.fullmatch(need) else None


@functools.cache
def discover(directory: Path = APP_PAGES) -> Registry:
    """Every page file in ``directory``, ordered by ``order``; duplicate URL paths are an error."""
    specs = []
    for file in sorted(Path(directory).glob("*.py")):
        page = read_declaration(file)
        specs.append(PageSpec(
            name=file.stem, file=file, title=page["title"], url_path=page["url_path"], icon=page["icon"],
            order=page["order"], summary=page["summary"],
            needs=tuple(artifact_name(n) for n in page.get("needs", ())), fallback=page.get("fallback", False)))
    fallbacks = [s for s in specs if s.fallback]
    pages = sorted((s for s in specs if not s.fallback), key=lambda s: (s.order, s.name))
    paths = [p.url_path for p in pages]
    if len(fallbacks) > 1 or len(set(paths)) != len(paths) or paths.count("") != 1:
        raise ValueError(f"{directory}: pages need distinct URL paths, exactly one of them '' (the default), "
                         f"and at most one fallback; found paths {paths}, fallbacks {[s.name for s in fallbacks]}")
    return Registry(tuple(pages), fallbacks[0] if fallbacks else None)


def st_page(spec: PageSpec) -> st.Page:
    """The ``st.Page`` of a declared page (the default page has no URL path of its own)."""
    return st.Page(spec.file, title=spec.title, icon=spec.icon, url_path=spec.url_path or None,
                   default=spec.url_path == "" or spec.fallback)


def route(registry: Registry, show_fallback: bool) -> st.navigation:
    """Build the navigation from ``registry`` and remember it (and the page shown) for :func:`current`."""
    st.session_state[_KEY] = registry
    shown = [registry.fallback] if show_fallback and registry.fallback else list(registry.pages)
    navigation = st.navigation([st_page(s) for s in shown])
    st.session_state[_SHOWN] = navigation.url_path
    return navigation


def current() -> Registry:
    """The registry the router uses (the default directory's when no router ran, e.g. a bare page)."""
    return st.session_state.get(_KEY) or discover()


def shown_url_path() -> str:
    """The URL path of the page being drawn ("" for the default page)."""
    return str(st.session_state.get(_SHOWN, ""))
