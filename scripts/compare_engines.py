#!/usr/bin/env python
"""Run the native and GSAS-II engines over data neither made and write docs/engines.md.

Per case: the amorphous fraction (independent GSAS-II/xrayutilities set) or crystalline fractions (real
CPD) from each engine, the difference, and the wall time of each. Needs GSAS-II (see docs/gsas2.md).

    python scripts/compare_engines.py [--shared ../shared] [--jobs 2] [--out docs/engines.md]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from xrdq import __version__
from xrdq._atomic import atomic_write_text
from xrdq.engines.gsas2 import gsas2_available, gsas2_version
from xrdq.errors import XrdqError
from xrdq.quant.api import quantify
from xrdq.validation import CPD_PHASES, INDEPENDENT, independent_cases

ROOT = Path(__file__).resolve().parents[1]


READING = [
    "## Reading the differences", "",
    "- Both engines get the same per-reflection intensities and, without axial divergence, the same peak "
    "shapes for the same parameters (`tests/engines/test_gsas2.py::test_forward_gsas2_pattern_matches_xrdq_model`). "
    "GSAS-II's U V W are Gaussian *variances* (FWHM²/(8 ln 2), centideg²); the engine once wrote xrdq's FWHM² "
    "there, which started every GSAS-II Gaussian width 2.35× too wide and held V 5.5× too large.",
    "- What remains is the Finger–Cox–Jephcoat asymmetry. GSAS-II integrates it with a number of nodes "
    "proportional to the asymmetry's extent over the Lorentzian width, one node (a plain shift) for "
    "50–90 nm crystallites below ≈ 40° 2θ: up to 27 % of the peak height off the exact convolution, which "
    "xrdq's model reproduces to 0.2 %. The engine's default therefore integrates the same weight function "
    "inside GSAS-II with as many nodes per peak as xrdq's model and refines SH/L; `recipe=\"gsas2-fcj\"` "
    "keeps GSAS-II's own quadrature (what the GSAS-II GUI computes for the project). GSAS-II has one "
    "asymmetry parameter (S/L = H/L), so a case simulated with S/L ≠ H/L (nearly crystalline: 0.02 / 0.03) "
    "keeps a small misfit either way.",
    "- The independent patterns were made by GSAS-II (its own FCJ quadrature and TCH profile) and by "
    "xrayutilities (fundamental parameters): neither engine fits its own functional form. The native engine "
    "decides which extra terms a pattern warrants (docs/method.md, adaptive recipe); GSAS-II is handed the "
    "same terms (`mirror_recipe`), each textured phase's March–Dollase term about its own axis, the cubic "
    "standard's included (GSAS-II, like the native model, averages the factor over each reflection's "
    "equivalents; a cubic ratio starts at the native probe, 0.85, from where it can move).",
    "- On the real CPD patterns (sharp peaks, 1.5–2 µm crystallites) the table above gives the differences; "
    "fluorite's <111> texture in 1A and 1D is refined by both engines.",
    "",
]


def timed(**kw):
    t0 = time.perf_counter()
    res = quantify(**kw)
    return res, time.perf_counter() - t0


def _independent_rows(jobs, names=None, simulators=("gsas2", "xrayutilities")):
    from concurrent.futures import ProcessPoolExecutor

    cases = independent_cases(simulators=simulators)
    if names:
        every = cases + independent_cases(replicates=True, simulators=simulators)
        cases = [c for c in every if c.name.replace(".truth.json", "") in set(names)]
    if not cases:
        return [f"(Independent set not found at {INDEPENDENT}: section skipped.)", ""], []
    with ProcessPoolExecutor(jobs) as ex:
        rows = list(ex.map(compare_case, cases))
    lines = ["## Independent set (GSAS-II / xrayutilities simulations), amorphous fraction of the original sample", "",
             "Patterns neither engine made (`reference_patterns/validation`, see docs/validation.md). Native: the "
             "default adaptive recipe. GSAS-II: the engine's default steps plus one more step refining the terms "
             "the native adaptive recipe found warranted (zero, Y, X, SH/L, strain, March–Dollase, background "
             "order; the transparency's peak shift, GSAS-II having no tail) — `xrdq.engines.gsas2.mirror_recipe` — "
             "so both engines fit the same model.", "",
             "| case | truth wt% | native wt% | GSAS-II wt% | native − GSAS-II | GoF native / GSAS-II | native s | GSAS-II s |",
             "|---|---:|---:|---:|---:|---|---:|---:|"]
    diffs, failed = [], []
    for name, truth, (a_n, e_n, g_n, t_n), g2 in rows:
        if isinstance(g2, str):
            failed.append(name)
            lines.append(f"| {name} | {100 * truth:.2f} | {100 * a_n:.2f} ± {100 * e_n:.2f} | failed: "
                         f"{g2.splitlines()[0][:120]} | — | {g_n:.2f} / — | {t_n:.1f} | — |")
            continue
        a_g, e_g, g_g, t_g = g2
        diffs.append(a_n - a_g)
        lines.append(f"| {name} | {100 * truth:.2f} | {100 * a_n:.2f} ± {100 * e_n:.2f} | {100 * a_g:.2f} ± {100 * e_g:.2f} | "
                     f"{100 * (a_n - a_g):+.2f} | {g_n:.2f} / {g_g:.2f} | {t_n:.1f} | {t_g:.1f} |")
    d = np.abs(diffs) if diffs else np.array([np.nan])
    lines += ["", f"**Largest |native − GSAS-II|: {100 * d.max():.2f} wt%**, mean {100 * d.mean():.2f} wt%, "
              f"{int(np.sum(d <= 0.005))} of {len(rows)} within the 0.5 wt% goal"
              + (f"; GSAS-II failed on {len(failed)} ({', '.join(failed)})." if failed else "."), ""]
    return lines, diffs


def compare_case(truth_path):
    """(name, truth, native (A, esd, GoF, s), GSAS-II (A, esd, GoF, s)) for one independent case."""
    import json

    from xrdq.engines.gsas2 import mirror_recipe
    from xrdq.validation import _case_phases

    truth = json.loads(Path(truth_path).read_text())
    repo = Path(truth_path).resolve().parents[3]
    std = truth["standard"]
    kw = dict(pattern_or_path=Path(str(truth_path).replace(".truth.json", ".xye")), phases=_case_phases(truth, repo),
              standard=(std["phase"], float(std["weighed_fraction"])), purity=float(std.get("purity", 1.0)),
              instrument="miniflex600")
    name = f"{Path(truth_path).parent.name}/{Path(truth_path).name.replace('.truth.json', '')}"
    nat, t_n = timed(**kw)
    try:
        g2, t_g = timed(engine="gsas2", recipe=mirror_recipe(nat.refinement), **kw)
    except XrdqError as exc:  # one engine failing on one case is a result of the comparison, not its end
        return (name, truth["sample"]["amorphous"], (*nat.amorphous_fraction, nat.gof, t_n), str(exc))
    return (name, truth["sample"]["amorphous"], (*nat.amorphous_fraction, nat.gof, t_n),
            (*g2.amorphous_fraction, g2.gof, t_g))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--case", action="append", help="only these independent cases (file stems); default all")
    ap.add_argument("--no-cpd", action="store_true", help="skip the CPD section")
    ap.add_argument("--simulators", nargs="+", default=["gsas2", "xrayutilities"],
                    help="folders of reference_patterns/validation to compare on (e.g. gsas2-x8)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "engines.md"))
    args = ap.parse_args()
    if not gsas2_available():
        raise SystemExit("GSAS-II is not installed: see docs/gsas2.md")
    lines = ["# Native and GSAS-II engines compared", "",
             f"Generated by `python scripts/compare_engines.py` (xrdq {__version__}, GSAS-II {gsas2_version()}). "
             "The same pattern, phases, instrument, amorphous humps and internal-standard arithmetic; only the "
             "refinement differs. Times are wall-clock for the whole `quantify` call on a shared 2-core machine.", ""]
    ind, _ = _independent_rows(args.jobs, args.case, tuple(args.simulators))
    lines += ind
    shared = Path(args.shared) / "data" / "qpa" / "cpd1"
    if shared.is_dir() and not args.no_cpd:
        lines += ["## IUCr CPD 1A–1D (real data), crystalline wt%", "",
                  "| file | phase | weighed | native | GSAS-II | native − GSAS-II | native s | GSAS-II s |",
                  "|---|---|---:|---:|---:|---:|---:|---:|"]
        import csv

        weighed = {r["file"]: r for r in csv.DictReader(open(shared / "weighed_wt_percent.csv"))}
        for letter in "ABCD":
            f = shared / f"CPD-1{letter}.xye"
            kw = dict(pattern_or_path=f, phases=list(CPD_PHASES.values()), standard=None, instrument="cpd-pw3020",
                      two_theta_range=(15.0, 145.0))
            nat, t_nat = timed(**kw)
            try:
                g2, t_g2 = timed(engine="gsas2", **kw)
            except XrdqError as exc:
                lines.append(f"| {f.name} | GSAS-II failed: {str(exc).splitlines()[0][:120]} | | | | | {t_nat:.1f} | — |")
                continue
            for j, (mineral, name) in enumerate(CPD_PHASES.items()):
                n, g = nat.refined_fractions[name][0], g2.refined_fractions[name][0]
                lines.append(f"| {f.name if j == 0 else ''} | {name} | {float(weighed[f.name][mineral]):.2f} | "
                             f"{100 * n:.2f} | {100 * g:.2f} | {100 * (n - g):+.2f} | "
                             f"{f'{t_nat:.1f}' if j == 0 else ''} | {f'{t_g2:.1f}' if j == 0 else ''} |")
        lines.append("")
    lines += READING
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
