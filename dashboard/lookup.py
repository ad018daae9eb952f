"""Reading what the user typed on the Neighbours page: a word, a piece, a token id, or an expression.

Pure functions over a ``text -> id`` mapping, a word splitter and a vector getter, testable without
Streamlit or an index. How a query is read (the page's help text says the same):

- a **word** (``when``, ``नमस्ते``) goes through each model's own tokenizer (precompute.contract.tokenizer): one
  piece is looked up in the exact table, several pieces are shown with the mean of their vectors;
  a model without a tokenizer looks the text up as a piece, with ``▁`` first (:func:`find_token`);
- a **piece** typed with SentencePiece's ``▁`` (``▁when``) is looked up by its text, also in other
  cases (:func:`variants`); in double quotes (``"when"``, ``"-"``, ``"("``) exactly as typed, so that
  a word-internal piece, or a piece that is itself an operator or a bracket, stays reachable;
- ``id:16006`` is the token of that id (:func:`parse_id`), for texts that hide characters (``",\u200e"``
  looks like ``","``) or are white space that typing cannot reach;
- an **expression** (``king - man + woman``, ``mean(dog, Hund)``) combines any of these as terms
  (:func:`parse_expression`); malformed input is refused with the reason, never read half-way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboard.wordpieces import WordSplit
from precompute.contract.categories import BOUNDARY

#: How a query names a token by id. Not ``#16006``: vocabularies have tokens such as ``#1``.
ID_PREFIX = "id:"
_ID = re.compile(rf"^\s*{ID_PREFIX}\s*(\d+)\s*$", re.IGNORECASE)
#: How a query names a piece exactly as typed: in double quotes.
QUOTE = '"'
#: The operators of an expression: a lone ``+`` or ``-`` (``e-mail`` and ``-ish`` are terms).
OPERATORS = ("+", "-")
#: One lexeme of a query: white space, a quoted piece (closed or not), an id, ``mean(``, a bracket, a comma,
#: or a run of anything else (a word, a piece or an operator).
_LEXEME = re.compile(
    r"""(?P<space>\s+)|(?P<quoted>"[^"]*")|(?P<unclosed>"[^"]*$)|(?P<id>id:\s*\d+(?=[\s(),]|$))"""
    r"""|(?P<mean>mean\()|(?P<open>\()|(?P<close>\))|(?P<comma>,)|(?P<word>[^\s(),"]+)""",
    re.IGNORECASE,
)


def parse_id(query: str) -> int | None:
    """The token id a query asks for (``id:16006``), else None (the query is a text or an expression).

    >>> parse_id("id:16006"), parse_id(" ID: 7 "), parse_id("idiom")
    (16006, 7, None)
    """
    match = _ID.match(query)
    return int(match.group(1)) if match else None


def quoted(query: str) -> str | None:
    """The piece a query names in double quotes (``"when"`` -> ``when``), else None.

    >>> quoted('"-"'), quoted(' "when" '), quoted("when")
    ('-', 'when', None)
    """
    q = query.strip()
    return q[1:-1] if len(q) >= 3 and q[0] == q[-1] == QUOTE and QUOTE not in q[1:-1] else None


def is_piece_query(query: str) -> bool:
    """Whether a query names a piece (with ``▁``, in quotes, or by id) rather than a word to split."""
    return BOUNDARY in query or quoted(query) is not None or parse_id(query) is not None


def query_for(index: Mapping[str, int], text: str, token_id: int) -> str:
    """The query that finds exactly this token on the Neighbours page: its text when it carries ``▁``
    and a lookup by text finds it, else the text in quotes when that is exact, else ``id:N``.

    A bare text would be read as a word and split by the model's tokenizer (``when`` finds ``▁when``),
    so a word-internal piece is quoted. A text with surrounding white space (``"\r"``), a quote, or a
    duplicate (a case variant) opens by id.
    """
    if BOUNDARY in text and find_token(index, text) == (token_id, text):
        return text
    if text and text == text.strip() and QUOTE not in text and index.get(text) == token_id:
        return f"{QUOTE}{text}{QUOTE}"
    return f"{ID_PREFIX}{token_id}"


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

    ``word_first`` tries the word-start form (``▁king``) before the literal one: where no tokenizer
    says what a word is, a term means a word, and the bare text is often a word-internal piece
    (``king`` of ``making``).
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


#: How a term names its token(s): a word (split by each model's tokenizer), a piece text, an exact
#: (quoted) piece text, an id.
WORD, PIECE, EXACT, ID = "word", "piece", "exact piece", "id"


@dataclass(frozen=True)
class Atom:
    """One token or word a query names, as typed (``text``) and how (:data:`WORD` … :data:`ID`)."""

    text: str
    kind: str = WORD

    @classmethod
    def of(cls, typed: str) -> Atom:
        """How a typed term reads: ``id:7``, ``"-"``, ``▁when`` or a word.

        >>> Atom.of('"("'), Atom.of("▁when").kind, Atom.of("when").kind
        (Atom(text='(', kind='exact piece'), 'piece', 'word')
        """
        if parse_id(typed) is not None:
            return cls(typed.strip(), ID)
        if (exact := quoted(typed)) is not None:
            return cls(exact, EXACT)
        return cls(typed.strip(), PIECE if BOUNDARY in typed else WORD)

    def shown(self) -> str:
        """The atom as the user typed it."""
        return f"{QUOTE}{self.text}{QUOTE}" if self.kind == EXACT else self.text


@dataclass(frozen=True)
class Term:
    """One term of an expression: +1 or -1 times the mean of one or more atoms' vectors."""

    sign: int
    atoms: tuple[Atom, ...]


def _lexemes(text: str) -> list[tuple[str, str]]:
    """(kind, text) of each lexeme but white space; an operator is a ``word`` lexeme ``+`` or ``-``."""
    out = []
    for m in _LEXEME.finditer(text):
        kind = m.lastgroup or "word"
        if kind == "word" and m.group() in OPERATORS:
            kind = "operator"
        if kind != "space":
            out.append((kind, m.group()))
    return out


def is_expression(query: str) -> bool:
    """Whether a query is arithmetic (answered by the Annoy index) rather than one word, piece or id.

    A lone ``+`` or ``-`` between other lexemes, or ``mean(`` at the start, makes one; ``-`` alone,
    ``e-mail`` and ``"a - b"`` (quoted) do not.
    """
    lexemes = _lexemes(query)
    return (len(lexemes) > 1 and any(kind == "operator" for kind, _ in lexemes)) or \
        bool(lexemes and lexemes[0][0] == "mean")


#: Why a lexeme cannot stand where it stands, by its kind (the parser adds where).
_QUOTE_HINT = 'put a piece that is itself an operator, a bracket or a comma in quotes ("-", "(", ",") or use id:N'


def parse_expression(expression: str) -> list[Term]:
    """Split ``a - b + c`` into signed terms; ``mean(a, b, c)`` is one term averaging several atoms.

    An operator is a lone ``+`` or ``-``; the first term may carry one. Raises ValueError saying what
    is wrong and where, one rule per message: two operators in a row, an operator with nothing after
    it, two terms with no operator between them, an unclosed ``mean(`` or quote, a bracket or a comma
    outside ``mean(…)``, an empty ``mean()`` item.

    >>> parse_expression("king - man + woman")[1]
    Term(sign=-1, atoms=(Atom(text='man', kind='word'),))
    >>> [t.sign for t in parse_expression("- a + mean(b, c)")], parse_expression('mean(b, "-")')[0].atoms[1].kind
    ([-1, 1], 'exact piece')
    """
    lexemes = _lexemes(expression)
    if not lexemes:
        raise ValueError("the expression is empty")
    terms: list[Term] = []
    sign, operator = 1, None  # the sign of the next term, and the operator that set it
    i = 0
    while i < len(lexemes):
        kind, text = lexemes[i]
        if kind == "unclosed":
            raise ValueError(f"the quote in {text!r} is not closed")
        if kind == "operator":
            if operator is not None:
                raise ValueError(f"two operators in a row: `{operator} {text}` (to look up the piece {text}, "
                                 f'write it in quotes: "{text}")')
            sign, operator = (-1 if text == "-" else 1), text
            i += 1
            continue
        if kind == "open":
            raise ValueError(f"a bracket `(` that is not `mean(`: brackets only hold the items of mean(…); "
                             f"{_QUOTE_HINT}")
        if kind == "close":
            raise ValueError(f"a bracket `)` closes nothing; {_QUOTE_HINT}")
        if kind == "comma":
            raise ValueError(f"a comma outside mean(…); {_QUOTE_HINT}")
        if terms and operator is None:
            raise ValueError(f"two terms with no operator between them: `{_shown_lexeme(lexemes[i - 1])} "
                             f"{text}` (put + or - between them, or write a piece that holds a space in quotes)")
        if kind == "mean":
            atoms, i = _mean_items(lexemes, i + 1, text)
            terms.append(Term(sign, atoms))
        else:  # a word, a quoted piece, an id
            terms.append(Term(sign, (Atom.of(text),)))
            i += 1
        sign, operator = 1, None
    if operator is not None:
        raise ValueError(f"the operator `{operator}` at the end has nothing after it")
    return terms


def _shown_lexeme(lexeme: tuple[str, str]) -> str:
    return "mean(…)" if lexeme[0] in ("mean", "close") else lexeme[1]


def _mean_items(lexemes: list[tuple[str, str]], i: int, opened: str) -> tuple[tuple[Atom, ...], int]:
    """The atoms of ``mean(a, b, …)`` from lexeme ``i`` (just after ``mean(``), and where its ``)`` ends."""
    atoms: list[Atom] = []
    expecting_item = True
    while i < len(lexemes):
        kind, text = lexemes[i]
        if kind == "close":
            if not atoms:
                raise ValueError(f"{opened}) holds no token: name one or more, separated by commas")
            if expecting_item:
                raise ValueError(f"an empty item in {opened}…): every item between commas names a token")
            return tuple(atoms), i + 1
        if kind == "comma":
            if expecting_item:
                raise ValueError(f"an empty item in {opened}…): every item between commas names a token")
            expecting_item = True
        elif kind in ("quoted", "id", "word"):
            if not expecting_item:
                raise ValueError(f"two items with no comma between them in {opened}…): `{atoms[-1].shown()} {text}`")
            atoms.append(Atom.of(text))
            expecting_item = False
        elif kind == "operator":
            raise ValueError(f"an operator `{text}` inside {opened}…): mean(…) averages tokens, it holds no "
                             f'arithmetic (to average the piece {text}, write it in quotes: "{text}")')
        elif kind == "unclosed":
            raise ValueError(f"the quote in {text!r} is not closed")
        else:  # mean( or ( inside mean(
            raise ValueError(f"a bracket `{text}` inside {opened}…): mean(…) does not nest; {_QUOTE_HINT}")
        i += 1
    raise ValueError(f"the bracket of `{opened}` is not closed: end it with `)`")


@dataclass(frozen=True)
class Found:
    """How one atom resolved in one model: the token rows it stands for, their texts, how it was read."""

    atom: Atom
    rows: tuple[int, ...]
    texts: tuple[str, ...]
    how: str


def resolve(atom: Atom, index: Mapping[str, int], texts: Sequence[str],
            split: Callable[[str], WordSplit] | None) -> Found | None:
    """The token(s) ``atom`` names in one model, or None when it has none.

    ``index`` maps token text -> id (specials left out), ``texts`` holds every id's text, ``split`` is
    the model's tokenizer (:func:`dashboard.wordpieces.split_word` bound to it; None: the model has
    none, and a word is looked up by its text, ``▁`` form first). A word of several pieces stands for
    all of them (its vector: their mean, :func:`unit_mean`); unknown pieces (``<unk>``) and the lone
    word-start mark ``▁`` are left out (:attr:`WordSplit.usable`), and a word with nothing left is not found.
    """
    if atom.kind == ID:
        token_id = parse_id(atom.text)
        if token_id is None or not 0 <= token_id < len(texts):
            return None
        return Found(atom, (token_id,), (str(texts[token_id]),), "id")
    if atom.kind == EXACT:
        token_id = index.get(atom.text)
        return None if token_id is None else Found(atom, (token_id,), (atom.text,), "exact piece")
    if atom.kind == PIECE or split is None:
        found = find_token(index, atom.text, word_first=True)
        if found is None:
            return None
        return Found(atom, (found[0],), (found[1],), "piece text" if atom.kind == PIECE else "text (no tokenizer)")
    pieces = split(atom.text)
    if not pieces.known:
        return None
    rows = pieces.usable
    shown = dict(zip(pieces.rows, pieces.texts, strict=True))
    how = "word, 1 piece" if len(rows) == 1 else f"word, {len(rows)} pieces (their mean)"
    if len(rows) < len(pieces.rows):
        how += f"; of {pieces.label()}, {len(pieces.rows) - len(rows)} left out"
    return Found(atom, rows, tuple(shown[r] for r in rows), how)


def unit_mean(rows: Sequence[int], vector: Callable[[int], np.ndarray]) -> np.ndarray | None:
    """The mean of the rows' unit vectors, (d,) float64; None when every row is a zero vector.

    Unit vectors, so that each piece (or token) weighs the same whatever its norm: the analogy convention.
    """
    units = []
    for row in rows:
        v = np.asarray(vector(row), dtype=np.float64)
        norm = np.linalg.norm(v)
        if norm > 0:
            units.append(v / norm)
    return np.mean(units, axis=0) if units else None


@dataclass(frozen=True)
class Resolved:
    """An expression's vector (None when a term is missing or it cancels out), every row that built it
    (left out of the answer), what each atom resolved to, and the atoms not found."""

    vector: np.ndarray | None
    found: tuple[Found, ...]
    ids: tuple[int, ...]
    missing: tuple[str, ...]

    @property
    def used(self) -> dict[str, str]:
        """Each typed atom and the piece(s) it became (``{"king": "▁king", "नमस्ते": "▁नम स्ते"}``)."""
        return {f.atom.shown(): " ".join(f.texts) for f in self.found}


def expression_vector(terms: list[Term], resolver: Callable[[Atom], Found | None],
                      vector: Callable[[int], np.ndarray]) -> Resolved:
    """Sum of signed term vectors, each the mean of its atoms' unit vectors (the analogy convention).

    ``resolver`` is :func:`resolve` bound to one model; a word of several pieces counts as one atom,
    the mean of its pieces' unit vectors scaled back to unit length (it stands for one word).
    ``vector(row)`` returns a token's embedding. A missing atom makes ``vector`` None.
    """
    found: list[Found] = []
    missing: list[str] = []
    total: np.ndarray | None = None
    for term in terms:
        units = []
        for atom in term.atoms:
            hit = resolver(atom)
            if hit is None:
                missing.append(atom.shown())
                continue
            found.append(hit)
            mean = unit_mean(hit.rows, vector)
            if mean is not None and np.linalg.norm(mean) > 0:
                units.append(mean / np.linalg.norm(mean))
        if units:
            part = term.sign * np.mean(units, axis=0)
            total = part if total is None else total + part
    ids = tuple(dict.fromkeys(r for f in found for r in f.rows))
    if missing or total is None or not np.any(total):
        return Resolved(None, tuple(found), ids, tuple(missing))
    return Resolved(total.astype(np.float32), tuple(found), ids, tuple(missing))


def piece_warning(found: Found, index: Mapping[str, int], model: str) -> str | None:
    """What a reader must know about a word term that ``model`` reads as several pieces, else None.

    A word of letter pieces only (``qqqzzzx`` → ``▁q·q·q·z·z·z·x``) is no word of the vocabulary: its vector
    is the mean of letters. A word of several longer pieces (``paris`` → ``▁par·is``) is another vector than
    the word's own token, which the vocabulary may hold in another case (``▁Paris``): that form is offered.

    >>> piece_warning(Found(Atom("paris"), (1, 2), ("▁par", "is"), "word, 2 pieces"), {"▁Paris": 9}, "m")
    'm reads `paris` as 2 pieces (▁par · is), not as one token; as one piece it has `▁Paris`: type that term instead.'
    """
    if found.atom.kind != WORD or len(found.rows) < 2:
        return None
    pieces = " · ".join(found.texts)
    if all(len(t.replace(BOUNDARY, "")) <= 1 for t in found.texts):
        return (f"{model} has `{found.atom.text}` only as single letters ({pieces}): it is no word of this "
                "vocabulary, and the term stands for the mean of those letters.")
    one = find_token(index, found.atom.text, word_first=True)
    offer = (f"; as one piece it has `{one[1]}`: type that term instead" if one and one[1].startswith(BOUNDARY)
             else "; it has no one-piece form of it")
    return f"{model} reads `{found.atom.text}` as {len(found.rows)} pieces ({pieces}), not as one token{offer}."


def resolution_rows(terms: list[Term], resolved: Resolved, model: str) -> list[dict[str, object]]:
    """One row per atom of ``terms`` in one model: the term as typed, its sign, how it was read, the
    piece(s) and id(s) it became ("not found" when none): the table that shows how an expression read."""
    by_atom = {f.atom: f for f in resolved.found}
    rows = []
    for term in terms:
        for atom in term.atoms:
            hit = by_atom.get(atom)
            rows.append({"model": model, "term": atom.shown(), "sign": "−" if term.sign < 0 else "+",
                         "read as": hit.how if hit else "not found",
                         "pieces": " · ".join(hit.texts) if hit else "",
                         "ids": ", ".join(map(str, hit.rows)) if hit else ""})
    return rows


def resolution_table(rows: list[dict[str, object]]) -> pd.DataFrame:
    """:func:`resolution_rows` of several models as one compact table: a row per term (as typed, with its
    sign), a column per model, each cell the piece(s) and id(s) the term became there, and how it was read
    when that was not one piece (``▁नम · स्ते (68700, 97883); word, 2 pieces (their mean)``).

    >>> resolution_table([{"model": "m", "term": "king", "sign": "+", "read as": "word, 1 piece",
    ...                    "pieces": "▁king", "ids": "7"}]).to_dict("records")
    [{'±': '+', 'term': 'king', 'm': '▁king (7)'}]
    """
    if not rows:
        return pd.DataFrame(columns=["±", "term"])
    df = pd.DataFrame(rows)
    one = df["read as"] == "word, 1 piece"
    df["cell"] = (df["pieces"] + " (" + df["ids"] + ")").where(df["pieces"] != "", "not found")
    df.loc[~one & (df["pieces"] != ""), "cell"] += "; " + df["read as"]
    df["at"] = df.groupby("model", sort=False).cumcount()  # the atom's place in the expression
    table = df.pivot(index=["at", "sign", "term"], columns="model", values="cell")
    table = table[list(dict.fromkeys(df["model"]))].reset_index().drop(columns="at")
    table.columns.name = None
    return table.rename(columns={"sign": "±"})
