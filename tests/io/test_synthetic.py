"""Reader behaviour on small synthetic files: attenuators, cps, two columns, multi-scan, formats."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from io_synth import more_lines, more_rows, ras_scan, rows3

import xrdq
from xrdq.errors import XrdqReadError


def test_attenuator_factor_multiplies_counts_and_esd(write):
    rows = more_rows([("10.00", 100, 1), ("10.01", 400, 10.5), ("10.02", 0, 2)])
    p = xrdq.load(write("a.ras", ras_scan(rows)))
    np.testing.assert_allclose(p.values[:3], [100, 4200, 0])
    np.testing.assert_allclose(p["esd"].values[:3], [10, 20 * 10.5, 1 * 2])  # zero counts: esd of one count


def test_two_column_ras_has_factor_one(write):
    rows = more_rows([("10.00", 100), ("10.01", 121), ("10.02", 144)])
    p = xrdq.load(write("two.ras", ras_scan(rows)))
    np.testing.assert_allclose(p.values[:3], [100, 121, 144])
    np.testing.assert_allclose(p["esd"].values[:3], [10, 11, 12])
    assert "absent" in p.attrs["attenuator_column"]


def test_cps_converted_to_counts_with_count_time(write):
    # 0.01° step at 2 °/min → 0.3 s per point.
    rows = more_rows([("10.00", 1000.0, 1), ("10.01", 2000.0, 2)])
    p = xrdq.load(write("cps.ras", ras_scan(rows, unit="cps", speed="2.0", step="0.01")))
    assert p.attrs["count_time_s"] == pytest.approx(0.3)
    np.testing.assert_allclose(p.values[:2], [300.0, 1200.0])
    np.testing.assert_allclose(p["esd"].values[:2], [np.sqrt(300.0), np.sqrt(600.0) * 2])
    assert p.attrs["intensity_unit"] == "counts"
    assert "cps" in p.attrs["intensity_conversion"]


def test_cps_step_scan_uses_seconds_per_step(write):
    rows = more_rows([("10.00", 50.0, 1), ("10.02", 60.0, 1)])
    p = xrdq.load(write("step.ras", ras_scan(rows, unit="cps", speed="2", speed_unit="sec", step="0.02")))
    np.testing.assert_allclose(p.values[:2], [100.0, 120.0])


def test_cps_without_usable_speed_is_refused(write):
    rows = [("10.00", 50.0, 1), ("10.02", 60.0, 1)]
    with pytest.raises(XrdqReadError, match="cps"):
        xrdq.load(write("bad.ras", ras_scan(rows, unit="cps", speed_unit="furlongs")))


def test_multi_scan_ras(write):
    text = ras_scan(rows3(11, counts=10), sample="first") + ras_scan(rows3(12, start=20, counts=50), sample="second")
    path = write("multi.ras", text)
    scans = xrdq.load_all(path)
    assert [s.sizes["two_theta"] for s in scans] == [11, 12]
    assert [s.attrs["sample"] for s in scans] == ["first", "second"]
    assert [s.attrs["scan_index"] for s in scans] == [0, 1]
    assert xrdq.load(path, scan=1)["two_theta"].values[0] == pytest.approx(20.0)
    with pytest.raises(XrdqReadError, match="scan 2 requested"):
        xrdq.load(path, scan=2)


def test_ras_crlf_latin1_and_japanese_english_values(write):
    text = ras_scan(rows3(12), extra=['*HW_GONIOMETER_NAME "ゴニオ|Gonio One"', '*FILE_MEMO "Probe für Ü"'])
    p = xrdq.load(write("crlf.ras", text.replace("\n", "\r\n").replace("Probe für Ü", "Probe fuer U"),
                        encoding="cp932"))
    assert p.attrs["goniometer"] == "Gonio One"
    assert json.loads(p.attrs["raw_header"])["HW_GONIOMETER_NAME"] == "ゴニオ|Gonio One"
    q = xrdq.load(write("latin.ras", ras_scan(rows3(12), extra=['*FILE_MEMO "Probe für Ü"']), encoding="latin-1"))
    assert q.attrs["memo"] == "Probe für Ü"


def test_ka1_wave_type_sets_zero_alpha2_ratio(write):
    p = xrdq.load(write("ka1.ras", ras_scan(rows3(12), wave_type="Ka1")))
    assert p.attrs["alpha2_alpha1_ratio"] == 0.0


def test_extension_is_case_insensitive(write):
    p = xrdq.load(write("UPPER.RAS", ras_scan(rows3(12))))
    assert p.attrs["format"] == "rigaku_ras"
    q = xrdq.load(write("DATA.XYE", more_lines("10 5 1\n10.1 6 1\n")))
    assert q.attrs["format"] == "columns" and q.attrs["esd_source"] == "file"


def _rasx(write, name, profile: bytes, xml: bytes | None = None, members=None):
    path = write(name, b"")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("Data0/Profile0.txt", profile)
        if xml is not None:
            z.writestr("Data0/MesurementConditions0.xml", xml)
        for k, v in (members or {}).items():
            z.writestr(k, v)
    return path


RASX_XML = b"""<?xml version="1.0" encoding="utf-8"?>
<MeasurementConditions>
  <GeneralInformation><Operator>me</Operator><SampleName>quartz</SampleName></GeneralInformation>
  <HWConfigurations>
    <Categories><Category Name="Detector" SelectedUnit="D/teX" /></Categories>
    <XrayGenerator><TargetName>Cu</TargetName><WaveType>Ka</WaveType><Current>40</Current>
      <Voltage>45</Voltage><WavelengthKalpha1>1.540593</WavelengthKalpha1>
      <WavelengthKalpha2>1.544414</WavelengthKalpha2></XrayGenerator>
  </HWConfigurations>
  <Axes><Axis Name="IS" Unit="" Position="0.5deg" /></Axes>
  <ScanInformation><AxisName>TwoThetaTheta</AxisName><Mode>CONTINUOUS</Mode><Start>10</Start><Stop>10.11</Stop>
    <Step>0.01</Step><Speed>1</Speed><SpeedUnit>deg/min</SpeedUnit><IntensityUnit>%s</IntensityUnit>
    <StartTime>2024-01-02T03:04:05Z</StartTime><DataCount>12</DataCount></ScanInformation>
</MeasurementConditions>"""


def test_rasx_profile_with_bom_and_attenuator(write):
    profile = ("\ufeff" + more_lines("10.00\t100\t1\n10.01\t200\t3\n10.02\t300\t1\n", sep="\t")
               .replace("\n", "\r\n")).encode()
    p = xrdq.load(_rasx(write, "a.rasx", profile, RASX_XML % b"counts"))
    np.testing.assert_allclose(p.values[:3], [100, 600, 300])
    np.testing.assert_allclose(p["esd"].values[1], np.sqrt(200) * 3)
    assert p.attrs["sample"] == "quartz" and p.attrs["voltage_kV"] == 45.0
    assert p.attrs["divergence_slit"] == "0.5deg"
    assert p.attrs["start_time"] == "2024-01-02T03:04:05+00:00"


def test_rasx_profile_without_bom_in_cps(write):
    profile = more_lines("10.00\t100\t1\n10.01\t200\t1\n10.02\t300\t1\n", sep="\t").encode()
    p = xrdq.load(_rasx(write, "b.rasx", profile, RASX_XML % b"cps"))
    np.testing.assert_allclose(p.values[:3], [60, 120, 180])  # 0.6 s per 0.01° at 1 °/min


def test_rasx_several_profiles(write):
    prof = more_lines("10.00\t1\t1\n10.01\t2\t1\n10.02\t3\t1\n", sep="\t").encode()
    path = _rasx(write, "c.rasx", prof, RASX_XML % b"counts",
                 members={"Data1/Profile1.txt": more_lines("20\t5\t1\n21\t6\t1\n22\t7\t1\n", sep="\t").encode(),
                          "Data1/MesurementConditions1.xml": (RASX_XML % b"counts").replace(
                              b"<Start>10</Start><Stop>10.11</Stop>", b"<Start>20</Start><Stop>31</Stop>").replace(
                              b"<Step>0.01</Step>", b"<Step>1</Step>")})
    scans = xrdq.load_all(path)
    assert len(scans) == 2 and scans[1]["two_theta"].values[0] == 20.0


def test_rint_asc_group(write):
    text = ("*TYPE = Raw\n*SAMPLE = s\n*WAVE_LENGTH1 = 1.5406\n*WAVE_LENGTH2 = 1.5444\n*SPEED_DIM = sec./step\n"
            "*YUNIT = cps\n*BEGIN\n*START = 10\n*STOP = 10.2\n*STEP = 0.02\n*SPEED = 2\n*COUNT = 11\n"
            "10, 20, 30\n40, 1, 1, 1, 1, 1, 1, 1\n*END\n*EOF\n")
    p = xrdq.load(write("g.asc", text))
    np.testing.assert_allclose(p["two_theta"].values[:4], [10, 10.02, 10.04, 10.06])
    np.testing.assert_allclose(p.values[:4], [20, 40, 60, 80])  # cps × 2 s


def test_rint_dat_extension_is_sniffed(write):
    text = ("*TYPE = Raw\n*BEGIN\n*START = 10\n*STOP = 10.1\n*STEP = 0.01\n*COUNT = 11\n"
            "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11\n*END\n")
    assert xrdq.load(write("g.dat", text)).attrs["format"] == "rigaku_rint_asc"
    assert xrdq.load(write("p.dat", more_lines("10 1\n11 2\n"))).attrs["format"] == "columns"


def test_miniflex_txt_ras_style(write):
    text = more_lines('*FILE_SAMPLE "mf"\n*MEAS_DATA_COUNT "12"\n*MEAS_SCAN_UNIT_Y "counts"\n10.00 1 1\n10.02 4 2\n'
                      '10.04 9 1\n')
    p = xrdq.load(write("mf.txt", text))
    assert p.attrs["format"] == "miniflex_txt" and p.attrs["sample"] == "mf"
    np.testing.assert_allclose(p.values[:3], [1, 8, 9])


def test_miniflex_txt_row_start_style(write):
    text = "5.00 1 2 3 4 5\n5.10 6 7 8 9 10\n5.20 11 12\n"
    p = xrdq.load(write("rows.txt", text))
    np.testing.assert_allclose(p["two_theta"].values, np.round(5 + 0.02 * np.arange(12), 8))
    np.testing.assert_allclose(p.values, np.arange(1, 13))
    assert p.attrs["step"] == pytest.approx(0.02)


def test_xy_without_esd_assumes_poisson(write):
    p = xrdq.load(write("a.xy", more_lines("# 2theta intensity\n10.0, 0\n10.1, 100\n", sep=", ")))
    np.testing.assert_allclose(p["esd"].values[:2], [1.0, 10.0])
    assert "Poisson" in p.attrs["esd_source"]
    assert p.attrs["wavelength_source"] == "assumed Cu Kα"
    assert p.attrs["wavelength_alpha2"] == 1.544427 and p.attrs["alpha2_alpha1_ratio"] == 0.5


@pytest.mark.parametrize("sep", [" ", "\t", ",", ";", "  "])
def test_delimiters(write, sep):
    p = xrdq.load(write("d.csv", more_lines(f"two_theta{sep}I{sep}esd\n10{sep}4{sep}2\n11{sep}9{sep}3\n", sep=sep)))
    np.testing.assert_allclose(p["esd"].values[:2], [2, 3])



@pytest.mark.parametrize("text", [
    "2Theta;Intensity\n10,00;4,5\n10,02;9\n10,04;16,25\n",  # a spreadsheet's CSV where the comma is the decimal mark
    "10,00\t4,5\n10,02\t9\n10,04\t16,25\n",
    "10,00 4,5\n10,02 9\n10,04 16,25\n",
])
def test_decimal_commas(write, text):
    sep = text[-7]  # the delimiter before the last intensity
    text += "".join(f"10,{6 + 2 * i:02d}{sep}1,5\n" for i in range(9))
    p = xrdq.load(write("de.csv", text))
    np.testing.assert_allclose(p["two_theta"].values[:4], [10.0, 10.02, 10.04, 10.06])
    np.testing.assert_allclose(p.values[:4], [4.5, 9.0, 16.25, 1.5])
    assert p.attrs["decimal_separator"] == "comma"


def test_a_comma_between_whole_numbers_is_a_delimiter_not_a_decimal_mark(write):
    p = xrdq.load(write("w.csv", more_lines("10,4\n11,9\n12,16\n", sep=",")))
    np.testing.assert_allclose(p.values[:3], [4, 9, 16])
    assert "decimal_separator" not in p.attrs


def test_a_scan_written_from_high_to_low_angle_is_read_reversed(write):
    up = more_lines("10 4 2\n11 9 3\n12 16 4\n")
    p = xrdq.load(write("down.xye", "\n".join(up.splitlines()[::-1]) + "\n"))
    np.testing.assert_allclose(p["two_theta"].values[:3], [10, 11, 12])
    np.testing.assert_allclose(p.values[:3], [4, 9, 16])
    np.testing.assert_allclose(p["esd"].values[:3], [2, 3, 4])
    assert p.attrs["scan_direction"].startswith("descending")
    assert "scan_direction" not in xrdq.load(write("up.xye", up)).attrs

def test_lone_wavelength_line(write):
    p = xrdq.load(write("w.xye", more_lines("0.709300\n10 4 2\n11 9 3\n")))
    assert p.attrs["wavelength_alpha1"] == 0.7093 and p.attrs["wavelength_source"] == "file"
    assert p.attrs["alpha2_alpha1_ratio"] == 0.0  # one non-Cu wavelength: monochromatic


def test_gsas_fxye(write):
    text = more_lines("Title of the run\n# comment\nBANK 1 12 12 CONS 1000.0 2.0 0 0 FXYE\n"
                      "1000.0 10.0 3.0\n1002.0 20.0 4.0\n1004.0 30.0 5.0\n")
    p = xrdq.load(write("g.fxye", text))
    np.testing.assert_allclose(p["two_theta"].values[:3], [10.0, 10.02, 10.04])
    np.testing.assert_allclose(p["esd"].values[:3], [3, 4, 5])
    assert p.attrs["title"] == "Title of the run"


def test_gsas_point_count_mismatch(write):
    text = "T\nBANK 1 4 4 CONS 1000.0 2.0 0 0 FXYE\n1000.0 10.0 3.0\n1002.0 20.0 4.0\n"
    with pytest.raises(XrdqReadError, match="BANK line says 4"):
        xrdq.load(write("g.fxye", text))


def test_latin1_accents_are_not_read_as_kanji(write):
    # "étés" in Latin-1 is also valid Shift-JIS (0xE9 0x74, 0xE9 0x73 are kanji); it must stay Latin-1.
    p = xrdq.load(write("fr.ras", ras_scan(rows3(12), extra=['*FILE_MEMO "étés"']), encoding="latin-1"))
    assert p.attrs["memo"] == "étés"
    q = xrdq.load(write("jp.ras", ras_scan(rows3(12), extra=['*FILE_MEMO "試料|sample"']), encoding="cp932"))
    assert q.attrs["memo"] == "sample" and "試料" in q.attrs["raw_header"]
