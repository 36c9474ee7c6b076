"""A fixed divergence slit overspills a short specimen at low angles; declared (``sample_length``), the lost
intensity is corrected. Checked on a GSAS-II pattern (not xrdq's model) with the overspill applied to it."""

from __future__ import annotations


import numpy as np
import pytest

from xrdq import quantify
from xrdq.errors import XrdqError
from xrdq.model.instrument import load_instrument
from transmitted_case import REPO, transmitted_case


@pytest.fixture(scope="module")
def spilled(tmp_path_factory):
    """lazco_a40_rep (40 % amorphous; Li2ZrCl6 reflects from 2θ ≈ 15°) on a 15 mm specimen under the MiniFlex's
    1.25° slit: intensity × min(1, L sinθ / (R α)) — full only above 2θ = 25.2° — then Poisson noise."""
    factor = lambda tt: np.minimum(1.0, 15.0 * np.sin(np.radians(tt / 2)) / (150.0 * np.radians(1.25)))  # noqa: E731
    return transmitted_case(tmp_path_factory.mktemp("spill"), factor, "spilled")


def test_undeclared_overspill_biases_the_amorphous_content(spilled):
    """What the option is for (a recipe that may not add terms): ≈ +3.8 wt%."""
    from xrdq.refine import default_recipe

    path, kw, truth = spilled
    res = quantify(path, recipe=default_recipe(adaptive=False), **kw)
    assert res.amorphous_fraction[0] - truth > 0.02


def test_declared_specimen_length_corrects_it(spilled):
    path, kw, truth = spilled
    res = quantify(path, sample_length=15, **kw)
    assert abs(res.amorphous_fraction[0] - truth) < 3 * res.amorphous_fraction[1]
    assert res.provenance["instrument"]["sample_length_mm"] == 15.0


@pytest.mark.parametrize("value, words", [(-3, "positive number of mm"), ("long", "expected the specimen's length"),
                                          (float("inf"), "positive number of mm")])
def test_bad_specimen_length_is_named(spilled, value, words):
    path, kw, _ = spilled
    with pytest.raises(XrdqError, match=words):
        quantify(path, sample_length=value, **kw)


def test_a_variable_slit_has_no_overspill_to_correct(spilled, tmp_path):
    path, kw, _ = spilled
    inst = load_instrument("miniflex600").replace(variable_slit=True, irradiated_length_mm=10.0)
    with pytest.raises(XrdqError, match="variable slit"):
        quantify(path, sample_length=20, **{**kw, "instrument": inst})


def test_the_adaptive_recipe_finds_an_undeclared_overspill(spilled):
    path, kw, truth = spilled
    res = quantify(path, **kw)
    assert "beam overspill (specimen length)" in [d["term"] for d in res.refinement.decisions if d["accepted"]]
    fill, esd = res.refinement.parameters["beam_fill"]
    length = 150.0 * np.radians(1.25) / fill
    assert length == pytest.approx(15.0, abs=0.5)
    assert abs(res.amorphous_fraction[0] - truth) < 3 * res.amorphous_fraction[1]
    assert any(w.startswith("beam overspill found by the data") for w in res.warnings)
    # the film term, accepted first, refines to nothing beside it and is not reported as found
    film, film_esd = res.refinement.parameters["film_mu_t"]
    assert film <= 2 * film_esd and not any(w.startswith("cover film found") for w in res.warnings)
    assert res.verdict == "ok"


def test_a_declared_length_is_held_not_tested(spilled):
    path, kw, _ = spilled
    res = quantify(path, sample_length=15, **kw)
    assert "beam overspill (specimen length)" not in [d["term"] for d in res.refinement.decisions]
    assert res.refinement.parameters["beam_fill"][0] == pytest.approx(150.0 * np.radians(1.25) / 15.0)
    assert not any(w.startswith("beam overspill found") for w in res.warnings)


def test_the_gsas2_engine_refuses_an_overspill_it_cannot_correct(spilled):
    path, kw, _ = spilled
    with pytest.raises(XrdqError, match="does not correct the overspill"):
        quantify(path, engine="gsas2", sample_length=20, **kw)


SHARED = REPO.parent / "shared" / "data" / "qpa" / "cpd1" / "CPD-1A.xye"


@pytest.mark.skipif(not SHARED.is_file(), reason="../shared/data/qpa/cpd1 (real CPD round-robin data) is absent")
def test_a_term_that_changes_nothing_is_not_accepted():
    """Real data: CPD-1A from 5°, whose first reflection is at 25.6°. An overspill below that changes no
    reflection, yet the refit from its probe lowered χ² by 38 (the resampling, not the term) and it was
    accepted, with a note naming a specimen length."""
    res = quantify(SHARED, phases=["Al2O3", "ZnO", "CaF2"], standard=None, instrument="cpd-pw3020",
                   model_uncertainty="off")
    overspill = [d for d in res.refinement.decisions if d["term"].startswith("beam overspill")]
    assert overspill and not any(d["accepted"] for d in overspill)
    assert res.refinement.parameters["beam_fill"][0] == 0.0
    assert not any(w.startswith("beam overspill found") for w in res.warnings)


@pytest.fixture(scope="module")
def spilled_narrow(tmp_path_factory):
    """The same case on a 10 mm specimen under a 0.625° slit (the setting of every MiniFlex file in ../shared): full
    intensity above 2θ = 18.8°, where the instrument description's nominal 1.25° would put it at 38.2°."""
    factor = lambda tt: np.minimum(1.0, 10.0 * np.sin(np.radians(tt / 2)) / (150.0 * np.radians(0.625)))  # noqa: E731
    return transmitted_case(tmp_path_factory.mktemp("spill_narrow"), factor, "spilled_narrow")


def test_the_files_divergence_slit_sets_the_overspill(spilled_narrow):
    """A MiniFlex header's DS (here on the DataArray, as the .ras and .asc readers leave it) is the measurement's:
    with the nominal 1.25° the correction would start at 38° instead of 19°: 37.7 % for 40 % (30.7 % before the
    adaptive recipe tested a finite thickness, which now takes up part of the mis-corrected slope)."""
    from xrdq import load

    path, kw, truth = spilled_narrow
    pattern = load(path)
    pattern.attrs["divergence_slit"] = "0.625deg"
    res = quantify(pattern, sample_length=10, **kw)
    assert res.provenance["instrument"]["divergence_slit_deg"] == 0.625
    assert abs(res.amorphous_fraction[0] - truth) < 3 * res.amorphous_fraction[1]
    assert any(w.startswith("divergence slit 0.625° as the file says") and "overspill" in w for w in res.warnings)
    assert res.verdict == "ok"  # the file's slit is said, not flagged
    nominal = quantify(path, sample_length=10, **kw)  # no slit in an .xye: the instrument's 1.25°
    assert nominal.provenance["instrument"]["divergence_slit_deg"] == 1.25
    assert truth - nominal.amorphous_fraction[0] > 0.015 > abs(res.amorphous_fraction[0] - truth)
