"""Neighbours: the k nearest neighbours of a word (split by each model's own tokenizer), a piece (``▁when``,
``"when"``, ``id:16006``: exact table) or a vector expression (Annoy), one column per model, neighbours that
several models share highlighted. How a query is read: dashboard.lookup."""

import functools
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import claims, data, lookup, state, tables, ui, wordpieces
from precompute.contract import paper, schema
from precompute.contract.categories import BOUNDARY

PAGE = {"title": "Neighbours", "url_path": "neighbours", "icon": ":material/hub:", "order": 40,
        "summary": "the nearest neighbours of any token, or of `king - man + woman`, in each model side by side",
        "needs": ("TOKENS", "NEIGHBORS", "SIMILARITIES", "ANNOY", "TOKENIZER")}

#: The poster's three examples (its Table 1): a Swedish word, a katakana loanword, a French word.
PRESETS = ("när", "アメリカ", "Comment")

#: The columns of a neighbour table; rank and token always shown, the others chosen (:data:`OPTIONAL`). The
#: token's column takes the width its texts need: a cut token cannot be told from its neighbours.
COLUMNS = {
    "rank": st.column_config.NumberColumn("#", width=28),
    "token": st.column_config.TextColumn("token"),
    "similarity": st.column_config.NumberColumn("sim", width=46, help="Cosine similarity"),
    "category": st.column_config.TextColumn("script·lang", width=86,
                                            help="Category (writing system) and guessed language"),
    "gloss": st.column_config.TextColumn("gloss", help="English gloss from the dictionary"),
}


#: The columns a reader may hide, by label; with three models or more only the similarity is shown at first,
#: so that each table has room for its tokens (four tables of five columns showed "LATIN·" and cut tokens).
OPTIONAL = {"sim": "similarity", "script·lang": "category", "gloss": "gloss"}
#: Models side by side in one row at most; more go two to a row.
MODELS_IN_ONE_ROW = 3


def compact(table: pd.DataFrame) -> pd.DataFrame:
    """The neighbour rows as shown: category and language in one column ("LATIN·sv"), the gloss last
    (only it may be cut), blank where a token has none. How many other models share a row is told
    by its shade (:func:`shade`), not a column."""
    language = table["language"].astype("string")
    category = table["category"].astype("string").str.cat(language, sep="·", na_rep="").str.rstrip("·")
    return table[["rank", "token", "similarity"]].assign(token=tables.visible_texts(table["token"]),
                                                         category=category,
                                                         gloss=table["gloss"].astype("string").fillna(""))


def looked_up(row: pd.Series, token_id: int) -> str:
    """The caption over a model's neighbours: the token (invisible characters written out), its id and
    code points (to see and copy what it is made of), category, language, gloss."""
    return (f"{tables.visible(row['text'])} · id {token_id} · {tables.code_points(row['text'])} · {row['category']}"
            + (f" · {row['language']}" if pd.notna(row["language"]) else "")
            + (f" · “{row['gloss']}”" if pd.notna(row["gloss"]) else ""))


#: Row shades by how many other selected models list the same neighbour: none, one, two or more.
SHADES = ("", "background-color: #fff3bf", "background-color: #ffd43b")
#: How a neighbour outside the sidebar's categories is drawn: still listed (the list is the token's), greyed.
OUTSIDE = "color: #868e96; font-style: italic"


def shade(shared: pd.Series, outside: np.ndarray | None = None) -> np.ndarray:
    """Each row's style (applied to every column): its shade from how many other models share that row's
    token, greyed when its category is outside the sidebar's selection."""
    styles = np.asarray(SHADES, dtype=object)[np.minimum(shared.to_numpy(int), len(SHADES) - 1)]
    if outside is not None:
        styles = np.where(outside, [f"{s}; {OUTSIDE}".lstrip("; ") for s in styles], styles)
    return styles


def poster_lists(query: str, models: list[data.ModelInfo], tokens: dict[str, pd.DataFrame | None],
                 indices: dict[str, dict[str, int]]) -> pd.DataFrame | None:
    """Each model's overlap with the poster's lists for ``query`` (paper.POSTER_NEIGHBORS), or None when the
    poster has none: one row per poster column, one column per model ("3 of 18: when, då, när"). Counted as the
    Poster tour counts it (``claims.poster_neighbours``: the token's nearest ``claims.POSTER_DEPTH``, whatever
    k the sidebar says), so both pages show one number per model."""
    token = query.replace(BOUNDARY, "")
    lists = paper.POSTER_NEIGHBORS.get(token)
    if not lists:
        return None
    rows = {column: {"poster": column, "its list": " ".join(reference)} for column, reference in lists.items()}
    for m in models:
        nb = ui.load_array(m, schema.NEIGHBORS, "neighbour table")
        if nb is None or tokens.get(m.slug) is None:
            continue
        listed = claims.poster_neighbours(indices[m.slug], tokens[m.slug]["text"], nb, token)
        for column, common in ({} if listed is None else claims.poster_found(listed, token)).items():
            rows[column][m.label] = f"{len(common)} of {len(lists[column])}" + (f": {', '.join(common)}"
                                                                               if common else "")
    return pd.DataFrame(list(rows.values()))


#: What the query box takes, as its help says it (dashboard.lookup reads it).
HELP = ("**A word** (`when`, `नमस्ते`, `😀`) is split by each model's own tokenizer: one piece shows that "
        "piece's exact neighbours; several pieces show the split and the neighbours of the mean of the pieces' "
        "unit vectors (Annoy, approximate), and each piece opens on its own. **A piece as it is**: type it with "
        "the word-start mark ▁ (`▁when`; also tried in other cases), or in double quotes for exactly that text "
        '(`"when"`, the word-internal piece; `"-"`, `"("`), or by id: `id:16006` (ids are per model; every '
        "token, even one with invisible characters). **An expression**: `king - man + woman`, "
        "`mean(dog, Hund, perro) - cat`; operators are a lone + or - between terms, and a piece that is itself "
        'an operator, a bracket or a comma goes in quotes or by id (`"(" + id:7`). '
        f"At most {state.MAX_TEXT_LENGTH} characters, so that the link stays short.")

v = ui.view()
st.title("Neighbours")
st.caption("Exact top-k neighbours by cosine similarity. A word is split by each model's own tokenizer; a word "
           "of several pieces, and arithmetic such as `king - man + woman` or `mean(dog, Hund, perro)`, are "
           "answered by each model's Annoy index (approximate).")


def find(m: data.ModelInfo, tok: pd.DataFrame, index: dict[str, int], query: str,
         by_id: int | None, say: ui.Notes) -> tuple[int, str] | None:
    """The token a piece query names in one model (by id, in quotes exactly, else by text with its
    variants), or None after saying it has none."""
    if by_id is not None:
        if by_id < len(tok):
            return by_id, str(tok["text"].iloc[by_id])
        say.info(f"**{m.label}** has no token {lookup.ID_PREFIX}{by_id}: its ids go from 0 to {len(tok) - 1}.")
        return None
    exact = lookup.quoted(query)
    if exact is not None:
        if exact in index:
            return index[exact], exact
        say.info(f"**{m.label}** has no token exactly {tables.visible(repr(exact))} (without quotes, the text "
                 "is split as a word or tried in other spellings).")
        return None
    found = lookup.find_token(index, query, word_first=BOUNDARY not in query)
    if found is None:
        tried = ", ".join(lookup.variants(query)[1:4])
        say.info(f"**{m.label}** has no token {tables.visible(repr(query))} (also tried {tables.visible(tried)}; "
                 f"look a token up by id with `{lookup.ID_PREFIX}N`).")
    return found


def splitter(m: data.ModelInfo, say: ui.Notes) -> wordpieces.Encoder | None:
    """The model's own tokenizer, or None after saying that words are looked up by text."""
    encoder = ui.load_tokenizer(m, say)
    if encoder is not None and not encoder.available:
        say.info(f"**{m.label}** has no tokenizer ({encoder.why}): words are looked up by their text, "
                 "as a piece with ▁ first and in other cases.")
        return None
    return encoder


def token_arrays(m: data.ModelInfo, tok: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """A model's token texts (object array) and special-token flags, made once per model's artifacts (the texts
    of 250,000 tokens as Python strings took a sixth of this page's run)."""
    return ui.per_artifacts(m, "token arrays", lambda: (tok["text"].to_numpy(object), tok["is_special"].to_numpy(bool)))


class Answer:
    """One model's answer to the query, computed once per view for every session (:func:`ui.per_view`): its
    neighbour table (None when it has none), what to tell the reader about it, and how it read the terms. (A
    plain class: a page script runs at every rerun, and a dataclass is generated anew each time.)"""

    def __init__(self) -> None:
        self.said = ui.Notes()
        self.table: pd.DataFrame | None = None
        self.caption: str | None = None
        self.pieces: dict[str, str] = {}  # query -> text of each piece of a split word
        self.resolution: list[dict[str, object]] = []
        self.warnings: list[str] = []  # terms the model reads as several pieces
        self.approximate = False  # found by the Annoy index
        self.one_piece = False  # the query named one token of this model


def answer(m: data.ModelInfo, tok: pd.DataFrame, index: dict[str, int], query: str, terms: list[lookup.Term] | None,
           k: int) -> Answer:
    """What ``m`` answers to ``query`` (a piece, a word split by its tokenizer, or the expression ``terms``)."""
    out = Answer()
    say = out.said
    expression, piece_query, by_id = terms is not None, lookup.is_piece_query(query), lookup.parse_id(query)
    texts, special = token_arrays(m, tok)
    encoder = None if piece_query and not expression else splitter(m, say)
    split = functools.partial(wordpieces.split_word, encoder, texts=texts, special=special) if encoder else None
    if expression:
        index_nn = ui.load_annoy(m, say)
        if index_nn is None:
            return out
        from precompute.contract.indices import query_vector

        try:  # a tokenizer that fails on a term (a hostile file) costs this model only
            resolved = lookup.expression_vector(
                terms, functools.partial(lookup.resolve, index=index, texts=texts, split=split),
                index_nn.get_item_vector)
        except ValueError as e:
            say.error(str(e))
            return out
        out.resolution = lookup.resolution_rows(terms, resolved, m.label)
        out.warnings = [w for f in resolved.found if (w := lookup.piece_warning(f, index, m.label))]
        if resolved.vector is None:
            why = ("no token for " + ", ".join(resolved.missing)) if resolved.missing else "the terms cancel out"
            say.info(f"**{m.label}**: {why}.")
            return out
        ids, sims = query_vector(index_nn, resolved.vector, k, data.annoy_search_k(m), exclude=set(resolved.ids))
        out.table, out.approximate = tables.rows_for_ids(tok, ids, sims), True
        return out
    if split is not None:  # a word, split by the model's tokenizer
        try:
            pieces = split(query)
        except ValueError as e:  # the model's tokenizer failed on the word: say so, keep the others
            say.error(str(e))
            return out
        if pieces.one is None:
            if not pieces.known:
                say.info(f"**{m.label}** reads {tables.visible(repr(pieces.word))} as "
                         f"{tables.visible(pieces.label()) or 'nothing'}: {pieces.why_unknown()}.")
                return out
            index_nn = ui.load_annoy(m, say)
            if index_nn is None:
                return out
            from precompute.contract.indices import query_vector

            mean = lookup.unit_mean(pieces.usable, index_nn.get_item_vector)
            ids, sims = query_vector(index_nn, mean.astype(np.float32), k, data.annoy_search_k(m),
                                     exclude=set(pieces.usable))
            out.table, out.approximate = tables.rows_for_ids(tok, ids, sims), True
            out.caption = f"{tables.visible(pieces.word)} → {tables.visible(pieces.label())}: {pieces.mean_label()}"
            out.pieces = {lookup.query_for(index, str(texts[r]), r): str(texts[r]) for r in pieces.usable}
            return out
        found = (pieces.one, str(texts[pieces.one]))
        said_as = f"{tables.visible(pieces.word)} → {tables.visible(pieces.one_label())} · "
    else:
        found = find(m, tok, index, query, by_id, say)
        if found is None:
            return out
        said_as = ""
    out.one_piece = True
    nb = ui.load_array(m, schema.NEIGHBORS, "neighbour table", say)
    sim = ui.load_array(m, schema.SIMILARITIES, "neighbour similarities", say)
    if nb is None or sim is None:
        return out
    out.table = tables.neighbour_table(nb, sim, tok, found[0], min(k, nb.shape[1]))
    out.caption = said_as + looked_up(tok.iloc[found[0]], found[0])
    return out


def styled(table: pd.DataFrame, columns: list[str], categories: list[str], uuid: str) -> Any:
    """A neighbour table as drawn: its ``columns`` written out (:func:`compact`), each row shaded and greyed
    (:func:`shade`), similarities to three decimals; rendered once (:func:`ui.rendered_once`)."""
    styles = shade(table["shared"], tables.outside(table["category"], categories))
    decimals = {c: "{:.3f}" for c in ["similarity"] if c in columns}
    return ui.rendered_once(compact(table)[columns].style.apply(lambda _: styles, axis=0).format(decimals), uuid)


def _open(text: str) -> None:
    state.set_value(state.QUERY, text)


def _open_selected(key: str, table: pd.DataFrame, index: dict[str, int]) -> None:
    rows = st.session_state[key].selection.rows
    if rows:
        row = table.iloc[rows[0]]
        _open(lookup.query_for(index, str(row["token"]), int(row["id"])))


def _open_piece(key: str) -> None:
    if st.session_state.get(key):
        _open(st.session_state[key])
        st.session_state[key] = None  # back on the word, the box offers its pieces afresh


if ui.require_models(v):
    tokens = {m.slug: ui.load(m, schema.TOKENS, "token table", convention=v.convention) for m in v.models}
    indices = {m.slug: ui.load_text_index(m) or {} for m in v.models if tokens[m.slug] is not None}
    with st.container(horizontal=True):
        query = st.text_input("Token or expression",
                              placeholder=f'when, नमस्ते, ▁när, "-", king - man + woman, {lookup.ID_PREFIX}16006',
                              **state.bind_text(state.QUERY, "query"), help=HELP)
        for preset in PRESETS:
            if any(lookup.find_token(ix, preset) for ix in indices.values()):
                st.button(preset, key=f"nb_preset_{preset}", on_click=_open, args=(preset,))

    results: dict[str, pd.DataFrame] = {}
    terms: list[lookup.Term] | None = None
    expression = bool(query) and lookup.is_expression(query)
    if expression:
        try:
            terms = lookup.parse_expression(query)
        except ValueError as e:
            st.warning(f"Cannot read the expression `{query}`: {e}.", icon=":material/error:")
    by_id = lookup.parse_id(query) if query else None
    answers: dict[str, Answer] = {}
    for m in v.models if query and (terms is not None or not expression) else ():
        if tokens[m.slug] is not None:  # the query is in the view's key (its box is drawn above)
            answers[m.slug] = ui.per_view(v, ("answer", m.slug), functools.partial(
                answer, m, tokens[m.slug], indices[m.slug], query, terms, v.k), keep=lambda a: a.said.settled)
            answers[m.slug].said.draw()
    results = {slug: a.table for slug, a in answers.items() if a.table is not None}
    approximate = any(a.approximate for slug, a in answers.items() if slug in results)
    one_piece_somewhere = any(a.one_piece for a in answers.values())
    resolution = [row for a in answers.values() for row in a.resolution]
    if resolution:
        st.markdown("**How each model read the terms**")
        st.dataframe(ui.per_view(v, "resolution", lambda: ui.arrow_table(lookup.resolution_table(resolution))),
                     hide_index=True, column_config={"±": st.column_config.TextColumn("±", width=28)})
        for warning in (w for a in answers.values() for w in a.warnings):
            st.warning(warning, icon=":material/call_split:")
    if query and not expression and by_id is None and not one_piece_somewhere:
        suggestions = ui.per_view(v, "suggestions", lambda: [
            s for m in v.models if tokens[m.slug] is not None
            for s in lookup.prefix_matches(token_arrays(m, tokens[m.slug])[0], lookup.quoted(query) or query)])
        if suggestions:
            st.pills("Tokens starting with your text", list(dict.fromkeys(suggestions))[:20], key="nb_suggest",
                     format_func=tables.visible, on_change=lambda: _open(st.session_state["nb_suggest"] or query))

    if results:
        shared = ui.per_view(v, "shared", lambda: tables.mark_shared(results))
        extra = st.pills("Columns", list(OPTIONAL), selection_mode="multi", key="nb_columns",
                         default=list(OPTIONAL) if len(shared) < MODELS_IN_ONE_ROW else ["sim"],
                         help="Rank and token are always shown; fewer columns leave the tokens more room.")
        shown_columns = ["rank", "token", *(OPTIONAL[c] for c in extra or [])]
        per_row = len(shared) if len(shared) <= MODELS_IN_ONE_ROW else ui.MODELS_PER_ROW
        for col, (slug, table) in ui.in_columns(list(shared.items()), per_row=per_row):
            m = v.catalog.models[slug]
            with col:
                st.markdown(f"**{m.label}**")
                if answers[slug].caption:
                    st.caption(answers[slug].caption)
                if answers[slug].pieces:  # a select box: a row of pills would run out of the column
                    key, named = f"nb_pieces_{slug}", answers[slug].pieces
                    st.selectbox("Each piece's own neighbours", list(named), index=None, key=key,
                                 placeholder=f"one of the {len(named)} pieces…",
                                 format_func=lambda q, n=named: tables.visible(n[q]), on_change=_open_piece,
                                 args=(key,))
                # the columns chosen are no URL parameter: they name the cached part
                key = f"nb_table_{slug}"
                rows = ui.per_view(v, ("rows", slug, tuple(shown_columns)),
                                   functools.partial(styled, table, shown_columns, v.categories, key))
                st.dataframe(rows, hide_index=True, key=key,
                             on_select=functools.partial(_open_selected, key, table, indices[slug]),
                             selection_mode="single-row", height=min(38 + 35 * len(table), 740),
                             column_config=COLUMNS)
        st.caption("Highlighted: neighbours another selected model also lists (darker: two or more others). "
                   "Select a row to open its neighbours. " + ui.convention_note(v, "category"))
        if ui.filtered(v):
            n_out = sum(int(tables.outside(t["category"], v.categories).sum()) for t in shared.values())
            st.caption(f":material/filter_alt: Each list is the token's true list, not filtered: the {n_out} "
                       "neighbours outside the selected categories are shown in grey italics.")
        beside = ui.per_view(v, "poster", lambda: poster_lists(lookup.quoted(query) or query,
                                                               [v.catalog.models[s] for s in results], tokens, indices))
        if beside is not None:
            st.markdown(f"**Beside the poster** ({paper.CITATION}; XLM-R-XL and mT5-XL, k = 18 and 15 as printed; "
                        f"each model's nearest {claims.POSTER_DEPTH} neighbours of the word-start piece, as the "
                        "Poster tour counts them)")
            st.dataframe(beside, hide_index=True)
        everything = ui.per_view(v, "everything", lambda: pd.concat([t.assign(model=s) for s, t in shared.items()],
                                                                    ignore_index=True))
        ui.downloads(everything, "neighbours", [v.catalog.models[s] for s in shared], "neighbors",
                     {"query": query, "k": v.k}, statistic="neighbours", approximate=approximate)
ui.share_link()
