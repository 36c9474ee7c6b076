"""Internal variables that keep Levenberg–Marquardt (which has no bounds) inside parameter bounds,
and the typical step of each parameter kind for finite differences (both as the parameter's spec in
:mod:`xrdq.refine.specs` says)."""

from __future__ import annotations

import numpy as np

from .specs import spec_of


def transforms(params):
    """(to_internal, to_external, slope) maps for LM.

    Non-negative parameters (sample broadening) use x = hi·z²/(1 + z²): zero is reachable
    with a smooth minimum and the upper bound (e.g. the crystallite-size floor) can never be crossed;
    other bounded parameters use the MINUIT sine transform x = lo + (hi − lo)(sin z + 1)/2; unbounded
    ones are refined as they are. ``slope`` is dx/dz for the chain rule into the Jacobian.
    """
    names = [p.name for p in params]
    squared = np.array([is_non_negative(n) for n in names])
    lo = np.array([p.min for p in params], dtype=float)
    hi = np.array([p.max for p in params], dtype=float)
    bounded = ~squared & np.isfinite(lo) & np.isfinite(hi)
    span = np.where(bounded, hi - lo, 1.0)
    top = np.where(squared & np.isfinite(hi), hi, np.inf)

    def to_internal(x):
        # a square refined from exactly zero has no gradient: start broadening never refined (0) at
        # 0.01° (≈ 1 µm crystallites); keep a value an earlier stage refined, however small
        xs = np.where(x > 0, np.maximum(x, 1e-8), np.minimum(0.01, 0.01 * top))
        xs = np.minimum(xs, top * (1.0 - 1e-6))
        sq = np.where(np.isfinite(top), np.sqrt(xs / np.maximum(top - xs, 1e-300)), np.sqrt(xs))
        # start a hair inside the bounds: at ±1 the sine transform has no gradient and LM could not move
        frac = np.clip(2.0 * (x - lo) / span - 1.0, -1.0 + 2e-3, 1.0 - 2e-3)
        # + 2π: z away from 0, so MINPACK's relative step bounds (|z|-scaled) stay meaningful
        return np.where(squared, sq, np.where(bounded, np.arcsin(frac) + 2.0 * np.pi, x))

    def to_external(z):
        with np.errstate(invalid="ignore"):
            sq = np.where(np.isfinite(top), top * z * z / (1.0 + z * z), z * z)
        return np.where(squared, sq, np.where(bounded, lo + span * (np.sin(z) + 1.0) / 2.0, z))

    def slope(z):
        with np.errstate(invalid="ignore"):
            dsq = np.where(np.isfinite(top), top * 2.0 * z / (1.0 + z * z) ** 2, 2.0 * z)
        return np.where(squared, dsq, np.where(bounded, span * np.cos(z) / 2.0, 1.0))

    return to_internal, to_external, slope


def at_bounds(params) -> tuple:
    """Masks of the parameters sitting on their lower / upper bound (where the transforms hold them: the
    square at zero, the sine at ±1, both with no gradient)."""
    lo, hi = [], []
    for par in params:
        span = par.max - par.min if np.isfinite(par.max - par.min) else max(abs(par.value), 1.0)
        tol = (1e-6 if is_non_negative(par.name) else 1e-3) * span
        lo.append(par.value - par.min <= tol)
        hi.append(par.max - par.value <= tol)
    return np.array(lo, dtype=bool), np.array(hi, dtype=bool)


def bounded_gauss_newton(r, jac, at_lo, at_hi):
    """The Gauss–Newton step ``−J⁺r`` with parameters on a bound held there whenever the step would push
    them out (active-set passes). Returns (mask of the parameters free to move, residual after the step):
    :func:`box_gauss_newton` with limits of 0 on the side of each bound a parameter sits on."""
    return box_gauss_newton(r, jac, np.where(at_lo, 0.0, -np.inf), np.where(at_hi, 0.0, np.inf))


def box_gauss_newton(r, jac, step_lo, step_hi, gram=None):
    """The Gauss–Newton step ``−J⁺r`` with each component kept within [``step_lo``, ``step_hi``] (≤ 0 ≤; in the
    units of ``jac``'s columns): a component that would leave is clamped at its limit and the others are solved
    again, the farthest overshoot first (greedy active set). Limits of 0 hold a parameter where it is, as
    :func:`bounded_gauss_newton` does for one on its bound. Returns (mask of the parameters not clamped,
    residual after the step). ``gram``: (JᵀJ, Jᵀr) when the caller has them (:func:`gram_with`).

    Why a box: where two columns are nearly collinear (the Caglioti U and W, 0.999 correlated when few peaks
    are resolved), the unlimited step moves them by 10³ their range along a direction whose small linear
    effect is no real one, and the linearised χ² promises gains no refinement can reach (a real TiO2 pattern:
    every candidate promised Δχ² 60–68 and delivered 0.03).

    Solved on the normal equations (:func:`_psd_solve`), not by a least-squares solver on J: one pass over the
    7000-row J gives JᵀJ for every active set, and the adaptive recipe screens a dozen candidates that share all
    columns but one (the SVD least squares on each was ≈ 15 % of a batch file's quantification). The columns
    arrive normalised, so JᵀJ is well scaled; its rounding (cond(J)² ε) is far below what a screen decides."""
    n = jac.shape[1]
    step_lo = np.asarray(step_lo, dtype=float)
    step_hi = np.asarray(step_hi, dtype=float)
    g_mat, g_vec = gram if gram is not None else (jac.T @ jac, jac.T @ r)
    clamped = np.zeros(n, dtype=bool)
    full = np.zeros(n)
    for _ in range(n + 1):
        free = ~clamped
        if not free.any():
            break
        rhs = g_vec[free] + g_mat[np.ix_(free, clamped)] @ full[clamped]
        step = -_psd_solve(g_mat[np.ix_(free, free)], rhs)
        trial = full.copy()
        trial[free] = step
        below = free & (trial < step_lo)
        above = free & (trial > step_hi)
        if not (below | above).any():
            return free, r + jac @ trial
        limit = np.where(below, step_lo, step_hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            over = np.where(below | above, np.abs(trial) / np.abs(limit), 0.0)  # ∞ where the limit is 0
        # everything held where it is (a limit of 0) goes at once; otherwise the worst overshoot first
        pick = (below | above) & (limit == 0) if np.isinf(over).any() else over == over.max()
        full[pick] = limit[pick]
        clamped |= pick
    return ~clamped, r + jac[:, clamped] @ full[clamped]


#: Eigenvalues of JᵀJ below this fraction of the largest are no direction at all: singular values of J below
#: ≈ 3·10⁻⁷ of its largest, which the normal equations cannot resolve (their rounding is ε·λ_max).
PSD_CUTOFF = 1e-13


def _psd_solve(a, b):
    """The minimum-norm solution of ``a x = b`` for a symmetric positive semi-definite ``a`` (JᵀJ), directions with
    eigenvalues below PSD_CUTOFF of the largest left out (a zero column, two identical ones): what a
    least-squares solver with that cutoff on the singular values of J gives."""
    w, v = np.linalg.eigh(a)  # ascending
    keep = w > PSD_CUTOFF * max(float(w[-1]), 0.0)
    if not keep.any():
        return np.zeros_like(b)
    vk = v[:, keep]
    return vk @ ((vk.T @ b) / w[keep])


def gram_with(gram, jac, r, cols):
    """(JᵀJ, Jᵀr) of ``jac`` with ``cols`` appended, from ``gram`` = (JᵀJ, Jᵀr) of ``jac``: the screen's
    candidates share every column but their own."""
    g_mat, g_vec = gram
    cross = jac.T @ cols
    return np.block([[g_mat, cross], [cross.T, cols.T @ cols]]), np.concatenate([g_vec, cols.T @ r])


def step_limits(params, scale, at_lo, at_hi):
    """Limits of a Gauss–Newton step (in units where a parameter's column is divided by ``scale``) that keep
    ``params`` inside their bounds: 0 on the side of a bound a parameter already sits on (``at_lo``/``at_hi``)."""
    value = np.array([p.value for p in params], dtype=float)
    lo = np.array([p.min for p in params], dtype=float)
    hi = np.array([p.max for p in params], dtype=float)
    step_lo = np.where(at_lo, 0.0, np.minimum((lo - value) * scale, 0.0))
    step_hi = np.where(at_hi, 0.0, np.maximum((hi - value) * scale, 0.0))
    return step_lo, step_hi


def is_non_negative(name: str) -> bool:
    """Whether zero is a physical answer for parameter ``name`` (sample broadening; its spec in
    :mod:`xrdq.refine.specs` says so). Hump widths have a positive lower bound and take the sine transform
    like any bounded parameter."""
    sp = spec_of(name)
    return sp is not None and sp.non_negative


def typical_step(name: str, value: float) -> float:
    """The typical finite-difference step of parameter ``name`` at ``value`` (its spec's; relative for
    anything else)."""
    sp = spec_of(name)
    return sp.typical_step(value) if sp is not None else 1e-3 * max(abs(value), 1.0)
