"""The token table's structural columns: id, text, flags, category and norm (METHODS §1–2).

Language, frequency and gloss columns come from ``language`` and ``meaning``; the pipeline joins them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from precompute.categories import token_categories
from precompute.sources.base import Vocabulary


def base_token_table(vocab: Vocabulary, embeddings: np.ndarray) -> pd.DataFrame:
    """One row per id: ``id, text, is_special, is_byte, is_zero, category, norm``.

    ``embeddings`` is the (N, d) float32 matrix; rows of norm 0 (padding rows are often all
    zeros) are flagged ``is_zero`` so the neighbour search can leave them out.
    """
    norms = np.linalg.norm(embeddings, axis=1).astype(np.float32)
    return pd.DataFrame(
        {
            "id": np.arange(len(vocab), dtype=np.int32),
            "text": pd.array(vocab.texts, dtype="string"),
            "is_special": vocab.is_special,
            "is_byte": vocab.is_byte,
            "is_zero": norms == 0,
            "category": pd.array(token_categories(vocab.texts), dtype="string"),
            "norm": norms,
        }
    )


def eligible_mask(tokens: pd.DataFrame) -> np.ndarray:
    """Tokens that enter statistics: not special, not a zero row (METHODS §1). (N,) bool."""
    return ~(tokens["is_special"].to_numpy(bool) | tokens["is_zero"].to_numpy(bool))


def frequency_deciles(frequency: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Deciles of frequency among eligible tokens: 1 = rarest … 10 = most frequent; 0 = not ranked.

    Ranks (ties by id) rather than value cut points, so the many zero-frequency tokens still
    spread over the lowest deciles instead of collapsing into one bin.
    """
    out = np.zeros(len(frequency), dtype=np.int8)
    idx = np.flatnonzero(eligible)
    if len(idx) == 0:
        return out
    order = idx[np.lexsort((idx, frequency[idx]))]
    out[order] = (np.arange(len(order)) * 10 // len(order) + 1).astype(np.int8)
    return out
