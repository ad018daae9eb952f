"""The server's allocator settings (dashboard/allocator.py)."""

from __future__ import annotations

import subprocess
import sys


def test_the_allocators_are_set_once_per_process():
    """glibc takes both settings and Arrow allocates from the system; a second call changes nothing. In a
    subprocess, so that the test process keeps its own allocator."""
    code = ("import pyarrow; from dashboard import allocator; first = allocator.configure(); "
            "second = allocator.configure(); print(first, second, pyarrow.default_memory_pool().backend_name)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "system"]
