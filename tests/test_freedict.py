"""FreeDict's dictd files read by our own code: a small dictionary pair written in the test (index +
dictzip data), the concepts and glosses read from it, and the fallback when none is installed."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from precompute.analyses import freedict
from precompute.analyses.lexicon import concept_columns, is_short_piece, word_stems
from precompute.analyses.meaning import one_word_or_language, shared_meaning, translation_sets

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def b64(n: int) -> str:
    """dictd's base-64 number (most significant digit first)."""
    digits = ""
    while True:
        digits, n = B64[n % 64] + digits, n // 64
        if n == 0:
            return digits


def dictzip(data: bytes) -> bytes:
    """``data`` as one dictzip chunk: gzip with the "RA" extra field (version, chunk length, count, sizes)."""
    body = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = body.compress(data) + body.flush()
    ra = struct.pack("<HHHH", 1, 58315, 1, len(deflated))
    extra = b"RA" + struct.pack("<H", len(ra)) + ra
    header = b"\x1f\x8b\x08\x04" + b"\0\0\0\0" + b"\x02\x03" + struct.pack("<H", len(extra)) + extra
    return header + deflated + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def write_dictionary(directory: Path, name: str, entries: dict[str, str] | list[tuple[str, str]]) -> None:
    """``freedict-<name>.index`` and ``.dict.dz`` holding ``entries`` (headword → entry text; as pairs when
    several entries share a headword, as "Wasser" and "Wasser…" both index "wasser")."""
    data, index = b"", []
    for headword, entry in entries.items() if isinstance(entries, dict) else entries:
        encoded = entry.encode("utf-8")
        index.append(f"{headword}\t{b64(len(data))}\t{b64(len(encoded))}")
        data += encoded
    (directory / f"freedict-{name}.index").write_text("\n".join(sorted(index)) + "\n", encoding="utf-8")
    (directory / f"freedict-{name}.dict.dz").write_bytes(dictzip(data))


@pytest.fixture
def dictd(tmp_path: Path) -> Path:
    """German→English, English→Spanish, and a German→French one that is not about English."""
    write_dictionary(tmp_path, "deu-eng", {
        "00-database-short": "00-database-short\n     German-English test dictionary\n",
        "hund": "Hund /hʊnt/ <n, masc>\ndog <n>; hound\n   Synonym: {Köter}\n",
        "hunde": "Hunde /hˈʊndə/ <pl>\ndogs\n see: {Hund}\n",
        "bank": "Bank /baŋk/ <n, fem>\n1. bank [fin.]\n2. bench\n         Note: Sitzbank\n",
        "guten morgen": "guten Morgen\ngood morning\n",
        "november": "November /noˈvɛmbɐ/\nNovember\n",
    })
    write_dictionary(tmp_path, "eng-spa", {
        "dog": "dog /dɔg/\nperro, can\n",
        "bench": "bench /bɛntʃ/\nbanco\nla tabla larga para sentarse\n",
        "to run": "to run\ncorrer\n",
    })
    write_dictionary(tmp_path, "deu-fra", {"hund": "Hund\nchien\n"})
    return tmp_path


def test_base64_numbers_decode_as_dictd_writes_them():
    values = [0, 63, 64, 116, 519_423, 20_969_636]
    assert freedict.decode_numbers(pd.Series([b64(v) for v in values])).tolist() == values


def test_index_and_dictzip_data_are_read(dictd: Path):
    index = freedict.read_index(dictd / "freedict-deu-eng.index")
    assert len(index) == 6 and index["offset"].min() == 0
    pairs = freedict.read_dictionary(dictd / "freedict-deu-eng.index")
    # the database's own entry has no translation line; "guten morgen" is two words
    assert sorted(map(tuple, pairs.to_numpy().tolist())) == [
        ("bank", "bank"), ("bank", "bench"), ("hund", "dog"), ("hund", "hound"), ("hunde", "dogs"),
        ("november", "November"),
    ]


def test_dictionaries_to_and_from_english_only(dictd: Path):
    got = freedict.load_freedict(dictd)
    assert got.attrs["dictionaries"] == ["deu-eng", "eng-spa"]
    assert sorted(map(tuple, got.to_numpy().tolist())) == [  # each pair in one direction only: 1 dictionary
        ("bank", "bank", "de", 1), ("bench", "banco", "es", 1), ("bench", "bank", "de", 1), ("dog", "can", "es", 1),
        ("dog", "hund", "de", 1), ("dog", "perro", "es", 1), ("dogs", "hunde", "de", 1), ("hound", "hund", "de", 1),
        ("november", "november", "de", 1),
    ]


def test_words_translating_to_one_english_word_form_one_concept(dictd: Path):
    texts = ["▁Hund", "▁perro", "▁dog", "▁Bank", "▁banco", "▁hund", "▁Hunde", "can", "▁cat", "▁bank", "▁bench"]
    languages = pd.Series(["de", "es", "en", "de", "es", "de", "de", "es", "en", "en", "en"])
    got = concept_columns(texts, freedict.load_freedict(dictd), languages)
    assert got["concept"].fillna("").tolist() == [
        "en:dog|en:hound", "en:dog", "en:dog", "en:bank|en:bench", "en:bench", "en:dog|en:hound", "en:dogs",
        "",  # Spanish "can", but a short piece from inside a word
        "",  # "cat" is in no dictionary
        "en:bank", "en:bench",  # English words name themselves only, not what German "Bank" means
    ]
    # an English word is no gloss of itself, so the German "Bank" shows only "bench"
    assert got["gloss"].fillna("").tolist()[:5] == ["dog, hound", "dog", "", "bench", "bench"]

    sets = translation_sets(texts, got["concept"]).matrix
    neighbours = np.array([[1, 5], [2, 0], [0, 1], [4, 0], [3, 10], [0, 6], [5, 0], [0, 1], [0, 1], [10, 3],
                           [9, 4]])
    shared = shared_meaning(neighbours, sets, word_stems(texts))
    # Hund–perro, perro–dog, Bank–banco, banco–bench translate; Hund–hund, hund–Hunde and Bank–bank are one
    # word (case, inflection); the English bank and bench do not meet through German "Bank"
    assert shared.tolist() == [[True, False], [True, True], [True, True], [True, False], [True, True],
                               [False, False], [False, False], [False, False], [False, False], [False, False],
                               [False, True]]


def test_a_token_is_looked_up_in_its_own_language_only(dictd: Path):
    texts = ["▁bank", "▁Bank", "bank"]
    in_every_language = concept_columns(texts, freedict.load_freedict(dictd))
    # read as German too, the English "bank" would also be a bench
    assert in_every_language["concept"].tolist() == ["en:bank|en:bench"] * 3
    own = concept_columns(texts, freedict.load_freedict(dictd), pd.Series(["en", "de", None]))
    assert own["concept"].fillna("").tolist() == ["en:bank", "en:bank|en:bench", ""]  # no language, no lookup


def test_short_pieces_from_inside_a_word_name_no_concept():
    assert is_short_piece(["his", "zin", "ker", "▁his", "isto", "gebiet", "優先", "ネ", "12"]).tolist() == [
        True, True, True, False, False, False, False, False, True]


def test_parsed_dictionaries_are_kept_on_disk_and_read_again_when_a_file_changes(dictd: Path, monkeypatch):
    first = freedict.load_freedict(dictd)
    freedict._load.cache_clear()  # as in a new process
    with monkeypatch.context() as patch:
        patch.setattr(freedict, "read_dictionary", lambda path: pytest.fail(f"{path} parsed again"))
        again = freedict.load_freedict(dictd)
    assert again.equals(first) and again.attrs == first.attrs
    write_dictionary(dictd, "deu-eng", {"katze": "Katze /kˈatsə/ <n, fem>\ncat\n"})  # a new version installed
    freedict._load.cache_clear()
    assert sorted(freedict.load_freedict(dictd).query("language == 'de'")["foreign"]) == ["katze"]


def test_without_dictionaries_the_build_warns_and_names_the_packages(tmp_path: Path):
    with pytest.warns(UserWarning, match=r"58 of 58 FreeDict dictionaries are not installed.*make install"):
        got = freedict.installed_or_warn(tmp_path)
    assert got.empty and list(got.columns) == ["english", "foreign", "language", "dictionaries"]
    assert freedict.missing_packages(tmp_path)[:2] == ["dict-freedict-afr-eng", "dict-freedict-ara-eng"]


@pytest.fixture
def water(tmp_path: Path) -> Path:
    """German and Dutch both ways for "water", with a combining form and the articles."""
    write_dictionary(tmp_path, "deu-eng", [
        ("wasser", "Wasser /vˈasɜ/ <neut, n, sg>\nwater <n>\n"),
        ("wasser", "Wasser /vˈasɜ/ <neut, n, sg>\neau <n>\n"),
        ("wasser", "Wasser… /vˈasɜ/ <adj>\nwaterborne <adj>\n"),  # the first part of a compound
        ("wasser", "Wasser… /vˈasɜ/\nhydro…\n"),
        ("der", "der /deːɐ̯/ <art>\nthe; who; that\n"),
        ("den", "den /deːn/ <art>\nthe; whom\n"),
    ])
    write_dictionary(tmp_path, "eng-deu", {"water": "water /ˈwɔːtə/ <n>\nWasser\n", "eau": "eau <n>\nWasser\n",
                                           "the": "the <art>\nder, die, das\n"})
    write_dictionary(tmp_path, "nld-eng", {"water": "water <n>\nwater\n", "het": "het <art>\nthe; it\n"})
    return tmp_path


def test_combining_forms_are_no_translation_and_both_directions_count(water: Path):
    got = freedict.load_freedict(water).set_index(["english", "foreign", "language"])["dictionaries"]
    assert got.to_dict() == {
        ("water", "wasser", "de"): 2, ("eau", "wasser", "de"): 2, ("the", "der", "de"): 2, ("who", "der", "de"): 1,
        ("that", "der", "de"): 1, ("the", "den", "de"): 1, ("whom", "den", "de"): 1, ("the", "die", "de"): 1,
        ("the", "das", "de"): 1, ("water", "water", "nl"): 1, ("the", "het", "nl"): 1, ("it", "het", "nl"): 1,
    }  # no "waterborne", no "hydro…"


def test_function_words_name_no_concept_and_glosses_are_common_english(water: Path):
    texts = ["▁Wasser", "▁water", "▁der", "▁den", "▁het", "water"]
    got = concept_columns(texts, freedict.load_freedict(water), pd.Series(["de", "en", "de", "de", "nl", "nl"]))
    assert got["concept"].fillna("").tolist() == ["en:water|en:eau", "en:water", "", "", "", "en:water"]
    # "eau" (zipf 3.2) and "whom" (4.4) are over 100 times rarer in English than "water" (5.5) and "the";
    # both dictionaries give "the" for "der", one "that" and "who" (the commoner first); the Dutch "water"
    # needs no gloss "water"
    assert got["gloss"].fillna("").tolist() == ["water", "", "the, that, who", "the", "the, it", ""]
    sets = translation_sets(texts, got["concept"]).matrix
    shared = shared_meaning(np.array([[1, 5], [0, 5], [4, 3], [2, 4], [2, 3], [0, 1]]), sets,
                            one_word_or_language(texts, pd.Series(["de", "en", "de", "de", "nl", "nl"])))
    # ▁water and water are one word; the articles meet through no concept
    assert shared.tolist() == [[True, True], [True, False], [False, False], [False, False], [False, False],
                               [True, False]]
