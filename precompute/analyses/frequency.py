"""Token frequencies (METHODS §4 "Frequency"): estimated from word lists, or counted over a real corpus.

The paper ranks tokens by their counts in mC4. Without a corpus the token table's ``frequency`` is an
estimate of those counts (:func:`wordlist_token_counts`): each language's wordfreq word list split by the
model's own tokenizer, each word weighted by its frequency and each language by its share of mC4.
``precompute frequency`` counts how often the tokenizer emits each id over a real corpus instead
(:func:`count_tokens`): local text files, or a Hugging Face data set streamed (e.g. ``allenai/c4`` with
config ``sv``), read through ``datasets`` either way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from itertools import chain, islice
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from tqdm.auto import tqdm

from precompute.analyses.language import frequency_table as word_frequency_table
from precompute.analyses.language import wordfreq_languages
from precompute.contract.tokenizer import SENTENCEPIECE, TOKENIZERS
from precompute.sources.base import TokenizerFile
from precompute.sources.hf import hub_reachable

#: The environment variable that turns the Rust thread pool of ``tokenizers`` on or off.
PARALLELISM_ENV = "TOKENIZERS_PARALLELISM"
#: Word-list texts split per call of the tokenizer (their ids as Python lists: memory).
ENCODE_TEXTS = 65_536
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


#: Each language's mC4 text in billions of tokens: Xue et al. 2021, "mT5: A Massively Multilingual
#: Pre-trained Text-to-Text Transformer" (NAACL), Table 6, column "Tokens". The estimate mixes languages in
#: these proportions (the corpus as it is, not mT5's α = 0.3 training sample). Keyed by wordfreq's codes:
#: mC4's "iw" is wordfreq's "he", "no" is "nb", and wordfreq's Serbo-Croatian "sh" takes mC4's "sr".
MC4_TOKENS_BILLIONS = {
    "en": 2733, "ru": 713, "es": 433, "de": 347, "fr": 318, "ja": 164, "it": 162, "pt": 146, "pl": 130,
    "vi": 116, "nl": 73, "tr": 71, "id": 69, "cs": 63, "ar": 57, "fa": 52, "ro": 52, "sv": 45, "el": 43,
    "uk": 41, "zh": 39, "hu": 39, "da": 29, "nb": 27, "ko": 26, "fi": 25, "hi": 24, "bg": 22, "sk": 18,
    "he": 17, "ca": 13, "ms": 13, "lt": 11, "sl": 8.8, "bn": 7.3, "lv": 7, "sh": 4.3, "ta": 3.4,
    "is": 2.6, "ur": 2.4, "fil": 2.1, "mk": 1.8,
}
#: Words per language split: its most frequent ones. 42 lists of 30,000 take the tokens step 17 s for
#: multilingual-e5-small's 250k pieces (26 s with another process on the core).
WORDS_PER_LANGUAGE = 30_000
#: Languages written without spaces between words: there a word follows the text before it directly.
UNSPACED = frozenset({"zh", "ja"})
#: What a word is split after, so that it is split as inside running text (``▁the`` in SentencePiece,
#: ``Ġthe`` in byte-level BPE) rather than as a text's start; the context's own pieces are dropped.
CONTEXT = {True: "。", False: "a "}


@contextmanager
def one_thread() -> Iterator[None]:
    """Tokenizers' Rust thread pool off while inside: the tokens step declares one core (``Step.threads``),
    and ``encode_batch`` would otherwise split every batch over all of them. The library reads
    ``TOKENIZERS_PARALLELISM`` at each call, so setting it here is enough."""
    before = os.environ.get(PARALLELISM_ENV)
    os.environ[PARALLELISM_ENV] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(PARALLELISM_ENV, None)
        else:
            os.environ[PARALLELISM_ENV] = before


def changed_characters(normalize: Callable[[str], str], characters: list[str]) -> set[str]:
    """The characters of ``characters`` that ``normalize`` does not leave as they are, each checked alone.

    A normaliser of thousands of rules (multilingual-e5-small's) takes a millisecond a call, so the
    characters are checked together and a run that comes out changed is halved until the changed ones
    are found: a dozen calls per changed character instead of one per character. For a per-character
    normaliser a run is unchanged exactly when each of its characters is.

        >>> sorted(changed_characters(str.lower, list("abCdE")))
        ['C', 'E']
    """
    if not characters:
        return set()
    joined = "".join(characters)
    if normalize(joined) == joined:
        return set()
    if len(characters) == 1:
        return set(characters)
    half = len(characters) // 2
    return changed_characters(normalize, characters[:half]) | changed_characters(normalize, characters[half:])


def untouched_by(normalize: Callable[[str], str], texts: list[str], verdicts: dict[int, bool]) -> np.ndarray:
    """(N,) bool: ``normalize`` leaves every character of the text as it is, vectorised over the texts'
    code points. ``verdicts`` (code point -> left as it is) keeps what earlier calls found out; the
    characters not in it yet are checked with ``changed_characters``."""
    lengths = np.fromiter(map(len, texts), np.int64, len(texts))
    points = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    distinct, which = np.unique(points, return_inverse=True)
    new = [c for c in distinct.tolist() if c not in verdicts]
    changed = changed_characters(normalize, [chr(c) for c in new])
    verdicts.update((c, chr(c) not in changed) for c in new)
    bad = ~np.fromiter((verdicts[c] for c in distinct.tolist()), bool, len(distinct))[which]
    return np.bincount(np.repeat(np.arange(len(texts)), lengths), weights=bad, minlength=len(texts)) == 0


def segments(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(sum(lengths),) int64 positions of the runs ``[starts[i], starts[i] + lengths[i])``, one after another.

        >>> segments(np.array([5, 0]), np.array([2, 3])).tolist()
        [5, 6, 0, 1, 2]
    """
    ends = np.cumsum(lengths)
    return np.repeat(np.asarray(starts, np.int64) - (ends - lengths), lengths) + np.arange(ends[-1] if len(ends) else 0)


#: What an encoder returns for T texts: ``(lengths, ids)``, the (T,) number of ids of each text and its ids,
#: (sum(lengths),) int64, text after text.
Encoded = tuple[np.ndarray, np.ndarray]


def _arrays(encoded: Iterable[list[int]], n: int) -> Encoded:
    encoded = list(encoded)
    lengths = np.fromiter(map(len, encoded), np.int64, n)
    return lengths, np.fromiter(chain.from_iterable(encoded), np.int64, int(lengths.sum()))


def batch_encoder(tokenizer: TokenizerFile) -> Callable[[list[str]], Encoded]:
    """Texts -> their token ids (``Encoded``) with ``tokenizer`` (no special tokens), on one core: a whole
    list per call, which the tokenizer libraries split far faster than one text at a time."""
    raw = tokenizer.read()
    if tokenizer.kind == TOKENIZERS:
        from tokenizers import Tokenizer

        tk, bare = Tokenizer.from_str(raw.decode("utf-8")), Tokenizer.from_str(raw.decode("utf-8"))

        def split(use: Tokenizer, texts: list[str]) -> Encoded:
            with one_thread():  # encode_batch_fast: the same ids, without the character offsets we do not read
                encoded = use.encode_batch_fast(texts, add_special_tokens=False)
            return _arrays((e.ids for e in encoded), len(texts))

        if tk.normalizer is None:
            return lambda texts: split(tk, texts)
        bare.normalizer = None
        verdicts: dict[int, bool] = {}

        def encode(texts: list[str]) -> Encoded:
            # A normalizer of thousands of rules (multilingual-e5-small's) costs 25 times the split itself;
            # texts whose every character it leaves as it is are split without it, the same result for a
            # per-character normalizer.
            fast = untouched_by(tk.normalizer.normalize_str, texts, verdicts)
            order = np.concatenate([np.flatnonzero(fast), np.flatnonzero(~fast)])
            parts = [split(use, [texts[i] for i in which.tolist()])
                     for use, which in ((bare, order[:fast.sum()]), (tk, order[fast.sum():]))]
            lengths, ids = np.concatenate([parts[0][0], parts[1][0]]), np.concatenate([parts[0][1], parts[1][1]])
            back = np.argsort(order)  # texts' positions in the split order
            return lengths[back], ids[segments((np.cumsum(lengths) - lengths)[back], lengths[back])]

        return encode
    if tokenizer.kind == SENTENCEPIECE:
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_proto=raw)
        return lambda texts: _arrays(sp.encode(texts, out_type=int, num_threads=1), len(texts))
    raise ValueError(f"unknown tokenizer kind {tokenizer.kind!r} (known: {TOKENIZERS}, {SENTENCEPIECE})")


def word_pieces(encode: Callable[[list[str]], Encoded], words: list[str],
                unspaced: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ids each word is split into inside running text: ``(ids, word)``, both (P,) int64, ``word`` the
    index in ``words`` each id came from, in word order.

    Each word is split after ``CONTEXT`` (a space before it, or none where ``unspaced``, (W,) bool: a
    language written without spaces) and the context's own ids dropped; a word whose split does not begin
    with them (the tokenizer merged it with the context) is left out. A text that several languages list
    ("taxi") is split once.
    """
    unspaced = np.asarray(unspaced, dtype=bool)
    contexts = np.where(unspaced, CONTEXT[True], CONTEXT[False]).astype(object)
    codes, texts = pd.factorize(pd.Series(contexts + np.asarray(words, dtype=object), dtype=object))
    # a bounded number of Python lists at a time
    parts = [encode(texts[i:i + ENCODE_TEXTS].tolist()) for i in range(0, len(texts), ENCODE_TEXTS)]
    lengths = np.concatenate([np.zeros(0, np.int64), *(p[0] for p in parts)])
    ids = np.concatenate([np.zeros(0, np.int64), *(p[1] for p in parts)])
    starts = np.cumsum(lengths) - lengths
    text_unspaced = np.zeros(len(texts), dtype=bool)
    text_unspaced[codes] = unspaced
    kept = np.zeros(len(texts), dtype=np.int64)  # pieces after the context's; 0: merged with it
    skip = np.zeros(len(texts), dtype=np.int64)
    for flag in (False, True):
        prefix = encode([CONTEXT[flag].rstrip(" ")])[1]
        rows = np.flatnonzero((text_unspaced == flag) & (lengths >= len(prefix)))
        for j, piece in enumerate(prefix.tolist()):
            rows = rows[ids[starts[rows] + j] == piece]
        kept[rows], skip[rows] = lengths[rows] - len(prefix), len(prefix)
    return ids[segments(starts[codes] + skip[codes], kept[codes])], np.repeat(np.arange(len(codes)), kept[codes])


def wordlist_token_counts(tokenizer: TokenizerFile, n_rows: int, words_per_language: int = WORDS_PER_LANGUAGE,
                          shares: dict[str, float] | None = None) -> np.ndarray:
    """(n_rows,) float64: how often each token-table row is expected per word of running text, estimated
    from word lists (the paper counted tokens in mC4; this counts them in wordfreq's lists).

    Each language's ``words_per_language`` most frequent wordfreq words (:func:`word_lists`) are split by
    ``tokenizer`` and weighted by :func:`weighted_token_counts`, the languages by ``shares`` (default
    ``MC4_TOKENS_BILLIONS``).

        >>> counts = wordlist_token_counts(model.tokenizer, len(model.vocab))   # multilingual-e5-small
    """
    words = word_lists(words_per_language)
    return weighted_token_counts(tokenizer, words, n_rows, MC4_TOKENS_BILLIONS if shares is None else shares)


@lru_cache(maxsize=2)
def word_lists(words_per_language: int) -> pd.DataFrame:
    """``word, language, frequency`` of each language's ``words_per_language`` most frequent wordfreq words
    (lists are most frequent first), the same for every model: made once a process, never changed."""
    table = word_frequency_table()
    language = table["language"].to_numpy()
    order = np.argsort(language, kind="stable")
    sizes = np.bincount(language.astype(np.int64))
    rank = np.empty(len(language), dtype=np.int64)  # a word's place in its language's list
    rank[order] = np.arange(len(language)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    words = table.filter(pa.array(rank < words_per_language)).to_pandas()
    words["language"] = np.asarray(wordfreq_languages(), dtype=object)[words["language"].to_numpy()]
    return words


def weighted_token_counts(tokenizer: TokenizerFile, words: pd.DataFrame, n_rows: int,
                          shares: dict[str, float]) -> np.ndarray:
    """(n_rows,) float64: each row's pieces counted over ``words`` (``word, language, frequency``), a piece
    weighing its word's ``frequency`` times its language's part of ``shares`` (normalised over the languages
    ``shares`` lists; other languages' words are left out), once per occurrence in the word's split
    (:func:`word_pieces`). 0: no word produces the row: no estimate, not "never seen". Tokenizer ids with
    no row (``tokenizer.rows`` -1) are dropped.
    """
    total = sum(shares.values())
    words = words[words["language"].isin(list(shares))]
    language, languages = pd.factorize(words["language"], sort=True)
    unspaced = np.isin(languages, list(UNSPACED))[language]
    ids, word = word_pieces(batch_encoder(tokenizer), words["word"].tolist(), unspaced)
    if tokenizer.rows is not None:
        ids = np.asarray(tokenizer.rows, dtype=np.int64)[ids]
    keep = (ids >= 0) & (ids < n_rows)
    ids, word = ids[keep], word[keep]
    frequency = words["frequency"].to_numpy(np.float64)
    counts = np.zeros(n_rows, dtype=np.float64)
    # language by language in name order, each a sum in word order: the float sums of one count per language
    for code, lang in enumerate(languages):
        mine = language[word] == code
        weight = frequency[word[mine]] * (shares[lang] / total)
        counts += np.bincount(ids[mine], weights=weight, minlength=n_rows)[:n_rows]
    return counts
