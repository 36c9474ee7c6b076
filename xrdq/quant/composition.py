"""Bulk chemical composition as users write it, and its mass attenuation coefficient µ*/ρ.

A SPEC is one formula (``Li2.7Al0.7Zr0.3Cl6``, the whole sample has this stoichiometry) or weighted
formulas (``Al2O3:30.79,CaF2:20.06,ZnO:19.68,SiO2:29.47``, weights in any unit, normalised to their sum).
Formulas are parsed by xraydb (``chemparse``); µ/ρ is Elam's total attenuation, the same table and
code the crystalline phases use (:func:`xrdq.crystal.scattering.mass_attenuation`).
"""

from __future__ import annotations

from ..errors import XrdqQuantError


def parse_formula(formula: str, spec: str | None = None) -> dict:
    """Element → mass (g per formula unit) of ``formula``; a clear error for anything unparsable."""
    import xraydb

    where = f"composition {spec!r}: " if spec and spec != formula else ""
    text = formula.strip()
    if not text:
        raise XrdqQuantError(f"{where}empty formula; expected e.g. Al2O3 or Li2.7Al0.7Zr0.3Cl6")
    try:
        counts = xraydb.chemparse(text)
    except (ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0].rstrip(":")
        raise XrdqQuantError(f"{where}formula {text!r} does not parse ({first}); expected element symbols with "
                             "optional amounts, e.g. Li2.7Al0.7Zr0.3Cl6") from None
    if not counts or any(n < 0 for n in counts.values()):
        raise XrdqQuantError(f"{where}formula {text!r} has no atoms or a negative amount")
    import gemmi  # the atomic masses the phases' cell masses use

    return {el: n * gemmi.Element(el).weight for el, n in counts.items() if n > 0}


def parse_composition(spec) -> dict:
    """``{formula: weight fraction}`` (fractions sum to 1) from a SPEC string or a mapping."""
    if isinstance(spec, dict):
        items = [(str(k), v) for k, v in spec.items()]
    elif isinstance(spec, str) and spec.strip():
        parts = [p.strip() for p in spec.split(",")]
        if len(parts) == 1 and ":" not in parts[0]:
            parse_formula(parts[0], spec)
            return {parts[0]: 1.0}
        items = []
        for part in parts:
            formula, sep, weight = (s.strip() for s in part.partition(":"))
            if not sep or not formula or not weight:
                raise XrdqQuantError(f"composition {spec!r}: part {part!r} is not FORMULA:WEIGHT; expected one formula "
                                     "or FORMULA:WEIGHT pairs separated by commas, e.g. Al2O3:30.79,CaF2:20.06")
            items.append((formula, weight))
    else:
        raise XrdqQuantError(f"composition {spec!r}: expected a formula or FORMULA:WEIGHT,... pairs")
    weights = {}
    for formula, weight in items:
        try:
            w = float(weight)
        except (TypeError, ValueError):
            raise XrdqQuantError(f"composition {spec!r}: weight {weight!r} of {formula} is not a number") from None
        if not w >= 0 or w == float("inf"):
            raise XrdqQuantError(f"composition {spec!r}: weight of {formula} is {w!r}; expected a finite number ≥ 0")
        parse_formula(formula, str(spec))
        weights[formula] = weights.get(formula, 0.0) + w
    total = sum(weights.values())
    if total <= 0:
        raise XrdqQuantError(f"composition {spec!r}: the weights sum to zero")
    return {f: w / total for f, w in weights.items()}


def element_masses(composition: dict) -> dict:
    """Element → mass fraction of a parsed composition ``{formula: weight fraction}``."""
    out: dict = {}
    for formula, w in composition.items():
        masses = parse_formula(formula)
        total = sum(masses.values())
        for el, m in masses.items():
            out[el] = out.get(el, 0.0) + w * m / total
    return out


def mass_attenuation(spec, wavelength: float, table: str = "elam") -> float:
    """µ*/ρ (cm²/g) of a composition at ``wavelength`` (Å): the mass-weighted sum over its elements.

    ``table="chantler"`` uses Chantler's total attenuation instead; the difference between the two tables is
    a fair estimate of how well µ*/ρ is known (used for its uncertainty, :func:`mass_attenuation_esd`).
    """
    from ..crystal import scattering

    masses = element_masses(parse_composition(spec))
    if table == "elam":
        return scattering.mass_attenuation(masses, wavelength)
    import xraydb

    energy = scattering.energy_ev(wavelength)
    return sum(m * float(xraydb.mu_chantler(el, energy)) for el, m in masses.items()) / sum(masses.values())


def ratio_esd(numerator, denominator, wavelength: float) -> float:
    """Relative uncertainty of the ratio µ*/ρ(numerator) / µ*/ρ(denominator) as the difference between
    Elam's and Chantler's tables (what an absolute-scale method actually depends on)."""
    elam = mass_attenuation(numerator, wavelength) / mass_attenuation(denominator, wavelength)
    chantler = mass_attenuation(numerator, wavelength, "chantler") / mass_attenuation(denominator, wavelength, "chantler")
    return abs(elam - chantler) / elam


def formula_of_composition(composition: dict) -> str:
    """A SPEC string that parses back to ``composition`` (for provenance)."""
    return ",".join(f"{f}:{w:.6g}" for f, w in composition.items())


def parse_cover_film(text: str) -> tuple[str, float]:
    """``"kapton=25"`` (µm of a material in :data:`xrdq.model.film.FILMS`) or ``"mu_t=0.05"`` → (material or
    "mu_t", value)."""
    from ..model.film import FILMS

    name, sep, value = str(text).partition("=")
    name = name.strip().lower()
    example = f"MATERIAL=THICKNESS_UM with MATERIAL one of {sorted(FILMS)}, or mu_t=VALUE, e.g. kapton=25"
    if not sep or not name or not value.strip():
        raise XrdqQuantError(f"cover film {text!r}: expected {example}")
    if name != "mu_t" and name not in FILMS:
        raise XrdqQuantError(f"cover film {text!r}: unknown material {name!r}; expected {example}")
    try:
        v = float(value)
    except ValueError:
        raise XrdqQuantError(f"cover film {text!r}: {value.strip()!r} is not a number") from None
    limit = 5.0 if name == "mu_t" else 5000.0
    if not 0.0 <= v < limit:
        what = "µ·t" if name == "mu_t" else "the thickness (µm)"
        raise XrdqQuantError(f"cover film {text!r}: {what} must be ≥ 0 and < {limit:g}, got {v:g}")
    return name, v


def cover_film_mu_t(spec, wavelength: float) -> float:
    """µ·t of a cover film given as ``"kapton=25"``, ``"mu_t=0.05"`` or (material, value) at ``wavelength`` (Å)."""
    from ..model.film import film_mu_t

    name, value = parse_cover_film(spec) if isinstance(spec, str) else parse_cover_film(f"{spec[0]}={spec[1]}")
    return value if name == "mu_t" else film_mu_t(name, value, wavelength)
