"""GSAS-II's own sequential refinement over a series of patterns (one project, all histograms).

The first pattern is refined alone with the normal recipe (:func:`~.strategy.run_recipe`). The other
patterns are then added as histograms of the same project and GSAS-II's sequential refinement runs
over all of them in order ('Seq Data' = histogram names, 'Copy2Next': each fit starts from the
refined values of the one before), refining background (with the amorphous humps), phase fractions,
sample displacement, Dij (GSAS-II refuses cell refinement in sequential mode) and crystallite sizes.
Each histogram's phase fractions and their covariance come from the 'Sequential results' entry and
become weight fractions exactly as in :func:`~.readback.read_back`.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import time

import numpy as np

from ...errors import XrdqRefineError
from ...io import pattern_arrays
from ._loader import G2_LOCK, gsas2_version, import_gsas2
from .fcj import fcj_quadrature
from .engine import coerce_instrument
from .project import Project, build_project, normalise_phases, private_workdir, setup_histogram, write_xye
from .readback import (components_from_partials, correlation, fit_statistics, fractions, histogram_curves,
                       hump_curve, param_labels, phase_info_from_project, refined_parameters, run_partials,
                       scale_block)
from .names import phase_parameter
from .recipe import PROFILE_TERMS, GsasRecipe
from .strategy import run_recipe


def _per_pattern_humps(humps, n):
    """``humps``: one list of (centre, FWHM) for every pattern, or one such list per pattern."""
    humps = list(humps or ())
    if humps and len(humps) == n and all(isinstance(h, (list, tuple)) and (len(h) == 0 or isinstance(h[0], (list, tuple)))
                                         for h in humps):
        return [list(h) for h in humps]
    return [humps] * n


def refine_gsas2_sequential(patterns, phases, instrument, *, recipe=None, two_theta_range=None, humps=(),
                            workdir=None) -> list:
    """GSAS-II sequential refinement of ``patterns`` (in order); one :class:`xrdq.refine.RefinementResult` each.

    ``patterns``: DataArrays or Scans as for :func:`~xrdq.engines.gsas2.refine_gsas2`. ``recipe``: the recipe of
    the first pattern's normal refinement (see :class:`~.recipe.GsasRecipe`). ``humps``: (centre, FWHM) start
    values of amorphous humps, the same for every pattern, or one list per pattern. ``workdir``: keep the
    project (``xrdq-seq.gpx``, ``.lst``, ``gsas2.log``) in a new private sub-directory of it.

    ``calculated`` and ``background`` are GSAS-II's curves of each histogram after the sequential pass
    (background without the humps); ``components`` holds one curve per phase (from a zero-cycle
    "phase partials" run over all histograms, when ``recipe.phase_curves``) and ``"amorphous"``
    (the humps). ``elapsed_s`` is the series' time shared out equally.
    """
    from ...refine.result import RefinementResult

    t0 = time.perf_counter()
    patterns = list(patterns)
    if not patterns:
        return []
    import_gsas2()
    instrument = coerce_instrument(instrument)
    recipe = GsasRecipe.coerce(recipe)
    phase_cifs = normalise_phases(phases)
    hump_lists = _per_pattern_humps(humps, len(patterns))
    warnings: list = []
    with private_workdir(workdir, "xrdq-gsas2-seq-") as (tmp, log), G2_LOCK, fcj_quadrature(
            recipe.fcj, recipe.refines_shl()):
        out = _sequential_in(tmp, patterns, phase_cifs, instrument, recipe, two_theta_range, hump_lists, log,
                             warnings)
    allowed = {f.name for f in dataclasses.fields(RefinementResult)}
    elapsed = time.perf_counter() - t0
    results = []
    for fields in out:
        fields.update(engine="gsas2", engine_version=gsas2_version(), elapsed_s=elapsed / len(out),
                      warnings=list(dict.fromkeys(warnings + fields.pop("own_warnings", []))))
        r = RefinementResult(**{k: v for k, v in fields.items() if k in allowed})
        r.gsas2_project = str(tmp / "xrdq-seq.gpx") if workdir is not None else None
        results.append(r)
    return results


def _add_histogram(p: Project, pattern, k, instrument, two_theta_range, humps, recipe):
    """Add ``pattern`` as histogram ``k`` with the phases, set up like :func:`build_project` does."""
    xye = p.workdir / f"pattern{k}.xye"
    write_xye(pattern, xye, two_theta_range)
    inst = p.workdir / "instrument.instprm"
    proj = p.proj
    hist = proj.add_powder_histogram(str(xye), str(inst), fmthint="xye", phases=[ph for _, ph in p.phases])
    _setup_histogram(p, hist, instrument, humps, recipe)
    return hist


def _setup_histogram(p: Project, hist, instrument, humps, recipe):
    setup_histogram(p.proj.data["Controls"]["data"], hist, p.phases, instrument, humps,
                    background_terms=recipe.background_terms, size_start_um=recipe.size_start_um,
                    size_lg_mix=recipe.size_lg_mix, size_limits_um=recipe.size_limits_um)


def _copy_state(p: Project, src, dst):
    """Start histogram ``dst`` from the refined state of ``src``: instrument profile, displacement,
    background and humps (when their number matches) and the phases' HAP values."""
    si, di = src.data["Instrument Parameters"][0], dst.data["Instrument Parameters"][0]
    for key, val in si.items():
        if key in di and isinstance(val, list) and len(val) >= 2 and isinstance(val[1], float):
            di[key][1] = val[1]
    dst.data["Sample Parameters"]["Shift"][0] = float(src.data["Sample Parameters"]["Shift"][0])
    sb, db = src.data["Background"], dst.data["Background"]
    if sb[0][2] == db[0][2]:
        db[0][3:] = copy.deepcopy(sb[0][3:])
    speaks, dpeaks = sb[1].get("peaksList", []), db[1].get("peaksList", [])
    if len(speaks) == len(dpeaks):
        for a, b in zip(speaks, dpeaks):
            b[0::2] = a[0::2]
    for _, ph in p.phases:
        sh, dh = ph.data["Histograms"][src.name], ph.data["Histograms"][dst.name]
        for key in ("Scale", "Size", "Mustrain", "HStrain"):
            dh[key] = copy.deepcopy(sh[key])


def _set_sequential_flags(p: Project, hists):
    """Background (+ hump area, position, Gaussian width), phase fractions, displacement, Dij and sizes
    on; cells, profile and everything else off (GSAS-II refuses cell refinement in sequential mode)."""
    for hist in hists:
        hist.data["Background"][0][1] = True
        for pk in hist.data["Background"][1].get("peaksList", []):
            pk[1] = pk[3] = pk[5] = True
            pk[7] = False
        sample = hist.data["Sample Parameters"]
        sample["Scale"][1] = False
        sample["Shift"][1] = True
        inst = hist.data["Instrument Parameters"][0]
        for term in PROFILE_TERMS + ("Zero",):
            inst[term][2] = False
    from GSASII import GSASIIspc as G2spc

    for _, ph in p.phases:
        ph.data["General"]["Cell"][0] = False
        dij = [n.startswith("D") for n in G2spc.HStrainNames(ph.data["General"]["SGData"])]
        for hap in ph.data["Histograms"].values():
            hap["Scale"][1] = True
            hap["Size"][2][0] = True
            hap["Mustrain"][2][0] = False
            hap["HStrain"][1] = list(dij)  # Dij only (not the cubic eA term)
            hap["Pref.Ori."][2] = False


def _sequential_in(tmp, patterns, phase_cifs, instrument, recipe, two_theta_range, hump_lists, log, warnings):
    from GSASII import GSASIIstrIO as G2stIO
    from GSASII import GSASIIstrMain as G2strMain

    p = build_project(patterns[0], phase_cifs, instrument, tmp, two_theta_range=two_theta_range,
                      background_terms=recipe.background_terms, humps=hump_lists[0], gpx_name="xrdq-seq.gpx",
                      size_start_um=recipe.size_fixed_um, size_lg_mix=recipe.size_lg_mix,
                      size_limits_um=recipe.size_limits_um)
    warnings.extend(p.notes or ())
    # 1. the first pattern alone, with the normal recipe
    run_recipe(p, recipe, log, warnings)
    # 2. the others as further histograms of the same project
    hists = [p.hist]
    with contextlib.redirect_stdout(log):
        for k, pat in enumerate(patterns[1:], 1):
            hists.append(_add_histogram(p, pat, k, instrument, two_theta_range, hump_lists[k], recipe))
    # the first histogram's refined values start the series (including what the sequential pass holds:
    # profile U W, hump Lorentzian widths); later ones are copied on by GSAS-II (Copy2Next)
    for hist in hists[1:]:
        _copy_state(p, hists[0], hist)
    _set_sequential_flags(p, hists)
    controls = p.proj.data["Controls"]["data"]
    controls.setdefault("parmFrozen", {})
    controls["Seq Data"] = [h.name for h in hists]
    controls["Reverse Seq"] = False
    controls["Copy2Next"] = True
    controls["max cyc"] = int(recipe.max_cycles)
    proj = p.proj
    with contextlib.redirect_stdout(log):
        if "Sequential results" not in proj.data:
            proj.data["Sequential results"] = {"data": {}}
            proj.names.append(["Sequential results"])
        proj.index_ids()
        errmsg, _warn = G2stIO.ReadCheckConstraints(proj.filename)
        if errmsg:
            raise XrdqRefineError(f"GSAS-II constraint error before the sequential refinement: {errmsg}")
        try:
            ok, msg = G2strMain.SeqRefine(proj.filename, None)
        except Exception as exc:
            raise XrdqRefineError(f"GSAS-II sequential refinement failed: {exc}") from exc
        proj.reload()
    if not ok:
        raise XrdqRefineError(f"GSAS-II sequential refinement failed: {str(msg).strip() or 'no message'}")
    seq = proj.data.get("Sequential results", {}).get("data", {})
    out = [_read_seq(p, seq, hname, patterns[k], instrument, recipe, phase_cifs)
           for k, hname in enumerate(controls["Seq Data"])]
    if recipe.phase_curves:
        try:
            partials = run_partials(p, log) or {}
        except Exception as exc:  # noqa: BLE001 — curves are for plots only
            partials = {}
            warnings.append(f"GSAS-II phase partials failed: {exc}")
        for fields, hist in zip(out, hists):
            got = partials.get(hist.data["data"][0]["hId"])
            comp = components_from_partials(got, fields, dataclasses.replace(p, hist=hist))
            if comp is None:
                fields["own_warnings"].append("per-phase curves unavailable from GSAS-II")
            else:
                fields["components"] = {**comp, **fields["components"]}
    return out


def _read_seq(p: Project, seq: dict, hname: str, pattern, instrument, recipe, phase_cifs) -> dict:
    """RefinementResult fields of histogram ``hname`` from GSAS-II's 'Sequential results' entry."""
    own: list = []
    if hname not in seq:
        raise XrdqRefineError(f"GSAS-II sequential results have no entry for histogram {hname!r}")
    res = seq[hname]
    hist = p.proj.histogram(hname)
    hid = hist.data["data"][0]["hId"]
    vary = list(res.get("varyList", []))
    values = dict(zip(vary, res.get("variables", [])))
    sigd = dict(zip(vary, res.get("sig", [])))
    cmat = np.asarray(res.get("covMatrix", np.zeros((0, 0))), float)
    parm = res.get("parmDict", {})
    names = [n for n, _ in p.phases]
    pids = {n: ph.data["pId"] for n, ph in p.phases}
    keys = [f"{pids[n]}:{hid}:Scale" for n in names]
    fr = np.array([values.get(k, parm.get(k, np.nan)) for k in keys], float)
    out = fractions(p, fr, scale_block(vary, cmat, keys))
    label = param_labels(vary, names, pids, hid)
    params = refined_parameters(vary, values, sigd, label)
    for n in names:
        for d in ("D11", "D22", "D33", "D12", "D13", "D23"):
            k = f"{pids[n]}:{hid}:{d}"
            if k in vary:
                params[phase_parameter(n, d)] = (float(values[k]), float(sigd.get(k, np.nan)))
        for i, key in enumerate(("a", "b", "c", "alpha", "beta", "gamma"), 1):
            cell = p.phases[names.index(n)][1].data["General"]["Cell"]
            params.setdefault(phase_parameter(n, key), (float(cell[i]), np.nan))
    x, yo, wt, yc, yb = histogram_curves(hist)
    components = {}
    if not np.any(yc):
        own.append("GSAS-II's calculated curve for this histogram is unavailable; observed shown instead")
        yc, yb = yo.copy(), np.zeros_like(yo)
    else:
        amorphous = hump_curve(dataclasses.replace(p, hist=hist), x)
        if amorphous is not None:
            yb = yb - amorphous
            components["amorphous"] = amorphous
    tt, _, e = pattern_arrays(pattern)  # the esds GSAS-II was given, not its weights (0 for y ≤ 0)
    esd = np.interp(x, np.asarray(tt, float), np.asarray(e, float))
    stats = fit_statistics(res.get("Rvals", {}) or {}, vary, wt, yo, yc, converged_default=True)
    if not stats["converged"]:
        own.append("GSAS-II sequential fit of this histogram stopped before convergence")
    return dict(
        two_theta=x, observed=yo, esd=esd, calculated=yc, background=yb, components=components,
        parameters=params, correlation=correlation(cmat, vary, label),
        phase_info=phase_info_from_project(p, phase_cifs, instrument), **out, **stats,
        recipe=recipe.describe() + ["sequential (GSAS-II SeqRefine, Copy2Next): background, humps, phase "
                                    "fractions, displacement, Dij, crystallite size"],
        own_warnings=own,
    )
