"""Symmetry-keeping random displacements of a structure's sites (xrdq.crystal.displace)."""

import numpy as np
import pytest

from xrdq.crystal import list_phases
from xrdq.crystal.displace import displaced_atoms
from xrdq.crystal.reflections import structure_factor_squared
from xrdq.crystal.spec import resolve_phase

CU = 1.540593


@pytest.mark.parametrize("name", list_phases())
def test_no_displacement_gives_back_the_structure(name):
    """σ = 0: every site expands to its multiplicity and the |F|² are the phase's own, for every bundled phase."""
    phase = resolve_phase(name)
    atoms = displaced_atoms(phase, 0.0, np.random.default_rng(0))
    assert atoms is not None and len(atoms.fract) == len(phase.atoms.fract)
    refl = phase.reflections(80.0, CU, 10.0)
    np.testing.assert_allclose(structure_factor_squared(refl.hkl, refl.d, atoms, CU), refl.f2, rtol=1e-10, atol=1e-9)


def test_sites_move_only_as_their_symmetry_allows():
    """LiF's sites are fixed by symmetry (Fm-3m 4a, 4b): no displacement moves an intensity. Li3InCl6's general Cl
    positions move by about σ per coordinate, and every site keeps its multiplicity."""
    rng = np.random.default_rng(1)
    lif = resolve_phase("LiF")
    refl = lif.reflections(80.0, CU, 10.0)
    moved = displaced_atoms(lif, 0.05, rng)
    np.testing.assert_allclose(structure_factor_squared(refl.hkl, refl.d, moved, CU), refl.f2, rtol=1e-9)
    lic = resolve_phase("Li3InCl6")
    shifts = []
    for _ in range(200):
        atoms = displaced_atoms(lic, 0.01, rng)
        assert atoms is not None and len(atoms.fract) == len(lic.atoms.fract)
        shifts.append(atoms.fract[list(atoms.element).index("Cl")])
    site = next(s for s in lic.sites if s.element == "Cl")  # its first image is the site itself, displaced
    d = np.asarray(shifts) - np.asarray(site.fract)
    d -= np.rint(d)
    assert 0.008 < d.std(axis=0).max() < 0.012
