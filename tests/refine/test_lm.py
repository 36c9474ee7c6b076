"""xrdq's Levenberg–Marquardt takes MINPACK's steps: compared with scipy's ``least_squares(method="lm")``."""

import numpy as np
import pytest
from scipy.optimize import least_squares

from xrdq.crystal import load_phase
from xrdq.model.instrument import load_instrument
from xrdq.model.simulate import simulate
from xrdq.refine import Stage, default_recipe
from xrdq.refine import fit as fit_module
from xrdq.refine.fit import Refinement
from xrdq.refine.lm import levenberg_marquardt

T = np.linspace(0.0, 5.0, 200)
Y = 3.0 * np.exp(-1.3 * T) + 0.5 * np.exp(-0.2 * T) + np.random.default_rng(1).normal(0.0, 0.01, T.size)


def _two_exp(p):
    return p[0] * np.exp(-p[1] * T) + p[2] * np.exp(-p[3] * T) - Y


def _two_exp_jac(p):
    e1, e3 = np.exp(-p[1] * T), np.exp(-p[3] * T)
    return np.column_stack([e1, -p[0] * T * e1, e3, -p[2] * T * e3])


def _rosenbrock(p):
    return np.array([10.0 * (p[1] - p[0] ** 2), 1.0 - p[0]])


def _rosenbrock_jac(p):
    return np.array([[-20.0 * p[0], 10.0], [-1.0, 0.0]])


def _minpack(fun, jac, x0, **kw):
    return least_squares(fun, x0, jac=jac, method="lm", x_scale="jac", **kw)


@pytest.mark.parametrize("fun, jac, x0, kw", [
    (_two_exp, _two_exp_jac, [1.0, 1.0, 1.0, 0.1], dict(ftol=1e-5, xtol=1e-10, gtol=1e-10)),
    (_two_exp, _two_exp_jac, [1.0, 1.0, 1.0, 0.1], dict(ftol=1e-3, xtol=1e-10, gtol=1e-10, max_nfev=5)),
    (_rosenbrock, _rosenbrock_jac, [-1.2, 1.0], dict(ftol=1e-10, xtol=1e-10, gtol=1e-10)),
    (_rosenbrock, _rosenbrock_jac, [-1.2, 1.0], dict(ftol=1e-10, xtol=1e-10, gtol=1e-3)),
])
def test_same_path_as_minpack(fun, jac, x0, kw):
    ref = _minpack(fun, jac, x0, **kw)
    res = levenberg_marquardt(fun, jac, x0, **kw)
    assert res.x == pytest.approx(ref.x, rel=1e-9, abs=1e-12)
    assert (res.nfev, res.njev, res.status) == (ref.nfev, ref.njev, ref.status)
    assert res.message == ref.message


def test_rank_deficient_jacobian_still_converges():
    # the second parameter does nothing: MINPACK's scaling gives it weight 1 and LM leaves it alone
    fun = lambda p: np.array([p[0] - 1.0, 2.0 * (p[0] - 1.0), 0.0 * p[1]])  # noqa: E731
    jac = lambda p: np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 0.0]])  # noqa: E731
    res = levenberg_marquardt(fun, jac, [5.0, 3.0], ftol=1e-10, xtol=1e-10, gtol=1e-10)
    assert res.success and res.x == pytest.approx([1.0, 3.0])


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="not finite in the initial point"):
        levenberg_marquardt(lambda p: np.array([np.nan, 1.0]), lambda p: np.eye(2), [0.0, 0.0])
    with pytest.raises(ValueError, match="parameters ≤ residuals, got 3 and 2"):
        levenberg_marquardt(lambda p: p[:2], lambda p: np.eye(2, 3), [0.0, 0.0, 0.0])


def _refinement(phases, **recipe):
    pattern, _ = simulate([(n, 1.0 / len(phases)) for n in phases], displacement_um=40.0, seed=3,
                          two_theta=(15.0, 90.0, 0.02))
    return Refinement(pattern["two_theta"].values, pattern.values, pattern.coords["esd"].values,
                      [load_phase(n) for n in phases], load_instrument("miniflex600"), recipe=default_recipe(**recipe))


def test_refinement_matches_minpack(monkeypatch):
    """Every stage of the default recipe (without the adaptive tests) lands where MINPACK's lmder lands."""
    ours = _refinement(("LiF", "ZnO"), adaptive=False).run()

    def scipy_lm(fun, jac, z0, *, ftol, xtol, gtol, max_nfev):
        return least_squares(fun, z0, jac=jac, method="lm", x_scale="jac", ftol=ftol, xtol=xtol, gtol=gtol,
                             max_nfev=max_nfev)

    monkeypatch.setattr(fit_module, "levenberg_marquardt", scipy_lm)
    theirs = _refinement(("LiF", "ZnO"), adaptive=False).run()
    assert ours.chi2 == pytest.approx(theirs.chi2, rel=1e-8)
    for name in ("scale_LiF", "scale_ZnO", "displacement_um", "LiF_a", "ZnO_a", "ZnO_c", "W", "ZnO_size_broadening"):
        assert ours.parameters[name][0] == pytest.approx(theirs.parameters[name][0], rel=1e-6, abs=1e-9), name


def test_stage_record_keeps_least_squares_fields():
    ref = _refinement(("LiF",))
    entry = ref.run_stage(Stage("cell", ("cell",)), final=True)
    assert entry["status"] > 0 and entry["nfev"] >= 2 and "termination condition" in entry["message"]
