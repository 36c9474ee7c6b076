"""Simulate the independent validation set with GSAS-II (and a second opinion with xrayutilities).

    python scripts/make_independent_set.py                 # every GSAS-II case
    python scripts/make_independent_set.py --only lic_a35  # some cases
    python scripts/make_independent_set.py --xrayutilities # the xrayutilities cases
    python scripts/make_independent_set.py --xrayutilities --expected  # their noise-free expected patterns
                                                           # (xrayutilities-expected/)
    python scripts/make_independent_set.py --check-gsas2   # refine a clean case in GSAS-II (truth check)
    python scripts/make_independent_set.py --expected      # the noise-free expected patterns (gsas2-expected/)
    python scripts/make_independent_set.py --draw x8       # a second draw at 8x the counts (gsas2-x8/)
    python scripts/make_independent_set.py --breadth       # chemistries and textures beyond the set (gsas2-breadth/)
    python scripts/make_independent_set.py --structure-errors  # true structures other than the CIFs given to the
                                                           # fit (gsas2-structure/)
    python scripts/make_independent_set.py --xrayutilities --structure-errors  # the same by xrayutilities
                                                           # (xrayutilities-structure/)
    python scripts/make_independent_set.py --expected --exact-fcj  # the same, GSAS-II's FCJ quadrature replaced
                                                           # by the integral (gsas2-exactfcj/)

Writes reference_patterns/validation/<simulator>/<case>.xye (2θ, counts, esd) and <case>.truth.json.
xrdq's own model/simulator is never used: Bragg intensities come from GSAS-II (GSASIIscriptable,
zero-cycle "refinement" of a simulated histogram) or xrayutilities; backgrounds, amorphous humps and
Poisson noise are added with numpy. Physics and JSON fields: reference_patterns/validation/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import xraydb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from xrdq.validation import BREADTH_FOLDER, STRUCTURE_FOLDER  # noqa: E402
from independent_set_cases import (BREADTH, CASES, DEFAULT_SIZE_UM, FIRST_WAVE, SCALE_SERIES,  # noqa: E402
                                   STANDARD_SIZE_UM, STRUCTURE_FOLDER_CASES, drawn_cases)

PHASES = ROOT / "reference_patterns" / "phases"
OUT = ROOT / "reference_patterns" / "validation"
WAVELENGTHS = [[1.540593, 1.0], [1.544427, 0.5]]
ENERGY_EV = 12398.4198 / WAVELENGTHS[0][0]
RADIUS_MM = 150.0
POLARIZATION = 0.5  # GSAS-II 'Polariz.' for an unpolarised beam (Kβ filter, no monochromator)
STANDARD = "LiF"
BASE_SEED = 20261130


def case_seed(name: str) -> int:
    """Seed of a case from its name, so adding or reordering cases never changes another case's draw."""
    return BASE_SEED + zlib.crc32(name.encode()) % 100000


# --------------------------------------------------------------------------------------------- composition
def formula_composition(formula: str) -> dict:
    return {el: float(n) for el, n in xraydb.chemparse(formula).items()}


def mass_attenuation(composition: dict) -> float:
    """µ/ρ (cm²/g) at Cu Kα1 from element counts, xraydb (Elam) total cross sections."""
    masses = {el: n * xraydb.atomic_mass(el) for el, n in composition.items()}
    total = sum(masses.values())
    return sum(m / total * float(xraydb.mu_elam(el, ENERGY_EV)) for el, m in masses.items())


def scattering_power(composition: dict, grid) -> float:
    """Coherent scattering per gram, Σ n f0(s)² / M averaged over the 2θ range (electrons² mol/g)."""
    tth = np.linspace(grid[0], grid[1], 50)
    s = np.sin(np.radians(tth / 2)) / WAVELENGTHS[0][0]
    f2 = sum(n * np.asarray(xraydb.f0(el, s)) ** 2 for el, n in composition.items())
    mass = sum(n * xraydb.atomic_mass(el) for el, n in composition.items())
    return float(np.mean(f2) / mass)


def mixture_fractions(c: dict) -> tuple[dict, dict]:
    """Mixture mass fractions (crystalline phases, standard, amorphous) and the amorphous components."""
    W_s, purity = c["W_s"], c["purity"]
    amorphous = 1.0 - sum(c["sample"].values())
    mix = {name: (1.0 - W_s) * x for name, x in c["sample"].items()}
    am = {c["amorphous_formula"]: (1.0 - W_s) * amorphous}
    if c["standard"]:
        mix[STANDARD] = mix.get(STANDARD, 0.0) + purity * W_s
        am[STANDARD] = am.get(STANDARD, 0.0) + (1.0 - purity) * W_s
    am = {k: v for k, v in am.items() if v > 1e-12}
    mix = {k: v for k, v in mix.items() if v > 0}
    mix["amorphous"] = sum(am.values())
    return mix, am


def phase_size_um(c, name: str) -> float:
    """Crystallite size of a phase in a case (µm): the table's, else the standard's or the default."""
    return c["sizes"].get(name, STANDARD_SIZE_UM if name == STANDARD else DEFAULT_SIZE_UM)


# --------------------------------------------------------------------------------------------- nuisances
def draw_nuisance(rng, c) -> dict:
    """Instrument profile (GSAS-II units), displacement, zero, humps and background for one case."""
    sign = lambda: rng.choice([-1.0, 1.0])  # noqa: E731
    inst = {"U": rng.uniform(2.0, 10.0), "V": rng.uniform(-4.0, -0.5), "W": rng.uniform(1.0, 4.0),
            "X": rng.uniform(1.0, 4.0), "Y": rng.uniform(0.5, 3.0), "SH/L": rng.uniform(0.01, 0.04),
            "zero_deg": sign() * rng.uniform(0.02, 0.05)}
    n_humps = int(rng.integers(2, 4))
    centres = [rng.uniform(17.0, 32.0), rng.uniform(38.0, 55.0), rng.uniform(58.0, 75.0)][:n_humps]
    humps = [{"center": float(x), "fwhm": float(rng.uniform(5.0, 15.0))} for x in centres]
    weights = rng.dirichlet([4.0, 2.0, 1.0][:n_humps])
    return {"instrument": {k: float(v) for k, v in inst.items()},
            "displacement_um": float(sign() * rng.uniform(20.0, 150.0)),
            "humps": humps, "hump_weights": [float(w) for w in weights],
            "air_fraction": float(rng.uniform(0.5, 2.0)), "air_tau_deg": float(rng.uniform(5.0, 10.0)),
            "linear_fraction": float(rng.uniform(0.01, 0.04)), "slope_fraction": float(rng.uniform(-0.4, 0.2))}


def instprm_text(inst: dict) -> str:
    lines = ["#GSAS-II instrument parameter file; independent validation set", "Type:PXC",
             f"Lam1:{WAVELENGTHS[0][0]}", f"Lam2:{WAVELENGTHS[1][0]}", f"I(L2)/I(L1):{WAVELENGTHS[1][1]}",
             f"Zero:{inst['zero_deg']:.6f}", f"Polariz.:{POLARIZATION}", "Azimuth:0.0"]
    lines += [f"{k}:{inst[k]:.6f}" for k in ("U", "V", "W", "X", "Y")] + ["Z:0.0", f"SH/L:{inst['SH/L']:.6f}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------- GSAS-II
def _quiet():
    return contextlib.redirect_stdout(io.StringIO())


#: phase name → the CIF GSAS-II simulates it from instead of the reference one (a structure-error case's true structure)
TRUE_CIFS: dict = {}


def add_gsas2_phase(G2sc, proj, name: str, workdir: Path):
    """Add a reference CIF (or the case's true structure, :data:`TRUE_CIFS`); atoms a CIF gives a hair off a special
    position are moved onto it (GSAS-II would otherwise double them: Li2ZrCl6, Li2HfCl6, Li3YCl6)."""
    from xrdq.engines.gsas2.project import snap_special_positions  # a GSAS-II helper, not xrdq's model

    ph = proj.add_phase(str(TRUE_CIFS.get(name, PHASES / f"{name}.cif")), phasename=name, fmthint="CIF")
    if snap_special_positions(ph):
        G2sc.SetupGeneral(ph.data, str(workdir))
    return ph


def simulate_gsas2(c, mix: dict, mu_mix: float, nuis: dict, workdir: Path, *, refine_check=False):
    """GSAS-II Bragg pattern of the mixture with histogram scale 1/µ*_mix and phase fractions w_i/(ZM)_i,
    so GSAS-II's weight fractions equal the mixture's (normalised over the crystalline phases)."""
    import GSASII.GSASIIscriptable as G2sc

    lo, hi, step = c["grid"]
    (workdir / "inst.instprm").write_text(instprm_text(nuis["instrument"]), encoding="ascii")
    crystalline = [n for n in mix if n != "amorphous"]
    with _quiet():
        proj = G2sc.G2Project(newgpx=str(workdir / f"{c['case']}.gpx"))
        phases = [add_gsas2_phase(G2sc, proj, n, workdir) for n in crystalline]
        hist = proj.add_simulated_powder_histogram("sim", str(workdir / "inst.instprm"), lo, hi, Tstep=step,
                                                   phases=phases)
    sample = hist.data["Sample Parameters"]
    sample.update({"Type": "Bragg-Brentano", "Gonio. radius": RADIUS_MM, "Scale": [1.0 / mu_mix, True],
                   "Shift": [nuis["displacement_um"], False]})
    hist.data["Background"][0][:] = ["chebyschev-1", False, 1, 0.0]
    info = {}
    for name, ph in zip(crystalline, phases):
        gen = ph.data["General"]
        hap = ph.data["Histograms"][hist.name]
        size = phase_size_um(c, name)
        strain = c["strain"].get(name, 0.0)
        hap["Scale"] = [mix[name] / gen["Mass"], False]
        plate = c.get("platelets", {}).get(name)
        if plate:  # uniaxial: equatorial and axial sizes about an axis (GSAS-II's Size;i and Size;a)
            hap["Size"][0], hap["Size"][1][:3], hap["Size"][3] = "uniaxial", [plate[0], plate[1], 1.0], list(plate[2])
            size = plate[0]
        else:
            hap["Size"][0], hap["Size"][1][:3] = "isotropic", [size, size, 1.0]
        hap["Mustrain"][0], hap["Mustrain"][1][:3] = "isotropic", [strain, strain, 1.0]
        po = c["po"].get(name)
        sh = po.get("spherical_harmonics") if isinstance(po, dict) else None
        if sh:  # a texture of another shape than March–Dollase's, which is all xrdq refines
            sh = spherical_harmonics_texture(gen["SGData"]["SGLaue"], sh)
            hap["Pref.Ori."][0], hap["Pref.Ori."][4] = "SH", sh["order"]
            hap["Pref.Ori."][5] = dict(sh["coefficients"])
        else:
            hap["Pref.Ori."][0] = "MD"
            hap["Pref.Ori."][1] = po[1] if po else 1.0
            hap["Pref.Ori."][3] = list(po[0]) if po else [0, 0, 1]
        info[name] = {"cell_mass": float(gen["Mass"]), "volume": float(gen["Cell"][7]),
                      "composition": {el: float(n) for el, n in gen["NoAtoms"].items()},
                      "size_um": size, "microstrain": strain,
                      "march_dollase": {"axis": list(po[0]), "ratio": po[1]} if po and not sh else None,
                      **({"spherical_harmonics": sh} if sh else {}),
                      **({"uniaxial_size": {"equatorial_um": plate[0], "axial_um": plate[1], "axis": list(plate[2])}}
                         if plate else {})}
    proj.data["Controls"]["data"]["max cyc"] = 0  # compute only; the one flagged variable stays put
    with _quiet():
        proj.do_refinements([{}])
    if abs(hist.data["Sample Parameters"]["Scale"][0] - 1.0 / mu_mix) > 1e-12 / mu_mix:
        raise RuntimeError(f"{c['case']}: GSAS-II changed the histogram scale in a zero-cycle run")
    x = np.asarray(hist.getdata("x"), float)
    y = np.asarray(hist.getdata("ycalc"), float)
    if refine_check:
        return proj, hist, phases, info
    return x, y, info


def spherical_harmonics_texture(laue: str, spec: dict) -> dict:
    """GSAS-II's cylindrical spherical-harmonics texture (sample symmetry "0", Bragg–Brentano): every coefficient
    name of the Laue class up to ``spec["order"]`` (GSAS-II needs them all; unnamed ones are 0) and the
    texture index J = 1 + Σ C²/(2l + 1) (1 = random)."""
    from GSASII import GSASIIlattice as G2lat

    names = G2lat.GenSHCoeffT(laue, "0", spec["order"], False)
    unknown = set(spec["coefficients"]) - set(names)
    if unknown:
        raise ValueError(f"spherical-harmonics terms {sorted(unknown)} do not exist for Laue class {laue} "
                         f"up to order {spec['order']} (it has {names})")
    coefficients = {n: float(spec["coefficients"].get(n, 0.0)) for n in names}
    return {"order": spec["order"], "coefficients": coefficients,
            "texture_index": float(G2lat.textureIndex(coefficients))}


_REFERENCE_AREA: dict = {}


def lif_area_per_mass(grid, workdir: Path) -> float:
    """Integrated GSAS-II Bragg area (counts·°) of LiF per unit w/µ* at K = 1 over ``grid``: the yardstick
    that turns an amorphous component's per-gram scattering power into a hump area."""
    if grid not in _REFERENCE_AREA:
        ref = {"case": "lif_reference", "grid": grid, "sizes": {}, "strain": {}, "po": {}}
        nuis = {"instrument": {"U": 5.0, "V": -2.0, "W": 2.0, "X": 2.0, "Y": 1.0, "SH/L": 0.02, "zero_deg": 0.0},
                "displacement_um": 0.0}
        x, y, _ = simulate_gsas2(ref, {STANDARD: 1.0}, 1.0, nuis, workdir)
        _REFERENCE_AREA[grid] = float(np.trapezoid(y, x))
    return _REFERENCE_AREA[grid]


EXACT_FCJ_NODES = 300


def exact_fcj_voigt(pos, sig, gam, shl, xdata):
    """Drop-in for ``GSASIIpwd.getFCJVoigt3`` (same arguments and units, same return): the Finger–Cox–Jephcoat
    peak (1994, eq. 7; S = H = SH/2, as GSAS-II takes them) as the integral it stands for, over GSAS-II's own
    pseudo-Voigt (``pypsvoigt``, the PSVOIGT that PSVFCJO convolves). GSAS-II's PSVFCJO integrates the weight
    function with a Gauss–Legendre rule in 2φ whose order follows the Lorentzian width alone, so a Lorentzian-rich
    peak with a narrow Gaussian part is sampled by a few nodes and comes out shifted and misshapen (README,
    "GSAS-II's axial-divergence peak is not the FCJ integral"). Here the weight is integrated in the axial height
    h, where it has no singularity, by the midpoint rule on ``EXACT_FCJ_NODES`` nodes: their 2θ spacing, at most
    2·spread/300, stays far below any FWHM of the set."""
    from GSASII import pypowder

    x = np.asarray(xdata, dtype=float)
    if x.size < 2:
        return 0.0, 1.0
    c0 = np.cos(np.radians(pos))
    h = (np.arange(EXACT_FCJ_NODES) + 0.5) / EXACT_FCJ_NODES * shl
    c = c0 * np.sqrt(1.0 + h * h)
    if np.abs(c).max() >= 1.0:
        raise ValueError(f"FCJ: SH/L = {shl} reaches 2φ = 0 for a peak at {pos:.3f}° 2θ")
    phi = np.degrees(np.arccos(c))
    w = (shl - h) * c0 * c0 / (c * c) / np.sqrt(1.0 - c * c)  # W d2φ in h (xrdq.model.profile.fcj_nodes' docstring)
    w /= w.sum()
    dx = (x[None, :] - phi[:, None]).ravel()  # offsets in float64 first: GSAS-II's pseudo-Voigt is single precision
    pv = np.asarray(pypowder.pypsvoigt(dx.size, dx.astype(np.float32), sig, gam), dtype=float).reshape(phi.size, x.size)
    profile = w @ pv  # per centidegree, GSAS-II's unit
    cw = np.append(np.diff(x), x[-1] - x[-2])
    return profile, float(np.sum(100.0 * profile * cw))


@contextlib.contextmanager
def exact_fcj(enabled: bool = True):
    """GSAS-II computes with :func:`exact_fcj_voigt` in place of its FCJ quadrature while inside."""
    if not enabled:
        yield
        return
    from GSASII import GSASIIpwd

    own = GSASIIpwd.getFCJVoigt3
    GSASIIpwd.getFCJVoigt3 = exact_fcj_voigt  # GSASIIstrMath looks it up on the module at every call
    try:
        yield
    finally:
        GSASIIpwd.getFCJVoigt3 = own


# --------------------------------------------------------------------------------------------- numpy parts
def write_true_structure(name: str, spec: dict, path: Path):
    """The reference CIF of ``name`` with its sites moved at random by ``spec["sigma"]`` (fractional, per coordinate)
    within each site's symmetry (the random δ averaged over the operators that keep the site in place: the directions
    it is free to move in), and ``spec["occupancy"]`` (site label → value) and ``spec["b_iso"]`` (element → Å²)
    replacing the CIF's: a structure other than the one the fit is given. The CIF is read for its sites and operators
    only; the pattern is GSAS-II's."""
    from xrdq.crystal import read_cif
    from xrdq.crystal.displace import _same

    src = PHASES / f"{name}.cif"
    phase = read_cif(src)
    rot = np.asarray(phase.symmetry.rotations, dtype=float)
    tr = np.asarray(phase.symmetry.translations, dtype=float)
    rng = np.random.default_rng(spec.get("seed", 0))
    sigma = float(spec.get("sigma", 0.0))
    moved = {}
    for site in phase.sites:
        x = np.asarray(site.fract, dtype=float)
        stabiliser = rot[_same(np.einsum("nij,j->ni", rot, x) + tr, x)]
        moved[site.label] = x + ((stabiliser @ rng.normal(0.0, sigma, 3)).mean(axis=0) if sigma else 0.0)
    occupancy, b_iso = spec.get("occupancy", {}), spec.get("b_iso", {})
    unknown = set(occupancy) - set(moved)
    if unknown:
        raise ValueError(f"{src}: no site {sorted(unknown)} to set the occupancy of")
    lines, done = [], set()
    for line in src.read_text(encoding="utf-8").splitlines():
        f = line.split()
        if len(f) == 7 and f[0] in moved and f[0] not in done:  # label type x y z occupancy B, as the reference CIFs
            x = moved[f[0]]
            line = (f"{f[0]} {f[1]} {x[0]:.6f} {x[1]:.6f} {x[2]:.6f} {float(occupancy.get(f[0], f[5])):.5f} "
                    f"{float(b_iso.get(f[1], f[6])):.4f}")
            done.add(f[0])
        lines.append(line)
    if done != set(moved):
        raise ValueError(f"{src}: site lines of {sorted(set(moved) - done)} not found (label type x y z occ B expected)")
    header = (f"# TRUE structure of {name} for a structure-error case (make_independent_set.py --structure-errors): "
              f"the reference CIF with {json.dumps(spec, sort_keys=True)}. GSAS-II simulated the pattern from this; "
              f"xrdq is given reference_patterns/phases/{name}.cif.")
    path.write_text(header + "\n" + "\n".join(lines) + "\n", encoding="utf-8")


def gaussian(x, centre, fwhm, area):
    sigma = fwhm / np.sqrt(8.0 * np.log(2.0))
    return area / (sigma * np.sqrt(2.0 * np.pi)) * np.exp(-0.5 * ((x - centre) / sigma) ** 2)


def hump_total_area(grid, am: dict, mu_mix: float, K: float, lif_area: float) -> float:
    """Total amorphous hump area: K · Σ_am (w_am/µ*_mix) · (q_am/q_LiF) · B_LiF (README, Physics)."""
    q_lif = scattering_power(formula_composition(STANDARD), grid)
    return K * lif_area * sum(w / mu_mix * scattering_power(formula_composition(f), grid) / q_lif
                              for f, w in am.items())


def amorphous_humps(x, total_area: float, nuis: dict):
    """The case's 2–3 Gaussian humps sharing ``total_area`` by its drawn weights; (curve, records)."""
    humps = [dict(h, area=float(total_area * wt)) for h, wt in zip(nuis["humps"], nuis["hump_weights"])]
    humps = humps if total_area else []
    return sum((gaussian(x, h["center"], h["fwhm"], h["area"]) for h in humps), np.zeros_like(x)), humps


def air_and_linear_background(x, peak: float, nuis: dict):
    """Air scatter A·exp(−2θ/τ) (``air_fraction`` × b0 at the first point) + linear b0 + b1(2θ − 2θ_start),
    b0 a drawn fraction of the strongest peak plus 15 counts; (curve, record)."""
    b0 = nuis["linear_fraction"] * peak + 15.0
    b1 = nuis["slope_fraction"] * b0 / (x[-1] - x[0])
    A = nuis["air_fraction"] * b0 * np.exp(x[0] / nuis["air_tau_deg"])
    y = A * np.exp(-x / nuis["air_tau_deg"]) + b0 + b1 * (x - x[0])
    record = {"formula": "A*exp(-2theta/tau) + b0 + b1*(2theta - 2theta_start)", "A": float(A),
              "tau_deg": nuis["air_tau_deg"], "b0": float(b0), "b1_per_deg": float(b1),
              "two_theta_start": float(x[0])}
    return y, record


def write_xye(path: Path, x, counts, header: str, *, decimals: int = 0):
    """(2θ, counts, esd) columns; Poisson counts are integers, an expected pattern keeps ``decimals``."""
    from xrdq._atomic import atomic_write_text

    esd = np.sqrt(np.maximum(counts, 1.0))
    body = "\n".join(f"{a:.4f} {b:.{decimals}f} {e:.3f}" for a, b, e in zip(x, counts, esd))
    atomic_write_text(path, f"# {header}\n" + body + "\n")


def _tidy(value):
    """Floats to 10 significant digits (the JSON stays readable; fractions stay exact enough)."""
    if isinstance(value, float):
        return float(f"{value:.10g}")
    if isinstance(value, dict):
        return {k: _tidy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tidy(v) for v in value]
    return value


def write_json(path: Path, data: dict):
    from xrdq._atomic import atomic_write_text

    atomic_write_text(path, json.dumps(_tidy(data), indent=1, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------------------------- truth
def truth_record(c, simulator, seed, mix, am, mu_mix, K, info, nuis, humps, background, x, y_bragg, y_total):
    sample = {"amorphous": round(1.0 - sum(c["sample"].values()), 12), "phases": dict(c["sample"])}
    standard = None
    if c["standard"]:
        standard = {"phase": STANDARD, "cif": f"reference_patterns/phases/{STANDARD}.cif",
                    "weighed_fraction": c["W_s"], "purity": c["purity"]}
    phases = [{"name": n, "cif": f"reference_patterns/phases/{n}.cif", "size_um": p["size_um"],
               "microstrain": p["microstrain"], "march_dollase": p["march_dollase"],
               **{k: p[k] for k in ("spherical_harmonics", "uniaxial_size") if k in p},
               "cell_mass_gsas2": p["cell_mass"], "mass_attenuation_cm2_g": mass_attenuation(p["composition"])}
              for n, p in info.items()]
    inst = dict(nuis["instrument"], wavelengths=WAVELENGTHS, radius_mm=RADIUS_MM, polarization=POLARIZATION,
                units="GSAS-II: U V W Gaussian variance (centideg²), X Y Lorentzian FWHM (centideg), SH/L "
                      "FCJ (S+H)/L, zero in °2θ, Polariz. 0.5 = unpolarised")
    return {"case": c["case"], "simulator": simulator, "seed": seed, "description": c["description"],
            "standard": standard, "sample": sample, "mixture": mix, "phases": phases,
            "amorphous_formula": c["amorphous_formula"] if sample["amorphous"] > 0 else None,
            "amorphous_components": am,
            "mixture_mass_attenuation_cm2_g": mu_mix, "absolute_scale": K, "scale_series": c["series"],
            "instrument": inst, "displacement_um": nuis["displacement_um"],
            "humps": humps, "background": background,
            "max_peak_counts": float(np.max(y_bragg)), "max_counts_expected": float(np.max(y_total)),
            "two_theta": list(c["grid"]), "n_points": int(x.size), **({"draw": c["draw"]} if c.get("draw") else {}),
            **({"true_structures": {n: {"cif": f"{c.get('structure_case', c['case'])}.{n}.true.cif", **spec}
                                    for n, spec in c["true_structures"].items()}} if c.get("true_structures") else {})}


def mixture_mu(mix: dict, am: dict, info: dict) -> float:
    mu = sum(w * mass_attenuation(info[n]["composition"]) for n, w in mix.items() if n != "amorphous")
    return mu + sum(w * mass_attenuation(formula_composition(f)) for f, w in am.items())


def crystalline_info(c, mix, workdir):
    """Cell compositions of the crystalline phases as GSAS-II reads them (for µ*), from a throwaway project."""
    import GSASII.GSASIIscriptable as G2sc

    with _quiet():
        proj = G2sc.G2Project(newgpx=str(workdir / "composition.gpx"))
        out = {}
        for n in mix:
            if n != "amorphous":
                gen = add_gsas2_phase(G2sc, proj, n, workdir).data["General"]
                out[n] = {"composition": {el: float(k) for el, k in gen["NoAtoms"].items()}}
    return out


# --------------------------------------------------------------------------------------------- driver
def run_case(c, out: Path, workdir: Path, series_K: dict, version: str, *, expected_only=False) -> list[Path]:
    """Simulate one case (all its Poisson replicates); ``expected_only``: one file holding the expected
    counts themselves, no noise (the same nuisances and truth), for measuring systematic error alone."""
    TRUE_CIFS.clear()
    for name, spec in (c.get("true_structures") or {}).items():
        out.mkdir(parents=True, exist_ok=True)
        write_true_structure(name, spec, out / f"{c['case']}.{name}.true.cif")
        TRUE_CIFS[name] = out / f"{c['case']}.{name}.true.cif"
    try:
        return _run_case(c, out, workdir, series_K, version, expected_only=expected_only)
    finally:
        TRUE_CIFS.clear()


def _run_case(c, out: Path, workdir: Path, series_K: dict, version: str, *, expected_only=False) -> list[Path]:
    seed = case_seed(c["case"])
    rng = np.random.default_rng(seed)
    nuis = draw_nuisance(rng, c)
    mix, am = mixture_fractions(c)
    mu_mix = mixture_mu(mix, am, crystalline_info(c, mix, workdir))
    x, y_unit, info = simulate_gsas2(c, mix, mu_mix, nuis, workdir)
    if c["series"]:
        if c["series"] not in series_K:
            raise RuntimeError(f"{c['case']}: scale series {c['series']} needs its anchor simulated first")
        K = series_K[c["series"]]
    else:
        K = c["counts"] / float(np.max(y_unit))
    y_bragg = K * y_unit
    total = hump_total_area(c["grid"], am, mu_mix, K, lif_area_per_mass(c["grid"], workdir))
    y_humps, humps = amorphous_humps(x, total, nuis)
    y_bkg, background = air_and_linear_background(x, float(np.max(y_bragg)), nuis)
    expected = y_bragg + y_humps + y_bkg
    written = []
    if expected_only:
        truth = truth_record(c, version, None, mix, am, mu_mix, K, info, nuis, humps, background, x, y_bragg,
                             expected)
        truth["noise"] = "none: the expected counts (esd √counts), for systematic error alone"
        write_xye(out / f"{c['case']}.xye", x, expected, f"{c['case']}: expected (noise-free) counts simulated "
                  f"by {version}; truth in {c['case']}.truth.json", decimals=2)
        write_json(out / f"{c['case']}.truth.json", truth)
        return [out / f"{c['case']}.xye"]
    n_rep = c["replicates"] or 1
    for r in range(n_rep):
        name = c["case"] if not c["replicates"] else f"{c['case']}_r{r + 1:02d}"
        noise_seed = seed * 100 + r
        counts = np.random.default_rng(noise_seed).poisson(expected).astype(float)
        # replicates share their case's true structure file (``structure_case``: the name it was written under)
        truth = truth_record(dict(c, case=name, structure_case=c["case"]), version, noise_seed, mix, am, mu_mix, K,
                             info, nuis, humps, background, x, y_bragg, expected)
        if c["replicates"]:
            truth["replicate_of"] = c["case"]
        write_xye(out / f"{name}.xye", x, counts, f"{name}: simulated by {version}; truth in {name}.truth.json")
        write_json(out / f"{name}.truth.json", truth)
        written.append(out / f"{name}.xye")
    return written


def series_scales(cases, workdir: Path, counts_factor: float = 1.0) -> dict:
    """K of each scale series from its anchor: the anchor's strongest Bragg peak reaches the series' counts
    (times ``counts_factor`` for a drawn set)."""
    scales = {}
    for key, spec in SCALE_SERIES.items():
        if not any(c["series"] == key for c in cases):
            continue
        anchor = next(c for c in CASES if c["case"] == spec["anchor"])
        nuis = draw_nuisance(np.random.default_rng(case_seed(anchor["case"])), anchor)
        mix, am = mixture_fractions(anchor)
        mu_mix = mixture_mu(mix, am, crystalline_info(anchor, mix, workdir))
        _, y_unit, _ = simulate_gsas2(anchor, mix, mu_mix, nuis, workdir)
        scales[key] = counts_factor * spec["counts"] / float(np.max(y_unit))
    return scales


def gsas2_version() -> str:
    from GSASII import GSASIIpath

    with _quiet():
        number = GSASIIpath.GetVersionNumber()
    return f"GSAS-II 5.7.9 ({number})" if str(number) == "5838" else f"GSAS-II ({number})"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="case names (default: all)")
    ap.add_argument("--first-wave", action="store_true", help="only the first delivery's cases")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--xrayutilities", action="store_true", help="the xrayutilities cases instead")
    ap.add_argument("--check-gsas2", action="store_true", help="GSAS-II refinement of a clean case")
    ap.add_argument("--expected", action="store_true",
                    help="write the noise-free expected pattern of every case to <out>/gsas2-expected instead "
                    "(with --xrayutilities: <out>/xrayutilities-expected)")
    ap.add_argument("--exact-fcj", action="store_true", help="with --expected: GSAS-II's FCJ quadrature replaced by "
                    "the integral (exact_fcj_voigt), to <out>/gsas2-exactfcj")
    ap.add_argument("--draw", metavar="TAG", help="a second draw of every case with a standard (new nuisances, "
                    "amounts moved, more counts; independent_set_cases.drawn_cases) to <out>/gsas2-TAG")
    ap.add_argument("--counts-factor", type=float, default=8.0, help="counts of a --draw relative to the set's")
    ap.add_argument("--replicates", type=int, default=40, help="Poisson replicates of a --draw's replicate case "
                    "(40: the spread of their (A − truth)/esd is then known to ≈ ±0.11, where 10 left ±0.24)")
    ap.add_argument("--breadth", action="store_true", help="the cases of chemistries and textures outside the "
                    "development set (independent_set_cases.BREADTH) to <out>/gsas2-breadth")
    ap.add_argument("--structure-errors", action="store_true", help="cases simulated from true structures other than "
                    "the CIFs the fit is given (independent_set_cases.STRUCTURE_FOLDER_CASES) to <out>/gsas2-structure")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if args.xrayutilities:
        from make_independent_set_xu import main as xu_main

        if args.exact_fcj or args.draw or args.breadth or (args.structure_errors and args.expected):
            ap.error("--xrayutilities takes only --expected or --structure-errors (its profile has no FCJ quadrature; "
                     "it has one draw)")
        if args.structure_errors:
            return xu_main(args.out / "xrayutilities-structure", structure_errors=True)
        if args.expected:
            return xu_main(args.out / "xrayutilities-expected", expected_only=True)
        return xu_main(args.out / "xrayutilities")
    if args.check_gsas2:
        from check_independent_set import check_gsas2

        return check_gsas2()
    if (args.breadth or args.structure_errors) and (args.draw or args.expected):
        ap.error("--breadth and --structure-errors are sets of their own: not with --draw or --expected")
    pool = (drawn_cases(args.draw, args.counts_factor, args.replicates) if args.draw else BREADTH if args.breadth
            else STRUCTURE_FOLDER_CASES if args.structure_errors else CASES)
    names = args.only or (FIRST_WAVE if args.first_wave else [c["case"] for c in pool])
    unknown = set(names) - {c["case"] for c in pool}
    if unknown:
        ap.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    cases = [c for c in pool if c["case"] in names]
    if args.expected:  # only what quantifies an amorphous content; pure patterns calibrate, they are not cases
        cases = [c for c in cases if c["standard"]]
    if args.exact_fcj and not args.expected:
        ap.error("--exact-fcj goes with --expected: it isolates the model's systematic error")
    version = gsas2_version() + (", FCJ asymmetry integrated exactly (exact_fcj_voigt)" if args.exact_fcj else "")
    with tempfile.TemporaryDirectory(prefix="xrdq-valset-") as tmp, exact_fcj(args.exact_fcj):
        workdir = Path(tmp)
        scales = series_scales(cases, workdir, args.counts_factor if args.draw else 1.0)
        folder = (f"gsas2-{args.draw}" if args.draw else BREADTH_FOLDER if args.breadth
                  else STRUCTURE_FOLDER if args.structure_errors
                  else "gsas2-exactfcj" if args.exact_fcj else "gsas2-expected" if args.expected else "gsas2")
        for c in cases:
            t = time.perf_counter()
            files = run_case(c, args.out / folder, workdir, scales, version, expected_only=args.expected)
            print(f"{c['case']}: {len(files)} file(s), {time.perf_counter() - t:.1f} s", flush=True)
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
