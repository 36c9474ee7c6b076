"""Second opinion: a few validation patterns simulated by xrayutilities (fundamental parameters).

    python scripts/make_independent_set.py --xrayutilities

xrayutilities' ``simpack.PowderModel`` computes each phase as volume × |F|²·LP/V² convolved with the
fundamental-parameters profile (Cu Kα1/Kα2 emission, 1.25° equatorial divergence, 2.5° Soller axial
divergence, receiving slit, transparency, specimen displacement, zero, Lorentzian crystallite size,
March–Dollase). Volumes are w_i/ρ_i and the overall factor 1/µ*_mix, so the intensity of each phase is
K · w_i/(ρ_i µ*_mix) × its unit-volume pattern. Backgrounds, humps and noise are the GSAS-II path's.
Li2ZrCl6, Li2HfCl6 and Li3YCl6 are left out: xrayutilities, like GSAS-II, reads their near-special
positions as general ones (density ×1.5–1.7), and it has no hook to move them.
"""

from __future__ import annotations

import collections
import warnings

import numpy as np

from make_independent_set import (STANDARD, WAVELENGTHS, air_and_linear_background, amorphous_humps, case_seed,
                                  draw_nuisance, formula_composition, hump_total_area, mass_attenuation,
                                  mixture_fractions, phase_size_um, write_json, write_true_structure, write_xye)
from independent_set_cases import case

#: none of the three P-3m1 halides (see the module docstring)
XU_CASES = [
    case("xu_lac_licl_a30_po", "LiAlCl4 (texture 0.85) + LiCl, 30 % amorphous", {"LiAlCl4": 0.40, "LiCl": 0.30},
         0.3, counts=10000, po={"LiAlCl4": ([0, 0, 1], 0.85)}, amorphous_formula="LiAlCl4"),
    case("xu_lic_a60", "Li3InCl6, 60 % amorphous, standard 97 % crystalline", {"Li3InCl6": 0.40}, 0.4,
         purity=0.97, counts=8000, amorphous_formula="Li3InCl6"),
    case("xu_oxide_a45", "corundum + zincite + fluorite, 45 % amorphous silica", {"Al2O3": 0.20, "ZnO": 0.20,
         "CaF2": 0.15}, 0.25, counts=15000, amorphous_formula="SiO2"),
    case("xu_zro2_a80", "LiCl + 5 % nano ZrO2 (20 nm), 80 % amorphous", {"LiCl": 0.15, "ZrO2-m": 0.05}, 0.2,
         counts=6000, sizes={"ZrO2-m": 0.02}, amorphous_formula="Li3OCl"),
    case("xu_li2o_a10", "Li2O + LiCl, 10 % amorphous, 50 wt% standard", {"Li2O": 0.50, "LiCl": 0.40}, 0.5,
         counts=20000, amorphous_formula="Li3OCl"),
    # the internal standard itself textured: LiF cubes lying on a face, fluorite-like octahedra on a face
    case("xu_lif100_licl_a40", "LiCl + Li2O, 40 % amorphous; the LiF standard textured, (100) March–Dollase 0.80",
         {"LiCl": 0.35, "Li2O": 0.25}, 0.5, counts=15000, po={"LiF": ([1, 0, 0], 0.80)}, amorphous_formula="Li3OCl"),
    case("xu_lif111_lac_a20", "LiAlCl4, 20 % amorphous; the LiF standard textured, (111) March–Dollase 0.85",
         {"LiAlCl4": 0.80}, 0.3, counts=12000, po={"LiF": ([1, 1, 1], 0.85)}, amorphous_formula="LiAlCl4"),
]
#: Structure models that are not the phase's, a second opinion beside gsas2-structure (``--xrayutilities
#: --structure-errors``, xrayutilities-structure/): xrayutilities computes |F|² with its own code and scattering
#: factors from a TRUE structure written beside each case (``write_true_structure``); xrdq is given the reference CIF.
#: Li3InCl6 only, of the seed halides with free coordinates (the P-3m1 ones are left out, module docstring). Added
#: 2026-12-04 with the refined coordinates and occupancies, and not tuned on.
XU_STRUCTURE_CASES = [
    dict(case("xus_lic_a30_xyz2", "Li3InCl6 + LiCl, 30 % amorphous; true Li3InCl6 sites displaced by σ 0.02",
              {"Li3InCl6": 0.50, "LiCl": 0.20}, 0.3, counts=10000, amorphous_formula="Li3InCl6"),
         true_structures={"Li3InCl6": {"sigma": 0.02, "seed": 21}}),
    dict(case("xus_lic_a55_xyz3", "Li3InCl6, 55 % amorphous; true Li3InCl6 sites displaced by σ 0.03",
              {"Li3InCl6": 0.45}, 0.4, counts=8000, amorphous_formula="Li3InCl6"),
         true_structures={"Li3InCl6": {"sigma": 0.03, "seed": 22}}),
    # In over its two sites 0.60 / 0.2075 instead of the CIF's 0.875 / 0.07 (2 × 0.875 + 4 × 0.07 = 2 × 0.60 + 4 ×
    # 0.2075: the composition held)
    dict(case("xus_lic_a20_occ", "Li3InCl6 + LiCl, 20 % amorphous; true In occupancies 0.60 / 0.2075",
              {"Li3InCl6": 0.60, "LiCl": 0.20}, 0.3, counts=12000, amorphous_formula="Li3InCl6"),
         true_structures={"Li3InCl6": {"occupancy": {"In1": 0.60, "In2": 0.2075}}}),
]
AMORPHOUS_DENSITY = 2.5  # g/cm³, only for the transparency (absorption) convolver
PACKING = 0.6
# xrayutilities computes each fundamental-parameters profile on a grid tied to the output points and scales it
# to area in units of that grid; on a 0.02° output grid a peak's area then grows with 2θ (LiF 311 at 78.75°
# carries 12 % more area per unit reflection strength than LiF 111 at 38.7°; 4 % at 0.01°, 2 % at 0.005°,
# flat within 0.2 % at 0.001°). So every pattern is computed at FINE_STEP and averaged over each output step,
# which is also what a detector strip does (it counts over its step).
FINE_STEP = 0.001  # degrees 2θ


def load_crystal(name, path=None):
    """(xrayutilities Crystal, element → atoms per cell) of phase ``name``: its reference CIF, or ``path`` (a true
    structure of a structure-error case)."""
    import xrayutilities as xu

    from make_independent_set import PHASES

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        crystal = xu.materials.Crystal.fromCIF(str(path or PHASES / f"{name}.cif"))
    counts = collections.Counter()
    for atom, _pos, occ, _b in crystal.lattice.base():
        counts[atom.basename] += occ
    return crystal, {el: float(n) for el, n in counts.items()}


def fp_settings(rng, nuis, mu_lin_per_m):
    """Fundamental-parameters settings of a MiniFlex-like instrument, slits varied per case."""
    return {"global": {"diffractometer_radius": 0.150, "equatorial_divergence_deg": float(rng.uniform(1.0, 1.25))},
            "emission": {"emiss_wavelengths": tuple(w * 1e-10 for w, _ in WAVELENGTHS),
                         "emiss_intensities": tuple(i for _, i in WAVELENGTHS)},
            "axial": {"axDiv": "full", "angI_deg": 2.5, "angD_deg": 2.5, "slit_length_source": 10.001e-3,
                      "slit_length_target": 10e-3, "length_sample": float(rng.uniform(12e-3, 20e-3)),
                      "n_integral_points": 10},
            "absorption": {"absorption_coefficient": float(mu_lin_per_m), "sample_thickness": 1e-3},
            "receiver_slit": {"slit_width": float(rng.uniform(0.075e-3, 0.1e-3))},
            "displacement": {"specimen_displacement": nuis["displacement_um"] * 1e-6,
                             "zero_error_deg": nuis["instrument"]["zero_deg"]}}


def fine_grid(tt):
    """Sub-points at FINE_STEP spacing, centred in each output step of the uniform grid ``tt``: (grid, n per step)."""
    step = float(tt[1] - tt[0])
    n = max(1, int(round(step / FINE_STEP)))
    offsets = (np.arange(n) + 0.5) / n * step - step / 2.0
    return (tt[:, None] + offsets[None, :]).ravel(), n


def simulate_xu(c, mix, mu_mix, crystals, settings, tt):
    """Unit-K pattern: Σ_i w_i/(ρ_i µ*_mix) × phase pattern per unit volume, computed on the fine grid
    and averaged over each output step (see FINE_STEP)."""
    import xrayutilities as xu
    from xrayutilities.simpack import Powder, PowderModel

    xu.config.NTHREADS = 1  # its multiprocessing managers deadlocked here; one local process is ample
    powders, volume = [], 0.0
    for name, (crystal, _) in crystals.items():
        rho = crystal.density / 1000.0
        size = phase_size_um(c, name)
        po = c["po"].get(name)
        kw = {"preferred_orientation": tuple(po[0]), "preferred_orientation_factor": po[1]} if po else {}
        powders.append(Powder(crystal, mix[name] / rho, crystallite_size_lor=size * 1e-6, **kw))
        volume += mix[name] / rho
    model = PowderModel(*powders, I0=volume / mu_mix, fpsettings=settings)
    fine, n = fine_grid(tt)
    try:
        y = model.simulate(fine, mode="local", background=np.zeros_like(fine))
    finally:
        model.close()
    return y.reshape(tt.size, n).mean(axis=1)


def lif_area_per_mass_xu(settings, tt) -> float:
    crystal, _ = load_crystal(STANDARD)
    c = {"sizes": {}, "po": {}}
    y = simulate_xu(c, {STANDARD: 1.0}, 1.0, {STANDARD: (crystal, None)}, settings, tt)
    return float(np.trapezoid(y, tt))


def run_xu_case(c, out, version, *, expected_only=False) -> None:
    """Simulate one case; ``expected_only``: its noise-free expected counts instead (systematic error alone)."""
    seed = case_seed(c["case"])
    rng = np.random.default_rng(seed)
    nuis = draw_nuisance(rng, c)
    mix, am = mixture_fractions(c)
    true = {}
    for name, spec in (c.get("true_structures") or {}).items():
        out.mkdir(parents=True, exist_ok=True)
        true[name] = out / f"{c['case']}.{name}.true.cif"
        write_true_structure(name, spec, true[name])
    crystals = {n: load_crystal(n, true.get(n)) for n in mix if n != "amorphous"}
    mu_mix = sum(w * mass_attenuation(crystals[n][1]) for n, w in mix.items() if n != "amorphous")
    mu_mix += sum(w * mass_attenuation(formula_composition(f)) for f, w in am.items())
    rho_solid = 1.0 / (sum(mix[n] / (crystals[n][0].density / 1000.0) for n in crystals)
                       + sum(am.values()) / AMORPHOUS_DENSITY)
    settings = fp_settings(rng, nuis, mu_mix * rho_solid * PACKING * 100.0)
    lo, hi, step = c["grid"]
    tt = np.round(np.arange(lo, hi + step / 2, step), 6)
    y_unit = simulate_xu(c, mix, mu_mix, crystals, settings, tt)
    K = c["counts"] / float(np.max(y_unit))
    y_bragg = K * y_unit
    total = hump_total_area(c["grid"], am, mu_mix, K, lif_area_per_mass_xu(settings, tt))
    y_humps, humps = amorphous_humps(tt, total, nuis)
    y_bkg, background = air_and_linear_background(tt, float(np.max(y_bragg)), nuis)
    expected = y_bragg + y_humps + y_bkg
    if expected_only:
        truth = xu_truth(c, version, None, mix, am, mu_mix, K, crystals, settings, nuis, humps, background, tt,
                         y_bragg, expected)
        truth["noise"] = "none: the expected counts (esd √counts), for systematic error alone"
        write_xye(out / f"{c['case']}.xye", tt, expected, f"{c['case']}: expected (noise-free) counts simulated by "
                  f"{version}; truth in {c['case']}.truth.json", decimals=2)
        write_json(out / f"{c['case']}.truth.json", truth)
        return
    noise_seed = seed * 100
    counts = np.random.default_rng(noise_seed).poisson(expected).astype(float)
    truth = xu_truth(c, version, noise_seed, mix, am, mu_mix, K, crystals, settings, nuis, humps, background, tt,
                     y_bragg, expected)
    write_xye(out / f"{c['case']}.xye", tt, counts, f"{c['case']}: simulated by {version}; truth in "
              f"{c['case']}.truth.json")
    write_json(out / f"{c['case']}.truth.json", truth)


def xu_truth(c, version, seed, mix, am, mu_mix, K, crystals, settings, nuis, humps, background, tt, y_bragg,
             expected):
    phases = [{"name": n, "cif": f"reference_patterns/phases/{n}.cif",
               "size_um": phase_size_um(c, n),
               "microstrain": 0.0,
               "march_dollase": {"axis": list(c["po"][n][0]), "ratio": c["po"][n][1]} if n in c["po"] else None,
               "density_g_cm3": crystal.density / 1000.0, "mass_attenuation_cm2_g": mass_attenuation(comp)}
              for n, (crystal, comp) in crystals.items()]
    fp = {k: dict(v) for k, v in settings.items()}
    fp["emission"] = {k: list(v) for k, v in fp["emission"].items()}
    instrument = {"wavelengths": WAVELENGTHS, "radius_mm": 150.0, "U": None, "V": None, "W": None, "X": None,
                  "Y": None, "SH/L": None, "zero_deg": nuis["instrument"]["zero_deg"],
                  "polarization": "unpolarised, (1 + cos²2θ)/2", "fundamental_parameters": fp,
                  "units": "xrayutilities fpsettings, SI (m, m⁻¹); profile from geometry, no U V W X Y",
                  "sampling": {"fine_step_deg": FINE_STEP, "output": "mean over each output step"}}
    amorphous = round(1.0 - sum(c["sample"].values()), 12)
    return {"case": c["case"], "simulator": version, "seed": seed, "description": c["description"],
            "standard": {"phase": STANDARD, "cif": f"reference_patterns/phases/{STANDARD}.cif",
                         "weighed_fraction": c["W_s"], "purity": c["purity"]},
            "sample": {"amorphous": amorphous, "phases": dict(c["sample"])}, "mixture": mix, "phases": phases,
            "amorphous_formula": c["amorphous_formula"] if amorphous > 0 else None, "amorphous_components": am,
            "mixture_mass_attenuation_cm2_g": mu_mix, "absolute_scale": K,
            "absolute_scale_meaning": "counts = K × Σ_i w_i/(ρ_i µ*_mix) × xrayutilities unit-volume pattern",
            "scale_series": None, "instrument": instrument, "displacement_um": nuis["displacement_um"],
            "humps": humps, "background": background, "max_peak_counts": float(np.max(y_bragg)),
            "max_counts_expected": float(np.max(expected)), "two_theta": list(c["grid"]), "n_points": int(tt.size),
            **({"true_structures": {n: {"cif": f"{c['case']}.{n}.true.cif", **spec}
                                    for n, spec in c["true_structures"].items()}} if c.get("true_structures") else {})}


def main(out, *, expected_only=False, structure_errors=False):
    import xrayutilities as xu

    version = f"xrayutilities {xu.__version__}"
    for c in (XU_STRUCTURE_CASES if structure_errors else XU_CASES):
        run_xu_case(c, out, version, expected_only=expected_only)
        print(f"{c['case']}: written", flush=True)
    return 0
