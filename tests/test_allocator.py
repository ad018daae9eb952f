"""Process-wide allocation settings: the dashboard server's (dashboard/allocator.py), NumPy's page advice."""

from __future__ import annotations

import os
import subprocess
import sys


def test_the_allocators_are_set_once_per_process():
    """glibc takes both settings and Arrow allocates from the system; a second call changes nothing. In a
    subprocess, so that the test process keeps its own allocator."""
    code = ("import pyarrow; from dashboard import allocator; first = allocator.configure(); "
            "second = allocator.configure(); print(first, second, pyarrow.default_memory_pool().backend_name)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "system"]


def test_precompute_turns_numpys_huge_page_advice_off_unless_the_environment_chose():
    """Importing ``precompute`` before NumPy turns NumPy's transparent-huge-page advice off (precompute/__init__.py),
    for that process and the processes it starts; a value already in the environment is kept."""
    code = ("import os, precompute, numpy; from numpy._core.multiarray import _get_madvise_hugepage; "
            "print(_get_madvise_hugepage(), os.environ['NUMPY_MADVISE_HUGEPAGE'])")
    for given, expected in ((None, ["False", "0"]), ("1", ["True", "1"])):
        env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
        if given is not None:
            env["NUMPY_MADVISE_HUGEPAGE"] = given
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
        assert out.stdout.split() == expected
