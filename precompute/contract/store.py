"""The artifact store: the only code that writes or reads artifact files.

Writes are atomic (a temporary file in the same directory, then ``os.replace``), so a failed or
interrupted step never leaves a half-written file. Every file is listed in the directory's
``manifest.json`` with its format and sha256; ``ArtifactDir.load_*`` checks both before handing
data out, and a mismatch raises :class:`ArtifactError` naming the file and the rebuild command.

Deliberately light (json, hashlib, numpy, pandas): the dashboard imports it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from precompute import __version__
from precompute.contract import schema
from precompute.contract.rebuild import unknown_source


class ArtifactError(RuntimeError):
    """An artifact is missing, corrupt or from an incompatible build; the message says how to fix it."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


#: Every artifact file's mode: the owner writes, everyone reads (a dashboard may run as another user).
FILE_MODE = 0o644


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Run ``write(tmp)`` on a temporary sibling of ``path``, then move it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@dataclass
class ArtifactDir:
    """One artifact directory (a model's or a comparison's) and its manifest.

    The manifest keeps the command that rebuilds the directory (``rebuild``, written by the build
    from :mod:`precompute.contract.rebuild`); every error message quotes it, so readers such as the
    dashboard and ``verify`` always give the command that works for that directory.
    """

    path: Path
    manifest: dict[str, Any] = field(default_factory=dict)

    # ---- manifest ---------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.path / schema.MANIFEST

    @property
    def rebuild_hint(self) -> str:
        """The command that rebuilds this directory, or what to do when the manifest cannot say."""
        command = self.manifest.get("rebuild")
        if isinstance(command, str) and command:
            return command
        return unknown_source(self.path)

    @classmethod
    def open(cls, path: Path | str) -> ArtifactDir:
        """Open an existing directory, reading and checking its manifest."""
        d = cls(Path(path))
        if not d.manifest_path.exists():
            raise ArtifactError(f"{d.manifest_path} does not exist. Build it: {d.rebuild_hint}")
        try:
            manifest = json.loads(d.manifest_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ArtifactError(f"{d.manifest_path} is not valid JSON ({e}). Rebuild: {d.rebuild_hint}") from None
        if not isinstance(manifest, dict):
            raise ArtifactError(f"{d.manifest_path} is not a manifest. Rebuild: {d.rebuild_hint}")
        d.manifest = manifest
        version = d.manifest.get("schema_version")
        if version != schema.SCHEMA_VERSION:
            raise ArtifactError(
                f"{d.manifest_path} has schema version {version!r}, this tool reads "
                f"{schema.SCHEMA_VERSION}. Rebuild: {d.rebuild_hint}"
            )
        return d

    @classmethod
    def create(cls, path: Path | str, rebuild: str | None = None, **header: Any) -> ArtifactDir:
        """Open ``path`` for building: keep a valid existing manifest (for step skipping), else start one.

        ``rebuild`` is the command that rebuilds this directory (:mod:`precompute.contract.rebuild`); the
        pipeline always gives it.
        """
        try:
            d = cls.open(path)
        except ArtifactError:
            d = cls(Path(path), {"schema_version": schema.SCHEMA_VERSION, "files": {}, "steps": {}})
        d.manifest.update(header)
        d.manifest["tool_version"] = __version__
        if rebuild is not None:
            d.manifest["rebuild"] = rebuild
        return d

    def remove_stale_temporaries(self) -> list[str]:
        """Delete temporary files that a killed write left (``.<name>.*.tmp``); return their names.

        Only safe while holding the directory's build lock (no other write can be in flight).
        """
        stale = sorted(self.path.glob(".*.tmp")) if self.path.is_dir() else []
        for tmp in stale:
            tmp.unlink(missing_ok=True)
        return [p.name for p in stale]

    def save_manifest(self) -> None:
        text = json.dumps(self.manifest, indent=2, ensure_ascii=False, default=_json_default)
        _atomic_write(self.manifest_path, lambda p: p.write_text(text + "\n", encoding="utf-8"))

    # ---- steps (skip when inputs and parameters have not changed) ---------------------------
    def step_is_current(self, step: str, fingerprint: str) -> bool:
        """Whether ``step`` ran with this fingerprint and all its files are still intact."""
        rec = self.manifest.get("steps", {}).get(step)
        if not rec or rec.get("fingerprint") != fingerprint:
            return False
        try:
            for name in rec.get("files", []):
                self.verify(name)
        except ArtifactError:
            return False
        return True

    def record_step(self, step: str, fingerprint: str, seconds: float, files: list[str], **extra: Any) -> None:
        self.manifest.setdefault("steps", {})[step] = {
            "fingerprint": fingerprint,
            "seconds": round(seconds, 3),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "files": files,
            **extra,
        }
        self.save_manifest()

    # ---- writing ----------------------------------------------------------------------------
    def _register(self, name: str, fmt: str, **info: Any) -> None:
        self.manifest.setdefault("files", {})[name] = {
            "format": fmt, "sha256": sha256_file(self.path / name), **info
        }

    def write_array(self, name: str, array: np.ndarray) -> None:
        """Write a ``.npy`` file (never pickled) and list it in the manifest."""
        array = np.ascontiguousarray(array)
        if array.dtype == object:
            raise TypeError(f"{name}: object arrays would need pickling; convert first")
        def write(p: Path) -> None:
            with open(p, "wb") as f:  # a file object: np.save would append ".npy" to a path
                np.save(f, array, allow_pickle=False)

        _atomic_write(self.path / name, write)
        self._register(name, "npy", shape=list(array.shape), dtype=str(array.dtype))

    def write_table(self, name: str, table: pd.DataFrame) -> None:
        """Write a parquet table and list it (with its columns and row count) in the manifest.

        A table declared in :mod:`precompute.contract.schema` must match its declaration (SchemaError).
        """
        if name in schema.TABLES:
            schema.TABLES[name].check(table)
        def write(p: Path) -> None:
            table.to_parquet(p, index=False, engine="pyarrow")

        _atomic_write(self.path / name, write)
        self._register(name, "parquet", rows=len(table), columns=list(map(str, table.columns)))

    def write_file(self, name: str, write: Callable[[Path], dict[str, Any] | None], fmt: str) -> dict[str, Any]:
        """Write any other file through ``write(tmp_path)`` (e.g. an Annoy index) and list it.

        Whatever ``write`` returns (a dict) is recorded with the file in the manifest, and returned.
        """
        info: dict[str, Any] = {}

        def run(p: Path) -> None:
            info.update(write(p) or {})

        _atomic_write(self.path / name, run)
        self._register(name, fmt, **info)
        return info

    # ---- reading ----------------------------------------------------------------------------
    def has(self, name: str) -> bool:
        return name in self.manifest.get("files", {}) and (self.path / name).exists()

    def verify(self, name: str) -> Path:
        """Check that ``name`` is listed, present and has its recorded sha256; return its path."""
        info = self.manifest.get("files", {}).get(name)
        path = self.path / name
        if info is None:
            raise ArtifactError(f"{path} is not listed in {self.manifest_path}. Build it: {self.rebuild_hint}")
        if not path.exists():
            raise ArtifactError(f"{path} is missing. Rebuild: {self.rebuild_hint}")
        if sha256_file(path) != info.get("sha256"):
            raise ArtifactError(f"{path} is corrupt (sha256 differs from the manifest). Rebuild: {self.rebuild_hint}")
        return path

    def check(self, name: str) -> None:
        """Verify ``name`` and read it as the dashboard does (:meth:`load_table`, :meth:`load_array`,
        :meth:`load_annoy`, :meth:`load_tokenizer`): a file whose manifest was re-hashed around bad content
        (wrong dtypes, ids out of range, a malformed index or tokenizer) raises ArtifactError here too."""
        if name.endswith(".parquet"):
            self.load_table(name)
        elif name.endswith(".npy"):
            self.load_array(name)
        elif name == schema.ANNOY:
            self.load_annoy()
        elif name == schema.TOKENIZER:
            self.load_tokenizer()
        else:
            self.verify(name)

    def problems(self, expected_steps: list[str]) -> list[str]:
        """What is wrong with this directory, one message each (empty: all is well).

        A step that failed or never ran (so its files were never written), a listed file that is
        missing, corrupt or unreadable (:meth:`check`); each message ends with the rebuild command.
        """
        found = []
        done = self.manifest.get("steps", {})
        failed = self.manifest.get("failed", {})
        for step in expected_steps:
            if step not in done:
                why = f"step {step} failed: {failed[step]}" if step in failed else f"step {step} was never run"
                found.append(f"{self.path}: {why}. Rebuild: {self.rebuild_hint}")
        for name in self.manifest.get("files", {}):
            try:
                self.check(name)
            except ArtifactError as e:
                found.append(str(e))
        return found

    def load_array(self, name: str, mmap: bool = True, check_hash: bool = True) -> np.ndarray:
        """Load a listed ``.npy`` (memory-mapped by default), checking hash, shape and dtype."""
        path = self.verify(name) if check_hash else self.path / name
        info = self.manifest.get("files", {}).get(name, {})
        try:
            array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise ArtifactError(f"{path} cannot be read as .npy ({e}). Rebuild: {self.rebuild_hint}") from None
        if info and (list(array.shape) != info.get("shape") or str(array.dtype) != info.get("dtype")):
            raise ArtifactError(
                f"{path} has shape {array.shape} {array.dtype}, the manifest says "
                f"{info.get('shape')} {info.get('dtype')}. Rebuild: {self.rebuild_hint}"
            )
        if name == schema.NEIGHBORS:
            self._check_ids(path, array)
        return array

    def _check_ids(self, path: Path, ids: np.ndarray) -> None:
        """A neighbour table (N, k) holds integer ids of its own rows, or -1 (none): a page indexes with them."""
        if ids.dtype.kind not in "iu" or ids.ndim != 2:
            raise ArtifactError(f"{path} is {ids.dtype} of {ids.ndim} dimensions, not (N, k) integer ids. "
                                f"Rebuild: {self.rebuild_hint}")
        if ids.size and (int(ids.min()) < -1 or int(ids.max()) >= ids.shape[0]):
            raise ArtifactError(f"{path} holds neighbour ids from {int(ids.min())} to {int(ids.max())}; ids run "
                                f"from -1 (none) to {ids.shape[0] - 1}. Rebuild: {self.rebuild_hint}")

    def load_annoy(self) -> Any:
        """The model's Annoy index, memory-mapped, after :func:`precompute.contract.indices.check_annoy`."""
        from precompute.contract.indices import check_annoy, open_annoy

        path = self.verify(schema.ANNOY)
        dim = int(self.manifest.get("model", {}).get("dim") or self.manifest["files"][schema.ANNOY].get("dim") or 0)
        rows = self.manifest.get("files", {}).get(schema.TOKENS, {}).get("rows")
        try:
            check_annoy(path, dim, rows)
            return open_annoy(path, dim)
        except (ValueError, OSError) as e:
            raise ArtifactError(f"{path} is not a usable Annoy index ({e}). Rebuild: {self.rebuild_hint}") from None

    def load_tokenizer(self) -> Any:
        """The model's tokenizer (``precompute.contract.tokenizer.Encoder``); ArtifactError when the file is
        larger than ``tokenizer.MAX_BYTES`` or cannot be read (a parse error, a panic of the tokenizers library)."""
        from precompute.contract.tokenizer import MAX_BYTES, read_tokenizer

        path = self.verify(schema.TOKENIZER)
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ArtifactError(f"{path} is {size / 2**20:,.0f} MiB, more than a tokenizer needs "
                                f"({MAX_BYTES / 2**20:,.0f} MiB); it is not read. Rebuild: {self.rebuild_hint}")
        try:
            return read_tokenizer(path.read_bytes(), who=self.path.name)
        except ValueError as e:
            raise ArtifactError(f"{path} cannot be read: {e}. Rebuild: {self.rebuild_hint}") from None

    def load_table(self, name: str, columns: list[str] | None = None, check_hash: bool = True) -> pd.DataFrame:
        """Load a listed parquet table, checking its hash."""
        path = self.verify(name) if check_hash else self.path / name
        try:
            frame = pd.read_parquet(path, columns=columns, engine="pyarrow")
        except Exception as e:  # pyarrow raises several unrelated types for a damaged file
            raise ArtifactError(f"{path} cannot be read as parquet ({e}). Rebuild: {self.rebuild_hint}") from None
        declared = schema.TABLES.get(name)
        for column in frame.columns if declared else ():
            spec = next((c for c in declared.columns if c.matches(str(column))), None)
            if spec is not None and str(frame[column].dtype) != spec.dtype:
                raise ArtifactError(f"{path}: column {column!r} is {frame[column].dtype}, the schema declares "
                                    f"{spec.dtype}. Rebuild: {self.rebuild_hint}")
        return frame


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to a manifest")


def fingerprint(*parts: Any) -> str:
    """A short stable hash of a step's inputs and parameters (JSON-serialisable parts)."""
    text = json.dumps(parts, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
