"""Names of artifact directories: what a model's directory is called and where the artifact root is.

Apart from the store because the rebuild command needs them too, and the store quotes that command.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from precompute.contract import schema


def slugify(name: str) -> str:
    """A directory name for a model id: ``xlm-roberta-base`` stays, ``org/model`` becomes ``org--model``.

    >>> slugify("google/mt5-small"), slugify("./ckpt dir/")
    ('google--mt5-small', 'ckpt-dir')
    """
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name.replace("/", "--")).strip("-.")
    if not slug:
        raise ValueError(f"cannot make a directory name out of model name {name!r}")
    return slug


#: What an artifact directory name may be: a slug that stays inside the artifact root.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_name(name: str) -> str:
    """``name`` if it is a valid artifact directory name, else ValueError saying what is allowed.

    1 to 100 letters, digits, ``.``, ``_`` or ``-``, starting with a letter or digit: so never a
    path (``/``), never ``.`` or ``..``, and not the comparisons directory.
    """
    if not _NAME.fullmatch(name) or name == schema.COMPARISONS_DIR:
        shown = name if len(name) <= 60 else name[:60] + "…"
        raise ValueError(
            f"{shown!r} is not a valid artifact name: use 1 to 100 letters, digits, '.', '_' or '-', starting "
            f"with a letter or digit (no '/', not '{schema.COMPARISONS_DIR}'); for example --name my-model"
        )
    return name


def model_slug(name: str) -> str:
    """The default artifact directory name of a model as the user named it.

    A local checkpoint directory or matrix file is named after its last component (``./ckpts/my-mt5``
    -> ``my-mt5``, ``emb.npy`` -> ``emb``), a hub id or built-in name by :func:`slugify`.
    """
    path = Path(name).expanduser()
    try:
        local = path.resolve().name if path.is_dir() else path.stem if path.is_file() else None
    except OSError:  # a name too long to be a path is not one
        local = None
    slug = slugify(local or name)
    if len(slug) > 100:
        raise ValueError(f"the artifact name made from {name[:60]!r}… is longer than 100 characters; pass --name NAME")
    return check_name(slug)


def default_root() -> Path:
    """The artifact directory: ``$HYPERPOLYGLOT_ARTIFACTS`` or ``./artifacts``."""
    return Path(os.environ.get(schema.ARTIFACTS_ENV, "artifacts"))


def comparison_name(slugs: list[str] | tuple[str, ...]) -> str:
    """The default directory name of a comparison of ``slugs`` (under ``comparisons/``): ``a__b``."""
    return "__".join(slugs)


def comparison_task(name: str) -> str:
    """A comparison's directory relative to the artifact root: its name in the progress file and the log."""
    return f"{schema.COMPARISONS_DIR}/{name}"
