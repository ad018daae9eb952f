"""``precompute publish``: a hosting bundle (precompute.contract.bundle) from built artifacts.

The bundle holds, for each chosen model and each comparison among them, exactly what the
dashboard reads, zstd-compressed, with the manifests as provenance. Every directory is verified
first (a damaged build is not published), the bundle is written beside its destination and moved
into place at the end, so an interrupted publish leaves the previous bundle (or nothing) behind.

Manifests are published with the paths of the building machine removed: a model's ``origin``
keeps its file name only, and the rebuild command drops ``--artifacts`` and reduces absolute
paths to their last part.
"""

from __future__ import annotations

import json
import shlex
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from precompute import __version__
from precompute.contract import bundle, schema
from precompute.contract.store import ArtifactDir, ArtifactError
from precompute.steps import discover


@dataclass
class PublishReport:
    """What a publish wrote: directories, file counts and bytes (artifacts as built, and stored)."""

    out: Path
    directories: list[str] = field(default_factory=list)
    files: int = 0
    built_bytes: int = 0
    stored_bytes: int = 0


def public_command(command: str) -> str:
    """A rebuild command without this machine's paths: no ``--artifacts``, absolute paths cut to their name."""
    args = shlex.split(command)
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == "--artifacts":
            skip = True
            continue
        out.append(Path(arg).name if arg.startswith("/") else arg)
    return shlex.join(out)


def public_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest as a bundle publishes it: only published files, no absolute paths."""
    published = dict(manifest)
    published["files"] = {n: f for n, f in manifest.get("files", {}).items() if n not in bundle.NOT_PUBLISHED}
    if isinstance(manifest.get("rebuild"), str):
        published["rebuild"] = public_command(manifest["rebuild"])
    model = dict(manifest.get("model") or {})
    for key in ("origin", "vocab_file"):
        if isinstance(model.get(key), str):
            model[key] = Path(model[key]).name
    if model:
        published["model"] = model
    return published


def _chosen(root: Path, models: list[str] | None) -> list[Path]:
    """The model directories to publish and the comparisons among them, verified."""
    available = sorted(p.parent.name for p in root.glob(f"*/{schema.MANIFEST}"))
    if not available:
        raise ValueError(f"no built models under {root}; build them first: python -m precompute build --default")
    names = available if models is None else models
    unknown = sorted(set(names) - set(available))
    if unknown:
        raise ValueError(f"not built under {root}: {', '.join(unknown)} (built: {', '.join(available)})")
    directories = [root / n for n in names]
    for path in sorted((root / schema.COMPARISONS_DIR).glob(f"*/{schema.MANIFEST}")):
        compared = ArtifactDir.open(path.parent).manifest.get("models", [])
        if compared and set(compared) <= set(names):
            directories.append(path.parent)
    problems = []
    steps = discover()
    for d in directories:
        kind = "comparison" if d.parent.name == schema.COMPARISONS_DIR else "model"
        expected = [s.name for s in steps if s.kind == kind]
        problems += ArtifactDir.open(d).problems(expected)
    if problems:
        raise ArtifactError("not published, fix these first:\n  " + "\n  ".join(problems))
    return directories


def publish(root: Path, out: Path, models: list[str] | None = None, progress: bool = True) -> PublishReport:
    """Write the bundle of ``models`` (every built model when None) and their comparisons to ``out``.

    ``out`` must not exist, or hold an earlier bundle (its ``index.json``), which is replaced.
    """
    root, out = Path(root), Path(out)
    if out.exists() and not (out / bundle.INDEX).is_file() and any(out.iterdir()):
        raise ValueError(f"{out} exists and is not a bundle; choose an empty or new directory")
    directories = _chosen(root, models)
    report = PublishReport(out)
    partial = out.parent / f".{out.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    entries: list[bundle.Entry] = []
    stores = [ArtifactDir.open(d) for d in directories]  # verified by _chosen: each file hashed once more, below
    files = [(store, name, info) for store in stores for name, info in store.manifest.get("files", {}).items()
             if name not in bundle.NOT_PUBLISHED]
    try:
        for store in stores:
            relative = store.path.relative_to(root)
            (partial / relative).mkdir(parents=True, exist_ok=True)
            text = json.dumps(public_manifest(store.manifest), indent=2, ensure_ascii=False) + "\n"
            (partial / relative / schema.MANIFEST).write_text(text, encoding="utf-8")
            entries.append(_entry(partial, relative / schema.MANIFEST))
            report.directories.append(str(relative))
        for store, name, info in tqdm(files, desc="publish", unit="file", disable=not progress):
            relative = store.path.relative_to(root)
            stored = relative / (name + bundle.SUFFIX)
            bundle.compress(store.path / name, partial / stored)
            size = (store.path / name).stat().st_size
            entries.append(_entry(partial, stored, relative / name, size, info["sha256"]))
            report.built_bytes += size
        bundle.write_index(partial, entries, {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "tool_version": __version__,
            "directories": report.directories,
        })
        if out.exists():
            shutil.rmtree(out)
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    report.files = len(entries)
    report.stored_bytes = sum(e.stored_size for e in entries)
    return report


def _entry(partial: Path, stored: Path, path: Path | None = None, size: int | None = None,
           sha256: str | None = None) -> bundle.Entry:
    """The index entry of one stored file: for an artifact, ``path`` in the root and the build's own
    ``size`` and ``sha256`` (from its verified manifest); a manifest is stored as it is."""
    stored_size, stored_sha256 = (partial / stored).stat().st_size, bundle.sha256_of(partial / stored)
    return bundle.Entry(
        path=(path or stored).as_posix(), stored=stored.as_posix(), size=stored_size if size is None else size,
        sha256=stored_sha256 if sha256 is None else sha256, stored_size=stored_size, stored_sha256=stored_sha256,
    )
