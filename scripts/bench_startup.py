#!/usr/bin/env python
"""Whole-process start-up cost: ``xrdq info``, ``xrdq quantify`` and GSAS-II against ``python -c pass``.

Every command runs as a fresh process, the commands alternating within each round so that a change in
the machine's load hits them all alike; the figures are medians over the rounds (wall time, and the
child's CPU time, which a busy shared machine inflates less). Also measured: the first and second
``xrdq.quantify`` in one fresh Python process. The pattern is a simulated 3-phase MiniFlex scan
(LiF 50 wt% + LiCl + Li2ZrCl6 + amorphous, 10–80° 2θ in 0.01° steps: 7001 points).

Goals (issue 14): ``import xrdq`` ≤ 0.3 s, ``xrdq info`` ≤ 0.5 s, ``xrdq quantify`` ≤ 1.0 s and
≥ 15 × faster than GSAS-II's whole process; first quantify in a process ≤ 1.5 × the second.

    python scripts/bench_startup.py [--rounds 7] [--no-gsas2] [--baseline DIR]

``--baseline DIR``: also run ``xrdq info`` and ``xrdq quantify`` from another source tree (e.g. ``mkdir /tmp/base;
git archive <commit> | tar -x -C /tmp/base``: DIR holds its ``xrdq`` package), alternating with this one, and print new/baseline.

Bytecode: the commands run as an installed package does, from compiled ``.pyc`` files (pip compiles them at
install; a source tree writes them at its first import). ``PYTHONDONTWRITEBYTECODE`` is removed from the
children's environment, so the warm-up run writes them; with it set, every process would compile xrdq's
≈ 60 modules from source (≈ 0.2 s CPU that no installed copy pays). ``--as-is`` keeps the environment.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHASES = [("LiF", 0.5), ("LiCl", 0.15), ("Li2ZrCl6", 0.10)]
QUANT_ARGS = ["--phase", "LiCl", "--phase", "Li2ZrCl6", "--standard", "LiF=0.5"]

IN_PROCESS = """
import sys, time
t0, c0 = time.perf_counter(), time.process_time()
import xrdq
t1, c1 = time.perf_counter(), time.process_time()
kw = dict(phases=["LiCl", "Li2ZrCl6"], standard="LiF=0.5")
xrdq.quantify(sys.argv[1], **kw)
t2, c2 = time.perf_counter(), time.process_time()
# the second call as a new file's: no profile kept from the first call on the same file (xrdq.refine.objective)
shared = getattr(sys.modules.get("xrdq.refine.objective"), "SHARED_PROFILES", None)
if shared is not None:
    shared.clear()
xrdq.quantify(sys.argv[1], **kw)
t3, c3 = time.perf_counter(), time.process_time()
print(t1 - t0, t2 - t1, t3 - t2, c2 - c1, c3 - c2)
"""


def make_pattern(folder: Path) -> tuple[Path, int]:
    from xrdq.io.ras_writer import write_ras
    from xrdq.model.simulate import simulate

    pattern, _ = simulate(PHASES, amorphous=0.25, standard="LiF", seed=11, displacement_um=40.0,
                          size_nm={"LiCl": 50.0, "Li2ZrCl6": 35.0}, sample="bench_startup (simulated)")
    path = folder / "bench_startup.ras"
    write_ras(pattern, path)
    return path, int(pattern.sizes["two_theta"])


def xrdq_command() -> list[str]:
    script = Path(sys.executable).with_name("xrdq")
    return [str(script)] if script.exists() else [sys.executable, "-m", "xrdq"]


def have_gsas2() -> bool:
    code = "import GSASII.GSASIIscriptable"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> tuple[float, float]:
    """(wall s, CPU s of the child) of one run; raises if the command fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7, help="alternating rounds (default 7)")
    ap.add_argument("--gsas2-rounds", type=int, default=3, help="rounds that include GSAS-II (slow; default 3)")
    ap.add_argument("--no-gsas2", action="store_true", help="skip the GSAS-II comparison")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="source tree of an earlier xrdq to time info and quantify against, alternating")
    ap.add_argument("--as-is", action="store_true",
                    help="keep PYTHONDONTWRITEBYTECODE if set (every process then compiles xrdq from source)")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="xrdq-bench-startup-"))
    try:
        run(work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, args):
    path, n_points = make_pattern(work)
    xrdq = xrdq_command()
    env = dict(os.environ)
    if not args.as_is and env.pop("PYTHONDONTWRITEBYTECODE", None) is not None:
        print("PYTHONDONTWRITEBYTECODE removed for the timed processes: they run from .pyc as an installed copy does")
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import xrdq": [sys.executable, "-c", "import xrdq"],
        "xrdq --help": [*xrdq, "--help"],
        "xrdq info": [*xrdq, "info", str(path)],
        "xrdq quantify": [*xrdq, "quantify", str(path), *QUANT_ARGS],
    }
    envs = {}
    if args.baseline is not None:
        if not (args.baseline / "xrdq" / "__init__.py").is_file():
            raise SystemExit(f"--baseline {args.baseline}: no xrdq package there (expected {args.baseline}/xrdq/__init__.py)")
        base_env = {**env, "PYTHONPATH": str(args.baseline.resolve())}
        for name in ("xrdq info", "xrdq quantify"):
            commands[f"{name} (baseline)"] = commands[name]
            envs[f"{name} (baseline)"] = base_env
    gsas2 = not args.no_gsas2 and have_gsas2()
    if gsas2:
        commands["GSAS-II (xrdq quantify --engine gsas2)"] = [*xrdq, "quantify", str(path), *QUANT_ARGS,
                                                             "--engine", "gsas2"]
    print(f"pattern: {path.name}, 3 phases + amorphous, {n_points} points; Python {sys.version.split()[0]}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    # warm-up: compiles the kernels if their cache is empty, and writes the .pyc files
    timed(commands["xrdq quantify"], work, env)
    if "xrdq quantify (baseline)" in commands:
        timed(commands["xrdq quantify"], work, envs["xrdq quantify (baseline)"])
    wall = {k: [] for k in commands}
    cpu = {k: [] for k in commands}
    in_process = []
    for r in range(args.rounds):
        for name, cmd in commands.items():
            if name.startswith("GSAS-II") and r >= args.gsas2_rounds:
                continue
            w, c = timed(cmd, work, envs.get(name, env))
            wall[name].append(w)
            cpu[name].append(c)
        out = subprocess.run([sys.executable, "-c", IN_PROCESS, str(path)], cwd=work, capture_output=True, text=True,
                             env=env, check=True).stdout.split()
        in_process.append(tuple(map(float, out)))
    report(wall, cpu, in_process, gsas2, skipped=args.no_gsas2)


def report(wall, cpu, in_process, gsas2, skipped=False):
    med = {k: statistics.median(v) for k, v in wall.items() if v}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items() if v}
    base = med["python -c pass"]
    print(f"load average after: {os.getloadavg()[0]:.2f}\n")
    heads = ("command (fresh process)", "median wall s", "min", "CPU s", "× python -c pass")
    print(f"{heads[0]:<40s} {heads[1]:>13s} {heads[2]:>7s} {heads[3]:>7s} {heads[4]:>17s}")
    for name in med:
        print(f"{name:<40s} {med[name]:13.3f} {min(wall[name]):7.3f} {med_cpu[name]:7.3f} {med[name] / base:17.1f}")
    q = med["xrdq quantify"]
    imp, first, second = (statistics.median(x[i] for x in in_process) for i in range(3))
    ratios = [x[1] / x[2] for x in in_process]
    print(f"\nin one fresh process: import xrdq {imp:.3f} s, first quantify {first:.3f} s, second {second:.3f} s; "
          f"first/second median {statistics.median(ratios):.2f} (per round {', '.join(f'{x:.2f}' for x in ratios)})")
    cpu_ratios = [x[3] / x[4] for x in in_process]
    print(f"  in CPU time: first {statistics.median(x[3] for x in in_process):.3f} s, second "
          f"{statistics.median(x[4] for x in in_process):.3f} s; first/second median {statistics.median(cpu_ratios):.2f}")
    for name in [n for n in med if n.endswith(" (baseline)")]:
        new = name[: -len(" (baseline)")]
        print(f"{new}: this tree / baseline {med[new] / med[name]:.2f} in wall time, "
              f"{med_cpu[new] / med_cpu[name]:.2f} in CPU time")
    print("\ngoals (issue 14), on the medians above:")
    checks = [
        ("import xrdq ≤ 0.3 s", med["import xrdq"], 0.3),
        ("xrdq info ≤ 0.5 s", med["xrdq info"], 0.5),
        ("xrdq quantify ≤ 1.0 s", q, 1.0),
        ("first quantify ≤ 1.5 × second", statistics.median(ratios), 1.5),
    ]
    for label, value, goal in checks:
        print(f"  {label:<34s} {value:8.3f}  {'met' if value <= goal else 'NOT met'}")
    if gsas2:
        g = med["GSAS-II (xrdq quantify --engine gsas2)"]
        speedup, cpu_ratio = g / q, med_cpu["GSAS-II (xrdq quantify --engine gsas2)"] / med_cpu["xrdq quantify"]
        print(f"  {'xrdq quantify ≥ 15 × GSAS-II':<34s} {speedup:8.1f}× {'met' if speedup >= 15 else 'NOT met'} "
              f"(GSAS-II {g:.2f} s / xrdq {q:.2f} s; in CPU time {cpu_ratio:.1f}×)")
    else:
        print("  GSAS-II: skipped (--no-gsas2)" if skipped else
              "  GSAS-II not installed: no comparison (pip install pycifrw and the GSAS-II wheel)")


if __name__ == "__main__":
    main()
