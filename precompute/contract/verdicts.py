"""The rule behind each of the Poster tour's verdicts, written once, beside the paper's figures it reads.

docs/METHODS.md ("Verdicts") says the same rules in words; ``dashboard/claims.py`` turns them into the
Tour's sentences. Every rule has the same shape: the model's statistic on the paper's categories, put on
a scale where each model's own chance sits at the same place (a vocabulary of 30k LATIN tokens and one of
250k tokens in 100 scripts have very different chance levels), with a 95% interval; the paper's figure on
that scale with its own uncertainty; a family where the two intervals lie apart, "undecided" where they
overlap, no family where the paper gives nothing to compare with or the statistic cannot tell (one writing
system, neighbours no better than chance). A light module (``math`` only): the hosted dashboard reads it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from precompute.contract import paper

#: The paper's two model families, as verdicts name them.
XLMR, MT5 = "XLM-R", "mT5"
#: The call where the model's interval overlaps the boundary's.
UNDECIDED = "undecided"
#: A two-sided 95% normal quantile.
Z95 = 1.959964


@dataclass(frozen=True)
class Estimate:
    """A value with its 95% interval, ``low <= value <= high``."""

    value: float
    low: float
    high: float

    @classmethod
    def around(cls, value: float, half_width: float) -> Estimate:
        """``value ± half_width``; a NaN half-width (no spread known) is taken as 0."""
        h = 0.0 if math.isnan(half_width) else half_width
        return cls(value, value - h, value + h)

    def scaled(self, offset: float, scale: float) -> Estimate:
        """``(x - offset) / scale`` applied to the value and both ends (scale > 0)."""
        return Estimate((self.value - offset) / scale, (self.low - offset) / scale, (self.high - offset) / scale)

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high

    def __str__(self) -> str:
        return f"{self.value:.3g} [{self.low:.3g}, {self.high:.3g}]"


@dataclass(frozen=True)
class Call:
    """What a rule says of one model: a family (``XLMR``, ``MT5``), ``UNDECIDED``, or None (no family can be
    named, ``why`` says why), with the numbers the rule compared."""

    family: str | None
    why: str


def side(model: Estimate, boundary: Estimate, above: str, below: str) -> str:
    """``above`` when the model's interval lies wholly above the boundary's, ``below`` when wholly below,
    else ``UNDECIDED``.

    >>> side(Estimate(0.99, 0.985, 0.995), Estimate(0.982, 0.9815, 0.9825), XLMR, MT5)
    'XLM-R'
    """
    if model.low > boundary.high:
        return above
    if model.high < boundary.low:
        return below
    return UNDECIDED


# ---- claim 1: separability ---------------------------------------------------------------------------------

#: XLM-R's 99.2%, reported to a tenth of a point: its interval is the rounding (the paper gives no other).
XLMR_SEPARABILITY = Estimate(paper.XLMR_SEPARABILITY, paper.XLMR_SEPARABILITY - 0.0005,
                             paper.XLMR_SEPARABILITY + 0.0005)
#: How far below XLM-R's average a model may be and still separate writing systems "like XLM-R". The paper
#: reports no mT5 average (its bars stand lower on an axis from 0.85), so the boundary is a stated margin.
SEPARABILITY_MARGIN = 0.01
SEPARABILITY_BOUNDARY = XLMR_SEPARABILITY.scaled(SEPARABILITY_MARGIN, 1.0)
#: A balanced one-vs-rest probe's chance accuracy, the same for every model.
PROBE_CHANCE = 0.5


def mean_of_probes(means: Sequence[float], lows: Sequence[float], highs: Sequence[float]) -> Estimate:
    """The average of per-category probe accuracies, its half-width the categories' half-widths combined as
    independent errors (√Σh² / n).

    >>> str(mean_of_probes([0.9, 0.8], [0.88, 0.77], [0.92, 0.83]))
    '0.85 [0.832, 0.868]'
    """
    n = len(means)
    halves = [(hi - lo) / 2 for lo, hi in zip(lows, highs, strict=True)]
    return Estimate.around(sum(means) / n, math.sqrt(sum(h * h for h in halves)) / n)


def separability_call(accuracy: Estimate, n_systems: int) -> Call:
    """Claim 1 on the probes of the paper's writing systems: at least two probed (one system cannot be told
    from another), above chance, then above or below ``SEPARABILITY_BOUNDARY`` (XLM-R-like, or like mT5,
    which "cannot separate as well").

    >>> separability_call(Estimate(0.95, 0.94, 0.96), 5).family, separability_call(Estimate(0.99, 0.98, 1), 1).family
    ('mT5', None)
    """
    if n_systems < 2:
        return Call(None, "fewer than two of the paper's writing systems probed: nothing to separate")
    if accuracy.contains(PROBE_CHANCE) or accuracy.high < PROBE_CHANCE:
        return Call(None, f"{accuracy.value:.1%} does not differ from chance (50%)")
    family = side(accuracy, SEPARABILITY_BOUNDARY, XLMR, MT5)
    return Call(family, f"{accuracy.value:.1%} [{accuracy.low:.1%}, {accuracy.high:.1%}] against the boundary "
                        f"{SEPARABILITY_BOUNDARY.value:.1%} (XLM-R's {paper.XLMR_SEPARABILITY:.1%} less "
                        f"{SEPARABILITY_MARGIN:.0%})")


# ---- claim 2: the poster's neighbours of när -----------------------------------------------------------------

#: The poster's token whose neighbour lists the claim compares.
POSTER_TOKEN = "när"
#: How many of a model's nearest neighbours are set beside the poster's lists, wherever they are (the Tour, the
#: Neighbours page): the longer of the two printed lists.
POSTER_DEPTH = max(len(listed) for listed in paper.POSTER_NEIGHBORS[POSTER_TOKEN].values())


def only_in_one_column(token: str = POSTER_TOKEN) -> dict[str, tuple[str, ...]]:
    """Each poster column's words that the other column does not list: the words both list (når, when …)
    say nothing about which family a list resembles.

    >>> {c: len(w) for c, w in only_in_one_column().items()}
    {'XLM-R-XL': 13, 'mT5-XL': 10}
    """
    lists = paper.POSTER_NEIGHBORS[token]
    return {c: tuple(w for w in words if not any(w in other for o, other in lists.items() if o != c))
            for c, words in lists.items()}


def wilson(found: int, n: int) -> Estimate:
    """The Wilson score 95% interval of the share ``found / n``."""
    p, z2 = found / n, Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Estimate(p, centre - half, centre + half)


def share_difference(found_a: int, n_a: int, found_b: int, n_b: int) -> Estimate:
    """``found_a/n_a − found_b/n_b`` with Newcombe's 95% interval (his method 10, from two Wilson intervals),
    which keeps its coverage for counts as small as the poster's.

    >>> str(share_difference(3, 13, 0, 10))
    '0.231 [-0.0842, 0.503]'
    """
    a, b = wilson(found_a, n_a), wilson(found_b, n_b)
    d = a.value - b.value
    return Estimate(d, d - math.hypot(a.value - a.low, b.high - b.value),
                    d + math.hypot(a.high - a.value, b.value - b.low))


def poster_call(found: Mapping[str, Sequence[str]], token: str = POSTER_TOKEN) -> Call:
    """Claim 2's family: of the words only one poster column lists, the share the model's nearest
    ``POSTER_DEPTH`` neighbours of ``token`` hold for XLM-R-XL's column less the share for mT5-XL's; a family
    where the 95% interval of that difference excludes 0. ``found``: per column, the listed words the model's
    list holds (all of them; the shared words are set aside here).

    >>> poster_call({"XLM-R-XL": ["när", "då", "där", "här", "också"], "mT5-XL": ["när"]}).family  # 4 of 13, 0
    'undecided'
    """
    only = only_in_one_column(token)
    (x_col, x_only), (m_col, m_only) = ((c, only[c]) for c in (paper.XLMR_XL, paper.MT5_XL))
    x_hits = sum(w in x_only for w in found.get(x_col, ()))
    m_hits = sum(w in m_only for w in found.get(m_col, ()))
    said = f"{x_hits} of the {len(x_only)} words only {x_col} lists, {m_hits} of the {len(m_only)} only {m_col} lists"
    if x_hits == m_hits == 0:
        return Call(None, said + ": nothing to tell them apart")
    d = share_difference(x_hits, len(x_only), m_hits, len(m_only))
    family = side(d, Estimate(0.0, 0.0, 0.0), XLMR, MT5)
    return Call(family, f"{said} (difference of shares {d.value:+.2f} [{d.low:+.2f}, {d.high:+.2f}])")


# ---- claim 3: numNeighborCategory@50 -------------------------------------------------------------------------

#: numNeighborCategory@k of a vocabulary of XLM-R's (multilingual-e5-small's, the same SentencePiece
#: vocabulary) for k = 50 random tokens, the paper's conventions, as this tool's build measures it
#: (``diversity_chance.parquet``). mT5's own vocabulary is not shipped here, so its chance is taken as this
#: one's: both are 250k-piece SentencePiece vocabularies over about 100 languages.
MT5_XL_CHANCE = 15.07

def relative_diversity(mean: Estimate, chance: float) -> Estimate:
    """numNeighborCategory@k on the scale where 0 is every neighbour in the token's own category (the paper's
    convention counts the token itself, so 1 category is the least) and 1 is the chance value for k random
    tokens: (mean − 1) / (chance − 1), observed over expected for the categories beyond the token's own.

    >>> relative_diversity(Estimate.around(10.51, 0), 15.07).value  # multilingual-e5-small
    0.6759061833688699
    """
    return mean.scaled(1.0, chance - 1.0)


#: mT5-XL's 7.61 with its 1% sample's 95% interval (1.96 sd / √n): 7.44 to 7.78.
MT5_XL_MEAN = Estimate.around(paper.MT5_XL_CATEGORIES_MEAN,
                              Z95 * paper.MT5_XL_CATEGORIES_STD / math.sqrt(paper.MT5_XL_SAMPLE))
#: The same on the :func:`relative_diversity` scale: 0.47 [0.46, 0.48].
MT5_XL_DIVERSITY = relative_diversity(MT5_XL_MEAN, MT5_XL_CHANCE)
#: Midway between XLM-R-XL's (0: the poster says its neighbourhoods stay in the token's own category; the paper
#: reports no XLM-R-XL mean) and mT5-XL's, with mT5-XL's interval halved.
DIVERSITY_BOUNDARY = MT5_XL_DIVERSITY.scaled(0.0, 2.0)


def mean_with_interval(mean: float, std: float, n: int) -> Estimate:
    """A mean over ``n`` tokens with its 95% interval (1.96 sd / √n)."""
    return Estimate.around(mean, Z95 * std / math.sqrt(n) if n > 1 else float("nan"))


def diversity_call(mean: Estimate, chance: float) -> Call:
    """Claim 3: the mean on the :func:`relative_diversity` scale against ``DIVERSITY_BOUNDARY``; no family when
    chance itself is one category (a vocabulary of one writing system) or the interval holds 1 (as diverse as
    random neighbours: the embedding says nothing about categories).

    >>> diversity_call(Estimate.around(3.78, 0.02), 5.34).family  # wordllama-l2: 0.64, beyond mT5-XL's 0.47
    'mT5'
    """
    if chance <= 1.0 or math.isnan(chance):
        return Call(None, f"chance is {chance:.2f} category: one category, no diversity to measure")
    d = relative_diversity(mean, chance)
    said = (f"{d.value:.2f} [{d.low:.2f}, {d.high:.2f}] of the way from one category to chance ({chance:.2f}), "
            f"against mT5-XL's {MT5_XL_DIVERSITY.value:.2f} and the boundary {DIVERSITY_BOUNDARY.value:.2f}")
    if d.contains(1.0):
        return Call(None, said + ": no different from random neighbours")
    return Call(side(d, DIVERSITY_BOUNDARY, MT5, XLMR), said)


# ---- claim 5: geometry ----------------------------------------------------------------------------------------

def random_jaccard(n: int, k: int) -> float:
    """Expected Jaccard index of two independent uniform k-subsets of the ``n - 1`` other tokens (exact: the
    intersection is hypergeometric), as the build's chance column; 1 where k covers them all.

    >>> round(random_jaccard(11, 5), 6)
    0.350403
    """
    pool = n - 1
    if k >= pool:
        return 1.0
    log_all = math.lgamma(pool + 1) - math.lgamma(k + 1) - math.lgamma(pool - k + 1)

    def log_comb(a: int, b: int) -> float:
        return math.lgamma(a + 1) - math.lgamma(b + 1) - math.lgamma(a - b + 1)

    return sum(math.exp(log_comb(k, i) + log_comb(pool - k, k - i) - log_all) * i / (2 * k - i)
               for i in range(max(0, 2 * k - pool), k + 1))


def same_category_jaccard(sizes: Mapping[str, int], k: int) -> float:
    """Expected Jaccard index of two models whose neighbours agree only on the writing system: each draws a
    token's k neighbours at random from the token's own category. Averaged over the tokens of the categories
    given (their counts among the shared tokens); NaN when none has more than k tokens.

    >>> round(same_category_jaccard({"LATIN": 11, "CJK": 2}, 5), 6)  # CJK too small to draw 5 from
    0.350403
    """
    usable = {c: n for c, n in sizes.items() if n > k + 1}
    total = sum(usable.values())
    return sum(n * random_jaccard(n, k) for n in usable.values()) / total if total else float("nan")


def geometry_call(jaccard: Estimate, chance: float, same_category: float) -> Call:
    """Claim 5 (no family: the paper gives no number): alike beyond their writing systems when the interval lies
    above what neighbours drawn within each token's own category would share; else beyond chance only, or not.

    >>> geometry_call(Estimate.around(0.135, 0.0014), 0.0013, 0.004).why
    'alike beyond their writing systems'
    """
    if jaccard.low > max(chance, same_category if not math.isnan(same_category) else chance):
        return Call(None, "alike beyond their writing systems")
    if jaccard.low > chance:
        return Call(None, "alike beyond chance, not beyond what sharing writing systems gives")
    return Call(None, "not distinguishable from chance")
