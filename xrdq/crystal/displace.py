"""Moving a structure's sites without breaking its symmetry: the coordinates a site is free to refine, the
occupancies a disordered element may redistribute over its sites, and the full-cell atoms of a structure whose sites
moved or were re-occupied (refined coordinates and occupancies, :mod:`xrdq.refine`), or moved at random by a stated
noise (the model-uncertainty member for a CIF whose coordinates are known to be noisy, :mod:`xrdq.quant.uncertainty`).

A site on a special position may move only within its site symmetry: the mean of the rotations that leave the site in
place (its stabiliser) is the projection onto the directions it is free to move in. Those directions are named by the
coordinates a crystallographer would refine — (x, 2x, z) refines x and z, y following x — and a moved site is
expanded with the space-group operators that made its images from the CIF's position, so every image keeps its place
in the list and its multiplicity.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from itertools import combinations

import numpy as np

from .phase import Atoms

#: Fractional tolerance for "the operator leaves the site in place" and for "two images are one atom": CIF coordinates
#: of special positions are often printed to 4 decimals (0.3333 for 1/3).
SITE_TOLERANCE = 2e-3
AXES = ("x", "y", "z")


def _same(a, b) -> np.ndarray:
    """Whether fractional positions a and b (broadcast) coincide modulo lattice translations."""
    d = np.asarray(a) - np.asarray(b)
    return np.all(np.abs(d - np.rint(d)) < SITE_TOLERANCE, axis=-1)


@dataclass(frozen=True)
class FreeCoordinate:
    """One coordinate of one site that its symmetry lets refine.

    ``site``: index into ``phase.sites``; ``label``: the site's; ``axis``: which coordinate it is (``"x"``, ``"y"``,
    ``"z"``); ``value``: its value in the CIF; ``direction``: how the site moves (fractional x, y, z) per unit change
    of it — (1, 2, 0) for x of a site at (x, 2x, z)."""

    site: int
    label: str
    element: str
    axis: str
    value: float
    direction: tuple


@dataclass(frozen=True)
class OccupancyPair:
    """An element spread over two partially occupied sites (a cation disordered over two positions, as a CIF of a
    disordered or ball-milled phase gives it), whose share between them may refine with the element's number per cell
    held — so the phase's composition and mass, which its weight fraction rests on, stay the CIF's.

    ``first``, ``second``: indices into ``phase.sites``; ``value``: the first site's occupancy in the CIF; ``low``,
    ``high``: the range of the first site's occupancy that keeps both within 0–1; ``ratio``: how much the second
    site's occupancy falls per unit rise of the first's (multiplicity of the first over that of the second)."""

    element: str
    first: int
    second: int
    label: str
    value: float
    low: float
    high: float
    ratio: float


class SiteExpansion:
    """A phase's sites, each with the operators that make its distinct images and the projection onto the directions
    it may move in; :meth:`atoms` expands moved sites into the full cell. Sites whose images do not come back to the
    CIF's multiplicity (a position the tolerance cannot place) are listed in ``unplaced`` and never move."""

    def __init__(self, phase):
        self.phase = phase
        rotations = np.asarray(phase.symmetry.rotations, dtype=float)
        translations = np.asarray(phase.symmetry.translations, dtype=float)
        types = list(phase.atoms.scatterers)
        self.ops, self.projections, self.unplaced = [], [], []
        fract, occupancy, b_iso, index, element = [], [], [], [], []
        for i, site in enumerate(phase.sites):
            x = np.asarray(site.fract, dtype=float)
            images = np.einsum("nij,j->ni", rotations, x) + translations
            self.projections.append(rotations[_same(images, x)].mean(axis=0))
            keep = []
            for k, p in enumerate(images):
                if not any(_same(p, images[j]) for j in keep):
                    keep.append(k)
            self.ops.append((rotations[keep], translations[keep]))
            if len(keep) != site.multiplicity:
                self.unplaced.append(site.label)
            n = len(keep)
            fract.append(images[keep] % 1.0)
            occupancy += [site.occupancy] * n
            b_iso += [site.b_iso] * n
            index += [types.index((site.scatterer, site.element))] * n
            element += [site.element] * n
        self._base = Atoms(fract=np.vstack(fract), occupancy=np.array(occupancy, dtype=float),
                           b_iso=np.array(b_iso, dtype=float), scatterer_index=np.array(index),
                           scatterers=phase.atoms.scatterers, element=tuple(element))
        self._rows = np.cumsum([0] + [len(r) for r, _ in self.ops])

    def atoms(self, shifts=None, occupancies=None) -> Atoms:
        """Full-cell atoms with site i moved by ``shifts[i]`` (fractional (3,), within its symmetry) and occupied by
        ``occupancies[i]``, for each i given."""
        if not shifts and not occupancies:
            return self._base
        fract = self._base.fract
        if shifts:
            fract = fract.copy()
            for i, delta in shifts.items():
                rot, tr = self.ops[i]
                x = np.asarray(self.phase.sites[i].fract, dtype=float) + np.asarray(delta, dtype=float)
                fract[self._rows[i]:self._rows[i + 1]] = (np.einsum("nij,j->ni", rot, x) + tr) % 1.0
        occupancy = self._base.occupancy
        if occupancies:
            occupancy = occupancy.copy()
            for i, occ in occupancies.items():
                occupancy[self._rows[i]:self._rows[i + 1]] = occ
        return Atoms(fract=fract, occupancy=occupancy, b_iso=self._base.b_iso,
                     scatterer_index=self._base.scatterer_index, scatterers=self._base.scatterers,
                     element=self._base.element)

    @cached_property
    def occupancy_pairs(self) -> tuple[OccupancyPair, ...]:
        """Every element partially occupying exactly two sites (0 < occupancy < 1; sites it fills are left alone): its
        share between them. An element partial on three or more sites has none (which pair would trade is a choice the
        data do not make)."""
        by_element = {}
        for i, site in enumerate(self.phase.sites):
            if 0.0 < site.occupancy < 1.0:
                by_element.setdefault(site.element, []).append(i)
        out = []
        for element, idx in by_element.items():
            if len(idx) != 2 or self.unplaced:
                continue
            a, b = (self.phase.sites[i] for i in idx)
            ratio = a.multiplicity / b.multiplicity
            total = a.multiplicity * a.occupancy + b.multiplicity * b.occupancy  # atoms of the element per cell
            low = max(0.0, (total - b.multiplicity) / a.multiplicity)
            high = min(1.0, total / a.multiplicity)
            out.append(OccupancyPair(element=element, first=idx[0], second=idx[1], label=f"{a.label}/{b.label}",
                                     value=float(a.occupancy), low=float(low), high=float(high), ratio=float(ratio)))
        return tuple(out)

    @cached_property
    def free_coordinates(self) -> tuple[FreeCoordinate, ...]:
        """Every coordinate the sites' symmetry lets refine, site by site in CIF order (none of an unplaced site).

        In a polar space group the origin along a polar axis is arbitrary: moving every site along it changes no
        intensity, so one coordinate per polar direction is held — the one of the strongest-scattering site that
        moves along it, as crystallographers fix the origin on the heaviest atom."""
        from .scattering import f0

        free = []
        for i, (site, proj) in enumerate(zip(self.phase.sites, self.projections)):
            if site.label in self.unplaced:
                continue
            for axis, direction in _free_directions(proj):
                free.append(FreeCoordinate(site=i, label=site.label, element=site.element, axis=AXES[axis],
                                           value=float(site.fract[axis]), direction=tuple(float(v) for v in direction)))
        sites = self.phase.sites
        electrons = {i: float(f0(s.scatterer, 0.0)) * s.occupancy for i, s in enumerate(sites)}  # scattering power
        polar = np.asarray(self.phase.symmetry.rotations, dtype=float).mean(axis=0)  # projection on the polar axes
        for _, axis_direction in _free_directions(polar):
            along = [c for c in free if abs(np.dot(axis_direction, c.direction)) > 1e-6]
            if along:
                free.remove(max(along, key=lambda c: (electrons[c.site], -free.index(c))))
        return tuple(free)


def _free_directions(projection) -> list:
    """[(coordinate index, direction (3,))] spanning the range of a site's projection: as few coordinates as its
    freedom, chosen (x before y before z) so that each direction moves its own coordinate by 1 and the other chosen
    ones by 0 — the parameters a crystallographer refines, the others following them."""
    u, s, _ = np.linalg.svd(projection)
    basis = u[:, s > 1e-6]
    k = basis.shape[1]
    if k == 0:
        return []
    best = next(rows for rows in combinations(range(3), k) if abs(np.linalg.det(basis[list(rows)])) > 1e-3)
    directions = basis @ np.linalg.inv(basis[list(best)])
    directions = np.round(directions, 12) + 0.0  # (1, 0.5, 0), not (1, 0.5000000000000001, 0); no −0
    return [(axis, directions[:, j]) for j, axis in enumerate(best)]


def displaced_atoms(phase, sigma_fract: float, rng) -> Atoms | None:
    """Full-cell :class:`~xrdq.crystal.phase.Atoms` of ``phase`` with every site moved by a random displacement of
    standard deviation ``sigma_fract`` per fractional coordinate, within its site symmetry; occupancies, B and
    scatterers as they were. None if an expanded site does not give back its multiplicity (a site the tolerance
    cannot place), so that a caller leaves the structure out rather than use a wrong one."""
    expansion = SiteExpansion(phase)
    if expansion.unplaced:
        return None
    return expansion.atoms({i: proj @ rng.normal(0.0, sigma_fract, 3) for i, proj in enumerate(expansion.projections)})
