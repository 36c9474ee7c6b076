"""Unit-cell geometry: metric tensors, volume, d-spacings and space-group constraints on the cell.

A cell is a 6-tuple ``(a, b, c, alpha, beta, gamma)`` in Å and degrees. The lattice *kind*
(``"cubic"``, ``"tetragonal"``, ``"hexagonal"``, ``"rhombohedral"``, ``"orthorhombic"``,
``"monoclinic-a|b|c"``, ``"triclinic"``) decides which cell parameters may be refined independently;
trigonal groups on hexagonal axes share the hexagonal constraints.
"""

from __future__ import annotations

import numpy as np

CELL_NAMES = ("a", "b", "c", "alpha", "beta", "gamma")


def crystal_system(sg_number: int) -> str:
    """Crystal system of an International Tables space-group number (1–230)."""
    n = int(sg_number)
    if not 1 <= n <= 230:
        raise ValueError(f"space-group number {n} is outside 1–230")
    for upper, name in ((2, "triclinic"), (15, "monoclinic"), (74, "orthorhombic"),
                        (142, "tetragonal"), (167, "trigonal"), (194, "hexagonal")):
        if n <= upper:
            return name
    return "cubic"


def lattice_kind(sg_number: int, hm: str, cell) -> str:
    """Which cell constraints apply: the crystal system, refined by axes choice.

    Trigonal groups are ``"hexagonal"`` on hexagonal axes and ``"rhombohedral"`` when an R group is
    given on rhombohedral axes (``:R`` setting). Monoclinic groups carry their unique axis,
    read from the full H-M symbol (``"P 1 21/c 1"`` → b) or, failing that, from the non-90° angle.
    """
    system = crystal_system(sg_number)
    if system in ("trigonal", "hexagonal"):
        if hm.startswith("R") and (hm.endswith(":R") or abs(cell[5] - 120.0) > 1e-3):
            return "rhombohedral"
        return "hexagonal"
    if system == "monoclinic":
        return "monoclinic-" + _unique_axis(hm, cell)
    return system


def _unique_axis(hm: str, cell) -> str:
    tokens = hm.split(":")[0].split()
    if len(tokens) == 4:  # full symbol: lattice + three axis positions, the unique one is not "1"
        others = [i for i, t in enumerate(tokens[1:]) if t != "1"]
        if len(others) == 1:
            return "abc"[others[0]]
    angles = [abs(x - 90.0) for x in cell[3:]]
    return "abc"[int(np.argmax(angles))] if max(angles) > 1e-6 else "b"


_FREE = {
    "cubic": ("a",),
    "tetragonal": ("a", "c"),
    "hexagonal": ("a", "c"),
    "rhombohedral": ("a", "alpha"),
    "orthorhombic": ("a", "b", "c"),
    "monoclinic-a": ("a", "b", "c", "alpha"),
    "monoclinic-b": ("a", "b", "c", "beta"),
    "monoclinic-c": ("a", "b", "c", "gamma"),
    "triclinic": CELL_NAMES,
}


def free_parameters(kind: str) -> tuple[str, ...]:
    """Names of the independent cell parameters of a lattice kind."""
    return _FREE[kind]


def constrain(kind: str, cell, **params) -> tuple[float, ...]:
    """Return a new cell with ``params`` applied and the lattice kind's constraints enforced.

    Raises ``ValueError`` for a parameter that is not free for this kind (e.g. ``b`` in cubic).
    """
    free = _FREE[kind]
    bad = [k for k in params if k not in free]
    if bad:
        raise ValueError(f"{', '.join(bad)} not refinable for a {kind} cell; free parameters: {', '.join(free)}")
    v = dict(zip(CELL_NAMES, (float(x) for x in cell)))
    v.update({k: float(x) for k, x in params.items()})
    if kind == "cubic":
        v.update(b=v["a"], c=v["a"], alpha=90.0, beta=90.0, gamma=90.0)
    elif kind == "tetragonal":
        v.update(b=v["a"], alpha=90.0, beta=90.0, gamma=90.0)
    elif kind == "hexagonal":
        v.update(b=v["a"], alpha=90.0, beta=90.0, gamma=120.0)
    elif kind == "rhombohedral":
        v.update(b=v["a"], c=v["a"], beta=v["alpha"], gamma=v["alpha"])
    elif kind == "orthorhombic":
        v.update(alpha=90.0, beta=90.0, gamma=90.0)
    elif kind.startswith("monoclinic"):
        for ax, ang in zip("abc", ("alpha", "beta", "gamma")):
            if kind[-1] != ax:
                v[ang] = 90.0
    out = tuple(v[k] for k in CELL_NAMES)
    if min(out[:3]) <= 0 or not all(0 < x < 180 for x in out[3:]):
        raise ValueError(f"impossible cell {out}")
    return out


def metric_tensor(cell) -> np.ndarray:
    """Direct metric tensor G (Å²), G_ij = a_i · a_j."""
    a, b, c = cell[:3]
    ca, cb, cg = np.cos(np.radians(cell[3:6]))
    return np.array([[a * a, a * b * cg, a * c * cb],
                     [a * b * cg, b * b, b * c * ca],
                     [a * c * cb, b * c * ca, c * c]])


def reciprocal_metric_tensor(cell) -> np.ndarray:
    """Reciprocal metric tensor G* = G⁻¹ (Å⁻²); 1/d² = hᵀ G* h."""
    return np.linalg.inv(metric_tensor(cell))


def u_tensor(u11: float, u22: float, u33: float, u12: float, u13: float, u23: float) -> np.ndarray:
    """The symmetric 3×3 displacement tensor of the six CIF components (U_ij, Å²)."""
    return np.array([[u11, u12, u13], [u12, u22, u23], [u13, u23, u33]], dtype=float)


def u_equivalent(u: np.ndarray, cell) -> float:
    """U_eq (Å²) of an anisotropic U tensor given on the cell's axes, as CIFs give it (Fischer & Tillmanns 1988):
    one third of the trace of U in Cartesian axes, (1/3) Σ_ij U_ij a*_i a*_j (a_i · a_j)."""
    n = np.diag(np.sqrt(np.diag(reciprocal_metric_tensor(cell))))
    return float(np.trace(n @ np.asarray(u, float) @ n @ metric_tensor(cell))) / 3.0


def volume(cell) -> float:
    """Cell volume in Å³."""
    return float(np.sqrt(np.linalg.det(metric_tensor(cell))))


def d_spacing(hkl, cell) -> np.ndarray:
    """Interplanar spacings d (Å) of Miller indices ``hkl`` (shape (n, 3) or (3,)) in ``cell``.

    Vectorised through the reciprocal metric tensor, so it is cheap enough to call inside
    refinement loops whenever the lattice parameters change.
    """
    h = np.asarray(hkl, dtype=float)
    gs = reciprocal_metric_tensor(cell)
    inv_d2 = np.einsum("...i,ij,...j->...", h, gs, h)
    with np.errstate(divide="ignore"):
        return 1.0 / np.sqrt(inv_d2)
