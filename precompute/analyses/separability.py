"""Linear separability of token categories (METHODS §5, the paper's "category identification").

For each category with at least ``config.min_category_tokens`` (500) eligible tokens: its tokens are
labelled 1, all other eligible tokens 0; the larger class is randomly undersampled to the size of
the smaller; ``LogisticRegression()`` with scikit-learn's defaults (lbfgs, C=1, max_iter=100) on the
**L2-normalised** rows (as the authors did) is scored by ``config.folds``-fold (10) cross-validation.

Under both conventions (``precompute.contract.conventions``, a ``convention`` column in every table):

- ``paper``: as the authors' script (``scripts/category_identification_task.py``) ran it. Paper
  categories (``category_paper``); imbalanced-learn's ``RandomUnderSampler(random_state=150)``,
  whose sample we draw the same way (:func:`paper_undersample`: class 0, then class 1; the larger
  class in the random order its draw returns, the smaller one whole); ``cross_val_score(cv=10)``'s
  folds, stratified and unshuffled. Their rows were the shared vocabulary in the iteration order of a
  Python set of strings, which string hashing makes arbitrary (and different in every process): a
  seeded permutation stands in for it (:func:`paper_row_order`). Kept in id order instead, each
  unshuffled test fold would hold one contiguous id range of the kept class (in SentencePiece
  vocabularies a frequency range) and the folds would disagree more than the probe does.
- ``refined``: our categories, ``balanced_sample`` seeded by ``config.seed``, and
  ``StratifiedKFold(shuffle=True)``.

Error bars. The authors ran one undersampling and drew seaborn's default error bar, a 95% bootstrap
interval of the 10 fold accuracies: it says nothing about another draw of the larger class, and
folds of one draw share their training tokens. Each probe of a plotted category
(``categories.PLOTTED``: the 13 writing systems, S and N) is therefore run
``config.separability_repeats`` times (seeds 150, 151, … under paper; under refined the build's seed
and the repeat number): ``mean``, ``std``, ``ci_low``/``ci_high`` and ``folds`` are the first run
(under paper, the authors' seed: the figure's bar and error bar), ``repeat_*`` all runs together:
the mean of the runs' mean accuracies, the standard deviation of all their single-fold accuracies
(the spread) and a 95% t-interval of the mean accuracy over undersamplings (from the runs' means:
it covers which tokens the sampler drew and how the folds split them; not another vocabulary or
model). Other categories run once (``repeats`` 1, no interval): no page or verdict shows them.

What the repeats cost, and why they are cut where they are (CPU seconds of the step's fits, 2-core
AMD EPYC): with every category repeated on all 10 folds, three quarters went to the repeats and the
largest probes took most of it (multilingual-e5-small: LATIN 37%, CYRILLIC 18%, the categories no
page shows 8%; use-multilingual-v3: LATIN 49%). A further run of a probe larger than
``config.separability_repeat_rows`` (5,000) tokens therefore fits only its first
⌈folds · 5,000 / tokens⌉ folds (LATIN on multilingual-e5-small: 1 of 10), about the cost of a full
cross-validation of 5,000 tokens. Each fold trains on the same nine tenths of its undersampling as
before, so a run's mean is an unbiased estimate of the same accuracy, only noisier; the t-interval
is computed from the runs' spread, so it widens by as much as that noise and stays a 95% interval
of the same quantity (capping the training rows instead would have changed what is estimated: a
probe of fewer tokens). Single-fold runs are what buys the most precision per fit: folds of one
undersampling share its tokens, fresh draws do not. The first run, with every fold, is untouched:
its numbers and predictions are those of a build without repeats.

The paper probed two models on the vocabulary they share; a comparison does the same
(``schema.SEPARABILITY_SHARED``, the comparison step ``separability_shared``), beside each model's
probes on its whole vocabulary. The paper's loop probed every category with 500 tokens; its figure
(and its 99.2%) shows the 13 writing systems (``categories.WRITING_SYSTEMS``) and S: a reader
averages over those rows.

Choices the paper leaves open:

- The defaults may stop lbfgs at 100 iterations before it converges. We keep them for faithfulness,
  silence the ConvergenceWarning, and record in ``note`` in how many folds it stopped (on
  use-multilingual-v3 every probe converged).
- Features stay float32, the embeddings' dtype, which scikit-learn 1.9 keeps for lbfgs: on
  use-multilingual-v3 the accuracies equal those of float64 fits to 5 decimals, 1.5x faster.
- Each fold's model of the first run also predicts its test fold, giving the out-of-fold predictions
  (``schema.SEPARABILITY_PREDICTIONS``) from the same fits that give the accuracies.
- A fold's rows are gathered into a buffer each thread reuses (``np.take(..., out=)``), not into a
  fresh array per fit: the same matrix, so the same fit, without faulting in a new 300 MB array per
  fold of multilingual-e5-small's LATIN probe (its first run's 10 fits: 13.4 -> 12.0 CPU seconds).

Beyond the paper: ``schema.SEPARABILITY_PAIRWISE``, the same probe for each pair of plotted
categories (13 writing systems, S, N) that both have enough tokens, each class undersampled to at
most ``config.pairwise_max_per_class`` tokens (refined convention only, one run).

The (probe, fold) fits run on ``config.n_jobs`` threads (0 = all cores): numpy's BLAS calls and
scikit-learn's loss release the GIL, and threads share the feature matrix without copying it to
worker processes. BLAS is held to one thread per fit so the fits do not oversubscribe the cores.
"""

from __future__ import annotations

import os
import threading
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations, islice

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.stats import t as t_dist
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from precompute.analyses.tokens import eligible_mask
from precompute.contract import schema
from precompute.contract.categories import PLOTTED, token_categories
from precompute.contract.config import BuildConfig
from precompute.contract.conventions import CONVENTIONS, PAPER, REFINED, category_column
from precompute.contract.indices import unit_rows
from precompute.steps import Step

#: Bootstrap resamples of the fold accuracies for the 95% interval (seaborn's default count).
BOOTSTRAP = 1000
#: The authors' undersampling seed (``RandomUnderSampler(random_state=150)``): the paper convention's
#: first run; its further runs take 151, 152, …
PAPER_SEED = 150


@dataclass(frozen=True)
class Probe:
    """One balanced binary problem: ``rows`` index the eligible-token matrix, ``labels`` are 0/1."""

    name: str
    pair: tuple[str, str] | None  # (a, b) for a pairwise probe, None for one-vs-rest
    rows: np.ndarray
    labels: np.ndarray
    fold_seed: int | None = 0  # shuffled stratified folds with this seed (refined), None: unshuffled (paper)
    repeat: int = 0  # which undersampling of the same problem (0 = the first run)
    folds_run: int | None = None  # fit only the first this many folds (a repeat of a large probe); None: all


@dataclass(frozen=True)
class FoldResult:
    probe: int
    fold: int
    accuracy: float
    test_rows: np.ndarray
    predicted: np.ndarray
    probability: np.ndarray
    hit_max_iter: bool


def _rng(seed: int, name: str, repeat: int = 0) -> np.random.Generator:
    """A generator per probe and run, so adding a category does not change another category's sample.

    The first run (``repeat`` 0) draws what a build without repeats drew.
    """
    return np.random.default_rng([seed, zlib.crc32(name.encode()), *([repeat] if repeat else [])])


def balanced_sample(
    positive: np.ndarray, negative: np.ndarray, rng: np.random.Generator, cap: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Undersample the larger class (and both to ``cap``): (rows, labels), positives first (refined).

    >>> rows, labels = balanced_sample(np.arange(3), np.arange(3, 10), np.random.default_rng(0))
    >>> len(rows), int(labels.sum())
    (6, 3)
    """
    size = min(len(positive), len(negative), cap or np.inf)
    size = int(size)

    def pick(a: np.ndarray) -> np.ndarray:
        return a if len(a) == size else np.sort(rng.choice(a, size=size, replace=False))

    rows = np.concatenate([pick(positive), pick(negative)])
    labels = np.repeat(np.array([1, 0], dtype=np.int8), size)
    return rows, labels


def paper_undersample(labels: np.ndarray, seed: int) -> np.ndarray:
    """Positions of the balanced sample of 0/1 ``labels``, in the order the authors' sampler returned it.

    imbalanced-learn's ``RandomUnderSampler(random_state=seed)`` (default strategy: every class but the
    smallest) walks the classes in sorted order, 0 then 1. The larger class (class 1 when both are
    equal) is drawn by ``RandomState(seed).choice(n_larger, size=n_smaller, replace=False)``, the first
    ``n_smaller`` of a permutation, and kept in that drawn order; the smaller class is taken whole, in
    input order. ``RandomState`` streams are fixed across numpy versions, so the draw is the authors'
    for the same input.

    >>> paper_undersample(np.array([1, 0, 0, 1, 0, 0]), 150).tolist()  # 2 of the 4 zeros as drawn, then the ones
    [5, 2, 0, 3]
    """
    labels = np.asarray(labels).astype(bool)
    positive, negative = np.flatnonzero(labels), np.flatnonzero(~labels)
    smaller, larger = sorted((len(negative), len(positive)))
    draw = np.random.RandomState(seed).choice(larger, size=smaller, replace=False)
    if len(positive) >= len(negative):
        positive = positive[draw]
    else:
        negative = negative[draw]
    return np.concatenate([negative, positive])


def paper_row_order(n: int, seed: int) -> np.ndarray:
    """The order of the ``n`` rows the paper convention hands to the sampler: a permutation seeded by ``seed``.

    It stands in for the authors' row order, ``list(set(...))`` of the shared token texts: arbitrary
    (salted string hashes), unrelated to id or frequency, and one order for every category of a run.
    """
    return np.random.default_rng(seed).permutation(n)


class RowBuffers:
    """``x[rows]`` gathered into one reusable buffer per thread: the same matrix as fancy indexing gives.

    A fresh (rows, d) array per fit costs its page faults (a tenth of a large fit); the buffer is allocated
    once per thread at ``capacity`` rows and dropped with this object.
    """

    def __init__(self, x: np.ndarray, capacity: int) -> None:
        self.x, self.capacity, self._local = x, capacity, threading.local()

    def take(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), d) view of this thread's buffer holding ``x[rows]``, valid until the thread's next take."""
        buffer = getattr(self._local, "buffer", None)
        if buffer is None:
            buffer = self._local.buffer = np.empty((self.capacity, *self.x.shape[1:]), self.x.dtype)
        out = buffer[: len(rows)]
        # rows are valid indices by construction; mode="raise" would gather through a temporary copy
        np.take(self.x, rows, axis=0, out=out, mode="clip")
        return out


def _fit_fold(
    buffers: RowBuffers, probe_index: int, fold: int, probe: Probe, train: np.ndarray, test: np.ndarray
) -> FoldResult:
    clf = LogisticRegression()  # the paper's scikit-learn defaults
    clf.fit(buffers.take(probe.rows[train]), probe.labels[train])
    probability = clf.predict_proba(buffers.take(probe.rows[test]))[:, 1].astype(np.float32)
    predicted = (probability > 0.5).astype(np.int8)  # predict()'s rule: decision > 0
    return FoldResult(
        probe=probe_index,
        fold=fold,
        accuracy=float((predicted == probe.labels[test]).mean()),
        test_rows=test,
        predicted=predicted,
        probability=probability,
        hit_max_iter=bool(clf.n_iter_[0] >= clf.max_iter),
    )


def _n_jobs(config: BuildConfig) -> int:
    return config.n_jobs or os.cpu_count() or 1


def run_probes(
    x: np.ndarray, probes: list[Probe], config: BuildConfig, progress: bool = True
) -> list[list[FoldResult]]:
    """Cross-validate every probe; per probe, its fold results in fold order.

    ``x`` is the (n, d) feature matrix the probes' rows index. A probe with ``folds_run`` fits only
    its first folds. All (probe, fold) fits form one pool, largest first, so small pairwise probes
    fill the gaps left by the large ones and the threads finish together.
    """
    tasks = []
    for i, probe in enumerate(probes):
        cv = (StratifiedKFold(n_splits=config.folds) if probe.fold_seed is None
              else StratifiedKFold(n_splits=config.folds, shuffle=True, random_state=probe.fold_seed))
        for fold, (train, test) in enumerate(islice(cv.split(probe.rows, probe.labels), probe.folds_run)):
            tasks.append((len(train), i, fold, train, test))
    tasks.sort(key=lambda t: -t[0])
    results: list[list[FoldResult | None]] = [[None] * (p.folds_run or config.folds) for p in probes]
    buffers = RowBuffers(x, max((len(p.rows) for p in probes), default=0))
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        jobs = Parallel(n_jobs=_n_jobs(config), backend="threading", return_as="generator_unordered")(
            delayed(_fit_fold)(buffers, i, fold, probes[i], train, test) for _, i, fold, train, test in tasks
        )
        for result in tqdm(jobs, total=len(tasks), desc="separability", unit="fit",
                                 disable=not progress):
            results[result.probe][result.fold] = result
    return results  # type: ignore[return-value]


def _convergence_note(folds: list[FoldResult]) -> str | None:
    stopped = sum(f.hit_max_iter for f in folds)
    if not stopped:
        return None
    return f"lbfgs stopped at max_iter=100 in {stopped} of {len(folds)} folds (scikit-learn defaults kept)"


def _repeat_note(runs: list[tuple[Probe, list[FoldResult]]], config: BuildConfig) -> str | None:
    """Says how many folds the further runs fitted, when fewer than all (``repeat_folds`` is then ragged)."""
    fitted = len(runs[-1][1])
    if len(runs) < 2 or fitted == config.folds:
        return None
    sample = len(runs[-1][0].rows)
    return (f"runs 2-{len(runs)} fitted {fitted} of {config.folds} folds each (balanced sample {sample:,} tokens > "
            f"separability_repeat_rows {config.separability_repeat_rows:,}; the first run all {config.folds})")


def bootstrap_interval(values: np.ndarray, rng: np.random.Generator, n: int = BOOTSTRAP) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean of ``values`` (seaborn's ``errorbar=("ci", 95)``)."""
    values = np.asarray(values, dtype=np.float64)
    means = values[rng.integers(0, len(values), size=(n, len(values)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def repeat_summary(runs: Sequence[np.ndarray]) -> tuple[float, float | None, float | None, float | None]:
    """``(mean, sd, low, high)`` of the fold accuracies of R runs (one array per run; a repeat may fit fewer folds).

    ``mean`` of the runs' mean accuracies (each undersampling weighs the same); ``sd`` (ddof=1) of all
    the single-fold accuracies, the spread over repeats and folds; ``low``/``high`` a 95% t-interval of
    the mean accuracy over undersamplings, from the runs' means (each an independent draw and split, an
    unbiased estimate of the same accuracy however many of its folds it fits): mean ± t(0.975, R−1) ·
    s / √R, clipped to [0, 1]. One run has no such interval (None).

    >>> [round(v, 3) for v in repeat_summary([np.array([0.9, 1.0]), np.array([0.8, 0.9])])]  # means 0.95, 0.85
    [0.9, 0.082, 0.265, 1.0]
    """
    runs = [np.asarray(run, dtype=np.float64) for run in runs]
    every = np.concatenate(runs)
    means = np.array([run.mean() for run in runs])
    mean = float(means.mean())
    sd = float(every.std(ddof=1)) if every.size > 1 else None
    if len(runs) < 2:
        return mean, sd, None, None
    half = float(t_dist.ppf(0.975, len(runs) - 1) * means.std(ddof=1) / np.sqrt(len(runs)))
    return mean, sd, max(mean - half, 0.0), min(mean + half, 1.0)


def folds_per_repeat(n_rows: int, config: BuildConfig) -> int | None:
    """How many folds a further undersampling of an ``n_rows``-token probe fits (None: all of them).

    About ``config.separability_repeat_rows`` tokens' worth of cross-validation (module docstring).

    >>> [folds_per_repeat(n, BuildConfig()) for n in (220_000, 35_000, 4_000)]
    [1, 2, None]
    """
    folds = -(-config.folds * config.separability_repeat_rows // n_rows)  # ceil
    return folds if folds < config.folds else None


def probe_categories(
    x: np.ndarray, categories: np.ndarray, config: BuildConfig, *, convention: str, pairwise: bool = False,
    progress: bool = True,
) -> tuple[list[tuple], list[tuple], list[tuple[Probe, list[FoldResult]]]]:
    """One-vs-rest probes (and pairwise ones) of ``categories`` over the rows of ``x``.

    ``x``: (n, d) features (already normalised); ``categories``: (n,) labels. Each one-vs-rest probe of
    a plotted category runs ``config.separability_repeats`` times (module docstring). Returns the
    summary rows (the columns of ``schema.PROBE_COLUMNS``), the pairwise rows (convention, a, b,
    n_tokens, mean, std) and each one-vs-rest probe's first run with its folds.
    """
    sizes = pd.Series(categories).value_counts().sort_index()
    minimum = config.min_category_tokens
    repeats = config.separability_repeats
    seed = PAPER_SEED if convention == PAPER else config.seed
    probed: list[str] = []
    skipped: dict[str, str] = {}
    for name, n in sizes.items():
        others = len(categories) - n
        if n < minimum:
            skipped[name] = f"only {n} tokens (< {minimum}): not probed"
        elif others < minimum:
            skipped[name] = f"only {others} tokens outside it (< {minimum}): not probed"
        else:
            probed.append(name)
    repeated = [name for name in probed if name in PLOTTED]  # the others run once: no page shows them
    probes: list[Probe] = []
    for repeat in range(repeats):
        names = repeated if repeat else probed
        if not names:
            break
        order = paper_row_order(len(categories), seed + repeat) if convention == PAPER else None
        for name in names:
            if order is not None:
                is_name = categories[order] == name
                picked = paper_undersample(is_name, seed + repeat)
                rows, labels = order[picked], is_name[picked].astype(np.int8)
            else:
                rows, labels = balanced_sample(np.flatnonzero(categories == name),
                                               np.flatnonzero(categories != name), _rng(seed, name, repeat))
            probes.append(Probe(name, None, rows, labels, None if order is not None else seed + repeat, repeat,
                                folds_per_repeat(len(rows), config) if repeat else None))
    if pairwise:
        plotted = [c for c in PLOTTED if sizes.get(c, 0) >= minimum]
        for a, b in combinations(plotted, 2):
            rows, labels = balanced_sample(
                np.flatnonzero(categories == a), np.flatnonzero(categories == b),
                _rng(seed, f"{a}|{b}"), cap=config.pairwise_max_per_class,
            )
            probes.append(Probe(f"{a}|{b}", (a, b), rows, labels, None if convention == PAPER else seed))

    results = run_probes(x, probes, config, progress=progress) if probes else []
    summary, pairs, fitted = [], [], []
    runs: dict[str, list[tuple[Probe, list[FoldResult]]]] = {}
    for probe, folds in zip(probes, results, strict=True):
        if probe.pair is not None:
            accuracies = np.array([f.accuracy for f in folds])
            pairs.append((convention, *probe.pair, len(probe.rows), accuracies.mean(), accuracies.std()))
        else:
            runs.setdefault(probe.name, []).append((probe, folds))
    for name, done in runs.items():
        accuracies = [np.array([f.accuracy for f in folds]) for _, folds in done]  # per run, its folds
        first = accuracies[0]
        low, high = bootstrap_interval(first, _rng(config.seed, f"bootstrap|{name}"))
        notes = [_convergence_note([f for _, folds in done for f in folds]), _repeat_note(done, config)]
        note = "; ".join(n for n in notes if n) or None
        summary.append((convention, name, int(sizes[name]), first.mean(), first.std(), low, high, first.tolist(),
                        note, seed, len(done), *repeat_summary(accuracies), np.concatenate(accuracies).tolist()))
        fitted.append(done[0])
    for name, note in skipped.items():
        summary.append((convention, name, int(sizes[name]), None, None, None, None, [], note, seed, 0,
                        None, None, None, None, []))
    return summary, pairs, fitted


def _summary_table(rows: list[tuple], name: str, leading: tuple[str, ...] = ()) -> pd.DataFrame:
    """Rows of :func:`probe_categories` as the declared table ``name`` (``leading`` columns first)."""
    table = schema.TABLES[name]
    frame = pd.DataFrame(rows, columns=[*leading, *[c for c in table.column_names if c not in leading]])
    # mean, std and the interval are nullable: null, not NaN, when a category was skipped
    return table.cast(frame.sort_values([*leading, "convention", "category"], ignore_index=True))


def separability_artifacts(
    embeddings: np.ndarray, tokens: pd.DataFrame, config: BuildConfig, progress: bool = True
) -> dict[str, pd.DataFrame]:
    """The separability tables, keyed by their schema file names (see the module docstring).

    ``embeddings``: (N, d) matrix, rows by id; ``tokens``: the token table (id, both categories, flags).
    ``schema.SEPARABILITY`` has one row per convention and category present among eligible tokens;
    categories that are not probed have null statistics, empty folds and a note saying why.
    """
    eligible = eligible_mask(tokens)
    x = unit_rows(embeddings[eligible])
    ids = tokens["id"].to_numpy(np.int32)[eligible]
    summary, pairwise, predictions = [], [], []
    for convention in CONVENTIONS:
        categories = tokens[category_column(convention)].astype(str).to_numpy()[eligible]
        rows, pairs, fitted = probe_categories(x, categories, config, convention=convention,
                                               pairwise=convention == REFINED, progress=progress)
        summary += rows
        pairwise += pairs
        for probe, folds in fitted:
            test = np.concatenate([f.test_rows for f in folds])
            predictions.append(pd.DataFrame({
                "convention": convention,
                "category": probe.name,
                "id": ids[probe.rows[test]],
                "label": probe.labels[test].astype(bool),
                "predicted": np.concatenate([f.predicted for f in folds]).astype(bool),
                "probability": np.concatenate([f.probability for f in folds]),
            }).sort_values("id", kind="stable"))
    pairs_table = schema.TABLES[schema.SEPARABILITY_PAIRWISE]
    predictions_table = schema.TABLES[schema.SEPARABILITY_PREDICTIONS]
    return {
        schema.SEPARABILITY: _summary_table(summary, schema.SEPARABILITY),
        schema.SEPARABILITY_PAIRWISE: pairs_table.cast(pd.DataFrame(pairwise, columns=pairs_table.column_names)),
        schema.SEPARABILITY_PREDICTIONS: predictions_table.cast(
            pd.concat(predictions, ignore_index=True) if predictions else predictions_table.empty()),
    }


def shared_separability(
    models: dict[str, tuple[pd.DataFrame, np.ndarray]], shared: pd.DataFrame, config: BuildConfig,
    progress: bool = True,
) -> pd.DataFrame:
    """``schema.SEPARABILITY_SHARED``: each model's one-vs-rest probes on the tokens all the models share.

    ``shared``: the SHARED_TOKENS table (text, category, one id column per model). The same texts,
    so the same categories and balanced samples, for every model: bars that rest on one token set,
    as in the paper's figure.
    """
    texts = shared["text"].astype(str).tolist()
    categories = {REFINED: shared["category"].astype(str).to_numpy(), PAPER: token_categories(texts, PAPER)}
    rows = []
    for slug, (_, embeddings) in models.items():
        x = unit_rows(embeddings[shared[schema.shared_id_column(slug)].to_numpy()])
        for convention in CONVENTIONS:
            summary, _, _ = probe_categories(x, np.asarray(categories[convention], dtype=str), config,
                                             convention=convention, progress=progress)
            rows += [(slug, *row) for row in summary]
    return _summary_table(rows, schema.SEPARABILITY_SHARED, leading=("model",))


STEPS = (
    Step(
        "separability", needs=("tokens",),
        params=("min_category_tokens", "folds", "pairwise_max_per_class", "seed", "separability_repeats",
                "separability_repeat_rows"),
        writes=(schema.SEPARABILITY, schema.SEPARABILITY_PAIRWISE, schema.SEPARABILITY_PREDICTIONS),
        version=2,  # 2: repeats only for plotted categories, and on fewer folds for large probes
        compute=lambda ctx: separability_artifacts(ctx.model.embeddings, ctx.table(schema.TOKENS), ctx.config,
                                                   progress=ctx.progress),
    ),
    Step(
        "separability_shared", kind="comparison", needs=("compare",),
        params=("min_category_tokens", "folds", "seed", "separability_repeats", "separability_repeat_rows"),
        writes=(schema.SEPARABILITY_SHARED,),
        version=2,  # as separability
        compute=lambda ctx: {schema.SEPARABILITY_SHARED: shared_separability(
            ctx.extra["models"], ctx.table(schema.SHARED_TOKENS), ctx.config, progress=ctx.progress)},
    ),
)
