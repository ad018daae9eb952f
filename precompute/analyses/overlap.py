"""Vocabulary overlap between tokenizers (METHODS §8) and the shared vocabulary (METHODS §1).

Token texts are compared exactly as the sources normalised them (``▁`` for a word start whatever
the tokenizer's own mark), so ``▁the`` in a SentencePiece vocabulary matches ``the`` from WordPiece.
Only *eligible* tokens count: special tokens, all-zero rows and undecodable byte pieces are left
out — a byte piece such as ``<0xE3>`` is an encoding artefact, not a word two models could share.

Some vocabularies hold one text under two ids (byte-level BPE decoding can map two byte strings to
the same text). A text counts once, and the shared vocabulary keeps its **lowest** id.

>>> import pandas as pd
>>> from precompute.contract.categories import token_categories
>>> def table(texts):
...     n = len(texts)
...     return pd.DataFrame({"id": range(n), "text": texts, "category": token_categories(texts),
...                          "is_special": [False] * n, "is_byte": [False] * n, "is_zero": [False] * n})
>>> shared_vocabulary({"a": table(["▁the", "▁кот", "x"]), "b": table(["x", "▁the"])})["text"].tolist()
['x', '▁the']
"""

from __future__ import annotations

from functools import reduce

import numpy as np
import pandas as pd

from precompute.analyses.tokens import eligible_mask
from precompute.contract import schema

_REQUIRED = ("id", "text", "category", "is_special", "is_byte", "is_zero")


def eligible_texts(tokens: pd.DataFrame, slug: str = "model") -> pd.DataFrame:
    """The model's eligible tokens as ``id, text, category``, one row per text (its lowest id), sorted by text.

    ``tokens`` is the model's token table (schema.TOKEN_COLUMNS; at least id, text, category and the
    flags). Its ``category`` is ``categories.token_categories`` of the text, computed once by the
    model's build: a text has the same category in every model, so the comparison reads it there.
    """
    missing = [c for c in _REQUIRED if c not in tokens.columns]
    if missing:
        raise ValueError(
            f"token table of {slug!r} lacks columns {missing}; it needs {list(_REQUIRED)} "
            "(build the model first: python -m precompute build MODEL)"
        )
    keep = eligible_mask(tokens) & ~tokens["is_byte"].to_numpy(bool)
    table = pd.DataFrame({
        "id": tokens["id"].to_numpy(np.int32)[keep],
        "text": tokens["text"].to_numpy(object)[keep],
        "category": tokens["category"].to_numpy(object)[keep],
    })
    table = table.sort_values(["text", "id"], kind="stable").drop_duplicates("text", keep="first")
    return table.reset_index(drop=True)


def shared_vocabulary(tokens_by_model: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Token texts eligible in every model: ``text, category, id__<slug>…`` (schema.SHARED_TOKENS).

    One int32 id column per model (``schema.shared_id_column(slug)``), in the order the models are
    given; rows sorted by text (code-point order); ``category`` by the paper's rule on the text (the
    first model's token table's, see :func:`eligible_texts`).
    """
    if not tokens_by_model:
        raise ValueError("shared_vocabulary needs at least one model's token table")
    frames = [
        eligible_texts(tokens, slug).rename(columns={"id": schema.shared_id_column(slug)})
        for slug, tokens in tokens_by_model.items()
    ]
    frames[1:] = [frame.drop(columns="category") for frame in frames[1:]]
    shared = reduce(lambda left, right: left.merge(right, on="text", how="inner"), frames)
    shared = shared.sort_values("text", kind="stable").reset_index(drop=True)
    out = pd.DataFrame({"text": pd.array(shared["text"].tolist(), dtype="string"),
                        "category": pd.array(shared["category"].tolist(), dtype="string")})
    for slug in tokens_by_model:
        column = schema.shared_id_column(slug)
        out[column] = shared[column].to_numpy(np.int32)
    return out


def vocabulary_overlap(tokens_by_model: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Shared token texts of every ordered pair of models (schema.VOCAB_OVERLAP), diagonal included.

    Columns ``model_a, model_b, n_shared, n_shared_non_latin, non_latin_share``: a full square
    (both orders, symmetric values), so both heatmaps draw straight from it. The diagonal is a
    model's whole eligible vocabulary. Non-LATIN means the text's category is anything but LATIN
    (other scripts, but also numbers, punctuation and symbols). ``non_latin_share`` is null where
    two models share nothing (0/0 has no value).

    Counts come from one model × text incidence matrix ``M``: ``M @ Mᵀ`` counts shared texts and
    ``M @ diag(non_latin) @ Mᵀ`` the non-LATIN ones, all pairs at once.
    """
    if not tokens_by_model:
        raise ValueError("vocabulary_overlap needs at least one model's token table")
    slugs = list(tokens_by_model)
    eligible = [eligible_texts(tokens_by_model[s], s) for s in slugs]
    pooled = pd.concat(eligible, ignore_index=True)
    codes, uniques = pd.factorize(pooled["text"])
    rows = np.repeat(np.arange(len(slugs)), [len(t) for t in eligible])
    incidence = np.zeros((len(slugs), len(uniques)), dtype=np.float64)
    incidence[rows, codes] = 1.0
    non_latin = np.zeros(len(uniques), dtype=bool)
    non_latin[codes] = pooled["category"].to_numpy(object) != "LATIN"  # a text's category is the same everywhere
    # Counts of at most a few million are exact in float64; matmul is BLAS, not a Python loop.
    n_shared = np.rint(incidence @ incidence.T).astype(np.int64)
    n_non_latin = np.rint((incidence * non_latin) @ incidence.T).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n_shared > 0, n_non_latin / np.maximum(n_shared, 1), np.nan)
    a, b = np.meshgrid(np.arange(len(slugs)), np.arange(len(slugs)), indexing="ij")
    return pd.DataFrame(
        {
            "model_a": pd.array(np.asarray(slugs, dtype=object)[a.ravel()], dtype="string"),
            "model_b": pd.array(np.asarray(slugs, dtype=object)[b.ravel()], dtype="string"),
            "n_shared": n_shared.ravel(),
            "n_shared_non_latin": n_non_latin.ravel(),
            "non_latin_share": pd.array(share.ravel(), dtype="Float64"),
        }
    )
