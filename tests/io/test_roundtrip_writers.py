"""netCDF round trip keeps values, esd and every attr; writers are atomic and leave inputs alone."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
import xarray as xr
from io_synth import ras_scan, rows3

import xrdq
from xrdq.io import write_csv, write_netcdf, write_xye


def _same_attrs(a, b):
    assert set(a) == set(b)
    for k in a:
        if isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k])
        else:
            assert a[k] == b[k], k
            assert type(a[k]) is type(b[k]) or isinstance(a[k], (int, float)), k


@pytest.fixture
def pattern(write):
    extra = ['*HW_XG_NAME "封入管|Sealed tube"']
    return xrdq.load(write("p.ras", ras_scan(rows3(12, factor=2), extra=extra), encoding="cp932"))


def test_to_netcdf_round_trip_with_xarray(pattern, tmp_path):
    f = tmp_path / "p.nc"
    pattern.to_netcdf(f, engine="h5netcdf")
    back = xr.open_dataarray(f, engine="h5netcdf").load()
    np.testing.assert_array_equal(back.values, pattern.values)
    np.testing.assert_array_equal(back["esd"].values, pattern["esd"].values)
    np.testing.assert_array_equal(back["two_theta"].values, pattern["two_theta"].values)
    assert back.name == "intensity"
    _same_attrs(pattern.attrs, back.attrs)


def test_write_netcdf_then_xrdq_load(pattern, tmp_path):
    f = write_netcdf(pattern, tmp_path / "p.nc")
    back = xrdq.load(f)
    np.testing.assert_array_equal(back.values, pattern.values)
    np.testing.assert_array_equal(back["esd"].values, pattern["esd"].values)
    _same_attrs(pattern.attrs, back.attrs)
    assert "封入管" in back.attrs["raw_header"]


def test_real_files_round_trip(shared_data, tmp_path):
    for rel in ("rigaku/miniflex600/TiO2-1-3h.ras", "rigaku/smartlab/TwoTheta_scan_powder.rasx",
                "rigaku/raw/ultima4_test.raw", "qpa/cpd1/CPD-1A.xye"):
        p = xrdq.load(shared_data / rel)
        back = xrdq.load(write_netcdf(p, tmp_path / "x.nc"))
        np.testing.assert_array_equal(back.values, p.values)
        _same_attrs(p.attrs, back.attrs)


def test_xye_and_csv_round_trip_values_and_wavelengths(pattern, tmp_path):
    for writer, name in ((write_xye, "p.xye"), (write_csv, "p.csv")):
        back = xrdq.load(writer(pattern, tmp_path / name))
        np.testing.assert_allclose(back.values, pattern.values)
        np.testing.assert_allclose(back["esd"].values, pattern["esd"].values, rtol=1e-9)
        np.testing.assert_allclose(back["two_theta"].values, pattern["two_theta"].values)
        assert back.attrs["wavelength_alpha1"] == pattern.attrs["wavelength_alpha1"]
        assert back.attrs["wavelength_alpha2"] == pattern.attrs["wavelength_alpha2"]
        assert back.attrs["esd_source"] == "file"


def test_xye_and_csv_keep_what_the_measurement_header_says(shared_data, tmp_path):
    """A converted MiniFlex file quantifies as its source: the slit (0.625°, not the instrument's nominal 1.25°: a
    declared specimen's overspill, the FP profile), counting time and tube current (an external standard's count
    normalisation) came back from xrdq's own .xye/.csv as missing."""
    from xrdq.model.instrument import measured_divergence_slit

    src = xrdq.load(shared_data / "rigaku/miniflex600/TiO2-1-3h.ras")
    keys = ("divergence_slit", "count_time_s", "voltage_kV", "current_mA", "goniometer_radius_mm", "start_time")
    assert all(k in src.attrs for k in keys)
    for writer, name in ((write_xye, "p.xye"), (write_csv, "p.csv")):
        back = xrdq.load(writer(src, tmp_path / name))
        assert {k: back.attrs[k] for k in keys} == {k: src.attrs[k] for k in keys}, name
        assert measured_divergence_slit(back.attrs) == 0.625
        assert back.attrs["format"] != src.attrs["format"]  # the new file's own, not the source's
    bad = tmp_path / "bad.xye"
    bad.write_text("# count_time_s = -1\n10 5\n11 6\n12 7\n")
    with pytest.raises(xrdq.XrdqReadError, match="count_time_s = -1.0; expected a finite value > 0"):
        xrdq.load(bad)


def test_writers_are_atomic_and_leave_no_temp_files(pattern, tmp_path, monkeypatch):
    target = tmp_path / "out.xye"
    target.write_text("old content\n")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_xye(pattern, target)
    assert target.read_text() == "old content\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.xye", "p.ras"]


def test_loading_never_modifies_input(write):
    path = write("keep.ras", ras_scan(rows3(12)))
    before = hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns
    xrdq.load_all(path)
    assert (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns) == before
