"""Internal-standard equations: closed-form cases, the sum rule, and the Jacobian by finite differences."""

import numpy as np
import pytest

from xrdq.errors import XrdqQuantError
from xrdq.quant import berar_lelann_factor, brindley_tau, hill_howard, internal_standard


def test_textbook_case():
    # 50 wt% standard refined at 62.5 %: A = (1 − 0.5/0.625)/(1 − 0.5) = 0.4
    res = internal_standard(["X", "LiF"], [0.375, 0.625], np.zeros((2, 2)), "LiF", 0.5)
    assert res.amorphous_fraction == pytest.approx(0.4)
    assert res.sample_fractions["X"][0] == pytest.approx(0.6)
    assert res.mixture_fractions["LiF"][0] == pytest.approx(0.5)


def test_sum_rule_and_purity():
    r = np.array([0.2, 0.15, 0.65])
    for purity in (1.0, 0.97, 0.9):
        res = internal_standard(["A", "B", "LiF"], r, np.zeros((3, 3)), "LiF", 0.45, purity)
        total = sum(v for v, _ in res.sample_fractions.values()) + res.amorphous_fraction
        assert total == pytest.approx(1.0, abs=1e-12)
    # Worked by hand: 100 g mixture, 45 g standard at c = 0.95 → 42.75 g crystalline LiF; R_s = 0.65 →
    # 65.77 g crystalline in all → 23.02 g other crystalline → 55 − 23.02 = 31.98 g amorphous = 58.14 %.
    impure = internal_standard(["A", "B", "LiF"], r, np.zeros((3, 3)), "LiF", 0.45, 0.95)
    assert impure.amorphous_fraction == pytest.approx((55 - (42.75 / 0.65 - 42.75)) / 55, rel=1e-12)
    # ignoring the impurity (c = 1) underestimates the sample's amorphous content
    pure = internal_standard(["A", "B", "LiF"], r, np.zeros((3, 3)), "LiF", 0.45, 1.0)
    assert pure.amorphous_fraction < impure.amorphous_fraction


def _values(r, w_s, c):
    res = internal_standard(["A", "B", "LiF"], r, np.zeros((3, 3)), "LiF", w_s, c)
    return np.array([res.sample_fractions["A"][0], res.sample_fractions["B"][0], res.amorphous_fraction])


def test_esd_propagation_matches_finite_differences():
    r = np.array([0.2, 0.15, 0.65])
    cov_r = np.array([[4e-6, -1e-6, -3e-6], [-1e-6, 2e-6, -1e-6], [-3e-6, -1e-6, 4e-6]])
    w_s, c, sw, sc = 0.5, 0.98, 0.002, 0.01
    res = internal_standard(["A", "B", "LiF"], r, cov_r, "LiF", w_s, c, sw, sc)
    p0 = np.concatenate([r, [w_s, c]])
    jac = np.zeros((3, 5))
    for j in range(5):
        h = 1e-7
        up, dn = p0.copy(), p0.copy()
        up[j] += h
        dn[j] -= h
        jac[:, j] = (_values(up[:3], up[3], up[4]) - _values(dn[:3], dn[3], dn[4])) / (2 * h)
    cov_p = np.zeros((5, 5))
    cov_p[:3, :3] = cov_r
    cov_p[3, 3], cov_p[4, 4] = sw**2, sc**2
    expected = np.sqrt(np.diag(jac @ cov_p @ jac.T))
    got = np.array([res.sample_fractions["A"][1], res.sample_fractions["B"][1], res.amorphous_fraction_esd])
    assert got == pytest.approx(expected, rel=1e-5)


def test_negative_amorphous_is_reported_not_clipped():
    res = internal_standard(["X", "LiF"], [0.52, 0.48], np.zeros((2, 2)), "LiF", 0.5)
    assert res.amorphous_fraction < 0
    assert any("negative amorphous" in w for w in res.warnings)


@pytest.mark.parametrize("w_s", [0.0, 1.0, -0.1, 1.5])
def test_w_s_outside_open_interval_is_an_error(w_s):
    with pytest.raises(XrdqQuantError, match="W_s"):
        internal_standard(["X", "LiF"], [0.5, 0.5], np.zeros((2, 2)), "LiF", w_s)


def test_bad_purity_and_missing_standard():
    with pytest.raises(XrdqQuantError, match="purity"):
        internal_standard(["X", "LiF"], [0.5, 0.5], np.zeros((2, 2)), "LiF", 0.5, purity=1.2)
    with pytest.raises(XrdqQuantError, match="not among"):
        internal_standard(["X", "Y"], [0.5, 0.5], np.zeros((2, 2)), "LiF", 0.5)


def test_hill_howard_and_its_jacobian():
    s = np.array([2.0, 1.0])
    zmv = np.array([1.0, 4.0])
    w, _ = hill_howard(s, zmv)
    assert w == pytest.approx([1 / 3, 2 / 3])
    cov_s = np.diag([0.01, 0.0025])
    _, cov_w = hill_howard(s, zmv, cov_s)
    # W_0 = 2/(2 + 4 S_1/...) — check against finite differences
    def w0(s0, s1):
        return s0 * 1 / (s0 * 1 + s1 * 4)
    d0 = (w0(2 + 1e-7, 1) - w0(2 - 1e-7, 1)) / 2e-7
    d1 = (w0(2, 1 + 1e-7) - w0(2, 1 - 1e-7)) / 2e-7
    assert cov_w[0, 0] == pytest.approx(d0**2 * 0.01 + d1**2 * 0.0025, rel=1e-6)


def test_brindley_tau_limits():
    assert brindley_tau(0.0) == pytest.approx(1.0)
    t = brindley_tau(np.array([-0.5, -0.1, 0.1, 0.5, 1.0]))
    assert np.all(np.diff(t) < 0)  # more absorbing than the matrix → less intensity per volume
    assert t[2] < 1 < t[1]


def test_brindley_leaves_a_phase_of_unknown_density_out():
    """A PONKCS phase has no cell: density NaN. It keeps τ = 1, stays out of the matrix's µ̄, and the crystalline
    phases are corrected as if it were not there (the volume-weighted µ̄ of the others)."""
    from xrdq.quant.weight_fractions import brindley_correction

    info = {"A": dict(cell_mass=100.0, volume=50.0, density=3.0, mass_attenuation=30.0),
            "B": dict(cell_mass=200.0, volume=60.0, density=5.0, mass_attenuation=150.0),
            "glass": dict(cell_mass=300.0, volume=1.0, density=float("nan"), mass_attenuation=40.0)}
    sizes = dict.fromkeys(info, 5.0)
    w, _, tau = brindley_correction([1.0, 0.5, 0.2], info, ["A", "B", "glass"], sizes)
    assert np.all(np.isfinite(w)) and tau[2] == 1.0 and tau[0] > 1.0 > tau[1]
    _, _, alone = brindley_correction([1.0, 0.5], {k: info[k] for k in "AB"}, ["A", "B"], sizes)
    assert tau[:2] == pytest.approx(alone, rel=1e-12)


def test_berar_lelann_factor():
    assert berar_lelann_factor(0.0) == pytest.approx(1.0)
    assert berar_lelann_factor(0.6) == pytest.approx(2.0)


@pytest.mark.parametrize("r_lif, says", [(1.0003, "consistent with a fully amorphous sample"),
                                          (1.02, "the result is not physical")])
def test_an_amorphous_fraction_above_100_percent_says_whether_it_is_noise(r_lif, says):
    """Only the standard in the pattern, and the declared phase refined slightly negative: the standard's
    fraction is above 1, so the amorphous one is above 100 %. Within 2 esd that is what a fully amorphous
    sample gives half the time; beyond it, a fault."""
    cov = np.array([[1e-6, -1e-6], [-1e-6, 1e-6]])
    res = internal_standard(["LiF", "LiCl"], [r_lif, 1.0 - r_lif], cov, "LiF", 0.5)
    assert res.amorphous_fraction > 1.0
    notes = [w for w in res.warnings if "above 100 %" in w]
    assert len(notes) == 1 and says in notes[0], res.warnings
