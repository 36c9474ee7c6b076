"""Cell geometry and space-group constraints on the cell."""

from __future__ import annotations

import gemmi
import numpy as np
import pytest

from xrdq.crystal import d_spacing, read_cif
from xrdq.crystal.cell import constrain, crystal_system, lattice_kind, volume

from crystal_cifs import CORUNDUM, LIF, MIXED


@pytest.mark.parametrize("cell", [
    (4.027, 4.027, 4.027, 90, 90, 90),
    (4.7589, 4.7589, 12.991, 90, 90, 120),
    (6.52, 7.31, 9.87, 90, 103.4, 90),
    (5.1, 6.2, 7.3, 81.0, 97.5, 110.2),
])
def test_d_spacing_matches_gemmi(cell):
    rng = np.random.default_rng(0)
    hkl = rng.integers(-6, 7, size=(200, 3))
    hkl = hkl[np.any(hkl != 0, axis=1)]
    uc = gemmi.UnitCell(*cell)
    expected = np.array([uc.calculate_d(list(map(int, h))) for h in hkl])
    np.testing.assert_allclose(d_spacing(hkl, cell), expected, rtol=1e-12)
    assert volume(cell) == pytest.approx(uc.volume, rel=1e-12)


def test_cubic_d_spacing_by_hand():
    assert d_spacing([1, 1, 1], (4.0, 4.0, 4.0, 90, 90, 90)) == pytest.approx(4.0 / np.sqrt(3))


def test_crystal_systems():
    assert [crystal_system(n) for n in (1, 14, 62, 136, 167, 186, 225)] == [
        "triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal", "hexagonal", "cubic"]


def test_cubic_with_cell_sets_b_and_c(write_cif):
    lif = read_cif(write_cif(LIF))
    assert lif.cell_parameters() == {"a": 4.027}
    new = lif.with_cell(a=4.03)
    assert new.cell == (4.03, 4.03, 4.03, 90.0, 90.0, 90.0)
    assert lif.cell[0] == 4.027  # the original is untouched
    assert new.density < lif.density
    with pytest.raises(ValueError, match="not refinable"):
        lif.with_cell(c=4.1)


def test_hexagonal_and_monoclinic_parameters(write_cif):
    cor = read_cif(write_cif(CORUNDUM))
    assert set(cor.cell_parameters()) == {"a", "c"}
    assert cor.with_cell(a=4.76).cell == (4.76, 4.76, 12.991, 90.0, 90.0, 120.0)
    mono = read_cif(write_cif(MIXED))
    assert set(mono.cell_parameters()) == {"a", "b", "c", "beta"}
    assert mono.with_cell(beta=104.0).cell[3:] == (90.0, 104.0, 90.0)


def test_rhombohedral_axes():
    cell = (5.128, 5.128, 5.128, 55.28, 55.28, 55.28)
    assert lattice_kind(167, "R -3 c:R", cell) == "rhombohedral"
    assert constrain("rhombohedral", cell, alpha=55.0) == (5.128, 5.128, 5.128, 55.0, 55.0, 55.0)
    assert lattice_kind(167, "R -3 c:H", (4.76, 4.76, 12.99, 90, 90, 120)) == "hexagonal"


def test_monoclinic_unique_axis_from_symbol():
    assert lattice_kind(14, "P 1 21/c 1", (5, 6, 7, 90, 100, 90)) == "monoclinic-b"
    assert lattice_kind(14, "P 1 1 21/b", (5, 6, 7, 90, 90, 100)) == "monoclinic-c"


def test_triclinic_all_six():
    assert constrain("triclinic", (5, 6, 7, 80, 90, 100), gamma=101) == (5, 6, 7, 80, 90, 101)
