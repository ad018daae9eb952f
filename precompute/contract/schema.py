"""The artifact contract: every file name, table column and dtype the dashboard and outside tools rely on.

One home for these names — import them, never spell them out elsewhere. The store checks every
table against its declaration when it writes it (:meth:`Table.check`), so a producer cannot drift
from the contract. The README documents the same contract for people. Changing a name here is a
breaking change: bump ``SCHEMA_VERSION``.

Layout::

    artifacts/<model-slug>/manifest.json       per-model build (see precompute.contract.store)
    artifacts/<model-slug>/<file>               files listed in the manifest
    artifacts/comparisons/<slug>/manifest.json  cross-model build

A new analysis declares its own tables with :func:`declare` in its module (see precompute.steps).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from precompute.contract.conventions import PAPER, category_column

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
COMPARISONS_DIR = "comparisons"
#: Environment variable naming the artifact directory (default ``./artifacts``).
ARTIFACTS_ENV = "HYPERPOLYGLOT_ARTIFACTS"
#: Environment variable naming the root of every cache (default ``~/.cache/hyperpolyglot``): the builds'
#: shared tables (``precompute.cache``) and the dashboard's bundle downloads (``dashboard.remote``).
CACHE_ENV = "HYPERPOLYGLOT_CACHE"
#: The category value of a comparison row that covers every category.
ALL_CATEGORIES = "ALL"


def cache_root() -> Path:
    """``$HYPERPOLYGLOT_CACHE``, else ``~/.cache/hyperpolyglot``; read at each call (tests point it elsewhere)."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "hyperpolyglot")


class SchemaError(ValueError):
    """A table does not match its declaration (a bug in the step that made it, not in the user's input)."""


@dataclass(frozen=True)
class Column:
    """One column, or a family of columns when ``name`` holds a ``{placeholder}`` (``n_categories_at_{k}``)."""

    name: str
    dtype: str
    doc: str = ""

    @property
    def is_family(self) -> bool:
        return "{" in self.name

    def named(self, **values: object) -> str:
        """The column's name for one member of a family: ``N_CATEGORIES.named(k=50)``."""
        return self.name.format(**values)

    def matches(self, column: str) -> bool:
        """Whether ``column`` is this column, or a member of this family (``{k}``/``{n}``: digits)."""
        pattern = re.escape(self.name)
        for placeholder, value in (("k", r"\d+"), ("n", r"\d+"), ("slug", r".+")):
            pattern = pattern.replace(re.escape("{" + placeholder + "}"), value)
        return re.fullmatch(pattern, column) is not None


@dataclass(frozen=True)
class Table:
    """A parquet artifact: its file name, what a row is, and its columns in order."""

    name: str
    doc: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        """The fixed column names (families left out)."""
        return tuple(c.name for c in self.columns if not c.is_family)

    def empty(self, **families: list[object]) -> pd.DataFrame:
        """A table with no rows and every column typed (families expanded from ``families``)."""
        names: dict[str, str] = {}
        for c in self.columns:
            if c.is_family:
                key = re.search(r"\{(\w+)\}", c.name)[1]  # type: ignore[index]
                names.update({c.named(**{key: v}): c.dtype for v in families.get(key, [])})
            else:
                names[c.name] = c.dtype
        return pd.DataFrame({n: pd.Series([], dtype=d) for n, d in names.items()})

    def cast(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame``'s declared columns, in order, cast to their dtypes (NaN becomes null in nullable ones).

        For producers whose columns can come out untyped (an empty group-by, an all-null column).
        Tables with column families are cast by their producers.
        """
        dtypes = {c.name: c.dtype for c in self.columns}
        return frame[list(dtypes)].astype(dtypes).reset_index(drop=True)

    def check(self, frame: pd.DataFrame) -> None:
        """Raise SchemaError unless ``frame`` has exactly the declared columns, in order, with their dtypes.

        A family column matches one or more consecutive columns (``n_categories_at_10, _50, _100``).
        """
        actual = [str(c) for c in frame.columns]
        i = 0
        for spec in self.columns:
            run = 0
            while i < len(actual) and spec.matches(actual[i]) and (spec.is_family or run == 0):
                self._check_dtype(frame, actual[i], spec)
                i, run = i + 1, run + 1
            if run == 0:
                raise SchemaError(
                    f"{self.name}: expected column {spec.name!r} at position {i}, got "
                    f"{actual[i] if i < len(actual) else 'nothing'!r} (columns: {actual})"
                )
        if i != len(actual):
            declared = [c.name for c in self.columns]
            raise SchemaError(f"{self.name}: undeclared columns {actual[i:]} (declared: {declared})")

    def _check_dtype(self, frame: pd.DataFrame, column: str, spec: Column) -> None:
        dtype = str(frame[column].dtype)
        if dtype != spec.dtype:
            raise SchemaError(f"{self.name}: column {column!r} has dtype {dtype}, declared {spec.dtype}")


#: Every declared table by file name. Built-in tables below; :func:`declare` adds others.
TABLES: dict[str, Table] = {}


def declare(table: Table) -> str:
    """Add ``table`` to the contract (the store then enforces it); returns its file name."""
    if table.name in TABLES and TABLES[table.name] != table:
        raise ValueError(f"table {table.name} is declared twice, differently")
    TABLES[table.name] = table
    return table.name


def _table(name: str, doc: str, *columns: tuple[str, str] | tuple[str, str, str]) -> str:
    return declare(Table(name, doc, tuple(Column(*c) for c in columns)))


# ---- per model -------------------------------------------------------------------------------
#: Embedding matrix, L2 norms untouched: (N, d) float32. Input of every later step.
EMBEDDINGS = "embeddings.npy"
#: ``frequency_decile`` of an eligible token never seen in the corpus (its own bin), and of a token
#: not ranked at all (special, byte piece, zero row); seen tokens are 1 (rarest) … 10. An eligible token
#: that an estimate from word lists never produces (punctuation, most digits: no list has them) is
#: ``NO_ESTIMATE_DECILE``: unknown, not rare, so it is left out of the by-decile statistics like -1.
UNSEEN_DECILE, NOT_RANKED_DECILE, NO_ESTIMATE_DECILE = 0, -1, -2
#: What a frequency decile means, as legends and captions say it.
DECILE_MEANING = (f"1 = rarest … 10 = most frequent; {UNSEEN_DECILE} = never seen; {NOT_RANKED_DECILE} = not "
                  f"ranked; {NO_ESTIMATE_DECILE} = no estimate (no word list produces the token)")
#: How the token table's ``concept`` column joins the several concepts one token can name.
CONCEPT_SEPARATOR = "|"
TOKENS = _table(
    "tokens.parquet", "One row per vocabulary id.",
    ("id", "int32", "the vocabulary id (row of the embedding matrix)"),
    ("text", "string", 'surface text, word-initial pieces start with "▁" (METHODS §1)'),
    ("is_special", "bool", "<pad>, <s>, [CLS] …: excluded from statistics"),
    ("is_byte", "bool", "an undecodable byte piece such as <0xE3>"),
    ("is_zero", "bool", "zero-norm row: no neighbours, nobody's neighbour"),
    ("category", "string", "the category rule, boundary mark stripped (refined convention, METHODS §2)"),
    (category_column(PAPER), "string", "the category rule on the raw text, ▁ a symbol (paper convention)"),
    ("language", "string", "the language shown: language_guess where its confidence is at least "
                           "language.SHOWN_CONFIDENCE, else null"),
    ("language_guess", "string", "ISO 639-1 guess whatever its confidence, or null (tokens without a letter)"),
    ("language_confidence", "float32", "in [0, 1]: the guess's posterior share, 1.0 for cldr and script"),
    ("language_source", "string", '"wordfreq", "cldr" (a CLDR name), "script", or "none"'),
    ("frequency", "float32", "estimated mC4 token frequency (word lists split by the model's tokenizer; "
                             "the manifest's frequency_source says which estimate), 0 = no estimate"),
    ("frequency_decile", "int8", DECILE_MEANING),
    ("norm", "float32", "L2 norm of the embedding row"),
    ("gloss", "string", "English gloss: the CLDR concept's name, else up to 3 FreeDict translations, or null"),
    ("concept", "string", f'ids of the concepts the token names, "{CONCEPT_SEPARATOR}"-joined: a CLDR concept '
                          '("territory:US") and English words it translates to ("en:dog"), or null'),
)
#: Exact top-k neighbours by cosine, self excluded: (N, k) int32, -1 where there is none.
NEIGHBORS = "neighbors.npy"
#: Their cosine similarities: (N, k) float32, 0 where the id is -1.
SIMILARITIES = "similarities.npy"
#: Annoy index (angular) over the same rows, item i = vocabulary id i.
ANNOY = "annoy.ann"
#: The model's own tokenizer, portable (JSON: a ``tokenizers`` JSON or a SentencePiece model, or why there
#: is none), so that the dashboard splits a typed word as the model does; format in precompute.contract.tokenizer.
TOKENIZER = "tokenizer.json"

#: The neighbourhood sizes the diversity and geometry statistics use by default (the paper's headline is 50).
DIVERSITY_KS = (10, 50, 100)
N_CATEGORIES = Column("n_categories_at_{k}", "int16", "numNeighborCategory@k, the token itself left out")
ENTROPY = Column("entropy_at_{k}", "float32", "entropy (nats) of the k neighbours' category counts")
N_CATEGORIES_PAPER = Column("n_categories_at_{k}_paper", "int16",
                            "numNeighborCategory@k as the paper counted: the token itself included, paper categories")
ENTROPY_PAPER = Column("entropy_at_{k}_paper", "float32", "entropy under the paper's convention")
DIVERSITY = _table(
    "diversity.parquet", "One row per eligible token (not special, not a byte piece, not a zero row).",
    ("id", "int32"), *((c.name, c.dtype, c.doc) for c in (N_CATEGORIES, N_CATEGORIES_PAPER, ENTROPY, ENTROPY_PAPER)),
)


def n_categories_column(k: int, convention: str = "refined") -> str:
    """The DIVERSITY column of numNeighborCategory@k under ``convention`` (precompute.contract.conventions)."""
    return (N_CATEGORIES_PAPER if convention == PAPER else N_CATEGORIES).named(k=k)


def entropy_column(k: int, convention: str = "refined") -> str:
    """The DIVERSITY column of the neighbour-category entropy at k under ``convention``."""
    return (ENTROPY_PAPER if convention == PAPER else ENTROPY).named(k=k)


CONVENTION = ("convention", "string", '"paper" or "refined" (precompute.contract.conventions)')
DIVERSITY_BREAKDOWN = _table(
    "diversity_breakdown.parquet",
    "Token category x neighbour category: mean count of the k neighbours (paper: over the tokens with one or more).",
    CONVENTION, ("k", "int16"), ("category", "string"), ("neighbor_category", "string"), ("mean", "float64"),
    ("ci95", "float64"), ("n_tokens", "int64", "tokens averaged"),
)
DIVERSITY_BY_CATEGORY = _table(
    "diversity_by_category.parquet", "Per token category: numNeighborCategory@k and entropy.",
    CONVENTION, ("k", "int16"), ("category", "string"), ("n_tokens", "int64"), ("mean", "float64"),
    ("std", "float64"), ("ci95", "float64"), ("entropy_mean", "float64"), ("entropy_ci95", "float64"),
)
DIVERSITY_BY_DECILE = _table(
    "diversity_by_decile.parquet", "Per frequency decile (0 = never seen): numNeighborCategory@k and entropy.",
    CONVENTION, ("k", "int16"), ("decile", "int8"), ("n_tokens", "int64"), ("mean", "float64"), ("std", "float64"),
    ("ci95", "float64"), ("entropy_mean", "float64"), ("entropy_ci95", "float64"),
)
DIVERSITY_CHANCE = _table(
    "diversity_chance.parquet", "numNeighborCategory@k observed and for neighbours carrying no information (§10).",
    CONVENTION, ("k", "int16"), ("observed_mean", "float64"), ("observed_sd", "float64"),
    ("expected_random", "float64", "exact expectation for k tokens drawn at random without replacement"),
    ("permutation_mean", "float64", "categories shuffled over the tokens (seeded), the real neighbour table"),
    ("permutation_sd", "float64", "its standard deviation over tokens"),
)

PROBE_COLUMNS = (
    CONVENTION, ("category", "string"), ("n_tokens", "int64"),
    ("mean", "Float64", "mean fold accuracy, null when the category was not probed"),
    ("std", "Float64", "over the folds (ddof=0): the refined error bar"),
    ("ci_low", "Float64", "95% bootstrap interval of the mean fold accuracy: the paper's error bar"),
    ("ci_high", "Float64"),
    ("folds", "object", "list of the fold accuracies, empty when not probed"),
    ("note", "string", "why a category was skipped, or in how many folds (of all repeats) lbfgs stopped at max_iter"),
    ("seed", "int64", "undersampling seed of the first run (mean … folds): 150 under paper (the authors'), "
                      "the build's seed under refined; repeat r uses seed + r"),
    ("repeats", "int16", "undersamplings run (0 when not probed); mean … folds are the first"),
    ("repeat_mean", "Float64", "mean accuracy over all repeats x folds"),
    ("repeat_sd", "Float64", "standard deviation (ddof=1) of those single-fold accuracies: the spread over "
                             "undersamplings and folds"),
    ("repeat_low", "Float64", "95% t-interval of the mean accuracy over undersamplings (from the repeats' means): "
                              "which tokens were drawn and how the folds split them, not another vocabulary"),
    ("repeat_high", "Float64"),
    ("repeat_folds", "object", "list of all fold accuracies, repeat by repeat"),
)
SEPARABILITY = _table(
    "separability.parquet", "One-vs-rest probe per convention and category present among eligible tokens.",
    *PROBE_COLUMNS,
)
SEPARABILITY_PAIRWISE = _table(
    "separability_pairwise.parquet", "Probe per pair of categories (refined convention).",
    CONVENTION, ("category_a", "string"), ("category_b", "string"),
    ("n_tokens", "int64", "the balanced sample, both classes together"), ("mean", "float64"), ("std", "float64"),
)
SEPARABILITY_PREDICTIONS = _table(
    "separability_predictions.parquet", "Out-of-fold predictions of the one-vs-rest probes.",
    CONVENTION, ("category", "string", "the probe"), ("id", "int32"), ("label", "bool"), ("predicted", "bool"),
    ("probability", "float32", "of label True"),
)

NORMS_BY_CATEGORY = _table(
    "norms_by_category.parquet", "L2 norms per token category.",
    ("category", "string"), ("n_tokens", "int64"), ("mean", "float64"), ("std", "float64"), ("median", "float64"),
)
MAP = _table(
    "map.parquet", "2-D coordinates of each eligible token.",
    ("id", "int32"), ("umap_x", "float32"), ("umap_y", "float32"), ("pca_x", "float32"), ("pca_y", "float32"),
)

MEANING = _table(
    "meaning.parquet", "Per token category: neighbours sharing a translation (METHODS §6).",
    ("k", "int32"), ("category", "str"), ("n_tokens", "int64"), ("mean", "float64"), ("ci95", "float64"),
    ("chance_mean", "float64", "the same mean for k neighbours drawn at random (exact expectation, METHODS §10)"),
)
MEANING_TOKENS = _table(
    "meaning_tokens.parquet", "Per token with a translation set.",
    ("id", "int32"), ("k", "int32"), ("n_shared", "int32"),
)
TRANSLATION_RETRIEVAL = _table(
    "translation_retrieval.parquet", "Per category: share of tokens whose top neighbours hold a translation.",
    ("category", "str"), ("n_tokens", "int64"), ("p_at_{n}", "float64", "share with one in the top n"),
)
CORPUS_FREQUENCY = _table(
    "corpus_frequency.parquet", "Token counts over a corpus (precompute frequency).",
    ("id", "int32"), ("count", "int64"),
)

# ---- comparisons -----------------------------------------------------------------------------
VOCAB_OVERLAP = _table(
    "vocab_overlap.parquet", "Every ordered pair of models, diagonal included.",
    ("model_a", "string"), ("model_b", "string"), ("n_shared", "int64"), ("n_shared_non_latin", "int64"),
    ("non_latin_share", "Float64", "null when the pair shares nothing"),
)
SHARED_ID = Column("id__{slug}", "int32", "the token's id in one model")
SHARED_TOKENS = _table(
    "shared_tokens.parquet", "Token texts eligible in every model.",
    ("text", "string"), ("category", "string"), (SHARED_ID.name, SHARED_ID.dtype),
)


def shared_id_column(slug: str) -> str:
    """Column of SHARED_TOKENS holding one model's vocabulary id."""
    return SHARED_ID.named(slug=slug)


SEPARABILITY_SHARED = _table(
    "separability_shared.parquet", "Each model's one-vs-rest probes on the tokens all the compared models share.",
    ("model", "string"), *PROBE_COLUMNS,
)
GEOMETRY = _table(
    "geometry.parquet",
    "Per model pair, k and category (ALL first), on the tokens the pair shares (the diagonal: those all "
    "models share): neighbourhood overlap and matrix similarity.",
    ("model_a", "string"), ("model_b", "string"), ("k", "int32", "neighbours compared: 10, 50, 100 up to the pair's k"),
    ("category", "string"), ("n_tokens", "int64", "on ALL rows: the texts the pair shares"),
    ("jaccard_mean", "float64"), ("jaccard_ci95", "Float64"), ("overlap_mean", "float64", "|A∩B| / k"),
    ("jaccard_chance", "float64", "expected Jaccard of two random k-sets of the other shared tokens (exact)"),
    ("overlap_chance", "float64", "expected overlap of two random k-sets: k / (n_tokens on ALL - 1)"),
    ("overlap_paper_mean", "float64", "the paper's overlap |A∩B| / |A| of k-entry lists holding the token itself "
                                      "and its k - 1 nearest (the authors compared them at k = 100)"),
    ("overlap_paper_chance", "float64", "its value for random neighbours: (1 + (k - 1)² / (n_tokens on ALL - 1)) / k"),
    ("cka", "Float64", "only on ALL rows"), ("procrustes_residual", "Float64", "only on ALL rows"),
)
GEOMETRY_TOKENS = _table(
    "geometry_tokens.parquet", "Per model pair, k and text the pair shares.",
    ("model_a", "string"), ("model_b", "string"), ("k", "int32"), ("text", "string"), ("jaccard", "float32"),
)
SHARED_MAP = _table(
    "shared_map.parquet", "UMAP of the shared vocabulary, one per model.",
    ("model", "string"), ("text", "string"), ("x", "float32"), ("y", "float32"),
)
