#!/usr/bin/env python
"""Fit speed of a 3-phase, 7000-point quantification, against a plain lmfit fit of the same model.

The baseline, measured in the same run, hands every parameter (scales and background coefficients
included) to ``lmfit.minimize`` with finite-difference derivatives and recomputes the whole pattern at
every call — the straightforward way to write a Rietveld fit with lmfit. xrdq solves the linear
parameters exactly at each step (variable projection) and recomputes only the phase a parameter touches.
Also reported: the wall time of the whole ``xrdq quantify`` process (import, read, fit, report).

    python scripts/bench.py [--repeats 5]

``--baseline DIR`` measures the steady state instead: ``xrdq.quantify`` of the same file called again and
again in one process (after a first call that imports and loads everything), model uncertainty "full"
(what ``xrdq quantify`` does) and "fast" (what a batch does), this tree and the one in DIR (``mkdir DIR;
git archive main | tar -x -C DIR``) in alternating processes; prints the median CPU time per call and
this tree / baseline. CPU time, because on a shared machine wall time measures the neighbours.
With ``--per-evaluation`` it times one residual and one Jacobian of the last stage instead (every
profile recomputed), and prints how many of each the main refinement made.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from xrdq._threads import single_thread_env

# one BLAS thread, as the xrdq CLI and xrdq.quantify run the fit (before numpy loads; the lmfit baseline
# gets the same): with the default threads, the fit's tall thin products wait for threads on a busy host
single_thread_env()

import lmfit  # noqa: E402
import numpy as np  # noqa: E402

from xrdq.crystal import load_phase  # noqa: E402
from xrdq.io.ras_writer import write_ras  # noqa: E402
from xrdq.model import background as bkg  # noqa: E402
from xrdq.model.instrument import load_instrument  # noqa: E402
from xrdq.model.pattern import PhaseModel, PhaseParams, Specimen  # noqa: E402
from xrdq.model.simulate import simulate  # noqa: E402
from xrdq.refine import default_recipe  # noqa: E402
from xrdq.refine.fit import Refinement  # noqa: E402
from xrdq.refine.objective import SHARED_PROFILES  # noqa: E402

PHASES = [("LiF", 0.5), ("LiCl", 0.15), ("Li2ZrCl6", 0.10)]


def make_pattern():
    return simulate(PHASES, amorphous=0.25, standard="LiF", seed=11, displacement_um=40.0,
                    size_nm={"LiCl": 50.0, "Li2ZrCl6": 35.0}, two_theta=(10.0, 79.99, 0.01))


def xrdq_fit(pattern, phases, inst, humps, adaptive=True):
    """(wall s, CPU s, result): CPU time too, as wall time on a shared machine measures the neighbours."""
    rec = default_recipe(humps=humps, adaptive=adaptive)
    SHARED_PROFILES.clear()  # a fit of this pattern as of a new one: nothing from the previous repeat's
    t0, c0 = time.perf_counter(), time.process_time()
    ref = Refinement(pattern.two_theta.values, pattern.values, pattern.esd.values, phases, inst, recipe=rec)
    result = ref.run()
    return time.perf_counter() - t0, time.process_time() - c0, result


def lmfit_baseline(pattern, phases, inst, humps, start_result):
    """All parameters in lmfit, finite differences, full model at every call; same stages as xrdq."""
    tt, y, w = pattern.two_theta.values, pattern.values, 1.0 / pattern.esd.values
    models = [PhaseModel(p, inst, (tt.min(), tt.max())) for p in phases]
    basis = bkg.orthogonal_basis(tt, 8, (tt.min(), tt.max()))
    pars = lmfit.Parameters()
    # start the linear parameters where xrdq's first (linear) stage puts them: a generous baseline
    for i, p in enumerate(phases):
        pars.add(f"s{i}", value=start_result["scales"][i])
        for k, v in p.cell_parameters().items():
            pars.add(f"p{i}_{k}", value=v, vary=False)
        pars.add(f"x{i}", value=0.03, min=0.0, max=2.0, vary=False)
    for j in range(basis.shape[1]):
        pars.add(f"b{j}", value=start_result["bkg"][j])
    for j, (c, f) in enumerate(humps):
        pars.add(f"h{j}", value=start_result["humps"][j])
        pars.add(f"hc{j}", value=c, vary=False)
        pars.add(f"hf{j}", value=f, min=1, max=40, vary=False)
    pars.add("disp", value=0.0, vary=False)
    pars.add("U", value=inst.U, vary=False)
    pars.add("W", value=inst.W, min=1e-6, vary=False)

    def model(p):
        glob = (inst.replace(U=p["U"].value, W=p["W"].value), Specimen(displacement_um=p["disp"].value))
        calc = basis @ np.array([p[f"b{j}"].value for j in range(basis.shape[1])])
        for i, (m, ph) in enumerate(zip(models, phases)):
            xb = p[f"x{i}"].value
            size = np.degrees(inst.wavelength / 10.0 / xb) if xb > 1e-9 else None
            pp = PhaseParams(cell={k: p[f"p{i}_{k}"].value for k in ph.cell_parameters()}, size_nm=size)
            calc = calc + p[f"s{i}"].value * m.profile(tt, pp, *glob)
        if humps:
            calc = calc + bkg.humps(tt, [p[f"hc{j}"].value for j in range(len(humps))],
                                    [p[f"hf{j}"].value for j in range(len(humps))]) @ np.array(
                [p[f"h{j}"].value for j in range(len(humps))])
        return calc

    def residual(p):
        return (y - model(p)) * w

    t0 = time.perf_counter()
    nfev = 0
    for stage in (["cell", "disp", "hump"], ["cell", "disp", "hump", "prof"]):
        for name, par in pars.items():
            if name.startswith("p") and "cell" in stage:
                par.vary = True
            if name == "disp" and "disp" in stage:
                par.vary = True
            if name.startswith(("hc", "hf")) and "hump" in stage:
                par.vary = True
            if (name in ("U", "W") or name.startswith("x")) and "prof" in stage:
                par.vary = True
        out = lmfit.minimize(residual, pars, method="leastsq")
        pars = out.params
        nfev += out.nfev
    chi2 = float(np.sum(residual(pars) ** 2))
    return time.perf_counter() - t0, chi2, nfev


STEADY = """
import sys, time
import xrdq
path, level, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
kw = dict(phases=["LiCl", "Li2ZrCl6"], standard="LiF=0.5", model_uncertainty=level)
xrdq.quantify(path, **kw)
# each call as a new file's: no profile kept from the previous call on the same file (a tree without the
# shared profiles has nothing to clear)
shared = getattr(sys.modules.get("xrdq.refine.objective"), "SHARED_PROFILES", None)
for _ in range(n):
    if shared is not None:
        shared.clear()
    c0 = time.process_time()
    r = xrdq.quantify(path, **kw)
    print(time.process_time() - c0, r.amorphous_fraction[0], *[v[0] for v in r.sample_fractions.values()])
"""


def steady_state(baseline: Path, rounds: int, calls: int = 5):
    """Median CPU s per in-process quantify, this tree against ``baseline``, alternating processes."""
    import os

    if not (baseline / "xrdq" / "__init__.py").is_file():
        raise SystemExit(f"--baseline {baseline}: no xrdq package there (expected {baseline}/xrdq/__init__.py)")
    trees = {"this tree": dict(os.environ), "baseline": {**os.environ, "PYTHONPATH": str(baseline.resolve())}}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.ras"
        write_ras(make_pattern()[0], path)
        cpu = {(t, lv): [] for t in trees for lv in ("full", "fast")}
        fractions = {}
        for _ in range(rounds):
            for (tree, level), times in cpu.items():
                out = subprocess.run([sys.executable, "-c", STEADY, str(path), level, str(calls)], env=trees[tree],
                                     cwd=tmp, capture_output=True, text=True, check=True).stdout.split("\n")
                rows = [list(map(float, line.split())) for line in out if line.strip()]
                times += [r[0] for r in rows]
                fractions[(tree, level)] = rows[-1][1:]
    print(f"steady-state xrdq.quantify (second and later calls in one process), {rounds} rounds × {calls} calls, "
          f"load average {os.getloadavg()[0]:.2f}")
    for level in ("full", "fast"):
        new, base = np.median(cpu[("this tree", level)]), np.median(cpu[("baseline", level)])
        new_min, base_min = np.min(cpu[("this tree", level)]), np.min(cpu[("baseline", level)])
        diff = np.max(np.abs(np.subtract(fractions[("this tree", level)], fractions[("baseline", level)])))
        print(f"  model_uncertainty={level}: median {new:.3f} s CPU (min {new_min:.3f}), baseline {base:.3f} s "
              f"(min {base_min:.3f}); this tree / baseline {new / base:.2f} (min {new_min / base_min:.2f}); "
              f"fractions differ by {diff:.1e}")


PER_EVALUATION = """
import sys, time
import numpy as np
import xrdq
path, n = sys.argv[1], int(sys.argv[2])
r = xrdq.quantify(path, phases=["LiCl", "Li2ZrCl6"], standard="LiF=0.5", model_uncertainty="full")
fit = r.refinement.fit
names = [k for k, p in fit.params.items() if p.vary]
x = np.array([fit.params[k].value for k in names])
res, jac = [], []
for k in range(n):
    # a different point each time (1e-12 relative): every phase profile and hump block is recomputed
    z = x + 1e-12 * (k + 1) * np.maximum(np.abs(x), 1.0)
    c0 = time.process_time()
    fit.residual(z, names)
    c1 = time.process_time()
    fit.residual_jacobian(z, names)  # at the point just evaluated, as Levenberg–Marquardt asks for it
    c2 = time.process_time()
    res.append(c1 - c0)
    jac.append(c2 - c1)
print(np.median(res), np.median(jac), len(names), r.refinement.nfev, r.refinement.njev, min(res), min(jac))
"""


def per_evaluation(baseline: Path, rounds: int, n: int = 30):
    """Median CPU s of one residual and one Jacobian of the final stage (bench file, every parameter of
    the last stage varied, nothing cached), this tree against ``baseline``, alternating processes."""
    import os

    if not (baseline / "xrdq" / "__init__.py").is_file():
        raise SystemExit(f"--baseline {baseline}: no xrdq package there (expected {baseline}/xrdq/__init__.py)")
    env = dict(os.environ)
    single_thread_env(env)  # what xrdq.quantify runs with (the evaluations are called outside it here)
    trees = {"this tree": env, "baseline": {**env, "PYTHONPATH": str(baseline.resolve())}}
    rows = {t: [] for t in trees}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.ras"
        write_ras(make_pattern()[0], path)
        for _ in range(rounds):
            for tree, env in trees.items():
                out = subprocess.run([sys.executable, "-c", PER_EVALUATION, str(path), str(n)], env=env, cwd=tmp,
                                     capture_output=True, text=True, check=True).stdout.split()
                rows[tree].append([float(v) for v in out])
    print(f"one evaluation of the bench file's last stage (nothing cached), {rounds} rounds × {n}, CPU ms, "
          f"load average {os.getloadavg()[0]:.2f}")
    med = {t: np.median(np.array(r), axis=0) for t, r in rows.items()}
    low = {t: np.min(np.array(r), axis=0) for t, r in rows.items()}
    for tree, m in med.items():
        print(f"  {tree:10s} residual {1e3 * m[0]:6.2f} (min {1e3 * low[tree][5]:5.2f})  Jacobian ({int(m[2])} "
              f"parameters) {1e3 * m[1]:6.2f} (min {1e3 * low[tree][6]:5.2f});  per quantify: {int(m[3])} residuals, "
              f"{int(m[4])} Jacobians in the main refinement")
    print(f"  this tree / baseline: residual {med['this tree'][0] / med['baseline'][0]:.2f} "
          f"(min {low['this tree'][5] / low['baseline'][5]:.2f}), Jacobian {med['this tree'][1] / med['baseline'][1]:.2f} "
          f"(min {low['this tree'][6] / low['baseline'][6]:.2f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--baseline", type=Path, default=None, help="steady-state comparison with another source tree")
    ap.add_argument("--per-evaluation", action="store_true",
                    help="with --baseline: CPU time of one residual and one Jacobian instead of whole calls")
    args = ap.parse_args()
    if args.baseline is not None:
        if args.per_evaluation:
            return per_evaluation(args.baseline, args.repeats)
        return steady_state(args.baseline, args.repeats)
    inst = load_instrument("miniflex600")
    pattern, truth = make_pattern()
    phases = [load_phase(n) for n, _ in PHASES]
    from xrdq.refine.start import auto_humps

    humps = auto_humps(lambda rec: Refinement(pattern.two_theta.values, pattern.values, pattern.esd.values, phases,
                                              inst, recipe=rec))
    times, cpus, fixed_times, fixed_cpus = [], [], [], []
    for _ in range(args.repeats):
        t, c, result = xrdq_fit(pattern, phases, inst, humps)
        times.append(t)
        cpus.append(c)
        t, c, fixed = xrdq_fit(pattern, phases, inst, humps, adaptive=False)
        fixed_times.append(t)
        fixed_cpus.append(c)
    t_xrdq = float(np.median(times))
    decisions = result.decisions
    result = fixed  # the lmfit baseline refines the fixed stages, so it starts from their solution
    n_bkg = 9
    lin = [result.parameters[k][0] for k in result.parameters if k.startswith("scale_")]
    start = {"scales": lin, "bkg": [result.parameters[f"bkg{j}"][0] for j in range(n_bkg)],
             "humps": [result.parameters[f"hump{j}_area"][0] for j in range(len(humps))]}
    t_base, chi2_base, nfev_base = lmfit_baseline(pattern, phases, inst, humps, start)
    print(f"pattern: {pattern.size} points, phases {[n for n, _ in PHASES]}, humps {humps}")
    print(f"xrdq fit (variable projection, default adaptive recipe): median {t_xrdq:.3f} s wall, "
          f"{np.median(cpus):.3f} s CPU over {args.repeats} (goal ≤ 0.2 s); {len(decisions)} terms tested, "
          f"{sum(d['accepted'] for d in decisions)} accepted")
    print(f"  the same fit with the fixed stages only: median {np.median(fixed_times):.3f} s wall, "
          f"{np.median(fixed_cpus):.3f} s CPU — adaptive/fixed CPU ratio {np.median(cpus) / np.median(fixed_cpus):.2f}; "
          f"{result.nfev} evaluations + {result.njev} analytic Jacobians, chi2 {result.chi2:.1f}, GoF {result.gof:.3f}")
    print(f"plain lmfit finite-difference fit of the same model: {t_base:.3f} s, {nfev_base} evaluations, "
          f"chi2 {chi2_base:.1f}")
    print(f"speed-up of the fixed stages: {t_base / np.median(fixed_times):.1f}× (goal ≥ 10×)")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.ras"
        write_ras(pattern, path)
        cmd = [sys.executable, "-m", "xrdq", "quantify", str(path), "--phase", "LiCl", "--phase", "Li2ZrCl6",
               "--standard", "LiF=0.5"]
        proc_times = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            proc_times.append(time.perf_counter() - t0)
    print(f"whole `xrdq quantify` process: median {np.median(proc_times):.2f} s")


if __name__ == "__main__":
    main()
