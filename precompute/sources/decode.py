"""Token surface text (METHODS §1): from a tokenizer's raw pieces to the text every analysis sees.

Pure functions over lists of pieces, shared by every model source, so that the same token reads the
same whichever model it comes from (the shared vocabulary of two models depends on it):

- SentencePiece (XLM-R, mT5, Llama-2): pieces already carry the word-boundary mark ``▁``; kept as is.
- Byte-level BPE (GPT-2, BLOOM, Llama-3): pieces spell bytes through GPT-2's byte-to-unicode map
  (``Ġ`` is a space); decoded to UTF-8 text, every space shown as ``▁`` as SentencePiece does.
- WordPiece (BERT): word-initial pieces get ``▁``, continuation pieces lose their ``##``.

Special tokens keep their raw text and are flagged. Byte pieces — SentencePiece byte fallback
``<0xE3>`` and byte-level pieces that are not valid UTF-8 on their own — are kept, shown as
``<0xE3>``, and flagged ``is_byte``: they are fragments of characters, not text.

Example::

    >>> texts, is_byte = decode_byte_level(["ĠHello", "Ġ", "ãģ"])
    >>> texts, is_byte.tolist()
    (['▁Hello', '▁', '<0xE3><0x81>'], [False, False, True])
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache

import numpy as np

from precompute.contract.categories import BOUNDARY

from .base import Vocabulary

#: The tokenizer families we decode; ``plain`` keeps texts as given (a hand-made vocabulary).
KINDS = ("sentencepiece", "byte-bpe", "wordpiece", "plain")

_SP_BYTE = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")
# Names that mark a token as special whatever the tokenizer says: the usual control tokens, BERT's
# [CLS]/[unused12], T5's <extra_id_3>, GPT-style <|endoftext|>, the USE model's extra_token_id_1,
# and our own padding rows "<unused 250100>". Kept narrow on purpose: "<div>" or "<br>" are real text.
_SPECIAL_NAME = re.compile(
    r"^(?:<(?:pad|s|/s|unk|mask|cls|sep|bos|eos)>"
    r"|\[(?:PAD|UNK|CLS|SEP|MASK|unused\d+)\]"
    r"|<\|[^|\s]+\|>"
    r"|<extra_id_\d+>|<unused \d+>|extra_token_id_\d+)$"
)


@cache
def byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from the 256 byte values to printable unicode characters.

    Printable Latin-1 bytes map to themselves; the rest (space, control bytes …) are shifted to
    U+0100 onwards, which is why a space reads ``Ġ`` (U+0120) and a newline ``Ċ``.
    """
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    shifted = [b for b in range(256) if b not in keep]
    table = {b: chr(b) for b in keep}
    table.update({b: chr(256 + i) for i, b in enumerate(shifted)})
    return table


@cache
def _unicode_to_byte() -> dict[str, int]:
    return {c: b for b, c in byte_to_unicode().items()}


def _show_bytes(raw: bytes) -> tuple[str, bool]:
    """UTF-8 text of ``raw`` with spaces as ``▁``; bytes that do not decode shown as ``<0xE3>``."""
    try:
        return raw.decode("utf-8").replace(" ", BOUNDARY), False
    except UnicodeDecodeError:
        # surrogateescape keeps every undecodable byte as one lone surrogate U+DC80..U+DCFF.
        text = raw.decode("utf-8", errors="surrogateescape").replace(" ", BOUNDARY)
        return re.sub(r"[\udc80-\udcff]", lambda m: f"<0x{ord(m.group()) - 0xDC00:02X}>", text), True


def decode_sentencepiece(pieces: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """SentencePiece pieces keep ``▁``; byte-fallback pieces ``<0xE3>`` are flagged. Returns (texts, is_byte)."""
    is_byte = np.fromiter((bool(_SP_BYTE.match(p)) for p in pieces), dtype=bool, count=len(pieces))
    return list(pieces), is_byte


def decode_byte_level(pieces: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Byte-level BPE pieces (``ĠHello``) to text (``▁Hello``). Returns (texts, is_byte).

    A piece containing a character outside the byte alphabet (an added token, say) is kept as is.
    """
    to_byte = _unicode_to_byte()
    out = [
        _show_bytes(bytes(to_byte[c] for c in p)) if all(c in to_byte for c in p) else (p, False)
        for p in pieces
    ]
    texts = [t for t, _ in out]
    return texts, np.fromiter((b for _, b in out), dtype=bool, count=len(out))


def decode_wordpiece(pieces: Sequence[str], prefix: str = "##") -> tuple[list[str], np.ndarray]:
    """WordPiece: ``##ing`` -> ``ing``, ``play`` -> ``▁play``. Returns (texts, is_byte) (never bytes)."""
    n = len(prefix)
    texts = [p[n:] if p.startswith(prefix) and len(p) > n else BOUNDARY + p for p in pieces]
    return texts, np.zeros(len(pieces), dtype=bool)


def special_by_name(pieces: Iterable[str]) -> np.ndarray:
    """Flag pieces whose name marks them as special (``<pad>``, ``[CLS]``, ``<extra_id_0>`` …)."""
    return np.array([bool(_SPECIAL_NAME.match(p)) for p in pieces], dtype=bool)


def guess_kind(pieces: Sequence[str]) -> str:
    """Guess the tokenizer family of a bare vocabulary list (used for plain-matrix models).

    Byte-level BPE when ``Ġ`` starts at least 5% of pieces, WordPiece when ``##`` does, SentencePiece
    when ``▁`` does; otherwise ``plain`` (texts kept as given).
    """
    if not pieces:
        return "plain"
    share = {k: sum(p.startswith(k) for p in pieces) / len(pieces) for k in ("Ġ", "##", BOUNDARY)}
    for mark, kind in (("Ġ", "byte-bpe"), ("##", "wordpiece"), (BOUNDARY, "sentencepiece")):
        if share[mark] >= 0.05:
            return kind
    return "plain"


_DECODERS = {
    "sentencepiece": decode_sentencepiece,
    "byte-bpe": decode_byte_level,
    "wordpiece": decode_wordpiece,
    "plain": lambda pieces: (list(pieces), np.zeros(len(pieces), dtype=bool)),
}


def build_vocabulary(
    pieces: Sequence[str],
    kind: str,
    special_ids: Iterable[int] = (),
    n_rows: int | None = None,
) -> Vocabulary:
    """The Vocabulary of a tokenizer whose id ``i`` has raw piece ``pieces[i]``.

    ``special_ids`` (from the tokenizer) and special-looking names are flagged and keep their raw
    text. When the embedding matrix has more rows than the tokenizer has tokens (``n_rows``; mT5 pads
    250100 tokens to 250112 rows), the extra rows get the text ``<unused 250100>`` and are flagged
    special, so every row keeps its place. More tokens than rows is an error (wrong tokenizer).
    """
    if kind not in _DECODERS:
        raise ValueError(f"unknown tokenizer kind {kind!r}; expected one of {KINDS}")
    n_rows = len(pieces) if n_rows is None else n_rows
    if len(pieces) > n_rows:
        raise ValueError(
            f"the tokenizer has {len(pieces)} tokens but the embedding matrix only {n_rows} rows; "
            "the tokenizer does not belong to these weights"
        )
    texts, is_byte = _DECODERS[kind](pieces)
    special = special_by_name(pieces)
    ids = np.fromiter((i for i in special_ids if 0 <= i < len(pieces)), dtype=np.int64)
    special[ids] = True
    for i in np.flatnonzero(special):
        texts[i] = pieces[i]
    is_byte &= ~special
    pad = n_rows - len(pieces)
    return Vocabulary(
        texts=texts + [f"<unused {i}>" for i in range(len(pieces), n_rows)],
        is_special=np.concatenate([special, np.ones(pad, dtype=bool)]),
        is_byte=np.concatenate([is_byte, np.zeros(pad, dtype=bool)]),
    )


def tokenizer_kind(model_type: str, components: str) -> str:
    """Family of a ``tokenizers`` tokenizer from its model type and its pre-tokenizer/decoder spec.

    ``components`` is the JSON (or repr) of the pre-tokenizer and decoder: a ``ByteLevel`` step means
    byte-level BPE; a WordPiece model means WordPiece; Unigram or BPE with ``▁`` means SentencePiece.
    """
    if "ByteLevel" in components:
        return "byte-bpe"
    if model_type == "WordPiece":
        return "wordpiece"
    if model_type == "Unigram" or BOUNDARY in components or "Metaspace" in components:
        return "sentencepiece"
    return "plain"


def describe_tokenizer(tk) -> tuple[list[str], str, list[int]]:
    """Raw pieces by id, family and special ids of a ``tokenizers.Tokenizer`` (HF fast tokenizers too).

    Ids missing from the vocabulary (rare gaps) get ``<unused i>`` and count as special.
    """
    vocab = tk.get_vocab(with_added_tokens=True)
    n = max(vocab.values()) + 1 if vocab else 0
    pieces = [f"<unused {i}>" for i in range(n)]
    for piece, i in vocab.items():
        pieces[i] = piece
    components = " ".join(repr(c) for c in (tk.normalizer, tk.pre_tokenizer, tk.decoder))
    kind = tokenizer_kind(type(tk.model).__name__, components)
    special = [i for i, added in tk.get_added_tokens_decoder().items() if added.special]
    return pieces, kind, special
