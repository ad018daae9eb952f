"""The command line: help, listing, a build from a plain matrix, and errors that say what to do."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from precompute.build.cli import main
from precompute.contract import schema


def test_no_command_prints_help_and_fails(capsys) -> None:
    assert main([]) == 2
    assert "build" in capsys.readouterr().err


def test_models_lists_the_built_ins(capsys) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("use-multilingual-v3", "wordllama-l2", "all-MiniLM-L6-v2"):
        assert name in out


def test_unknown_model_is_a_clear_error_and_writes_no_artifacts(tmp_path: Path, capsys, monkeypatch) -> None:
    from precompute.contract import progress

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["build", "no-such-org/no-such-model", "--artifacts", str(tmp_path), "--quiet"]) == 1
    assert "no-such-org/no-such-model" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == [progress.PROGRESS_FILE]  # the dashboard says why
    (task,) = progress.read(tmp_path).tasks
    assert task.state == "failed" and "no-such-org/no-such-model" in task.error


def test_bad_parameter_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["build", "x", "--k", "0", "--artifacts", str(tmp_path)]) == 2
    assert "k must be at least 1" in capsys.readouterr().err


def test_build_a_plain_matrix_then_verify_then_detect_damage(tmp_path: Path, capsys) -> None:
    from precompute.sources import load_model

    real = load_model("all-MiniLM-L6-v2")
    ids = np.r_[0:5, 1000:1400]  # specials, then real word pieces
    np.save(tmp_path / "m.npy", real.embeddings[ids])
    (tmp_path / "vocab.json").write_text(json.dumps([real.vocab.texts[i] for i in ids]), encoding="utf-8")
    out = tmp_path / "artifacts"
    args = ["build", str(tmp_path / "m.npy"), "--vocab", str(tmp_path / "vocab.json"), "--name", "mini",
            "--artifacts", str(out), "--quiet", "--k", "10", "--diversity-ks", "5", "10", "--meaning-k", "5",
            "--min-category-tokens", "30", "--folds", "3", "--umap-neighbors", "5"]
    assert main(args) == 0, capsys.readouterr().err
    assert main(["verify", "--artifacts", str(out)]) == 0
    (out / "mini" / schema.NEIGHBORS).write_bytes(b"garbage")
    assert main(["verify", "--artifacts", str(out)]) == 1
    assert "neighbors.npy is corrupt" in capsys.readouterr().out


def test_compare_needs_two_models(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["compare", "--artifacts", str(tmp_path)])
    assert main(["compare", "a", "--artifacts", str(tmp_path)]) == 2
    assert "at least two models" in capsys.readouterr().err


def test_frequency_counts_a_local_corpus_and_redoes_the_deciles(tmp_path: Path, monkeypatch, capsys) -> None:
    from precompute import sources
    from precompute.contract.store import ArtifactDir
    from tests.samples import SMALL_CONFIG, sample_model

    model = sample_model(sources.load_model("wordllama-l2"), "wl", size=300)
    position = {t: i for i, t in enumerate(model.vocab.texts)}
    model.encode = lambda text: [position[w] for w in ("▁" + text).replace(" ", " ▁").split(" ") if w in position]
    monkeypatch.setattr(sources, "load_model", lambda *args, **kwargs: model)
    (tmp_path / "corpus.txt").write_text("the king\nthe queen\nthe\n", encoding="utf-8")
    out = tmp_path / "artifacts"
    small = ["--k", str(SMALL_CONFIG.k), "--diversity-ks", "5", "10", "20", "--meaning-k", "10",
             "--min-category-tokens", "40", "--folds", "3", "--umap-neighbors", "10"]
    assert main(["frequency", "wl", "--corpus", str(tmp_path / "corpus.txt"), "--artifacts", str(out), "--quiet",
                 *small]) == 0, capsys.readouterr().err
    d = ArtifactDir.open(out / "wl")
    counts = d.load_table(schema.CORPUS_FREQUENCY).set_index("id")["count"]
    assert counts[position["▁the"]] == 3 and counts[position["▁king"]] == 1 and counts.sum() == 5
    assert d.manifest["corpus"]["tokens_counted"] == 5
    assert "diversity" in d.manifest["steps"]


def test_two_models_build_side_by_side_and_the_progress_file_follows(tmp_path: Path, capsys) -> None:
    from precompute.contract import progress
    from precompute.contract.naming import model_slug
    from tests.samples import SMALL_FLAGS, write_matrix_model

    matrix, vocab = write_matrix_model(tmp_path)
    other = matrix.rename(tmp_path / "other.npy")
    np.save(matrix, np.load(other)[::-1].copy())  # a second model: the same tokens, their rows reversed
    out = tmp_path / "artifacts"
    args = ["build", str(matrix), str(other), "--vocab", str(vocab), "--artifacts", str(out), "--quiet",
            "--jobs", "2", *SMALL_FLAGS]
    assert main(args) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert f"{matrix}: 10 steps built" in printed and f"{other}: 10 steps built" in printed
    state = progress.read(out)
    assert state.finished
    assert [(t.name, t.state, t.steps_done, t.steps_total) for t in state.tasks] == [
        (model_slug(str(matrix)), "done", 10, 10), (model_slug(str(other)), "done", 10, 10)]
    assert main(["verify", "--artifacts", str(out)]) == 0
