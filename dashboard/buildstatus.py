"""While a build runs beside the dashboard (``make run``): what it is doing, on every page, and models that arrive.

The build writes its state to one small file at the artifact root (:mod:`precompute.contract.progress`): each
task (a model, or a comparison), its running step and how far that step's own progress bar is. The router draws
:func:`show` above every page: one line and a bar, redrawn every :data:`REFRESH_SECONDS` by a fragment (the
page under it is not run again), from that file, so what it says is the build's own count, never a guess.
When a task is done, its model is listed (:func:`dashboard.data.latest_catalog` rescans) and the fragment
reruns the whole app once, so the model appears in the sidebar and on the page without a reload; a reader
who had every model selected gets it selected too (:func:`keep_selection`), one who chose some keeps the
choice. When the build ends, the line goes.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import data, state
from precompute.contract import progress, schema
from precompute.contract.progress import BuildProgress, TaskProgress

#: Seconds between two looks at the build's progress file while a build runs (one small JSON read).
REFRESH_SECONDS = 2.0
#: Session key of what the last full run showed (its models and comparisons): a change reruns the app.
_SHOWN = "_hp_build_shown"
#: Session key of the models the sidebar offered in the last run.
_OFFERED = "_hp_models_offered"


def running(root: str | Path) -> BuildProgress | None:
    """The progress of the build running on ``root``, or None when none runs (finished, died, never started)."""
    build = progress.read(Path(root))
    return build if build is not None and build.running() else None


def failed_last_time(root: str | Path) -> list[TaskProgress]:
    """The tasks the last build, now ended, could not finish (none while a build runs or after none)."""
    build = progress.read(Path(root))
    return [] if build is None or build.running() else [t for t in build.tasks if t.state == "failed"]


def task_label(task: TaskProgress) -> str:
    """How a task is named to readers: a model by its slug, a comparison as such.

    >>> task_label(TaskProgress("comparisons/default", "comparison"))
    'comparison default'
    """
    prefix = f"{schema.COMPARISONS_DIR}/"
    return f"comparison {task.name.removeprefix(prefix)}" if task.name.startswith(prefix) else task.name


def how_far(task: TaskProgress) -> str:
    """A task's position, as its build counted it.

    >>> how_far(TaskProgress("m", "model", "running", "map", 3, 10, 0.45))
    'map (3/10 steps, 45%)'
    """
    count = f"{task.steps_done}/{task.steps_total} steps"
    if task.fraction is not None:
        count += f", {task.fraction:.0%}"
    if task.step:
        return f"{task.step} ({count})"
    return f"{'between steps' if task.steps_done else 'starting'} ({count})"  # loading, or waiting for cores


def summary(build: BuildProgress) -> str:
    """One line: what runs now, how many models are ready, what failed.

    >>> summary(BuildProgress(1, 0.0, 0.0, tasks=[TaskProgress("a", "model", "done", None, 7, 7),
    ...     TaskProgress("b", "model", "running", "map", 3, 7, 0.5), TaskProgress("c", "model")]))
    'Building: b — map (3/7 steps, 50%) · 1 of 3 models ready'
    """
    now = [f"{task_label(t)} — {how_far(t)}" for t in build.tasks if t.state == "running"]
    models = [t for t in build.tasks if t.kind == "model"]
    parts = [f"Building: {', '.join(now) or 'starting'}",
             f"{sum(t.state == 'done' for t in models)} of {len(models)} models ready"]
    failed = [task_label(t) for t in build.tasks if t.state == "failed"]
    if failed:
        parts.append(f"failed: {', '.join(failed)} (see the build's log)")
    return " · ".join(parts)


def fraction(build: BuildProgress) -> float:
    """The share of the build's steps done, the running steps counted by their own progress (0–1).

    >>> fraction(BuildProgress(1, 0.0, 0.0, tasks=[TaskProgress("a", "model", "done", None, 3, 3),
    ...     TaskProgress("b", "model", "running", "map", 0, 1, 0.5)]))
    0.875
    """
    total = sum(t.steps_total for t in build.tasks)
    done = sum(t.steps_done + (t.fraction or 0.0 if t.state == "running" else 0.0) for t in build.tasks)
    return min(done / total, 1.0) if total else 0.0


def _ready(catalog: data.Catalog) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return tuple(catalog.models), tuple(catalog.comparisons)


def show(root: str, detailed: bool = False) -> None:
    """The build's status while one runs on ``root`` (nothing otherwise), refreshed on its own; ``detailed``
    adds a line per task (the fallback page, before any model is ready)."""
    st.session_state[_SHOWN] = _ready(data.catalog(root))
    if running(root) is not None:
        st.fragment(_status, run_every=REFRESH_SECONDS)(root, detailed)


def _status(root: str, detailed: bool) -> None:
    build = running(root)
    if build is None or _ready(data.latest_catalog(root)) != st.session_state.get(_SHOWN):
        st.rerun(scope="app")  # a model is ready (sidebar and page gain it), or the build ended (the line goes)
    st.progress(fraction(build), text=summary(build))
    if not detailed:
        return
    for task in build.tasks:
        if task.state == "running":
            st.progress(task.fraction or 0.0, text=f"**{task_label(task)}**: {how_far(task)}")
        elif task.state == "failed":
            st.error(f"**{task_label(task)}** failed: {task.error or 'see the build log'}")
        else:
            st.caption(f"**{task_label(task)}**: {'ready' if task.state == 'done' else 'waiting'}")


def keep_selection(catalog: data.Catalog) -> None:
    """Before the sidebar is drawn: models that arrived since the last run join the model selection when it held
    every model offered then (a newcomer's untouched default); a selection the reader narrowed, or a link named,
    is kept."""
    slugs = list(catalog.models)
    offered, chosen = st.session_state.get(_OFFERED), state.value(state.MODELS)
    linked = state.MODELS.name in st.session_state.get(state.OPENING_LINK_KEY, {})
    if offered is not None and chosen is not None and not linked and set(chosen) == set(offered) < set(slugs):
        state.set_value(state.MODELS, slugs)
    st.session_state[_OFFERED] = slugs
