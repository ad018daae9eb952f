"""Precision of the "shares meaning" matches (METHODS §6), from a sample judged by hand.

    # draw 200 (token, neighbour) matches of the built default models, to judge by hand
    python benchmarks/translation_precision.py sample artifacts/ --out docs/translation_precision.csv
    # the rule before the clean-up (stored concepts; surface variants counted as translations)
    python benchmarks/translation_precision.py sample artifacts/ --before --out docs/translation_precision_before.csv
    # precision of judged samples (column ``correct`` filled with 1 / 0)
    python benchmarks/translation_precision.py docs/translation_precision_before.csv docs/translation_precision.csv

How the samples were judged (``correct`` 1): the token and the neighbour, each read as a word of a
language that uses it, name the same concept (country, language, month, weekday, currency, "world");
inflected forms (Polish ``lutego``, Russian ``сентября``) and the stems vocabularies split off
(``▁Турци`` of Турция, ``инди`` of Индия) count; a language's word for the people or the adjective
counts for the language (``russe``, ``Turks``). Wrong (0): a surface variant (case, ``▁``, accents);
a side that is mostly another word (``man``, ``pol``, lowercase French ``italien`` "Italian" for
Italy, personal names); two different concepts (Korea / Korean, Catalonia / Catalan). Each 0 has
its reason in ``note``.

A match is one (token, neighbour) pair among a token's ``meaning_k`` nearest neighbours that
``meaning.shared_meaning`` counts. The sample is uniform over the matches of all the models given
(seeded), so a model with more matches gives more of it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from precompute.analyses.lexicon import concept_columns, surface_keys  # noqa: E402
from precompute.analyses.meaning import shared_meaning, translation_sets  # noqa: E402
from precompute.analyses.tokens import eligible_mask  # noqa: E402
from precompute.contract import schema  # noqa: E402
from precompute.contract.intervals import ci95  # noqa: E402

DEFAULT_MODELS = ("use-multilingual-v3", "wordllama-l2", "all-MiniLM-L6-v2")
COLUMNS = ["model", "token", "neighbour", "concept", "gloss", "correct", "note"]


def matches(directory: Path, before: bool = False) -> pd.DataFrame:
    """Every match of one model directory: ``model, token, neighbour, concept, gloss`` (the token's).

    ``before``: the rule of the build before the clean-up (the stored concept column, and a
    neighbour that is the same word in another case or without ``▁`` counted as a translation).
    """
    tokens = pd.read_parquet(directory / schema.TOKENS)
    k = json.loads((directory / schema.MANIFEST).read_text())["params"]["meaning_k"]
    neighbors = np.load(directory / schema.NEIGHBORS, allow_pickle=False)[:, :k]
    texts = tokens["text"].tolist()
    concepts = tokens[["concept", "gloss"]] if before else concept_columns(texts)[["concept", "gloss"]]
    sets = translation_sets(texts, concepts["concept"]).matrix
    sets = (sp.diags(eligible_mask(tokens).astype(np.int8), dtype=np.int8) @ sets).tocsr()
    sets.eliminate_zeros()
    keys = np.arange(len(texts)) if before else surface_keys(texts)
    rows, cols = np.nonzero(shared_meaning(neighbors, sets, keys))
    text = np.asarray(texts, dtype=object)
    return pd.DataFrame({
        "model": directory.name, "token": text[rows], "neighbour": text[neighbors[rows, cols]],
        "concept": concepts["concept"].to_numpy(object)[rows], "gloss": concepts["gloss"].to_numpy(object)[rows],
    })


def sample(root: Path, models: list[str], n: int, seed: int, before: bool) -> pd.DataFrame:
    """``n`` matches drawn uniformly (seeded) from all matches of ``models``; ``correct``/``note`` blank."""
    every = pd.concat([matches(root / m, before) for m in models], ignore_index=True)
    print(f"{len(every):,} matches: " + ", ".join(f"{m} {c:,}" for m, c in every.groupby("model").size().items()))
    drawn = every.sample(n, random_state=seed).reset_index(drop=True)
    return drawn.assign(correct="", note="")[COLUMNS]


def precision(judged: pd.DataFrame) -> tuple[float, float, int]:
    """(precision, 95% half-width of the normal interval, number judged) of a judged sample."""
    correct = judged["correct"].astype(int).to_numpy()
    p = float(correct.mean())
    return p, float(ci95(np.sqrt(p * (1 - p)), len(correct))), len(correct)


def sampling_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The arguments of a command that draws a sample to judge by hand (this script's and language_precision's)."""
    parser.add_argument("root", type=Path, help="artifact directory holding the models")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    return parser


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "sample":
        parser = sampling_arguments(argparse.ArgumentParser(description="draw a sample of matches to judge"))
        parser.add_argument("--before", action="store_true", help="the rule before the clean-up")
        args = parser.parse_args(sys.argv[2:])
        sample(args.root, args.models, args.n, args.seed, args.before).to_csv(args.out, index=False)
        print(f"wrote {args.out}: fill 'correct' with 1 or 0")
        return
    parser = argparse.ArgumentParser(description="precision of judged samples")
    parser.add_argument("samples", type=Path, nargs="+")
    for path in parser.parse_args().samples:
        judged = pd.read_csv(path, keep_default_na=False)
        p, half, n = precision(judged)
        wrong = judged[judged["correct"].astype(int) == 0]
        print(f"{path}: precision {p:.3f} ± {half:.3f} ({n - len(wrong)} of {n} correct)")


if __name__ == "__main__":
    main()
