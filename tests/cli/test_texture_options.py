"""Texture from the command line: forced (PHASE=h,k,l), forbidden for one phase (PHASE=none) or for all
(--no-texture), as the Python API allows (issue 10: "the user can still force or forbid it")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xrdq.errors import XrdqQuantError
from xrdq.settings import parse_preferred_orientation

DEMO = Path(__file__).resolve().parents[2] / "reference_patterns" / "demo" / "demo_lazco.ras"


@pytest.mark.parametrize("text, expected", [("LiF=none", ("LiF", None)), ("LiF = None", ("LiF", None)),
                                            ("LiCl=1,1,1", ("LiCl", (1, 1, 1))), ("LiCl=001", ("LiCl", (0, 0, 1)))])
def test_an_axis_or_none(text, expected):
    assert parse_preferred_orientation(text) == expected


@pytest.mark.parametrize("text", ["LiF=nothing", "LiF=1,2", "LiF=0,0,0", "LiF", "=none"])
def test_anything_else_is_a_clear_error(text):
    with pytest.raises(XrdqQuantError, match=r"preferred orientation .*(PHASE=none|PHASE=h,k,l)"):
        parse_preferred_orientation(text)


def _texture_tests(tmp_path, capsys, *options) -> list:
    from xrdq.cli import main

    out = tmp_path / "r.json"
    with pytest.raises(SystemExit) as info:
        main(["quantify", str(DEMO), "--phase", "LiCl", "--phase", "Li2ZrCl6", "--model-uncertainty", "off",
              "--json", str(out), *options])
    assert info.value.code == 0, capsys.readouterr().err
    return [d["term"] for d in json.loads(out.read_text())["decisions"] if d["term"].startswith("March–Dollase")]


def test_texture_is_forbidden_for_one_phase_or_for_all(tmp_path, capsys):
    tested = _texture_tests(tmp_path, capsys)
    assert any(t.startswith("March–Dollase LiF") for t in tested) and any("Li2ZrCl6" in t for t in tested)
    one = _texture_tests(tmp_path, capsys, "--preferred-orientation", "LiF=none")
    assert one and not any(t.startswith("March–Dollase LiF") for t in one)
    assert _texture_tests(tmp_path, capsys, "--no-texture") == []
