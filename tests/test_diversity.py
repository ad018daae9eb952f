"""Neighbourhood diversity on a 7-token vocabulary whose every number is worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from precompute.analyses.diversity import (
    count_entropy,
    diversity_artifacts,
    expected_random_categories,
    neighbor_category_counts,
    neighbors_without_bytes,
)
from precompute.contract import schema
from precompute.knn.neighbors import top_k_neighbors

H_2_1 = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))  # counts (2, 1): 0.6365 nats
H_1_1_1 = math.log(3)


def hand_tokens() -> pd.DataFrame:
    """0-2 LATIN, 3 CJK, 4 CYRILLIC, 5 a special token (category S), 6 a zero row; deciles: 4 never seen."""
    return pd.DataFrame(
        {
            "id": np.arange(7, dtype=np.int32),
            "text": ["a", "b", "c", "東", "д", "<s>", "z"],
            "is_special": [False, False, False, False, False, True, False],
            "is_byte": [False] * 7,
            "is_zero": [False] * 6 + [True],
            "category": ["LATIN", "LATIN", "LATIN", "CJK", "CYRILLIC", "S", "LATIN"],
            # under the paper's convention token 0 is a symbol (as "▁a" would be)
            "category_paper": ["S", "LATIN", "LATIN", "CJK", "CYRILLIC", "S", "LATIN"],
            "norm": np.ones(7, dtype=np.float32),
            "frequency_decile": np.array([1, 1, 2, 2, 0, 0, 0], dtype=np.int8),
        }
    )


HAND_NEIGHBORS = np.array(
    [
        [1, 2, 3],  # LATIN, LATIN, CJK
        [0, 2, 5],  # LATIN, LATIN, S (a special neighbour counts with its category)
        [3, 4, 0],  # CJK, CYRILLIC, LATIN
        [4, -1, -1],  # CYRILLIC only: -1 is skipped
        [3, 0, 1],  # CJK, LATIN, LATIN
        [0, 1, 2],  # special: not a row of the statistics
        [-1, -1, -1],  # zero row
    ],
    dtype=np.int32,
)


@pytest.fixture(scope="module")
def hand() -> dict[str, pd.DataFrame]:
    return diversity_artifacts(HAND_NEIGHBORS, hand_tokens(), ks=(1, 3))


def test_per_token_counts_and_entropy(hand: dict[str, pd.DataFrame]) -> None:
    table = hand[schema.DIVERSITY]
    assert list(table.columns) == ["id", "n_categories_at_1", "n_categories_at_3", "n_categories_at_1_paper",
                                   "n_categories_at_3_paper", "entropy_at_1", "entropy_at_3", "entropy_at_1_paper",
                                   "entropy_at_3_paper"]
    assert table["id"].tolist() == [0, 1, 2, 3, 4]  # special and zero rows left out
    assert table["n_categories_at_3"].tolist() == [2, 2, 3, 1, 2]
    assert table["n_categories_at_1"].tolist() == [1, 1, 1, 1, 1]
    assert table["entropy_at_3"].tolist() == pytest.approx([H_2_1, H_2_1, H_1_1_1, 0.0, H_2_1], rel=1e-6)
    assert table["entropy_at_1"].tolist() == [0.0] * 5
    # the paper's convention: the token itself counts, with its paper category
    assert table["n_categories_at_3_paper"].tolist() == [3, 2, 4, 2, 4]
    assert table["n_categories_at_1_paper"].tolist() == [2, 2, 2, 2, 2]  # token 1: itself and 0, now S


def test_default_columns_match_the_contract() -> None:
    neighbors = np.tile(np.array([1, 2, 3, 4, 0, 1, 2, 3, 4, 0] * 10, dtype=np.int32), (7, 1))
    table = diversity_artifacts(neighbors, hand_tokens(), ks=schema.DIVERSITY_KS)[schema.DIVERSITY]
    schema.TABLES[schema.DIVERSITY].check(table)
    assert table.columns[1:4].tolist() == [schema.n_categories_column(k) for k in schema.DIVERSITY_KS]


def test_by_category(hand: dict[str, pd.DataFrame]) -> None:
    t = hand[schema.DIVERSITY_BY_CATEGORY]
    schema.TABLES[schema.DIVERSITY_BY_CATEGORY].check(t)
    paper = t[(t.convention == "paper") & (t.k == 3)].set_index("category")
    assert paper.loc["S", "mean"] == 3 and paper.loc["LATIN", "mean"] == 3.0  # tokens 1, 2: 2 and 4
    t = t[t.convention == "refined"]
    latin = t[(t.k == 3) & (t.category == "LATIN")].iloc[0]
    assert latin.n_tokens == 3
    assert latin["mean"] == pytest.approx(7 / 3)
    assert latin["std"] == pytest.approx(math.sqrt(1 / 3))  # ddof=1 over (2, 2, 3)
    assert latin.entropy_mean == pytest.approx((2 * H_2_1 + H_1_1_1) / 3, rel=1e-6)
    entropy_std = np.std([H_2_1, H_2_1, H_1_1_1], ddof=1)
    assert latin.entropy_ci95 == pytest.approx(1.96 * entropy_std / math.sqrt(3), rel=1e-5)
    cjk = t[(t.k == 3) & (t.category == "CJK")].iloc[0]
    assert (cjk.n_tokens, cjk["mean"]) == (1, 1.0)
    assert math.isnan(cjk["std"])  # one token: no spread to speak of
    assert sorted(t.category.unique()) == ["CJK", "CYRILLIC", "LATIN"]  # no S: the special is out


def test_breakdown_under_the_papers_convention(hand: dict[str, pd.DataFrame]) -> None:
    b = hand[schema.DIVERSITY_BREAKDOWN]
    latin = b[(b.convention == "paper") & (b.k == 3) & (b.category == "LATIN")].set_index("neighbor_category")
    # paper-LATIN tokens 1, 2 (self included): LATIN 2, 1; S 2, 1; CJK -, 1; CYRILLIC -, 1: only tokens with one
    assert latin["mean"].to_dict() == {"LATIN": 1.5, "S": 1.5, "CJK": 1.0, "CYRILLIC": 1.0}
    assert latin["n_tokens"].to_dict() == {"LATIN": 2, "S": 2, "CJK": 1, "CYRILLIC": 1}


def test_breakdown(hand: dict[str, pd.DataFrame]) -> None:
    b = hand[schema.DIVERSITY_BREAKDOWN]
    b = b[b.convention == "refined"]
    latin = b[(b.k == 3) & (b.category == "LATIN")].set_index("neighbor_category")
    # LATIN tokens 0, 1, 2 have LATIN neighbours 2, 2, 1; CJK 1, 0, 1; CYRILLIC 0, 0, 1; S 0, 1, 0.
    assert latin["mean"].to_dict() == pytest.approx({"LATIN": 5 / 3, "CJK": 2 / 3, "CYRILLIC": 1 / 3, "S": 1 / 3})
    assert latin.loc["LATIN", "ci95"] == pytest.approx(1.96 * math.sqrt(1 / 3) / math.sqrt(3))
    assert set(latin["n_tokens"]) == {3}
    assert len(b[b.k == 3]) == 3 * 4  # every token category x every neighbour category seen
    cyrillic = b[(b.k == 3) & (b.category == "CYRILLIC")].set_index("neighbor_category")["mean"]
    assert cyrillic.to_dict() == {"LATIN": 2.0, "CJK": 1.0, "CYRILLIC": 0.0, "S": 0.0}


def test_by_decile(hand: dict[str, pd.DataFrame]) -> None:
    d = hand[schema.DIVERSITY_BY_DECILE]
    schema.TABLES[schema.DIVERSITY_BY_DECILE].check(d)
    d3 = d[(d.k == 3) & (d.convention == "refined")].set_index("decile")
    assert d3.index.tolist() == [0, 1, 2]  # token 4, never seen, has its own bin
    assert d3.loc[0, "mean"] == 2.0
    assert d3.loc[1, "mean"] == 2.0 and d3.loc[1, "ci95"] == 0.0
    assert d3.loc[2, "mean"] == 2.0  # tokens 2 and 3: 3 and 1 categories
    assert d3.loc[2, "ci95"] == pytest.approx(1.96 * math.sqrt(2) / math.sqrt(2))


def test_counts_and_entropy_helpers() -> None:
    codes = np.array([0, 0, 1, 2])
    counts = neighbor_category_counts(np.array([[0, 1, 2], [3, -1, -1], [-1, -1, -1]]), codes, 3, k=3)
    assert counts.tolist() == [[2, 1, 0], [0, 0, 1], [0, 0, 0]]
    assert count_entropy(counts).tolist() == pytest.approx([H_2_1, 0.0, 0.0])


def test_k_beyond_the_table_and_missing_deciles_are_errors() -> None:
    with pytest.raises(ValueError, match="1..3"):
        diversity_artifacts(HAND_NEIGHBORS, hand_tokens(), ks=(5,))
    with pytest.raises(ValueError, match="frequency_deciles"):
        diversity_artifacts(HAND_NEIGHBORS, hand_tokens().drop(columns="frequency_decile"), ks=(3,))


def test_chance_expectation_matches_a_simulation() -> None:
    sizes = np.array([5, 3, 2, 1])
    labels = np.repeat(np.arange(4), sizes)
    rng = np.random.default_rng(0)
    draws = np.array([len(set(rng.choice(labels, 3, replace=False))) for _ in range(40000)])
    assert expected_random_categories(sizes, 3) == pytest.approx(draws.mean(), abs=0.01)
    own = rng.integers(0, len(labels), 40000)  # a random token, then 3 others
    with_self = [len({labels[t], *rng.choice(np.delete(labels, t), 3, replace=False)}) for t in own[:20000]]
    assert expected_random_categories(sizes, 3, include_self=True) == pytest.approx(np.mean(with_self), abs=0.015)
    assert expected_random_categories(np.array([10]), 5) == 1.0


def test_chance_table(hand: dict[str, pd.DataFrame]) -> None:
    c = hand[schema.DIVERSITY_CHANCE].set_index(["convention", "k"])
    refined = c.loc[("refined", 3)]
    assert refined.observed_mean == pytest.approx(2.0)  # (2, 2, 3, 1, 2)
    # 5 eligible tokens, LATIN 3, CJK 1, CYRILLIC 1, three drawn
    assert refined.expected_random == pytest.approx(expected_random_categories(np.array([3, 1, 1]), 3))
    assert c.loc[("paper", 3)].observed_mean == pytest.approx(3.0)


def byte_tokens(n: int, byte_ids: list[int]) -> pd.DataFrame:
    """``n`` LATIN tokens, those of ``byte_ids`` byte pieces."""
    return hand_tokens().iloc[:0].reindex(range(n)).assign(
        id=np.arange(n, dtype=np.int32), text=[f"t{i}" for i in range(n)], is_special=False,
        is_byte=np.isin(np.arange(n), byte_ids), is_zero=False, category="LATIN", category_paper="LATIN",
        frequency_decile=np.int8(1))


def test_byte_neighbours_move_up_and_short_rows_are_searched_again() -> None:
    # On a circle, by angle: 0°, 10° (a byte piece), 20°, 30° (a byte piece), 90°.
    angles = np.radians([0, 10, 20, 30, 90])
    e = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    tokens = byte_tokens(5, [1, 3])
    stored, _ = top_k_neighbors(e, 2, progress=False)
    assert stored.tolist() == [[1, 2], [0, 2], [1, 3], [2, 1], [3, 2]]
    # row 0 keeps 2 and needs a second: 90° (4); row 2: 0° and 90° after the bytes; rows 3, 4: 20°, then 0°
    assert neighbors_without_bytes(stored, tokens, e, 2).tolist() == [[2, 4], [0, 2], [0, 4], [2, 0], [2, 0]]
    assert neighbors_without_bytes(stored, tokens, e, 1).tolist() == [[2], [0], [0], [2], [2]]


def test_neighbors_without_bytes_equal_a_search_that_never_saw_them() -> None:
    rng = np.random.default_rng(3)
    e = rng.normal(size=(203, 7)).astype(np.float32)
    byte_ids = rng.choice(203, 40, replace=False)
    tokens = byte_tokens(203, byte_ids.tolist())
    stored, _ = top_k_neighbors(e, 30, progress=False)
    exact, _ = top_k_neighbors(e, 20, valid=~tokens["is_byte"].to_numpy(), progress=False)
    got = neighbors_without_bytes(stored, tokens, e, 20, chunk=16)
    keep = ~tokens["is_byte"].to_numpy()
    assert (got[keep] == exact[keep]).all()
    assert (got[:, :5] == neighbors_without_bytes(stored, tokens, e, 5)).all()


def test_a_table_that_lists_byte_pieces_is_refused() -> None:
    tokens = hand_tokens().assign(is_byte=[False, False, True, False, False, False, False])
    with pytest.raises(ValueError, match="2 tokens have byte pieces.*neighbors_without_bytes"):
        diversity_artifacts(HAND_NEIGHBORS, tokens, ks=(3,))
    # tokens 0 and 1 list token 2 among 3; at k = 1 no eligible token lists it: accepted
    assert len(diversity_artifacts(HAND_NEIGHBORS, tokens, ks=(1,))[schema.DIVERSITY]) == 4
