"""The on-disk cache of tables that every build process would compute again (precompute.cache): a table
comes back as it was written, a changed key is computed afresh, a damaged file is rebuilt with a
warning, and processes that ask at once compute it once and never leave half a file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from precompute import cache
from precompute.contract.schema import CACHE_ENV


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    return tmp_path / "precompute"


def frame() -> pd.DataFrame:
    table = pd.DataFrame({"english": ["dog", "bench"], "foreign": ["hund", "bank"], "language": "de"}).astype(object)
    table.attrs["dictionaries"] = ["deu-eng"]
    return table


def counted(calls: list[int], make=frame):
    """``make`` that records each call in ``calls``."""
    def compute():
        calls.append(1)
        return make()
    return compute


def test_a_table_reads_back_as_computed_and_is_computed_once(folder: Path):
    calls: list[int] = []
    first = cache.cached_table("pairs", ["a", 1], counted(calls))
    again = cache.cached_table("pairs", ["a", 1], counted(calls))
    assert calls == [1]
    assert again.equals(first) and again.dtypes.tolist() == first.dtypes.tolist() == [object] * 3
    assert again.attrs == {"dictionaries": ["deu-eng"]}
    words = pa.table({"word": ["a", "b"], "language": pa.array([3, 4], pa.int8())})
    arrow = cache.cached_table("arrow", 1, lambda: words)
    assert cache.cached_table("arrow", 1, lambda: None).equals(arrow)  # read back, not computed


def test_a_changed_key_is_computed_afresh_and_the_old_file_removed(folder: Path):
    calls: list[int] = []
    cache.cached_table("pairs", [("deu-eng.index", 10, 1)], counted(calls))
    newer = cache.cached_table("pairs", [("deu-eng.index", 12, 2)], counted(calls, lambda: frame().iloc[:1]))
    assert calls == [1, 1] and len(newer) == 1
    kept = [p.name for p in folder.glob("pairs-*.arrow")]
    assert kept == [cache.cache_path("pairs", [("deu-eng.index", 12, 2)]).name]


@pytest.mark.parametrize("damage", [lambda b: b[:-100], lambda b: b[:40] + bytes([b[40] ^ 1]) + b[41:], lambda b: b""],
                         ids=["cut short", "one bit flipped", "empty"])
def test_a_damaged_file_is_rebuilt_with_a_warning(folder: Path, damage):
    calls: list[int] = []
    cache.cached_table("pairs", 1, counted(calls))
    path = cache.cache_path("pairs", 1)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.warns(UserWarning, match="unreadable .* computing it again"):
        assert cache.cached_table("pairs", 1, counted(calls)).equals(frame())
    assert calls == [1, 1]
    assert cache.cached_table("pairs", 1, counted(calls)).equals(frame()) and calls == [1, 1]  # the rebuilt file


def test_processes_asking_at_once_compute_once_and_leave_whole_files(folder: Path, tmp_path: Path):
    log = tmp_path / "computed.txt"
    script = (
        "import sys, time, pandas as pd\n"
        "from precompute import cache\n"
        "def compute():\n"
        f"    open({str(log)!r}, 'a').write('x')\n"
        "    time.sleep(1)\n"
        "    return pd.DataFrame({'n': range(100_000)})\n"
        "print(int(cache.cached_table('numbers', 1, compute)['n'].sum()))\n"
    )
    env = {**os.environ, CACHE_ENV: str(tmp_path)}
    runs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env,
                             cwd=Path(__file__).resolve().parents[1]) for _ in range(3)]
    outputs = [run.communicate(timeout=120)[0].strip() for run in runs]
    assert outputs == [str(sum(range(100_000)))] * 3
    assert log.read_text() == "x"  # one computed it, the others waited and read it
    assert sorted(p.suffix for p in folder.iterdir()) == [".arrow", ".lock"]  # no temporary file left


def test_processes_asking_at_once_share_the_parts_out(folder: Path, tmp_path: Path):
    """Two processes that want the same six parts at once: each part computed once, each process computing
    some, and both reading all six in order."""
    script = (
        "import sys, time, pathlib, pandas as pd\n"
        "from precompute import cache\n"
        "me, other = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])\n"
        "me.touch()\n"
        "while not other.exists(): time.sleep(0.01)\n"  # both start computing together
        "def compute(part):\n"
        "    with open(str(me) + '.computed', 'a') as f: f.write(part)\n"
        "    time.sleep(0.5)\n"
        "    return pd.DataFrame({'part': [part]})\n"
        "parts = cache.cached_parts('letters', {p: [p, 1] for p in 'abcdef'}, compute)\n"
        "print(''.join(t['part'][0] for t in parts.values()))\n"
    )
    env = {**os.environ, CACHE_ENV: str(tmp_path)}
    a, b = tmp_path / "a", tmp_path / "b"
    runs = [subprocess.Popen([sys.executable, "-c", script, str(me), str(other)], stdout=subprocess.PIPE, text=True,
                             env=env, cwd=Path(__file__).resolve().parents[1]) for me, other in ((a, b), (b, a))]
    assert [run.communicate(timeout=120)[0].strip() for run in runs] == ["abcdef"] * 2
    computed = [Path(f"{p}.computed").read_text() for p in (a, b)]
    assert sorted("".join(computed)) == list("abcdef") and all(computed)  # each part once, each process some
    assert len(list(folder.glob("letters.*.arrow"))) == 6
