"""Calibration on the real lab LaB6 pattern converges to a sensible instrument."""

import pytest

from xrdq.cli import main
from xrdq.model.instrument import load_instrument
from xrdq.refine.calibrate import calibrate


def test_lab6_calibration_converges(shared_data, tmp_path):
    import xrdq

    pattern = xrdq.load(shared_data / "instrument" / "LaB6_16_03_09_0004.xye")
    pattern.attrs["divergence_slit"] = "0.625deg"  # as a MiniFlex header says it (an .xye says nothing)
    inst, result = calibrate(pattern, phase="LaB6")
    assert inst.divergence_slit_deg == 0.625  # the profile is that slit's: the instrument file records it
    assert result.converged
    assert result.gof < 2.0 and result.rwp < 0.08
    assert abs(inst.zero) < 0.2
    assert 0.005 < inst.s_l < 0.06  # real axial-divergence asymmetry is resolved
    fwhm40 = (inst.U * 0.13 + inst.V * 0.36 + inst.W) ** 0.5  # Gaussian FWHM at 2θ ≈ 40°
    assert 0.01 < fwhm40 < 0.2


def test_calibrate_cli_writes_a_loadable_instrument(shared_data, tmp_path):
    out = tmp_path / "lab.toml"
    with pytest.raises(SystemExit) as exit_:
        main(["calibrate", str(shared_data / "instrument" / "LaB6_16_03_09_0004.xye"), "--phase", "LaB6",
              "--out", str(out), "--plot", str(tmp_path / "cal.png")])
    assert exit_.value.code == 0
    inst = load_instrument(out)
    assert inst.name.endswith("calibrated") and (tmp_path / "cal.png").stat().st_size > 10_000
