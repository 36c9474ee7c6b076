"""Every real file in ../shared loads with the numbers its own header states.

The expected values below were read by eye from each file's header / first and last data rows
(``*MEAS_DATA_COUNT``, ``*COUNT``, ``<DataCount>``, line counts, ...), not recomputed from the
loaded data.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import xrdq

# relative path: (format, points, first 2θ, last 2θ, step, first intensity, last intensity, attrs)
CASES = {
    "rigaku/miniflex600/TiO2-1-3h.ras": (
        "rigaku_ras", 4251, 5.0, 90.0, 0.02, 639.0, 72.0,
        dict(sample="TiO2-1-3h", operator="sdu_rigaku", voltage_kV=40.0, current_mA=15.0, target="Cu",
             wavelength_alpha1=1.540593, wavelength_alpha2=1.544414, wavelength_source="file",
             start_time="2019-02-18T12:48:06", scan_speed=5.0, scan_speed_unit="deg/min", count_time_s=0.24,
             scan_mode="CONTINUOUS", detector="D/teX Ultra", goniometer="MiniFlex 300/600",
             goniometer_radius_mm=150.0, divergence_slit="0.625deg", receiving_slit="13.0mm"),
    ),
    "rigaku/miniflex600/TiO2-3-3h-1.ras": (
        "rigaku_ras", 4251, 5.0, 90.0, 0.02, None, 64.0,
        dict(sample="TiO2-3-3h-1", operator="SDU_RIGAKU", start_time="2019-03-04T15:24:52",
             scan_speed=10.0, count_time_s=0.12, voltage_kV=40.0, current_mA=15.0),
    ),
    "rigaku/smartlab/XRD_RIGAKU.ras": (
        "rigaku_ras", 3501, 25.0, 60.0, 0.01, 13.0, 2.0,
        dict(sample="Test Sample", comment="XRD example", memo="Rigaku XRD memo", operator="English",
             voltage_kV=40.0, current_mA=30.0, start_time="2017-11-21T08:32:31", scan_speed=8.0,
             count_time_s=0.075, detector="DteX250(H)", wavelength_alpha1=1.540593, wavelength_alpha2=1.544414,
             goniometer_radius_mm=300.0),
    ),
    "rigaku/miniflex600/050121_LMO-p.asc": (
        "rigaku_rint_asc", 4351, 3.0, 90.0, 0.02, 822.0, 594.0,
        dict(sample="050121_LMO-p.ras", voltage_kV=40.0, current_mA=15.0, target="Cu",
             wavelength_alpha1=1.54059, wavelength_alpha2=1.54441, start_time="2021-01-05T12:55:00",
             scan_speed=0.24, scan_speed_unit="sec./step", count_time_s=0.24, detector="D/teX Ultra",
             goniometer_radius_mm=150.0, divergence_slit="0.625deg", filter="K-beta(x1)"),
    ),
    "rigaku/miniflex600/210721_LFP_first.asc": (
        "rigaku_rint_asc", 4251, 5.0, 90.0, 0.02, 153.0, 74.0,
        dict(sample="2210721_LFP_first", start_time="2021-07-21T11:54:00", scan_speed=0.12, count_time_s=0.12,
             divergence_slit="0.625deg"),
    ),
    "rigaku/raw/ultima4_test.raw": (
        "rigaku_raw", 4501, 10.0, 100.0, 0.02, 1158.0, 848.0,
        dict(sample="TEST SAMPLE", operator="dell", target="Cu", wavelength_alpha1=1.540562,
             wavelength_alpha2=1.544398, wavelength_source="file", goniometer="Ultima IV (185mm)",
             goniometer_radius_mm=185.0, start_time="2020-11-10T09:13:10+00:00",
             end_time="2020-11-10T09:18:47+00:00", stored_file_name="20190417.mcd"),
    ),
    "rigaku/smartlab/TwoTheta_scan_powder.rasx": (
        "rigaku_rasx", 2726, 10.0, 119.0, 0.04, 170.55354309082, 13.8521060943604,
        dict(operator="Administrator", voltage_kV=45.0, current_mA=200.0, target="Cu", wave_type="Ka1",
             alpha2_alpha1_ratio=0.0, wavelength_alpha1=1.540593, start_time="2021-05-05T10:35:31+00:00",
             scan_axis="TwoTheta", scan_speed=1.0, count_time_s=2.4, detector="HyPix3000(H)",
             goniometer_radius_mm=300.0, divergence_slit="1.000mm", instrument="SmartLabXE"),
    ),
    "rigaku/smartlab/Omega-2Theta_scan_high_temperature.rasx": (
        "rigaku_rasx", 1042, 44.0, 48.9968, 0.0048, 2.16424083709717, 0.0,
        dict(voltage_kV=40.0, current_mA=150.0, scan_axis="TwoThetaOmega", scan_stop=49.0,
             start_time="2020-08-03T20:16:09+00:00", alpha2_alpha1_ratio=0.0),
    ),
    "rigaku/smartlab/ZnO-ALD-training_001_1_0-000_0-000.rasx": (
        "rigaku_rasx", 7001, 20.0, 90.0, 0.01, 253.0, 15.0,
        dict(operator="s183749", voltage_kV=40.0, current_mA=30.0, wave_type="Ka", alpha2_alpha1_ratio=0.5,
             scan_axis="TwoThetaTheta", scan_speed=8.0, detector="DteX250(H)", instrument="SmartLab",
             start_time="2024-02-19T09:05:47+00:00"),
    ),
    "qpa/cpd1/CPD-1A.xye": ("columns", 7250, 5.02, 150.0, 0.02, 161.0, 21.0,
                            dict(wavelength_alpha1=1.540593, wavelength_source="file", esd_source="file")),
    "qpa/cpd1/CPD-1B.xye": ("columns", 7250, 5.02, 150.0, 0.02, 171.0, 353.0, dict(wavelength_alpha1=1.540593)),
    "qpa/cpd1/CPD-1C.xye": ("columns", 7250, 5.02, 150.0, 0.02, 176.0, 79.0, dict(wavelength_alpha1=1.540593)),
    "qpa/cpd1/CPD-1D.xye": ("columns", 7250, 5.02, 150.0, 0.02, 176.0, 42.0, dict(wavelength_alpha1=1.540593)),
    "instrument/LaB6_16_03_09_0004.xye": ("columns", 6398, 19.0098, 145.0017, 0.0197, 49.3043, 7.3720,
                                          dict(wavelength_alpha1=1.540593, wavelength_source="file")),
    "instrument/NIST_SRM1976b_17_05_23_0014.xye": ("columns", 6016, 20.01, 139.9974, 0.0199, 41.8571, 9.1833,
                                                   dict(wavelength_source="assumed Cu Kα", esd_source="file")),
    "misc/Mn2O3+LiF.xy": ("columns", 9001, 10.0, 100.0, 0.01, 1845.0, 1411.0,
                          dict(wavelength_source="assumed Cu Kα", ignored_columns="3")),
}

FIRST_ESD = {
    "qpa/cpd1/CPD-1A.xye": 12.6886,
    "instrument/LaB6_16_03_09_0004.xye": 2.0706,
    "rigaku/miniflex600/TiO2-1-3h.ras": np.sqrt(639.0),
    "misc/Mn2O3+LiF.xy": np.sqrt(1845.0),
}


@pytest.mark.parametrize("rel", sorted(CASES))
def test_real_file_loads_with_header_values(shared_data, rel):
    fmt, n, x0, x1, step, y0, y1, attrs = CASES[rel]
    p = xrdq.load(shared_data / rel)
    assert p.attrs["format"] == fmt
    assert p.sizes["two_theta"] == n
    assert p["two_theta"].values[0] == pytest.approx(x0, abs=1e-6)
    assert p["two_theta"].values[-1] == pytest.approx(x1, abs=1e-6)
    assert p.attrs["step"] == pytest.approx(step, rel=1e-6)
    if y0 is not None:
        assert p.values[0] == pytest.approx(y0)
    assert p.values[-1] == pytest.approx(y1)
    for key, value in attrs.items():
        assert key in p.attrs, f"{rel}: attr {key} missing"
        if isinstance(value, float):
            assert p.attrs[key] == pytest.approx(value), key
        else:
            assert p.attrs[key] == value, key
    if rel in FIRST_ESD:
        assert p["esd"].values[0] == pytest.approx(FIRST_ESD[rel], rel=1e-6)


@pytest.mark.parametrize("rel", sorted(CASES))
def test_real_file_meets_pattern_contract(shared_data, rel):
    p = xrdq.load(shared_data / rel)
    assert p.name == "intensity" and p.dims == ("two_theta",)
    assert p.dtype == np.float64
    assert (np.diff(p["two_theta"].values) > 0).all()
    assert "esd" in p.coords and p["esd"].dims == ("two_theta",)
    for v in p.attrs.values():
        assert v is not None and not isinstance(v, bool)
        assert isinstance(v, (str, int, float, np.ndarray, np.integer, np.floating))
    for key in ("wavelength_alpha1", "wavelength_alpha2", "alpha2_alpha1_ratio", "wavelength_source",
                "source_path", "sha256", "format", "scan_index", "intensity_unit", "raw_header"):
        assert key in p.attrs, key
    assert p.attrs["intensity_unit"] == "counts"
    assert len(p.attrs["sha256"]) == 64
    json.loads(p.attrs["raw_header"])


def test_ras_raw_header_keeps_japanese_and_attr_keeps_english(shared_data):
    p = xrdq.load(shared_data / "rigaku/miniflex600/TiO2-1-3h.ras")
    raw = json.loads(p.attrs["raw_header"])
    assert raw["HW_GONIOMETER_NAME"] == "MiniFlex 300/600|MiniFlex 300/600"
    assert raw["HW_XG_NAME"].endswith("|300W/600W Sealed tube-B")
    assert "封入管" in raw["HW_XG_NAME"]  # decoded from Shift-JIS
    assert raw["MEAS_DATA_COUNT"] == "4251.0000000000"


def test_sha256_is_of_the_file_bytes(shared_data):
    import hashlib

    path = shared_data / "rigaku/raw/ultima4_test.raw"
    assert xrdq.load(path).attrs["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_raw_offsets_match_provenance(shared_data):
    """The provenance note says start@2962 end@2966 step@2970 count@3154 data@3158 (float32)."""
    import struct

    data = (shared_data / "rigaku/raw/ultima4_test.raw").read_bytes()
    assert struct.unpack_from("<3f", data, 2962)[:2] == (10.0, 100.0)
    assert struct.unpack_from("<I", data, 3154)[0] == 4501
    p = xrdq.load(shared_data / "rigaku/raw/ultima4_test.raw")
    np.testing.assert_array_equal(p.values, np.frombuffer(data, "<f4", 4501, 3158))
    assert len(data) == 3158 + 4 * 4501


@pytest.mark.parametrize("rel", sorted(r for r in CASES if r.startswith("rigaku/")))
def test_real_rigaku_scan_axes_pass_and_raise_no_header_doubt(shared_data, rel):
    """Their axes (TwoThetaTheta, Theta/2-Theta, TwoThetaOmega, TwoTheta) are 2θ scans in deg, their targets Cu."""
    assert "target_note" not in xrdq.load(shared_data / rel).attrs
