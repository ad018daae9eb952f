"""Small real models for tests: samples of the built-in models' real vocabularies and embedding rows.

The data is real: the special tokens, the poster's examples and friends (KEEP), and a seeded random
sample of the vocabulary, each with its real embedding row. Neighbourhoods inside such a
sample differ from the full model's, so tests assert facts of the sample, not the paper's figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from precompute.contract.config import BuildConfig
from precompute.sources.base import ModelData, TokenizerFile, Vocabulary

#: Small but complete parameters: every step runs, every statistic has enough tokens.
SMALL_CONFIG = BuildConfig(
    k=20, diversity_ks=(5, 10, 20), min_category_tokens=40, folds=3, pairwise_max_per_class=200,
    umap_neighbors=10, meaning_k=10, n_jobs=2,
)
#: Built-in model -> artifact name of its sample in the test artifact set.
SAMPLES = {"use-multilingual-v3": "usem3-sample", "wordllama-l2": "wordllama-sample"}
SAMPLE_SIZE = 1500
#: Tokens every sample keeps where the vocabulary has them (the poster's examples and friends).
KEEP = [
    "▁when", "▁cuando", "▁quando", "▁quand", "▁когда", "▁wenn", "▁när", "▁Comment", "▁comment",
    "▁アメリカ", "アメリカ", "▁USA", "▁미국", "▁America", "▁Amerika", "▁January", "▁enero", "▁janvier",
    "▁Japan", "▁日本", "▁Tokyo", "▁東京", "▁king", "▁queen", "▁man", "▁woman", "▁the", "▁Germany",
    "▁Deutschland", "▁France", "▁Paris", "▁Monday", "▁lunes",
]


def sample_model(model: ModelData, name: str, size: int = SAMPLE_SIZE, seed: int = 0) -> ModelData:
    """Rows of ``model``: specials, KEEP tokens, then a seeded sample across the vocabulary."""
    texts = model.vocab.texts
    position = {t: i for i, t in reversed(list(enumerate(texts)))}
    chosen = {i for i in np.flatnonzero(model.vocab.is_special)}
    chosen |= {position[t] for t in KEEP if t in position}
    rng = np.random.default_rng(seed)
    rest = rng.permutation(len(texts))
    for i in rest:
        if len(chosen) >= size:
            break
        chosen.add(int(i))
    ids = np.array(sorted(chosen))
    vocab = Vocabulary([texts[i] for i in ids], model.vocab.is_special[ids], model.vocab.is_byte[ids])
    meta = {key: value for key, value in model.metadata.items() if key not in ("vocab_size", "dim")}
    meta.update(id=name, description=f"{len(ids):,} real tokens of {model.metadata['id']}")
    return ModelData(vocab, model.embeddings[ids], meta, tokenizer=sampled_tokenizer(model.tokenizer, ids, len(texts)))


def sampled_tokenizer(tokenizer: TokenizerFile | None, ids: np.ndarray, n_rows: int) -> TokenizerFile | None:
    """The model's own tokenizer, its ids mapped to the sample's rows (-1 for a piece left out)."""
    if tokenizer is None:
        return None
    before = np.arange(n_rows) if tokenizer.rows is None else np.asarray(tokenizer.rows)
    position = np.full(n_rows, -1, dtype=np.int64)
    position[ids] = np.arange(len(ids))
    rows = np.where(before >= 0, position[np.clip(before, 0, n_rows - 1)], -1)
    return TokenizerFile(tokenizer.kind, tokenizer.read, rows.astype(np.int32))


def write_matrix_model(directory: Path, rows: slice | np.ndarray = np.r_[0:5, 1000:1300]) -> tuple[Path, Path]:
    """all-MiniLM-L6-v2's real rows (specials, then word pieces) as a plain matrix and a JSON vocabulary."""
    from precompute.sources import load_model

    real = load_model("all-MiniLM-L6-v2")
    directory.mkdir(parents=True, exist_ok=True)
    np.save(directory / "m.npy", real.embeddings[rows])
    (directory / "vocab.json").write_text(json.dumps([real.vocab.texts[i] for i in rows]), encoding="utf-8")
    return directory / "m.npy", directory / "vocab.json"


#: Small parameters as command-line options (every step runs on a few hundred tokens).
SMALL_FLAGS = ["--k", "10", "--diversity-ks", "5", "10", "--meaning-k", "5", "--min-category-tokens", "30",
               "--folds", "3", "--umap-neighbors", "5"]
