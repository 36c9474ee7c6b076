"""Inputs and outputs that used to end in a traceback: now one clear line, and before any fit."""

from __future__ import annotations

import os

import pytest

from xrdq.cli import main
from xrdq.errors import XrdqOutputError, XrdqRefineError


def _run(argv) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code


@pytest.fixture()
def no_fit(monkeypatch):
    """Fail the test if a fit starts: output problems must be found before it."""
    import xrdq.batch.runner
    import xrdq.quant.api

    def fit(*args, **kwargs):
        raise AssertionError("the fit ran before the output path was checked")

    monkeypatch.setattr(xrdq.quant.api, "quantify", fit)
    monkeypatch.setattr(xrdq.batch.runner, "build_jobs", fit)


@pytest.fixture()
def pattern(tmp_path):
    p = tmp_path / "p.xy"
    p.write_text("".join(f"{10 + 0.02 * i:.2f} {100 + i % 7}\n" for i in range(300)))
    return p


def test_all_zero_counts_is_a_clear_error(tmp_path, capsys):
    import xrdq

    zero = tmp_path / "zero.xy"
    zero.write_text("".join(f"{10 + 0.02 * i:.2f} 0\n" for i in range(300)))
    with pytest.raises(XrdqRefineError, match="every intensity .* is 0"):
        xrdq.quantify(zero, phases=["LiCl"])
    assert _run(["quantify", str(zero), "--phase", "LiCl"]) == 2
    err = capsys.readouterr().err
    assert "is 0" in err and "Traceback" not in err


@pytest.mark.parametrize("option", ["--json", "--plot"])
def test_output_under_a_file_is_refused_before_the_fit(pattern, tmp_path, capsys, no_fit, option):
    blocker = tmp_path / "results.txt"
    blocker.write_text("a file, not a folder")
    target = blocker / "sub" / ("q.json" if option == "--json" else "q.png")
    assert _run(["quantify", str(pattern), "--phase", "LiCl", option, str(target)]) == 2
    err = capsys.readouterr().err
    assert "results.txt is a file" in err and "Traceback" not in err


def test_output_in_an_unwritable_place_is_refused_before_the_fit(pattern, capsys, no_fit):
    # /proc takes no new files, whoever runs the test (root ignores permission bits)
    assert _run(["quantify", str(pattern), "--phase", "LiCl", "--json", "/proc/xrdq-test/q.json"]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert _run(["batch", str(pattern), "--phase", "LiCl", "--out", "/proc/xrdq-test-out"]) == 2
    assert "cannot write" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_refused_before_the_fit(pattern, tmp_path, capsys, no_fit):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert _run(["quantify", str(pattern), "--phase", "LiCl", "--json", str(ro / "q.json")]) == 2
        assert _run(["batch", str(pattern), "--phase", "LiCl", "--out", str(ro / "out")]) == 2
    finally:
        ro.chmod(0o700)


def test_batch_out_under_a_file_is_refused(pattern, tmp_path, capsys, no_fit):
    blocker = tmp_path / "f"
    blocker.write_text("x")
    assert _run(["batch", str(pattern), "--phase", "LiCl", "--out", str(blocker / "out")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert _run(["batch", str(pattern), "--phase", "LiCl", "--out", str(blocker)]) == 2
    assert "is a file" in capsys.readouterr().err


def test_unknown_plot_format_is_refused_before_the_fit(pattern, tmp_path, capsys, no_fit):
    assert _run(["quantify", str(pattern), "--phase", "LiCl", "--plot", str(tmp_path / "out.xyz")]) == 2
    err = capsys.readouterr().err
    assert ".xyz" in err and ".png" in err and "Traceback" not in err
    assert not (tmp_path / "out.xyz").exists()


def test_plot_result_checks_the_format_before_drawing(tmp_path):
    from xrdq.plot import plot_result

    with pytest.raises(XrdqOutputError, match="xyz"):
        plot_result(object(), tmp_path / "fit.xyz")  # no refinement needed: refused before drawing


def test_other_commands_check_their_outputs_first(pattern, tmp_path, capsys):
    blocker = tmp_path / "f"
    blocker.write_text("x")
    for argv in (["convert", str(pattern), "--to", "xye", "--out", str(blocker / "x.xye")],
                 ["simulate", "--phase", "LiF", "--fractions", "1", "--out", str(blocker / "s.ras")],
                 ["calibrate", str(pattern), "--out", str(blocker / "i.toml")],
                 ["demo", "--out", str(blocker / "demo")]):
        assert _run(argv) == 2, argv
        err = capsys.readouterr().err
        assert "is a file, not a folder" in err and "Traceback" not in err, (argv, err)


def test_simulate_takes_comma_separated_fractions_and_names_its_truth_as_documented(tmp_path, capsys):
    import json

    import xrdq

    out = tmp_path / "sim.ras"
    assert _run(["simulate", "--phase", "LiF", "--phase", "LiCl", "--phase", "Li2O", "--fractions", "0.2,0.2,0.1",
                 "--amorphous", "0.5", "--two-theta", "20", "60", "0.02", "--out", str(out)]) == 0
    truth_path = tmp_path / "sim.truth.json"
    assert str(truth_path) in capsys.readouterr().out
    truth = json.loads(truth_path.read_text())
    assert truth["mixture"] == pytest.approx({"LiF": 0.2, "LiCl": 0.2, "Li2O": 0.1})
    assert xrdq.load(out).sizes["two_theta"] == 2001
    assert _run(["simulate", "--help"]) == 0
    assert "sim.truth.json" in capsys.readouterr().out
    assert _run(["simulate", "--phase", "LiF", "--fractions", "0.2,x", "--out", str(out)]) == 2
    assert "'x' is not a number" in capsys.readouterr().err


def test_simulate_a_wholly_amorphous_specimen_and_a_standard_alone(tmp_path, capsys):
    """A pure glass (a PONKCS reference, docs/quickstart.md) and a pure standard: nothing to normalise the Rietveld or
    the sample fractions by, which was a ZeroDivisionError traceback."""
    import json

    assert _run(["simulate", "--phase", "LiF", "--fractions", "0", "--amorphous", "1", "--two-theta", "20", "60", "0.02",
                 "--out", str(tmp_path / "glass.ras")]) == 0
    truth = json.loads((tmp_path / "glass.truth.json").read_text())
    assert truth["refined_fractions"] == {} and truth["amorphous_in_mixture"] == 1
    assert _run(["simulate", "--phase", "LiF", "--fractions", "1", "--standard", "LiF", "--two-theta", "20", "60", "0.02",
                 "--out", str(tmp_path / "lif.ras")]) == 0
    truth = json.loads((tmp_path / "lif.truth.json").read_text())
    assert truth["sample_fractions"] == {} and truth["amorphous_fraction"] is None
    assert truth["refined_fractions"] == {"LiF": 1.0}
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("two_theta, said", [
    (("20", "21", "0"), "step of at least 0.001"),  # ZeroDivisionError
    (("21", "20", "0.01"), "0 < start < stop"),  # a numpy reduction error
    (("38", "39", "0.00005"), "step of at least 0.001"),  # wrote a .ras whose 2θ repeat: no reader took it
    (("20", "21", "0.01"), "nothing to simulate in 20–21°"),  # no LiF line there: Poisson 'lam value too large'
])
def test_simulate_refuses_ranges_it_cannot_write(tmp_path, capsys, two_theta, said):
    assert _run(["simulate", "--phase", "LiF", "--fractions", "1", "--two-theta", *two_theta, "--seed", "1",
                 "--out", str(tmp_path / "s.ras")]) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err
    assert not (tmp_path / "s.ras").exists()


def test_quantify_of_a_single_point_file_names_the_file(tmp_path, capsys):
    f = tmp_path / "single.xy"
    f.write_text("20.0 100\n")
    with pytest.raises(SystemExit) as info:
        main(["quantify", str(f), "--phase", "LiCl"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback" not in err
    assert f"{f}: 1 data point; a diffraction pattern needs at least 10" in err
    assert "range" not in err


@pytest.mark.parametrize("command", [
    ["quantify", "{f}", "--phase", "LiCl"],
    ["convert", "{f}", "--to", "xye"],
    ["calibrate-scale", "{f}", "--phase", "LiCl", "--out", "{d}/g.toml"],
    ["ponkcs", "{f}", "--name", "am", "--formula", "SiO2", "--phase", "LiCl", "--known", "LiCl=0.5",
     "--out", "{d}/p.toml"],
])
def test_negative_scan_index_is_refused(tmp_path, capsys, command):
    """--scan -1 was taken as Python's last scan."""
    f = tmp_path / "p.xy"
    f.write_text("".join(f"{10 + 0.02 * i:.2f} {100 + i}\n" for i in range(60)))
    argv = [a.format(f=f, d=tmp_path) for a in command] + ["--scan", "-1"]
    assert _run(argv) == 2
    err = capsys.readouterr().err
    assert "'--scan': -1 is not in the range x>=0" in err and "Traceback" not in err
    assert not list(tmp_path.glob("*.toml")) and not list(tmp_path.glob("*.xye"))
