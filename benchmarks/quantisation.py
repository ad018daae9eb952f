"""What 4-bit weights do to the figures, measured on a model we have in higher precision.

    .venv/bin/python benchmarks/quantisation.py                  # use-multilingual-v3, ~10 min on 2 cores
    .venv/bin/python benchmarks/quantisation.py --rows 20000 --out /tmp/q4.json   # a quick look

multilingual-e5-small ships only in Q4_0 (4 bits per weight), so its figures cannot be compared with
its own full-precision matrix here. Instead this takes use-multilingual-v3 (128,000 x 512, stored in
8 bits), quantises it with the same Q4_0 scheme and dequantises it again, then computes both
matrices' exact neighbour tables and headline statistics with the build's own functions:

- mean Jaccard@10 and @50 of each token's neighbour sets (original vs Q4_0), and the share of its
  10 and 50 nearest neighbours that stay (``kept_at_k``: |A∩B| / k);
- numNeighborCategory@50 (mean over tokens), separability per category and averaged, translations
  among the 50 nearest neighbours and translation retrieval P@1/P@10.

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
from precompute.analyses.diversity import diversity_artifacts  # noqa: E402
from precompute.analyses.geometry import neighbor_jaccard  # noqa: E402
from precompute.analyses.lexicon import concept_columns  # noqa: E402
from precompute.analyses.meaning import meaning_artifacts  # noqa: E402
from precompute.analyses.separability import separability_artifacts  # noqa: E402
from precompute.analyses.tokens import base_token_table, eligible_mask  # noqa: E402
from precompute.contract import schema  # noqa: E402
from precompute.contract.config import BuildConfig  # noqa: E402
from precompute.knn.neighbors import top_k_neighbors  # noqa: E402
from precompute.sources import Vocabulary, load_model  # noqa: E402
from precompute.sources.builtin import Q4_0_EFFECT  # noqa: E402
from precompute.sources.e5s1 import dequantize_q4_0, quantize_q4_0  # noqa: E402

K = 50  # the paper's neighbourhood for numNeighborCategory and the meaning statistics


def round_trip(embeddings: np.ndarray) -> np.ndarray:
    """The matrix as a Q4_0 file would give it back: (N, d) float32."""
    return dequantize_q4_0(quantize_q4_0(embeddings))


def token_table(vocab: Vocabulary, embeddings: np.ndarray, concepts: pd.Series) -> pd.DataFrame:
    """The token columns the statistics read. Frequency deciles are all 0 ("not ranked"): they only
    feed the by-decile table, which no headline number uses, and would need wordfreq's 42 lists."""
    table = base_token_table(vocab, embeddings)
    table["concept"] = concepts
    table["frequency_decile"] = np.int8(0)
    return table


def headline(embeddings: np.ndarray, tokens: pd.DataFrame, config: BuildConfig) -> tuple[np.ndarray, dict]:
    """The neighbour table and the headline numbers of one matrix, timed."""
    t0 = time.perf_counter()
    ids, _ = top_k_neighbors(embeddings, config.k, valid=~tokens["is_zero"].to_numpy(bool), progress=False)
    seconds = {"neighbors": time.perf_counter() - t0}
    diversity = diversity_artifacts(ids, tokens, (K,))[schema.DIVERSITY]
    meaning = meaning_artifacts(ids, tokens, K)
    t0 = time.perf_counter()
    separability = separability_artifacts(embeddings, tokens, config, progress=False)[schema.SEPARABILITY]
    seconds["separability"] = time.perf_counter() - t0
    retrieval = meaning[schema.TRANSLATION_RETRIEVAL]
    numbers = {
        "n_categories_at_50": dict(zip(("mean", "std"), mean_std(diversity[schema.n_categories_column(K)]),
                                       strict=True)),
        "separability_average": separability_headline(separability)[0],
        "separability": {r.category: float(r.mean) for r in separability.itertuples() if pd.notna(r.mean)},
        "translations_at_50": weighted_mean(meaning[schema.MEANING]),
        "translation_p_at_1": weighted_mean(retrieval, "p_at_1"),
        "translation_p_at_10": weighted_mean(retrieval, "p_at_10"),
        "seconds": seconds,
    }
    return ids, numbers


def machine() -> str:
    """CPU model, core count and widest vector extension, as the README's figures name the machine."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                platform.machine())
    simd = "AVX-512" if " avx512f" in info else "AVX2" if " avx2" in info else "no AVX2"
    return f"{name}, {os.cpu_count()} cores, {simd}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="use-multilingual-v3", help="a model in higher precision")
    parser.add_argument("--rows", type=int, default=0, help="use only the first N rows (0 = all)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"where to write the JSON result (default, for a full run only: {Q4_0_EFFECT})")
    args = parser.parse_args()
    if args.out is None and (args.rows or args.model != "use-multilingual-v3"):
        parser.error("the model card quotes the full use-multilingual-v3 run only: pass --out for this one")
    args.out = args.out or Q4_0_EFFECT

    config = BuildConfig()
    data = load_model(args.model)
    n = args.rows or len(data.vocab)
    vocab = Vocabulary(data.vocab.texts[:n], data.vocab.is_special[:n], data.vocab.is_byte[:n])
    original = data.embeddings[:n]
    quantised = round_trip(original)
    concepts = concept_columns(vocab.texts)["concept"]
    before, after = (token_table(vocab, m, concepts) for m in (original, quantised))

    eligible = eligible_mask(before) & eligible_mask(after)
    unit = [m[eligible] / np.linalg.norm(m[eligible], axis=1, keepdims=True) for m in (original, quantised)]
    ids_before, numbers_before = headline(original, before, config)
    ids_after, numbers_after = headline(quantised, after, config)
    agreement = {k: neighbor_jaccard(ids_before[eligible], ids_after[eligible], k) for k in (10, K)}
    result = {
        "model": args.model,
        "revision": data.metadata.get("revision"),
        "shape": list(original.shape),
        "scheme": "Q4_0: per 32 values a float16 scale and 4-bit codes, value = (code - 8) x scale",
        "row_cosine_to_original": float(np.mean(np.sum(unit[0] * unit[1], axis=1))),
        **{f"jaccard_at_{k}": float(np.nanmean(jaccard)) for k, (jaccard, _) in agreement.items()},
        **{f"kept_at_{k}": float(np.mean(kept)) for k, (_, kept) in agreement.items()},
        "original": numbers_before,
        "q4_0": numbers_after,
        "machine": machine(),
        "measured": time.strftime("%Y-%m-%d"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1, ensure_ascii=False))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
