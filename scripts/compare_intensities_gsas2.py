#!/usr/bin/env python
"""Per-mass reflection intensities of xrdq and GSAS-II for the same phases, relative to LiF.

An internal-standard result rests on each phase's calculated intensity per unit mass relative to the standard's.
This builds one GSAS-II project (as the GSAS-II engine does) holding the named phases at equal weight fractions,
computes GSAS-II's reflection intensities without refining anything, and divides each reflection's by xrdq's
(peak areas of the same phase model at the same weight fraction). Where the two engines agree, every ratio is the
same constant (the polarisation convention, 1/2, divided out). A phase whose median ratio differs from LiF's by b
is, in a GSAS-II simulation, 100·b % stronger per mass than xrdq calculates it: xrdq reads that much more of it.
The differences come from the scattering-factor tables (xraydb: Waasmaier–Kirfel f0, Chantler f′ f″; GSAS-II: its
own f0 and Cromer–Liberman-type f′ f″) — neither is the truth. Needs GSAS-II (docs/gsas2.md).

    python scripts/compare_intensities_gsas2.py [PHASE ...]     # default: every bundled phase
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def ratios(names, two_theta=(10.0, 120.0, 0.01)) -> dict:
    """Phase → (median GSAS-II/xrdq intensity ratio over its reflections, number of reflections, median below 40°,
    median above 80°), reflections that merge differently in the two lists (ratio outside 0.9–1.1) left out."""
    from xrdq.crystal.spec import resolve_phase
    from xrdq.engines.gsas2 import project, readback, recipe, strategy
    from xrdq.model.instrument import load_instrument
    from xrdq.model.pattern import PhaseModel, PhaseParams
    from xrdq.model.simulate import simulate

    inst = load_instrument("miniflex600").replace(s_l=0.0, h_l=0.0)
    weights = {n: 1.0 / len(names) for n in names}
    pattern, _ = simulate(list(weights.items()), instrument=inst, seed=None, two_theta=two_theta)
    tt = pattern["two_theta"].values
    phases = {n: resolve_phase(n) for n in weights}
    p = project.build_project(pattern, [(n, ph.source) for n, ph in phases.items()], inst, Path(tempfile.mkdtemp()),
                              background_terms=1, size_start_um=10.0)
    for n, g2ph in p.phases:
        hap = next(iter(g2ph.data["Histograms"].values()))
        hap["Size"][1][0] = 10.0
        hap["Scale"][0] = weights[n] / g2ph.data["General"]["Mass"]
    strategy.set_flags(p, {}, recipe.GsasRecipe())
    readback.phase_partials(p, io.StringIO())  # computes the reflection lists' intensities
    out = {}
    for n, ph in phases.items():
        model = PhaseModel(ph, inst, (tt[0], tt[-1]))
        _, areas, _, _ = model.peak_list(PhaseParams(), inst)
        areas = areas[:model.d0.size] * weights[n] / (ph.cell_mass * ph.volume)
        r, at = [], []
        for row in np.asarray(p.hist.data["Reflection Lists"][n]["RefList"]):
            j = int(np.argmin(np.abs(model.d0 - row[4])))
            if abs(model.d0[j] - row[4]) < 1e-4 and tt[0] < row[5] < tt[-1] and areas[j] > 1e-3 * areas.max():
                r.append(row[11] * row[9] / areas[j] / 0.5)  # GSAS-II's polarisation for an unpolarised beam is 1/2 of xrdq's
                at.append(row[5])
        r, at = np.array(r), np.array(at)
        keep = (r > 0.9) & (r < 1.1)
        r, at = r[keep], at[keep]
        out[n] = (float(np.median(r)), int(r.size), float(np.median(r[at < 40])) if (at < 40).any() else float("nan"),
                  float(np.median(r[at > 80])) if (at > 80).any() else float("nan"))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phases", nargs="*")
    args = ap.parse_args()
    names = args.phases or sorted(p.stem for p in (ROOT / "reference_patterns" / "phases").glob("*.cif"))
    if "LiF" not in names:
        names = ["LiF"] + names
    res = ratios(names)
    ref = res["LiF"][0]
    print("| phase | reflections | GSAS-II / xrdq per mass, relative to LiF | below 40° | above 80° |")
    print("|---|---:|---:|---:|---:|")
    for n, (med, k, low, high) in res.items():
        print(f"| {n} | {k} | {100 * (med / ref - 1):+.2f} % | {100 * (low / ref - 1):+.2f} % | {100 * (high / ref - 1):+.2f} % |")


if __name__ == "__main__":
    main()
