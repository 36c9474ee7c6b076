"""The compiled model against a straightforward numpy evaluation, and its analytic derivatives against
central differences of the pattern itself."""

import numpy as np
import pytest

from xrdq.crystal import load_phase
from xrdq.model.instrument import load_instrument
from xrdq.model.pattern import PhaseModel, Specimen
from xrdq.model.peaks import accumulate_peaks, fcj_node_counts
from xrdq.model.profile import fcj_nodes, pseudo_voigt

TT = np.arange(10.0, 80.0, 0.01)


def _naive(tt, centers, areas, fwhm, eta, s_l, h_l, counts):
    """Every peak and every FCJ node on the whole grid (no windows)."""
    y = np.zeros_like(tt)
    for k in range(centers.size):
        pos, w = fcj_nodes(centers[k:k + 1], s_l, h_l, n_nodes=max(int(counts[k]), 2))
        if counts[k] <= 1:
            y += areas[k] * pseudo_voigt(tt - (pos * w).sum(), fwhm[k], eta[k])
            continue
        for j in range(pos.shape[1]):
            y += areas[k] * w[0, j] * pseudo_voigt(tt - pos[0, j], fwhm[k], eta[k])
    return y


def _random_peaks(seed, n, s_l, h_l):
    """Centres, areas, FWHMs, η and FCJ node counts of ``n`` random peaks over 11–79° 2θ."""
    rng = np.random.default_rng(seed)
    centers = np.sort(rng.uniform(11.0, 79.0, n))
    fwhm = rng.uniform(0.04, 0.6, n)
    eta = rng.uniform(0.0, 1.0, n)
    areas = rng.uniform(1.0, 100.0, n)
    return centers, areas, fwhm, eta, fcj_node_counts(centers, fwhm, s_l, h_l)


@pytest.mark.parametrize("s_l,h_l", [(0.025, 0.025), (0.02, 0.035), (0.0, 0.0)])
def test_compiled_accumulation_matches_the_whole_grid_sum(s_l, h_l):
    centers, areas, fwhm, eta, counts = _random_peaks(3, 40, s_l, h_l)
    fast = accumulate_peaks(TT, centers, areas, fwhm, eta, s_l, h_l, node_counts=counts)
    slow = _naive(TT, centers, areas, fwhm, eta, s_l, h_l, counts)
    # what the windows drop is the far Lorentzian tail: ≤ 0.5 % of the maximum anywhere
    assert np.max(np.abs(fast - slow)) < 5e-3 * slow.max()
    core = slow > 0.3 * slow.max()
    assert np.max(np.abs(fast - slow)[core] / slow[core]) < 0.01


def _moves(params, glob, f=1.0):
    """(label, moved PhaseParams, moved (ProfileTerms, Specimen), step) for every kind of peak-list parameter."""
    key = next(iter(params.cell))
    terms, specimen = glob
    return [
        ("cell", params.replace(cell={**params.cell, key: params.cell[key] + 1e-4 * f}), glob, 1e-4 * f),
        ("zero", params, (terms.replace(zero=terms.zero + 1e-3 * f), specimen), 1e-3 * f),
        ("displacement", params, (terms, specimen.replace(displacement_um=specimen.displacement_um + f)), f),
        ("U", params, (terms.replace(U=terms.U + 1e-4 * f), specimen), 1e-4 * f),
        ("W", params, (terms.replace(W=terms.W + 1e-5 * f), specimen), 1e-5 * f),
        ("X", params, (terms.replace(X=terms.X + 1e-3 * f), specimen), 1e-3 * f),
        ("size", params.replace(size_nm=params.size_nm * (1 + 1e-3 * f)), glob, params.size_nm * 1e-3 * f),
        ("strain", params.replace(strain=params.strain + 1e-5 * f), glob, 1e-5 * f),
        ("B", params.replace(b_overall=params.b_overall + 0.01 * f), glob, 0.01 * f),
        ("po", params.replace(po_ratio=params.po_ratio + 1e-3 * f), glob, 1e-3 * f),
    ]


@pytest.mark.parametrize("name,size_nm,instrument,fd_step,penetration", [
    ("Li2ZrCl6", 40.0, "miniflex600", 1.0, 0.0), ("LiF", 300.0, "miniflex600", 1.0, 0.0),
    ("Al2O3", 80.0, "miniflex600", 1.0, 0.0),
    # U = V = W = 0 in the FP description: the Gaussian TCH term sits on its smooth floor, so the
    # central differences need smaller steps
    ("LiCl", 60.0, "miniflex600-fp", 1e-2, 0.0),
    # a transparent specimen: FCJ nodes composed with transparency nodes, which move with the peak centre
    ("LiF", 300.0, "miniflex600", 1.0, 400.0), ("Li2ZrCl6", 40.0, "miniflex600", 1.0, 150.0),
    # and the flat-specimen aberration (its nodes move with the centre too)
    ("Al2O3", 80.0, "miniflex600+flat", 1.0, 150.0),
])
def test_analytic_jacobian_matches_central_differences(name, size_nm, instrument, fd_step, penetration):
    inst = load_instrument(instrument.removesuffix("+flat"))
    if instrument.endswith("+flat"):
        inst = inst.replace(flat_specimen=1.25)
    glob = (inst, Specimen(displacement_um=40.0, penetration_um=penetration))
    model = PhaseModel(load_phase(name), inst, (10.0, 80.0), po_hkl=(0, 0, 1))
    params = model.default_params(size_nm=size_nm, strain=2e-4, b_overall=0.3, po_ratio=0.9)
    moves = _moves(params, glob, fd_step)
    # the analytic pass takes tiny one-sided steps on the peak list only
    tiny = [(p, *g, h) for _, p, g, h in _moves(params, glob, 1e-3)]
    y, jac = model.profile_jacobian(TT, params, *glob, tiny)
    assert np.allclose(y, model.profile(TT, params, *glob), rtol=1e-12, atol=1e-12 * y.max())
    for j, (label, pp, gp, h) in enumerate(moves):
        # central difference of the whole pattern around the same point
        back = _mirror(params, glob, pp, gp)
        fd = (model.profile(TT, pp, *gp) - model.profile(TT, back[0], *back[1])) / (2 * h)
        err = np.linalg.norm(jac[:, j] - fd) / np.linalg.norm(fd)
        assert err < 2e-3, f"{name} ∂/∂{label}: relative error {err:.2e}"


def _mirror(params, glob, pp, gp):
    """The point as far below ``params, glob`` as ``pp, gp`` is above."""
    def reflect(a, b):
        return 2 * a - b

    cell = {k: reflect(params.cell[k], pp.cell[k]) for k in params.cell}
    back_p = params.replace(cell=cell, size_nm=reflect(params.size_nm, pp.size_nm),
                            strain=reflect(params.strain, pp.strain),
                            b_overall=reflect(params.b_overall, pp.b_overall),
                            po_ratio=reflect(params.po_ratio, pp.po_ratio))
    (terms, specimen), (moved_terms, moved_specimen) = glob, gp
    back_t = terms.replace(**{f: reflect(getattr(terms, f), getattr(moved_terms, f)) for f in ("zero", "U", "V", "W", "X", "Y")})
    back_s = specimen.replace(displacement_um=reflect(specimen.displacement_um, moved_specimen.displacement_um))
    return back_p, (back_t, back_s)


def test_refinement_derivatives_match_differences_of_the_model():
    """What the least squares and the covariance use: ∂(A c)/∂θ for every varied parameter, through the
    parameter transforms the refinement applies (size as a broadening in degrees, asymmetry, humps)."""
    from xrdq.model.simulate import simulate
    from xrdq.refine import default_recipe
    from xrdq.refine.fit import Refinement

    pattern, _ = simulate([("LiF", 0.5), ("LiCl", 0.2)], amorphous=0.3, standard="LiF", seed=2,
                          size_nm={"LiCl": 60.0}, two_theta=(10.0, 79.99, 0.01))
    inst = load_instrument("miniflex600")
    ref = Refinement(pattern.two_theta.values, pattern.values, pattern.esd.values,
                     [load_phase("LiF"), load_phase("LiCl")], inst, recipe=default_recipe(humps=((30.0, 10.0),)))
    names = ref.set_stage(("cell", "displacement", "gaussian", "size", "humps", "asymmetry", "transparency",
                           "flat_specimen"))
    values = ref._values()
    values["penetration_um"] = 300.0
    values["flat_specimen"] = 1.2
    values["LiCl_size_broadening"] = 0.15
    values["LiF_size_broadening"] = 0.05  # away from 0, where "no broadening" makes a kink
    values["displacement_um"] = 25.0
    _assert_derivatives_match_differences(ref, values, names)


def _assert_derivatives_match_differences(ref, values, names, which=None):
    """The refinement's analytic ∂(A c)/∂θ against central differences of its peak columns, for ``which`` of the
    varied ``names`` (all by default)."""
    p = ref.peak_columns(values)
    coef = ref.solve_linear_parts(p)[0]
    d = ref.model_derivatives(values, names, coef)
    for j, name in enumerate(names):
        if which is not None and name not in which:
            continue
        h = 1e-5 * max(abs(values[name]), 1e-2)
        up, dn = dict(values), dict(values)
        up[name] += h
        dn[name] -= h
        fd = (ref.peak_columns(up) - ref.peak_columns(dn)) @ coef / (2 * h)
        err = np.linalg.norm(d[:, j] - fd) / max(np.linalg.norm(fd), 1e-300)
        assert err < 2e-3, f"∂/∂{name} at {values[name]}: relative error {err:.2e}"


def test_no_peak_on_the_grid_gives_zeros_not_an_error():
    tt = np.linspace(10.0, 20.0, 500)
    far = np.array([60.0, 70.0])
    ones = np.ones(2)
    y = accumulate_peaks(tt, far, ones, 0.1 * ones, 0.5 * ones, 0.02, 0.02)
    assert y.shape == tt.shape and not y.any()
    y, jac = accumulate_peaks(tt, far, ones, 0.1 * ones, 0.5 * ones, 0.02, 0.02, derivatives=np.ones((2, 4, 3)))
    assert jac.shape == (tt.size, 3) and not jac.any() and not y.any()


@pytest.mark.parametrize("s_l,h_l", [(0.025, 0.025), (0.0, 0.0)])
def test_exact_tails_are_the_whole_grid_sum(s_l, h_l):
    """The simulator's peaks (``exact_tails``) are untruncated: equal to the whole-grid sum."""
    centers, areas, fwhm, eta, counts = _random_peaks(5, 30, s_l, h_l)
    exact = accumulate_peaks(TT, centers, areas, fwhm, eta, s_l, h_l, node_counts=counts, exact_tails=True)
    slow = _naive(TT, centers, areas, fwhm, eta, s_l, h_l, counts)
    windowed = accumulate_peaks(TT, centers, areas, fwhm, eta, s_l, h_l, node_counts=counts)
    # the Gaussians are still cut at ±2.6 FWHM (1e-8 of their peak) and multi-node peaks carry their far
    # tail on the centroid Lorentzian (≈ 1.5e-4 of the maximum just outside the core)
    assert np.max(np.abs(exact - slow)) < 3e-4 * slow.max()
    area = np.trapezoid(slow, TT)
    assert abs(np.trapezoid(exact - slow, TT)) < 1e-4 * area
    assert abs(np.trapezoid(windowed - slow, TT)) > 5e-3 * area  # what the fit model's windows drop


def test_the_uniaxial_size_derivative_matches_differences_of_the_model():
    """The difference between the broadening along a phase's size axis and across it is one more width parameter
    of the peak list: its analytic column is the central difference of the model (platelets and needles alike)."""
    from xrdq.model.simulate import simulate
    from xrdq.refine import default_recipe
    from xrdq.refine.fit import Refinement

    pattern, _ = simulate([("LiF", 0.5), ("MgOH2", 0.5)], standard="LiF", seed=3, size_nm={"MgOH2": 80.0},
                          two_theta=(10.0, 79.99, 0.01))
    inst = load_instrument("miniflex600")
    ref = Refinement(pattern.two_theta.values, pattern.values, pattern.esd.values,
                     [load_phase("LiF"), load_phase("MgOH2")], inst,
                     recipe=default_recipe(uniaxial_size={"MgOH2": (0, 0, 1)}))
    names = ref.set_stage(("cell", "size", "size_shape"))
    assert "MgOH2_size_anisotropy" in names and "LiF_size_anisotropy" not in names  # only a phase with an axis
    values = ref._values()
    values["MgOH2_size_broadening"] = 0.1
    for anisotropy in (0.3, -0.05):
        values["MgOH2_size_anisotropy"] = anisotropy
        _assert_derivatives_match_differences(ref, values, names, which=("MgOH2_size_broadening",
                                                                         "MgOH2_size_anisotropy"))
