"""The artifact store: atomic writes, manifests, and clear errors on damaged files."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from precompute.contract import schema
from precompute.contract.naming import slugify
from precompute.contract.store import ArtifactDir, ArtifactError, fingerprint


def test_round_trip_lists_every_file_with_its_hash(tmp_path: Path) -> None:
    d = ArtifactDir.create(tmp_path / "m", kind="model")
    d.write_array("a.npy", np.arange(6, dtype=np.int32).reshape(2, 3))
    d.write_table("t.parquet", pd.DataFrame({"x": [1, 2]}))
    d.save_manifest()
    again = ArtifactDir.open(tmp_path / "m")
    assert again.manifest["files"]["a.npy"]["shape"] == [2, 3]
    assert again.manifest["files"]["t.parquet"]["rows"] == 2
    assert again.load_array("a.npy")[1, 2] == 5
    assert again.load_table("t.parquet")["x"].tolist() == [1, 2]
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["a.npy", "manifest.json", "t.parquet"]


def test_corrupt_missing_and_unlisted_files_name_the_file_and_the_fix(tmp_path: Path) -> None:
    d = ArtifactDir.create(tmp_path / "m", rebuild="python -m precompute build m")
    d.write_array("a.npy", np.zeros(4, dtype=np.float32))
    d.save_manifest()
    with open(tmp_path / "m" / "a.npy", "r+b") as f:
        f.seek(-1, 2)
        f.write(b"\x01")
    with pytest.raises(ArtifactError, match=r"a\.npy is corrupt.*precompute build m$"):
        ArtifactDir.open(tmp_path / "m").load_array("a.npy")
    (tmp_path / "m" / "a.npy").unlink()
    with pytest.raises(ArtifactError, match=r"a\.npy is missing"):
        ArtifactDir.open(tmp_path / "m").load_array("a.npy")
    with pytest.raises(ArtifactError, match="not listed"):
        ArtifactDir.open(tmp_path / "m").load_table("b.parquet")


def test_a_failing_write_leaves_no_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    d = ArtifactDir.create(tmp_path / "m")
    d.write_table("t.parquet", pd.DataFrame({"x": [1]}))

    def explode(path: Path) -> dict:
        path.write_bytes(b"half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        d.write_file("t.parquet", explode, fmt="parquet")
    assert d.load_table("t.parquet")["x"].tolist() == [1]
    assert [p.name for p in (tmp_path / "m").iterdir()] == ["t.parquet"]


def test_broken_or_foreign_manifests_are_reported(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / schema.MANIFEST).write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        ArtifactDir.open(tmp_path / "m")
    (tmp_path / "m" / schema.MANIFEST).write_text('{"schema_version": 99}')
    with pytest.raises(ArtifactError, match="schema version 99"):
        ArtifactDir.open(tmp_path / "m")
    with pytest.raises(ArtifactError, match="does not exist"):
        ArtifactDir.open(tmp_path / "absent")


def test_arrays_never_pickle(tmp_path: Path) -> None:
    d = ArtifactDir.create(tmp_path / "m")
    with pytest.raises(TypeError, match="pickling"):
        d.write_array("o.npy", np.array(["a", None], dtype=object))


def test_slugs_and_fingerprints() -> None:
    assert slugify("google/mt5-small") == "google--mt5-small"
    assert slugify("all-MiniLM-L6-v2") == "all-MiniLM-L6-v2"
    with pytest.raises(ValueError, match="directory name"):
        slugify("///")
    assert fingerprint("a", {"k": 1}) == fingerprint("a", {"k": 1}) != fingerprint("a", {"k": 2})
