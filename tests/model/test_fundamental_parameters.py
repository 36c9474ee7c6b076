"""The fundamental-parameters profile: each aberration against its closed form."""

import numpy as np
import pytest

import xrdq
from xrdq.model.instrument import load_instrument
from xrdq.model.profile import CU_KA_ENERGY_EV, CU_KA_FWHM_EV, fp_widths
from xrdq.model.simulate import simulate


def test_fp_widths_follow_the_geometry():
    inst = load_instrument("miniflex600-fp")
    hg, hl, shift = fp_widths(np.array([20.0, 90.0, 140.0]), inst)
    # emission: 2 tanθ ΔE/E, in degrees; at 2θ = 90° tanθ = 1
    assert hl[1] == pytest.approx(np.degrees(2 * CU_KA_FWHM_EV[0] / CU_KA_ENERGY_EV[0]), rel=1e-12)
    assert hl[0] < hl[1] < hl[2]
    # flat specimen: ε = α² cotθ / 2 → the Gaussian width falls and the shift (−ε/3) shrinks with angle
    eps20 = np.radians(1.25) ** 2 / (2 * np.tan(np.radians(10.0)))
    assert shift[0] == pytest.approx(-np.degrees(eps20 / 3), rel=1e-12)
    assert shift[0] < shift[1] < 0 < hg[2]
    assert hg[0] > hg[1]


def test_fp_instrument_simulates_and_quantifies():
    pattern, truth = simulate([("LiF", 0.5), ("LiCl", 0.3)], amorphous=0.2, standard="LiF",
                                                  instrument="miniflex600-fp", seed=4, size_nm={"LiCl": 60.0})
    res = xrdq.quantify(pattern, phases=["LiCl"], standard=("LiF", 0.5), instrument="miniflex600-fp")
    assert res.gof < 1.1
    assert res.amorphous_fraction[0] == pytest.approx(truth["amorphous_fraction"], abs=0.005)


def test_unknown_profile_kind_is_an_error(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('name = "x"\nwavelengths = [[1.540593, 1.0]]\nradius_mm = 150.0\nprofile = "bgmn"\n')
    with pytest.raises(xrdq.XrdqInstrumentError, match="profile must be 'tch' or 'fp'"):
        load_instrument(path)
