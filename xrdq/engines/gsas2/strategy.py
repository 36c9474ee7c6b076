"""The GSAS-II refinement strategy: run the recipe's cumulative steps, keeping crystallite sizes and
amorphous humps physical between steps (pin collapsed sizes, thaw frozen ones, re-shape humps)."""

from __future__ import annotations

import contextlib
import copy
import io
import re
from dataclasses import dataclass, field

import numpy as np

from ...crystal.cif import unique_labels
from ...errors import XrdqRefineError
from ...model.profile import tch_fwhm
from ...refine.specs import CUBIC_PO_PROBE
from .guards import (CELL_LIMIT, FRACTION_FLOOR, SIGNIFICANT_SCALE, cell_offset, chi2_of, chi2_start_of, dof_of,
                     ended_above_start, free_cell_wins, n_cell_terms, phase_scales, restore, set_cell, snapshot, structure_cells,
                     weak_phases)
from .project import Project, hump_peak, quiet
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
    # a copy: the project's Rvals dict is updated by the next refinement, and the strategy compares the χ² of
    # two runs (aliased, a restart "no better than" the run before was always judged no better, and restored)
    return copy.deepcopy(rvals)


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
        return {"converged": False, "skipped": True, "error": str(exc)}
    warnings.append(f"GSAS-II step {step_name!r} failed ({first}); refined again from its start with stronger damping")
    return rvals


def refine_no_worse(p: Project, log: io.StringIO, step_name: str, cycles: int, warnings: list) -> dict:
    """:func:`refine_step`, and if it ends with a higher χ² than it started from, once more from its start with
    Marquardt's damping raised; the lower χ² of the start and the two runs stands.

    GSAS-II's first cycle is nearly undamped: lahc_a25's last step, adding a zero shift 99.7 % correlated with
    the displacement, ended at χ² 3949.5 from 3948.9 (3946.0 damped); li2o_a75's restarted sizes, refined
    with U, W and SH/L freed again, ended at 3946.8 from 3941.5. Frees nothing and holds nothing: with more
    parameters refined, ending above the start is a failure of the minimiser, not a property of the data."""
    start = snapshot(p)
    rvals = refine_step(p, log, step_name, cycles, warnings)
    if rvals.get("skipped") or not ended_above_start(rvals):
        return rvals
    chi2_start, first = chi2_start_of(rvals), snapshot(p)
    restore(p, start)
    p.proj.data["Controls"]["data"]["Marquardt"] = 0  # log10 λ₀ (GSAS-II resets it to −3 after each run)
    again = refine_step(p, log, step_name + " (from its start, damped)", cycles, warnings)
    best = min((chi2_start, "start"), (chi2_of(rvals), "first"), (chi2_of(again), "damped"))[1]
    if best == "damped":
        how = f"refined again from its start with stronger damping: χ² {chi2_of(again):.1f}"
        out = again
    elif best == "first":
        restore(p, first)
        how, out = "stronger damping did no better: the first result stands", rvals
    else:
        restore(p, start)
        how, out = "stronger damping did no better: the step's start stands", {**rvals, "chisq": chi2_start}
    warnings.append(f"GSAS-II step {step_name!r} ended above its start (χ² {chi2_start:.1f} → {chi2_of(rvals):.1f}); {how}")
    return out


def set_flags(p: Project, on: dict, recipe: GsasRecipe, hold=(), cells_held=(), frozen=()):
    """Turn GSAS-II's refinement flags on as ``on`` says. ``hold``: phases without significant signal, whose
    cell, size, strain and texture stay put; ``cells_held``: phases whose cell alone stays at the structure's;
    ``frozen``: phases whose fraction stays where it is (on GSAS-II's floor, :func:`_freeze_floored`)."""
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
    sample.setdefault("Transparency", [0.0, False])[1] = bool(on.get("transparency"))
    inst = hist.data["Instrument Parameters"][0]
    prof = on.get("profile")
    prof = set(PROFILE_TERMS) if prof is True else set(prof or ())
    for term in PROFILE_TERMS:
        inst[term][2] = term in prof
    inst["Zero"][2] = bool(on.get("zero"))
    po = on.get("preferred_orientation")
    size, strain = on.get("size"), on.get("strain")
    _structure_flags(p, on.get("structure") or {}, hold)
    for name, ph in p.phases:
        free = name not in hold
        ph.data["General"]["Cell"][0] = bool(on.get("cells")) and free and name not in cells_held
        for hap in ph.data["Histograms"].values():
            hap["Scale"][1] = bool(on.get("fractions")) and name not in frozen
            hap["Size"][2][0] = free and _names(size, name)
            axis = (on.get("uniaxial_size") or {}).get(name)
            if axis is not None and hap["Size"][0] != "uniaxial":
                # from the isotropic solution: the axial size starts where the equatorial one stands
                hap["Size"][0], hap["Size"][3] = "uniaxial", list(axis)
                hap["Size"][1][1] = hap["Size"][1][0]
            hap["Size"][2][1] = bool(axis is not None and hap["Size"][2][0])
            hap["Mustrain"][2][0] = free and _names(strain, name)
            # True: every non-cubic phase (a cubic phase has no unique axis to orient along); a list names the
            # phases (all along po_axis), a dict gives each named phase its own axis
            cubic = ph.data["General"]["SGData"].get("SGSys") == "cubic"
            use_po = free and ((po is True and not cubic) or (po is not True and _names(po, name)))
            hap["Pref.Ori."][0] = "MD"
            hap["Pref.Ori."][2] = bool(use_po)
            if use_po:
                hap["Pref.Ori."][3] = list(po[name] if isinstance(po, dict) else recipe.po_axis)
                if cubic and hap["Pref.Ori."][1] == 1.0:
                    # GSAS-II averages the factor over the symmetry equivalents (GetPrefOri over Uniq), as the native
                    # model does; for a cubic phase it then moves only in second order at 1, where least squares
                    # would never leave it: start at the native engine's probe ratio
                    hap["Pref.Ori."][1] = CUBIC_PO_PROBE


def _structure_flags(p: Project, structure: dict, hold=()):
    """X flags on the atoms whose coordinates ``structure`` names (GSAS-II constrains an atom on a special position to
    its site symmetry itself), F flags on each pair of partly occupied sites with a constraint holding
    mult₁·frac₁ + mult₂·frac₂ at its start (the element's number per cell, so the phase's mass cannot move; added once
    per pair); every other atom's flags off. A held phase (no signal) refines none. Nothing is touched before a step
    names a structure (the CIF's atoms come in with no flags)."""
    if not structure:
        return
    done = p.constraints
    for name, ph in p.phases:
        spec = structure.get(name) if name not in hold else None
        cx, ct, cs, _ = ph.data["General"]["AtomPtrs"]
        labels = unique_labels([str(a[0]) for a in ph.data["Atoms"]])  # xrdq's names of the same CIF rows
        atoms = dict(zip(labels, ph.data["Atoms"]))
        index = {label: i for i, label in enumerate(labels)}
        flags = dict.fromkeys(atoms, "")
        for label in (spec or {}).get("atoms", ()):
            if label in flags:
                flags[label] += "X"
        for pair in (spec or {}).get("pairs", ()):
            if not all(label in atoms for label in pair):
                continue
            for label in pair:
                flags[label] += "F"
            key = (name, tuple(pair))
            if key not in done:
                mult = [float(atoms[label][cs + 1]) for label in pair]
                total = sum(m * float(atoms[label][cx + 3]) for m, label in zip(mult, pair))
                with quiet():
                    p.proj.add_EqnConstr(total, [f"{ph.id}::Afrac:{index[label]}" for label in pair], mult)
                done.add(key)
        for label, atom in atoms.items():
            atom[ct + 1] = flags[label]


def _names(flag, name) -> bool:
    """A step's per-phase flag: True for every phase, or a collection of phase names."""
    return flag is True or (isinstance(flag, (list, tuple, set, dict)) and name in flag)


def _sizes(p: Project) -> dict:
    return {n: float(next(iter(ph.data["Histograms"].values()))["Size"][1][0]) for n, ph in p.phases}


def _recover_collapsed(p: Project, before: dict, st) -> bool:
    """Sizes that a step drove to the lower limit (each phase once per run) back at their value before the
    step and held (``st.sizes_held``) for one run; True when any was."""
    controls = p.proj.data["Controls"]["data"]
    bottom = controls.get("parmMinDict", {})
    frozen = controls.setdefault("parmFrozen", {}).setdefault("FrozenList", [])
    hid = p.hist.data["data"][0]["hId"]
    hit = []
    for n, ph in p.phases:
        hap = next(iter(ph.data["Histograms"].values()))
        key = f"{ph.data['pId']}:{hid}:Size;i"
        if (n not in st.recovered and key in bottom and hap["Size"][2][0] and hap["Size"][1][0] <= bottom[key]
                and before.get(n, 0.0) > bottom[key]):
            hap["Size"][1][0] = before[n]
            hit.append(n)
            frozen[:] = [v for v in frozen if str(v) != key]
    st.recovered.update(hit)
    st.sizes_held.update(hit)
    return bool(hit)


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


def sizes_at_top(p: Project, retried=()) -> list:
    """Names of the GSAS-II size parameters frozen at their upper limit (not in ``retried``)."""
    controls = p.proj.data["Controls"]["data"]
    frozen = controls.get("parmFrozen", {}).get("FrozenList") or []
    top = controls.get("parmMaxDict", {})
    out = []
    for v in frozen:
        name = str(v)
        if name.endswith(":Size;i") and name in top and name not in retried:
            value = _size_value(p, name)
            if value is not None and value >= top[name]:
                out.append(name)
    return out


def _restart_sizes(p: Project, names, start_um: float):
    """Put the sizes ``names`` (GSAS-II parameter names) at ``start_um`` and free them."""
    for name in names:
        pid = name.split(":")[0]
        for _, ph in p.phases:
            if str(ph.data["pId"]) == pid:
                next(iter(ph.data["Histograms"].values()))["Size"][1][0] = float(start_um)
    frozen = p.proj.data["Controls"]["data"].get("parmFrozen", {}).get("FrozenList")
    if frozen:
        frozen[:] = [v for v in frozen if str(v) not in set(names)]


def _start_sizes(p: Project, size, start_um: float, started: set, hold=()):
    """Put the size of each phase that a step refines for the first time at ``start_um``."""
    for name, ph in p.phases:
        if name in started or name in hold or not _names(size, name):
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


@dataclass
class _State:
    """What the strategy remembers across steps."""

    structure: dict  # phase -> the structure's cell
    held: set = field(default_factory=set)  # phases without significant signal (cell, size, strain, texture held)
    cells_held: set = field(default_factory=set)  # phases whose cell failed the cell check
    judged: bool = False  # the fractions have been refined once: the weak phases are known
    frozen: set = field(default_factory=set)  # held phases whose fraction stays on GSAS-II's floor
    started: set = field(default_factory=set)
    pinned: set = field(default_factory=set)
    retried: set = field(default_factory=set)
    recovered: set = field(default_factory=set)  # phases whose collapsed size was restarted once
    sizes_held: set = field(default_factory=set)  # sizes held for one run after such a restart


def run_recipe(p: Project, recipe: GsasRecipe, log: io.StringIO, warnings: list) -> dict:
    """Run the internal scale step then the recipe steps; return the last step's Rvals."""
    on: dict = {"background": True, "histogram_scale": True, "humps": "area"}
    set_flags(p, on, recipe)
    refine_step(p, log, "initial scale", recipe.max_cycles, warnings)
    _fold_histogram_scale(p)
    st = _State(structure=structure_cells(p))
    on = {"background": True, "humps": "area"}
    rvals = {}
    for i, step in enumerate(recipe.steps, 1):
        # a term a step sets to False is off from that step on; None or empty changes nothing
        on.update({k: v for k, v in step.items() if k not in ("name", "cycles") and (v or v is False)})
        name, cycles = step.get("name", f"step {i}"), step.get("cycles", recipe.max_cycles)
        rvals = _run_step(p, recipe, on, name, cycles, log, warnings, st, last=i == len(recipe.steps))
    return rvals


def _apply(p: Project, on: dict, recipe: GsasRecipe, st: _State):
    set_flags(p, on, recipe, hold=st.held, cells_held=st.cells_held, frozen=st.frozen)
    for name, ph in p.phases:
        if name in st.sizes_held:
            for hap in ph.data["Histograms"].values():
                hap["Size"][2][0] = False
    _start_sizes(p, on.get("size"), recipe.size_start_um, st.started, hold=st.held)
    _thaw(p, st.pinned)


_INVALID_CELL = re.compile(r"(?:Invalid|Infinite) metric tensor for phase #\d+\s*\((.+?)\)")


def _cell_made_invalid(rvals: dict, on: dict, st: _State) -> str | None:
    """The phase whose refined cell GSAS-II drove to an invalid (or infinite) metric tensor in a step it then
    skipped, if its cell was refined there (GSAS-II names it: 'Invalid metric tensor for phase #2 (NAME)')."""
    m = _INVALID_CELL.search(rvals.get("error", "")) if rvals.get("skipped") else None
    name = m.group(1).strip() if m else None
    ok = name in st.structure and on.get("cells") and name not in st.cells_held and name not in st.held
    return name if ok else None


def _run_step(p, recipe, on, name, cycles, log, warnings, st: _State, last: bool) -> dict:
    """One recipe step and the checks after it (weak phases, sizes at a limit, cells, hump shapes)."""
    _apply(p, on, recipe, st)
    before = _sizes(p)
    rvals = refine_no_worse(p, log, name, cycles, warnings)
    bad = _cell_made_invalid(rvals, on, st)
    if bad is not None:
        # GSAS-II's first cycle is nearly undamped: a minor phase's cell took a step to a metric with a negative
        # diagonal, damped or not, and every later step that refined it failed alike (d2_lazco_a65_zro2: four steps
        # skipped, GoF 3.7, amorphous 45.7 % for 61.0). Its cell is held at the structure's, as the cell check
        # would, and the step runs again.
        if warnings and warnings[-1].startswith(f"GSAS-II step {name!r} failed"):
            warnings.pop()  # not skipped after all: said below
        set_cell(p, bad, st.structure[bad])
        st.cells_held.add(bad)
        _apply(p, on, recipe, st)
        warnings.append(f"cell of {bad}: GSAS-II drove it to an invalid metric tensor in step {name!r} (damped or not); "
                        "held at the structure's from there on, and the step run again")
        rvals = refine_no_worse(p, log, f"{name} (cell of {bad} held at its structure's)", cycles, warnings)
    if on.get("fractions") and _judge_phases(p, recipe, st, warnings, name):
        _apply(p, on, recipe, st)  # a phase just held had its cell or size refined in this step: again without
        rvals = refine_step(p, log, name + " (phases without signal held)", cycles, warnings)
    if on.get("size") and _recover_collapsed(p, before, st):
        # GSAS-II's first cycle is undamped: a size pushed through zero by a large move of the other
        # parameters (U and W in a profile step) goes back to its start and is held for one run, then freed
        _apply(p, on, recipe, st)
        refine_step(p, log, name + " (collapsed sizes held at their start)", cycles, warnings)
        st.sizes_held.clear()
        _apply(p, on, recipe, st)
        rvals = refine_step(p, log, name + " (sizes free again)", cycles, warnings)
    if on.get("size") and _pin_collapsed_sizes(p, recipe.size_fixed_um, st.pinned, warnings):
        # a size that collapsed to the lower limit (a weak phase whose peaks the size smeared
        # into the background) is put back at the fixed size and no longer refined
        rvals = refine_step(p, log, name + " (collapsed sizes fixed)", cycles, warnings)
    if on.get("size") and on.get("profile") and recipe.size_retry_um:
        rvals = _sizes_after_profile(p, recipe, on, name, cycles, log, warnings, st, rvals)
    if on.get("cells"):
        rvals = _check_cells(p, recipe, on, name, cycles, log, warnings, st, rvals)
    if on.get("cells") or on.get("displacement"):
        _freeze_floored(p, st, warnings, name)
    if on.get("humps") is True:
        rvals = _humps_reshaped(p, log, name, cycles, warnings, rvals, last)
    if last and not rvals.get("converged", True) and not rvals.get("skipped"):
        # the last step refines the most terms (the mirrored adaptive step: zero, Y, X, SH/L, strain, texture at
        # once) and may still be moving at its cycle limit: it goes on once from there, as one would in the GUI
        again = refine_no_worse(p, log, name + " (continued)", cycles, warnings)
        rvals = rvals if again.get("skipped") else again
    if not rvals.get("converged", True) and not rvals.get("skipped"):
        # like the native engine's intermediate stages: only the last step's convergence describes the solution
        warnings.append(f"GSAS-II step {name!r} stopped before convergence (max cycles {cycles})" if last else
                        f"GSAS-II intermediate step {name!r} stopped at its {cycles} cycles (the later steps went on "
                        "from there)")
    for n, ph in p.phases:
        for hap in ph.data["Histograms"].values():
            if hap["Scale"][0] <= 0:
                warnings.append(f"phase fraction of {n} refined to {hap['Scale'][0]:.3g} (≤ 0) in step {name!r}")
    return rvals


def _sizes_after_profile(p, recipe, on, name, cycles, log, warnings, st: _State, rvals) -> dict:
    """Sizes frozen at the upper limit get one more start once the instrument profile has been refined.

    A size runs to the upper limit (no size broadening) when the instrument's start U, W or SH/L already make
    the peaks too broad, and GSAS-II freezes it there; once the profile step has narrowed the instrument's
    peaks, the size broadening the data hold (LiF ≈ 1 µm: a Lorentzian width a quarter of the instrument's X
    on lahc_a25) is no longer refined. Restarted from below (:class:`GsasRecipe`: sizes converge from below),
    refined first with the profile held, then the step runs again and the lower χ² of the two stands, each size
    once per run."""
    names = sizes_at_top(p, st.retried)
    if not names:
        return rvals
    st.retried.update(names)
    snap = snapshot(p)
    _restart_sizes(p, names, recipe.size_retry_um)
    # first with the profile held, as the size step holds the positions: restarted together, the 0.3 µm sizes'
    # broad peaks sent U and W up on li2o_a75 and the step ended in a worse minimum (χ² 4162 → 4353)
    _apply(p, {**on, "profile": ()}, recipe, st)
    refine_step(p, log, name + " (sizes at the upper limit restarted, profile held)", cycles, warnings)
    _apply(p, on, recipe, st)
    again = refine_no_worse(p, log, name + " (sizes at the upper limit restarted)", cycles, warnings)
    if again.get("skipped") or chi2_of(again) >= chi2_of(rvals):
        restore(p, snap)
        return rvals
    return again


def _humps_reshaped(p, log, name, cycles, warnings, rvals, last: bool) -> dict:
    """Keep η = 0.5 like the native hump: re-shaped after every step that refines humps (the next step starts
    from there), and refined once more after the last one. If GSAS-II cannot refine the re-shaped humps (a
    singular normal matrix, twice), the solution before the re-shape stands: left re-shaped but not refitted,
    the humps would no longer fit the pattern; if the re-shaped humps fit worse, the lower χ² stands."""
    snap = snapshot(p) if last else None
    if not _reshape_humps(p) or not last:
        return rvals
    again = refine_step(p, log, name + " (humps re-shaped)", cycles, warnings)
    if again.get("skipped") or chi2_of(again) > chi2_of(rvals):
        restore(p, snap)
        why = "GSAS-II could not refine them re-shaped" if again.get("skipped") else "the re-shaped humps fit worse"
        warnings.append(f"amorphous humps kept as step {name!r} left them (η ≠ 0.5): {why}")
        return rvals
    return again


def _judge_phases(p: Project, recipe: GsasRecipe, st: _State, warnings: list, step_name: str) -> bool:
    """After the first step that refines the fractions, hold every phase whose fraction is not significant;
    after later ones, release a held phase whose fraction has become significant. True when a phase was
    held whose cell or size this step refined (the step must run again without them)."""
    scales = phase_scales(p)
    weak = set(weak_phases(scales))
    for name in sorted(st.held - weak):
        st.held.discard(name)
        warnings.append(f"phase {name}: fraction {scales[name][0]:.4g} ± {scales[name][1]:.2g} significant after step "
                        f"{step_name!r}; its cell and size are refined from here on")
    if st.judged:
        return False
    st.judged = True
    moved = False
    for name in sorted(weak):
        st.held.add(name)
        cell = next(ph for n, ph in p.phases if n == name).data["General"]["Cell"][1:7]
        moved |= any(abs(float(c) - s) > 1e-12 for c, s in zip(cell, st.structure[name])) or name in st.started
        set_cell(p, name, st.structure[name])
        for _, ph in [(n, ph) for n, ph in p.phases if n == name]:
            for hap in ph.data["Histograms"].values():
                hap["Size"][1][0] = float(recipe.size_fixed_um)
        f, e = scales[name]
        # on GSAS-II's floor the esd is that of a singular direction (±10⁹–10¹¹), not a number to print
        what = "on GSAS-II's floor" if f <= FRACTION_FLOOR else f"{f:.4g} ± {e:.2g}"
        warnings.append(f"phase {name}: fraction {what} is not significant (< {SIGNIFICANT_SCALE:g} esd) "
                        f"after step {step_name!r}: its cell is held at the structure's and its size at "
                        f"{recipe.size_fixed_um:g} µm (no signal to refine them from)")
    return moved


def _freeze_floored(p: Project, st: _State, warnings: list, step_name: str):
    """Stop refining the fraction of a held phase that is still on GSAS-II's floor (1e-12: GSAS-II cannot refine a
    negative fraction) once a step has refined the peak positions. On the floor the fraction is a singular
    direction of the normal matrix: on a fully amorphous sample with its nominal phases declared (amorphous_a100)
    every weight fraction read ±10¹⁰ wt%, GoF 2.28, and no step converged. Not before the positions are refined:
    a phase that is there but whose peaks are still off (a displaced specimen, a shifted cell) may start on the
    floor and must be free to come back. Its esd is then estimated at the end (readback.floored_fractions)."""
    for name, (f, _) in phase_scales(p).items():
        if name in st.held and name not in st.frozen and f <= FRACTION_FLOOR:
            st.frozen.add(name)
            warnings.append(f"phase {name}: fraction still on GSAS-II's floor after step {step_name!r}, which "
                            "refined the peak positions: no longer refined")


def _check_cells(p, recipe, on, name, cycles, log, warnings, st: _State, rvals) -> dict:
    """The native cell check: a cell > CELL_LIMIT from the structure's is restarted from the structure's
    (the lower χ² of the two minima stands), then held there unless the free cell fits significantly better."""
    for ph_name, ph in p.phases:
        if ph_name in st.held or ph_name in st.cells_held:
            continue
        offset = cell_offset(ph.data["General"]["Cell"][1:4], st.structure[ph_name])
        if offset <= CELL_LIMIT:
            continue
        chi2_far, snap = chi2_of(rvals), snapshot(p)
        set_cell(p, ph_name, st.structure[ph_name])
        near = refine_step(p, log, f"{name} (cell of {ph_name} restarted from its structure)", cycles, warnings)
        if chi2_of(near) < chi2_far:
            rvals = near
        else:
            restore(p, snap)
        now = cell_offset(ph.data["General"]["Cell"][1:4], st.structure[ph_name])
        if now <= CELL_LIMIT:
            warnings.append(f"cell of {ph_name} ran {100 * offset:.1f} % from its structure's in step {name!r}; "
                            f"restarted from the structure's: {100 * now:.2f} % (lower χ²)")
            continue
        chi2_free, dof, snap = chi2_of(rvals), dof_of(rvals), snapshot(p)
        set_cell(p, ph_name, st.structure[ph_name])
        st.cells_held.add(ph_name)
        _apply(p, on, recipe, st)
        held = refine_step(p, log, f"{name} (cell of {ph_name} held at its structure's)", cycles, warnings)
        if free_cell_wins(chi2_of(held), chi2_free, n_cell_terms(p, ph_name), dof, recipe.alpha):
            restore(p, snap)
            st.cells_held.discard(ph_name)
            warnings.append(f"cell of {ph_name} is {100 * now:.1f} % from its structure's (kept: it fits significantly "
                            f"better than the structure's cell, F-test at {recipe.alpha:g})")
        else:
            rvals = held
            warnings.append(f"cell of {ph_name} ran {100 * now:.1f} % from its structure's in step {name!r}: held at the "
                            "structure's (the free cell does not fit significantly better)")
    return rvals
