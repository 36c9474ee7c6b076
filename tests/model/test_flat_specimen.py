"""The flat-specimen aberration: every peak convolved with |Δ|^−½ on [−ε_m, 0], ε_m = α² cotθ / 2."""

import numpy as np
import pytest

from xrdq.crystal import load_phase
from xrdq.errors import XrdqInstrumentError
from xrdq.model.instrument import load_instrument
from xrdq.model.pattern import ON_CIRCLE, PhaseModel
from xrdq.model.peaks import accumulate_peaks, flat_specimen_node_counts, flat_specimen_nodes, flat_specimen_widths

FINE = np.arange(5.0, 130.0, 0.0005)


def _brute_force(base, eps, dx):
    """``base`` convolved with 1/(2√(ε|Δ|)) on −ε ≤ Δ ≤ 0: bin masses √((j+1)dx/ε) − √(j dx/ε), each applied at
    the bin's midpoint."""
    j = np.arange(int(np.ceil(eps / dx)))
    p = np.sqrt(np.minimum((j + 1) * dx, eps) / eps) - np.sqrt(j * dx / eps)
    mid = np.append(0.5 * (base[:-1] + base[1:]), 0.0)
    return np.convolve(mid, p[::-1], mode="full")[len(p) - 1:]


def test_the_width_is_alpha_squared_cot_theta_over_two():
    # 1.25° slit at 2θ = 20°: (0.021817 rad)² / (2 tan 10°) = 1.3497e-3 rad
    assert flat_specimen_widths([20.0], 1.25)[0] == pytest.approx(np.degrees(np.radians(1.25) ** 2 / (2 * np.tan(np.radians(10.0)))))
    # a variable slit (constant irradiated length): α ∝ sinθ, equal to the given value at 2θ = 90°
    assert flat_specimen_widths([90.0], 1.0, True)[0] == pytest.approx(flat_specimen_widths([90.0], 1.0)[0])
    assert flat_specimen_widths([20.0], 1.0, True)[0] < 0.2 * flat_specimen_widths([20.0], 1.0)[0]


@pytest.mark.parametrize("count", [1, 3, 5, 9, 16])
def test_the_nodes_keep_intensity_and_the_mean_shift(count):
    centers = np.array([10.0, 30.0, 60.0, 120.0])
    off, w = flat_specimen_nodes(centers, 1.25, False, np.full(centers.size, count))
    eps = flat_specimen_widths(centers, 1.25)
    assert np.allclose(w.sum(axis=1), 1.0, atol=1e-12)
    assert np.allclose((off * w).sum(axis=1), -eps / 3.0, rtol=1e-9)
    assert (off <= 0).all() and (off >= -eps[:, None] - 1e-12).all()


@pytest.mark.parametrize("alpha,center,fwhm,asym,tol", [
    (1.25, 10.0, 0.06, 0.0, 3e-3),   # ε_m ≈ 2.6 FWHM: a MiniFlex 1.25° slit at low angle
    (1.25, 20.0, 0.07, 0.02, 2e-3),  # composed with FCJ asymmetry
    (1.0, 40.0, 0.08, 0.0, 1e-3),
    (2.0, 90.0, 0.10, 0.0, 1e-3),
])
def test_peaks_match_a_brute_force_convolution(alpha, center, fwhm, asym, tol):
    y = accumulate_peaks(FINE, [center], [1.0], [fwhm], [0.4], asym, asym, exact_tails=True, flat_specimen=alpha)
    base = accumulate_peaks(FINE, [center], [1.0], [fwhm], [0.4], asym, asym, exact_tails=True)
    ref = _brute_force(base, flat_specimen_widths([center], alpha)[0], 0.0005)
    assert np.abs(y - ref).max() < tol * ref.max()
    centroid = lambda z: (z * FINE).sum() / z.sum()  # noqa: E731
    assert centroid(y) - centroid(base) == pytest.approx(-flat_specimen_widths([center], alpha)[0] / 3, abs=1e-4)


def test_counts_grow_with_the_width_and_one_node_is_a_shift():
    assert list(flat_specimen_node_counts([20.0, 40.0], [0.07, 0.08], 0.0)) == [1, 1]
    n = [flat_specimen_node_counts([c], [0.08], 1.25)[0] for c in (90.0, 40.0, 20.0, 10.0)]
    assert n == sorted(n) and n[-1] > 3


def test_zero_divergence_is_the_plain_model_and_ticks_follow_the_centroid():
    inst = load_instrument("miniflex600")
    tt = np.arange(10.0, 80.0, 0.01)
    model = PhaseModel(load_phase("LiF"), inst, (10.0, 80.0))
    params = model.default_params()
    plain = model.profile(tt, params, inst, ON_CIRCLE)
    model.reset_sampling()
    assert np.array_equal(model.profile(tt, params, inst.replace(flat_specimen=0.0), ON_CIRCLE), plain)
    model.reset_sampling()
    assert not np.allclose(model.profile(tt, params, inst.replace(flat_specimen=1.25), ON_CIRCLE), plain)
    t0, _ = model.tick_positions(params, inst)
    t1, _ = model.tick_positions(params, inst.replace(flat_specimen=1.25))
    assert np.allclose(t1 - t0, -flat_specimen_widths(t0, 1.25) / 3.0, atol=2e-3)


def test_a_negative_divergence_is_refused_by_name():
    with pytest.raises(XrdqInstrumentError, match="flat_specimen"):
        load_instrument("miniflex600").replace(flat_specimen=-1.0)
