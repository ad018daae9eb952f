"""A typed word split into one model's pieces by that model's own tokenizer (its ``schema.TOKENIZER`` artifact).

Why: a word's text is not a piece's text. ``when`` is the word-internal piece ``when`` in
use-multilingual-v3's vocabulary and the word-initial ``▁when`` in its tokenizer's split; ``नमस्ते`` is
two pieces in multilingual-e5-small and seven in wordllama-l2. Looking a word up by text finds the
wrong piece, or none; the tokenizer says what the model would see. Pure functions over the reader of
``precompute.tokenizer`` and the token table's columns, testable without Streamlit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from precompute.tokenizer import Encoder


@dataclass(frozen=True)
class WordSplit:
    """How one model's tokenizer splits a word: each piece's token row (-1: the matrix has none) and text
    (the token table's, else the tokenizer's own), and which pieces carry no vector of the word's: a
    special piece such as ``<unk>`` or ``[UNK]`` (the vocabulary has no piece for that part), or no row."""

    word: str
    rows: tuple[int, ...]
    texts: tuple[str, ...]
    unknown: tuple[bool, ...]

    @property
    def usable(self) -> tuple[int, ...]:
        """The rows of the pieces that stand for the word (unknown ones left out)."""
        return tuple(r for r, u in zip(self.rows, self.unknown, strict=True) if not u)

    @property
    def one(self) -> int | None:
        """The row of the word when it is one known piece (looked up in the exact table), else None."""
        return self.rows[0] if len(self.rows) == 1 and not self.unknown[0] else None

    def why_unknown(self) -> str:
        """Why no piece stands for the word, when none does: the vocabulary has none (``<unk>``), or the
        pieces have no row in this build's matrix (a sample of a model's rows)."""
        if any(r >= 0 for r in self.rows):
            return "its vocabulary has no piece for it"
        return "none of these pieces is in this build's matrix"

    def label(self) -> str:
        """The split as a line: ``▁नम · स्ते``."""
        return " · ".join(self.texts)

    def mean_label(self) -> str:
        """What a neighbour list of the pieces' mean is, as its caption says it."""
        n, dropped = len(self.usable), len(self.rows) - len(self.usable)
        return (f"mean of {n} pieces, approximate (Annoy)"
                + (f"; {dropped} unknown piece{'s' if dropped > 1 else ''} left out" if dropped else ""))


def split_word(encoder: Encoder, word: str, texts: Sequence[str], special: np.ndarray) -> WordSplit:
    """``word`` (stripped) as ``encoder`` splits it, its pieces mapped to token rows.

    ``texts`` and ``special`` are the token table's ``text`` and ``is_special`` columns, (N,) each.
    A piece id the matrix lacks (beyond it, or left out of a sample) gets row -1 and counts as unknown.

    >>> split_word(wordllama, "नमस्ते", texts, special).texts   # doctest: +SKIP
    ('▁', 'न', 'म', 'स', '्', 'त', 'े')
    """
    rows, shown, unknown = [], [], []
    for piece in encoder.split(word.strip()):
        inside = 0 <= piece.row < len(texts)
        rows.append(piece.row if inside else -1)
        shown.append(str(texts[piece.row]) if inside else piece.piece)
        unknown.append(not inside or bool(special[piece.row]))
    return WordSplit(word.strip(), tuple(rows), tuple(shown), tuple(unknown))
