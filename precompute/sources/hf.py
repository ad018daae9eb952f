"""Hugging Face checkpoints (hub id or local directory): read only the input-embedding tensor.

A 13B-parameter checkpoint holds one (V, d) input-embedding matrix we need and tens of GB we don't.
So we never build the model: the architecture is instantiated on the ``meta`` device (no memory, no
weights) just to ask ``get_input_embeddings()`` which parameter it is, that parameter is mapped back to
its state-dict name, and only that tensor is read — from the one safetensors shard that holds it
(``model.safetensors.index.json``), or lazily from a memory-mapped PyTorch ``.bin``.

For encoder-decoder models (mT5, umT5) this is the shared input embedding, never the LM head.

Example::

    >>> data = load_hf("xlm-roberta-base")            # or a local directory
    >>> data.embeddings.shape, data.metadata["tokenizer"]
    ((250002, 768), 'sentencepiece')
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Callable
from functools import partial
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
from tqdm.auto import tqdm

from .base import ModelData, SourceError, tokenizers_file
from .decode import build_vocabulary, describe_tokenizer
from .sizes import check_matrix, check_memory, safetensors_header

#: Fallback when the architecture cannot be built (unknown model type, remote code not trusted).
KNOWN_EMBEDDING_NAMES = (
    "shared.weight",
    "encoder.embed_tokens.weight",
    "embeddings.word_embeddings.weight",
    "word_embeddings.weight",
    "wte.weight",
    "embed_tokens.weight",
    "embed_in.weight",
)
#: Weight files we look for, best first (an index points to shards).
WEIGHT_FILES = (
    "model.safetensors.index.json",
    "model.safetensors",
    "pytorch_model.bin.index.json",
    "pytorch_model.bin",
)
_CHUNK_BYTES = 64 * 2**20
#: Seconds to wait for a connection to the hub before searching only the local cache.
_PROBE_SECONDS = 3.0

Fetch = Callable[[str], Path | None]


def _offline() -> bool:
    # huggingface_hub reads HF_HUB_OFFLINE once at import; read it at call time so setting it works.
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "")
    return constants.HF_HUB_OFFLINE or flag.strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_reachable() -> bool:
    """Whether a TCP connection to the hub opens within a few seconds.

    Without this, an unreachable hub costs ~30 s of retried requests (and as many warnings) before
    the cache is searched. Behind a proxy a direct connection proves nothing, so the hub client is
    left to try.
    """
    from huggingface_hub import constants

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=_PROBE_SECONDS):
            return True
    except OSError:
        return False


def _hub_fetcher(repo_id: str, revision: str | None, cache_only: bool) -> Fetch:
    """Download (or find in the cache) one file of a hub repo; None when the repo lacks it."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    def fetch(filename: str) -> Path | None:
        try:
            return Path(hf_hub_download(repo_id, filename, revision=revision, local_files_only=cache_only))
        except (EntryNotFoundError, LocalEntryNotFoundError):  # the repo (or the cache) lacks this file
            return None
        except Exception as err:  # network failures, revoked access, revision not found
            raise _hub_error(repo_id, err, cache_only) from None

    return fetch


def _dir_fetcher(directory: Path) -> Fetch:
    return lambda filename: (directory / filename) if (directory / filename).is_file() else None


def embedding_candidates(config, trust_remote_code: bool = False) -> list[str]:
    """State-dict names the input embedding may have, best first.

    Builds the architecture on the meta device and collects every name under which the parameter
    returned by ``get_input_embeddings()`` is registered (mT5: ``shared.weight`` and its tied
    ``encoder.embed_tokens.weight``); falls back to ``KNOWN_EMBEDDING_NAMES``.
    """
    import torch
    from transformers import AutoModel

    try:
        with torch.device("meta"):
            model = AutoModel.from_config(config, trust_remote_code=trust_remote_code)
        weight = model.get_input_embeddings().weight
        names = [n for n, p in model.named_parameters(remove_duplicate=False) if p is weight]
    except Exception:  # an architecture transformers cannot build: the name table still works
        names = []
    return names + [n for n in KNOWN_EMBEDDING_NAMES if n not in names]


def match_tensor_name(candidates: list[str], keys: list[str]) -> str | None:
    """The file key for the first candidate that matches, allowing for model-class prefixes.

    A checkpoint saved from ``XLMRobertaForMaskedLM`` stores ``roberta.embeddings.word_embeddings.weight``
    where ``XLMRobertaModel`` says ``embeddings.word_embeddings.weight``; the original GPT-2 files say
    ``wte.weight`` where ``GPT2LMHeadModel`` says ``transformer.wte.weight``. So a candidate matches a key
    equal to it, ending in ``.candidate``, or equal to it with leading components dropped.
    """
    keyset = set(keys)
    for name in candidates:
        if name in keyset:
            return name
        prefixed = sorted((k for k in keys if k.endswith("." + name)), key=len)
        if prefixed:
            return prefixed[0]
        parts = name.split(".")
        for i in range(1, len(parts) - 1):
            if (suffix := ".".join(parts[i:])) in keyset:
                return suffix
    return None


def read_safetensors_tensor(path: Path, name: str) -> np.ndarray:
    """One tensor of a safetensors file as float32, read in ~64 MiB row chunks with a progress bar.

    Chunks keep a 250k x 4096 half-precision matrix from existing twice in memory. NumPy has no
    bfloat16, so bf16 tensors are converted through torch; everything else stays in NumPy.
    """
    from safetensors import SafetensorError, safe_open

    check_matrix(safetensors_header(path)[name], path)  # before the file is mapped: its size and shape
    try:
        with safe_open(str(path), framework="np") as f:
            bf16 = f.get_slice(name).get_dtype() == "BF16"
        with safe_open(str(path), framework="pt" if bf16 else "np") as f:
            view = f.get_slice(name)
            rows, *rest = view.get_shape()
            out = np.empty((rows, *rest), dtype=np.float32)
            step = max(1, _CHUNK_BYTES // max(1, 4 * int(np.prod(rest))))
            for start in tqdm(range(0, rows, step), desc=f"reading {name}", unit="chunk", leave=False,
                              disable=rows <= step):
                stop = min(start + step, rows)
                chunk = view[start:stop]
                out[start:stop] = chunk.float().numpy() if bf16 else chunk
    except SafetensorError as err:
        raise SourceError(
            f"Cannot read {path}: {err}. The file is damaged or incomplete (an interrupted download?); "
            "download it again."
        ) from None
    return out


def _load_bin(path: Path) -> dict:
    """A PyTorch state dict, memory-mapped so only the tensors we touch are read."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:
        raise SourceError(f"Cannot read {path}: {err}. Re-download the file, or convert it to safetensors.") \
            from None


class _Weights:
    """The tensor names of a checkpoint and a reader for one of them, over a sharded or single file."""

    def __init__(self, where: str, fetch: Fetch):
        self.where, self.fetch = where, fetch
        self._bin: dict[str, dict] = {}  # .bin state dicts already opened, by file name
        for filename in WEIGHT_FILES:
            if (path := fetch(filename)) is None:
                continue
            if filename.endswith(".index.json"):
                self.shard_of = json.loads(path.read_text())["weight_map"]
            elif filename.endswith(".safetensors"):
                self.shard_of = dict.fromkeys(safetensors_header(path), filename)
            else:
                self._bin[filename] = _load_bin(path)
                self.shard_of = dict.fromkeys(self._bin[filename], filename)
            self.filename = filename
            return
        raise SourceError(f"No weights found in {where}: looked for {', '.join(WEIGHT_FILES)}.")

    def keys(self) -> list[str]:
        return list(self.shard_of)

    def _file(self, name: str) -> tuple[str, Path]:
        shard = self.shard_of[name]
        path = self.fetch(shard)
        if path is None:
            raise SourceError(f"{self.where} lists {name} in {shard}, but {shard} is missing; download it.")
        return shard, path

    def _bin_tensor(self, shard: str, path: Path, name: str):
        if shard not in self._bin:
            self._bin[shard] = _load_bin(path)
        return self._bin[shard][name]  # memory-mapped: its shape is known before its data is read

    def shape(self, name: str) -> tuple[int, ...]:
        """The tensor's shape, from its file's header (nothing of its data read)."""
        shard, path = self._file(name)
        if shard.endswith(".safetensors"):
            return safetensors_header(path)[name].shape
        return tuple(self._bin_tensor(shard, path, name).shape)

    def read(self, name: str) -> tuple[np.ndarray, Path]:
        """The tensor as (rows, d) float32 and the file it came from."""
        shard, path = self._file(name)
        if shard.endswith(".safetensors"):
            return read_safetensors_tensor(path, name), path
        import torch

        tensor = self._bin_tensor(shard, path, name)
        check_memory(tuple(tensor.shape), path)
        return tensor.to(torch.float32).numpy(), path


def _commit_of(path: Path) -> str | None:
    """The commit hash when ``path`` lies in a Hugging Face cache snapshot (…/snapshots/<commit>/file)."""
    parent = path.parent
    return parent.name if parent.parent.name == "snapshots" else None


def _hub_error(name: str, err: Exception, cache_only: bool) -> SourceError:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if _offline():
        hint = ("HF_HUB_OFFLINE is set, so only your Hugging Face cache was searched: pass the model's local "
                "directory instead, or download it where the hub can be reached (`hf download ID`).")
    elif cache_only:
        hint = ("The hub cannot be reached from here, so only your Hugging Face cache was searched: download "
                "the checkpoint where the hub can be reached (`hf download ID`) and pass its local directory.")
    else:
        hint = ("If the hub cannot be reached from here, download the checkpoint where it can (`hf download ID`) "
                "and pass its local directory instead, or, if it is already in your Hugging Face cache, "
                "set HF_HUB_OFFLINE=1.")
    return SourceError(
        f"'{name}' is not a built-in model, an existing file or directory, or a Hugging Face model that "
        f"could be loaded ({first}). {hint} Run `models` to list the built-in models."
    )


def load_hf(
    name: str,
    *,
    revision: str | None = None,
    tensor: str | None = None,
    trust_remote_code: bool = False,
) -> ModelData:
    """Read the input embedding and tokenizer of a Hugging Face checkpoint (hub id or local directory).

    Rows past the tokenizer's size (mT5: 250112 rows for 250100 tokens) are kept, as flagged special
    ``<unused 250100>`` tokens. ``tensor`` names the embedding tensor when it cannot be found.
    Remote code runs only when ``trust_remote_code`` is set.
    """
    from transformers import AutoConfig, AutoTokenizer

    local = Path(name).is_dir()
    where = str(Path(name).resolve()) if local else f"hub:{name}"
    cache_only = not local and (_offline() or not hub_reachable())
    fetch = _dir_fetcher(Path(name)) if local else _hub_fetcher(name, revision, cache_only)
    hub_args = {} if local else {"revision": revision, "local_files_only": cache_only}
    try:
        config = AutoConfig.from_pretrained(name, trust_remote_code=trust_remote_code, **hub_args)
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code, **hub_args)
    except (OSError, ValueError) as err:
        if not local:
            raise _hub_error(name, err, cache_only) from None
        hint = " Pass --trust-remote-code if you trust its code." if "trust_remote_code" in str(err) else ""
        raise SourceError(f"Cannot load the config or tokenizer of {where}: {err}{hint}") from None
    except Exception as err:  # hub client errors (validation, gated repos) that transformers passes on
        raise _hub_error(name, err, cache_only) from None

    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise SourceError(
            f"The tokenizer of {where} ({type(tokenizer).__name__}) has no fast (tokenizers) backend; "
            "save it with a tokenizer.json (AutoTokenizer.from_pretrained(...).save_pretrained(dir))."
        )

    weights = _Weights(where, fetch)
    keys = weights.keys()
    if tensor is not None:
        if tensor not in weights.shard_of:
            near = [k for k in keys if "emb" in k or "wte" in k or "shared" in k][:8]
            raise SourceError(f"No tensor named {tensor!r} in {where}; tensors that look like embeddings: {near}.")
        key = tensor
    else:
        candidates = embedding_candidates(config, trust_remote_code)
        key = match_tensor_name(candidates, keys)
        if key is None:
            raise SourceError(
                f"No input-embedding tensor found in {where} (looked for {', '.join(candidates)} and their "
                f"prefixed forms among {len(keys)} tensors). Pass --tensor NAME."
            )

    shape = weights.shape(key)  # checked against the tokenizer before the tensor is read
    if len(shape) != 2:
        raise SourceError(f"Tensor {key} in {where} has shape {shape}, not (vocab, dim); pass --tensor NAME.")
    pieces, kind, special = describe_tokenizer(tokenizer.backend_tokenizer)
    try:
        vocab = build_vocabulary(pieces, kind, [*special, *tokenizer.all_special_ids], n_rows=shape[0])
    except ValueError as err:
        raise SourceError(f"{where}: {err}.") from None
    matrix, path = weights.read(key)
    revision_id = _commit_of(path) or "sha256:" + hashlib.sha256(matrix.tobytes()).hexdigest()
    return ModelData(
        vocab=vocab,
        embeddings=matrix,
        metadata={
            "id": name,
            "source": "huggingface",
            "revision": revision_id,
            "origin": str(path),
            "tensor": key,
            "tokenizer": kind,
            "architecture": type(config).__name__.removesuffix("Config"),
        },
        encode=partial(tokenizer.encode, add_special_tokens=False),
        tokenizer=tokenizers_file(tokenizer.backend_tokenizer),
    )
