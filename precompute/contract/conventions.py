"""The two conventions every statistic is computed under, named once.

``paper``: as the authors' code did it (METHODS, "The paper's conventions"), so that numbers are
comparable with the publication: a token's category is the majority label of its raw text, where
the boundary mark ``▁`` counts as a symbol; numNeighborCategory@k counts the token itself among its
neighbourhood; a category breakdown averages over the tokens that have at least one neighbour in
the column's category; separability error bars are 95% bootstrap intervals of the fold accuracies.

``refined``: ours: ``▁`` stripped before the category rule, the token itself left out, zeros
included in breakdown means, error bars mean ± sd over folds.

Both are precomputed; the dashboard's switch only chooses which rows or columns it reads.
"""

from __future__ import annotations

PAPER = "paper"
REFINED = "refined"
CONVENTIONS: tuple[str, ...] = (PAPER, REFINED)
#: What the dashboard shows first: numbers comparable with the publication.
DEFAULT = PAPER


def column_suffix(convention: str) -> str:
    """How a per-token column is named under ``convention``: ``category`` / ``category_paper``."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    return "_paper" if convention == PAPER else ""


def category_column(convention: str) -> str:
    """The token table's category column under ``convention``: ``category`` or ``category_paper``."""
    return "category" + column_suffix(convention)
