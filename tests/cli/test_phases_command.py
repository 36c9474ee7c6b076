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


NACL_CIF = """data_halite
loop_
_publ_author_name
 'Walker, D.'
 'Verma, P. K.'
_journal_name_full 'American Mineralogist'
_journal_volume 89
_journal_page_first 1234
_journal_year 2004
_cod_database_code 9000629
_cell_length_a 5.6402
_cell_length_b 5.6402
_cell_length_c 5.6402
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'F m -3 m'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_B_iso_or_equiv
Na1 Na 0 0 0 1.6
Cl1 Cl 0.5 0.5 0.5 1.3
"""


def test_a_cif_path_is_shown_as_phase_reads_it(tmp_path, capsys):
    cif = tmp_path / "halite.cif"
    cif.write_text(NACL_CIF)
    assert _run(["phases", "--json", str(cif), "LiF"]) == 0
    user, shipped = json.loads(capsys.readouterr().out)
    assert user["name"] == load_phase(cif).name and user["formula"] == "NaCl" and user["sg_number"] == 225
    assert user["density"] == pytest.approx(2.165, abs=0.005)  # 4 NaCl in (5.6402 Å)³
    assert user["source"] == "Walker, D., Verma, P. K. (2004) American Mineralogist, 89, 1234 COD 9000629"
    assert user["cif"] == str(cif) and user["aliases"] == [] and user["quality"] == ""
    assert shipped["name"] == "LiF"
    assert _run(["phases", str(cif)]) == 0
    assert f"halite: {cif}" in capsys.readouterr().out


def test_a_cif_that_does_not_read_names_the_file(tmp_path, capsys):
    bad = tmp_path / "broken.cif"
    bad.write_text("data_x\n_cell_length_a 4.0\n")
    assert _run(["phases", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "broken.cif" in err and "not a CIF path" not in err


def test_name_equals_cif_is_shown_under_that_name(tmp_path, capsys):
    """``NAME=CIF`` as --phase takes it: the CIF's structure under NAME (a shipped CIF renamed carries none of its
    aliases); a specification without a name or a CIF is refused as --phase refuses it."""
    cif = tmp_path / "halite.cif"
    cif.write_text(NACL_CIF)
    assert _run(["phases", "--json", f"rocksalt={cif}", "salt2=LiCl"]) == 0
    user, renamed = json.loads(capsys.readouterr().out)
    assert user["name"] == "rocksalt" and user["formula"] == "NaCl" and user["cif"] == str(cif)
    assert renamed["name"] == "salt2" and renamed["formula"] == load_phase("LiCl").formula
    assert renamed["aliases"] == [] and renamed["source"]
    assert _run(["phases", f"rocksalt={cif}"]) == 0
    assert f"rocksalt: {cif}" in capsys.readouterr().out
    assert _run(["phases", f"={cif}"]) == 2
    assert "expected NAME=CIF" in capsys.readouterr().err


def test_a_cif_is_shown_with_what_was_assumed_while_reading_it(tmp_path, capsys):
    """The notes a result would carry (a default B, a P 1 file read in its atoms' group), before a user quantifies."""
    no_b = tmp_path / "halite_no_b.cif"
    no_b.write_text(NACL_CIF.replace("_atom_site_B_iso_or_equiv\n", "").replace(" 1.6\n", "\n").replace(" 1.3\n", "\n"))
    assert _run(["phases", "--json", str(no_b)]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["notes"] == ["no displacement parameter for Na1, Cl1: B = 1.0 Å² assumed"] and row["z"] == 4
    assert _run(["phases", str(no_b)]) == 0
    assert "  note: no displacement parameter for Na1, Cl1: B = 1.0 Å² assumed" in capsys.readouterr().out
    assert _run(["phases", "--json", "LiF"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["notes"] == []
