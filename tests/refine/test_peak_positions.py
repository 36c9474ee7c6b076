"""Calculated peak positions of corundum, fluorite and zincite sit on the real CPD-1D peaks."""

import numpy as np
import pytest

import xrdq


def _observed_centroid(tt, y, bkg, center, half_width):
    sel = np.abs(tt - center) < half_width
    w = np.clip(y[sel] - bkg[sel], 0, None)
    return float(np.sum(tt[sel] * w) / np.sum(w))


def test_strong_peaks_of_all_three_phases_match_the_pattern(shared_data):
    res = xrdq.quantify(shared_data / "qpa" / "cpd1" / "CPD-1D.xye", phases=["Al2O3", "ZnO", "CaF2"], standard=None,
                        instrument="cpd-pw3020", two_theta_range=(15.0, 145.0))
    ref = res.refinement
    checked = 0
    for name in ("Al2O3", "ZnO", "CaF2"):
        comp = ref.components[name]
        ticks, _ = ref.ticks[name]
        # isolated, strong Kα1 peaks below 80° (the doublet is resolved above): the centroid of the
        # calculated component must sit where the observed intensity's centroid sits
        for t in ticks[(ticks > 20) & (ticks < 80)]:
            win = np.abs(ref.two_theta - t) < 0.12
            others = sum(ref.components[o] for o in ("Al2O3", "ZnO", "CaF2") if o != name)
            if comp[win].max() < 0.2 * comp.max() or others[win].max() > 0.02 * comp[win].max():
                continue
            calc_c = _observed_centroid(ref.two_theta, ref.background + comp, ref.background, t, 0.12)
            obs_c = _observed_centroid(ref.two_theta, ref.observed, ref.background, t, 0.12)
            # measured: ≤ 0.0015° with zero + displacement; ≤ 0.0044° (corundum 012 at 25.6°, the rest ≤ 0.0023°)
            # since the specimen transparency is refined too — three correlated position terms (docs/method.md §2)
            assert obs_c == pytest.approx(calc_c, abs=0.005), (name, t)
            checked += 1
    assert checked >= 6
