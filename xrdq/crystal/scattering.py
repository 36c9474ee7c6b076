"""X-ray scattering factors and attenuation, from xraydb, cached per scatterer and energy.

f0(s) is the Waasmaier–Kirfel (1995) fit, s = sinθ/λ in Å⁻¹; f′ and f″ are Chantler's tables at
the photon energy of the wavelength; µ/ρ is Elam's total attenuation. xraydb takes almost a second
to import, so it is imported on the first call, not when ``xrdq.crystal`` is imported.
"""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np

#: hc in eV·Å (CODATA 2018), to convert a wavelength in Å to a photon energy in eV.
HC_EV_ANGSTROM = 12398.419843320026


def energy_ev(wavelength: float) -> float:
    """Photon energy (eV) of an X-ray wavelength (Å)."""
    return HC_EV_ANGSTROM / float(wavelength)


def _xraydb():
    import xraydb

    return xraydb


@lru_cache(maxsize=None)
def f0_ion(symbol: str, charge: int = 0) -> str:
    """The Waasmaier–Kirfel scatterer name for an element and charge (``"Li", 1`` → ``"Li1+"``).

    Falls back to the neutral atom when the table has no such ion (e.g. Zr2+).
    """
    if charge:
        name = f"{symbol}{abs(charge)}{'+' if charge > 0 else '-'}"
        if name in _xraydb().f0_ions(symbol):
            return name
    return symbol


@lru_cache(maxsize=None)
def f0_coefficients(ion: str) -> tuple[float, np.ndarray, np.ndarray] | None:
    """(offset c, scales a_i, exponents b_i) with f0(s) = c + Σ a_i exp(−b_i s²), read once per ion.

    Returns None if xraydb's table layout is not the expected one; :func:`f0` then calls
    ``xraydb.f0`` directly. Raises ValueError for a scatterer xraydb does not know.
    """
    xdb = _xraydb()
    xdb.f0(ion, 0.0)  # raises ValueError for an unknown scatterer
    try:
        r = next(r for r in xdb.get_xraydb().get_cache("Waasmaier") if r.ion == ion.title())
        return float(r.offset), np.array(json.loads(r.scale)), np.array(json.loads(r.exponents))
    except Exception:
        return None


def f0(ion: str, s) -> np.ndarray:
    """Waasmaier–Kirfel f0 (electrons) of ``ion`` at s = sinθ/λ (Å⁻¹)."""
    coefficients = f0_coefficients(ion)
    if coefficients is None:
        return np.asarray(_xraydb().f0(ion, s), dtype=float)
    c, a, b = coefficients
    s2 = np.asarray(s, dtype=float)[..., None] ** 2
    return c + np.sum(a * np.exp(-b * s2), axis=-1)


@lru_cache(maxsize=4096)
def anomalous(symbol: str, energy: float) -> tuple[float, float]:
    """Chantler f′ and f″ (electrons) of an element at ``energy`` (eV)."""
    xdb = _xraydb()
    return float(xdb.f1_chantler(symbol, energy)), float(xdb.f2_chantler(symbol, energy))


@lru_cache(maxsize=4096)
def mu_rho_element(symbol: str, energy: float) -> float:
    """Elam total mass attenuation coefficient µ/ρ (cm²/g) of an element at ``energy`` (eV)."""
    return float(_xraydb().mu_elam(symbol, energy, kind="total"))


def mass_attenuation(mass_by_element: dict[str, float], wavelength: float) -> float:
    """µ/ρ (cm²/g) of a compound: the mass-weighted sum of its elements' µ/ρ.

    ``mass_by_element`` maps element symbol → mass (any unit; only the ratios matter).
    """
    e = energy_ev(wavelength)
    total = sum(mass_by_element.values())
    return sum(m / total * mu_rho_element(el, e) for el, m in mass_by_element.items())
