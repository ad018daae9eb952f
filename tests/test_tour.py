"""The Poster tour: the verdicts as pure functions on small real numbers, and the page on the sample artifacts."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from dashboard import claims, pages, tables
from precompute.contract import paper, schema
from precompute.contract.categories import WRITING_SYSTEMS

# ---- the verdicts ------------------------------------------------------------------------------------------


def test_a_mean_of_6_12_is_nearer_mt5s_7_61_than_one_category():
    """use-multilingual-v3's numNeighborCategory@50 (refined) is 6.12: nearer mT5-XL's 7.61 than 1."""
    assert claims.nearer(6.12, claims.ONE_CATEGORY, paper.MT5_XL_CATEGORIES_MEAN) == claims.MT5
    assert claims.nearer(1.72, claims.ONE_CATEGORY, paper.MT5_XL_CATEGORIES_MEAN) == claims.XLMR
    assert claims.nearer(2.61, xlmr=0.98, mt5=4.24) is None  # the midpoint: no family
    assert claims.nearer(float("nan"), 0.98, 4.24) is None


def test_diversity_names_a_family_only_when_mean_and_spread_agree():
    # mean and std both mT5-like
    both = claims.diversity_verdict("use-multilingual-v3", 6.12, 3.5, 7.99, 1.11, k=50)
    assert both.family == claims.MT5 and both.text.startswith("use-multilingual-v3 behaves like mT5-XL: mean 6.12")
    assert "7.61" in both.text and "4.24" in both.text and "7.99 for 50 random tokens" in both.text
    assert "0.77× chance" in both.text and "std 1.11 with the categories shuffled" in both.text
    # the default build's use-multilingual-v3 under the paper's conventions: a mean like mT5-XL's, a narrow spread
    mixed = claims.diversity_verdict("use-multilingual-v3", 6.27, 1.48, 8.25, 1.16, k=50)
    assert mixed.family is None and "is mixed" in mixed.text
    assert "mean 6.27, nearer mT5-XL's 7.61" in mixed.text and "std 1.48, nearer XLM-R-XL's 0.98" in mixed.text
    assert mixed.row == {claims.MEAN: "6.27 (chance 8.25)", claims.STD: "1.48 (shuffled 1.16)"}
    # all-MiniLM-L6-v2: English WordPiece, neighbourhoods in one script
    english = claims.diversity_verdict("all-MiniLM-L6-v2", 1.72, 1.90, 3.98, k=50)
    assert english.family == claims.XLMR and "behaves like XLM-R-XL" in english.text
    assert "shuffled" not in english.text and english.row[claims.STD] == "1.90"


def test_separability_within_a_point_of_xlmr_is_xlmr_like():
    like = claims.separability_verdict("e5", 0.985, 13)
    assert like.family == claims.XLMR and "98.5% over 13 categories against XLM-R's 99.2% (chance 50%)" in like.text
    below = claims.separability_verdict("use-multilingual-v3", 0.868, 10)
    assert below.family == claims.MT5 and "12.4 points below" in below.text
    assert below.row == {claims.SEPARABILITY: "86.8% (chance 50%)", "categories probed": "10"}


def test_translations_against_chance_and_the_posters_lists():
    lists = {claims.XLMR_XL: (8, 18), claims.MT5_XL: (0, 15)}
    v = claims.translation_verdict("wordllama-l2", 2.96, 0.0084, 50, lists)
    assert v.family == claims.XLMR
    assert v.text == ("wordllama-l2: 2.96 of its 50 nearest neighbours share a translation with the token, 352× "
                      "chance (0.008 for 50 random tokens); när's neighbours share 8 of XLM-R-XL's 18, 0 of mT5-XL's "
                      "15 listed on the poster: like XLM-R-XL's.")
    lists = {claims.XLMR_XL: (1, 18), claims.MT5_XL: (4, 15)}
    assert claims.translation_verdict("m", 8.2, 0.041, 50, lists).family == claims.MT5
    tie = claims.translation_verdict("m", 1.0, 0.5, 10, {claims.XLMR_XL: (0, 18), claims.MT5_XL: (0, 15)})
    assert tie.family is None and "no more of one column" in tie.text and "2× chance" in tie.text
    absent = claims.translation_verdict("m", 7.67, 0.0044, 50, None)
    assert absent.family is None and absent.text.endswith("the poster's när is not in its vocabulary.")
    assert claims.poster_share({claims.XLMR_XL: 3, claims.MT5_XL: 3}, {claims.XLMR_XL: 18, claims.MT5_XL: 15}) == claims.MT5_XL


def test_category_verdict_gives_the_range_over_the_writing_systems():
    v = claims.category_verdict("use-multilingual-v3", {"LATIN": 6.21, "KATAKANA": 7.37, "CJK": 6.71}, 8.25, k=50)
    assert v.family is None
    assert v.text == ("use-multilingual-v3: from 6.21 (LATIN) to 7.37 (KATAKANA) categories among 50 neighbours, "
                      "a range of 1.16 over 3 writing systems (8.25 for 50 random tokens).")
    assert "too few writing systems" in claims.category_verdict("m", {"LATIN": 1.35}, 3.98).text


def test_geometry_is_beyond_chance_only_when_its_interval_clears_it():
    v = claims.geometry_verdict(("use-multilingual-v3", "wordllama-l2"), 0.134931, 0.001426, 0.001257, 50, 20109)
    assert v.text == ("use-multilingual-v3 · wordllama-l2: Jaccard@50 0.135 on 20,109 shared tokens, 107× chance "
                      "(0.0013): alike beyond chance.")
    assert "not distinguishable from chance" in claims.geometry_verdict(("a", "b"), 0.003, 0.002, 0.0015, 10, 50).text


def test_times_chance():
    assert claims.times_chance(0.22, 0.00125) == "176× chance"
    assert claims.times_chance(1.72, 3.98) == "0.43× chance"
    assert claims.times_chance(3.0, 0.0) == "chance 0"


# ---- the page --------------------------------------------------------------------------------------------

pytest.importorskip("streamlit")
from tests.test_dashboard_pages import manifest, models, run_app  # noqa: E402

#: The sample artifacts stop at k = 20: the tests move the paper's k there (as the Overview's test does).
SAMPLE_K = 20


def verdicts(at) -> str:
    return "\n".join(md.value for md in at.markdown if md.value.startswith("- "))


def open_step(monkeypatch, root, step: int | None, **params):
    monkeypatch.setattr(paper, "K", SAMPLE_K)
    return run_app(monkeypatch, root, "tour", **({"step": str(step)} if step else {}), **params)


def expected_numbers(root, step: int) -> list[str]:
    """The numbers each step's verdicts must hold, computed here from the parquet files."""
    out = []
    for slug in models(root):
        d = root / slug
        if step == 1:
            sep = pd.read_parquet(d / schema.SEPARABILITY)
            accuracy, n = tables.separability_headline(sep[sep["convention"] == "paper"])
            out.append(f"{slug} behaves like mT5 here" if accuracy < 0.982 else f"{slug} separates")
            out.append(f"its probes average {accuracy:.1%} over {n} categories")
        elif step == 2:
            meaning = pd.read_parquet(d / schema.MEANING)
            at_k = meaning[meaning["k"] == meaning["k"].max()]
            out.append(f"{slug}: {tables.weighted_mean(at_k):.2f} of its {int(at_k['k'].iloc[0])} nearest")
        elif step in (3, 4):
            chance = pd.read_parquet(d / schema.DIVERSITY_CHANCE)
            chance = chance[(chance["convention"] == "paper") & (chance["k"] == SAMPLE_K)].iloc[0]
            if step == 3:
                values = pd.read_parquet(d / schema.DIVERSITY)[f"n_categories_at_{SAMPLE_K}_paper"]
                out += [f"mean {values.mean():.2f}, nearer", f"std {values.std(ddof=1):.2f}, nearer",
                        f"chance: {chance['expected_random']:.2f} for {SAMPLE_K} random tokens"]
            else:
                cats = pd.read_parquet(d / schema.DIVERSITY_BY_CATEGORY)
                cats = cats[(cats["convention"] == "paper") & (cats["k"] == SAMPLE_K) & cats["category"].isin(
                    WRITING_SYSTEMS) & (cats["n_tokens"] >= manifest(root, slug)["params"]["min_category_tokens"])]
                if len(cats) >= 2:
                    low, high = cats.loc[cats["mean"].idxmin()], cats.loc[cats["mean"].idxmax()]
                    out.append(f"{slug}: from {low['mean']:.2f} ({low['category']}) to {high['mean']:.2f} "
                               f"({high['category']})")
                else:
                    out.append(f"{slug}: too few writing systems")
    if step == 5:
        geo = pd.read_parquet(root / schema.COMPARISONS_DIR / "default" / schema.GEOMETRY)
        geo = geo[(geo["category"] == schema.ALL_CATEGORIES) & (geo["model_a"] < geo["model_b"])
                  & (geo["k"] == SAMPLE_K)]
        assert len(geo) == 1
        row = geo.iloc[0]
        out.append(f"{row['model_a']} · {row['model_b']}: Jaccard@{SAMPLE_K} {row['jaccard_mean']:.3f} on "
                   f"{int(row['n_tokens']):,} shared tokens")
    return out


@pytest.mark.parametrize("step", [1, 2, 3, 4, 5])
def test_every_step_renders_with_the_numbers_of_the_tables(monkeypatch, artifact_root, step):
    at = open_step(monkeypatch, artifact_root, step)
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Poster tour"
    assert at.subheader[0].value.startswith(f"{step}. {claims.CLAIMS[step - 1].title}")
    said = verdicts(at)
    for number in expected_numbers(artifact_root, step):
        assert number in said, (number, said)
    assert len(at.dataframe) == 1  # the step's numbers, the paper's rows first where it has numbers
    assert len(at.get("vega_lite_chart")) == 1  # and its chart, chance ticked on every bar
    table = at.dataframe[0].value
    assert list(table["source"])[:len(claims.CLAIMS[step - 1].paper_rows)] == [
        r["source"] for r in claims.CLAIMS[step - 1].paper_rows]
    # the evidence: the page that shows it, as the paper computed it, for the models shown
    link = at.get("page_link")[0].proto
    assert link.page == pages.discover()[claims.CLAIMS[step - 1].page].url_path
    query = link.query_string
    assert f"k={SAMPLE_K}" in query and "conv=paper" in query
    assert all(f"models={slug}" in query for slug in models(artifact_root))


def test_the_posters_när_is_compared_with_both_columns(monkeypatch, artifact_root):
    at = open_step(monkeypatch, artifact_root, 2)
    said = verdicts(at)
    assert "of XLM-R-XL's 18" in said and "of mT5-XL's 15" in said  # the samples keep ▁när
    assert "q=n%C3%A4r" in at.get("page_link")[0].proto.query_string


def test_next_and_previous_move_the_step_in_the_url(monkeypatch, artifact_root):
    at = open_step(monkeypatch, artifact_root, None)
    assert at.subheader[0].value.startswith("1. ")
    assert at.button(key="tour_previous").disabled
    at.button(key="tour_next").click().run()
    assert at.subheader[0].value.startswith("2. ") and at.query_params["step"] == "2"
    at.button(key="tour_previous").click().run()
    assert at.subheader[0].value.startswith("1. ")
    at = open_step(monkeypatch, artifact_root, 5)
    assert at.button(key="tour_next").disabled and not at.button(key="tour_previous").disabled


@pytest.mark.parametrize("step", ["9", "0", "two"])
def test_a_step_out_of_range_warns_and_shows_the_first(monkeypatch, artifact_root, step):
    monkeypatch.setattr(paper, "K", SAMPLE_K)
    at = run_app(monkeypatch, artifact_root, "tour", step=step)
    assert any(f"step = '{step}' from the link is not available here" in w.value for w in at.warning)
    assert at.subheader[0].value.startswith("1. ")


def test_one_model_cannot_show_the_geometry_claim(monkeypatch, artifact_root):
    slug = models(artifact_root)[0]
    at = open_step(monkeypatch, artifact_root, 5, models=slug)
    assert any("select at least two" in i.value for i in at.info)
    assert not at.error


def test_without_a_comparison_the_step_says_how_to_build_one(monkeypatch, artifact_root, tmp_path):
    root = tmp_path / "artifacts"
    shutil.copytree(artifact_root, root, ignore=shutil.ignore_patterns(schema.COMPARISONS_DIR))
    at = open_step(monkeypatch, root, 5)
    assert any("No comparison built yet" in i.value and "python -m precompute compare" in i.value for i in at.info)


def test_a_model_without_chance_baselines_is_named_with_its_rebuild_command(monkeypatch, artifact_root, tmp_path):
    root = tmp_path / "artifacts"
    shutil.copytree(artifact_root, root)
    broken, fine = models(root)
    path = root / broken / schema.MANIFEST
    record = json.loads(path.read_text())
    del record["files"][schema.DIVERSITY_CHANCE]  # as if that build step had failed
    path.write_text(json.dumps(record))
    at = open_step(monkeypatch, root, 3)
    assert any(broken in i.value and schema.DIVERSITY_CHANCE in i.value and record["rebuild"] in i.value
               for i in at.info), [i.value for i in at.info]
    said = verdicts(at)
    assert fine in said and broken not in said


def test_a_model_not_analysed_at_the_papers_k_says_so(monkeypatch, artifact_root):
    """The samples stop at k = 20: at the paper's own k (50) every diversity step says what is missing."""
    at = run_app(monkeypatch, artifact_root, "tour", step="3")
    said = [i.value for i in at.info]
    assert any("has no numNeighborCategory" in s and f"at k = {paper.K}" in s and "--diversity-ks" in s
               for s in said), said
    assert not at.error
