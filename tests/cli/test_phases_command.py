"""``xrdq phases`` lists every bundled phase under the names --phase accepts."""

from __future__ import annotations

import json

import pytest

from xrdq.cli import main
from xrdq.crystal import list_phases, load_phase


def _run(argv) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code


def test_phases_lists_every_bundled_phase_with_its_cell(capsys):
    assert _run(["phases", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list_phases()
    for r in rows:
        phase = load_phase(r["name"])  # the listed name is one --phase accepts
        assert r["cell"] == pytest.approx(list(phase.cell)) and r["space_group"] == phase.space_group
        for alias in r["aliases"]:
            assert load_phase(alias).name == r["name"]
    corundum = next(r for r in rows if r["name"] == "Al2O3")
    assert "corundum" in corundum["aliases"] and corundum["source"] and corundum["density"] == pytest.approx(3.98, abs=0.02)


def test_phases_table_and_selection(capsys):
    assert _run(["phases"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in list_phases())
    # how far each structure can be trusted, before a user quantifies with it
    row = next(line for line in out.splitlines() if line.startswith("Li2ZrCl6 "))
    assert "approximate" in row.split() and "'approximate' an idealised or constructed model" in out
    assert "published" in next(line for line in out.splitlines() if line.startswith("LiF ")).split()
    assert _run(["phases", "fluorite"]) == 0
    out = capsys.readouterr().out
    assert "CaF2" in out and "LiCl" not in out and "CaF2.cif" in out


def test_unknown_phase_name_lists_the_bundled_ones(capsys):
    assert _run(["phases", "unobtainium"]) == 2
    err = capsys.readouterr().err
    assert "unobtainium" in err and "LiF" in err
