"""The model's own tokenizer as an artifact (``schema.TOKENIZER``): the dashboard splits a typed word into
the pieces the model itself sees, without torch or transformers.

Why an artifact: each model splits a word its own way (``when`` is the one piece ``▁when`` in all four
default models, ``नमस्ते`` one piece in multilingual-e5-small's vocabulary but several in Llama-2's), and
looking a word up by its text alone finds another piece (the word-internal ``when``) in some models.
The hosted dashboard reads a bundle and cannot load a checkpoint, so the build writes the tokenizer in
a portable form. The file is JSON::

    {"format": "hyperpolyglot-tokenizer", "version": 1,
     "kind": "tokenizers",       # "data": the tokenizers library's JSON (Tokenizer.to_str())
           | "sentencepiece",    # "data": the SentencePiece model proto, base64
           | "none",             # the source has no tokenizer (a plain matrix with a vocabulary file)
     "data": "…", "rows": null,  # or the token-table row of each tokenizer id, -1 for none
     "why": "…"}                 # kind "none" only: what the source lacks

``rows`` is null for every real model (tokenizer id i is row i); a sample of a model's rows (the tests)
names the rows its ids became. The build writes the file (``precompute.analyses.tokenizer``); reading
(:func:`read_tokenizer`) imports ``tokenizers`` or
``sentencepiece`` only when a file of that kind is read: the dashboard imports this module.

Example::

    >>> encoder = read_tokenizer((Path("artifacts/wordllama-l2") / schema.TOKENIZER).read_bytes())
    >>> [(p.row, p.piece) for p in encoder.split("नमस्ते")][:2]
    [(29871, '▁'), (30424, 'न')]
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

FORMAT = "hyperpolyglot-tokenizer"
VERSION = 1
#: The kinds a file can hold: the two portable tokenizer forms, or none.
TOKENIZERS, SENTENCEPIECE, NONE = "tokenizers", "sentencepiece", "none"
#: The largest file read (Gemma's 262k-piece tokenizer.json is 33 MiB): a 173 MB one took a server to 2.2 GB.
MAX_BYTES = 64 << 20


def _is_panic(error: BaseException) -> bool:
    """Whether ``error`` is a Rust panic surfacing through pyo3 (``pyo3_runtime.PanicException``, which derives
    from BaseException: an ``except Exception`` lets it through and the page's script dies, spinning)."""
    return type(error).__name__ == "PanicException"


def _guarded(call: Callable[..., Any], who: str, doing: str) -> Callable[..., Any]:
    """``call`` with a tokenizer's errors and panics turned into a ValueError naming ``who``."""
    def run(*args: Any) -> Any:
        try:
            return call(*args)
        except BaseException as e:
            if not (isinstance(e, Exception) or _is_panic(e)):
                raise
            shown = f" {str(args[0])[:40]!r}" if doing == "on" else ""
            raise ValueError(f"{who}'s tokenizer failed {doing}{shown} ({str(e).splitlines()[0][:200]})") from None
    return run


@dataclass(frozen=True)
class Piece:
    """One piece of a split text: the tokenizer's id and piece, and its row in the token table (-1: none)."""

    id: int
    piece: str
    row: int


@dataclass(frozen=True)
class Encoder:
    """A model's tokenizer read back from its artifact. ``kind`` "none": the model has none (``why``)."""

    kind: str
    why: str = ""
    encode: Callable[[str], list[int]] | None = None
    piece: Callable[[int], str] | None = None
    rows: np.ndarray | None = None

    @property
    def available(self) -> bool:
        return self.encode is not None

    def row(self, token_id: int) -> int:
        """The token-table row of tokenizer id ``token_id``, -1 when the matrix has none."""
        if self.rows is None:
            return token_id
        return int(self.rows[token_id]) if 0 <= token_id < len(self.rows) else -1

    def split(self, text: str) -> list[Piece]:
        """``text`` split as the model splits it (no special tokens added), each piece with its row.

        >>> [p.piece for p in encoder.split("when")]   # wordllama-l2
        ['▁when']
        """
        if self.encode is None or self.piece is None:
            raise ValueError(f"this model has no tokenizer: {self.why}")
        return [Piece(i, self.piece(i), self.row(i)) for i in self.encode(text)]


def read_tokenizer(raw: bytes | str, who: str = "this model") -> Encoder:
    """The :class:`Encoder` of a ``schema.TOKENIZER`` file's contents; ``who`` (the model) is named in errors.

    Raises ValueError naming what is wrong when the contents are not such a file (of this version), are
    larger than ``MAX_BYTES``, or the tokenizer library rejects or panics on them; the encoder's ``split``
    raises ValueError naming ``who`` when the library fails on a text (a pathological regex panics).
    """
    if len(raw) > MAX_BYTES:
        raise ValueError(f"{len(raw) / 2**20:,.0f} MiB is more than a tokenizer needs ({MAX_BYTES / 2**20:,.0f} MiB)")
    try:
        doc = json.loads(raw)
        if doc.get("format") != FORMAT or doc.get("version") != VERSION:
            raise ValueError(f"format {doc.get('format')!r} version {doc.get('version')!r}")
        kind = doc["kind"]
        rows = None if doc.get("rows") is None else np.asarray(doc["rows"], dtype=np.int64)
    except (ValueError, AttributeError, KeyError, TypeError, OverflowError) as e:
        raise ValueError(f"not a {FORMAT} file of version {VERSION} ({e}): rebuild the model's tokenizer step") \
            from None
    if kind == NONE:
        return Encoder(NONE, why=str(doc.get("why", "")))
    if kind == TOKENIZERS:
        from tokenizers import Tokenizer

        tk = _guarded(Tokenizer.from_str, who, "to load")(doc["data"])
        return Encoder(kind, encode=_guarded(lambda text: tk.encode(text, add_special_tokens=False).ids, who, "on"),
                       piece=lambda i: tk.id_to_token(i) or "", rows=rows)
    if kind == SENTENCEPIECE:
        import sentencepiece as spm

        sp = _guarded(lambda data: spm.SentencePieceProcessor(model_proto=base64.b64decode(data)), who, "to load")(
            doc["data"])
        return Encoder(kind, encode=_guarded(lambda text: sp.encode(text, out_type=int), who, "on"),
                       piece=sp.id_to_piece, rows=rows)
    raise ValueError(f"unknown tokenizer kind {kind!r} (known: {TOKENIZERS}, {SENTENCEPIECE}, {NONE})")
