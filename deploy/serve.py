"""Several dashboard processes behind nginx: ``make serve WORKERS=N`` (``python -m deploy.serve --workers N``).

One Streamlit process runs one page script at a time (one Python), so a burst of readers queues on it
whatever the host's cores. This starts N processes (``streamlit run dashboard/server.py``, each on its own
loopback port) and Debian's nginx in front of them, on one public port:

- **Sticky by a cookie.** A browser's first request goes to the process with the fewest open
  connections (``least_conn``: an open session is an open websocket), and nginx's response sets the
  cookie ``hp_worker`` to that process's name; every later request of that browser goes to that
  process: its websocket (the session lives there), its reconnections, and the download files
  Streamlit keeps in that process's memory (``/media/``). Not ``ip_hash``: a class behind one campus
  NAT would land on one process. Not ``hash`` of a random cookie: 20 sessions split 7/14 in the load
  benchmark, and the busier process set the p95. When a process dies, its readers' next connection
  goes to a backup (the others; a new session, the page drawn again) and their cookie moves there; the
  other readers stay where they are. Stock nginx has no ``sticky`` directive (that is nginx Plus).
- **Websocket pass-through** on ``/_stcore/stream`` (HTTP/1.1 Upgrade), quiet sessions kept an hour.
- **Streamlit behind a proxy.** nginx passes the reader's own ``Host``, so the websocket's ``Origin`` is
  same-origin and XSRF and CORS protection stay on as ``.streamlit/config.toml`` sets them;
  ``--base-url-path`` serves the dashboard under a prefix (``server.baseUrlPath``, passed on as it is);
  every process signs cookies with one ``server.cookieSecret`` (from the environment, or made here).
  Websocket compression stays off (Streamlit's default): it would cost the one Python thread.
- **One copy of the data.** Artifacts are read-only and memory-mapped (Annoy indices, ``.npy``
  tables), so N processes share their pages in the page cache; what each process adds is its own heap.

nginx runs as the calling user (``-p RUN_DIR -c RUN_DIR/nginx.conf``, pid, logs and temp paths in the run
directory), so no root is needed on a port above 1023. Ctrl-C (or SIGTERM) stops nginx and every
process. A process that dies is not restarted (nginx routes around it; a service manager restarts the
whole command): the launcher says so and stops when none is left.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from precompute.contract import schema

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = Path(__file__).resolve().with_name("nginx.conf.template")
#: How the readers' browsers are told apart (nginx sets it; see the template).
STICKY_COOKIE = "hp_worker"
#: The response header naming the process that answered (``127.0.0.1:PORT``): for logs and tests.
WORKER_HEADER = "X-Hyperpolyglot-Worker"
INSTALL_HINT = ("nginx not found: install Debian's (`apt-get install nginx-light`, or `make serve-deps` as root) "
                "or put an nginx binary on PATH")


def find_nginx() -> str:
    """The nginx binary (also in /usr/sbin, off a normal user's PATH), or FileNotFoundError with the fix."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise FileNotFoundError(INSTALL_HINT)
    return found


def render(template: str, values: dict[str, str]) -> str:
    """``template`` with every ``@name@`` replaced by ``values[name]`` (nginx's own ``$`` and ``{}`` untouched).

    >>> render("listen @listen@;", {"listen": "8501"})
    'listen 8501;'
    """
    missing = sorted(set(re.findall(r"@(\w+)@", template)) - set(values))
    if missing:
        raise ValueError(f"the nginx template names {missing} but no value was given for them")
    return re.sub(r"@(\w+)@", lambda m: values[m.group(1)], template)


def base_path(base_url_path: str) -> str:
    """``server.baseUrlPath`` as Streamlit keeps it: no slashes around it (``/hp/`` -> ``hp``)."""
    return base_url_path.strip("/")


def nginx_config(listen: str, worker_ports: list[int], run_dir: Path, base_url_path: str = "",
                 map_cache: Path | None = None) -> str:
    """The nginx configuration for workers on ``127.0.0.1:worker_ports``, listening on ``listen`` (``host:port``).

    Worker i is named ``w{i}`` (:func:`worker_name`): the cookie's value, and the upstream that sends a
    browser holding it to that worker, the others as its backups. A worker that refuses a connection is
    skipped for 5 s (``max_fails=1 fail_timeout=5s``). As root, nginx's own workers run as ``nobody``:
    the only files they open are the Map payloads' cache in ``map_cache`` (default ``run_dir/map_cache``),
    which must be theirs (:func:`map_cache_dir`); logs are opened by nginx's master.
    """
    base = base_path(base_url_path)
    servers = [f"127.0.0.1:{p}" for p in worker_ports]
    checked = "max_fails=1 fail_timeout=5s"
    sticky = [f"    upstream hp_{worker_name(i)} {{\n        server {s} {checked};\n"
              + "".join(f"        server {other} backup;\n" for other in servers if other != s)
              + "        keepalive 8;\n    }" for i, s in enumerate(servers)]
    return render(TEMPLATE.read_text(), {
        "user": "user nobody nogroup;" if os.geteuid() == 0 else "",
        "run_dir": str(run_dir),
        "map_cache": str(map_cache or run_dir / "map_cache"),
        "listen": listen,
        "cookie_path": f"/{base}",
        "servers": "\n".join(f"        server {s} {checked};" for s in servers),
        "sticky_upstreams": "\n".join(sticky),
        "cookie_routes": "\n".join(f"        {worker_name(i)} hp_{worker_name(i)};" for i in range(len(servers))),
        "answered": "\n".join(f'        "~{re.escape(s)}$" {worker_name(i)};' for i, s in enumerate(servers)),
    })


def worker_name(i: int) -> str:
    """The name of worker ``i`` in nginx's configuration and in the sticky cookie."""
    return f"w{i}"


def worker_command(port: int, base_url_path: str = "") -> list[str]:
    """One dashboard process on loopback ``port``; the rest of its settings from ``.streamlit/config.toml``."""
    return [sys.executable, "-m", "streamlit", "run", "dashboard/server.py", "--server.address", "127.0.0.1",
            "--server.port", str(port), "--server.headless", "true",
            "--server.baseUrlPath", base_path(base_url_path)]


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on ``host`` now (the OS's choice)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    """Wait until ``url`` answers 200; RuntimeError with the log's tail if ``process`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}; {log}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s; {log}:\n{log.read_text()[-3000:]}")


@dataclass
class Balancer:
    """A running nginx and its workers (``workers[i]`` listens on ``worker_ports[i]``)."""

    url: str  # what readers open, the base path included (no trailing slash)
    run_dir: Path
    nginx: subprocess.Popen
    workers: list[subprocess.Popen]
    worker_ports: list[int]

    def worker_logs(self) -> list[Path]:
        return [self.run_dir / f"worker-{i}.log" for i in range(len(self.workers))]


def stop(process: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def map_cache_dir() -> Path:
    """A new folder for nginx's cache of Map payloads, in the system's temp folder and owned by the user
    nginx's workers run as: under root that is ``nobody``, who may not enter a root-only run directory."""
    folder = Path(tempfile.mkdtemp(prefix="hp_map_cache_"))
    if os.geteuid() == 0:
        shutil.chown(folder, "nobody", "nogroup")
    return folder


@contextlib.contextmanager
def balancer(workers: int, port: int = 8501, address: str = "0.0.0.0", artifacts: Path | str | None = None,
             run_dir: Path | None = None, base_url_path: str = "", timeout: float = 180) -> Iterator[Balancer]:
    """``workers`` dashboard processes behind nginx on ``address:port``, all stopped however the block ends.

    ``artifacts``: an artifact root or bundle URL (default: the environment's, as ``make run``).
    ``run_dir``: where the config, pid, logs and nginx's temp paths go (default: a new temporary one, kept
    for its logs). ``timeout``: seconds for every process to answer its health check.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    nginx = find_nginx()
    run_dir = Path(run_dir or tempfile.mkdtemp(prefix="hp_serve_")).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "STREAMLIT_SERVER_COOKIE_SECRET": os.environ.get("STREAMLIT_SERVER_COOKIE_SECRET")
           or secrets.token_hex(32)}
    if artifacts is not None:
        env[schema.ARTIFACTS_ENV] = str(artifacts)
    ports = [free_port() for _ in range(workers)]
    base = base_path(base_url_path)
    prefix = f"/{base}" if base else ""
    started: list[subprocess.Popen] = []
    map_cache = map_cache_dir()
    try:
        for i, p in enumerate(ports):
            with (run_dir / f"worker-{i}.log").open("w") as log:
                started.append(subprocess.Popen(worker_command(p, base), cwd=REPO, env=env, stdout=log,
                                                stderr=subprocess.STDOUT))
        for i, (p, process) in enumerate(zip(ports, started, strict=True)):
            wait_healthy(f"http://127.0.0.1:{p}{prefix}/_stcore/health", process, run_dir / f"worker-{i}.log",
                         timeout)
        (run_dir / "nginx.conf").write_text(nginx_config(f"{address}:{port}", ports, run_dir, base, map_cache))
        with (run_dir / "nginx.stderr").open("w") as log:
            front = subprocess.Popen([nginx, "-p", str(run_dir), "-c", str(run_dir / "nginx.conf"),
                                      "-e", str(run_dir / "error.log")],
                                     stdout=log, stderr=subprocess.STDOUT)
        started.insert(0, front)
        host = "127.0.0.1" if address in ("0.0.0.0", "::", "[::]") else address
        url = f"http://{host}:{port}{prefix}"
        wait_healthy(f"{url}/_stcore/health", front, run_dir / "error.log", timeout=30)
        yield Balancer(url, run_dir, front, started[1:], ports)
    finally:
        for process in started:  # nginx first: no reader is sent to a worker that is stopping
            stop(process)
        shutil.rmtree(map_cache, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="dashboard processes (default: one per CPU)")
    parser.add_argument("--port", type=int, default=8501, help="nginx's port (default 8501)")
    parser.add_argument("--address", default="0.0.0.0", help="nginx's address (default 0.0.0.0: every interface)")
    parser.add_argument("--artifacts",
                        help=f"artifact root or bundle URL (default ${schema.ARTIFACTS_ENV} or ./artifacts)")
    parser.add_argument("--base-url-path", default="", help="serve under this path prefix (e.g. hyperpolyglot)")
    parser.add_argument("--run-dir", type=Path, help="config, logs and pid here (default: a new temporary directory)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f"--workers: at least 1, not {args.workers}")
    try:
        find_nginx()
    except FileNotFoundError as e:
        parser.error(str(e))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # leave through balancer()'s finally
    try:
        with balancer(args.workers, args.port, args.address, args.artifacts, args.run_dir,
                      args.base_url_path) as b:
            print(f"Hyperpolyglot: {args.workers} processes behind nginx at {b.url}/ "
                  f"(logs in {b.run_dir}); Ctrl-C stops them all", flush=True)
            return watch(b)
    except KeyboardInterrupt:
        return 0


def watch(b: Balancer) -> int:
    """Wait, saying when a worker exits; return when nginx or the last worker is gone (non-zero)."""
    told: set[int] = set()
    while True:
        time.sleep(1)
        if b.nginx.poll() is not None:
            print(f"nginx exited with {b.nginx.returncode}; see {b.run_dir / 'error.log'}", file=sys.stderr)
            return 1
        for i, (w, log) in enumerate(zip(b.workers, b.worker_logs(), strict=True)):
            if w.poll() is not None and i not in told:
                told.add(i)
                print(f"worker {i} (port {b.worker_ports[i]}) exited with {w.returncode}; nginx sends its readers "
                      f"to the others; see {log}", file=sys.stderr)
        if len(told) == len(b.workers):
            print("no worker is left; stopping", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
