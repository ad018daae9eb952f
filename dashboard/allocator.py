"""How the server process allocates memory, set once when the app starts: so that many readers at once
do not grow a heap that is never given back.

Streamlit runs each page script in a thread of its own, and a page's temporaries are large (a 250k-row
merge, a chart's tables). Three defaults kept that memory after the runs ended:

- glibc gives each thread that allocates under contention an arena of its own (up to eight per core), and
  a freed block returns to its arena, not to the system: each arena grew to the largest run it served;
- glibc raises its threshold for serving a large block by ``mmap`` (freed at once) up to 32 MiB after the
  first such block is freed, so later temporaries came from the arenas instead;
- Arrow's default pool (mimalloc) keeps freed pages for reuse.

Measured with ``benchmarks/load.py --sessions 1 20 --think 0`` (Xeon, README), arenas limited in both:
Arrow on the system allocator and the fixed threshold took the heap at N = 20 from 1.23 GB to 0.90 GB,
with the same CPU per run.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: mallopt's parameter numbers (glibc's malloc.h).
M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8
#: Arenas the server may use: the GIL already serialises the runs.
ARENAS = 2
#: Blocks from this size up are mmapped and given back when freed, whatever was freed before.
MMAP_THRESHOLD = 1 << 20

_configured: bool | None = None


def configure() -> bool:
    """Set the allocators (once per process); whether glibc took the settings (False on musl or macOS).

    Arrow's allocations go to the system allocator (so the settings above apply to them) either way.
    """
    global _configured
    if _configured is not None:
        return _configured
    import pyarrow

    pyarrow.set_memory_pool(pyarrow.system_memory_pool())
    _configured = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _configured = bool(libc.mallopt(M_ARENA_MAX, ARENAS)) and bool(libc.mallopt(M_MMAP_THRESHOLD,
                                                                                      MMAP_THRESHOLD))
        except (OSError, AttributeError):  # musl (Alpine) has no mallopt
            pass
    return _configured
