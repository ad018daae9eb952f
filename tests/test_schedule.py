"""Overlapped builds (precompute.build.schedule): the same bytes as one after another, and a true progress file."""

from __future__ import annotations

import functools
import io
import queue
import time
from pathlib import Path

import pytest
from tqdm.std import tqdm

from precompute.build.pipeline import BuildReport
from precompute.build.schedule import (
    BACKFILL,
    LOAD_GRACE,
    BuildOptions,
    ModelTask,
    ProgressBoard,
    Request,
    _Overlapped,
    _Worker,
    bar_fraction,
    build,
    grants,
    in_turn,
    start_order,
)
from precompute.contract import progress, schema
from precompute.contract.naming import comparison_task
from precompute.contract.store import ArtifactDir
from precompute.sources.base import ModelData
from tests.samples import SAMPLES, SMALL_CONFIG, sample_model


def load_sample(builtin: str, name: str) -> ModelData:
    """The session's sample of a built-in model (module-level: a worker process unpickles it by name)."""
    from precompute.sources import load_model

    return sample_model(load_model(builtin), name)


def file_hashes(root: Path) -> dict[str, str]:
    """Every artifact under ``root`` (models and comparisons): relative path -> the manifest's sha256."""
    hashes = {}
    for manifest in [*root.glob(f"*/{schema.MANIFEST}"), *root.glob(f"{schema.COMPARISONS_DIR}/*/{schema.MANIFEST}")]:
        d = ArtifactDir.open(manifest.parent)
        for name, info in d.manifest["files"].items():
            hashes[f"{manifest.parent.relative_to(root)}/{name}"] = info["sha256"]
    return hashes


def request(task: str, threads: int, size: int = 0, arrived: int = 0) -> Request:
    return Request(task, threads, (-size, 0), arrived)


def test_the_widest_waiting_step_goes_first() -> None:
    table, umap = request("e5", 2, size=100), request("wordllama", 1, size=10, arrived=1)
    assert grants([umap, table], free=2) == [table]
    assert grants([umap], free=1) == [umap]


def test_narrower_steps_fill_a_free_core_beside_a_waiting_wide_one_a_bounded_number_of_times() -> None:
    table = request("e5", 2, size=100)
    for n in range(BACKFILL):
        umap = request("use", 1, size=50, arrived=n + 1)
        assert grants([umap, table], free=1) == [umap]  # the exact table waits for both cores; a core is free
        assert table.overtaken == n + 1
    assert grants([request("use", 1, size=50, arrived=9), table], free=1) == []  # now the core is kept for it
    assert grants([request("use", 1, size=50, arrived=9), table], free=2) == [table]


def test_until_a_model_is_done_no_step_starts_before_a_waiting_wider_one() -> None:
    table, umap = request("wordllama", 2, size=10), request("e5", 1, size=100, arrived=1)
    assert grants([umap, table], free=1, lead="wordllama") == []
    table, tokens = request("e5", 2, size=100), request("use", 1, size=50, arrived=1)
    assert grants([tokens, table], free=1, lead="wordllama") == []  # the lead's next wide step would wait for it
    assert table.overtaken == 0


def test_single_threaded_steps_share_the_cores_largest_model_first() -> None:
    small, large, third = request("minilm", 1, size=10), request("e5", 1, size=100), request("use", 1, size=50)
    assert grants([small, third, large], free=2) == [large, third]


def test_until_a_model_is_done_the_smallest_leads_even_past_a_wider_step() -> None:
    table, umap = request("e5", 2, size=100), request("wordllama", 1, size=10, arrived=1)
    assert grants([umap, table], free=2, lead="wordllama") == [umap]  # the table waits for both cores
    assert grants([table], free=1, lead="wordllama") == []


def test_models_start_smallest_first_then_largest_first() -> None:
    def model(name: str, size: int | None) -> ModelTask:
        return ModelTask(name, name, load=lambda: None, size=size)

    given = [model("use", 65), model("wordllama", 8), model("minilm", 11), model("e5", 96), model("mine", None)]
    assert [m.name for m in start_order(given)] == ["wordllama", "e5", "use", "minilm", "mine"]


def test_a_model_read_faster_than_the_one_handed_out_before_it_waits_for_it_to_start() -> None:
    order = {"wordllama": 0, "e5": 1, "use": 2}
    lead_tokens, use_tokens, e5_reading = request("wordllama", 1), request("use", 1), request("e5", 1)
    comparison = request("comparisons/default", 2)
    waiting = [lead_tokens, use_tokens, e5_reading, comparison]
    # e5 handed out 3 s ago, still being read: its own reading, the lead's and the comparison's steps go on
    assert in_turn(waiting, {"e5": 100.0}, order, now=103.0) == [lead_tokens, e5_reading, comparison]
    assert in_turn(waiting, {}, order, now=103.0) == waiting  # e5 at its first step: use's steps are free
    assert in_turn(waiting, {"e5": 100.0}, order, now=100.0 + LOAD_GRACE) == waiting  # a slow read stops holding


def test_the_build_holds_a_models_first_step_until_the_model_handed_out_before_it_asks_for_its_own(
        tmp_path: Path) -> None:
    """The messages a worker sends (its reading asks for a core, then its size, then each step asks), in the
    order that made use-multilingual-v3's token table start before multilingual-e5-small's."""
    models = [ModelTask(name, name, load=lambda: None, size=size) for name, size in
              (("wordllama", 8), ("e5", 96), ("use", 65))]
    board = ProgressBoard(tmp_path, [progress.TaskProgress(m.slug, "model", steps_total=10) for m in models])
    build = _Overlapped(models, tmp_path, BuildOptions(config=SMALL_CONFIG), None, board, lambda *_: None, jobs=3)
    build.pool = [_Worker(None, queue.Queue(), queue.Queue()) for _ in models]
    for worker, model in zip(build.pool, start_order(models), strict=True):
        build._hand(worker, model.name, model.slug, ("model", model))
    workers = {w.task: w for w in build.pool}

    def send(task: str, *messages: tuple) -> None:
        for kind, *args in messages:
            build._apply((kind, task, *args))
        build._grant()

    def granted(task: str) -> int:
        return workers[task].grants.qsize()

    send("wordllama", ("want", 1))
    send("e5", ("want", 1))  # both readings start: the two cores
    send("use", ("want", 1))
    send("wordllama", ("release", 1), ("size", 8), ("want", 1))  # the lead's token table takes its core back
    send("e5", ("release", 1), ("size", 96))  # read; hashing its inputs: its core goes to use's reading
    send("use", ("release", 1), ("size", 65), ("want", 1))  # read fast: a core is free, e5 has not asked yet
    assert (granted("wordllama"), granted("e5"), granted("use")) == (2, 1, 1)
    send("e5", ("want", 1))  # e5's token table takes the core, use's waits
    assert (granted("e5"), granted("use")) == (2, 1)
    assert [r.task for r in build.waiting] == ["use"]


def test_the_newest_open_bar_is_the_running_steps_fraction() -> None:
    since = time.time()
    assert bar_fraction(since) is None
    with tqdm(total=8, file=io.StringIO()) as outer:
        outer.update(2)
        assert bar_fraction(since) == pytest.approx(0.25)
        with tqdm(total=4, file=outer.fp) as inner:
            inner.update(3)
            assert bar_fraction(since) == pytest.approx(0.75)
        assert bar_fraction(time.time() + 1) is None  # bars opened before the step are not its bars


def test_the_board_writes_state_changes_at_once(tmp_path: Path) -> None:
    board = ProgressBoard(tmp_path, [progress.TaskProgress("a", "model", steps_total=3)])
    board.started("a")
    assert progress.read(tmp_path).task("a").state == "running"
    board.ended("a", BuildReport(tmp_path / "a", failed={"map": "ValueError: no"}))
    written = progress.read(tmp_path).task("a")
    assert (written.state, written.error) == ("failed", "map: ValueError: no")


def test_an_overlapped_build_measures_the_gemm_rate_once_before_its_workers(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Measured in each worker, the time estimate's GEMM rate counted the other workers' load."""
    from precompute.build import schedule

    seen = []

    class Workers:
        def __init__(self, models, root, options: BuildOptions, *rest) -> None:
            seen.append(options.gemm_flops)

        def run(self, results: dict) -> None:
            pass

    monkeypatch.setattr(schedule, "_Overlapped", Workers)
    monkeypatch.setattr(schedule, "gemm_rate", lambda device: {"cpu": 123e9}[device])
    tasks = [ModelTask(name, name, functools.partial(load_sample, builtin, name)) for builtin, name in SAMPLES.items()]
    build(tasks, tmp_path, BuildOptions(SMALL_CONFIG, progress=False), jobs=2)
    build(tasks, tmp_path, BuildOptions(SMALL_CONFIG, progress=False, gemm_flops=5e9), jobs=2)
    assert seen == [123e9, 5e9]


@pytest.fixture(scope="module")
def overlapped_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's two samples and their comparison, built by two worker processes."""
    root = tmp_path_factory.mktemp("overlapped")
    tasks = [ModelTask(name, name, functools.partial(load_sample, builtin, name)) for builtin, name in SAMPLES.items()]
    results = build(tasks, root, BuildOptions(SMALL_CONFIG, progress=False), comparison="default", jobs=2)
    assert all(isinstance(r, BuildReport) and r.ok for r in results.values()), results
    return root


def test_an_overlapped_build_writes_the_same_bytes_as_one_after_another(artifact_root: Path,
                                                                        overlapped_root: Path) -> None:
    serial, overlapped = file_hashes(artifact_root), file_hashes(overlapped_root)
    assert len(serial) > 40
    assert overlapped == serial


def test_the_progress_file_ends_finished_with_every_task_done(overlapped_root: Path) -> None:
    state = progress.read(overlapped_root)
    assert state.finished and not state.running()
    assert [(t.name, t.state, t.step, t.steps_done == t.steps_total) for t in state.tasks] == [
        *[(name, "done", None, True) for name in SAMPLES.values()],
        (comparison_task("default"), "done", None, True),
    ]
