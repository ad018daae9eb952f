"""A typed word split into one model's pieces by that model's own tokenizer (its ``schema.TOKENIZER`` artifact).

Why: a word's text is not a piece's text. ``when`` is the word-internal piece ``when`` in
use-multilingual-v3's vocabulary and the word-initial ``▁when`` in its tokenizer's split; ``नमस्ते`` is
two pieces in multilingual-e5-small and seven in wordllama-l2. Looking a word up by text finds the
wrong piece, or none; the tokenizer says what the model would see. Pure functions over the reader of
``precompute.contract.tokenizer`` and the token table's columns, testable without Streamlit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from precompute.contract.categories import BOUNDARY
from precompute.contract.tokenizer import Encoder


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
    def marks(self) -> tuple[bool, ...]:
        """Which pieces are the word-start mark ``▁`` alone: SentencePiece puts one before a word it spells
        piece by piece (``नमस्ते`` in Llama-2, ``😀`` in use-multilingual-v3). It says where a word starts,
        not which word, so it is left out of the word's vector (its neighbours are every word's)."""
        return tuple(t == BOUNDARY for t in self.texts)

    @property
    def usable(self) -> tuple[int, ...]:
        """The rows of the pieces that stand for the word: not unknown, not the lone word-start mark (when
        other pieces are left), in order."""
        content = [not u and not m for u, m in zip(self.unknown, self.marks, strict=True)]
        if not any(content):  # the mark alone is all there is (a word typed as "▁" is a piece query anyway)
            content = [not u for u in self.unknown]
        return tuple(r for r, c in zip(self.rows, content, strict=True) if c)

    @property
    def one(self) -> int | None:
        """The row of the one piece that stands for the word (looked up in the exact table), else None."""
        return self.usable[0] if self.known and len(self.usable) == 1 else None

    def one_label(self) -> str:
        """How the caption says that one piece stands for the word: ``one piece``, or the split and what
        was left out (``▁ · <unk> · x: one piece left``)."""
        return "one piece" if len(self.rows) == 1 else f"{self.label()}: one piece left"

    @property
    def known(self) -> bool:
        """Whether some piece other than the lone word-start mark stands for the word."""
        return any(not u and not m for u, m in zip(self.unknown, self.marks, strict=True))

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
        n = len(self.usable)
        unknown, marks = sum(self.unknown), sum(m and not u for m, u in zip(self.marks, self.unknown, strict=True))
        left_out = [f"{unknown} unknown piece{'s' if unknown > 1 else ''}"] if unknown else []
        left_out += [f"the lone {BOUNDARY}"] if marks and self.known else []
        return (f"mean of {n} piece{'s' if n > 1 else ''}, approximate (Annoy)"
                + (f"; {' and '.join(left_out)} left out" if left_out else ""))


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
