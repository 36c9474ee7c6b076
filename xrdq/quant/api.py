"""``xrdq.quantify``: one pattern in, weight fractions and amorphous content with esds out."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import time
from pathlib import Path

import numpy as np

from .._threads import single_thread_blas
from .._version import __version__
from ..errors import XrdqQuantError
from .internal_standard import berar_lelann_factor, check_standard_inputs, internal_standard
from .defaults import DEFAULT_STANDARD, DefaultStandard
from .result import QuantResult
from ..crystal.spec import resolve_phase
from .weight_fractions import brindley_correction, hill_howard
from .composition import parse_composition
from .estimates import Estimates, external_route, ponkcs_background_warnings, ponkcs_route, subset_fractions
from .external_standard import ScaleCalibration
from ..model.ponkcs import resolve_any_phase

ENGINES = ("native", "gsas2")


def parse_standard(standard):
    """``("LiF", 0.5)``, ``"LiF=0.5"``, ``{"phase": "LiF", "fraction": 0.5}`` or None → (name, W_s) or None."""
    if standard is None or standard is False:
        return None
    if isinstance(standard, str):
        if "=" not in standard:
            raise XrdqQuantError(f"standard {standard!r}: expected NAME=W_S, e.g. LiF=0.5")
        name, _, value = standard.partition("=")
        try:
            return name.strip(), float(value)
        except ValueError as exc:
            raise XrdqQuantError(f"standard {standard!r}: W_S {value!r} is not a number") from exc
    if isinstance(standard, dict):
        return str(standard["phase"]), float(standard["fraction"])
    try:
        name, w_s = standard
        return str(name), float(w_s)
    except (TypeError, ValueError) as exc:
        raise XrdqQuantError(f"standard {standard!r}: expected (name, weighed fraction)") from exc


def _instrument_mismatch(pattern, inst) -> list:
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


def _auto_humps(pattern, phase_objs, inst, two_theta_range):
    from ..refine.fit import Refinement
    from ..refine.start import auto_humps

    tt = pattern["two_theta"].values
    esd = pattern.coords["esd"].values if "esd" in pattern.coords else np.sqrt(np.maximum(pattern.values, 1.0))
    return auto_humps(lambda rec: Refinement(tt, pattern.values, esd, phase_objs, inst, recipe=rec,
                                             two_theta_range=two_theta_range))


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _is_gsas2_recipe(recipe) -> bool:
    """A GSAS-II engine Recipe object (e.g. from ``mirror_recipe``): it must reach that engine as it is."""
    from ..engines.gsas2 import Recipe as Gsas2Recipe  # no GSAS-II import: the recipe is a plain dataclass

    return isinstance(recipe, Gsas2Recipe)


@single_thread_blas
def quantify(pattern_or_path, phases=(), standard=DEFAULT_STANDARD, purity: float = 1.0, *, standard_esd: float = 0.0,
             purity_esd: float = 0.0, instrument="miniflex600", engine: str = "native", two_theta_range=None,
             recipe=None, brindley=None, berar_lelann: bool = False, humps="auto", background_terms: int = 8,
             preferred_orientation=None, texture: bool = True, strain: bool = False, biso: bool = False, start=None,
             scan: int = 0, refinement=None, model_uncertainty: str = "full",
             standard_source: str | None = None, external_standard=None, sample_composition=None) -> QuantResult:
    """Quantify one pattern.

    Parameters
    ----------
    pattern_or_path : xarray.DataArray from :func:`xrdq.load`, or a path to any supported file.
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
    texture : let the default (adaptive) recipe test each non-cubic phase for March–Dollase texture.
    strain, biso : also refine per-phase microstrain and an overall B per phase (final stage).
    refinement : an already computed RefinementResult of this pattern with these phases (for example one
        member of a GSAS-II sequential series) to quantify instead of refining again.
    model_uncertainty : ``"full"`` (every recipe variant: linear re-solves and warm-started non-linear
        ones), ``"fast"`` (the linear re-solves and one Gauss–Newton step of the B variant) or ``"off"``;
        see :mod:`xrdq.quant.uncertainty`.
    external_standard : a scale calibration (``xrdq calibrate-scale`` TOML path or ScaleCalibration): absolute
        fractions from the instrument constant G, with or without an internal standard (docs/method.md §8).
    sample_composition : bulk composition of the (unspiked) sample for µ*, a formula or FORMULA:WEIGHT pairs;
        needed with ``external_standard``.

    Phases may be empty when a standard is given (a fully amorphous sample): peaks no phase explains
    then make the verdict ``check``. Every result carries ``verdict`` (ok/check/fail) and its reasons;
    amorphous estimates that disagree (consistency > 2) make it ``check``.
    """
    from ..io import load
    from ..model.instrument import load_instrument
    from ..refine import default_recipe, load_recipe

    t0 = time.perf_counter()
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
    calibration = _external_inputs(external_standard, sample_composition, engine)
    if isinstance(pattern_or_path, (str, Path)):
        path = Path(pattern_or_path)
        pattern = load(path, scan=scan)
    else:
        pattern = pattern_or_path
        path = Path(pattern.attrs["source_path"]) if pattern.attrs.get("source_path") else None
    sha = pattern.attrs.get("sha256") or (_sha256(path) if path is not None and path.exists() else None)

    phase_objs = [resolve_any_phase(p) for p in phases]
    amorphous_names = [p.name for p in phase_objs if getattr(p, "kind", None) == "amorphous"]
    if std is not None:
        # the standard may be given as a name, a CIF or NAME=CIF; its phase name is what counts
        listed = {p.name for p in phase_objs}
        if std[0] not in listed:
            std_phase = resolve_phase(std[0])
            if std_phase.name not in listed:
                phase_objs.append(std_phase)
            std = (std_phase.name, std[1])
    if not phase_objs:
        raise XrdqQuantError("no phases and no standard given: pass at least one phase, or a standard "
                             "(alone it quantifies a fully amorphous sample)")
    profile_only = [p.name for p in phase_objs if getattr(p, "profile_only", False)]
    if profile_only and engine != "native":
        raise XrdqQuantError(f"PONKCS phases {profile_only} need the native engine (engine='native')")
    if profile_only and brindley:
        raise XrdqQuantError(f"Brindley's correction needs every phase's density; PONKCS phases {profile_only} have none")
    names = [p.name for p in phase_objs]
    if len(set(names)) != len(names):
        raise XrdqQuantError(f"phase names must be unique, got {names} (rename with NAME=CIF)")

    inst = load_instrument(instrument)
    if refinement is not None or (amorphous_names and humps == "auto"):
        humps = []  # nothing is refined here, or the calibrated amorphous phase is the halo
    if isinstance(humps, str):
        if humps != "auto":
            raise XrdqQuantError(f"humps must be 'auto', a list of (centre, FWHM) or [], got {humps!r}")
        # both engines model the same halo: GSAS-II as a background peak, native as a hump column
        humps = _auto_humps(pattern, phase_objs, inst, two_theta_range)
    # GSAS-II recipes by name ("exact-fcj", ...) or as dicts are the GSAS-II engine's own vocabulary
    g2_recipe = engine == "gsas2" and (isinstance(recipe, (dict, list, tuple)) or _is_gsas2_recipe(recipe)
                                       or (isinstance(recipe, str) and not Path(recipe).is_file()))
    if recipe is None or g2_recipe:
        rec = default_recipe(preferred_orientation=preferred_orientation, humps=tuple(humps or ()),
                             background_terms=background_terms, strain=strain, biso=biso, texture=texture)
    elif isinstance(recipe, (str, Path)):
        if not Path(recipe).is_file() and str(recipe).strip().lower() in ("exact-fcj", "exact-fcj+po", "default+po"):
            raise XrdqQuantError(f"recipe {str(recipe)!r} is a GSAS-II recipe: use it with engine='gsas2' "
                                 "(--engine gsas2); the native engine takes a TOML recipe file")
        rec = load_recipe(recipe)
    else:
        rec = recipe
    if preferred_orientation and not rec.po:
        rec = dataclasses.replace(rec, po=dict(preferred_orientation))

    if refinement is not None:
        ref = refinement
        if list(ref.phase_names) != names:
            raise XrdqQuantError(f"the given refinement has phases {list(ref.phase_names)}, expected {names}")
        if len(ref.two_theta) > pattern.sizes["two_theta"]:
            raise XrdqQuantError("the given refinement has more points than the pattern: it belongs to another pattern")
    elif engine == "native":
        from ..refine.fit import refine

        ref = refine(pattern, phase_objs, inst, recipe=rec, two_theta_range=two_theta_range, start=start)
    else:
        from ..engines.gsas2 import refine_gsas2

        # GSAS-II has its own step vocabulary: a named or dict recipe goes through, else the default mapping.
        ref = refine_gsas2(pattern, [(p.name, p.source) for p in phase_objs], inst,
                           recipe=recipe if g2_recipe else ("default+po" if any(v is not None for v in (preferred_orientation or {}).values()) else "default"),
                           two_theta_range=two_theta_range, humps=tuple(humps or ()))

    warnings = list(ref.warnings) + _instrument_mismatch(pattern, inst)
    # Weight fractions: Hill–Howard from the native scales, or the engine's own (GSAS-II).
    cov_s = None
    if ref.scales and ref.scale_covariance is not None and ref.engine == "native":
        scales = np.array([ref.scales[n][0] for n in ref.phase_names])
        cov_s = np.asarray(ref.scale_covariance, dtype=float)
        if berar_lelann:
            cov_s = cov_s * berar_lelann_factor(ref.serial_correlation) ** 2
        zmv = np.array([ref.phase_info[n]["cell_mass"] * ref.phase_info[n]["volume"] for n in ref.phase_names])
        tau = np.ones(len(ref.phase_names))
        if brindley:
            w, cov_w, tau = brindley_correction(scales, ref.phase_info, ref.phase_names, dict(brindley), cov_s)
        else:
            w, cov_w = hill_howard(scales, zmv, cov_s)
        ref.weight_fractions = dict(zip(ref.phase_names, map(float, w)))
        ref.weight_fraction_covariance = cov_w
    else:
        w = np.array([ref.weight_fractions[n] for n in ref.phase_names])
        # Hill–Howard scales that give the engine's fractions: what the uncertainty ensemble varies
        scales = w / np.array([ref.phase_info[n]["cell_mass"] * ref.phase_info[n]["volume"] for n in ref.phase_names])
        cov_w = np.asarray(ref.weight_fraction_covariance, dtype=float)
        if berar_lelann:
            cov_w = cov_w * berar_lelann_factor(ref.serial_correlation) ** 2
        tau = np.ones(len(w))
        if brindley:
            info = ref.phase_info
            # undo nothing: apply τ to the engine's fractions, renormalised
            _, _, tau = brindley_correction(w / np.array([info[n]["cell_mass"] * info[n]["volume"] for n in ref.phase_names]),
                                            info, ref.phase_names, dict(brindley), None)
            w_t = w / tau
            jac = (np.eye(len(w)) - (w_t / w_t.sum())[:, None]) / tau[None, :] / w_t.sum()
            w, cov_w = w_t / w_t.sum(), jac @ cov_w @ jac.T

    esd_w = np.sqrt(np.clip(np.diag(cov_w), 0.0, None))
    refined = {n: (float(w[i]), float(esd_w[i])) for i, n in enumerate(ref.phase_names)}
    for i, n in enumerate(ref.phase_names):
        if w[i] < 0:
            warnings.append(f"{n} refined to a negative weight fraction ({100 * w[i]:.2f} %): reported, not clipped")

    standard_info = None
    amorphous = None
    sample_fractions, mixture_fractions = {}, {}
    est = Estimates()
    crystalline = [n for n in ref.phase_names if n not in amorphous_names]
    standard_failed = None
    if std is not None:
        standard_info = {"phase": std[0], "weighed_fraction": std[1], "purity": float(purity), "source": source,
                         "refined_fraction": refined[std[0]][0], "refined_fraction_esd": refined[std[0]][1]}
        # the calibrated amorphous phases are not crystalline: the spike's estimate ignores them
        w_c, cov_c = (w, cov_w) if not amorphous_names else subset_fractions(
            w, cov_w, [ref.phase_names.index(n) for n in crystalline])
        try:
            res = internal_standard(crystalline, w_c, cov_c, std[0], std[1], purity, standard_esd, purity_esd)
        except XrdqQuantError as exc:  # the standard is not in the pattern: a result with verdict "fail"
            standard_failed = str(exc)
        else:
            warnings += res.warnings
            amorphous = (res.amorphous_fraction, res.amorphous_fraction_esd)
            est.estimates["internal_standard"] = amorphous
            sample_fractions = res.sample_fractions
            mixture_fractions = res.mixture_fractions
    external_info, ext = None, None
    if calibration is not None or amorphous_names:
        names = list(ref.phase_names)
        zmv_all = np.array([ref.phase_info[n]["cell_mass"] * ref.phase_info[n]["volume"] for n in names])
        s_all = np.array([ref.scales[n][0] for n in names]) if ref.scales else None
        std_phase = next((p for p in phase_objs if std is not None and p.name == std[0]), None)
    if calibration is not None:
        fr, amorph_ext, external_info, ext = external_route(
            ref, names, s_all, cov_s, zmv_all, crystalline, calibration, sample_composition, inst, pattern,
            std_phase, std[1] if std else 0.0, purity)
        est.estimates["external_standard"] = amorph_ext
        warnings += external_info.pop("warnings")
        if amorphous is None:
            sample_fractions, amorphous = fr, amorph_ext
    if amorphous_names:
        v, e, ponkcs_basis = ponkcs_route(names, amorphous_names, w, cov_w, s_all, cov_s, zmv_all,
                                          std[0] if std and not standard_failed else None, purity, ext,
                                          std[1] if std else 0.0,
                                          {p.name: p.zmv_esd / p.zmv for p in phase_objs if p.name in amorphous_names})
        est.estimates["ponkcs"] = (v, e)
        warnings += ponkcs_background_warnings(phase_objs, rec.background_terms)
        if amorphous is None:
            amorphous = (v, e)
            sample_fractions = {n: refined[n] for n in crystalline}
    warnings += est.finish().warnings
    if not ref.converged and not any("converge" in w_ for w_ in warnings):
        warnings.append("the refinement did not converge")
    u_model, variants = _model_uncertainty(ref, scales, brindley, std if amorphous else None, purity, model_uncertainty)

    provenance = {
        "file": str(path) if path else None,
        "sha256": sha,
        "xrdq_version": __version__,
        "engine": ref.engine,
        "engine_version": ref.engine_version,
        "instrument": inst.to_dict(),
        "phases": [{"name": p.name, "source": p.source, "sha256": _sha256(p.source) if p.source and Path(p.source).exists() else None}
                   for p in phase_objs],
        "recipe": ref.recipe or rec.describe(),
        "standard": standard_info and {k: standard_info[k] for k in ("phase", "weighed_fraction", "purity", "source")},
        "standard_esd": standard_esd,
        "purity_esd": purity_esd,
        "brindley_particle_size_um": dict(brindley) if brindley else None,
        "ponkcs_basis": ponkcs_basis if amorphous_names else None,
        "berar_lelann": bool(berar_lelann),
        "two_theta_range": list(two_theta_range) if two_theta_range else None,
        "external_standard": external_info and {k: external_info[k] for k in (
            "calibration_file", "calibration_sha256", "G", "G_esd", "sample_composition", "count_normalisation")},
        "model_uncertainty": {"level": model_uncertainty, "variants": variants},
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    result = QuantResult(
        file=str(path) if path else None,
        sha256=sha,
        engine=ref.engine,
        refinement=ref,
        refined_fractions=refined,
        refined_covariance=cov_w,
        standard=standard_info,
        amorphous_fraction=amorphous,
        sample_fractions=sample_fractions,
        mixture_fractions=mixture_fractions,
        warnings=warnings,
        provenance=provenance,
        pattern=pattern,
        brindley_tau={n: float(t) for n, t in zip(ref.phase_names, tau)},
        model_uncertainty=u_model,
        amorphous_estimates=est.estimates,
        amorphous_consistency=est.consistency,
        external_standard=external_info,
    )
    from .verdict import assess

    assess(result, inst, sample_phases=[n for n in names if not std or n != std[0]], brindley=brindley,
           standard_error=standard_failed)
    if est.disagree:
        result.flag("check", est.reason)
    result.elapsed_s = time.perf_counter() - t0
    return result


def _model_uncertainty(ref, scales, brindley, std, purity, level):
    """u_model per quantity (:mod:`xrdq.quant.uncertainty`), 0 where it could not be estimated."""
    from .uncertainty import model_uncertainty

    if not np.all(np.isfinite(scales)):
        return {}, []
    return model_uncertainty(ref, scales, brindley=brindley, standard=std, purity=purity, level=level)


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
