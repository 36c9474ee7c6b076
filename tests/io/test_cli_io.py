"""``xrdq info`` and ``xrdq convert`` through the real entry point (errors → one line, exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from io_synth import more_lines, ras_scan, rows3

import xrdq
from xrdq.cli import main

KEYS = {"file", "scan", "format", "points", "two_theta_start", "two_theta_end", "step", "wavelength_alpha1",
        "wavelength_alpha2", "sample", "intensity_max", "intensity_unit"}


def run(capsys, *args):
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def test_info_json_one_array_one_object_per_scan(capsys, write):
    a = write("multi.ras", ras_scan(rows3(11), sample="one") + ras_scan(rows3(12, start=20), sample="two"))
    b = write("b.xy", more_lines("10 1\n10.5 4\n"))
    code, out, _ = run(capsys, "info", str(a), str(b), "--json")
    assert code == 0
    data = json.loads(out)
    assert isinstance(data, list) and len(data) == 3
    for obj in data:
        assert KEYS <= set(obj)
    assert [o["scan"] for o in data] == [0, 1, 0]
    assert data[0]["points"] == 11 and data[1]["sample"] == "two" and data[2]["format"] == "columns"
    assert data[1]["two_theta_start"] == 20.0 and data[0]["intensity_unit"] == "counts"
    assert data[2]["intensity_max"] == 4.0 and data[2]["step"] == 0.5


def test_info_table(capsys, write):
    code, out, _ = run(capsys, "info", str(write("a.ras", ras_scan(rows3(12), sample="quartz"))))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["file", "scan", "format"]
    assert "quartz" in lines[1] and "rigaku_ras" in lines[1]


def test_info_bad_file_is_one_line_exit_2(capsys, write):
    code, out, err = run(capsys, "info", str(write("bad.xy", "10 1\n9 2\n11 3\n")))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("xrdq: error:") and "bad.xy" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("to", ["xye", "csv", "nc"])
def test_convert_outputs(capsys, write, tmp_path, to):
    src = write("s.ras", ras_scan(rows3(12, factor=2)))
    out = tmp_path / f"o.{to}"
    code, stdout, _ = run(capsys, "convert", str(src), "--to", to, "--out", str(out))
    assert code == 0 and "12 points" in stdout
    back = xrdq.load(out)
    orig = xrdq.load(src)
    np.testing.assert_allclose(back.values, orig.values)
    np.testing.assert_allclose(back["esd"].values, orig["esd"].values)
    if to == "nc":
        assert back.attrs["sha256"] == orig.attrs["sha256"]


def test_convert_default_name_and_scan(capsys, write, tmp_path):
    src = write("m.ras", ras_scan(rows3(12)) + ras_scan(rows3(12, start=30)))
    code, _, _ = run(capsys, "convert", str(src), "--to", "xye", "--scan", "1")
    assert code == 0
    out = tmp_path / "m_scan1.xye"
    assert xrdq.load(out)["two_theta"].values[0] == 30.0
    code, _, err = run(capsys, "convert", str(src), "--to", "xye", "--scan", "5")
    assert code == 2 and "scan 5 requested" in err


def test_convert_refuses_to_overwrite_input(capsys, write):
    src = write("same.xye", more_lines("10 1 1\n11 2 1\n"))
    before = src.read_bytes()
    code, _, err = run(capsys, "convert", str(src), "--to", "xye")
    assert code == 2 and "refusing to overwrite the input" in err
    assert src.read_bytes() == before


def test_info_json_says_how_far_below_zero_a_column_file_goes(capsys, write):
    code, out, _ = run(capsys, "info", str(write("g.xye", more_lines("10 3 1.7\n10.5 -2.5 1\n11 -0.5 1\n"))), "--json")
    assert code == 0
    obj = json.loads(out)[0]
    assert obj["negative_points"] == 2 and obj["intensity_min"] == -2.5 and obj["intensity_max"] == 3.0


def test_info_shows_the_measurements_divergence_slit(capsys, write):
    """The slit quantify will use (docs/instrument.md): the header's angle, and a constant-irradiation mode."""
    axis = ['*MEAS_COND_AXIS_NAME_INTERNAL-5 "IncidentSlitBox"', '*MEAS_COND_AXIS_POSITION-5 "0.625deg"',
            '*MEAS_COND_IRRADIATION_MODE "ON"']
    code, out, _ = run(capsys, "info", "--json", str(write("ds.ras", ras_scan(rows3(12), extra=axis))),
                       str(write("no.xy", more_lines("10 1\n10.5 4\n"))))
    assert code == 0
    ds, none = json.loads(out)
    assert ds["divergence_slit_deg"] == 0.625 and ds["irradiation_mode"] == "ON"
    assert none["divergence_slit_deg"] is None and none["irradiation_mode"] is None
    code, out, _ = run(capsys, "info", str(write("ds2.ras", ras_scan(rows3(12), extra=axis[:2]))))
    head, row = out.splitlines()
    assert "DS" in head.split() and "0.625°" in row.split()
    # a width in mm (a SmartLab's incident slit) is no angle: shown as the header gives it, not as missing
    mm = ['*MEAS_COND_AXIS_NAME_INTERNAL-5 "IncidentSlitBox"', '*MEAS_COND_AXIS_POSITION-5 "1.000mm"']
    code, out, _ = run(capsys, "info", str(write("mm.ras", ras_scan(rows3(12), extra=mm))))
    assert "1.000mm" in out.splitlines()[1].split()
    code, out, _ = run(capsys, "info", "--json", str(write("mm2.ras", ras_scan(rows3(12), extra=mm))))
    obj = json.loads(out)[0]
    assert obj["divergence_slit_deg"] is None and obj["divergence_slit"] == "1.000mm"


@pytest.mark.parametrize("as_json", [False, True])
def test_info_reports_a_directory_like_a_missing_file_and_shows_the_rest(capsys, write, tmp_path, as_json):
    good = write("good.ras", ras_scan(rows3(12)))
    folder = tmp_path / "adir.ras"
    folder.mkdir()
    code, out, err = run(capsys, "info", str(good), str(folder), str(tmp_path / "nope.ras"), *(["--json"] * as_json))
    assert code == 2 and "Traceback" not in err and "Usage" not in err
    assert "good.ras" in out
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0] == f"xrdq: error: {folder}: is a directory; expected a pattern file"
    assert lines[1].startswith(f"xrdq: error: {tmp_path / 'nope.ras'}: cannot open the file")
    if as_json:
        errors = [o.get("error", "").split(":")[0] for o in json.loads(out)][1:]
        assert errors == [str(folder), str(tmp_path / "nope.ras")]
