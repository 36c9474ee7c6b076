"""Profiles and Jacobians that several refinements compute at the same point are computed once per process,
by value (phase content, PO axis, 2θ grid, parameters, sampling): the same numbers, to the bit."""

import numpy as np
import pytest

from xrdq.crystal import load_phase
from xrdq.model.instrument import load_instrument
from xrdq.model.pattern import PhaseModel
from xrdq.model.simulate import simulate
from xrdq.refine import default_recipe
from xrdq.refine.fit import Refinement
from xrdq.refine.objective import SHARED_PROFILES


def _patterns(seeds):
    """Files of one batch: the same mixture on the same grid, each with its own counting noise."""
    return [simulate([("LiF", 0.4), ("ZnO", 0.3)], amorphous=0.3, seed=s, two_theta=(15.0, 80.0, 0.02))[0]
            for s in seeds]


@pytest.fixture(scope="module")
def pattern():
    return _patterns([5])[0]


def _refinement(pattern, shift=0.0, phases=("LiF", "ZnO")):
    rec = default_recipe(humps=((25.0, 8.0),))
    return Refinement(pattern.two_theta.values + shift, pattern.values, pattern.esd.values,
                      [load_phase(n) for n in phases], load_instrument("miniflex600"), recipe=rec)


@pytest.fixture()
def counted(monkeypatch):
    """Calls of the phase model's profile and profile Jacobian (what the shared store saves)."""
    calls = {"profile": 0, "profile_jacobian": 0}
    for name in calls:
        original = getattr(PhaseModel, name)

        def wrapper(self, *args, _original=original, _name=name, **kwargs):
            calls[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(PhaseModel, name, wrapper)
    SHARED_PROFILES.clear()
    yield calls
    SHARED_PROFILES.clear()


def _start(fit):
    """What every file's refinement evaluates first: the pattern and the Jacobian of the first non-linear
    stage at the structures' cells and the instrument's widths."""
    names = fit.set_stage(fit.recipe.stages[1].refine)
    x = np.array([fit.params[n].value for n in names])
    return fit.residual(x, names), fit.residual_jacobian(x, names)


def test_the_start_every_file_of_a_batch_shares_is_computed_twice_then_served_bit_for_bit(counted):
    files = _patterns([11, 12, 13])
    for p in files[:2]:
        _start(_refinement(p))  # the first time remembered, the second kept
    before = dict(counted)
    r, jac = _start(_refinement(files[2]))
    assert counted == before  # nothing computed for the third file
    for value in SHARED_PROFILES.store.values():
        for array in (value if isinstance(value, tuple) else (value,)):
            assert not array.flags.writeable  # shared: nobody may change them for the others
    SHARED_PROFILES.clear()
    r_fresh, jac_fresh = _start(_refinement(files[2]))
    assert counted != before and np.array_equal(r, r_fresh) and np.array_equal(jac, jac_fresh)


def test_a_whole_fit_is_the_same_with_and_without_the_store(pattern, counted):
    first = _refinement(pattern).run()
    for _ in range(2):
        again = _refinement(pattern).run()
    assert again.chi2 == first.chi2 and np.array_equal(again.calculated, first.calculated)
    assert [v for v in again.parameters.values() if not np.isnan(v[1])] == \
        [v for v in first.parameters.values() if not np.isnan(v[1])]


def test_another_grid_phase_or_texture_axis_is_never_served_from_the_store(pattern, counted):
    for _ in range(2):
        _refinement(pattern).run()
    stored, before = set(SHARED_PROFILES.store), counted["profile"]
    fit = _refinement(pattern, shift=0.001)  # the grid moved by 0.001°: other profiles
    fit.run_stage(fit.recipe.stages[0])
    assert counted["profile"] > before and set(SHARED_PROFILES.store) == stored
    before = counted["profile"]
    fit = _refinement(pattern, phases=("LiF", "CaF2"))  # another structure
    fit.run_stage(fit.recipe.stages[0])
    assert counted["profile"] > before
    before = counted["profile"]
    fit = _refinement(pattern)
    fit.set_po_axis("ZnO", (0, 0, 1))  # the same phase and point with a texture axis
    fit.residual(np.array([]), [])
    assert counted["profile"] > before
