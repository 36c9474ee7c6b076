"""Background and amorphous-hump basis functions.

Each function returns a design matrix (n_points × n_terms) whose columns enter the model linearly, so
the refinement solves their coefficients exactly. Uniform signature: ``f(two_theta, ...) -> ndarray``.
"""

from __future__ import annotations

import numpy as np

from .._lru import LRUStore

from .profile import pseudo_voigt, pseudo_voigt_derivatives


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


#: The last few bases made (a fit asks for the same grid and order several times: each refinement built, each
#: background order tried, each uncertainty variant; a batch for every file on one grid), each a QR of the
#: whole grid. Key: order, range, 1/2θ, grid hash; the grid itself is compared on a hit.
_BASES = LRUStore(8)


def orthogonal_basis(two_theta, n_terms: int, two_theta_range=None, inverse: bool = True) -> np.ndarray:
    """Chebyshev T_0 … T_{n−1} on the mapped range (and the 1/2θ column), orthonormalised on the grid.

    Raw, the 1/2θ column is almost a combination of the polynomials over a lab 2θ range, so their
    coefficients are correlated ±1.000 and BᵀB is near-singular as the order grows. A QR decomposition
    gives columns that span the same functions but are exactly orthogonal over the measured points
    (scaled to unit RMS): each coefficient is then an independent, interpretable amount. What is left
    of 1/2θ after the polynomials is kept only if it is not numerically zero. The array is read-only
    (shared by the calls that ask for the same basis).
    """
    tt = np.asarray(two_theta, dtype=float)
    rng = None if two_theta_range is None else (float(two_theta_range[0]), float(two_theta_range[1]))
    key = (int(n_terms), rng, bool(inverse), tt.shape, hash(tt.tobytes()))
    hit = _BASES.get(key)
    if hit is not None and np.array_equal(hit[0], tt):
        return hit[1]
    basis = _orthogonal_basis(tt, n_terms, two_theta_range, inverse)
    basis.flags.writeable = False
    grid = tt.copy()
    grid.flags.writeable = False
    _BASES.put(key, (grid, basis))
    return basis


def _orthogonal_basis(tt, n_terms, two_theta_range, inverse):
    cols = chebyshev(tt, n_terms, two_theta_range)
    if inverse:
        cols = np.hstack([cols, inverse_two_theta(tt)])
    q, r = np.linalg.qr(cols)
    d = np.abs(np.diag(r))
    keep = d > 1e-8 * d.max()
    sign = np.sign(np.diag(r))[keep]  # T_0 stays positive
    return q[:, keep] * sign[None, :] * np.sqrt(tt.size)


#: The Lorentzian fraction of an amorphous hump's pseudo-Voigt.
HUMP_ETA = 0.5


def humps(two_theta, centers, fwhms, eta: float = HUMP_ETA) -> np.ndarray:
    """Broad pseudo-Voigt peaks (unit area) for amorphous halos, one column per hump."""
    tt = np.asarray(two_theta, dtype=float)[:, None]
    c = np.atleast_1d(np.asarray(centers, dtype=float))[None, :]
    w = np.atleast_1d(np.asarray(fwhms, dtype=float))[None, :]
    return pseudo_voigt(tt - c, w, eta)


def hump_derivatives(two_theta, center: float, fwhm: float, eta: float = HUMP_ETA):
    """∂/∂centre and ∂/∂FWHM of one :func:`humps` column (analytic: central differences cost four hump
    evaluations per hump and Jacobian)."""
    tt = np.asarray(two_theta, dtype=float)
    return pseudo_voigt_derivatives(tt - float(center), float(fwhm), eta)
