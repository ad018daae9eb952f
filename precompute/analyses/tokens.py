"""The token table (METHODS §1–2) and the build's first two steps: the matrix and the token table.

Structural columns (id, text, flags, category, norm) come from here; language, frequency and
gloss columns from ``language`` and ``meaning``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from precompute.analyses import freedict, frequency, language, lexicon
from precompute.contract import schema
from precompute.contract.categories import token_categories
from precompute.contract.conventions import PAPER, category_column
from precompute.sources.base import TokenizerFile, Vocabulary
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




def frequency_deciles(frequency: np.ndarray, eligible: np.ndarray, estimated: bool = False) -> np.ndarray:
    """Deciles of frequency among eligible tokens seen at least once: 1 = rarest … 10 = most frequent.

    Tokens never seen get their own bin, ``schema.UNSEEN_DECILE`` (0): ordering them into the lowest
    deciles by id would mix a fifth of a vocabulary into deciles that then mean nothing. Where the
    frequency is an ``estimated`` one (word lists, not a corpus) a 0 says only that no list produced the
    token: ``schema.NO_ESTIMATE_DECILE`` instead. Tokens that are not eligible get
    ``schema.NOT_RANKED_DECILE`` (-1). Ranks, ties by id, so equal frequencies still split evenly.
    """
    out = np.full(len(frequency), schema.NOT_RANKED_DECILE, dtype=np.int8)
    out[eligible] = schema.NO_ESTIMATE_DECILE if estimated else schema.UNSEEN_DECILE
    idx = np.flatnonzero(eligible & (np.asarray(frequency) > 0))
    if len(idx) == 0:
        return out
    order = idx[np.lexsort((idx, frequency[idx]))]
    out[order] = (np.arange(len(order)) * 10 // len(order) + 1).astype(np.int8)
    return out


def frequency_source(tokenizer: TokenizerFile | None) -> str:
    """How the token table's ``frequency`` was estimated, in words (the manifest's ``frequency_source``)."""
    if tokenizer is None:
        return ("wordfreq frequency of each token's text as a word, summed over languages: the model has no "
                "tokenizer to split word lists with")
    return (f"token counts estimated from word lists: the {frequency.WORDS_PER_LANGUAGE:,} most frequent words of "
            f"each of wordfreq's {len(frequency.MC4_TOKENS_BILLIONS)} languages split by the model's tokenizer, "
            "weighted by word frequency and by each language's share of mC4 (mT5 paper, Table 6)")


def token_table(vocab: Vocabulary, embeddings: np.ndarray, dictionaries: pd.DataFrame | None = None,
                tokenizer: TokenizerFile | None = None) -> pd.DataFrame:
    """The whole token table (schema.TOKENS): structure, language guess, frequency, gloss and concept.

    ``dictionaries`` (``english, foreign, language``: the installed FreeDict ones in a build) add
    general vocabulary to the CLDR concepts and glosses. With the model's ``tokenizer`` the frequency
    is a token count estimated from word lists (``frequency.wordlist_token_counts``); without one,
    the wordfreq frequency of the token's text as a word (``frequency_source`` says which).
    """
    # The model's own work first: the workers of a build start their token tables together, and the
    # tables every model shares (the CLDR concepts, in the file cache) are computed by one while the
    # others wait for it; after its own word lists, a worker of a larger model finds them done.
    counts = None if tokenizer is None else frequency.wordlist_token_counts(tokenizer, len(vocab)).astype(np.float32)
    table = base_token_table(vocab, embeddings)
    hints = lexicon.concept_columns(vocab.texts)["concept_language"]  # CLDR's, which no dictionary changes
    langs = language.language_columns(vocab.texts, table["category"].to_numpy(object), hints.tolist())
    # A token is looked up in its own language's dictionaries only (METHODS §6).
    concepts = lexicon.concept_columns(vocab.texts, dictionaries, langs["language_guess"])
    table = pd.concat([table, langs, concepts[["gloss", "concept"]]], axis=1)
    if counts is not None:
        table["frequency"] = counts
    table["frequency_decile"] = frequency_deciles(table["frequency"].to_numpy(), eligible_mask(table),
                                                  estimated=True)
    return table[list(schema.TABLES[schema.TOKENS].column_names)]


def _tokens(ctx: BuildContext) -> dict[str, pd.DataFrame]:
    """The tokens step: the table, and its frequency's source recorded in the manifest for the pages."""
    model = ctx.model
    ctx.store.manifest["frequency_source"] = frequency_source(model.tokenizer)
    return {schema.TOKENS: token_table(model.vocab, model.embeddings, freedict.installed_or_warn(), model.tokenizer)}


def tokens_by_frequency(ctx: BuildContext) -> pd.DataFrame:
    """The token table, its deciles from corpus counts where ``precompute frequency`` wrote them."""
    table = ctx.table(schema.TOKENS)
    if ctx.store.has(schema.CORPUS_FREQUENCY):
        counts = ctx.table(schema.CORPUS_FREQUENCY)["count"].to_numpy()
        table["frequency_decile"] = frequency_deciles(counts, eligible_mask(table))
    return table


STEPS = (
    Step("embeddings", writes=(schema.EMBEDDINGS,), threads=1,
         compute=lambda ctx: {schema.EMBEDDINGS: ctx.model.embeddings}),
    # version 2: dictionary concepts in the token's guessed language only; 3: no function words, CLDR names in
    # the languages that use them, glosses that both dictionaries give and common English words first
    Step("tokens", writes=(schema.TOKENS,), compute=_tokens, threads=1, version=3,
         inputs=lambda ctx: [freedict.fingerprint(), frequency_source(ctx.model.tokenizer),
                             frequency.MC4_TOKENS_BILLIONS]),
)
