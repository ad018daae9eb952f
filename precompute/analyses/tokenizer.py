"""The build step that writes a model's own tokenizer as an artifact (the format: :mod:`precompute.contract.tokenizer`,
which the dashboard reads)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np

from precompute.contract import schema
from precompute.contract.tokenizer import FORMAT, NONE, TOKENIZERS, VERSION
from precompute.sources.base import ModelData
from precompute.steps import BuildContext, FileWriter, Step


def tokenizer_document(model: ModelData) -> dict[str, Any]:
    """The JSON document of ``model``'s tokenizer (see the module docstring); kind "none" when it has none."""
    tk = model.tokenizer
    if tk is None:
        source = model.metadata.get("source", "this")
        return {"format": FORMAT, "version": VERSION, "kind": NONE,
                "why": f"a {source} source has a vocabulary file only",
                "data": None, "rows": None}
    raw = tk.read()
    data = raw.decode("utf-8") if tk.kind == TOKENIZERS else base64.b64encode(raw).decode("ascii")
    rows = None if tk.rows is None else np.asarray(tk.rows, dtype=np.int64).tolist()
    return {"format": FORMAT, "version": VERSION, "kind": tk.kind, "data": data, "rows": rows}


def tokenizer_writer(model: ModelData) -> FileWriter:
    """Writes ``schema.TOKENIZER``; the manifest records the kind beside the file."""

    def write(path: Path) -> dict[str, Any]:
        document = tokenizer_document(model)
        path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
        return {"kind": document["kind"]}

    return write


def _inputs(ctx: BuildContext) -> list[Any]:
    """What the file depends on beyond the vocabulary: the format, and the tokenizer's kind and origin
    (a package version or a hub commit), without building it."""
    tk = ctx.model.tokenizer
    return [FORMAT, VERSION, None if tk is None else tk.kind, ctx.model.metadata.get("revision")]


STEP = Step("tokenizer", writes=(schema.TOKENIZER,), inputs=_inputs, threads=1,
            compute=lambda ctx: {schema.TOKENIZER: tokenizer_writer(ctx.model)})
