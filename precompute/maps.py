"""2-D maps of the vocabulary (METHODS §9): UMAP as in the paper, PCA as a linear, deterministic check.

Both work on L2-normalised rows, so distances follow the cosine geometry the neighbour table uses.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from precompute.config import BuildConfig
from precompute.tokens import eligible_mask


def _unit_rows(embeddings: np.ndarray) -> np.ndarray:
    x = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, np.finfo(np.float32).tiny)


def umap_2d(embeddings: np.ndarray, config: BuildConfig, progress: bool = False) -> np.ndarray:
    """UMAP of the L2-normalised rows: (n, 2) float32.

    ``n_neighbors=config.umap_neighbors`` (15) and ``min_dist=config.umap_min_dist`` (0.2) as in
    the paper. ``random_state=config.seed`` makes the map reproducible — rebuilding an artifact
    must not move every point — at the price of umap-learn running single-threaded (it disables
    its parallel optimisation under a fixed seed); measured about 70 s for 128,000 x 512.
    With fewer rows than ``umap_neighbors + 1`` the neighbourhood shrinks to ``n - 1``.
    """
    n = len(embeddings)
    if n < 3:
        raise ValueError(f"UMAP needs at least 3 tokens, got {n}")
    try:
        import umap  # slow import (numba): only when a map is built
    except ImportError:
        raise ImportError("umap-learn is required for the map: pip install umap-learn") from None
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=min(config.umap_neighbors, n - 1),
        min_dist=config.umap_min_dist,
        random_state=config.seed,
        init="spectral" if n > config.umap_neighbors + 1 else "random",
        tqdm_kwds={"disable": not progress, "desc": "UMAP epochs", "unit": "epoch"},
    )
    with warnings.catch_warnings():
        # "n_jobs value 1 overridden to 1 by setting random_state": the trade-off documented above.
        warnings.filterwarnings("ignore", message=".*random_state.*", category=UserWarning)
        return reducer.fit_transform(_unit_rows(embeddings)).astype(np.float32)


def pca_2d(embeddings: np.ndarray) -> np.ndarray:
    """The first two principal components of the L2-normalised rows: (n, 2) float32.

    Eigenvectors of the d x d scatter matrix, each signed so its largest loading is positive, which
    makes the result independent of the eigensolver's sign choice. The scatter matrix is summed in
    float32 (half the time of float64; its error, ~1e-5 relative, cannot move a 2-D map).
    """
    x = _unit_rows(embeddings)
    centred = x - x.mean(axis=0, dtype=np.float64).astype(np.float32)
    _, vectors = np.linalg.eigh((centred.T @ centred).astype(np.float64))
    top = vectors[:, ::-1][:, :2]
    top *= np.sign(top[np.abs(top).argmax(axis=0), [0, 1]])
    return (centred @ top.astype(np.float32)).astype(np.float32)


def map_table(
    embeddings: np.ndarray, tokens: pd.DataFrame, config: BuildConfig, progress: bool = False
) -> pd.DataFrame:
    """``schema.MAP`` rows for the eligible tokens: id, umap_x, umap_y, pca_x, pca_y (float32)."""
    eligible = eligible_mask(tokens)
    rows = embeddings[eligible]
    u = umap_2d(rows, config, progress=progress)
    p = pca_2d(rows)
    return pd.DataFrame(
        {
            "id": tokens["id"].to_numpy(np.int32)[eligible],
            "umap_x": u[:, 0],
            "umap_y": u[:, 1],
            "pca_x": p[:, 0],
            "pca_y": p[:, 1],
        }
    )
