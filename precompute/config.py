"""Build parameters: one documented dataclass, validated up front and saved into every manifest."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class BuildConfig:
    """Every parameter that changes an artifact. A step is rebuilt when one it uses changes."""

    #: Neighbours stored per token (METHODS §3: 100).
    k: int = 100
    #: Neighbourhood sizes for the diversity statistics (METHODS §4; the paper's headline is @50).
    diversity_ks: tuple[int, ...] = (10, 50, 100)
    #: Device for the exact neighbour table: "cpu", "cuda", or "auto".
    device: str = "auto"
    #: Rows per block of the exact neighbour search; 0 picks one from the memory available.
    block_size: int = 0
    #: Annoy: trees to build (0 = tune for recall), and search_k per query (0 = tune).
    annoy_trees: int = 0
    annoy_search_k: int = 0
    #: Annoy tuning target: recall@10 against the exact table on held-out tokens.
    annoy_target_recall: float = 0.95
    #: Separability (METHODS §5): minimum tokens per category, folds, and the seed of undersampling.
    min_category_tokens: int = 500
    folds: int = 10
    #: Pairwise probes train on at most this many tokens per category (time; the paper has none).
    pairwise_max_per_class: int = 2000
    #: UMAP (METHODS §9).
    umap_neighbors: int = 15
    umap_min_dist: float = 0.2
    #: Neighbourhood size for the meaning statistics (METHODS §6).
    meaning_k: int = 50
    #: Seed for every random choice (undersampling, UMAP, Annoy, held-out samples).
    seed: int = 0
    #: CPU threads (0 = all cores).
    n_jobs: int = 0

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")
        if not self.diversity_ks or any(x < 1 or x > self.k for x in self.diversity_ks):
            raise ValueError(f"diversity_ks must lie in 1..k={self.k}, got {self.diversity_ks}")
        if self.device not in ("cpu", "cuda", "auto"):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {self.device!r}")
        if self.block_size < 0:
            raise ValueError(f"block_size must be 0 (automatic) or positive, got {self.block_size}")
        if self.annoy_trees < 0 or self.annoy_search_k < 0:
            raise ValueError("annoy_trees and annoy_search_k must be 0 (tune) or positive")
        if not 0 < self.annoy_target_recall <= 1:
            raise ValueError(f"annoy_target_recall must lie in (0, 1], got {self.annoy_target_recall}")
        if self.folds < 2:
            raise ValueError(f"folds must be at least 2, got {self.folds}")
        if self.min_category_tokens < self.folds:
            raise ValueError(f"min_category_tokens ({self.min_category_tokens}) must be at least folds ({self.folds})")
        if self.umap_neighbors < 2:
            raise ValueError(f"umap_neighbors must be at least 2, got {self.umap_neighbors}")
        if not 0 <= self.umap_min_dist <= 1:
            raise ValueError(f"umap_min_dist must lie in [0, 1], got {self.umap_min_dist}")
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
