"""``xrdq quantify``, ``xrdq batch`` and the batch manifest share one set of refinement options."""

from __future__ import annotations

import re

import pytest

from xrdq.batch.inputs import read_manifest
from xrdq.cli import cli, main
from xrdq.errors import XrdqError
from xrdq.settings import SETTINGS

ALL_OPTIONS = ["--phase", "LiCl;Li2ZrCl6", "--standard", "LiF=0.4", "--standard-purity", "0.98",
               "--standard-esd", "0.001", "--purity-esd", "0.01", "--instrument", "miniflex600-fp",
               "--engine", "native", "--two-theta-range", "10", "80", "--recipe", "r.toml",
               "--brindley", "LiF=5", "--brindley", "LiCl=12.5", "--berar-lelann", "--no-humps",
               "--preferred-orientation", "LiCl=1,1,1", "--preferred-orientation", "LiF=none", "--no-texture", "--uniaxial-size", "Li2ZrCl6=0,0,1", "--strain", "--biso",
               "--external-standard", "G.toml",
               "--sample-composition", "Li2ZrCl6:0.8,LiCl:0.2"]
EXPECTED = {"phases": ["LiCl", "Li2ZrCl6"], "standard": ("LiF", 0.4), "purity": 0.98, "standard_esd": 0.001,
            "purity_esd": 0.01, "instrument": "miniflex600-fp", "engine": "native", "two_theta_range": (10.0, 80.0),
            "recipe": "r.toml", "brindley": {"LiF": 5.0, "LiCl": 12.5}, "berar_lelann": True, "humps": [],
            "preferred_orientation": {"LiCl": (1, 1, 1), "LiF": None}, "texture": False, "uniaxial_size": {"Li2ZrCl6": (0, 0, 1)}, "strain": True, "biso": True, "external_standard": "G.toml",
            "sample_composition": "Li2ZrCl6:0.8,LiCl:0.2"}


class Captured(XrdqError):
    pass


@pytest.fixture()
def capture(monkeypatch):
    """Replace quantify and quantify_many by recorders; the command then stops with exit status 2."""
    seen = {}

    def record(name):
        def fake(*args, **kwargs):
            seen[name] = kwargs
            raise Captured("captured")
        return fake

    import xrdq.batch.runner
    import xrdq.quant.api

    monkeypatch.setattr(xrdq.quant.api, "quantify", record("quantify"))
    monkeypatch.setattr(xrdq.batch.runner, "quantify_many", record("batch"))
    return seen


def _run(argv) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code


def _options(command: str) -> set[str]:
    cmd = cli.get_command(None, command)
    return {o for p in cmd.params for o in p.opts if o.startswith("--")}


def test_quantify_and_batch_have_the_same_refinement_options():
    shared = {s.option for s in SETTINGS}
    for name in ("--recipe", "--brindley", "--no-humps", "--berar-lelann", "--no-standard",
                 "--preferred-orientation", "--strain"):
        assert name in shared
    assert shared <= _options("quantify") and shared <= _options("batch")


def test_help_lists_every_bundled_instrument(capsys):
    from xrdq.model.instrument import list_instruments

    for command in ("quantify", "batch"):
        assert _run([command, "--help"]) == 0
        text = re.sub(r"\s+", " ", capsys.readouterr().out)
        for name in list_instruments():
            assert name in text, f"{command} --help omits instrument {name}"
        for s in SETTINGS:
            assert s.option in text


def test_every_option_reaches_quantify_and_batch_alike(capture, tmp_path):
    f = tmp_path / "p.xy"
    f.write_text("10 1\n11 2\n")
    assert _run(["quantify", str(f), *ALL_OPTIONS]) == 2
    assert _run(["batch", str(f), "--out", str(tmp_path / "out"), *ALL_OPTIONS]) == 2
    assert capture["quantify"] == dict(EXPECTED, scan=0)
    got = dict(capture["batch"])
    assert {k: got[k] for k in EXPECTED} == EXPECTED


@pytest.mark.parametrize("flags", [["--no-standard"], ["--standard", "none"], ["--standard", "LiF=0.5", "--no-standard"]])
def test_no_standard_and_its_alias(capture, tmp_path, flags):
    f = tmp_path / "p.xy"
    f.write_text("10 1\n")
    assert _run(["quantify", str(f), "--phase", "LiCl", *flags]) == 2
    assert _run(["batch", str(f), "--phase", "LiCl", "--out", str(tmp_path / "o"), *flags]) == 2
    assert capture["quantify"]["standard"] is None and capture["batch"]["standard"] is None


@pytest.mark.parametrize("args, message", [
    (["--standard", "LiF=50"], "did you mean 0.50"),
    (["--standard", "LiF=1.5"], "did you mean 0.015"),  # not rounded to 0.01
    (["--preferred-orientation", "LiCl=1,1"], "three integers"),
    (["--preferred-orientation", "LiCl"], "PHASE=h,k,l"),
    (["--brindley", "LiF=-3"], "positive"),
    (["--two-theta-range", "80", "10"], "MIN < MAX"),
    (["--cover-film", "kapton=abc"], "is not a number"),
    (["--cover-film", "tinfoil=5"], "unknown material 'tinfoil'"),
    (["--cover-film", "mu_t=-0.1"], "must be ≥ 0"),
    (["--sample-length", "abc"], "is not a number"),
    (["--standard", "LiF=nan"], "must be a finite number"),  # a traceback from round(nan), which killed a batch
    (["--standard", "LiF=inf"], "must be a finite number"),
    (["--standard", "LiF=1e-9"], "is W_s a typo"),  # read "amorphous 100.00 ± 0.00", verdict ok
    (["--standard-esd", "nan"], "not a finite number"),  # gave ± nan, verdict ok
    (["--purity-esd", "inf"], "not a finite number"),
])
def test_bad_option_values_are_named(capture, tmp_path, capsys, args, message):
    f = tmp_path / "p.xy"
    f.write_text("10 1\n")
    for command in (["quantify", str(f)], ["batch", str(f), "--out", str(tmp_path / "o")]):
        assert _run([*command, "--phase", "LiCl", *args]) == 2
        err = capsys.readouterr().err
        assert message in err and args[0] in err
    assert not capture  # refused before any fit


def test_percent_standard_gets_a_hint_in_python_too():
    from xrdq.quant.internal_standard import check_standard_inputs

    with pytest.raises(XrdqError, match="did you mean 0.50"):
        check_standard_inputs(50.0, 1.0)
    for args in ((float("nan"), 1.0), (0.5, float("nan")), (0.5, 1.0, float("nan")), (0.5, 1.0, 0.0, float("inf"))):
        with pytest.raises(XrdqError, match="must be a finite number"):
            check_standard_inputs(*args)


def test_manifest_reads_the_same_settings(tmp_path):
    m = tmp_path / "m.csv"
    m.write_text("file,recipe,brindley,berar_lelann,no_humps,preferred_orientation,strain,two_theta_range,"
                 "standard,engine,standard_purity\n"
                 "a.xy,r.toml,LiF=5;LiCl=12.5,yes,yes,LiCl=1 1 1,1,10 80,none,native,0.97\n"
                 "b.xy,,,,no,,,,LiF=0.3,,\n", encoding="utf-8")
    a, b = read_manifest(m)
    assert a["settings"] == {"recipe": "r.toml", "brindley": {"LiF": 5.0, "LiCl": 12.5}, "berar_lelann": True,
                             "humps": [], "preferred_orientation": {"LiCl": (1, 1, 1)}, "strain": True,
                             "two_theta_range": (10.0, 80.0), "standard": None, "engine": "native", "purity": 0.97}
    assert b["settings"] == {"humps": "auto", "standard": ["LiF", 0.3]}
    assert a["metadata"] == {} and b["metadata"] == {}


@pytest.mark.parametrize("column, cell, message", [
    ("brindley", "LiF", "column brindley"),
    ("strain", "maybe", "column strain"),
    ("preferred_orientation", "LiCl=a,b,c", "column preferred_orientation"),
    ("engine", "rietan", "column engine"),
    ("standard", "LiF=50", "did you mean 0.50"),
    ("standard", "LiF=nan", "finite number"),
    ("standard_esd", "nan", "column standard_esd"),
])
def test_bad_manifest_cells_name_row_and_column(tmp_path, column, cell, message):
    m = tmp_path / "m.csv"
    m.write_text(f"file,{column}\na.xy,{cell}\n", encoding="utf-8")
    with pytest.raises(XrdqError, match=f"row 2.*{message}"):
        read_manifest(m)


def test_batch_and_quantify_give_the_same_fit_with_the_new_options(tmp_path, capsys):
    """--strain, --preferred-orientation and --no-humps reach the refinement through both commands."""
    import json
    import shutil
    from pathlib import Path

    import reference_patterns

    demo = Path(shutil.copy(Path(reference_patterns.__file__).parent / "demo" / "demo_lazco.ras", tmp_path))
    opts = ["--phase", "LiCl;Li2ZrCl6", "--standard", "LiF=0.5", "--strain", "--no-humps",
            "--preferred-orientation", "LiCl=1,0,0", "--two-theta-range", "15", "70"]
    assert _run(["quantify", str(demo), *opts, "--report", "--json", str(tmp_path / "q.json")]) == 0
    report = capsys.readouterr().out
    assert _run(["batch", str(demo), *opts, "-j", "1", "--no-plots", "--quiet", "--out", str(tmp_path / "b")]) == 0
    refined = {line.split()[0]: line for line in report.splitlines() if line.startswith("    ")}
    for name in ("LiCl_po_ratio", "LiCl_strain_broadening", "LiF_strain_broadening"):
        assert name in refined and "not refined" not in refined[name]
    assert not any(name.startswith("hump") for name in refined)
    single = json.loads((tmp_path / "q.json").read_text())
    batch = json.loads((tmp_path / "b" / "json" / "demo_lazco.json").read_text())
    assert batch["amorphous_fraction"] == pytest.approx(single["amorphous_fraction"], rel=1e-9)
    assert batch["batch"]["start_parameters"]["LiCl_po_ratio"] != 1.0
