"""One build of a directory at a time: a per-directory read-write lock held for a whole build.

Two ``precompute build`` of one model into one root would otherwise each keep its own manifest and
the last save would win, listing files the other one replaced. A build holds its directory's write
lock from start to end; a comparison holds the read locks of the models it reads (several
comparisons may read one model at once) and the write lock of its own directory. A second build
waits, saying which process holds the lock, or with ``wait=False`` fails at once.

The lock is filelock's SQLite-backed ``ReadWriteLock`` in ``<dir>/.build.lock``; the holder writes
its process id beside it (``.build.owner``) so that the waiting one can name it. A lock held by a
process that died is released by the operating system, so a killed build never blocks the next.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

from filelock import ReadWriteLock, Timeout

LOCK_FILE = ".build.lock"
OWNER_FILE = ".build.owner"
log = logging.getLogger("precompute")


class Busy(RuntimeError):
    """Another process is building the directory and the caller asked not to wait."""


def _owner(directory: Path) -> str:
    try:
        return "process " + (directory / OWNER_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return "another process"


@contextmanager
def _hold(directory: Path, write: bool, wait: bool) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    lock = ReadWriteLock(directory / LOCK_FILE, is_singleton=False)
    acquire = lock.acquire_write if write else lock.acquire_read
    try:
        acquire(blocking=False)
    except Timeout:
        holder = _owner(directory)
        if not wait:
            raise Busy(f"{directory} is being built by {holder}; wait for it, or run again without --no-wait "
                       "to wait") from None
        log.warning("%s is being built by %s; waiting for it to finish (--no-wait fails instead)", directory, holder)
        acquire(timeout=-1)
    try:
        if write:
            (directory / OWNER_FILE).write_text(str(os.getpid()), encoding="utf-8")
        yield
    finally:
        lock.release(force=True)
        lock.close()


def building(directory: Path, wait: bool = True) -> AbstractContextManager[None]:
    """Hold ``directory``'s write lock (a model's or a comparison's build)."""
    return _hold(Path(directory), write=True, wait=wait)


@contextmanager
def comparing(comparison: Path, models: list[Path], wait: bool = True) -> Iterator[None]:
    """Hold the read locks of ``models`` and the write lock of ``comparison``, for a comparison's build."""
    with ExitStack() as stack:
        for model in models:
            stack.enter_context(_hold(Path(model), write=False, wait=wait))
        stack.enter_context(_hold(Path(comparison), write=True, wait=wait))
        yield
