"""The engine contract and the steps of quantify (xrdq.quant.pipeline): one computation of the weight
fractions for every engine, from scales, mass factors and covariance; no mutation of the engine's result."""

import copy

import numpy as np
import pytest

import xrdq
from xrdq.errors import XrdqQuantError
from xrdq.model.simulate import simulate
from xrdq.quant.pipeline import phase_list, weight_fractions
from xrdq.quant.weight_fractions import hill_howard
from xrdq.refine.engines import engine_names, get_engine, register_engine


@pytest.fixture(scope="module")
def fitted():
    pattern, _ = simulate([("LiF", 0.5), ("LiCl", 0.3)], amorphous=0.2, standard="LiF", seed=11)
    return pattern, xrdq.quantify(pattern, phases=["LiCl"], standard=("LiF", 0.5), model_uncertainty="off")


def test_registry_names_engines_and_rejects_unknown_ones():
    assert engine_names()[:2] == ("native", "gsas2")
    assert get_engine("native").name == "native" and get_engine("native").profile_only_phases
    with pytest.raises(ValueError, match="unknown engine 'rietan'.*native"):
        get_engine("rietan")
    register_engine("native-again", "xrdq.refine.engines:NativeEngine")
    try:
        assert get_engine("native-again").name == "native"
    finally:
        from xrdq.refine import engines

        engines._REGISTRY.pop("native-again")


def test_phase_list_adds_the_standard_once_under_its_phase_name():
    objs, std = phase_list(["LiCl"], ("LiF", 0.5))
    assert [p.name for p in objs] == ["LiCl", "LiF"] and std == ("LiF", 0.5)
    objs, _ = phase_list(["LiF", "LiCl"], ("LiF", 0.5))
    assert [p.name for p in objs] == ["LiF", "LiCl"]
    with pytest.raises(XrdqQuantError, match="no phases and no standard"):
        phase_list([], None)


def test_fractions_come_from_scales_mass_factors_and_covariance_whatever_the_convention(fitted):
    """A GSAS-II-like result (phase fractions f with W ∝ f × cell mass) gives the same fractions as the
    native one it was made from (W ∝ S × ZMV): quant does not read the engine's own weight fractions."""
    _, res = fitted
    ref = res.refinement
    names = list(ref.phase_names)
    zmv = np.array([ref.phase_info[n]["cell_mass"] * ref.phase_info[n]["volume"] for n in names])
    native = weight_fractions(ref)
    w, cov = hill_howard([ref.scales[n][0] for n in names], zmv, ref.scale_covariance)
    assert np.array_equal(native.w, w) and np.array_equal(native.cov_w, cov)

    # the same fit expressed as GSAS-II does: f = S V (cells), mass factor M, covariance scaled alike
    g2 = copy.copy(ref)
    volume = np.array([ref.phase_info[n]["volume"] for n in names])
    g2.scales = {n: (ref.scales[n][0] * volume[i], np.nan) for i, n in enumerate(names)}
    g2.mass_factors = {n: ref.phase_info[n]["cell_mass"] for n in names}
    g2.scale_covariance = np.asarray(ref.scale_covariance) * np.outer(volume, volume)
    g2.weight_fractions = {n: -1.0 for n in names}  # nonsense: must not be used
    other = weight_fractions(g2)
    assert np.allclose(other.w, native.w, rtol=1e-12) and np.allclose(other.cov_w, native.cov_w, rtol=1e-10)


def test_quantify_leaves_a_given_refinement_unchanged(fitted):
    pattern, res = fitted
    given = copy.copy(res.refinement)
    given.weight_fractions, given.weight_fraction_covariance = {}, None
    again = xrdq.quantify(pattern, phases=["LiCl"], standard=("LiF", 0.5), refinement=given, model_uncertainty="off")
    assert given.weight_fractions == {} and given.weight_fraction_covariance is None
    assert again.refinement is not given
    assert again.refinement.weight_fractions == pytest.approx({n: v for n, (v, _) in res.refined_fractions.items()})
    assert again.amorphous_fraction == pytest.approx(res.amorphous_fraction)


def test_a_refinement_without_mass_factors_is_a_clear_error(fitted):
    pattern, res = fitted
    bare = copy.copy(res.refinement)
    bare.mass_factors = {}
    with pytest.raises(XrdqQuantError, match="no scale, mass factor or scale covariance.*mass_factors"):
        xrdq.quantify(pattern, phases=["LiCl"], standard=("LiF", 0.5), refinement=bare, model_uncertainty="off")
