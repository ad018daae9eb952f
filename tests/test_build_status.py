"""A build running beside the dashboard (`make run`): its progress on every page, each model shown once it is done,
and a page being read kept as it was when a model arrives."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("streamlit")

from dashboard import buildstatus, data  # noqa: E402
from deploy import run as launcher  # noqa: E402
from precompute.contract import progress, schema  # noqa: E402
from precompute.contract.progress import BuildProgress, TaskProgress  # noqa: E402
from tests.test_dashboard_pages import run_app  # noqa: E402

#: The two sample models of the shared artifact set (tests/samples.py).
READY, BUILDING = "usem3-sample", "wordllama-sample"
STEPS = 7


def a_build(building: TaskProgress, pid: int | None = None, ready: bool = True) -> BuildProgress:
    """A build of the two samples and their comparison: READY done (or waiting), BUILDING as given, the comparison
    waiting; by this process unless ``pid`` says another."""
    return BuildProgress(pid or os.getpid(), time.time(), time.time(), tasks=[
        TaskProgress(READY, "model", "done", None, STEPS, STEPS) if ready else TaskProgress(READY, "model"),
        building,
        TaskProgress(f"{schema.COMPARISONS_DIR}/default", "comparison", "waiting", None, 0, 4)])


RUNNING = TaskProgress(BUILDING, "model", "running", "map", 3, STEPS, 0.45)
DONE = TaskProgress(BUILDING, "model", "done", None, STEPS, STEPS)


@pytest.fixture
def root(artifact_root: Path, tmp_path: Path) -> Path:
    """The samples, BUILDING's directory as a first build leaves it while it runs (no ``built_at`` yet)."""
    for slug in (READY, BUILDING):
        shutil.copytree(artifact_root / slug, tmp_path / slug)
    manifest = tmp_path / BUILDING / schema.MANIFEST
    manifest.write_text(json.dumps({k: v for k, v in json.loads(manifest.read_text()).items() if k != "built_at"}))
    return tmp_path


def sidebar_models(at) -> tuple[list[str], list[str]]:
    """The Models box: what it offers, what is selected."""
    box = next(m for m in at.sidebar.multiselect if m.label == "Models")
    return list(box.options), list(box.value)


def bars(at) -> list[tuple[float, str]]:
    """Every progress bar drawn: its value and its text."""
    return [(p.proto.value / 100, p.proto.text) for p in at.get("progress")]


def test_the_status_line_reads_the_builds_own_counts():
    build = a_build(RUNNING)
    assert buildstatus.summary(build) == ("Building: wordllama-sample — map (3/7 steps, 45%) · 1 of 2 models ready")
    assert buildstatus.fraction(build) == pytest.approx((7 + 3 + 0.45) / (7 + 7 + 4))
    failed = a_build(TaskProgress(BUILDING, "model", "failed", None, 2, STEPS, error="MemoryError"))
    failed.tasks[2] = TaskProgress("comparisons/default", "comparison", "running", None, 0, 4)
    assert buildstatus.summary(failed) == ("Building: comparison default — starting (0/4 steps) · 1 of 2 models "
                                           "ready · failed: wordllama-sample (see the build's log)")
    waiting = TaskProgress(BUILDING, "model", "running", None, 2, STEPS)  # its next step not started yet
    assert buildstatus.how_far(waiting) == "between steps (2/7 steps)"


def test_a_model_being_built_is_listed_once_done(monkeypatch, root):
    """While BUILDING runs it is not offered (half written); the page says what is built and how far; once its task
    is done the next run lists it and selects it, since the reader had every model selected."""
    progress.write(root, a_build(RUNNING))
    at = run_app(monkeypatch, root)
    assert sidebar_models(at) == ([READY], [READY])
    assert bars(at) == [(pytest.approx((7 + 3 + 0.45) / 18, abs=0.01),
                         "Building: wordllama-sample — map (3/7 steps, 45%) · 1 of 2 models ready")]
    assert not at.error

    progress.write(root, a_build(DONE))
    at.run()
    assert not at.exception and not at.error
    assert sidebar_models(at) == ([READY, BUILDING], [READY, BUILDING])
    assert bars(at)[0][1] == "Building: starting · 2 of 2 models ready"


def test_a_chosen_selection_is_kept_when_a_model_arrives(monkeypatch, root):
    """Narrowed by the reader, or named by the link the page was opened with: not extended."""
    progress.write(root, a_build(RUNNING))
    narrowed = run_app(monkeypatch, root)
    next(m for m in narrowed.sidebar.multiselect if m.label == "Models").set_value([]).run()
    linked = run_app(monkeypatch, root, models=READY)
    progress.write(root, a_build(DONE))
    assert sidebar_models(narrowed.run()) == ([READY, BUILDING], [])
    assert sidebar_models(linked.run()) == ([READY, BUILDING], [READY])


def test_a_build_whose_process_died_hides_nothing(monkeypatch, root):
    """A progress file left by a killed build says nothing about the directories: both are listed (the pages say
    which files are missing), and no status line claims a build is running."""
    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()
    progress.write(root, a_build(RUNNING, pid=gone.pid))
    assert set(data.scan(root).models) == {READY, BUILDING}
    at = run_app(monkeypatch, root)
    assert sidebar_models(at)[0] == [READY, BUILDING]
    assert bars(at) == []


def test_before_the_first_model_the_fallback_page_shows_the_build(monkeypatch, root):
    shutil.rmtree(root / READY)  # not started yet
    progress.write(root, a_build(RUNNING, ready=False))
    at = run_app(monkeypatch, root)
    assert not at.sidebar.multiselect
    assert "being built" in at.info[0].value
    assert [text for _, text in bars(at)] == [
        "Building: wordllama-sample — map (3/7 steps, 45%) · 0 of 2 models ready",
        "**wordllama-sample**: map (3/7 steps, 45%)"]
    assert [c.value for c in at.caption] == ["**usem3-sample**: waiting", "**comparison default**: waiting"]

    progress.write(root, a_build(DONE, ready=False))
    at.run()
    assert sidebar_models(at) == ([BUILDING], [BUILDING])
    assert not at.info or "being built" not in at.info[0].value


def test_a_failed_build_leaves_the_dashboard_running(monkeypatch, tmp_path, capsys):
    """`make run` (deploy/run.py): the build's output goes to its log, the build's end is said once, and the
    dashboard runs on until it exits itself, whose exit code is the launcher's."""
    monkeypatch.setattr(launcher, "build_command",
                        lambda: [sys.executable, "-c", "import os; print('nice', os.nice(0)); raise SystemExit(1)"])
    build = launcher.start_build(tmp_path / "art")
    dashboard = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3); raise SystemExit(4)"])
    assert launcher.watch(dashboard, build, "art/build.log") == 4
    assert build.returncode == 1
    assert capsys.readouterr().out == (
        "Build ended with errors (exit 1): the dashboard shows what was built and, on each page, what failed. "
        "See art/build.log; `make run` again resumes from the finished steps.\n")
    niceness = min(os.nice(0) + launcher.BUILD_NICENESS, 19)  # 19 is the lowest priority
    assert (tmp_path / "art" / launcher.BUILD_LOG).read_text() == f"nice {niceness}\n"


def test_stopping_interrupts_the_build_and_its_workers_as_ctrl_c_does(monkeypatch, tmp_path):
    """The build runs in its own process group: stopping it reaches its worker processes too, with SIGINT first,
    so that the build can save what it finished ("interrupted: finished steps are kept")."""
    # both take SIGINT as Ctrl-C whatever the test runner's own SIGINT disposition (a background job ignores it)
    interruptible = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    script = ("import subprocess, sys, time\n" + interruptible + "\n"
              f"worker = subprocess.Popen([sys.executable, '-c', '{interruptible}import time; time.sleep(60)'])\n"
              "print(worker.pid, flush=True)\n"
              "try:\n    time.sleep(60)\n"
              "except KeyboardInterrupt:\n    print('interrupted', flush=True); worker.wait(); raise SystemExit(130)\n")
    monkeypatch.setattr(launcher, "build_command", lambda: [sys.executable, "-c", script])
    build = launcher.start_build(tmp_path)
    log = tmp_path / launcher.BUILD_LOG
    deadline = time.monotonic() + 30
    while not log.read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.1)
    worker = int(log.read_text().split()[0])
    launcher.stop(build, group=True)
    assert build.returncode == 130
    assert "interrupted" in log.read_text()  # its worker's KeyboardInterrupt may be logged too, even mid-line
    with pytest.raises(ProcessLookupError):
        os.kill(worker, 0)


def test_after_a_build_that_built_nothing_the_fallback_page_says_why(monkeypatch, tmp_path):
    failed = TaskProgress(BUILDING, "model", "failed", "tokens", 0, STEPS, error="SourceError: pip install wordllama")
    progress.write(tmp_path, BuildProgress(os.getpid(), time.time(), time.time(), finished=True, tasks=[failed]))
    at = run_app(monkeypatch, tmp_path)
    assert [e.value for e in at.error] == [
        "The last build could not build **wordllama-sample**: SourceError: pip install wordllama. Its output says "
        "more (under `make run`: `build.log` in the artifact directory)."]
    assert bars(at) == []
