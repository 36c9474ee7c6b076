"""X-ray scattering factors and attenuation, from xraydb, cached per scatterer and energy.

f0(s) is the Waasmaier–Kirfel (1995) fit (hydrogen: the bonded atom, :data:`BONDED_H`), s = sinθ/λ in Å⁻¹;
f′ and f″ are Chantler's tables at the photon energy of the wavelength; µ/ρ is Elam's total attenuation.

xraydb is the source of truth, but importing it (SQLAlchemy) and querying its database once per
element costs over a second in every fresh process. The values xrdq needs are therefore read first
from ``data/scattering_table.json``, which ``scripts/make_scattering_table.py`` writes from xraydb:
all Waasmaier–Kirfel coefficients, and f′, f″, µ/ρ of Z = 1–92 at the usual laboratory wavelengths.
A scatterer or wavelength the table does not hold is computed by xraydb, imported on that first call.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

TABLE_PATH = Path(__file__).with_name("data") / "scattering_table.json"

#: hc in eV·Å (CODATA 2018), to convert a wavelength in Å to a photon energy in eV.
HC_EV_ANGSTROM = 12398.419843320026


def energy_ev(wavelength: float) -> float:
    """Photon energy (eV) of an X-ray wavelength (Å)."""
    return HC_EV_ANGSTROM / float(wavelength)


def _xraydb():
    import xraydb

    return xraydb


@cache
def _table() -> dict:
    """The shipped table: ``f0`` (ion → (c, a, b)) and ``lines`` (energy eV → element → (f′, f″, µ/ρ)).

    Empty when the file is missing or unreadable: every value then comes from xraydb.
    """
    try:
        raw = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
        f0 = {ion: (float(c), np.array(a, dtype=float), np.array(b, dtype=float))
              for ion, (c, a, b) in raw["f0"].items()}
        lines = {energy_ev(line["wavelength"]): line["f1_f2_mu"] for line in raw["lines"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {"f0": {}, "lines": {}}
    return {"f0": f0, "lines": lines}


def _line(energy: float) -> dict | None:
    """The table's element → (f′, f″, µ/ρ) at ``energy`` (eV), or None if it has no such line."""
    lines = _table()["lines"]
    found = lines.get(energy)
    if found is None:  # the same λ converted to eV by another route may differ in the last bit
        found = next((v for e, v in lines.items() if abs(e - energy) <= 1e-12 * e), None)
    return found


#: Isotopes the tables do not list, scattered as their element: X-rays see electrons, and deuterium (neutron studies'
#: structures of deuterated hydroxides and hydrates) has hydrogen's one. Its mass stays deuterium's.
X_RAY_ELEMENT = {"D": "H"}
#: Atomic masses (u) of those isotopes and of their elements, for µ/ρ per gram.
ISOTOPE_MASS = {"D": (2.014102, 1.00794)}


@lru_cache(maxsize=None)
def f0_ion(symbol: str, charge: int = 0) -> str:
    """The Waasmaier–Kirfel scatterer name for an element and charge (``"Li", 1`` → ``"Li1+"``).

    Falls back to the neutral atom when the table has no such ion (e.g. Zr2+). Deuterium is hydrogen.
    """
    symbol = X_RAY_ELEMENT.get(symbol, symbol)
    if charge:
        name = f"{symbol}{abs(charge)}{'+' if charge > 0 else '-'}"
        known = _table()["f0"]
        if name in known or (symbol not in known and name in _xraydb().f0_ions(symbol)):
            return name
    return symbol


#: Hydrogen bonded in a crystal: the spherical bonded-atom form factor of Stewart, Davidson & Simpson (1965), as the
#: International Tables (Vol. C, Table 6.1.1.4) give it for "H" (Cromer–Mann coefficients: c, a_1..4, b_1..4). The
#: Waasmaier–Kirfel "H" is the free atom's 1s density, 15 % lower at sinθ/λ = 0.2 Å⁻¹ and 25 % at 0.3: too diffuse
#: for hydrogen in an O–H bond. Every crystallographic program uses the bonded one (GSAS-II included: with the free
#: atom, brucite's intensity per mass came out 1.1 % below GSAS-II's, scripts/compare_intensities_gsas2.py).
BONDED_H = (0.003038, np.array([0.493002, 0.322912, 0.140191, 0.040810]),
            np.array([10.5109, 26.1257, 3.14236, 57.7997]))


@lru_cache(maxsize=None)
def f0_coefficients(ion: str) -> tuple[float, np.ndarray, np.ndarray] | None:
    """(offset c, scales a_i, exponents b_i) with f0(s) = c + Σ a_i exp(−b_i s²), read once per ion.

    Returns None if xraydb's table layout is not the expected one; :func:`f0` then calls
    ``xraydb.f0`` directly. Raises ValueError for a scatterer xraydb does not know. Neutral hydrogen is the
    bonded atom, :data:`BONDED_H`.
    """
    ion = X_RAY_ELEMENT.get(ion.title(), ion)
    if ion.title() == "H":
        return BONDED_H
    shipped = _table()["f0"].get(ion.title())
    if shipped is not None:
        return shipped
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
    symbol = X_RAY_ELEMENT.get(symbol, symbol)
    shipped = (_line(energy) or {}).get(symbol)
    if shipped is not None:
        return float(shipped[0]), float(shipped[1])
    xdb = _xraydb()
    return float(xdb.f1_chantler(symbol, energy)), float(xdb.f2_chantler(symbol, energy))


CROMER_LIBERMAN_PATH = Path(__file__).with_name("data") / "anomalous_cromer_liberman.json"


@cache
def _cromer_liberman() -> dict:
    """energy (eV) → element → (f′, f″) of the shipped Cromer–Liberman table (GSAS-II's ``FPcalc``,
    scripts/make_anomalous_table.py); empty if the file is missing or unreadable."""
    try:
        raw = json.loads(CROMER_LIBERMAN_PATH.read_text(encoding="utf-8"))
        return {energy_ev(line["wavelength"]): line["f1_f2"] for line in raw["lines"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


@lru_cache(maxsize=4096)
def anomalous_cromer_liberman(symbol: str, energy: float) -> tuple[float, float] | None:
    """Cromer–Liberman f′ and f″ (electrons) of an element at ``energy`` (eV), the second table the model
    uncertainty compares Chantler's with; None where the shipped table has no such wavelength or element.

    Both are defensible at laboratory wavelengths away from an edge (International Tables C, 4.2.6; GSAS-II uses
    Cromer–Liberman, xraydb tabulates Chantler); their difference is an uncertainty of the intensities that no
    counting esd holds."""
    lines = _cromer_liberman()
    found = lines.get(energy)
    if found is None:
        found = next((v for e, v in lines.items() if abs(e - energy) <= 1e-12 * e), None)
    value = (found or {}).get(X_RAY_ELEMENT.get(symbol, symbol))
    return None if value is None else (float(value[0]), float(value[1]))


@lru_cache(maxsize=4096)
def mu_rho_element(symbol: str, energy: float) -> float:
    """Elam total mass attenuation coefficient µ/ρ (cm²/g) of an element at ``energy`` (eV); an isotope's is its
    element's per atom, so per gram scaled by their masses."""
    if symbol in X_RAY_ELEMENT:
        isotope, element = ISOTOPE_MASS[symbol]
        return mu_rho_element(X_RAY_ELEMENT[symbol], energy) * element / isotope
    shipped = (_line(energy) or {}).get(symbol)
    if shipped is not None:
        return float(shipped[2])
    return float(_xraydb().mu_elam(symbol, energy, kind="total"))


def mass_attenuation(mass_by_element: dict[str, float], wavelength: float) -> float:
    """µ/ρ (cm²/g) of a compound: the mass-weighted sum of its elements' µ/ρ.

    ``mass_by_element`` maps element symbol → mass (any unit; only the ratios matter).
    """
    e = energy_ev(wavelength)
    total = sum(mass_by_element.values())
    return sum(m / total * mu_rho_element(el, e) for el, m in mass_by_element.items())
