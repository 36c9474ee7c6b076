"""A uniaxial crystallite size asked for by name: parsed, checked against the phases, native engine only.

Its physics (widths by angle to the axis, derivatives) is tested in tests/model; its accuracy on GSAS-II patterns
of platelets in tests/quant/test_validation.py."""

from pathlib import Path

import pytest

import xrdq
from xrdq.errors import XrdqQuantError
from xrdq.settings import parse_size_axis

DEMO = Path(__file__).resolve().parents[2] / "reference_patterns" / "demo" / "demo_lazco.ras"


@pytest.mark.parametrize("text, expected", [("MgOH2=0,0,1", ("MgOH2", (0, 0, 1))), ("LiAlCl4=001", ("LiAlCl4", (0, 0, 1))),
                                            ("ZnO = 1 0 0", ("ZnO", (1, 0, 0)))])
def test_the_axis_is_parsed_like_a_texture_axis(text, expected):
    assert parse_size_axis(text) == expected


@pytest.mark.parametrize("text", ["MgOH2", "MgOH2=0,0,0", "MgOH2=a,b,c", "=0,0,1"])
def test_a_malformed_axis_is_a_clear_error(text):
    with pytest.raises(XrdqQuantError, match="uniaxial size"):
        parse_size_axis(text)


@pytest.mark.parametrize("option, words", [({"uniaxial_size": {"LiCl2": (0, 0, 1)}}, "uniaxial size given for 'LiCl2'"),
                                           ({"preferred_orientation": {"Nope": (0, 0, 1)}},
                                            "preferred orientation given for 'Nope'")])
def test_an_axis_for_a_phase_that_is_not_refined_is_an_error_not_a_no_op(option, words):
    with pytest.raises(XrdqQuantError, match=words):
        xrdq.quantify(DEMO, phases=["LiCl", "Li2ZrCl6"], model_uncertainty="off", **option)


def test_the_gsas2_engine_refuses_a_uniaxial_size_it_would_not_refine():
    from xrdq.quant.pipeline import engine_recipe
    from xrdq.refine.engines import get_engine

    with pytest.raises(XrdqQuantError, match="native engine only"):
        engine_recipe(get_engine("gsas2"), uniaxial_size={"MgOH2": (0, 0, 1)})
    rec, _ = engine_recipe(get_engine("native"), uniaxial_size={"MgOH2": (0, 0, 1)})
    assert rec.size_axes == {"MgOH2": (0, 0, 1)} and any("size_shape" in s.refine for s in rec.stages)


def test_the_cli_option_reaches_the_refinement(tmp_path, capsys):
    from xrdq.cli import main

    out = tmp_path / "r.json"
    with pytest.raises(SystemExit) as info:
        main(["quantify", str(DEMO), "--phase", "LiCl", "--phase", "Li2ZrCl6", "--uniaxial-size", "Li2ZrCl6=0,0,1",
              "--model-uncertainty", "off", "--json", str(out)])
    assert info.value.code == 0, capsys.readouterr().err
    import json

    recipe = json.loads(out.read_text())["provenance"]["recipe"]
    assert any("size_shape" in stage["refine"] for stage in recipe), recipe
