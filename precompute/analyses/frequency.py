"""Token frequencies counted over a real corpus (``precompute frequency``; METHODS §4 "Frequency").

The paper ranks tokens by their counts in mC4. The token table's ``frequency`` column is only a
proxy (wordfreq, see ``precompute.analyses.language``); this module counts how often the model's own
tokenizer emits each id over a corpus: local text files, or a Hugging Face data set streamed
(e.g. ``allenai/c4`` with config ``sv``), read through ``datasets`` either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from precompute.sources.hf import hub_reachable

#: Texts encoded before their ids are counted together (one np.bincount per batch).
BATCH_TEXTS = 1024


def _local_files(corpus: str) -> list[str] | None:
    """The .txt files a local corpus argument names (a file, or a directory searched recursively)."""
    path = Path(corpus)
    if path.is_file():
        return [str(path)]
    if path.is_dir():
        files = sorted(str(p) for p in path.rglob("*.txt"))
        if not files:
            raise ValueError(f"no .txt file in {path}; pass text files or a directory holding them")
        return files
    return None


def corpus_texts(
    corpus: str,
    *,
    split: str = "train",
    text_column: str = "text",
    limit: int | None = None,
    config_name: str | None = None,
) -> Iterator[str]:
    """Stream the texts of a corpus: a local text file or directory of .txt files (one text per
    line), or a Hugging Face data set id such as ``allenai/c4`` (with ``config_name="sv"``).

    Nothing is downloaded whole: the data set is streamed, and ``limit`` stops after that many
    texts. Raises ValueError, naming what to pass instead, when the hub cannot be reached.
    """
    import datasets  # heavy; only this command needs it

    if limit is not None and limit < 1:
        raise ValueError(f"limit must be positive, got {limit}")
    files = _local_files(corpus)
    if files is None and not hub_reachable():
        raise ValueError(_unreachable(corpus, "no connection to the hub"))
    try:
        if files is not None:
            stream = datasets.load_dataset("text", data_files={split: files}, split=split, streaming=True)
        else:
            stream = datasets.load_dataset(corpus, config_name, split=split, streaming=True)
    except (ConnectionError, OSError, FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as err:
        raise ValueError(_unreachable(corpus, f"{type(err).__name__}: {err}")) from err
    columns = stream.column_names
    if columns is not None and text_column not in columns:
        raise ValueError(f"corpus {corpus!r} has no column {text_column!r}; its columns: {columns}. "
                         "Pass --text-column NAME.")
    return islice((row[text_column] for row in stream), limit)


def _unreachable(corpus: str, why: str) -> str:
    return (
        f"could not open corpus {corpus!r}: it is no local file or directory, and the Hugging Face "
        f"hub could not provide it ({why}). Without network access pass local text files instead: "
        "--corpus path/to/file.txt or a directory of .txt files."
    )


def count_tokens(
    encode: Callable[[str], list[int]], texts: Iterable[str], vocab_size: int, progress: bool = True
) -> np.ndarray:
    """(vocab_size,) int64: how often ``encode`` emits each id over ``texts``.

    ``encode`` maps one text to its token ids (e.g. ``lambda t: tok.encode(t, add_special_tokens=False)``).
    Ids are counted per batch of ``BATCH_TEXTS`` texts with one ``np.bincount``. An id outside
    0..vocab_size-1 means the tokenizer does not belong to this vocabulary: ValueError.
    """
    counts = np.zeros(vocab_size, dtype=np.int64)
    batch: list[list[int]] = []

    def flush() -> None:
        ids = np.fromiter((i for ids in batch for i in ids), dtype=np.int64)
        batch.clear()
        if ids.size == 0:
            return
        if ids.min() < 0 or ids.max() >= vocab_size:
            bad = ids[(ids < 0) | (ids >= vocab_size)][0]
            raise ValueError(
                f"the tokenizer emitted id {bad}, outside the vocabulary of {vocab_size} ids: "
                "count with the tokenizer of the model whose artifacts you update"
            )
        counts[:] += np.bincount(ids, minlength=vocab_size)

    for text in tqdm(texts, desc="counting tokens", unit=" texts", disable=not progress):
        batch.append(encode(text))
        if len(batch) >= BATCH_TEXTS:
            flush()
    flush()
    return counts


def frequency_table(counts: np.ndarray) -> pd.DataFrame:
    """schema.CORPUS_FREQUENCY: one row per id, ``id`` (int32) and ``count`` (int64)."""
    return pd.DataFrame({"id": np.arange(len(counts), dtype=np.int32), "count": np.asarray(counts, np.int64)})
