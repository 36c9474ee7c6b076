#!/usr/bin/env python
"""Benchmark batch quantification: N simulated 3-phase MiniFlex patterns through ``quantify_many``.

Runs the same batch on a local process pool (-j WORKERS) and on a dask LocalCluster with WORKERS
workers, and prints patterns per second, peak memory per worker and the dask / process-pool ratio.
Goals (issue 5): 1000 patterns ≤ 150 s, ≤ 400 MB per worker, dask ≥ 90 % of the process pool.

    python scripts/bench_batch.py            # 1000 patterns
    python scripts/bench_batch.py --n 100    # quicker
    python scripts/bench_batch.py --plot-cost --baseline DIR   # CPU per batch plot, this tree / DIR

``--plot-cost`` times what a batch worker spends on one file's plot (``worker._render_plot``, after a
first plot) in one process, on fits of four of the simulated files; with ``--baseline DIR`` (``mkdir DIR;
git archive main | tar -x -C DIR``) the same in alternating processes of that tree, printing the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _cif(name: str, filename: str) -> str:
    """NAME=CIF: the bundled library's CIF when it has one, else the batch tests' copy."""
    bundled = REPO / "reference_patterns" / "phases" / filename
    return f"{name}={bundled if bundled.exists() else REPO / 'tests' / 'batch' / 'data' / filename}"


PHASES = [_cif("corundum", "Al2O3.cif"), _cif("zincite", "ZnO.cif")]
STANDARD = _cif("LiF", "LiF.cif")


def make_patterns(folder: Path, n: int, two_theta=(10.0, 80.0, 0.01), n_mixtures: int = 8) -> tuple[list[Path], list[float]]:
    """``n`` .ras files (and their weighed LiF fractions): ``n_mixtures`` noise-free mixtures (LiF 20–30 %, amorphous 0–30 %), each file
    with its own Poisson noise."""
    import numpy as np

    from xrdq.io.ras_writer import write_ras
    from xrdq.model.simulate import simulate

    rng = np.random.default_rng(12345)
    bases = []
    for k in range(n_mixtures):
        w_std = 0.2 + 0.1 * rng.random()
        amorphous = 0.3 * rng.random()
        split = 0.3 + 0.4 * rng.random()
        rest = 1.0 - w_std - amorphous
        mix = [(STANDARD, w_std), (PHASES[0], split * rest), (PHASES[1], (1 - split) * rest)]
        pattern, _ = simulate(mix, amorphous=amorphous, two_theta=two_theta, seed=None, standard="LiF",
                              sample=f"mixture {k}")
        bases.append((pattern, w_std))
    folder.mkdir(parents=True, exist_ok=True)
    files, ws = [], []
    for i in range(n):
        base, w_std = bases[i % n_mixtures]
        p = base.copy(data=np.random.default_rng(i).poisson(base.values).astype(float))
        p = p.assign_coords(esd=("two_theta", np.sqrt(np.maximum(p.values, 1.0))))
        path = folder / f"sim_{i:05d}.ras"
        write_ras(p, path)
        files.append(path)
        ws.append(w_std)
    return files, ws


def _worker_memory(out: Path) -> dict:
    """Peak RSS (MB) of each worker process, from the per-file records."""
    peak = {}
    for p in (out / "json").glob("*.json"):
        w = json.loads(p.read_text()).get("batch", {}).get("worker") or {}
        key = (w.get("host"), w.get("pid"))
        if w.get("peak_rss_mb") is not None:
            peak[key] = max(peak.get(key, 0.0), float(w["peak_rss_mb"]))
    return peak


def _worker_seconds(out: Path, key: str) -> list[float]:
    """``key`` of every per-file record's worker entry: ``plot_s`` (wall s drawing and encoding the plot),
    ``plot_cpu_s``, ``cpu_s`` (CPU s of the whole file: fit and plot)."""
    times = []
    for p in (out / "json").glob("*.json"):
        t = (json.loads(p.read_text()).get("batch", {}).get("worker") or {}).get(key)
        if t is not None:
            times.append(float(t))
    return times


def run(label: str, files, manifest, out: Path, plots: bool, **kw) -> dict:
    from xrdq.batch import quantify_many

    if out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    ds = quantify_many(None, manifest=manifest, phases=PHASES, standard=("LiF", 0.25), out=out, plots=plots,
                       progress=sys.stderr.isatty(), **kw)
    wall = time.perf_counter() - t0
    mem = _worker_memory(out)
    n_ok = int(ds.attrs["n_ok"])
    res = {"label": label, "backend": ds.attrs["backend"], "n": len(files), "n_ok": n_ok, "wall_s": wall,
           "fit_s": float(ds.attrs["fit_time_s"]), "patterns_per_s": len(files) / wall,
           "workers": len(mem), "peak_mb_per_worker": max(mem.values()) if mem else float("nan"), "ds": ds}
    print(f"{label:>14s}: {len(files)} patterns ({n_ok} ok) in {wall:6.1f} s wall ({res['fit_s']:.1f} s fitting) "
          f"→ {res['patterns_per_s']:.2f} patterns/s; {len(mem)} workers, peak RSS per worker "
          f"{res['peak_mb_per_worker']:.0f} MB", flush=True)
    import statistics

    plot_s, plot_cpu, cpu = (_worker_seconds(out, k) for k in ("plot_s", "plot_cpu_s", "cpu_s"))
    if plot_s:
        print(f"{'':>16s}plot per pattern: median {statistics.median(plot_s):.3f} s wall"
              + (f", {statistics.median(plot_cpu):.3f} s CPU" if plot_cpu else "")
              + f"; {100 * sum(plot_s) / (wall * max(len(mem), 1)):.0f} % of the workers' time")
    if cpu:
        # what the neighbours' load cannot inflate: the workers' own CPU time
        res["cpu_per_pattern_s"] = statistics.median(cpu)
        print(f"{'':>16s}CPU per pattern: median {res['cpu_per_pattern_s']:.3f} s → 1000 patterns on "
              f"{max(len(mem), 1)} free cores ≈ {1000 * res['cpu_per_pattern_s'] / max(len(mem), 1):.0f} s")
    if n_ok < len(files):
        from collections import Counter

        failed = ds["message"].values[ds["status"].values != "ok"]
        for msg, count in Counter(map(str, failed)).most_common(3):
            print(f"{'':>16s}{count} failed: {msg[:300]}")
    return res


def plots_ratio(args, files, manifest, work: Path):
    """Alternate batches without and with plots (same files, same pool size): the plots' share of the time."""
    import statistics

    runs, cpu = {False: [], True: []}, {False: [], True: []}
    for r in range(args.rounds):
        for plots in (False, True):
            label = f"-j {args.workers} {'plots' if plots else 'no plots'}" + (f" #{r + 1}" if args.rounds > 1 else "")
            res = run(label, files, manifest, work / f"out_{'plots' if plots else 'noplots'}", plots, jobs=args.workers)
            runs[plots].append(res["wall_s"])
            if "cpu_per_pattern_s" in res:
                cpu[plots].append(res["cpu_per_pattern_s"])
    without, with_ = statistics.median(runs[False]), statistics.median(runs[True])
    print(f"load average now {os.getloadavg()[0]:.2f}")
    print(f"with / without plots: {with_ / without:.2f} (median wall {with_:.1f} s / {without:.1f} s)")
    for label, wall, goal in (("without plots", without, 60), ("with plots", with_, 150)):
        per_1000 = 1000 * wall / len(files)
        print(f"{label:>14s}: 1000 patterns would take {per_1000:.0f} s on {args.workers} workers "
              f"(goal ≤ {goal} s: {'met' if per_1000 <= goal else 'NOT met'})")
    for plots, goal in ((False, 60), (True, 150)):
        if cpu[plots]:  # the same from the workers' CPU time: what two otherwise idle cores would take
            per_1000 = 1000 * statistics.median(cpu[plots]) / args.workers
            print(f"{'with plots' if plots else 'without plots':>14s}: on {args.workers} free cores ≈ {per_1000:.0f} s "
                  f"per 1000 ({statistics.median(cpu[plots]):.3f} s CPU per pattern; goal ≤ {goal} s: "
                  f"{'met' if per_1000 <= goal else 'NOT met'})")


PLOT_COST = """
import json, sys, time
from xrdq.batch import worker
from xrdq.quant.api import quantify
files, phases, n = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
results = [quantify(f, phases=phases, standard=("LiF", 0.25), model_uncertainty="fast") for f in files]
worker._render_plot(results[-1])  # a worker's first plot imports matplotlib and makes its figure
times = []
for i in range(n):
    c0 = time.process_time()
    png, problem = worker._render_plot(results[i % len(results)])
    times.append(time.process_time() - c0)
    assert png and not problem, problem
print(json.dumps(times))
"""


def plot_cost(files, baseline: Path | None, rounds: int, n: int = 12):
    """Median CPU s per batch plot (a worker's ``_render_plot`` after its first), this tree and ``baseline``."""
    import statistics
    import subprocess

    trees = {"this tree": dict(os.environ)}
    if baseline is not None:
        if not (baseline / "xrdq" / "__init__.py").is_file():
            raise SystemExit(f"--baseline {baseline}: no xrdq package there (expected {baseline}/xrdq/__init__.py)")
        trees["baseline"] = {**os.environ, "PYTHONPATH": str(baseline.resolve())}
    times = {t: [] for t in trees}
    args = [json.dumps([str(f) for f in files[:4]]), json.dumps(PHASES + [STANDARD]), str(n)]
    for _ in range(rounds):
        for tree, env in trees.items():
            out = subprocess.run([sys.executable, "-c", PLOT_COST, *args], env={**env, "MPLBACKEND": "Agg"},
                                 capture_output=True, text=True, check=True, cwd=files[0].parent)
            times[tree] += json.loads(out.stdout.splitlines()[-1])
    print(f"batch plot, CPU s per pattern ({rounds} rounds × {n} plots; load average {os.getloadavg()[0]:.2f}):")
    for tree, t in times.items():
        print(f"{tree:>14s}: median {statistics.median(t):.3f} s, min {min(t):.3f} s")
    if baseline is not None:
        new, base = (statistics.median(times[t]) for t in ("this tree", "baseline"))
        print(f"this tree / baseline: {new / base:.2f} (min {min(times['this tree']) / min(times['baseline']):.2f})")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="number of patterns (default 1000)")
    ap.add_argument("--workers", type=int, default=2, help="processes / dask workers (default 2)")
    ap.add_argument("--plots", action="store_true", help="also draw the per-pattern fit plots")
    ap.add_argument("--with-and-without-plots", action="store_true",
                    help="process pool only: each round runs the batch without and then with plots and prints the "
                         "ratio (issue 14 goals: 1000 patterns ≤ 60 s without, ≤ 150 s with plots)")
    ap.add_argument("--skip-dask", action="store_true")
    ap.add_argument("--skip-pool", action="store_true")
    ap.add_argument("--rounds", type=int, default=1, help="alternate pool and dask runs this many times")
    ap.add_argument("--plot-cost", action="store_true",
                    help="CPU time per batch plot in one worker process (with --baseline DIR: against that tree)")
    ap.add_argument("--baseline", type=Path, default=None, help="source tree to compare --plot-cost with")
    ap.add_argument("--workdir", type=Path, default=None, help="keep patterns and outputs here")
    args = ap.parse_args(argv)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="xrdq-bench-batch-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    files, ws = make_patterns(work / "patterns", args.n)
    manifest = work / "patterns" / "manifest.csv"  # per-file weighed LiF fraction
    manifest.write_text("file,standard\n" + "".join(f"{f.name},LiF={w!r}\n" for f, w in zip(files, ws)))
    print(f"simulated {args.n} patterns (7001 points, 10–80° 2θ) in {time.perf_counter() - t0:.1f} s → {work}")
    print(f"host: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (other processes slow this down)")

    if args.plot_cost:
        plot_cost(files, args.baseline, args.rounds)
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
        return
    if args.with_and_without_plots:
        plots_ratio(args, files, manifest, work)
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
        return
    have_dask = not args.skip_dask
    if have_dask:
        try:
            import distributed  # noqa: F401
        except ImportError:
            print("dask.distributed not installed: skipping the dask run")
            have_dask = False
    # Alternate the two backends --rounds times, so that a change in the machine's load (a shared host)
    # hits both alike; each figure below is the best round.
    rounds = {"pool": [], "dask": []}
    for r in range(args.rounds):
        tag = f" #{r + 1}" if args.rounds > 1 else ""
        if not args.skip_pool:
            rounds["pool"].append(run(f"-j {args.workers}{tag}", files, manifest, work / "out_pool", args.plots,
                                      jobs=args.workers))
        if have_dask:
            rounds["dask"].append(run(f"dask x{args.workers}{tag}", files, manifest, work / "out_dask", args.plots,
                                      dask_workers=args.workers))
    results = {k: max(v, key=lambda x: x["patterns_per_s"]) for k, v in rounds.items() if v}
    parent_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"parent process peak RSS {parent_mb:.0f} MB; load average now {os.getloadavg()[0]:.2f}")
    if "pool" in results and "dask" in results:
        import numpy as np

        a, b = results["pool"]["ds"], results["dask"]["ds"]
        diff = float(np.nanmax(np.abs(a["amorphous_fraction"].values - b["amorphous_fraction"].values)))
        ratio = results["dask"]["patterns_per_s"] / results["pool"]["patterns_per_s"]
        per_round = [d["patterns_per_s"] / p["patterns_per_s"] for p, d in zip(rounds["pool"], rounds["dask"])]
        print(f"dask / process pool throughput: {ratio:.2f} (goal ≥ 0.90; per round "
              f"{', '.join(f'{x:.2f}' for x in per_round)}); max |Δ amorphous| {diff:.1e}")
    for key, r in results.items():
        per_1000 = 1000 / r["patterns_per_s"]
        peak = max(x["peak_mb_per_worker"] for x in rounds[key])
        print(f"{r['label']:>14s}: 1000 patterns would take {per_1000:.0f} s (goal ≤ 150 s); "
              f"{peak:.0f} MB per worker (goal ≤ 400 MB)")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
