"""A CIF read once is not parsed again while its bytes are the same; an edited CIF is read anew."""

from __future__ import annotations

import numpy as np
import pytest

from reference_patterns import PHASES
from xrdq.crystal import read_cif


def test_the_same_bytes_give_the_same_phase_and_an_edit_is_seen(tmp_path):
    cif = tmp_path / "LiF.cif"
    text = (PHASES / "LiF.cif").read_text(encoding="utf-8")
    cif.write_text(text, encoding="utf-8")
    first = read_cif(cif)
    assert read_cif(cif) is first  # served from memory
    assert read_cif(cif, name="standard") is not first and read_cif(cif, name="standard").name == "standard"
    a = first.cell[0]
    edited_text = "\n".join(f"{ln.split()[0]} 4.1000" if ln.split()[:1] in (["_cell_length_a"], ["_cell_length_b"],
                                                                          ["_cell_length_c"]) else ln
                            for ln in text.splitlines()) + "\n"
    cif.write_text(edited_text, encoding="utf-8")
    edited = read_cif(cif)
    assert edited is not first and edited.cell[0] == pytest.approx(4.1)
    assert first.cell[0] == pytest.approx(a)  # the phase read before is untouched


def test_a_shared_phase_cannot_be_changed_in_place(tmp_path):
    """Phases read from one file are shared by every caller: their atom arrays are read-only."""
    phase = read_cif(PHASES / "LiF.cif")
    for array in (phase.atoms.fract, phase.atoms.occupancy, phase.atoms.b_iso):
        with pytest.raises(ValueError, match="read-only"):
            array[...] = np.zeros_like(array)
    assert read_cif(PHASES / "LiF.cif").atoms.b_iso.tolist() == phase.atoms.b_iso.tolist()


def test_a_bad_cif_is_not_remembered(tmp_path):
    from xrdq.errors import XrdqPhaseError

    cif = tmp_path / "x.cif"
    cif.write_text("data_x\n_cell_length_a 4.0\n", encoding="utf-8")
    with pytest.raises(XrdqPhaseError):
        read_cif(cif)
    cif.write_text((PHASES / "LiF.cif").read_text(encoding="utf-8"), encoding="utf-8")
    assert read_cif(cif).formula
