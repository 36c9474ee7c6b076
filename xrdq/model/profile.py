"""Peak profiles: Thompson–Cox–Hastings pseudo-Voigt with Finger–Cox–Jephcoat axial divergence.

Every function takes angles in degrees 2θ and returns plain numpy arrays, so they compose and
vectorise over many peaks at once.
"""

from __future__ import annotations

import functools

import numpy as np

_LN2 = np.log(2.0)
_G_NORM = 2.0 * np.sqrt(_LN2 / np.pi)  # Gaussian of unit area and FWHM 1 at its centre
_L_NORM = 2.0 / np.pi


#: Caglioti FWHM² (deg²) below which the Gaussian width is on its smooth floor: (0.005°)², far below any
#: diffractometer's. A refinement that ends there has lost the instrument's Gaussian (adaptive.with_determined_gaussian).
GAUSSIAN_FWHM2_FLOOR = 2.5e-5


def caglioti_fwhm2(tan_t, U, V, W):
    """Caglioti's Gaussian FWHM² (deg²) at tanθ, unfloored: U tan²θ + V tanθ + W."""
    return U * tan_t**2 + V * tan_t + W


def tch_widths(two_theta, U, V, W, X, Y, size_nm=None, strain=None, wavelength=1.540593):
    """Gaussian and Lorentzian FWHMs (degrees 2θ) of the TCH function at peak positions ``two_theta``.

    ``size_nm`` adds Scherrer (Lorentzian, K = 1 on the integral breadth convention ≈ FWHM here) and
    ``strain`` (ε, dimensionless) adds 4ε tanθ microstrain broadening (Lorentzian); None or 0 adds none.

    Every argument broadcasts: with ``two_theta`` of shape (1, n) and the others of shape (m, 1) (sizes and
    strains 0 where none), row i holds the widths for the i-th parameter set — element by element the same
    arithmetic as m separate calls (a Jacobian's perturbed parameter sets in one pass).
    """
    theta = np.radians(np.asarray(two_theta, dtype=float)) / 2.0
    tan_t = np.tan(theta)
    cos_t = np.cos(theta)
    hg2 = caglioti_fwhm2(tan_t, U, V, W)
    # Smooth floor instead of a clamp: below (0.005°)² the width decays exponentially but keeps a
    # gradient, so a refinement that strays into U tan²θ + V tanθ + W < 0 can find its way back.
    floor = GAUSSIAN_FWHM2_FLOOR
    if not (hg2 > floor).all():  # almost always all above: the floor's four passes only when needed
        hg2 = np.where(hg2 > floor, hg2, floor * np.exp(np.minimum(hg2, floor) / floor - 1.0))
    hg = np.sqrt(hg2)
    hl = X / cos_t + Y * tan_t
    if np.ndim(size_nm):
        has = np.asarray(size_nm) > 0
        hl = hl + np.where(has, np.degrees(wavelength / (np.where(has, size_nm, 1.0) * 10.0 * cos_t)), 0.0)
    elif size_nm:
        hl = hl + np.degrees(wavelength / (size_nm * 10.0 * cos_t))
    if np.ndim(strain):
        hl = hl + np.where(np.asarray(strain) > 0, np.degrees(4.0 * np.asarray(strain) * tan_t), 0.0)
    elif strain:
        hl = hl + np.degrees(4.0 * strain * tan_t)
    return hg, np.maximum(hl, 0.0)


def tch_fwhm(hg, hl):
    """Total FWHM of the TCH pseudo-Voigt from its Gaussian and Lorentzian FWHMs (Thompson, Cox & Hastings 1987)."""
    g2, l2 = hg * hg, hl * hl
    # products instead of float powers: this runs for every peak at every refinement step
    h5 = g2 * g2 * hg + 2.69269 * g2 * g2 * hl + 2.42843 * g2 * hg * l2 + 4.47163 * g2 * l2 * hl \
        + 0.07842 * hg * l2 * l2 + l2 * l2 * hl
    return h5**0.2


def tch_mix(hg, hl):
    """Total FWHM and Lorentzian fraction η of the TCH pseudo-Voigt (Thompson, Cox & Hastings 1987)."""
    fwhm = tch_fwhm(hg, hl)
    q = hl / fwhm
    eta = q * (1.36603 + q * (-0.47719 + q * 0.11116))
    return fwhm, np.clip(eta, 0.0, 1.0)


def pseudo_voigt(dx, fwhm, eta):
    """Unit-area pseudo-Voigt at offsets ``dx`` (degrees) from the centre."""
    x = dx / fwhm
    gauss = _G_NORM * np.exp(-4.0 * _LN2 * x * x)
    lorentz = _L_NORM / (1.0 + 4.0 * x * x)
    return (eta * lorentz + (1.0 - eta) * gauss) / fwhm


def pseudo_voigt_derivatives(dx, fwhm, eta):
    """∂/∂centre and ∂/∂FWHM of :func:`pseudo_voigt` at offsets ``dx = 2θ − centre``: with S(x) the unit-FWHM shape,
    p = S(x)/FWHM and x = dx/FWHM, so ∂p/∂centre = −S′(x)/FWHM² and ∂p/∂FWHM = −(S(x) + x S′(x))/FWHM²."""
    x = dx / fwhm
    gauss = _G_NORM * np.exp(-4.0 * _LN2 * x * x)
    r = 1.0 / (1.0 + 4.0 * x * x)
    lorentz = _L_NORM * r
    shape = eta * lorentz + (1.0 - eta) * gauss
    slope = -8.0 * x * (eta * lorentz * r + (1.0 - eta) * _LN2 * gauss)  # S′(x)
    f2 = fwhm * fwhm
    return -slope / f2, -(shape + x * slope) / f2


@functools.cache
def _gauss_legendre(n: int):
    """Gauss–Legendre nodes and weights on [0, 1] (read-only; computed once per order: the FCJ, transparency and
    flat-specimen quadratures and the kernels' table share them)."""
    x, w = np.polynomial.legendre.leggauss(n)
    x, w = 0.5 * (x + 1.0), 0.5 * w
    x.flags.writeable = w.flags.writeable = False
    return x, w


def fcj_nodes(two_theta, s_l, h_l, n_nodes: int = 6):
    """Axial-divergence asymmetry as a weighted set of shifted positions (Finger, Cox & Jephcoat 1994).

    The FCJ weight function W(2φ) ∝ g(h) / (h cos2φ) has an integrable singularity at the peak. Changing
    the variable of integration to the axial height ``h = L·sqrt(cos²2φ / cos²2θ − 1)`` removes it:
    ``W d(2φ) ∝ g(h) cos²2θ / (cos²2φ sin2φ) dh`` with ``g = H + S − h`` above ``|H − S|`` and
    ``2 min(H, S)`` below. We integrate that over ``h ∈ [0, H + S]`` with Gauss–Legendre on each piece.

    Returns ``(positions, weights)`` of shape (n_peaks, n_nodes): the peak is Σ_j w_j Φ(2θ − 2φ_j),
    with Σ_j w_j = 1 so the integrated intensity is unchanged.
    """
    tt = np.atleast_1d(np.asarray(two_theta, dtype=float))
    if s_l <= 0 and h_l <= 0:
        return tt[:, None], np.ones((tt.size, 1))
    s, h = max(s_l, 1e-6), max(h_l, 1e-6)  # in units of L
    hi, lo = s + h, abs(h - s)
    _GL_X, _GL_W = _gauss_legendre(n_nodes)
    # nodes in h: piece A on [0, lo] with g = 2 min, piece B on [lo, hi] with g = hi - h
    ha = lo * _GL_X
    hb = lo + (hi - lo) * _GL_X
    ga = np.full_like(ha, 2.0 * min(s, h)) * lo * _GL_W
    gb = (hi - hb) * (hi - lo) * _GL_W
    if lo > 1e-9 * hi:
        hs, gw = np.concatenate([ha, hb]), np.concatenate([ga, gb])
    else:  # S = H: the flat piece vanishes
        hs, gw = hb, gb
    c0 = np.cos(np.radians(tt))[:, None]
    c = np.clip(c0 * np.sqrt(1.0 + hs[None, :] ** 2), -1.0, 1.0)
    phi2 = np.degrees(np.arccos(c))
    sin2phi = np.maximum(np.sqrt(1.0 - c * c), 1e-6)
    w = gw[None, :] * (c0 * c0) / np.maximum(c * c, 1e-12) / sin2phi
    w_sum = w.sum(axis=1, keepdims=True)
    w = np.where(w_sum > 0, w / np.where(w_sum > 0, w_sum, 1.0), 1.0 / hs.size)
    return phi2, w


# Natural widths (FWHM, eV) and energies of Cu Kα1 and Kα2 — Hölzer et al. (1997), Phys. Rev. A 56, 4554.
CU_KA_FWHM_EV = (2.285, 2.666)
CU_KA_ENERGY_EV = (8047.837, 8027.993)


def fp_widths(two_theta, instrument):
    """Instrumental Gaussian and Lorentzian FWHMs (deg) and centroid shift (deg) from the geometry.

    A fundamental-parameters approximation: each aberration is reduced to the FWHM of the pseudo-Voigt
    component with the same variance and combined in quadrature (Gaussian) or linearly (Lorentzian).
    - emission line (Lorentzian): Δ2θ = 2 tanθ · ΔE/E;
    - receiving slit / detector strip of width RS (box of RS/R rad): FWHM_G = 0.68 · RS/R;
    - flat specimen with equatorial divergence α (1/√ shape over ε = α² cotθ / 2): FWHM_G = 0.702 ε,
      centroid −ε/3;
    Axial divergence stays the FCJ convolution (s_l, h_l).
    """
    tt = np.asarray(two_theta, dtype=float)
    theta = np.radians(tt) / 2.0
    widths = instrument.emission_fwhm_ev or CU_KA_FWHM_EV
    # the strongest line's relative width stands for both lines (they differ by 15 %)
    rel = widths[0] / CU_KA_ENERGY_EV[0]
    hl = np.degrees(2.0 * np.tan(theta) * rel)
    rs = (instrument.receiving_slit_mm or 0.1) / instrument.radius_mm
    alpha = np.radians(instrument.divergence_slit_deg)
    eps = alpha**2 / (2.0 * np.tan(theta))
    if instrument.variable_slit and instrument.irradiated_length_mm:
        alpha_v = instrument.irradiated_length_mm * np.sin(theta) / instrument.radius_mm
        eps = alpha_v**2 / (2.0 * np.tan(theta))
    hg = np.degrees(np.sqrt((0.68 * rs) ** 2 + (0.702 * eps) ** 2))
    shift = -np.degrees(eps / 3.0)
    return hg, hl, shift
