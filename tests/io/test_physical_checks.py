"""Every physical quantity a reader returns is finite, in range and consistent with its header — or the
file is refused with an error naming the file, the line or field, and what was expected."""

from __future__ import annotations

import pytest
from io_synth import more_lines, ras_scan, rows3

import xrdq
from xrdq.cli import main
from xrdq.errors import XrdqPhaseError, XrdqReadError


def _err(path, *match):
    with pytest.raises(XrdqReadError) as info:
        xrdq.load_all(path)
    msg = str(info.value)
    assert str(path) in msg, msg
    for m in match:
        assert m in msg, msg
    return info.value


def test_overflowing_attenuator_factor_is_refused(write):
    rows = rows3(5)
    rows[2] = (rows[2][0], 500, "1e308")
    e = _err(write("a.ras", ras_scan(rows)), "attenuator factor 1e+308", "not a finite intensity")
    assert e.line == ras_scan(rows).splitlines().index(f"{rows[2][0]} 500 1e308") + 1


@pytest.mark.parametrize("value", ["1e300", "-1e300", "2e12"])
def test_an_intensity_no_detector_counts_is_refused(write, value):
    """One 1e300 point overflowed the fit's sums of squares and filled the report with 150-digit numbers."""
    rows = rows3(12)
    rows[4] = (rows[4][0], value, rows[4][2])
    text = ras_scan(rows)
    e = _err(write("big.ras", text), "no detector counts more than 1e+12")
    assert e.line == text.splitlines().index(" ".join(map(str, rows[4]))) + 1
    _err(write("big.xy", "".join(f"{10 + 0.02 * i:.2f} {value if i == 4 else 100}\n" for i in range(20))), "1e+12")


@pytest.mark.parametrize("angles", [("-1.0", "0.0", "1.0"), ("179.0", "180.0", "181.0"), ("0.0", "0.5", "1.0")])
def test_two_theta_outside_0_180_is_refused(write, angles):
    text = "".join(f"{a} 100\n" for a in angles)
    _err(write("t.xy", text), "2θ =", "between 0 and 180")


@pytest.mark.parametrize("value", ["0", "4252", "-1.5"])
def test_impossible_header_wavelength_is_refused(write, value):
    text = ras_scan(rows3(5)).replace('*HW_XG_WAVE_LENGTH_ALPHA1 "1.540593"', f'*HW_XG_WAVE_LENGTH_ALPHA1 "{value}"')
    _err(write("w.ras", text), "wavelength_alpha1", "expected a wavelength between")


def test_header_step_contradicting_the_data_is_refused(write):
    _err(write("s.ras", ras_scan(rows3(5), step="0.02")), "header step 0.02", "advance by 0.01")


def test_header_start_contradicting_the_data_is_refused(write):
    _err(write("s.ras", ras_scan(rows3(5), start="12.0")), "scan_start 12", "first data point is at 10")


def test_point_count_is_checked_without_meas_data_count(write):
    """Deleting *MEAS_DATA_COUNT must not switch the point-count check off: start/stop/step still give it."""
    text = ras_scan(rows3(10), stop="10.2")
    text = "\n".join(ln for ln in text.splitlines() if not ln.startswith("*MEAS_DATA_COUNT")) + "\n"
    _err(write("c.ras", text), "10 data points", "has 21")


def test_zero_esd_in_xye_is_refused(write):
    e = _err(write("z.xye", "10.00 5 2.2\n10.01 0 0\n10.02 4 2\n"), "esd 0", "expected a finite esd > 0")
    assert e.line == 2


def test_truncated_last_xye_line_is_refused(write):
    rows = "".join(f"{10 + 0.02 * i:8.4f} {100 + i:10.4f} {10.0 + i / 100:8.4f}\n" for i in range(20))
    cut = rows + " 10.4000   120.0000  10.2"  # the file ends inside the last row (10.2000 cut)
    e = _err(write("cut.xye", cut), "truncated")
    assert e.line == 21
    assert xrdq.load(write("whole.xye", rows)).sizes["two_theta"] == 20
    # a file that merely lacks its final line break still loads
    assert xrdq.load(write("nonl.xye", rows.rstrip("\n"))).sizes["two_theta"] == 20


def test_cif_occupancy_nan_is_refused(tmp_path):
    from xrdq.crystal import load_phase
    from xrdq.crystal.library import phase_path

    text = phase_path("LiF").read_text(encoding="utf-8")
    line = next(ln for ln in text.splitlines() if ln.startswith("Li1 "))
    parts = line.split()
    parts[5] = "nan"  # label type x y z occupancy B
    bad = tmp_path / "LiF_nan.cif"
    bad.write_text(text.replace(line, " ".join(parts)), encoding="utf-8")
    with pytest.raises(XrdqPhaseError, match="site Li1: _atom_site_occupancy = nan"):
        load_phase(bad)


def test_text_columns_with_another_extension_are_read_by_content(write):
    p = xrdq.load(write("PURE.PRN", "".join(f"{5 + 0.02 * i:8.3f}{100 + i:10d}\n" for i in range(50))))
    assert p.attrs["format"] == "columns" and p.sizes["two_theta"] == 50
    for name, text in [("notes.SAV", "% BGMN device file\nVERZERR=miniflex\nGEOMETRY=...\n"),
                       ("table.prn", "sample,LiF\nA,50.1\nB,49.9\n"),
                       ("short.prn", "10 1\nabc\n11 2\n12 3\n")]:
        _err(write(name, text), "unrecognised pattern format")


def test_real_cpd_prn_files(shared_data, capsys):
    files = sorted((shared_data / "qpa" / "cpd-pure").glob("*.PRN"))
    assert files, "no .PRN files in ../shared/data/qpa/cpd-pure"
    with pytest.raises(SystemExit) as exc:
        main(["info", str(shared_data / "qpa" / "cpd-pure" / "SILICA.PRN")])
    assert exc.value.code == 0 and "SILICA.PRN" in capsys.readouterr().out
    for f in files:
        p = xrdq.load(f)
        assert p.sizes["two_theta"] == 7251 and float(p["two_theta"][0]) == 5.0


def test_info_shows_good_files_beside_a_bad_one(write, capsys):
    good = write("good.xy", more_lines("10 1\n10.5 4\n11 9\n"))
    bad = write("bad.SAV", "% not a pattern\nVERZERR=x\n")
    with pytest.raises(SystemExit) as exc:
        main(["info", str(good), str(bad)])
    out, err = capsys.readouterr()
    assert exc.value.code == 2
    assert "good.xy" in out and "bad.SAV" in err and "Traceback" not in err


def test_wavelength_mismatch_warning_does_not_skip_zero():
    import numpy as np
    import xarray as xr

    from xrdq.model.instrument import load_instrument
    from xrdq.quant.api import instrument_mismatch

    pattern = xr.DataArray(np.ones(3), dims="two_theta", coords={"two_theta": [10.0, 11.0, 12.0]},
                           attrs={"wavelength_alpha1": 0.0, "wavelength_source": "file", "goniometer_radius_mm": 0.0})
    warnings = instrument_mismatch(pattern, load_instrument("miniflex600"))
    assert any("wavelength 0.000000" in w for w in warnings)
    assert any("radius 0 mm" in w for w in warnings)


def _lif_cif_with(tmp_path, old: str, new: str, name="bad.cif", encoding="utf-8"):
    from xrdq.crystal.library import phase_path

    text = phase_path("LiF").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / name
    path.write_bytes(text.replace(old, new, 1).encode(encoding, errors="strict") if encoding else text.encode())
    return path


@pytest.mark.parametrize("old, new, match", [
    ("_cell_length_a 4.027\n", "_cell_length_a 1e308\n", "impossible cell"),
    # still a cell, but not a cubic one: LiF's F m -3 m refuses it (crystal.cif._symmetrised_cell)
    ("_cell_angle_alpha 90", "_cell_angle_alpha 120", "contradicts space group F m -3 m"),
    ("_cell_angle_beta 90\n_cell_angle_gamma 90", "_cell_angle_beta 120\n_cell_angle_gamma 120",
     "contradicts space group F m -3 m"),
])
def test_cif_cell_must_make_a_cell(tmp_path, old, new, match):
    from xrdq.crystal import load_phase

    text_path = _lif_cif_with(tmp_path, old, new)
    if match is None:
        assert load_phase(text_path).volume > 0
    else:
        with pytest.raises(XrdqPhaseError, match=match):
            load_phase(text_path)


def test_cif_cell_angles_without_a_volume_are_refused(tmp_path):
    from xrdq.crystal import load_phase

    path = _lif_cif_with(tmp_path, "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90",
                         "_cell_angle_alpha 120\n_cell_angle_beta 120\n_cell_angle_gamma 120")
    with pytest.raises(XrdqPhaseError, match="no volume"):
        load_phase(path)


def test_cif_that_is_not_utf8_names_the_line(tmp_path):
    from xrdq.crystal import load_phase

    path = _lif_cif_with(tmp_path, "_chemical_name_common 'LiF'", "_chemical_name_common 'Li\x82F'", encoding="latin-1")
    with pytest.raises(XrdqPhaseError, match=r"line \d+: byte 0x82 is not UTF-8"):
        load_phase(path)


def test_cif_with_no_occupied_site_is_refused(tmp_path):
    """Found by fuzzing: a loop whose header lines were swapped put zeros in the occupancy column (density 0)."""
    from xrdq.crystal import load_phase
    from xrdq.crystal.library import phase_path

    text = phase_path("LiF").read_text(encoding="utf-8")
    lines = text.splitlines()
    for i, ln in enumerate(lines):
        if ln.startswith(("Li1 ", "F1 ")):
            parts = ln.split()
            parts[5] = "0"
            lines[i] = " ".join(parts)
    path = tmp_path / "empty.cif"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(XrdqPhaseError, match="every site has occupancy 0"):
        load_phase(path)


def test_cif_formula_with_a_malformed_count_is_refused(tmp_path):
    """Found by fuzzing: '1.2.3' in _chemical_formula_sum ended in a bare ValueError."""
    from xrdq.crystal import load_phase
    from xrdq.crystal.library import phase_path

    text = phase_path("LiF").read_text(encoding="utf-8")
    old = next(ln for ln in text.splitlines() if ln.startswith("_chemical_formula_sum"))
    path = tmp_path / "formula.cif"
    path.write_text(text.replace(old, "_chemical_formula_sum 'F1.2.3 Li'"), encoding="utf-8")
    with pytest.raises(XrdqPhaseError, match=r"formula.cif .*_chemical_formula_sum 'F1.2.3 Li': count '1.2.3'"):
        load_phase(path)


def test_negative_intensities_are_read_from_files_that_hold_no_raw_counts(write):
    """GSAS-II's simulated histograms (yc − |Poisson − yc| about a background near zero) and background-subtracted
    data can go below zero; a plain column file is read and the reader records where (quantify says it). Raw
    detector counts (a .ras without an esd column) stay refused: test_bad_input."""
    xye = xrdq.load(write("g.xye", more_lines("10.00 3.0 1.7\n10.02 -2.5 1.0\n10.04 0.5 1.0\n10.06 -0.4 1.0\n")))
    a = xye.attrs
    assert a["negative_points"] == 2 and a["lowest_intensity"] == -2.5 and a["lowest_intensity_two_theta"] == 10.02
    assert a["lowest_intensity_esds"] == -2.5
    assert float(xye.values[1]) == -2.5 and float(xye.esd.values[1]) == 1.0  # the file's esd, as given
    xy = xrdq.load(write("g.xy", more_lines("10.00 3.0\n10.02 -4.0\n10.04 2.0\n")))
    assert xy.attrs["negative_points"] == 1 and float(xy.esd.values[1]) == 1.0  # √max(I, 1)
    assert "negative_points" not in xrdq.load(write("p.xy", more_lines("10.00 3.0\n10.02 4.0\n"))).attrs


@pytest.mark.parametrize("text, deg", [("0.625deg", 0.625), ("1/4deg", 0.25), (" 1.25 deg", 1.25), ("0.300deg", 0.3),
                                       ("1.000mm", None), ("Soller_slit_2.5deg", None), ("Open", None), (None, None),
                                       ("0deg", 0.0), ("1/0deg", None), ("45deg", 45.0)])
def test_the_files_divergence_slit_in_degrees(text, deg):
    """Only an angle is a divergence slit the model can use; a SmartLab slit-box width in mm needs its distance."""
    from xrdq.model.instrument import measured_divergence_slit

    assert measured_divergence_slit({"divergence_slit": text}) == deg


def test_the_files_slit_replaces_the_nominal_one_and_a_variable_mode_is_warned_about(tmp_path):
    from io_synth import ras_scan, rows3

    from xrdq.io import read_scan
    from xrdq.model.instrument import load_instrument
    from xrdq.model.instrument import measured_instrument

    axis = ['*MEAS_COND_AXIS_NAME_INTERNAL-5 "IncidentSlitBox"', '*MEAS_COND_AXIS_POSITION-5 "1/4"',
            '*MEAS_COND_AXIS_UNIT-5 "deg"']
    fixed = tmp_path / "fixed.ras"
    fixed.write_text(ras_scan(rows3(), extra=axis + ['*MEAS_COND_IRRADIATION_MODE "OFF"']))
    nominal = load_instrument("miniflex600")
    inst, notes = measured_instrument(read_scan(fixed), nominal)
    assert inst.divergence_slit_deg == 0.25 and notes == []  # nothing here depends on the angle
    inst, notes = measured_instrument(read_scan(fixed), nominal.replace(sample_length_mm=20.0))
    assert notes == ["divergence slit 0.25° as the file says (instrument 'miniflex600' describes 1.25°): used for a "
                     "declared specimen's overspill"]
    inst, notes = measured_instrument(read_scan(fixed), load_instrument("miniflex600-fp"))
    assert inst.divergence_slit_deg == 0.25 and notes[0].endswith("used for the fundamental-parameters profile")
    variable = tmp_path / "variable.ras"
    variable.write_text(ras_scan(rows3(), extra=['*MEAS_COND_IRRADIATION_MODE "ON"',
                                                 '*MEAS_COND_IRRADIATION_WIDTH "10mm"']))
    scan = read_scan(variable)
    assert scan.attrs["irradiation_mode"] == "ON" and scan.attrs["irradiation_width"] == "10mm"
    inst, notes = measured_instrument(scan, nominal)
    assert inst == nominal and "irradiation mode 'ON' (width 10mm)" in notes[0] and "variable_slit = true" in notes[0]
    from xrdq.quant.verdict import check_warnings

    slit_note = measured_instrument(read_scan(fixed), nominal.replace(sample_length_mm=20.0))[1]
    assert [f.level for f in check_warnings(slit_note + notes)] == ["ok", "check"]  # said; possibly wrong intensities
    assert measured_instrument(scan, nominal.replace(variable_slit=True, irradiated_length_mm=10.0))[1] == []
    scan.attrs.update(divergence_slit="45deg", irradiation_mode=None)
    inst, notes = measured_instrument(scan, nominal)
    assert inst == nominal and "'45deg' is no slit" in notes[0] and check_warnings(notes)[0].level == "check"
