"""Sizes from file headers, before any data is read, and what a build of that size will need.

A matrix file states its shape in a header: ``.npy`` in a small dictionary after the magic string
(``numpy.lib.format``), ``.safetensors`` in a JSON object after an 8-byte length. Reading those first
refuses a bad or oversized file in milliseconds: a 3-token vocabulary against a 2^31-element matrix,
a header that claims more bytes than the file holds, a tensor whose float32 copy exceeds this
machine's memory. Without it those failed after reading gigabytes, or inside a memory map with a
raw ``RuntimeError``.

:func:`build_needs` then says, before the hours start, what a build of ``rows × dim`` will take:

    >>> from precompute.contract.config import BuildConfig
    >>> config = BuildConfig(products="float32")
    >>> print(build_needs(10_000_000, 384, config, gemm_flops=200e9, cores=2).describe(memory=128 * 10**9))
    ... # doctest: +NORMALIZE_WHITESPACE
    A build of 10,000,000 tokens × 384 dims (k=100) needs about 76.1 GB of memory at its peak
      (the float32 matrix 15.4 GB; the exact neighbour table 31.4 GB; the UMAP 60.7 GB)
      and about 2 d 22 h: the exact neighbour table 2 d 21 h (at 200 GFLOP/s), the UMAP 41 min 40 s.
"""

from __future__ import annotations

import functools
import json
import math
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

from precompute.contract.config import BuildConfig
from precompute.knn.neighbors import CANDIDATES_AT_FIRST, DEFAULT_BLOCK, TILE_COLUMNS, resolve_device
from precompute.knn.rescore import choose_products, filter_width

from .base import SourceError

#: The longest safetensors JSON header read; the safetensors library refuses longer ones too.
MAX_SAFETENSORS_HEADER = 100_000_000
#: Bytes per element of each safetensors dtype code.
SAFETENSORS_ITEMSIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
    "U32": 4, "I32": 4, "F32": 4, "U64": 8, "I64": 8, "F64": 8,
}


@dataclass(frozen=True)
class TensorHeader:
    """One tensor as its file's header describes it: no data read.

    ``offset`` is where its bytes start in the file, ``nbytes`` how many the header says it has.
    """

    shape: tuple[int, ...]
    dtype: str  # a NumPy dtype string ("<f4") or a safetensors code ("BF16")
    offset: int
    nbytes: int

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


def npy_header(path: Path) -> TensorHeader:
    """The shape and dtype of a ``.npy`` file, from its header alone."""
    try:
        with open(path, "rb") as f:
            version = npy_format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = npy_format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = npy_format.read_array_header_2_0(f)
            else:  # 3.0 only differs for structured dtypes with non-Latin-1 field names: not a matrix
                raise ValueError(f"format version {version[0]}.{version[1]} holds no plain numeric matrix")
            offset = f.tell()
    except ValueError as err:
        raise SourceError(f"Cannot read {path} as a NumPy array: {err}. Save it with numpy.save.") from None
    if dtype.hasobject:
        raise SourceError(f"{path} holds Python objects, not numbers; save the matrix as a float array.")
    return TensorHeader(tuple(shape), dtype.str, offset, math.prod(shape) * dtype.itemsize)


def safetensors_header(path: Path) -> dict[str, TensorHeader]:
    """Every tensor of a ``.safetensors`` file by name, from its JSON header alone (length checked first)."""
    size = path.stat().st_size

    def damaged(why: str) -> SourceError:
        return SourceError(
            f"Cannot read {path}: {why}. The file is damaged or incomplete (an interrupted download?); "
            "download it again."
        )

    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise damaged("it is shorter than the 8-byte header length")
        (length,) = struct.unpack("<Q", head)
        if length > min(MAX_SAFETENSORS_HEADER, size - 8):
            raise damaged(f"its header claims {length:,} bytes (the file has {size:,}; at most "
                          f"{MAX_SAFETENSORS_HEADER:,} are allowed)")
        try:
            header = json.loads(f.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise damaged(f"its header is not JSON ({err})") from None
    if not isinstance(header, dict):
        raise damaged("its header is not a JSON object")
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        tensors[name] = _safetensors_entry(entry, 8 + length, size, lambda why, n=name: damaged(f"tensor {n!r} {why}"))
    return tensors


def _safetensors_entry(entry: Any, data_start: int, file_size: int, damaged) -> TensorHeader:
    """One header entry, checked: a known dtype, a shape of naturals, offsets that match it and fit the file."""
    if not isinstance(entry, dict):
        raise damaged("is not described by an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in SAFETENSORS_ITEMSIZE:
        raise damaged(f"has an unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
        raise damaged(f"has an invalid shape {shape!r}")
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(n) is int for n in offsets)
            or not 0 <= offsets[0] <= offsets[1]):
        raise damaged(f"has invalid data offsets {offsets!r}")
    nbytes = math.prod(shape) * SAFETENSORS_ITEMSIZE[dtype]
    if offsets[1] - offsets[0] != nbytes:
        raise damaged(f"claims shape {shape} of {dtype} ({nbytes:,} bytes) in {offsets[1] - offsets[0]:,} bytes")
    if data_start + offsets[1] > file_size:
        raise damaged(f"ends at byte {data_start + offsets[1]:,} of a {file_size:,}-byte file")
    return TensorHeader(tuple(shape), dtype, data_start + offsets[0], nbytes)


def memory_limit() -> int:
    """Bytes of memory this process can have at most: physical memory, or a lower cgroup limit."""
    import psutil

    limit = psutil.virtual_memory().total
    try:
        cgroup = Path("/sys/fs/cgroup/memory.max").read_text().strip()
    except OSError:
        return limit
    return min(limit, int(cgroup)) if cgroup.isdigit() else limit


def check_matrix(header: TensorHeader, path: Path, *, rows: int | None = None, memory: int | None = None) -> None:
    """Refuse, before reading, a matrix that is not 2-D, whose rows differ from ``rows`` (the vocabulary's
    size, when it must match), whose data the file cannot hold, or whose float32 copy exceeds ``memory``
    (default :func:`memory_limit`)."""
    if len(header.shape) != 2:
        raise SourceError(
            f"The tensor in {path} has shape {header.shape}, not (vocab, dim): pass the input-embedding matrix "
            "(--tensor NAME picks a tensor of a safetensors file)."
        )
    if rows is not None and header.shape[0] != rows:
        raise SourceError(
            f"The matrix {path} has shape {header.shape} but the vocabulary has {rows} tokens; they must match row "
            "for row (one token per row). Pass the matching vocabulary."
        )
    if header.offset + header.nbytes > path.stat().st_size:
        raise SourceError(
            f"{path} claims a {header.shape} matrix ({header.nbytes:,} bytes of data) but holds "
            f"{path.stat().st_size:,} bytes: the file is damaged or incomplete; write or download it again."
        )
    check_memory(header.shape, path, memory=memory)


def check_memory(shape: tuple[int, ...], where: Path | str, *, memory: int | None = None) -> None:
    """Refuse a (rows, dim) matrix whose float32 copy exceeds ``memory`` (default :func:`memory_limit`)."""
    need, memory = 4 * math.prod(shape), memory_limit() if memory is None else memory
    if need > memory:
        raise SourceError(
            f"The {' × '.join(f'{n:,}' for n in shape)} matrix in {where} needs {_bytes(need)} as float32, more "
            f"than this machine's {_bytes(memory)} of memory: build it on a larger machine."
        )


@dataclass(frozen=True)
class BuildNeeds:
    """Rough memory (bytes) and time (seconds) of a model build, from its size alone.

    Memory: the float32 matrix, the exact neighbour table (unit rows, heaps, the table, one block
    product per thread) and the UMAP (two copies of the rows, its k-NN graph and fuzzy graph);
    the peak is the matrix plus the larger of the two steps. Time: the exact table's N²·d
    multiply-adds at the GEMM rate (plus selection), and UMAP's single-threaded epochs at their
    measured cost per row. Within a factor of about 1.5 of the default models' builds; the other
    steps take less than these two (METHODS' build figures).
    """

    rows: int
    dim: int
    k: int
    matrix_bytes: int
    exact_bytes: int
    umap_bytes: int
    exact_seconds: float
    umap_seconds: float
    gemm_flops: float
    filtered: bool = False  #: bfloat16 products behind the exact filter (precompute.knn.rescore)
    device: str = "cpu"  #: where the exact table runs: "cpu" or "cuda"

    @property
    def peak_bytes(self) -> int:
        return self.matrix_bytes + max(self.exact_bytes, self.umap_bytes)

    @property
    def seconds(self) -> float:
        return self.exact_seconds + self.umap_seconds

    def describe(self, memory: int | None = None) -> str:
        """Three lines for the user before the build starts, and a fourth when the peak exceeds ``memory``
        (default :func:`memory_limit`)."""
        text = (
            f"A build of {self.rows:,} tokens × {self.dim:,} dims (k={self.k}) needs about {_bytes(self.peak_bytes)} "
            f"of memory at its peak\n  (the float32 matrix {_bytes(self.matrix_bytes)}; the exact neighbour table "
            f"{_bytes(self.exact_bytes)}; the UMAP {_bytes(self.umap_bytes)})\n  and about {_duration(self.seconds)}: "
            f"the exact neighbour table {_duration(self.exact_seconds)} "
            f"({'on the GPU, ' if self.device == 'cuda' else ''}at {self.gemm_flops / 1e9:.0f} GFLOP/s"
            f"{', bfloat16 products' if self.filtered else ''}), "
            f"the UMAP {_duration(self.umap_seconds)}."
        )
        memory = memory_limit() if memory is None else memory
        if self.peak_bytes > memory:
            text += (f"\n  This machine has {_bytes(memory)} of memory: the build will likely run out of it. Build on "
                     "a larger machine, or use fewer tokens.")
        return text


#: The exact table's time over its N²·d multiply-adds at the GEMM rate: selection, ordering and
#: blocks below the peak (measured 1.19–1.3 on the default models, AMD EPYC, 2 cores).
EXACT_OVERHEAD = 1.3
#: The share of that time a table takes behind the bfloat16 filter (Xeon with AMX, 2 cores, the same hour:
#: 0.68 on use-multilingual-v3, 0.67 on multilingual-e5-small).
FILTERED_SHARE = 0.7
#: On a GPU, the exact table's time over N²·d flops at the GPU's float32 rate, and its time per pair of rows
#: (the selection): fitted to an H200's whole tables (benchmarks/gpu_table.py: multilingual-e5-small 2.9 s,
#: a random 250,000 x 4,096 matrix 11.0 s, at 51 TFLOP/s; use-multilingual-v3 1.3 s, predicted 0.8 s).
#: The selection is bound by the GPU's memory: expect more per pair on smaller cards.
GPU_PRODUCT_OVERHEAD = 1.8
GPU_SECONDS_PER_PAIR = 3.3e-11
#: Seconds per row of the map step's UMAP (120 float32 epochs at 15 neighbours, single-threaded under a
#: fixed seed; about 0.45x the CPU of umap-learn's 200 epochs, measured 0.51 ms a row at 250,002 rows).
UMAP_SECONDS_PER_ROW = 0.25e-3
#: Bytes per row and UMAP neighbour of its k-NN arrays, fuzzy graph and its symmetrised copies.
UMAP_BYTES_PER_EDGE = 200


def build_needs(
    rows: int, dim: int, config: BuildConfig, *, gemm_flops: float | None = None, cores: int | None = None
) -> BuildNeeds:
    """What building a ``rows × dim`` model with ``config`` will need, roughly.

    ``gemm_flops``: the float32 matrix-product rate of the device the exact table runs on
    (``config.device``; default :func:`gemm_rate` there); ``cores``: threads of the exact search (default
    ``config.n_jobs`` or every core). Call it with the shape from :func:`npy_header` or
    :func:`safetensors_header` before reading a matrix, or with ``model.embeddings.shape`` after.
    """
    cores = cores or config.n_jobs or os.cpu_count() or 1
    device = resolve_device(config.device).type
    gemm_flops = gemm_flops or gemm_rate(device)
    k, row_bytes = config.k, 4 * dim
    # each thread's tile of its share of a block's rows, and its list of column candidates as it starts
    # (precompute.knn.neighbors, on CPU; a GPU holds its blocks in its own memory)
    blocks = 4 * min(rows, DEFAULT_BLOCK) * min(rows, TILE_COLUMNS) + cores * 12 * CANDIDATES_AT_FIRST
    # unit rows, heaps (ids + values: k wide, or the bfloat16 filter's width with its rescoring's masks), table
    filtered = choose_products(config.products, rows, device) == "bfloat16"
    heaps = 8 * rows * k if not filtered else 11 * rows * filter_width(k, rows)
    exact_bytes = rows * row_bytes + heaps + 8 * rows * k + (blocks if device == "cpu" else 0)
    umap_bytes = 2 * rows * row_bytes + rows * config.umap_neighbors * UMAP_BYTES_PER_EDGE
    # N²·d/2 multiply-adds = N²·d flops
    if device == "cpu":
        exact_seconds = EXACT_OVERHEAD * rows**2 * dim / gemm_flops * (FILTERED_SHARE if filtered else 1)
    else:
        exact_seconds = GPU_PRODUCT_OVERHEAD * rows**2 * dim / gemm_flops + GPU_SECONDS_PER_PAIR * rows**2
    return BuildNeeds(
        rows=rows, dim=dim, k=k, matrix_bytes=rows * row_bytes, exact_bytes=exact_bytes, umap_bytes=umap_bytes,
        exact_seconds=exact_seconds, umap_seconds=UMAP_SECONDS_PER_ROW * rows * config.umap_neighbors / 15,
        gemm_flops=gemm_flops, filtered=filtered, device=device,
    )


@functools.cache
def gemm_rate(device: str = "cpu", size: int = 0, repeats: int = 3) -> float:
    """The float32 matrix-product rate in FLOP/s of this machine's CPU (NumPy, ``size`` 1024 by default) or
    of its GPU (``"cuda"``: torch, TF32 off as in the table, 4096 by default, large enough to fill it): the
    best of a few ``size``³ products, measured once a process, in well under a second."""
    size = size or (4096 if device == "cuda" else 1024)
    if device == "cuda":
        import torch

        a = torch.randn(size, size, device=device)
        product = lambda: torch.mm(a, a)  # noqa: E731
        wait = torch.cuda.synchronize
    else:
        a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
        product = lambda: a @ a  # noqa: E731
        wait = lambda: None  # noqa: E731
    product()  # the first call pays for thread start-up (on a GPU, for its libraries)
    wait()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        product()
        wait()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def _bytes(n: float) -> str:
    """``512 B``, ``15.4 GB``: decimal units, as disks and ``free -h --si`` count them."""
    units = ("B", "kB", "MB", "GB", "TB")
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n, i = n / 1000, i + 1
    return f"{n:.0f} B" if i == 0 else f"{n:.1f} {units[i]}"


def _duration(seconds: float) -> str:
    """``42 s``, ``12 min 5 s``, ``15 h 17 min``, ``3 d 8 h``."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"
