"""Background and amorphous-hump basis functions.

Each function returns a design matrix (n_points × n_terms) whose columns enter the model linearly, so
the refinement solves their coefficients exactly. Uniform signature: ``f(two_theta, ...) -> ndarray``.
"""

from __future__ import annotations

import numpy as np

from .profile import pseudo_voigt


def chebyshev(two_theta, n_terms: int, two_theta_range=None) -> np.ndarray:
    """Chebyshev polynomials of the first kind on 2θ mapped to [−1, 1] (columns T_0 … T_{n−1})."""
    tt = np.asarray(two_theta, dtype=float)
    lo, hi = two_theta_range if two_theta_range is not None else (tt.min(), tt.max())
    x = (2.0 * tt - (lo + hi)) / max(hi - lo, 1e-12)
    return np.polynomial.chebyshev.chebvander(x, max(n_terms - 1, 0))


def inverse_two_theta(two_theta) -> np.ndarray:
    """1/2θ term: air scatter and the low-angle rise that polynomials follow poorly."""
    tt = np.asarray(two_theta, dtype=float)
    return (10.0 / np.maximum(tt, 1.0))[:, None]


def humps(two_theta, centers, fwhms, eta: float = 0.5) -> np.ndarray:
    """Broad pseudo-Voigt peaks (unit area) for amorphous halos, one column per hump."""
    tt = np.asarray(two_theta, dtype=float)[:, None]
    c = np.atleast_1d(np.asarray(centers, dtype=float))[None, :]
    w = np.atleast_1d(np.asarray(fwhms, dtype=float))[None, :]
    return pseudo_voigt(tt - c, w, eta)
