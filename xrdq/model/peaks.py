"""Peaks on a grid: every reflection's TCH pseudo-Voigt convolved with the aberrations that shift and skew it —
the Finger–Cox–Jephcoat axial divergence, the specimen's transparency, the flat-specimen aberration — each a small
node quadrature (offsets and weights per peak), composed and summed by the compiled kernels
(:mod:`xrdq.model._kernels`). :mod:`xrdq.model.pattern` decides where the peaks are and how strong;
this module draws them.
"""

from __future__ import annotations

import numpy as np

from .._numeric import unique
from . import _kernels
from .profile import _gauss_legendre, fcj_nodes

_ASYMMETRY_THRESHOLD = 0.1  # FCJ spread / FWHM below which one evaluation at the centroid suffices
_WINDOW_FWHM = _kernels._WINDOW_FWHM  # Lorentzian part evaluated within ±24 FWHM at most


def transparency_scale(penetration_um: float, radius_mm: float) -> float:
    """Mean transparency shift (degrees 2θ) at 2θ = 90° of a specimen with 1/µ = ``penetration_um``; at other
    angles it is this times sin 2θ (:func:`transparency_nodes`)."""
    return float(np.degrees(penetration_um * 1e-3 / (2.0 * radius_mm)))


#: The exponential transparency profile is resolved explicitly over this many mean shifts; one last node
#: carries the rest (e^−6 = 0.25 % of the intensity) at its own mean, so the centroid shift stays exact.
_TRANSPARENCY_SPAN = 6.0
_TRANSPARENCY_ORDER = 3  # Gauss–Legendre nodes per panel
_TRANSPARENCY_MAX_PANELS = 8


def _transparency_table(max_panels=_TRANSPARENCY_MAX_PANELS, span=_TRANSPARENCY_SPAN, order=_TRANSPARENCY_ORDER):
    """Quadrature of ∫₀^∞ e^−u f(u) du with m panels over [0, span] (``order`` Gauss–Legendre nodes each, weights
    times e^−u) and one node for the tail, for m = 1 … max_panels: rows of offsets u and weights, zero-padded."""
    gx, gw = _gauss_legendre(order)
    u = np.zeros((max_panels + 1, order * max_panels + 1))
    w = np.zeros_like(u)
    u[0, 0], w[0, 0] = 1.0, 1.0  # one node: the mean shift
    tail = np.exp(-span)
    for m in range(1, max_panels + 1):
        edges = np.linspace(0.0, span, m + 1)
        x = (edges[:-1, None] + np.diff(edges)[:, None] * gx[None, :]).ravel()
        wx = (np.diff(edges)[:, None] * gw[None, :]).ravel() * np.exp(-x)
        wx *= (1.0 - tail) / wx.sum()  # the panels hold exactly the mass below span
        n = x.size
        u[m, :n], w[m, :n] = x, wx
        u[m, n], w[m, n] = (1.0 - wx @ x) / tail, tail  # the tail's node keeps the mean at exactly 1
    return u, w


_TRANSPARENCY_U, _TRANSPARENCY_W = _transparency_table()


def _width_ratio(width, fwhm):
    """|width| / FWHM per peak, 0 where undefined (a zero FWHM is refused by name in :func:`accumulate_peaks`)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num(np.abs(width) / np.asarray(fwhm, dtype=float), nan=0.0, posinf=0.0)


def transparency_node_counts(centers, fwhm, transparency: float):
    """How many nodes each peak's transparency profile needs (:func:`transparency_nodes`).

    One node (a pure shift by the mean τ) where τ is below 2 % of the FWHM; else m panels of three
    Gauss–Legendre nodes plus the tail's, m = ⌈4 τ/FWHM⌉ + 1 (at most 8): measured against a brute-force
    convolution, the peak is then exact to ≈ 0.5 % of its height up to τ ≈ FWHM (LiF-rich specimens at 2θ ≈ 90°)
    and ≈ 0.05 % at τ ≈ 0.3 FWHM (halides)."""
    ratio = _width_ratio(transparency * np.sin(np.radians(np.asarray(centers, dtype=float))), fwhm)
    panels = np.clip(np.ceil(4.0 * ratio) + 1, 1, _TRANSPARENCY_MAX_PANELS)
    return np.where(ratio < 0.02, 1, _TRANSPARENCY_ORDER * panels + 1).astype(int)


def transparency_nodes(centers, transparency: float, counts):
    """Offsets (degrees, n_peaks × max count, toward low angle) and weights of each peak's transparency profile.

    A specimen of linear attenuation µ scatters from depth z with weight ∝ exp(−2µz/sinθ), and a layer at
    depth z is displaced by z, so its peak moves by −2z cosθ/R: the profile is a one-sided exponential toward
    low angle with mean τ = sin2θ/(2µR) (Klug & Alexander 1974, §5-2; Cheary & Coelho 1992) for a specimen
    thicker than its penetration. ``counts`` (:func:`transparency_node_counts`) selects the quadrature of
    :func:`_transparency_table`: Σ weights = 1 (intensity kept) and Σ weight·offset = −τ (centroid exact).
    Negative ``transparency`` mirrors the profile (only finite differences about 0 use that).
    """
    tt = np.asarray(centers, dtype=float)
    counts = np.asarray(counts, dtype=int)
    tau = transparency * np.sin(np.radians(tt))
    rows = np.where(counts <= 1, 0, (counts - 1) // _TRANSPARENCY_ORDER)
    k = max(int(counts.max(initial=1)), 1)
    return -tau[:, None] * _TRANSPARENCY_U[rows, :k], _TRANSPARENCY_W[rows, :k].copy()


def flat_specimen_widths(centers, flat_specimen: float, variable_slit: bool = False):
    """Full width ε_m (degrees 2θ) of the flat-specimen aberration of every peak: α² cotθ / 2 for a fixed
    divergence slit of ``flat_specimen`` degrees (Wilson 1963; Cheary & Coelho 1992); with a variable slit the
    divergence follows sinθ (constant irradiated length) and ``flat_specimen`` is its value at 2θ = 90°."""
    theta = np.radians(np.asarray(centers, dtype=float)) / 2.0
    alpha = np.radians(flat_specimen)
    if variable_slit:
        alpha = alpha * np.sin(theta) / np.sin(np.pi / 4.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.degrees(alpha * alpha / (2.0 * np.tan(theta)))


def flat_specimen_node_counts(centers, fwhm, flat_specimen: float, variable_slit: bool = False):
    """How many nodes each peak's flat-specimen aberration needs (:func:`flat_specimen_nodes`): one (a shift by
    the mean −ε_m/3) where ε_m is below 5 % of the FWHM, else ⌈2.5 ε_m/FWHM⌉ + 2 (3 to 16)."""
    ratio = _width_ratio(flat_specimen_widths(centers, flat_specimen, variable_slit), fwhm)
    return np.where(ratio < 0.05, 1, np.clip(np.ceil(2.5 * ratio) + 2, 3, 16)).astype(int)


def flat_specimen_nodes(centers, flat_specimen: float, variable_slit: bool, counts):
    """Offsets (degrees, toward low angle) and weights of each peak's flat-specimen aberration.

    The aberration of a flat specimen in a divergent beam is ∝ |Δ|^−½ on −ε_m ≤ Δ ≤ 0 (mean −ε_m/3). With
    Δ = −ε_m u² it is uniform in u ∈ [0, 1], so Gauss–Legendre nodes in u integrate it with no singularity left;
    one node is the mean shift."""
    eps = flat_specimen_widths(centers, flat_specimen, variable_slit)
    counts = np.asarray(counts, dtype=int)
    k = max(int(counts.max(initial=1)), 1)
    off = np.zeros((eps.size, k))
    wts = np.zeros((eps.size, k))
    for n in unique(counts):
        rows = counts == n
        if n <= 1:
            off[rows, 0], wts[rows, 0] = -eps[rows] / 3.0, 1.0
            continue
        u, w = _gauss_legendre(int(n))
        off[rows, :n] = -eps[rows, None] * (u * u)[None, :]
        wts[rows, :n] = w[None, :]
    return off, wts



def fcj_node_counts(centers, fwhm, s_l, h_l):
    """How many FCJ quadrature nodes each peak needs.

    The nodes' shifts grow as h², so neighbouring nodes at the far end of the asymmetric tail sit about
    2·spread/n apart; keeping that below half a FWHM needs n ≈ 4·spread/FWHM (+1, at least 3). Peaks whose spread is
    below a tenth of their FWHM are evaluated once at the FCJ centroid; at most 16 nodes.
    """
    pos, _ = fcj_nodes(centers, s_l, h_l)
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero width is refused by accumulate_peaks, by name
        ratio = np.abs(pos - np.asarray(centers)[:, None]).max(axis=1) / np.asarray(fwhm)
    return np.where(ratio < _ASYMMETRY_THRESHOLD, 1, np.clip(np.ceil(4.0 * ratio) + 1, 3, 16)).astype(int)


def accumulate_peaks(two_theta, centers, areas, fwhm, eta, s_l=0.0, h_l=0.0, node_counts=None, derivatives=None,
                     exact_tails=False, transparency=0.0, transparency_counts=None, flat_specimen=0.0,
                     flat_specimen_counts=None, variable_slit=False):
    """Sum of pseudo-Voigt peaks with FCJ asymmetry on the grid ``two_theta`` (sorted, degrees).

    Windows. The Gaussian part is evaluated within ±2.6 FWHM (beyond, < 1e-8 of its peak). The
    Lorentzian part is evaluated within ±24 FWHM (shrinking only for peaks broader than ≈ 1.25°, so the tail
    spans at most ±30° 2θ, never below ±8 FWHM), and tapered to zero over the outer quarter of its window: the pattern
    stays a continuous function of every parameter while the peak core stays the exact pseudo-Voigt.
    What is dropped is a smooth low tail the background follows (≈ 1.5 % of a pure Lorentzian's area
    beyond ±24 FWHM); renormalising the truncated peak instead would raise its core by an η-dependent few
    per cent and bias the scales of broad (small-crystallite) phases.

    Asymmetry. ``node_counts`` (per peak, 1 to 16) says how finely the FCJ convolution is sampled;
    callers keep it fixed during a refinement so the optimiser sees a smooth function (by default it
    follows :func:`fcj_node_counts`). A peak with one node is evaluated once at its FCJ centroid. A peak
    with several has every node's Gaussian evaluated, and every node's Lorentzian within its core (the
    node spread plus 2.5 FWHM); beyond the core the sum of shifted Lorentzians is indistinguishable from
    one Lorentzian at the centroid, which carries the far tail, joined to the core by a smooth blend over
    1.5 FWHM. The loop itself is compiled (:mod:`xrdq.model._kernels`).

    Transparency. ``transparency`` (degrees, :func:`transparency_scale`) convolves every peak with the
    specimen's exponential transparency profile, as nodes composed with the FCJ ones
    (:func:`transparency_nodes`); ``transparency_counts`` (per peak) fixes their number like ``node_counts``
    (by default :func:`transparency_node_counts`). ``flat_specimen`` (degrees of equatorial divergence, with
    ``variable_slit``) and ``flat_specimen_counts`` do the same for the flat-specimen aberration
    (:func:`flat_specimen_nodes`).

    ``exact_tails``: evaluate every Lorentzian on the whole grid, untruncated — what a real pattern
    has; the simulator uses it so that synthetic truth does not share the fit model's windows.

    Derivatives. With ``derivatives`` (n_peaks, 4, n_par) — ∂(centre, area, FWHM, η)/∂θ per peak and
    parameter — returns ``(pattern, jacobian)``, the jacobian (n_points, n_par) by the chain rule through
    the analytic derivatives of each peak.
    """
    tt = np.ascontiguousarray(two_theta, dtype=float)
    centers = np.asarray(centers, dtype=float)
    areas = np.asarray(areas, dtype=float)
    fwhm = np.asarray(fwhm, dtype=float)
    eta = np.asarray(eta, dtype=float)
    total = np.zeros_like(tt)
    jac = None if derivatives is None else np.zeros((np.shape(derivatives)[2], tt.size))
    if centers.size == 0 or tt.size == 0:
        return total if jac is None else (total, jac.T)
    if node_counts is None:
        node_counts = fcj_node_counts(centers, fwhm, s_l, h_l)
    node_counts = np.asarray(node_counts)
    if transparency_counts is None:
        transparency_counts = transparency_node_counts(centers, fwhm, transparency)
    transparency_counts = np.asarray(transparency_counts)
    if flat_specimen_counts is None:
        flat_specimen_counts = flat_specimen_node_counts(centers, fwhm, flat_specimen, variable_slit)
    flat_specimen_counts = np.asarray(flat_specimen_counts)
    if exact_tails and derivatives is not None:
        raise ValueError("exact_tails is for simulation: the refinement's derivatives use the windows")
    # generous: FCJ tails extend below the centre
    reach = np.inf if exact_tails else 2.0 * _WINDOW_FWHM * fwhm
    ok = np.isfinite(centers) & (areas != 0) & (centers + reach > tt[0]) & (centers - reach < tt[-1])
    if not ok.all():
        centers, areas, fwhm, eta, node_counts = centers[ok], areas[ok], fwhm[ok], eta[ok], node_counts[ok]
        transparency_counts, flat_specimen_counts = transparency_counts[ok], flat_specimen_counts[ok]
        if derivatives is not None:
            derivatives = derivatives[ok]
        if centers.size == 0:  # every peak outside the grid
            return total if jac is None else (total, jac.T)
    fwhm, eta = np.ascontiguousarray(fwhm), np.ascontiguousarray(eta)
    if (fwhm == 0.0).any():  # the kernels divide by it (error_model="numpy": inf and an empty window, no error)
        bad = fwhm == 0.0
        raise ValueError(f"peak FWHM must be > 0: {int(bad.sum())} peak(s) on the grid have FWHM 0 "
                         f"(first at 2θ = {centers[bad][0]:.4f}°); the profile terms (U, V, W, X, Y) and sizes give "
                         "these peaks no width")
    kernels = []  # specimen and beam aberrations composed with the FCJ nodes: (nodes function, counts)
    if transparency != 0.0:
        kernels.append((lambda c, n: transparency_nodes(c, transparency, n), transparency_counts))
    if flat_specimen != 0.0:
        kernels.append((lambda c, n: flat_specimen_nodes(c, flat_specimen, variable_slit, n), flat_specimen_counts))
    if derivatives is None:
        nodes = _node_arrays(centers, node_counts, s_l, h_l, kernels)
        span, window = (1e9, 1e9) if exact_tails else (_kernels._TAIL_SPAN_DEG, _WINDOW_FWHM)
        _kernels.accumulate(tt, *nodes, areas, fwhm, eta, total, span, window)
        return total
    # how the FCJ nodes move with the peak centre (central difference: fcj_nodes is smooth and cheap); the
    # nodes at the centres and at ± step in one table, each peak's rows as three separate calls would give
    step = 1e-4
    n = centers.size
    table = _node_arrays(np.concatenate([centers, centers + step, centers - step]), np.tile(node_counts, 3), s_l, h_l,
                         [(fn, np.tile(counts, 3)) for fn, counts in kernels])
    nodes, up, dn = ([x[k * n:(k + 1) * n] for x in table] for k in range(3))
    dpos, dwts, dcen, dspread = ((u - d) / (2.0 * step) for u, d in zip(up[:2] + up[3:], dn[:2] + dn[3:]))
    pos, wts, n_nodes, cen, spread = nodes
    dpeak = np.ascontiguousarray(np.nan_to_num(derivatives, nan=0.0, posinf=0.0, neginf=0.0))
    _kernels.accumulate_jacobian(tt, pos, wts, dpos, dwts, n_nodes, cen, dcen, spread, dspread, areas, fwhm, eta, dpeak,
                                 total, jac)
    return total, jac.T


def _node_arrays(centers, node_counts, s_l, h_l, kernels=()):
    """FCJ nodes of every peak, composed with the nodes of each of ``kernels`` ((nodes function, counts):
    transparency, flat specimen), as padded arrays: positions, weights, node count, centroid, spread."""
    width = 2 * max(int(np.max(node_counts)), 2)
    pos = np.zeros((centers.size, width))
    wts = np.zeros((centers.size, width))
    n_nodes = np.ones(centers.size, dtype=np.int64)
    cen = np.empty(centers.size)
    spread = np.zeros(centers.size)
    _kernels.fcj_node_table(np.ascontiguousarray(centers, dtype=float), np.clip(node_counts, 1, 16).astype(np.int64),
                            float(s_l), float(h_l), _GL_X, _GL_W, pos, wts, n_nodes, cen, spread)
    for nodes_of, counts in kernels:
        offsets, weights = nodes_of(centers, counts)
        pos, wts, n_nodes, cen, spread = _compose(pos, wts, n_nodes, offsets, weights, np.asarray(counts, dtype=np.int64))
    return pos, wts, n_nodes, cen, spread


def _compose(pos, wts, n_nodes, offsets, weights, counts):
    """Every node shifted by every offset (the convolution of the two node sets), each peak's nodes first in its
    row (compiled: :func:`xrdq.model._kernels.compose_nodes`)."""
    width = max(int((n_nodes * counts).max(initial=1)), 1)
    n = pos.shape[0]
    out_pos, out_wts = np.zeros((n, width)), np.zeros((n, width))
    out_n, cen, spread = np.ones(n, dtype=np.int64), np.empty(n), np.zeros(n)
    _kernels.compose_nodes(pos, wts, n_nodes.astype(np.int64), np.ascontiguousarray(offsets, dtype=float),
                           np.ascontiguousarray(weights, dtype=float), counts.astype(np.int64), out_pos, out_wts,
                           out_n, cen, spread)
    return out_pos, out_wts, out_n, cen, spread


def _gauss_legendre_table(n_max=16):
    x = np.zeros((n_max + 1, n_max))
    w = np.zeros((n_max + 1, n_max))
    for n in range(2, n_max + 1):
        x[n, :n], w[n, :n] = _gauss_legendre(n)
    return x, w


_GL_X, _GL_W = _gauss_legendre_table()

