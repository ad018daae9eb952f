"""Hosting: publish a bundle, serve it over loopback HTTP, sync it into a cache, and every failure mode.

The server is the standard library's, on 127.0.0.1, with byte ranges (for resumed downloads) and
switches that make it fail the way hosts do: a file missing (404), a damaged file, a connection
cut half-way. Everything stays on this machine and stops with the test.
"""

from __future__ import annotations

import functools
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from dashboard import remote
from precompute.build.cli import main
from precompute.build.publish import public_command, publish
from precompute.contract import bundle, schema
from precompute.contract.store import ArtifactDir


class RangeHandler(SimpleHTTPRequestHandler):
    """Static files with ``Range: bytes=N-`` support; ``cut_after`` ends the first answer early."""

    cut_after: int | None = None

    def log_message(self, *args) -> None:  # quiet tests
        pass

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        path = Path(self.translate_path(self.path))
        header = self.headers.get("Range")
        if not path.is_file():
            self.send_error(404, "Not Found")
            return
        data = path.read_bytes()
        start = int(header.split("=")[1].split("-")[0]) if header else 0
        self.send_response(206 if header else 200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if type(self).cut_after is not None:
            body = body[: type(self).cut_after]
            type(self).cut_after = None
            self.wfile.write(body)
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture(scope="module")
def published(artifact_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "bundle"
    report = publish(artifact_root, out, progress=False)
    assert report.stored_bytes < report.built_bytes / 2
    return out


@pytest.fixture
def served(published: Path, tmp_path: Path) -> Iterator[tuple[str, Path, type[RangeHandler]]]:
    """A copy of the bundle (tests may damage it) served on a free loopback port: (URL, directory, handler)."""
    directory = tmp_path / "served"
    shutil.copytree(published, directory)
    handler = type("Handler", (RangeHandler,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", directory, handler
    server.shutdown()
    server.server_close()


def test_the_bundle_holds_what_the_dashboard_reads_and_no_local_paths(published: Path, artifact_root: Path) -> None:
    entries, meta = bundle.read_index((published / bundle.INDEX).read_text(), "index")
    paths = {e.path for e in entries}
    assert not any(p.endswith(schema.EMBEDDINGS) for p in paths)
    assert f"comparisons/default/{schema.GEOMETRY}" in paths and f"usem3-sample/{schema.ANNOY}" in paths
    assert sorted(meta["directories"]) == ["comparisons/default", "usem3-sample", "wordllama-sample"]
    for manifest in published.rglob(schema.MANIFEST):
        assert str(artifact_root) not in manifest.read_text(), manifest
        assert "--artifacts" not in json.loads(manifest.read_text()).get("rebuild", "")


def test_public_command_drops_this_machines_paths() -> None:
    assert public_command("python -m precompute build /home/me/ck --name ck --artifacts /data/a") == (
        "python -m precompute build ck --name ck")


def test_sync_serves_the_same_files_and_numbers(served, artifact_root: Path, tmp_path: Path) -> None:
    url, _, _ = served
    report = remote.sync(url, tmp_path / "cache")
    assert report.failed == {} and report.reused == [] and report.offline is None
    for slug in ("usem3-sample", "wordllama-sample", "comparisons/default"):
        local = ArtifactDir.open(report.root / slug)
        assert local.problems([]) == []  # every file present with the build's own sha256
    original = ArtifactDir.open(artifact_root / "usem3-sample").load_table(schema.DIVERSITY_BY_CATEGORY)
    pd.testing.assert_frame_equal(ArtifactDir.open(report.root / "usem3-sample").load_table(
        schema.DIVERSITY_BY_CATEGORY), original)
    again = remote.sync(url, tmp_path / "cache")  # a restart: nothing fetched twice
    assert again.fetched == [] and len(again.reused) == len(report.fetched)


def test_offline_restart_reads_the_cache(served, tmp_path: Path) -> None:
    url, _, _ = served
    remote.sync(url, tmp_path / "cache")
    unreachable = "http://127.0.0.1:9/"  # the discard port: nothing listens
    shutil.copytree(tmp_path / "cache", tmp_path / "other")
    report = remote.sync(unreachable, tmp_path / "other")
    assert report.offline and "cannot be reached" in report.offline and report.failed == {}


def test_an_unreachable_host_without_a_cache_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(bundle.BundleError, match=r"cannot read the bundle index .*Check the URL"):
        remote.sync("http://127.0.0.1:9/", tmp_path / "cache")


def test_a_missing_and_a_corrupt_file_are_reported_and_never_served(served, tmp_path: Path) -> None:
    url, directory, _ = served
    (directory / "usem3-sample" / (schema.MAP + bundle.SUFFIX)).unlink()
    damaged = directory / "wordllama-sample" / (schema.NORMS_BY_CATEGORY + bundle.SUFFIX)
    damaged.write_bytes(damaged.read_bytes()[:-3] + b"xyz")
    report = remote.sync(url, tmp_path / "cache")
    assert report.failed[f"usem3-sample/{schema.MAP}"] == "HTTP 404 Not Found"
    assert "arrived corrupt" in report.failed[f"wordllama-sample/{schema.NORMS_BY_CATEGORY}"]
    assert not (report.root / "wordllama-sample" / schema.NORMS_BY_CATEGORY).exists()
    assert ArtifactDir.open(report.root / "usem3-sample").problems([])[0].endswith(
        "is missing. Rebuild: " + ArtifactDir.open(report.root / "usem3-sample").rebuild_hint)
    assert (report.root / "wordllama-sample" / schema.TOKENS).exists()  # the rest arrived


def test_an_interrupted_download_resumes(served, tmp_path: Path) -> None:
    url, _, _ = served
    index = json.loads(remote.requests.get(url + bundle.INDEX, timeout=5).text)
    big = max(index["entries"], key=lambda e: e["stored_size"])
    part = tmp_path / "cache" / remote.DOWNLOADS / (big["stored"] + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(remote.requests.get(url + big["stored"], timeout=5).content[:1000])  # as if cut
    report = remote.sync(url, tmp_path / "cache")
    assert report.failed == {} and not part.exists()
    assert bundle.sha256_of(report.root / big["path"]) == big["sha256"]


def test_a_connection_cut_mid_file_is_fetched_again_next_start(served, tmp_path: Path) -> None:
    url, _, handler = served
    remote.sync(url, tmp_path / "cache")  # the index and the files, once
    stored = next((tmp_path / "cache").rglob(schema.TOKENS))
    stored.unlink()  # one file to fetch again, and this time the host cuts the connection
    handler.cut_after = 100
    first = remote.sync(url, tmp_path / "cache")
    assert list(first.failed) == [stored.relative_to(tmp_path / "cache").as_posix()]
    second = remote.sync(url, tmp_path / "cache")
    assert second.failed == {} and stored.exists()


def test_publish_refuses_a_damaged_build_and_writes_nothing(artifact_root: Path, tmp_path: Path, capsys) -> None:
    root = tmp_path / "root"
    shutil.copytree(artifact_root, root)
    (root / "usem3-sample" / schema.MAP).write_bytes(b"garbage")
    assert main(["publish", "--all", "--out", str(tmp_path / "b"), "--artifacts", str(root), "--quiet"]) == 2
    assert "map.parquet is corrupt" in capsys.readouterr().err
    assert not (tmp_path / "b").exists() and not list(tmp_path.glob(".b.partial"))


def test_publish_one_model_leaves_out_comparisons_it_is_not_part_of(artifact_root: Path, tmp_path: Path) -> None:
    report = publish(artifact_root, tmp_path / "b", ["wordllama-sample"], progress=False)
    assert report.directories == ["wordllama-sample"]


def test_precompute_refuses_a_url_root(capsys) -> None:
    assert main(["verify", "--artifacts", "https://example.invalid/bundle"]) == 2
    assert "is a URL" in capsys.readouterr().err


@pytest.mark.parametrize("page", ["overview", "diversity", "neighbors", "geometry"])
def test_the_app_runs_from_a_bundle_url(served, tmp_path: Path, monkeypatch, page: str) -> None:
    """The dashboard started with a URL: pages draw from the cache, a file that failed is named."""
    from tests.test_dashboard_pages import run_app

    url, directory, _ = served
    (directory / "usem3-sample" / (schema.MAP + bundle.SUFFIX)).unlink()
    monkeypatch.setenv(remote.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr("dashboard.data._SYNCED", {})
    at = run_app(monkeypatch, url, page)  # type: ignore[arg-type]
    assert any("could not be fetched" in e.label for e in at.expander)
    assert any(f"usem3-sample/{schema.MAP}" in m.value and "HTTP 404" in m.value for m in at.markdown)
    assert not at.error  # no page here reads the map


def test_the_app_says_what_failed_when_no_bundle_can_be_read(tmp_path: Path, monkeypatch) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv(schema.ARTIFACTS_ENV, "http://127.0.0.1:9/bundle/")
    monkeypatch.setenv(remote.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr("dashboard.data._SYNCED", {})
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py"), default_timeout=30)
    at.run()
    assert not at.exception
    assert "The artifacts cannot be loaded" in at.error[0].value and "Check the URL" in at.error[0].value
