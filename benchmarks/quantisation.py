"""What 4-bit weights do to the figures, measured on models we have in higher precision.

    .venv/bin/python benchmarks/quantisation.py                  # both models, ~25 min on 2 cores
    .venv/bin/python benchmarks/quantisation.py --model all-MiniLM-L6-v2 --out /tmp/q4.json   # one

multilingual-e5-small ships only in Q4_0 (4 bits per weight), so its figures cannot be compared with
its own full-precision matrix here. Instead this quantises other matrices with the same Q4_0 scheme,
dequantises them again, and computes both matrices' exact neighbour tables and headline statistics
with the build's own functions, on the token table the build wrote (``ARTIFACTS/<model>/tokens.parquet``:
the same categories and concepts, so the "original" figures are those of the built artifacts, and
the JSON says whether they match them). Two matrices, because the effect depends on how fine the
matrix already is:

- all-MiniLM-L6-v2 (30,522 x 384, float32, continuous: as many distinct values per row as
  dimensions), the shape and precision of multilingual-e5-small before quantisation: the figure
  that stands for it;
- use-multilingual-v3 (128,000 x 512), dequantised from 8 bits: already coarse (a handful of
  distinct values per row), so 4 bits change it less.

Every figure is reported per convention (METHODS, "The paper's conventions"), never averaged
across them:

- neighbour agreement, original against Q4_0, at k = 10, 50, 100: "refined" the mean Jaccard of the
  k nearest (the token left out) and the share kept (|A∩B| / k); "paper" the authors' overlap of
  k-entry lists holding the token itself (|A∩B| / |A|);
- numNeighborCategory@50 (mean, sd) and separability (mean accuracy over the categories probed, and
  per category) under each convention;
- translations among the 50 nearest neighbours and translation retrieval P@1/P@10, which have one
  definition (METHODS §6).

The result is written as JSON (by default where the multilingual-e5-small model card reads it:
``precompute/sources/data/q4_0_effect.json``) and printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboard.tables import mean_std, separability_headline, weighted_mean  # noqa: E402
from precompute.analyses.diversity import diversity_artifacts, neighbors_without_bytes  # noqa: E402
from precompute.analyses.geometry import neighbor_jaccard, paper_overlap  # noqa: E402
from precompute.analyses.meaning import meaning_artifacts  # noqa: E402
from precompute.analyses.separability import separability_artifacts  # noqa: E402
from precompute.analyses.tokens import eligible_mask  # noqa: E402
from precompute.contract import schema  # noqa: E402
from precompute.contract.config import BuildConfig  # noqa: E402
from precompute.contract.conventions import CONVENTIONS, PAPER, REFINED  # noqa: E402
from precompute.knn.neighbors import top_k_neighbors  # noqa: E402
from precompute.sources import load_model  # noqa: E402
from precompute.sources.builtin import Q4_0_EFFECT  # noqa: E402
from precompute.sources.e5s1 import dequantize_q4_0, quantize_q4_0  # noqa: E402

K = 50  # the paper's neighbourhood for numNeighborCategory and the meaning statistics
AGREEMENT_KS = (10, 50, 100)
#: The models of a full run: the continuous matrix first (it stands for multilingual-e5-small), then the coarse one.
MODELS = ("all-MiniLM-L6-v2", "use-multilingual-v3")
#: Two figures "match" the artifacts when they differ by less than this (float rounding of stored tables).
MATCH = 1e-9


def round_trip(embeddings: np.ndarray) -> np.ndarray:
    """The matrix as a Q4_0 file would give it back: (N, d) float32."""
    return dequantize_q4_0(quantize_q4_0(embeddings))


def distinct_values_per_row(embeddings: np.ndarray, rows: int = 2000) -> float:
    """Median number of distinct values in a row (the first ``rows`` rows): how coarse the matrix already is."""
    sample = np.sort(embeddings[:rows], axis=1)
    return float(np.median(1 + (np.diff(sample, axis=1) != 0).sum(axis=1)))


def built_tokens(artifacts: Path, slug: str, n: int) -> pd.DataFrame:
    """The token table the build wrote for ``slug`` (categories, flags, concepts), checked against the matrix."""
    path = artifacts / slug / schema.TOKENS
    if not path.exists():
        raise SystemExit(f"{path} does not exist: build the model first (python -m precompute build {slug} "
                         f"--artifacts {artifacts}) or pass --artifacts where it is built")
    tokens = pd.read_parquet(path)
    if len(tokens) != n:
        raise SystemExit(f"{path} has {len(tokens):,} tokens, the matrix {n:,} rows: rebuild {slug}")
    tokens["frequency_decile"] = np.int8(schema.UNSEEN_DECILE)  # feeds only the by-decile table, unused here
    return tokens


def requantised_tokens(tokens: pd.DataFrame, embeddings: np.ndarray) -> pd.DataFrame:
    """The token table with the norms and zero rows of the quantised matrix (a tiny row may round to zero)."""
    norms = np.linalg.norm(embeddings, axis=1).astype(np.float32)
    return tokens.assign(norm=norms, is_zero=norms == 0)


def headline(embeddings: np.ndarray, tokens: pd.DataFrame, config: BuildConfig) -> tuple[np.ndarray, dict, dict]:
    """The neighbour table, the headline numbers per convention and the raw tables of one matrix."""
    t0 = time.perf_counter()
    ids, _ = top_k_neighbors(embeddings, config.k, valid=~tokens["is_zero"].to_numpy(bool), progress=False)
    seconds = {"neighbors": time.perf_counter() - t0}
    statistics = neighbors_without_bytes(ids, tokens, embeddings, config.k)
    diversity = diversity_artifacts(statistics, tokens, (K,))
    meaning = meaning_artifacts(statistics, tokens, K)
    t0 = time.perf_counter()
    separability = separability_artifacts(embeddings, tokens, config, progress=False)[schema.SEPARABILITY]
    seconds["separability"] = time.perf_counter() - t0
    retrieval = meaning[schema.TRANSLATION_RETRIEVAL]
    numbers: dict = {}
    for convention in CONVENTIONS:
        probes = separability[separability["convention"] == convention]
        numbers[convention] = {
            "n_categories_at_50": dict(zip(
                ("mean", "std"), mean_std(diversity[schema.DIVERSITY][schema.n_categories_column(K, convention)]),
                strict=True)),
            "separability_average": separability_headline(probes)[0],
            "separability": {r.category: float(r.mean) for r in probes.itertuples() if pd.notna(r.mean)},
        }
    numbers["translations_at_50"] = weighted_mean(meaning[schema.MEANING])
    numbers["translation_p_at_1"] = weighted_mean(retrieval, "p_at_1")
    numbers["translation_p_at_10"] = weighted_mean(retrieval, "p_at_10")
    numbers["seconds"] = seconds
    return ids, numbers, {**diversity, **meaning, schema.SEPARABILITY: separability}


def agreement(before: np.ndarray, after: np.ndarray) -> dict:
    """Neighbour agreement of the two tables (eligible rows), per convention and k."""
    refined, paper = {}, {}
    for k in AGREEMENT_KS:
        jaccard, kept = neighbor_jaccard(before, after, k)
        refined[f"jaccard_at_{k}"] = float(np.nanmean(jaccard))
        refined[f"kept_at_{k}"] = float(np.mean(kept))
        paper[f"overlap_at_{k}"] = float(np.mean(paper_overlap(before, after, k)))
    return {REFINED: refined, PAPER: paper}


def compare_with_artifacts(numbers: dict, tables: dict, artifacts: Path, slug: str) -> dict:
    """Whether the original matrix's figures are those stored in the built artifacts (None: not built)."""
    directory = artifacts / slug
    out: dict = {}
    if (directory / schema.DIVERSITY_CHANCE).exists():
        stored = pd.read_parquet(directory / schema.DIVERSITY_CHANCE)
        for convention in CONVENTIONS:
            row = stored[(stored["convention"] == convention) & (stored["k"] == K)]
            out[f"n_categories_at_50_{convention}"] = bool(
                len(row) and abs(row["observed_mean"].iloc[0] - numbers[convention]["n_categories_at_50"]["mean"])
                < MATCH)
    if (directory / schema.SEPARABILITY).exists():
        stored = pd.read_parquet(directory / schema.SEPARABILITY)
        for convention in CONVENTIONS:
            out[f"separability_{convention}"] = bool(abs(
                separability_headline(stored[stored["convention"] == convention])[0]
                - numbers[convention]["separability_average"]) < MATCH)
    if (directory / schema.MEANING).exists():
        stored = pd.read_parquet(directory / schema.MEANING)
        out["translations_at_50"] = bool(abs(weighted_mean(stored) - numbers["translations_at_50"]) < MATCH)
    return out or {"artifacts": None}


def measure(slug: str, artifacts: Path, config: BuildConfig) -> dict:
    """The whole measurement for one model."""
    data = load_model(slug)
    original = np.asarray(data.embeddings, dtype=np.float32)
    quantised = round_trip(original)
    before = built_tokens(artifacts, slug, len(original))
    after = requantised_tokens(before, quantised)
    eligible = eligible_mask(before) & eligible_mask(after)
    unit = [m[eligible] / np.linalg.norm(m[eligible], axis=1, keepdims=True) for m in (original, quantised)]
    ids_before, numbers_before, tables = headline(original, before, config)
    ids_after, numbers_after, _ = headline(quantised, after, config)
    return {
        "model": slug,
        "revision": data.metadata.get("revision"),
        "shape": list(original.shape),
        "distinct_values_per_row": distinct_values_per_row(original),
        "row_cosine_to_original": float(np.mean(np.sum(unit[0] * unit[1], axis=1))),
        "agreement": agreement(ids_before[eligible], ids_after[eligible]),
        "original": numbers_before,
        "q4_0": numbers_after,
        "original_matches_artifacts": compare_with_artifacts(numbers_before, tables, artifacts, slug),
    }


def machine() -> str:
    """CPU model, core count and widest vector extension, as the README's figures name the machine."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                platform.machine())
    simd = "AVX-512" if " avx512f" in info else "AVX2" if " avx2" in info else "no AVX2"
    return f"{name}, {os.cpu_count()} cores, {simd}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=None,
                        help=f"a built-in model in higher precision (repeatable; default: {', '.join(MODELS)})")
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"),
                        help="where the models are built (their token tables are read)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"where to write the JSON result (default, for a full run only: {Q4_0_EFFECT})")
    args = parser.parse_args()
    models = tuple(args.model or MODELS)
    if args.out is None and models != MODELS:
        parser.error(f"the model card quotes the full run ({', '.join(MODELS)}) only: pass --out for this one")
    args.out = args.out or Q4_0_EFFECT

    config = BuildConfig()
    result = {
        "scheme": "Q4_0: per 32 values a float16 scale and 4-bit codes, value = (code - 8) x scale",
        "models": [measure(slug, args.artifacts, config) for slug in models],
        "machine": machine(),
        "measured": time.strftime("%Y-%m-%d"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1, ensure_ascii=False))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
