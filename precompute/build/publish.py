"""``precompute publish``: a hosting bundle (precompute.contract.bundle) from built artifacts.

The bundle holds, for each chosen model and each comparison among them, exactly what the
dashboard reads, zstd-compressed, with the manifests as provenance. Every directory is verified
first (a damaged build is not published), the bundle is written into a fresh sibling of its
destination and swapped into place at the end, so an interrupted publish leaves the previous bundle (or
nothing) behind. Only a directory that holds nothing but an earlier bundle is replaced: a ``.git``, a
dataset card or any file the index does not list makes publish refuse before it writes anything.

Manifests are published with the paths of the building machine removed: a model's ``origin``
keeps its file name only, and the rebuild command drops ``--artifacts`` and reduces absolute
paths to their last part.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import tempfile
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


def replaceable(out: Path) -> None:
    """Raise ValueError unless ``out`` may be replaced by a bundle: absent, empty, or an earlier bundle holding
    nothing but the files its index lists (so that publishing can only ever remove what it wrote)."""
    if out.is_symlink():
        raise ValueError(f"{out} is a symbolic link; pass the directory it points to, or a new one")
    if not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"{out} is a file; choose an empty or new directory for the bundle")
    present = {p.relative_to(out).as_posix() for p in out.rglob("*") if not p.is_dir()}
    if not present:
        return
    try:
        entries, _ = bundle.read_index((out / bundle.INDEX).read_bytes(), str(out / bundle.INDEX))
    except (OSError, bundle.BundleError):
        raise ValueError(f"{out} is not empty and is not a bundle (it holds {_some(present)}); publish into an "
                         "empty or new directory: nothing there is removed") from None
    foreign = present - {bundle.INDEX} - {e.stored for e in entries}
    if foreign:
        raise ValueError(f"{out} holds files the bundle there did not write ({_some(foreign)}); publishing would "
                         "replace the directory and lose them. Move them away, or publish into a new directory "
                         "(for a dataset repository: a sub-directory of it)")


def _some(names: set[str]) -> str:
    shown = sorted(names)[:5]
    return ", ".join(shown) + (f" and {len(names) - len(shown)} more" if len(names) > len(shown) else "")


def publish(root: Path, out: Path, models: list[str] | None = None, progress: bool = True) -> PublishReport:
    """Write the bundle of ``models`` (every built model when None) and their comparisons to ``out``.

    ``out`` must not exist, be empty, or hold an earlier bundle and nothing else (:func:`replaceable`); the
    bundle is written into a fresh sibling and swapped in, the earlier one removed only after the swap.
    """
    root, out = Path(root), Path(out)
    replaceable(out)
    directories = _chosen(root, models)
    report = PublishReport(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
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
        os.chmod(partial, 0o755)  # mkdtemp's 0700 would hide the bundle from the web server's user
        _swap(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    report.files = len(entries)
    report.stored_bytes = sum(e.stored_size for e in entries)
    return report


def _swap(partial: Path, out: Path) -> None:
    """Move the finished bundle ``partial`` to ``out``; an earlier bundle there is removed after, not before."""
    replaceable(out)  # again: a file may have been added there while the bundle was written
    if not out.exists() or not any(out.iterdir()):
        os.replace(partial, out)  # an empty directory is replaced in one step
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    os.replace(out, old)
    try:
        os.replace(partial, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old)


def _entry(partial: Path, stored: Path, path: Path | None = None, size: int | None = None,
           sha256: str | None = None) -> bundle.Entry:
    """The index entry of one stored file: for an artifact, ``path`` in the root and the build's own
    ``size`` and ``sha256`` (from its verified manifest); a manifest is stored as it is."""
    stored_size, stored_sha256 = (partial / stored).stat().st_size, bundle.sha256_of(partial / stored)
    return bundle.Entry(
        path=(path or stored).as_posix(), stored=stored.as_posix(), size=stored_size if size is None else size,
        sha256=stored_sha256 if sha256 is None else sha256, stored_size=stored_size, stored_sha256=stored_sha256,
    )
