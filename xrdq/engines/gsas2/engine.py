"""The GSAS-II engine's entry points: refine one pattern (:func:`refine_gsas2`) or export a project
for the GSAS-II GUI (:func:`export_gpx`).

Every call works in its own private directory (``tempfile.mkdtemp``): GSAS-II rewrites the
``.gpx`` and ``.lst`` beside the project on every refinement, so parallel jobs must never share one.
Nothing here relies on the current working directory; the pattern is always handed over as a
``.xye`` (GSAS-II's ``.rasx`` importer unpacks into the cwd). Order of the pieces: :mod:`.recipe` →
:mod:`.project` (inputs) → :mod:`.strategy` (steps) → :mod:`.readback` (results), with :mod:`.fcj`
swapped into GSAS-II for the duration.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from ...io import pattern_arrays
from ._loader import G2_LOCK, gsas2_version, import_gsas2
from .fcj import fcj_quadrature
from .project import build_project, normalise_phases, private_workdir, quiet
from .readback import components_from_partials, floored_fractions, hump_curve, phase_partials, read_back
from .recipe import GsasRecipe
from .strategy import run_recipe, set_flags


class Gsas2Engine:
    """The GSAS-II engine behind xrdq's engine contract (:mod:`xrdq.refine.engines`). Amorphous humps
    become GSAS-II background peaks; GSAS-II's own recipes ("exact-fcj", a dict of steps) go through; a native
    adaptive Recipe (the default) lets the data decide the terms: a native refinement runs first (≈ 1 % of
    GSAS-II's time) and GSAS-II then refines the terms its significance tests accepted (:func:`mirror_recipe`);
    any other native Recipe maps to the default steps (with March–Dollase when it names a texture axis)."""

    name = "gsas2"
    profile_only_phases = False

    def refine(self, pattern, phases, instrument, recipe, *, two_theta_range=None, start=None, humps=()):
        g2_recipe, decided, decides = self.recipe_for(recipe), None, self.decides_terms(recipe)
        if decides:
            g2_recipe, decided = self.decided_recipe(pattern, phases, instrument, recipe, two_theta_range, start)
        result = refine_gsas2(pattern, [(p.name, p.source) for p in phases], instrument, recipe=g2_recipe,
                              two_theta_range=two_theta_range, humps=tuple(humps or ()))
        if decided is not None:
            result.decisions = decided.decisions
            # for the model uncertainty (xrdq.quant.uncertainty): xrdq can re-solve the native refinement, not GSAS-II's
            result.decided_by = decided
            result.recipe = [f"terms decided by the native engine's significance tests (xrdq.refine.adaptive, "
                             f"GoF {decided.gof:.2f}), then refined by GSAS-II"] + list(result.recipe)
            from .mirror import unmirrored_terms

            missing = unmirrored_terms(decided)
            if missing:  # GSAS-II's fractions then lack a correction the data asked for: said, so the verdict checks
                result.warnings = list(result.warnings) + [
                    f"the native refinement found {', '.join(missing)} warranted, which the GSAS-II recipe does not "
                    "model: GSAS-II's fractions are not corrected for it (the native engine's are)"]
        elif decides:
            result.warnings = list(result.warnings) + [
                "the native refinement that decides which terms the data warrant failed, so GSAS-II ran its fixed "
                "default steps: no texture, tanθ Lorentzian or microstrain was tested"]
        return result

    def decides_terms(self, recipe) -> bool:
        """Whether the data decide the terms: a native Recipe that is adaptive (the default one is)."""
        return not self.own_recipe(recipe) and bool(getattr(recipe, "adaptive", False))

    def decided_recipe(self, pattern, phases, instrument, recipe, two_theta_range, start):
        """(GSAS-II recipe, native result): GSAS-II's fixed default steps never test texture, a tanθ Lorentzian or
        microstrain — a textured brucite came out 3.3 wt% low with GoF 2.8 where the native engine, testing them,
        was within 0.3. The terms are decided where the tests are cheap; GSAS-II refines the same model with its
        own code. If the native refinement fails, (the default steps, None)."""
        from ...errors import XrdqError
        from ...refine.engines import NativeEngine
        from .mirror import mirror_recipe

        try:
            native = NativeEngine().refine(pattern, phases, instrument, recipe, two_theta_range=two_theta_range,
                                           start=start)
        except (XrdqError, ValueError, np.linalg.LinAlgError):
            return self.recipe_for(recipe), None
        return mirror_recipe(native), native

    def own_recipe(self, recipe) -> bool:
        """Its own: a GsasRecipe (e.g. from mirror_recipe), a dict or list of steps, or a recipe name."""
        return (isinstance(recipe, (GsasRecipe, dict, list, tuple))
                or (isinstance(recipe, str) and not Path(recipe).is_file()))

    def recipe_for(self, recipe):
        """GSAS-II's recipe for ``recipe``: its own as is, a native Recipe as the default steps (+ texture)."""
        if self.own_recipe(recipe):
            return recipe
        textured = any(v is not None for v in (getattr(recipe, "po", None) or {}).values())
        return "default+po" if textured else "default"


def refine_gsas2(pattern, phases, instrument, *, recipe=None, two_theta_range=None, workdir=None, humps=()):
    """Rietveld-refine ``pattern`` with GSAS-II and return an :class:`xrdq.refine.RefinementResult`.

    ``pattern``: Pattern DataArray (dim ``two_theta``, coord ``esd``) or :class:`~xrdq.io.Scan`,
    attenuator-corrected intensities.
    ``phases``: list of ``(name, cif_path)``. ``instrument``: :class:`xrdq.model.instrument.Instrument`
    (or a name/path for :func:`~xrdq.model.instrument.load_instrument`).
    ``recipe``: None/'default', 'default+po', a list of step dicts or a dict (see :class:`GsasRecipe`).
    ``two_theta_range``: (min, max) degrees to refine. ``humps``: (centre °2θ, FWHM °) start values of
    amorphous humps (e.g. from :func:`xrdq.refine.start.auto_humps`), each modelled as a GSAS-II
    background peak whose area, position and widths are refined with the background; their sum is
    returned as ``components["amorphous"]`` and is not part of ``background``.
    ``workdir``: if given, the GSAS-II project
    (``xrdq.gpx``, ``.lst``, inputs, ``gsas2.log``) is kept in a new private sub-directory of it;
    otherwise it is built in a private temporary directory that is removed afterwards.

    Raises :class:`~xrdq.errors.XrdqEngineUnavailable` without GSAS-II and
    :class:`~xrdq.errors.XrdqRefineError` when GSAS-II fails.
    """
    from ...refine.result import RefinementResult

    t0 = time.perf_counter()
    import_gsas2()  # fail early and clearly
    instrument = coerce_instrument(instrument)
    recipe = GsasRecipe.coerce(recipe)
    phase_cifs = normalise_phases(phases)
    warnings: list = []
    with private_workdir(workdir, "xrdq-gsas2-") as (tmp, log), G2_LOCK, fcj_quadrature(recipe.fcj,
                                                                                       recipe.refines_shl()):
        fields, components = _refine_in(tmp, pattern, phase_cifs, instrument, recipe, two_theta_range, log,
                                        warnings, humps)
    fields.update(
        engine="gsas2",
        engine_version=gsas2_version(),
        components=components,
        warnings=list(dict.fromkeys(warnings)),
        elapsed_s=time.perf_counter() - t0,
        nfev=log.getvalue().count("Cycle "),  # GSAS-II least-squares cycles over all steps
        recipe=recipe.describe(humps),
    )
    allowed = {f.name for f in dataclasses.fields(RefinementResult)}
    result = RefinementResult(**{k: v for k, v in fields.items() if k in allowed})
    # where the GSAS-II project was kept (None when it was a removed temporary directory)
    result.gsas2_project = str(tmp / "xrdq.gpx") if workdir is not None else None
    return result


def _refine_in(tmp, pattern, phase_cifs, instrument, recipe, two_theta_range, log, warnings, humps=()):
    lam_file = pattern.attrs.get("wavelength_alpha1")
    if isinstance(lam_file, (int, float)) and abs(float(lam_file) - instrument.wavelength) > 1e-3:
        warnings.append(f"pattern Kα1 wavelength {float(lam_file):.5f} Å differs from the instrument's "
                        f"{instrument.wavelength:.5f} Å; GSAS-II used the instrument's")
    p = build_project(pattern, phase_cifs, instrument, tmp, two_theta_range=two_theta_range,
                      background_terms=recipe.background_terms, humps=humps,
                      size_start_um=recipe.size_fixed_um, size_lg_mix=recipe.size_lg_mix,
                      size_limits_um=recipe.size_limits_um)
    warnings.extend(p.notes or ())
    rvals = run_recipe(p, recipe, log, warnings)
    fields = read_back(p, rvals, recipe, instrument, phase_cifs, warnings)
    amorphous = hump_curve(p, fields["two_theta"])
    if amorphous is not None:
        fields["background"] = fields["background"] - amorphous
    # report the esds GSAS-II was given (it keeps weights, 0 for y ≤ 0)
    tt, _, esd = pattern_arrays(pattern)
    fields["esd"] = np.interp(fields["two_theta"], np.asarray(tt, float), np.asarray(esd, float))
    floored_fractions(p, fields, log, warnings, recipe.background_terms, amorphous)
    components = {}
    if recipe.phase_curves:
        try:
            got = phase_partials(p, log)
        except Exception as exc:
            got = None
            warnings.append(f"GSAS-II phase partials failed: {exc}")
        comp = components_from_partials(got, fields, p, amorphous)
        if comp is None:
            warnings.append("per-phase curves unavailable from GSAS-II")
        else:
            components = comp
    if amorphous is not None:
        components["amorphous"] = amorphous
    return fields, components


def coerce_instrument(instrument):
    if hasattr(instrument, "to_instprm"):
        return instrument
    from ...model.instrument import load_instrument

    return load_instrument(instrument)


def export_gpx(pattern, phases, instrument, out_path, *, start_values=None, two_theta_range=None,
               background_terms=10):
    """Write a GSAS-II project (.gpx) for ``pattern`` + ``phases`` + ``instrument`` that opens in the
    GSAS-II GUI, ready to refine (nothing refined yet).

    ``start_values``: optional dict with ``phase_fractions`` ({name: f}), ``cells``
    ({name: {"a": ..}}), ``displacement_um``, ``zero``, ``profile`` (GSAS-II units, e.g. {"U": 2.0}),
    ``background`` (Chebyshev coefficients). The .gpx is built in a private temporary directory and
    moved into place with ``os.replace`` (atomic); the CIF, .xye and .instprm used are not kept.
    """
    import_gsas2()
    instrument = coerce_instrument(instrument)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".xrdq-gpx-", dir=str(out_path.parent)))
    try:
        with G2_LOCK:
            p = build_project(pattern, phases, instrument, tmp, two_theta_range=two_theta_range,
                              background_terms=background_terms, gpx_name=out_path.name,
                              start_values=start_values)
            # refinement flags a user would start from: background + phase fractions
            set_flags(p, {"background": True, "fractions": True}, GsasRecipe())
            p.proj.data["Controls"]["data"]["LastSavedAs"] = str(out_path.resolve())
            with quiet():
                p.proj.save()
        os.replace(tmp / out_path.name, out_path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_path
