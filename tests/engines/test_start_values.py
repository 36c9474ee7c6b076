"""GSAS-II start values from a native refinement (no GSAS-II needed: pure unit conversion)."""

import numpy as np
import pytest

import xrdq
from xrdq.cli.gsas2_commands import native_start_values
from xrdq.model.simulate import simulate


def test_native_start_values_are_in_gsas2_units():
    pattern, _ = simulate([("LiF", 0.5), ("LiCl", 0.5)], seed=4, two_theta=(15.0, 80.0, 0.02))
    res = xrdq.quantify(pattern, phases=["LiCl"], standard=("LiF", 0.5))
    p = {k: v for k, (v, _) in res.refinement.parameters.items()}
    sv = native_start_values(res)
    # GSAS-II's U V W are the Gaussian variance σ² = FWHM²/(8 ln 2) in centidegrees²; X Y centidegrees
    assert sv["profile"]["U"] == pytest.approx(p["U"] * 1e4 / (8 * np.log(2)))
    assert sv["profile"]["W"] == pytest.approx(p["W"] * 1e4 / (8 * np.log(2)))
    assert sv["profile"]["X"] == pytest.approx(p["X"] * 100)
    assert sv["profile"]["SH/L"] == pytest.approx(2 * p["asymmetry"])
    # phase fractions ∝ W / (ZM), the largest 1
    assert max(sv["phase_fractions"].values()) == pytest.approx(1.0)
