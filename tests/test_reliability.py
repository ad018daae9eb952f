"""Hostile input, interrupted and concurrent builds: each case the audit found, reproduced, then held.

Every case here is a row of the README's reliability table.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from precompute.build import locks
from precompute.build.cli import main
from precompute.contract import schema
from precompute.contract.store import ArtifactDir, sha256_file
from precompute.knn.annoy_index import build_annoy
from tests.samples import SMALL_FLAGS, write_matrix_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_matrix_model(tmp_path_factory.mktemp("matrix"))


@pytest.fixture(scope="module")
def built(matrix: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("artifacts")
    npy, vocab = matrix
    assert main(["build", str(npy), "--vocab", str(vocab), "--artifacts", str(root), "--quiet", *SMALL_FLAGS]) == 0
    return root


def _build(matrix: tuple[Path, Path], root: Path, *extra: str) -> list[str]:
    npy, vocab = matrix
    return ["build", str(npy), "--vocab", str(vocab), "--artifacts", str(root), "--quiet", *SMALL_FLAGS, *extra]


@pytest.mark.parametrize("name", ["../../somewhere", "/tmp/absolute", "..", ".", "a/b", "comparisons", "x" * 300])
def test_a_name_that_is_not_a_slug_is_refused_and_nothing_is_written(name: str, matrix, tmp_path: Path,
                                                                       capsys) -> None:
    root = tmp_path / "deep" / "root"
    assert main(_build(matrix, root, "--name", name)) == 1
    err = capsys.readouterr().err
    assert "is not a valid artifact name" in err and "letters, digits" in err and "Traceback" not in err
    assert not (tmp_path / "deep").exists() and not Path("/tmp/absolute").exists()


def test_artifacts_have_one_documented_mode(built: Path) -> None:
    files = [p for p in (built / "m").iterdir() if not p.name.startswith(".")]
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o644}, {p.name: oct(p.stat().st_mode) for p in files}


def test_a_second_build_waits_for_the_first_or_fails_at_once_naming_it(matrix, built: Path, capsys, caplog) -> None:
    directory = built / "m"
    with locks.building(directory):
        assert main(_build(matrix, built, "--no-wait")) == 1
        err = capsys.readouterr().err
        assert f"is being built by process {os.getpid()}" in err and "--no-wait" in err

    held = threading.Event()

    def hold_for_a_second() -> None:
        with locks.building(directory):
            held.set()
            time.sleep(1.0)

    holder = threading.Thread(target=hold_for_a_second)
    holder.start()
    held.wait()
    start = time.monotonic()
    assert main(_build(matrix, built)) == 0
    holder.join()
    assert time.monotonic() - start >= 0.9  # it waited for the holder
    assert "waiting for it to finish" in caplog.text


def test_two_concurrent_builds_of_one_model_leave_a_consistent_directory(matrix, tmp_path: Path) -> None:
    root = tmp_path / "root"
    runs = [subprocess.Popen([sys.executable, "-m", "precompute", *_build(matrix, root, "--seed", str(seed))],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for seed in (0, 1)]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert main(["verify", "--artifacts", str(root)]) == 0


def test_temporary_files_of_a_killed_build_are_removed_by_the_next(matrix, built: Path) -> None:
    stale = built / "m" / f".{schema.ANNOY}.abc123.tmp"
    stale.write_bytes(b"half an index")
    assert main(_build(matrix, built)) == 0
    assert not stale.exists()


def test_verify_says_missing_and_failed_and_exits_non_zero(matrix, tmp_path: Path, capsys) -> None:
    root = tmp_path / "root"
    assert main(_build(matrix, root)) == 0
    (root / "m" / schema.MAP).unlink()
    manifest_path = root / "m" / schema.MANIFEST
    manifest = json.loads(manifest_path.read_text())
    del manifest["steps"]["separability"]
    manifest["failed"] = {"separability": "MemoryError: out of memory"}
    manifest_path.write_text(json.dumps(manifest))
    capsys.readouterr()
    assert main(["verify", "--artifacts", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"{schema.MAP} is missing" in out
    assert "step separability failed: MemoryError" in out
    # the advice works: the command the problem names brings it back
    command = out.split("Rebuild: ")[1].splitlines()[0]
    assert main([*shlex.split(command)[3:], "--quiet"]) == 0
    assert main(["verify", "--artifacts", str(root)]) == 0


@pytest.mark.parametrize("content, message", [
    (b"[]", "holds no tokens"),
    (b"", "not valid JSON"),
    ("[\"caf\u00e9\"]".encode("latin-1"), "is not UTF-8 text"),
])
def test_bad_vocabularies_name_the_file(content: bytes, message: str, tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "m.npy", np.ones((1, 4), np.float32))
    (tmp_path / "v.json").write_bytes(content)
    assert main(["build", str(tmp_path / "m.npy"), "--vocab", str(tmp_path / "v.json"),
                 "--artifacts", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert message in err and "v.json" in err
    assert not (tmp_path / "a").exists()


def test_an_empty_text_vocabulary_has_no_tokens(tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "m.npy", np.ones((0, 4), np.float32))
    (tmp_path / "v.txt").write_text("")
    assert main(["build", str(tmp_path / "m.npy"), "--vocab", str(tmp_path / "v.txt"),
                 "--artifacts", str(tmp_path / "a")]) == 1
    assert "holds no tokens" in capsys.readouterr().err


def test_nan_rows_advice_works(matrix, tmp_path: Path, capsys) -> None:
    npy, vocab = matrix
    broken = np.load(npy)
    broken[[7, 9]] = np.nan
    np.save(tmp_path / "m.npy", broken)
    args = ["build", str(tmp_path / "m.npy"), "--vocab", str(vocab), "--artifacts", str(tmp_path / "a"), "--quiet",
            *SMALL_FLAGS]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "NaN or infinite values in 2 rows (ids [7, 9])" in err and "set those rows to zero" in err
    broken[[7, 9]] = 0  # what it says to do
    np.save(tmp_path / "m.npy", broken)
    assert main(args) == 0, capsys.readouterr().err


def test_too_large_k_advice_works_and_a_tiny_model_is_told_why(matrix, tmp_path: Path, capsys) -> None:
    npy, vocab = matrix
    rows = np.load(npy)[:40]
    np.save(tmp_path / "m.npy", rows)
    texts = json.loads(vocab.read_text(encoding="utf-8"))[:40]
    (tmp_path / "v.json").write_text(json.dumps(texts), encoding="utf-8")
    base = ["build", str(tmp_path / "m.npy"), "--vocab", str(tmp_path / "v.json"), "--artifacts",
            str(tmp_path / "a"), "--quiet", "--min-category-tokens", "10", "--folds", "3", "--umap-neighbors", "5"]
    assert main(base) == 1
    err = capsys.readouterr().err
    advice = err.split("pass ", 1)[1].split()
    assert advice[:2] == ["--k", "39"]
    assert main(base + advice) == 0, capsys.readouterr().err
    np.save(tmp_path / "m.npy", rows[:11])
    (tmp_path / "v.json").write_text(json.dumps(texts[:11]), encoding="utf-8")
    assert main(base) == 1
    assert "a build needs at least 12" in capsys.readouterr().err


def test_the_default_annoy_build_is_byte_identical_run_to_run(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 16)).astype(np.float32)
    from precompute.knn.neighbors import top_k_neighbors

    ids, _ = top_k_neighbors(x, 10, progress=False)
    for name in ("a.ann", "b.ann"):
        build_annoy(x, tmp_path / name, exact_neighbors=ids, n_trees=4, search_k=400, progress=False)
    assert sha256_file(tmp_path / "a.ann") == sha256_file(tmp_path / "b.ann")


def test_a_corrupt_manifest_in_the_root_does_not_stop_verify_of_the_others(built: Path, tmp_path: Path,
                                                                           capsys) -> None:
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(built, root)
    shutil.copytree(root / "m", root / "n")
    (root / "n" / schema.MANIFEST).write_text("{")
    assert main(["verify", "--artifacts", str(root)]) == 1
    out = capsys.readouterr().out
    assert "ok       " in out and "not valid JSON" in out
    assert ArtifactDir.open(root / "m").problems(["tokens"]) == []
