"""Build steps, declared once beside the analysis they run, and found by the pipeline.

An analysis module declares its step as a module-level ``STEP`` (or a tuple ``STEPS``)::

    STEP = Step(
        name="norms",
        needs=("tokens",),                    # steps whose artifacts it reads
        params=(),                            # BuildConfig fields it reads
        writes=(schema.NORMS_BY_CATEGORY,),   # artifact names (declared in precompute.contract.schema)
        compute=lambda ctx: norm_artifacts(ctx.table(schema.TOKENS)),
    )

:func:`discover` imports every module of ``precompute.knn`` and ``precompute.analyses`` and collects
those declarations, so a new analysis is one new module (``precompute/analyses/my_analysis.py``) and
nothing else. The pipeline runs the steps in dependency order; a step's fingerprint is made of the
model's data, the fingerprints of the steps it needs, the values of the parameters it declares,
whatever else it declares as ``inputs`` (a corpus count, a dictionary), and the declared columns of
the tables it writes (so a build after an upgrade that changed a table rebuilds it). A step that reads a
build parameter it did not declare fails at once (:class:`DeclaredConfig`), so a fingerprint can
never miss a parameter the result depends on.

Deliberately light (no analysis imports): analysis modules import it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from precompute.contract import schema
from precompute.contract.config import RUNTIME_PARAMS, BuildConfig

if TYPE_CHECKING:
    from precompute.contract.store import ArtifactDir
    from precompute.sources.base import ModelData

#: A file a step writes itself (e.g. an Annoy index): called with the temporary path, returns
#: facts about the file that the manifest records beside it.
FileWriter = Callable[[Path], dict[str, Any]]
#: What a step returns: artifact file name -> a table, an array or a FileWriter; the runner writes it.
StepOutput = dict[str, pd.DataFrame | np.ndarray | FileWriter]


class DeclaredConfig:
    """The build parameters a step declared, and nothing else (plus runtime settings such as threads).

    Reading an undeclared parameter raises, naming the step and the field to add to its ``params``.
    """

    def __init__(self, config: BuildConfig, step: str, declared: Iterable[str]) -> None:
        self._config, self._step = config, step
        self._allowed = frozenset(declared) | RUNTIME_PARAMS

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._allowed:
            raise AttributeError(
                f"step {self._step!r} reads build parameter {name!r} without declaring it: add it to the "
                f"step's params so that changing it rebuilds the step"
            )
        return getattr(self._config, name)


@dataclass
class BuildContext:
    """What a step's ``compute`` gets: the model (None for a comparison), its store, its settings.

    ``config`` is restricted to the parameters the running step declared (:class:`DeclaredConfig`).
    ``extra`` holds inputs given to the build from outside (``dictionaries``, ``models`` of a
    comparison, ``notes`` a step may append to).
    """

    store: ArtifactDir
    full_config: BuildConfig
    data_fingerprint: Any
    model: ModelData | None = None
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    config: Any = None

    def table(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        """A table a needed step wrote (checked against its sha256)."""
        return self.store.load_table(name, columns=columns)

    def array(self, name: str, mmap: bool = False) -> np.ndarray:
        """An array a needed step wrote (checked against its sha256)."""
        return self.store.load_array(name, mmap=mmap)

    def file_sha(self, name: str) -> str | None:
        """The recorded sha256 of an optional input file, None when the directory has none."""
        return self.store.manifest["files"][name]["sha256"] if self.store.has(name) else None


@dataclass(frozen=True)
class Step:
    """One build step: what it reads, which parameters change it, what it writes, how it computes.

    ``kind`` is "model" (runs per model directory) or "comparison" (per comparison directory).
    ``inputs(ctx)`` returns further values the result depends on (fingerprinted, e.g. the sha256
    of an optional corpus count); None when there are none.
    ``version`` is the method's version: raise it when a change of the code changes what the step
    writes, so that artifacts built by the older code are rebuilt rather than read as current.
    ``threads`` is how many cores the step keeps busy: 1 for single-threaded work (UMAP, Annoy's
    trees, pandas), 0 for all the build's threads (``n_jobs``: BLAS products, parallel probes). The
    runner runs it with that many (``n_jobs`` and the BLAS pools), and an overlapped build starts it
    when that many cores are free (precompute.build.schedule).
    """

    name: str
    compute: Callable[[BuildContext], StepOutput | None]
    writes: tuple[str, ...]
    needs: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    inputs: Callable[[BuildContext], list[Any]] | None = None
    kind: Literal["model", "comparison"] = "model"
    threads: int = 0
    version: int = 1

    def __post_init__(self) -> None:
        known = {f.name for f in fields(BuildConfig)}
        unknown = sorted(set(self.params) - known)
        if unknown:
            raise ValueError(f"step {self.name!r} declares unknown build parameters {unknown}; known: {sorted(known)}")

    def fingerprint_inputs(self, ctx: BuildContext, need_fingerprints: list[str]) -> list[Any]:
        """Everything the step's result depends on, in a fixed order (hashed by the store)."""
        parts: list[Any] = [ctx.data_fingerprint, *need_fingerprints]
        if self.version != 1:  # version 1 adds nothing: fingerprints from before versions stay valid
            parts.append(["version", self.version])
        if self.params:
            parts.append(ctx.full_config.subset(*self.params))
        if self.inputs is not None:
            parts.extend(self.inputs(ctx))
        contract = [[name, [(c.name, c.dtype) for c in schema.TABLES[name].columns]]
                    for name in self.writes if name in schema.TABLES]
        if contract:  # a table whose declared columns change is rebuilt, not read back without them
            parts.append(contract)
        return parts


def _declared(module: Any) -> list[Step]:
    found = getattr(module, "STEPS", ())
    single = getattr(module, "STEP", None)
    return [*found, *([single] if single is not None else [])]


#: The packages whose modules declare build steps: the neighbour engine and the analyses.
STEP_PACKAGES = ("precompute.knn", "precompute.analyses")


def discover(packages: tuple[str, ...] = STEP_PACKAGES) -> list[Step]:
    """Every step declared by a module of ``packages`` (``STEP`` or ``STEPS``), in dependency order.

    Modules are imported in name order; among steps whose needs are met, the first declared runs
    first. Raises ValueError for two steps of one name, an unknown need, or a cycle.
    """
    steps: list[Step] = []
    for package in packages:
        root = importlib.import_module(package)
        for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda m: m.name):
            if info.ispkg or info.name.startswith("_"):
                continue
            steps += _declared(importlib.import_module(f"{package}.{info.name}"))
    return ordered(steps)


def ordered(steps: list[Step]) -> list[Step]:
    """``steps`` with every step after the steps it needs.

    Among the steps that are ready, the one that more steps wait for (directly or not) runs first,
    then the one declared first: the neighbour table before the map, whatever the module names.
    """
    by_name: dict[str, Step] = {}
    for s in steps:
        if s.name in by_name:
            raise ValueError(f"two build steps are named {s.name!r}; step names must be unique")
        by_name[s.name] = s
    for s in steps:
        unknown = [n for n in s.needs if n not in by_name or by_name[n].kind != s.kind]
        if unknown:
            raise ValueError(f"step {s.name!r} needs {unknown}, which no {s.kind} step declares")
    waiting = {s.name: _dependents(s.name, steps) for s in steps}
    done: list[Step] = []
    pending = list(steps)
    while pending:
        ready = [s for s in pending if all(n in {d.name for d in done} for n in s.needs)]
        if not ready:
            raise ValueError(f"build steps depend on each other in a cycle: {[s.name for s in pending]}")
        first = max(ready, key=lambda s: waiting[s.name])  # max keeps the first of equals
        done.append(first)
        pending.remove(first)
    return done


def _dependents(name: str, steps: list[Step]) -> int:
    """How many steps need ``name``, directly or through others (bounded by the step count on a cycle)."""
    found: set[str] = set()
    frontier = {name}
    while frontier:
        frontier = {s.name for s in steps if set(s.needs) & frontier} - found
        found |= frontier
    return len(found - {name})


def params_that_change_artifacts(steps: Iterable[Step]) -> list[str]:
    """The build parameters some step declares, in BuildConfig order (what a rebuild must repeat)."""
    declared = {p for s in steps for p in s.params}
    return [f.name for f in fields(BuildConfig) if f.name in declared]
