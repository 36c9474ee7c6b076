#!/usr/bin/env python
"""Forward-model speed: reflection list of a ~50-site P2₁/c cell to 90° 2θ (target ≤ 50 ms) and one full
model evaluation of 3 phases on 7000 points (target ≤ 5 ms).

Baselines are measured in the same run: for the reflection list, the same |F|² in a plain Python loop
(scripts/bench_crystal.py); for the pattern, every peak and every FCJ node evaluated on the whole 2θ grid
(no windows, no centroid/tail shortcuts) — what a straightforward implementation does. The printed
difference is what the windows and shortcuts cost in accuracy.

    python scripts/bench_model.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_crystal import fifty_site_cif  # noqa: E402

from xrdq.crystal import load_phase, read_cif  # noqa: E402
from xrdq.model.instrument import load_instrument  # noqa: E402
from xrdq.model.pattern import PhaseModel  # noqa: E402
from xrdq.model.peaks import fcj_node_counts  # noqa: E402
from xrdq.model.profile import fcj_nodes, pseudo_voigt  # noqa: E402


def median_time(fn, n=30):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def naive_profile(model, tt, params, glob):
    """Every peak on the whole grid, every FCJ node (the same node counts as xrdq), no windows."""
    c, a, f, e = model.peak_list(params, glob)
    y = np.zeros_like(tt)
    for k, n in enumerate(fcj_node_counts(c, f, glob.s_l, glob.h_l)):
        pos, w = fcj_nodes(c[k:k + 1], glob.s_l, glob.h_l, n_nodes=max(int(n), 2))
        if n <= 1:
            y += a[k] * pseudo_voigt(tt - (pos * w).sum(), f[k], e[k])
            continue
        for j in range(pos.shape[1]):
            y += a[k] * w[0, j] * pseudo_voigt(tt - pos[0, j], f[k], e[k])
    return y


def main():
    inst = load_instrument("miniflex600")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench50.cif"
        path.write_text(fifty_site_cif())
        big = read_cif(path)
    big.reflections(90.0, inst.wavelength)
    t_refl = median_time(lambda: big.reflections(90.0, inst.wavelength), 10)
    n_refl = len(big.reflections(90.0, inst.wavelength))
    print(f"reflection list, 50-site P2_1/c cell to 90°: {n_refl} reflections in {1e3 * t_refl:.1f} ms "
          f"(target ≤ 50 ms)")

    tt = np.linspace(10.0, 80.0, 7000)
    glob = inst  # the instrument's own profile terms
    models = [PhaseModel(load_phase(n), inst, (10.0, 80.0)) for n in ("LiF", "LiCl", "Li2ZrCl6")]
    params = [m.default_params() for m in models]

    def full():
        return sum(m.profile(tt, p, glob) for m, p in zip(models, params))

    full()
    t_fast = median_time(full, 50)
    t_naive = median_time(lambda: sum(naive_profile(m, tt, p, glob) for m, p in zip(models, params)), 3)
    diff = np.max(np.abs(full() - sum(naive_profile(m, tt, p, glob) for m, p in zip(models, params))))
    n_peaks = sum(m.peak_list(p, glob)[0].size for m, p in zip(models, params))
    print(f"model evaluation, 3 phases ({n_peaks} peaks incl. Kα2), 7000 points: {1e3 * t_fast:.2f} ms "
          f"(target ≤ 5 ms); baseline without windows {1e3 * t_naive:.1f} ms; ratio {t_naive / t_fast:.0f}×; "
          f"max |difference| {diff / full().max():.1e} of the maximum")


if __name__ == "__main__":
    main()
