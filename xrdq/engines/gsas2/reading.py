"""Does GSAS-II read a phase's CIF as xrdq does? And if not, the CIF that makes it.

GSAS-II's CIF importer and xrdq's reader (:mod:`xrdq.crystal.cif`) can take one file for two structures,
without a word from either. Seen on third-party CIFs: GSAS-II drops atoms whose type has a fractional charge
(pymatgen's ``Ti3.928+``: a rutile cell of mass 66 instead of 160); it builds the group from the H-M name
alone, so it ignores ``_space_group_IT_coordinate_system_code`` and takes origin choice 2 for coordinates
written in choice 1; it falls back to P 1 when only ``_space_group_name_H-M_ref`` names the group. Weight
fractions from such a reading are wrong, and nothing says so.

So the engine compares the two readings (:func:`differences`): cell, cell contents by element, the
structure factors of the full-cell atoms (atomic number as scattering factor, so the comparison tests where
the atoms are, not the form-factor tables, and is blind to a shift of origin), the number of symmetry operators
(the cell constraints) and each element's mean B. Where they differ GSAS-II is given xrdq's reading written as a
CIF in a setting it reads the same way (:func:`gsas2_cif`), and the two are compared again.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np

from ...errors import XrdqPhaseError

#: Cells agree when every length and angle agrees to this relative difference.
CELL_TOLERANCE = 1e-4
#: Cell contents agree when each element's count agrees to this many atoms, or this fraction of it.
COUNT_TOLERANCE = (0.01, 1e-3)
#: Structures agree when Σ|ΔF²| / ΣF² over the reflections down to :data:`D_MIN` is below this. Snapping a site
#: a hair off a special position changes it by ~1e-4; an atom in the wrong place or origin by ~0.1–1.
STRUCTURE_TOLERANCE = 0.01
#: Displacements agree when each element's mean B agrees to this (Å²). Where a CIF gives none, xrdq takes B = 1 Å²
#: and GSAS-II U = 0.01 Å² (B = 0.79): 7 % of the intensity at 80° 2θ, a difference between the engines.
B_TOLERANCE = 0.02
#: Reflections compared: d ≥ D_MIN (Å), fewer than MAX_REFLECTIONS (a larger d_min for a large cell).
D_MIN = 1.0
MAX_REFLECTIONS = 6000


@dataclass(frozen=True)
class Reading:
    """A structure as a program reads it: cell, group, and every atom of the unit cell."""

    cell: tuple
    space_group: str
    element: tuple  # (m,) element symbols
    fract: np.ndarray  # (m, 3)
    occupancy: np.ndarray  # (m,)
    b_iso: np.ndarray | None = None  # (m,) Å² (U_eq × 8π² for an anisotropic atom)
    operators: int = 0  # symmetry operators, centring included (0: not known)

    def displacement(self) -> dict:
        """Element → occupancy-weighted mean B (Å²) over the cell."""
        if self.b_iso is None:
            return {}
        out = {}
        for el in set(self.element):
            mine = np.array([e == el for e in self.element])
            w = self.occupancy[mine]
            out[el] = float(np.sum(w * self.b_iso[mine]) / np.sum(w)) if np.sum(w) > 0 else float(np.mean(self.b_iso[mine]))
        return out

    def composition(self) -> dict:
        out: dict = {}
        for el, occ in zip(self.element, self.occupancy):
            out[el] = out.get(el, 0.0) + float(occ)
        return out

    def describe(self) -> str:
        a, b, c, al, be, ga = self.cell
        contents = " ".join(f"{el}{_count(n)}" for el, n in sorted(self.composition().items()))
        return (f"{self.space_group}, a={a:.5g} b={b:.5g} c={c:.5g} α={al:.5g} β={be:.5g} γ={ga:.5g}, "
                f"cell contents {contents or 'none'}")


def _count(n: float) -> str:
    return f"{n:.0f}" if abs(n - round(n)) < 1e-3 else f"{n:.3g}"


def xrdq_reading(phase) -> Reading:
    return Reading(tuple(float(v) for v in phase.cell), phase.space_group, tuple(phase.atoms.element),
                   np.asarray(phase.atoms.fract, float), np.asarray(phase.atoms.occupancy, float),
                   np.asarray(phase.atoms.b_iso, float), len(phase.symmetry.rotations))


_ELEMENT = re.compile(r"[A-Z][a-z]?")


def gsas2_reading(data) -> Reading:
    """GSAS-II's reading of a phase (a G2Phase's ``data``): its cell, its group, and every symmetry image of each
    atom weighted occupancy × multiplicity / number of images, as GSAS-II's structure factor weights them
    (GSASIIstrMath: ``Mdata*Fdata/nOps``) and its cell mass counts them."""
    from GSASII import GSASIIspc as G2spc

    from ...crystal.cell import u_equivalent, u_tensor

    gen = data["General"]
    sg = gen["SGData"]
    cx, ct, cs, cia = gen["AtomPtrs"]
    cell = tuple(float(v) for v in gen["Cell"][1:7])
    element, fract, occupancy, b_iso = [], [], [], []
    for atom in data["Atoms"]:
        m = _ELEMENT.match(str(atom[ct]).strip().capitalize())
        el = m.group(0) if m else str(atom[ct])
        images = [np.asarray(e[0], float) % 1.0 for e in G2spc.GenAtom(np.array(atom[cx:cx + 3], float), sg, True)]
        weight = float(atom[cx + 3]) * float(atom[cs + 1]) / len(images)
        if atom[cia] == "A":  # U_eq as xrdq's reader takes it (Fischer & Tillmanns 1988)
            b = 8.0 * np.pi ** 2 * u_equivalent(u_tensor(*(float(v) for v in atom[cia + 2:cia + 8])), cell)
        else:
            b = 8.0 * np.pi ** 2 * float(atom[cia + 1])
        element += [el] * len(images)
        fract += images
        occupancy += [weight] * len(images)
        b_iso += [b] * len(images)
    operators = len(sg["SGOps"]) * len(sg["SGCen"]) * (2 if sg["SGInv"] else 1)
    return Reading(cell, str(sg.get("SpGrp", "?")).strip(), tuple(element), np.array(fract, float).reshape(-1, 3),
                   np.array(occupancy, float), np.array(b_iso, float), operators)


def differences(ours: Reading, theirs: Reading) -> list:
    """How ``theirs`` differs from ``ours`` (cell, cell contents, structure factors, number of symmetry operators,
    mean B per element), each the first that fails; [] when they agree."""
    out = []
    if any(abs(t / o - 1.0) > CELL_TOLERANCE for o, t in zip(ours.cell, theirs.cell)):
        return [f"cell {_cell(theirs.cell)} instead of {_cell(ours.cell)}"]
    mine, other = ours.composition(), theirs.composition()
    for el in sorted(set(mine) | set(other)):
        n, m = mine.get(el, 0.0), other.get(el, 0.0)
        if abs(n - m) > max(COUNT_TOLERANCE[0], COUNT_TOLERANCE[1] * n):
            out.append(f"{_count(m)} {el} atoms in the cell instead of {_count(n)}")
    if out:
        return out
    r = structure_difference(ours, theirs)
    if r > STRUCTURE_TOLERANCE:
        out.append(f"atoms in other places: structure factors differ by {100 * r:.0f} % (Σ|ΔF²|/ΣF², atomic number "
                   "as scattering factor)")
        return out
    if ours.operators and theirs.operators and ours.operators != theirs.operators:
        # the same atoms in a lower group (a P 1 file xrdq reads in the group its atoms have): the pattern is the same,
        # but the cell would be refined without the group's constraints
        out.append(f"space group {theirs.space_group} ({theirs.operators} operators) instead of {ours.space_group} "
                   f"({ours.operators})")
    b_ours, b_theirs = ours.displacement(), theirs.displacement()
    for el in sorted(set(b_ours) & set(b_theirs)):
        if abs(b_ours[el] - b_theirs[el]) > B_TOLERANCE:
            out.append(f"{el}: B = {b_theirs[el]:.3g} Å² instead of {b_ours[el]:.3g}")
    return out


def _cell(cell) -> str:
    return "(" + ", ".join(f"{v:.5g}" for v in cell) + ")"


def structure_difference(ours: Reading, theirs: Reading) -> float:
    """Σ|F²(theirs) − F²(ours)| / ΣF²(ours) over the reflections of ``ours``' cell with d ≥ D_MIN (or a larger
    d_min keeping them below MAX_REFLECTIONS), with f = Z: blind to an origin shift, not to a misplaced atom."""
    from ...crystal.cell import d_spacing, volume

    v = volume(ours.cell)
    d_min = max(D_MIN, (4.0 * np.pi / 3.0 * v / MAX_REFLECTIONS) ** (1.0 / 3.0))
    hmax = [int(np.ceil(length / d_min)) for length in ours.cell[:3]]  # |h| ≤ 1/(a* d_min) ≤ a/d_min
    grid = np.array(list(itertools.product(*(range(-h, h + 1) for h in hmax))), float)
    grid = grid[np.any(grid != 0, axis=1)]
    hkl = grid[d_spacing(grid, ours.cell) >= d_min]
    return _relative(_f2(hkl, ours), _f2(hkl, theirs))


def _relative(f2_ours, f2_theirs) -> float:
    total = float(np.sum(f2_ours))
    return float(np.sum(np.abs(f2_theirs - f2_ours)) / total) if total > 0 else float(np.sum(f2_theirs) > 0)


def _f2(hkl, reading: Reading) -> np.ndarray:
    import gemmi

    z = np.array([gemmi.Element(el).atomic_number for el in reading.element], float) * reading.occupancy
    phase = 2.0 * np.pi * (hkl @ reading.fract.T)
    return np.abs(np.exp(1j * phase) @ z) ** 2


# ---- the CIF GSAS-II reads as xrdq does ------------------------------------------------------------
#: Origin shifts tried (each coordinate a multiple of 1/8): every origin choice of the International Tables differs
#: from another by such a shift (F d -3 m: 1/8, 1/8, 1/8; I 41/a m d: 0, 1/4, 3/8 …).
_SHIFTS = np.array(list(itertools.product(range(-3, 5), repeat=3)), float) / 8.0
_SHIFTS = _SHIFTS[np.argsort(np.abs(_SHIFTS).sum(axis=1), kind="stable")]  # the smallest that works is said


def gsas2_setting(phase) -> tuple:
    """(H-M name, origin shift t): a name GSAS-II builds exactly ``phase``'s operators from once the coordinates
    are moved by t (x' = x + t). GSAS-II takes origin choice 2 and hexagonal axes unless the name says ' R'.
    Raises :class:`XrdqPhaseError` when no name does."""
    from GSASII import GSASIIspc as G2spc

    hm, _, ext = phase.space_group.partition(":")
    hm = hm.strip()
    names = [hm + " R"] if ext.strip().upper() == "R" else [hm]
    ours = _op_keys(phase.symmetry.rotations, phase.symmetry.translations)
    tried = []
    for name in names:
        err, sg = G2spc.SpcGroup(name)
        if err:
            tried.append(f"{name!r} (GSAS-II: {G2spc.SGErrors(err)})")
            continue
        rot, tran = _gsas2_ops(sg)
        theirs = _op_keys(rot, tran)
        if len(theirs) != len(ours):
            tried.append(f"{name!r} ({len(theirs)} operators, not {len(ours)})")
            continue
        for t in _SHIFTS:
            # coordinates x' = x + t turn x → R x + T into x' → R x' + T + (I − R) t
            moved = phase.symmetry.translations + t - np.einsum("nij,j->ni", phase.symmetry.rotations, t)
            if _op_keys(phase.symmetry.rotations, moved) == theirs:
                return name, t
        tried.append(f"{name!r} (its operators are not these, at any origin)")
    raise XrdqPhaseError(f"{phase.source or phase.name}: GSAS-II has no name for space group {phase.space_group} in "
                         f"this setting (tried {'; '.join(tried)}); transform the structure to a standard setting "
                         "(e.g. with VESTA or gemmi) to use the GSAS-II engine")


def _gsas2_ops(sg) -> tuple:
    rot, tran = [], []
    for cen in sg["SGCen"]:
        for sign in ((1, -1) if sg["SGInv"] else (1,)):
            for m, t in sg["SGOps"]:
                rot.append(sign * np.asarray(m, float))
                tran.append(sign * np.asarray(t, float) + np.asarray(cen, float))
    return np.rint(np.array(rot)).astype(int), np.array(tran, float)


def _op_keys(rotations, translations) -> frozenset:
    t24 = np.rint(np.asarray(translations, float) * 24.0).astype(int) % 24
    return frozenset(tuple(r.ravel()) + tuple(t) for r, t in zip(np.asarray(rotations, int), t24))


def gsas2_type(scatterer: str, element: str) -> str:
    """GSAS-II's name for xrdq's scatterer (``Li1+`` → ``Li+1``) when GSAS-II tabulates it, else the element: a type
    GSAS-II does not know (pymatgen's ``Ti3.928+``) makes it drop the atom."""
    from GSASII import atmdata

    m = re.fullmatch(r"([A-Z][a-z]?)(\d*)([+-])", scatterer.strip())
    if m:
        name = f"{m.group(1)}{m.group(3)}{m.group(2) or 1}"
        if name in atmdata.XrayFF:
            return name
    return element


def gsas2_cif(phase) -> tuple:
    """(CIF text, H-M name, origin shift): ``phase`` as xrdq read it, written so that GSAS-II reads the same structure:
    a group name GSAS-II builds the same operators from (:func:`gsas2_setting`), coordinates moved to its origin,
    GSAS-II's ion names, every site's U_iso from xrdq's B (B / 8π²)."""
    import gemmi

    name, shift = gsas2_setting(phase)
    q = gemmi.cif.quote
    a, b, c, al, be, ga = phase.cell
    lines = [f"data_{re.sub(r'[^A-Za-z0-9_.-]', '_', phase.name) or 'phase'}",
             "# written by xrdq: the structure as xrdq read it, in a setting GSAS-II reads the same way",
             f"# from {phase.source or phase.name}",
             f"_cell_length_a {a:.6f}", f"_cell_length_b {b:.6f}", f"_cell_length_c {c:.6f}",
             f"_cell_angle_alpha {al:.6f}", f"_cell_angle_beta {be:.6f}", f"_cell_angle_gamma {ga:.6f}",
             f"_symmetry_space_group_name_H-M {q(name)}",
             "loop_", "_atom_site_label", "_atom_site_type_symbol", "_atom_site_fract_x", "_atom_site_fract_y",
             "_atom_site_fract_z", "_atom_site_occupancy", "_atom_site_U_iso_or_equiv"]
    for site in phase.sites:
        x, y, z = (float(v + s) % 1.0 for v, s in zip(site.fract, shift))
        lines.append(f"{q(site.label)} {gsas2_type(site.scatterer, site.element)} {x:.6f} {y:.6f} {z:.6f} "
                     f"{site.occupancy:.6f} {site.b_iso / (8.0 * np.pi ** 2):.6f}")
    return "\n".join(lines) + "\n", name, tuple(float(s) for s in shift)
