"""Precision of the per-token language guess (METHODS §2), from a sample judged by hand.

    # draw 200 tokens whose language is shown by the current code, to judge by hand
    python benchmarks/language_precision.py sample /tmp/new_artifacts --out docs/language_precision.csv
    # the guesses stored in the artifacts (the build before the change), every source and confidence
    python benchmarks/language_precision.py sample /tmp/new_artifacts --stored --seed 0 \
        --out docs/language_precision_before.csv
    # precision of judged samples (column ``correct`` filled with 1 / 0), per source and confidence band
    python benchmarks/language_precision.py report docs/language_precision_before.csv docs/language_precision.csv

How the samples were judged (``correct`` 1): the guessed language is a plausible primary reading of
the token as the model sees it — a whole word of that language (``▁när`` sv, ``▁cuando`` es), or a
word piece that is typical of it (``ción`` es, ``ungen`` de); an English word counts for English only.
Wrong (0): another language is clearly more likely (``▁Her`` tr, ``▁end`` da: English words in an
English or mostly-English vocabulary), or the token is not language-specific (digits, punctuation,
symbols, short pieces such as ``ab`` or ``▁x`` that many languages write alike, a script shared by
several languages (Cyrillic ``ов``) when the guess picks one of them without evidence). Each 0 has
its reason in ``note``.

``docs/language_precision_before.csv`` holds the guesses of the build before the vocabulary prior and
the threshold (seed 0, ``--stored``); ``docs/language_precision.csv`` those shown with the prior at a
threshold of 0.8 (seed 1), so that its rows from ``language_confidence`` 0.9 up measure the threshold
chosen, ``language.SHOWN_CONFIDENCE``, and the rows under it why 0.8 was not enough. ``alternatives``
are wordfreq's own shares, before the prior.

The sample is stratified by model and by ``language_source``: each model gets a third, and within a
model every source other than wordfreq gets ``MINOR_SOURCE_DRAWS`` tokens (all of them when it has
fewer), wordfreq the rest. ``stratum_size`` records how many tokens the stratum holds, so that the
population precision (each judged token weighted by stratum_size / draws) is recomputed from the CSV.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from translation_precision import precision, sampling_arguments  # noqa: E402  (this directory: the same rule for every judged sample)

from precompute.analyses.language import SOURCE_WORDFREQ, language_columns, language_shares, normalised_texts  # noqa: E402
from precompute.analyses.lexicon import concept_columns  # noqa: E402
from precompute.contract import schema  # noqa: E402

#: Draws for each source other than wordfreq, per model (wordfreq gets the rest of the model's share).
MINOR_SOURCE_DRAWS = 12
#: Confidence bands of the report (right-closed; a script or CLDR guess has confidence 1.0).
BANDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
COLUMNS = ["model", "id", "text", "category", "language", "language_confidence", "language_source",
           "stratum_size", "alternatives", "correct", "note"]


def guesses(directory: Path, stored: bool) -> pd.DataFrame:
    """One model's tokens with a shown language: ``model, id, text, category, language, confidence, source``.

    ``stored``: the columns in the artifact (the code that built it); otherwise recomputed with the
    current ``precompute.analyses.language`` from the stored texts and categories.
    """
    tokens = pd.read_parquet(directory / schema.TOKENS)
    if not stored:
        texts = tokens["text"].tolist()
        hints = concept_columns(texts)["concept_language"].tolist()
        fresh = language_columns(texts, tokens["category"].to_numpy(object), hints)
        tokens = tokens.drop(columns=[c for c in fresh.columns if c in tokens]).join(fresh)
    shown = tokens[tokens["language"].notna() & ~tokens["is_special"]]
    return shown[["id", "text", "category", "language", "language_confidence", "language_source"]].assign(
        model=directory.name
    )


def alternatives(texts: pd.Series) -> pd.Series:
    """The three languages with the largest wordfreq share (no prior) of each text: ``"da 0.58 en 0.31 no 0.06"``."""
    words = normalised_texts(texts.tolist())
    shares = language_shares(words[words.str.len() > 0]).sort_values("share", ascending=False)
    top = shares.groupby("word", sort=False).head(3)
    described = (top["language"] + " " + top["share"].map("{:.2f}".format)).groupby(top["word"]).agg(" ".join)
    return pd.Series(described.reindex(words.to_numpy()).fillna("").to_numpy(), index=texts.index)


def sample(root: Path, models: list[str], n: int, seed: int, stored: bool) -> pd.DataFrame:
    """``n`` tokens with a shown language, stratified by model and source (seeded); ``correct``/``note`` blank."""
    rng = np.random.default_rng(seed)
    parts = []
    for i, model in enumerate(models):
        shown = guesses(root / model, stored)
        sizes = shown.groupby("language_source").size()
        share = n // len(models) + (i < n % len(models))
        draws = sizes.clip(upper=MINOR_SOURCE_DRAWS)
        draws[SOURCE_WORDFREQ] = share - draws.drop(SOURCE_WORDFREQ).sum()
        print(f"{model}: " + ", ".join(f"{s} {draws[s]} of {sizes[s]:,}" for s in sizes.index))
        for source, group in shown.groupby("language_source"):
            picked = group.iloc[rng.choice(len(group), size=draws[source], replace=False)]
            parts.append(picked.assign(stratum_size=sizes[source]))
    drawn = pd.concat(parts, ignore_index=True)
    drawn["alternatives"] = alternatives(drawn["text"])
    return drawn.assign(correct="", note="")[COLUMNS]


def weighted_precision(judged: pd.DataFrame) -> float:
    """Precision over the whole population of shown guesses: each row weighted by its stratum's size / draws."""
    strata = judged.groupby(["model", "language_source"])
    weight = judged["stratum_size"] / strata["correct"].transform("size")
    return float((judged["correct"].astype(int) * weight).sum() / weight.sum())


def report(judged: pd.DataFrame) -> pd.DataFrame:
    """Precision per source, per wordfreq confidence band, and per model: ``group, n, correct, precision, ci95``."""
    judged = judged.assign(correct=judged["correct"].astype(int))
    wordfreq = judged[judged["language_source"] == SOURCE_WORDFREQ]
    band = pd.cut(wordfreq["language_confidence"], BANDS, include_lowest=True).astype(str)
    groups = [
        ("source " + judged["language_source"], judged),
        ("wordfreq confidence " + band, wordfreq),
        ("wordfreq confidence >= " + pd.Series(BANDS[1:-1]).astype(str), None),
        ("model " + judged["model"], judged),
    ]
    rows = []
    for keys, frame in groups:
        if frame is None:  # cumulative bands: what a threshold at that value would show
            for low, key in zip(BANDS[1:-1], keys, strict=True):
                rows.append((key, *_stats(wordfreq[wordfreq["language_confidence"] >= low])))
            continue
        for key, group in frame.groupby(keys, sort=True):
            rows.append((key, *_stats(group)))
    return pd.DataFrame(rows, columns=["group", "n", "correct", "precision", "ci95"])


def _stats(group: pd.DataFrame) -> tuple[int, int, float, float]:
    p, half, n = precision(group)
    return n, int(group["correct"].astype(int).sum()), round(p, 3), round(half, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description="precision of the language guesses, from hand-judged samples")
    commands = parser.add_subparsers(dest="command", required=True)
    draw = sampling_arguments(commands.add_parser("sample", help="draw tokens with a shown language, to judge by hand"))
    draw.add_argument("--stored", action="store_true", help="the guesses stored in the artifacts")
    commands.add_parser("report", help="precision of judged samples").add_argument("samples", type=Path, nargs="+")
    args = parser.parse_args()
    if args.command == "sample":
        sample(args.root, args.models, args.n, args.seed, args.stored).to_csv(args.out, index=False)
        print(f"wrote {args.out}: fill 'correct' with 1 or 0")
        return
    for path in args.samples:
        judged = pd.read_csv(path, keep_default_na=False)
        p, half, n = precision(judged)
        right = int(judged["correct"].astype(int).sum())
        print(f"{path}: precision {p:.3f} ± {half:.3f} ({right} of {n} right), "
              f"{weighted_precision(judged):.3f} weighted by stratum size")
        print(report(judged).to_string(index=False))


if __name__ == "__main__":
    main()
