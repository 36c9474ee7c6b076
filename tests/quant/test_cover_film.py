"""A film over the specimen (Kapton tape on an air-tight holder): its exp(−2µt/sinθ) attenuation is modelled,
declared or found by the adaptive recipe. Checked on a GSAS-II pattern (not xrdq's model) with the film's
transmission applied to it."""

from __future__ import annotations


import numpy as np
import pytest

from xrdq import quantify
from xrdq.errors import XrdqError
from xrdq.model.instrument import load_instrument
from xrdq.model.film import film_transmission
from xrdq.quant.composition import cover_film_mu_t, parse_cover_film
from transmitted_case import transmitted_case


def test_transmission_is_two_passes_through_the_film_at_theta():
    tt = np.array([20.0, 90.0, 150.0])
    expected = np.exp(-2 * 0.03 / np.sin(np.radians(tt / 2)))
    np.testing.assert_allclose(film_transmission(tt, 0.03), expected, rtol=1e-15)
    assert film_transmission(tt, 0.0) == 1.0


def test_kapton_mu_t_from_its_composition():
    """Polyimide C22H10N2O5, 1.42 g/cm³: µ/ρ ≈ 6.1 cm²/g at Cu Kα (Elam), so 25 µm give µt ≈ 0.0215."""
    assert cover_film_mu_t("kapton=25", 1.540593) == pytest.approx(0.0215, rel=0.03)
    assert cover_film_mu_t("kapton=50", 1.540593) == pytest.approx(2 * cover_film_mu_t("kapton=25", 1.540593))
    assert cover_film_mu_t("mu_t=0.05", 1.540593) == 0.05
    assert cover_film_mu_t(("mylar", 6), 1.540593) == pytest.approx(cover_film_mu_t("mylar=6", 1.540593))


@pytest.mark.parametrize("text, words", [
    ("kapton", "expected MATERIAL=THICKNESS_UM"),
    ("unobtainium=5", "unknown material 'unobtainium'"),
    ("kapton=thin", "'thin' is not a number"),
    ("kapton=-5", "must be ≥ 0"),
    ("mu_t=7", "must be ≥ 0 and < 5"),
])
def test_bad_cover_film_is_named(text, words):
    with pytest.raises(XrdqError, match=words):
        parse_cover_film(text)


def test_instrument_file_carries_a_film(tmp_path):
    f = tmp_path / "holder.toml"
    geometry = 'wavelengths = [[1.540593, 1.0], [1.544427, 0.5]]\nradius_mm = 150.0\n'
    f.write_text('name = "miniflex-airtight"\ncover_film_mu_t = 0.03\n' + geometry)
    assert load_instrument(f).cover_film_mu_t == 0.03
    f.write_text('name = "bad"\ncover_film_mu_t = -0.1\n' + geometry)
    with pytest.raises(XrdqError, match="cover_film_mu_t"):
        load_instrument(f)


def _filmed_case(tmp_path, mu_t):
    """The GSAS-II case's expected counts through a film of µt = ``mu_t``, then Poisson noise."""
    return transmitted_case(tmp_path, lambda tt: np.exp(-2.0 * mu_t / np.sin(np.radians(tt / 2.0))), f"film_{mu_t}")


@pytest.fixture(scope="module")
def filmed(tmp_path_factory):
    return _filmed_case(tmp_path_factory.mktemp("film"), 0.05)


def test_an_uncorrected_film_biases_the_amorphous_content(filmed):
    """What the correction is for: without it (a recipe that may not add terms) this film reads ≈ 7 wt% too
    amorphous — the sample's low-angle reflections lose more than LiF's."""
    from xrdq.refine import default_recipe

    path, kw, truth = filmed
    res = quantify(path, recipe=default_recipe(adaptive=False), **kw)
    assert res.amorphous_fraction[0] - truth > 0.04


def test_a_declared_film_is_corrected(filmed):
    path, kw, truth = filmed
    res = quantify(path, cover_film="mu_t=0.05", **kw)
    assert abs(res.amorphous_fraction[0] - truth) < 3 * res.amorphous_fraction[1]
    assert not any(w.startswith("cover film found") for w in res.warnings)  # declared: nothing to say
    assert res.provenance["instrument"]["cover_film_mu_t"] == 0.05
    assert res.refinement.parameters["film_mu_t"][0] == pytest.approx(0.05, abs=0.004)


def test_the_adaptive_recipe_finds_an_undeclared_film(filmed):
    path, kw, truth = filmed
    res = quantify(path, **kw)
    assert "cover film (µt)" in [d["term"] for d in res.refinement.decisions if d["accepted"]]
    value, esd = res.refinement.parameters["film_mu_t"]
    assert abs(value - 0.05) < 3 * esd + 0.002
    assert abs(res.amorphous_fraction[0] - truth) < 3 * res.amorphous_fraction[1]
    assert any(w.startswith("cover film found by the data") for w in res.warnings)
    assert res.verdict == "ok"  # corrected: a note, not a doubt


def test_no_film_is_found_where_there_is_none(tmp_path):
    path, kw, truth = _filmed_case(tmp_path, 0.0)
    res = quantify(path, **kw)
    assert res.refinement.parameters["film_mu_t"][0] == 0.0


def test_the_gsas2_engine_refuses_a_film_it_cannot_correct(filmed):
    path, kw, _ = filmed
    with pytest.raises(XrdqError, match="does not correct a cover film"):
        quantify(path, engine="gsas2", cover_film="kapton=25", **kw)


def test_simulate_applies_the_instruments_film_and_the_fit_removes_it(tmp_path):
    """Self-consistency (xrdq's own model on both sides, not accuracy): the film in the instrument description
    lowers the simulated reflections by exp(−2µt/sinθ), and the same description quantifies it back."""
    from xrdq.model.simulate import simulate

    inst = load_instrument("miniflex600").replace(cover_film_mu_t=0.06)
    kw = dict(amorphous=0.2, standard="LiF", seed=3, two_theta=(10.0, 80.0, 0.02))
    bare, _ = simulate([("LiF", 0.5), ("LiCl", 0.3)], instrument="miniflex600", **kw)
    filmed, _ = simulate([("LiF", 0.5), ("LiCl", 0.3)], instrument=inst, **kw)
    tt = bare["two_theta"].values

    def low_over_high(p):  # LiF 111 (38.7°) against 311 (78.6°): the film takes more at low angle
        return p.values[(tt > 37) & (tt < 40)].max() / p.values[(tt > 77) & (tt < 80)].max()

    expected = np.exp(-2 * 0.06 * (1 / np.sin(np.radians(19.35)) - 1 / np.sin(np.radians(39.3))))
    assert low_over_high(filmed) / low_over_high(bare) == pytest.approx(expected, rel=0.05)
    path = tmp_path / "filmed.xye"
    np.savetxt(path, np.column_stack([filmed["two_theta"].values, filmed.values, filmed.coords["esd"].values]))
    res = quantify(path, phases=["LiCl"], standard="LiF=0.5", cover_film="mu_t=0.06", model_uncertainty="off")
    assert abs(res.amorphous_fraction[0] - 0.4) < 3 * res.amorphous_fraction[1] + 0.005
