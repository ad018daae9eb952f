"""The poster's claims in order, and the verdict each loaded model earns on them: pure functions over numbers.

The Tour page (``app_pages/tour.py``) reads the artifacts and draws; this module words the verdicts. The
rules that decide them live in :mod:`precompute.contract.verdicts`, beside the paper's figures, and are
written out in docs/METHODS.md ("Verdicts"): each compares the model's statistic on the paper's categories
(its conventions, k = :data:`precompute.contract.paper.K`), normalised by the model's own chance, with a 95%
interval, against the paper's figure with its uncertainty, and says "undecided" where the intervals overlap.
The loaded models are not XLM-R or mT5: a verdict says which family a model *behaves like* on one statistic,
with the numbers, never that it is one. Where the paper gives no number (the per-category figure, the overlap
between models), the verdict gives the model's number against chance and names no family.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dashboard import lookup, tables
from precompute.contract import paper, verdicts
from precompute.contract.verdicts import MT5, UNDECIDED, XLMR, Estimate

#: The paper's models the poster names (its figures are for these sizes).
XLMR_XL, MT5_XL = paper.XLMR_XL, paper.MT5_XL
#: The poster's token whose neighbour lists claim 2 compares, and how many neighbours it compares.
POSTER_TOKEN, POSTER_DEPTH = verdicts.POSTER_TOKEN, verdicts.POSTER_DEPTH

#: Table columns the paper's rows and the models' share (the neighbourhood size is said beside the table).
SEPARABILITY, MEAN, STD = "separability", "mean categories", "std of categories"
#: The table column that holds a model's overlap with the poster's lists.
POSTER_COLUMN = f"{POSTER_TOKEN}: shared with the poster"


@dataclass(frozen=True)
class Claim:
    """One claim of the poster: its words, the paper's figure behind it, the page that shows the evidence."""

    title: str  #: the poster's heading, short
    words: str  #: what the poster says, as it says it
    figure: str  #: the paper's figure and the numbers it reports
    page: str  #: the registry name (file stem) of the dashboard page that shows the evidence
    evidence: str  #: what that page shows, for the link's label
    paper_rows: tuple[dict[str, str], ...] = ()  #: the paper's numbers as the step's table shows them, by column
    families: bool = True  #: whether the verdicts can name a family (the paper has numbers or lists to decide it)
    measure: str = ""  #: what the step's chart draws, as its axis says it
    paper_bars: tuple[tuple[str, float], ...] = ()  #: the paper's figures the chart draws beside the models'
    by_category: bool = False  #: the chart's bars are per token category (else one per model or pair)
    short: str = ""  #: the statistic that decides the family, as the Tour's closing summary names it


CLAIMS: tuple[Claim, ...] = (
    Claim("Model families encode languages differently",
          "XLM-R separates languages by writing system. Even in high-dimensional space, mT5 cannot linearly "
          "separate languages as well as XLM.",
          f"The paper's category identification figure (XLM-R and mT5 on the vocabulary they share, axis "
          f"0.85–1.0): a linear probe tells XLM-R's writing systems apart with {paper.XLMR_SEPARABILITY:.1%} "
          "average accuracy; mT5's bars stand lower (no average reported).",
          "separability", "the probes per writing system",
          ({"source": f"the paper: {XLMR}", SEPARABILITY: f"{paper.XLMR_SEPARABILITY:.1%} (as rounded: "
            f"{verdicts.XLMR_SEPARABILITY.low:.2%}–{verdicts.XLMR_SEPARABILITY.high:.2%})"},),
          measure="mean probe accuracy", paper_bars=((f"the paper: {XLMR}", paper.XLMR_SEPARABILITY),),
          short="separability"),
    Claim("Embeddings encode semantics",
          "mT5 discovers a shared semantic space that spans languages: the nearest neighbours of när "
          "(\"when\", sv) in mT5-XL are når, when, cuando, quando, quand …; in XLM-R-XL mostly other Swedish "
          "words.",
          "The poster's table of neighbours (när, アメリカ, Comment in XLM-R-XL and mT5-XL) and the paper's "
          "figure of neighbours that share a translation, by category (no overall number reported).",
          "neighbors", "när's neighbours beside the poster's lists", measure="neighbours sharing a translation",
          short=f"{verdicts.POSTER_TOKEN}'s neighbours"),
    Claim("Embedding neighbourhoods in mT5 are more linguistically diverse",
          "The 50 nearest neighbours of an mT5 token span many writing systems; XLM-R's stay in the token's own.",
          f"The paper's histogram of numNeighborCategory@{paper.K} (the token itself counted, raw-text "
          f"categories): mT5-XL mean {paper.MT5_XL_CATEGORIES_MEAN:.2f}, standard deviation "
          f"{paper.MT5_XL_CATEGORIES_STD:.2f}; XLM-R-XL standard deviation {paper.XLMR_XL_CATEGORIES_STD:.2f}.",
          "diversity", f"the numNeighborCategory@{paper.K} histograms",
          ({"source": f"the paper: {MT5_XL}", MEAN: f"{paper.MT5_XL_CATEGORIES_MEAN:.2f} ± "
            f"{verdicts.MT5_XL_MEAN.high - verdicts.MT5_XL_MEAN.value:.2f} (its 1% sample, "
            f"{paper.MT5_XL_SAMPLE:,} tokens)",
            STD: f"{paper.MT5_XL_CATEGORIES_STD:.2f}"},
           {"source": f"the paper: {XLMR_XL}", MEAN: "not reported", STD: f"{paper.XLMR_XL_CATEGORIES_STD:.2f}"}),
          measure=f"mean categories among {paper.K} neighbours",
          paper_bars=((f"the paper: {MT5_XL}", paper.MT5_XL_CATEGORIES_MEAN),), short="diversity"),
    Claim("The diversity varies by token category",
          "The diversity of neighbourhoods in mT5 varies by token category.",
          "The paper's figure of the entropy of the neighbours' categories for each of its 13 writing systems "
          "(no numbers reported).",
          "diversity", "diversity by category", families=False,
          measure=f"mean categories among {paper.K} neighbours", by_category=True),
    Claim("Embedding geometries are similar between models and scales",
          "Models of one family, and of different sizes, put the same tokens near each other.",
          "The paper's figure of the overlap of the nearest neighbours of the tokens two models share, across "
          "families and sizes (no single number reported).",
          "geometry", "the overlap of each pair against chance", families=False,
          measure="Jaccard of the neighbour sets"),
)


@dataclass(frozen=True)
class Verdict:
    """What one model's (or pair's) numbers say about a claim: one line, and the family it behaves like."""

    subject: str  #: the model (or "a · b" for a pair)
    text: str  #: the one-line verdict, numbers included
    family: str | None = None  #: XLMR, MT5 or UNDECIDED where the claim compares families; None where it cannot
    row: dict[str, str] = field(default_factory=dict)  #: its numbers as the step's table shows them, by column
    bars: dict[str, float] = field(default_factory=dict)  #: what the step's chart draws for it: bar -> value
    chance: float | None = None  #: the statistic's chance value, drawn as a tick on its bars
    why: str = ""  #: the rule's reason, short, for the Tour's closing summary


def times_chance(value: float, chance: float) -> str:
    """How many times its chance value a statistic is, as verdicts write it.

    >>> times_chance(8.2, 0.041), times_chance(6.12, 8.0), times_chance(1.0, 0.0)
    ('200× chance', '0.77× chance', 'chance 0')
    """
    if chance <= 0 or math.isnan(chance):
        return "chance 0"
    ratio = value / chance
    return f"{ratio:,.0f}× chance" if ratio >= 10 else f"{ratio:.2g}× chance"


def percent(e: Estimate) -> str:
    """``97.3% [96.8%, 97.8%]``."""
    return f"{e.value:.1%} [{e.low:.1%}, {e.high:.1%}]"


def lead(model: str, family: str | None, like: Mapping[str, str]) -> str:
    """The verdict's opening words for its call: ``like[family]``, "undecided", or no family."""
    if family == UNDECIDED:
        return f"{model} is undecided"
    return f"{model} {like[family]}" if family in like else f"{model} names no family"


def separability_verdict(model: str, accuracy: Estimate, systems: Sequence[str]) -> Verdict:
    """Claim 1: the model's one-vs-rest probes (paper's conventions) of the paper's writing systems it has
    enough tokens for, their average with its 95% interval, against XLM-R's (:func:`verdicts.separability_call`).
    Chance is 50% for every model (balanced classes), so accuracies compare as they are.

    >>> separability_verdict("e5", Estimate(0.953, 0.95, 0.956), ["LATIN", "CJK"]).family
    'mT5'
    """
    call = verdicts.separability_call(accuracy, len(systems))
    row = {SEPARABILITY: f"{percent(accuracy)} (chance 50%)", "writing systems probed": str(len(systems))}
    words = lead(model, call.family, {XLMR: "separates writing systems like XLM-R",
                                      MT5: "behaves like mT5 here, separating writing systems less well than XLM-R"})
    probed = ", ".join(systems) or "none"
    return Verdict(model, f"{words}: {call.why} ({len(systems)} of the paper's writing systems probed: {probed}).",
                   call.family, row, {model: accuracy.value}, verdicts.PROBE_CHANCE, call.why)


def poster_neighbours(index: Mapping[str, int], texts: pd.Series, neighbors: np.ndarray,
                      token: str = POSTER_TOKEN) -> pd.Series | None:
    """The texts of the ``POSTER_DEPTH`` nearest neighbours of a poster token (its word-start piece ``▁när``
    first, as the poster's models list the bare piece ``när`` among its neighbours), or None when the
    vocabulary has no spelling of it. The Tour and the Neighbours page both count from this list.
    """
    found = lookup.find_token(index, token, word_first=True)
    if found is None:
        return None
    ids = [int(i) for i in neighbors[found[0], :POSTER_DEPTH] if i >= 0]
    return texts.iloc[ids].reset_index(drop=True)


def poster_found(neighbours: pd.Series, token: str = POSTER_TOKEN) -> dict[str, list[str]]:
    """Per poster column, the words of its list for ``token`` that ``neighbours`` (from
    :func:`poster_neighbours`) holds, in the poster's order.

    >>> poster_found(pd.Series(["▁när", "▁då", "▁cuando", "x"]))
    {'XLM-R-XL': ['då', 'när'], 'mT5-XL': ['när', 'cuando']}
    """
    return {column: tables.poster_overlap(neighbours.iloc[:POSTER_DEPTH], listed)
            for column, listed in paper.POSTER_NEIGHBORS[token].items()}


def poster_counts(found: Mapping[str, Sequence[str]]) -> str:
    """``5 of XLM-R-XL's 18, 2 of mT5-XL's 15``: the numbers both pages show for one model."""
    lists = paper.POSTER_NEIGHBORS[POSTER_TOKEN]
    return ", ".join(f"{len(found.get(c, ()))} of {c}'s {len(listed)}" for c, listed in lists.items())


def translation_verdict(model: str, mean: Estimate, chance: float, k: int,
                        found: Mapping[str, Sequence[str]] | None = None) -> Verdict:
    """Claim 2: how many of a token's ``k`` nearest neighbours share a translation with it, against chance
    (the paper reports no such number, so it names no family); and the family from the poster's lists of
    ``när``: ``found`` holds, per poster column, the listed words among the model's nearest ``POSTER_DEPTH``
    (:func:`verdicts.poster_call`), None when the vocabulary has no när.

    >>> lists = {XLMR_XL: ["när", "då", "där", "här", "också", "från"], MT5_XL: ["när"]}
    >>> translation_verdict("m", Estimate(2.96, 2.6, 3.3), 0.0084, 50, lists).family
    'XLM-R'
    """
    beyond = "beyond chance" if mean.low > chance else "not beyond chance"
    text = (f"{mean.value:.2f} [{mean.low:.2f}, {mean.high:.2f}] of its {k} nearest neighbours share a translation "
            f"with the token, {times_chance(mean.value, chance)} ({chance:.3f} for {k} random tokens): {beyond}")
    row = {"translations among neighbours": f"{mean.value:.2f} of {k} ({times_chance(mean.value, chance)})"}
    drawn = {"bars": {model: mean.value}, "chance": chance}
    if found is None:
        return Verdict(model, f"{model} names no family: {text}; the poster's {POSTER_TOKEN} is not in its "
                              "vocabulary.", None, row | {POSTER_COLUMN: "not in its vocabulary"},
                       why=f"{POSTER_TOKEN} is not in its vocabulary", **drawn)
    call = verdicts.poster_call(found)
    words = lead(model, call.family, {XLMR: f"lists {POSTER_TOKEN}'s neighbours like {XLMR_XL}",
                                      MT5: f"lists {POSTER_TOKEN}'s neighbours like {MT5_XL}"})
    return Verdict(model, f"{words}: its nearest {POSTER_DEPTH} hold {poster_counts(found)} listed on the poster; "
                          f"{call.why}. Translations: {text}.",
                   call.family, row | {POSTER_COLUMN: poster_counts(found)}, why=call.why, **drawn)


def diversity_verdict(model: str, mean: Estimate, std: float, chance_mean: float, chance_std: float | None = None,
                      k: int = paper.K) -> Verdict:
    """Claim 3: numNeighborCategory@k (paper's conventions) on the scale from one category (0) to the model's
    own chance (1), against mT5-XL's 7.61 on its vocabulary's scale (:func:`verdicts.diversity_call`). The
    standard deviation is shown beside the paper's (mT5-XL 4.24, XLM-R-XL 0.98) and the one with the
    categories shuffled over the tokens (``chance_std``); it does not decide.

    >>> diversity_verdict("e5", Estimate.around(10.51, 0.02), 4.65, 15.07).family
    'mT5'
    """
    call = verdicts.diversity_call(mean, chance_mean)
    shuffled = chance_std is not None and not math.isnan(chance_std)
    row = {MEAN: f"{mean.value:.2f} ({times_chance(mean.value, chance_mean)})",
           STD: f"{std:.2f}" + (f" (shuffled {chance_std:.2f})" if shuffled else "")}
    words = lead(model, call.family, {MT5: f"behaves like {MT5_XL}, its neighbourhoods mixing categories",
                                      XLMR: f"behaves like {XLMR_XL}, its neighbourhoods staying in one category"})
    return Verdict(model, f"{words}: mean {mean.value:.2f} categories among {k} neighbours, {chance_mean:.2f} for "
                          f"{k} random tokens; {call.why}. Std {std:.2f} (mT5-XL {paper.MT5_XL_CATEGORIES_STD:.2f}, "
                          f"XLM-R-XL {paper.XLMR_XL_CATEGORIES_STD:.2f}"
                          + (f", {chance_std:.2f} with the categories shuffled" if shuffled else "") + ").",
                   call.family, row, {model: mean.value}, chance_mean, call.why)


def category_verdict(model: str, by_category: Mapping[str, float], chance_mean: float, k: int = paper.K) -> Verdict:
    """Claim 4: how much numNeighborCategory@k (mean per token category) varies across the categories given
    (the caller keeps the writing systems with enough tokens), against the mean for k random tokens.

    The paper gives no per-category numbers, so no family is named.

    >>> category_verdict("m", {"LATIN": 3.0, "HANGUL": 1.5, "CYRILLIC": 9.0}, 8.0).text[:40]
    'm: from 1.50 (HANGUL) to 9.00 (CYRILLIC)'
    """
    values = {c: v for c, v in by_category.items() if not math.isnan(v)}
    if len(values) < 2:
        only = ", ".join(values) or "none"
        return Verdict(model, f"{model}: too few writing systems with enough tokens to compare ({only}).",
                       row={"writing systems": str(len(values))})
    low, high = min(values, key=values.__getitem__), max(values, key=values.__getitem__)
    row = {"lowest": f"{values[low]:.2f} ({low})", "highest": f"{values[high]:.2f} ({high})",
           "writing systems": str(len(values)), "chance": f"{chance_mean:.2f}"}
    return Verdict(model, f"{model}: from {values[low]:.2f} ({low}) to {values[high]:.2f} ({high}) categories among "
                          f"{k} neighbours, a range of {values[high] - values[low]:.2f} over {len(values)} writing "
                          f"systems ({chance_mean:.2f} for {k} random tokens).", row=row, bars=values,
                   chance=chance_mean)


def geometry_verdict(pair: Sequence[str], jaccard: Estimate, chance: float, same_category: float, k: int,
                     n_tokens: int) -> Verdict:
    """Claim 5: the mean Jaccard index of two models' k-neighbour sets on the tokens they share, against two
    random k-sets of those tokens and against neighbours drawn within each token's own category
    (:func:`verdicts.geometry_call`). No family: the paper gives no number.

    >>> geometry_verdict(("a", "b"), Estimate.around(0.08, 0.001), 0.0004, 0.002, 50, 12000).text[64:]
    '200× chance (0.0004), 40× within-category chance (0.0020): alike beyond their writing systems.'
    """
    subject = " · ".join(pair)
    call = verdicts.geometry_call(jaccard, chance, same_category)
    within = ("" if math.isnan(same_category) else ", " + times_chance(jaccard.value, same_category).replace(
        "chance", "within-category chance") + f" ({same_category:.4f})")
    row = {"Jaccard": f"{jaccard.value:.3f}", "chance": f"{chance:.4f}", "within-category chance":
           "" if math.isnan(same_category) else f"{same_category:.4f}", "shared tokens": f"{n_tokens:,}"}
    return Verdict(subject, f"{subject}: Jaccard@{k} {jaccard.value:.3f} [{jaccard.low:.3f}, {jaccard.high:.3f}] on "
                            f"{n_tokens:,} shared tokens, {times_chance(jaccard.value, chance)} ({chance:.4f})"
                            f"{within}: {call.why}.", row=row, bars={subject: jaccard.value}, chance=chance,
                   why=call.why)


#: How the closing summary writes a call.
CALLED = {XLMR: "like XLM-R", MT5: "like mT5", UNDECIDED: "undecided", None: "no family"}


def summary_line(model: str, by_claim: Mapping[str, Verdict | None]) -> str:
    """One line for a model over the claims that compare families (``by_claim``: claim title -> its verdict,
    None where it has none): each call with its reason.

    >>> summary_line("m", {"Separability": Verdict("m", "…", UNDECIDED, why="98.0% [97.5%, 98.5%]"), "När": None})
    'm: Separability undecided (98.0% [97.5%, 98.5%]); När not measured.'
    """
    calls = [f"{title} not measured" if v is None else f"{title} {CALLED[v.family]} ({v.why})"
             for title, v in by_claim.items()]
    return f"{model}: " + "; ".join(calls) + "."
