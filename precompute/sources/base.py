"""What every model source yields: a vocabulary and its input-embedding matrix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class SourceError(RuntimeError):
    """A model cannot be read; the message says why and what to do."""


@dataclass
class Vocabulary:
    """Token surface texts by id (METHODS §1), aligned with the rows of the embedding matrix.

    ``texts[i]`` is the display text of id ``i`` (word-initial pieces start with ``▁``);
    ``is_special[i]`` flags tokens such as ``<pad>``; ``is_byte[i]`` flags undecodable byte pieces.
    """

    texts: list[str]
    is_special: np.ndarray  # (N,) bool
    is_byte: np.ndarray  # (N,) bool

    def __post_init__(self) -> None:
        n = len(self.texts)
        self.is_special = np.asarray(self.is_special, dtype=bool)
        self.is_byte = np.asarray(self.is_byte, dtype=bool)
        if self.is_special.shape != (n,) or self.is_byte.shape != (n,):
            raise ValueError(f"vocabulary flags must have shape ({n},)")

    def __len__(self) -> int:
        return len(self.texts)


#: The portable forms a model's tokenizer can take (the tokenizer step writes them, the dashboard reads them).
TOKENIZER_KINDS = ("tokenizers", "sentencepiece")


@dataclass(frozen=True)
class TokenizerFile:
    """The model's own tokenizer in a form a reader without torch or transformers can load.

    ``kind`` is "tokenizers" (``read()`` gives a Hugging Face ``tokenizers`` JSON, ``Tokenizer.to_str()``)
    or "sentencepiece" (``read()`` gives the SentencePiece model proto). ``read`` is called when the
    build writes the file, not when the model loads (a 250k-piece Unigram takes seconds to build).
    ``rows`` maps each tokenizer id to its row of the embedding matrix, -1 where it has none: (V,) int32.
    None means id i is row i, as for every real model; a sample of a model's rows (the tests) sets it.
    """

    kind: str
    read: Callable[[], bytes]
    rows: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.kind not in TOKENIZER_KINDS:
            raise ValueError(f"tokenizer kind {self.kind!r}: expected one of {TOKENIZER_KINDS}")


def tokenizers_file(tokenizer: Any) -> TokenizerFile:
    """A ``tokenizers.Tokenizer`` as a :class:`TokenizerFile`, without its padding and truncation settings
    (a lookup encodes one word; a checkpoint's ``max_length`` of 128 means nothing there)."""

    def read() -> bytes:
        portable = type(tokenizer).from_str(tokenizer.to_str())
        portable.no_padding()
        portable.no_truncation()
        return portable.to_str().encode("utf-8")

    return TokenizerFile("tokenizers", read)


@dataclass
class ModelData:
    """A loaded model: its vocabulary, its (N, d) float32 input-embedding matrix, and provenance.

    ``metadata`` holds at least ``id`` (what the user named), ``source`` (the source kind),
    ``revision`` (commit, version or file hash), and ``origin`` (where the weights were read from).
    """

    vocab: Vocabulary
    embeddings: np.ndarray  # (N, d) float32
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The model's tokenizer as text -> ids, for counting tokens over a corpus (None if unknown).
    encode: Callable[[str], list[int]] | None = None
    #: The same tokenizer as a file for the dashboard (None: a plain matrix with a vocabulary has none).
    tokenizer: TokenizerFile | None = None

    def __post_init__(self) -> None:
        self.embeddings = np.ascontiguousarray(self.embeddings, dtype=np.float32)
        if self.embeddings.ndim != 2:
            raise SourceError(f"embedding matrix must be 2-D, got shape {self.embeddings.shape}")
        if self.embeddings.shape[0] != len(self.vocab):
            raise SourceError(
                f"embedding matrix has {self.embeddings.shape[0]} rows but the vocabulary has "
                f"{len(self.vocab)} tokens; pass the matching tokenizer/vocabulary file"
            )
        if self.embeddings.shape[0] == 0:
            raise SourceError("the model has no tokens: its vocabulary and embedding matrix are empty")
        finite = np.isfinite(self.embeddings).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise SourceError(
                f"the embedding matrix has NaN or infinite values in {bad.size} rows (ids {bad[:5].tolist()}"
                f"{' …' if bad.size > 5 else ''}): the weights are damaged. Load them again, or set those rows "
                "to zero in a matrix file (zero rows are left out of every statistic) and build that"
            )
        self.metadata.setdefault("vocab_size", int(self.embeddings.shape[0]))
        self.metadata.setdefault("dim", int(self.embeddings.shape[1]))
