"""GSAS-II's variable names onto xrdq's, in one place.

A parameter has the same name in :attr:`xrdq.refine.RefinementResult.parameters` (and so in
``lmfit_parameters()`` and the JSON) whichever engine refined it, and the same units: the names and units of
the native engine's table (:mod:`xrdq.refine.specs`) — ``zero``, ``displacement_um``, ``U`` … ``Y`` (xrdq's
TCH convention, not GSAS-II's variances in centidegrees²), ``asymmetry`` (S/L = H/L, half GSAS-II's SH/L),
``{phase}_a`` …, ``{phase}_size_nm``, ``{phase}_strain_broadening`` (degrees at tanθ = 1), ``{phase}_po_ratio``,
``hump{k}_center``, ``hump{k}_fwhm``, ``hump{k}_area`` (counts × degrees). ``{phase}`` is the phase's
prefix (:func:`xrdq.refine.parameters.param_name`). What only GSAS-II has keeps a name of its own in the
same style: ``{phase}_phase_fraction`` (GSAS-II's scale, a number of cells: not the native scale),
``{phase}_gsas2_weight_fraction`` (ComputeMassFracs), ``{phase}_volume``, ``{phase}_D11`` …, ``{phase}_A0`` …
(reciprocal metric), ``chebyshev{i}`` (GSAS-II's background, another basis than the native ``bkg{i}``),
``histogram_scale``, ``hump{k}_sig_cdeg2``, ``hump{k}_gam_cdeg``.
"""

from __future__ import annotations

import math

from ...model.instrument import gsas2_profile_terms
from ...refine.parameters import param_name

# GSAS-II units per xrdq unit, by term (an asymmetry of 1 is S/L = H/L = 1: SH/L = 2)
_TO_G2 = gsas2_profile_terms(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)

#: GSAS-II histogram variable → (xrdq name, factor from GSAS-II's units to xrdq's)
HISTOGRAM = {
    "Zero": ("zero", 1.0),  # both add it to the calculated 2θ
    "Shift": ("displacement_um", 1.0),  # both in µm, same sign
    # GSAS-II shifts peaks by 0.09/(πR) · 100 T sin2θ degrees (R in mm), the native model by sin2θ/(2µR) radians:
    # the same mean shift for 1/µ = 100 T µm. GSAS-II has the shift only (no exponential tail).
    "Transparency": ("penetration_um", 100.0),
    **{t: (t, 1.0 / _TO_G2[t]) for t in ("U", "V", "W", "X", "Y")},
    "SH/L": ("asymmetry", 1.0 / _TO_G2["SH/L"]),  # SH/L = S/L + H/L = 2 × asymmetry
    "Scale": ("histogram_scale", 1.0),
}

#: GSAS-II phase-in-histogram variable → (xrdq key after the phase prefix, factor)
PHASE_HISTOGRAM = {
    "Scale": ("phase_fraction", 1.0),
    "MD": ("po_ratio", 1.0),  # the March–Dollase ratio r in both
    "Size;i": ("size_nm", 1000.0),  # µm → nm; Scherrer K = 1 in both
    # GSAS-II's Lorentzian strain FWHM is 0.018 µε tanθ / π centidegrees; xrdq's is strain_broadening × tanθ degrees
    "Mustrain;i": ("strain_broadening", 0.018 / math.pi / 100.0),
    "WgtFrac": ("gsas2_weight_fraction", 1.0),
}

#: GSAS-II background-peak (amorphous hump) variable → (xrdq key after ``hump{k}``, factor)
HUMP = {
    "BkPkpos": ("center", 1.0),
    "BkPkint": ("area", 0.01),  # counts × centidegrees → counts × degrees
    "BkPksig": ("sig_cdeg2", 1.0),
    "BkPkgam": ("gam_cdeg", 1.0),
}


def phase_parameter(phase: str, key: str) -> str:
    """``{prefix}_{key}``: the name of phase ``phase``'s parameter ``key`` (as the native engine names it)."""
    return f"{param_name(phase)}_{key}"


def hump_parameter(index, key: str) -> str:
    return f"hump{index}_{key}"


def xrdq_name(var: str, phase_by_id: dict, hid) -> tuple[str, float]:
    """(xrdq name, factor to xrdq units) of GSAS-II variable ``var`` of histogram ``hid`` (``phase_by_id``:
    GSAS-II phase id as a string → phase name); a variable with no xrdq meaning keeps GSAS-II's name."""
    parts = var.split(":")
    if len(parts) < 3:
        return var, 1.0
    ph, h, what = parts[0], parts[1], ":".join(parts[2:])
    if ph == "" and h == str(hid):
        base, _, index = what.partition(";")
        if base == "Back":
            return f"chebyshev{index}", 1.0
        if base in HUMP:
            key, factor = HUMP[base]
            return hump_parameter(index, key), factor
        if what in HISTOGRAM:
            return HISTOGRAM[what]
    elif ph in phase_by_id and h == str(hid):
        key, factor = PHASE_HISTOGRAM.get(what, (what, 1.0))
        return phase_parameter(phase_by_id[ph], key), factor
    elif ph in phase_by_id and h == "" and what.startswith("A") and what[1:].isdigit():
        return phase_parameter(phase_by_id[ph], what), 1.0  # reciprocal metric term (the cell is reported)
    return var, 1.0
