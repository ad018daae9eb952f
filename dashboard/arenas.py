"""Fewer malloc arenas in the server process, so that concurrent page runs do not each keep a heap.

glibc gives each thread that allocates under contention an arena of its own, up to eight per core,
and a freed block goes back to its arena, not to the system. Streamlit runs every page script in a
thread of its own; a page's temporaries (a 250k-row merge, a chart's tables) are large, so under many
readers each arena grows to the largest run it served and stays that size: the heap grew with the
number of concurrent runs, not with what is cached. Two arenas keep the heap near what one run needs,
at the cost of some lock contention that the GIL already imposes. ``MALLOC_ARENA_MAX=2`` in the
environment does the same for a whole container (the Dockerfile sets it); this call covers hosts that
start the app for us (Streamlit Community Cloud).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: mallopt's parameter number for the arena limit (glibc's malloc.h).
M_ARENA_MAX = -8
#: Arenas the server may use.
ARENAS = 2

_limited = False


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Ask glibc for at most ``arenas`` malloc arenas (once per process); False where that is not glibc."""
    global _limited
    if _limited or not sys.platform.startswith("linux"):
        return _limited
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _limited = bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # musl (Alpine) has no mallopt
        _limited = False
    return _limited
