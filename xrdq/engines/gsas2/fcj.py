"""FCJ axial-divergence asymmetry inside GSAS-II with an exact-weight quadrature (``GsasRecipe.fcj = "exact"``):
GSAS-II's own pseudo-Voigt at each node of xrdq's FCJ quadrature, swapped into GSASIIpwd for the
duration of a refinement."""

from __future__ import annotations

import contextlib
import functools

import numpy as np

from ...errors import XrdqRefineError
from .recipe import FCJ_QUADRATURES


def _fcj_node_count(pos, sig, gam, shl) -> int:
    """xrdq's own rule (:func:`xrdq.model.peaks.fcj_node_counts`): nodes ≈ 4 × FCJ spread / FWHM + 1,
    3 to 16, one (the centroid) where the spread is below a tenth of the FWHM — so both engines
    sample the asymmetry alike. GSAS-II units: ``sig`` Gaussian variance (centideg²), ``gam`` centideg."""
    from ...model.peaks import fcj_node_counts
    from ...model.profile import tch_mix

    fwhm, _ = tch_mix(np.sqrt(8.0 * np.log(2.0) * max(float(sig), 0.0)) / 100.0, max(float(gam), 0.0) / 100.0)
    half = 0.5 * float(shl)
    return int(fcj_node_counts(np.array([float(pos)]), np.array([max(float(fwhm), 1e-4)]), half, half)[0])


def _fcj_node_table(pos, shl, n):
    """FCJ nodes and weights (``n`` from :func:`_fcj_node_count`; 1 = a single node at the centroid)."""
    from ...model.profile import fcj_nodes

    half = 0.5 * float(shl)  # GSAS-II's FCJ takes S/L = H/L = SH/L / 2
    nodes, weights = fcj_nodes(np.array([float(pos)]), half, half, n_nodes=max(int(n), 2))
    if n <= 1:
        return np.array([float(nodes[0] @ weights[0])]), np.ones(1)
    return nodes[0], weights[0]


def fcj_exact(pos, sig, gam, shl, xdata, n=None):
    """Drop-in for ``GSASIIpwd.getFCJVoigt3`` with an exact-weight FCJ quadrature.

    The FCJ weight function is integrated on the axial height h (where it has no singularity) with
    Gauss–Legendre nodes (``xrdq.model.profile.fcj_nodes``), as many as xrdq's own model uses for the
    peak (``n``, by default :func:`_fcj_node_count`, at most :data:`FCJ_NODES`); at every node the peak
    is GSAS-II's own pseudo-Voigt (``pypsvfcjo`` without asymmetry), so only the quadrature differs
    from GSAS-II's. Units as GSAS-II's: ``pos`` °2θ, ``sig`` centideg², ``gam`` centideg; returns
    (profile per centidegree, its integral).
    """
    from GSASII import GSASIIpwd as G2pwd

    x = np.asarray(xdata, float)
    if x.size <= 1:
        return 0.0, 1.0
    if n is None:
        n = _fcj_node_count(pos, sig, gam, shl)
    nodes, weights = _fcj_node_table(pos, shl, n)
    dtt = (x[None, :] - nodes[:, None]).ravel()
    prof = np.asarray(G2pwd.pyd.pypsvfcjo(dtt.size, dtt, float(pos), float(sig), float(gam), 0.0), float)
    df = weights @ prof.reshape(nodes.size, x.size)
    cw = np.append(np.diff(x), x[-1] - x[-2])
    return df, float(np.sum(100.0 * df * cw))


def fcj_exact_derivatives(pos, sig, gam, shl, xdata, shl_derivative=True):
    """Drop-in for ``GSASIIpwd.getdFCJVoigt3``: profile and its derivatives by position, sig, gam
    (GSAS-II's own pseudo-Voigt derivatives, node-weighted) and SH/L (central difference with the node
    count held; zeros when ``shl_derivative`` is False, i.e. SH/L is not refined)."""
    from GSASII import GSASIIpwd as G2pwd

    x = np.asarray(xdata, float)
    n = _fcj_node_count(pos, sig, gam, shl)
    nodes, weights = _fcj_node_table(pos, shl, n)
    dtt = (x[None, :] - nodes[:, None]).ravel()
    parts = G2pwd.pyd.pydpsvfcjo(dtt.size, dtt, float(pos), float(sig), float(gam), 0.0)
    df, dp, ds, dg = (weights @ np.asarray(a, float).reshape(nodes.size, x.size) for a in parts[:4])
    if not shl_derivative:
        return df, dp, ds, dg, np.zeros_like(df)
    h = 1e-4 * max(float(shl), 1e-3)
    dsh = (fcj_exact(pos, sig, gam, shl + h, x, n)[0] - fcj_exact(pos, sig, gam, max(shl - h, 0.0), x, n)[0]) / (
        shl + h - max(shl - h, 0.0))
    return df, dp, ds, dg, dsh


@contextlib.contextmanager
def fcj_quadrature(kind: str = "exact", shl_refined: bool = True):
    """Within the block, GSAS-II computes FCJ asymmetry with ``kind`` ("gsas2": its own; "exact":
    :func:`fcj_exact`). GSAS-II's functions are module attributes, so this swaps them and puts them
    back; hold ``G2_LOCK`` around it (every GSAS-II call in this process sees the swap).
    ``shl_refined=False`` skips the SH/L derivative (two extra profile evaluations per peak)."""
    if kind == "gsas2":
        yield
        return
    if kind != "exact":
        raise XrdqRefineError(f"fcj must be one of {FCJ_QUADRATURES}, got {kind!r}")
    from GSASII import GSASIIpwd as G2pwd

    if not (hasattr(G2pwd, "getFCJVoigt3") and hasattr(G2pwd, "getdFCJVoigt3")):
        raise XrdqRefineError("this GSAS-II has no GSASIIpwd.getFCJVoigt3/getdFCJVoigt3 to integrate the FCJ "
                              "asymmetry exactly; use recipe='gsas2-fcj' (GSAS-II's own quadrature)")
    saved = G2pwd.getFCJVoigt3, G2pwd.getdFCJVoigt3
    derivatives = fcj_exact_derivatives if shl_refined else functools.partial(fcj_exact_derivatives,
                                                                              shl_derivative=False)
    G2pwd.getFCJVoigt3, G2pwd.getdFCJVoigt3 = fcj_exact, derivatives
    try:
        yield
    finally:
        G2pwd.getFCJVoigt3, G2pwd.getdFCJVoigt3 = saved


