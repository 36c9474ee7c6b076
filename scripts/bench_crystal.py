"""Time the reflection list of a 50-site P2₁/c cell (200 atoms) to 90° 2θ with Cu Kα.

The baseline, measured in the same run, is the same |F|² computed reflection by reflection in a
plain Python loop over atoms; the script prints both times and their ratio.

    python scripts/bench_crystal.py
"""

from __future__ import annotations

import cmath
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from xrdq.crystal import read_cif
from xrdq.crystal import scattering

CU_KA1 = 1.540593


def fifty_site_cif(seed: int = 1) -> str:
    rng = np.random.default_rng(seed)
    elements = ["Zr", "Cl", "Cl", "Cl", "Li", "Al", "O"]
    rows = []
    for i in range(50):
        x, y, z = rng.uniform(0, 1, 3)
        el = elements[i % len(elements)]
        rows.append(f"{el}{i} {el} {x:.5f} {y:.5f} {z:.5f} {rng.uniform(0.5, 1):.3f} {rng.uniform(0.5, 2):.2f}")
    return "\n".join([
        "data_bench50", "_cell_length_a 12.1", "_cell_length_b 10.3", "_cell_length_c 17.4",
        "_cell_angle_alpha 90", "_cell_angle_beta 101.2", "_cell_angle_gamma 90",
        "_space_group_name_H-M_alt 'P 1 21/c 1'",
        "loop_", "_atom_site_label", "_atom_site_type_symbol", "_atom_site_fract_x", "_atom_site_fract_y",
        "_atom_site_fract_z", "_atom_site_occupancy", "_atom_site_B_iso_or_equiv", *rows, ""])


def naive_f2(phase, refl) -> np.ndarray:
    """Per-reflection, per-atom Python loop (same physics) as the baseline."""
    energy = scattering.energy_ev(refl.wavelength)
    out = []
    at = phase.atoms
    for h, d in zip(refl.hkl, refl.d):
        s = 0.5 / d
        total = 0.0
        for sign in (1, -1):
            f = 0j
            for x, occ, b, t in zip(at.fract, at.occupancy, at.b_iso, at.scatterer_index):
                ion, el = at.scatterers[t]
                fp, fpp = scattering.anomalous(el, energy)
                fj = complex(float(scattering.f0(ion, s)) + fp, fpp)
                f += occ * fj * math.exp(-b * s * s) * cmath.exp(2j * math.pi * sign * float(np.dot(h, x)))
            total += abs(f) ** 2
        out.append(total / 2)
    return np.array(out)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench50.cif"
        path.write_text(fifty_site_cif())
        phase = read_cif(path)
    print(phase, f"{len(phase.atoms.occupancy)} atoms in the cell")
    phase.reflections(90.0, CU_KA1)  # warm the xraydb caches
    n = 20
    t0 = time.perf_counter()
    for _ in range(n):
        refl = phase.reflections(90.0, CU_KA1)
    fast = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    slow_f2 = naive_f2(phase, refl)
    slow = time.perf_counter() - t0
    err = np.max(np.abs(slow_f2 - refl.f2) / np.maximum(refl.f2.max() * 1e-6, slow_f2))
    print(f"{len(refl)} reflections to 90° 2θ (Cu Kα1)")
    print(f"vectorised reflection list: {fast * 1e3:.1f} ms")
    print(f"naive loop |F|² only:       {slow * 1e3:.0f} ms  (ratio {slow / fast:.0f}×, max rel. diff {err:.1e})")


if __name__ == "__main__":
    main()
