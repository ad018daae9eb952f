"""The hosting bundle: what a hosted dashboard reads, compressed, indexed, and checked on arrival.

A bundle is a plain directory that any static file host can serve (an object store bucket, a
Hugging Face dataset repository, a web server)::

    index.json                                   this format's name and version, every entry below
    <model>/manifest.json                        the build's manifest (files it does not carry removed)
    <model>/<artifact>.zst                       each artifact the dashboard reads, zstd-compressed
    comparisons/<name>/...                       the same for comparisons

Each index entry names the artifact's path in an artifact root, the stored (compressed) path, and
both sizes and sha256 digests: a download is checked before it is decompressed, and the
decompressed file against the build's own sha256 before it is served. zstd comes with pyarrow,
which the dashboard needs anyway, so reading a bundle adds no dependency. The embedding matrix is
left out (no page reads it; Annoy holds the vectors for expressions): the largest file of a build.

Deliberately light (json, hashlib, pyarrow, the schema's names): the dashboard imports it to read bundles.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from precompute.contract import schema

FORMAT = "hyperpolyglot-bundle"
VERSION = 1
INDEX = "index.json"
CODEC = "zstd"
SUFFIX = ".zst"
#: Artifacts a bundle does not carry: no dashboard page reads them.
NOT_PUBLISHED = ("embeddings.npy",)
#: Bytes per read while (de)compressing or hashing: memory stays flat for any file size.
CHUNK = 1 << 22
#: The largest index.json read (the default models' is 15 kB): an endless one is cut off, not read whole.
MAX_INDEX_BYTES = 4 << 20
#: The longest file name component (bytes, UTF-8) and relative path an index may name: what filesystems allow.
MAX_NAME_BYTES, MAX_PATH_CHARS = 255, 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")


class BundleError(RuntimeError):
    """A bundle or one of its files is unusable; the message says which and what to do."""


@dataclass(frozen=True)
class Entry:
    """One file of a bundle: where it goes in an artifact root, where it is stored, and its digests."""

    path: str  #: relative path in the artifact root (``use-multilingual-v3/neighbors.npy``)
    stored: str  #: relative path in the bundle (``path`` itself for manifests, else ``path + ".zst"``)
    size: int
    sha256: str
    stored_size: int
    stored_sha256: str

    @property
    def compressed(self) -> bool:
        return self.stored != self.path


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def compress(source: Path, target: Path) -> None:
    """zstd-compress ``source`` into ``target``, streaming (Arrow's default level: fast, and on the
    default models 857 MiB of artifacts become a 267 MiB bundle; the Annoy indices shrink 4x)."""
    with open(source, "rb") as src, pa.CompressedOutputStream(str(target), CODEC) as out:
        for chunk in iter(lambda: src.read(CHUNK), b""):
            out.write(chunk)


def decompress(source: Path, target: Path, limit: int | None = None) -> None:
    """Undo :func:`compress`, streaming. Raises BundleError on a damaged stream, and as soon as the output
    passes ``limit`` bytes (the size the index declares): a small frame that expands to gigabytes stops there."""
    written = 0
    try:
        with pa.CompressedInputStream(pa.OSFile(str(source)), CODEC) as src, open(target, "wb") as out:
            while chunk := src.read(CHUNK):
                written += len(chunk)
                if limit is not None and written > limit:
                    raise BundleError(f"{source.name} expands beyond the {limit:,} bytes its index declares; it "
                                      "was discarded: the bundle is damaged, publish it again")
                out.write(chunk)
    except (OSError, pa.ArrowException) as e:
        raise BundleError(f"{source.name} cannot be decompressed ({e}); download it again") from None


def write_index(directory: Path, entries: list[Entry], provenance: dict[str, Any]) -> None:
    (directory / INDEX).write_text(json.dumps(
        {"format": FORMAT, "version": VERSION, **provenance, "entries": [asdict(e) for e in entries]},
        indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def read_index(raw: bytes | str, where: str) -> tuple[list[Entry], dict[str, Any]]:
    """The entries and the rest of an index.json; BundleError naming ``where`` and the first rule it breaks.

    Checked before anything else uses it (:func:`check_entry`): a host that serves a malformed or hostile index
    gets one clear message, never a traceback nor a file written outside the cache.
    """
    try:
        if len(raw) > MAX_INDEX_BYTES:
            raise ValueError(f"it is larger than {MAX_INDEX_BYTES:,} bytes")
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError(f"it holds a JSON {type(data).__name__}, not an object")
        if data.get("format") != FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, not {FORMAT!r}")
        if data.get("version") != VERSION:
            raise ValueError(f"version {data.get('version')!r}; this dashboard reads version {VERSION}")
        if not isinstance(data.get("entries"), list):
            raise ValueError("its entries are not a list")
        entries = [check_entry(e) for e in data["entries"]]
        paths = [e.path for e in entries]
        if len(set(paths)) != len(paths):
            raise ValueError(f"it names {sorted({p for p in paths if paths.count(p) > 1})[0]!r} twice")
    except (ValueError, RecursionError) as e:  # json's errors are ValueErrors
        raise BundleError(f"{where} is not a valid Hyperpolyglot bundle index: {e}. Point the dashboard at the "
                          "directory `python -m precompute publish` wrote, served as it is.") from None
    return entries, {k: v for k, v in data.items() if k != "entries"}


def check_entry(raw: Any) -> Entry:
    """One index entry, checked against the format: ValueError naming the first rule it breaks.

    Sizes are non-negative integers, digests 64 hex digits, paths :func:`check_path`; a stored path is the
    path itself (a manifest) or the path and ``.zst``.
    """
    fields = Entry.__annotations__
    if not isinstance(raw, dict) or set(raw) != set(fields):
        keys = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise ValueError(f"an entry must have exactly the keys {sorted(fields)}, not {keys}")
    for name in ("size", "stored_size"):
        if type(raw[name]) is not int or raw[name] < 0:
            raise ValueError(f"{name} of {raw['path']!r} is {raw[name]!r}, not a byte count")
    for name in ("sha256", "stored_sha256"):
        if not isinstance(raw[name], str) or not _SHA256.fullmatch(raw[name]):
            raise ValueError(f"{name} of {raw['path']!r} is {raw[name]!r}, not 64 hex digits")
    entry = Entry(**raw)
    check_path(entry.path)
    if entry.stored not in (entry.path, entry.path + SUFFIX):
        raise ValueError(f"{entry.path!r} is stored as {entry.stored!r}, not as itself or {entry.path + SUFFIX!r}")
    return entry


def check_path(path: Any) -> None:
    """ValueError unless ``path`` is a safe relative path in an artifact root: ``<dir>/<file>`` or
    ``comparisons/<dir>/<file>``, no ``..``, no hidden or empty component, no NUL or backslash, each
    component short enough for any filesystem."""
    if not isinstance(path, str) or not path:
        raise ValueError(f"a path is {path!r}, not a file name")
    if "\0" in path or "\\" in path or len(path) > MAX_PATH_CHARS:
        raise ValueError(f"the path {path[:80]!r} holds a NUL or backslash, or is longer than {MAX_PATH_CHARS}")
    parts = path.split("/")
    nested = len(parts) == 3 and parts[0] == schema.COMPARISONS_DIR
    if not (len(parts) == 2 or nested) or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        raise ValueError(f"the path {path!r} is not <directory>/<file> inside the bundle; it is not safe to use")
    if any(len(p.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES for p in parts):
        raise ValueError(f"the path {path[:80]!r}… has a name longer than {MAX_NAME_BYTES} bytes")
