"""Deployment, as a host does it: the Dockerfile's files and start command, in a fresh virtual environment
made from dashboard/requirements.txt alone, serving a bundle that `publish` made, in headless Chromium.

No container runtime is needed (none can pull a base image here): the test lays out a directory as the
Dockerfile's COPY lines do and runs its CMD there, with the new environment first on PATH and nothing of
this project's environment (no PYTHONPATH, no torch). The bundle is served over loopback HTTP; the app
gets its URL from the environment (a container host), and after the HTTP server is stopped it restarts
from ``.streamlit/secrets.toml`` (Streamlit Community Cloud's secrets, which Streamlit puts into the
environment at start) and draws every page from its cache, offline.

Cost: the environment is made once per session, ~1 min with pip's cache warm (longer on a cold cache).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from dashboard import remote
from precompute.build.publish import publish
from precompute.contract import schema
from tests.test_browser import (
    HEADINGS,
    NO_BROWSER,
    PAGES,
    SHARED_QUERY,
    _free_port,
    _wait_healthy,
    assert_no_exception,
    chromium,
    open_app,
    streamlit_server,
)
from tests.test_hosting import RangeHandler

NO_PLAYWRIGHT = None if importlib.util.find_spec("playwright") else "playwright is not installed (pip install it)"
pytestmark = [pytest.mark.browser, pytest.mark.skipif(bool(NO_BROWSER or NO_PLAYWRIGHT),
                                                      reason=str(NO_BROWSER or NO_PLAYWRIGHT))]

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(instruction, arguments) of each line of a Dockerfile, continuation lines joined, comments dropped."""
    text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
    joined = text.replace("\\\n", " ")
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
            for line in joined.splitlines() if line.strip()]


def lay_out_image(target: Path) -> list[str]:
    """Copy what the Dockerfile's COPY lines copy into ``target`` (its WORKDIR); return its CMD."""
    command: list[str] = []
    for instruction, args in dockerfile_instructions():
        if instruction == "COPY":
            *sources, dest = [a for a in shlex.split(args) if not a.startswith("--")]
            for source in sources:
                src, out = REPO / source, target / dest
                if src.is_dir():
                    shutil.copytree(src, out, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
                else:
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, out / src.name if dest.endswith("/") else out)
        elif instruction == "CMD":
            command = json.loads(args)
    assert command, f"{DOCKERFILE} has no CMD in exec form"
    return command


@pytest.fixture(scope="session")
def host_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with dashboard/requirements.txt and nothing else, as a host builds it."""
    venv = tmp_path_factory.mktemp("host") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                          "--disable-pip-version-check", "-r", str(REPO / "dashboard" / "requirements.txt")],
                         capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, f"pip install -r dashboard/requirements.txt failed:\n{pip.stderr[-3000:]}"
    return venv


@pytest.fixture(scope="module")
def published(artifact_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("deploy") / "bundle"
    publish(artifact_root, out, progress=False)
    return out


@contextlib.contextmanager
def static_host(directory: Path) -> Iterator[str]:
    """``directory`` served on a free loopback port, as a static file host would; stopped on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(RangeHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def hosted_app(image: Path, venv: Path, command: list[str], log: Path, **env: str) -> Iterator[str]:
    """The image's CMD run in ``image`` with ``venv`` on PATH and only ``env`` besides; the app's URL."""
    port = _free_port()
    environment = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(image.parent / "home"), "PORT": str(port),
                   "STREAMLIT_SERVER_ADDRESS": "127.0.0.1", **env}  # the image listens on 0.0.0.0; here, loopback
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=image, env=environment, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log, timeout=120)
        yield url
    finally:
        process.terminate()  # Streamlit stops on SIGTERM, as a container host sends it
        process.wait(timeout=30)


def page_url(server: str, name: str) -> str:
    return f"{server}/{PAGES[name].url_path}" + (f"?q={quote(SHARED_QUERY)}" if name == "neighbors" else "")


def draw_every_page(browser: Any, server: str) -> dict[str, list[str]]:
    """Open every page in a fresh tab; assert it draws its heading and no exception. Its metrics' texts."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-GB")
    tab = context.new_page()
    shown = {}
    try:
        for name, spec in PAGES.items():
            open_app(tab, page_url(server, name))
            assert_no_exception(tab)
            heading = tab.locator('[data-testid="stMain"] h1').first.inner_text().strip()
            assert heading == HEADINGS.get(name, spec.title), (name, heading)
            shown[name] = tab.locator('[data-testid="stMetric"]').all_inner_texts()
    finally:
        context.close()
    return shown


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def test_a_host_serves_every_page_from_the_bundle_then_restarts_offline(host_venv, published, browser,
                                                                        tmp_path) -> None:
    image = tmp_path / "image"
    command = lay_out_image(image)
    cache = str(tmp_path / "cache")
    with static_host(published) as bundle_url:
        with hosted_app(image, host_venv, command, tmp_path / "first.log", **{
                schema.ARTIFACTS_ENV: bundle_url, remote.CACHE_ENV: cache}) as server:
            online = draw_every_page(browser, server)
            assert online["overview"], "the Overview shows no headline numbers"
            assert_downloads_csv(browser, server)
    # the host is gone; the URL now comes from secrets, as on Streamlit Community Cloud
    (image / ".streamlit" / "secrets.toml").write_text(f'{schema.ARTIFACTS_ENV} = "{bundle_url}"\n')
    with hosted_app(image, host_venv, command, tmp_path / "offline.log", **{remote.CACHE_ENV: cache}) as server:
        context = browser.new_context()
        tab = context.new_page()
        open_app(tab, server)
        assert "cannot be reached" in tab.locator('[data-testid="stMain"]').inner_text()
        context.close()
        assert draw_every_page(browser, server) == online


def assert_downloads_csv(browser: Any, server: str) -> None:
    """A chart's "Data (CSV)" button gives its table (written when clicked, not at every run)."""
    context = browser.new_context(accept_downloads=True)
    tab = context.new_page()
    try:
        open_app(tab, page_url(server, "vocabulary"))
        tab.get_by_text("Reproduce this figure").first.click()  # the downloads live in that box, filled on opening
        with tab.expect_download(timeout=30_000) as download:
            tab.get_by_role("button", name="Data (CSV)").first.click()
        path = download.value.path()
        header = Path(path).read_text(encoding="utf-8").splitlines()[0]
        assert download.value.suggested_filename.endswith(".csv") and "," in header, header
    finally:
        context.close()


def test_published_bundle_shows_the_numbers_of_the_local_artifacts(published, artifact_root, browser, tmp_path,
                                                                  monkeypatch) -> None:
    """publish -> serve -> the same headline numbers on every page as the artifacts it was made from."""
    monkeypatch.setenv(remote.CACHE_ENV, str(tmp_path / "cache"))
    with streamlit_server(artifact_root, tmp_path / "local.log") as (local, _):
        expected = draw_every_page(browser, local)
    with static_host(published) as bundle_url, \
            streamlit_server(bundle_url, tmp_path / "hosted.log") as (hosted, _):  # type: ignore[arg-type]
        start = time.monotonic()
        shown = draw_every_page(browser, hosted)
        print(f"every page from the bundle URL: {time.monotonic() - start:.1f} s")
    assert expected["overview"] and shown == expected
    assert os.listdir(tmp_path / "cache")  # it did go through the cache
