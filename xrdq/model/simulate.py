"""Simulated MiniFlex-like patterns with a known truth, for tests, validation and the demo.

A mixture is given as weight fractions of crystalline phases plus an amorphous fraction (all of the
mixture, summing to 1). Rietveld scales follow Hill & Howard, S_i ∝ w_i / (Z M V)_i; the amorphous
part is a broad halo whose integrated intensity per unit mass matches the crystalline phases'.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import xarray as xr

from .._version import __version__
from ..errors import XrdqError
from .background import humps as hump_basis
from .instrument import load_instrument
from .pattern import PhaseModel, PhaseParams, Specimen, beam_fill, thickness_transmission


def simulate(phases, *, amorphous: float = 0.0, instrument="miniflex600", two_theta=(10.0, 80.0, 0.01),
             peak_counts: float = 20000.0, background: float = 150.0, amorphous_hump=(28.0, 9.0),
             displacement_um: float = 0.0, penetration_um: float = 0.0, mu_t: float = 0.0, zero: float = 0.0, size_nm=None,
             profile=None, standard=None, seed=None, sample: str = "simulated"):
    """Simulate a pattern. Returns ``(pattern, truth)``.

    phases : list of (phase name/CIF/Phase, weight fraction in the mixture).
    amorphous : weight fraction of amorphous material in the mixture.
    two_theta : (start, stop, step) in degrees.
    peak_counts : counts at the strongest point before noise; background: flat counts level
        (plus a 1/2θ air-scatter rise).
    penetration_um : 1/µ of the specimen (µm) for its transparency profile; 0 = opaque.
    mu_t : µ·t of a specimen layer too thin to stop the beam (µ of the packed powder, t its thickness): all the
        specimen's scattering — reflections and halo alike, not the instrument's background — keeps
        1 − exp(−2µt/sinθ) of an infinitely thick one's; 0 = infinitely thick.
    size_nm : {phase name: crystallite size} for sample broadening.
    profile : dict overriding instrument profile values (U, V, W, X, Y, s_l, h_l).
    standard : name of the phase that is the internal standard (for the truth in the original sample).
    seed : Poisson noise seed; None → noise-free expected counts.
    """
    from ..crystal.spec import resolve_phase

    if not penetration_um >= 0.0:
        raise XrdqError(f"penetration_um (1/µ of the specimen, µm) must be ≥ 0 (0 = opaque), got {penetration_um}")
    if not (mu_t >= 0.0 and np.isfinite(mu_t)):
        raise XrdqError(f"mu_t (µ·t of the specimen layer) must be a finite number ≥ 0 (0 = infinitely thick), got {mu_t}")
    inst = load_instrument(instrument)
    if profile:
        inst = inst.replace(**profile)
    start, stop, step = (float(v) for v in two_theta)
    # a .ras carries 2θ to 4 decimals: a finer step writes equal angles, a file no reader takes
    if not (0.0 < start < stop < 180.0 and 1e-3 <= step <= stop - start):
        raise XrdqError(f"two_theta (start, stop, step) = ({start:g}, {stop:g}, {step:g}): expected "
                        "0 < start < stop < 180° and a step of at least 0.001° and at most the range")
    if not (peak_counts > 0 and background >= 0):
        raise XrdqError(f"peak counts {peak_counts:g} and background {background:g}: expected > 0 and ≥ 0")
    n = int(round((stop - start) / step)) + 1
    tt = start + step * np.arange(n)
    objs = [(resolve_phase(p), float(w)) for p, w in phases]
    total = sum(w for _, w in objs) + amorphous
    if abs(total - 1.0) > 1e-6:
        raise XrdqError(f"weight fractions of phases plus amorphous must sum to 1, got {total:.6f}")
    # a film (cover_film_mu_t) and a short specimen (sample_length_mm) in the instrument description act on the
    # reflections as the fit models them
    inv_mu_t = 1.0 / mu_t if mu_t else 0.0
    terms, specimen = inst.replace(zero=zero), Specimen(displacement_um=displacement_um, penetration_um=penetration_um,
                                                        film_mu_t=inst.cover_film_mu_t, beam_fill=beam_fill(inst),
                                                        inv_mu_t=inv_mu_t)
    size_nm = size_nm or {}
    components = {}
    per_mass = []
    for phase, w in objs:
        model = PhaseModel(phase, inst, (start, stop))
        params = PhaseParams(size_nm=size_nm.get(phase.name))
        # untruncated Lorentzian tails, as a real pattern has (the fit model drops the far ones)
        unit = model.profile(tt, params, terms, specimen, exact_tails=True)
        zmv = phase.cell_mass * phase.volume
        components[phase.name] = w / zmv * unit
        # the halo's scale is that of an infinitely thick specimen; a thin one's transmission is applied to it below
        thick = unit if not inv_mu_t else model.profile(tt, params, terms, replace(specimen, inv_mu_t=0.0),
                                                        exact_tails=True)
        per_mass.append(np.trapezoid(thick, tt) / zmv)
    crystalline = sum(components.values()) if components else np.zeros_like(tt)
    halo = np.zeros_like(tt)
    if amorphous > 0:
        center, fwhm = amorphous_hump
        area = amorphous * float(np.mean(per_mass))
        # the halo comes from the same layer as the reflections (which the model attenuates per reflection)
        halo = area * hump_basis(tt, [center], [fwhm])[:, 0] * thickness_transmission(tt, inv_mu_t)
    signal = crystalline + halo
    if not signal.max() > 0:
        raise XrdqError(f"nothing to simulate in {start:g}–{stop:g}° 2θ: no phase or amorphous fraction scatters there")
    k = peak_counts / signal.max()
    bkg = background * (1.0 + 8.0 / tt)
    expected = k * signal + bkg
    rng = np.random.default_rng(seed)
    counts = rng.poisson(expected).astype(float) if seed is not None else expected
    esd = np.sqrt(np.maximum(counts, 1.0))
    attrs = _attrs(inst, step, sample)
    pattern = xr.DataArray(counts, dims=("two_theta",), coords={"two_theta": tt, "esd": ("two_theta", esd)},
                           name="intensity", attrs=attrs)
    truth = _truth(objs, amorphous, inst, displacement_um, zero, size_nm, seed, standard)
    truth["penetration_um"] = penetration_um
    truth["mu_t"] = mu_t
    return pattern, truth


def _attrs(inst, step, sample) -> dict:
    """Pattern attrs of a simulated MiniFlex scan (wavelengths from the instrument description)."""
    lam = sorted(inst.wavelengths, key=lambda w: -w[1])
    return {
        "wavelength_alpha1": lam[0][0],
        "wavelength_alpha2": lam[1][0] if len(lam) > 1 else lam[0][0],
        "alpha2_alpha1_ratio": lam[1][1] / lam[0][1] if len(lam) > 1 else 0.0,
        "wavelength_source": "simulation",
        "target": "Cu",
        "voltage_kV": 40.0,
        "current_mA": 15.0,
        "sample": sample,
        "comment": f"simulated by xrdq {__version__}",
        "scan_mode": "CONTINUOUS",
        "step": float(step),
        "scan_speed": 10.0,
        "scan_speed_unit": "deg/min",
        "goniometer_radius_mm": inst.radius_mm,
        "detector": inst.detector,
        "intensity_unit": "counts",
        "format": "simulation",
    }


def _truth(objs, amorphous, inst, displacement_um, zero, size_nm, seed, standard) -> dict:
    """What was simulated: mixture, amorphous, nuisances, and (with a standard) the sample's fractions."""
    truth = {
        "mixture": {p.name: w for p, w in objs},
        "amorphous_in_mixture": amorphous,
        "instrument": inst.name,
        "displacement_um": displacement_um,
        "zero": zero,
        "size_nm": dict(size_nm),
        "seed": seed,
        "xrdq_version": __version__,
    }
    if standard is not None:
        w_s = truth["mixture"][standard]
        truth["standard"] = {"phase": standard, "weighed_fraction": w_s}
        # the standard alone (W_s = 1) leaves no sample to report fractions of
        truth["sample_fractions"] = ({p: w / (1 - w_s) for p, w in truth["mixture"].items() if p != standard}
                                     if w_s < 1 else {})
        truth["amorphous_fraction"] = amorphous / (1 - w_s) if w_s < 1 else None
    crystalline_total = sum(truth["mixture"].values())
    # a wholly amorphous specimen (a PONKCS reference) has no Rietveld fractions: there is nothing to normalise
    truth["refined_fractions"] = ({p: w / crystalline_total for p, w in truth["mixture"].items()}
                                  if crystalline_total > 0 else {})
    return truth


def write_truth(truth: dict, path):
    from .._atomic import atomic_write_text

    return atomic_write_text(path, json.dumps(truth, indent=2) + "\n")
