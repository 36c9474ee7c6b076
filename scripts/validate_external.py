#!/usr/bin/env python
"""External standard (G-factor) and PONKCS on real and independent synthetic data → docs/validation-external.md.

    python scripts/validate_external.py [--shared ../shared] [--out docs/validation-external.md]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from xrdq import __version__
from xrdq._atomic import atomic_write_text
from xrdq.validation_external import (CPD_RANGE, S1, cpd_g_factors, cpd_null_test, load_prn, silica_halo,
                                      three_routes)

ROOT = Path(__file__).resolve().parents[1]


def g_table(gs_cif, gs_biso):
    lines = ["| pure phase | G (CIF B) | G (Biso refined) |", "|---|---:|---:|"]
    for ph in gs_cif:
        lines.append(f"| {ph} | {gs_cif[ph].G:.0f} ± {gs_cif[ph].G_esd:.0f} | {gs_biso[ph].G:.0f} ± "
                     f"{gs_biso[ph].G_esd:.0f} |")
    return lines


def null_table(rows, label):
    lines = [f"| case ({label}) | quantity | weighed wt% | xrdq wt% | esd | error |", "|---|---|---:|---:|---:|---:|"]
    for name, phases, (a, e), _ in rows:
        for i, (ph, (t, v, s)) in enumerate(phases.items()):
            lines.append(f"| {name if i == 0 else ''} | {ph} | {100 * t:.2f} | {100 * v:.2f} | {100 * s:.2f} | "
                         f"{100 * (v - t):+.2f} |")
        lines.append(f"| | amorphous | 0 | {100 * a:.2f} | {100 * e:.2f} | {100 * a:+.2f} |")
    return lines


def s1_table():
    from xrdq.quant.api import quantify
    from xrdq.quant.external_standard import calibrate_scale

    g, _ = calibrate_scale(S1 / "pure_Al2O3.xye", ["Al2O3"], instrument="miniflex600")
    lines = [f"G from `pure_Al2O3.xye`: {g.G:.1f} ± {g.G_esd:.1f}.", "",
             "| case | truth A wt% | internal standard | external standard | consistency |", "|---|---:|---:|---:|---:|"]
    for case in ("alumina_a75", "oxide_a00", "zno_caf2_a55"):
        t = json.loads((S1 / f"{case}.truth.json").read_text())
        comp = dict(t["sample"]["phases"])
        if t["amorphous_formula"]:
            comp[t["amorphous_formula"]] = t["sample"]["amorphous"]
        std = t["standard"]
        res = quantify(S1 / f"{case}.xye", phases=list(t["sample"]["phases"]), standard=(std["phase"], std["weighed_fraction"]),
                       purity=std["purity"], instrument="miniflex600", external_standard=g,
                       sample_composition=",".join(f"{k}:{v}" for k, v in comp.items()))
        est = res.amorphous_estimates
        cells = [f"{100 * est[k][0]:.2f} ± {100 * est[k][1]:.2f} ({100 * (est[k][0] - t['sample']['amorphous']):+.2f})"
                 for k in ("internal_standard", "external_standard")]
        lines.append(f"| {case} | {100 * t['sample']['amorphous']:.2f} | {cells[0]} | {cells[1]} | "
                     f"{res.amorphous_consistency:.2f} |")
    return lines


def routes_table(halo):
    lines = ["| silica in mixture | truth A wt% | internal standard | external standard | PONKCS | consistency |",
             "|---:|---:|---:|---:|---:|---:|"]
    for f, truth, res in three_routes(halo, fractions=(0.1, 0.4, 0.7)):
        est = res.amorphous_estimates
        cells = [f"{100 * est[k][0]:.2f} ± {100 * est[k][1]:.2f} ({100 * (est[k][0] - truth):+.2f})"
                 for k in ("internal_standard", "external_standard", "ponkcs")]
        lines.append(f"| {f:.1f} | {100 * truth:.2f} | " + " | ".join(cells) + f" | {res.amorphous_consistency:.2f} |")
    return lines


def ponkcs_self(shared, g):
    from xrdq.quant.api import quantify
    from xrdq.quant.ponkcs import calibrate_ponkcs

    silica = load_prn(Path(shared) / "data" / "qpa" / "cpd-pure" / "SILICA.PRN")
    phase, det = calibrate_ponkcs(silica, "silica", "SiO2", calibration=g, instrument="cpd-pw3020",
                                  two_theta_range=CPD_RANGE)
    res = quantify(silica, phases=[phase], standard=None, external_standard=g, sample_composition="SiO2",
                   instrument="cpd-pw3020", two_theta_range=CPD_RANGE, biso=True)
    v, e = res.amorphous_estimates["ponkcs"]
    return (f"PONKCS silica from SILICA.PRN with G (Biso) from CORUNDUM.PRN: {len(phase.humps)} humps, curve fit "
            f"Rwp {100 * det['fit']['rwp']:.2f} % (GoF {det['fit']['gof']:.2f}); refitted as a phase: Rwp "
            f"{100 * res.rwp:.2f} %, **{100 * v:.2f} ± {100 * e:.2f} wt%** silica (truth 100).")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "validation-external.md"))
    args = ap.parse_args()
    t0 = time.time()
    data = Path(args.shared) / "data"
    gs_cif, gs_biso = cpd_g_factors(data, biso=False), cpd_g_factors(data, biso=True)
    null_biso = cpd_null_test(data, gs_biso["Al2O3"], biso=True)
    null_cif = cpd_null_test(data, gs_cif["Al2O3"], biso=False)
    lines = [
        "# Validation: external standard (G-factor) and PONKCS", "",
        f"Generated by `python scripts/validate_external.py` with xrdq {__version__}; the same computations are "
        "asserted by `tests/quant/test_external_standard_real.py` and `test_external_standard_synthetic.py`. "
        "Method: docs/method.md §8–10. Fractions in wt%; errors are xrdq − truth.", "",
        "## G from three pure phases (IUCr CPD, Philips PW3020, real data)", "",
        "The same instrument constant must come out of every pure phase; with a wrong volume power in the scale "
        "convention the three would differ by factors of 1.6–5 (cell volumes 255, 163, 48 Å³). With the CIF "
        "displacement parameters they spread by 3.6 %, with an overall B refined per phase by 2 %: the specimens' "
        "B differ from the CIFs', so the CPD runs below refine B (`--biso`) in calibration and samples alike.", "",
        *g_table(gs_cif, gs_biso), "",
        "## Null test: CPD-1A–1D without any standard, G from CORUNDUM.PRN (real data)", "",
        "The mixtures contain no amorphous material; µ* from the weighed composition. Issue #12 asks for "
        "crystalline within 1.0 wt% and amorphous within ±1.5 wt%: met for 1B and 1C; 1A (fluorite +1.15) and 1D "
        "(corundum +1.31, fluorite +1.06, amorphous −1.99) miss it, inside 2 esd. The pure fluorite pattern gives a "
        "G 2 % below corundum's while fluorite in the mixtures comes out 1–2 % high: the specimens differ "
        "(texture, surface, microabsorption) by about what the method can resolve on this data set.", "",
        *null_table(null_biso, "Biso refined"), "",
        "With the CIF B values (default recipe) the same chain is 3–4.5 wt% off — a recipe that is fine for "
        "crystalline-normalised fractions is not fine for an absolute scale:", "",
        *null_table(null_cif, "CIF B"), "",
        "## GSAS-II scale series S1 (independent simulator, one absolute scale)", "",
        "Cases from reference_patterns/validation/gsas2 (docs there); default recipe, miniflex600.", "",
        *s1_table(), "",
        "## All three routes: GSAS-II crystalline patterns + the measured silica halo at known amounts", "",
        "`oxide_a00` (S1: corundum, zincite, fluorite, LiF spike) with the CPD silica halo added at a known "
        "fraction of the mixture (`xrdq.validation_external.with_silica`); PONKCS silica calibrated on the 20 % "
        "pattern by its known crystalline fractions; G from the S1 pure corundum. Truth A is the silica fraction "
        "of the original (unspiked) sample.", "",
        *routes_table(silica_halo(data)), "",
        "Internal and external standard recover the amorphous fraction within about 1 wt%. PONKCS does not: the "
        "silica halo has very broad components (FWHM up to 30°) that trade with the 8-term background, so the "
        "curve calibrated at 20 % silica (σ(ZMV)/ZMV from the calibration fit) carries a piece of background "
        "that does not scale with the silica and S_p absorbs the difference — errors of several wt% that grow "
        "with the silica fraction. Calibrated instead on a pure-silica pattern with G (same construction), the "
        "errors were −2.9, −2.6 / −0.4 (two noise seeds), +1.9 wt% at 10, 40, 70 % (esd 1.2–1.6). The "
        "consistency column is how a user sees it: beyond 2 the result says the estimates disagree.", "",
        "## PONKCS on the pure silica pattern (real data)", "",
        ponkcs_self(args.shared, gs_biso["Al2O3"]), "",
        f"_Total run time {time.time() - t0:.0f} s._", "",
    ]
    atomic_write_text(args.out, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
