"""Builds through Ray on a local 2-CPU cluster: the same bytes as a serial build, retries, failures."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from precompute.build import locks
from precompute.build.cli import main
from precompute.contract import schema
from precompute.contract.bundle import sha256_of
from precompute.knn.neighbors import top_k_neighbors
from tests.samples import SMALL_FLAGS, write_matrix_model

ray = pytest.importorskip("ray")
REPO = Path(__file__).resolve().parents[1]
#: Manifest fields that record when and how long, not what: they differ between any two builds.
TIMING = ("seconds", "finished_at", "built_at")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING",
             runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def matrices(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, Path]]:
    tmp = tmp_path_factory.mktemp("models")
    return [write_matrix_model(tmp / "a"), write_matrix_model(tmp / "b", np.r_[0:5, 2000:2250])]


def _args(matrix: tuple[Path, Path], name: str, root: Path) -> list[str]:
    npy, vocab = matrix
    return ["build", str(npy), "--vocab", str(vocab), "--name", name, "--artifacts", str(root), "--quiet",
            *SMALL_FLAGS, "--n-jobs", "1", "--block-size", "64"]


def _contents(directory: Path) -> dict[str, object]:
    """Every file's sha256, and the manifest without its timing fields and its (root-specific) command."""
    out: dict[str, object] = {p.name: sha256_of(p) for p in directory.iterdir()
                              if p.is_file() and not p.name.startswith(".") and p.name != schema.MANIFEST}
    manifest = json.loads((directory / schema.MANIFEST).read_text())
    for step in manifest["steps"].values():
        for field in TIMING:
            step.pop(field, None)
    manifest.pop("built_at", None)
    manifest.pop("rebuild", None)
    manifest.get("annoy", {}).pop("build_seconds", None)
    out["manifest"] = manifest
    return out


def test_models_built_through_ray_are_byte_identical_to_serial_builds(cluster, matrices, tmp_path: Path) -> None:
    serial, parallel = tmp_path / "serial", tmp_path / "ray"
    for i, matrix in enumerate(matrices):
        assert main(_args(matrix, f"m{i}", serial)) == 0
        assert main([*_args(matrix, f"m{i}", parallel), "--ray"]) == 0
    for name in ("m0", "m1"):
        assert _contents(parallel / name) == _contents(serial / name)


def test_a_failing_model_is_reported_while_the_other_completes(cluster, matrices, tmp_path: Path, capsys) -> None:
    npy, vocab = matrices[0]
    code = main(["build", "no-such-org/no-such-model", str(npy), "--vocab", str(vocab), "--artifacts", str(tmp_path),
                 "--quiet", *SMALL_FLAGS, "--ray"])
    assert code == 1
    err = capsys.readouterr().err
    assert "no-such-org/no-such-model" in err and "SourceError" in err


def test_a_worker_killed_mid_build_is_retried_and_the_result_is_the_same(cluster, matrices, tmp_path: Path) -> None:
    from precompute.build.distributed import TaskResult, build_models
    from precompute.contract.config import BuildConfig

    config = BuildConfig(k=10, diversity_ks=(5, 10), meaning_k=5, min_category_tokens=30, folds=3, umap_neighbors=5,
                         n_jobs=1, block_size=64)
    assert main(_args(matrices[0], "m", tmp_path / "serial")) == 0
    results: dict = {}
    name = str(matrices[0][0])
    thread = threading.Thread(target=lambda: results.update(build_models(
        [(name, "m")], tmp_path / "ray", config, load={"vocab_path": str(matrices[0][1])})))
    thread.start()
    owner = tmp_path / "ray" / "m" / locks.OWNER_FILE
    deadline = time.monotonic() + 120
    while not (owner.exists() and (tmp_path / "ray" / "m" / schema.TOKENS).exists()) and time.monotonic() < deadline:
        time.sleep(0.05)
    killed = int(owner.read_text())
    os.kill(killed, signal.SIGKILL)  # the worker building it, mid-build
    thread.join(timeout=600)
    assert int(owner.read_text()) != killed  # another worker built it again
    assert isinstance(results[name], TaskResult) and not results[name].failed, results
    assert _contents(tmp_path / "ray" / "m") == _contents(tmp_path / "serial" / "m")


def test_the_exact_table_split_in_ray_tasks_equals_one_process(cluster) -> None:
    from precompute.build.distributed import top_k_neighbors_on_ray

    rng = np.random.default_rng(3)
    x = rng.normal(size=(700, 24)).astype(np.float32)
    x[100:110] = x[5]  # exact ties: the smaller id must win in both
    x[200] = 0  # a zero row: no neighbours
    expected = top_k_neighbors(x, 12, block_size=64, n_threads=1, progress=False)
    got = top_k_neighbors_on_ray(x, 12, tasks=3, block_size=64, n_threads=1)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
