"""Validation cases of the external standard and PONKCS (docs/validation-external.md, tests/quant).

Real data: the IUCr CPD pure phases and mixtures 1A–1D (one Philips instrument). Independent synthetic
data: GSAS-II patterns of scale series S1 (reference_patterns/validation/gsas2), alone and with the measured
CPD silica halo added at known fractions (:func:`with_silica`).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

CPD = {"corundum": "Al2O3", "zincite": "ZnO", "fluorite": "CaF2"}
PURE = {"Al2O3": "CORUNDUM.PRN", "CaF2": "FLUORITE.PRN", "ZnO": "ZINCITE.PRN"}
CPD_RANGE = (15.0, 145.0)
S1 = Path(__file__).resolve().parents[1] / "reference_patterns" / "validation" / "gsas2"
HALO_CONSTANT = 8.7e5  # c: counts·deg × (cm²/g) per unit weight fraction of silica (a halo like LAZCO's)
CU = 1.540593


def load_prn(path):
    """A CPD .PRN (two columns: 2θ, counts) as a pattern (xrdq.load once the reader sniffs text content)."""
    from .errors import XrdqReadError
    from .io import load
    from .io._pattern import make_pattern

    try:
        return load(path)
    except XrdqReadError:
        d = np.loadtxt(path)
        return make_pattern(str(path), None, d[:, 0], d[:, 1], attrs={"source_path": str(path)}, raw_header=None,
                            fmt="columns")


def cpd_g_factors(shared_data, biso: bool, results: dict | None = None):
    """{phase: ScaleCalibration} from each pure CPD phase; ``results``, if given, receives each phase's
    QuantResult (the refinement the calibration rests on)."""
    from .quant.external_standard import calibrate_scale

    folder = Path(shared_data) / "qpa" / "cpd-pure"
    out = {}
    for ph, f in PURE.items():
        out[ph], res = calibrate_scale(load_prn(folder / f), [ph], instrument="cpd-pw3020",
                                       two_theta_range=CPD_RANGE, biso=biso)
        if results is not None:
            results[ph] = res
    return out


def cpd_null_test(shared_data, g, biso: bool):
    """[(file, {phase: (weighed, value, esd)}, (amorphous, esd), result)] for CPD-1A–1D with G, no standard."""
    from .quant.api import quantify

    folder = Path(shared_data) / "qpa" / "cpd1"
    out = []
    for row in csv.DictReader(open(folder / "weighed_wt_percent.csv")):
        spec = ",".join(f"{CPD[k]}:{row[k]}" for k in CPD)
        res = quantify(folder / row["file"], phases=list(CPD.values()), standard=None, external_standard=g,
                       sample_composition=spec, instrument="cpd-pw3020", two_theta_range=CPD_RANGE, biso=biso)
        phases = {CPD[k]: (float(row[k]) / 100.0, *res.sample_fractions[CPD[k]]) for k in CPD}
        out.append((row["file"], phases, res.amorphous_fraction, res))
    return out


def silica_halo(shared_data):
    """The measured CPD silica halo as fitted humps ((centre, FWHM, area), ...), 5–100° 2θ."""
    from .quant.ponkcs import fit_humps

    d = np.loadtxt(Path(shared_data) / "qpa" / "cpd-pure" / "SILICA.PRN")
    keep = (d[:, 0] >= 5.0) & (d[:, 0] <= 100.0)
    # the truth of the synthetic cases: fixed once (3 background terms), whatever the calibration default
    return fit_humps(d[keep, 0], d[keep, 1], np.sqrt(np.maximum(d[keep, 1], 1.0)), background_terms=3)["humps"]


def with_silica(halo, f: float, seed: int, folder=S1, case: str = "oxide_a00", counts_factor: float | None = None):
    """GSAS-II ``case`` with silica added as weight fraction ``f`` of the new mixture: (pattern, mixture fractions).

    ``counts_factor`` N: the same specimen counted N times as long as the S1 series — the Bragg part from the
    case's noise-free GSAS-II twin (``gsas2-expected``), everything times N, then Poisson noise of the whole; the
    pattern records a counting time of N (the S1 calibration's is 1, :func:`s1_pattern`), so G's count factor
    carries it. Every seed is then its own noise realisation, the crystalline part's included.

    Infinitely thick specimen: Bragg intensities scale as w/µ*, so the GSAS-II pattern above its known
    background is multiplied by s = (1 − f)·µ*_old/µ*_new and the halo is c·f/µ*_new. Noise: the GSAS-II
    counts already carry Poisson noise (variance ≈ obs), scaled by s; Gaussian noise of the missing
    variance, expected − s²·obs, is added so that the total is Poisson-like (variance = expected counts)
    and the esd √y is right. (Scaling alone would leave the background noise-free and shrink the rest: the
    pure-silica pattern then fitted with GoF 0.66.) Every pattern made from one ``case`` shares that
    file's noise realisation in its crystalline part, so their errors are correlated.
    """
    from .io._pattern import make_pattern
    from .model.background import humps as hump_columns
    from .quant.composition import mass_attenuation

    truth = json.loads((folder / f"{case}.truth.json").read_text())
    d = np.loadtxt(folder / f"{case}.xye", comments="#")
    tt, obs = d[:, 0], d[:, 1]
    b = truth["background"]
    background = b["A"] * np.exp(-tt / b["tau_deg"]) + b["b0"] + b["b1_per_deg"] * (tt - b["two_theta_start"])
    mu_old = truth["mixture_mass_attenuation_cm2_g"]
    mu_new = (1 - f) * mu_old + f * mass_attenuation("SiO2", CU)
    h = np.asarray(halo)
    shape = hump_columns(tt, h[:, 0], h[:, 1]) @ (h[:, 2] / h[:, 2].sum())
    s = (1 - f) * mu_old / mu_new
    attrs = {}
    if counts_factor is None:
        expected = background + s * (obs - background) + HALO_CONSTANT * f / mu_new * shape
        missing = np.maximum(expected - s * s * np.maximum(obs, 0.0), 0.0)
        y = expected + np.random.default_rng(seed).normal(0.0, np.sqrt(missing))
        name = f"{case}+silica{f:g}"
    else:
        twin = np.loadtxt(folder.parent / "gsas2-expected" / f"{case}.xye", comments="#")
        if not np.array_equal(twin[:, 0], tt):
            raise ValueError(f"{case}: the noise-free twin's 2θ grid is not the pattern's")
        bragg = twin[:, 1] - background  # the expected counts above the known background
        expected = counts_factor * (background + s * bragg + HALO_CONSTANT * f / mu_new * shape)
        y = np.random.default_rng(seed).poisson(expected).astype(float)
        attrs = {"count_time_s": float(counts_factor)}
        name = f"{case}+silica{f:g}x{counts_factor:g}"
    pattern = make_pattern(name, name.encode(), tt, y, esd=np.sqrt(np.maximum(y, 1.0)), attrs=attrs, raw_header=None,
                           fmt="columns", counting=False)
    mixture = {k: (1 - f) * v for k, v in truth["mixture"].items() if k != "amorphous"}
    mixture["SiO2"] = f
    return pattern, mixture


def synthetic_silica(halo, g, folder=S1, seed: int = 1, counts_factor: float | None = None):
    """(PonkcsPhase, details): silica calibrated, as the issue asks, on a pure-silica pattern (``with_silica``
    at f = 1: the halo above the GSAS-II background) with the instrument constant ``g``."""
    from .quant.ponkcs import calibrate_ponkcs

    pattern, _ = with_silica(halo, 1.0, seed=seed, folder=folder, counts_factor=counts_factor)
    return calibrate_ponkcs(pattern, "silica", "SiO2", instrument="miniflex600", calibration=g)


def s1_pattern(name: str, folder=S1, count_time_s: float = 1.0):
    """A pattern of the S1 scale series with its counting time (per step, in units of the series') recorded, so that
    a G calibrated on it scales to patterns counted longer (:meth:`ScaleCalibration.count_factor`)."""
    from .io import load

    pattern = load(folder / f"{name}.xye").copy()
    pattern.attrs = {**pattern.attrs, "count_time_s": float(count_time_s)}
    return pattern


def three_routes(halo, fractions=(0.4,), seeds=(2,), folder=S1, counts_factor: float | None = None, g=None):
    """(silica phase, [(f, seed, truth A of the original sample, result)]) — internal (LiF), external (G
    from the GSAS-II pure corundum) and PONKCS (silica from the pure-silica pattern with that G).
    ``counts_factor``: every pattern but the pure corundum counted that many times as long (:func:`with_silica`).
    ``g``: that G, if already calibrated (the same for every ``counts_factor``: the corundum's counting time is 1)."""
    from .quant.api import quantify
    from .quant.external_standard import calibrate_scale

    if g is None:
        calibrant = folder / "pure_Al2O3.xye" if counts_factor is None else s1_pattern("pure_Al2O3", folder)
        g, _ = calibrate_scale(calibrant, ["Al2O3"], instrument="miniflex600")
    silica, _ = synthetic_silica(halo, g, folder, counts_factor=counts_factor)
    crystalline = ["Al2O3", "ZnO", "CaF2"]
    out = []
    for f in fractions:
        # no silica and no added noise: one pattern (with counts_factor every seed draws the whole pattern anew)
        for seed in seeds[:1] if f == 0 and counts_factor is None else seeds:
            pattern, mix = with_silica(halo, f, seed=seed, folder=folder, counts_factor=counts_factor)
            w_s = mix.pop("LiF")
            sample = {k: v / (1 - w_s) for k, v in mix.items()}
            res = quantify(pattern, phases=crystalline + [silica], standard=("LiF", w_s), instrument="miniflex600",
                           external_standard=g, sample_composition=",".join(f"{k}:{v}" for k, v in sample.items()))
            out.append((f, seed, sample["SiO2"], res))
    return silica, out


def real_silica_routes(shared_data, g, letters="ABCD", fractions=(0.1, 0.2, 0.4), biso: bool = False, ponkcs=None):
    """[(letter, f, standard, W_s, truth A of the original sample, result)]: each CPD-1 mixture with the measured
    silica added (:func:`xrdq.validation.cpd_with_silica`, measured data only), its largest phase the internal
    standard at its weighed fraction, and G (``g``, from a pure CPD phase) with the original sample's weighed
    composition: both amorphous estimates and their consistency on real data. ``ponkcs``: a calibrated silica
    phase declared too, for the third estimate."""
    from .quant.api import quantify
    from .validation import cpd_with_silica

    out = []
    for letter in letters:
        for f in fractions:
            pattern, mix = cpd_with_silica(shared_data, letter, f)
            std = max((k for k in mix if k != "SiO2"), key=mix.get)
            w_s = mix[std]
            sample = {k: v / (1 - w_s) for k, v in mix.items() if k != std}
            declared = [k for k in CPD.values() if k != std] + ([ponkcs] if ponkcs is not None else [])
            res = quantify(pattern, phases=declared, standard=(std, w_s),
                           external_standard=g, sample_composition=",".join(f"{k}:{v}" for k, v in sample.items()),
                           instrument="cpd-pw3020", two_theta_range=CPD_RANGE, biso=biso)
            out.append((letter, f, std, w_s, sample["SiO2"], res))
    return out


def calibration_scatter(halo, g, seeds=range(1, 13), f: float = 0.4, folder=S1):
    """Effective scale of PONKCS silica curves calibrated on independent noise realisations of the pure-silica
    pattern, as a refinement sees it: the least-squares factor between the TRUE halo and the curve, both
    projected out of the (weighted) background span of an f-silica mixture. 1 = unbiased; the spread is
    what σ(ZMV)/ZMV must cover. Returns (factors, claimed relative esds)."""
    from .io import pattern_arrays
    from .model.background import humps as hump_columns, orthogonal_basis
    from .quant.composition import mass_attenuation
    from .refine.recipe import default_recipe

    pattern, _ = with_silica(halo, f, seed=0, folder=folder)
    tt, _, esd = pattern_arrays(pattern)  # with_silica's esd is √max(y, 1)
    sw = 1.0 / esd
    h = np.asarray(halo)
    shape = hump_columns(tt, h[:, 0], h[:, 1]) @ (h[:, 2] / h[:, 2].sum())
    true = HALO_CONSTANT / mass_attenuation("SiO2", CU) * shape
    q, _ = np.linalg.qr(orthogonal_basis(tt, default_recipe().background_terms, (tt[0], tt[-1])) * sw[:, None])

    def perp(v):
        v = v * sw
        return v - q @ (q.T @ v)

    t = perp(true)
    factors, claimed = [], []
    for seed in seeds:
        phase, _ = synthetic_silica(halo, g, folder, seed=seed)
        c = perp(phase.curve(tt))
        factors.append(float(c @ t / (c @ c)))
        claimed.append(phase.zmv_esd / phase.zmv)
    return np.array(factors), np.array(claimed)
