#!/usr/bin/env python
"""External standard (G-factor) and PONKCS on real and independent synthetic data → docs/validation-external.md.

    python scripts/validate_external.py [--shared ../shared] [--out docs/validation-external.md]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from xrdq import __version__
from xrdq._atomic import atomic_write_text
from xrdq.quant.external_standard import combine_calibrations
from xrdq.quant.ponkcs import calibrate_ponkcs
from xrdq.validation_external import (CPD_RANGE, S1, calibration_scatter, cpd_g_factors, cpd_null_test, load_prn,
                                      real_silica_routes, silica_halo, three_routes)

ROOT = Path(__file__).resolve().parents[1]
ROUTE_NAMES = {"internal_standard": "internal standard", "external_standard": "external standard", "ponkcs": "PONKCS"}


def spread(gs):
    values = [c.G for c in gs.values()]
    return 100 * (max(values) - min(values)) / min(values)


def g_table(gs_cif, gs_biso):
    lines = ["| pure phase | G (CIF B) | G (Biso refined) |", "|---|---:|---:|"]
    for ph in gs_cif:
        lines.append(f"| {ph} | {gs_cif[ph].G:.0f} ± {gs_cif[ph].G_esd:.0f} | {gs_biso[ph].G:.0f} ± "
                     f"{gs_biso[ph].G_esd:.0f} |")
    return lines


def null_table(rows, label):
    lines = [f"| case ({label}) | quantity | weighed wt% | xrdq wt% | esd | u | error | error/u |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, phases, (a, e), res in rows:
        for i, (ph, (t, v, s)) in enumerate(phases.items()):
            u = res.uncertainty[f"sample:{ph}"]
            lines.append(f"| {name if i == 0 else ''} | {ph} | {100 * t:.2f} | {100 * v:.2f} | {100 * s:.2f} | "
                         f"{100 * u:.2f} | {100 * (v - t):+.2f} | {(v - t) / u:+.1f} |")
        u = res.uncertainty["amorphous"]
        lines.append(f"| | amorphous | 0 | {100 * a:.2f} | {100 * e:.2f} | {100 * u:.2f} | {100 * a:+.2f} | {a / u:+.1f} |")
    return lines


def thin_corundum(res) -> dict:
    """What the default recipe refined on the pure corundum (``res``, its calibration's QuantResult): its thickness
    term and its transparency."""
    inv, _ = res.refinement.parameters["inv_mu_t"]
    pen = res.refinement.parameters["penetration_um"][0]
    accepted = any(d["accepted"] and "thickness" in d["term"] for d in res.refinement.decisions)
    return {"accepted": accepted, "mu_t": 1.0 / inv if inv else float("inf"), "penetration_um": pen,
            "t_mm": pen / inv * 1e-3 if inv else float("inf")}


def corundum_errors(rows) -> str:
    """Corundum's error relative to its weighed amount, per mixture."""
    return ", ".join(f"{name.removeprefix('CPD-').removesuffix('.xye')} {100 * (v / t - 1):+.1f} %"
                     for name, phases, _, _ in rows for ph, (t, v, _) in phases.items() if ph == "Al2O3")


def null_target(rows) -> str:
    """Which cases meet issue #12's null-test target (crystalline within 1.0 wt%, amorphous within ±1.5 wt%), and
    what misses it where it does not."""
    met, missed = [], []
    for name, phases, (a, _), _ in rows:
        case = name.removeprefix("CPD-").removesuffix(".xye")
        bad = [f"{ph} {100 * (v - t):+.2f}" for ph, (t, v, _) in phases.items() if abs(v - t) > 0.010]
        if abs(a) > 0.015:
            bad.append(f"amorphous {100 * a:+.2f}")
        (missed if bad else met).append(case + (f" ({', '.join(bad)})" if bad else ""))
    if not missed:
        return f"met for every case ({', '.join(met)})"
    return f"met for {', '.join(met) or 'none'}; not for {'; '.join(missed)} (wt%)"


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
    silica, rows = three_routes(halo, fractions=(0.0, 0.1, 0.4, 0.7), seeds=(2, 3, 4))
    cal = silica.calibration
    lines = [f"PONKCS silica from the pure-silica pattern (seed 1) with G: {len(silica.humps)} humps beside "
             f"{cal['background_terms']} Chebyshev terms + 1/2θ, Rwp {100 * cal['rwp']:.2f} % (GoF {cal['gof']:.2f}); "
             f"σ(ZMV)/ZMV = {100 * silica.zmv_esd / silica.zmv:.2f} % (curve scale {100 * cal['scale_rel_esd']:.2f} %, "
             "G and the curve).", "",
             "| silica in mixture | noise seed | truth A wt% | internal standard | external standard | PONKCS | PONKCS via | "
             "consistency |", "|---:|---:|---:|---:|---:|---:|---|---:|"]
    for f, seed, truth, res in rows:
        est = res.amorphous_estimates
        cells = [f"{100 * est[k][0]:.2f} ± {100 * est[k][1]:.2f} ({100 * (est[k][0] - truth):+.2f})"
                 for k in ("internal_standard", "external_standard", "ponkcs")]
        via = res.provenance.get("ponkcs_basis") or ""
        lines.append(f"| {f:.1f} | {seed} | {100 * truth:.2f} | " + " | ".join(cells) +
                     f" | {via.split(' (')[0]} | {res.amorphous_consistency:.2f} |")
    return lines


def counted_longer(halo, factors=(10.0, 100.0), seeds=(2, 3, 4)):
    """The three routes again with every pattern but the pure corundum counted N times as long (the Bragg part from
    the noise-free GSAS-II twin, Poisson noise of the whole): (table lines, summary line)."""
    routes = ("internal_standard", "external_standard", "ponkcs")
    lines = ["| counts | silica in mixture | noise seed | truth A wt% | internal standard | external standard | PONKCS | "
             "consistency | verdict |", "|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    from xrdq.quant.external_standard import calibrate_scale
    from xrdq.validation_external import s1_pattern

    g, _ = calibrate_scale(s1_pattern("pure_Al2O3"), ["Al2O3"], instrument="miniflex600")  # once for every N
    summary, worst_by = [], {}
    for n in factors:
        _, rows = three_routes(halo, fractions=(0.0, 0.1, 0.4, 0.7), seeds=seeds, counts_factor=n, g=g)
        worst = dict.fromkeys(routes, 0.0)
        within_u = checks = 0
        for f, seed, truth, res in rows:
            est = res.to_dict()["amorphous_estimates"]
            cells = []
            for k in routes:
                e = est[k]
                err = e["value"] - truth
                worst[k] = max(worst[k], abs(err))
                within_u += abs(err) <= 2 * e["uncertainty"]
                cells.append(f"{100 * e['value']:.2f} ± {100 * e['esd']:.2f} [{100 * e['uncertainty']:.2f}] "
                             f"({100 * err:+.2f})")
            checks += res.verdict != "ok"
            lines.append(f"| {n:g}× | {f:.1f} | {seed} | {100 * truth:.2f} | " + " | ".join(cells) +
                         f" | {res.amorphous_consistency:.2f} | {res.verdict} |")
        worst_by[n] = worst
        summary.append(f"at {n:g}× the largest errors are {100 * worst[routes[0]]:.2f} (internal), "
                       f"{100 * worst[routes[1]]:.2f} (external) and {100 * worst[routes[2]]:.2f} wt% (PONKCS), "
                       f"{within_u} of {3 * len(rows)} estimates within 2 u, {checks} of {len(rows)} verdicts not `ok`")
    met = [f"{n:g}×" for n, w in worst_by.items() if max(w.values()) <= 0.01]
    missed = {f"{n:g}×": [k.replace("_", " ") for k, v in w.items() if v > 0.01] for n, w in worst_by.items()}
    verdict = (f"All three routes recover the amorphous fraction within 1 wt% at {' and '.join(met)} — issue #12's "
               "synthetic check." if met else "No count level here has all three routes within 1 wt%.")
    verdict += "".join(f" At {n} beyond 1 wt%: {', '.join(ks)}." for n, ks in missed.items() if ks)
    return lines, "; ".join(summary) + ". " + verdict


def scatter_line(halo):
    from xrdq.quant.external_standard import calibrate_scale

    g, _ = calibrate_scale(S1 / "pure_Al2O3.xye", ["Al2O3"], instrument="miniflex600")
    a, claimed = calibration_scatter(halo, g)
    return (f"Over {a.size} independent noise realisations of the pure-silica calibration pattern, the curve's "
            f"effective scale (true halo against curve, both outside the background span of a 40 % mixture) is "
            f"{a.mean():.4f} on average (1 = unbiased), scatter {100 * a.std(ddof=1):.2f} % against a claimed "
            f"σ(ZMV)/ZMV of {100 * claimed.mean():.2f} %; seed 1, used above, is {100 * (a[0] - 1):+.2f} %.")


def ponkcs_self(shared, g):
    from xrdq.quant.api import quantify

    silica = load_prn(Path(shared) / "data" / "qpa" / "cpd-pure" / "SILICA.PRN")
    phase, det = calibrate_ponkcs(silica, "silica", "SiO2", calibration=g, instrument="cpd-pw3020",
                                  two_theta_range=CPD_RANGE)
    res = quantify(silica, phases=[phase], standard=None, external_standard=g, sample_composition="SiO2",
                   instrument="cpd-pw3020", two_theta_range=CPD_RANGE)
    v, e = res.amorphous_estimates["ponkcs"]
    return (f"PONKCS silica from SILICA.PRN with G from CORUNDUM.PRN (default recipe): {len(phase.humps)} humps, curve fit "
            f"Rwp {100 * det['fit']['rwp']:.2f} % (GoF {det['fit']['gof']:.2f}); refitted as a phase: Rwp "
            f"{100 * res.rwp:.2f} %, **{100 * v:.2f} ± {100 * e:.2f} wt%** silica (truth 100).")


def real_routes_table(rows, routes=("internal_standard", "external_standard")):
    lines = ["| mixture | standard (W_s) | truth A wt% | " + " | ".join(ROUTE_NAMES[r] for r in routes) + " | consistency | verdict |",
             "|---|---|---:|" + "---:|" * len(routes) + "---:|---|"]
    for letter, f, std, w_s, truth, res in rows:
        cells = []
        for route in routes:
            v, e = res.amorphous_estimates[route]
            u = res.uncertainty.get(f"estimate:{route}", e)
            cells.append(f"{100 * v:.2f} ± {100 * e:.2f} [{100 * u:.2f}] ({100 * (v - truth):+.2f})")
        lines.append(f"| CPD-1{letter} + {100 * f:g} % silica | {std} ({100 * w_s:.1f} %) | {100 * truth:.2f} | "
                     + " | ".join(cells) + f" | {res.amorphous_consistency:.2f} | {res.verdict} |")
    return lines


def real_routes_summary(rows, routes=("internal_standard", "external_standard")) -> str:
    err = {r: np.array([res.amorphous_estimates[r][0] - truth for *_, truth, res in rows]) for r in routes}
    z = {r: np.array([(res.amorphous_estimates[r][0] - truth) / res.uncertainty.get(f"estimate:{r}", res.amorphous_estimates[r][1])
                      for *_, truth, res in rows]) for r in err}
    flagged = [f"CPD-1{letter} + {100 * f:g} %: {res.verdict_reasons[0][:90]}…" for letter, f, _, _, _, res in rows
               if res.verdict != "ok"]
    return ("Mean absolute error of the amorphous fraction: "
            + ", ".join(f"{ROUTE_NAMES[r]} {100 * np.mean(np.abs(err[r])):.2f} wt% (largest {np.max(np.abs(z[r])):.1f} u)"
                        for r in routes) + ". "
            f"Consistency above 2 (verdict `check`) in {sum(res.amorphous_consistency > 2 for *_, res in rows)} of {len(rows)}. "
            + ("Not `ok`: " + "; ".join(flagged) if flagged else "Every verdict `ok`."))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "validation-external.md"))
    args = ap.parse_args()
    t0 = time.time()
    data = Path(args.shared) / "data"
    pure_fits = {}
    gs_cif, gs_biso = cpd_g_factors(data, biso=False, results=pure_fits), cpd_g_factors(data, biso=True)
    null_biso = cpd_null_test(data, gs_biso["Al2O3"], biso=True)
    null_cif = cpd_null_test(data, gs_cif["Al2O3"], biso=False)
    g_three = combine_calibrations(list(gs_cif.values()))
    null_three = cpd_null_test(data, g_three, biso=False)
    halo = silica_halo(data)
    halo_rows = routes_table(halo)
    longer_rows, longer_summary = counted_longer(halo)
    real_rows = real_silica_routes(data, gs_cif["Al2O3"])
    silica_phase, _ = calibrate_ponkcs(load_prn(data / "qpa" / "cpd-pure" / "SILICA.PRN"), "silica", "SiO2",
                                       calibration=gs_cif["Al2O3"], instrument="cpd-pw3020", two_theta_range=CPD_RANGE)
    three = ("internal_standard", "external_standard", "ponkcs")
    real_rows3 = real_silica_routes(data, gs_cif["Al2O3"], ponkcs=silica_phase)
    thin = thin_corundum(pure_fits["Al2O3"])
    lines = [
        "# Validation: external standard (G-factor) and PONKCS", "",
        f"Generated by `python scripts/validate_external.py` with xrdq {__version__}; the same computations are "
        "asserted by `tests/quant/test_external_standard_real.py` and `test_external_standard_synthetic.py`. "
        "Method: docs/method.md §8–10. Fractions in wt%; errors are xrdq − truth.", "",
        "## G from three pure phases (IUCr CPD, Philips PW3020, real data)", "",
        "The same instrument constant must come out of every pure phase; with a wrong volume power in the scale "
        "convention the three would differ by factors of 1.6–5 (cell volumes 255, 163, 48 Å³). With the default "
        f"recipe (CIF displacement parameters) they spread by {spread(gs_cif):.1f} %, with an overall B refined per "
        f"phase by {spread(gs_biso):.1f} %. The default recipe tests a finite specimen thickness (docs/method.md §1), "
        "and the pure corundum — the least absorbing of the three (linear µ 126 cm⁻¹ against 277 and 302) — needs it: "
        f"µt = {thin['mu_t']:.2f} beside a refined penetration 1/µ of {thin['penetration_um']:.0f} µm, i.e. a layer "
        f"≈ {thin['t_mm']:.1f} mm deep, whose high-angle reflections (to 2θ = 145°) the beam partly passes through. "
        "Before the term (2026-12-03) its G was 11956 with the CIF B, below zincite's by 1.8 %; the term raises it "
        f"by {100 * (gs_cif['Al2O3'].G / 11956 - 1):.1f} %, to within "
        f"{100 * abs(gs_cif['Al2O3'].G / gs_cif['ZnO'].G - 1):.1f} % of zincite's (fluorite's now lies "
        f"{100 * (1 - gs_cif['CaF2'].G / gs_cif['Al2O3'].G):.1f} % below). B refined had taken up the loss "
        "instead (12424); with both, B and thickness trade off (B = −0.28 Å²). Fluorite and zincite are thick enough "
        "and do not take the term. So the CPD runs below use the default recipe; until the term they refined B "
        "(`--biso`), which is the second column and the last table.", "",
        *g_table(gs_cif, gs_biso), "",
        "## Null test: CPD-1A–1D without any standard, G from CORUNDUM.PRN (real data)", "",
        "The mixtures contain no amorphous material; µ* from the weighed composition; the default recipe, which "
        "refines the specimen's transparency and thickness where the F-test warrants them (docs/method.md §1–2). "
        "Issue #12 asks for crystalline within 1.0 wt% and amorphous within ±1.5 wt%: "
        f"{null_target(null_cif)}. What the numbers say:", "",
        "- **Corundum comes out high in three of four mixtures**, relatively most where the matrix absorbs most "
        f"({corundum_errors(null_cif)} of its weighed amount), and the relative Hill–Howard route without G shows the "
        "same sign (docs/validation.md, CPD-1D). That is microabsorption of a low absorber (linear µ of "
        "corundum 126 cm⁻¹ beside zincite 277 and fluorite 302 cm⁻¹), not the G chain. Brindley's τ would need "
        "corundum particles of a few µm to account for 1D. No published particle sizes for "
        "CPD-1 were found, and fitting a size to these four files is the tuning the project forbids, so no "
        "correction is applied. It is in the uncertainty u (k = 1): the same model-uncertainty ensemble as with "
        "an internal standard, re-evaluated through G — recipe variants and Brindley's correction for 0–5 µm "
        "particles (docs/method.md §6, §8).",
        "- **Transparency** matters for an absolute scale: before it was refined (with B refined), fluorite in the "
        "fluorite-rich mixtures read 1.5–1.8 % high and the amorphous fractions of 1A and 1D were −1.71 and −2.11 wt%. "
        "**The specimen's thickness** matters as much: without the term, G from the too-thin corundum made zincite "
        "in 1C read −1.28 and corundum in 1D +1.11 wt% (B refined), or zincite +2.32 and the amorphous fractions "
        "down to −2.74 wt% (CIF B). The pure phases' G still differ (table above) — specimen preparation, surface, "
        "texture and the phases' own models, measured separately — which no counting esd carries. u does: G from "
        "one specimen is assumed to hold for another to ±1.4 % (docs/method.md §8), a model term of its own.", "",
        *null_table(null_cif, "default recipe"), "",
        f"G from all three pure phases as three specimens (`combine_calibrations`): G = {g_three.G:.0f} ± "
        f"{g_three.G_esd:.0f}, one specimen's G ± {g_three.G_specimen_sd:.0f} "
        f"({100 * g_three.G_specimen_sd / g_three.G:.2f} %) from another's, measured — so in the esd, not assumed in "
        f"u. The mean lies {100 * (g_three.G / gs_cif['Al2O3'].G - 1):+.1f} % from corundum's G, which moves every "
        f"fraction by as much; issue #12's target (G from corundum) is the table above. Here: {null_target(null_three)}.",
        "",
        *null_table(null_three, "G of three pure phases"), "",
        "With an overall B refined per phase as well, in calibration and samples (`--biso`, as these runs were made "
        "before the thickness term): B and the corundum's thickness trade off (its B refines to −0.28 Å²), and the "
        f"chain is worse — {null_target(null_biso)}:", "",
        *null_table(null_biso, "Biso refined"), "",
        "## GSAS-II scale series S1 (independent simulator, one absolute scale)", "",
        "Cases from reference_patterns/validation/gsas2 (docs there); default recipe, miniflex600.", "",
        *s1_table(), "",
        "## All three routes: GSAS-II crystalline patterns + the measured silica halo at known amounts", "",
        "`oxide_a00` (S1: corundum, zincite, fluorite, LiF spike) with the CPD silica halo added at a known "
        "fraction of the mixture (`xrdq.validation_external.with_silica`: Bragg part scaled by (1 − f)µ*_old/µ*_new, "
        "halo ∝ f/µ*_new, noise topped up to Poisson-like); the PONKCS silica is calibrated, as issue #12 asks, on "
        "the pure-silica pattern (f = 1) with G from the S1 pure corundum, its curve beside the refinement's own "
        "background (8 Chebyshev terms + 1/2θ). Truth A is the silica fraction of the original (unspiked) sample; "
        "'PONKCS via' is the scaling used (the more precise of spike and G).", "",
        *halo_rows, "",
        "Internal and external standard recover the amorphous fraction within 1 wt% in every case. PONKCS does in "
        "5 of 9 at these counts (at 100× the counts it does in every case: next section), and every error is "
        "inside 2 esd, and the esd (1.3–1.7 wt%) is "
        "honest, not inflated: the errors are two noise realisations, not a bias. (1) The GSAS-II file itself: "
        "with no silica at all (f = 0) PONKCS finds −2.4 ± 1.3 wt% — the crystalline pattern's noise projects "
        "onto the halo curve, and every mixture made from this one file shares it, scaled by its Bragg factor "
        "(hence the negative errors at 10 %). (2) The calibration pattern's noise:", "",
        scatter_line(halo), "",
        "so the curve is unbiased and its σ(ZMV) covers its scatter; the seed-1 curve's excess shows as the positive "
        "errors at 70 %. What limits PONKCS here is statistics: less than a tenth of the halo curve's norm lies outside an "
        "8-term background over 10–90°. A more rigid background (4 or 6 terms, in calibration and use alike; "
        "measured while building this) brings the esd to 0.8–1.1 wt% but not the errors, which reach 2.6 esd with "
        "4 terms (the background no longer follows the real one); with the former 3-term calibration background "
        "the noise-free mixtures were −2.2/−2.0/−2.0 wt% off, with 8 terms −2.1/−1.6/−1.3 (docs/method.md §9). "
        "Counting the calibration pattern longer is the practical lever. The consistency column is how a user "
        "sees a disagreement: beyond 2 the verdict says check.", "",
        "### The same, counted 10 and 100 times as long", "",
        "Whether the routes are unbiased, rather than how precise they are at the S1 counts, shows where counting "
        "no longer hides it. Every pattern but the pure corundum is counted N times as long "
        "(`with_silica(..., counts_factor=N)`: the Bragg part from `oxide_a00`'s noise-free GSAS-II twin in "
        "`gsas2-expected`, times N with the background and the halo, then Poisson noise of the whole, so every seed "
        "is its own realisation, the crystalline part's included). The patterns record a counting time of N and "
        "the corundum's of 1, so G's count factor carries the difference (docs/method.md §8). The PONKCS silica is "
        "calibrated on the pure-silica pattern counted as long (seed 1). Each estimate: value ± esd [u] (error).", "",
        *longer_rows, "",
        f"Summary: {longer_summary} A verdict that is not `ok` here is the consistency test: on its esds alone "
        "(docs/method.md §10), two estimates 0.3–0.5 wt% apart part by more than 2 combined esds once the esds are "
        "0.1–0.2 wt%.", "",
        "## Internal and external standard on real data with a real amorphous phase", "",
        "Each CPD-1 pattern with the measured amorphous silica added at 10, 20 and 40 wt% "
        "(`xrdq.validation.cpd_with_silica`: the two measured patterns summed with the weights absorption gives an "
        "infinitely thick specimen; nothing simulated, docs/validation.md), its largest phase the internal standard at "
        "its weighed fraction, G from CORUNDUM.PRN (default recipe) and the original sample's weighed composition (the spike "
        "left out: xrdq adds it). Both estimates are of the original sample: value ± esd [u, with the model's own] "
        "(error).", "",
        *real_routes_table(real_rows), "",
        real_routes_summary(real_rows) + " The external estimate's esd grows as 1/(1 − W_s): with the standard "
        "85 % of the mixture (1A) the original sample is a sixth of the specimen. Where the two routes part by more "
        "than their esds, that is a real disagreement of the data with the weighed truth, not a false alarm: before "
        "the thin corundum was corrected, 1C's two estimates parted by 2.1–2.6 combined esds (verdict `check`), G from "
        "the corundum being 1.8 % below zincite's. The consistency test stays on the esds (docs/method.md §10).", "",
        "The same mixtures with the silica declared too, as a PONKCS phase calibrated on SILICA.PRN with that G (the "
        "table at the end of this page): the third estimate. Its halo in the mixtures is the calibration pattern's own "
        "counts, so this tests how the curve separates from background and Bragg peaks in a mixture, not the "
        "calibration's noise.", "",
        *real_routes_table(real_rows3, three), "",
        real_routes_summary(real_rows3, three) + " PONKCS follows the truth in the corundum- and fluorite/zincite-"
        "mixed 1B and 1D. In the fluorite-rich 1A and zincite-rich 1C the curve trades with the background and the "
        "Bragg tails: off by 4–20 wt%, 3–9 of its esds. Every one of those is flagged `check` by the "
        "consistency test, and its u — the recipe variants, whose background order moves the curve's scale — is "
        "7–70 wt%. On real data a PONKCS estimate is to be read with its u and the consistency verdict, not its esd.", "",
        "## PONKCS on the pure silica pattern (real data)", "",
        ponkcs_self(args.shared, gs_cif["Al2O3"]), "",
        f"_Total run time {time.time() - t0:.0f} s._", "",
    ]
    atomic_write_text(args.out, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
