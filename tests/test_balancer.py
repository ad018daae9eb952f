"""Two dashboard processes behind nginx (deploy/serve.py), on loopback, as a reader's browser meets them.

The browser's part is played as ``benchmarks/load.py`` plays it (Streamlit's websocket protocol, no
browser): it opens ``/hp/`` (the dashboard under a base path), keeps the cookie nginx sets, opens its
session's websocket with that cookie and its own ``Origin``, and asks for the Overview. Checked: every
request of one browser reaches one process; a killed process's sessions are cut, reconnect (the old
session's id offered, as Streamlit's front end does) to the other process and draw the page again, while
the other process's sessions are untouched. Bounded: processes up within 60 s, each run within 60 s.
Skipped without nginx (``make serve-deps`` installs Debian's as root).
"""

from __future__ import annotations

import asyncio
import http.cookies
import os
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from benchmarks.load import Visit, run_page
from deploy.serve import (
    STICKY_COOKIE,
    WORKER_HEADER,
    Balancer,
    balancer,
    find_nginx,
    free_port,
    nginx_config,
    render,
)
from tests.test_browser import HEADINGS


def missing_nginx() -> str | None:
    """Why the balancer tests cannot run (nginx not installed), or None."""
    try:
        find_nginx()
    except FileNotFoundError as e:
        return str(e)
    return None


NO_NGINX = missing_nginx()

OVERVIEW = Visit("overview", "")
RUN_TIMEOUT = 60.0


def test_render_fills_every_placeholder_or_names_the_missing_one() -> None:
    assert render("listen @listen@; set $x {y};", {"listen": "127.0.0.1:80"}) == "listen 127.0.0.1:80; set $x {y};"
    with pytest.raises(ValueError, match=r"\['listen'\]"):
        render("listen @listen@;", {})


def test_config_lists_each_worker_on_loopback_and_keys_on_the_cookie(tmp_path: Path) -> None:
    text = nginx_config("0.0.0.0:8501", [9001, 9002, 9003], tmp_path, base_url_path="/hp/")
    assert "@" not in text
    servers = [line.split()[1] for line in text.splitlines() if line.strip().startswith("server 127.")]
    assert servers == ["127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"]
    assert "hash $hp_sticky consistent;" in text and f"$cookie_{STICKY_COOKIE}" in text
    assert "Path=/hp;" in text and "listen 0.0.0.0:8501;" in text and f"pid {tmp_path}/nginx.pid;" in text


@pytest.fixture
def two(artifact_root: Path, tmp_path: Path) -> Iterator[Balancer]:
    if NO_NGINX:
        pytest.skip(NO_NGINX)
    with balancer(2, free_port(), "127.0.0.1", artifact_root, tmp_path, base_url_path="hp", timeout=60) as b:
        yield b


def get(url: str, cookie: str | None = None) -> tuple[str, str, str | None]:
    """GET ``url`` (with the sticky cookie if given): (body, the worker that answered, a cookie nginx set)."""
    request = urllib.request.Request(url, headers={"Cookie": f"{STICKY_COOKIE}={cookie}"} if cookie else {})
    with urllib.request.urlopen(request, timeout=30) as r:
        jar = http.cookies.SimpleCookie()
        for header in r.headers.get_all("Set-Cookie") or []:
            jar.load(header)
        return (r.read().decode(), answered(r.headers[WORKER_HEADER]),
                jar[STICKY_COOKIE].value if STICKY_COOKIE in jar else None)


def answered(tried: str) -> str:
    """The worker that answered, of the ones nginx tried (``a, b``: ``a`` refused, ``b`` answered)."""
    return tried.split(", ")[-1]


def test_one_browser_stays_on_one_process_and_browsers_spread(two: Balancer) -> None:
    page, worker, cookie = get(f"{two.url}/")
    assert '<div id="root"></div>' in page and cookie
    ports = {f"127.0.0.1:{p}" for p in two.worker_ports}
    assert worker in ports
    for path in ["/_stcore/health", "/", "/_stcore/health", "/neighbours"]:
        body, again, new_cookie = get(f"{two.url}{path}", cookie)
        assert (again, new_cookie) == (worker, None), path
    assert body.startswith("<!") and get(f"{two.url}/_stcore/health", cookie)[0] == "ok"
    assert {get(f"{two.url}/_stcore/health")[1] for _ in range(30)} == ports  # 30 new browsers: both used


async def open_session(url: str, cookie: str, old_session: str | None = None) -> tuple[ClientConnection, str]:
    """A browser's websocket through nginx: its cookie, its Origin, and (reconnecting) its old session's id."""
    host = url.split("://", 1)[1].split("/", 1)[0]
    protocols = ["streamlit", "PLACEHOLDER_AUTH_TOKEN", old_session] if old_session else ["streamlit"]
    ws = await connect(f"ws://{url.split('://', 1)[1]}/_stcore/stream", subprotocols=protocols, max_size=None,
                       origin=f"http://{host}", additional_headers={"Cookie": f"{STICKY_COOKIE}={cookie}"},
                       open_timeout=RUN_TIMEOUT)
    return ws, answered(ws.response.headers[WORKER_HEADER])


class Recording:
    """A websocket that keeps what it receives: the ForwardMsgs of :func:`run_page`, for what they drew."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws, self.received = ws, []

    async def send(self, data: bytes) -> None:
        await self.ws.send(data)

    async def recv(self) -> bytes:
        data = await self.ws.recv()
        self.received.append(data)
        return data


async def draw_overview(ws: ClientConnection) -> tuple[str, str]:
    """Run the Overview in this session: (the session's id, its h1), after checking no exception showed."""
    recording = Recording(ws)
    _, problems = await run_page(recording, OVERVIEW, RUN_TIMEOUT)
    assert problems == []
    session_id, headings = "", []
    for data in recording.received:
        msg = ForwardMsg()
        msg.ParseFromString(data)
        if msg.WhichOneof("type") == "new_session":
            session_id = msg.new_session.initialize.session_id
        elif msg.WhichOneof("type") == "delta" and msg.delta.new_element.WhichOneof("type") == "heading":
            headings.append(msg.delta.new_element.heading.body)
    return session_id, headings[0]


def test_a_killed_processes_sessions_reconnect_to_the_other_and_draw_again(two: Balancer) -> None:
    # browsers until each process has two (nginx's hash of a random key: a few tries)
    by_worker: dict[str, list[str]] = {f"127.0.0.1:{p}": [] for p in two.worker_ports}
    for _ in range(60):
        _, worker, cookie = get(f"{two.url}/_stcore/health")
        by_worker[worker].append(cookie)
        if all(len(c) >= 2 for c in by_worker.values()):
            break
    doomed, survivor = list(by_worker)
    cookies = {w: c[:2] for w, c in by_worker.items()}

    async def scenario() -> None:
        sessions = {w: [await open_session(two.url, c) for c in cookies[w]] for w in by_worker}
        assert {w: [worker for _, worker in s] for w, s in sessions.items()} == {w: [w, w] for w in by_worker}
        first = {w: [await draw_overview(ws) for ws, _ in s] for w, s in sessions.items()}
        assert {h for drawn in first.values() for _, h in drawn} == {HEADINGS["overview"]}

        os.kill(two.workers[two.worker_ports.index(int(doomed.rsplit(":", 1)[1]))].pid, signal.SIGKILL)
        for ws, _ in sessions[doomed]:  # the browser sees its connection cut (after what was already sent)...
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(30):
                    while True:
                        await ws.recv()
        for ws, _ in sessions[survivor]:  # ... the other process's readers see nothing
            assert (await draw_overview(ws))[1] == HEADINGS["overview"]
        for cookie, (old_id, _) in zip(cookies[doomed], first[doomed], strict=True):
            ws, worker = await open_session(two.url, cookie, old_id)  # ... and reconnects
            async with ws:
                new_id, heading = await draw_overview(ws)
            assert (worker, heading) == (survivor, HEADINGS["overview"])
            assert new_id and new_id != old_id  # a new session: the old one died with its process
        for ws, _ in sessions[survivor]:
            await ws.close()

    asyncio.run(scenario())
    assert {get(f"{two.url}/_stcore/health", c)[1] for c in cookies[doomed]} == {survivor}
    assert {get(f"{two.url}/_stcore/health", c)[1] for c in cookies[survivor]} == {survivor}
