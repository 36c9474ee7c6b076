"""Reading a refined GSAS-II project back into the fields of an :class:`xrdq.refine.RefinementResult`:
curves, phase fractions (the scales) with their covariance, parameters under xrdq's names, fit
statistics, phase information. Shared by single (:func:`read_back`) and sequential runs
(:mod:`.sequential`), which differ only in where GSAS-II keeps the covariance."""

from __future__ import annotations

import contextlib
import copy
import io
import pickle
import re
from pathlib import Path

import numpy as np

from ...quant.weight_fractions import hill_howard
from ...crystal.phase import density
from ...model.profile import tch_fwhm
from .guards import FRACTION_FLOOR
from .names import HISTOGRAM, HUMP, PHASE_HISTOGRAM, hump_parameter, phase_parameter, xrdq_name
from .project import Project, quiet
from .recipe import PROFILE_TERMS, GsasRecipe
from .strategy import sizes_at_top


def histogram_curves(hist):
    """(2θ, observed, weight, calculated, background) of ``hist`` inside its refined limits."""
    data = hist.data["data"][1]
    x_all = np.asarray(data[0], float)
    lims = hist.data["Limits"][1]
    sel = (x_all >= lims[0]) & (x_all <= lims[1])
    return (x_all[sel],) + tuple(np.asarray(data[i], float)[sel] for i in (1, 2, 3, 4))


def weight_esd(wt):
    """Standard uncertainties from GSAS-II's weights (∞ where the weight is 0)."""
    return np.where(wt > 0, 1.0 / np.sqrt(np.where(wt > 0, wt, 1.0)), np.inf)


def scale_block(vary, cmat, keys):
    """Covariance of the variables ``keys`` (0 for one not refined) out of GSAS-II's full matrix."""
    idx = [vary.index(k) if k in vary else None for k in keys]
    cov = np.zeros((len(keys), len(keys)))
    for a, ia in enumerate(idx):
        for b, ib in enumerate(idx):
            if ia is not None and ib is not None:
                cov[a, b] = cmat[ia, ib]
    return cov


def fractions(p: Project, fr, cov_f) -> dict:
    """Scales (GSAS-II phase fractions, proportional to the number of unit cells) and the Hill–Howard
    weight fractions W_j = f_j M_j / Σ f_i M_i with M the cell mass (GSASIIstrMath.calcMassFracs with
    the full covariance): one formula with the native engine's (:func:`xrdq.quant.weight_fractions.hill_howard`)."""
    names = [n for n, _ in p.phases]
    masses = np.array([ph.data["General"]["Mass"] for _, ph in p.phases], float)
    w, cov_w = hill_howard(fr, masses, cov_f)
    return dict(phase_names=names, weight_fractions={n: float(w[j]) for j, n in enumerate(names)},
                weight_fraction_covariance=cov_w, scale_covariance=cov_f,
                mass_factors={n: float(masses[j]) for j, n in enumerate(names)},
                scales={n: (float(fr[j]), float(np.sqrt(max(cov_f[j, j], 0.0)))) for j, n in enumerate(names)})


def refined_parameters(vary, values, sigd, label) -> dict:
    """Every refined variable with its esd, under xrdq's name and in xrdq's units (``label``:
    :func:`param_labels`)."""
    out = {}
    for k in vary:
        name, factor = label[k]
        out[name] = (factor * float(values.get(k, np.nan)), abs(factor) * float(sigd.get(k, np.nan)))
    return out


def correlation(cmat, vary, label):
    """(names, correlation matrix) of the refined variables (units cancel; every factor is positive)."""
    if not cmat.size:
        return [], np.zeros((0, 0))
    d = np.sqrt(np.clip(np.diag(cmat), 1e-300, None))
    return [label[k][0] for k in vary], cmat / np.outer(d, d)


def fit_statistics(rv, vary, wt, yo, yc, converged_default: bool) -> dict:
    """GSAS-II's chi2 = Σ w (yo − yc)², Rwp as a fraction, Rexp from N − P, GoF, lag-1 serial correlation."""
    nobs = int(rv.get("Nobs", int(np.sum(wt > 0))))
    nvar = int(rv.get("Nvars", len(vary)))
    chi2 = float(rv.get("chisq", np.sum(wt * (yo - yc) ** 2)))
    sumwy2 = float(np.sum(wt * yo**2))
    resid = np.sqrt(np.clip(wt, 0, None)) * (yo - yc)
    return dict(
        n_points=nobs, n_parameters=nvar, chi2=chi2,
        rwp=float(rv["Rwp"]) / 100.0 if "Rwp" in rv else float(np.sqrt(chi2 / sumwy2)),
        rexp=float(np.sqrt(max(nobs - nvar, 1) / sumwy2)) if sumwy2 > 0 else float("nan"),
        gof=float(rv.get("GOF", np.sqrt(chi2 / max(nobs - nvar, 1)))),
        converged=bool(rv.get("converged", converged_default)),
        serial_correlation=float(np.corrcoef(resid[:-1], resid[1:])[0, 1]) if resid.size > 2 and np.std(resid) > 0 else 0.0,
    )


def run_partials(p: Project, log: io.StringIO) -> dict | None:
    """Per-phase calculated curves of every histogram, ``{hId: (x, {phase: y})}``, from one zero-cycle
    GSAS-II run with Controls['PhasePartials'] (what the GUI's "Compute partials" does), in ordinary
    mode even for a sequential project. Everything the run overwrites — cycles, derivative type, the
    sequential list, the covariance in the .gpx and the .lst — is put back, so it may run after the
    results have been read. None when GSAS-II wrote no partials file.
    """
    from GSASII import GSASIIstrMain as G2strMain

    proj = p.proj
    controls = proj.data["Controls"]["data"]
    partials = p.workdir / "xrdq.partials"
    if partials.exists():
        partials.unlink()
    saved = {k: controls.get(k) for k in ("max cyc", "deriv type", "Seq Data")}
    covariance = copy.deepcopy(proj.data["Covariance"])
    lst = Path(proj.filename).with_suffix(".lst")
    lst_text = lst.read_bytes() if lst.exists() else None
    controls.update({"max cyc": 0, "deriv type": "analytic Hessian", "Seq Data": [], "PhasePartials": str(partials)})
    try:
        with contextlib.redirect_stdout(log):
            proj.index_ids()
            G2strMain.Refine(proj.filename, makeBack=False)
            proj.reload()
    finally:
        controls = proj.data["Controls"]["data"]
        controls.update(saved)
        controls["PhasePartials"] = None
        proj.data["Covariance"] = covariance
        with contextlib.redirect_stdout(log):
            proj.save()
        if lst_text is not None:
            lst.write_bytes(lst_text)
    if not partials.exists():
        return None
    out: dict = {}
    with open(partials, "rb") as fh:
        try:
            pickle.load(fh)  # leading None
            while True:
                h = pickle.load(fh)
                xx = pickle.load(fh)
                pickle.load(fh)  # background
                curves = {}
                out[h] = (xx, curves)
                while True:
                    name = pickle.load(fh)
                    if name is None:
                        break
                    curves[name] = pickle.load(fh)
        except EOFError:
            pass
    return out


def phase_partials(p: Project, log: io.StringIO):
    """(x, {phase: curve}) of this project's histogram (:func:`run_partials`); None without partials.
    It must run after everything else has been read back."""
    got = run_partials(p, log)
    if got is None:
        return None
    return got.get(p.hist.data["data"][0]["hId"], (None, {}))


#: GSAS-II variables whose near-degenerate combinations (hump beside the background's constant, zero beside the
#: displacement) no phase fraction rests on: background coefficients, background peaks (the humps), zero, displacement,
#: and the instrument's Gaussian U, V, W — a peak's width, not its area, which the native engine holds at the
#: instrument's where the data do not determine it, a note (br_hfcl4_a70: W singular beside the humps' widths, every
#: fraction within 0.4 wt% of the truth and of the native engine's, GoF 1.02 — and the verdict said `check`). Not
#: the Lorentzian X, Y: GSAS-II refines them only where the native engine's F-test found them warranted, so
#: singular there they contradict it
_NUISANCE_VARIABLE = re.compile(r"^:\d+:(Back;\d+|BkPk\w*;\d+|Zero|Shift|U|V|W)$")


#: the parts of GSAS-II's message on a refinement (GSASIIstrMain), in its words: a header, then the variables it
#: names on the next line (dropped, or likely behind the soft singularities), or the correlated pairs
_DROPPED = re.compile(r"^Error: \d+ Parameter\(s\) dropped:$")
_SINGULAR = re.compile(r"^SVD problem\(s\) likely from:$")
_COUNT = re.compile(r"^(Warning: Soft \(SVD\) singularity in the Hessian|Warning: \d+ soft \(SVD\) Hessian singularities|"
                    r"Check covariance matrix for parameter correlation|Note highly correlated parameters:)$")
_PAIR = re.compile(r"^(\S+ and \S+ \(@[\d.]+%\)|\.\.\. check console for more)$")
_FROZEN = re.compile(r"^(Note: a total of \d+ variable\(s\) are frozen due to refining outside limits|"
                     r"Warning: \d+ variable\(s\) refined outside limits and were frozen \(\d+ total frozen\))$")


#: instrument terms whose lower limit means none of the effect (GSAS-II's SH/L floor is 0.0005): an answer there
_NONE_AT_MIN = ("SH/L", "X", "Y")


def frozen_faults(p: Project) -> list:
    """The variables GSAS-II froze at a limit that are a fault of the fit, by the native engine's rule
    (:func:`xrdq.refine.diagnostics.at_bound`): not a hump's position or width (a halo merging into the background
    enters no fraction), a crystallite size at the upper limit (no size broadening) or an SH/L, X or Y at its lower
    one (none of the effect)."""
    controls = p.proj.data["Controls"]["data"]
    frozen = [str(v) for v in controls.get("parmFrozen", {}).get("FrozenList") or []]
    at_top, low = set(sizes_at_top(p)), controls.get("parmMinDict", {})
    inst = p.hist.data["Instrument Parameters"][0]
    out = []
    for name in frozen:
        key = name.split(":")[-1]
        if key.startswith("BkPk") or name in at_top:
            continue
        if key in _NONE_AT_MIN and name in low and key in inst and float(inst[key][1]) <= float(low[name]) * (1 + 1e-6):
            continue
        out.append(name)
    return out


def refinement_message(msg: str, frozen_unexplained=()) -> str:
    """The warning for GSAS-II's message on its final refinement. Parameters dropped or behind soft (SVD)
    singularities only among the nuisance variables (:data:`_NUISANCE_VARIABLE`: a broad hump degenerate with the
    background's constant, the displacement with the zero shift, a Gaussian width term), and notes of correlated pairs, leave every phase
    fraction determined: said as such, a note (the native engine's correlations are notes too); so are variables
    GSAS-II froze at a limit when that is an answer (``frozen_unexplained``: the others, :func:`frozen_faults`). Anything else — a scale, a cell, a size among the singular
    ones, a list GSAS-II cut short, a line not known here — is GSAS-II's text as is (a ``check``)."""
    text = msg.replace("Warning:", "\nWarning:")  # GSAS-II appends it to the dropped list without a line break
    lines = [m.strip(" *") for m in text.splitlines() if m.strip(" *")]
    raw = "GSAS-II: " + "; ".join(lines)
    named, pairs, frozen, i = [], [], False, 0
    while i < len(lines):
        line = lines[i]
        if _DROPPED.match(line) or _SINGULAR.match(line):
            if i + 1 >= len(lines) or "see console" in lines[i + 1]:
                return raw
            named += [n.strip() for n in lines[i + 1].split(",") if n.strip()]
            i += 2
            continue
        if _PAIR.match(line):
            pairs.append(line)
        elif _FROZEN.match(line):
            if frozen_unexplained:
                return raw
            frozen = True
        elif not _COUNT.match(line):
            return raw
        i += 1
    if not all(_NUISANCE_VARIABLE.match(n) for n in named):
        return raw
    out = []
    if named:
        out.append(f"GSAS-II dropped or found singular only background, hump, zero, displacement and instrument "
                   f"Gaussian variables ({', '.join(named)}): their combination is fixed by the data, not each; no "
                   "phase fraction rests on them")
    if pairs:
        out.append(f"GSAS-II notes highly correlated parameters: {', '.join(pairs)}")
    if frozen:
        out.append("GSAS-II notes variables frozen at a limit where that is an answer (hump shapes, sizes without "
                   "broadening, no asymmetry or Lorentzian)")
    return "; ".join(out) or raw


def read_back(p: Project, rvals: dict, recipe: GsasRecipe, instrument, phase_cifs, warnings: list) -> dict:
    """RefinementResult fields of a single-pattern project after :func:`~.strategy.run_recipe`."""
    hist = p.hist
    cov = p.proj.data["Covariance"]["data"]
    vary = list(cov.get("varyList", []))
    cmat = np.asarray(cov.get("covMatrix", np.zeros((0, 0))), float)
    hid = hist.data["data"][0]["hId"]
    rv = cov.get("Rvals", rvals) or rvals
    x, yo, wt, yc, yb = histogram_curves(hist)
    names = [n for n, _ in p.phases]
    pids = {n: ph.data["pId"] for n, ph in p.phases}
    fr = np.array([next(iter(ph.data["Histograms"].values()))["Scale"][0] for _, ph in p.phases], float)
    out = fractions(p, fr, scale_block(vary, cmat, [f"{pids[n]}:{hid}:Scale" for n in names]))
    g2w = _check_mass_fractions(hist, names, out["weight_fractions"], warnings)
    label = param_labels(vary, names, pids, hid)
    params = refined_parameters(vary, dict(zip(vary, cov.get("variables", []))), dict(zip(vary, cov.get("sig", []))),
                                label)
    _held_parameters(p, params, g2w)
    stats = fit_statistics(rv, vary, wt, yo, yc, converged_default=False)
    msg = str(rv.get("msg", "") or "").strip()
    if msg:
        warnings.append(refinement_message(msg, frozen_faults(p)))
    bragg, ticks = _reflections(hist, names, pids, hid)
    return dict(
        two_theta=x, observed=yo, esd=weight_esd(wt), calculated=yc, background=yb,
        parameters=params, correlation=correlation(cmat, vary, label),
        phase_info=phase_info_from_project(p, phase_cifs, instrument), ticks=ticks, bragg_r=bragg,
        **out, **stats,
    )


def _check_mass_fractions(hist, names, w, warnings) -> dict:
    """GSAS-II's own ComputeMassFracs, as a cross-check of the fractions computed here."""
    g2w = {}
    try:
        with quiet():
            g2w = hist.ComputeMassFracs()
        for n in names:
            if n in g2w and abs(g2w[n][0] - w[n]) > 1e-6:
                warnings.append(f"weight fraction of {n}: xrdq {w[n]:.6f} vs GSAS-II ComputeMassFracs {g2w[n][0]:.6f}")
    except Exception as exc:  # diagnostics only
        warnings.append(f"GSAS-II ComputeMassFracs unavailable: {exc}")
    return g2w


def _held_parameters(p: Project, params: dict, g2w: dict):
    """Add the cell (from GSAS-II's reciprocal-metric A terms, with esds), GSAS-II's weight fractions,
    sample broadening, humps and the instrument terms, refined or held, under xrdq's names and units
    (:mod:`.names`)."""
    hist = p.hist
    for n, ph in p.phases:
        cell = ph.data["General"]["Cell"]
        esds = {}
        if bool(cell[0]):
            with contextlib.suppress(Exception), quiet():
                _c, ce = ph.get_cell_and_esd()[:2]
                esds = {k.split("_")[-1]: float(v) for k, v in dict(ce).items()}
        for i, key in enumerate(("a", "b", "c", "alpha", "beta", "gamma"), 1):
            params[phase_parameter(n, key)] = (float(cell[i]), esds.get(key, np.nan))
        params[phase_parameter(n, "volume")] = (float(cell[7]), esds.get("volume", np.nan))
    for n, _ in p.phases:  # GSAS-II's own weight fractions (ph:h:WgtFrac), for cross-checking
        if n in g2w:
            key, _f = PHASE_HISTOGRAM["WgtFrac"]
            params[phase_parameter(n, key)] = (float(g2w[n][0]), float(g2w[n][1]))
    for n, ph in p.phases:  # sample broadening, also when held or frozen at a limit
        hap = next(iter(ph.data["Histograms"].values()))
        # the value in the project: GSAS-II resets a size that ended outside its limits there
        key, factor = PHASE_HISTOGRAM["Size;i"]
        size = phase_parameter(n, key)
        params[size] = (factor * float(hap["Size"][1][0]), params.get(size, (0, np.nan))[1])
        key, factor = PHASE_HISTOGRAM["Mustrain;i"]
        params.setdefault(phase_parameter(n, key), (factor * float(hap["Mustrain"][1][0]), np.nan))
    for i, pk in enumerate(hist.data["Background"][1].get("peaksList", [])):
        for j, g2key in enumerate(("BkPkpos", "BkPkint", "BkPksig", "BkPkgam")):
            key, factor = HUMP[g2key]
            params.setdefault(hump_parameter(i, key), (factor * float(pk[2 * j]), np.nan))
        gg = 2.0 * np.sqrt(2.0 * np.log(2.0) * max(pk[4], 0.01)) / 100.0
        params[hump_parameter(i, "fwhm")] = (float(tch_fwhm(gg, max(pk[6], 0.1) / 100.0)), np.nan)  # derived
    inst = hist.data["Instrument Parameters"][0]
    sample = hist.data["Sample Parameters"]
    held = {"Shift": float(sample["Shift"][0]), "Transparency": float(sample.get("Transparency", [0.0])[0]),
            **{term: float(inst[term][1]) for term in ("Zero",) + PROFILE_TERMS}}
    for g2key, value in held.items():
        name, factor = HISTOGRAM[g2key]
        params.setdefault(name, (factor * value, np.nan))


def _reflections(hist, names, pids, hid):
    """Bragg R per phase and the reflection ticks (2θ, hkl)."""
    bragg, ticks = {}, {}
    res = hist.data["data"][0]
    refl = hist.data.get("Reflection Lists", {})
    for n in names:
        key = f"{pids[n]}:{hid}:Rf"
        if key in res:
            bragg[n] = float(res[key]) / 100.0
        arr = np.asarray(refl.get(n, {}).get("RefList", np.zeros((0, 6))))
        if arr.size:
            ticks[n] = (arr[:, 5].astype(float), arr[:, :3].astype(int))
    return bragg, ticks


def param_labels(vary, names, pids, hid) -> dict:
    """GSAS-II variable name → (xrdq name, factor to xrdq units), by :func:`.names.xrdq_name`."""
    byid = {str(pids[n]): n for n in names}
    return {k: xrdq_name(k, byid, hid) for k in vary}


def phase_info_from_project(p, phase_cifs, instrument) -> dict:
    """Cell mass, volume, density (GSAS-II's refined cell) and µ/ρ (xrdq's crystal code, when it can read
    the CIF) of every phase, as RefinementResult.phase_info wants them."""
    lam = float(instrument.wavelength)
    phase_info = {}
    for (n, ph), (_, cif) in zip(p.phases, phase_cifs):
        gen = ph.data["General"]
        vol = float(gen["Cell"][7])
        mass = float(gen["Mass"])
        info = {"cell_mass": mass, "volume": vol, "density": density(mass, vol)}
        mu = _mass_attenuation(cif, gen, lam)
        if mu is not None:
            info["mass_attenuation"] = mu
        phase_info[n] = info
    return phase_info


def _mass_attenuation(cif, general, wavelength):
    try:
        from ...crystal import load_phase

        return float(load_phase(str(cif)).mass_attenuation(wavelength))
    except Exception:
        pass
    try:  # fall back on xraydb with GSAS-II's composition
        import xraydb

        energy = 12398.419843 / wavelength
        counts = general.get("NoAtoms", {})
        masses = general.get("AtomMass", [])
        types = general.get("AtomTypes", [])
        amass = dict(zip(types, masses))
        total = sum(counts[e] * amass[e] for e in counts)
        return float(sum(counts[e] * amass[e] / total * xraydb.mu_elam(e, energy) for e in counts))
    except Exception:
        return None




def hump_curve(p: Project, x):
    """The background peaks (amorphous humps) alone, computed by GSAS-II's own getBackground with
    every Chebyshev coefficient set to 0; None without humps."""
    bkg, extra = p.hist.data["Background"]
    peaks = extra.get("peaksList", [])
    if not peaks:
        return None
    from GSASII import GSASIIpwd as G2pwd

    inst = p.hist.data["Instrument Parameters"][0]
    pfx = ":{}:".format(p.hist.data["data"][0]["hId"])
    parm = {pfx + "SH/L": float(inst["SH/L"][1]), pfx + "Lam1": float(inst["Lam1"][1])}
    for i in range(int(bkg[2])):
        parm[f"{pfx}Back;{i}"] = 0.0
    for i, pk in enumerate(peaks):
        for j, key in enumerate(("BkPkpos", "BkPkint", "BkPksig", "BkPkgam")):
            parm[f"{pfx}{key};{i}"] = float(pk[2 * j])
    with quiet():
        yb, _ = G2pwd.getBackground(pfx, parm, bkg[0], inst["Type"][1], np.asarray(x, float))
    return np.asarray(yb, float)


def floored_fractions(p: Project, fields: dict, log: io.StringIO, warnings: list, background_terms: int,
                      amorphous=None):
    """Fractions GSAS-II left on its floor (a declared phase without signal), estimated again by linear least
    squares at GSAS-II's solution for their esds; ``fields`` (scales, weight fractions, covariances, the
    ``{phase}_phase_fraction`` parameters) updated in place. The value stays GSAS-II's (0, its floor).

    On its floor a fraction is a singular direction of GSAS-II's normal matrix (a fully amorphous sample with
    its nominal phases declared: LiCl 1e-12 ± 6·10⁹ cells, which made every weight fraction ±10¹⁰ wt%), and
    not refined it would read 0 ± 0 — a confident zero. Here each such phase's pattern per unit fraction (from
    GSAS-II's partials, the fraction raised for that one calculation) is fitted beside the other phases' curves,
    the amorphous humps, GSAS-II's background and a Chebyshev of the recipe's order, with weights from the counts and the
    covariance scaled by the GoF, as the native engine's linear solve. Its value is not used: it is taken from
    one model beside another's solution, and on a fully amorphous sample (gsas2/amorphous_a100, humps from the
    automatic estimate) LiCl came out at −0.36 ± 0.15 cells, which would have turned a correct 100.19 % into a
    `fail`. Its covariance with the refined fractions is left at 0: they come from GSAS-II's non-linear fit."""
    from ...model.background import orthogonal_basis

    names = list(fields["phase_names"])
    fr = np.array([fields["scales"][n][0] for n in names], float)
    floored = [j for j in range(len(names)) if fr[j] <= FRACTION_FLOOR]
    if not floored or len(floored) == len(names):
        return
    ref = float(fr.max())
    haps = {n: next(iter(ph.data["Histograms"].values())) for n, ph in p.phases}
    for j in floored:
        haps[names[j]]["Scale"][0] = ref
    try:
        got = phase_partials(p, log)
    finally:
        for j in floored:
            haps[names[j]]["Scale"][0] = float(fr[j])
        with contextlib.redirect_stdout(log):
            p.proj.save()
    x = fields["two_theta"]
    px, curves = got if got is not None else (None, {})
    if px is None or any(curves.get(n) is None for n in names):
        warnings.append(f"fractions of {', '.join(names[j] for j in floored)} on GSAS-II's floor: no partials to "
                        "estimate them from, their esds are GSAS-II's")
        return
    unit = [np.interp(x, np.asarray(px, float), np.asarray(curves[n], float)) / (ref if j in floored else fr[j])
            for j, n in enumerate(names)]
    # GSAS-II's own background (and humps) as columns, and a Chebyshev of the recipe's order beside them for what
    # the partials' interpolation and GSAS-II's background function leave (on amorphous_a100 the estimate was the
    # same with or without GSAS-II's background column; which hump start values GSAS-II began from moved it more)
    cols = unit + [np.asarray(fields["background"], float)] + ([amorphous] if amorphous is not None else [])
    basis = orthogonal_basis(x, max(int(background_terms), 3), (float(x.min()), float(x.max())))
    sw = 1.0 / np.asarray(fields["esd"], float)
    ok = np.isfinite(sw)
    a = np.column_stack(cols + [basis[:, k] for k in range(basis.shape[1])])[ok] * sw[ok, None]
    y = np.asarray(fields["observed"], float)[ok] * sw[ok]
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    cov = np.linalg.pinv(a.T @ a) * float(fields.get("gof", 1.0)) ** 2
    cov_f = np.array(fields["scale_covariance"], float)
    for j in floored:
        cov_f[j, :] = cov_f[:, j] = 0.0
        cov_f[j, j] = max(cov[j, j], 0.0)
        esd = float(np.sqrt(cov_f[j, j]))
        key = f"{names[j]}_phase_fraction"
        if key in fields["parameters"]:
            fields["parameters"][key] = (float(fr[j]), esd)
        warnings.append(f"phase {names[j]} not detected by GSAS-II: its fraction is on GSAS-II's floor (it cannot "
                        f"refine a negative one), with the esd of a linear least-squares estimate at GSAS-II's "
                        f"solution ({coef[j]:.3g} ± {esd:.2g} cells)")
    fields.update(fractions(p, fr, cov_f))


def components_from_partials(got, fields, p, amorphous=None):
    x = fields["two_theta"]
    if got is None:
        return None
    px, curves = got
    names = fields["phase_names"]
    if len(names) == 1:
        rest = fields["calculated"] - fields["background"]
        return {names[0]: rest - amorphous if amorphous is not None else rest}
    if px is None or not curves:
        return None
    px = np.asarray(px, float)
    out = {}
    for n in names:
        y = curves.get(n)
        if y is None or len(y) != len(px):
            return None
        out[n] = np.interp(x, px, np.asarray(y, float))
    return out
