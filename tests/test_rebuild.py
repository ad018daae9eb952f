"""The rebuild command: one place spells it, every message quotes it, and running it repairs the damage.

For each kind of source (a local checkpoint, a matrix with its vocabulary) and for a comparison,
built into a non-default root with non-default parameters: damage one artifact, read the command
the error names, run it, and check that the same directory is whole again, rebuilt by a plain
build that redoes only the damaged step.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from precompute.build.cli import main
from precompute.contract import rebuild, schema
from precompute.contract.config import BuildConfig
from precompute.contract.store import ArtifactDir, ArtifactError
from precompute.steps import discover
from tests.samples import SMALL_FLAGS, write_matrix_model


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A matrix model, a local BERT checkpoint and their comparison, built through the CLI."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tmp = tmp_path_factory.mktemp("rebuild")
    write_matrix_model(tmp)
    texts = json.loads((tmp / "vocab.json").read_text(encoding="utf-8"))
    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [
        t[1:] if t.startswith("▁") else f"##{t}" for t in texts[5:]
    ]
    ckpt = tmp / "ckpt"
    ckpt.mkdir()
    (ckpt / "vocab.txt").write_text("\n".join(dict.fromkeys(pieces)) + "\n", encoding="utf-8")
    (ckpt / "config.json").write_text(json.dumps({"model_type": "bert"}))
    tok = AutoTokenizer.from_pretrained(ckpt)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=16, max_position_embeddings=16)).save_pretrained(ckpt)
    tok.save_pretrained(ckpt)
    root = tmp / "elsewhere"
    common = ["--artifacts", str(root), "--quiet", *SMALL_FLAGS]
    assert main(["build", str(tmp / "m.npy"), "--vocab", str(tmp / "vocab.json"), "--name", "mini", *common]) == 0
    assert main(["build", str(ckpt), *common]) == 0
    assert main(["compare", "mini", "ckpt", "--name", "pair", *common]) == 0
    return root


def _damage_and_repair(directory: Path, name: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Corrupt ``name``, take the command from the error, run it; return the steps it rebuilt."""
    before = sorted(p.name for p in directory.parent.iterdir())
    with open(directory / name, "r+b") as f:
        f.seek(-1, 2)
        f.write(b"\x00" if f.read(1) != b"\x00" else b"\x01")
    with pytest.raises(ArtifactError) as err:
        ArtifactDir.open(directory).verify(name)
    command = str(err.value).split("Rebuild: ", 1)[1]
    assert command == ArtifactDir.open(directory).manifest["rebuild"]
    assert "--force" not in command
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "precompute"]
    capsys.readouterr()
    assert main([*argv[3:], "--quiet"]) == 0, capsys.readouterr().err
    ArtifactDir.open(directory).verify(name)
    assert sorted(p.name for p in directory.parent.iterdir()) == before  # the same directory, no new one
    return capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("name", [schema.NEIGHBORS, schema.DIVERSITY, schema.ANNOY])
def test_a_matrix_model_is_repaired_by_the_command_its_error_names(built: Path, name: str, capsys) -> None:
    out = _damage_and_repair(built / "mini", name, capsys)
    others = sum(s.kind == "model" for s in discover()) - 1  # only the damaged file's step is rebuilt
    assert any(f"1 steps built, {others} current" in line for line in out), out


def test_a_local_checkpoint_is_repaired_in_place(built: Path, capsys) -> None:
    out = _damage_and_repair(built / "ckpt", schema.TOKENS, capsys)
    assert any("1 steps built" in line for line in out), out


def test_a_comparison_is_repaired_by_the_command_its_error_names(built: Path, capsys) -> None:
    _damage_and_repair(built / schema.COMPARISONS_DIR / "pair", schema.GEOMETRY, capsys)
    assert main(["verify", "--artifacts", str(built)]) == 0


def test_the_command_repeats_what_made_the_directory() -> None:
    config = BuildConfig(k=200, n_jobs=2)  # n_jobs changes no artifact: not repeated
    hub = {"id": "google/mt5-small", "source": "huggingface", "revision": "0123abc", "tensor": "shared.weight"}
    assert rebuild.model_command(hub, "google--mt5-small", Path("artifacts"), config, ["k"]) == (
        "python -m precompute build google/mt5-small --revision 0123abc --tensor shared.weight --k 200"
    )
    builtin = {"id": "wordllama-l2", "source": "builtin", "revision": "0.4.0"}
    assert rebuild.model_command(builtin, "wl", Path("/data/my arts"), BuildConfig(), ["k"], "muse dicts") == (
        "python -m precompute build wordllama-l2 --name wl --dictionaries 'muse dicts' --artifacts '/data/my arts'"
    )
    assert rebuild.comparison_command(["a", "b"], "a__b", Path("artifacts"), BuildConfig(diversity_ks=(5,)),
                                      ["k"]) == "python -m precompute compare a b"


def test_an_unreadable_manifest_still_says_what_to_run(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / schema.MANIFEST).write_text("{not json")
    with pytest.raises(ArtifactError, match=r"precompute build MODEL --name m --artifacts .*the model it was built"):
        ArtifactDir.open(tmp_path / "m")
