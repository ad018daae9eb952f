"""Hyperpolyglot precompute: from a model's token embeddings to the artifacts the dashboard reads.

Importing this package is cheap (no torch, no transformers): the dashboard imports
``precompute.contract.categories``, ``precompute.contract.schema`` and ``precompute.contract.store`` from it.
"""

__version__ = "0.1.0"
