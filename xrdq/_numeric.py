"""numpy's median and unique, without numpy.ma.

numpy 2.4 imports numpy.ma the first time ``np.median`` (its NaN check asks ``np.ma.isMaskedArray``) or a plain
``np.unique`` (``np.ma.is_masked``) runs, and numpy.ma's import builds function signatures with inspect: ≈ 6 ms of a
fresh process's first ``quantify`` (docs/performance.md). These give numpy's numbers by other routes: the median from
``np.partition`` (the two middle values averaged as numpy averages them), the unique values from ``np.unique``'s
index-returning path.
"""

from __future__ import annotations

import numpy as np


def median(values) -> float:
    """The median of every element of ``values`` (flattened), as ``np.median``: NaN if any element is NaN or there are
    none."""
    v = np.asarray(values, dtype=float).ravel()
    n = v.size
    if n == 0:
        return np.float64(np.nan)
    h = n // 2
    # the last position too: np.partition puts NaN last, so the largest element says whether there is one
    p = np.partition(v, [h - 1, h, n - 1] if n % 2 == 0 else [h, n - 1])
    if np.isnan(p[-1]):
        return np.float64(np.nan)
    return p[h] if n % 2 else (p[h - 1] + p[h]) / 2.0


def unique(values, axis: int | None = None) -> np.ndarray:
    """``np.unique(values, axis=axis)``: the sorted distinct values (rows, with ``axis=0``)."""
    return np.unique(values, return_index=True, axis=axis)[0]
