"""Tables that every build process would otherwise compute again, kept on disk between processes.

The parsed FreeDict dictionaries (``freedict.load_freedict``, about 20 s) and wordfreq's lists in one
table (``language.frequency_table``, a few seconds) are the same for every model and every build on a
machine, yet an overlapped build reads them in each of its worker processes. :func:`cached_table`
computes such a table once and keeps it in ``$HYPERPOLYGLOT_CACHE/precompute`` (default
``~/.cache/hyperpolyglot/precompute``, beside the dashboard's downloaded bundles).

A file is named by a hash of everything its table depends on (the ``key``: the input files' names,
sizes and times, and the source of the module that computes it), so a changed input or a changed
parser is a new name, never a stale read. A file starts with the sha256 of the rest; one that does not
match (cut short, overwritten) is rebuilt with a warning, never trusted. Files are written under a
temporary name and renamed into place (so a file that is there is whole, and is read without a lock), and
a lock beside each makes a second process wait for the first rather than compute the same table beside it.

A table read from many input files (58 dictionaries, 42 word lists) is kept as one file per input
(:func:`cached_parts`): the worker processes of a build start together, and rather than one parsing every
file while the other waits on its lock, each takes the next file nobody has taken. Deleting the folder is
always safe.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pyarrow as pa
from filelock import FileLock, Timeout

from precompute.contract.schema import cache_root

#: The pandas dtypes of the columns, kept in the file's schema so that a table reads back as it was written.
_DTYPES = b"hyperpolyglot.dtypes"
_ATTRS = b"hyperpolyglot.attrs"
log = logging.getLogger("precompute")
Table = TypeVar("Table", pd.DataFrame, pa.Table)


def cache_directory() -> Path:
    """``cache_root() / "precompute"``: the tables shared by build processes."""
    return cache_root() / "precompute"


def source_of(module_file: str) -> str:
    """The sha256 of a module's source: part of a key, so that a changed parser is never read from a cache."""
    return hashlib.sha256(Path(module_file).read_bytes()).hexdigest()


def file_key(path: str | Path) -> tuple[str, int, int]:
    """What a key holds of an input file: its name, size and modification time (a changed file, a new key)."""
    stat = Path(path).stat()
    return Path(path).name, stat.st_size, stat.st_mtime_ns


def cache_path(name: str, key: Any) -> Path:
    """Where the table ``name`` computed from ``key`` (anything JSON can write) is kept."""
    digest = hashlib.sha256(json.dumps([name, key], sort_keys=True, default=str).encode("utf-8")).hexdigest()
    return cache_directory() / f"{name}-{digest[:32]}.arrow"


def cached_table(name: str, key: Any, compute: Callable[[], Table], *, wait: bool = True) -> Table | None:
    """``compute()``, read from the cache when a process has already computed it for ``key``.

    An Arrow table comes back as one chunk; a pandas frame with the dtypes and ``attrs`` it was computed
    with. Another process computing it now: wait for it and read its table, or (``wait=False``) return
    None at once. An unwritable cache folder costs only the time: the table is computed and returned.
    """
    path = cache_path(name, key)
    if path.exists():
        try:
            return _read(path)
        except (OSError, ValueError, pa.ArrowException):
            pass  # damaged: computed again below, with a warning
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(path.with_suffix(".lock"))
        lock.acquire(blocking=wait)
    except Timeout:  # another process holds it, and we are not to wait
        return None
    except OSError as err:
        log.info("no cache for %s (%s): computing it", name, err)
        return compute()
    try:
        if path.exists():
            try:
                return _read(path)
            except (OSError, ValueError, pa.ArrowException) as err:
                warnings.warn(f"the cached {name} in {path} is unreadable ({err}); computing it again",
                              stacklevel=2)
        table = compute()
        _write(path, table)
        for old in path.parent.glob(f"{name}-*.arrow"):  # the same table from older inputs: never read again
            if old != path:
                old.unlink(missing_ok=True)
        return table
    finally:
        lock.release()


def cached_parts(name: str, keys: dict[str, Any], compute: Callable[[str], Table]) -> dict[str, Table]:
    """Each part's table, ``compute(part)`` cached as ``{name}.{part}`` for ``keys[part]``, in ``keys``' order.

    Shared out between the processes that want them at once: each first computes the parts no other
    process has taken (and reads those already there), then reads the others', waiting for those still
    being computed. Two processes starting together each compute about half.
    """
    found: dict[str, Table] = {}
    for wait in (False, True):
        for part, key in keys.items():
            if part not in found:
                table = cached_table(f"{name}.{part}", key, functools.partial(compute, part), wait=wait)
                if table is not None:
                    found[part] = table
    return {part: found[part] for part in keys}


def _write(path: Path, table: pd.DataFrame | pa.Table) -> None:
    """``table`` as an Arrow IPC file behind its sha256, renamed into place whole."""
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False).replace_schema_metadata({
            _DTYPES: json.dumps({c: str(t) for c, t in table.dtypes.items()}).encode("utf-8"),
            _ATTRS: json.dumps(table.attrs).encode("utf-8"),
        })
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as writer:
        writer.write_table(table)
    body = sink.getvalue().to_pybytes()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(hashlib.sha256(body).digest() + body)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path) -> pd.DataFrame | pa.Table:
    """A file ``_write`` wrote; ValueError when its bytes are not the ones written."""
    data = path.read_bytes()
    digest, body = data[:32], data[32:]
    if hashlib.sha256(body).digest() != digest:
        raise ValueError("its checksum does not match its contents")
    table = pa.ipc.open_file(pa.py_buffer(body)).read_all()
    meta = table.schema.metadata or {}
    if _DTYPES not in meta:
        return table.combine_chunks()
    frame = table.replace_schema_metadata(None).to_pandas().astype(json.loads(meta[_DTYPES]))
    frame.attrs.update(json.loads(meta[_ATTRS]))
    return frame
