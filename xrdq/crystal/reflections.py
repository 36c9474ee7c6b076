"""Powder reflection lists: hkl generation, merging of equivalents, absences and |F|².

Equivalent reflections are merged under the Laue group (point-group rotations plus Friedel
inversion), so one powder line carries its full multiplicity. Reflections are removed only when
the space-group operators force F = 0 (a rotation that fixes h with a translation giving a phase
≠ 1); reflections that are weak by accident of the atom positions are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._numeric import unique
from ..errors import XrdqPhaseError
from . import scattering
from .cell import d_spacing, volume

#: Most reciprocal-lattice points (≈ V·(4π/3)/d_min³) a reflection list is built from. Listing them takes about
#: 2.2 kB per point in Fm-3m (48 Laue equivalents each; 0.6 kB in R-3c, 0.26 kB in P2_1/c, measured with
#: tracemalloc), so 250 000 stays near 550 MB at worst. Ordinary inorganic phases (V < ~5000 Å³) stay 5× below it
#: even in Cu Kα to 180° 2θ (≈ 46 000); a cell given in pm, or a = 200 Å, lands at millions and tens of GB.
MAX_LATTICE_POINTS = 250_000


@dataclass(frozen=True)
class Reflections:
    """Powder reflections of one phase at one wavelength, sorted by d descending.

    ``hkl`` (n, 3) int; ``d`` (n,) Å; ``multiplicity`` (n,) int, counting Friedel mates;
    ``f2`` (n,) |F|² in electrons², averaged over Friedel mates; ``wavelength`` Å.
    """

    hkl: np.ndarray
    d: np.ndarray
    multiplicity: np.ndarray
    f2: np.ndarray
    wavelength: float

    def __len__(self) -> int:
        return len(self.d)

    @property
    def two_theta(self) -> np.ndarray:
        """Bragg angles 2θ in degrees at ``wavelength``."""
        return np.degrees(2.0 * np.arcsin(np.clip(self.wavelength / (2.0 * self.d), -1.0, 1.0)))


@dataclass(frozen=True)
class Symmetry:
    """Space-group operators as numpy arrays: rotations R (n, 3, 3) acting on column x, and
    translations t (n, 3), centring included (x' = R x + t)."""

    rotations: np.ndarray
    translations: np.ndarray

    @classmethod
    def from_gemmi(cls, ops) -> "Symmetry":
        den = float(ops.DEN if hasattr(ops, "DEN") else 24)
        rot, tran = [], []
        for op in ops:  # iterating GroupOps yields every operator, centring included
            rot.append(np.array(op.rot, dtype=float) / den)
            tran.append(np.array(op.tran, dtype=float) / den)
        return cls(np.rint(np.array(rot)).astype(int), np.array(tran))

    def laue_rotations(self) -> np.ndarray:
        """Distinct rotations of the point group with −1 added (the Laue group), (m, 3, 3)."""
        rots = np.concatenate([self.rotations, -self.rotations])
        return unique(rots.reshape(len(rots), 9), axis=0).reshape(-1, 3, 3)


def _generate_hkl(cell, d_min: float) -> np.ndarray:
    """All hkl ≠ 000 with d ≥ d_min (|h| ≤ a/d_min since h = g·a and |g| ≤ 1/d_min)."""
    hmax = [int(np.floor(x / d_min)) for x in cell[:3]]
    ranges = [np.arange(-m, m + 1) for m in hmax]
    grid = np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, 3)
    return grid[np.any(grid != 0, axis=1)]


def merge_equivalents(hkl: np.ndarray, laue: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge hkl into Laue-equivalence classes.

    Returns (representatives (n, 3), multiplicity (n,)). The representative is the equivalent with
    the most non-negative indices, then the largest (h, k, l); it is unique per class.
    """
    if len(hkl) == 0:
        return hkl.reshape(0, 3), np.zeros(0, dtype=int)
    m = int(np.abs(hkl).max())
    base = 2 * m + 1
    equiv = np.einsum("ni,kij->nkj", hkl, laue)  # row vector h times R: reciprocal action
    keys = ((equiv[..., 0] + m) * base + (equiv[..., 1] + m)) * base + (equiv[..., 2] + m)
    # Prefer the equivalent with most non-negative indices, then the largest (h, k, l).
    keys = keys + np.count_nonzero(equiv >= 0, axis=2) * base**3
    keys.sort(axis=1)
    mult = 1 + np.count_nonzero(np.diff(keys, axis=1), axis=1)
    canon, first = np.unique(keys[:, -1], return_index=True)
    canon = canon % base**3
    h = canon // (base * base) - m
    k = (canon // base) % base - m
    l = canon % base - m
    return np.stack([h, k, l], axis=1), mult[first]


def systematically_absent(hkl: np.ndarray, sym: Symmetry, tol: float = 1e-6) -> np.ndarray:
    """Boolean mask of reflections whose F vanishes by symmetry for any atom arrangement.

    h is absent when some operator (R, t) has hR = h and h·t not an integer.
    """
    fixed = np.all(np.einsum("ni,kij->nkj", hkl, sym.rotations) == hkl[:, None, :], axis=2)
    phase = hkl @ sym.translations.T
    shifted = np.abs(phase - np.rint(phase)) > tol
    return np.any(fixed & shifted, axis=1)


def structure_factor_squared(hkl, d, atoms, wavelength: float, anomalous: bool = True,
                             anomalous_table=None) -> np.ndarray:
    """|F|² (electrons²) averaged over the Friedel pair h, −h.

    ``atoms`` supplies full-cell arrays ``fract`` (m, 3), ``occupancy`` (m,), ``b_iso`` (m,) Å² and
    ``scatterer_index`` (m,) into ``scatterers`` (list of (f0 name, element)). Each atom contributes
    occ·(f0(s) + f′ + i f″)·exp(−B s²)·exp(2πi h·x) with s = 1/(2d). ``anomalous_table``: a function
    (element, energy eV) → (f′, f″) in place of Chantler's (:func:`~xrdq.crystal.scattering.anomalous`).
    """
    hkl = np.asarray(hkl, dtype=float)
    s = 0.5 / np.asarray(d, dtype=float)
    energy = scattering.energy_ev(wavelength)
    table = anomalous_table or scattering.anomalous
    n_types = len(atoms.scatterers)
    f_real = np.empty((len(s), n_types))
    f_imag = np.zeros(n_types)
    for t, (ion, element) in enumerate(atoms.scatterers):
        fp, fpp = table(element, energy) if anomalous else (0.0, 0.0)
        f_real[:, t] = scattering.f0(ion, s) + fp
        f_imag[t] = fpp
    # Atoms sharing occupancy, B and scatterer (the images of one site) share their weight, so the
    # geometric sums Σ exp(2πi h·x) are added per group first and the Debye–Waller exponentials are
    # needed per group only. Elementwise numpy throughout: BLAS threads buy nothing at these sizes
    # and slow down badly on a busy machine.
    keys = np.column_stack([atoms.occupancy, atoms.b_iso, atoms.scatterer_index])
    groups, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    starts = np.searchsorted(inverse[order], np.arange(len(groups)))
    x = atoms.fract[order]
    arg = (2.0 * np.pi) * (hkl[:, 0:1] * x[:, 0] + hkl[:, 1:2] * x[:, 1] + hkl[:, 2:3] * x[:, 2])  # (n, m)
    weight = groups[:, 0] * np.exp(-np.outer(s * s, groups[:, 1]))  # (n, G)
    kind = groups[:, 2].astype(int)
    c_g = np.add.reduceat(np.cos(arg), starts, axis=1) * weight
    s_g = np.add.reduceat(np.sin(arg), starts, axis=1) * weight
    c = np.zeros((len(s), n_types))
    sn = np.zeros((len(s), n_types))
    for t in range(n_types):  # Σ over groups of each scatterer type, (n, T)
        c[:, t] = c_g[:, kind == t].sum(axis=1)
        sn[:, t] = s_g[:, kind == t].sum(axis=1)
    # F(±h) = Σ_t (fr + i fi)(c ± i sn)
    a_c = np.sum(f_real * c, axis=1)
    a_s = np.sum(f_real * sn, axis=1)
    b_c = np.sum(c * f_imag, axis=1)
    b_s = np.sum(sn * f_imag, axis=1)
    f2_plus = (a_c - b_s) ** 2 + (a_s + b_c) ** 2
    f2_minus = (a_c + b_s) ** 2 + (b_c - a_s) ** 2
    return 0.5 * (f2_plus + f2_minus)


def estimated_lattice_points(cell, d_min: float) -> float:
    """Reciprocal-lattice points with d ≥ d_min: the limiting sphere's volume (4π/3)/d_min³ over V* = 1/V."""
    return volume(cell) * (4.0 * np.pi / 3.0) / d_min**3


def reflection_list(cell, sym: Symmetry, atoms, two_theta_max: float, wavelength: float,
                    two_theta_min: float = 0.0, anomalous: bool = True, what: str = "the phase") -> Reflections:
    """Every allowed reflection with two_theta_min ≤ 2θ ≤ two_theta_max (degrees) at ``wavelength``.

    Raises :class:`XrdqPhaseError` naming ``what`` (phase and file) when the cell is too large to list.
    """
    wavelength = float(wavelength)
    if wavelength <= 0:
        raise ValueError(f"wavelength must be positive, got {wavelength}")
    if not 0.0 <= two_theta_min < two_theta_max <= 180.0:
        raise ValueError(f"need 0 ≤ two_theta_min < two_theta_max ≤ 180, got {two_theta_min}, {two_theta_max}")
    eps = 1e-9
    d_min = wavelength / (2.0 * np.sin(np.radians(two_theta_max) / 2.0))
    d_max = wavelength / (2.0 * np.sin(np.radians(two_theta_min) / 2.0)) if two_theta_min > 0 else np.inf
    n_points = estimated_lattice_points(cell, d_min)
    if n_points > MAX_LATTICE_POINTS:  # before the arrays are built: a huge cell was killed or died in numpy
        raise XrdqPhaseError(
            f"{what}: cell volume {volume(cell):.4g} Å³ gives ≈ {n_points:.2g} reciprocal-lattice points to "
            f"2θ = {two_theta_max:g}° at λ = {wavelength:g} Å, more than the {MAX_LATTICE_POINTS:,} xrdq lists "
            f"(ordinary inorganic phases have V < ~5000 Å³): is the cell in the wrong unit (pm or nm, not Å)?")
    hkl = _generate_hkl(cell, d_min * (1 - eps))
    d = d_spacing(hkl, cell)
    keep = (d >= d_min * (1 - eps)) & (d <= d_max * (1 + eps))
    hkl, mult = merge_equivalents(hkl[keep], sym.laue_rotations())
    allowed = ~systematically_absent(hkl, sym)
    hkl, mult = hkl[allowed], mult[allowed]
    d = d_spacing(hkl, cell)
    order = np.lexsort((-hkl[:, 2], -hkl[:, 1], -hkl[:, 0], -d))
    hkl, mult, d = hkl[order], mult[order], d[order]
    f2 = structure_factor_squared(hkl, d, atoms, wavelength, anomalous=anomalous)
    return Reflections(hkl=hkl.astype(int), d=d, multiplicity=mult.astype(int), f2=f2, wavelength=wavelength)
