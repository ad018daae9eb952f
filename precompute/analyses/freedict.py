"""FreeDict bilingual dictionaries in the dictd format, read without dictd (METHODS §6).

Debian packages the FreeDict dictionaries as ``dict-freedict-xxx-yyy`` (GPL-2+ or GPL-3+, each
package's ``/usr/share/doc/<package>/copyright`` says which); ``make install`` installs the English
ones (``DEBIAN_PACKAGES``) when run as root. Each is two files in ``/usr/share/dictd``:

* ``freedict-deu-eng.index``: one line per headword, ``headword<TAB>offset<TAB>length``, where
  offset and length are numbers written in base 64 with the alphabet ``A–Z a–z 0–9 + /`` (most
  significant digit first: ``B0`` = 1·64 + 52 = 116). The headword is lower-cased; several lines
  may point to the same entry (a Japanese word under its kanji and its kana spelling).
* ``freedict-deu-eng.dict.dz``: the entries as UTF-8 text, compressed with dictzip, a gzip file
  whose extra header field indexes its chunks for random access; read whole, it is plain gzip.

An entry is its headword line (headword, ``/pronunciation/``, ``<part of speech>``), then the
senses, numbered ``1.``, ``2.`` … when there are several. A sense's first plain line holds its
translations, separated by commas or semicolons; the lines after it are definitions in the source
language, and indented lines are notes, examples, synonyms and cross-references::

    cinta /θˈinta/
    1. bond, tie
    2. connection, league
    3. ribbon

Only single words are kept, on both sides (tokens are words or pieces of words), and no affixes or
combining forms, on either side (``omni-``; the entry ``Wasser…`` is "hydro…" and "waterborne" as the
first part of a compound, not what the word ``Wasser`` means).
"""

from __future__ import annotations

import gzip
import os
import re
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from precompute import cache

#: Where Debian's dict-freedict-* packages put their files.
DICTD_DIRECTORY = Path("/usr/share/dictd")
#: Environment variable naming another dictionary folder: an environment variable, not a module setting,
#: so that every process of a build (a Ray worker too) reads the same dictionaries.
DICTD_ENV = "HYPERPOLYGLOT_DICTD"


def dictd_directory() -> Path:
    """The folder the dictionaries are read from: ``$HYPERPOLYGLOT_DICTD``, else Debian's."""
    return Path(os.environ.get(DICTD_ENV) or DICTD_DIRECTORY)
#: FreeDict's ISO 639-3 codes → the two-letter codes that MUSE, CLDR and wordfreq use. The Debian
#: packages to and from English, for these languages, are ``DEBIAN_PACKAGES``.
LANGUAGE_CODES: dict[str, str] = {
    "afr": "af", "ara": "ar", "bul": "bg", "ces": "cs", "cym": "cy", "dan": "da", "deu": "de", "ell": "el",
    "epo": "eo", "fin": "fi", "fra": "fr", "gle": "ga", "hin": "hi", "hrv": "hr", "hun": "hu", "ind": "id",
    "isl": "is", "ita": "it", "jpn": "ja", "kur": "ku", "lat": "la", "lit": "lt", "nld": "nl", "nor": "no",
    "pol": "pl", "por": "pt", "rus": "ru", "slk": "sk", "slv": "sl", "spa": "es", "srp": "sr", "swe": "sv",
    "swh": "sw", "tur": "tr",
}
#: The Debian (bookworm) packages of FreeDict's dictionaries between English and another language.
DEBIAN_PACKAGES: tuple[str, ...] = tuple(sorted(
    [f"dict-freedict-{code}-eng" for code in (
        "afr", "ara", "ces", "cym", "dan", "deu", "ell", "epo", "fin", "fra", "gle", "hrv", "hun", "isl",
        "ita", "jpn", "kur", "lat", "lit", "nld", "pol", "por", "slk", "slv", "spa", "srp", "swe", "swh", "tur")]
    + [f"dict-freedict-eng-{code}" for code in (
        "afr", "ara", "bul", "ces", "cym", "dan", "deu", "ell", "fin", "fra", "gle", "hin", "hrv", "hun",
        "ind", "ita", "jpn", "lat", "lit", "nld", "nor", "pol", "por", "rus", "spa", "srp", "swe", "swh", "tur")]
))
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_VALUE = np.zeros(256, dtype=np.int64)
_B64_VALUE[np.frombuffer(_B64.encode(), dtype=np.uint8)] = np.arange(64)
_FILE_NAME = re.compile(r"^freedict-([a-z]{3})-([a-z]{3})\.index$")
_SENSE_NUMBER = re.compile(r"^\d+\.\s*")
#: Bracketed parts of a translation: grammar (<masc>), domains ([cook.]), glosses ((informal)), links ({…}),
#: pronunciations (/dɔg/).
_BRACKETED = re.compile(r"<[^>]*>|\[[^\]]*\]|\([^)]*\)|\{[^}]*\}|/[^/]*/")
_AFFIX_MARKS = "-‐…"


def decode_numbers(codes: pd.Series | pa.Array) -> np.ndarray:
    """(N,) int64 values of dictd's base-64 numbers, vectorised.

        >>> decode_numbers(pd.Series(["B0", "A", "/"])).tolist()
        [116, 0, 63]
    """
    codes = pa.array(codes, type=pa.string()) if not isinstance(codes, pa.Array) else codes.cast(pa.string())
    width = max(pc.max(pc.utf8_length(codes)).as_py() or 0, 1)
    # "A" is the digit 0, so left-padding with it keeps the value; then each row is one fixed-width digit string.
    padded = pc.utf8_lpad(codes, width=width, padding="A")
    if len(padded) and pc.any(pc.not_equal(pc.binary_length(padded), width)).as_py():
        raise ValueError("an index holds a number that is no dictd base-64 number (A-Z a-z 0-9 + /): "
                         "reinstall the dictionary's package")
    offsets = np.frombuffer(padded.buffers()[1], np.int32)[padded.offset:padded.offset + len(padded) + 1]
    data = np.frombuffer(padded.buffers()[2], np.uint8) if len(padded) else np.zeros(0, np.uint8)
    values = _B64_VALUE[data[offsets[0]:offsets[-1]]].reshape(len(padded), width)
    return values @ (64 ** np.arange(width - 1, -1, -1, dtype=np.int64))


def read_index(path: Path) -> pd.DataFrame:
    """A ``.index`` file: columns ``headword`` (str), ``offset``, ``length`` (int64 bytes into the data)."""
    lines = pa.array(Path(path).read_text(encoding="utf-8").splitlines(), type=pa.string())
    parts = pc.split_pattern(lines, "\t")
    fields = parts.filter(pc.equal(pc.list_value_length(parts), 3)).flatten()  # three a line
    return pd.DataFrame({
        "headword": fields[0::3].to_numpy(zero_copy_only=False),
        "offset": decode_numbers(fields[1::3]),
        "length": decode_numbers(fields[2::3]),
    })


def entry_translations(entry: str) -> list[str]:
    """The single-word translations of one entry, in order (see the module docstring for the format).

        >>> entry_translations("cinta /θˈinta/\\n1. bond, tie\\n2. connection, league\\n3. ribbon\\n")
        ['bond', 'tie', 'connection', 'league', 'ribbon']
        >>> entry_translations("Hund /hʊnt/ <n, masc>\\ndog <n>; hound\\n   Synonym: {Köter}\\n")
        ['dog', 'hound']
        >>> entry_translations("celnik /ˈʦ̑ɛlʲɲik/ <n>\\ncustoms officer\\nosoba kontrolująca cło\\n")
        []
        >>> entry_translations("Wasser… /vˈasɜ/ <adj>\\nwaterborne <adj>\\n")
        []
    """
    found: list[str] = []
    headword = _BRACKETED.sub(" ", entry.split("\n", 1)[0]).strip()
    if headword and (headword[0] in _AFFIX_MARKS or headword[-1] in _AFFIX_MARKS):
        return found  # a combining form ("Wasser…"), indexed under the word it combines
    sense_open = True  # the line after the headword line starts the first sense
    for line in entry.split("\n")[1:]:
        numbered = _SENSE_NUMBER.match(line)
        if numbered:
            sense_open, line = True, line[numbered.end():]
        if not sense_open or not line.strip() or line[0].isspace() or line.startswith("("):
            continue  # notes, examples, synonyms (indented) and grammar labels ("(noun (common))")
        sense_open = False
        for part in re.split(r"[,;]", _BRACKETED.sub(" ", line).replace("~", " ")):  # Hindi joins phrases by ~
            word = part.strip().rstrip(".").strip()
            if word.startswith("to "):  # English verbs: "to miss"
                word = word[3:]
            if (any(ch.isalpha() for ch in word) and not any(ch.isspace() or ch == "/" for ch in word)
                    and word[0] not in _AFFIX_MARKS and word[-1] not in _AFFIX_MARKS):  # "omni-" is no word
                found.append(word)
    return found


def read_dictionary(index_path: Path) -> pd.DataFrame:
    """One dictionary (``freedict-xxx-yyy.index`` and its ``.dict.dz`` beside it): ``headword, translation``.

    Headwords with a space are dropped; each entry is parsed once however many headwords point to it.
    """
    index_path = Path(index_path)
    data_path = index_path.with_suffix(".dict.dz")
    if not data_path.exists():
        raise ValueError(f"{index_path} has no data file {data_path.name} beside it; reinstall its package")
    index = read_index(index_path)
    index = index[~index["headword"].str.contains(r"\s", regex=True)]
    with gzip.open(data_path) as f:
        data = f.read()
    entries = index[["offset", "length"]].drop_duplicates()
    translations = [
        entry_translations(data[o:o + n].decode("utf-8", errors="replace"))
        for o, n in zip(entries["offset"].tolist(), entries["length"].tolist(), strict=True)
    ]
    parsed = entries.assign(translation=translations).explode("translation").dropna(subset=["translation"])
    pairs = index.merge(parsed, on=["offset", "length"])[["headword", "translation"]]
    return pairs.astype(object).reset_index(drop=True)


def installed_dictionaries(directory: Path | None = None) -> list[Path]:
    """The ``.index`` files of dictionaries between English and another language in ``directory``
    (default :func:`dictd_directory`, read at the call: the test suite points it at an empty folder)."""
    directory = dictd_directory() if directory is None else directory
    if not Path(directory).is_dir():
        return []
    return sorted(
        path for path in Path(directory).iterdir()
        if (m := _FILE_NAME.match(path.name)) and (m[1] == "eng") != (m[2] == "eng")
    )


def missing_packages(directory: Path | None = None) -> list[str]:
    """``DEBIAN_PACKAGES`` whose dictionary is not in ``directory``: what ``make install`` as root would add."""
    present = {path.name.removesuffix(".index") for path in installed_dictionaries(directory)}
    return [p for p in DEBIAN_PACKAGES if p.removeprefix("dict-") not in present]


def fingerprint(directory: Path | None = None) -> list[tuple[str, int, int]]:
    """What the token table depends on in ``directory``: each dictionary's name, size and mtime."""
    return [cache.file_key(p) for p in installed_dictionaries(directory)]


def installed_or_warn(directory: Path | None = None) -> pd.DataFrame:
    """``load_freedict``, after a warning that names the ``DEBIAN_PACKAGES`` not installed (the build
    goes on with what there is, CLDR alone when none)."""
    if missing := missing_packages(directory):
        warnings.warn(
            f"{len(missing)} of {len(DEBIAN_PACKAGES)} FreeDict dictionaries are not installed, so "
            f"fewer tokens get a concept and a gloss; as root, `make install` (or apt-get install "
            f"{' '.join(missing[:3])} ...) adds them",
            stacklevel=2,
        )
    return load_freedict(directory)


def load_freedict(directory: Path | None = None) -> pd.DataFrame:
    """Every English↔X dictionary in ``directory``: ``english, foreign, language`` (as MUSE's loader)
    and ``dictionaries``, how many of the two (``xxx-eng``, ``eng-xxx``) give the pair: one that both
    give is a main sense ("Wasser" / "water"), one that only ``eng-xxx`` gives may be a rare sense of
    the English word ("are", the unit of area, for Spanish "grupo").

    ``xxx-eng`` dictionaries give (headword, translation) = (foreign, english), ``eng-xxx`` the other
    way round; words lower-cased, pairs deduplicated, an empty frame when none is installed.
    ``result.attrs["dictionaries"]`` lists the files read ("deu-eng", ...). About 20 s for all 58
    the first time, a fraction of a second from the on-disk cache after that (``_load``).
    """
    return _load(Path(dictd_directory() if directory is None else directory))


@lru_cache(maxsize=4)
def _load(directory: Path) -> pd.DataFrame:
    """``load_freedict`` of one directory, kept in the process and on disk for the next ones
    (:func:`precompute.cache.cached_table`, keyed by :func:`fingerprint` and this module's source). The
    dictionaries are parsed one by one into the cache (:func:`precompute.cache.cached_parts`), so that a
    build's worker processes, which all want them as they start, share the parsing out."""
    paths = installed_dictionaries(directory)
    if not paths:
        return _combined({})
    source = cache.source_of(__file__)
    parts = {_name(path): [str(path.resolve()), path.stat().st_size, path.stat().st_mtime_ns, source] for path in paths}
    by_name = {_name(path): path for path in paths}

    def parsed() -> dict[str, pd.DataFrame]:
        return cache.cached_parts("freedict", parts, lambda name: _pairs(by_name[name]))

    key = [str(directory.resolve()), fingerprint(directory), source]
    table = cache.cached_table("freedict", key, lambda: _combined(parsed()), wait=False)
    if table is None:  # another process is reading them: parse those it has not taken, then read its whole
        done = parsed()
        table = cache.cached_table("freedict", key, lambda: _combined(done))
    return table


def _name(path: Path) -> str:
    """A dictionary's name, ``deu-eng``, from its index file's."""
    return "-".join(_FILE_NAME.match(path.name).groups())


def _pairs(path: Path) -> pd.DataFrame:
    """One dictionary's distinct ``english, foreign, language`` pairs, lower-cased."""
    source, target = _FILE_NAME.match(path.name).groups()
    pairs = read_dictionary(path)
    english, foreign = ("headword", "translation") if source == "eng" else ("translation", "headword")
    code = target if source == "eng" else source
    return pd.DataFrame({
        "english": pairs[english].str.lower(), "foreign": pairs[foreign].str.lower(),
        "language": LANGUAGE_CODES.get(code, code),
    }).drop_duplicates()


def _combined(dictionaries: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``load_freedict``'s table from each dictionary's pairs (``_pairs``, by name, in file order)."""
    columns = ["english", "foreign", "language"]
    result = (pd.concat(dictionaries.values(), ignore_index=True)
              .groupby(columns, sort=False).size().rename("dictionaries").reset_index() if dictionaries
              else pd.DataFrame({c: pd.Series(dtype=object) for c in columns}).assign(dictionaries=0))
    result.attrs["dictionaries"] = list(dictionaries)
    return result
