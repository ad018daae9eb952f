"""Artifacts from a URL: a published bundle (precompute.contract.bundle) fetched into a local cache, checked.

``HYPERPOLYGLOT_ARTIFACTS`` (or ``--artifacts``) may be the ``http(s)://`` base URL of a bundle
(a Hugging Face dataset's ``…/resolve/<revision>/`` URL is one). :func:`sync` fetches its
``index.json``, then every file it lists that the cache does not already hold, into a directory
laid out like a local artifact root, which the dashboard then reads as if precompute had built it:

- each download is resumed where an earlier one stopped (an HTTP ``Range`` request on a ``.part``
  file), checked against the index's sha256 before it is decompressed, and the decompressed file
  against the build's own sha256 before it is moved into place: a file whose hash differs is never
  served;
- a file that cannot be fetched (404, a corrupt download, a host that went away) is reported and
  skipped; the directories that did arrive are shown, and a missing file shows as "missing" on the
  page that needs it;
- when the host cannot be reached but the cache holds a complete earlier copy of the index, the
  dashboard starts from the cache alone (after a restart, offline).

HTTP is ``requests`` (installed with Streamlit); zstd comes with pyarrow.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from precompute.contract import bundle

#: Environment variable naming the cache directory (default ``~/.cache/hyperpolyglot``).
CACHE_ENV = "HYPERPOLYGLOT_CACHE"
#: Seconds to wait for a host to answer (connecting, then between bytes).
TIMEOUT = (10, 60)
#: Where a cache keeps its partial downloads, beside the artifact root it fills.
DOWNLOADS = ".downloads"
#: A verified file's sidecar: its sha256, so a restart need not hash gigabytes again.
VERIFIED = ".sha256"

Progress = Callable[[int, int, str], None]


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def cache_dir(url: str) -> Path:
    """The cache of one bundle URL: ``$HYPERPOLYGLOT_CACHE`` (or ``~/.cache/hyperpolyglot``) / a hash of the URL."""
    base = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "hyperpolyglot")
    return base / hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:16]


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


def _download(session: requests.Session, url: str, part: Path) -> None:
    """GET ``url`` into ``part``, resuming from the bytes already there."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with session.get(url, headers=headers, stream=True, timeout=TIMEOUT) as response:
        if response.status_code == 416:  # the part is complete already
            return
        response.raise_for_status()
        mode = "ab" if have and response.status_code == 206 else "wb"  # a host without ranges resends all
        with open(part, mode) as f:
            for chunk in response.iter_content(bundle.CHUNK):
                f.write(chunk)


def _fetch(session: requests.Session, url: str, root: Path, entry: bundle.Entry) -> None:
    """One entry into ``root``: download (resumable), check, decompress, check, move into place."""
    part = root / DOWNLOADS / (entry.stored + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    _download(session, _join(url, entry.stored), part)
    if bundle.sha256_of(part) != entry.stored_sha256:
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
            bundle.decompress(part, tmp)
        else:
            shutil.copyfile(part, tmp)
        if bundle.sha256_of(tmp) != entry.sha256:
            raise bundle.BundleError(f"{entry.path} does not match its build's sha256 after decompressing; "
                                     "the bundle is damaged: publish it again")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    part.unlink(missing_ok=True)
    target.with_name(target.name + VERIFIED).write_text(entry.sha256)


def sync(url: str, cache: Path | None = None, progress: Progress | None = None,
         session: requests.Session | None = None) -> SyncReport:
    """Bring the local copy of the bundle at ``url`` up to date; return where it is and what happened.

    Raises BundleError (saying what to do) only when neither the host nor the cache has an index.
    ``progress(done_bytes, total_bytes, path)`` is called as files arrive.
    """
    root = Path(cache or cache_dir(url))
    root.mkdir(parents=True, exist_ok=True)
    report = SyncReport(url, root)
    session = session or requests.Session()
    cached_index = root / bundle.INDEX
    try:
        response = session.get(_join(url, bundle.INDEX), timeout=TIMEOUT)
        response.raise_for_status()
        text = response.text
    except requests.RequestException as e:
        if not cached_index.is_file():
            raise bundle.BundleError(
                f"cannot read the bundle index at {_join(url, bundle.INDEX)} ({_reason(e)}). Check the URL (it "
                "is the directory `python -m precompute publish` wrote, served as is) and that the host is up."
            ) from None
        text = cached_index.read_text(encoding="utf-8")
        report.offline = f"{url} cannot be reached ({_reason(e)}): showing the copy cached in an earlier start"
    entries, _ = bundle.read_index(text, _join(url, bundle.INDEX))
    if not report.offline:
        cached_index.write_text(text, encoding="utf-8")
    total = sum(e.stored_size for e in entries)
    done = 0
    for entry in entries:
        target = root / entry.path
        if _verified(target, entry):
            report.reused.append(entry.path)
        elif report.offline:
            report.failed[entry.path] = "not in the cache, and the host cannot be reached"
        else:
            try:
                _fetch(session, url, root, entry)
                report.fetched.append(entry.path)
            except (requests.RequestException, bundle.BundleError, OSError) as e:
                report.failed[entry.path] = _reason(e)
        done += entry.stored_size
        if progress:
            progress(done, total, entry.path)
    return report


def _reason(error: Exception) -> str:
    """A one-line cause a reader can act on (no traceback, no internals)."""
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return f"HTTP {error.response.status_code} {error.response.reason}"
    if isinstance(error, requests.ConnectionError):
        return "connection failed"
    if isinstance(error, requests.Timeout):
        return "timed out"
    return str(error)
