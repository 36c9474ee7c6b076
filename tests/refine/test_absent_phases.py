"""A declared phase without signal is held at its structure, released once it shows, and reported once."""

import numpy as np
import pytest

from xrdq.crystal import load_phase
from xrdq.model.instrument import load_instrument
from xrdq.model.pattern import PhaseModel, PhaseParams, Specimen
from xrdq.quant.verdict import check_warnings
from xrdq.refine import default_recipe
from xrdq.refine import fit as fit_module
from xrdq.refine.fit import Refinement

INST = load_instrument("miniflex600")
TT = np.arange(15.0, 80.0, 0.02)


def pattern(amounts, *, displacement_um=0.0, halo=0.0, counts=30000.0, seed=3):
    """Phases at relative ``amounts`` (xrdq's own model: a test of the mechanism, not of accuracy), a
    background, and a Gaussian halo at 28° of ``halo`` × the strongest Bragg peak's height."""
    y = np.zeros_like(TT)
    for name, w in amounts.items():
        ph = load_phase(name)
        prof = PhaseModel(ph, INST, (TT[0], TT[-1])).profile(TT, PhaseParams(), INST,
                                                              Specimen(displacement_um=displacement_um))
        y += w / (ph.cell_mass * ph.volume) * prof
    y = y / y.max() * counts + halo * counts * np.exp(-0.5 * ((TT - 28.0) / 4.0) ** 2) + 200.0 + 2000.0 / TT
    obs = np.random.default_rng(seed).poisson(y).astype(float)
    return obs, np.sqrt(np.maximum(obs, 1.0))


def refine(obs, esd, names, **recipe_options):
    ref = Refinement(TT, obs, esd, [load_phase(n) for n in names], INST, recipe=default_recipe(**recipe_options))
    return ref, ref.run()


def test_an_absent_phase_is_held_at_its_structure_and_reported_once():
    """LiF and a halo, ZnO declared as well (a nominal phase of an amorphous sample): ZnO has no peaks to fix
    its cell or size, so neither is refined — refined, they walk onto the halo."""
    obs, esd = pattern({"LiF": 1.0}, halo=0.05)
    ref, res = refine(obs, esd, ["LiF", "ZnO"], humps=[(28.0, 9.0)])
    assert set(ref.held_phases) == {"ZnO"}
    zno = load_phase("ZnO")
    for key, value in zno.cell_parameters().items():
        v, e = res.parameters[f"ZnO_{key}"]
        assert v == value and np.isnan(e), (key, v, e)  # at the structure's, never varied
    assert res.parameters["ZnO_size_broadening"][0] == 0.0
    assert not any(d["term"].endswith("ZnO") or "ZnO [" in d["term"] for d in res.decisions), res.decisions
    notes = [w for w in res.warnings if "ZnO" in w]
    assert len(notes) == 1 and notes[0].startswith("ZnO not detected (scale"), notes
    assert [f.level for f in check_warnings(notes)] == ["ok"]
    held = res.recipe[-1]["held_phases"]["ZnO"]
    assert held["stage"] == "background + scales" and held["detected"] is False
    # the standard's own refinement is untouched by it
    assert "LiF" not in ref.held_phases and res.scales["LiF"][0] > 100 * res.scales["LiF"][1]


@pytest.mark.parametrize("displacement_um", [400.0, 700.0])
def test_phases_weak_before_anything_is_aligned_are_released_when_they_show(displacement_um):
    """Hundreds of µm of displacement put every peak off its structure's position. At 400 µm LiF is not
    significant at the first stage (ZnO is): it is held until the displacement is refined, then released and
    the stage runs again with its cell. At 700 µm neither is significant: nothing is held, since then the
    positions are off, not the phases absent (held, both stayed out and the displacement went to −870 µm)."""
    obs, esd = pattern({"LiF": 0.5, "ZnO": 0.5}, displacement_um=displacement_um)
    ref, res = refine(obs, esd, ["LiF", "ZnO"])
    assert set(ref.released_phases) == ({"LiF"} if displacement_um < 500 else set()), ref.released_phases
    assert all(r["significance"] < fit_module.SIGNIFICANT_SCALE <= r["significance_then"]
               for r in ref.released_phases.values())
    assert not ref.held_phases and not any("not detected" in w for w in res.warnings)
    assert res.gof < 1.1
    if displacement_um < 500:
        assert res.parameters["displacement_um"][0] == pytest.approx(displacement_um, abs=3.0)
    assert not np.isnan(res.parameters["ZnO_a"][1])  # refined after its release
    zmv = {n: res.phase_info[n]["cell_mass"] * res.phase_info[n]["volume"] for n in ("LiF", "ZnO")}
    w = {n: res.scales[n][0] * zmv[n] for n in zmv}
    assert w["ZnO"] / (w["LiF"] + w["ZnO"]) == pytest.approx(0.5, abs=0.01)


def test_a_held_phase_significant_at_the_end_is_a_check(monkeypatch):
    """A phase held after the first stage whose scale is significant at the end was fitted with the
    structure's cell and no size: its fraction may be biased, which the verdict must not call ok."""
    obs, esd = pattern({"LiF": 0.5, "ZnO": 0.5})
    ref = Refinement(TT, obs, esd, [load_phase("LiF"), load_phase("ZnO")], INST, recipe=default_recipe())
    ref.held_phases = {"ZnO": {"significance": 1.0, "stage": "background + scales"}}
    notes = ref._held_warnings({"ZnO": (1.0, 0.01)})
    assert notes[0].startswith("ZnO: scale significant only at the end (+100.0 esd")
    assert [f.level for f in check_warnings(notes)] == ["check"]
    assert ref._held_warnings({"ZnO": (0.02, 0.01)})[0].startswith("ZnO not detected (scale +2.0 esd")


def test_nothing_is_held_without_the_adaptive_recipe():
    obs, esd = pattern({"LiF": 1.0}, halo=0.05)
    ref, _ = refine(obs, esd, ["LiF", "ZnO"], humps=[(28.0, 9.0)], adaptive=False)
    assert not ref.held_phases


def test_a_parameter_resting_on_a_zero_bound_is_an_answer_not_a_fault():
    """No tanθ Lorentzian (Y = 0) is physical; a displacement at +1000 µm is the edge of the plausible range."""
    from xrdq.refine.diagnostics import at_bound

    obs, esd = pattern({"LiF": 1.0})
    ref = Refinement(TT, obs, esd, [load_phase("LiF")], INST, recipe=default_recipe())
    ref.params["Y"].value = 3e-8
    ref.params["displacement_um"].value = 999.9999
    ref.params["zero"].value = -0.2
    assert at_bound(["Y", "displacement_um", "zero"], ref) == ["displacement_um"]
    ref.params["displacement_um"].value = 999.5
    assert at_bound(["displacement_um"], ref) == [] and at_bound(["displacement_um"], ref, 1e-3) == ["displacement_um"]


def test_a_phase_that_vanishes_on_the_way_is_held_at_the_end(monkeypatch):
    """A phase that shows at the first stage but not at the end (its peaks took part of a halo the stiff first
    background left, until the humps took it back) had its cell and size refined on nothing: at the end it is
    held at its structure, refined once more, and reported as not detected — as one held from the start is.
    Here the first-stage judgement is switched off so that ZnO, absent, is refined all the way."""
    monkeypatch.setattr(Refinement, "_judge_phases", lambda self, stage, index, final, entry, start: entry)
    obs, esd = pattern({"LiF": 1.0}, halo=0.05)
    ref, res = refine(obs, esd, ["LiF", "ZnO"], humps=[(28.0, 9.0)])
    assert set(ref.held_phases) == {"ZnO"}
    held = res.recipe[-1]["held_phases"]["ZnO"]
    assert held["stage"].startswith("the adaptive terms") and held["detected"] is False
    assert held["significance"] < fit_module.SIGNIFICANT_SCALE
    zno = load_phase("ZnO")
    for key, value in zno.cell_parameters().items():
        v, e = res.parameters[f"ZnO_{key}"]
        assert v == value and np.isnan(e), (key, v, e)  # back at the structure's, not varied in the last run
    assert res.parameters["ZnO_size_broadening"][0] == 0.0
    notes = [w for w in res.warnings if "ZnO" in w]
    assert len(notes) == 1 and notes[0].startswith("ZnO not detected (scale"), notes
    assert [f.level for f in check_warnings(notes)] == ["ok"]
    assert res.converged and res.gof < 1.1
    assert "LiF" not in ref.held_phases and res.scales["LiF"][0] > 100 * res.scales["LiF"][1]


def test_a_phase_present_throughout_is_not_held_at_the_end():
    obs, esd = pattern({"LiF": 0.5, "ZnO": 0.5}, halo=0.05)
    ref, res = refine(obs, esd, ["LiF", "ZnO"], humps=[(28.0, 9.0)])
    assert not ref.held_phases and not np.isnan(res.parameters["ZnO_a"][1])
