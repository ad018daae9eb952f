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

Deliberately light (json, hashlib, pyarrow): the dashboard imports it to read bundles.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

FORMAT = "hyperpolyglot-bundle"
VERSION = 1
INDEX = "index.json"
CODEC = "zstd"
SUFFIX = ".zst"
#: Artifacts a bundle does not carry: no dashboard page reads them.
NOT_PUBLISHED = ("embeddings.npy",)
#: Bytes per read while (de)compressing or hashing: memory stays flat for any file size.
CHUNK = 1 << 22


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


def decompress(source: Path, target: Path) -> None:
    """Undo :func:`compress`, streaming. Raises BundleError on a damaged stream."""
    try:
        with pa.CompressedInputStream(pa.OSFile(str(source)), CODEC) as src, open(target, "wb") as out:
            while chunk := src.read(CHUNK):
                out.write(chunk)
    except (OSError, pa.ArrowException) as e:
        raise BundleError(f"{source.name} cannot be decompressed ({e}); download it again") from None


def write_index(directory: Path, entries: list[Entry], provenance: dict[str, Any]) -> None:
    (directory / INDEX).write_text(json.dumps(
        {"format": FORMAT, "version": VERSION, **provenance, "entries": [asdict(e) for e in entries]},
        indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def read_index(text: str, where: str) -> tuple[list[Entry], dict[str, Any]]:
    """The entries and the rest of an index.json; BundleError naming ``where`` when it is not one."""
    try:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, not {FORMAT!r}")
        if data.get("version") != VERSION:
            raise ValueError(f"version {data.get('version')!r}; this dashboard reads version {VERSION}")
        entries = [Entry(**e) for e in data["entries"]]
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise BundleError(f"{where} is not a Hyperpolyglot bundle index ({e}). Point the dashboard at the "
                          f"directory `python -m precompute publish` wrote.") from None
    for e in entries:  # an index may name only relative paths inside the bundle
        for p in (e.path, e.stored):
            if Path(p).is_absolute() or ".." in Path(p).parts:
                raise BundleError(f"{where} names a path outside the bundle ({p!r}); it is not safe to use")
    return entries, {k: v for k, v in data.items() if k != "entries"}


def by_directory(entries: list[Entry]) -> Iterator[tuple[str, list[Entry]]]:
    """Entries grouped by their artifact directory (``use-multilingual-v3``, ``comparisons/default``)."""
    groups: dict[str, list[Entry]] = {}
    for e in entries:
        groups.setdefault(str(Path(e.path).parent), []).append(e)
    yield from groups.items()
