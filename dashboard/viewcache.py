"""One view, computed once: what a page derives from its view, kept for every session that asks for it.

A class opens one shared link at once: fifty sessions run the same page script with the same
parameters. Each run used to select the same rows, aggregate the same tables and build the same
Altair charts (0.1–0.3 s of CPU a run, half of it building and converting charts), and the runs
queued behind each other on the server's one Python. Here a page's heavy parts are computed once per
*view key* and shared:

- the key is the view (the page, the models, categories, k, conventions, the page's own URL
  parameters: :func:`dashboard.ui.view_key`) plus the artifacts' :func:`signature` (every manifest's
  file sha256s and the root), so a model that arrives during a progressive build, or a bundle update,
  makes new keys and the old entries age out;
- memory is bounded: at most ``max_entries`` values, least recently used dropped first;
- sessions asking for the same key at once wait for the first one's computation instead of all
  computing it (a burst of one link computes it once);
- what a computation has to tell the reader travels with its value (:class:`dashboard.ui.Notes`), so that
  every session shown it is told; a value that tells of a file that could not be read is not kept.

A cached value is shared, never copied: what is cached must not be changed by its users (DataFrames
are safe under pandas' Copy-on-Write; charts and their Vega-Lite dicts are only read).
``HYPERPOLYGLOT_VIEW_CACHE=0`` turns the cache off (every run computes afresh: the benchmark's "before").
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

#: Environment variable that turns the view cache off ("0"); on otherwise.
ENV = "HYPERPOLYGLOT_VIEW_CACHE"
#: Views kept at most. An entry is a page part of one view (a few tables of category aggregates, a chart and
#: its Vega-Lite dict: tens of kB, a table of 500 listed tokens a few hundred kB), so 2,000 stay well under
#: 200 MB even if every one were a large table. A few entries belong to the artifacts, not to a view: a loaded
#: table (a reference to the loader's shared one: no memory of its own) and a model's token texts as Python
#: strings (about 20 MB for 250,000 tokens), used by every view.
MAX_ENTRIES = 2_000

T = TypeVar("T")


def signature(manifests: Iterable[tuple[str, dict[str, Any]]]) -> str:
    """A short hash of the artifacts a view is computed from: each directory's path, its files' sha256s and
    its build time.

    ``manifests``: (directory, manifest) pairs. A file rebuilt, a model added or removed, a bundle
    synced anew, or another root, all give another signature::

        signature([("/a/m", {"files": {"x.parquet": {"sha256": "ab"}}})])  # '…' (16 hex digits)
    """
    h = hashlib.sha256()
    for path, manifest in sorted(manifests, key=lambda pm: pm[0]):
        h.update(path.encode("utf-8", "surrogateescape") + b"\0")
        for name, entry in sorted((manifest.get("files") or {}).items()):
            sha = entry.get("sha256") if isinstance(entry, dict) else None
            h.update(f"{name}\0{sha}\0".encode("utf-8", "surrogateescape"))
        h.update(f"{manifest.get('built_at')}\1".encode())
    return h.hexdigest()[:16]


@dataclass
class Stats:
    """How the cache was used since it started: hits, computations, entries dropped for the bound."""

    hits: int = 0
    computed: int = 0
    evicted: int = 0


class ViewCache:
    """A bounded, thread-safe map from view keys to computed values; one computation per key at a time.

    ``get(key, compute)`` returns the cached value of ``key`` (the same object every time), or computes
    it with ``compute()`` (once, however many threads ask at the same time) and keeps it. An exception
    in ``compute`` reaches its caller and nothing is kept: a thread that waited on it computes anew::

        cache = ViewCache(max_entries=2)
        cache.get(("diversity", "k=10"), lambda: expensive())
    """

    def __init__(self, max_entries: int = MAX_ENTRIES, enabled: bool = True) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.max_entries = max_entries
        self.enabled = enabled
        self.stats = Stats()
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._pending: dict[Hashable, threading.Lock] = {}  # key -> the lock its computing thread holds

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: Hashable, compute: Callable[[], T], keep: Callable[[T], bool] | None = None) -> T:
        """The value of ``key``, computed by ``compute()`` when absent; ``keep(value)`` False: returned but not
        kept (a result that told of a file that could not be read, which a later run may read)."""
        if not self.enabled:
            return compute()
        while True:
            with self._lock:
                if key in self._values:
                    self._values.move_to_end(key)
                    self.stats.hits += 1
                    return self._values[key]
                running = self._pending.get(key)
                if running is None:  # this thread computes it
                    running = self._pending[key] = threading.Lock()
                    running.acquire()
                    break
            with running:  # another thread computes it: wait for it, then look again
                pass
        try:
            value = compute()
            with self._lock:
                self.stats.computed += 1
                if keep is not None and not keep(value):
                    return value
                self._values[key] = value
                while len(self._values) > self.max_entries:
                    self._values.popitem(last=False)
                    self.stats.evicted += 1
            return value
        finally:
            with self._lock:
                del self._pending[key]
            running.release()

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


#: The server's one view cache, shared by every session.
CACHE = ViewCache(enabled=os.environ.get(ENV, "1").strip() not in {"0", "false", "off", "no"})
