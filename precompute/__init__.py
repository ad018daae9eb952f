"""Hyperpolyglot precompute: from a model's token embeddings to the artifacts the dashboard reads.

Importing this package is cheap (no torch, no transformers): the dashboard imports
``precompute.contract.categories``, ``precompute.contract.schema`` and ``precompute.contract.store`` from it.

It sets one thing for the process and those it starts (build workers, Ray workers, and the dashboard
processes that ``make run`` and ``make serve`` start): NumPy does not advise the kernel to back its
large arrays with transparent huge pages (``NUMPY_MADVISE_HUGEPAGE=0``, unless already set). On the
virtual machines this was measured on (Firecracker, Linux 6.18), a fresh 2 GiB array took 8–11 s to
fill with that advice and 0.9–1.0 s without it; the comparison of the four default models went from
52–54 s to 45–46 s. NumPy reads the variable when it is first imported, so a process that imported
NumPy before this package (a bare ``streamlit run``, a notebook) keeps its own choice: set the
variable in its environment instead.
"""

import os

os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

__version__ = "0.1.0"
