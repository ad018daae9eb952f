"""Build parameters: one documented dataclass, validated up front and saved into every manifest."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from precompute.contract.schema import DIVERSITY_KS

#: Settings that change how fast a build runs, never what it writes: no step declares them, every
#: step may read them, and a rebuild command need not repeat them.
RUNTIME_PARAMS = frozenset({"device", "block_size", "products", "n_jobs", "annoy_build_threads"})
#: The exact neighbour search's products (``precompute.knn.rescore.choose_products`` resolves "auto").
PRODUCTS = ("auto", "float32", "bfloat16")


def _param(default: Any, help: str) -> Any:
    """A field with its help text, which the CLI shows as the option's help."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class BuildConfig:
    """Every parameter that changes an artifact. A step is rebuilt when one it uses changes."""

    k: int = _param(100, "Neighbours stored per token (METHODS §3: 100).")
    diversity_ks: tuple[int, ...] = _param(
        DIVERSITY_KS, "Neighbourhood sizes of the diversity statistics (METHODS §4; the paper's headline is @50)."
    )
    device: str = _param("auto", "Device of the exact neighbour search: cpu, cuda, or auto.")
    block_size: int = _param(0, "Rows per block of the exact neighbour search; 0 picks one from free memory.")
    products: str = _param(
        "auto", "Products of the exact neighbour search on the CPU: float32, bfloat16 (a filter whose candidates are "
        "rescored exactly: the same neighbours, similarities to the last bit of float64 sums), or auto (bfloat16 on "
        "CPUs with AMX, for 100,000 rows or more)."
    )
    annoy_trees: int = _param(
        32, "Annoy trees to build. More trees reach annoy_target_recall with a smaller search_k, hence faster "
        "queries, for a larger index and a longer build: benchmarks/knn.py measures the trade-off."
    )
    annoy_search_k: int = _param(0, "Annoy search_k per query; 0 tunes it for annoy_target_recall.")
    annoy_target_recall: float = _param(0.95, "Annoy tuning target: recall@10 against exact search.")
    annoy_build_threads: int = _param(
        1, "Threads that build the Annoy trees: 1 writes byte-identical files run to run; more build faster, "
        "with trees (and bytes) that differ between runs."
    )
    min_category_tokens: int = _param(500, "Separability (METHODS §5): categories with fewer tokens are not probed.")
    folds: int = _param(10, "Separability: cross-validation folds.")
    separability_repeats: int = _param(
        5, "Separability: undersamplings per probe (seeds 150, 151, … under the paper's conventions), for the "
        "spread over repeats and folds and an interval of the mean accuracy."
    )
    separability_repeat_rows: int = _param(
        5000, "Separability: a further undersampling of a probe larger than this many tokens fits only the first "
        "ceil(folds x this / tokens) of its folds, about the cost of fully cross-validating this many tokens (the "
        "same estimate, each repeat noisier); the first run always fits every fold."
    )
    pairwise_max_per_class: int = _param(
        2000, "Pairwise probes (beyond the paper) train on at most this many tokens per category, for time."
    )
    umap_neighbors: int = _param(15, "UMAP neighbours (METHODS §9).")
    umap_min_dist: float = _param(0.2, "UMAP min_dist (METHODS §9).")
    umap_epochs: int = _param(
        120, "UMAP layout epochs (METHODS §9). umap-learn's default, 200, keeps 0.076 of each token's 10 nearest "
        "neighbours on multilingual-e5-small's map, 120 keep 0.069, in half the time (benchmarks/maps.py)."
    )
    meaning_k: int = _param(50, "Neighbourhood size of the meaning statistics (METHODS §6).")
    seed: int = _param(0, "Seed of every random choice (undersampling, UMAP, Annoy, held-out samples).")
    n_jobs: int = _param(0, "CPU threads; 0 uses all cores.")

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")
        if not self.diversity_ks or any(x < 1 or x > self.k for x in self.diversity_ks):
            raise ValueError(f"diversity_ks must lie in 1..k={self.k}, got {self.diversity_ks}")
        if self.device not in ("cpu", "cuda", "auto"):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {self.device!r}")
        if self.products not in PRODUCTS:
            raise ValueError(f"products must be one of {', '.join(PRODUCTS)}; got {self.products!r}")
        if self.block_size < 0:
            raise ValueError(f"block_size must be 0 (automatic) or positive, got {self.block_size}")
        if self.annoy_build_threads < 1:
            raise ValueError(f"annoy_build_threads must be at least 1, got {self.annoy_build_threads}")
        if self.annoy_trees < 0 or self.annoy_search_k < 0:
            raise ValueError("annoy_trees must be positive (or 0: the default), annoy_search_k positive or 0 (tune it)")
        if not 0 < self.annoy_target_recall <= 1:
            raise ValueError(f"annoy_target_recall must lie in (0, 1], got {self.annoy_target_recall}")
        if self.folds < 2:
            raise ValueError(f"folds must be at least 2, got {self.folds}")
        if self.min_category_tokens < self.folds:
            raise ValueError(
                f"min_category_tokens ({self.min_category_tokens}) must be at least folds ({self.folds})"
            )
        if self.separability_repeats < 1:
            raise ValueError(f"separability_repeats must be at least 1, got {self.separability_repeats}")
        if self.separability_repeat_rows < 1:
            raise ValueError(f"separability_repeat_rows must be at least 1, got {self.separability_repeat_rows}")
        if self.umap_neighbors < 2:
            raise ValueError(f"umap_neighbors must be at least 2, got {self.umap_neighbors}")
        if not 0 <= self.umap_min_dist <= 1:
            raise ValueError(f"umap_min_dist must lie in [0, 1], got {self.umap_min_dist}")
        if self.umap_epochs < 1:
            raise ValueError(f"umap_epochs must be at least 1, got {self.umap_epochs}")
        if not 1 <= self.meaning_k <= self.k:
            raise ValueError(f"meaning_k must lie in 1..k={self.k}, got {self.meaning_k}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BuildConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown build parameters {sorted(unknown)}; known: {sorted(known)}")
        values = dict(data)
        if "diversity_ks" in values:
            values["diversity_ks"] = tuple(values["diversity_ks"])
        return cls(**values)

    def subset(self, *names: str) -> dict[str, Any]:
        """The parameters one step depends on, for its fingerprint."""
        return {n: getattr(self, n) for n in names}


def flag(name: str) -> str:
    """How the command line spells a build parameter: ``diversity_ks`` -> ``--diversity-ks``."""
    return "--" + name.replace("_", "-")
