"""Building several models at once, each step given the cores it declares, and the build's progress file.

``precompute build --default`` has four models and their comparison to build. Their steps alternate
between work that keeps every core busy (the exact table's products, the probes) and work on one
thread (UMAP, Annoy's trees, the token table): built one after another, the other cores idle through
every single-threaded step. An overlapped build (``--jobs N``, N > 1) runs each task (a model; the
comparison once its models are built) in a worker process of its own, and each step first asks this
process for the cores it declares (``Step.threads``: 1, or 0 for all the build's ``n_jobs``). So one
model's UMAP runs beside another's Annoy trees, and an exact table only with the cores to itself: two
BLAS-bound processes on the same cores would thrash. Waiting steps start widest first, then the
largest model's (the longest to finish). A wide step that waits for a core still held by a narrow one
would leave the free core idle until then, so the pool holds one process more than the cores
(:func:`default_jobs`) and a narrower step may start on that core, at most :data:`BACKFILL` times per
waiting step, so that an exact table is not starved by a stream of single-threaded steps. One exception
puts a page in front of a newcomer early (``make run`` serves while it builds): until the first model is
done, the smallest model being built goes before every other (its steps take seconds, a large model's
minutes), and no step starts before a waiting wider one. And the models' steps start in the order the
models were handed out, not in the order their reading ends (:func:`in_turn`), so that the largest model's
long chain of steps starts second, as :func:`start_order` meant it to.

Same bytes as one after another: a task's steps run in the same order in one process, and every
step runs on its declared thread count in either build (:class:`precompute.build.pipeline.StepRunner`).

Either way the build writes ``build-progress.json`` at the artifact root (precompute.contract.progress):
each task's state, its running step, and how far that step's own progress bar is, read from the
bars the steps already draw (tqdm), written at most every :data:`WRITE_EVERY` seconds while a bar moves
and at once when a task starts or ends.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import multiprocessing
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tqdm.std import tqdm

from precompute.build.locks import Busy
from precompute.build.pipeline import BuildReport, StepTracker, build_comparison, build_model
from precompute.contract import progress
from precompute.contract.config import BuildConfig
from precompute.contract.naming import comparison_task
from precompute.knn.neighbors import resolve_device
from precompute.sources.base import ModelData, SourceError
from precompute.sources.sizes import gemm_rate
from precompute.steps import Step, discover

log = logging.getLogger("precompute")

#: Narrower steps that may start, one after another, on cores that a wider waiting step cannot use yet. Each
#: fills a core that would idle until the narrow step beside it ends; more would delay the wide one (an exact
#: table on the longest chain) for good. Chosen with ``benchmarks/schedule.py`` (this scheduler replayed on a
#: cold default build's step times, each varied ±20 %): 2 takes the median build from 470 to 463 s, 1 to 468 s,
#: 3 to 465 s (docs/BENCHMARKS.md).
BACKFILL = 2
#: Seconds a built-in model's steps may be held back for a model handed out before it that is still being read
#: (``in_turn``): its reading takes a few seconds; the bound keeps a failed or slow read from idling a core long.
LOAD_GRACE = 15.0
#: Seconds between two writes of the progress file while a bar moves (a task starting or ending is written at once).
WRITE_EVERY = 0.5
#: What a task ends with: its report, or why it could not be built at all.
Result = BuildReport | str


@dataclass(frozen=True)
class ModelTask:
    """One model to build: ``name`` as the user gave it, its artifact directory ``slug``, and ``load``, which
    reads it (picklable: a module-level function or a partial of one, called in the process that builds)."""

    name: str
    slug: str
    load: Callable[[], ModelData]
    size: int | None = None  # its embedding matrix's elements, when known before loading (a built-in model)


def default_jobs() -> int:
    """Worker processes of an overlapped build: one more than the cores, so that a narrow step is waiting to
    fill a core that a wide step cannot use yet (``BACKFILL``); the third model is loaded early, its steps
    wait for cores like any other."""
    return (os.cpu_count() or 1) + 1


def start_order(models: list[ModelTask]) -> list[ModelTask]:
    """The order models are handed to the workers: the smallest known one first (a first page early), then
    the largest first (the longest chain of steps starts early), models of unknown size last, as given."""
    known = sorted((m for m in models if m.size is not None), key=lambda m: m.size)
    first = known[:1]
    return first + sorted(known[1:], key=lambda m: -m.size) + [m for m in models if m.size is None]


@dataclass(frozen=True)
class BuildOptions:
    """How every task of one build is built (sent to the worker processes as it is)."""

    config: BuildConfig
    force: bool = False
    wait: bool = True
    dictionaries: Path | None = None  # MUSE dictionaries folder (lexicon.load_muse_dictionaries)
    progress: bool = True  # progress bars on the terminal
    log_level: int = logging.INFO
    #: this machine's GEMM rate for the builds' time estimates, measured once before the workers start
    #: (measured in each worker, it counted the others' load: "54 GFLOP/s" on a machine that does 300)
    gemm_flops: float | None = None

    def load_dictionaries(self) -> Any:
        if self.dictionaries is None:
            return None
        from precompute.analyses.lexicon import load_muse_dictionaries

        return load_muse_dictionaries(self.dictionaries)


# --- the progress file -----------------------------------------------------------------------------------


class ProgressBoard:
    """The build's state (precompute.contract.progress), kept here and written to the root, throttled.

    Its methods are the events a task goes through; an overlapped build's workers send them as messages
    (method name, arguments) and this process applies them, so the file has one writer.
    """

    def __init__(self, root: Path, tasks: list[progress.TaskProgress]) -> None:
        now = time.time()
        self.root = Path(root)
        # the outermost folder this build creates: a build that builds nothing leaves nothing behind
        self._made = next((d for d in [*reversed(self.root.parents), self.root] if not d.exists()), None)
        self.state = progress.BuildProgress(pid=os.getpid(), started_at=now, updated_at=now, tasks=tasks)
        self._lock = threading.Lock()  # a serial build's bar watcher updates from its own thread
        self._written = 0.0
        self._dirty = False
        self._write()

    def _update(self, name: str, now: bool = False, **values: Any) -> None:
        with self._lock:
            task = self.state.task(name)
            if task is None:
                raise KeyError(f"no task {name!r} in this build's progress")
            for key, value in values.items():
                setattr(task, key, value)
            self._dirty = True
            if now or time.monotonic() - self._written >= WRITE_EVERY:
                self._write()

    def _write(self) -> None:
        progress.write(self.root, self.state)
        self._written, self._dirty = time.monotonic(), False

    def tick(self) -> None:
        """Write what a throttled update left unwritten, once it is due."""
        with self._lock:
            if self._dirty and time.monotonic() - self._written >= WRITE_EVERY:
                self._write()

    def started(self, name: str) -> None:
        self._update(name, now=True, state="running")

    def planned(self, name: str, total: int) -> None:
        self._update(name, steps_total=total)

    def step_started(self, name: str, step: str) -> None:
        self._update(name, step=step, fraction=None)

    def moved(self, name: str, fraction: float | None) -> None:
        self._update(name, fraction=fraction)

    def step_finished(self, name: str, ok: bool) -> None:
        task = self.state.task(name)
        self._update(name, step=None, fraction=None, steps_done=task.steps_done + ok if task else 0)

    def ended(self, name: str, result: Result) -> None:
        """The task is over: done when every step is built or current, else failed, saying why."""
        if isinstance(result, BuildReport) and result.ok:
            self._update(name, now=True, state="done", step=None, fraction=None)
            return
        error = result if isinstance(result, str) else "; ".join(f"{s}: {why}" for s, why in result.failed.items())
        self._update(name, now=True, state="failed", step=None, fraction=None, error=error)

    def finish(self) -> None:
        """The build is over. When it created the root and no step of any task ran (every model failed to
        load: a wrong name, a bad vocabulary), the root is removed again, so nothing is left half-made."""
        with self._lock:
            self.state.finished = True
            if self._made is not None and not any(t.steps_done for t in self.state.tasks):
                (self.root / progress.PROGRESS_FILE).unlink(missing_ok=True)
                for folder in [self.root, *self.root.parents]:
                    with contextlib.suppress(OSError):  # not empty: something else was written there
                        folder.rmdir()
                    if folder == self._made:
                        break
                return
            self._write()


def bar_fraction(since: float) -> float | None:
    """How far the newest progress bar opened since ``since`` (time.time()) is, None without one.

    Read from tqdm's own registry of open bars (the one its monitor thread walks), so the steps need not
    pass anything: a step draws its bar as it always did, and the build reads its n and total.
    """
    try:
        bars = [b for b in list(tqdm._instances) if b.start_t >= since and b.total]
    except RuntimeError:  # a bar opened or closed while the set was copied: the next look sees it
        return None
    if not bars:
        return None
    bar = max(bars, key=lambda b: b.start_t)
    return min(1.0, bar.n / bar.total)


@contextlib.contextmanager
def watching_bars(report: Callable[[float | None], None]) -> Iterator[None]:
    """Call ``report(fraction)`` every WRITE_EVERY seconds while the block runs (also when it did not move:
    a serial build's board writes what its throttle held back then)."""
    since, stop = time.time(), threading.Event()

    def watch() -> None:
        while not stop.wait(WRITE_EVERY):
            report(bar_fraction(since))

    thread = threading.Thread(target=watch, name="progress-bars", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class BoardTracker(StepTracker):
    """One task's steps into the progress board; ``send(method, *args)`` reaches the board (directly, or
    from a worker process as a message), ``cores(threads)`` holds the cores a step needs while it runs."""

    def __init__(self, task: str, send: Callable[..., None],
                 cores: Callable[[int], contextlib.AbstractContextManager[None]] | None = None) -> None:
        self.task, self.send = task, send
        self.cores = cores or (lambda threads: contextlib.nullcontext())

    def plan(self, steps: list[Step]) -> None:
        self.send("planned", self.task, len(steps))

    @contextlib.contextmanager
    def running(self, step: Step, threads: int) -> Iterator[None]:
        with self.cores(threads):
            self.send("step_started", self.task, step.name)
            with watching_bars(lambda fraction: self.send("moved", self.task, fraction)):
                yield

    def finished(self, step: Step, ok: bool) -> None:
        self.send("step_finished", self.task, ok)


# --- the plan ----------------------------------------------------------------------------------------------


def build(models: list[ModelTask], root: Path, options: BuildOptions, *, comparison: str | None = None,
          jobs: int = 1, on_result: Callable[[str, Result], None] | None = None) -> dict[str, Result]:
    """Build ``models`` into ``root``, then (``comparison`` named) the comparison of those that could be built.

    ``jobs`` tasks at most at once, each in its own worker process; 1 builds them one after another in
    this process. Returns each task's result by its name (a model's ``name``, ``comparison <name>``);
    ``on_result(name, result)`` is called as each one ends. Writes the progress file throughout.
    """
    model_steps = sum(s.kind == "model" for s in discover())
    tasks = [progress.TaskProgress(m.slug, "model", steps_total=model_steps) for m in models]
    if comparison:
        tasks.append(progress.TaskProgress(comparison_task(comparison), "comparison",
                                           steps_total=sum(s.kind == "comparison" for s in discover())))
    board = ProgressBoard(root, tasks)
    results: dict[str, Result] = {}

    def ended(name: str, task: str, result: Result) -> None:
        results[name] = result
        board.ended(task, result)
        if on_result is not None:
            on_result(name, result)

    try:
        if jobs <= 1 or len(tasks) <= 1:
            _serial(models, root, options, comparison, board, ended, results)
        else:
            options = replace(options, gemm_flops=options.gemm_flops
                              or gemm_rate(resolve_device(options.config.device).type))
            _Overlapped(models, root, options, comparison, board, ended, jobs).run(results)
    finally:
        for task in board.state.tasks:
            if task.state in ("waiting", "running"):
                board.ended(task.name, "the build stopped before this task ended; finished steps are kept")
        board.finish()
    return results


def _compared(models: list[ModelTask], results: dict[str, Result], name: str,
              ended: Callable[[str, str, Result], None]) -> list[str]:
    """The models the comparison ``name`` reads: those whose build ran (a failed step is reported, not
    fatal). Fewer than two: the comparison is reported as not built, and the list is empty."""
    slugs = [m.slug for m in models if isinstance(results.get(m.name), BuildReport)]
    if len(slugs) < 2:
        ended(f"comparison {name}", comparison_task(name),
              f"not built: it needs two models, and {len(slugs)} could be built")
        return []
    return slugs


def _serial(models: list[ModelTask], root: Path, options: BuildOptions, comparison: str | None,
            board: ProgressBoard, ended: Callable[[str, str, Result], None], results: dict[str, Result]) -> None:
    """One task after another in this process: the order every build had before overlapping."""
    dictionaries = options.load_dictionaries()

    def send(method: str, *args: Any) -> None:
        getattr(board, method)(*args)

    for task in models:
        board.started(task.slug)
        result: Result
        try:
            result = build_model(
                task.load(), root, options.config, slug=task.slug, force=options.force, dictionaries=dictionaries,
                progress=options.progress, wait=options.wait, tracker=BoardTracker(task.slug, send),
                gemm_flops=options.gemm_flops)
        except (SourceError, ValueError, Busy) as e:  # this model cannot be built; the others still are
            result = f"{type(e).__name__}: {e}"
        ended(task.name, task.slug, result)
    slugs = _compared(models, results, comparison, ended) if comparison else []
    if slugs:
        task = comparison_task(comparison)
        board.started(task)
        report = build_comparison(slugs, root, options.config, name=comparison, force=options.force,
                                  progress=options.progress, wait=options.wait, tracker=BoardTracker(task, send))
        ended(f"comparison {comparison}", task, report)


# --- the overlapped build ----------------------------------------------------------------------------------


@dataclass
class Request:
    """A worker's step waiting for ``threads`` cores; lower ``priority`` goes first among equals.
    ``overtaken`` counts the narrower steps started while it waited (``grants``)."""

    task: str
    threads: int
    priority: tuple[int, int]
    arrived: int
    overtaken: int = 0


def grants(waiting: list[Request], free: int, lead: str | None = None, backfill: int = BACKFILL) -> list[Request]:
    """The waiting requests that start now with ``free`` cores: ``lead``'s first (the task to finish
    before all others), then the widest, then by priority and arrival.

    The first request that needs more cores than are free waits, and narrower ones behind it may start
    on the free cores only while it has been overtaken fewer than ``backfill`` times (counted on it here),
    and not at all while there is a ``lead``: a step started beside a waiting one would hold its core into
    the lead's next wide step. (In the default build, a third model's token table, 30-40 s, started beside
    multilingual-e5-small's waiting exact table, kept wordllama-l2's waiting 36 s: its first page came
    after 3 min 40 s instead of about 3.)
    """
    started, blocked = [], None
    for request in sorted(waiting, key=lambda r: (r.task != lead, -r.threads, r.priority, r.arrived)):
        if request.threads > free:
            blocked = blocked or request
            continue
        if blocked is not None:
            if lead is not None or blocked.overtaken >= backfill:
                break
            blocked.overtaken += 1
        started.append(request)
        free -= request.threads
    return started


def in_turn(waiting: list[Request], loading: dict[str, float], order: dict[str, int], now: float,
            grace: float = LOAD_GRACE) -> list[Request]:
    """The waiting requests that may be granted now: the models' steps start in the order the models were
    handed out (``order``), not in the order their reading ends.

    ``loading`` holds the built-in models handed out and not yet at their first step (reading the model and
    hashing its inputs), with the time each was handed out. While one of them is, for at most ``grace``
    seconds, the steps of models handed out after it wait; its own requests (the reading) and the
    comparison's do not. Why: the largest model, handed out second, took a few seconds more to read than the
    third, whose 30 s token table then took the free core, and the largest model's chain (the build's
    longest) started 30 s later: 481-484 s builds, against 464-470 s since it starts second (AVX2 proxy).
    """
    live = [order[task] for task, since in loading.items() if now - since < grace and task in order]
    first = min(live, default=None)
    return [r for r in waiting
            if first is None or r.task not in order or order[r.task] <= first or r.task in loading]


@dataclass
class _Worker:
    """A worker process of the pool, and the task it is building (None when idle)."""

    process: Any
    jobs: Any  # queue: the tasks this process sends it, None to stop
    grants: Any  # queue: the cores this process grants it
    label: str | None = None  # the running task's result name
    task: str | None = None  # the running task's progress name
    held: int = 0


class _Overlapped:
    """The parent of an overlapped build: a pool of ``jobs`` worker processes, kept for the whole build so
    that each compiles UMAP's and the kernels' numba code once, not once per task. It hands them tasks,
    grants cores to their steps, applies their progress and collects their results."""

    def __init__(self, models: list[ModelTask], root: Path, options: BuildOptions, comparison: str | None,
                 board: ProgressBoard, ended: Callable[[str, str, Result], None], jobs: int) -> None:
        self.models, self.root, self.options, self.comparison = models, root, options, comparison
        self.board, self.ended, self.jobs = board, ended, jobs
        self.budget = options.config.n_jobs or os.cpu_count() or 1
        self.free = self.budget
        self.context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads
        self.events = self.context.Queue()
        self.pool: list[_Worker] = []
        self.waiting: list[Request] = []
        # a step's priority: its model's size (known before loading for a built-in model, else once read), then
        # the order models are handed out, so that a large model's first steps do not wait behind a smaller one's
        self.order = {m.slug: i for i, m in enumerate(start_order(models))}
        self.size: dict[str, int] = {m.slug: m.size for m in models if m.size is not None}
        self.model_done = False  # whether any model has ended: until then the smallest one leads
        self.loading: dict[str, float] = {}  # built-in models handed out, not yet at a step: since when (in_turn)
        self.read: set[str] = set()  # models whose reading is done (their size sent)
        self.arrivals = 0
        # bars on a terminal only: redrawn twice a second, they would fill a log file (make run's build.log)
        self.bars = _TerminalBars(options.progress and sys.stderr.isatty())

    def run(self, results: dict[str, Result]) -> None:
        """Build every task; ``results`` is where the build records each result as it ends."""
        pending: list[tuple[str, str, tuple]] = [(m.name, m.slug, ("model", m)) for m in start_order(self.models)]
        comparison_due = bool(self.comparison)
        try:
            while pending or comparison_due or any(w.task for w in self.pool):
                if comparison_due and not pending and not any(w.task for w in self.pool):
                    comparison_due = False
                    slugs = _compared(self.models, results, self.comparison, self.ended)
                    if slugs:
                        pending.append((f"comparison {self.comparison}", comparison_task(self.comparison),
                                        ("comparison", slugs, self.comparison)))
                while pending and (idle := self._idle_worker()) is not None:
                    self._hand(idle, *pending.pop(0))
                self._grant()
                self._receive(WRITE_EVERY)
                self._reap()
                self.board.tick()
                self.bars.show(self.board.state)
            for worker in self.pool:
                worker.jobs.put(None)
            for worker in self.pool:
                worker.process.join()
        finally:
            self.bars.close()
            for worker in self.pool:  # still alive only after an interruption or an error here
                if worker.process.is_alive():
                    worker.process.terminate()
                    worker.process.join()

    def _idle_worker(self) -> _Worker | None:
        """An idle worker of the pool, a new one started while fewer than ``jobs`` run."""
        idle = next((w for w in self.pool if w.task is None), None)
        if idle is None and len(self.pool) < self.jobs:
            jobs, grants_queue = self.context.Queue(), self.context.Queue()
            process = self.context.Process(target=_worker_main, name=f"precompute build {len(self.pool) + 1}",
                                           args=(self.options, self.events, jobs, grants_queue))
            process.start()
            idle = _Worker(process, jobs, grants_queue)
            self.pool.append(idle)
        return idle

    def _hand(self, worker: _Worker, label: str, task: str, job: tuple) -> None:
        worker.label, worker.task = label, task
        if task in self.size:  # a built-in model: read in seconds, its steps in turn (in_turn)
            self.loading[task] = time.monotonic()
        self.board.started(task)
        worker.jobs.put((task, self.root, *job))

    def _lead(self) -> str | None:
        """The smallest model being built while no model is done yet (the first page waits on it), else None."""
        if self.model_done:
            return None
        building = [w.task for w in self.pool if w.task in self.size and w.task in self.order]
        return min(building, key=lambda t: (self.size[t], self.order[t]), default=None)

    def _grant(self) -> None:
        lead = self._lead()
        worker = self._running(lead) if lead is not None else None
        # the lead between two of its steps (writing one's files, hashing the next one's inputs): keep a core
        # for its next request, or a step waiting elsewhere takes it, and the first page waits for that step
        between = worker is not None and worker.held == 0 and not any(r.task == lead for r in self.waiting)
        waiting = in_turn(self.waiting, self.loading, self.order, time.monotonic())
        for request in grants(waiting, self.free - int(between), lead):
            self.waiting.remove(request)
            self.free -= request.threads
            worker = self._running(request.task)
            worker.held += request.threads
            worker.grants.put(request.threads)

    def _running(self, task: str) -> _Worker | None:
        return next((w for w in self.pool if w.task == task), None)

    def _receive(self, timeout: float) -> None:
        """Apply the workers' messages: one waited for up to ``timeout`` s, then whatever else has arrived."""
        try:
            message = self.events.get(timeout=timeout)
            while True:
                self._apply(message)
                message = self.events.get_nowait()
        except queue.Empty:
            return

    def _apply(self, message: Any) -> None:
        if isinstance(message, logging.LogRecord):
            logging.getLogger(message.name).handle(message)
            return
        kind, task, *args = message
        worker = self._running(task)
        if worker is None:
            return
        if kind == "want":
            if task in self.read:  # a step, not the reading: the model is at its first step
                self.loading.pop(task, None)
            self.arrivals += 1
            priority = (-self.size.get(task, 0), self.order.get(task, len(self.order)))
            self.waiting.append(Request(task, min(args[0], self.budget), priority, self.arrivals))
        elif kind == "release":
            worker.held -= args[0]
            self.free += args[0]
        elif kind == "size":
            self.size[task] = args[0]
            self.read.add(task)
        elif kind == "result":
            self._end(worker, args[0])
        else:  # a progress event: a ProgressBoard method and its arguments
            getattr(self.board, kind)(task, *args)

    def _end(self, worker: _Worker, result: Result) -> None:
        self.free += worker.held  # a worker that died holding cores gives them back
        self.waiting = [r for r in self.waiting if r.task != worker.task]
        self.loading.pop(worker.task, None)
        label, task = worker.label, worker.task
        self.model_done = self.model_done or task in self.order
        worker.label, worker.task, worker.held = None, None, 0
        self.ended(label, task, result)

    def _reap(self) -> None:
        """A worker process that died (killed, out of memory): its task failed, the pool starts another."""
        for worker in [w for w in self.pool if not w.process.is_alive()]:
            if worker.task is not None:
                self._receive(0)  # its last messages may still be on their way
            if worker.task is not None:
                self._end(worker, f"its build process ended with exit code {worker.process.exitcode} before "
                                  "reporting; run the build again to resume from its finished steps")
            self.pool.remove(worker)


# --- in a worker process -------------------------------------------------------------------------------------


def _worker_main(options: BuildOptions, events: Any, jobs: Any, grants_queue: Any) -> None:
    """A worker's life: set up once, then build the tasks it is sent until it is sent None."""
    _worker_setup(options, events)
    dictionaries = options.load_dictionaries()
    for task, root, kind, *job in iter(jobs.get, None):
        tracker = _worker_tracker(task, events, grants_queue)
        result: Result
        try:
            if kind == "model":
                result = _build_model(task, job[0], root, options, tracker, events, dictionaries)
            else:
                slugs, name = job
                result = build_comparison(slugs, root, options.config, name=name, force=options.force,
                                          progress=True, wait=options.wait, tracker=tracker)
        except KeyboardInterrupt:
            return
        except Exception as e:  # reported by the parent as this task's failure; the others go on
            log.exception("%s could not be built", task)
            result = f"{type(e).__name__}: {e}"
        events.put(("result", task, result))


def _build_model(slug: str, task: ModelTask, root: Path, options: BuildOptions, tracker: BoardTracker,
                 events: Any, dictionaries: Any) -> BuildReport:
    with tracker.cores(1):  # reading a model is single-threaded work too
        model = task.load()
    events.put(("size", slug, int(model.embeddings.size)))
    return build_model(model, root, options.config, slug=slug, force=options.force, dictionaries=dictionaries,
                       progress=True, wait=options.wait, tracker=tracker, gemm_flops=options.gemm_flops)


def _worker_setup(options: BuildOptions, events: Any) -> None:
    """Log records go to the parent (which prints them above its bars); the steps' own bars go nowhere,
    the parent draws one per task from what they report."""
    sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (for the life of the process)
    handler = logging.handlers.QueueHandler(events)
    for name in ("precompute", "py.warnings"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
        logger.setLevel(options.log_level)
    logging.captureWarnings(True)


def _worker_tracker(task: str, events: Any, grants_queue: Any) -> BoardTracker:
    @contextlib.contextmanager
    def cores(threads: int) -> Iterator[None]:
        events.put(("want", task, threads))
        granted = grants_queue.get()
        try:
            yield
        finally:
            events.put(("release", task, granted))

    return BoardTracker(task, lambda method, name, *args: events.put((method, name, *args)), cores)


# --- the terminal ---------------------------------------------------------------------------------------------


@dataclass
class _TerminalBars:
    """One bar per running task, drawn by the parent of an overlapped build from the progress state."""

    enabled: bool
    bars: dict[str, Any] = field(default_factory=dict)

    def show(self, state: progress.BuildProgress) -> None:
        if not self.enabled:
            return
        for task in state.tasks:
            bar = self.bars.get(task.name)
            if task.state == "running" and bar is None:
                bar = self.bars[task.name] = tqdm(total=task.steps_total, desc=task.name, unit="step")
            if bar is None:
                continue
            bar.n = task.steps_done
            bar.set_postfix_str(f"{task.step or ''} {'' if task.fraction is None else f'{task.fraction:.0%}'}".strip(),
                                refresh=False)
            bar.refresh()
            if task.state in ("done", "failed"):
                bar.close()
                del self.bars[task.name]

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()

