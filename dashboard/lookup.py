"""Finding tokens by text or id, and reading vector expressions such as ``king - man + woman``.

Pure functions over a ``text -> id`` mapping and a vector getter, so they are testable without
Streamlit or an index. A term is a token text; because users rarely type SentencePiece's ``▁``
or the exact case, each term is tried as given, with ``▁``, and in case variants (:func:`variants`).
A text can hide characters (``",\u200e"`` looks like ``","``) or be white space that typing cannot
reach, so every token can also be looked up by its id: ``id:16006`` (:func:`parse_id`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from precompute.categories import BOUNDARY

#: An operator is a + or - with white space on both sides, so tokens like "-" or "e-mail" stay terms.
_OPERATOR = re.compile(r"\s+([+-])\s+")
_MEAN = re.compile(r"^mean\((.*)\)$", re.IGNORECASE | re.DOTALL)
#: How a query names a token by id. Not ``#16006``: vocabularies have tokens such as ``#1``.
ID_PREFIX = "id:"
_ID = re.compile(rf"^\s*{ID_PREFIX}\s*(\d+)\s*$", re.IGNORECASE)


def parse_id(query: str) -> int | None:
    """The token id a query asks for (``id:16006``), else None (the query is a text or an expression).

    >>> parse_id("id:16006"), parse_id(" ID: 7 "), parse_id("idiom")
    (16006, 7, None)
    """
    match = _ID.match(query)
    return int(match.group(1)) if match else None


def query_for(index: Mapping[str, int], text: str, token_id: int) -> str:
    """The query that finds exactly this token: its text when a lookup by text finds it, else ``id:N``.

    A text with surrounding white space (``"\r"``) or one whose case variant comes first finds
    another token by text; links and row selections then open the token by id.
    """
    return text if find_token(index, text) == (token_id, text) else f"{ID_PREFIX}{token_id}"


def variants(text: str) -> list[str]:
    """Spellings to try for a typed term, most literal first.

    >>> variants("när")
    ['när', '▁när', 'När', '▁När', 'NÄR', '▁NÄR']
    """
    bare = text.replace(BOUNDARY, "")
    forms = [text, bare, BOUNDARY + bare]
    for cased in (bare.lower(), bare.capitalize(), bare.upper()):
        forms += [cased, BOUNDARY + cased]
    return [f for f in dict.fromkeys(forms) if f]


def find_token(index: Mapping[str, int], text: str, word_first: bool = False) -> tuple[int, str] | None:
    """The id and stored text of the first spelling of ``text`` the vocabulary has, else None.

    ``word_first`` tries the word-start form (``▁king``) before the literal one: in an expression a
    term means a word, and the bare text is often a word-internal piece (``king`` of ``making``).
    """
    forms = variants(text.strip())
    if word_first and BOUNDARY not in text:
        forms = sorted(forms, key=lambda f: not f.startswith(BOUNDARY))  # stable: keeps the case order
    for form in forms:
        if form in index:
            return index[form], form
    return None


def prefix_matches(texts: np.ndarray, prefix: str, limit: int = 12) -> list[str]:
    """Token texts that start with ``prefix`` (with or without ``▁``), shortest first.

    ``texts`` is an array of token texts; vectorised, so it is fast on 250k tokens.
    """
    bare = prefix.strip().replace(BOUNDARY, "")
    if not bare:
        return []
    s = pd.Series(texts, dtype="string")
    stripped = s.str.replace(BOUNDARY, "", regex=False)
    hits = s[stripped.str.startswith(bare, na=False) | stripped.str.lower().str.startswith(bare.lower(), na=False)]
    order = hits.str.len().to_numpy().argsort(kind="stable")
    return list(dict.fromkeys(hits.iloc[order].astype(str)))[:limit]


@dataclass(frozen=True)
class Term:
    """One term of an expression: +1 or -1 times the mean of one or more tokens' vectors."""

    sign: int
    texts: tuple[str, ...]


def parse_expression(expression: str) -> list[Term]:
    """Split ``a - b + c`` into signed terms; ``mean(a, b, c)`` is one term averaging several tokens.

    >>> parse_expression("king - man + woman")
    [Term(sign=1, texts=('king',)), Term(sign=-1, texts=('man',)), Term(sign=1, texts=('woman',))]
    >>> parse_expression("mean(dog, Hund, perro) - mean(cat, Katze)")[1]
    Term(sign=-1, texts=('cat', 'Katze'))
    """
    text = expression.strip()
    sign = 1
    if text[:2] in ("- ", "+ "):
        sign, text = (-1 if text[0] == "-" else 1), text[2:]
    parts = _OPERATOR.split(text)
    terms = []
    for i in range(0, len(parts), 2):
        if i > 0:
            sign = -1 if parts[i - 1] == "-" else 1
        chunk = parts[i].strip()
        if not chunk:
            raise ValueError(f"an operator in {expression!r} has nothing after it")
        mean = _MEAN.match(chunk)
        texts = tuple(t.strip() for t in mean.group(1).split(",")) if mean else (chunk,)
        if not all(texts):
            raise ValueError(f"an empty token in mean(...) of {expression!r}")
        terms.append(Term(sign, texts))
    return terms


def is_expression(query: str) -> bool:
    """Whether a query is arithmetic (needs the Annoy index) rather than one token (exact table)."""
    q = query.strip()
    return bool(_OPERATOR.search(q) or _MEAN.match(q))


@dataclass(frozen=True)
class Resolved:
    """An expression's vector, the tokens that built it (left out of the answer), and what was not found."""

    vector: np.ndarray | None
    used: dict[str, str]
    ids: tuple[int, ...]
    missing: tuple[str, ...]


def expression_vector(terms: list[Term], index: Mapping[str, int], vector: Callable[[int], np.ndarray]) -> Resolved:
    """Sum of signed term vectors, each the mean of its tokens' unit vectors (the analogy convention).

    ``vector(id)`` returns a token's embedding; ``used`` maps each typed text to the token found.
    Missing tokens make ``vector`` None.
    """
    used: dict[str, str] = {}
    ids: list[int] = []
    missing: list[str] = []
    total: np.ndarray | None = None
    for term in terms:
        units = []
        for text in term.texts:
            found = find_token(index, text, word_first=True)
            if found is None:
                missing.append(text)
                continue
            token_id, form = found
            used[text] = form
            ids.append(token_id)
            v = np.asarray(vector(token_id), dtype=np.float64)
            norm = np.linalg.norm(v)
            units.append(v / norm if norm > 0 else v)
        if units:
            part = term.sign * np.mean(units, axis=0)
            total = part if total is None else total + part
    if missing or total is None or not np.any(total):
        return Resolved(None, used, tuple(ids), tuple(missing))
    return Resolved(total.astype(np.float32), used, tuple(ids), tuple(missing))
