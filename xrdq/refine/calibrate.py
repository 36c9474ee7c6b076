"""Instrument calibration on a line-profile standard (LaB6, Si, LiF): zero shift and profile.

The standard's cell is held at its certified value so that peak positions fix the zero shift and
specimen displacement; the profile (U, V, W, X, Y) and FCJ asymmetry then describe the instrument.
"""

from __future__ import annotations

import dataclasses

from ..model.instrument import PROFILE_TERMS, load_instrument, measured_instrument
from .recipe import Recipe, Stage

# Certified / reference lattice parameters (Å) at 22.5 °C.
CERTIFIED_CELL = {
    "LaB6": 4.156826,  # NIST SRM 660c
    "Si": 5.431144,  # NIST SRM 640e
    "LiF": 4.0270,  # Hanawalt et al. (JCPDS 4-857)
}

CALIBRATION_RECIPE = Recipe(
    stages=(
        Stage("scales + background", ()),
        Stage("zero + displacement", ("zero", "displacement")),
        Stage("profile", ("zero", "displacement", "profile")),
        Stage("profile + asymmetry", ("zero", "displacement", "profile", "asymmetry", "biso")),
    ),
    background_terms=8,
    name="calibration",
)


def calibrate(pattern, phase="LaB6", instrument="miniflex600", two_theta_range=None):
    """Returns ``(Instrument, RefinementResult)`` with the refined zero and profile written into it."""
    from ..crystal.spec import resolve_phase
    from ..io import load
    from .fit import refine
    from .objective import setup_from

    pat = load(pattern) if not hasattr(pattern, "coords") else pattern
    inst = measured_instrument(pat, load_instrument(instrument))[0]  # the calibration records the slit it was made at
    ph = resolve_phase(phase)
    if ph.name in CERTIFIED_CELL and ph.crystal_system == "cubic":
        ph = ph.with_cell(a=CERTIFIED_CELL[ph.name])
    result = refine(pat, [ph], inst, recipe=CALIBRATION_RECIPE, two_theta_range=two_theta_range)
    # the refined profile terms; the specimen displacement belongs to the sample, not the instrument
    terms, _ = setup_from({k: v for k, (v, _) in result.parameters.items()})
    new = dataclasses.replace(
        inst,
        name=f"{inst.name}-calibrated",
        **{k: getattr(terms, k) for k in PROFILE_TERMS},
        description=f"{inst.description} — profile calibrated on {ph.name} ({getattr(pat, 'attrs', {}).get('source_path', 'pattern')})",
        source="",
    )
    return new, result

