"""Random displacements of a structure's sites that keep its symmetry: how far a structure model's coordinates can
move its intensities (the model-uncertainty member for a CIF whose coordinates are known to be noisy,
:mod:`xrdq.quant.uncertainty`).

A site on a special position may move only within its site symmetry: a random displacement δ is replaced by its
mean over the operators that leave the site in place, R δ averaged over the stabiliser, which is the projection onto
the directions the site is free to move in. The displaced site is then expanded with the space group's operators.
"""

from __future__ import annotations

import numpy as np

from .phase import Atoms

#: Fractional tolerance for "the operator leaves the site in place" and for "two images are one atom": CIF coordinates
#: of special positions are often printed to 4 decimals (0.3333 for 1/3).
SITE_TOLERANCE = 2e-3


def _same(a, b) -> np.ndarray:
    """Whether fractional positions a and b (broadcast) coincide modulo lattice translations."""
    d = np.asarray(a) - np.asarray(b)
    return np.all(np.abs(d - np.rint(d)) < SITE_TOLERANCE, axis=-1)


def _images(x, rotations, translations) -> np.ndarray:
    """The distinct images of fractional position ``x`` under the operators, in [0, 1)."""
    images = (np.einsum("nij,j->ni", rotations, x) + translations) % 1.0
    kept = []
    for p in images:
        if not any(_same(p, q) for q in kept):
            kept.append(p)
    return np.array(kept)


def displaced_atoms(phase, sigma_fract: float, rng) -> Atoms | None:
    """Full-cell :class:`~xrdq.crystal.phase.Atoms` of ``phase`` with every site moved by a random displacement of
    standard deviation ``sigma_fract`` per fractional coordinate, within its site symmetry; occupancies, B and
    scatterers as they were. None if an expanded site does not give back its multiplicity (a site the tolerance
    cannot place), so that a caller leaves the structure out rather than use a wrong one."""
    rotations = np.asarray(phase.symmetry.rotations, dtype=float)
    translations = np.asarray(phase.symmetry.translations, dtype=float)
    types = list(phase.atoms.scatterers)
    fract, occupancy, b_iso, index, element = [], [], [], [], []
    for site in phase.sites:
        x = np.asarray(site.fract, dtype=float)
        moved = np.einsum("nij,j->ni", rotations, x) + translations
        stabiliser = rotations[_same(moved, x)]
        delta = stabiliser @ rng.normal(0.0, sigma_fract, 3)
        images = _images(x + delta.mean(axis=0), rotations, translations)
        if len(images) != site.multiplicity:
            return None
        n = len(images)
        fract.append(images)
        occupancy += [site.occupancy] * n
        b_iso += [site.b_iso] * n
        index += [types.index((site.scatterer, site.element))] * n
        element += [site.element] * n
    return Atoms(fract=np.vstack(fract), occupancy=np.array(occupancy, dtype=float), b_iso=np.array(b_iso, dtype=float),
                 scatterer_index=np.array(index), scatterers=phase.atoms.scatterers, element=tuple(element))
