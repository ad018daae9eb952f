"""The dashboard's pure parts: chart specs, token lookup and expressions, table shaping."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from dashboard import charts, lookup, tables


def spec(chart) -> dict:
    return json.loads(chart.to_json())


def test_grouped_bars_clip_to_the_papers_axis_and_mark_what_falls_below():
    df = pd.DataFrame({"category": ["CJK", "LATIN"], "model": ["a", "a"], "mean": [0.99, 0.80], "std": [0.01, 0.1]})
    s = spec(charts.grouped_bars(df, "mean", "std", y_domain=(0.85, 1.0)))
    bars, rules, marker, label = s["layer"]
    assert bars["encoding"]["y"]["scale"]["domain"] == [0.85, 1.0]
    assert bars["encoding"]["x"]["sort"] == ["LATIN", "CJK"]  # the paper's order
    data = s["datasets"][rules["data"]["name"]]
    assert [round(r["_lo"], 3) for r in data] == [0.98, 0.85] and [round(r["_hi"], 3) for r in data] == [1.0, 0.9]
    # LATIN's 0.80 is below the axis: a ▼ at its foot, labelled with the value, instead of no bar at all
    assert marker["mark"]["shape"] == "triangle-down" and label["mark"]["type"] == "text"
    below = s["datasets"][marker["data"]["name"]]
    assert [(r["category"], r["mean"], r["_foot"]) for r in below] == [("LATIN", 0.80, 0.85)]
    assert label["encoding"]["text"] == {"field": "mean", "format": ".2f", "type": "quantitative"}
    # nothing below the axis: no marker layers
    assert len(spec(charts.grouped_bars(df[df["mean"] > 0.85], "mean", "std", y_domain=(0.85, 1.0)))["layer"]) == 2


def test_grouped_bars_interval_error_bars_chance_ticks_and_two_vocabularies():
    """A bootstrap interval (low, high) is drawn as it is, not as mean ± a half-width; a chance value is a tick;
    the same model on two vocabularies keeps its colour, the shared one paler."""
    df = pd.DataFrame({"category": ["LATIN"] * 2, "model": ["a", "a"], "vocabulary": ["full", "shared"],
                       "probe": ["a · full", "a · shared"], "mean": [0.9, 0.8], "ci_low": [0.85, 0.7],
                       "ci_high": [0.93, 0.82], "chance": [0.5, 0.5]})
    s = spec(charts.grouped_bars(df, "mean", ("ci_low", "ci_high"), group="probe", color="model",
                                 shade="vocabulary", reference="chance"))
    bars, rules, ticks = s["layer"]
    data = s["datasets"][rules["data"]["name"]]
    assert [(r["_lo"], r["_hi"]) for r in data] == [(0.85, 0.93), (0.7, 0.82)]
    assert bars["encoding"]["color"]["field"] == "model" and bars["encoding"]["xOffset"]["field"] == "probe"
    assert bars["encoding"]["fillOpacity"]["scale"] == {"domain": ["full", "shared"], "range": [1.0, 0.25]}
    assert bars["encoding"]["stroke"]["field"] == "model"  # the pale level keeps its colour as outline
    assert ticks["mark"]["type"] == "bar" and ticks["encoding"]["y"]["field"] == "chance"
    assert ticks["encoding"]["y2"]["field"] == "chance"


def test_reference_ticks_sit_on_their_bars():
    """The chance/median mark spans exactly its bar: in the compiled Vega, the same x, offset and width as the
    bar (a Vega-Lite tick was centred on the bar's left edge in the browser, half a bar to the left)."""
    import vl_convert

    df = pd.DataFrame({"category": ["LATIN", "LATIN", "CJK", "CJK"], "model": ["a", "b", "a", "b"],
                       "mean": [7.9, 14.8, 7.2, 11.3], "std": [3.0, 4.0, 3.0, 1.0], "median": [7.4, 14.5, 6.8, 11.2]})
    marks = vl_convert.vegalite_to_vega(spec(charts.grouped_bars(df, "mean", "std", reference="median")))["marks"]
    bar, rule, tick = (m["encode"]["update"] for m in marks)
    beside = {"scale": "x", "field": "category", "offset": {"scale": "xOffset", "field": "model"}}
    assert tick["x"] == bar["x"] == beside
    assert tick["width"] == bar["width"] and "xc" not in tick
    assert rule["x"]["offset"]["band"] == 0.5  # the error bar: the bar's middle
    assert tick["y"] == {"scale": "y", "field": "median", "offset": -1}  # 2 px about the median
    assert tick["y2"] == {"scale": "y", "field": "median", "offset": 1}


def test_names_are_drawn_whole_and_long_titles_wrap():
    """Model names on a heatmap's axes and pair names in a legend are never cut ("multilingual-e5-s…") nor
    thinned out: no labelLimit, a pair on two lines, labels level where a column holds the longest name
    (21 characters: 144.5 px), leaning, else upright; a title that Vega would cut on a phone is wrapped."""
    models = ["all-MiniLM-L6-v2", "multilingual-e5-small"]
    df = pd.DataFrame({"a": models * 2, "b": sorted(models * 2), "v": [1.0, 0.2, 0.2, 1.0]})
    s = spec(charts.heatmap(df, "b", "a", "v", title="Jaccard of the top-k neighbour sets @50 — ALL"))
    x, y = (s["layer"][0]["encoding"][c]["axis"] for c in ("x", "y"))
    assert x["labelLimit"] == y["labelLimit"] == 0 and not x["labelOverlap"]
    assert x["labelAngle"] == {"expr": "width / 2 >= 144.5 ? 0 : width / 2 >= 30 ? -40 : -90"}
    assert s["title"] == ["Jaccard of the top-k neighbour", "sets @50 — ALL"]
    pairs = pd.DataFrame({"category": "LATIN", "pair": ["a · b", "a · c"], "v": [0.1, 0.2]})
    legend = spec(charts.grouped_bars(pairs, "v", group="pair"))["layer"][0]["encoding"]["color"]["legend"]
    assert legend["labelLimit"] == 0 and legend["labelExpr"] == "split(datum.label, ' · ')"


def test_bars_on_too_few_tokens_are_grey_with_their_count():
    df = pd.DataFrame({"category": ["LATIN", "THAI"], "model": ["a", "a"], "mean": [0.9, 0.8], "n_tokens": [500, 3]})
    bars = spec(charts.grouped_bars(df, "mean", n="n_tokens", min_n=30))["layer"][0]["encoding"]
    assert bars["color"]["condition"] == {"test": "datum['n_tokens'] < 30", "value": charts.FEW_COLOR}
    assert {"field": "n_tokens", "format": ",d", "title": "tokens", "type": "quantitative"} in bars["tooltip"]


def test_a_failed_download_is_kept_for_its_box_and_session():
    """A file written on click fails outside the script run: the failure is kept for the box that offered it,
    in that session only, once; the writer's exception still reaches Streamlit (its button says so too)."""
    from dashboard import ui

    failed = ui.FailedDownloads()

    def broken() -> bytes:
        raise KeyError("_hp_root")

    write = failed.guard("s1", "norms", "Provenance (JSON)", broken)
    with pytest.raises(KeyError):
        write()
    assert failed.guard("s1", "norms", "Data (CSV)", lambda: b"a,b")() == b"a,b"
    assert failed.take("s2", "norms") == {} and failed.take("s1", "sep") == {}
    assert failed.take("s1", "norms") == {"Provenance (JSON)": "KeyError: '_hp_root'"}
    assert failed.take("s1", "norms") == {}


def test_histogram_rules_sit_between_the_bars():
    counts = tables.value_counts_share(pd.Series([7, 7, 8, 9]), "m", "c")
    refs = pd.DataFrame({"model": ["m", "m"], "reference": ["mean", charts.RANDOM], "at": [7.75, 7.99]})
    s = spec(charts.histogram(counts, "c", references=refs))
    bars, rules = s["layer"]
    assert bars["encoding"]["x"]["field"] == "_lo" and bars["encoding"]["x2"]["field"] == "_hi"
    assert rules["mark"]["type"] == "rule" and rules["encoding"]["x"]["field"] == "at"
    assert rules["encoding"]["color"]["scale"]["domain"] == [charts.MEAN, charts.RANDOM]  # the legend: what is drawn
    assert s["autosize"] == {"type": "fit-x", "contains": "padding"}  # the legend below does not squash the bars
    rows = s["datasets"][s["data"]["name"]]
    assert [(r["_lo"], r["_hi"]) for r in rows if r["_kind"] == "count"] == [(6.6, 7.4), (7.6, 8.4), (8.6, 9.4)]
    assert [r["at"] for r in rows if r["_kind"] == "reference"] == [7.75, 7.99]


def test_decile_labels_and_values_beside_chance():
    labels, order = tables.decile_labels(pd.Series([3, 0, 10, 1]))
    assert list(labels) == ["3", "never seen", "10", "1"] and order == ["never seen", "1", "3", "10"]
    assert tables.with_chance(6.1234, 7.987) == "6.12 (chance 7.99)"
    assert tables.with_chance(0.2, None, ".3f") == "0.200"
    chance = pd.DataFrame({"k": [10, 50], "expected_random": [3.9, 8.0]})
    assert tables.row_at_k(chance, 50)["expected_random"] == 8.0
    assert tables.row_at_k(chance, 20) is None and tables.row_at_k(None, 50) is None


def test_convention_note_says_which_and_what():
    from dashboard import ui

    paper = ui.View(catalog=None, models=[], categories=[], k=50, convention="paper")
    refined = ui.View(catalog=None, models=[], categories=[], k=50, convention="refined")
    assert ui.convention_note(paper, "category", "self") == (
        "Conventions: paper (categories of the raw text, ▁ a symbol; the token itself counted among its neighbours).")
    assert ui.convention_note(refined, "error") == "Conventions: refined (error bars: mean ± sd over the folds)."
    assert ui.convention_note(paper, "category", only="refined") == (
        "Conventions: refined (categories with ▁ stripped). The build computes this figure under the refined "
        "conventions only.")
    assert ui.convention_note(paper, "self", only="refined") == (  # Jaccard: ours, whatever the switch says
        "Conventions: refined (the token itself left out). The build computes this figure under the refined "
        "conventions only.")
    assert set(ui.CONVENTION_RULES["paper"]) == set(ui.CONVENTION_RULES["refined"])


def test_heatmap_writes_values():
    df = pd.DataFrame({"a": ["x", "y"], "b": ["y", "x"], "v": [0.25, 0.75]})
    s = spec(charts.heatmap(df, "a", "b", "v", fmt=".2f"))
    layers = s["layer"]
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in layers]
    assert marks == ["rect", "text"]


def test_histogram_sends_counts_not_tokens():
    counts = tables.value_counts_share(pd.Series([1, 1, 2, 5]), "m", "c")
    assert counts["count"].tolist() == [2, 1, 1] and counts["share"].tolist() == [0.5, 0.25, 0.25]
    s = spec(charts.histogram(counts, "c", title="m"))
    assert s["title"] == "m" and "facet" not in s
    assert len(s["datasets"][s["data"]["name"]]) == 3


def test_variants_and_find_token():
    index = {"▁när": 3, "Comment": 7, "▁アメリカ": 9}
    assert lookup.find_token(index, "när") == (3, "▁när")
    assert lookup.find_token(index, "comment") == (7, "Comment")
    assert lookup.find_token(index, " アメリカ ") == (9, "▁アメリカ")
    assert lookup.find_token(index, "nope") is None


def test_find_token_word_first_prefers_the_word_start_piece():
    # "king" is also a word-internal piece (of "making"); in an expression a term means the word ▁king
    index = {"king": 11, "▁king": 12, "King": 13, "▁Man": 21, "man": 22}
    assert lookup.find_token(index, "king") == (11, "king")  # a single lookup: the literal text first
    assert lookup.find_token(index, "king", word_first=True) == (12, "▁king")
    # word-start forms come first but keep the case order: ▁man is absent, ▁Man beats the literal man
    assert lookup.find_token(index, "man", word_first=True) == (21, "▁Man")
    assert lookup.find_token(index, "man") == (22, "man")
    # a term typed with ▁ is taken as typed; one with no word-start form falls back to the literal one
    assert lookup.find_token(index, "▁king", word_first=True) == (12, "▁king")
    assert lookup.find_token({"king": 11}, "king", word_first=True) == (11, "king")
    texts = [""] * 30
    r = lookup.expression_vector(lookup.parse_expression("king - man"),
                                 lambda atom: lookup.resolve(atom, index, texts, None), lambda i: np.eye(30)[i])
    assert r.used == {"king": "▁king", "man": "▁Man"} and r.ids == (12, 21)


def words(*texts: str) -> tuple[lookup.Atom, ...]:
    return tuple(lookup.Atom(t) for t in texts)


def test_parse_expression():
    assert lookup.parse_expression("king - man + woman") == [
        lookup.Term(1, words("king")), lookup.Term(-1, words("man")), lookup.Term(1, words("woman"))]
    assert lookup.parse_expression("e-mail") == [lookup.Term(1, words("e-mail"))]
    assert lookup.parse_expression("- a + mean(b, c)") == [lookup.Term(-1, words("a")), lookup.Term(1, words("b", "c"))]
    assert lookup.is_expression("a + b") and not lookup.is_expression("-") and not lookup.is_expression("a+b")
    with pytest.raises(ValueError, match="an empty item in mean"):
        lookup.parse_expression("mean(a, )")


def test_expression_vector_uses_unit_vectors():
    vectors = {0: np.array([2.0, 0.0]), 1: np.array([0.0, 3.0]), 2: np.array([1.0, 1.0])}
    index = {"▁king": 0, "▁man": 1, "▁woman": 2}

    def by_text(atom: lookup.Atom) -> lookup.Found | None:
        return lookup.resolve(atom, index, ["▁king", "▁man", "▁woman"], None)

    r = lookup.expression_vector(lookup.parse_expression("king - man + woman"), by_text, vectors.__getitem__)
    s = 1 / np.sqrt(2)
    assert r.vector == pytest.approx([1 + s, -1 + s])
    assert r.ids == (0, 1, 2) and r.used["king"] == "▁king" and r.missing == ()
    mean = lookup.expression_vector(lookup.parse_expression("mean(king, man)"), by_text, vectors.__getitem__)
    assert mean.vector == pytest.approx([0.5, 0.5])
    missing = lookup.expression_vector(lookup.parse_expression("king - queen"), by_text, vectors.__getitem__)
    assert missing.vector is None and missing.missing == ("queen",)


def test_prefix_matches_shortest_first_any_boundary():
    texts = np.array(["▁Amerika", "Amerikaner", "▁America", "▁am", "アメリカ"])
    assert lookup.prefix_matches(texts, "amer") == ["▁Amerika", "▁America", "Amerikaner"]
    assert lookup.prefix_matches(texts, "アメ") == ["アメリカ"]
    assert lookup.prefix_matches(texts, "  ") == []


def test_neighbor_rows_and_shared_marks():
    tokens = pd.DataFrame({"id": [0, 1, 2], "text": ["▁a", "▁b", "c"], "category": ["LATIN"] * 3,
                           "language": [None, "en", None], "gloss": [None, "bee", None]})
    neighbors = np.array([[1, 2], [0, -1], [0, 1]], dtype=np.int32)
    sims = np.array([[0.9, 0.5], [0.9, 0.0], [0.5, 0.4]], dtype=np.float32)
    rows = tables.neighbour_table(neighbors, sims, tokens, 1, 2)
    assert rows["token"].tolist() == ["▁a"] and rows["similarity"].tolist() == pytest.approx([0.9])
    marked = tables.mark_shared({"m1": tables.neighbour_table(neighbors, sims, tokens, 0, 2),
                                 "m2": pd.DataFrame({"token": ["b", "x"]})})
    assert marked["m1"]["shared"].tolist() == [1, 0] and marked["m2"]["shared"].tolist() == [1, 0]


def test_headline_helpers():
    sep = pd.DataFrame({"mean": [0.9, 1.0, None]})
    assert tables.separability_headline(sep) == (pytest.approx(0.95), 2)
    assert tables.weighted_mean(pd.DataFrame({"mean": [1.0, 4.0], "n_tokens": [3, 1]})) == pytest.approx(1.75)
    assert tables.mean_std(pd.Series([1, 2, 3])) == (2.0, 1.0)


def test_invisible_characters_are_written_out_and_nothing_else():
    # wordllama-l2's token 16006 is a comma and a left-to-right mark: it looks like "," (id 29892)
    assert tables.visible(",\u200e") == ",⟨U+200E⟩" and tables.code_points(",\u200e") == "U+002C U+200E"
    # a right-to-left override would reverse the cell's text after it; a ZWJ, a CR, a BOM vanish
    assert tables.visible("a\u202eb\u200dc\r\ufeff") == "a⟨U+202E⟩b⟨U+200D⟩c⟨U+000D⟩⟨U+FEFF⟩"
    for text in ("▁när", "アメリカ", "שלום", "▁मैं", "<0x0A>", "a b"):  # RTL, combining marks, byte pieces
        assert tables.visible(text) == text
    shown = tables.visible_texts(pd.Series(["x\u2066y", None], dtype="string"))
    assert shown.iloc[0] == "x⟨U+2066⟩y" and pd.isna(shown.iloc[1])


def test_lookup_by_id_and_the_query_that_finds_a_token():
    assert lookup.parse_id("id:16006") == 16006 and lookup.parse_id(" ID: 7 ") == 7
    assert lookup.parse_id("#1") is None and lookup.parse_id("idiom") is None and lookup.parse_id("id:-1") is None
    index = {",": 1919, ",\u200e": 16006, ">": 29, ">\r": 153, "▁king": 12, "King": 13}
    assert lookup.query_for(index, ",\u200e", 16006) == '",\u200e"'  # found by its exact text, in quotes
    assert lookup.query_for(index, "▁king", 12) == "▁king"  # with ▁: a piece query as it is
    assert lookup.query_for(index, ">\r", 153) == "id:153"  # its text, stripped, is ">"
    assert lookup.query_for(index, "King", 99) == "id:99"  # a duplicate text: the first id wins the text


def test_unknown_nested_paths_go_to_one_segment():
    from dashboard.server import flat_path

    assert flat_path("/nope/deeper") == "/nope-deeper" and flat_path("/map/x/y") == "/map-x-y"
    assert flat_path("/") is None and flat_path("/nope") is None and flat_path("/neighbours") is None
    # Streamlit's own routes, also where the front end probes them under a page
    for path in ("/static/js/index.js", "/_stcore/health", "/neighbours/_stcore/host-config", "/media/x.png"):
        assert flat_path(path) is None, path
    assert flat_path("/hp/nope/deeper", base="hp") == "/hp/nope-deeper" and flat_path("/hp/map", base="/hp/") is None


def test_a_chart_renders_to_svg_and_png_on_the_server():
    from dashboard import ui

    counts = tables.value_counts_share(pd.Series([1, 1, 2, 5]), "m", "c")
    chart = charts.histogram(counts, "c", title="wordllama-l2", x_title="categories among 50 NN")
    svg = ui.rendered(chart, "svg").decode("utf-8")
    assert svg.startswith("<svg") and "categories among 50 NN" in svg and "wordllama-l2" in svg
    assert ui.rendered(chart, "png")[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_neighbour_shares_a_concept_when_one_of_its_concepts_is_the_tokens():
    concepts = pd.Series(["en:dog|en:hound", "en:hound", "territory:US", None, "en:dog"], dtype="string")
    assert tables.shares_concept(concepts, 0, np.array([1, 2, 3, 4])).tolist() == [True, False, False, True]
    assert tables.shares_concept(concepts, 3, np.array([0, 1])).tolist() == [False, False]
