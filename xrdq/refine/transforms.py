"""Internal variables that keep Levenberg–Marquardt (which has no bounds) inside parameter bounds,
and the typical step of each parameter kind for finite differences."""

from __future__ import annotations

import numpy as np


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
    them out (active-set passes). Returns (mask of the parameters free to move, residual after the step)."""
    free = np.ones(jac.shape[1], dtype=bool)
    for _ in range(jac.shape[1] + 1):
        if not free.any():
            return free, r
        step = -np.linalg.lstsq(jac[:, free], r, rcond=1e-10)[0]
        full = np.zeros(jac.shape[1])
        full[free] = step
        out = free & ((at_lo & (full < 0)) | (at_hi & (full > 0)))
        if not out.any():
            return free, r + jac[:, free] @ step
        free &= ~out
    return free, r


def is_non_negative(name: str) -> bool:
    """Sample broadening: zero is a physical answer. Hump widths have a positive lower bound and take
    the sine transform like any bounded parameter."""
    return name.endswith("_broadening")


def typical_step(name: str, value: float) -> float:
    if name.endswith(("_a", "_b", "_c")):
        return 1e-3 * max(abs(value), 1.0)
    if name.endswith(("_alpha", "_beta", "_gamma")):
        return 0.01
    if name == "displacement_um":
        return 10.0
    if name == "zero":
        return 0.005
    if name in ("U", "V", "W"):
        return 1e-3
    if name in ("X", "Y", "asymmetry") or name.endswith("_broadening"):
        return 1e-2
    if name.endswith("_po_ratio"):
        return 0.02
    if name.endswith("_b_overall"):
        return 0.1
    if name.startswith("hump"):
        return 0.5
    return 1e-3 * max(abs(value), 1.0)
