"""Synthetic check of all three amorphous routes on patterns xrdq did not simulate.

Crystalline part: GSAS-II patterns of scale series S1 (reference_patterns/validation/gsas2, one absolute scale K
for the pure corundum and the oxide mixture). Amorphous part: the halo of the MEASURED pure silica
(../shared/data/qpa/cpd-pure/SILICA.PRN, as fitted humps) added at a known weight fraction with the physics of
an infinitely thick specimen (:func:`xrdq.validation_external.with_silica`). One pattern (20 % silica)
calibrates the PONKCS silica by its known crystalline fractions; another (40 %) is quantified by the internal
standard (LiF), the external standard (G from the GSAS-II pure corundum) and PONKCS. Issue #12 asks for 1 wt%
by all three: met by the two standards, not by PONKCS (docs/validation-external.md).
"""

import pytest

from xrdq.validation_external import S1, silica_halo, three_routes


def test_three_routes_recover_the_amorphous_fraction(shared_data):
    if not (S1 / "oxide_a00.xye").exists():
        pytest.skip(f"{S1} (GSAS-II validation set, scale series S1) is absent")
    if not (shared_data / "qpa" / "cpd-pure" / "SILICA.PRN").exists():
        pytest.skip("../shared/data/qpa/cpd-pure/SILICA.PRN is absent")
    (f, truth, res), = three_routes(silica_halo(shared_data), fractions=(0.4,))
    est = res.amorphous_estimates
    assert set(est) == {"internal_standard", "external_standard", "ponkcs"}
    # internal and external standard: within 1 wt% (measured −0.1 and 0.0); PONKCS calibrated in a mixture with
    # 20 % halo is not that good (measured +4.8 ± 3.5 wt%: the broad halo trades with the background) but
    # its esd says so, and the consistency test flags a disagreement beyond 2 combined esds
    for route in ("internal_standard", "external_standard"):
        assert est[route][0] == pytest.approx(truth, abs=0.01), (route, est, truth)
    value, esd = est["ponkcs"]
    assert abs(value - truth) <= 2.5 * esd and esd < 0.06, (value, esd, truth)
    assert (res.amorphous_consistency > 2) == any("disagree" in w for w in res.warnings)


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
