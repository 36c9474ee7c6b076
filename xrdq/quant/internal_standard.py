"""Absolute phase fractions and the amorphous fraction from a weighed internal standard.

Notation (docs/method.md derives every line): the mixture holds the weighed fraction ``w_s`` of the
standard, whose crystalline purity is ``c``; Rietveld gives crystalline-normalised fractions ``R_i``
(Σ R_i = 1, standard included as ``R_s``). Then, in the ORIGINAL (unspiked) sample,

    x_i = R_i · c · w_s / (R_s · (1 − w_s))                         each crystalline phase
    A   = (1 − c·w_s/R_s − w_s + c·w_s) / (1 − w_s)                  amorphous (and unidentified)

and Σ x_i + A = 1. Uncertainties follow by first-order propagation through the Jacobian with the full
covariance of R and independent σ(w_s), σ(c).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import XrdqQuantError


@dataclass
class StandardResult:
    names: list
    standard: str
    weighed_fraction: float
    purity: float
    refined_fraction: float
    refined_fraction_esd: float
    amorphous_fraction: float
    amorphous_fraction_esd: float
    sample_fractions: dict  # phase -> (value, esd), the standard excluded
    mixture_fractions: dict  # phase -> (value, esd), absolute in the spiked mixture
    covariance: np.ndarray  # of [x_i (non-standard, in names order)..., A]
    warnings: list = field(default_factory=list)


#: Smallest weighed standard fraction taken: below it the spike fixes nothing (A → 1 and its esd → 0 as W_s → 0, so a
#: typed 1e-9 read "amorphous 100.00 ± 0.00 wt%", verdict ok); a real spike is a few wt% or more.
MIN_W_S = 1e-3


def check_standard_inputs(w_s, purity, w_s_esd=0.0, purity_esd=0.0):
    import math

    for name, v in (("weighed standard fraction W_s", w_s), ("standard purity c", purity),
                    ("esd of W_s", w_s_esd), ("esd of the purity", purity_esd)):
        if not (isinstance(v, (int, float, np.floating)) and math.isfinite(v)):
            raise XrdqQuantError(f"{name} must be a finite number, got {v!r}")
    if not (0.0 < w_s < 1.0):
        v = w_s / 100.0  # a percentage typed: 50 → 0.50, 1.5 → 0.015 (not 0.01)
        shown = f"{v:.2f}" if abs(w_s - round(w_s)) < 1e-9 else f"{v:.4g}"
        hint = f": a fraction, not a percentage — did you mean {shown}?" if 1.0 < w_s < 100.0 else ""
        raise XrdqQuantError(f"weighed standard fraction W_s must lie in (0, 1), got {w_s!r}{hint}")
    if not (0.0 < purity <= 1.0):
        raise XrdqQuantError(f"standard purity c (its crystalline fraction) must lie in (0, 1], got {purity!r}")
    if w_s_esd < 0 or purity_esd < 0:
        raise XrdqQuantError("esds of W_s and purity must be ≥ 0")
    if w_s < MIN_W_S:
        raise XrdqQuantError(f"weighed standard fraction W_s = {w_s:g} is below {MIN_W_S:g} ({100 * MIN_W_S:g} wt%): a "
                             "spike that small cannot fix the amorphous fraction (it would read ≈ 100 % for any sample); "
                             "is W_s a typo?")


def internal_standard(names, fractions, covariance, standard: str, w_s: float, purity: float = 1.0,
                      w_s_esd: float = 0.0, purity_esd: float = 0.0) -> StandardResult:
    """Amorphous fraction and each phase's fraction in the original sample, with esds."""
    check_standard_inputs(w_s, purity, w_s_esd, purity_esd)
    names = list(names)
    if standard not in names:
        raise XrdqQuantError(f"standard phase {standard!r} is not among the refined phases {names}")
    r = np.asarray(fractions, dtype=float)
    cov_r = np.asarray(covariance, dtype=float)
    n = r.size
    s = names.index(standard)
    r_s = r[s]
    warnings = []
    if r_s <= 0:
        raise XrdqQuantError(f"the standard {standard} refined to a fraction of {r_s:.4g}: it was not found in the pattern")
    k = purity * w_s / r_s
    others = [i for i in range(n) if i != s]

    # values
    x = r[others] * k / (1.0 - w_s)
    amorph = (1.0 - k - w_s + purity * w_s) / (1.0 - w_s)
    mix = r * k

    # Jacobian with respect to p = [R_0..R_{n-1}, w_s, c]
    m = len(others)
    jac = np.zeros((m + 1, n + 2))
    one_m = 1.0 - w_s
    for row, i in enumerate(others):
        jac[row, i] = k / one_m
        jac[row, s] = -r[i] * k / (r_s * one_m)
        # ∂/∂w_s of R_i c w_s / (R_s (1 − w_s)) = R_i c / (R_s (1 − w_s)²)
        jac[row, n] = r[i] * purity / (r_s * one_m**2)
        jac[row, n + 1] = r[i] * w_s / (r_s * one_m)
    # A = (1 − c w_s / R_s − w_s + c w_s) / (1 − w_s)
    jac[m, s] = purity * w_s / (r_s**2 * one_m)
    jac[m, n] = ((-purity / r_s - 1.0 + purity) * one_m + (1.0 - k - w_s + purity * w_s)) / one_m**2
    jac[m, n + 1] = (-w_s / r_s + w_s) / one_m
    cov_p = np.zeros((n + 2, n + 2))
    cov_p[:n, :n] = cov_r
    cov_p[n, n] = w_s_esd**2
    cov_p[n + 1, n + 1] = purity_esd**2
    cov = jac @ cov_p @ jac.T
    esd = np.sqrt(np.clip(np.diag(cov), 0.0, None))

    # absolute fractions in the mixture
    jm = np.zeros((n, n + 2))
    for i in range(n):
        jm[i, i] += k
        jm[i, s] -= r[i] * k / r_s
        jm[i, n] = r[i] * purity / r_s
        jm[i, n + 1] = r[i] * w_s / r_s
    esd_mix = np.sqrt(np.clip(np.diag(jm @ cov_p @ jm.T), 0.0, None))

    if amorph < 0:
        warnings.append(
            f"negative amorphous fraction ({100 * amorph:.2f} wt%): the standard refined to {100 * r_s:.2f} % "
            f"but was weighed at {100 * purity * w_s:.2f} % crystalline — check W_s, the standard's purity, "
            "microabsorption (Brindley) and the phase list; the value is reported, not clipped"
        )
        if amorph + 2 * esd[m] >= 0:
            warnings[-1] += f" (it is within 2 esd of zero: {100 * esd[m]:.2f} wt%)"
    if amorph > 1 and amorph - 2 * esd[m] <= 1:
        warnings.append(f"amorphous fraction above 100 % by less than 2 esd ({100 * amorph:.2f} ± {100 * esd[m]:.2f} wt%): "
                        "consistent with a fully amorphous sample; reported, not clipped")
    elif amorph > 1:
        # the esd alone: the verdict judges it against u, which holds the model's choices (a not-detected phase's
        # negative scale, say) that can put a fully amorphous sample a little above 100 %
        warnings.append(f"amorphous fraction above 100 % by more than 2 esd ({100 * amorph:.2f} ± {100 * esd[m]:.2f} "
                        "wt%): the result is not physical unless its uncertainty u covers it (the verdict says)")

    return StandardResult(
        names=names,
        standard=standard,
        weighed_fraction=float(w_s),
        purity=float(purity),
        refined_fraction=float(r_s),
        refined_fraction_esd=float(np.sqrt(max(cov_r[s, s], 0.0))),
        amorphous_fraction=float(amorph),
        amorphous_fraction_esd=float(esd[m]),
        sample_fractions={names[i]: (float(x[row]), float(esd[row])) for row, i in enumerate(others)},
        mixture_fractions={names[i]: (float(mix[i]), float(esd_mix[i])) for i in range(n)},
        covariance=cov,
        warnings=warnings,
    )


def berar_lelann_factor(serial_correlation: float) -> float:
    """Bérar & Lelann (1991) esd inflation for serially correlated residuals: √((1 + ρ)/(1 − ρ)).

    ρ is the lag-1 autocorrelation of the weighted residuals (0 for independent counting noise).
    """
    rho = float(np.clip(serial_correlation, 0.0, 0.99))
    return float(np.sqrt((1.0 + rho) / (1.0 - rho)))
