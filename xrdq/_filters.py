"""Moving-window filters on 1-D patterns, edges extended with the end values (scipy.ndimage's mode "nearest").

Why not scipy.ndimage: importing it costs ≈ 0.1 s CPU in every process (its array-API layer and
scipy.special), for four one-line filters a quantification applies to one 7000-point curve each. Every
function takes the curve and the window and returns a new array of the same length (docs/performance.md).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _padded(y, size: int) -> np.ndarray:
    """The curve padded with its end values by ``size``//2 points on each side (``size`` odd)."""
    y = np.asarray(y, dtype=float)
    if y.ndim != 1 or size < 1 or size % 2 == 0:
        raise ValueError(f"a 1-D curve and an odd window are expected, got shape {y.shape} and window {size}")
    return np.pad(y, size // 2, mode="edge")


def _windows(y, size: int):
    """Every window of ``size`` (odd) points centred on each point, the ends padded with the end values."""
    return sliding_window_view(_padded(y, size), size)


def moving_min(y, size: int) -> np.ndarray:
    """Smallest value within ±size//2 points."""
    return _windows(y, size).min(axis=1)


def moving_mean(y, size: int) -> np.ndarray:
    """Mean within ±size//2 points."""
    return _windows(y, size).mean(axis=1)


def moving_median(y, size: int) -> np.ndarray:
    """Median within ±size//2 points.

    A finite curve goes to the compiled running median (xrdq/_cfilters.c: one sorted window slid along, the
    same values as numpy's); numpy partitioning every window was ≈ 10 % of a quantification."""
    padded = _padded(y, size)
    if not np.isfinite(padded).all():  # NaN somewhere: numpy's answer (NaN in every window that holds it)
        return np.median(sliding_window_view(padded, size), axis=1)
    from ._cfilters import moving_median as running

    out = np.empty(padded.size - size + 1)
    running(padded, size, out)
    return out


def gaussian_smooth(y, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Correlation with a unit-sum Gaussian of ``sigma`` points, cut at ``truncate`` σ (as gaussian_filter1d)."""
    if not sigma > 0:
        raise ValueError(f"a positive sigma (points) is expected, got {sigma}")
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=float)
    kernel = np.exp(-0.5 / (float(sigma) * float(sigma)) * x * x)
    kernel /= kernel.sum()
    y = np.asarray(y, dtype=float)
    return np.convolve(np.pad(y, radius, mode="edge"), kernel, mode="valid")  # symmetric: convolution = correlation
