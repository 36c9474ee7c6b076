"""The CIF GSAS-II is given holds the structure xrdq's own reader takes (no GSAS-II needed)."""

from __future__ import annotations

import codecs

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
