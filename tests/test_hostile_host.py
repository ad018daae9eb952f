"""A hostile or broken bundle host, and bad content with a good hash: each case reproduced on loopback, then held.

The host is the standard library's HTTP server on 127.0.0.1 serving a two-file bundle made here; switches make
it trickle, send without end, or serve a decompression bomb. Every case is a row of the README's reliability table.
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import data, remote
from precompute.build import publish as publishing
from precompute.build.cli import main
from precompute.contract import bundle, schema
from precompute.contract.store import ArtifactDir, ArtifactError
from precompute.contract.tokenizer import read_tokenizer

REPO = Path(__file__).resolve().parents[1]
PAYLOAD = bytes(range(256)) * 400  # 100 kB


class Host(SimpleHTTPRequestHandler):
    """Static files; ``trickle`` paths send one byte every 0.2 s, ``endless`` paths never end."""

    trickle: set[str] = set()
    endless: set[str] = set()

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        name = self.path.lstrip("/")
        if name in self.trickle or name in self.endless:
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(10_000):
                    self.wfile.write(b"x" if name in self.trickle else b"\0" * 65536)
                    self.wfile.flush()
                    time.sleep(0.2 if name in self.trickle else 0)
            except OSError:  # the client stopped reading: what the test wants
                pass
            return
        super().do_GET()


def _write_bundle(directory: Path, stored: bytes | None = None, size: int = len(PAYLOAD)) -> None:
    """A bundle of one directory ``m``: its manifest and ``a.bin`` (``stored``: replace its compressed bytes)."""
    (directory / "m").mkdir(parents=True)
    (directory / "m" / "manifest.json").write_text("{}")
    (directory / "raw").write_bytes(PAYLOAD)
    bundle.compress(directory / "raw", directory / "m" / "a.bin.zst")
    (directory / "raw").unlink()
    if stored is not None:
        (directory / "m" / "a.bin.zst").write_bytes(stored)
    entry = bundle.Entry("m/a.bin", "m/a.bin.zst", size, hashlib.sha256(PAYLOAD).hexdigest(),
                         (directory / "m" / "a.bin.zst").stat().st_size,
                         bundle.sha256_of(directory / "m" / "a.bin.zst"))
    manifest = directory / "m" / "manifest.json"
    plain = bundle.Entry("m/manifest.json", "m/manifest.json", 2, bundle.sha256_of(manifest), 2,
                         bundle.sha256_of(manifest))
    bundle.write_index(directory, [plain, entry], {})


@pytest.fixture
def host(tmp_path: Path) -> Iterator[tuple[str, Path, type[Host]]]:
    directory = tmp_path / "served"
    _write_bundle(directory)
    handler = type("H", (Host,), {"trickle": set(), "endless": set()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", directory, handler
    server.shutdown()
    server.server_close()


# ---- publish never deletes what it did not write ------------------------------------------------------------
@pytest.fixture
def tiny_root(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "root"
    store = ArtifactDir.create(root / "m")
    store.write_array(schema.SIMILARITIES, np.ones((3, 2), np.float32))
    store.save_manifest()
    monkeypatch.setattr(publishing, "discover", list)  # no step is expected of this hand-made directory
    return root


@pytest.mark.parametrize("foreign", [".git/HEAD", "README.md"])
def test_publish_refuses_a_directory_that_is_not_a_bundle_and_leaves_it_whole(tiny_root, tmp_path, foreign) -> None:
    out = tmp_path / "repo"
    (out / foreign).parent.mkdir(parents=True, exist_ok=True)
    (out / foreign).write_text("mine")
    assert main(["publish", "--all", "--out", str(out), "--artifacts", str(tiny_root), "--quiet"]) == 2
    assert (out / foreign).read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["repo", "root"]


def test_publish_refuses_a_bundle_with_a_dataset_card_beside_it(tiny_root, tmp_path, capsys) -> None:
    out = tmp_path / "b"
    publishing.publish(tiny_root, out, progress=False)
    (out / "README.md").write_text("card")
    assert main(["publish", "--all", "--out", str(out), "--artifacts", str(tiny_root), "--quiet"]) == 2
    assert "files the bundle there did not write (README.md)" in capsys.readouterr().err
    assert (out / "README.md").read_text() == "card" and (out / bundle.INDEX).is_file()


def test_publish_replaces_its_own_bundle_and_leaves_no_sibling(tiny_root, tmp_path) -> None:
    out = tmp_path / "b"
    out.mkdir()  # an empty directory is fine too
    publishing.publish(tiny_root, out, progress=False)
    first = (out / bundle.INDEX).read_text()
    publishing.publish(tiny_root, out, progress=False)
    entries, _ = bundle.read_index((out / bundle.INDEX).read_bytes(), "index")
    assert {e.path for e in entries} == {"m/manifest.json", f"m/{schema.SIMILARITIES}"}
    assert json.loads(first)["entries"] == json.loads((out / bundle.INDEX).read_text())["entries"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "root"]


# ---- the index is checked against its format first ----------------------------------------------------------
GOOD = {"path": "m/a.bin", "stored": "m/a.bin.zst", "size": 1, "sha256": "0" * 64, "stored_size": 1,
        "stored_sha256": "0" * 64}


@pytest.mark.parametrize(("change", "said"), [
    ({"size": "12"}, "size of 'm/a.bin' is '12', not a byte count"),
    ({"stored_size": -1}, "stored_size of 'm/a.bin' is -1"),
    ({"path": "m/a\0b", "stored": "m/a\0b"}, "holds a NUL"),
    ({"path": "m/" + "x" * 300, "stored": "m/" + "x" * 300}, "longer than 255 bytes"),
    ({"path": "../etc/x", "stored": "../etc/x"}, "is not <directory>/<file>"),
    ({"path": "/etc/passwd", "stored": "/etc/passwd"}, "is not <directory>/<file>"),
    ({"path": "index.json", "stored": "index.json"}, "is not <directory>/<file>"),
    ({"path": ".downloads/x", "stored": ".downloads/x"}, "is not <directory>/<file>"),
    ({"stored": "other/a.bin.zst"}, "is stored as 'other/a.bin.zst'"),
    ({"sha256": "z" * 64}, "not 64 hex digits"),
    ({"extra": 1}, "exactly the keys"),
])
def test_a_malformed_index_gives_one_clear_error(change: dict, said: str) -> None:
    index = {"format": bundle.FORMAT, "version": bundle.VERSION, "entries": [{**GOOD, **change}]}
    with pytest.raises(bundle.BundleError, match="is not a valid Hyperpolyglot bundle index") as caught:
        bundle.read_index(json.dumps(index), "http://h/index.json")
    assert said in str(caught.value)


def test_an_endless_index_is_cut_off(host, tmp_path: Path) -> None:
    url, _, handler = host
    handler.endless.add(bundle.INDEX)
    with pytest.raises(bundle.BundleError, match=f"more than the {bundle.MAX_INDEX_BYTES:,} bytes"):
        remote.sync(url, tmp_path / "cache")


# ---- downloads: a deadline, the declared sizes, the disk ----------------------------------------------------
def test_a_trickling_host_meets_a_deadline_for_the_whole_file(host, tmp_path: Path, monkeypatch) -> None:
    url, _, handler = host
    handler.trickle.add("m/a.bin.zst")
    monkeypatch.setattr(remote, "BASE_SECONDS", 1.0)
    report = remote.sync(url, tmp_path / "cache")
    assert "did not arrive within 1 s" in report.failed["m/a.bin"] and report.reused + report.fetched == [
        "m/manifest.json"]


def test_a_body_longer_than_declared_is_stopped_and_removed(host, tmp_path: Path) -> None:
    url, _, handler = host
    handler.endless.add("m/a.bin.zst")
    report = remote.sync(url, tmp_path / "cache")
    assert "the host sent more than the" in report.failed["m/a.bin"]
    assert not list((tmp_path / "cache" / remote.DOWNLOADS).rglob("*.part"))


def test_a_zstd_bomb_stops_at_the_declared_size(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb"
    (tmp_path / "zeros").write_bytes(bytes(20 << 20))
    bundle.compress(tmp_path / "zeros", bomb)
    assert bomb.stat().st_size < 20 << 10  # 20 MiB of zeros in a few kB
    with pytest.raises(bundle.BundleError, match="expands beyond the 1,000 bytes"):
        bundle.decompress(bomb, tmp_path / "out", limit=1000)
    assert (tmp_path / "out").stat().st_size <= bundle.CHUNK


def test_a_bomb_served_with_a_good_stored_hash_is_not_kept(tmp_path: Path) -> None:
    served = tmp_path / "served"
    (tmp_path / "zeros").write_bytes(bytes(8 << 20))
    bundle.compress(tmp_path / "zeros", tmp_path / "bomb")
    _write_bundle(served, stored=(tmp_path / "bomb").read_bytes(), size=1000)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Host, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        report = remote.sync(f"http://127.0.0.1:{server.server_address[1]}/", tmp_path / "cache")
    finally:
        server.shutdown()
        server.server_close()
    assert "expands beyond the 1,000 bytes" in report.failed["m/a.bin"]
    assert not (tmp_path / "cache" / "m" / "a.bin").exists() and not list((tmp_path / "cache").rglob("*.tmp"))


def test_free_disk_is_checked_against_the_index_first(host, tmp_path: Path, monkeypatch) -> None:
    url, _, _ = host
    monkeypatch.setattr(remote.shutil, "disk_usage", lambda path: type("U", (), {"free": 10 << 20})())
    report = remote.sync(url, tmp_path / "cache")
    assert "need 64 MiB and the cache's disk has 10 MiB free" in report.failed["m/a.bin"]
    assert not (tmp_path / "cache" / remote.DOWNLOADS).exists() or not any(
        (tmp_path / "cache" / remote.DOWNLOADS).rglob("*"))


def test_stale_partial_files_are_cleaned(host, tmp_path: Path) -> None:
    url, _, _ = host
    stale = tmp_path / "cache" / remote.DOWNLOADS / "old" / "gone.bin.zst.part"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"x" * 1000)
    assert remote.sync(url, tmp_path / "cache").failed == {} and not stale.exists()


def test_a_page_stops_waiting_when_the_host_stalls(host, tmp_path: Path) -> None:
    url, _, handler = host
    handler.trickle.add("m/a.bin.zst")
    job = remote.Background(url, tmp_path / "cache")
    assert not job.finished.wait(1.0)  # the trickle goes on
    assert job.indexed and (tmp_path / "cache" / "m" / "manifest.json").is_file()  # what pages can show
    while not job.stalled(0.1) and not job.finished.is_set():  # one byte every 0.2 s: a stall of 0.1 s comes
        time.sleep(0.05)
    assert job.report is None and job.error is None


# ---- several processes, one cache ---------------------------------------------------------------------------
def test_three_processes_share_one_cache(host, tmp_path: Path) -> None:
    url, _, _ = host
    code = ("import sys, json; from dashboard import remote; r = remote.sync(sys.argv[1], sys.argv[2]); "
            "print(json.dumps([r.failed, len(r.fetched), len(r.reused)]))")
    runs = [subprocess.Popen([sys.executable, "-c", code, url, str(tmp_path / "cache")], cwd=REPO,
                             stdout=subprocess.PIPE, text=True) for _ in range(3)]
    results = [json.loads(p.communicate(timeout=120)[0]) for p in runs]
    assert [r[0] for r in results] == [{}, {}, {}]
    assert sorted(r[1] for r in results) == [0, 0, 2]  # one fetched both files, the others found them
    assert (tmp_path / "cache" / "m" / "a.bin").read_bytes() == PAYLOAD


# ---- bad content with a good hash ---------------------------------------------------------------------------
def _tokens(n: int) -> pd.DataFrame:
    table = schema.TABLES[schema.TOKENS]
    df = pd.DataFrame({c.name: [None] * n for c in table.columns})
    df["id"], df["text"] = np.arange(n), [f"t{i}" for i in range(n)]
    for c in ("is_special", "is_byte", "is_zero"):
        df[c] = False
    for c in ("language_confidence", "frequency", "norm"):
        df[c] = 1.0
    df["frequency_decile"] = 1
    return table.cast(df)


def _rehashed(store: ArtifactDir, name: str, **info) -> None:
    """Pretend a bundle's publisher re-hashed ``name`` after damaging it: the manifest agrees with the file."""
    store._register(name, store.manifest["files"][name]["format"], **{
        k: v for k, v in store.manifest["files"][name].items() if k not in ("format", "sha256")} | info)
    store.save_manifest()


@pytest.fixture
def model(tmp_path: Path) -> ArtifactDir:
    store = ArtifactDir.create(tmp_path / "root" / "m", rebuild="python -m precompute build m")
    store.write_table(schema.TOKENS, _tokens(12))
    store.write_array(schema.NEIGHBORS, np.array([[(i + 1) % 12, -1] for i in range(12)], np.int32))
    store.save_manifest()
    return store


def test_wrong_dtypes_in_tokens_are_refused_on_load_and_by_verify(model: ArtifactDir, capsys) -> None:
    df = _tokens(12).assign(id=np.arange(12, dtype=np.float64))
    df.to_parquet(model.path / schema.TOKENS, index=False)
    _rehashed(model, schema.TOKENS)
    with pytest.raises(ArtifactError, match="column 'id' is float64, the schema declares int32"):
        model.load_table(schema.TOKENS)
    assert main(["verify", "--artifacts", str(model.path.parent)]) == 1
    assert "column 'id' is float64" in capsys.readouterr().out


def test_neighbour_ids_out_of_range_are_refused(model: ArtifactDir) -> None:
    np.save(model.path / schema.NEIGHBORS, np.full((12, 2), 99, np.int32))
    _rehashed(model, schema.NEIGHBORS)
    with pytest.raises(ArtifactError, match="ids from 99 to 99; ids run from -1 .none. to 11"):
        model.load_array(schema.NEIGHBORS)
    assert any("ids from 99" in p for p in model.problems([]))


def test_a_malformed_annoy_index_is_refused_before_annoy_reads_it(model: ArtifactDir) -> None:
    from precompute.knn.annoy_index import build_annoy

    dim = 4
    vectors = np.random.default_rng(0).normal(size=(12, dim)).astype(np.float32)
    neighbours = np.argsort(-vectors @ vectors.T, axis=1)[:, 1:11].astype(np.int32)
    model.write_file(schema.ANNOY, lambda p: {**build_annoy(vectors, p, exact_neighbors=neighbours, n_trees=2,
                                                            search_k=10, progress=False), "dim": dim}, "annoy")
    model.manifest["model"] = {"dim": dim}
    model.save_manifest()
    assert model.load_annoy().get_n_items() == 12
    path = model.path / schema.ANNOY
    raw = np.frombuffer(path.read_bytes(), "<i4").copy().reshape(-1, 3 + dim)
    raw[12:, 1:3] = 10**6  # every tree link far outside the file; the size stays a whole number of nodes
    path.write_bytes(raw.tobytes())
    _rehashed(model, schema.ANNOY)
    with pytest.raises(ArtifactError, match="a tree node links outside the index"):
        model.load_annoy()
    path.write_bytes(b"garbage!" * 3)
    _rehashed(model, schema.ANNOY)
    with pytest.raises(ArtifactError, match="not a whole number of 4-dimensional Annoy nodes"):
        model.load_annoy()


def _tokenizer_file(data: str) -> str:
    return json.dumps({"format": "hyperpolyglot-tokenizer", "version": 1, "kind": "tokenizers", "data": data})


def test_a_tokenizer_that_does_not_parse_is_an_artifact_error_naming_the_model(model: ArtifactDir) -> None:
    model.write_file(schema.TOKENIZER, lambda p: p.write_text(_tokenizer_file('{"model": 3}')) and None, "json")
    with pytest.raises(ArtifactError, match="m's tokenizer failed to load"):
        model.load_tokenizer()


def test_a_tokenizer_larger_than_the_bound_is_not_read(model: ArtifactDir, monkeypatch) -> None:
    model.write_file(schema.TOKENIZER, lambda p: p.write_text(_tokenizer_file("x" * 5000)) and None, "json")
    monkeypatch.setattr("precompute.contract.tokenizer.MAX_BYTES", 4096)
    with pytest.raises(ArtifactError, match="more than a tokenizer needs"):
        model.load_tokenizer()


def test_a_tokenizer_panic_becomes_a_value_error_naming_the_model() -> None:
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    tk = Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex("(a+)+$"), behavior="isolated")  # backtracks without end
    encoder = read_tokenizer(_tokenizer_file(tk.to_str()), who="evil-model")
    assert [p.id for p in encoder.split("a")] == [0]
    with pytest.raises(ValueError, match="evil-model's tokenizer failed on 'a{30}b' .Onig: Regex search error"):
        encoder.split("a" * 30 + "b")


# ---- what a hosted reader is told -----------------------------------------------------------------------------
def test_a_hosted_reader_is_told_who_can_fix_a_missing_file(model: ArtifactDir, monkeypatch) -> None:
    job = remote.Background.__new__(remote.Background)  # a finished sync whose cache is this root
    job.root, job.error = model.path.parent, None
    job.report = remote.SyncReport("http://h/", job.root, failed={f"m/{schema.TOKENS}": "HTTP 404 Not Found"})
    monkeypatch.setattr(data, "_SYNCED", {"http://h/": job})
    (model.path / schema.TOKENS).unlink()
    info = data.ModelInfo("m", model.path, model.manifest)
    with pytest.raises(ArtifactError) as caught:
        data.table(info, schema.TOKENS, ["id"])
    said = str(caught.value)
    assert said.startswith("m/tokens.parquet could not be fetched from the published bundle (HTTP 404 Not Found)")
    assert "the dashboard's host" in said and "python -m precompute" not in said and str(job.root) not in said
