"""Specimen transparency: every peak convolved with the exponential depth profile of a specimen of finite µ."""

import numpy as np
import pytest

from xrdq.crystal import load_phase
from xrdq.model.instrument import load_instrument
from xrdq.model.pattern import ON_CIRCLE, PhaseModel, Specimen
from xrdq.model.peaks import accumulate_peaks, transparency_node_counts, transparency_nodes, transparency_scale

FINE = np.arange(30.0, 130.0, 0.0005)


def _brute_force(base, tau, dx):
    """``base`` (on a grid of step dx) convolved with exp(−s/τ)/τ, s ≥ 0 toward low angle: each bin of the
    exponential [j dx, (j+1) dx] applied at its midpoint (the mean of two neighbouring grid points)."""
    j = np.arange(int(40 * tau / dx))
    p = np.exp(-j * dx / tau) - np.exp(-(j + 1) * dx / tau)
    mid = np.append(0.5 * (base[:-1] + base[1:]), 0.0)
    return np.convolve(mid, p[::-1], mode="full")[len(p) - 1:]


def test_the_scale_is_the_mean_shift_at_90_degrees():
    # τ = sin2θ/(2µR): 1/µ = 500 µm on a 150 mm goniometer → 1/600 rad
    assert transparency_scale(500.0, 150.0) == pytest.approx(np.degrees(0.5 / 300.0))
    assert transparency_scale(0.0, 150.0) == 0.0


@pytest.mark.parametrize("count", [1, 7, 10, 16, 25])
def test_the_nodes_keep_intensity_and_put_the_centroid_at_the_mean_shift(count):
    centers = np.array([20.0, 60.0, 90.0, 120.0])
    off, w = transparency_nodes(centers, 0.1, np.full(centers.size, count))
    tau = 0.1 * np.sin(np.radians(centers))
    assert np.allclose(w.sum(axis=1), 1.0, atol=1e-12)
    assert np.allclose((off * w).sum(axis=1), -tau, atol=1e-12)
    assert (off <= 0).all()  # toward low angle only


@pytest.mark.parametrize("penetration_um,center,fwhm,eta,asym,tol", [
    (500.0, 90.0, 0.10, 0.4, 0.0, 6e-3),   # τ ≈ FWHM: a LiF-rich specimen, 1/µ = 500 µm
    (500.0, 40.0, 0.08, 0.5, 0.02, 3e-3),  # with FCJ asymmetry composed
    (160.0, 90.0, 0.10, 0.4, 0.0, 1e-3),   # τ ≈ 0.3 FWHM: halides
    (50.0, 100.0, 0.12, 0.7, 0.02, 1e-3),
    (10.0, 60.0, 0.10, 0.4, 0.0, 1e-3),    # τ < 2 % of the FWHM: one node, the mean shift
])
def test_peaks_match_a_brute_force_convolution(penetration_um, center, fwhm, eta, asym, tol):
    T = transparency_scale(penetration_um, 150.0)
    y = accumulate_peaks(FINE, [center], [1.0], [fwhm], [eta], asym, asym, exact_tails=True, transparency=T)
    base = accumulate_peaks(FINE, [center], [1.0], [fwhm], [eta], asym, asym, exact_tails=True)
    ref = _brute_force(base, T * np.sin(np.radians(center)), 0.0005)
    assert np.abs(y - ref).max() < tol * ref.max()
    # intensity is kept (a thick specimen); only Lorentzian tail beyond the grid ends moves in or out
    assert y.sum() == pytest.approx(base.sum(), rel=5e-4)
    centroid = lambda z: (z * FINE).sum() / z.sum()  # noqa: E731
    assert centroid(y) - centroid(base) == pytest.approx(-T * np.sin(np.radians(center)), abs=2e-4)


def test_node_counts_follow_the_width_ratio():
    centers = np.array([90.0, 90.0, 90.0, 90.0])
    fwhm = np.array([0.1, 0.1, 0.1, 0.1])
    assert list(transparency_node_counts(centers, fwhm, 0.0)) == [1] * 4
    counts = [transparency_node_counts(centers[:1], fwhm[:1], t)[0] for t in (0.001, 0.01, 0.03, 0.1, 0.3)]
    assert counts[0] == 1 and counts == sorted(counts) and counts[-1] == 25


def test_an_opaque_specimen_is_the_model_without_transparency():
    inst = load_instrument("miniflex600")
    tt = np.arange(10.0, 80.0, 0.01)
    model = PhaseModel(load_phase("LiCl"), inst, (10.0, 80.0))
    params = model.default_params(size_nm=80.0)
    plain = model.profile(tt, params, inst, ON_CIRCLE)
    model.reset_sampling()
    assert np.array_equal(model.profile(tt, params, inst, Specimen(penetration_um=0.0)), plain)
    model.reset_sampling()
    light = model.profile(tt, params, inst, Specimen(penetration_um=300.0))
    assert not np.allclose(light, plain)
    # the Kα1 ticks move with the centroid of the transparency profile
    t0, _ = model.tick_positions(params, inst, ON_CIRCLE)
    t1, _ = model.tick_positions(params, inst, Specimen(penetration_um=300.0))
    assert np.allclose(t1 - t0, -transparency_scale(300.0, 150.0) * np.sin(np.radians(t0)), atol=2e-3)


def test_a_negative_penetration_is_refused_by_name(tmp_path, capsys):
    from xrdq.cli import main
    from xrdq.errors import XrdqError
    from xrdq.model.simulate import simulate

    with pytest.raises(XrdqError, match="penetration_um"):
        simulate([("LiF", 1.0)], penetration_um=-5.0)
    with pytest.raises(SystemExit) as exit_:
        main(["simulate", "--phase", "LiF", "--fractions", "1", "--penetration", "-5", "--out", str(tmp_path / "s.ras")])
    assert exit_.value.code == 2 and "--penetration" in capsys.readouterr().err
    assert not (tmp_path / "s.ras").exists()
