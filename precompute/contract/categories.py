"""The paper's token-category ("writing system") rule, and the category lists every module imports.

METHODS.md §2: each character gets a label — the first word of its Unicode name for letters
(``LATIN``, ``CJK``, ``HIRAGANA`` …), else the first letter of its general category (``N``, ``P``,
``S``, ``M``, ``C``, ``Z``); the token's category is the most common label, ties going to the label
seen first. The paper ran the rule on the raw vocabulary string, where the word-boundary mark
(a symbol) counts, so ``▁a`` is S; we strip the mark first, so ``▁a`` is LATIN. Both are kept
(``precompute.contract.conventions``): the token table's ``category_paper`` and ``category``.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from functools import lru_cache

import numpy as np

from precompute.contract.conventions import PAPER, REFINED

#: The word-boundary mark SentencePiece writes, and that we write for every tokenizer (METHODS §1).
BOUNDARY = "\u2581"

#: The 13 writing systems the paper plots, in the paper's order.
WRITING_SYSTEMS: tuple[str, ...] = (
    "LATIN", "CYRILLIC", "CJK", "ARABIC", "GREEK", "HIRAGANA", "THAI", "HEBREW",
    "HANGUL", "KATAKANA", "TAMIL", "GEORGIAN", "DEVANAGARI",
)
#: What the paper's figures show: the 13 writing systems plus symbols and numbers.
PLOTTED: tuple[str, ...] = WRITING_SYSTEMS + ("S", "N")
#: Category of a token with no characters (empty after stripping the boundary mark).
UNKNOWN = "Unknown"
#: Bucket for every category outside PLOTTED, in charts.
OTHER = "other"

#: Language implied by a script that (nearly) only one language writes; the fallback language guess.
SCRIPT_LANGUAGE: dict[str, str] = {
    "HANGUL": "ko", "HIRAGANA": "ja", "KATAKANA": "ja", "THAI": "th", "HEBREW": "he",
    "GREEK": "el", "GEORGIAN": "ka", "TAMIL": "ta", "ARMENIAN": "hy", "KHMER": "km", "LAO": "lo",
    "MYANMAR": "my", "SINHALA": "si", "ETHIOPIC": "am", "GUJARATI": "gu", "GURMUKHI": "pa",
    "KANNADA": "kn", "MALAYALAM": "ml", "TELUGU": "te", "ORIYA": "or", "TIBETAN": "bo",
}


@lru_cache(maxsize=65536)
def char_label(ch: str) -> str:
    """The paper's label of one character: a script name for letters, a category letter otherwise.

    >>> char_label("a"), char_label("ア"), char_label("東"), char_label("7"), char_label("。")
    ('LATIN', 'KATAKANA', 'CJK', 'N', 'P')
    """
    general = unicodedata.category(ch)
    if general.startswith("L"):
        name = unicodedata.name(ch, "")
        return name.split(" ", 1)[0] if name else "L"
    return general[0]


def strip_boundary(text: str) -> str:
    """The token text without word-boundary marks, as categories and dictionaries see it."""
    return text.replace(BOUNDARY, "")


def token_category(text: str, convention: str = REFINED) -> str:
    """Category of one token's surface text under ``convention`` (see the module docstring).

    >>> token_category("▁a"), token_category("▁a", "paper"), token_category("アメリカ"), token_category("")
    ('LATIN', 'S', 'KATAKANA', 'Unknown')
    """
    labels = [char_label(ch) for ch in (text if convention == PAPER else strip_boundary(text))]
    if not labels:
        return UNKNOWN
    counts = Counter(labels)  # insertion-ordered, so max() keeps the first label among ties
    return max(counts, key=counts.__getitem__)


def token_categories(texts: list[str], convention: str = REFINED) -> np.ndarray:
    """Categories of many tokens under ``convention``, as an object array aligned with ``texts``."""
    return np.array([token_category(t, convention) for t in texts], dtype=object)


def display_category(category: str) -> str:
    """The category as charts colour it: itself if the paper plots it, else ``other``."""
    return category if category in PLOTTED else OTHER
