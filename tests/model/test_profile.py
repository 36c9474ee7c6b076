"""Peak-shape physics against closed forms: unit areas, TCH limits, FCJ shifts, LP, displacement."""

import numpy as np
import pytest

from xrdq.model.pattern import bragg_two_theta, displacement_shift, lorentz_polarization, march_dollase
from xrdq.model.peaks import accumulate_peaks
from xrdq.model.profile import fcj_nodes, pseudo_voigt, tch_mix, tch_widths


@pytest.mark.parametrize("eta", [0.0, 0.3, 1.0])
def test_pseudo_voigt_has_unit_area_and_given_fwhm(eta):
    x = np.linspace(-200, 200, 2_000_001)
    y = pseudo_voigt(x, 0.1, eta)
    assert np.trapezoid(y, x) == pytest.approx(1.0, abs=2e-4)
    half = y.max() / 2
    above = x[y >= half]
    assert above.max() - above.min() == pytest.approx(0.1, abs=5e-4)  # grid step 2e-4


def test_tch_limits():
    fwhm, eta = tch_mix(np.array([0.1]), np.array([0.0]))
    assert fwhm[0] == pytest.approx(0.1) and eta[0] == pytest.approx(0.0)
    fwhm, eta = tch_mix(np.array([1e-9]), np.array([0.1]))
    assert fwhm[0] == pytest.approx(0.1, rel=1e-6) and eta[0] == pytest.approx(1.0, abs=1e-6)


def test_size_broadening_is_scherrer():
    # λ/(D cosθ) in radians: 100 nm at 2θ = 60°, Cu Kα1
    _, hl = tch_widths(60.0, 0, 0, 1e-4, 0, 0, size_nm=100.0)
    expected = np.degrees(1.540593 / (1000.0 * np.cos(np.radians(30.0))))
    assert hl == pytest.approx(expected, rel=1e-9)


def test_fcj_weights_sum_to_one_and_shift_to_low_angle_below_90():
    pos, w = fcj_nodes([10.0, 30.0, 60.0, 120.0], 0.025, 0.025)
    assert np.allclose(w.sum(axis=1), 1.0)
    centroid = (pos * w).sum(axis=1) - np.array([10.0, 30.0, 60.0, 120.0])
    assert centroid[0] < centroid[1] < centroid[2] < 0 < centroid[3]
    assert np.all(pos[:3] <= np.array([[10.0], [30.0], [60.0]]) + 1e-12)


def test_fcj_off_gives_one_node():
    pos, w = fcj_nodes([20.0, 40.0], 0.0, 0.0)
    assert pos.shape == (2, 1) and np.allclose(w, 1.0)


def test_accumulate_conserves_area_within_the_lorentzian_window_loss():
    tt = np.arange(20.0, 60.0, 0.005)
    gauss = accumulate_peaks(tt, [40.0], [100.0], [0.1], [0.0])
    assert np.trapezoid(gauss, tt) == pytest.approx(100.0, rel=1e-4)
    lor = accumulate_peaks(tt, [40.0], [100.0], [0.1], [1.0])
    # the core is the exact unit-area Lorentzian; only the far tails (≈ 2 % beyond ±16 FWHM) are dropped
    exact = 100.0 * pseudo_voigt(tt - 40.0, 0.1, 1.0)
    core = np.abs(tt - 40.0) < 1.2
    assert np.allclose(lor[core], exact[core], rtol=1e-12)
    # (2/π)·arctan(2·12) = 0.9735 within the untapered ±12 FWHM, a little more from the taper
    assert 0.9735 < np.trapezoid(lor, tt) / 100.0 < 0.985
    asym = accumulate_peaks(tt, [40.0], [100.0], [0.1], [0.0], 0.03, 0.03, node_counts=[6])
    assert np.trapezoid(asym, tt) == pytest.approx(100.0, rel=1e-3)
    assert tt[np.argmax(asym)] < 40.0 + 1e-9


def test_a_nanocrystalline_peak_keeps_as_much_of_its_tail_as_a_sharp_one():
    """The window is a fixed number of FWHM for broad peaks too: what it drops goes to the background, so
    a 20 nm phase (FWHM ≈ 0.45°) losing more of its tail than the sharp standard biases the fractions. A
    ±4° cap kept only ±9 FWHM of such a peak (≈ 5 % lost vs ≈ 2 %): +0.37 wt% amorphous on a noise-free
    GSAS-II pattern with a 20 nm phase."""
    tt = np.arange(5.0, 90.0, 0.01)
    kept = {}
    for fwhm in (0.08, 0.45, 1.0):
        lor = accumulate_peaks(tt, [45.0], [100.0], [fwhm], [1.0])
        kept[fwhm] = np.trapezoid(lor, tt) / 100.0
    assert kept[0.08] > 0.97
    assert abs(kept[0.45] - kept[0.08]) < 0.002 and abs(kept[1.0] - kept[0.08]) < 0.002, kept


def test_lorentz_polarization_matches_formula():
    tt = 40.0
    th = np.radians(tt / 2)
    expected = (1 + np.cos(2 * th) ** 2) / (2 * np.sin(th) ** 2 * np.cos(th))
    assert lorentz_polarization(tt) == pytest.approx(expected)
    k = np.cos(np.radians(26.57)) ** 2
    expected_mono = (1 + k * np.cos(2 * th) ** 2) / ((1 + k) * np.sin(th) ** 2 * np.cos(th))
    assert lorentz_polarization(tt, k) == pytest.approx(expected_mono)


def test_displacement_shift_magnitude_and_sign():
    # Δ2θ = −2 s cosθ / R: 100 µm on a 150 mm goniometer at 2θ = 30°
    expected = -np.degrees(2 * 0.1 * np.cos(np.radians(15.0)) / 150.0)
    assert displacement_shift(30.0, 100.0, 150.0) == pytest.approx(expected)
    assert expected == pytest.approx(-0.07379, abs=1e-5)


def test_bragg_angle_and_unreachable_reflections():
    assert bragg_two_theta(2.0135, 1.540593) == pytest.approx(44.9853, abs=1e-3)  # LiF 200
    assert np.isnan(bragg_two_theta(0.5, 1.540593))


def test_march_dollase_random_powder_and_platy():
    assert march_dollase(np.array([0.3]), 1.0)[0] == pytest.approx(1.0)
    # r < 1 (plates face-on) enhances reflections along the axis
    assert march_dollase(np.array([1.0]), 0.8)[0] > 1.0 > march_dollase(np.array([0.0]), 0.8)[0]


@pytest.mark.parametrize("name, axis", [("LiAlCl4", (0, 0, 1)), ("LiAlCl4", (1, 0, 0)), ("MgOH2", (0, 0, 1))])
def test_po_factors_average_each_reflections_own_equivalents(name, axis):
    """The March–Dollase factor of a reflection is the mean over its own Laue equivalents (the cosines of
    all reflections are kept in one array): compared with the angles computed one reflection at a time."""
    from xrdq.crystal import load_phase
    from xrdq.crystal.cell import reciprocal_metric_tensor
    from xrdq.model.instrument import load_instrument
    from xrdq.model.pattern import PhaseModel

    model = PhaseModel(load_phase(name), load_instrument("miniflex600"), (10.0, 80.0), po_hkl=axis)
    g = reciprocal_metric_tensor(model.base_cell)
    p = np.asarray(axis, dtype=float)
    laue = model.phase.symmetry.laue_rotations()
    expected = []
    for hkl in model.hkl:
        eq = {tuple(hkl @ r) for r in laue}  # distinct equivalents (Miller indices transform as hᵀR)
        cos = [np.dot(e, g @ p) / np.sqrt(np.dot(e, g @ e) * np.dot(p, g @ p)) for e in map(np.array, eq)]
        expected.append(np.mean(march_dollase(np.array(cos), 0.7)))
    assert model.po_factors(0.7) == pytest.approx(np.array(expected), rel=1e-12)
    assert model.po_factors(1.0) == pytest.approx(np.ones(len(model.hkl)), rel=1e-12)


def test_a_uniaxial_crystallite_size_broadens_each_reflection_by_its_angle_to_the_axis():
    """Platelets of brucite, 200 nm across and 20 nm thick along c*: 1/D(φ) = √(sin²φ/D² + cos²φ/D_axial²) (GSAS-II's
    "uniaxial" size), so 001 is broadened as a 20 nm crystallite, 110 as a 200 nm one and 101 in between; without an
    axial size (or without an axis) every width is the isotropic one, to the bit."""
    from xrdq.crystal import load_phase
    from xrdq.crystal.cell import reciprocal_metric_tensor
    from xrdq.model.instrument import load_instrument
    from xrdq.model.pattern import PhaseModel, PhaseParams

    inst = load_instrument("miniflex600").replace(s_l=0.0, h_l=0.0)
    model = PhaseModel(load_phase("MgOH2"), inst, (10.0, 80.0), size_hkl=(0, 0, 1))
    plate = PhaseParams(size_nm=200.0, size_axial_nm=20.0)
    c, _, fwhm, _ = model.peak_list(plate, inst)
    n = len(model.hkl)
    g = reciprocal_metric_tensor(model.base_cell)
    for hkl in ([0, 0, 1], [1, 0, 1], [1, 1, 0]):
        k = next(i for i, h in enumerate(model.hkl) if list(h) == hkl or list(-h) == hkl)
        h = np.asarray(hkl, dtype=float)
        cos2 = (h @ g @ np.array([0, 0, 1.0])) ** 2 / ((h @ g @ h) * g[2, 2])
        d_eff = 1.0 / np.sqrt((1 - cos2) / 200.0**2 + cos2 / 20.0**2)
        tt = c[k]
        _, hl_expected = tch_widths(tt, inst.U, inst.V, inst.W, inst.X, inst.Y, size_nm=d_eff,
                                    wavelength=inst.wavelength)
        hg, hl = tch_widths(np.array([tt]), inst.U, inst.V, inst.W, inst.X, inst.Y, wavelength=inst.wavelength)
        assert fwhm[k] == pytest.approx(tch_mix(hg, np.array([hl_expected]))[0][0], rel=1e-10), hkl
    rows = [list(h) for h in model.hkl]
    assert fwhm[:n][rows.index([0, 0, 1])] > 3 * fwhm[:n][rows.index([1, 1, 0])]
    iso = model.peak_list(PhaseParams(size_nm=200.0), inst)[2]
    no_axis = PhaseModel(load_phase("MgOH2"), inst, (10.0, 80.0))
    assert np.array_equal(iso, no_axis.peak_list(plate, inst)[2])
    assert np.allclose(iso, model.peak_list(PhaseParams(size_nm=200.0, size_axial_nm=200.0), inst)[2], rtol=1e-13)


def test_fixed_node_counts_survive_zero_asymmetry():
    # a refinement decides node counts once; if the asymmetry then refines to zero, FCJ has one node
    tt = np.arange(10.0, 30.0, 0.01)
    y = accumulate_peaks(tt, [15.0, 25.0], [10.0, 10.0], [0.1, 0.1], [0.5, 0.5], 0.0, 0.0, node_counts=[6, 4])
    ref = accumulate_peaks(tt, [15.0, 25.0], [10.0, 10.0], [0.1, 0.1], [0.5, 0.5], 0.0, 0.0, node_counts=[1, 1])
    assert np.allclose(y, ref, atol=1e-9 * ref.max())


def _fcj_brute_force(x, two_theta, s_l, h_l, fwhm, eta, n=400_000):
    """The FCJ peak by direct convolution (FCJ 1994, eq. 7, S = H): W(2φ) ∝ [1/√(cos²2φ/cos²2θ − 1) − L/(S+H)]
    / |cos2φ| on [2φ_min, 2θ], sampled in u = √(2θ − 2φ) so the 1/√ singularity at 2θ is integrable —
    an evaluation that shares nothing with xrdq's quadrature in the axial height."""
    s = s_l + h_l
    c0 = np.cos(np.radians(two_theta))
    t_min = np.degrees(np.arccos(min(c0 * np.sqrt(1.0 + s * s), 1.0)))
    u = np.linspace(0.0, np.sqrt(two_theta - t_min), n + 1)[1:]
    t = two_theta - u**2
    ct = np.cos(np.radians(t))
    w = np.maximum((1.0 / np.sqrt(np.maximum(ct**2 / c0**2 - 1.0, 1e-300)) - 1.0 / s) / np.abs(ct), 0.0) * 2.0 * u
    edges = np.linspace(0, n - 1, 3001).astype(int)  # 3000 bins of the weight, each at its first point
    mass = np.add.reduceat(w, edges)
    y = sum(m * pseudo_voigt(x - t[i], fwhm, eta) for i, m in zip(edges, mass))
    return y / mass.sum()


def test_tch_widths_of_many_parameter_sets_are_those_of_separate_calls():
    """A Jacobian's perturbed width parameters go through tch_widths as rows of one call: every row must be
    the separate call's result to the last bit (sizes and strains of 0 meaning none, like None)."""
    tt = np.linspace(12.0, 118.0, 57)
    sets = [(0.004, -0.002, 0.003, 0.02, 0.01, None, None), (0.0041, -0.002, 0.003, 0.02, 0.01, 35.0, None),
            (0.004, -0.002, 0.003, 0.0, 0.013, 35.0, 2e-3), (-0.02, 0.0, 1e-6, 0.05, -0.01, None, 1e-4)]
    rows = [np.array(v, dtype=float)[:, None] for v in zip(*[(u, v, w, x, y) for u, v, w, x, y, _, _ in sets])]
    hg, hl = tch_widths(tt[None, :], *rows, size_nm=np.array([[s[5] or 0.0] for s in sets]),
                        strain=np.array([[s[6] or 0.0] for s in sets]))
    for k, (u, v, w, x, y, size, strain) in enumerate(sets):
        g1, l1 = tch_widths(tt, u, v, w, x, y, size_nm=size, strain=strain)
        assert np.array_equal(hg[k], g1) and np.array_equal(hl[k], l1), k


@pytest.mark.parametrize("two_theta", [16.0, 38.6, 65.0])
def test_fcj_peak_is_the_fcj_integral(two_theta):
    """The asymmetric peak xrdq refines is the FCJ convolution itself (to < 1 % of the peak height with the
    node counts a refinement uses). GSAS-II's PSVFCJO quadrature, used by the independent validation set,
    differs from the same integral by 5–11 % of the peak height at (S+H)/L = 0.036 and FWHM 0.05° — see
    reference_patterns/validation/README.md: part of what xrdq cannot fit on those patterns is that."""
    x = np.arange(two_theta - 1.0, two_theta + 0.5, 0.002)
    fwhm, eta, s_l = 0.048, 0.55, 0.018
    ref = _fcj_brute_force(x, two_theta, s_l, s_l, fwhm, eta)
    got = accumulate_peaks(x, [two_theta], [1.0], [fwhm], [eta], s_l, s_l)
    assert np.abs(got - ref).max() <= 0.01 * ref.max()
    many = accumulate_peaks(x, [two_theta], [1.0], [fwhm], [eta], s_l, s_l, node_counts=[16])
    assert np.abs(many - ref).max() <= 0.002 * ref.max()


@pytest.mark.parametrize("two_theta, gam", [(16.0, 4.0), (45.0, 4.0), (45.0, 0.5), (65.0, 5.0)])
def test_the_exact_fcj_simulation_is_the_fcj_integral(two_theta, gam):
    """scripts/make_independent_set.py --exact-fcj swaps GSAS-II's FCJ quadrature for ``exact_fcj_voigt``: over
    GSAS-II's own pseudo-Voigt it must be the same integral as the brute force above (< 0.3 % of the peak height),
    where GSAS-II's PSVFCJO is up to ≈ 10 % off for a Lorentzian-rich peak (γ = 4 centideg at 45°: peak −10 mdeg)."""
    from xrdq.engines.gsas2 import gsas2_available

    if not gsas2_available():
        pytest.skip("GSAS-II is not installed (not on PyPI; see docs/gsas2.md): its pseudo-Voigt is what is convolved")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    from make_independent_set import exact_fcj_voigt

    from xrdq.model.profile import tch_mix

    sig, shl = 3.0, 0.036  # centideg², (S+H)/L
    x = np.arange(two_theta - 1.5, two_theta + 1.0, 0.002)
    got, area = exact_fcj_voigt(two_theta, sig, gam, shl, x)
    fwhm, eta = tch_mix(np.sqrt(8.0 * np.log(2.0) * sig) / 100.0, gam / 100.0)
    ref = _fcj_brute_force(x, two_theta, shl / 2, shl / 2, float(fwhm), float(eta)) / 100.0  # per centidegree
    assert np.abs(got - ref).max() <= 0.003 * ref.max()
    assert area == pytest.approx(np.sum(100.0 * ref * 0.002), rel=2e-3)


@pytest.mark.parametrize("with_derivatives", [False, True])
def test_a_peak_without_width_is_a_clear_error(with_derivatives):
    # the kernels are compiled with numpy's error model (a division by zero gives inf, not an error):
    # a zero FWHM must be refused before it reaches them, not turned into a silently missing peak
    tt = np.linspace(20.0, 60.0, 4001)
    kw = {"derivatives": np.ones((2, 4, 3))} if with_derivatives else {}
    with pytest.raises(ValueError, match=r"FWHM must be > 0: 1 peak\(s\).*2θ = 40\.0000°"):
        accumulate_peaks(tt, [30.0, 40.0], [1.0, 1.0], [0.1, 0.0], [0.5, 0.5], 0.02, 0.02, **kw)


def test_gaussian_width_floor_applies_per_peak():
    # the floor is skipped when every peak is above it: a pattern with peaks on both sides must still get
    # the smooth floor on the low ones only
    tt = np.array([10.0, 40.0, 80.0, 120.0])
    u, v, w = 0.0, -0.02, 0.0106  # U tan²θ + V tanθ + W crosses 2.5e-5 between 40° and 80°
    hg, _ = tch_widths(tt, u, v, w, 0.0, 0.0)
    t = np.tan(np.radians(tt) / 2.0)
    hg2 = u * t**2 + v * t + w
    floor = 2.5e-5
    want = np.sqrt(np.where(hg2 > floor, hg2, floor * np.exp(np.minimum(hg2, floor) / floor - 1.0)))
    assert (hg2 > floor).any() and (hg2 <= floor).any()
    np.testing.assert_array_equal(hg, want)
    above = tt[:2]
    np.testing.assert_array_equal(tch_widths(above, u, v, w, 0.0, 0.0)[0], want[:2])
