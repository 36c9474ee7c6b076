"""A specimen too thin to stop the beam (a smear of a light powder on a zero-background plate) gives each reflection
1 − exp(−2µt/sinθ) of an infinitely thick one's intensity, losing most at high angle. Checked on a GSAS-II pattern (not
xrdq's model) with that factor applied to it."""

from __future__ import annotations

import numpy as np
import pytest

from xrdq import quantify
from xrdq.model.pattern import thickness_transmission
from transmitted_case import transmitted_case

#: µt of LiF + a Li halide (µ ≈ 80 cm⁻¹ as packed) in a layer 0.05 mm thick
MU_T = 0.39
TERM = "finite specimen thickness (1/µt)"


@pytest.fixture(scope="module")
def thin(tmp_path_factory):
    """lazco_a40_rep (40 % amorphous) as a 0.05 mm layer: intensity × (1 − exp(−2µt/sinθ)), then Poisson noise."""
    factor = lambda tt: 1.0 - np.exp(-2.0 * MU_T / np.sin(np.radians(tt / 2)))  # noqa: E731
    return transmitted_case(tmp_path_factory.mktemp("thin"), factor, "thin")


def test_the_transmission_is_the_thin_layer_formula():
    tt = np.array([10.0, 40.0, 80.0, 140.0])
    assert thickness_transmission(tt, 0.0) == 1.0  # infinitely thick
    expected = 1.0 - np.exp(-2.0 * 0.5 / np.sin(np.radians(tt / 2)))
    assert thickness_transmission(tt, 2.0) == pytest.approx(expected, rel=1e-12)
    # thinner specimen, less intensity, and least at high angle
    t = thickness_transmission(tt, 2.0)
    assert np.all(np.diff(t) < 0) and np.all(thickness_transmission(tt, 4.0) < t)


def test_an_undeclared_thin_specimen_biases_the_amorphous_content(thin):
    """What the term is for: without it (a recipe that may not add terms) ≈ −4 wt% on this case."""
    from xrdq.refine import default_recipe

    path, kw, truth = thin
    res = quantify(path, recipe=default_recipe(adaptive=False), **kw)
    assert res.amorphous_fraction[0] - truth < -0.02


def test_the_adaptive_recipe_finds_a_thin_specimen(thin):
    path, kw, truth = thin
    res = quantify(path, **kw)
    assert TERM in [d["term"] for d in res.refinement.decisions if d["accepted"]]
    inv, _ = res.refinement.parameters["inv_mu_t"]
    assert 1.0 / inv == pytest.approx(MU_T, rel=0.05)
    assert abs(res.amorphous_fraction[0] - truth) < 3 * res.amorphous_fraction[1]
    note = [w for w in res.warnings if w.startswith("finite specimen thickness found by the data")]
    assert note and "µt = 0.3" in note[0], res.warnings
    assert res.verdict == "ok", res.verdict_reasons
    # u's B variant is the other reading of a high-angle loss: B per phase in place of the thickness
    variants = {v["variant"]: v for v in res.provenance["model_uncertainty"]["variants"]}
    b = variants["overall displacement parameter B per phase refined in place of the finite specimen thickness"]
    assert "amorphous" in (b.get("shifts") or {}), b


def test_an_infinitely_thick_specimen_gets_no_thickness(tmp_path):
    """The same case without the factor: the term is tested and refused, and nothing is said."""
    path, kw, truth = transmitted_case(tmp_path, lambda tt: np.ones_like(tt), "thick")
    res = quantify(path, **kw)
    tested = {d["term"]: d["accepted"] for d in res.refinement.decisions}
    assert tested.get(TERM) is False, tested
    assert res.refinement.parameters["inv_mu_t"][0] == 0.0
    assert not any(w.startswith("finite specimen thickness") for w in res.warnings)


def test_the_note_gives_the_thickness_when_the_penetration_is_refined_too():
    """µt alone needs µ to become a thickness; a refined transparency measures 1/µ, and t = µt/µ is what a user can
    hold against the holder's depth."""
    from xrdq.model.instrument import load_instrument
    from xrdq.refine.diagnostics import specimen_notes

    inst = load_instrument("miniflex600")
    alone = specimen_notes(inst, ["inv_mu_t"], {"inv_mu_t": (1.0 / 1.05, 0.05)})
    assert len(alone) == 1 and "µt = 1.05" in alone[0] and "mm thick" not in alone[0]
    both = specimen_notes(inst, ["inv_mu_t", "penetration_um"],
                          {"inv_mu_t": (1.0 / 1.05, 0.05), "penetration_um": (503.0, 20.0)})
    assert "1/µ = 503 µm that is a layer 0.53 mm thick" in both[0], both
    vague = specimen_notes(inst, ["inv_mu_t"], {"inv_mu_t": (1.0 / 1.05, 0.05), "penetration_um": (30.0, 40.0)})
    assert "mm thick" not in vague[0]  # a penetration within 2 esd of none measures nothing


def test_simulate_makes_a_thin_specimen_and_says_so(tmp_path, capsys):
    """`xrdq simulate --mu-t`: every reflection and the halo (the specimen's scattering) keep 1 − exp(−2µt/sinθ) of a
    thick specimen's, the instrument's background does not; the truth records µt. xrdq's own model, so this checks the
    option, not the physics (which the GSAS-II cases above do)."""
    import json

    from xrdq.cli import main
    from xrdq.errors import XrdqError
    from xrdq.model.simulate import simulate

    mix = [("LiF", 0.5), ("LiCl", 0.3)]
    kw = dict(amorphous=0.2, two_theta=(20.0, 80.0, 0.02), background=0.0)
    thick, _ = simulate(mix, **kw)
    thin, truth = simulate(mix, mu_t=0.5, **kw)
    tt = thick["two_theta"].values
    # each is scaled to its own strongest point, so compare shapes: thin/thick follows the transmission up to a constant
    # (per point for the halo, per reflection for the peaks: their tails reach a degree or two, where it has changed by
    # ≈ 0.4 % per degree)
    ratio = thin.values / thick.values
    i = int(np.argmax(thick.values))
    expected = thickness_transmission(tt, 2.0) / thickness_transmission(tt[i], 2.0)
    assert ratio / ratio[i] == pytest.approx(expected, rel=1e-2)
    assert expected[-1] < 0.9  # the check has teeth: 2θ = 80° keeps 77 % of what 2θ = 40° keeps
    assert truth["mu_t"] == 0.5
    with pytest.raises(XrdqError, match="mu_t"):
        simulate(mix, mu_t=-1.0, **kw)
    def run(argv) -> int:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        return exc.value.code

    out = tmp_path / "thin.ras"
    assert run(["simulate", "--phase", "LiF", "--phase", "LiCl", "--fractions", "0.5,0.3", "--amorphous", "0.2",
                 "--mu-t", "0.4", "--two-theta", "20", "80", "0.02", "--seed", "1", "--out", str(out)]) == 0
    assert json.loads(out.with_suffix(".truth.json").read_text())["mu_t"] == 0.4
    assert run(["simulate", "--phase", "LiF", "--fractions", "1", "--mu-t", "-0.1", "--out", str(out)]) == 2
    assert "--mu-t" in capsys.readouterr().err
