"""Shaping artifact tables for display: neighbour rows, counts, headline numbers.

Pure pandas/numpy functions (no Streamlit), so pages stay descriptions of the UI and these stay tested.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from precompute.contract import schema
from precompute.contract.categories import BOUNDARY, OTHER, PLOTTED, display_category
from precompute.contract.conventions import PAPER
from precompute.contract.intervals import ci95

#: Characters a table cell would not show, or would apply to the text around them: controls (``\r``),
#: format characters (zero-width space and joiners, bidi marks, embeddings and isolates, the BOM, the
#: soft hyphen), line and paragraph separators; plus the Hangul fillers, letters that draw as blanks.
#: Unicode puts them all in categories Cc, Cf, Zl and Zp except the fillers; none lies outside planes 0,
#: 1 and 14, so the scan is 200k code points, once.
_INVISIBLE = re.compile("[" + "".join(
    re.escape(chr(c)) for plane in (range(0x20000), range(0xE0000, 0xE1000)) for c in plane
    if unicodedata.category(chr(c)) in ("Cc", "Cf", "Zl", "Zp")) + "\u115f\u1160\u3164\uffa0]")


def visible(text: str) -> str:
    """Token text as tables, captions and labels show it: each invisible character written out.

    A right-to-left mark, a zero-width joiner or a carriage return in a token would otherwise be
    invisible (``",\u200e"`` would look like ``","``) or would reorder the text around it; written
    out, the token is told apart from its look-alikes and the text around it stays as it is. Every
    place that shows token text uses this one function (downloads keep the text as it is).

    >>> visible(",\u200e")
    ',⟨U+200E⟩'
    >>> visible("▁när")
    '▁när'
    """
    return _INVISIBLE.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", text)


def visible_texts(texts: pd.Series) -> pd.Series:
    """:func:`visible` of every text of a column (missing texts stay missing)."""
    return texts.map(visible, na_action="ignore")


def code_points(text: str) -> str:
    """The code points of ``text``, to see and copy what a token is made of.

    >>> code_points(",\u200e")
    'U+002C U+200E'
    """
    return " ".join(f"U+{ord(c):04X}" for c in text)


def neighbour_table(neighbors: np.ndarray, similarities: np.ndarray, tokens: pd.DataFrame, token_id: int,
                  k: int) -> pd.DataFrame:
    """The ``k`` nearest neighbours of one token from the exact table: rank, id, token, similarity, ….

    ``neighbors``/``similarities`` are the (N, k_stored) arrays (-1 = no neighbour); ``tokens`` is
    the token table indexed by position (row i = id i).
    """
    ids = np.asarray(neighbors[token_id, :k])
    sims = np.asarray(similarities[token_id, :k])
    valid = ids >= 0
    return rows_for_ids(tokens, ids[valid], sims[valid])


def rows_for_ids(tokens: pd.DataFrame, ids: Sequence[int], sims: Sequence[float]) -> pd.DataFrame:
    """Neighbour rows, ranked in the given order: from the exact table or found another way (Annoy)."""
    ids = np.asarray(ids, dtype=int)
    rows = tokens.iloc[ids]
    return pd.DataFrame({
        "rank": np.arange(1, len(ids) + 1), "id": ids, "token": rows["text"].to_numpy(),
        "similarity": np.asarray(sims, dtype=float), "category": rows["category"].to_numpy(),
        "language": rows["language"].to_numpy(), "gloss": rows["gloss"].to_numpy(),
    })


def mark_shared(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Add ``shared``: in how many *other* models' lists the same token text (boundary mark aside) appears."""
    keys = {m: set(t["token"].astype(str).str.replace(BOUNDARY, "", regex=False)) for m, t in tables.items()}
    out = {}
    for model, table in tables.items():
        bare = table["token"].astype(str).str.replace(BOUNDARY, "", regex=False)
        others = [keys[m] for m in tables if m != model]
        out[model] = table.assign(shared=[sum(b in o for o in others) for b in bare])
    return out


def poster_overlap(neighbors: pd.Series, reference: Sequence[str]) -> list[str]:
    """The tokens of a reference list (the poster's) that a model's neighbour list also holds, in the
    reference's order; token texts compared without the word-boundary mark, as :func:`mark_shared` does.

    >>> poster_overlap(pd.Series(["▁when", "▁då", "x"]), ["when", "når", "då"])
    ['when', 'då']
    """
    bare = set(neighbors.astype(str).str.replace(BOUNDARY, "", regex=False))
    return [t for t in dict.fromkeys(reference) if t in bare]


def value_counts_share(values: pd.Series, model: str, column: str) -> pd.DataFrame:
    """Counts and shares of each value, for a histogram that sends a few rows instead of every token."""
    counts = values.value_counts().sort_index()
    return pd.DataFrame({"model": model, column: counts.index.astype(int), "count": counts.to_numpy(),
                         "share": counts.to_numpy() / max(int(counts.sum()), 1)})


def mean_std(values: pd.Series) -> tuple[float, float]:
    """Mean and (sample) standard deviation, as the paper reports numNeighborCategory."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    return float(v.mean()) if len(v) else float("nan"), float(v.std(ddof=1)) if len(v) > 1 else float("nan")


def separability_headline(separability: pd.DataFrame, categories: Sequence[str] | None = None) -> tuple[float, int]:
    """Average probe accuracy over ``categories`` (default: every category that had a probe), and how many.

    One definition wherever the number appears (the Overview's card and table): the mean over the
    categories the model was probed on, among those selected.
    """
    rows = separability if categories is None else separability[separability["category"].isin(list(categories))]
    scored = pd.to_numeric(rows["mean"], errors="coerce").dropna()
    return (float(scored.mean()) if len(scored) else float("nan")), int(len(scored))


def weighted_mean(df: pd.DataFrame, value: str = "mean", weight: str = "n_tokens") -> float:
    """Token-weighted mean over per-category rows (the statistic over all tokens)."""
    w = pd.to_numeric(df[weight], errors="coerce").fillna(0).to_numpy(float)
    v = pd.to_numeric(df[value], errors="coerce").to_numpy(float)
    ok = ~np.isnan(v) & (w > 0)
    return float(np.average(v[ok], weights=w[ok])) if ok.any() else float("nan")


#: How the bin of the tokens a corpus never showed (decile 0, ``schema.UNSEEN_DECILE``) is labelled on axes.
NEVER_SEEN = "never seen"


def decile_label(decile: int) -> str:
    """A frequency bin as axes label it: "1" … "10" for the deciles of the tokens seen, else "never seen"."""
    return NEVER_SEEN if decile == schema.UNSEEN_DECILE else str(int(decile))


def decile_labels(deciles: pd.Series) -> tuple[pd.Series, list[str]]:
    """Each row's :func:`decile_label`, and the labels in axis order (rarest first).

    >>> decile_labels(pd.Series([2, 0, 1]))[1]
    ['never seen', '1', '2']
    """
    return deciles.map(decile_label), [decile_label(d) for d in sorted(deciles.unique())]


def row_at_k(df: pd.DataFrame | None, k: int) -> pd.Series | None:
    """The row of a one-row-per-k table (one convention's ``diversity_chance``) at ``k``, or None without one."""
    rows = df[df["k"] == k] if df is not None else None
    return rows.iloc[0] if rows is not None and len(rows) else None


def with_chance(value: float, chance: float | None, fmt: str = ".2f") -> str:
    """A statistic beside its value for neighbours carrying no information, as tables and notes write it.

    >>> with_chance(6.1234, 7.987)
    '6.12 (chance 7.99)'
    """
    text = format(value, fmt)
    return text if chance is None or pd.isna(chance) else f"{text} (chance {format(chance, fmt)})"


def plotted(df: pd.DataFrame, column: str = "category") -> tuple[pd.DataFrame, list[str]]:
    """The rows of categories the charts draw one by one (the paper's 15), and the raw labels left out.

    A per-category statistic (a probe's accuracy, a mean norm) of ARMENIAN or P cannot be pooled into
    "other" from its per-category rows, so charts draw the 15 and the page names the rest (the CSV keeps
    them).

    >>> plotted(pd.DataFrame({"category": ["LATIN", "P", "ARMENIAN"]}))[1]
    ['ARMENIAN', 'P']
    """
    keep = df[column].isin(PLOTTED)
    return df[keep], sorted(map(str, df.loc[~keep, column].unique()))


def fold_breakdown(breakdown: pd.DataFrame, convention: str) -> pd.DataFrame:
    """A category × neighbour-category breakdown in the display categories (the paper's 15 and "other").

    Refined: a cell is the mean count over *all* tokens of the row category, so cells add up: a column
    group's cell is the sum of its columns, a row group's the token-weighted mean of its rows, exactly;
    a row still sums to k. Paper: a cell averages only the tokens with a neighbour in that column
    category, which does not add up, so the unplotted rows and columns are left out (as the paper's
    figure did). ``breakdown``: columns ``category, neighbor_category, mean, n_tokens`` (one k).
    """
    df = breakdown.assign(category=breakdown["category"].map(display_category),
                          neighbor_category=breakdown["neighbor_category"].map(display_category))
    if convention == PAPER:
        return df[(df["category"] != OTHER) & (df["neighbor_category"] != OTHER)][
            ["category", "neighbor_category", "mean", "n_tokens"]].reset_index(drop=True)
    raw = breakdown.assign(neighbor_category=df["neighbor_category"])
    per_row = raw.groupby(["category", "neighbor_category"], sort=False).agg(
        mean=("mean", "sum"), n_tokens=("n_tokens", "first")).reset_index()
    per_row = per_row.assign(category=per_row["category"].map(display_category),
                             _total=per_row["mean"] * per_row["n_tokens"])
    out = per_row.groupby(["category", "neighbor_category"], sort=False)["_total"].sum().reset_index()
    # a row group's tokens: every raw row's, whether or not it has a neighbour in this column
    sizes = raw.groupby("category")["n_tokens"].first()
    sizes = sizes.groupby(sizes.index.map(display_category)).sum()
    out = out.assign(n_tokens=out["category"].map(sizes))
    return out.assign(mean=out["_total"] / out["n_tokens"])[["category", "neighbor_category", "mean", "n_tokens"]]


def outside(categories: pd.Series, selected: Sequence[str]) -> np.ndarray:
    """Which rows' (raw) categories fall outside the selected display categories, as a bool array."""
    return ~categories.astype("string").fillna("").map(display_category).isin(list(selected)).to_numpy(bool)


def by_decile(values: pd.Series, deciles: pd.Series) -> pd.DataFrame:
    """numNeighborCategory@k by frequency decile of the tokens given: decile, n_tokens, mean, ci95.

    The stored by-decile table is over every token; a page with a category filter recomputes it over
    the tokens it keeps (unranked tokens, below ``schema.UNSEEN_DECILE``, left out, as the build does).
    """
    keep = deciles.to_numpy() >= schema.UNSEEN_DECILE
    agg = pd.to_numeric(values[keep]).groupby(deciles[keep].to_numpy()).agg(["size", "mean", "std"])
    return pd.DataFrame({"decile": agg.index.to_numpy(), "n_tokens": agg["size"].to_numpy(),
                         "mean": agg["mean"].to_numpy(), "ci95": ci95(agg["std"].to_numpy(), agg["size"].to_numpy())})


def shares_concept(concepts: pd.Series, token: int, rows: np.ndarray) -> np.ndarray:
    """(len(rows),) bool: whether each of ``rows`` names a concept that ``token`` names (the token table's
    ``concept`` column joins several with ``schema.CONCEPT_SEPARATOR``; a token without one shares none)."""
    def names(value: object) -> set[str]:
        return set(str(value).split(schema.CONCEPT_SEPARATOR)) if pd.notna(value) else set()

    own = names(concepts.iloc[token])
    return np.array([bool(own & names(concepts.iloc[int(r)])) for r in rows], dtype=bool)
