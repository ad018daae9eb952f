"""Separability probes on synthetic embeddings whose answer is known: separable (1.0) or not (0.5)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as t_dist

from precompute.analyses.separability import (
    PAPER_SEED,
    FoldResult,
    RowBuffers,
    _convergence_note,
    balanced_sample,
    bootstrap_interval,
    folds_per_repeat,
    paper_row_order,
    paper_undersample,
    repeat_summary,
    separability_artifacts,
)
from precompute.contract import schema
from precompute.contract.config import BuildConfig

CONFIG = BuildConfig(min_category_tokens=40, folds=5, pairwise_max_per_class=50, n_jobs=2)


def make_tokens(categories: list[str], special: int = 2) -> pd.DataFrame:
    """A token table: ``special`` special tokens (category S) first, then one token per category."""
    cats = ["S"] * special + categories
    n = len(cats)
    return pd.DataFrame(
        {
            "id": np.arange(n, dtype=np.int32),
            "is_special": np.arange(n) < special,
            "is_zero": np.zeros(n, bool),
            "is_byte": np.zeros(n, bool),
            "category": pd.array(cats, dtype="string"),
            "category_paper": pd.array(cats, dtype="string"),
        }
    )


def clustered(sizes: dict[str, int], spread: float, d: int = 6, seed: int = 1) -> tuple[np.ndarray, pd.DataFrame]:
    """Category c's tokens around 5 x the c-th unit vector, with Gaussian noise ``spread``."""
    rng = np.random.default_rng(seed)
    cats = [c for c, n in sizes.items() for _ in range(n)]
    tokens = make_tokens(cats)
    centres = {c: 5.0 * np.eye(d)[i] for i, c in enumerate(sizes)}
    rows = [np.zeros(d)] * 2 + [centres[c] for c in cats]
    x = np.array(rows) + spread * rng.standard_normal((len(tokens), d))
    return x.astype(np.float32), tokens


@pytest.fixture(scope="module")
def separable() -> dict[str, pd.DataFrame]:
    x, tokens = clustered({"LATIN": 120, "CYRILLIC": 60, "CJK": 80, "GREEK": 10}, spread=0.3)
    tables = separability_artifacts(x, tokens, CONFIG, progress=False)
    return {name: t[t["convention"] == "refined"].drop(columns="convention").reset_index(drop=True)
            for name, t in tables.items()}


def test_separable_categories_score_one(separable: dict[str, pd.DataFrame]) -> None:
    t = separable[schema.SEPARABILITY].set_index("category")
    assert t.index.tolist() == ["CJK", "CYRILLIC", "GREEK", "LATIN"]  # specials (S) are not tokens here
    for c in ["CJK", "CYRILLIC", "LATIN"]:
        assert t.loc[c, "mean"] == 1.0 and t.loc[c, "std"] == 0.0
        assert (t.loc[c, "ci_low"], t.loc[c, "ci_high"]) == (1.0, 1.0)
        assert list(t.loc[c, "folds"]) == [1.0] * 5
    assert t.loc["LATIN", "n_tokens"] == 120


def test_small_category_gets_a_note_not_a_number(separable: dict[str, pd.DataFrame]) -> None:
    greek = separable[schema.SEPARABILITY].set_index("category").loc["GREEK"]
    assert greek["note"] == "only 10 tokens (< 40): not probed"
    assert greek["mean"] is pd.NA and greek["std"] is pd.NA and greek["ci_low"] is pd.NA
    assert len(greek["folds"]) == 0


def test_predictions_cover_each_balanced_sample(separable: dict[str, pd.DataFrame]) -> None:
    p = separable[schema.SEPARABILITY_PREDICTIONS]
    assert list(p.columns) == ["category", "id", "label", "predicted", "probability"]  # convention dropped above
    # CYRILLIC: 60 positives, 60 of the 210 other tokens.
    cyr = p[p.category == "CYRILLIC"]
    assert len(cyr) == 120 and cyr["id"].is_unique and cyr["label"].sum() == 60
    assert set(cyr.loc[cyr.label, "id"]) == set(range(122, 182))
    assert (cyr["predicted"] == (cyr["probability"] > 0.5)).all()
    assert (cyr["predicted"] == cyr["label"]).all()  # separable: no mistakes to list
    assert not p["id"].isin([0, 1]).any()  # special tokens are never sampled
    # LATIN (120) is the larger class: its 150 others are undersampled to 120 per class.
    assert len(p[p.category == "LATIN"]) == 240


def test_pairwise_only_among_plotted_categories_with_enough_tokens(separable: dict[str, pd.DataFrame]) -> None:
    pw = separable[schema.SEPARABILITY_PAIRWISE]
    assert list(pw.columns) == ["category_a", "category_b", "n_tokens", "mean", "std"]  # convention dropped above
    pairs = set(zip(pw.category_a, pw.category_b, strict=True))
    assert pairs == {("LATIN", "CYRILLIC"), ("LATIN", "CJK"), ("CYRILLIC", "CJK")}  # PLOTTED order
    assert pw["n_tokens"].tolist() == [100, 100, 100]  # capped at 50 per class
    assert pw["mean"].tolist() == [1.0, 1.0, 1.0]


def test_indistinguishable_categories_score_one_half() -> None:
    rng = np.random.default_rng(7)
    tokens = make_tokens(["LATIN"] * 300 + ["CYRILLIC"] * 300)
    x = rng.standard_normal((len(tokens), 4)).astype(np.float32)  # one distribution for both
    t = separability_artifacts(x, tokens, CONFIG, progress=False)[schema.SEPARABILITY]
    for c in ["LATIN", "CYRILLIC"]:
        assert t[t.category == c]["mean"].tolist() == pytest.approx([0.5, 0.5], abs=0.08)  # both conventions


def test_same_seed_same_numbers_and_absent_scripts_are_absent() -> None:
    x, tokens = clustered({"LATIN": 50, "HANGUL": 50}, spread=4.0, seed=3)
    a = separability_artifacts(x, tokens, CONFIG, progress=False)
    b = separability_artifacts(x, tokens, CONFIG, progress=False)
    pd.testing.assert_frame_equal(a[schema.SEPARABILITY], b[schema.SEPARABILITY])
    pd.testing.assert_frame_equal(a[schema.SEPARABILITY_PREDICTIONS], b[schema.SEPARABILITY_PREDICTIONS])
    assert a[schema.SEPARABILITY]["category"].tolist() == ["HANGUL", "LATIN"] * 2  # no CJK row, no crash
    assert 0.5 < a[schema.SEPARABILITY]["mean"].iloc[0] < 1.0  # overlapping clusters


def test_a_category_with_too_few_others_is_noted() -> None:
    x, tokens = clustered({"LATIN": 100, "CJK": 20}, spread=0.3)
    t = separability_artifacts(x, tokens, CONFIG, progress=False)
    notes = t[schema.SEPARABILITY].query("convention == 'refined'").set_index("category")["note"]
    assert notes["LATIN"] == "only 20 tokens outside it (< 40): not probed"
    assert notes["CJK"] == "only 20 tokens (< 40): not probed"
    assert t[schema.SEPARABILITY_PAIRWISE].empty and t[schema.SEPARABILITY_PREDICTIONS].empty


def test_balanced_sample_undersamples_the_larger_class_only() -> None:
    rows, labels = balanced_sample(np.arange(10, 14), np.arange(100), np.random.default_rng(0))
    assert rows[:4].tolist() == [10, 11, 12, 13]  # the smaller class is kept whole
    assert len(set(rows[4:])) == 4 and labels.tolist() == [1] * 4 + [0] * 4
    rows, _ = balanced_sample(np.arange(10), np.arange(10, 30), np.random.default_rng(0), cap=3)
    assert len(rows) == 6


def test_convergence_note_counts_folds_stopped_at_max_iter() -> None:
    def fold(stopped: bool) -> FoldResult:
        empty = np.array([])
        return FoldResult(0, 0, 1.0, empty, empty, empty, hit_max_iter=stopped)

    assert _convergence_note([fold(False)] * 3) is None
    assert _convergence_note([fold(True), fold(False), fold(True)]) == (
        "lbfgs stopped at max_iter=100 in 2 of 3 folds (scikit-learn defaults kept)"
    )


def test_the_papers_probe_is_cross_val_score_on_normalised_rows() -> None:
    """Paper convention, first run = the authors' script: rows in an arbitrary order (theirs: a set's), imblearn's
    ``RandomUnderSampler(random_state=150)`` (its draw: ``RandomState(150).choice(range(n_larger), n_smaller,
    replace=False)``; class 0 first), ``cross_val_score(LogisticRegression(), cv=folds)`` on unit rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    x, tokens = clustered({"LATIN": 80, "HANGUL": 60}, spread=3.0, seed=5)
    x *= np.random.default_rng(0).uniform(0.1, 10, size=(len(x), 1)).astype(np.float32)  # norms that mislead
    table = separability_artifacts(x, tokens, CONFIG, progress=False)[schema.SEPARABILITY]
    paper = table[table.convention == "paper"].set_index("category")
    order = np.random.default_rng(150).permutation(140)  # the stand-in for their set order
    unit = (x[2:] / np.linalg.norm(x[2:], axis=1, keepdims=True))[order]
    y = (tokens["category"].to_numpy()[2:][order] == "HANGUL").astype(int)  # 60 ones, 80 zeros
    drawn = np.flatnonzero(y == 0)[np.random.RandomState(150).choice(range(80), size=60, replace=False)]
    picked = np.concatenate([drawn, np.flatnonzero(y == 1)])
    expected = cross_val_score(LogisticRegression(), unit[picked], y[picked], cv=CONFIG.folds)
    assert list(paper.loc["HANGUL", "folds"]) == pytest.approx(expected.tolist(), abs=1e-6)
    assert paper.loc["HANGUL", "seed"] == PAPER_SEED == 150
    low, high = paper.loc["HANGUL", "ci_low"], paper.loc["HANGUL", "ci_high"]
    assert expected.min() <= low <= expected.mean() <= high <= expected.max()


def test_the_papers_class_order_is_the_samplers() -> None:
    """Class 0 first; the larger class in the order its seeded draw returns (not sorted), the smaller whole."""
    labels = np.array([0, 1, 0, 0, 1, 0, 0, 0, 1, 0])  # ones at 1, 4, 8; seven zeros at 0 2 3 5 6 7 9
    assert np.random.RandomState(150).permutation(7)[:3].tolist() == [6, 5, 0]
    assert paper_undersample(labels, 150).tolist() == [9, 7, 0, 1, 4, 8]  # zeros[6], zeros[5], zeros[0]; ones
    assert paper_undersample(labels, 150).tolist() == paper_undersample(labels, 150).tolist()  # the seed decides
    assert paper_undersample(labels, 151).tolist() != paper_undersample(labels, 150).tolist()
    # The ones the larger class: zeros whole, in input order, then three of the seven ones as drawn.
    assert paper_undersample(1 - labels, 150).tolist() == [1, 4, 8, 9, 7, 0]
    # A tie: imblearn keeps class 0 whole and draws all of class 1 in a random order (permutation(2) = 1, 0).
    assert paper_undersample(np.array([1, 0, 1, 0]), 150).tolist() == [1, 3, 2, 0]
    assert sorted(paper_row_order(6, 150)) == list(range(6)) and paper_row_order(6, 150).tolist() != list(range(6))


def test_repeats_give_the_spread_over_undersamplings_and_folds() -> None:
    x, tokens = clustered({"LATIN": 80, "HANGUL": 60}, spread=3.0, seed=5)
    config = BuildConfig(min_category_tokens=40, folds=5, n_jobs=2, separability_repeats=4)
    table = separability_artifacts(x, tokens, config, progress=False)[schema.SEPARABILITY]
    for convention, seed in (("paper", 150), ("refined", 0)):
        row = table[(table.convention == convention) & (table.category == "HANGUL")].iloc[0]
        runs = np.array(row["repeat_folds"]).reshape(4, 5)
        assert (row["seed"], row["repeats"]) == (seed, 4)
        assert runs[0].tolist() == list(row["folds"])  # the first run is the one mean … folds describe
        assert row["repeat_mean"] == pytest.approx(runs.mean())
        assert row["repeat_sd"] == pytest.approx(runs.std(ddof=1))
        half = t_dist.ppf(0.975, 3) * runs.mean(axis=1).std(ddof=1) / 2
        assert (row["repeat_low"], row["repeat_high"]) == pytest.approx((runs.mean() - half, runs.mean() + half))
        assert len({tuple(r) for r in runs}) == 4  # each repeat draws and splits anew
        print(f"{convention}: first run {row['mean']:.3f} ± {row['std']:.3f}; 4 runs {row['repeat_mean']:.3f}, "
              f"sd {row['repeat_sd']:.3f}, [{row['repeat_low']:.3f}, {row['repeat_high']:.3f}]")


def test_large_probes_repeat_on_fewer_folds_and_the_first_run_is_unchanged() -> None:
    """Repeats of a probe above ``separability_repeat_rows`` tokens fit its first folds only; the first run is a
    no-repeat build's, fold for fold and prediction for prediction."""
    x, tokens = clustered({"LATIN": 150, "HANGUL": 60}, spread=3.0, seed=5)
    once = separability_artifacts(x, tokens, BuildConfig(min_category_tokens=40, folds=5, n_jobs=2,
                                                         separability_repeats=1), progress=False)
    config = BuildConfig(min_category_tokens=40, folds=5, n_jobs=2, separability_repeats=3, separability_repeat_rows=50)
    tables = separability_artifacts(x, tokens, config, progress=False)
    table = tables[schema.SEPARABILITY]
    first = ["mean", "std", "ci_low", "ci_high", "folds", "seed"]
    pd.testing.assert_frame_equal(table[first], once[schema.SEPARABILITY][first])
    pd.testing.assert_frame_equal(tables[schema.SEPARABILITY_PREDICTIONS], once[schema.SEPARABILITY_PREDICTIONS])
    # LATIN: 150 tokens against 60 others, 120 in the balanced sample: ceil(5 x 50 / 120) = 3 of 5 folds per repeat.
    # HANGUL: 60 against 150, also 120.
    assert folds_per_repeat(120, config) == 3 and folds_per_repeat(50, config) is None
    for convention in ("paper", "refined"):
        row = table[(table.convention == convention) & (table.category == "HANGUL")].iloc[0]
        runs = np.split(np.array(row["repeat_folds"]), [5, 8])  # the first run's 5 folds, then 3 and 3
        assert row["repeats"] == 3 and len(row["repeat_folds"]) == 5 + 3 + 3
        assert runs[0].tolist() == list(row["folds"])
        assert row["repeat_mean"] == pytest.approx(np.mean([r.mean() for r in runs]))
        assert row["repeat_sd"] == pytest.approx(np.concatenate(runs).std(ddof=1))
        assert row["note"] == ("runs 2-3 fitted 3 of 5 folds each (balanced sample 120 tokens > "
                               "separability_repeat_rows 50; the first run all 5)")


def test_only_plotted_categories_repeat() -> None:
    x, tokens = clustered({"LATIN": 80, "ARMENIAN": 60}, spread=3.0, seed=5)  # ARMENIAN: in no figure
    config = BuildConfig(min_category_tokens=40, folds=5, n_jobs=2, separability_repeats=3)
    table = separability_artifacts(x, tokens, config, progress=False)[schema.SEPARABILITY]
    refined = table[table.convention == "refined"].set_index("category")
    assert refined["repeats"].tolist() == [1, 3]  # ARMENIAN, LATIN
    armenian = refined.loc["ARMENIAN"]
    assert list(armenian["repeat_folds"]) == list(armenian["folds"]) and armenian["repeat_low"] is pd.NA
    assert armenian["repeat_mean"] == pytest.approx(armenian["mean"])


def test_row_buffers_gather_what_fancy_indexing_does() -> None:
    x = np.arange(40, dtype=np.float32).reshape(10, 4)
    buffers = RowBuffers(x, capacity=6)
    assert buffers.take(np.array([9, 0, 3])).tolist() == x[[9, 0, 3]].tolist()
    again = buffers.take(np.array([2, 2, 5, 1, 7, 4]))  # the same buffer, overwritten
    assert again.tolist() == x[[2, 2, 5, 1, 7, 4]].tolist() and again.flags.c_contiguous


def test_repeat_summary_by_hand() -> None:
    mean, sd, low, high = repeat_summary(np.array([[0.9, 1.0], [0.8, 0.9], [0.85, 0.95]]))
    assert (mean, sd) == pytest.approx((0.9, np.std([0.9, 1.0, 0.8, 0.9, 0.85, 0.95], ddof=1)))
    half = 4.302652729911275 * 0.05 / np.sqrt(3)  # t(0.975, 2) x sd of the means 0.95, 0.85, 0.9
    assert (low, high) == pytest.approx((0.9 - half, 1.0))  # clipped: no accuracy above 1
    assert repeat_summary(np.array([[0.9, 1.0]])) == (pytest.approx(0.95), pytest.approx(0.0707106781), None, None)
    # Runs of unequal length (a repeat that fitted one fold): each run's mean weighs the same.
    mean, sd, low, high = repeat_summary([np.array([0.9, 1.0, 0.95, 0.95]), np.array([0.85])])
    assert (mean, sd) == pytest.approx((0.9, np.std([0.9, 1.0, 0.95, 0.95, 0.85], ddof=1)))
    half = 12.706204736174698 * np.std([0.95, 0.85], ddof=1) / np.sqrt(2)  # t(0.975, 1)
    assert (low, high) == (pytest.approx(max(0.9 - half, 0.0)), pytest.approx(1.0))


def test_each_convention_probes_its_own_categories() -> None:
    x, tokens = clustered({"LATIN": 80, "CYRILLIC": 60}, spread=0.3)
    tokens["category_paper"] = tokens["category"].replace({"CYRILLIC": "S"})  # as "▁" would make them
    table = separability_artifacts(x, tokens, CONFIG, progress=False)[schema.SEPARABILITY]
    assert set(table[table.convention == "paper"].category) == {"LATIN", "S"}
    assert set(table[table.convention == "refined"].category) == {"LATIN", "CYRILLIC"}


def test_bootstrap_interval_brackets_the_mean() -> None:
    low, high = bootstrap_interval(np.array([0.8, 0.9, 1.0, 0.85]), np.random.default_rng(0))
    assert 0.8 <= low < 0.8875 < high <= 1.0
    assert bootstrap_interval(np.ones(5), np.random.default_rng(0)) == (1.0, 1.0)
