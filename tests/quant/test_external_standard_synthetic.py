"""Synthetic check of all three amorphous routes on patterns xrdq did not simulate.

Crystalline part: GSAS-II patterns of scale series S1 (reference_patterns/validation/gsas2, one absolute scale K
for the pure corundum and the oxide mixture). Amorphous part: the halo of the MEASURED pure silica
(../shared/data/qpa/cpd-pure/SILICA.PRN, as fitted humps) added at a known weight fraction with the physics of
an infinitely thick specimen (:func:`xrdq.validation_external.with_silica`). One pattern (20 % silica)
calibrates the PONKCS silica by its known crystalline fractions; another (40 %) is quantified by the internal
standard (LiF), the external standard (G from the GSAS-II pure corundum) and PONKCS.
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
    for route, (value, esd) in est.items():  # measured: +0.40, +0.42, +0.64 wt% (truth 45.45)
        assert value == pytest.approx(truth, abs=0.01), (route, value, truth, est)
    assert res.amorphous_consistency < 2 and not any("disagree" in w for w in res.warnings)
