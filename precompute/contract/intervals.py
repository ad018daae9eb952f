"""The 95% interval every statistic of the artifacts reports beside a mean."""

from __future__ import annotations

import numpy as np

#: Two-sided 95% quantile of the normal distribution.
Z_95 = 1.96


def ci95(std: np.ndarray | float, n: np.ndarray | float) -> np.ndarray:
    """Half-width of the normal 95% interval of a mean: 1.96 x std / sqrt(n) (NaN where std is NaN).

    >>> float(ci95(2.0, 16))
    0.98
    """
    return Z_95 * np.asarray(std, dtype=np.float64) / np.sqrt(np.asarray(n, dtype=np.float64))
