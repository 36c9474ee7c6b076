"""Synthetic check of all three amorphous routes on patterns xrdq did not simulate.

Crystalline part: GSAS-II patterns of scale series S1 (reference_patterns/validation/gsas2, one absolute scale K
for the pure corundum and the oxide mixture). Amorphous part: the halo of the MEASURED pure silica
(../shared/data/qpa/cpd-pure/SILICA.PRN, as fitted humps) added at a known weight fraction with the physics of
an infinitely thick specimen and Poisson-like noise (:func:`xrdq.validation_external.with_silica`). The PONKCS
silica is calibrated, as issue #12 asks, on the pure-silica pattern with G (from the GSAS-II pure corundum);
the mixtures at 10, 40 and 70 % silica are quantified by the internal standard (LiF), the external standard
and PONKCS. Issue #12 asks for 1 wt% by all three. At the S1 counts the two standards meet it; PONKCS is within
its (honest) uncertainty, but that uncertainty is 1.3–1.7 wt%. Counted 100 times as long, all three meet it
(docs/validation-external.md).
"""

import numpy as np
import pytest

from xrdq.quant.external_standard import calibrate_scale
from xrdq.quant.uncertainty import table_intensity_ratios
from xrdq.validation_external import S1, silica_halo, three_routes, with_silica


@pytest.fixture(scope="module")
def halo(shared_data):
    if not (S1 / "oxide_a00.xye").exists():
        pytest.skip(f"{S1} (GSAS-II validation set, scale series S1) is absent")
    if not (shared_data / "qpa" / "cpd-pure" / "SILICA.PRN").exists():
        pytest.skip("../shared/data/qpa/cpd-pure/SILICA.PRN is absent")
    return silica_halo(shared_data)


@pytest.fixture(scope="module")
def routes(halo):
    return three_routes(halo, fractions=(0.1, 0.4, 0.7), seeds=(2,))


def test_synthetic_patterns_carry_poisson_like_noise(halo):
    """The GSAS-II counts are scaled by s < 1, which shrinks their noise; the missing variance is added, so the
    pattern's esd √y is its noise (scaling alone fitted the pure-silica pattern with GoF 0.66)."""
    from xrdq.quant.ponkcs import fit_humps

    pattern, mixture = with_silica(halo, 1.0, seed=1)
    assert mixture["SiO2"] == 1.0 and mixture["LiF"] == 0.0
    tt, y = pattern["two_theta"].values, pattern.values
    fit = fit_humps(tt, y, np.sqrt(np.maximum(y, 1.0)))
    assert 0.95 < fit["gof"] < 1.05, fit["gof"]
    again, _ = with_silica(halo, 1.0, seed=1)
    assert np.array_equal(again.values, y)  # a seed is one pattern: the cases below are reproducible


def test_pure_silica_calibration_records_the_refinements_background(routes):
    from xrdq.refine.recipe import default_recipe

    silica, _ = routes
    cal = silica.calibration
    assert cal["background_terms"] == default_recipe().background_terms
    # the curve's scale as the refinement can know it beside that background, and G's: a few per mille to 2 %
    assert 0.002 < silica.zmv_esd / silica.zmv < 0.02 and cal["scale_rel_esd"] <= silica.zmv_esd / silica.zmv


def test_pure_silica_calibration_is_unbiased_and_its_esd_covers_its_scatter(halo):
    """Eight noise realisations of the calibration pattern: the curve's effective scale (as a refinement beside the
    8-term background sees it) averages to 1 and scatters by no more than the σ(ZMV) each file claims. Measured
    over 12: mean 0.998, scatter 0.96 % against 1.26 % claimed."""
    from xrdq.quant.external_standard import calibrate_scale
    from xrdq.validation_external import calibration_scatter

    g, _ = calibrate_scale(S1 / "pure_Al2O3.xye", ["Al2O3"], instrument="miniflex600", model_uncertainty="off")
    a, claimed = calibration_scatter(halo, g, seeds=range(1, 9))
    scatter = a.std(ddof=1)
    assert abs(a.mean() - 1.0) < 3 * scatter / np.sqrt(a.size), a
    assert 0.3 * claimed.mean() < scatter < 1.5 * claimed.mean(), (scatter, claimed)


def test_three_routes_recover_the_amorphous_fraction(routes):
    """Measured (docs/validation-external.md, seed 2): internal +0.4, +0.2, +0.1, external −0.2, +0.1, +0.2 wt%;
    PONKCS −2.0, −0.8, +0.1 with esd 1.3–1.7 wt% — every PONKCS error inside 2 esd, and the consistency test
    does not cry wolf."""
    _, rows = routes
    for f, seed, truth, res in rows:
        est = res.amorphous_estimates
        assert set(est) == {"internal_standard", "external_standard", "ponkcs"}
        for route in ("internal_standard", "external_standard"):
            assert est[route][0] == pytest.approx(truth, abs=0.01), (f, route, est, truth)
        value, esd = est["ponkcs"]
        assert abs(value - truth) <= 2 * esd and esd < 0.025, (f, value, esd, truth)
        assert (res.amorphous_consistency > 2) == any("disagree" in w for w in res.warnings)


def test_ponkcs_calibrated_in_a_mixture_by_known_fractions(halo):
    """The other calibration: silica from the 20 % mixture by its known crystalline fractions (no G), used on the
    40 % mixture with the spike. Its σ(ZMV) carries the crystalline scales' esds; the error stays inside 2 esd."""
    from xrdq.quant.api import quantify
    from xrdq.quant.ponkcs import calibrate_ponkcs

    crystalline = ["Al2O3", "ZnO", "CaF2", "LiF"]
    cal, cal_mix = with_silica(halo, 0.2, seed=1)
    silica, details = calibrate_ponkcs(cal, "silica", "SiO2", instrument="miniflex600", phases=crystalline,
                                       known={k: cal_mix[k] for k in crystalline}, model_uncertainty="off")
    assert "known fractions" in silica.calibration["basis"] and 0.005 < silica.zmv_esd / silica.zmv < 0.1
    # the known phases' Σ S(ZMV) under the other f′, f″ table, on which the ZMV rests (Ca and Zn move most)
    ratios = table_intensity_ratios(details["refinement"].fit)
    m = {k: details["crystalline"][k][0] * (details["refinement"].phase_info[k]["cell_mass"]
                                            * details["refinement"].phase_info[k]["volume"]) for k in crystalline}
    expected = sum(m.values()) / sum(v / ratios[k] for k, v in m.items())
    assert silica.calibration["anomalous_table_ratio"] == pytest.approx(expected, rel=1e-12)
    assert abs(expected - 1.0) > 1e-4
    pattern, mix = with_silica(halo, 0.4, seed=2)
    w_s = mix.pop("LiF")
    truth = mix["SiO2"] / (1 - w_s)
    res = quantify(pattern, phases=crystalline[:3] + [silica], standard=("LiF", w_s), instrument="miniflex600",
                   model_uncertainty="off")
    value, esd = res.amorphous_estimates["ponkcs"]
    assert abs(value - truth) <= 2 * esd and esd < 0.04, (value, esd, truth)



def test_ponkcs_alone_reports_the_models_own_uncertainty(routes, halo):
    """Neither standard: the amorphous fraction is the PONKCS phase's share of every modelled phase, and its u holds
    the recipe variants and microabsorption like the other routes' (it was the esd alone)."""
    from xrdq.quant.api import quantify

    silica, _ = routes
    pattern, mix = with_silica(halo, 0.4, seed=2)
    res = quantify(pattern, phases=["Al2O3", "ZnO", "CaF2", "LiF", silica], standard=None, instrument="miniflex600")
    assert set(res.amorphous_estimates) == {"ponkcs"}
    value, esd = res.amorphous_fraction
    assert value == pytest.approx(res.refined_fractions[silica.name][0])
    assert res.model_uncertainty["amorphous"] > 0 and res.uncertainty["amorphous"] > esd
    assert abs(value - mix["SiO2"]) <= 2 * res.uncertainty["amorphous"], (value, mix["SiO2"])


def test_every_amorphous_estimate_carries_its_own_uncertainty(routes):
    """Each route's estimate gets u from the same variants as the reported value (its own arithmetic re-run on each
    variant's scales): the JSON's "uncertainty" is that u, "esd" the statistical part. A PONKCS phase has no density,
    so Brindley leaves it (τ = 1) and the variants never push a background below its calibration's order: before,
    a density of 431 g/cm³ and the 4-term background gave the PONKCS estimate u = 216 wt%."""
    _, rows = routes
    for f, seed, truth, res in rows:
        est = res.to_dict()["amorphous_estimates"]
        assert set(est) == {"internal_standard", "external_standard", "ponkcs"}
        for route, e in est.items():
            assert e["esd"] <= e["uncertainty"] < 0.05, (f, route, e)
            assert abs(e["value"] - truth) <= 2 * e["uncertainty"], (f, route, e, truth)
        assert est["internal_standard"]["uncertainty"] == pytest.approx(res.uncertainty["amorphous"])
        assert res.brindley_tau["silica"] == 1.0 and np.isnan(res.refinement.phase_info["silica"]["density"])
        log = {v["variant"]: v for v in res.provenance["model_uncertainty"]["variants"]}
        assert "below the 8 terms a PONKCS phase was calibrated beside" in log["background 4 terms"]["left_out"]
        assert res.verdict == "ok", res.verdict_reasons  # a PONKCS curve has no reflections, in range or out

@pytest.mark.slow
def test_all_three_routes_within_one_wt_percent_where_counting_can_show_it(halo):
    """Issue #12's synthetic check. At the S1 counts PONKCS's own esd is 1.3–1.7 wt% (the halo curve is nearly
    degenerate with an 8-term background), so no pattern there can show 1 wt% (test above: within 2 esd). Counted
    100 times as long — the Bragg part from the noise-free GSAS-II twin, Poisson noise of the whole, the counting
    time recorded so that G's count factor carries it — every route must land within 1 wt% of the truth, and within
    2 u. Measured (seeds 2–4): internal ≤ 0.20, external ≤ 0.34, PONKCS ≤ 0.35 wt% (docs/validation-external.md)."""
    silica, rows = three_routes(halo, fractions=(0.0, 0.1, 0.4, 0.7), seeds=(2, 3), counts_factor=100.0)
    assert "counting time per step 100/1" in silica.calibration["basis"]  # G scaled by the recorded counting times
    for f, seed, truth, res in rows:
        est = res.to_dict()["amorphous_estimates"]
        assert set(est) == {"internal_standard", "external_standard", "ponkcs"}
        for route, e in est.items():
            assert abs(e["value"] - truth) <= 0.01, (f, seed, route, e, truth)
            assert abs(e["value"] - truth) <= 2 * e["uncertainty"], (f, seed, route, e, truth)
            assert e["esd"] < 0.01  # the check resolves 1 wt%


def test_counting_longer_scales_the_pattern_not_the_truth(halo):
    """with_silica(counts_factor=N): N times the noise-free twin's counts (so the mean over seeds is N × the twin
    above the 1× pattern's own noise), the counting time recorded, the mixture unchanged."""
    one, mix1 = with_silica(halo, 0.4, seed=2)
    ten, mix10 = with_silica(halo, 0.4, seed=2, counts_factor=10.0)
    assert mix1 == mix10 and ten.attrs["count_time_s"] == 10.0 and "count_time_s" not in one.attrs
    y1, y10 = one.values, ten.values
    assert np.all(y10 == np.round(y10))  # Poisson counts
    ratio = y10.sum() / y1.sum()
    assert abs(ratio - 10.0) < 0.05, ratio
    # the noise is the counts' own: (y − N·E)/√(N·E) has unit variance against the twin
    twin, _ = with_silica(halo, 0.4, seed=3, counts_factor=10.0)
    assert 0.9 < np.var((y10 - twin.values) / np.sqrt(y10 + twin.values)) < 1.1


def test_disagreeing_estimates_make_the_verdict_check():
    """A wrong bulk composition (µ* 3× too high) puts the external standard far from the internal one."""
    import json

    from xrdq.quant.api import quantify
    from xrdq.quant.external_standard import calibrate_scale

    if not (S1 / "alumina_a75.xye").exists():
        pytest.skip(f"{S1} (GSAS-II validation set, scale series S1) is absent")
    t = json.loads((S1 / "alumina_a75.truth.json").read_text())
    g, _ = calibrate_scale(S1 / "pure_Al2O3.xye", ["Al2O3"], instrument="miniflex600", model_uncertainty="off")
    std = t["standard"]
    kw = dict(phases=["Al2O3"], standard=(std["phase"], std["weighed_fraction"]), purity=std["purity"],
              instrument="miniflex600", external_standard=g, model_uncertainty="off")
    right = quantify(S1 / "alumina_a75.xye", sample_composition="Al2O3:0.25,SiO2:0.75", **kw)
    assert right.amorphous_consistency < 2 and not any("disagree" in r for r in right.verdict_reasons)
    wrong = quantify(S1 / "alumina_a75.xye", sample_composition="Al2O3:0.25,ZrO2:0.75", **kw)
    assert wrong.amorphous_consistency > 2 and wrong.verdict in ("check", "fail")
    assert any("amorphous estimates disagree" in r for r in wrong.verdict_reasons)
    data = wrong.to_dict()
    assert data["amorphous_consistency"] == pytest.approx(wrong.amorphous_consistency)
    assert set(data["amorphous_estimates"]) == {"internal_standard", "external_standard"}


def test_a_ponkcs_zmv_from_a_one_specimen_g_carries_the_assumed_transfer_in_u(routes, halo, tmp_path):
    """The silica's ZMV rests on G from the pure corundum — one specimen — transferred to the silica's own specimen.
    How far G holds from one specimen to another is assumed (±1.4 %, as for G itself): recorded with the phase,
    a model term of u wherever the phase is used, by every route (here the internal standard's)."""
    import dataclasses

    from xrdq.model.ponkcs import read_ponkcs
    from xrdq.quant.api import quantify
    from xrdq.quant.external_standard import G_TRANSFER_REL_SD

    silica, _ = routes
    assert silica.calibration["g_transfer_rel_sd"] == G_TRANSFER_REL_SD
    # and the G's calibrant's ratio of the two f′, f″ tables: the ZMV moves with G in that member of u
    g, _ = calibrate_scale(S1 / "pure_Al2O3.xye", ["Al2O3"], instrument="miniflex600", model_uncertainty="off")
    assert silica.calibration["anomalous_table_ratio"] == pytest.approx(g.anomalous_table_ratio, rel=1e-9)
    assert read_ponkcs(silica.write(tmp_path / "silica.phase.toml")).calibration["g_transfer_rel_sd"] == G_TRANSFER_REL_SD
    pattern, mix = with_silica(halo, 0.4, seed=2)
    w_s = mix.pop("LiF")
    measured = dataclasses.replace(silica, calibration={k: v for k, v in silica.calibration.items()
                                                        if k != "g_transfer_rel_sd"})
    out = {}
    for label, phase in (("assumed", silica), ("measured", measured)):
        res = quantify(pattern, phases=["Al2O3", "ZnO", "CaF2", phase], standard=("LiF", w_s), instrument="miniflex600",
                       model_uncertainty="fast")
        out[label] = res
    terms = [v for v in out["assumed"].provenance["model_uncertainty"]["variants"] if v["variant"].startswith("PONKCS silica: G transferred")]
    assert len(terms) == 1
    assert abs(terms[0]["shifts"]["amorphous"]) < 1e-12  # the internal standard's estimate does not rest on the ZMV
    assert not any(v["variant"].startswith("PONKCS") for v in out["measured"].provenance["model_uncertainty"]["variants"])
    value = out["assumed"].amorphous_estimates["ponkcs"][0]
    u_assumed = out["assumed"].to_dict()["amorphous_estimates"]["ponkcs"]["uncertainty"]
    u_measured = out["measured"].to_dict()["amorphous_estimates"]["ponkcs"]["uncertainty"]
    # the ZMV 1.4 % larger moves the silica's mass, and the PONKCS estimate with it, by 1.4 % of itself
    assert np.sqrt(u_assumed**2 - u_measured**2) == pytest.approx(G_TRANSFER_REL_SD * value, rel=0.05)
