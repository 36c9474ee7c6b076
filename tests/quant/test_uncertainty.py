"""The model-uncertainty ensemble: variants re-solve the converged fit; u = √(esd² + u_model²)."""

import numpy as np
import pytest

import xrdq
from xrdq.errors import XrdqError
from xrdq.model.simulate import simulate
from xrdq.quant.uncertainty import _linear_variant, model_uncertainty, quantities, recipe_variants


@pytest.fixture(scope="module")
def result():
    pattern, _ = simulate([("LiF", 0.5), ("LiCl", 0.15), ("Li2ZrCl6", 0.1)], amorphous=0.25, standard="LiF", seed=11,
                          displacement_um=40.0, size_nm={"LiCl": 50.0, "Li2ZrCl6": 35.0})
    return xrdq.quantify(pattern, phases=["LiCl", "Li2ZrCl6"], standard=("LiF", 0.5), model_uncertainty="full")


def _scales(res):
    return np.array([res.refinement.scales[n][0] for n in res.refinement.phase_names])


def test_the_unchanged_linear_model_reproduces_the_fit(result):
    fit = result.refinement.fit
    v = _linear_variant(fit, fit._values(), "same")
    np.testing.assert_allclose(v.scales, _scales(result), rtol=1e-9)


def test_quantities_reproduce_the_reported_fractions(result):
    ref = result.refinement
    q = quantities(_scales(result), ref.phase_names, ref.phase_info, standard=("LiF", 0.5))
    assert q["amorphous"] == pytest.approx(result.amorphous_fraction[0], abs=1e-12)
    assert q["sample:LiCl"] == pytest.approx(result.sample_fractions["LiCl"][0], abs=1e-12)


def test_every_variant_moves_something_and_is_logged(result):
    variants = recipe_variants(result.refinement.fit, "full")
    names = [v.name for v in variants]
    assert any("background" in n for n in names) and any("2θ from" in n for n in names)
    assert any(v.kind == "nonlinear" for v in variants)
    used = [v for v in variants if v.scales is not None]
    assert any(not np.allclose(v.scales, _scales(result), rtol=1e-6) for v in used)
    log = result.provenance["model_uncertainty"]["variants"]
    assert any(e["variant"].startswith("microabsorption") for e in log)


def test_uncertainty_combines_esd_and_model_term(result):
    u, esd = result.uncertainty["amorphous"], result.amorphous_fraction[1]
    u_model = result.model_uncertainty["amorphous"]
    assert u_model > 0 and u == pytest.approx(np.hypot(esd, u_model))
    assert result.to_dict()["amorphous_fraction_uncertainty"] == pytest.approx(u)


def test_off_leaves_the_esd_and_fast_is_a_subset_of_full(result):
    ref = result.refinement
    u_off, log_off = model_uncertainty(ref, _scales(result), standard=("LiF", 0.5), level="off")
    assert log_off == [] and all(v == 0.0 for v in u_off.values())
    u_fast, log_fast = model_uncertainty(ref, _scales(result), standard=("LiF", 0.5), level="fast")
    u_full, log_full = model_uncertainty(ref, _scales(result), standard=("LiF", 0.5), level="full")
    assert {e["variant"] for e in log_fast} < {e["variant"] for e in log_full}
    assert all(u_full[k] >= 0.5 * u_fast[k] for k in u_fast)  # the same components, B converged further


def test_a_bad_level_is_a_clear_error():
    with pytest.raises(XrdqError, match="model_uncertainty must be"):
        xrdq.quantify(simulate([("LiF", 0.5)], amorphous=0.5, standard="LiF", seed=1)[0], model_uncertainty="some")


def test_a_refinement_xrdq_cannot_re_solve_says_its_u_lacks_the_recipe_variants(result):
    """An engine without a native fit (GSAS-II) gets the microabsorption term only: the log says so instead of
    leaving the recipe variants silently out."""
    import copy

    ref = copy.copy(result.refinement)
    ref.fit, ref.engine = None, "gsas2"
    u, log = model_uncertainty(ref, _scales(result), standard=("LiF", 0.5), level="full")
    assert [e["variant"][:15] for e in log] == ["microabsorption", "recipe variants"]
    assert "gsas2 engine" in log[1]["left_out"] and u["amorphous"] > 0
    _, native = model_uncertainty(result.refinement, _scales(result), standard=("LiF", 0.5), level="fast")
    assert not any(e["variant"].startswith("recipe variants") for e in native)
