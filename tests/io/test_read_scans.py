"""read_scans: the same checked scans as load_all, as plain arrays and attrs (for ``xrdq info``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from io_synth import ras_scan, rows3

import xrdq
from xrdq.errors import XrdqReadError
from xrdq.io import Scan, pattern_arrays, read_scan, read_scans, write_netcdf, write_xye

DEMO = Path(__file__).resolve().parents[2] / "reference_patterns" / "demo" / "demo_lazco.ras"


def _same(scan, pattern):
    assert isinstance(scan, Scan)
    np.testing.assert_array_equal(scan.two_theta, pattern["two_theta"].values)
    np.testing.assert_array_equal(scan.intensity, pattern.values)
    np.testing.assert_array_equal(scan.esd, pattern["esd"].values)
    assert scan.attrs == dict(pattern.attrs)


def test_same_scan_as_load_all(write, tmp_path):
    for path in (DEMO, write("p.ras", ras_scan(rows3(12, factor=2)))):
        scans, patterns = read_scans(path), xrdq.load_all(path)
        assert len(scans) == len(patterns) == 1
        _same(scans[0], patterns[0])
        # the Scan wraps into the very DataArray load() returns
        assert scans[0].to_dataarray().identical(patterns[0])
    pattern = xrdq.load(DEMO)
    for f in (write_netcdf(pattern, tmp_path / "d.nc"), write_xye(pattern, tmp_path / "d.xye")):
        _same(read_scans(f)[0], xrdq.load(f))


def test_load_after_read_scans_still_returns_dataarrays():
    read_scans(DEMO)
    assert type(xrdq.load(DEMO)).__name__ == "DataArray"


def test_bad_file_raises_the_same_clear_error(write):
    bad = write("bad.ras", ras_scan(rows3(12)).replace("10.0200", "10.0000", 1))
    with pytest.raises(XrdqReadError) as a:
        xrdq.load_all(bad)
    with pytest.raises(XrdqReadError) as b:
        read_scans(bad)
    assert str(a.value) == str(b.value)
    assert type(xrdq.load(DEMO)).__name__ == "DataArray"  # the error left no scan mode behind


def test_read_scan_picks_the_scan_load_picks(write):
    two = write("two.ras", ras_scan(rows3(12, counts=100)) + ras_scan(rows3(12, counts=500)))
    for k in (0, 1, -1):
        _same(read_scan(two, scan=k), xrdq.load(two, scan=k))
    assert read_scan(two, scan=1).intensity[0] == 500
    assert xrdq.load(two, scan=-1).values[0] == 500  # a Python index: the last scan (documented in load)
    with pytest.raises(XrdqReadError) as a:
        xrdq.load(two, scan=2)
    with pytest.raises(XrdqReadError) as b:
        read_scan(two, scan=2)
    assert str(a.value) == str(b.value) and "holds 2 scan(s)" in str(b.value)


def test_pattern_arrays_are_the_same_for_a_scan_and_its_dataarray():
    scan, pattern = read_scan(DEMO), xrdq.load(DEMO)
    for a, b in zip(pattern_arrays(scan), pattern_arrays(pattern)):
        np.testing.assert_array_equal(a, b)
    _same(Scan.from_dataarray(pattern), pattern)


def test_a_dataarray_without_esd_gets_counting_statistics():
    """A DataArray built by hand may lack the esd coordinate: √max(I, 1), a zero count keeping a finite weight."""
    bare = xrdq.load(DEMO).drop_vars("esd")
    bare[:3] = 0.0
    tt, y, esd = pattern_arrays(bare)
    np.testing.assert_array_equal(esd, np.sqrt(np.maximum(y, 1.0)))
    assert esd[0] == 1.0
    np.testing.assert_array_equal(Scan.from_dataarray(bare).esd, esd)
