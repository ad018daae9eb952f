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
import subprocess
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
    worker_name,
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


def test_config_names_each_worker_and_backs_it_with_the_others(tmp_path: Path) -> None:
    text = nginx_config("0.0.0.0:8501", [9001, 9002, 9003], tmp_path, base_url_path="/hp/")
    assert "@" not in text
    w1 = text.split("upstream hp_w1 {")[1].split("}")[0]
    assert [line.strip() for line in w1.strip().splitlines()] == [
        "server 127.0.0.1:9002 max_fails=1 fail_timeout=5s;", "server 127.0.0.1:9001 backup;",
        "server 127.0.0.1:9003 backup;", "keepalive 8;"]
    assert "        w2 hp_w2;\n" in text and '"~127\\.0\\.0\\.1:9003$" w2;' in text
    assert "Path=/hp;" in text and "listen 0.0.0.0:8501;" in text and f"pid {tmp_path}/nginx.pid;" in text
    if not NO_NGINX:  # and nginx reads it
        (tmp_path / "nginx.conf").write_text(text)
        check = subprocess.run([find_nginx(), "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
                                "-e", str(tmp_path / "error.log")], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr


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


def names(b: Balancer) -> dict[str, str]:
    """Each worker's name (the sticky cookie's value), by its address."""
    return {f"127.0.0.1:{p}": worker_name(i) for i, p in enumerate(b.worker_ports)}


def test_one_browser_stays_on_one_process_and_browsers_spread(two: Balancer) -> None:
    page, worker, cookie = get(f"{two.url}/")
    assert '<div id="root"></div>' in page and cookie == names(two)[worker]
    ports = set(names(two))
    for path in ["/_stcore/health", "/", "/_stcore/health", "/neighbours"]:
        body, again, new_cookie = get(f"{two.url}{path}", cookie)
        assert (again, new_cookie) == (worker, None), path
    assert body.startswith("<!") and get(f"{two.url}/_stcore/health", cookie)[0] == "ok"
    assert {get(f"{two.url}/_stcore/health")[1] for _ in range(4)} == ports  # new browsers: both used


async def open_session(url: str, cookie: str, old_session: str | None = None) -> tuple[ClientConnection, str]:
    """A browser's websocket through nginx: its cookie, its Origin, and (reconnecting) its old session's id;
    (the websocket, the worker that answered)."""
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
    name = names(two)
    doomed, survivor = list(name)  # two browsers on each

    async def scenario() -> None:
        sessions = {w: [await open_session(two.url, name[w]) for _ in range(2)] for w in name}
        assert {w: [worker for _, worker in s] for w, s in sessions.items()} == {w: [w, w] for w in name}
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
        for old_id, _ in first[doomed]:
            ws, worker = await open_session(two.url, name[doomed], old_id)  # ... and reconnects
            async with ws:
                new_id, heading = await draw_overview(ws)
                moved = http.cookies.SimpleCookie(ws.response.headers["Set-Cookie"])[STICKY_COOKIE].value
            assert (worker, heading, moved) == (survivor, HEADINGS["overview"], name[survivor])
            assert new_id and new_id != old_id  # a new session: the old one died with its process
        for ws, _ in sessions[survivor]:
            await ws.close()

    asyncio.run(scenario())
    assert get(f"{two.url}/_stcore/health", name[doomed])[1:] == (survivor, name[survivor])  # moved
    assert get(f"{two.url}/_stcore/health", name[survivor])[1:] == (survivor, None)  # stays
