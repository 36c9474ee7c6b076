"""Weight fractions from Rietveld scale factors (Hill & Howard 1987) and Brindley's microabsorption.

Uniform signature: ``f(scales, phase_info, covariance, ...) -> (fractions, covariance)``; fractions
are crystalline-normalised (sum 1) and ordered like ``scales``.
"""

from __future__ import annotations

import functools

import numpy as np


def hill_howard(scales, zmv, covariance=None, tau=None):
    """W_i = S_i (ZMV)_i / τ_i / Σ_j S_j (ZMV)_j / τ_j, and its covariance by the Jacobian.

    ``scales`` (n,), ``zmv`` (n,) cell mass × cell volume, ``covariance`` (n, n) of the scales,
    ``tau`` (n,) Brindley particle absorption factors (1 = no correction).
    """
    s = np.asarray(scales, dtype=float)
    k = np.asarray(zmv, dtype=float)
    if tau is not None:
        k = k / np.asarray(tau, dtype=float)
    m = s * k
    total = m.sum()
    w = m / total
    if covariance is None:
        return w, np.zeros((s.size, s.size))
    # ∂W_i/∂S_j = k_j (δ_ij − W_i) / total
    jac = (np.eye(s.size) - w[:, None]) * k[None, :] / total
    return w, jac @ np.asarray(covariance, dtype=float) @ jac.T


@functools.lru_cache(maxsize=1)
def _leggauss48():
    # the ensemble evaluates τ several times per fit: the nodes once
    return np.polynomial.legendre.leggauss(48)


def brindley_tau(delta_mu_r):
    """Brindley (1945) particle absorption factor τ for spheres, as a function of (µ_i − µ̄)·R.

    τ = (1/V) ∫ exp(−(µ_i − µ̄)·x) dV with x the path through the particle; we take the in- and
    out-going paths along the same axis (x = 2(h − z) for a chord of half-length h), which reproduces
    Brindley's tabulated τ to a few per cent for |ΔµR| ≤ 1 — the range where the correction is meaningful.
    """
    d = np.atleast_1d(np.asarray(delta_mu_r, dtype=float))
    rho, wts = _leggauss48()
    rho = 0.5 * (rho + 1.0)  # ρ/R on [0, 1]
    wts = 0.5 * wts
    h = np.sqrt(1.0 - rho**2)  # chord half-length / R
    out = np.empty_like(d)
    for i, dm in enumerate(d):
        if abs(dm) < 1e-9:
            out[i] = 1.0
            continue
        # ∫_{-h}^{h} exp(−2 dm (h − z)) dz = (1 − exp(−4 dm h)) / (2 dm)
        inner = -np.expm1(-4.0 * dm * h) / (2.0 * dm)
        out[i] = np.sum(wts * 2.0 * np.pi * rho * inner) / (4.0 / 3.0 * np.pi)
    return out if np.ndim(delta_mu_r) else float(out[0])


def mass_factors(phase_info: dict, names) -> np.ndarray:
    """(ZMV)_p of each of ``names``: the cell mass times cell volume Hill–Howard weighs each scale by."""
    return np.array([phase_info[n]["cell_mass"] * phase_info[n]["volume"] for n in names], dtype=float)


def brindley_correction(scales, phase_info: dict, names, particle_size_um: dict, covariance=None, iterations: int = 5):
    """Hill–Howard fractions with Brindley's correction for particles of radius ``particle_size_um``/2.

    µ̄ is the volume-weighted linear attenuation of the crystalline solid, updated with the fractions
    until it settles. Phases without a given size get τ = 1, and so do phases of unknown density (a PONKCS
    phase: its calibration constant is no cell), which are left out of µ̄.
    """
    zmv = mass_factors(phase_info, names)
    rho = np.array([phase_info[n]["density"] for n in names], dtype=float)
    known = np.isfinite(rho) & (rho > 0)
    mu = np.where(known, np.array([phase_info[n]["mass_attenuation"] for n in names]) * np.where(known, rho, 1.0), 0.0)
    radius_cm = np.array([(particle_size_um.get(n) or 0.0) * 0.5e-4 for n in names])
    radius_cm = np.where(known, radius_cm, 0.0)
    tau = np.ones(len(names))
    w, cov = hill_howard(scales, zmv, covariance)
    if not known.any():
        return w, cov, tau
    for _ in range(iterations):
        vol = np.where(known, w / np.where(known, rho, 1.0), 0.0)
        vol = vol / vol.sum()
        mu_bar = float(np.sum(vol * mu))
        tau = np.where(radius_cm > 0, brindley_tau((mu - mu_bar) * radius_cm), 1.0)
        w, cov = hill_howard(scales, zmv, covariance, tau=tau)
    return w, cov, tau
