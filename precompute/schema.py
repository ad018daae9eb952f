"""The artifact contract: every file name and column the dashboard and outside tools rely on.

One home for these names — import them, never spell them out elsewhere. The README documents the
same contract for people. Changing a name here is a breaking change: bump ``SCHEMA_VERSION``.

Layout::

    artifacts/<model-slug>/manifest.json       per-model build (see store.Manifest)
    artifacts/<model-slug>/<file>               files listed in the manifest
    artifacts/comparisons/<slug>/manifest.json  cross-model build
"""

from __future__ import annotations

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
COMPARISONS_DIR = "comparisons"
#: Environment variable naming the artifact directory (default ``./artifacts``).
ARTIFACTS_ENV = "HYPERPOLYGLOT_ARTIFACTS"

# ---- per model -------------------------------------------------------------------------------
#: Embedding matrix, L2 norms untouched: (N, d) float32. Input of every later step.
EMBEDDINGS = "embeddings.npy"
#: One row per vocabulary id.
TOKENS = "tokens.parquet"
TOKEN_COLUMNS = (
    "id",                   # int32, the vocabulary id (row of the embedding matrix)
    "text",                 # surface text, word-initial pieces start with "▁" (METHODS §1)
    "is_special",           # bool, <pad>, <s>, [CLS] …: excluded from statistics
    "is_byte",              # bool, an undecodable byte piece such as <0xE3>
    "is_zero",              # bool, zero-norm row: no neighbours, nobody's neighbour
    "category",             # str, the paper's rule (precompute.categories)
    "language",             # str or None, ISO 639-1 guess
    "language_confidence",  # float32 in [0, 1]
    "language_source",      # str: "wordfreq", "cldr" (a CLDR name), "script", or "none"
    "frequency",            # float32, wordfreq word frequency summed over languages (mC4 proxy)
    "frequency_decile",     # int8, 1 = rarest … 10 = most frequent, 0 = not ranked (special)
    "norm",                 # float32, L2 norm of the embedding row
    "gloss",                # str or None, English gloss from the CLDR translation clusters
    "concept",              # str or None, id of the CLDR concept the token names
)
#: Exact top-k neighbours by cosine, self excluded: (N, k) int32, -1 where there is none.
NEIGHBORS = "neighbors.npy"
#: Their cosine similarities: (N, k) float32, 0 where the id is -1.
SIMILARITIES = "similarities.npy"
#: Annoy index (angular) over the same rows, item i = vocabulary id i.
ANNOY = "annoy.ann"

DIVERSITY = "diversity.parquet"
#: Columns of DIVERSITY, one row per non-special, non-zero token.
DIVERSITY_KS = (10, 50, 100)
DIVERSITY_COLUMNS = ("id",) + tuple(f"n_categories_at_{k}" for k in DIVERSITY_KS) + tuple(
    f"entropy_at_{k}" for k in DIVERSITY_KS
)
#: token category x neighbour category: k, category, neighbor_category, mean, ci95, n_tokens
DIVERSITY_BREAKDOWN = "diversity_breakdown.parquet"
#: per token category: k, category, n_tokens, mean, std, entropy_mean, entropy_ci95
DIVERSITY_BY_CATEGORY = "diversity_by_category.parquet"
#: per frequency decile: k, decile, n_tokens, mean, ci95, entropy_mean, entropy_ci95
DIVERSITY_BY_DECILE = "diversity_by_decile.parquet"

SEPARABILITY = "separability.parquet"
#: category, n_tokens, mean, std, folds (list of 10 floats), note (why a category was skipped —
#: then mean/std are null and folds empty — or in how many folds lbfgs stopped at max_iter)
SEPARABILITY_COLUMNS = ("category", "n_tokens", "mean", "std", "folds", "note")
#: category_a, category_b, n_tokens (the balanced sample, both classes together), mean, std
SEPARABILITY_PAIRWISE = "separability_pairwise.parquet"
#: out-of-fold predictions: category (the probe), id, label (bool), predicted (bool), probability
#: (float32, of label True)
SEPARABILITY_PREDICTIONS = "separability_predictions.parquet"

#: per token category: category, n_tokens, mean, std, median
NORMS_BY_CATEGORY = "norms_by_category.parquet"
#: id, umap_x, umap_y, pca_x, pca_y
MAP = "map.parquet"

#: per token category: k, category, n_tokens, mean, ci95  (neighbours sharing a concept, METHODS §6)
MEANING = "meaning.parquet"
#: per token with a concept: id, k, n_shared
MEANING_TOKENS = "meaning_tokens.parquet"
#: translation retrieval per category: category, n_tokens, p_at_1, p_at_10
TRANSLATION_RETRIEVAL = "translation_retrieval.parquet"
#: token counts over a corpus (precompute frequency): id, count
CORPUS_FREQUENCY = "corpus_frequency.parquet"

# ---- comparisons -----------------------------------------------------------------------------
#: model_a, model_b, n_shared, n_shared_non_latin, non_latin_share
VOCAB_OVERLAP = "vocab_overlap.parquet"
#: text, category, then one column id__<slug> per model
SHARED_TOKENS = "shared_tokens.parquet"
#: model_a, model_b, category ("ALL" or a category), n_tokens, jaccard_mean, jaccard_ci95,
#: overlap_mean, cka, procrustes_residual (the last two only on "ALL" rows)
GEOMETRY = "geometry.parquet"
#: per pair and shared token: model_a, model_b, text, jaccard
GEOMETRY_TOKENS = "geometry_tokens.parquet"
#: UMAP of the shared vocabulary, one per model: model, text, x, y
SHARED_MAP = "shared_map.parquet"
ALL_CATEGORIES = "ALL"


def shared_id_column(slug: str) -> str:
    """Column of SHARED_TOKENS holding one model's vocabulary id."""
    return f"id__{slug}"
