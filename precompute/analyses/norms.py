"""Embedding norms per token category: a quick look at how much weight each writing system carries.

Not in the paper; rare scripts often sit at small norms near the origin, which explains part of
their crowded neighbourhoods.
"""

from __future__ import annotations

import pandas as pd

from precompute.analyses.tokens import eligible_mask
from precompute.contract import schema
from precompute.steps import Step


def norm_artifacts(tokens: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``schema.NORMS_BY_CATEGORY``: category, n_tokens, mean, std (ddof=1), median of the L2 norm.

    Over eligible tokens only (not special, not zero rows); one row per category present, sorted.
    """
    eligible = tokens.loc[eligible_mask(tokens), ["category", "norm"]]
    norm = eligible["norm"].astype("float64")
    agg = norm.groupby(eligible["category"].astype(str), sort=True).agg(
        n_tokens="size", mean="mean", std="std", median="median"
    )
    out = agg.reset_index(names="category")
    out["category"] = out["category"].astype("string")
    out["n_tokens"] = out["n_tokens"].astype("int64")
    return {schema.NORMS_BY_CATEGORY: out[list(schema.TABLES[schema.NORMS_BY_CATEGORY].column_names)]}


STEP = Step("norms", needs=("tokens",), writes=(schema.NORMS_BY_CATEGORY,), threads=1,
            compute=lambda ctx: norm_artifacts(ctx.table(schema.TOKENS)))
