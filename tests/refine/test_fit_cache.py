"""The refinement's profile caches: reused across stage boundaries only while the peak sampling is the same."""

import numpy as np
import pytest

from xrdq.crystal import load_phase
from xrdq.model import background as bkg
from xrdq.model import pattern as pattern_mod
from xrdq.model.instrument import load_instrument
from xrdq.model.simulate import simulate
from xrdq.refine import Stage, default_recipe
from xrdq.refine.fit import Refinement


@pytest.fixture()
def fit():
    pattern, _ = simulate([("LiF", 0.4), ("ZnO", 0.3)], amorphous=0.3, seed=3, two_theta=(15.0, 80.0, 0.02))
    rec = default_recipe(humps=((25.0, 8.0),), adaptive=False)
    return Refinement(pattern.two_theta.values, pattern.values, pattern.esd.values,
                      [load_phase("LiF"), load_phase("ZnO")], load_instrument("miniflex600"), recipe=rec)


def _count_calls(monkeypatch, owner, name):
    calls = []
    original = getattr(owner, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_profiles_survive_a_stage_boundary_with_the_same_sampling(fit, monkeypatch):
    values = fit._values()
    first = fit.peak_columns(values)
    calls = _count_calls(monkeypatch, pattern_mod.PhaseModel, "profile")
    fit.run_stage(Stage("scales", ()))  # re-decides the sampling: the same node counts at the same values
    again = fit.peak_columns(values)
    assert calls == []  # nothing recomputed
    assert np.array_equal(first, again)


def test_a_changed_sampling_recomputes_the_profile(fit, monkeypatch):
    values = fit._values()
    fit.peak_columns(values)
    model = fit.models[1]
    coarse = model._node_counts.copy()
    assert coarse.max() > 1  # the test needs asymmetric peaks sampled with several nodes
    # the next stage decides a finer sampling at the same parameter values
    monkeypatch.setattr(pattern_mod, "fcj_node_counts", lambda c, f, s, h: np.minimum(coarse + 2, 16))
    fit.run_stage(Stage("scales", ()))
    cols = fit.peak_columns(values)
    assert np.array_equal(model._node_counts, np.minimum(coarse + 2, 16))
    fresh = model.profile(fit.two_theta, fit._phase_params(fit.phases[1], values), *fit._setup(values))
    assert np.array_equal(cols[:, 1], fresh)  # not the profile cached with the old node counts
    model._node_counts = coarse
    assert not np.array_equal(fresh, model.profile(fit.two_theta, fit._phase_params(fit.phases[1], values),
                                                   *fit._setup(values)))


def test_hump_columns_are_computed_once_per_shape(fit, monkeypatch):
    values = fit._values()
    expected = bkg.humps(fit.two_theta, [values["hump0_center"]], [values["hump0_fwhm"]])
    calls = _count_calls(monkeypatch, bkg, "humps")
    first = fit.peak_columns(values)
    fit.peak_columns(values)
    assert len(calls) == 1
    assert np.array_equal(first[:, -1:], expected)
    moved = dict(values, hump0_fwhm=values["hump0_fwhm"] * 1.1)
    fit.peak_columns(moved)
    assert len(calls) == 2
