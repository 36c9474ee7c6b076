"""``xrdq.quantify``: one pattern in, weight fractions and amorphous content with esds out.

``quantify`` checks its options and runs the named steps of :mod:`xrdq.quant.pipeline` in order.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .._digest import file_sha256
from .._threads import single_thread_blas
from ..errors import XrdqQuantError
from ..model.instrument import measured_instrument
from ..refine.engines import engine_names, get_engine
from ..refine.specs import STRUCTURE_TERMS
from .composition import parse_composition
from .defaults import DEFAULT_STANDARD, DefaultStandard
from .external_standard import ScaleCalibration
from .internal_standard import check_standard_inputs
from .pipeline import (amorphous_content, auto_coordinates, engine_recipe, model_uncertainty as _ensemble,
                       parse_standard, phase_list, provenance, quant_result, start_humps, structure_notes,
                       weight_fractions, with_fractions)
from .result import QuantResult  # noqa: F401 — quantify's return type, documented here

#: Engines by name (xrdq.refine.engines): "native" and, with GSAS-II installed, "gsas2".
ENGINES = engine_names()

__all__ = ["quantify", "parse_standard", "ENGINES"]


def instrument_mismatch(pattern, inst) -> list:
    """Warnings when the file's own wavelength or goniometer radius contradicts the chosen instrument."""
    out = []
    a = pattern.attrs
    lam = a.get("wavelength_alpha1")
    # "is not None": a wavelength of 0 is the worst mismatch, not an absent one
    if a.get("wavelength_source") == "file" and lam is not None and abs(float(lam) - inst.wavelength) > 2e-4:
        out.append(f"the file's Kα1 wavelength {float(lam):.6f} Å differs from instrument {inst.name!r} "
                   f"({inst.wavelength:.6f} Å): the instrument's is used")
    radius = a.get("goniometer_radius_mm")
    if radius is not None and abs(float(radius) - inst.radius_mm) > 1.0:
        out.append(f"the file's goniometer radius {float(radius):g} mm differs from instrument {inst.name!r} "
                   f"({inst.radius_mm:g} mm): displacement is interpreted with the instrument's")
    return out


#: Counting noise about a background near zero leaves intensities a few esds below zero at most (GSAS-II's
#: simulation writes yc − |Poisson(yc) − yc|: −4 for yc = 0.5 once in a few thousand points); far below, they are
#: no counts.
NEGATIVE_ESDS = 6.0


def pattern_notes(pattern) -> list:
    """What the file's intensities are, where that matters: negative ones (read only from files that are not raw
    detector counts, :func:`xrdq.io._pattern.make_pattern`); and a header that contradicts itself."""
    a = pattern.attrs
    # a header doubt the reader recorded (xrdq.io.ras.note_target_mismatch)
    header = [a["target_note"]] if a.get("target_note") else []
    n = a.get("negative_points")
    if not n:
        return header
    low, at, k = a["lowest_intensity"], a["lowest_intensity_two_theta"], a["lowest_intensity_esds"]
    where = f"the lowest {low:.4g} at 2θ = {at:.2f}° ({-k:.1f} esd below zero)"
    if k >= -NEGATIVE_ESDS:
        return header + [
            f"{n} of {pattern.two_theta.size} intensities in the file are negative, {where}: not raw counts but, "
            f"within their esds, a simulation's noise about a background near zero; weighted by "
            f"{'the esds the file gives' if a.get('esd_source') == 'file' else '1/max(I, 1)'}"]
    return header + [f"intensities far below zero in the file: {n} negative, {where} — no counting noise goes there: "
                     "background-subtracted data? Their weights are not counting statistics, and the background (with "
                     "any amorphous halo in it) was taken away before the fit: quantify the measured pattern"]


@single_thread_blas
def quantify(pattern_or_path, phases=(), standard=DEFAULT_STANDARD, purity: float = 1.0, *, standard_esd: float = 0.0,
             purity_esd: float = 0.0, instrument="miniflex600", engine: str = "native", two_theta_range=None,
             recipe=None, brindley=None, berar_lelann: bool = False, humps="auto", background_terms: int = 8,
             preferred_orientation=None, texture: bool = True, strain: bool = False, biso: bool = False, start=None,
             scan: int = 0, refinement=None, model_uncertainty: str = "full",
             standard_source: str | None = None, external_standard=None, sample_composition=None,
             cover_film=None, sample_length=None, uniaxial_size=None, coordinates="auto") -> QuantResult:
    """Quantify one pattern.

    Parameters
    ----------
    pattern_or_path : a path to any supported file, an xarray.DataArray from :func:`xrdq.load`, or a
        :class:`xrdq.io.Scan` from :func:`xrdq.io.read_scan`.
    phases : phase names (``reference_patterns/phases``), CIF paths, ``NAME=CIF`` strings or Phase objects.
    standard : (name, W_s) of the weighed internal standard, ``"LiF=0.5"``, or None for crystalline
        fractions normalised to 100 %. Added to the phases if not listed. Left out, LiF at 50 wt% is
        assumed and labelled as the default; if it is not in the pattern the verdict is ``fail``.
    standard_source : ``"given"`` or ``"default"`` (for callers that pass the default on, e.g. the CLI);
        None decides from ``standard`` itself.
    purity : crystalline fraction c of the standard material (1 = fully crystalline).
    standard_esd, purity_esd : weighing error σ(W_s) and σ(c), propagated into every esd.
    instrument : bundled name (``miniflex600``, ``cpd-pw3020``), TOML or ``.instprm`` path, or Instrument.
    engine : ``"native"`` or ``"gsas2"`` (needs GSAS-II; same result type).
    brindley : None, or {phase: particle diameter in µm} for Brindley's microabsorption correction.
    berar_lelann : inflate esds by the Bérar–Lelann factor for serially correlated residuals.
    humps : ``"auto"`` (default: look for a broad amorphous halo after a quick scales-only fit and model
        it explicitly if there is one), a list of (centre, FWHM) start values, or ``[]`` for none.
    preferred_orientation : {phase: (h, k, l)} March–Dollase axis per phase (adds a refinement stage);
        {phase: None} forbids texture for that phase.
    texture : let the default (adaptive) recipe test each phase for March–Dollase texture (a cubic one from a probe ratio).
    uniaxial_size : {phase: (h, k, l)}: refine a crystallite size along that reciprocal axis of its own, beside the
        one across it (platelets: (00l) broader than (hk0); needles: narrower). Native engine only.
    strain, biso : also refine per-phase microstrain and an overall B per phase (final stage).
    coordinates : phase names whose atomic coordinates are refined (final stage): every coordinate the sites'
        symmetry leaves free, Li and H held. ``"auto"`` (default): with the default recipe, the adaptive recipe
        tests the coordinates (and a cation's share between two partly occupied sites) of each phase whose CIF calls
        them approximate or noisy, and refines them where the data warrant it; ``()``: none. With
        ``engine="gsas2"`` the native refinement that decides its terms does this, and GSAS-II refines the same
        atoms.
    refinement : an already computed RefinementResult of this pattern with these phases (for example one
        member of a GSAS-II sequential series) to quantify instead of refining again.
    model_uncertainty : ``"full"`` (every recipe variant: linear re-solves and warm-started non-linear
        ones), ``"fast"`` (the linear re-solves and one Gauss–Newton step of the B variant) or ``"off"``;
        see :mod:`xrdq.quant.uncertainty`.
    external_standard : a scale calibration (``xrdq calibrate-scale`` TOML path or ScaleCalibration): absolute
        fractions from the instrument constant G, with or without an internal standard (docs/method.md §8).
    sample_composition : bulk composition of the (unspiked) sample for µ*, a formula or FORMULA:WEIGHT pairs;
        needed with ``external_standard``.
    cover_film, sample_length : a film over the specimen (``"kapton=25"``, material=µm, or ``"mu_t=0.05"``) and the
        specimen's length along the beam (mm), corrected for (docs/instrument.md); they replace the instrument's.

    Phases may be empty when a standard is given (a fully amorphous sample): peaks no phase explains
    then make the verdict ``check``. Every result carries ``verdict`` (ok/check/fail) and its reasons;
    amorphous estimates that disagree (consistency > 2) make it ``check``.
    """
    t0 = time.perf_counter()
    std, source = _standard_inputs(engine, model_uncertainty, standard, standard_source, purity, standard_esd,
                                   purity_esd)
    calibration = _external_inputs(external_standard, sample_composition, engine)
    pattern, given, path, sha = _pattern_input(pattern_or_path, scan)
    eng = get_engine(engine)
    phase_objs, std = phase_list(phases, std, eng, brindley)
    brindley = _brindley_by_phase(brindley, phase_objs)
    inst, slit_notes = measured_instrument(pattern, _instrument(instrument, cover_film, sample_length, eng, engine))
    if calibration is not None:
        calibration.check_compatible(inst, pattern)  # before the refinement, not after it
    # nothing is refined when a refinement is given
    humps = [] if refinement is not None else start_humps(pattern, phase_objs, inst, two_theta_range, humps)
    coordinates, coordinate_candidates = auto_coordinates(coordinates, phase_objs, recipe)
    rec, recipe_in = engine_recipe(eng, recipe, humps=humps, preferred_orientation=preferred_orientation,
                                   background_terms=background_terms, strain=strain, biso=biso, texture=texture,
                                   uniaxial_size=uniaxial_size, coordinates=coordinates,
                                   coordinate_candidates=coordinate_candidates)
    _check_phase_options(rec, phase_objs)
    ref = _given_refinement(refinement, phase_objs, pattern) if refinement is not None else eng.refine(
        pattern, phase_objs, inst, recipe_in, two_theta_range=two_theta_range, start=start, humps=humps)
    fr = weight_fractions(ref, brindley, berar_lelann)
    ref = with_fractions(ref, fr)
    am = amorphous_content(ref, fr, phase_objs, std, purity, standard_esd, purity_esd, source, calibration=calibration,
                           sample_composition=sample_composition, instrument=inst, pattern=pattern,
                           background_terms=rec.background_terms)
    u_model, variants = _ensemble(ref, fr, brindley, std if am.standard_info and not am.standard_failed else None,
                                  purity, model_uncertainty, am)
    prov = provenance(path, sha, ref, rec, inst, phase_objs, am, standard_esd=standard_esd, purity_esd=purity_esd,
                      brindley=brindley, berar_lelann=berar_lelann, two_theta_range=two_theta_range,
                      model_uncertainty=model_uncertainty, variants=variants)
    result = quant_result(path, sha, ref, fr, am, pattern, u_model, prov,
                          warnings=(pattern_notes(pattern) + instrument_mismatch(pattern, inst) + slit_notes
                                    + structure_notes(phase_objs, *_refined_structure(ref))),
                          dataarray=given)
    from .verdict import assess

    assess(result, inst, sample_phases=[n for n in ref.phase_names if not std or n != std[0]], brindley=brindley,
           standard_error=am.standard_failed)
    if am.estimates.disagree:
        result.flag("check", am.estimates.reason)
    result.elapsed_s = time.perf_counter() - t0
    return result


def _instrument(instrument, cover_film, sample_length, eng, engine):
    """The Instrument, with the specimen's cover film and length when given, checked against the engine."""
    from ..model.instrument import load_instrument

    inst = load_instrument(instrument)
    if cover_film is not None:
        from .composition import cover_film_mu_t

        inst = inst.replace(cover_film_mu_t=cover_film_mu_t(cover_film, inst.wavelength))
    if sample_length is not None:
        inst = _with_sample_length(inst, sample_length)
    _check_specimen_corrections(eng, engine, inst)
    return inst


def _check_specimen_corrections(eng, engine, inst):
    """An engine that cannot correct a cover film or a short specimen's overspill refuses them."""
    if getattr(eng, "specimen_intensity", False):
        return
    if inst.cover_film_mu_t:
        raise XrdqQuantError(f"the {engine!r} engine does not correct a cover film (µ·t = {inst.cover_film_mu_t:.4g}): "
                             "use engine='native', or leave the film out")
    if inst.sample_length_mm and not inst.variable_slit:
        raise XrdqQuantError(f"the {engine!r} engine does not correct the overspill of a {inst.sample_length_mm:g} mm "
                             "specimen: use engine='native', or leave the length out")


def _with_sample_length(inst, sample_length):
    """``inst`` with the specimen length (mm) that sets the fixed slit's overspill."""
    import math

    try:
        length = float(sample_length)
    except (TypeError, ValueError):
        raise XrdqQuantError(f"sample_length {sample_length!r}: expected the specimen's length in mm") from None
    if not (length > 0 and math.isfinite(length)):
        raise XrdqQuantError(f"sample_length {sample_length!r}: the specimen's length must be a positive number of mm")
    if inst.variable_slit:
        raise XrdqQuantError(f"sample_length: instrument {inst.name!r} has a variable slit, whose irradiated length is "
                             "constant; the specimen length does not enter")
    return inst.replace(sample_length_mm=length)


def _pattern_input(pattern_or_path, scan):
    """(Scan, the DataArray given or None, its file or None, its sha256) of a path, a Scan or a Pattern DataArray.

    The fit needs only the arrays and attrs: a file is read as a Scan, without the DataArray, so that
    quantifying a file never imports xarray and pandas (≈ 0.25 s of a fresh process)."""
    from ..io import Scan, read_scan

    given = None
    if isinstance(pattern_or_path, (str, os.PathLike)):
        path = Path(pattern_or_path)
        pattern = read_scan(path, scan=scan)
    else:
        if isinstance(pattern_or_path, Scan):
            pattern = pattern_or_path
        else:  # a DataArray: the result keeps it as its pattern
            given, pattern = pattern_or_path, Scan.from_dataarray(pattern_or_path)
        path = Path(pattern.attrs["source_path"]) if pattern.attrs.get("source_path") else None
    return pattern, given, path, pattern.attrs.get("sha256") or (file_sha256(path) if path is not None else None)


def _standard_inputs(engine, model_uncertainty, standard, standard_source, purity, standard_esd, purity_esd):
    """The option checks that need no file: engine, uncertainty level, the standard and where it came from."""
    if engine not in ENGINES:
        raise XrdqQuantError(f"unknown engine {engine!r}; choose one of {ENGINES}")
    if model_uncertainty not in ("full", "fast", "off"):
        raise XrdqQuantError(f"model_uncertainty must be 'full', 'fast' or 'off', got {model_uncertainty!r}")
    std = parse_standard(standard)
    if standard_source not in (None, "given", "default"):
        raise XrdqQuantError(f"standard_source must be 'given' or 'default', got {standard_source!r}")
    source = standard_source or ("default" if isinstance(standard, DefaultStandard) else "given")
    if std is not None and source == "default" and tuple(std) != tuple(DEFAULT_STANDARD):
        source = "given"  # a per-file standard replaced the default
    if std is not None:
        check_standard_inputs(std[1], purity, standard_esd, purity_esd)
    return std, source


def _given_refinement(ref, phase_objs, pattern):
    """A refinement handed in (e.g. one member of a GSAS-II sequential series), checked to fit the inputs."""
    names = [p.name for p in phase_objs]
    if list(ref.phase_names) != names:
        raise XrdqQuantError(f"the given refinement has phases {list(ref.phase_names)}, expected {names}")
    if len(ref.two_theta) > len(pattern.two_theta):
        raise XrdqQuantError("the given refinement has more points than the pattern: it belongs to another pattern")
    return ref


def _refined_structure(ref) -> tuple[dict, set, dict]:
    """(phase name → its refined coordinates' parameter names, phases whose structure terms the adaptive recipe tested
    and left out, phase name → the (site, site) label pairs whose occupancy share was refined)."""
    # GSAS-II refines what the native refinement that decided its terms refined (mirror_recipe)
    fit = getattr(ref, "fit", None) or getattr(getattr(ref, "decided_by", None), "fit", None)
    refined = getattr(fit, "coordinate_parameters", None) or {}
    occupancies = {name: fit.refined_structure(name)["pairs"]
                   for name in getattr(fit, "occupancy_parameters", None) or {}}
    tested = set()
    for d in getattr(ref, "decisions", None) or ():
        for term in STRUCTURE_TERMS:
            if d["term"].startswith(term + " ") and not d["accepted"]:
                tested.add(d["term"][len(term) + 1:])
    return refined, tested - set(refined) - set(occupancies), occupancies


def _check_phase_options(rec, phase_objs):
    """An axis (texture, uniaxial size) given for a phase that is not refined is a mistyped name, not a no-op."""
    names = [p.name for p in phase_objs]
    for what, axes in (("preferred orientation", rec.po), ("uniaxial size", rec.size_axes),
                       ("refined coordinates", rec.coordinates + rec.coordinate_candidates)):
        unknown = sorted(set(axes) - set(names))
        if unknown:
            raise XrdqQuantError(f"{what} given for {', '.join(map(repr, unknown))}, which is not among the phases "
                                 f"{names}")


def _brindley_by_phase(brindley, phase_objs):
    """``brindley`` keyed by the phases' own names: a bundled alias (``corundum``) is its phase (``Al2O3``), a name that
    is no phase is an error — both were ignored without a word, leaving that phase uncorrected."""
    if not brindley:
        return brindley
    from ..crystal.library import phase_path
    from ..errors import XrdqPhaseError

    names = [p.name for p in phase_objs]
    out = {}
    for key, d in dict(brindley).items():
        name = key
        if name not in names:
            try:
                name = phase_path(key).stem  # the bundled phase an alias names, without reading its CIF
            except XrdqPhaseError:
                pass
        if name not in names:
            raise XrdqQuantError(f"Brindley particle size given for {key!r}, which is not among the phases {names}")
        out[name] = d
    return out


def _external_inputs(external_standard, sample_composition, engine):
    """The scale calibration, after checking what it needs (composition parses, native engine)."""
    if external_standard is None:
        if sample_composition is not None:
            parse_composition(sample_composition)  # a bad SPEC is an error even when unused
        return None
    if engine != "native":
        raise XrdqQuantError("the external standard (G) uses the native engine's scale factors: engine='native'")
    if sample_composition is None:
        raise XrdqQuantError("the external standard needs the sample's bulk composition for µ* "
                             "(sample_composition / --sample-composition, e.g. Li2.7Al0.7Zr0.3Cl6)")
    parse_composition(sample_composition)
    if isinstance(external_standard, ScaleCalibration):
        return external_standard
    return ScaleCalibration.read(external_standard)
