"""The server's malloc arena limit (dashboard/arenas.py)."""

from __future__ import annotations

import subprocess
import sys


def test_limit_arenas_is_accepted_once_per_process():
    """glibc accepts the limit; a second call does nothing and says it is in place. In a subprocess, so that
    the test process keeps its own allocator settings."""
    code = ("from dashboard import arenas; first = arenas.limit_arenas(); second = arenas.limit_arenas(); "
            "print(first, second)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=".")
    assert out.stdout.split() == ["True", "True"]
