"""The GSAS-II refinement strategy: run the recipe's cumulative steps, keeping crystallite sizes and
amorphous humps physical between steps (pin collapsed sizes, thaw frozen ones, re-shape humps)."""

from __future__ import annotations

import contextlib
import io

import numpy as np

from ...errors import XrdqRefineError
from ...model.profile import tch_fwhm
from .project import Project, hump_peak
from .recipe import PROFILE_TERMS, GsasRecipe


def run_refine(p: Project, log: io.StringIO, step_name: str, cycles: int):
    """One GSAS-II refinement (what G2Project.refine does, but keeping GSAS-II's OK flag and Rvals)."""
    from GSASII import GSASIIstrIO as G2stIO
    from GSASII import GSASIIstrMain as G2strMain

    proj = p.proj
    proj.data["Controls"]["data"]["max cyc"] = int(cycles)
    proj.data["Controls"]["data"].setdefault("parmFrozen", {})
    with contextlib.redirect_stdout(log):
        proj.index_ids()  # saves the project
        errmsg, _warn = G2stIO.ReadCheckConstraints(proj.filename)
        if errmsg:
            raise XrdqRefineError(f"GSAS-II constraint error before step {step_name!r}: {errmsg}")
        try:
            # GSAS-II returns (False, Rvals) on failure and, without a progress dialog, None on success
            res = G2strMain.Refine(proj.filename, makeBack=False)
        except Exception as exc:
            raise XrdqRefineError(f"GSAS-II refinement failed in step {step_name!r}: {exc}") from exc
        proj.reload()
    ok, rvals = res if isinstance(res, tuple) else (True, None)
    if rvals is None:
        rvals = proj.data["Covariance"]["data"].get("Rvals", {})
    if not ok:
        msg = rvals.get("msg", "") if isinstance(rvals, dict) else str(rvals)
        raise XrdqRefineError(f"GSAS-II refinement failed in step {step_name!r}: {msg.strip() or 'no message'}")
    return rvals


def refine_step(p: Project, log: io.StringIO, step_name: str, cycles: int, warnings: list) -> dict:
    """:func:`run_refine`, robust to GSAS-II failing inside a step (a cell driven to an invalid metric, a
    singular normal matrix, a phase driven out of the data range): the step is run once more from its start
    with Marquardt's damping raised (λ₀ = 1 instead of 10⁻³: small first shifts), and if that fails too it is
    skipped — GSAS-II saves nothing from a failed refinement, so the project stays where the previous step
    left it — and the result says so (not converged). One hard step used to end the whole quantification."""
    try:
        return run_refine(p, log, step_name, cycles)
    except XrdqRefineError as exc:
        if "constraint error" in str(exc):
            raise
        first = str(exc).split(": ", 1)[-1].splitlines()[0]
    p.proj.reload()
    p.proj.data["Controls"]["data"]["Marquardt"] = 0  # log10 λ₀; GSAS-II resets it to −3 after each run
    try:
        rvals = run_refine(p, log, step_name + " (damped)", cycles)
    except XrdqRefineError as exc:
        p.proj.reload()
        second = str(exc).split(": ", 1)[-1].splitlines()[0]
        warnings.append(f"GSAS-II step {step_name!r} failed ({first}) and again with stronger damping ({second}): "
                        "skipped, its parameters stay where the previous step left them")
        return {"converged": False, "skipped": True}
    warnings.append(f"GSAS-II step {step_name!r} failed ({first}); refined again from its start with stronger damping")
    return rvals


def set_flags(p: Project, on: dict, recipe: GsasRecipe):
    hist = p.hist
    hist.data["Background"][0][1] = bool(on.get("background"))
    # amorphous humps (background peaks) go with the background: the area always, position and
    # Gaussian width once a step asks for "humps"
    humps = on.get("humps") if on.get("background") else None
    for pk in hist.data["Background"][1].get("peaksList", []):
        pk[3] = bool(humps)
        pk[1] = pk[5] = humps is True
        pk[7] = False  # the Lorentzian width stays at its start (η ≈ 0.5 with the start FWHM)
    sample = hist.data["Sample Parameters"]
    sample["Scale"][1] = bool(on.get("histogram_scale"))
    sample["Shift"][1] = bool(on.get("displacement"))
    inst = hist.data["Instrument Parameters"][0]
    prof = on.get("profile")
    prof = set(PROFILE_TERMS) if prof is True else set(prof or ())
    for term in PROFILE_TERMS:
        inst[term][2] = term in prof
    inst["Zero"][2] = bool(on.get("zero"))
    po = on.get("preferred_orientation")
    size, strain = on.get("size"), on.get("strain")
    for name, ph in p.phases:
        ph.data["General"]["Cell"][0] = bool(on.get("cells"))
        for hap in ph.data["Histograms"].values():
            hap["Scale"][1] = bool(on.get("fractions"))
            hap["Size"][2][0] = size is True or (isinstance(size, (list, tuple, set)) and name in size)
            hap["Mustrain"][2][0] = strain is True or (isinstance(strain, (list, tuple, set)) and name in strain)
            # True: every non-cubic phase (a cubic phase has no unique axis to orient along)
            cubic = ph.data["General"]["SGData"].get("SGSys") == "cubic"
            use_po = (po is True and not cubic) or (isinstance(po, (list, tuple, set)) and name in po)
            hap["Pref.Ori."][0] = "MD"
            hap["Pref.Ori."][2] = bool(use_po)
            if use_po:
                hap["Pref.Ori."][3] = list(recipe.po_axis)


def _pin_collapsed_sizes(p: Project, fixed_um: float, pinned: set, warnings: list) -> bool:
    controls = p.proj.data["Controls"]["data"]
    frozen = controls.setdefault("parmFrozen", {}).setdefault("FrozenList", [])
    bottom = controls.get("parmMinDict", {})
    hit = False
    for n, ph in p.phases:
        hap = next(iter(ph.data["Histograms"].values()))
        key = f"{ph.data['pId']}:{p.hist.data['data'][0]['hId']}:Size;i"
        if key in bottom and key not in pinned and hap["Size"][2][0] and hap["Size"][1][0] <= bottom[key]:
            hap["Size"][1][0] = float(fixed_um)
            pinned.add(key)
            if key not in [str(v) for v in frozen]:
                frozen.append(key)
            warnings.append(f"crystallite size of {n} collapsed to the lower limit; held at {fixed_um:g} µm")
            hit = True
    return hit


def _thaw(p: Project, pinned=()):
    """Let parameters GSAS-II froze at a limit in an earlier step refine again (from the limit),
    except crystallite sizes at the upper limit: their broadening is negligible."""
    controls = p.proj.data["Controls"]["data"]
    frozen = controls.get("parmFrozen", {}).get("FrozenList")
    if not frozen:
        return
    top = controls.get("parmMaxDict", {})
    keep = []
    for v in frozen:
        name = str(v)
        if name in pinned:
            keep.append(v)
            continue
        if name.endswith(":Size;i") and name in top:
            hap_value = _size_value(p, name)
            if hap_value is not None and hap_value >= top[name]:
                keep.append(v)
    frozen[:] = keep


def _retry_sizes(p: Project, start_um: float, retried: set) -> bool:
    """Crystallite sizes frozen at the upper limit (each once per run): restart them at ``start_um``
    and let them refine again. True when any was restarted."""
    controls = p.proj.data["Controls"]["data"]
    frozen = controls.get("parmFrozen", {}).get("FrozenList") or []
    top = controls.get("parmMaxDict", {})
    bottom = controls.get("parmMinDict", {})
    again = []
    for v in list(frozen):
        name = str(v)
        if name.endswith(":Size;i") and name not in retried:
            value = _size_value(p, name)
            if value is None:
                continue
            if (name in top and value >= top[name] > start_um) or (name in bottom and value <= bottom[name] < start_um):
                again.append(name)
    for name in again:
        retried.add(name)
        pid = name.split(":")[0]
        for _, ph in p.phases:
            if str(ph.data["pId"]) == pid:
                next(iter(ph.data["Histograms"].values()))["Size"][1][0] = float(start_um)
    if again:
        frozen[:] = [v for v in frozen if str(v) not in again]
    return bool(again)


def _start_sizes(p: Project, size, start_um: float, started: set):
    """Put the size of each phase that a step refines for the first time at ``start_um``."""
    for name, ph in p.phases:
        if name in started or not (size is True or (isinstance(size, (list, tuple, set)) and name in size)):
            continue
        started.add(name)
        for hap in ph.data["Histograms"].values():
            hap["Size"][1][0] = float(start_um)


def _size_value(p: Project, name):
    pid = name.split(":")[0]
    for _, ph in p.phases:
        if str(ph.data["pId"]) == pid:
            return float(next(iter(ph.data["Histograms"].values()))["Size"][1][0])
    return None


def _reshape_humps(p: Project, rtol: float = 0.01) -> bool:
    """Give every hump back the native engine's shape (η = 0.5) at its refined FWHM.

    GSAS-II refines a hump's Gaussian variance with its Lorentzian width held, so η drifts when the
    start FWHM was off; here the Lorentzian width is set to the share that gives η = 0.5 at the
    refined TCH FWHM and the Gaussian variance re-solved. True when any width moved by more than
    ``rtol``.
    """
    changed = False
    for pk in p.hist.data["Background"][1].get("peaksList", []):
        gg = 2.0 * np.sqrt(2.0 * np.log(2.0) * max(pk[4], 0.01)) / 100.0
        gl = max(pk[6], 0.1) / 100.0
        fwhm = tch_fwhm(gg, gl)
        new = hump_peak(pk[0], fwhm)
        if abs(new[6] - pk[6]) > rtol * pk[6]:
            pk[4], pk[6] = new[4], new[6]
            changed = True
    if changed:  # a width frozen at a limit is free again from its new start
        frozen = p.proj.data["Controls"]["data"].get("parmFrozen", {}).get("FrozenList")
        if frozen:
            frozen[:] = [v for v in frozen if ":BkPksig;" not in str(v)]
    return changed


def _fold_histogram_scale(p: Project):
    sample = p.hist.data["Sample Parameters"]
    s = float(sample["Scale"][0])
    for _, ph in p.phases:
        for hap in ph.data["Histograms"].values():
            hap["Scale"][0] *= s
    sample["Scale"] = [1.0, False]


def run_recipe(p: Project, recipe: GsasRecipe, log: io.StringIO, warnings: list) -> dict:
    """Run the internal scale step then the recipe steps; return the last step's Rvals."""
    on: dict = {"background": True, "histogram_scale": True, "humps": "area"}
    set_flags(p, on, recipe)
    refine_step(p, log, "initial scale", recipe.max_cycles, warnings)
    _fold_histogram_scale(p)
    on = {"background": True, "humps": "area"}
    rvals = {}
    retried: set = set()
    started: set = set()
    pinned: set = set()
    for i, step in enumerate(recipe.steps, 1):
        for key, val in step.items():
            if key in ("name", "cycles"):
                continue
            if val:
                on[key] = val
        set_flags(p, on, recipe)
        _start_sizes(p, on.get("size"), recipe.size_start_um, started)
        _thaw(p, pinned)
        name = step.get("name", f"step {i}")
        rvals = refine_step(p, log, name, step.get("cycles", recipe.max_cycles), warnings)
        if on.get("size") and _pin_collapsed_sizes(p, recipe.size_fixed_um, pinned, warnings):
            # a size that collapsed to the lower limit (a weak phase whose peaks the size smeared
            # into the background) is put back at the fixed size and no longer refined
            rvals = refine_step(p, log, name + " (collapsed sizes fixed)", step.get("cycles", recipe.max_cycles), warnings)
        if on.get("size") and recipe.size_retry_um and _retry_sizes(p, recipe.size_retry_um, retried):
            # a size that ran to the upper limit from below gets a second start from above
            rvals = refine_step(p, log, name + " (sizes restarted)", step.get("cycles", recipe.max_cycles), warnings)
        if on.get("humps") is True and _reshape_humps(p) and i == len(recipe.steps):
            # keep η = 0.5 like the native hump: re-shaped after every step that refines humps,
            # and one more pass after the last one
            rvals = refine_step(p, log, name + " (humps re-shaped)", step.get("cycles", recipe.max_cycles), warnings)
        if not rvals.get("converged", True) and not rvals.get("skipped"):
            warnings.append(f"GSAS-II step {name!r} stopped before convergence (max cycles {step.get('cycles', recipe.max_cycles)})")
        for _, ph in p.phases:
            for hap in ph.data["Histograms"].values():
                if hap["Scale"][0] <= 0:
                    warnings.append(f"phase fraction of {_} refined to {hap['Scale'][0]:.3g} (≤ 0) in step {name!r}")
    return rvals


