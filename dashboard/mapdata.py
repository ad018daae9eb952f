"""What the WebGL map (:mod:`dashboard.components.webmap`) is sent: every token of a panel packed into one compact
binary payload, the density shading, and the link between a selection and the URL.

Pure numpy/pandas (no Streamlit), tested in tests/test_map_page.py.

Why a hand-packed payload: a panel of 250,000 tokens as JSON rows (pydeck's way) is 17 MB; packed it is
about 16 bytes a token: positions as two uint16 (1/65,535 of the panel's extent, finer than a pixel
at 100× zoom), the category, numNeighborCategory@k, norm and frequency each one byte (so switching the
colour sends nothing), the language as a code into a list of names, and the texts and glosses as one
gzip-compressed column of lines (XLM-R's 250k texts: 3.6 MB as JSON, 1.5 MB compressed). The browser
draws from the arrays at once and unpacks the texts afterwards with its own ``DecompressionStream`` (no
library), so neither their size nor their parsing delays the first frame. The payload does not change
when a token is selected: what changes (selection, search, neighbours) travels in a second, small message.

Layout of a payload (little endian)::

    b"HPM2" | uint32 n_header | header JSON (utf-8, space-padded to 4) | per panel: x, y, language
    (uint16 × n), category, diversity, norm, frequency (uint8 × n), density (uint8 × G²), the text column
    (gzip of the n texts then the n glosses, "" for none, one a line: ``text_bytes`` in the header),
    zero padding to 4. The header also gives each panel its labels (:func:`cluster_labels`) and how many
    tokens its layout left unplaced.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

MAGIC = b"HPM2"
#: Side of the density grid (G × G cells over the panel's extent), drawn under the points.
DENSITY_GRID = 128
#: One byte per value: 0–254 are values, this one is "no value" (drawn grey).
MISSING = 255
#: Numeric colourings and the token-table column each reads (diversity is joined per k by the page).
VALUE_COLUMNS: dict[str, str] = {"diversity": "diversity", "norm": "norm", "frequency": "frequency_decile"}
#: Vega's viridis (Altair's sequential scheme on the other pages), the ramp of numeric colourings.
VIRIDIS = ("#440154", "#482475", "#414487", "#355f8d", "#2a788e", "#21918c", "#22a884", "#44bf70",
           "#7ad151", "#bddf26", "#fde725")
#: Most neighbours' tokens highlighted per panel for a lasso (each selected token brings k of them).
MAX_LINKED = 400
#: The labels drawn on the map (:func:`cluster_labels`): clusters are found on a raster of this side over the
#: panel's extent (a cell is about 20 px of a panel at rest), a label counts its category's tokens in a block of
#: 3 × 3 cells, and a block needs this many of them.
LABEL_GRID, MIN_LABEL_TOKENS = 24, 25
#: Most labels a panel gets, and how many of a cluster's most frequent tokens each lists.
MAX_LABELS, LABEL_TOKENS = 12, 3
#: Longest token a label lists: a longer one is passed over for the next most frequent (a label never cuts a token).
LABEL_TOKEN_CHARS = 12
#: A label's block: 3 × 3 cells, each counted once; and the same weighted towards its centre (to find peaks).
BLOCK, CENTRED = np.ones((3, 3), np.int64), np.outer([1, 2, 1], [1, 2, 1])


@dataclass(frozen=True)
class Panel:
    """One map panel: a model (or a model on the shared vocabulary) and its tokens.

    ``tokens`` has one row per drawn point: ``x, y`` (float), ``text``, ``category`` (as charts colour
    it), ``language``, ``gloss``, ``diversity``, ``norm``, ``frequency_decile``, ``frequency`` (missing
    allowed; it orders the labels' tokens) and ``id`` (the model's vocabulary id, to look up neighbours).
    ``unplaced`` counts the tokens shown that the layout gave no position (the panel says so beside its count).
    ``version`` names what the tokens were made from (files' checksums, layout, k, convention, categories):
    the same version packs to the same bytes.
    """

    slug: str
    label: str
    tokens: pd.DataFrame
    version: tuple = ()
    unplaced: int = 0


def quantize(values: np.ndarray, lo: float, hi: float, levels: int) -> np.ndarray:
    """``values`` mapped linearly from ``[lo, hi]`` onto the integers ``0 … levels - 1`` (clipped).

    >>> quantize(np.array([0.0, 0.5, 1.0]), 0.0, 1.0, 255).tolist()
    [0, 127, 254]
    """
    span = (hi - lo) or 1.0
    steps = np.floor((np.asarray(values, float) - lo) / span * (levels - 1) + 0.5)
    return np.clip(steps, 0, levels - 1).astype(np.uint16 if levels > 256 else np.uint8)


def value_bytes(values: pd.Series) -> tuple[np.ndarray, float, float, bool]:
    """One byte per token for a numeric colouring, with the range it spans and whether it is integral.

    Integer values spanning fewer than 255 steps (numNeighborCategory@k, deciles) keep their exact
    value (byte = value - min); others are quantised over their 1st–99th percentile, so one outlier
    (a 120-norm special token) does not flatten the ramp. Missing values become :data:`MISSING`.
    """
    v = pd.to_numeric(values, errors="coerce").to_numpy(float)
    ok = np.isfinite(v)
    out = np.full(len(v), MISSING, np.uint8)
    if not ok.any():
        return out, 0.0, 0.0, True
    lo, hi = float(v[ok].min()), float(v[ok].max())
    integral = bool(np.all(v[ok] == np.round(v[ok]))) and hi - lo < MISSING
    if integral:
        out[ok] = (v[ok] - lo).astype(np.uint8)
        return out, lo, hi, True
    lo, hi = (float(q) for q in np.percentile(v[ok], [1, 99]))
    out[ok] = quantize(v[ok], lo, hi, MISSING)
    return out, lo, hi, False


def density(x: np.ndarray, y: np.ndarray, grid: int = DENSITY_GRID) -> np.ndarray:
    """How crowded each cell of a ``grid × grid`` raster over the unit square is: (grid, grid) uint8, row = y.

    Counts smoothed by a 5-cell binomial kernel and scaled by their square root (so that a sparse
    script's cluster still shows next to LATIN's crowd), 255 at the most crowded cell.
    """
    counts, _, _ = np.histogram2d(y, x, bins=grid, range=[[0, 1], [0, 1]])
    kernel = np.array([1, 4, 6, 4, 1], float) / 16
    for axis in (0, 1):
        counts = np.apply_along_axis(np.convolve, axis, counts, kernel, mode="same")
    shade = np.sqrt(counts)
    return (shade / (shade.max() or 1) * 255).astype(np.uint8)


def _block_sums(counts: np.ndarray, weights: np.ndarray = BLOCK) -> np.ndarray:
    """Each cell's sum over the 3 × 3 cells around it, ``weights`` (3, 3) each (edges padded with zeros);
    ``counts`` is (C, G, G)."""
    padded = np.pad(counts, ((0, 0), (1, 1), (1, 1)))
    return np.einsum("cijkl,kl->cij", np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2)), weights)


def cluster_labels(ux: np.ndarray, uy: np.ndarray, cat: np.ndarray, names: Sequence[str], texts: np.ndarray,
                   rank: np.ndarray, grid: int = LABEL_GRID, most: int = MAX_LABELS,
                   min_tokens: int = MIN_LABEL_TOKENS) -> list[dict]:
    """The map's labels: where each category's tokens crowd, and which of its tokens are there.

    ``ux, uy`` (n,) are positions in the unit square, ``cat`` (n,) codes into ``names``, ``texts`` (n,) the
    tokens as shown, ``rank`` (n,) orders them (0 = most frequent). On a ``grid × grid`` raster, a cluster is a
    block of 3 × 3 cells holding at least ``min_tokens`` tokens of one category, and more of them (weighted
    towards its centre) than any block whose centre is within two cells. Every category's largest cluster
    comes first (largest first: where is THAI?), then the other clusters by size (the LATIN crowd's parts), at
    most ``most``; two clusters of a category are three cells apart or more. A label sits at the mean position
    of its tokens and gives the category, its share of all the tokens in the block, its count and its
    ``LABEL_TOKENS`` most frequent tokens there of two characters or more (then single ones; none longer than
    :data:`LABEL_TOKEN_CHARS`). Deterministic: the same tokens give the same labels.

    >>> xy = np.r_[np.full(30, 0.1), np.full(30, 0.9)]
    >>> cat, texts = np.r_[np.zeros(30, int), np.ones(30, int)], np.array([f"w{i}" for i in range(60)])
    >>> [(x["category"], x["n"], x["tokens"]) for x in cluster_labels(xy, xy, cat, ["LATIN", "THAI"], texts,
    ...                                                                 np.arange(60))]
    [('LATIN', 30, ['w0', 'w1', 'w2']), ('THAI', 30, ['w30', 'w31', 'w32'])]
    """
    ix = np.clip((np.asarray(ux) * grid).astype(np.int64), 0, grid - 1)
    iy = np.clip((np.asarray(uy) * grid).astype(np.int64), 0, grid - 1)
    cat = np.asarray(cat, np.int64)
    counts = np.bincount((cat * grid + iy) * grid + ix, minlength=len(names) * grid * grid)
    counts = counts.reshape(len(names), grid, grid)
    block = _block_sums(counts)
    # peaks of the counts weighted towards the block's centre, so that a crowd in one cell is centred on it
    score = _block_sums(counts, CENTRED)
    around = np.lib.stride_tricks.sliding_window_view(np.pad(score, ((0, 0), (2, 2), (2, 2))), (5, 5), axis=(1, 2))
    c, i, j = np.nonzero((block >= min_tokens) & (score == around.max(axis=(-2, -1))))
    by_size = np.argsort(-block[c, i, j], kind="stable")  # ties in raster order
    first = np.zeros(len(by_size), bool)
    first[np.unique(c[by_size], return_index=True)[1]] = True  # each category's largest
    order = np.r_[by_size[first], by_size[~first]]
    everyone = block.sum(axis=0)
    texts = np.asarray(texts, dtype=object)
    chosen: list[tuple[int, int, int]] = []
    labels = []
    for at in order:
        if len(labels) == most:
            break
        if any(cc == c[at] and max(abs(ii - i[at]), abs(jj - j[at])) < 3 for cc, ii, jj in chosen):
            continue  # a plateau's twin, or the same cluster again
        chosen.append((c[at], i[at], j[at]))
        rows = np.flatnonzero((cat == c[at]) & (np.abs(iy - i[at]) <= 1) & (np.abs(ix - j[at]) <= 1))
        rows = rows[np.argsort(rank[rows], kind="stable")]
        fit = [t for t in map(str, texts[rows]) if t.strip() and len(t) <= LABEL_TOKEN_CHARS]
        longer = [t for t in fit if len(t.strip("▁ ")) > 1]  # "▁de", "中国" say more than "s", "e", "a"
        shown = (longer + [t for t in fit if len(t.strip("▁ ")) <= 1])[:LABEL_TOKENS]
        labels.append({"x": round(float(np.mean(ux[rows])), 4), "y": round(float(np.mean(uy[rows])), 4),
                       "category": names[c[at]], "n": len(rows),
                       "share": round(len(rows) / int(everyone[i[at], j[at]]), 3), "tokens": shown})
    return labels


def frequency_rank(tokens: pd.DataFrame) -> np.ndarray:
    """Each token's place when the most frequent come first (no estimate last), then by vocabulary id: (n,) int."""
    freq = pd.to_numeric(tokens["frequency"], errors="coerce") if "frequency" in tokens else pd.Series(
        np.nan, index=tokens.index)
    ids = tokens["id"].to_numpy() if "id" in tokens else np.arange(len(tokens))
    rank = np.empty(len(tokens), np.int64)
    rank[np.lexsort((ids, -freq.fillna(-1.0).to_numpy(float)))] = np.arange(len(tokens))
    return rank


def text_column(texts: pd.Series, glosses: pd.Series) -> bytes:
    """The texts, then the glosses ("" for none), one a line, gzip-compressed: what hover, search and the
    linked selection read in the browser, which unpacks it after the first frame.

    A line break inside a text or a gloss becomes a space (token texts have none: :func:`tables.visible`
    writes control characters out). ``mtime=0``: the same tokens give the same bytes.

    >>> gzip.decompress(text_column(pd.Series(["▁när", "東京"]), pd.Series([None, "Tokyo"]))).decode()
    '▁när\\n東京\\n\\nTokyo'
    """
    lines = pd.concat([texts, glosses], ignore_index=True).astype("string").fillna("")
    return gzip.compress("\n".join(lines.str.replace("\n", " ", regex=False)).encode("utf-8"), mtime=0)


def pack_panel(panel: Panel, categories: Sequence[str]) -> tuple[dict, bytes]:
    """One panel's part of the payload: its header entry and its bytes (arrays, text column, padding).

    The costly part of packing (250k texts compressed: about 0.4 s), so the page keeps it per panel
    version and a payload of other panels around it reuses it. ``categories`` as for :func:`pack`.
    """
    df = panel.tokens
    x, y = df["x"].to_numpy(float), df["y"].to_numpy(float)
    x0, x1, y0, y1 = float(x.min()), float(x.max()), float(y.min()), float(y.max())
    ux, uy = (x - x0) / ((x1 - x0) or 1), (y - y0) / ((y1 - y0) or 1)
    rank = {c: i for i, c in enumerate(categories)}
    cat = df["category"].astype(str).map(rank).fillna(len(categories) - 1).to_numpy(np.uint8)
    languages, lang = np.unique(df["language"].fillna("").astype(str).to_numpy(), return_inverse=True)
    values, ranges = [], {}
    for name, column in VALUE_COLUMNS.items():
        b, lo, hi, integral = value_bytes(df[column] if column in df else pd.Series(np.nan, index=df.index))
        values.append(b)
        ranges[name] = {"min": lo, "max": hi, "integral": integral}
    texts = text_column(df["text"], df["gloss"] if "gloss" in df else pd.Series(pd.NA, index=df.index))
    labels = cluster_labels(ux, uy, cat, list(categories), df["text"].to_numpy(), frequency_rank(df))
    meta = {"slug": panel.slug, "label": panel.label, "n": len(df), "unplaced": panel.unplaced,
            "extent": [x0, x1, y0, y1], "languages": languages.tolist(), "ranges": ranges, "labels": labels,
            "text_bytes": len(texts)}
    arrays = [quantize(ux, 0, 1, 65_536), quantize(uy, 0, 1, 65_536), lang.astype(np.uint16), cat, *values,
              density(ux, uy).ravel()]
    blob = b"".join(np.ascontiguousarray(a, a.dtype.newbyteorder("<")).tobytes() for a in arrays) + texts
    return meta, blob + b"\0" * (-len(blob) % 4)  # the next panel's uint16 arrays start aligned


def pack(panels: Sequence[tuple[dict, bytes]], categories: Sequence[str], colours: Mapping[str, str],
         signature: str) -> bytes:
    """The payload of the map: the packed panels (:func:`pack_panel`), the category names and their colours.

    ``categories`` are in legend order (the last one takes any category not listed); ``signature``
    names the payload, so the browser knows a payload it has already drawn.
    """
    header = json.dumps({"signature": signature, "categories": list(categories),
                         "colours": [colours.get(c, "#999999") for c in categories], "ramp": list(VIRIDIS),
                         "grid": DENSITY_GRID, "panels": [meta for meta, _ in panels]},
                        ensure_ascii=False).encode("utf-8")
    header += b" " * (-len(header) % 4)  # the arrays after it start on a 4-byte boundary (JSON allows the spaces)
    return MAGIC + np.uint32(len(header)).astype("<u4").tobytes() + header + b"".join(blob for _, blob in panels)


def unpack(payload: bytes) -> tuple[dict, list[dict[str, np.ndarray]]]:
    """The payload read back as the browser reads it (dashboard/components/webmap.js ``parse``): the header, whose
    panels get their ``texts`` and ``glosses`` (lists), and per panel its arrays by name.

    The reader of the format next to its writer, for the tests and whoever inspects what a page sent.
    """
    if payload[:4] != MAGIC:
        raise ValueError(f"not a map payload: it starts with {payload[:4]!r}, not {MAGIC!r}")
    n0 = int(np.frombuffer(payload[4:8], "<u4")[0])
    header, off, panels = json.loads(payload[8:8 + n0]), 8 + n0, []
    for p in header["panels"]:
        arrays, n = {}, p["n"]
        for name, dtype, count in [("x", "<u2", n), ("y", "<u2", n), ("lang", "<u2", n), ("cat", "u1", n),
                                   *((name, "u1", n) for name in VALUE_COLUMNS),
                                   ("density", "u1", header["grid"] ** 2)]:
            arrays[name] = np.frombuffer(payload, dtype, count, off)
            off += arrays[name].nbytes
        lines = gzip.decompress(payload[off:off + p["text_bytes"]]).decode("utf-8").split("\n")
        p["texts"], p["glosses"] = lines[:n], lines[n:]
        off += p["text_bytes"] + (-(off + p["text_bytes"]) % 4)
        panels.append(arrays)
    return header, panels


# ---- the selection in the URL --------------------------------------------------------------------------
_IDS = re.compile(r"^[0-9a-z]+(\.[0-9a-z]+)*$")


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


def encode_ids(ids: Sequence[int]) -> str:
    """Sorted ids as base-36 gaps joined by dots: a lasso of 100 tokens in a few hundred characters.

    >>> encode_ids([5, 1, 40, 41])
    '1.4.z.1'
    """
    s = sorted({int(i) for i in ids})
    return ".".join(_base36(b - a) for a, b in zip([0, *s], s, strict=False))


def decode_ids(text: str) -> list[int]:
    """The ids :func:`encode_ids` wrote; [] for anything else (a hand-edited link).

    >>> decode_ids('1.4.z.1'), decode_ids('nonsense!')
    ([1, 5, 40, 41], [])
    """
    if not _IDS.match(text or ""):
        return []
    return np.cumsum([int(part, 36) for part in text.split(".")]).tolist()


def rows_of_texts(texts: pd.Series, wanted: Sequence[str]) -> np.ndarray:
    """Positions in ``texts`` (a panel's token texts) of the tokens spelled like one of ``wanted``."""
    return np.flatnonzero(texts.isin(list(wanted)).to_numpy())


def drawn_neighbour_positions(ids: np.ndarray, neighbors: np.ndarray, selected: Sequence[int], k: int,
                   limit: int = MAX_LINKED) -> np.ndarray:
    """Positions in a panel (whose points are the vocabulary ids ``ids``) of the ``k`` nearest neighbours
    of the ``selected`` vocabulary ids, the selected ones themselves left out; at most ``limit``.

    ``neighbors`` is the model's (N, k_stored) table, -1 for none. A neighbour that the panel does not
    draw (a special token, a category filtered out) is left out.
    """
    chosen = np.asarray(list(selected), dtype=np.int64)
    chosen = chosen[(chosen >= 0) & (chosen < len(neighbors))]
    if not len(chosen):
        return np.empty(0, np.int64)
    near = np.asarray(neighbors[np.sort(chosen)][:, :k]).ravel()
    near = np.setdiff1d(near[near >= 0], chosen)
    order = np.argsort(ids, kind="stable")
    at = np.searchsorted(ids, near, sorter=order)
    hit = at < len(ids)
    rows = order[at[hit]][ids[order[at[hit]]] == near[hit]]
    return np.sort(rows)[:limit]


def differing_texts(geometry_tokens: pd.DataFrame, a: str, b: str, k: int, n: int) -> list[str]:
    """The ``n`` shared texts whose neighbourhoods in models ``a`` and ``b`` overlap least (Jaccard@k),
    from the comparison's per-token table (either pair order; the nearest k it holds)."""
    pair = geometry_tokens[((geometry_tokens["model_a"] == a) & (geometry_tokens["model_b"] == b))
                           | ((geometry_tokens["model_a"] == b) & (geometry_tokens["model_b"] == a))]
    if pair.empty:
        return []
    ks = pair["k"].unique()
    nearest = ks[np.argmin(np.abs(ks - k))]
    return pair[pair["k"] == nearest].nsmallest(n, "jaccard")["text"].astype(str).tolist()
