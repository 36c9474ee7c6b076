"""Synthetic check of all three amorphous routes on patterns xrdq did not simulate.

Crystalline part: GSAS-II patterns of scale series S1 (reference_patterns/validation/gsas2, one absolute scale K
for the pure corundum and the oxide mixture). Amorphous part: the halo of the MEASURED pure silica
(../shared/data/qpa/cpd-pure/SILICA.PRN, as fitted humps), added at a known weight fraction f of the mixture
with the physics of an infinitely thick specimen: every crystalline intensity scales as w/µ*_mix, so adding
silica multiplies the GSAS-II Bragg intensities by (1 − f)·µ*_old/µ*_new, and the halo is c·f/µ*_new with
one constant c for every pattern. One pattern (f = 0.2) calibrates the PONKCS silica by its known crystalline
fractions; another (f = 0.4) is quantified by the internal standard (LiF), the external standard (G from
the GSAS-II pure corundum) and PONKCS.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from xrdq.io._pattern import make_pattern
from xrdq.quant.api import quantify
from xrdq.quant.composition import mass_attenuation
from xrdq.quant.external_standard import calibrate_scale
from xrdq.quant.ponkcs import calibrate_ponkcs, fit_humps

GSAS2 = Path(__file__).resolve().parents[2] / "reference_patterns" / "validation" / "gsas2"
CU = 1.540593
HALO_CONSTANT = 8.7e5  # c: counts·deg × (cm²/g) per unit weight fraction of silica (a halo like LAZCO's)


@pytest.fixture(scope="module")
def s1():
    if not (GSAS2 / "oxide_a00.xye").exists():
        pytest.skip(f"{GSAS2} (GSAS-II validation set, scale series S1) is absent")
    return GSAS2


@pytest.fixture(scope="module")
def silica_halo(shared_data):
    path = shared_data / "qpa" / "cpd-pure" / "SILICA.PRN"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    d = np.loadtxt(path)
    keep = (d[:, 0] >= 5.0) & (d[:, 0] <= 100.0)
    return fit_humps(d[keep, 0], d[keep, 1], np.sqrt(np.maximum(d[keep, 1], 1.0)))["humps"]


def _with_silica(folder, halo, f, seed):
    """oxide_a00 with silica added as weight fraction ``f`` of the new mixture: (pattern, mixture fractions)."""
    from xrdq.model.background import humps as hump_columns

    truth = json.loads((folder / "oxide_a00.truth.json").read_text())
    d = np.loadtxt(folder / "oxide_a00.xye", comments="#")
    tt, obs = d[:, 0], d[:, 1]
    b = truth["background"]
    background = b["A"] * np.exp(-tt / b["tau_deg"]) + b["b0"] + b["b1_per_deg"] * (tt - b["two_theta_start"])
    mu_old = truth["mixture_mass_attenuation_cm2_g"]
    mu_new = (1 - f) * mu_old + f * mass_attenuation("SiO2", CU)
    h = np.asarray(halo)
    shape = hump_columns(tt, h[:, 0], h[:, 1]) @ (h[:, 2] / h[:, 2].sum())
    rng = np.random.default_rng(seed)
    halo_counts = rng.poisson(HALO_CONSTANT * f / mu_new * shape).astype(float)
    y = background + (1 - f) * mu_old / mu_new * (obs - background) + halo_counts
    name = f"oxide_a00+silica{f:g}"
    pattern = make_pattern(name, name.encode(), tt, y, esd=np.sqrt(np.maximum(y, 1.0)), attrs={}, raw_header=None,
                           fmt="columns", counting=False)
    mixture = {k: (1 - f) * v for k, v in truth["mixture"].items() if k != "amorphous"}
    mixture["SiO2"] = f
    return pattern, mixture


def test_three_routes_recover_the_amorphous_fraction(s1, silica_halo):
    g, _ = calibrate_scale(s1 / "pure_Al2O3.xye", ["Al2O3"], instrument="miniflex600")
    crystalline = ["Al2O3", "ZnO", "CaF2"]
    cal_pattern, cal_mix = _with_silica(s1, silica_halo, 0.2, seed=1)
    silica, _ = calibrate_ponkcs(cal_pattern, "silica", "SiO2", instrument="miniflex600", phases=crystalline + ["LiF"],
                                 known={k: cal_mix[k] for k in crystalline + ["LiF"]})
    pattern, mix = _with_silica(s1, silica_halo, 0.4, seed=2)
    w_s = mix.pop("LiF")
    sample = {k: v / (1 - w_s) for k, v in mix.items()}
    spec = ",".join(f"{k}:{v}" for k, v in sample.items())
    res = quantify(pattern, phases=crystalline + [silica], standard=("LiF", w_s), instrument="miniflex600",
                   external_standard=g, sample_composition=spec)
    truth = sample["SiO2"]
    est = res.amorphous_estimates
    assert set(est) == {"internal_standard", "external_standard", "ponkcs"}
    for route, (value, esd) in est.items():
        assert value == pytest.approx(truth, abs=0.01), (route, value, truth, est)
    assert res.amorphous_consistency < 2
    assert not any("disagree" in w for w in res.warnings)
