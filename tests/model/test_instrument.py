import numpy as np
import pytest

from xrdq.errors import XrdqInstrumentError
from xrdq.model.instrument import Instrument, list_instruments, load_instrument


def test_bundled_instruments_load():
    assert {"miniflex600", "cpd-pw3020"} <= set(list_instruments())
    mf = load_instrument("miniflex600")
    assert mf.radius_mm == 150.0 and mf.monochromator_two_theta is None
    assert mf.wavelengths[0] == (1.540593, 1.0) and mf.wavelengths[1] == (1.544427, 0.5)
    cpd = load_instrument("cpd-pw3020")
    assert cpd.radius_mm == 173.0 and 0.75 < cpd.polarization_factor < 0.85


def test_toml_round_trip(tmp_path):
    inst = load_instrument("miniflex600").replace(U=0.0123, zero=-0.02)
    path = inst.write_toml(tmp_path / "mine.toml")
    again = load_instrument(path)
    assert again.U == pytest.approx(0.0123) and again.zero == pytest.approx(-0.02)
    assert again.wavelengths == inst.wavelengths


def test_instprm_round_trip_keeps_profile_units():
    inst = load_instrument("cpd-pw3020")
    text = inst.to_instprm()
    # GSAS-II's U V W are the Gaussian variance σ² = FWHM²/(8 ln 2) in centidegrees² (getFCJVoigt3: "sig:
    # Gaussian variance"), X Y the Lorentzian FWHM in centidegrees
    assert f"U:{inst.U * 1e4 / (8 * np.log(2)):.6f}" in text and f"X:{inst.X * 100:.4f}" in text
    assert "Gonio. radius:173.0" in text and "Type:PXC" in text
    back = Instrument.from_instprm(text)
    assert back.U == pytest.approx(inst.U) and back.X == pytest.approx(inst.X)
    assert back.radius_mm == pytest.approx(173.0)
    assert back.monochromator_two_theta == pytest.approx(26.57, abs=0.01)


def test_bad_instrument_inputs(tmp_path):
    with pytest.raises(XrdqInstrumentError, match="unknown instrument"):
        load_instrument("no-such-diffractometer")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nwavelengths = [[1.540593, 1.0]]\nradius_mm = "far"\n')
    with pytest.raises(XrdqInstrumentError, match="radius_mm"):
        load_instrument(bad)
    bad.write_text('name = "x"\nsoller = 2\n')
    with pytest.raises(XrdqInstrumentError, match="unknown field"):
        load_instrument(bad)
    with pytest.raises(XrdqInstrumentError, match="line 2"):
        Instrument.from_instprm("Type:PXC\nthis line has no colon\n")


@pytest.mark.parametrize("body, match", [
    ("", r"bad\.toml: no 'wavelengths' or 'radius_mm'"),  # an empty file was MiniFlex Cu Kα without a word
    ('wavelengths = [[1.540593, 1.0]]\n', r"no 'radius_mm'"),
    ('radius_mm = 150\n', r"no 'wavelengths'"),
    ('wavelengths = [[1.540593, 0.0]]\nradius_mm = 150\n', "every wavelength has relative intensity 0"),
    ('wavelengths = [[1.540593, 1.0]]\nradius_mm = 150\nU = nan\n', r"field 'U' = nan; expected a finite number"),
    ('wavelengths = [[1.540593, 1.0]]\nradius_mm = 150\nX = inf\n', r"field 'X' = inf"),
    ('wavelengths = [[1.540593, nan]]\nradius_mm = 150\n', "not a lab X-ray line"),
    ('wavelengths = [[1.540593, 1.0]]\nradius_mm = 150\ndivergence_slit_deg = 0\n', "divergence_slit_deg = 0;"),
    ('wavelengths = [[1.540593, 1.0]]\nradius_mm = 150\ndivergence_slit_deg = 90\n', "divergence_slit_deg = 90;"),
    ('wavelengths = [[1.540593, 1.0]]\nradius_mm = 150\nsoller_deg = -2\n', "'soller_deg' = -2; expected a positive"),
    ('wavelengths = [[1.540593, 1.0]]\nradius_mm = 150\nmonochromator_two_theta = 200\n', "monochromator_two_theta"),
])
def test_an_instrument_file_states_its_geometry_and_finite_numbers(tmp_path, body, match):
    """Each of these was accepted: NaN reached the fit as an SVD failure, the rest gave numbers with verdict ok."""
    bad = tmp_path / "bad.toml"
    bad.write_text(body)
    with pytest.raises(XrdqInstrumentError, match=match):
        load_instrument(bad)
