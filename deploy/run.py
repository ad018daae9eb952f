"""``make run``: the dashboard at once, the default models built beside it (``python -m deploy.run``).

The build (``python -m precompute build --default``) starts in the background, its output in ``build.log`` at the
artifact root, and the dashboard (``streamlit run dashboard/server.py``) starts with it: each page shows what is
ready and how far the build is (from the build's own progress file, ``dashboard/buildstatus.py``), and each
model appears when its steps are done. When everything is current the build only checks it and ends.

- **Ctrl-C stops both**: the build is interrupted the way Ctrl-C interrupts it in a terminal, its finished
  steps are kept, and the next ``make run`` resumes from them.
- **A failed build does not stop the dashboard**: the launcher says so once (where the log is); the pages
  show what was built and, for a failed step, why and the command that rebuilds it.
- **The build yields to readers**: it runs at a lower CPU priority (``nice`` +10), so pages stay quick while
  it works; alone on the machine it loses nothing.
- **A bundle URL** as the artifact root (``$HYPERPOLYGLOT_ARTIFACTS=https://…``) has nothing to build: only
  the dashboard starts.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from precompute.contract import schema
from precompute.contract.naming import default_root

REPO = Path(__file__).resolve().parents[1]
#: The build's log, at the artifact root (the dashboard's fallback page names it too).
BUILD_LOG = "build.log"
#: How much lower the build's CPU priority is than the dashboard's.
BUILD_NICENESS = 10
#: Seconds a child gets to stop after Ctrl-C (the build saves its manifest) before it is killed.
GRACE_SECONDS = 15.0


def build_command() -> list[str]:
    """The default build, as ``make artifacts`` runs it (its root from the environment, like the dashboard's)."""
    return [sys.executable, "-m", "precompute", "build", "--default"]


def dashboard_command(port: int) -> list[str]:
    """The dashboard on ``port``; its other settings from ``.streamlit/config.toml``."""
    return [sys.executable, "-m", "streamlit", "run", "dashboard/server.py", "--server.port", str(port)]


def shown_path(path: Path) -> str:
    """``path`` as the user can type it: relative to the working directory when it lies under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def start_build(root: Path) -> subprocess.Popen:
    """The build in the background, in its own process group (Ctrl-C reaches it through :func:`stop` only, after
    the dashboard has been told), its output in ``root/build.log``."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / BUILD_LOG).open("w", encoding="utf-8") as log:
        return subprocess.Popen(build_command(), cwd=REPO, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=lambda: os.nice(BUILD_NICENESS))


def stop(process: subprocess.Popen, group: bool) -> None:
    """Interrupt ``process`` (and its process group when ``group``) as Ctrl-C does; kill it after the grace time."""
    for sig in (signal.SIGINT, signal.SIGKILL):
        if process.poll() is not None:
            return
        try:
            if group:
                os.killpg(process.pid, sig)
            else:
                process.send_signal(sig)
            process.wait(timeout=GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:  # it ended meanwhile
            return


def build_ended(code: int, log: str) -> str:
    """What the terminal is told when the build ends (the dashboard keeps running either way)."""
    if code == 0:
        return f"Build finished: every default model is ready (log: {log})."
    return (f"Build ended with errors (exit {code}): the dashboard shows what was built and, on each page, what "
            f"failed. See {log}; `make run` again resumes from the finished steps.")


def watch(dashboard: subprocess.Popen, build: subprocess.Popen | None, log: str) -> int:
    """Wait for the dashboard to exit (its code is returned), saying once when the build ends."""
    while True:
        code = dashboard.poll()
        if code is not None:
            return code
        if build is not None and build.poll() is not None:
            print(build_ended(build.returncode, log), flush=True)
            build = None
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8501, help="the dashboard's port (default 8501)")
    parser.add_argument("--no-build", action="store_true", help="only the dashboard, on what is already built")
    args = parser.parse_args(argv)
    value = os.environ.get(schema.ARTIFACTS_ENV) or str(default_root())
    build_it = not args.no_build and not value.startswith(("http://", "https://"))
    root = REPO / value  # the children run in the repository, as `make run` does (an absolute path stays)
    log = shown_path(root / BUILD_LOG)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # leave through the finally below
    build = dashboard = None
    try:
        build = start_build(root) if build_it else None
        dashboard = subprocess.Popen(dashboard_command(args.port), cwd=REPO)
        if build is not None:
            print(f"Building the default models in the background (log: {log}); the dashboard at "
                  f"http://localhost:{args.port} shows each model as soon as it is ready. Ctrl-C stops both; "
                  "finished steps are kept.", flush=True)
        return watch(dashboard, build, log)
    except KeyboardInterrupt:  # the terminal sent SIGINT to the dashboard too
        return 130
    finally:
        if build is not None and build.poll() is None:
            stop(build, group=True)
            print(f"The build was stopped; its finished steps are kept, and `make run` resumes from them ({log}).",
                  file=sys.stderr)
        if dashboard is not None:
            stop(dashboard, group=False)


if __name__ == "__main__":
    sys.exit(main())
