"""The token table (METHODS §1–2) and the build's first two steps: the matrix and the token table.

Structural columns (id, text, flags, category, norm) come from here; language, frequency and
gloss columns from ``language`` and ``meaning``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from precompute.analyses import freedict, language, lexicon
from precompute.contract import schema
from precompute.contract.categories import token_categories
from precompute.contract.conventions import PAPER, category_column
from precompute.sources.base import Vocabulary
from precompute.steps import BuildContext, Step


def base_token_table(vocab: Vocabulary, embeddings: np.ndarray) -> pd.DataFrame:
    """One row per id: ``id, text, is_special, is_byte, is_zero, category, category_paper, norm``.

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
            category_column(PAPER): pd.array(token_categories(vocab.texts, PAPER), dtype="string"),
            "norm": norms,
        }
    )


def eligible_mask(tokens: pd.DataFrame) -> np.ndarray:
    """Tokens that enter statistics (METHODS §1): (N,) bool.

    Not special, not a zero row, and not an undecodable byte piece (``<0x41>``: a byte, not text,
    so it has no writing system); byte pieces stay in the neighbour table and can be looked up.
    """
    flags = tokens["is_special"].to_numpy(bool) | tokens["is_zero"].to_numpy(bool)
    if "is_byte" in tokens:
        flags |= tokens["is_byte"].to_numpy(bool)
    return ~flags




def frequency_deciles(frequency: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Deciles of frequency among eligible tokens seen at least once: 1 = rarest … 10 = most frequent.

    Tokens never seen get their own bin, ``schema.UNSEEN_DECILE`` (0): ordering them into the lowest
    deciles by id would mix a fifth of a vocabulary into deciles that then mean nothing. Tokens that
    are not eligible get ``schema.NOT_RANKED_DECILE`` (-1). Ranks, ties by id, so equal frequencies
    still split evenly.
    """
    out = np.full(len(frequency), schema.NOT_RANKED_DECILE, dtype=np.int8)
    out[eligible] = schema.UNSEEN_DECILE
    idx = np.flatnonzero(eligible & (np.asarray(frequency) > 0))
    if len(idx) == 0:
        return out
    order = idx[np.lexsort((idx, frequency[idx]))]
    out[order] = (np.arange(len(order)) * 10 // len(order) + 1).astype(np.int8)
    return out


def token_table(vocab: Vocabulary, embeddings: np.ndarray, dictionaries: pd.DataFrame | None = None) -> pd.DataFrame:
    """The whole token table (schema.TOKENS): structure, language guess, frequency, gloss and concept.

    ``dictionaries`` (``english, foreign, language``: the installed FreeDict ones in a build) add
    general vocabulary to the CLDR concepts and glosses.
    """
    table = base_token_table(vocab, embeddings)
    concepts = lexicon.concept_columns(vocab.texts, dictionaries)
    langs = language.language_columns(
        vocab.texts, table["category"].to_numpy(object), concepts["concept_language"].tolist()
    )
    table = pd.concat([table, langs, concepts[["gloss", "concept"]]], axis=1)
    table["frequency_decile"] = frequency_deciles(table["frequency"].to_numpy(), eligible_mask(table))
    return table[list(schema.TABLES[schema.TOKENS].column_names)]


def tokens_by_frequency(ctx: BuildContext) -> pd.DataFrame:
    """The token table, its deciles from corpus counts where ``precompute frequency`` wrote them."""
    table = ctx.table(schema.TOKENS)
    if ctx.store.has(schema.CORPUS_FREQUENCY):
        counts = ctx.table(schema.CORPUS_FREQUENCY)["count"].to_numpy()
        table["frequency_decile"] = frequency_deciles(counts, eligible_mask(table))
    return table


STEPS = (
    Step("embeddings", writes=(schema.EMBEDDINGS,), compute=lambda ctx: {schema.EMBEDDINGS: ctx.model.embeddings}),
    Step("tokens", writes=(schema.TOKENS,), inputs=lambda ctx: [freedict.fingerprint()],
         compute=lambda ctx: {schema.TOKENS: token_table(ctx.model.vocab, ctx.model.embeddings,
                                                         freedict.installed_or_warn())}),
)
