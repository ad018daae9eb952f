"""Model sources on tiny checkpoints built here with real configs, real tokenizers and real file formats."""

import hashlib
import json
import math
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm
import torch
from huggingface_hub import split_torch_state_dict_into_shards
from numpy.lib import format as npy_format
from safetensors.numpy import save_file
from safetensors.torch import save_file as save_torch_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertModel,
    GPT2Config,
    GPT2LMHeadModel,
    MT5Config,
    MT5ForConditionalGeneration,
    PreTrainedTokenizerFast,
    XLMRobertaConfig,
    XLMRobertaForMaskedLM,
)

from precompute.sources import SourceError, hf, load_model, sizes

LINES = [
    "the quick brown fox jumps over the lazy dog",
    "quando cuando lorsque когда quand",
    "日本語のテキストです",
    "hello world, hello there",
] * 5
WORDPIECE = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "##ly", "brown", "fox", "un",
             "##believ", "##able"]


def _sentencepiece_tokenizer(tmp: Path, model_type: str, filename: str):
    """A SentencePiece model trained on LINES (with byte fallback), loaded as that model's HF tokenizer."""
    corpus = tmp / "corpus.txt"
    corpus.write_text("\n".join(LINES), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(tmp / "sp"), vocab_size=330, hard_vocab_limit=False,
        byte_fallback=True, character_coverage=1.0, minloglevel=2,
    )
    (tmp / "tok").mkdir()
    shutil.copy(tmp / "sp.model", tmp / "tok" / filename)
    (tmp / "tok" / "config.json").write_text(json.dumps({"model_type": model_type}))
    return AutoTokenizer.from_pretrained(tmp / "tok")


def _save(directory: Path, model, tokenizer) -> Path:
    tokenizer.save_pretrained(directory)
    model.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def xlmr(tmp_path_factory):
    """XLM-R masked LM (weights prefixed "roberta."), single safetensors file, SentencePiece tokenizer."""
    tmp = tmp_path_factory.mktemp("xlmr")
    tok = _sentencepiece_tokenizer(tmp, "xlm-roberta", "sentencepiece.bpe.model")
    torch.manual_seed(0)
    config = XLMRobertaConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                              intermediate_size=32, max_position_embeddings=40)
    model = XLMRobertaForMaskedLM(config)
    return _save(tmp / "ckpt", model, tok), model, tok


@pytest.fixture(scope="module")
def mt5(tmp_path_factory):
    """mT5 in bfloat16 as on the hub: sharded safetensors with its own (untied) LM head, 5 padding rows."""
    tmp = tmp_path_factory.mktemp("mt5")
    tok = _sentencepiece_tokenizer(tmp, "mt5", "spiece.model")
    torch.manual_seed(1)
    config = MT5Config(vocab_size=len(tok) + 5, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2)
    model = MT5ForConditionalGeneration(config).to(torch.bfloat16)
    directory = tmp / "ckpt"
    tok.save_pretrained(directory)
    config.save_pretrained(directory)
    # transformers 5 ties mT5's head to `shared` and would not write it; the real checkpoints hold a
    # separate lm_head.weight (same shape as the input embedding), which the reader must not pick.
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    state["lm_head.weight"] = torch.randn_like(state["shared.weight"])
    split = split_torch_state_dict_into_shards(state, max_shard_size="20KB")
    for filename, names in split.filename_to_tensors.items():
        save_torch_file({n: state[n] for n in names}, str(directory / filename))
    index = {"metadata": {}, "weight_map": split.tensor_to_filename}
    (directory / "model.safetensors.index.json").write_text(json.dumps(index))
    return directory, model, tok, state["lm_head.weight"]


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    """GPT-2 LM (prefix "transformer."), fp16 pytorch_model.bin, byte-level BPE trained on LINES."""
    tmp = tmp_path_factory.mktemp("gpt2")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(LINES, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>")
    torch.manual_seed(2)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=8, n_layer=1, n_head=2, n_positions=32,
                                            bos_token_id=0, eos_token_id=0))
    directory = tmp / "ckpt"
    tok.save_pretrained(directory)
    model.config.save_pretrained(directory)
    # transformers 5 always writes safetensors; this is what it wrote as .bin before.
    torch.save({k: v.half() for k, v in model.state_dict().items()}, directory / "pytorch_model.bin")
    return directory, model, tok


def _wordpiece_tokenizer(tmp: Path):
    (tmp / "tok").mkdir()
    (tmp / "tok" / "vocab.txt").write_text("\n".join(WORDPIECE) + "\n")
    (tmp / "tok" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    return AutoTokenizer.from_pretrained(tmp / "tok")


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    """BertModel (no prefix in the file), single safetensors, WordPiece vocab.txt."""
    tmp = tmp_path_factory.mktemp("bert")
    tok = _wordpiece_tokenizer(tmp)
    torch.manual_seed(3)
    model = BertModel(BertConfig(vocab_size=len(tok), hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=16, max_position_embeddings=16))
    return _save(tmp / "ckpt", model, tok), model, tok


def _input_embedding(model) -> np.ndarray:
    return model.get_input_embeddings().weight.detach().float().numpy()


def test_xlmr_reads_the_prefixed_input_embedding(xlmr):
    directory, model, tok = xlmr
    data = load_model(str(directory))
    np.testing.assert_array_equal(data.embeddings, _input_embedding(model))
    assert data.metadata["tensor"] == "roberta.embeddings.word_embeddings.weight"
    assert data.metadata["source"] == "huggingface" and data.metadata["tokenizer"] == "sentencepiece"
    assert data.metadata["revision"] == "sha256:" + hashlib.sha256(data.embeddings.tobytes()).hexdigest()
    assert data.metadata["origin"] == str(directory / "model.safetensors")
    vocab, pieces = data.vocab, tok.convert_ids_to_tokens(list(range(len(tok))))
    assert vocab.texts == pieces  # SentencePiece pieces are their own surface text
    assert vocab.is_special[tok.convert_tokens_to_ids(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])].all()
    assert vocab.is_special.sum() == 5
    assert vocab.is_byte.sum() == 256 and vocab.is_byte[pieces.index("<0xE3>")]
    assert data.encode("hello world") == tok.encode("hello world", add_special_tokens=False)


def test_mt5_reads_shared_not_lm_head_from_shards(mt5):
    directory, model, tok, lm_head = mt5
    assert (directory / "model.safetensors.index.json").is_file()
    assert len(list(directory.glob("model-*.safetensors"))) > 1
    data = load_model(str(directory))
    assert data.metadata["tensor"] == "shared.weight"
    np.testing.assert_array_equal(data.embeddings, model.shared.weight.float().detach().numpy())
    assert not np.allclose(data.embeddings, lm_head.float().numpy())
    assert data.embeddings.dtype == np.float32 and data.embeddings.shape == (len(tok) + 5, 16)
    n = len(tok)
    assert data.vocab.texts[n:] == [f"<unused {i}>" for i in range(n, n + 5)]
    assert data.vocab.is_special[n:].all()
    assert data.vocab.is_special[tok.convert_tokens_to_ids("<extra_id_0>")]


def test_reading_in_many_chunks_gives_the_same_matrix(mt5, bert, monkeypatch):
    monkeypatch.setattr(hf, "_CHUNK_BYTES", 100)  # 1 row of 16 floats per chunk: every boundary is hit
    np.testing.assert_array_equal(load_model(str(mt5[0])).embeddings, mt5[1].shared.weight.float().detach().numpy())
    np.testing.assert_array_equal(load_model(str(bert[0])).embeddings, _input_embedding(bert[1]))


def test_gpt2_bin_fp16_byte_level(gpt2):
    directory, model, tok = gpt2
    data = load_model(str(directory))
    assert data.metadata["tensor"] == "transformer.wte.weight"
    assert data.metadata["tokenizer"] == "byte-bpe"
    assert data.metadata["origin"] == str(directory / "pytorch_model.bin")
    np.testing.assert_array_equal(data.embeddings, model.transformer.wte.weight.detach().half().float().numpy())
    texts = data.vocab.texts
    assert texts[tok.convert_tokens_to_ids("Ġthe")] == "▁the"
    assert texts[tok.convert_tokens_to_ids("ÐºÐ")] == "к<0xD0>"  # D0 BA D0: к, then half a letter
    assert texts[tok.convert_tokens_to_ids("æĹ")] == "<0xE6><0x97>"  # two bytes of 日: not text
    assert data.vocab.is_byte[tok.convert_tokens_to_ids("æĹ")]
    assert texts[0] == "<|endoftext|>" and data.vocab.is_special.tolist() == [True] + [False] * (len(tok) - 1)


def test_bert_wordpiece_without_prefix(bert):
    directory, model, _ = bert
    data = load_model(str(directory))
    assert data.metadata["tensor"] == "embeddings.word_embeddings.weight"
    np.testing.assert_array_equal(data.embeddings, _input_embedding(model))
    assert data.vocab.texts[:8] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "▁the", "▁quick", "ly"]
    assert data.vocab.is_special.tolist() == [True] * 5 + [False] * 8
    assert data.encode("the unbelievable fox") == [5, 10, 11, 12, 9]


def test_tensor_can_be_named(bert):
    directory, model, _ = bert
    data = load_model(str(directory), tensor="embeddings.word_embeddings.weight")
    np.testing.assert_array_equal(data.embeddings, _input_embedding(model))
    with pytest.raises(SourceError, match="No tensor named 'nope'.*embeddings.word_embeddings.weight"):
        load_model(str(directory), tensor="nope")


def test_unknown_hub_id_offline_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SourceError, match="local directory") as err:
        load_model("no-such-org/no-such-model-h1")
    assert "HF_HUB_OFFLINE" in str(err.value)


def test_unreachable_hub_searches_only_the_cache(monkeypatch):
    """No connection to the hub: one quick probe, then the cache alone (not ~30 s of retries)."""
    import huggingface_hub.constants

    from precompute.sources import hf

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    for proxy in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "https://hub.invalid")  # a reserved name
    assert not hf.hub_reachable()
    with pytest.raises(SourceError, match="cannot be reached from here, so only your Hugging Face cache"):
        load_model("no-such-org/no-such-model-h1")


def test_missing_paths():
    with pytest.raises(SourceError, match="No such file or directory: ./missing.npy"):
        load_model("./missing.npy")
    with pytest.raises(SourceError, match="--vocab is for plain matrix files"):
        load_model("some/model", vocab_path="v.txt")


def _copy_without_weights(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.safetensors", "*.bin", "*.index.json"))
    return target


def test_directory_without_embedding_tensor(bert, tmp_path):
    directory = _copy_without_weights(bert[0], tmp_path / "ckpt")
    with pytest.raises(SourceError, match="No weights found in .*model.safetensors"):
        load_model(str(directory))
    save_file({"encoder.layer.0.weight": np.zeros((4, 4), np.float32)}, str(directory / "model.safetensors"))
    with pytest.raises(SourceError, match="No input-embedding tensor found .*Pass --tensor NAME"):
        load_model(str(directory))


def test_truncated_safetensors(bert, tmp_path):
    directory = _copy_without_weights(bert[0], tmp_path / "ckpt")
    blob = (bert[0] / "model.safetensors").read_bytes()
    (directory / "model.safetensors").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(SourceError, match="damaged or incomplete"):
        load_model(str(directory))


def test_tokenizer_larger_than_matrix(tmp_path, monkeypatch):
    monkeypatch.setattr(hf, "read_safetensors_tensor", lambda *a: pytest.fail("read before the sizes were checked"))
    tok = _wordpiece_tokenizer(tmp_path)
    model = BertModel(BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=16, max_position_embeddings=16))
    directory = _save(tmp_path / "ckpt", model, tok)
    with pytest.raises(SourceError, match="13 tokens but the embedding matrix only 10 rows"):
        load_model(str(directory))


# ---- plain matrix + vocabulary -------------------------------------------------------------------


def test_npy_with_txt_vocabulary(tmp_path):
    matrix = np.arange(8, dtype=np.float64).reshape(4, 2)
    np.save(tmp_path / "emb.npy", matrix)
    (tmp_path / "vocab.txt").write_text("<pad>\n▁a\n▁b\nc\n", encoding="utf-8")
    data = load_model(str(tmp_path / "emb.npy"), vocab_path=str(tmp_path / "vocab.txt"))
    assert data.embeddings.dtype == np.float32 and data.embeddings[3].tolist() == [6.0, 7.0]
    assert data.vocab.texts == ["<pad>", "▁a", "▁b", "c"]
    assert data.vocab.is_special.tolist() == [True, False, False, False]
    assert data.metadata["source"] == "matrix" and data.metadata["tokenizer"] == "sentencepiece"
    digest = hashlib.sha256((tmp_path / "emb.npy").read_bytes()).hexdigest()
    assert data.metadata["revision"] == "sha256:" + digest


def test_safetensors_with_json_vocabularies(tmp_path):
    emb = np.eye(3, dtype=np.float16)
    save_file({"emb": emb, "other": np.zeros((2, 2), np.float32)}, str(tmp_path / "m.safetensors"))
    (tmp_path / "map.json").write_text(json.dumps({"Ġb": 2, "<|endoftext|>": 0, "Ġa": 1}))
    data = load_model(str(tmp_path / "m.safetensors"), vocab_path=str(tmp_path / "map.json"), tensor="emb")
    assert data.vocab.texts == ["<|endoftext|>", "▁a", "▁b"] and data.metadata["tokenizer"] == "byte-bpe"
    np.testing.assert_array_equal(data.embeddings, np.eye(3))
    with pytest.raises(SourceError, match="holds 2 tensors .*pass --tensor NAME"):
        load_model(str(tmp_path / "m.safetensors"), vocab_path=str(tmp_path / "map.json"))
    (tmp_path / "gaps.json").write_text(json.dumps({"a": 0, "b": 5, "c": 2}))
    with pytest.raises(SourceError, match="not 0..2 without gaps"):
        load_model(str(tmp_path / "m.safetensors"), vocab_path=str(tmp_path / "gaps.json"), tensor="emb")


def test_matrix_vocabulary_mismatch(tmp_path):
    np.save(tmp_path / "emb.npy", np.zeros((4, 3), np.float32))
    (tmp_path / "list.json").write_text(json.dumps(["a", "b", "c"]))
    with pytest.raises(SourceError, match=r"shape \(4, 3\) but the vocabulary has 3 tokens"):
        load_model(str(tmp_path / "emb.npy"), vocab_path=str(tmp_path / "list.json"))
    with pytest.raises(SourceError, match="pass its vocabulary too"):
        load_model(str(tmp_path / "emb.npy"))


# ---- tensor-name resolution for the architectures the paper studies ----------------------------------

TINY = {"hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16}


@pytest.mark.parametrize(
    ("config", "file_keys", "expected", "skeleton_name"),
    [
        # key layouts as in the hub files of xlm-roberta-base, google/umt5-small, gpt2, bloom-560m, Llama-2
        (XLMRobertaConfig(**TINY), ["roberta.embeddings.word_embeddings.weight", "lm_head.dense.weight"],
         "roberta.embeddings.word_embeddings.weight", "embeddings.word_embeddings.weight"),
        ("umt5", ["lm_head.weight", "encoder.embed_tokens.weight", "shared.weight"], "shared.weight",
         "shared.weight"),
        (GPT2Config(n_embd=8, n_layer=1, n_head=2), ["h.0.attn.c_attn.weight", "wte.weight", "wpe.weight"],
         "wte.weight", "wte.weight"),
        ("bloom", ["word_embeddings.weight", "word_embeddings_layernorm.weight"], "word_embeddings.weight",
         "word_embeddings.weight"),
        ("llama", ["lm_head.weight", "model.embed_tokens.weight", "model.norm.weight"], "model.embed_tokens.weight",
         "embed_tokens.weight"),
    ],
)
def test_embedding_name_from_the_architecture(config, file_keys, expected, skeleton_name):
    from transformers import AutoConfig

    if isinstance(config, str):
        sizes = {"llama": TINY, "bloom": {"hidden_size": 8, "n_layer": 1, "n_head": 2},
                 "umt5": {"d_model": 8, "d_kv": 4, "d_ff": 16, "num_layers": 1, "num_heads": 2}}[config]
        config = AutoConfig.for_model(config, vocab_size=32, **sizes)
    candidates = hf.embedding_candidates(config)
    assert candidates[0] == skeleton_name  # found by the meta-device skeleton, not the fallback table
    assert hf.match_tensor_name(candidates, file_keys) == expected


def test_embedding_name_falls_back_to_known_names():
    assert hf.match_tensor_name(list(hf.KNOWN_EMBEDDING_NAMES), ["gpt_neox.embed_in.weight", "embed_out.weight"]) \
        == "gpt_neox.embed_in.weight"
    assert hf.match_tensor_name(list(hf.KNOWN_EMBEDDING_NAMES), ["lm_head.weight"]) is None


# ---- sizes from the headers, before any data is read ------------------------------------------------------


def _safetensors_claiming(path: Path, dtype: str, shape: list[int], data_bytes: int, *, end: int | None = None) -> Path:
    """A safetensors file whose header claims ``shape`` of ``dtype``, followed by ``data_bytes`` zero bytes."""
    itemsize = sizes.SAFETENSORS_ITEMSIZE[dtype]
    end = math.prod(shape) * itemsize if end is None else end
    entry = {"dtype": dtype, "shape": shape, "data_offsets": [0, end]}
    header = json.dumps({"__metadata__": {"format": "np"}, "emb": entry}).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + bytes(data_bytes))
    return path


def _npy_claiming(path: Path, shape: tuple[int, ...], data_bytes: int, descr: str = "<f4") -> Path:
    with open(path, "wb") as f:
        npy_format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": shape})
        f.write(bytes(data_bytes))
    return path


def test_a_header_claiming_2_40_elements_is_refused_before_the_file_is_mapped(tmp_path):
    (tmp_path / "vocab.txt").write_text("a\nb\nc\n", encoding="utf-8")
    path = _safetensors_claiming(tmp_path / "huge.safetensors", "U8", [2**20, 2**20], 0)
    with pytest.raises(SourceError, match=r"ends at byte 1,099,511,627,\d+ of a \d+-byte file"):
        load_model(str(path), vocab_path=str(tmp_path / "vocab.txt"))
    try:  # the same header over a sparse 1 TiB file, which holds the claimed bytes and no disk blocks
        os.truncate(path, path.stat().st_size + 2**40)
    except OSError:
        pytest.skip("this filesystem cannot hold a sparse 1 TiB file")
    with pytest.raises(SourceError, match=r"shape \(1048576, 1048576\) but the vocabulary has 3 tokens"):
        load_model(str(path), vocab_path=str(tmp_path / "vocab.txt"))
    with pytest.raises(SourceError, match=r"1,048,576 × 1,048,576 matrix in .* needs 4\.4 TB as float32"):
        hf.read_safetensors_tensor(path, "emb")  # a checkpoint's tensor: rows may exceed the tokenizer's


def test_a_2_31_element_npy_with_a_3_line_vocabulary_is_refused_from_its_header(tmp_path):
    (tmp_path / "vocab.txt").write_text("a\nb\nc\n", encoding="utf-8")
    path = _npy_claiming(tmp_path / "big.npy", (2**21, 2**10), 64)  # 8.6 GB claimed, 64 bytes held
    with pytest.raises(SourceError, match=r"shape \(2097152, 1024\) but the vocabulary has 3 tokens"):
        load_model(str(path), vocab_path=str(tmp_path / "vocab.txt"))
    _npy_claiming(path, (3, 4), 40)  # rows agree, but 48 bytes are claimed and 40 held
    with pytest.raises(SourceError, match=r"claims a \(3, 4\) matrix \(48 bytes of data\) but holds \d+ bytes"):
        load_model(str(path), vocab_path=str(tmp_path / "vocab.txt"))
    _npy_claiming(path, (3, 4, 2), 96)
    with pytest.raises(SourceError, match=r"shape \(3, 4, 2\), not \(vocab, dim\)"):
        load_model(str(path), vocab_path=str(tmp_path / "vocab.txt"))
    np.save(path, np.array([[None]] * 3, dtype=object))
    with pytest.raises(SourceError, match="holds Python objects"):
        load_model(str(path), vocab_path=str(tmp_path / "vocab.txt"))


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"\x01\x02", "shorter than the 8-byte header length"),
        (struct.pack("<Q", 2**63) + b"{}", "header claims 9,223,372,036,854,775,808 bytes"),
        (struct.pack("<Q", 4) + b"{no}", "header is not JSON"),
        (struct.pack("<Q", 2) + b"[]", "header is not a JSON object"),
        (struct.pack("<Q", 40) + b'{"emb": {"dtype": "F13", "shape": [1]}}\x20', "unknown dtype 'F13'"),
        (struct.pack("<Q", 64) + b'{"emb": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}', "invalid shape"),
    ],
)
def test_malformed_safetensors_headers_say_the_file_is_damaged(tmp_path, blob, message):
    path = tmp_path / "m.safetensors"
    path.write_bytes(blob)
    with pytest.raises(SourceError) as err:
        sizes.safetensors_header(path)
    assert message in str(err.value) and "download it again" in str(err.value)


def test_offsets_must_match_the_shape(tmp_path):
    path = _safetensors_claiming(tmp_path / "m.safetensors", "F16", [3, 2], 12, end=10)
    with pytest.raises(SourceError, match=r"claims shape \[3, 2\] of F16 \(12 bytes\) in 10 bytes"):
        sizes.safetensors_header(path)
    header = sizes.safetensors_header(_safetensors_claiming(path, "F16", [3, 2], 12))["emb"]
    assert (header.shape, header.dtype, header.nbytes, header.offset) == ((3, 2), "F16", 12, path.stat().st_size - 12)


def test_a_matrix_larger_than_memory_is_refused():
    sizes.check_memory((1000, 250), "m.npy", memory=1_000_000)  # exactly fits
    with pytest.raises(SourceError, match=r"1,000 × 251 matrix in m.npy needs 1.0 MB as float32, more than this "
                                          r"machine's 1.0 MB of memory: build it on a larger machine"):
        sizes.check_memory((1000, 251), "m.npy", memory=1_000_000)


def test_build_needs_from_rows_and_dims():
    from precompute.contract.config import BuildConfig

    needs = sizes.build_needs(10_000_000, 384, BuildConfig(products="float32"), gemm_flops=200e9, cores=2)
    assert needs.matrix_bytes == 15_360_000_000
    # unit rows, heaps and table (4 × 4 bytes × k), the threads' float32 tiles (4096 rows × 2048 columns in
    # all) and their column-candidate lists (12 bytes an entry)
    assert needs.exact_bytes == 15_360_000_000 + 16_000_000_000 + 4 * 4096 * 2048 + 2 * 12 * 65536
    # behind a bfloat16 filter the heaps are 256 wide, with the rescoring's masks (11 bytes an entry)
    filtered = sizes.build_needs(10_000_000, 384, BuildConfig(products="bfloat16"), gemm_flops=200e9, cores=2)
    assert filtered.exact_bytes - needs.exact_bytes == 10_000_000 * (11 * 256 - 8 * 100)
    assert filtered.exact_seconds == pytest.approx(sizes.FILTERED_SHARE * needs.exact_seconds)
    assert "(at 200 GFLOP/s, bfloat16 products)" in filtered.describe(memory=128 * 10**9)
    assert needs.umap_bytes == 2 * 15_360_000_000 + 10_000_000 * 15 * 200
    assert needs.peak_bytes == needs.matrix_bytes + needs.umap_bytes
    assert needs.exact_seconds == pytest.approx(1.3 * 1e14 * 384 / 200e9)  # 2 d 21 h
    assert needs.umap_seconds == pytest.approx(2500)
    described = needs.describe(memory=128 * 10**9).splitlines()
    assert described[0] == "A build of 10,000,000 tokens × 384 dims (k=100) needs about 76.1 GB of memory at its peak"
    assert described[2].endswith("the exact neighbour table 2 d 21 h (at 200 GFLOP/s), the UMAP 41 min 40 s.")
    assert len(described) == 3
    assert needs.describe(memory=32 * 10**9).splitlines()[3] == (
        "  This machine has 32.0 GB of memory: the build will likely run out of it. Build on a larger machine, "
        "or use fewer tokens.")
    config = BuildConfig(k=10, diversity_ks=(10,), meaning_k=10, umap_neighbors=30, products="float32")
    small = sizes.build_needs(30_522, 384, config, gemm_flops=100e9, cores=1)
    assert small.exact_bytes == 30_522 * 384 * 4 + 30_522 * 10 * 16 + 4 * 4096 * 2048 + 12 * 65536
    assert small.umap_seconds == pytest.approx(sizes.UMAP_SECONDS_PER_ROW * 30_522 * 2)
    assert "and about 20 s: the exact neighbour table 5 s" in small.describe(memory=10**9)


def test_build_needs_on_a_gpu(monkeypatch: pytest.MonkeyPatch):
    """With --device cuda the estimate takes the GPU's rate and what an H200 measured: the products near
    that rate, then a cost per pair for the selection; the blocks live in the GPU's memory."""
    import torch

    from precompute.contract.config import BuildConfig

    monkeypatch.setattr(sizes, "resolve_device", lambda device: torch.device(device))
    cpu = sizes.build_needs(250_000, 4096, BuildConfig(device="cpu", products="float32"), gemm_flops=200e9, cores=2)
    gpu = sizes.build_needs(250_000, 4096, BuildConfig(device="cuda"), gemm_flops=51e12, cores=2)
    # the random 250,000 x 4,096 matrix the fit used took 11.0 s on an H200 at 51 TFLOP/s
    assert gpu.exact_seconds == pytest.approx(sizes.GPU_PRODUCT_OVERHEAD * 250_000**2 * 4096 / 51e12
                                              + sizes.GPU_SECONDS_PER_PAIR * 250_000**2)
    assert 10 < gpu.exact_seconds < 12 and not gpu.filtered
    assert cpu.exact_bytes - gpu.exact_bytes == 4 * 4096 * 2048 + 2 * 12 * 65536
    assert "the exact neighbour table 11 s (on the GPU, at 51000 GFLOP/s)" in gpu.describe(memory=128 * 10**9)
