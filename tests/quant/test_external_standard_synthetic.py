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
