"""The Map's payload as a cacheable HTTP resource, beside the websocket: packed once, fetched by each browser.

A new session used to receive the whole payload (every token of every panel: 7 MB for the four default
models) inside its websocket messages. Fifty readers of one link were fifty 7 MB messages, each copied and
hashed by Streamlit on the server's one event loop: the one-link burst's p95 was 10 s. Here the payload of
a view is packed and gzip-compressed once (:data:`STORE`, at most :data:`KEPT` payloads), and the map
component is sent only its address, ``_hp/map/<digest>.bin`` under the app's base URL (``digest``: the
sha256 of the payload's bytes). The browser fetches it over plain HTTP, where it is

- immutable: the address names the bytes, so it is sent with ``Cache-Control: public, max-age=31536000,
  immutable`` and an ETag (a returning tab, a second reader behind one cache, reads it without asking);
- compressed once (:data:`LEVEL`), ``Content-Encoding: gzip`` to browsers that accept it, unpacked on the
  fly for others;
- the same in every process: packing is deterministic, so the processes behind a balancer serve one
  address with one content.

:class:`MapPayloadRoute` (an ASGI middleware of ``dashboard/server.py``) answers the address; an address
it does not hold (a server restarted, a payload dropped from the store) gets 404 with a text that says to
reload the page, and the map shows that text. Where no route is installed (``streamlit run
dashboard/app.py``, Community Cloud, Streamlit's AppTest), :data:`STORE` ``.served`` stays False and the
page sends the payload inside the websocket as before.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dashboard import viewcache

#: Where payloads are answered, under the app's base URL path.
ROUTE = "_hp/map/"
#: Payloads kept at most, least recently used dropped first: 6 MB each at most for the four default models
#: (fewer categories, fewer bytes), so under 400 MB. Fewer would be packed again too often: 20 readers on 20
#: different views, then all 20 on one shared link, left that link's payload to be packed again while every
#: reader waited (p95 15 s with 12 kept, against 10 s sending it in every websocket).
KEPT = 64
#: gzip level: 1 compresses the four default models' 7.35 MB payload to 5.99 MB (19 % less) in 0.37 s, once per
#: view; 6 saves 1.4 % more in twice the time. (Its texts are already gzip inside: mapdata.text_column.)
LEVEL = 1
#: A year: the longest max-age caches honour; the address changes whenever the bytes do.
CACHE_CONTROL = "public, max-age=31536000, immutable"
#: An address names its payload by this many hex digits of its sha256.
DIGEST_CHARS = 32
_ADDRESS = re.compile(rf"^{re.escape(ROUTE)}([0-9a-f]{{{DIGEST_CHARS}}})\.bin$")


@dataclass(eq=False)
class Payload:
    """One packed payload as served: its gzip bytes, the length they unpack to, and its address's digest."""

    signature: str
    gzipped: bytes
    size: int
    digest: str

    @property
    def path(self) -> str:
        """The address relative to the app's base URL (the browser resolves it against the page's)."""
        return f"{ROUTE}{self.digest}.bin"

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'


class PayloadStore:
    """The payloads of the views readers asked for, by view signature, each packed once; found by digest.

    ``get(signature, pack)`` packs with ``pack()`` once however many sessions ask at the same time (a
    burst of one link) and keeps the result among the :data:`KEPT` most recent; ``find(digest)`` is what
    the route serves (None once the payload was dropped). ``served`` says whether a route answers (set by
    :class:`MapPayloadRoute`); the page sends the bytes over the websocket otherwise.
    """

    def __init__(self, kept: int = KEPT) -> None:
        self._by_signature = viewcache.ViewCache(max_entries=kept)
        # a payload dropped from the cache above is gone from here too (nobody else holds it)
        self._by_digest: weakref.WeakValueDictionary[str, Payload] = weakref.WeakValueDictionary()
        self.served = False

    def get(self, signature: str, pack: Callable[[], bytes]) -> Payload:
        return self._by_signature.get(signature, lambda: self._make(signature, pack()))

    def _make(self, signature: str, raw: bytes) -> Payload:
        payload = Payload(signature, gzip.compress(raw, LEVEL, mtime=0), len(raw),
                          hashlib.sha256(raw).hexdigest()[:DIGEST_CHARS])
        self._by_digest[payload.digest] = payload
        return payload

    def find(self, digest: str) -> Payload | None:
        return self._by_digest.get(digest)


#: The server's one store of map payloads, shared by every session.
STORE = PayloadStore()


def answer(path: str, headers: dict[str, str], store: PayloadStore = STORE) -> tuple[int, dict[str, str], bytes]:
    """The response to a GET of ``path`` (relative to the base URL, e.g. ``_hp/map/<digest>.bin``) with the
    request's ``headers`` (lower-case names): (status, response headers, body).

    200 with the payload (gzip when the request accepts it), 304 when ``If-None-Match`` names it, 404 with
    a sentence for the reader for an address not held now.
    """
    match = _ADDRESS.match(path)
    payload = store.find(match.group(1)) if match else None
    if payload is None:
        return 404, {"content-type": "text/plain; charset=utf-8", "cache-control": "no-store"}, (
            b"This map data is not on the server any more (it restarted, or the models changed since the page "
            b"was drawn). Reload the page: the map is packed again.")
    common = {"cache-control": CACHE_CONTROL, "etag": payload.etag, "vary": "Accept-Encoding"}
    if payload.etag in {tag.strip() for tag in headers.get("if-none-match", "").split(",")}:
        return 304, common, b""
    if "gzip" in headers.get("accept-encoding", ""):
        return 200, {**common, "content-type": "application/octet-stream", "content-encoding": "gzip"}, \
            payload.gzipped
    return 200, {**common, "content-type": "application/octet-stream"}, gzip.decompress(payload.gzipped)


class MapPayloadRoute:
    """ASGI middleware: answers GET and HEAD under ``<base URL path>/_hp/map/`` by :func:`answer`; passes
    everything else on. ``base`` returns the app's base URL path (``server.baseUrlPath``) when asked."""

    def __init__(self, app: Any, base: Callable[[], str], store: PayloadStore = STORE) -> None:
        self.app, self.base, self.store = app, base, store
        store.served = True

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        prefix = "/" + f"{self.base().strip('/')}/".lstrip("/")
        if scope["type"] != "http" or not scope["path"].startswith(prefix + ROUTE):
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            status, headers, body = 405, {"allow": "GET, HEAD"}, b""
        else:
            request = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            # unpacking for a client without gzip takes ~50 ms: off the event loop every session shares
            status, headers, body = await asyncio.to_thread(answer, scope["path"][len(prefix):], request, self.store)
        if status != 304:
            headers = {**headers, "content-length": str(len(body))}
        await send({"type": "http.response.start", "status": status,
                    "headers": [(k.encode(), v.encode()) for k, v in headers.items()]})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
