"""Coverage and precision of the "shares meaning" matches (METHODS §6), from a sample judged by hand.

    # the share of each model's eligible word tokens that name a concept, CLDR alone and with FreeDict
    python benchmarks/translation_precision.py coverage artifacts/
    # draw 200 (token, neighbour) matches of the built default models, 50 from each, to judge by hand
    python benchmarks/translation_precision.py sample artifacts/ --per-model \
        --out docs/translation_precision_freedict_3.csv
    # CLDR concepts alone, as docs/translation_precision.csv was drawn (from the three models it names,
    # before inflections counted as one word)
    python benchmarks/translation_precision.py sample artifacts/ --cldr --out cldr.csv
    # the rule before the clean-up (stored concepts; surface variants counted as translations)
    python benchmarks/translation_precision.py sample artifacts/ --before --out docs/translation_precision_before.csv
    # precision of the judged samples in docs/ (column ``correct`` filled with 1 / 0), the current rule's last
    python benchmarks/translation_precision.py

Concepts are recomputed from the token texts with the code of this checkout and the FreeDict
dictionaries installed (``freedict.load_freedict``), not read from the stored token tables, so that a
sample shows the current rule whatever the artifacts were built with.

How the samples were judged (``correct`` 1): the token and the neighbour, each read as a word of a
language that uses it, name the same concept (country, language, month, weekday, currency, "world");
inflected forms (Polish ``lutego``, Russian ``сентября``) and the stems vocabularies split off
(``▁Турци`` of Турция, ``инди`` of Индия) count; a language's word for the people or the adjective
counts for the language (``russe``, ``Turks``). Wrong (0): a surface variant (case, ``▁``, accents);
a side that is mostly another word (``man``, ``pol``, lowercase French ``italien`` "Italian" for
Italy, personal names); two different concepts (Korea / Korean, Catalonia / Catalan). Each 0 has
its reason in ``note``.

The FreeDict samples were judged the same way for general vocabulary: correct when some sense of
the token translates some sense of the neighbour, or the two are synonyms (``Haus`` / ``home``);
wrong when the shared English word joins two different senses (a homonym: ``bank`` of a river and
of money), when the two are different parts of speech (``hudba`` "music" / ``hudební`` "musical",
``finir`` / ``einde``), when a side is a piece of a word read as a whole word or mostly another word
(the name Russ), when the two are one word inflected, or when the dictionary entry is wrong.
``translation_precision_freedict_before.csv`` was drawn when a token was looked up in every
language's dictionary and short pieces had concepts (0.795 over 200); ``translation_precision_freedict.csv``
with each token looked up in its guessed language only and short pieces left out (0.88 over 200; a
few kept matches are doubtful and say so in ``note``). ``translation_precision_freedict_3.csv``, the
current rule: besides, English function words name no concept (``lexicon.FUNCTION_WORDS``), two words
of one language are no translation (``meaning.one_word_or_language``), a CLDR name counts only in the
languages that use it, and combining forms (``Wasser…``) are no entry: 0.930 ± 0.035 over 200
(0.96 e5, 0.88 USE, 0.90 wordllama, 0.98 MiniLM; 0.900 if the 6 matches marked doubtful count as
wrong); most of the 14 wrong join a noun and a verb or adjective (``udział`` / ``participar``) or two
senses of one English word (``тогда`` / ``następnie`` through "then").

A match is one (token, neighbour) pair among a token's ``meaning_k`` nearest neighbours that
``meaning.shared_meaning`` counts. The sample is uniform over the matches of all the models given
(seeded), so a model with more matches gives more of it; with ``--per-model`` (the FreeDict
sample) each model gives the same number.
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

from precompute.analyses.diversity import neighbors_without_bytes  # noqa: E402
from precompute.analyses.freedict import load_freedict, missing_packages  # noqa: E402
from precompute.analyses.language import has_letter, normalised_texts  # noqa: E402
from precompute.analyses.lexicon import CONCEPT_SEPARATOR, concept_columns  # noqa: E402
from precompute.analyses.meaning import one_word_or_language, shared_meaning, translation_sets  # noqa: E402
from precompute.analyses.tokens import eligible_mask  # noqa: E402
from precompute.contract import schema  # noqa: E402
from precompute.contract.intervals import ci95  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs"
DEFAULT_MODELS = ("multilingual-e5-small", "use-multilingual-v3", "wordllama-l2", "all-MiniLM-L6-v2")
COLUMNS = ["model", "token", "neighbour", "shared", "concept", "gloss", "correct", "note"]
#: The judged samples in docs/, oldest first, and the rule each was drawn under; with no argument the
#: script prints each one's precision, the last being the current rule's.
SAMPLES = {
    "translation_precision_before.csv": "CLDR names, surface variants counted as translations",
    "translation_precision.csv": "CLDR names",
    "translation_precision_freedict_before.csv": "CLDR and FreeDict, every token looked up in every language",
    "translation_precision_freedict.csv": "CLDR and FreeDict, each token in its guessed language, no short pieces",
    "translation_precision_freedict_3.csv": "the current rule: besides, no function words, no two words of "
                                            "one language, CLDR names in the languages that use them",
}


def matches(directory: Path, rule: str = "freedict") -> pd.DataFrame:
    """Every match of one model directory: ``model, token, neighbour, shared`` (the concepts they share),
    ``concept, gloss`` (the token's).

    ``rule``: "freedict" (CLDR and the installed FreeDict dictionaries), "cldr" (CLDR alone), or
    "before" (the build before the first clean-up: the stored concept column, and a neighbour that
    is the same word in another case or without ``▁`` counted as a translation).
    """
    tokens = pd.read_parquet(directory / schema.TOKENS)
    k = json.loads((directory / schema.MANIFEST).read_text())["params"]["meaning_k"]
    neighbors = np.load(directory / schema.NEIGHBORS, allow_pickle=False)
    if tokens["is_byte"].any():  # byte pieces are no neighbours (METHODS §3); only then is the matrix read
        neighbors = neighbors_without_bytes(neighbors, tokens, np.load(directory / schema.EMBEDDINGS, mmap_mode="r"),
                                            k)
    neighbors = neighbors[:, :k]
    texts = tokens["text"].tolist()
    if rule == "before":
        concepts = tokens[["concept", "gloss"]]
    else:
        concepts = concept_columns(texts, load_freedict() if rule == "freedict" else None,
                                   tokens["language_guess"])[["concept", "gloss"]]
    translations = translation_sets(texts, concepts["concept"])
    sets = (sp.diags(eligible_mask(tokens).astype(np.int8), dtype=np.int8) @ translations.matrix).tocsr()
    sets.eliminate_zeros()
    same = (sp.identity(len(texts), format="csr") if rule == "before"
            else one_word_or_language(texts, tokens["language_guess"]))
    rows, cols = np.nonzero(shared_meaning(neighbors, sets, same))
    common = sets[rows].multiply(sets[neighbors[rows, cols]]).tocsr()
    shared = [CONCEPT_SEPARATOR.join(translations.labels[common.indices[common.indptr[i]:common.indptr[i + 1]]])
              for i in range(len(rows))]
    text = np.asarray(texts, dtype=object)
    return pd.DataFrame({
        "model": directory.name, "token": text[rows], "neighbour": text[neighbors[rows, cols]], "shared": shared,
        "concept": concepts["concept"].to_numpy(object)[rows], "gloss": concepts["gloss"].to_numpy(object)[rows],
    })


def sample(root: Path, models: list[str], n: int, seed: int, rule: str, per_model: bool = False) -> pd.DataFrame:
    """``n`` matches drawn (seeded) from all matches of ``models``; ``correct``/``note`` blank.

    Uniformly over all matches, or with ``per_model`` the same number from each model (so that a
    model with few matches, the English-only MiniLM, is judged too).
    """
    every = pd.concat([matches(root / m, rule) for m in models], ignore_index=True)
    print(f"{len(every):,} matches: " + ", ".join(f"{m} {c:,}" for m, c in every.groupby("model").size().items()))
    if per_model:
        drawn = every.groupby("model", sort=False).sample(n // len(models), random_state=seed).reset_index(drop=True)
    else:
        drawn = every.sample(n, random_state=seed).reset_index(drop=True)
    return drawn.assign(correct="", note="")[COLUMNS]


def coverage(root: Path, models: list[str]) -> pd.DataFrame:
    """Per model: eligible word tokens (eligible, with a letter) and how many name a concept, CLDR alone
    and with the installed FreeDict dictionaries."""
    dictionaries = load_freedict()
    rows = []
    for model in models:
        tokens = pd.read_parquet(root / model / schema.TOKENS)
        texts = tokens["text"].tolist()
        words = eligible_mask(tokens) & has_letter(normalised_texts(texts))
        named = {rule: concept_columns(texts, d, tokens["language_guess"])["concept"].notna().to_numpy() & words
                 for rule, d in (("cldr", None), ("freedict", dictionaries))}
        rows.append({"model": model, "tokens": len(tokens), "word_tokens": int(words.sum()),
                     "cldr": int(named["cldr"].sum()), "freedict": int(named["freedict"].sum())})
    table = pd.DataFrame(rows)
    return table.assign(share=table["freedict"] / table["word_tokens"], times=table["freedict"] / table["cldr"])


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
    if len(sys.argv) > 1 and sys.argv[1] == "coverage":
        parser = argparse.ArgumentParser(description="share of eligible word tokens that name a concept")
        parser.add_argument("root", type=Path, help="artifact directory holding the models")
        parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
        args = parser.parse_args(sys.argv[2:])
        if missing := missing_packages():
            print(f"FreeDict packages not installed ({len(missing)}): {' '.join(missing)}")
        table = coverage(args.root, args.models)
        for row in table.itertuples():
            print(f"{row.model}: {row.freedict:,} of {row.word_tokens:,} eligible word tokens name a concept "
                  f"({row.share:.1%}), {row.times:.1f}x CLDR alone ({row.cldr:,}); {row.tokens:,} tokens")
        return
    if len(sys.argv) > 1 and sys.argv[1] == "sample":
        parser = sampling_arguments(argparse.ArgumentParser(description="draw a sample of matches to judge"))
        rules = parser.add_mutually_exclusive_group()
        rules.add_argument("--cldr", action="store_const", const="cldr", dest="rule", help="CLDR concepts alone")
        rules.add_argument("--before", action="store_const", const="before", dest="rule",
                           help="the rule before the first clean-up")
        parser.add_argument("--per-model", action="store_true", help="n / (number of models) from each model")
        args = parser.parse_args(sys.argv[2:])
        drawn = sample(args.root, args.models, args.n, args.seed, args.rule or "freedict", args.per_model)
        drawn.to_csv(args.out, index=False)
        print(f"wrote {args.out}: fill 'correct' with 1 or 0")
        return
    parser = argparse.ArgumentParser(description="precision of judged samples")
    parser.add_argument("samples", type=Path, nargs="*", help=f"judged CSVs (default: those in {DOCS})")
    paths = parser.parse_args().samples or [DOCS / name for name in SAMPLES]
    for path in paths:
        judged = pd.read_csv(path, keep_default_na=False)
        p, half, n = precision(judged)
        wrong = judged[judged["correct"].astype(int) == 0]
        rule = f" [{SAMPLES[path.name]}]" if path.name in SAMPLES else ""
        print(f"{path.name}: precision {p:.3f} ± {half:.3f} ({n - len(wrong)} of {n} correct){rule}")
        for model, part in judged.groupby("model", sort=False):
            p, half, n = precision(part)
            print(f"    {model}: {p:.3f} ± {half:.3f} (n = {n})")


if __name__ == "__main__":
    main()
