"""The steps of :func:`xrdq.quantify`, in the order it runs them; the batch worker calls the same ones.

phase list with the standard → start values (amorphous humps) → recipe → engine → weight fractions →
internal standard / external standard / PONKCS → provenance. Each step takes what the one before gave
and returns new objects: nothing here mutates a RefinementResult.
"""

from __future__ import annotations

import copy
import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._digest import file_sha256
from .._version import __version__
from ..errors import XrdqQuantError
from ..refine.specs import LIGHT_ELEMENTS
from .estimates import (Estimates, by_construction, external_estimate, external_route, internal_estimate,
                        ponkcs_background_warnings, ponkcs_estimate, ponkcs_route, subset_fractions)
from .internal_standard import berar_lelann_factor, internal_standard
from .weight_fractions import brindley_correction, hill_howard, mass_factors

#: GSAS-II recipe names a user may mistake for native ones (they need engine="gsas2").
_GSAS2_RECIPE_NAMES = ("exact-fcj", "exact-fcj+po", "default+po")


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


# ---- 1. phase list with the standard --------------------------------------------------------------
def phase_list(phases, std, engine=None, brindley=None):
    """Phase objects of ``phases`` with the standard added when not listed, and the standard renamed to
    its phase's name: ``(phase_objects, std)``. ``engine``: an Engine, checked to take every phase."""
    from ..crystal.spec import resolve_phase
    from ..model.ponkcs import resolve_any_phase

    objs = [resolve_any_phase(p) for p in phases]
    if std is not None:
        # the standard may be given as a name, a CIF or NAME=CIF; its phase name is what counts
        listed = {p.name for p in objs}
        if std[0] not in listed:
            std_phase = resolve_phase(std[0])
            if std_phase.name not in listed:
                objs.append(std_phase)
            std = (std_phase.name, std[1])
    if not objs:
        raise XrdqQuantError("no phases and no standard given: pass at least one phase, or a standard "
                             "(alone it quantifies a fully amorphous sample)")
    profile_only = [p.name for p in objs if getattr(p, "profile_only", False)]
    if profile_only and engine is not None and not engine.profile_only_phases:
        raise XrdqQuantError(f"PONKCS phases {profile_only} need the native engine (engine='native')")
    if profile_only and brindley:
        raise XrdqQuantError(f"Brindley's correction needs every phase's density; PONKCS phases {profile_only} have none")
    names = [p.name for p in objs]
    if len(set(names)) != len(names):
        raise XrdqQuantError(f"phase names must be unique, got {names} (rename with NAME=CIF)")
    return objs, std


#: What a CIF's own structure quality (:attr:`xrdq.crystal.phase.Phase.structure_quality`) means for the numbers.
_QUALITY_NOTES = {
    "approximate": "an approximate model (its CIF says so: idealised or constructed coordinates, not a refinement) — "
                   "its calculated intensities, and the fractions that rest on them, may be off by several per cent of "
                   "themselves; u holds what the data show of it (its lines disagreeing with the model, docs/method.md §6)",
    "noisy": "published cell, but its free coordinates are noisy starting values (its CIF says so: σ 0.01 in "
             "fractional units) — what that noise does to its intensities, a few per cent, is in u",
}


#: What refining an approximate or noisy structure's coordinates leaves to the other parts of its model.
_REFINED_NOTE = ("its CIF calls its coordinates {quality}, and {what} refined (docs/method.md §2){held}; its B and any "
                 "other occupancy were not: a structure that differs in those still moves its fraction, and u holds "
                 "what the data show of it (its lines disagreeing with the model)")


def auto_coordinates(coordinates, phase_objs, recipe=None) -> tuple[tuple, tuple]:
    """(phases whose atomic coordinates are refined, phases whose coordinates the adaptive recipe tests).
    ``"auto"`` (the default): with the default recipe, every phase whose CIF says its
    coordinates are approximate or noisy (``_xrdq_structure_quality``) is a candidate — refined where the data warrant
    it (an F-test, as every adaptive term), as a crystallographer refines a model's coordinates before trusting its
    intensities, and left as the CIF has it where they do not (a trace phase); none with a recipe of the user's own.
    With GSAS-II the native refinement that decides its terms tests them, and GSAS-II refines what it accepted
    (:func:`xrdq.engines.gsas2.mirror.mirror_recipe`). Otherwise the phases named are refined (None or (): none)."""
    if isinstance(coordinates, str) and coordinates == "auto":
        if recipe is not None:
            return (), ()
        return (), tuple(p.name for p in phase_objs if getattr(p, "structure_quality", "") in ("approximate", "noisy")
                         and not getattr(p, "profile_only", False))
    if isinstance(coordinates, str):
        return (coordinates,), ()
    return tuple(coordinates or ()), ()


def structure_notes(phase_objs, refined: dict | None = None, tested=(), occupancies: dict | None = None) -> list[str]:
    """What each phase's structure model rests on, said with the result: a structure its CIF calls approximate or noisy
    (the bundled seed-chemistry halides whose refined coordinates were not available) and whether its coordinates
    were refined (``refined``: phase name → the parameter names of its refined coordinates; ``occupancies``: phase
    name → the (site, site) label pairs whose share was refined) or tested and found not warranted (``tested``: phase
    names), and what reading the CIF assumed (B where none was given, an origin choice, a space group from its
    number; cell contents that disagree with Z × formula). A fraction is only as good as its phase's calculated
    intensities and mass."""
    out = []
    refined, occupancies = refined or {}, occupancies or {}
    for p in phase_objs:
        quality = getattr(p, "structure_quality", "")
        if quality in _QUALITY_NOTES and (refined.get(p.name) or occupancies.get(p.name)):
            light = sorted({s.element for s in p.sites} & set(LIGHT_ELEMENTS))
            held = f", {' and '.join(light)} held (too light for X-rays to place)" if light else ""
            what = []
            if refined.get(p.name):
                what.append(f"the {len(refined[p.name])} coordinates its sites' symmetry leaves free")
            elements = {s.label: s.element for s in p.sites}
            for first, second in occupancies.get(p.name, ()):
                what.append(f"the share of {elements.get(first, '?')} between {first} and {second} (its number per "
                            "cell held)")
            out.append(f"structure of {p.name}: " + _REFINED_NOTE.format(
                quality=quality, what=" and ".join(what) + (" were" if len(what) > 1 or refined.get(p.name) else " was"),
                held=held))
        elif quality in _QUALITY_NOTES:
            tried = ("; refining its coordinates and site occupancies was tested, and the data did not warrant it"
                     if p.name in tested else "")
            out.append(f"structure of {p.name}: {_QUALITY_NOTES[quality]}{tried}; for quantitative work give a CIF "
                       f"of a structure refined for your phase (--phase {p.name}=FILE.cif)")
        out += [f"structure of {p.name} ({p.source}): {note}" for note in getattr(p, "notes", ())]
    return out


def amorphous_phases(phase_objs) -> list:
    """Names of the calibrated amorphous (PONKCS) phases."""
    return [p.name for p in phase_objs if getattr(p, "kind", None) == "amorphous"]


# ---- 2. start values -----------------------------------------------------------------------------
def start_humps(pattern, phase_objs, instrument, two_theta_range, humps="auto") -> list:
    """Amorphous halo start values (centre, FWHM): ``humps`` itself when a list, else found by a quick
    scales-only fit (:func:`xrdq.refine.start.auto_humps`); none beside a calibrated amorphous phase."""
    if amorphous_phases(phase_objs) and humps == "auto":
        return []  # the calibrated amorphous phase is the halo
    if not isinstance(humps, str):
        return list(humps or ())
    if humps != "auto":
        raise XrdqQuantError(f"humps must be 'auto', a list of (centre, FWHM) or [], got {humps!r}")
    from ..io import pattern_arrays
    from ..refine.fit import Refinement
    from ..refine.start import auto_humps

    tt, y, esd = pattern_arrays(pattern)
    # both engines model the same halo: GSAS-II as a background peak, native as a hump column
    return auto_humps(lambda rec: Refinement(tt, y, esd, phase_objs, instrument, recipe=rec,
                                             two_theta_range=two_theta_range))


# ---- 3. recipe -------------------------------------------------------------------------------------
def engine_recipe(engine, recipe=None, *, humps=(), preferred_orientation=None, background_terms=8,
                  strain=False, biso=False, texture=True, uniaxial_size=None, coordinates=(),
                  coordinate_candidates=()):
    """(native Recipe, what the engine is given): the engine's own recipe vocabulary goes through as is
    (GSAS-II's "exact-fcj", a dict of steps), otherwise the native Recipe (default, TOML file or object)."""
    from ..refine import default_recipe, load_recipe

    own = engine.own_recipe(recipe)
    if recipe is None or own:
        rec = default_recipe(preferred_orientation=preferred_orientation, humps=tuple(humps or ()),
                             background_terms=background_terms, strain=strain, biso=biso, texture=texture,
                             uniaxial_size=uniaxial_size, coordinates=tuple(coordinates or ()),
                             coordinate_candidates=tuple(coordinate_candidates or ()))
    elif isinstance(recipe, (str, Path)):
        if not Path(recipe).is_file() and str(recipe).strip().lower() in _GSAS2_RECIPE_NAMES:
            raise XrdqQuantError(f"recipe {str(recipe)!r} is a GSAS-II recipe: use it with engine='gsas2' "
                                 "(--engine gsas2); the native engine takes a TOML recipe file")
        rec = load_recipe(recipe)
    else:
        rec = recipe
    if preferred_orientation and not rec.po:
        import dataclasses

        rec = dataclasses.replace(rec, po=dict(preferred_orientation))
    if uniaxial_size and not rec.size_axes:
        import dataclasses

        rec = dataclasses.replace(rec, size_axes={k: tuple(v) for k, v in uniaxial_size.items()})
    if coordinates and not rec.coordinates:  # a recipe file or object without them: refined in a stage of their own
        import dataclasses

        from ..refine.recipe import Stage

        rec = dataclasses.replace(rec, coordinates=tuple(coordinates),
                                  stages=rec.stages + (Stage("coordinates", rec.stages[-1].refine + ("xyz",)),))
    if coordinates and own:
        raise XrdqQuantError("refined atomic coordinates (coordinates, --refine-coordinates) reach GSAS-II through the "
                             "native refinement that decides its terms, which a GSAS-II recipe of your own replaces: "
                             "put a 'structure' step in that recipe instead (xrdq.engines.gsas2.GsasRecipe)")
    if rec.size_axes and getattr(engine, "name", "native") != "native":
        raise XrdqQuantError("a forced uniaxial crystallite size (uniaxial_size, --uniaxial-size) is refined by the "
                             "native engine only; the GSAS-II engine takes one from a native fit's recipe "
                             "(xrdq.engines.gsas2.mirror_recipe, as compare_engines does)")
    return rec, (recipe if own else rec)


# ---- 4. weight fractions ---------------------------------------------------------------------------
@dataclass
class Fractions:
    """Crystalline-normalised weight fractions ``w`` (order of ``names``) with covariance ``cov_w``; the
    Hill–Howard basis ``scales`` (W ∝ scale × ZMV, what the uncertainty ensemble varies) and their
    covariance ``cov_s``; Brindley's τ per phase."""

    names: list
    w: np.ndarray
    cov_w: np.ndarray
    scales: np.ndarray
    cov_s: np.ndarray | None
    tau: np.ndarray
    warnings: list = field(default_factory=list)

    @property
    def refined(self) -> dict:
        esd = np.sqrt(np.clip(np.diag(self.cov_w), 0.0, None))
        return {n: (float(self.w[i]), float(esd[i])) for i, n in enumerate(self.names)}


def weight_fractions(ref, brindley=None, berar_lelann: bool = False) -> Fractions:
    """Hill–Howard (or Brindley-corrected) fractions from the engine's scales, mass factors and scale
    covariance — one computation for every engine; esds inflated by Bérar–Lelann when asked."""
    names = list(ref.phase_names)
    missing = [n for n in names if n not in ref.scales or n not in ref.mass_factors]
    if missing or ref.scale_covariance is None:
        raise XrdqQuantError(f"the {ref.engine} refinement gives no scale, mass factor or scale covariance for "
                             f"{missing or names}: an engine must return scales, scale_covariance and mass_factors")
    zmv = mass_factors(ref.phase_info, names)
    # in the native convention (W ∝ S × ZMV): GSAS-II's phase fraction f (W ∝ f × M) is f M / ZMV
    to_zmv = np.array([ref.mass_factors[n] for n in names]) / zmv
    scales = np.array([ref.scales[n][0] for n in names]) * to_zmv
    cov_s = np.asarray(ref.scale_covariance, dtype=float) * np.outer(to_zmv, to_zmv)
    if berar_lelann:
        cov_s = cov_s * berar_lelann_factor(ref.serial_correlation) ** 2
    if brindley:
        w, cov_w, tau = brindley_correction(scales, ref.phase_info, names, dict(brindley), cov_s)
    else:
        (w, cov_w), tau = hill_howard(scales, zmv, cov_s), np.ones(len(names))
    # a negative fraction is reported, not clipped; the verdict says whether it is noise (within 2 u of zero) or
    # a fault (xrdq.quant.verdict.check_fractions), so it is not also announced here
    return Fractions(names, w, cov_w, scales, cov_s, tau)


def with_fractions(ref, fr: Fractions):
    """A copy of ``ref`` holding the fractions quant computed (the engine's result is left as it was)."""
    out = copy.copy(ref)
    out.weight_fractions = dict(zip(fr.names, map(float, fr.w)))
    out.weight_fraction_covariance = fr.cov_w
    return out


# ---- 5. amorphous content: internal standard, external standard, PONKCS ----------------------------
@dataclass
class Amorphous:
    """What the amorphous routes give: the reported amorphous fraction and sample fractions, each route's
    estimate, the standard's summary and the provenance the routes add."""

    amorphous: tuple | None = None
    sample_fractions: dict = field(default_factory=dict)
    mixture_fractions: dict = field(default_factory=dict)
    estimates: Estimates = field(default_factory=Estimates)
    standard_info: dict | None = None
    standard_failed: str | None = None
    external_info: dict | None = None
    external_route: object = None  # estimates.ExternalRoute: how G gave the fractions (the ensemble re-evaluates it)
    crystalline: list | None = None  # the phases 1 − Σ runs over (not the calibrated amorphous ones)
    ponkcs_basis: object = None
    warnings: list = field(default_factory=list)


def amorphous_content(ref, fr: Fractions, phase_objs, std, purity, standard_esd, purity_esd, source, *,
                      calibration=None, sample_composition=None, instrument=None, pattern=None,
                      background_terms=None) -> Amorphous:
    """The amorphous fraction by every route the inputs allow; the internal standard's is reported when
    it exists, then the external standard's, then PONKCS's (docs/method.md §8)."""
    out = Amorphous()
    names = list(ref.phase_names)
    amorphous_names = amorphous_phases(phase_objs)
    crystalline = [n for n in names if n not in amorphous_names]
    out.crystalline = crystalline
    if std is not None:
        _internal(out, fr, crystalline, amorphous_names, std, purity, standard_esd, purity_esd, source)
    if calibration is not None or amorphous_names:
        _other_routes(out, ref, fr, phase_objs, std, purity, names, amorphous_names, crystalline, calibration,
                      sample_composition, instrument, pattern, background_terms)
    if out.amorphous is not None and by_construction(crystalline, std[0] if std else None):
        out.warnings.append(_by_construction_note(amorphous_names))
        if amorphous_names:
            out.amorphous = out.estimates.estimates["ponkcs"]
    return out


def _other_routes(out: Amorphous, ref, fr: Fractions, phase_objs, std, purity, names, amorphous_names, crystalline,
                  calibration, sample_composition, instrument, pattern, background_terms):
    """The external standard's and PONKCS's estimates, and the reported amorphous fraction when no internal
    standard gave one."""
    zmv = mass_factors(ref.phase_info, names)
    s_all = fr.scales if ref.scales else None
    if calibration is not None:
        std_phase = next((p for p in phase_objs if std is not None and p.name == std[0]), None)
        sample, amorph_ext, out.external_info, ext, out.external_route = external_route(
            ref, names, s_all, fr.cov_s, zmv, crystalline, calibration, sample_composition, instrument, pattern,
            std_phase, std[1] if std else 0.0, purity, tau=fr.tau)
        out.estimates.estimates["external_standard"] = amorph_ext
        out.estimates.routes["external_standard"] = external_estimate(out.external_route)
        out.warnings += out.external_info.pop("warnings")
        if out.amorphous is None:
            out.sample_fractions, out.amorphous = sample, amorph_ext
    else:
        ext = None
    if amorphous_names:
        zmv_rel = {p.name: p.zmv_esd / p.zmv for p in phase_objs if p.name in amorphous_names}
        v, e, out.ponkcs_basis = ponkcs_route(names, amorphous_names, fr.w, fr.cov_w, s_all, fr.cov_s, zmv,
                                              std[0] if std and not out.standard_failed else None, purity, ext,
                                              std[1] if std else 0.0, zmv_rel)
        out.estimates.estimates["ponkcs"] = (v, e)
        out.estimates.routes["ponkcs"] = ponkcs_estimate(out.ponkcs_basis, amorphous_names,
                                                         std[0] if std and not out.standard_failed else None,
                                                         std[1] if std else 0.0, purity, out.external_route)
        out.warnings += ponkcs_background_warnings(phase_objs, background_terms)
        if out.amorphous is None:
            out.amorphous = (v, e)
            refined = fr.refined
            out.sample_fractions = {n: refined[n] for n in crystalline}


def _by_construction_note(amorphous_names) -> str:
    """What an amorphous fraction from 1 − Σ over no declared crystalline sample phase means (estimates.by_construction)."""
    head = "no crystalline phase of the sample is declared: 1 − Σ crystalline is 100 % amorphous by construction"
    if amorphous_names:
        return (f"{head}; the amorphous fraction reported is PONKCS's, the calibrated {', '.join(amorphous_names)}'s own "
                "amount (the 1 − Σ route stays listed as amorphous + unidentified)")
    return (f"{head}, and its esd says nothing about what was not declared — every crystalline phase not declared counts "
            "as amorphous. Peaks no phase explains are flagged, sharp ones and broad ones (a nanocrystalline phase in the "
            "halo); a few per cent of a phase of a few nm are not: declare the phases you suspect (they are measured, or "
            "reported not detected)")


def _internal(out: Amorphous, fr: Fractions, crystalline, amorphous_names, std, purity, standard_esd, purity_esd,
              source):
    refined = fr.refined
    out.standard_info = {"phase": std[0], "weighed_fraction": std[1], "purity": float(purity), "source": source,
                         "refined_fraction": refined[std[0]][0], "refined_fraction_esd": refined[std[0]][1]}
    # the calibrated amorphous phases are not crystalline: the spike's estimate ignores them
    w_c, cov_c = (fr.w, fr.cov_w) if not amorphous_names else subset_fractions(
        fr.w, fr.cov_w, [fr.names.index(n) for n in crystalline])
    try:
        res = internal_standard(crystalline, w_c, cov_c, std[0], std[1], purity, standard_esd, purity_esd)
    except XrdqQuantError as exc:  # the standard is not in the pattern: a result with verdict "fail"
        out.standard_failed = str(exc)
        return
    out.warnings += res.warnings
    out.amorphous = (res.amorphous_fraction, res.amorphous_fraction_esd)
    out.estimates.estimates["internal_standard"] = out.amorphous
    out.estimates.routes["internal_standard"] = internal_estimate(crystalline, std[0], std[1], purity)
    out.sample_fractions = res.sample_fractions
    out.mixture_fractions = res.mixture_fractions


def model_uncertainty(ref, fr: Fractions, brindley, std, purity, level, am: Amorphous | None = None):
    """u_model per quantity (:mod:`xrdq.quant.uncertainty`), none where it could not be estimated. Each variant's
    quantities come by the route the reported ones came (``am``): the internal standard over the crystalline
    phases, or, without one, the external standard's G."""
    from .uncertainty import model_uncertainty as ensemble

    if not np.all(np.isfinite(fr.scales)):
        return {}, []
    external = am.external_route if am is not None and std is None else None
    crystalline = am.crystalline if am is not None else None
    ext = am.external_info if am is not None else None
    # G from one specimen: how far it holds for this one is assumed, not measured (a model term, not an esd)
    g_transfer = ext["G_transfer"]["rel_sd"] if ext and not ext["G_transfer"]["measured"] else None
    return ensemble(ref, fr.scales, brindley=brindley, standard=std, purity=purity, level=level, external=external,
                    crystalline=crystalline, estimates=am.estimates if am is not None else None, g_transfer=g_transfer,
                    g_table_ratio=ext.get("anomalous_table_ratio") if ext else None)


# ---- 6. provenance ----------------------------------------------------------------------------------
def provenance(path, sha, ref, rec, instrument, phase_objs, am: Amorphous, *, standard_esd, purity_esd, brindley,
               berar_lelann, two_theta_range, model_uncertainty, variants) -> dict:
    """What made the numbers: input and CIF sha256, xrdq and engine versions, instrument, recipe, options."""
    ext = am.external_info
    return {
        "file": str(path) if path else None,
        "sha256": sha,
        "xrdq_version": __version__,
        "engine": ref.engine,
        "engine_version": ref.engine_version,
        "instrument": instrument.to_dict(),
        "phases": [{"name": p.name, "source": p.source, "sha256": file_sha256(p.source) if p.source else None,
                    "structure_quality": getattr(p, "structure_quality", "") or None,
                    "cif_notes": list(getattr(p, "notes", ()))} for p in phase_objs],
        "recipe": ref.recipe or rec.describe(),
        "standard": am.standard_info and {k: am.standard_info[k] for k in ("phase", "weighed_fraction", "purity",
                                                                            "source")},
        "standard_esd": standard_esd,
        "purity_esd": purity_esd,
        "brindley_particle_size_um": dict(brindley) if brindley else None,
        "ponkcs_basis": am.ponkcs_basis,
        "berar_lelann": bool(berar_lelann),
        "two_theta_range": list(two_theta_range) if two_theta_range else None,
        "external_standard": ext and {k: ext[k] for k in ("calibration_file", "calibration_sha256", "G", "G_esd",
                                                          "specimens", "G_specimen_sd", "G_transfer",
                                                          "sample_composition", "count_normalisation")},
        "model_uncertainty": {"level": model_uncertainty, "variants": variants},
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


# ---- 7. the result ----------------------------------------------------------------------------------
def quant_result(path, sha, ref, fr: Fractions, am: Amorphous, scan, u_model, prov, warnings=(), dataarray=None):
    """The QuantResult of these steps; ``warnings`` (the caller's own) go after the refinement's. ``scan``: the
    input pattern as a Scan; ``dataarray``: the DataArray the caller gave, if any, kept as ``result.pattern``."""
    from .result import QuantResult

    warnings = list(ref.warnings) + list(warnings) + fr.warnings + am.warnings
    warnings += am.estimates.finish().warnings
    if not ref.converged and not any("converge" in w for w in warnings):
        warnings.append("the refinement did not converge")
    result = QuantResult(
        file=str(path) if path else None, sha256=sha, engine=ref.engine, refinement=ref,
        refined_fractions=fr.refined, refined_covariance=fr.cov_w, standard=am.standard_info,
        amorphous_fraction=am.amorphous, sample_fractions=am.sample_fractions,
        mixture_fractions=am.mixture_fractions, warnings=warnings, provenance=prov, scan=scan,
        brindley_tau={n: float(t) for n, t in zip(ref.phase_names, fr.tau)}, model_uncertainty=u_model,
        amorphous_estimates=am.estimates.estimates, amorphous_consistency=am.estimates.consistency,
        external_standard=am.external_info,
    )
    if dataarray is not None:
        result.pattern = dataarray
    return result
