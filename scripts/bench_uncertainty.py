#!/usr/bin/env python
"""Added time of the verdict and the model-uncertainty ensemble, against the same quantification without them.

The pattern is the 3-phase, 7000-point MiniFlex mixture of scripts/bench.py. For each level of
``model_uncertainty`` ("off": verdict checks only; "fast": + background/2θ-start/hump/microabsorption
re-solves and one step of the B variant; "full": + converged B, strain and profile variants) the median wall time of ``xrdq.quantify`` is
printed with its ratio to "off" measured in the same run, and the time of the checks alone.

    python scripts/bench_uncertainty.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from xrdq.model.instrument import load_instrument
from xrdq.quant.api import quantify
from xrdq.quant.verdict import assess

from bench import make_pattern


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    pattern, _ = make_pattern()
    kwargs = dict(phases=["LiCl", "Li2ZrCl6"], standard=("LiF", 0.5), humps=[])
    quantify(pattern, model_uncertainty="full", **kwargs)  # compile and warm every cache once
    base = None
    for level in ("off", "fast", "full"):
        t, res = median_time(lambda: quantify(pattern, model_uncertainty=level, **kwargs), args.repeats)
        base = base or t
        print(f"model_uncertainty={level:<6s}: median {t:.3f} s  ({t / base:.2f}× off, +{1000 * (t - base):.0f} ms)  "
              f"amorphous {100 * res.amorphous_fraction[0]:.2f} ± {100 * res.amorphous_fraction[1]:.2f} "
              f"[{100 * res.uncertainty['amorphous']:.2f}] wt%, verdict {res.verdict}")
    inst = load_instrument("miniflex600")
    names = [n for n in res.refined_fractions if n != "LiF"]
    t, _ = median_time(lambda: assess(res, inst, sample_phases=names), args.repeats)
    print(f"verdict checks alone: median {1000 * t:.1f} ms")


if __name__ == "__main__":
    main()
