"""The one artifact loader of the dashboard: finds what was built, loads it once, caches it.

Everything is loaded once per server process and shared by all sessions (``st.cache_resource``):
tables, memory-mapped arrays, Annoy indices. A table is handed out as a shallow copy, which pandas'
Copy-on-Write makes safe: a page that adds or changes a column changes its own copy, never the
shared one. (``st.cache_data`` would unpickle a fresh copy for every call: with many readers the
token tables alone cost each page run a vocabulary-sized copy and most of its time; measured with
benchmarks/load.py.) Cache keys include the file's sha256 from the manifest, so a rebuilt artifact
is picked up without restarting the app.

A file a model does not have (its step failed or was skipped) loads as ``None``; a corrupt one
raises :class:`precompute.contract.store.ArtifactError`, whose message names the rebuild command.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import remote
from precompute.contract import conventions, progress, schema
from precompute.contract.categories import UNKNOWN, display_category

#: Token-table columns the pages need (the full table also holds flags only the build uses).
from precompute.contract.naming import comparison_task, default_root
from precompute.contract.store import ArtifactDir, ArtifactError

#: Token-table columns the pages need (the full table also holds flags only the build uses).
TOKEN_VIEW_COLUMNS = ["id", "text", "is_special", "is_zero", "category", conventions.category_column(conventions.PAPER),
                      "language", "frequency_decile", "norm", "gloss", "concept"]


def configured_root(argv: list[str] | None = None) -> str:
    """``--artifacts DIR|URL`` after ``streamlit run dashboard/app.py --``, else $HYPERPOLYGLOT_ARTIFACTS or
    ./artifacts, as given (a directory, or the http(s) URL of a published bundle)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--artifacts")
    known, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    return known.artifacts or os.environ.get(schema.ARTIFACTS_ENV) or str(default_root())


#: Bundles synced by this server process, by URL: a bundle is fetched once, whichever session comes first.
_SYNCED: dict[str, remote.Background] = {}
_SYNC_LOCK = threading.Lock()
#: Seconds without a byte after which a page stops waiting for the sync and shows what the cache holds.
PATIENCE_SECONDS = 5.0


def artifact_root(argv: list[str] | None = None) -> Path:
    """The local directory the dashboard reads: the configured one, or the cache of a bundle URL.

    A URL is synced once per server process, in the background (:class:`remote.Background`): a page shows
    its progress while bytes arrive, and once the host stalls, what the cache already holds. What could not
    be fetched is said on every page. When no index can be had at all, the page says what failed and how to
    fix it, and stops.
    """
    value = configured_root(argv)
    if not remote.is_url(value):
        return Path(value)
    with _SYNC_LOCK:  # only to start one sync: no session waits on another's page
        if value not in _SYNCED:
            _SYNCED[value] = remote.Background(value)
    job = _SYNCED[value]
    if not job.finished.is_set():
        bar = st.progress(0.0, text="Fetching the published artifacts …")
        while not job.finished.wait(0.2) and not job.stalled(PATIENCE_SECONDS):
            bar.progress(job.done / max(job.total, 1), text=f"Fetching the published artifacts: {job.what} "
                                                           f"({job.done / 2**20:,.0f} of {job.total / 2**20:,.0f} MiB)")
        bar.empty()
    if job.error:
        st.error(f"The artifacts cannot be loaded: {job.error}", icon=":material/cloud_off:")
        st.stop()
    report = job.report
    if report is None:
        st.info(f"The host of the published artifacts is slow to send them ({job.done / 2**20:,.0f} of "
                f"{job.total / 2**20:,.0f} MiB so far): the pages show what has arrived; reload later for the rest.",
                icon=":material/cloud_sync:")
        return job.root
    if report.offline:
        st.info(report.offline, icon=":material/cloud_off:")
    if report.failed:
        with st.expander(f"{len(report.failed)} published file(s) could not be fetched; the pages that need "
                         "them say so", icon=":material/warning:"):
            st.markdown("\n".join(f"- `{path}`: {why}" for path, why in sorted(report.failed.items())))
    return report.root


def _hosted(info: ArtifactInfo) -> remote.Background | None:
    """The sync whose cache ``info`` lies in, or None for a local artifact root."""
    return next((job for job in _SYNCED.values() if info.path.is_relative_to(job.root)), None)


def is_hosted(info: ArtifactInfo) -> bool:
    """Whether ``info`` comes from a published bundle (its reader cannot run a build)."""
    return _hosted(info) is not None


def _for_hosted_readers(info: ArtifactInfo, name: str, error: ArtifactError) -> ArtifactError:
    """``error`` as a reader of a hosted dashboard can use it: no server path, no command they cannot run;
    who can fix it (the dashboard's host) and how. Unchanged for a local root."""
    job = _hosted(info)
    if job is None:
        return error
    relative = f"{info.path.relative_to(job.root).as_posix()}/{name}"
    why = (job.report.failed.get(relative) if job.report else None)
    if not (info.path / name).exists():
        if job.report is None:
            return ArtifactError(f"{relative} has not arrived yet from the published bundle; reload the page in "
                                 "a while.")
        return ArtifactError(f"{relative} could not be fetched from the published bundle ({why or 'missing'}). "
                             "Only the dashboard's host can fix this: check that the bundle host serves the file "
                             "(publish the bundle again if it lacks it), then restart the dashboard. The other "
                             "figures are unaffected.")
    detail = re.split(r"\. (?:Rebuild|Build it):", str(error))[0].replace(str(info.path), info.slug)
    return ArtifactError(f"{relative} in the published bundle is unusable ({detail}). Only the dashboard's host "
                         "can fix this: publish the bundle again from a build that `verify` passes, then restart "
                         "the dashboard. The other figures are unaffected.")


@contextmanager
def _said_to_readers(info: ArtifactInfo, name: str) -> Iterator[None]:
    """Re-raise an ArtifactError loading ``name`` as :func:`_for_hosted_readers` words it."""
    try:
        yield
    except ArtifactError as e:
        raise _for_hosted_readers(info, name, e) from None


@dataclass(frozen=True)
class ArtifactInfo:
    """One artifact directory (a model's or a comparison's) and its manifest."""

    slug: str
    path: Path
    manifest: dict[str, Any]

    @property
    def params(self) -> dict[str, Any]:
        return self.manifest.get("params", {})

    def has(self, name: str) -> bool:
        """Whether the build wrote ``name``. A listed file that has gone missing since is not absent:
        loading it raises ArtifactError ("missing", with the rebuild command)."""
        return name in self.manifest.get("files", {})


@dataclass(frozen=True)
class ModelInfo(ArtifactInfo):
    """A built model: its directory and manifest (what the Overview card shows)."""

    @property
    def model(self) -> dict[str, Any]:
        return self.manifest.get("model", {})

    @property
    def label(self) -> str:
        """How charts and tables name the model: its id (``google/mt5-small``), else its slug."""
        return str(self.model.get("id") or self.slug)

    @property
    def diversity_ks(self) -> list[int]:
        return [int(k) for k in self.params.get("diversity_ks", schema.DIVERSITY_KS)]

    @property
    def stored_k(self) -> int:
        shape = self.manifest.get("files", {}).get(schema.NEIGHBORS, {}).get("shape")
        return int(shape[1]) if shape else int(self.params.get("k", 0))

    @property
    def source_text(self) -> str:
        """Where the weights come from, as a reader can fetch them again: the package and its version, the
        hub id at its commit, or the matrix's hash. Never ``model.origin``, the path on the build machine.

        >>> ModelInfo("m", Path("."), {"model": {"source": "builtin", "package": "wordllama", "revision": "0.3"}}
        ...           ).source_text
        'PyPI wordllama 0.3'
        """
        model = self.model
        source, revision = model.get("source"), model.get("revision")
        if source == "builtin":
            return f"PyPI {model.get('package', '?')} {revision or '(version unknown)'}"
        if source == "huggingface":
            return f"hub {model.get('id', self.slug)} @ {revision or '(revision unknown)'}"
        if source == "matrix":
            return f"matrix ({revision or 'hash unknown'})"
        return f"{source or 'unknown source'}" + (f" @ {revision}" if revision else "")

    def provenance(self) -> dict[str, Any]:
        """What a downloaded table needs to be traced back: model, revision, parameters, build."""
        return {
            "model": self.model.get("id", self.slug),
            "revision": self.model.get("revision"),
            "source": self.model.get("source"),
            "from": self.source_text,
            "params": self.params,
            "built_at": self.manifest.get("built_at"),
            "tool_version": self.manifest.get("tool_version"),
        }


@dataclass(frozen=True)
class ComparisonInfo(ArtifactInfo):
    """A comparison of several models: its directory and manifest."""

    @property
    def models(self) -> list[str]:
        return [str(m) for m in self.manifest.get("models", [])]

    @property
    def neighbor_k(self) -> int:
        """The k of the comparison's Jaccard@k: the build's k, lowered (with a manifest note) to one
        less than the number of shared tokens when the shared vocabulary is tiny."""
        k = int(self.params.get("k", 0))
        shared = self.manifest.get("files", {}).get(schema.SHARED_TOKENS, {}).get("rows")
        return min(k, int(shared) - 1) if shared else k


@dataclass(frozen=True)
class Catalog:
    """Everything in the artifact root: usable models and comparisons, and the broken ones with why."""

    root: Path
    models: dict[str, ModelInfo] = field(default_factory=dict)
    comparisons: dict[str, ComparisonInfo] = field(default_factory=dict)
    broken: list[tuple[str, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.models


def rebuild_command(info: ArtifactInfo) -> str:
    """The command that rebuilds ``info``'s directory, as its build recorded it (precompute.contract.rebuild)."""
    return ArtifactDir(info.path, info.manifest).rebuild_hint


def _build_state(root: Path) -> tuple[tuple[str, str], ...] | None:
    """Each task's state in a running build's progress file (:mod:`precompute.contract.progress`), or None when no
    build is running (none started, finished, or its process died)."""
    build = progress.read(root)
    if build is None or not build.running():
        return None
    return tuple((t.name, t.state) for t in build.tasks)


def being_built(root: Path) -> set[str]:
    """The tasks a running build has not finished: model slugs and ``comparisons/<name>``."""
    return {name for name, state in _build_state(root) or () if state in ("waiting", "running")}


def _half_built(name: str, manifest: dict[str, Any], unfinished: set[str]) -> bool:
    """Whether a directory is still being written for the first time: its task is not done and no build has ever
    finished it (``built_at``). A directory an earlier build finished stays listed while a build checks or
    updates it: every file is replaced atomically and the manifest after it, so a reader sees old or new."""
    return name in unfinished and "built_at" not in manifest


def scan(root: Path) -> Catalog:
    """List the model and comparison directories under ``root``; a broken manifest is reported, not fatal.
    A directory a running build is writing for the first time is left out until its task is done."""
    catalog = Catalog(Path(root))
    if not catalog.root.is_dir():
        return catalog
    unfinished = being_built(catalog.root)
    for path in sorted(p for p in catalog.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if path.name == schema.COMPARISONS_DIR:
            for cmp_path in sorted(p for p in path.iterdir() if p.is_dir()):
                task = comparison_task(cmp_path.name)  # its name in the build's progress
                try:
                    d = ArtifactDir.open(cmp_path)
                except ArtifactError as e:
                    if task not in unfinished:
                        catalog.broken.append((f"comparison {cmp_path.name}", str(e)))
                    continue
                if not _half_built(task, d.manifest, unfinished):
                    catalog.comparisons[cmp_path.name] = ComparisonInfo(cmp_path.name, cmp_path, d.manifest)
            continue
        if not (path / schema.MANIFEST).exists():
            continue
        try:
            d = ArtifactDir.open(path)
        except ArtifactError as e:
            if path.name not in unfinished:
                catalog.broken.append((path.name, str(e)))
            continue
        if not _half_built(path.name, d.manifest, unfinished):
            catalog.models[path.name] = ModelInfo(path.name, path, d.manifest)
    return catalog


@st.cache_resource(ttl=30, show_spinner=False, max_entries=16)
def _scanned(root: str, build_state: tuple[tuple[str, str], ...] | None) -> Catalog:
    return scan(Path(root))


def latest_catalog(root: str) -> Catalog:
    """The cached :func:`scan`: re-scanned every 30 s (models built by other means appear), and whenever a task
    of a running build changes state (a model is listed as soon as its steps are done). Checking costs one read
    of the small progress file."""
    return _scanned(root, _build_state(Path(root)))


#: Session key of the catalog the router took at the top of this run (:func:`take_catalog`).
_RUN_CATALOG = "_hp_catalog"


def take_catalog(root: str) -> Catalog:
    """The latest catalog, held for this run: the router calls it once, first, so that the sidebar it draws and
    the page it then runs see the same models even when a build finishes one in between."""
    st.session_state[_RUN_CATALOG] = taken = latest_catalog(root)
    return taken


def catalog(root: str) -> Catalog:
    """The catalog this run shows: the one the router took (:func:`take_catalog`), or the latest when none did
    (a page run on its own) or the router took another root's."""
    taken = st.session_state.get(_RUN_CATALOG)
    return taken if isinstance(taken, Catalog) and str(taken.root) == str(Path(root)) else latest_catalog(root)


def _dir(info: ArtifactInfo) -> ArtifactDir:
    return ArtifactDir(info.path, info.manifest)


def _sha(info: ArtifactInfo, name: str) -> str:
    return str(info.manifest.get("files", {}).get(name, {}).get("sha256"))


@st.cache_resource(show_spinner="Loading…", max_entries=256)
def _table(_info: ArtifactInfo, path: str, name: str, sha: str, columns: tuple[str, ...] | None,
           convention: str | None) -> pd.DataFrame:
    df = _dir(_info).load_table(name, list(columns) if columns else None)
    column = schema.CONVENTION[0]
    return df[df[column] == convention].reset_index(drop=True) if convention and column in df else df


def table(info: ArtifactInfo, name: str, columns: list[str] | None = None,
          convention: str | None = None) -> pd.DataFrame | None:
    """A parquet artifact (the shared table, as a Copy-on-Write copy), or None when this build has none.
    Raises ArtifactError when it is corrupt.

    With ``convention``, only that convention's rows of a table with a ``convention`` column (a table
    without one is returned whole): selected once and shared, not at every run of every session.
    """
    if not info.has(name):
        return None
    present = info.manifest["files"][name].get("columns")
    if columns and convention:
        columns = [*columns, schema.CONVENTION[0]]
    cols = tuple(c for c in columns if present is None or c in present) if columns else None
    with _said_to_readers(info, name):
        return _table(info, str(info.path), name, _sha(info, name), cols, convention).copy(deep=False)


@st.cache_resource(show_spinner=False, max_entries=32)
def _tokens(_info: ModelInfo, path: str, sha: str, convention: str | None) -> pd.DataFrame:
    df = table(_info, schema.TOKENS, TOKEN_VIEW_COLUMNS)
    chosen = conventions.category_column(convention) if convention else "category"
    if chosen in df:  # a build from before the paper's categories has only the refined ones
        df = df.assign(category=df[chosen])
    return df.assign(shown_category=_shown_categories(df))


def tokens(info: ModelInfo, convention: str | None = None) -> pd.DataFrame | None:
    """The token table with a ``shown_category`` column: the category as charts colour it.

    Under ``convention`` (precompute.contract.conventions), ``category`` and ``shown_category`` are that
    convention's (``category_paper`` of the file under the paper's), so that a page filters and shows
    one convention's categories; without, ``category`` is the file's (refined). Computed once per
    convention, shared like :func:`table`.
    """
    if not info.has(schema.TOKENS):
        return None
    with _said_to_readers(info, schema.TOKENS):
        return _tokens(info, str(info.path), _sha(info, schema.TOKENS), convention).copy(deep=False)


def _shown_categories(df: pd.DataFrame) -> pd.Series:
    cats = df["category"].astype("string").fillna(UNKNOWN)
    return cats.map({c: display_category(c) for c in pd.unique(cats)}).astype("string")


@st.cache_resource(show_spinner="Mapping the neighbour table…", max_entries=32)
def _array(_info: ModelInfo, path: str, name: str, sha: str) -> np.ndarray:
    return _dir(_info).load_array(name, mmap=True)


def array(info: ModelInfo, name: str) -> np.ndarray | None:
    """A memory-mapped ``.npy`` artifact (neighbours, similarities), or None when absent."""
    if not info.has(name):
        return None
    with _said_to_readers(info, name):
        return _array(info, str(info.path), name, _sha(info, name))


@st.cache_resource(show_spinner="Opening the Annoy index…", max_entries=16)
def _annoy(_info: ModelInfo, path: str, sha: str) -> Any:
    return _dir(_info).load_annoy()


def annoy(info: ModelInfo) -> Any | None:
    """The model's Annoy index (for vector expressions), or None when this build has none."""
    if not info.has(schema.ANNOY):
        return None
    with _said_to_readers(info, schema.ANNOY):
        return _annoy(info, str(info.path), _sha(info, schema.ANNOY))


def annoy_search_k(info: ModelInfo) -> int:
    """The search_k the build tuned for its recall target (-1: Annoy's default)."""
    return int(info.manifest.get("annoy", {}).get("search_k") or -1)


@st.cache_resource(show_spinner="Loading the tokenizer…", max_entries=16)
def _tokenizer(_info: ModelInfo, path: str, sha: str) -> Any:
    return _dir(_info).load_tokenizer()


def tokenizer(info: ModelInfo) -> Any | None:
    """The model's own tokenizer (a ``precompute.contract.tokenizer.Encoder``; kind "none" when the model has none),
    or None when this build predates the tokenizer step. Loaded once, shared by every session."""
    if not info.has(schema.TOKENIZER):
        return None
    with _said_to_readers(info, schema.TOKENIZER):
        return _tokenizer(info, str(info.path), _sha(info, schema.TOKENIZER))


@st.cache_resource(show_spinner=False, max_entries=32)
def _text_index(_info: ModelInfo, path: str, sha: str) -> dict[str, int]:
    df = table(_info, schema.TOKENS, ["id", "text", "is_special"])
    df = df[~df["is_special"].to_numpy(bool)]
    # the first id of a text wins, like the tokenizer's own lookup
    return dict(zip(df["text"].astype(str).iloc[::-1], df["id"].astype(int).iloc[::-1], strict=True))


def text_index(info: ModelInfo) -> dict[str, int]:
    """Token text -> id (special tokens left out), for lookups by text."""
    if not info.has(schema.TOKENS):
        return {}
    return _text_index(info, str(info.path), _sha(info, schema.TOKENS))
