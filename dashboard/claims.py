"""The poster's claims in order, and the verdict each loaded model earns on them: pure functions over numbers.

The Tour page (``app_pages/tour.py``) reads the artifacts and draws; this module decides. Every verdict
compares like with like: the model's statistic computed as the paper computed its figure (the paper's
conventions, k = :data:`precompute.contract.paper.K`), beside the figure the paper reports for its models
(:mod:`precompute.contract.paper`) and the statistic's value for neighbours that carry no information (the
artifacts' chance columns, METHODS §10). The loaded models are not XLM-R or mT5: a verdict says which
family a model *behaves like* on one statistic, with the numbers, never that it is one.

Where the paper reports a figure for both families (the spread of numNeighborCategory@50: mT5-XL
4.24, XLM-R-XL 0.98), a model is put with the family whose figure is nearer. Where it reports one
family's figure only, the verdict says how far the model is from it and which way: XLM-R's 99.2%
separability (the poster's claim is itself a comparison: mT5 separates writing systems less well),
mT5-XL's mean of 7.61 categories (set against one category, the token's own, where XLM-R-XL's
neighbourhoods mostly stay). The poster's neighbour lists of när, one per family, are compared as
lists. Where the paper gives no number (the per-category figure, the overlap between models), the
verdict gives the model's number against chance and names no family.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from precompute.contract import paper

#: The paper's two model families, as verdicts name them (its figures are for these sizes).
XLMR, MT5 = "XLM-R", "mT5"
XLMR_XL, MT5_XL = "XLM-R-XL", "mT5-XL"

#: A model whose probes average within this much of XLM-R's 99.2% separates writing systems "like XLM-R";
#: further below, it separates them less well, as the paper finds mT5 does (the paper gives no mT5 average).
SEPARABILITY_MARGIN = 0.01


#: Table columns the paper's rows and the models' share (the neighbourhood size is said beside the table).
SEPARABILITY, MEAN, STD = "separability", "mean categories", "std of categories"


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


CLAIMS: tuple[Claim, ...] = (
    Claim("Model families encode languages differently",
          "XLM-R separates languages by writing system. Even in high-dimensional space, mT5 cannot linearly "
          "separate languages as well as XLM.",
          f"The paper's category identification figure (XLM-R and mT5 on the vocabulary they share, axis "
          f"0.85–1.0): a linear probe tells XLM-R's writing systems apart with {paper.XLMR_SEPARABILITY:.1%} "
          "average accuracy; mT5's bars stand lower (no average reported).",
          "separability", "the probes per writing system",
          ({"source": f"the paper: {XLMR}", SEPARABILITY: f"{paper.XLMR_SEPARABILITY:.1%}"},),
          measure="mean probe accuracy", paper_bars=((f"the paper: {XLMR}", paper.XLMR_SEPARABILITY),)),
    Claim("Embeddings encode semantics",
          "mT5 discovers a shared semantic space that spans languages: the nearest neighbours of när "
          "(\"when\", sv) in mT5-XL are når, when, cuando, quando, quand …; in XLM-R-XL mostly other Swedish "
          "words.",
          "The poster's table of neighbours (när, アメリカ, Comment in XLM-R-XL and mT5-XL) and the paper's "
          "figure of neighbours that share a translation, by category (no overall number reported).",
          "neighbors", "när's neighbours beside the poster's lists", measure="neighbours sharing a translation"),
    Claim("Embedding neighbourhoods in mT5 are more linguistically diverse",
          "The 50 nearest neighbours of an mT5 token span many writing systems; XLM-R's stay in the token's own.",
          f"The paper's histogram of numNeighborCategory@{paper.K} (the token itself counted, raw-text "
          f"categories): mT5-XL mean {paper.MT5_XL_CATEGORIES_MEAN:.2f}, standard deviation "
          f"{paper.MT5_XL_CATEGORIES_STD:.2f}; XLM-R-XL standard deviation {paper.XLMR_XL_CATEGORIES_STD:.2f}.",
          "diversity", f"the numNeighborCategory@{paper.K} histograms",
          ({"source": f"the paper: {MT5_XL}", MEAN: f"{paper.MT5_XL_CATEGORIES_MEAN:.2f}",
            STD: f"{paper.MT5_XL_CATEGORIES_STD:.2f}"},
           {"source": f"the paper: {XLMR_XL}", MEAN: "not reported", STD: f"{paper.XLMR_XL_CATEGORIES_STD:.2f}"}),
          measure=f"mean categories among {paper.K} neighbours",
          paper_bars=((f"the paper: {MT5_XL}", paper.MT5_XL_CATEGORIES_MEAN),)),
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
    family: str | None = None  #: XLMR or MT5 where the numbers decide it; None where the paper gives nothing to
    row: dict[str, str] = field(default_factory=dict)  #: its numbers as the step's table shows them, by column
    bars: dict[str, float] = field(default_factory=dict)  #: what the step's chart draws for it: bar -> value
    chance: float | None = None  #: the statistic's chance value, drawn as a tick on its bars


def nearer(value: float, xlmr: float, mt5: float) -> str | None:
    """The family whose figure is nearer ``value`` (None on a tie or a missing value).

    >>> nearer(3.1, xlmr=0.98, mt5=4.24)
    'mT5'
    """
    if any(math.isnan(x) for x in (value, xlmr, mt5)):
        return None
    to_xlmr, to_mt5 = abs(value - xlmr), abs(value - mt5)
    return None if math.isclose(to_xlmr, to_mt5) else (XLMR if to_xlmr < to_mt5 else MT5)


def times_chance(value: float, chance: float) -> str:
    """How many times its chance value a statistic is, as verdicts write it.

    >>> times_chance(8.2, 0.041), times_chance(6.12, 8.0), times_chance(1.0, 0.0)
    ('200× chance', '0.77× chance', 'chance 0')
    """
    if chance <= 0 or math.isnan(chance):
        return "chance 0"
    ratio = value / chance
    return f"{ratio:,.0f}× chance" if ratio >= 10 else f"{ratio:.2g}× chance"


def separability_verdict(model: str, accuracy: float, n_categories: int,
                         xlmr: float = paper.XLMR_SEPARABILITY, margin: float = SEPARABILITY_MARGIN) -> Verdict:
    """Claim 1: the model's average one-vs-rest probe accuracy (paper's conventions) against XLM-R's.

    Within ``margin`` of XLM-R's average, the model separates writing systems like XLM-R; further below,
    less well than XLM-R, which is what the poster says of mT5. Chance is 50% (balanced classes).

    >>> separability_verdict("e5", 0.953, 12).family
    'mT5'
    """
    gap = xlmr - accuracy
    numbers = (f"its probes average {accuracy:.1%} over {n_categories} categories against XLM-R's {xlmr:.1%} "
               f"(chance 50%)")
    row = {SEPARABILITY: f"{accuracy:.1%} (chance 50%)", "categories probed": str(n_categories)}
    bars = {model: accuracy}
    if gap <= margin:
        return Verdict(model, f"{model} separates writing systems like XLM-R: {numbers}.", XLMR, row, bars, 0.5)
    return Verdict(model, f"{model} behaves like mT5 here, separating writing systems less well than XLM-R: "
                          f"{numbers}, {gap * 100:.1f} points below.", MT5, row, bars, 0.5)


def poster_share(found: Mapping[str, int], listed: Mapping[str, int]) -> str | None:
    """The poster column (``XLM-R-XL`` / ``mT5-XL``) whose listed neighbours a model's list shares the larger
    share of (None on a tie or when it shares none): ``found`` and ``listed`` count, per column, the tokens
    shared and the tokens the poster lists.

    >>> poster_share({"XLM-R-XL": 2, "mT5-XL": 4}, {"XLM-R-XL": 18, "mT5-XL": 15})
    'mT5-XL'
    """
    shares = {c: found.get(c, 0) / listed[c] for c in listed if listed[c]}
    if not shares or max(shares.values()) == 0:
        return None
    best = max(shares.values())
    winners = [c for c, s in shares.items() if math.isclose(s, best)]
    return winners[0] if len(winners) == 1 else None


def translation_verdict(model: str, mean: float, chance: float, k: int,
                        poster: Mapping[str, tuple[int, int]] | None = None, token: str = "när") -> Verdict:
    """Claim 2: how many of a token's ``k`` nearest neighbours share a translation with it, against chance;
    with ``poster`` (per poster column: tokens of its list the model's list shares, tokens it lists), which
    column of the poster's table for ``token`` the model's neighbours resemble.

    The paper reports no overall number for translations, so the family comes from the poster's lists:
    the one whose listed neighbours the model's list shares the larger share of.

    >>> translation_verdict("m", 8.2, 0.041, 50, {"XLM-R-XL": (1, 18), "mT5-XL": (4, 15)}).family
    'mT5'
    """
    text = (f"{model}: {mean:.2f} of its {k} nearest neighbours share a translation with the token, "
            f"{times_chance(mean, chance)} ({chance:.3f} for {k} random tokens)")
    row = {"translations among neighbours": f"{mean:.2f} of {k} (chance {chance:.3f})"}
    drawn = {"bars": {model: mean}, "chance": chance}
    if poster is None:
        return Verdict(model, text + f"; the poster's {token} is not in its vocabulary.",
                       row=row | {f"{token}: shared with the poster": "not in its vocabulary"}, **drawn)
    closer = poster_share({c: f for c, (f, _) in poster.items()}, {c: n for c, (_, n) in poster.items()})
    counts = ", ".join(f"{f} of {c}'s {n}" for c, (f, n) in poster.items())
    row |= {f"{token}: shared with the poster": counts}
    if closer is None:
        return Verdict(model, text + f"; {token}'s neighbours share {counts} listed on the poster, no more of one "
                                     "column than of the other.", row=row, **drawn)
    family = MT5 if closer == MT5_XL else XLMR
    return Verdict(model, text + f"; {token}'s neighbours share {counts} listed on the poster: like {closer}'s.",
                   family, row, **drawn)


#: numNeighborCategory@k under the paper's conventions when every neighbour shares the token's category (the
#: token itself is counted, so this is the least a token can score): where the paper says XLM-R-XL's
#: neighbourhoods mostly stay. The paper reports no XLM-R-XL mean; the verdict sets a mean between this and
#: mT5-XL's 7.61.
ONE_CATEGORY = 1.0


def diversity_verdict(model: str, mean: float, std: float, chance_mean: float, chance_std: float | None = None,
                      k: int = paper.K) -> Verdict:
    """Claim 3: numNeighborCategory@k (paper's conventions), its mean and standard deviation over tokens.

    Two calls, a family named only when they agree: the mean is nearer mT5-XL's 7.61 or :data:`ONE_CATEGORY`
    (neighbourhoods in the token's own category, as XLM-R-XL's mostly are; the paper gives no XLM-R-XL
    mean); the standard deviation is nearer mT5-XL's 4.24 or XLM-R-XL's 0.98 (the paper reports both).
    Chance: the mean for k tokens drawn at random (``chance_mean``), the standard deviation with the
    categories shuffled over the tokens (``chance_std``).

    >>> diversity_verdict("m", 6.12, 3.5, 8.0).family, diversity_verdict("m", 6.12, 1.48, 8.0).family
    ('mT5', None)
    """
    by_mean = nearer(mean, ONE_CATEGORY, paper.MT5_XL_CATEGORIES_MEAN)
    by_std = nearer(std, paper.XLMR_XL_CATEGORIES_STD, paper.MT5_XL_CATEGORIES_STD)
    shuffled = chance_std is not None and not math.isnan(chance_std)
    named = {MT5: MT5_XL, XLMR: XLMR_XL}
    one = f"{ONE_CATEGORY:.0f} (every neighbour in the token's own category)"
    mt5_mean, mt5_std = f"mT5-XL's {paper.MT5_XL_CATEGORIES_MEAN:.2f}", f"mT5-XL's {paper.MT5_XL_CATEGORIES_STD:.2f}"
    xlmr_std = f"XLM-R-XL's {paper.XLMR_XL_CATEGORIES_STD:.2f}"
    means = (f"mean {mean:.2f}, nearer " + (f"{mt5_mean} than {one}" if by_mean == MT5 else f"{one} than {mt5_mean}")
             if by_mean else f"mean {mean:.2f}, as near {one} as {mt5_mean}")
    spread = (f"std {std:.2f}, nearer "
              + (f"{mt5_std} than {xlmr_std}" if by_std == MT5 else f"{xlmr_std} than {mt5_std}")
              if by_std else f"std {std:.2f}, as near {mt5_std} as {xlmr_std}")
    chance = (f"chance: {chance_mean:.2f} for {k} random tokens, the mean {times_chance(mean, chance_mean)}"
              + (f"; std {chance_std:.2f} with the categories shuffled" if shuffled else ""))
    row = {MEAN: f"{mean:.2f} (chance {chance_mean:.2f})",
           STD: f"{std:.2f}" + (f" (shuffled {chance_std:.2f})" if shuffled else "")}
    if by_mean is not None and by_mean == by_std:
        lead = f"{model} behaves like {named[by_mean]}"
    elif by_mean is None or by_std is None:
        lead = f"{model} sits between the families"
    else:
        lead = f"{model} is mixed, its mean nearer {named[by_mean]}'s, its spread nearer {named[by_std]}'s"
    return Verdict(model, f"{lead}: {means}; {spread} ({chance}).",
                   by_mean if by_mean is not None and by_mean == by_std else None, row, {model: mean}, chance_mean)


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


def geometry_verdict(pair: Sequence[str], jaccard: float, ci95: float | None, chance: float, k: int,
                     n_tokens: int) -> Verdict:
    """Claim 5: the mean Jaccard index of two models' k-neighbour sets on the tokens they share, against two
    random k-sets of those tokens; "beyond chance" when the lower end of its 95% interval is above chance.

    >>> geometry_verdict(("a", "b"), 0.08, 0.001, 0.0004, 50, 12000).text
    'a · b: Jaccard@50 0.080 on 12,000 shared tokens, 200× chance (0.0004): alike beyond chance.'
    """
    subject = " · ".join(pair)
    low = jaccard - (ci95 if ci95 is not None and not math.isnan(ci95) else 0.0)
    judged = "alike beyond chance" if low > chance else "not distinguishable from chance"
    row = {"Jaccard": f"{jaccard:.3f}", "chance": f"{chance:.4f}", "shared tokens": f"{n_tokens:,}"}
    return Verdict(subject, f"{subject}: Jaccard@{k} {jaccard:.3f} on {n_tokens:,} shared tokens, "
                            f"{times_chance(jaccard, chance)} ({chance:.4f}): {judged}.", row=row,
                   bars={subject: jaccard}, chance=chance)
