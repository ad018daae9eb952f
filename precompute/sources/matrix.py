"""A plain embedding matrix plus a vocabulary file, for models that are neither built in nor on the hub.

The matrix is a ``.npy`` array or one tensor of a ``.safetensors`` file (``tensor`` names it; a file
with a single tensor needs no name). The vocabulary is ``.txt`` (one token per line, line i = id i),
a ``.json`` list, or a ``.json`` ``{token: id}`` map. Its tokenizer family is guessed from the pieces
(``Ġ`` / ``##`` / ``▁``, see ``decode.guess_kind``) so the texts are decoded like any other model's.

Example::

    >>> data = load_matrix("emb.npy", "vocab.txt")
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from precompute.contract.store import sha256_file

from .base import ModelData, SourceError
from .decode import build_vocabulary, guess_kind
from .hf import read_safetensors_tensor
from .sizes import check_matrix, npy_header, safetensors_header

MATRIX_SUFFIXES = (".npy", ".safetensors")
VOCAB_SUFFIXES = (".txt", ".json")


def read_matrix(path: Path, tensor: str | None = None, *, rows: int | None = None) -> tuple[np.ndarray, str | None]:
    """The (N, d) float32 matrix in ``path`` and the tensor name it came from (None for .npy).

    Its shape is checked from the file's header before any data is read (``sizes.check_matrix``):
    ``rows``, when given, must equal N.
    """
    if path.suffix == ".npy":
        check_matrix(npy_header(path), path, rows=rows)
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False).astype(np.float32), None
        except ValueError as err:
            raise SourceError(f"Cannot read {path} as a NumPy array: {err}.") from None
    if path.suffix == ".safetensors":
        headers = safetensors_header(path)
        names = list(headers)
        if tensor is None:
            if len(names) != 1:
                raise SourceError(f"{path} holds {len(names)} tensors ({', '.join(names[:10])}); pass --tensor NAME.")
            tensor = names[0]
        elif tensor not in names:
            raise SourceError(f"No tensor {tensor!r} in {path}; it holds {', '.join(names[:10])}. Pass --tensor NAME.")
        check_matrix(headers[tensor], path, rows=rows)
        return read_safetensors_tensor(path, tensor), tensor
    raise SourceError(f"Unsupported matrix file {path}: expected one of {', '.join(MATRIX_SUFFIXES)}.")


def _vocabulary_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SourceError(
            f"The vocabulary file {path} is not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8."
        ) from None


def read_vocabulary_file(path: Path) -> list[str]:
    """Token pieces by id from a ``.txt`` (one per line) or ``.json`` (list or {token: id}) file."""
    if path.suffix == ".txt":
        text = _vocabulary_text(path).removesuffix("\n")
        return text.split("\n") if text else []
    if path.suffix != ".json":
        raise SourceError(f"Unsupported vocabulary file {path}: expected one of {', '.join(VOCAB_SUFFIXES)}.")
    try:
        data = json.loads(_vocabulary_text(path))
    except json.JSONDecodeError as e:
        raise SourceError(f"The vocabulary file {path} is not valid JSON ({e}).") from None
    if isinstance(data, list) and all(isinstance(t, str) for t in data):
        return data
    if isinstance(data, dict):
        ids = sorted(data.values())
        if ids != list(range(len(ids))):
            raise SourceError(f"The ids in {path} are not 0..{len(ids) - 1} without gaps; fix the vocabulary file.")
        pieces = [""] * len(ids)
        for token, i in data.items():
            pieces[i] = token
        return pieces
    raise SourceError(f"{path} must hold a JSON list of tokens or a {{token: id}} object.")


def load_matrix(path: str | Path, vocab_path: str | Path, *, tensor: str | None = None) -> ModelData:
    """Read a plain matrix and its vocabulary; their sizes must match row for row (checked before the
    matrix is read: the vocabulary first, then the matrix file's header)."""
    path, vocab_path = Path(path), Path(vocab_path)
    for p, what in ((path, "matrix"), (vocab_path, "vocabulary")):
        if not p.is_file():
            raise SourceError(f"The {what} file {p} does not exist.")
    pieces = read_vocabulary_file(vocab_path)
    if not pieces:
        raise SourceError(f"The vocabulary file {vocab_path} holds no tokens; pass the model's vocabulary.")
    matrix, tensor = read_matrix(path, tensor, rows=len(pieces))
    kind = guess_kind(pieces)
    return ModelData(
        vocab=build_vocabulary(pieces, kind),
        embeddings=matrix,
        metadata={
            "id": str(path),
            "source": "matrix",
            "revision": "sha256:" + sha256_file(path),
            "origin": str(path.resolve()),
            "tensor": tensor,
            "vocab_file": str(vocab_path.resolve()),
            "tokenizer": kind,
        },
    )
