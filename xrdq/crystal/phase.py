"""The Phase: a crystal structure with everything quantitative analysis needs from it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from . import cell as cellmod
from . import scattering
from .reflections import Reflections, Symmetry, reflection_list

AVOGADRO = 6.02214076e23


def density(cell_mass: float, volume: float) -> float:
    """Crystallographic density (g/cm³) from the cell mass Z·M (g/mol) and the cell volume (Å³)."""
    return cell_mass / AVOGADRO / (volume * 1e-24)


@dataclass(frozen=True)
class Site:
    """One asymmetric-unit site: ``fract`` (x, y, z), ``occupancy`` (0–1), ``b_iso`` (Å²),
    ``multiplicity`` (positions in the unit cell), ``scatterer`` (f0 name, e.g. ``"Li1+"``)."""

    label: str
    element: str
    fract: tuple[float, float, float]
    occupancy: float
    b_iso: float
    multiplicity: int
    scatterer: str


@dataclass(frozen=True)
class Atoms:
    """Full-cell atoms as arrays for the structure-factor sum."""

    fract: np.ndarray  # (m, 3)
    occupancy: np.ndarray  # (m,)
    b_iso: np.ndarray  # (m,) Å²
    scatterer_index: np.ndarray  # (m,) into scatterers
    scatterers: tuple[tuple[str, str], ...]  # (f0 name, element)
    element: tuple[str, ...]  # (m,)


@dataclass(frozen=True, eq=False)
class Phase:
    """A crystalline phase (see docs/architecture.md, "Phase and reflections").

    ``cell`` is (a, b, c, α, β, γ) in Å and degrees; ``sites`` the asymmetric unit; ``notes`` what
    was assumed while reading (default B, origin choice, ...). Build one with
    :func:`xrdq.crystal.read_cif` or :func:`xrdq.crystal.load_phase`.
    """

    name: str
    formula: str
    space_group: str
    sg_number: int
    cell: tuple[float, float, float, float, float, float]
    z: float
    sites: tuple[Site, ...]
    atoms: Atoms = field(repr=False)
    symmetry: Symmetry = field(repr=False)
    hall: str = ""
    source: str = ""
    notes: tuple[str, ...] = ()
    #: How far the structure can be trusted, when its CIF says (``_xrdq_structure_quality``: ``published``,
    #: ``noisy`` or ``approximate``; scripts/make_reference_cifs.py defines them); "" when it does not say.
    structure_quality: str = ""

    # ---- composition and density -------------------------------------------------------------
    @property
    def crystal_system(self) -> str:
        return cellmod.crystal_system(self.sg_number)

    @property
    def lattice_kind(self) -> str:
        """Cell constraint class: crystal system with hexagonal/rhombohedral axes and monoclinic unique axis."""
        return cellmod.lattice_kind(self.sg_number, self.space_group, self.cell)

    @cached_property
    def composition(self) -> dict[str, float]:
        """Element → number of atoms in the unit cell (occupancy-weighted)."""
        out: dict[str, float] = {}
        for el, occ in zip(self.atoms.element, self.atoms.occupancy):
            out[el] = out.get(el, 0.0) + float(occ)
        return out

    @cached_property
    def cell_mass(self) -> float:
        """Σ occupancy × atomic mass over the unit cell (g/mol), i.e. Z·M."""
        return sum(n * _atomic_mass(el) for el, n in self.composition.items())

    @property
    def volume(self) -> float:
        """Unit-cell volume in Å³."""
        return cellmod.volume(self.cell)

    @property
    def density(self) -> float:
        """Crystallographic density in g/cm³."""
        return density(self.cell_mass, self.volume)

    def mass_attenuation(self, wavelength: float) -> float:
        """Mass attenuation coefficient µ/ρ (cm²/g) at ``wavelength`` (Å), Elam tables via xraydb."""
        masses = {el: n * _atomic_mass(el) for el, n in self.composition.items()}
        return scattering.mass_attenuation(masses, wavelength)

    # ---- cell refinement ---------------------------------------------------------------------
    def cell_parameters(self) -> dict[str, float]:
        """The independent cell parameters the space group allows, name → value (Å, degrees)."""
        names = cellmod.free_parameters(self.lattice_kind)
        return {k: self.cell[cellmod.CELL_NAMES.index(k)] for k in names}

    def with_cell(self, **params: float) -> "Phase":
        """A new Phase with the given cell parameters, the space-group constraints applied
        (cubic ``with_cell(a=4.03)`` sets b = c = a). Fractional coordinates are kept."""
        return replace(self, cell=cellmod.constrain(self.lattice_kind, self.cell, **params))

    # ---- diffraction -------------------------------------------------------------------------
    def reflections(self, two_theta_max: float, wavelength: float, two_theta_min: float = 0.0,
                    *, anomalous: bool = True) -> Reflections:
        """Allowed reflections between two_theta_min and two_theta_max (degrees 2θ) at ``wavelength``
        (Å), with multiplicities and Friedel-averaged |F|² (f0 + f′ + i f″, Debye–Waller)."""
        return reflection_list(self.cell, self.symmetry, self.atoms, two_theta_max, wavelength,
                               two_theta_min, anomalous=anomalous,
                               what=f"phase {self.name} ({self.source})" if self.source else f"phase {self.name}")

    def d_spacing(self, hkl) -> np.ndarray:
        """d (Å) of ``hkl`` in this phase's cell."""
        return cellmod.d_spacing(hkl, self.cell)

    def __repr__(self) -> str:
        a, b, c, al, be, ga = self.cell
        return (f"Phase({self.name!r}, {self.formula}, {self.space_group} (#{self.sg_number}), "
                f"a={a:.5g} b={b:.5g} c={c:.5g} α={al:.5g} β={be:.5g} γ={ga:.5g}, Z={self.z:g}, "
                f"ρ={self.density:.4g} g/cm³)")


#: Atomic masses (g/mol) by element symbol, gemmi's: looked up once per process, or given by the phase cache
#: (xrdq.crystal.cache keeps those of a phase's elements with it, so a kept phase needs no gemmi at all).
ATOMIC_MASSES: dict[str, float] = {}


def _atomic_mass(element: str) -> float:
    mass = ATOMIC_MASSES.get(element)
    if mass is None:
        import gemmi

        mass = ATOMIC_MASSES[element] = gemmi.Element(element).weight
    return mass
