"""Inputs that are legitimate but written unusually (byte-order mark, old Mac line endings) read like any other."""

from __future__ import annotations

import numpy as np
import pytest
from io_synth import ras_scan, rows3

import xrdq
from xrdq.errors import XrdqReadError

ASC = ("*TYPE = Raw\n*BEGIN\n*START = 10\n*STOP = 10.18\n*STEP = 0.02\n*COUNT = 10\n"
       "1, 2, 3, 4, 5, 6, 7, 8, 9, 10\n*END\n")
XYE = "".join(f"{10 + 0.02 * i:.2f} {i + 1} 1\n" for i in range(12))
CSV = XYE.replace(" 1\n", "\n").replace(" ", ",")


@pytest.mark.parametrize("name,text", [("a.ras", ras_scan(rows3(12))), ("a.asc", ASC), ("a.xye", XYE), ("a.csv", CSV)])
def test_utf8_bom_reads_as_without(write, name, text):
    plain = xrdq.load(write(name, text))
    bom = xrdq.load(write("bom_" + name, text, encoding="utf-8-sig"))
    np.testing.assert_array_equal(bom["two_theta"].values, plain["two_theta"].values)
    np.testing.assert_array_equal(bom.values, plain.values)
    assert bom.attrs["wavelength_alpha1"] == plain.attrs["wavelength_alpha1"]


def test_ras_with_cr_only_line_ends(write):
    """Old Mac line ends read as \\n or \\r\\n do, and an error still names the right line."""
    text = ras_scan(rows3(12))
    plain = xrdq.load(write("lf.ras", text))
    cr = xrdq.load(write("cr.ras", text.replace("\n", "\r")))
    np.testing.assert_array_equal(cr["two_theta"].values, plain["two_theta"].values)
    np.testing.assert_array_equal(cr.values, plain.values)
    assert cr.attrs["sample"] == "S1" and cr.attrs["data_count"] == 12
    rows = rows3(12)
    rows[4] = ("10.04", "abc", 1)
    bad = ras_scan(rows)
    with pytest.raises(XrdqReadError) as info:
        xrdq.load(write("crbad.ras", bad.replace("\n", "\r")))
    assert info.value.line == bad.splitlines().index("10.04 abc 1") + 1
