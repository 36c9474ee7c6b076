"""Is the generator's truth right? GSAS-II refines its own clean simulated pattern back to the truth.

    python scripts/make_independent_set.py --check-gsas2

For a few cases of the table, the noise-free GSAS-II pattern (no humps, no background) is taken as the
observation; the phase fractions are started 30 % off, the displacement 10 µm, the zero 0.005° and the
sizes 20 % off, and all are refined in GSAS-II (from 30 µm / 0.02° / 50 % off GSAS-II's LM stopped in a
false minimum, wR 13–22 %); GSAS-II's weight fractions (``ComputeMassFracs``) must return the mixture's
crystalline fractions the truth JSON states. Prints one line per phase and returns 1 if any is off by more
than 0.05 wt%.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from independent_set_cases import CASES
from make_independent_set import (_quiet, case_seed, crystalline_info, draw_nuisance, mixture_fractions,
                                  mixture_mu, simulate_gsas2)

CHECK_CASES = ("lazco_a40_rep", "lac_a15_po", "milled_a55_zro2", "lyc_strain_a15")
TOLERANCE = 5e-4


def refine_back(c, workdir: Path) -> list[tuple[str, float, float]]:
    nuis = draw_nuisance(np.random.default_rng(case_seed(c["case"])), c)
    mix, am = mixture_fractions(c)
    mu_mix = mixture_mu(mix, am, crystalline_info(c, mix, workdir))
    proj, hist, phases, _ = simulate_gsas2(c, mix, mu_mix, nuis, workdir, refine_check=True)
    ycalc = np.asarray(hist.getdata("ycalc"), float)
    factor = 1e6 / np.max(ycalc)  # strongest peak at 10⁶ counts; the phase fractions follow
    y = ycalc * factor
    hist.data["data"][1][1][:] = y
    hist.data["data"][1][2][:] = 1.0 / np.maximum(y, 1.0)
    hist.data["Sample Parameters"]["Scale"][1] = False
    hist.data["Sample Parameters"]["Shift"] = [nuis["displacement_um"] + 10.0, True]
    hist.data["Instrument Parameters"][0]["Zero"][1:] = [nuis["instrument"]["zero_deg"] - 0.005, True]
    for k, ph in enumerate(phases):
        hap = ph.data["Histograms"][hist.name]
        hap["Scale"] = [hap["Scale"][0] * (1.3 if k % 2 else 0.7) * factor, True]
        hap["Size"][1][0] *= 1.2
        hap["Size"][2][0] = True
    proj.data["Controls"]["data"].update({"max cyc": 60, "min dM/M": 1e-10})
    with _quiet():
        proj.do_refinements([{}])
        got = hist.ComputeMassFracs()
    total = sum(v for k, v in mix.items() if k != "amorphous")
    wr = hist.get_wR()
    print(f"{c['case']}: GSAS-II wR {wr:.2g} % after refinement")
    if not wr < 0.1:
        raise RuntimeError(f"{c['case']}: GSAS-II did not converge on its own noise-free pattern (wR {wr:.3g} %)")
    return [(name, mix[name] / total, got[name][0]) for name in got]


def check_gsas2() -> int:
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="xrdq-valset-check-") as tmp:
        for c in CASES:
            if c["case"] not in CHECK_CASES:
                continue
            for name, truth, refined in refine_back(c, Path(tmp)):
                worst = max(worst, abs(refined - truth))
                print(f"{c['case']:16s} {name:14s} truth {100 * truth:8.4f} wt%  GSAS-II {100 * refined:8.4f} wt%  "
                      f"diff {100 * (refined - truth):+.4f}")
    print(f"largest |GSAS-II − truth| {100 * worst:.4f} wt% (tolerance {100 * TOLERANCE:.2f})")
    return int(worst > TOLERANCE)
