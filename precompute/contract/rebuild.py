"""The command that rebuilds an artifact directory: spelled here and nowhere else.

The build writes it into the directory's manifest (``rebuild``); every message that tells a user
to rebuild (the store's errors, ``verify``, the dashboard) quotes the manifest. The command is a
plain build, not ``--force``: the build then redoes only the steps whose files are missing or
damaged. It rebuilds the *same* directory with the *same* results, so it repeats what made them:

- the source as it was named (a built-in name, a hub id at the commit that was read, a local
  checkpoint, a matrix with its ``--vocab``), and ``--tensor`` where a tensor was chosen;
- ``--name`` when the directory is not the default name of that source;
- every build parameter that some step reads and that differs from its default;
- ``--dictionaries`` when bilingual dictionaries were given, ``--artifacts`` when the root is not
  the default one.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from precompute.contract.config import BuildConfig, flag
from precompute.contract.naming import comparison_name, default_root, model_slug
from precompute.contract.schema import COMPARISONS_DIR

PROGRAM = ("python", "-m", "precompute")


def config_flags(config: BuildConfig, params: Iterable[str]) -> list[str]:
    """``--name value`` for each of ``params`` whose value differs from its default (CLI spelling)."""
    defaults = {f.name: f.default for f in fields(BuildConfig)}
    out: list[str] = []
    for name in params:
        value = getattr(config, name)
        if value == defaults[name]:
            continue
        out.append(flag(name))
        out.extend(str(v) for v in value) if isinstance(value, tuple) else out.append(str(value))
    return out


def _root_flags(root: Path) -> list[str]:
    return [] if Path(root).resolve() == default_root().resolve() else ["--artifacts", str(root)]


def source_arguments(metadata: dict[str, Any]) -> list[str]:
    """How the build command names a model's source, from the metadata its loader recorded."""
    name = str(metadata.get("id", ""))
    source = metadata.get("source")
    args = [name]
    if source == "matrix":
        args += ["--vocab", str(metadata["vocab_file"])]
    if source == "huggingface" and not Path(name).is_dir():
        revision = str(metadata.get("revision") or "")
        if revision and not revision.startswith("sha256:"):  # a hub commit: pin it
            args += ["--revision", revision]
    if source in ("matrix", "huggingface") and metadata.get("tensor"):
        args += ["--tensor", str(metadata["tensor"])]
    return args


def model_command(
    metadata: dict[str, Any],
    slug: str,
    root: Path,
    config: BuildConfig,
    params: Iterable[str],
    dictionaries: str | None = None,
) -> str:
    """The build command that brings ``root/slug`` up to date with the same source and parameters."""
    args = [*PROGRAM, "build", *source_arguments(metadata)]
    if slug != model_slug(str(metadata.get("id", ""))):
        args += ["--name", slug]
    if dictionaries:
        args += ["--dictionaries", dictionaries]
    args += config_flags(config, params) + _root_flags(root)
    return shlex.join(args)


def comparison_command(slugs: Sequence[str], name: str, root: Path, config: BuildConfig,
                       params: Iterable[str]) -> str:
    """The compare command that brings ``root/comparisons/name`` up to date."""
    args = [*PROGRAM, "compare", *slugs]
    if name != comparison_name(slugs):
        args += ["--name", name]
    return shlex.join(args + config_flags(config, params) + _root_flags(root))


def unknown_source(path: Path) -> str:
    """The command to quote when a directory's manifest (and so its own command) cannot be read."""
    path = Path(path)
    if path.parent.name == COMPARISONS_DIR:
        args = [*PROGRAM, "compare", "MODEL", "MODEL", "--name", path.name, *_root_flags(path.parent.parent)]
        return shlex.join(args).replace("MODEL MODEL", "MODEL…") + " (MODEL…: the models it compared)"
    args = [*PROGRAM, "build", "MODEL", "--name", path.name, *_root_flags(path.parent)]
    return shlex.join(args) + " (MODEL: the model it was built from)"
