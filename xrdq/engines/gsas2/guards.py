"""The native engine's rules for keeping a refinement physical, applied between GSAS-II steps.

- A phase whose fraction is not significant (below ``SIGNIFICANT_SCALE`` esds) after the step that first
  refines the fractions has no signal to fit a cell, a size, a strain or a texture to: those are held at
  the structure's cell and the fixed size until its fraction becomes significant. Refined anyway, a
  phase without peaks walks its cell into nonsense (an "invalid metric tensor", or every reflection out of
  the data range) and GSAS-II fails the step.
- A cell that ran more than :data:`xrdq.refine.adaptive.CELL_LIMIT` from its structure's must prove itself,
  as in the native ``_cell_check``: the step is run again from the structure's cell and the lower χ² of
  the two minima stands; a cell still beyond the limit is then held at the structure's unless the free
  cell fits significantly better (F-test, one parameter per free cell term).

Pure decisions (:func:`weak_phases`, :func:`cell_offset`, :func:`free_cell_wins`) are separate from the
GSAS-II bookkeeping so that they can be tested without GSAS-II.
"""

from __future__ import annotations

import shutil

import numpy as np

from ...refine.adaptive import CELL_LIMIT, f_test

#: A phase fraction smaller than this many esds is not significant (the verdict's rule for the standard).
SIGNIFICANT_SCALE = 3.0
#: GSAS-II keeps a phase fraction ≥ 1e-12 (it cannot refine a negative one); at or below this it is on that floor.
FRACTION_FLOOR = 1e-10


def weak_phases(scales: dict, nsigma: float = SIGNIFICANT_SCALE) -> list:
    """Names whose (fraction, esd) is not significantly positive: f ≤ nsigma·esd, or no usable esd (not
    refined, or dropped by GSAS-II as singular: esd 0)."""
    out = []
    for name, (f, e) in scales.items():
        if not (np.isfinite(f) and np.isfinite(e)) or e <= 0 or f <= nsigma * e:
            out.append(name)
    return out


def cell_offset(cell, structure) -> float:
    """Largest relative change of a cell length (a, b, c) from the structure's."""
    return float(max(abs(float(c) / float(s) - 1.0) for c, s in zip(cell[:3], structure[:3])))


def free_cell_wins(chi2_held: float, chi2_free: float, n_cell: int, dof: int, alpha: float) -> bool:
    """True when the free cell fits significantly better than the structure's (nested F-test at ``alpha``)."""
    _F, p = f_test(chi2_held, chi2_free, n_cell, dof)
    return bool(p < alpha and chi2_free < chi2_held)


def phase_scales(p) -> dict:
    """{phase: (fraction, esd)} from the last GSAS-II refinement (esd ∞ for a fraction it did not refine)."""
    cov = p.proj.data["Covariance"]["data"]
    vary = [str(v) for v in cov.get("varyList", [])]
    sig = dict(zip(vary, cov.get("sig", [])))
    hid = p.hist.data["data"][0]["hId"]
    out = {}
    for name, ph in p.phases:
        f = float(next(iter(ph.data["Histograms"].values()))["Scale"][0])
        out[name] = (f, float(sig.get(f"{ph.data['pId']}:{hid}:Scale", np.inf)))
    return out


def structure_cells(p) -> dict:
    """{phase: [a, b, c, α, β, γ]} as read from the structures (call before any cell is refined)."""
    return {name: [float(v) for v in ph.data["General"]["Cell"][1:7]] for name, ph in p.phases}


def set_cell(p, name: str, cell) -> None:
    """Put ``name``'s cell back to ``cell`` (GSAS-II keeps the volume in Cell[7])."""
    from GSASII import GSASIIlattice as G2lat

    for n, ph in p.phases:
        if n == name:
            gen = ph.data["General"]
            gen["Cell"][1:7] = [float(v) for v in cell]
            gen["Cell"][7] = float(G2lat.calc_V(G2lat.cell2A(list(cell))))


def n_cell_terms(p, name: str) -> int:
    """Independent cell terms GSAS-II refines for ``name`` (its reciprocal-metric A terms)."""
    from GSASII import GSASIIlattice as G2lat

    for n, ph in p.phases:
        if n == name:
            return max(1, len(G2lat.cellUnique(ph.data["General"]["SGData"])))
    return 1


def snapshot(p) -> str:
    """Save the project and keep a copy of the .gpx: :func:`restore` returns to it."""
    from .project import quiet

    with quiet():
        p.proj.save()
    path = str(p.proj.filename) + ".snapshot"
    shutil.copyfile(p.proj.filename, path)
    return path


def restore(p, path: str) -> None:
    shutil.copyfile(path, p.proj.filename)
    p.proj.reload()


def chi2_of(rvals) -> float:
    value = (rvals or {}).get("chisq")
    return float(value) if value is not None and np.isfinite(value) else np.inf


def chi2_start_of(rvals) -> float:
    """χ² at the start of the refinement that returned ``rvals`` (GSAS-II keeps it as GOF0 over its degrees of
    freedom); NaN when GSAS-II did not report it."""
    rvals = rvals or {}
    gof0 = rvals.get("GOF0")
    if gof0 is None or not np.isfinite(gof0) or "Nobs" not in rvals or "Nvars" not in rvals:
        return float("nan")
    return float(gof0) ** 2 * dof_of(rvals)


def ended_above_start(rvals, rtol: float = 1e-5) -> bool:
    """True when a refinement ended with a higher χ² than it started from: least squares left the minimum it
    started in (GSAS-II's first cycle is nearly undamped) and settled in a worse one."""
    start = chi2_start_of(rvals)
    return bool(np.isfinite(start) and chi2_of(rvals) > start * (1.0 + rtol))


def dof_of(rvals) -> int:
    rvals = rvals or {}
    return int(rvals.get("Nobs", 0)) - int(rvals.get("Nvars", 0))


__all__ = ["CELL_LIMIT", "SIGNIFICANT_SCALE", "weak_phases", "cell_offset", "free_cell_wins", "phase_scales",
           "structure_cells", "set_cell", "n_cell_terms", "snapshot", "restore", "chi2_of", "chi2_start_of",
           "ended_above_start", "dof_of"]
