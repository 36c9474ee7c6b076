"""Malformed inputs raise XrdqReadError naming the file, where, and what was expected."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest
from io_synth import ras_scan, rows3

import xrdq
from xrdq.errors import XrdqReadError
from xrdq.io import rasx


def _err(path, match):
    with pytest.raises(XrdqReadError) as info:
        xrdq.load_all(path)
    msg = str(info.value)
    assert str(path) in msg, msg
    assert match in msg, msg
    return info.value


def test_truncated_ras(write):
    text = ras_scan(rows3(5))
    e = _err(write("t.ras", text[: text.index("*RAS_INT_END")]), "*RAS_INT_END missing")
    assert "truncated" in str(e)


def test_ras_point_count_mismatch(write):
    e = _err(write("n.ras", ras_scan(rows3(5), count=6)), "*MEAS_DATA_COUNT says 6")
    assert e.line is not None


def test_ras_non_numeric_row_names_line(write):
    rows = rows3(5)
    rows[2] = ("10.02", "abc", 1)
    e = _err(write("x.ras", ras_scan(rows)), "non-numeric value 'abc'")
    text = ras_scan(rows)
    assert e.line == text.splitlines().index("10.02 abc 1") + 1


def test_ras_ragged_row(write):
    rows = rows3(5)
    rows[3] = ("10.03", 5)
    _err(write("r.ras", ras_scan(rows)), "row has 2 columns; expected 3")


def test_ras_empty_scan(write):
    _err(write("e.ras", ras_scan([], count=0)), "empty scan")


def test_ras_non_monotonic(write):
    rows = rows3(5)
    rows[3] = ("10.01", 5, 1)
    e = _err(write("m.ras", ras_scan(rows)), "not strictly increasing")
    assert e.line == ras_scan(rows).splitlines().index("10.01 5 1") + 1


@pytest.mark.parametrize("bad,what", [("nan", "NaN"), ("-5", "negative intensity")])
def test_ras_nan_and_negative_counts(write, bad, what):
    rows = rows3(5)
    rows[1] = ("10.01", bad, 1)
    e = _err(write("v.ras", ras_scan(rows)), what)
    assert e.line == ras_scan(rows).splitlines().index(f"10.01 {bad} 1") + 1


def test_ras_bad_attenuator(write):
    rows = rows3(4)
    rows[2] = ("10.02", 5, 0)
    _err(write("f.ras", ras_scan(rows)), "attenuator factor 0")


def test_unknown_encoding(write):
    data = ras_scan(rows3(3), extra=['*FILE_MEMO "XXXX"']).encode().replace(b"XXXX", b"\x81\x7f\x85\x9f")
    _err(write("enc.ras", data), "unknown text encoding")


def test_utf16_text_refused(write):
    _err(write("u16.ras", ras_scan(rows3(3)).encode("utf-16")), "unrecognised pattern format")
    _err(write("u16.xy", "10 1\n11 2\n".encode("utf-16")), "unrecognised")


def test_wrong_magic_raw(write):
    _err(write("w.raw", b"XX" + b"\x00" * 4000), "unrecognised pattern format")


def test_raw_unknown_layout(shared_data, write):
    data = bytearray((shared_data / "rigaku/raw/ultima4_test.raw").read_bytes())
    data[4] = 7
    _err(write("l.raw", bytes(data)), "unrecognised RINT .raw layout")


def test_raw_truncated(shared_data, write):
    data = (shared_data / "rigaku/raw/ultima4_test.raw").read_bytes()
    e = _err(write("t.raw", data[:-10]), "truncated")
    assert "byte 3158" in str(e)


def test_raw_count_mismatch(shared_data, write):
    data = bytearray((shared_data / "rigaku/raw/ultima4_test.raw").read_bytes())
    struct.pack_into("<I", data, 3154, 4500)
    _err(write("c.raw", bytes(data)), "point count 4500 does not match")


def test_raw_bad_range(shared_data, write):
    data = bytearray((shared_data / "rigaku/raw/ultima4_test.raw").read_bytes())
    struct.pack_into("<f", data, 2966, 5.0)  # stop < start
    _err(write("s.raw", bytes(data)), "expected start < stop")


def _zip(entries, *, compression=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for k, v in entries.items():
            z.writestr(k, v)
    return buf.getvalue()


def test_rasx_zip_bomb_ratio(write, monkeypatch):
    monkeypatch.setattr(rasx, "MAX_PROFILE_BYTES", 64 * 1024 * 1024)
    bomb = _zip({"Data0/Profile0.txt": b"0" * 20_000_000})
    e = _err(write("bomb.rasx", bomb), "zip bomb")
    assert "member Data0/Profile0.txt" in str(e)


def test_rasx_huge_member_declared(write, monkeypatch):
    monkeypatch.setattr(rasx, "MAX_PROFILE_BYTES", 1000)
    data = _zip({"Data0/Profile0.txt": b"10\t1\t1\n" * 500}, compression=zipfile.ZIP_STORED)
    _err(write("huge.rasx", data), "the limit is 1000")


def test_rasx_lying_size_field_is_capped(write, monkeypatch):
    monkeypatch.setattr(rasx, "MAX_PROFILE_BYTES", 1000)
    payload = b"10\t1\t1\n" * 500
    data = bytearray(_zip({"Data0/Profile0.txt": payload}, compression=zipfile.ZIP_STORED))
    # Rewrite the declared uncompressed size (local header and central directory) to 10 bytes.
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        i = data.find(sig)
        struct.pack_into("<I", data, i + off, 10)
    e = _err(write("liar.rasx", bytes(data)), "member")
    assert "Profile0" in str(e)


def test_rasx_not_a_zip(write):
    _err(write("n.rasx", b"PK\x03\x04garbage" + b"\x00" * 100), "not a readable zip")


def test_rasx_without_profile(write):
    _err(write("np.rasx", _zip({"root.xml": b"<Root/>"})), "no DataN/ProfileN.txt")


def test_rasx_entity_xml_refused(write):
    xml = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><MeasurementConditions/>'
    data = _zip({"Data0/Profile0.txt": b"10\t1\t1\n", "Data0/MesurementConditions0.xml": xml})
    _err(write("ent.rasx", data), "DOCTYPE/ENTITY")


def test_rasx_datacount_mismatch(write):
    xml = b"<MeasurementConditions><ScanInformation><DataCount>5</DataCount></ScanInformation></MeasurementConditions>"
    data = _zip({"Data0/Profile0.txt": b"10\t1\t1\n11\t1\t1\n", "Data0/MesurementConditions0.xml": xml})
    _err(write("dc.rasx", data), "DataCount says 5")


def test_asc_count_mismatch(write):
    text = "*TYPE = Raw\n*BEGIN\n*START = 10\n*STOP = 10.04\n*STEP = 0.02\n*COUNT = 3\n1, 2\n*END\n"
    e = _err(write("c.asc", text), "2 counts but *COUNT = 3")
    assert e.line == 7


def test_asc_count_disagrees_with_range(write):
    text = "*TYPE = Raw\n*BEGIN\n*START = 10\n*STOP = 10.1\n*STEP = 0.02\n*COUNT = 3\n1, 2, 3\n*END\n"
    _err(write("r.asc", text), "START/STOP/STEP give 6 points")


def test_asc_truncated(write):
    text = "*TYPE = Raw\n*BEGIN\n*START = 10\n*STOP = 10.04\n*STEP = 0.02\n*COUNT = 3\n1, 2, 3\n"
    _err(write("t.asc", text), "*END missing")


def test_asc_non_numeric(write):
    text = "*TYPE = Raw\n*BEGIN\n*START = 10\n*STOP = 10.04\n*STEP = 0.02\n*COUNT = 3\n1, x, 3\n*END\n"
    e = _err(write("n.asc", text), "non-numeric count 'x'")
    assert e.line == 7


def test_columns_non_numeric_row(write):
    e = _err(write("a.xy", "10 1\n11 2\n12 oops\n13 4\n"), "non-numeric value 'oops'")
    assert e.line == 3


def test_columns_non_monotonic(write):
    _err(write("a.xy", "10 1\n11 2\n10.5 4\n"), "not strictly increasing")
    e = _err(write("b.xy", "12 1\n11 2\n11.5 4\n"), "not strictly decreasing (11 then 11.5)")  # neither way round
    assert e.line == 3


def test_columns_negative_esd(write):
    _err(write("a.xye", "10 1 1\n11 2 -1\n"), "expected a finite esd")


def test_empty_file(write):
    _err(write("empty.xy", b""), "file is empty")


def test_no_numbers(write):
    _err(write("words.txt", "hello\nworld\n"), "unrecognised")


def test_missing_file(tmp_path):
    _err(tmp_path / "nope.xy", "cannot open")


def test_netcdf_that_is_not_a_pattern(tmp_path):
    import xarray as xr

    f = tmp_path / "other.nc"
    xr.Dataset({"foo": ("x", [1.0, 2.0])}).to_netcdf(f, engine="h5netcdf")
    _err(f, "no 'intensity' variable")


def test_truncated_netcdf(write, tmp_path):
    import xarray as xr

    f = tmp_path / "p.nc"
    xr.DataArray([1.0, 2.0], dims="two_theta", coords={"two_theta": [1.0, 2.0], "esd": ("two_theta", [1.0, 1.0])},
                 name="intensity").to_netcdf(f, engine="h5netcdf")
    _err(write("cut.nc", f.read_bytes()[:600]), "not a readable")


ONE_POINT = {
    "one.xy": "20.0 100\n",
    "one.ras": ras_scan(rows3(1)),
    # one point is a START = STOP group, refused as such: three
    "few.asc": "*TYPE = Raw\n*BEGIN\n*START = 20\n*STOP = 20.04\n*STEP = 0.02\n*COUNT = 3\n1, 2, 3\n*END\n",
    "one.txt": '*FILE_SAMPLE "mf"\n*MEAS_DATA_COUNT "1"\n20.00 100 1\n',
    "one.fxye": "T\nBANK 1 1 1 CONS 2000.0 2.0 0 0 FXYE\n2000.0 100.0 10.0\n",
}


@pytest.mark.parametrize("name", sorted(ONE_POINT))
def test_one_point_is_no_pattern(write, name):
    """Refused by the reader, naming the file, not later as an empty 2θ range the user never gave."""
    n = "3 data points" if name == "few.asc" else "1 data point"
    _err(write(name, ONE_POINT[name]), f"{n}; a diffraction pattern needs at least 10")


def test_one_point_netcdf_is_no_pattern(tmp_path):
    import xarray as xr

    f = tmp_path / "one.nc"
    xr.DataArray([1.0], dims="two_theta", coords={"two_theta": [20.0], "esd": ("two_theta", [1.0])},
                 name="intensity").to_netcdf(f, engine="h5netcdf")
    _err(f, "1 data point; a diffraction pattern needs at least 10")


def test_nine_points_refused_ten_read(write):
    rows = "".join(f"{20 + 0.02 * i:.2f} {100 + i}\n" for i in range(10))
    _err(write("nine.xy", rows[: rows.index("20.18")]), "9 data points; a diffraction pattern needs at least 10")
    assert xrdq.load(write("ten.xy", rows)).sizes["two_theta"] == 10


def test_two_theta_in_radians_is_refused(write):
    """0.17–1.40 is 10–80° in radians: read as degrees it gave a NaN quantification, silently."""
    import math

    text = "".join(f"{math.radians(10 + 0.5 * i):.6f} {100 + i}\n" for i in range(141))
    e = _err(write("rad.xy", text),
             "2θ spans 0.17–1.40°: is it in radians (or a d-spacing / q axis)? xrdq needs 2θ in degrees")
    assert "Traceback" not in str(e)
    rows = [(f"{math.radians(10 + 0.5 * i):.6f}", 100, 1) for i in range(12)]
    _err(write("rad.ras", ras_scan(rows, step=f"{math.radians(0.5):.6f}")), "is it in radians")


def test_a_scan_from_below_3_degrees_is_read(write):
    """Only a scan lying wholly below 3° is refused: real MiniFlex scans start at 3°."""
    p = xrdq.load(write("low.xy", "".join(f"{2 + 0.5 * i:.1f} {100 + i}\n" for i in range(12))))
    assert float(p["two_theta"][0]) == 2.0


@pytest.mark.parametrize("key", ["ALPHA1", "ALPHA2", "BETA"])
def test_ras_wavelength_that_is_no_number(write, key):
    """Not taken as absent (Cu Kα assumed, silently): an error naming the field and its line."""
    field = f"*HW_XG_WAVE_LENGTH_{key}"
    text = ras_scan(rows3(12), extra=[f'{field} "abc"'])
    e = _err(write("w.ras", text), f"{field} 'abc' is not a number; expected a wavelength in Å")
    assert e.line == text.splitlines().index(f'{field} "abc"') + 1


def test_ras_empty_wavelength_is_absent(write):
    text = ras_scan(rows3(12)).replace('ALPHA1 "1.540593"', 'ALPHA1 ""').replace('ALPHA2 "1.544414"', 'ALPHA2 ""')
    assert xrdq.load(write("e.ras", text)).attrs["wavelength_source"] == "assumed Cu Kα"


@pytest.mark.parametrize("axis", ["Omega", "Chi", "Phi", "Z", "omega"])
def test_ras_scan_axis_that_is_no_2theta_scan(write, axis):
    """A rocking curve or stage scan has no 2θ in its first column; it was read as a powder pattern."""
    line = f'*MEAS_SCAN_AXIS_X "{axis}"'
    text = ras_scan(rows3(12), extra=[line])
    e = _err(write("r.ras", text), f"*MEAS_SCAN_AXIS_X: scan axis {axis!r} moves no 2θ")
    assert e.line == text.splitlines().index(line) + 1


@pytest.mark.parametrize("axis", ["TwoThetaTheta", "2-Theta/Omega", "TwoThetaOmega", "2ThetaChiPhi", "Theta/2-Theta",
                                  "TwoTheta", "2θ/θ", "Theta", "SomethingNew"])
def test_ras_2theta_and_unknown_scan_axes_are_read(write, axis):
    p = xrdq.load(write("t.ras", ras_scan(rows3(12), extra=[f'*MEAS_SCAN_AXIS_X "{axis}"', '*MEAS_SCAN_UNIT_X "deg"'])))
    assert p.attrs["scan_axis"] == axis


@pytest.mark.parametrize("unit", ["rad", "mrad", "1/nm", "mm"])
def test_ras_scan_unit_that_is_not_degrees(write, unit):
    _err(write("u.ras", ras_scan(rows3(12), extra=[f'*MEAS_SCAN_UNIT_X "{unit}"'])),
         f"*MEAS_SCAN_UNIT_X: scan axis unit {unit!r}; expected deg")


def test_rasx_scan_axis_and_unit_checked_too(write):
    from test_synthetic import RASX_XML, _rasx

    from io_synth import more_lines

    profile = more_lines("10.00\t100\t1\n10.01\t200\t1\n10.02\t300\t1\n", sep="\t").encode()
    xml = (RASX_XML % b"counts").replace(b"<AxisName>TwoThetaTheta</AxisName>", b"<AxisName>Omega</AxisName>")
    _err(_rasx(write, "o.rasx", profile, xml), "ScanInformation/AxisName: scan axis 'Omega' moves no 2θ")
    xml = (RASX_XML % b"counts").replace(b"<Mode>", b"<PositionUnit>rad</PositionUnit><Mode>")
    _err(_rasx(write, "u.rasx", profile, xml), "ScanInformation/PositionUnit: scan axis unit 'rad'")


def test_miniflex_txt_scan_axis_unit_and_target_checked_as_in_ras(write):
    """A MiniFlex .txt export carries the .ras header keys: a rocking curve or a radian axis is refused there too, at
    the header's own line, and a target contradicting the wavelengths is noted."""
    rows = "".join(f"{10 + 0.02 * k:.2f} {100 + k} 1\n" for k in range(12))
    head = '*FILE_SAMPLE "mf"\n*HW_XG_WAVE_LENGTH_ALPHA1 "1.540593"\n'
    e = _err(write("o.txt", head + '*MEAS_SCAN_AXIS_X "Omega"\n' + rows), "*MEAS_SCAN_AXIS_X: scan axis 'Omega' moves no 2θ")
    assert e.line == 3
    _err(write("u.txt", head + '*MEAS_SCAN_UNIT_X "rad"\n' + rows), "*MEAS_SCAN_UNIT_X: scan axis unit 'rad'")
    ok = xrdq.load(write("t.txt", head + '*MEAS_SCAN_AXIS_X "TwoThetaTheta"\n*MEAS_SCAN_UNIT_X "deg"\n' + rows))
    assert ok.attrs["format"] == "miniflex_txt" and ok.sizes["two_theta"] == 12 and "target_note" not in ok.attrs
    mo = xrdq.load(write("mo.txt", head + '*HW_XG_TARGET_NAME "Mo"\n' + rows))
    assert "target Mo" in mo.attrs["target_note"]


def test_ras_target_contradicting_its_wavelengths_is_noted_and_warned(write):
    """A Mo target with Cu Kα wavelengths: recorded, and quantify's warnings (verdict check) say so."""
    from xrdq.quant.api import pattern_notes

    p = xrdq.load(write("mo.ras", ras_scan(rows3(12)).replace('*HW_XG_TARGET_NAME "Cu"', '*HW_XG_TARGET_NAME "Mo"')))
    note = p.attrs["target_note"]
    assert "target Mo" in note and "1.54059" in note and p.attrs["wavelength_alpha1"] == 1.540593
    assert pattern_notes(p) == [note]
    assert "target_note" not in xrdq.load(write("cu.ras", ras_scan(rows3(12)))).attrs


def test_xrdq_info_shows_the_header_doubt(write, capsys):
    """quantify warned of it; info, where a user looks at a file first, did not."""
    import json

    from xrdq.cli import main

    path = write("mo.ras", ras_scan(rows3(12)).replace('*HW_XG_TARGET_NAME "Cu"', '*HW_XG_TARGET_NAME "Mo"'))
    for argv in (["info", str(path)], ["info", "--json", str(path)]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
        out = capsys.readouterr().out
        if "--json" in argv:
            assert "target Mo" in json.loads(out)[0]["header_notes"][0]
        else:
            assert f"note: {path} (scan 0): the header's target Mo" in out


def test_ras_scan_axis_error_names_its_own_line_not_the_internal_one(write):
    lines = ['*MEAS_SCAN_AXIS_X "Omega"', '*MEAS_SCAN_AXIS_X_INTERNAL "Omega"']
    text = ras_scan(rows3(12), extra=lines)
    assert _err(write("i.ras", text), "moves no 2θ").line == text.splitlines().index(lines[0]) + 1
