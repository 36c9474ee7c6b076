"""A GSAS-II recipe that refines the terms a native adaptive refinement found warranted.

The native engine decides, by significance tests, which of zero shift, specimen transparency, Y, X, asymmetry,
microstrain, March–Dollase texture, a uniaxial crystallite size and background order a pattern needs (:mod:`xrdq.refine.adaptive`). To compare the
two engines on the same model, GSAS-II runs its default steps and then one more step with those terms
(steps are cumulative). Pure data: building it needs no GSAS-II.
"""

from __future__ import annotations

from ...refine.parameters import param_name
from ...refine.specs import INSTRUMENT_X, spec
from .recipe import DEFAULT_PROFILE, DEFAULT_STEPS, GsasRecipe


def mirror_recipe(native) -> GsasRecipe:
    """GSAS-II :class:`GsasRecipe` mirroring ``native`` (a native :class:`~xrdq.refine.RefinementResult`).

    Every phase the native engine found textured gets GSAS-II's March–Dollase term about its own axis, a cubic
    phase's included: GSAS-II averages the factor over each reflection's symmetry equivalents (``GetPrefOri`` over
    the space group's rotations), as the native model does, and starts a cubic phase's ratio at the native probe
    (:func:`~xrdq.engines.gsas2.strategy.set_flags`). A uniaxial crystallite size the native engine accepted
    becomes GSAS-II's uniaxial size about the same axis. Atomic coordinates and occupancy pairs the native engine
    refined become GSAS-II's X flags on those atoms (GSAS-II applies their site symmetry itself) and F flags on each
    pair, its sum held by a constraint (:func:`~xrdq.engines.gsas2.strategy.set_flags`).
    """
    final = next((s for s in reversed(native.recipe) if "background_terms" in s), None)
    if final is None:  # not an adaptive refinement: nothing to mirror
        return GsasRecipe()
    accepted = [d["term"] for d in native.decisions if d["accepted"]]
    profile = list(DEFAULT_PROFILE)
    if spec("Y").candidate in accepted:
        profile.append("Y")
    if INSTRUMENT_X in accepted:  # the nominal 1/cosθ Lorentzian was too wide for these peaks
        profile.append("X")
    strain = [n for n in native.phase_names if spec("strain_broadening").name(param_name(n)) in final["refine"]]
    po = {k: tuple(v) for k, v in (final.get("po") or {}).items()}
    step = {"name": "adaptive terms (as the native engine decided)", "cells": True, "displacement": True,
            "size": True, "humps": True, "profile": tuple(profile), "zero": "zero" in final["refine"]}
    if spec("penetration_um").candidate in accepted:  # GSAS-II refines its mean shift (it has no tail)
        step["transparency"] = True
    if strain:
        step["strain"] = strain
    if po:
        step["preferred_orientation"] = po
    if final.get("size_axes"):
        step["uniaxial_size"] = {k: tuple(v) for k, v in final["size_axes"].items()}
    fit = getattr(native, "fit", None)
    if fit is not None and hasattr(fit, "refined_structure"):  # coordinates and occupancy pairs the native refined
        structure = {n: s for n in native.phase_names if (s := fit.refined_structure(n))["atoms"] or s["pairs"]}
        if structure:
            step["structure"] = structure
    return GsasRecipe(steps=DEFAULT_STEPS + (step,), background_terms=int(final["background_terms"]))


#: Terms the native tests may accept that the GSAS-II recipe does not carry: intensity losses of the specimen
#: (a film over it, a fixed slit's overspill, a thickness the beam passes through)
_NOT_MIRRORED = ("film_mu_t", "beam_fill", "inv_mu_t")


def unmirrored_terms(native) -> list:
    """The terms ``native``'s significance tests accepted that :func:`mirror_recipe` cannot hand to GSAS-II: the
    specimen's intensity losses."""
    accepted = {d["term"] for d in native.decisions if d["accepted"]}
    return [spec(k).candidate for k in _NOT_MIRRORED if spec(k).candidate in accepted]
