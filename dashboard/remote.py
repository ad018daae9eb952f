"""Artifacts from a URL: a published bundle (precompute.contract.bundle) fetched into a local cache, checked.

``HYPERPOLYGLOT_ARTIFACTS`` (or ``--artifacts``) may be the ``http(s)://`` base URL of a bundle
(a Hugging Face dataset's ``…/resolve/<revision>/`` URL is one). :func:`sync` fetches its
``index.json``, then every file it lists that the cache does not already hold, into a directory
laid out like a local artifact root, which the dashboard then reads as if precompute had built it:

- the index is checked against its format before anything else (:func:`bundle.read_index`: sizes,
  digests, safe short paths) and read up to ``bundle.MAX_INDEX_BYTES``;
- each download is resumed where an earlier one stopped (an HTTP ``Range`` request on a ``.part``
  file), stopped at the size the index declares and at a deadline for the whole file (not a timeout
  that restarts with every byte), checked against the index's sha256 before it is decompressed (which
  stops at the declared size too), and the decompressed file against the build's own sha256 before it
  is moved into place: a file whose hash differs is never served;
- the free disk is checked against the index before anything is downloaded;
- one process fetches into a cache at a time (a lock file): others wait, then find every file there;
- a file that cannot be fetched (404, a corrupt download, a host that went away) is reported and
  skipped; the directories that did arrive are shown, and a missing file shows as "missing" on the
  page that needs it;
- when the host cannot be reached but the cache holds a complete earlier copy of the index, the
  dashboard starts from the cache alone (after a restart, offline).

:class:`Background` runs a sync in a thread of its own, so that pages show what the cache holds while a
slow host is still sending. HTTP is ``requests`` (installed with Streamlit); zstd comes with pyarrow.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from precompute.contract import bundle
from precompute.contract.schema import CACHE_ENV, cache_root

try:
    import fcntl
except ImportError:  # Windows: one process per cache is up to whoever runs it
    fcntl = None  # type: ignore[assignment]

#: Seconds to wait for a host to connect, and at most for its next bytes.
CONNECT_SECONDS, SILENCE_SECONDS = 10.0, 60.0
#: A download's deadline for the whole file: ``BASE_SECONDS`` plus one second per ``MIN_RATE`` bytes it
#: declares (the index: ``BASE_SECONDS``). A host that trickles one byte every few seconds is cut off there.
BASE_SECONDS, MIN_RATE = 30.0, 256 << 10
#: Free disk left over beyond what the index says the missing files need.
DISK_MARGIN = 64 << 20
#: Where a cache keeps its partial downloads, beside the artifact root it fills.
DOWNLOADS = ".downloads"
#: A verified file's sidecar: its sha256, so a restart need not hash gigabytes again.
VERIFIED = ".sha256"
#: The lock file of a cache: one process syncs into it at a time.
LOCK = ".lock"

#: ``progress(done_bytes, total_bytes, what)``: once when the index is read (done 0), then as bytes arrive.
Progress = Callable[[int, int, str], None]


class Oversized(bundle.BundleError):
    """A host sent more than the index declares: stopped there, and the partial file removed."""


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def cache_dir(url: str) -> Path:
    """The cache of one bundle URL: ``$HYPERPOLYGLOT_CACHE`` (or ``~/.cache/hyperpolyglot``) / a hash of the URL."""
    return cache_root() / hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:16]


def deadline_seconds(size: int) -> float:
    """The whole-download deadline of a file of ``size`` bytes (100 MiB: 430 s)."""
    return BASE_SECONDS + size / MIN_RATE


@dataclass
class SyncReport:
    """The local root the dashboard reads, and what happened to each file of the bundle."""

    url: str
    root: Path
    fetched: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    offline: str | None = None  #: why the index came from the cache, when it did

    @property
    def fetched_bytes(self) -> int:
        return sum((self.root / p).stat().st_size for p in self.fetched if (self.root / p).exists())


def _join(url: str, path: str) -> str:
    return url.rstrip("/") + "/" + path


def _verified(target: Path, entry: bundle.Entry) -> bool:
    sidecar = target.with_name(target.name + VERIFIED)
    return (target.is_file() and target.stat().st_size == entry.size and sidecar.is_file()
            and sidecar.read_text().strip() == entry.sha256)


def _get(session: requests.Session, url: str, seconds: float, headers: dict[str, str] | None = None
         ) -> requests.Response:
    return session.get(url, headers=headers or {}, stream=True,
                       timeout=(CONNECT_SECONDS, min(SILENCE_SECONDS, seconds)))


def _stream(response: requests.Response, write: Callable[[bytes], object], limit: int, seconds: float,
            what: str) -> None:
    """Copy the body to ``write`` until it ends; BundleError past ``limit`` bytes or ``seconds`` in all.

    ``read1`` returns whatever has arrived, so the deadline is checked however slowly the bytes come.
    """
    deadline, received = time.monotonic() + seconds, 0
    while chunk := _read(response):
        received += len(chunk)
        if received > limit:
            raise Oversized(f"{what}: the host sent more than the {limit:,} bytes the index declares; "
                                     "stopped and discarded")
        write(chunk)
        if time.monotonic() > deadline:
            raise bundle.BundleError(f"{what} did not arrive within {seconds:.0f} s (the host is stalled or too "
                                     "slow); it is fetched again at the next start")


def _read(response: requests.Response) -> bytes:
    """The next bytes that arrived (at most ``bundle.CHUNK``); requests.ConnectionError when the host cut or
    fell silent for ``SILENCE_SECONDS`` (urllib3's own errors, which requests wraps only in its iterators)."""
    try:
        return response.raw.read1(bundle.CHUNK, decode_content=True)
    except Exception as e:  # one socket read: whatever fails here is the connection
        raise requests.ConnectionError(f"the host stopped sending ({type(e).__name__})") from None


def _download(session: requests.Session, url: str, part: Path, entry: bundle.Entry,
              arrived: Callable[[int], None]) -> None:
    """GET ``url`` into ``part``, resuming from the bytes already there, never past ``entry.stored_size``."""
    have = part.stat().st_size if part.exists() else 0
    if have > entry.stored_size:  # left by an earlier bundle: start over
        part.unlink()
        have = 0
    seconds = deadline_seconds(entry.stored_size)
    with _get(session, url, seconds, {"Range": f"bytes={have}-"} if have else None) as response:
        if response.status_code == 416:  # the part is complete already
            return
        response.raise_for_status()
        resumed = bool(have) and response.status_code == 206  # a host without ranges resends all
        with open(part, "ab" if resumed else "wb") as f:
            def write(chunk: bytes) -> None:
                f.write(chunk)
                arrived(len(chunk))

            try:
                _stream(response, write, entry.stored_size - (have if resumed else 0), seconds, entry.stored)
            except Oversized:  # not worth resuming (a stalled part is: it is within its declared size)
                f.close()
                part.unlink(missing_ok=True)
                raise


def _fetch(session: requests.Session, url: str, root: Path, entry: bundle.Entry,
           arrived: Callable[[int], None]) -> None:
    """One entry into ``root``: download (resumable), check, decompress, check, move into place."""
    part = root / DOWNLOADS / (entry.stored + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    _download(session, _join(url, entry.stored), part, entry, arrived)
    if part.stat().st_size != entry.stored_size or bundle.sha256_of(part) != entry.stored_sha256:
        part.unlink()
        raise bundle.BundleError(f"{entry.stored} arrived corrupt (its sha256 differs from the index); it was "
                                 "discarded and is fetched again at the next start")
    target = root / entry.path
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if entry.compressed:
            bundle.decompress(part, tmp, limit=entry.size)
        else:
            shutil.copyfile(part, tmp)
        if bundle.sha256_of(tmp) != entry.sha256:
            raise bundle.BundleError(f"{entry.path} does not match its build's sha256 after decompressing; "
                                     "the bundle is damaged: publish it again")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        part.unlink(missing_ok=True)  # checked above: a second try downloads it afresh
    target.with_name(target.name + VERIFIED).write_text(entry.sha256)


def _read_index(session: requests.Session, url: str) -> bytes:
    """The bundle's index.json, at most ``bundle.MAX_INDEX_BYTES`` and ``BASE_SECONDS``."""
    body = io.BytesIO()
    with _get(session, _join(url, bundle.INDEX), BASE_SECONDS) as response:
        response.raise_for_status()
        _stream(response, body.write, bundle.MAX_INDEX_BYTES, BASE_SECONDS, bundle.INDEX)
    return body.getvalue()


@contextmanager
def _locked(root: Path, progress: Progress | None) -> Iterator[None]:
    """Hold the cache's lock: another process syncing into ``root`` finishes first (the OS frees the lock of
    a process that dies)."""
    if fcntl is None:
        yield
        return
    with open(root / LOCK, "a+b") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if progress:
                progress(0, 0, "another server process is fetching into this cache; waiting for it")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _clean(root: Path, entries: list[bundle.Entry]) -> None:
    """Remove what an interrupted sync left that no entry will use: stale ``.part`` files and temporaries."""
    wanted = {root / DOWNLOADS / (e.stored + ".part") for e in entries}
    for part in (root / DOWNLOADS).rglob("*.part"):
        if part not in wanted:
            part.unlink(missing_ok=True)
    for directory in {(root / e.path).parent for e in entries}:
        for tmp in directory.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)


def _short_of_disk(root: Path, missing: list[bundle.Entry]) -> str | None:
    """Why ``missing`` cannot fit on the cache's disk, or None when it can (parts kept count as arrived)."""
    if not missing:
        return None
    parts = sum(p.stat().st_size for e in missing if (p := root / DOWNLOADS / (e.stored + ".part")).is_file())
    needed = sum(e.size for e in missing) + max(e.stored_size for e in missing) - parts + DISK_MARGIN
    free = shutil.disk_usage(root).free
    if free >= needed:
        return None
    return (f"not fetched: the bundle's missing files need {needed / 2**20:,.0f} MiB and the cache's disk has "
            f"{free / 2**20:,.0f} MiB free. The dashboard's host can free space, or set {CACHE_ENV} to a "
            "larger disk, then restart")


def sync(url: str, cache: Path | None = None, progress: Progress | None = None,
         session: requests.Session | None = None) -> SyncReport:
    """Bring the local copy of the bundle at ``url`` up to date; return where it is and what happened.

    Raises BundleError (saying what to do) only when neither the host nor the cache has an index. Holds the
    cache's lock throughout: a second process waits, then finds the files there.
    """
    root = Path(cache or cache_dir(url))
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root, progress):
        return _sync(url, root, progress, session or requests.Session())


def _sync(url: str, root: Path, progress: Progress | None, session: requests.Session) -> SyncReport:
    report = SyncReport(url, root)
    cached_index = root / bundle.INDEX
    try:
        raw = _read_index(session, url)
    except (requests.RequestException, bundle.BundleError) as e:
        if not cached_index.is_file():
            raise bundle.BundleError(
                f"cannot read the bundle index at {_join(url, bundle.INDEX)} ({_reason(e)}). Check the URL (it "
                "is the directory `python -m precompute publish` wrote, served as is) and that the host is up."
            ) from None
        raw = cached_index.read_bytes()[: bundle.MAX_INDEX_BYTES + 1]
        report.offline = f"{url} cannot be reached ({_reason(e)}): showing the copy cached in an earlier start"
    entries, _ = bundle.read_index(raw, _join(url, bundle.INDEX))
    if not report.offline:
        fd, tmp = tempfile.mkstemp(prefix=".index.", suffix=".tmp", dir=root)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.replace(tmp, cached_index)  # whole, for a process reading it meanwhile
    _clean(root, entries)
    total = sum(e.stored_size for e in entries)
    done = 0
    if progress:
        progress(0, total, "")
    missing = [e for e in entries if not _verified(root / e.path, e)]
    short = None if report.offline else _short_of_disk(root, missing)
    for entry in entries:
        if entry not in missing:
            report.reused.append(entry.path)
        elif report.offline:
            report.failed[entry.path] = "not in the cache, and the host cannot be reached"
        elif short:
            report.failed[entry.path] = short
        else:
            def arrived(n: int, path: str = entry.path) -> None:
                nonlocal done
                done += n
                if progress:
                    progress(done, total, path)

            start = done
            try:
                _fetch(session, url, root, entry, arrived)
                report.fetched.append(entry.path)
            except (requests.RequestException, bundle.BundleError, OSError) as e:
                report.failed[entry.path] = _reason(e)
            done = start
        done += entry.stored_size
        if progress:
            progress(done, total, entry.path)
    return report


class Background:
    """:func:`sync` in a thread of its own: a page waits while bytes arrive, and shows what the cache holds
    once the host stalls (a page that waited on a trickling host stayed blank for minutes).

    ``finished`` is set when the sync ends, then ``report`` (or ``error``, when no index could be had) holds
    the outcome; meanwhile ``done``/``total`` bytes and ``last_progress`` (monotonic seconds) tell how it goes.
    """

    def __init__(self, url: str, cache: Path | None = None) -> None:
        self.url, self.root = url, Path(cache or cache_dir(url))
        self.done = self.total = 0
        self.what = ""
        self.indexed = False
        self.last_progress = time.monotonic()
        self.report: SyncReport | None = None
        self.error: str | None = None
        self.finished = threading.Event()
        threading.Thread(target=self._run, name=f"sync {url}", daemon=True).start()

    def _progress(self, done: int, total: int, what: str) -> None:
        self.done, self.total, self.what = done, total, what
        self.indexed = self.indexed or total > 0
        self.last_progress = time.monotonic()

    def _run(self) -> None:
        try:
            self.report = sync(self.url, self.root, progress=self._progress)
        except bundle.BundleError as e:
            self.error = str(e)
        except Exception as e:  # a thread's end: whatever went wrong is said on the page, not lost in a log
            self.error = f"fetching the bundle at {self.url} failed ({type(e).__name__}: {e})"
        finally:
            self.finished.set()

    def stalled(self, seconds: float) -> bool:
        """Whether nothing arrived for ``seconds`` while the cache holds an index to show pages from."""
        has_index = self.indexed or (self.root / bundle.INDEX).is_file()
        return has_index and time.monotonic() - self.last_progress > seconds


def _reason(error: Exception) -> str:
    """A one-line cause a reader can act on (no traceback, no internals)."""
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return f"HTTP {error.response.status_code} {error.response.reason}"
    if isinstance(error, requests.Timeout):
        return "timed out"
    if isinstance(error, requests.ConnectionError):
        return "connection failed" + (f": {error}" if "stopped sending" in str(error) else "")
    return str(error)
