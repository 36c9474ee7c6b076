"""The CIF GSAS-II is given holds the structure xrdq's own reader takes (no GSAS-II needed)."""

from __future__ import annotations

import codecs

import pytest

from xrdq.crystal.cif import read_cif
from xrdq.engines.gsas2.project import copy_structure_block
from reference_patterns import PHASES


def test_gsas2_gets_the_block_xrdq_reads_and_no_byte_order_mark(tmp_path):
    licl = (PHASES / "LiCl.cif").read_text()
    lif = (PHASES / "LiF.cif").read_text()
    two = tmp_path / "two.cif"
    two.write_text(lif + "\n" + licl)  # GSAS-II would pick a block of its own: the engines could refine different ones
    blocks = [line[5:].strip() for line in (lif + licl).splitlines() if line.startswith("data_")]
    local = tmp_path / "copy.cif"
    copy_structure_block(two, blocks[1], local)
    assert [line for line in local.read_text().splitlines() if line.startswith("data_")] == [f"data_{blocks[1]}"]
    assert read_cif(local).cell == read_cif(two, block=blocks[1]).cell
    bom = tmp_path / "bom.cif"
    bom.write_bytes(codecs.BOM_UTF8 + lif.encode())
    copy_structure_block(bom, "LiF", local)
    assert not local.read_bytes().startswith(codecs.BOM_UTF8) and read_cif(local).cell == read_cif(bom).cell
    plain = PHASES / "LiF.cif"
    copy_structure_block(plain, "LiF", local)
    assert local.read_bytes() == plain.read_bytes()  # one block: byte for byte, as before


SI_DDLM = """data_si
_cell.length_a 5.43146
_cell.length_b 5.43146
_cell.length_c 5.43146
_cell.angle_alpha 90.0
_cell.angle_beta 90.0
_cell.angle_gamma 90.0
_space_group.name_H-M_alt "F d -3 m"
_space_group.IT_coordinate_system_code 2
_publ_section_title
;
 _cell.length_a stays as written inside a text field
;
loop_
_atom_site.label
_atom_site.type_symbol
_atom_site.fract_x
_atom_site.fract_y
_atom_site.fract_z
_atom_site.occupancy
_atom_site.B_iso_or_equiv
Si Si 0.125 0.125 0.125 1.0 0.529
"""


def test_ddlm_names_are_read_and_gsas2_is_given_their_ddl1_equivalents(tmp_path):
    """easyDiffraction writes `_cell.length_a`, `_atom_site.fract_x`: "no unit cell (_cell_length_a missing)"."""
    path = tmp_path / "si.cif"
    path.write_text(SI_DDLM)
    si = read_cif(path)
    assert si.cell[0] == 5.43146 and si.space_group.endswith(":2") and len(si.atoms.occupancy) == 8
    assert si.density == pytest.approx(2.329, abs=0.002)
    assert any(n.startswith("DDLm data names (_cell.length_a") for n in si.notes)
    local = tmp_path / "copy.cif"
    copy_structure_block(path, "si", local)
    text = local.read_text()
    assert "_cell_length_a" in text and "_atom_site_fract_x" in text and "_cell.length_a stays" in text
    assert read_cif(local).cell == si.cell


@pytest.mark.gsas2
def test_gsas2_reads_the_ddl1_copy_of_a_ddlm_cif_it_cannot_read_itself(tmp_path):
    from xrdq.engines.gsas2 import gsas2_available

    if not gsas2_available():
        pytest.skip("GSAS-II is not installed (not on PyPI; see docs/gsas2.md) - GSAS-II engine tests skipped")
    from GSASII import GSASIIscriptable as G2sc

    path, local = tmp_path / "si.cif", tmp_path / "copy.cif"
    path.write_text(SI_DDLM)
    copy_structure_block(path, "si", local)
    gpx = G2sc.G2Project(newgpx=str(tmp_path / "t.gpx"))
    with pytest.raises(Exception, match="No reader could read"):
        gpx.add_phase(str(path), phasename="raw")  # so the copy is what makes the engine work
    phase = gpx.add_phase(str(local), phasename="si")
    assert phase.data["General"]["Cell"][1] == 5.43146
    assert [(a[0], a[8]) for a in phase.data["Atoms"]] == [("Si", 8)]
