"""What a running build is doing, in one small JSON file at the artifact root, for the dashboard to show.

A build (``precompute build``) rewrites ``build-progress.json`` atomically whenever one of its tasks
(a model, or a comparison) starts or ends a step, or the running step's own progress bar moves; the
dashboard reads it to say, on every page, which model and step is being built and how far it is, from
the build's own counters rather than a guess. A file whose writer has died is reported as stale, not
as a build still running.

Deliberately light (json, os, dataclasses): the dashboard imports it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

#: The file, at the artifact root.
PROGRESS_FILE = "build-progress.json"
#: Largest file :func:`read` accepts (a build of hundreds of models stays far below it).
MAX_BYTES = 1 << 20

State = Literal["waiting", "running", "done", "failed"]


@dataclass
class TaskProgress:
    """One task of the build: a model (``name`` is its slug) or a comparison (``comparisons/<name>``)."""

    name: str
    kind: Literal["model", "comparison"]
    state: State = "waiting"
    step: str | None = None  # the step running now
    steps_done: int = 0  # steps finished (built or found current)
    steps_total: int = 0
    fraction: float | None = None  # how far the running step is (0–1), when it has a progress bar
    error: str | None = None  # why it failed, when it did


@dataclass
class BuildProgress:
    """The whole build: its tasks in the order they were planned."""

    pid: int
    started_at: float
    updated_at: float
    finished: bool = False
    tasks: list[TaskProgress] = field(default_factory=list)

    def running(self) -> bool:
        """Whether the build is still going: not finished, and its process still alive on this machine."""
        return not self.finished and _alive(self.pid)

    def task(self, name: str) -> TaskProgress | None:
        return next((t for t in self.tasks if t.name == name), None)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def write(root: Path, progress: BuildProgress) -> None:
    """Replace the file atomically (a reader sees the old state or the new one, never half of one)."""
    progress.updated_at = time.time()
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".progress-", suffix=".tmp", dir=root)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(asdict(progress), f)
        os.replace(tmp, root / PROGRESS_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read(root: Path) -> BuildProgress | None:
    """The build's last written state, or None when there is none or the file is not one (never raises)."""
    path = Path(root) / PROGRESS_FILE
    try:
        if path.stat().st_size > MAX_BYTES:
            return None
        raw = json.loads(path.read_text(encoding="utf-8"))
        tasks = [TaskProgress(**t) for t in raw.pop("tasks")]
        return BuildProgress(**raw, tasks=tasks)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
