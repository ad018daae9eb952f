"""BuildConfig: one rule, one message."""

import pytest

from precompute.contract.config import BuildConfig


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"k": 0}, "k must be at least 1"),
        ({"diversity_ks": (10, 200)}, "diversity_ks must lie in 1..k=100"),
        ({"device": "tpu"}, "device must be"),
        ({"block_size": -1}, "block_size"),
        ({"annoy_trees": -5}, "annoy_trees"),
        ({"annoy_target_recall": 1.5}, "annoy_target_recall"),
        ({"folds": 1}, "folds must be at least 2"),
        ({"min_category_tokens": 5}, "min_category_tokens"),
        ({"umap_neighbors": 1}, "umap_neighbors"),
        ({"umap_min_dist": 2.0}, "umap_min_dist"),
        ({"meaning_k": 101}, "meaning_k"),
    ],
)
def test_each_rule_has_its_message(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BuildConfig(**change)


def test_round_trip_and_unknown_parameters() -> None:
    config = BuildConfig(k=20, diversity_ks=(5, 10), meaning_k=10)
    assert BuildConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown build parameters"):
        BuildConfig.from_dict({"kk": 3})
