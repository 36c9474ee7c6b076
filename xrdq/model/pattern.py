"""Calculated Bragg–Brentano powder patterns, one component at a time.

A phase contributes ``scale × Σ_k Σ_λ I_λ · m_k |F_k|² · LP(θ) · PO_k · slit(θ) · Φ(2θ − 2θ_k,λ)``.
The scale is kept outside (:meth:`PhaseModel.profile` returns the unit-scale curve) because scales
enter linearly and the refinement solves them exactly.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from . import _kernels
from .film import film_transmission
from .instrument import Instrument, ProfileTerms
from .profile import _gauss_legendre, fcj_nodes, fp_widths, tch_mix, tch_widths

_ASYMMETRY_THRESHOLD = 0.1  # FCJ spread / FWHM below which one evaluation at the centroid suffices
_WINDOW_FWHM = _kernels._WINDOW_FWHM  # Lorentzian part evaluated within ±24 FWHM at most


@dataclass(frozen=True)
class Specimen:
    """What the specimen, not the instrument, does to every phase's peaks: its displacement (µm) from the
    focusing circle, its transparency — ``penetration_um`` = 1/µ of the specimen as packed (µm; 0: opaque,
    all scattering from the surface) — ``film_mu_t``, µ·t of a film covering it (:func:`film_transmission`), and
    ``beam_fill``, where a fixed slit's beam starts to overspill it (:func:`overspill`).
    The profile terms and 2θ zero are the instrument's (:class:`ProfileTerms`); a fit refines both, as a
    ProfileTerms and a Specimen (:mod:`xrdq.refine.specs`)."""

    displacement_um: float = 0.0
    penetration_um: float = 0.0
    film_mu_t: float = 0.0
    beam_fill: float = 0.0  # sinθ below which a fixed slit's beam overspills the specimen (:func:`overspill`); 0: never

    def replace(self, **changes) -> "Specimen":
        return dataclasses.replace(self, **changes)


#: A specimen on the focusing circle.
ON_CIRCLE = Specimen()


@dataclass(frozen=True)
class PhaseParams:
    """Per-phase non-linear parameters: cell (independent parameters), size, strain, PO, extra B."""

    cell: dict = field(default_factory=dict)
    size_nm: float | None = None
    strain: float | None = None
    po_ratio: float = 1.0  # March–Dollase r; 1 = random powder
    b_overall: float = 0.0  # Å², added to every site's B (exp(−2 B s²) on |F|²)

    def replace(self, **changes) -> "PhaseParams":
        return dataclasses.replace(self, **changes)


def lorentz_polarization(two_theta, polarization_factor: float = 1.0):
    """Bragg–Brentano LP: (1 + K cos²2θ) / ((1 + K) sin²θ cosθ), K = cos²2θ_m (1 without monochromator)."""
    tt = np.radians(np.asarray(two_theta, dtype=float))
    k = polarization_factor
    return (1.0 + k * np.cos(tt) ** 2) / ((1.0 + k) * np.sin(tt / 2.0) ** 2 * np.cos(tt / 2.0))


def bragg_two_theta(d, wavelength):
    """2θ (degrees) of spacing ``d`` (Å); NaN where the reflection cannot be reached."""
    s = wavelength / (2.0 * np.asarray(d, dtype=float))
    with np.errstate(invalid="ignore"):
        return np.where(s < 1.0, 2.0 * np.degrees(np.arcsin(np.minimum(s, 1.0))), np.nan)


def displacement_shift(two_theta, displacement_um: float, radius_mm: float):
    """Peak shift (degrees 2θ) of a specimen displaced by ``displacement_um`` from the focusing circle.

    Δ2θ = −2 s cosθ / R (radians); positive s (sample surface below the axis) moves peaks to low angle.
    """
    theta = np.radians(np.asarray(two_theta, dtype=float)) / 2.0
    return -np.degrees(2.0 * displacement_um * 1e-3 * np.cos(theta) / radius_mm)


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
    for n in np.unique(counts):
        rows = counts == n
        if n <= 1:
            off[rows, 0], wts[rows, 0] = -eps[rows] / 3.0, 1.0
            continue
        u, w = _gauss_legendre(int(n))
        off[rows, :n] = -eps[rows, None] * (u * u)[None, :]
        wts[rows, :n] = w[None, :]
    return off, wts


def slit_factor(two_theta, instrument: Instrument):
    """Intensity factor of a variable divergence slit (sinθ: constant irradiated length); 1 for a fixed slit,
    whose overspill of a short specimen is the specimen's (:func:`overspill`)."""
    theta = np.radians(np.asarray(two_theta, dtype=float)) / 2.0
    if instrument.variable_slit:
        return np.sin(theta)
    return np.ones_like(theta)


def beam_fill(instrument: Instrument) -> float:
    """sinθ at which a fixed slit's beam (R·α/sinθ long) just covers the instrument's ``sample_length_mm``; 0 when
    no length is given or the slit is variable."""
    if instrument.variable_slit or not instrument.sample_length_mm:
        return 0.0
    return float(instrument.radius_mm * np.radians(instrument.divergence_slit_deg) / instrument.sample_length_mm)


def overspill(two_theta, fill: float):
    """Fraction of a fixed slit's beam that falls on the specimen: sinθ / ``fill`` below the angle where the beam
    (R·α/sinθ long) covers exactly its length L (``fill`` = R·α/L), 1 above."""
    if not fill:
        return 1.0
    return np.minimum(1.0, np.sin(np.radians(np.asarray(two_theta, dtype=float)) / 2.0) / fill)


def march_dollase(cos_alpha, ratio: float):
    """March–Dollase factor for angles α between the scattering vector and the preferred direction."""
    c2 = np.clip(cos_alpha, -1.0, 1.0) ** 2
    return (ratio**2 * c2 + (1.0 - c2) / ratio) ** -1.5


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


def _phase_key(phase) -> tuple:
    """What a phase's reflection list depends on, by value: its cell, symmetry operators and atoms. Phases
    compare by identity, and every quantify (each file of a batch, each call in a notebook) reads its CIFs
    afresh; keyed by content, the same structure is listed once per process."""
    try:
        a, sym = phase.atoms, phase.symmetry
        arrays = [np.asarray(x) for x in (sym.rotations, sym.translations, a.fract, a.occupancy, a.b_iso,
                                          a.scatterer_index)]
        return (tuple(float(c) for c in phase.cell), tuple(a.scatterers), tuple(a.element),
                *((x.dtype.str, x.shape, x.tobytes()) for x in arrays))
    except AttributeError:  # not an xrdq Phase: only the object itself is known to be the same
        return ("object", id(phase), phase)


class _Memo:
    """A small LRU memo of ``fn(phase, *args)`` keyed by ``(_phase_key(phase), *args)``; thread-safe like
    ``functools.lru_cache`` (a notebook or a threaded dask worker may fit in several threads)."""

    def __init__(self, fn, size: int = 32):
        self.fn, self.size, self.store = fn, size, OrderedDict()
        self.lock = threading.Lock()
        functools.update_wrapper(self, fn)

    def __call__(self, phase, *args):
        key = (_phase_key(phase), *args)
        with self.lock:
            if key in self.store:
                self.store.move_to_end(key)
                return self.store[key]
        out = self.fn(phase, *args)  # outside the lock: another thread may compute the same, harmlessly
        with self.lock:
            self.store[key] = out
            if len(self.store) > self.size:
                self.store.popitem(last=False)
        return out

    def cache_clear(self):
        with self.lock:
            self.store.clear()


@_Memo
def _reflections(phase, two_theta_max, wavelength, two_theta_min):
    # quantify builds models twice (once to look for amorphous humps, once to refine), a batch once more
    # per file: the same structure over the same range is listed once per process
    return phase.reflections(two_theta_max, wavelength, two_theta_min=two_theta_min)


@_Memo
def _laue_equivalents(phase, hkl_bytes: bytes, n: int):
    """(equivalents, start): the distinct Laue equivalents of each of ``n`` reflections (hkl as int
    bytes), stacked; reflection k's from row ``start[k]``. Per structure and reflection list, not per PO
    axis: the adaptive recipe tries several axes, and every quantify of a batch rebuilds its models."""
    hkl = np.frombuffer(hkl_bytes, dtype=int).reshape(n, 3)
    laue = phase.symmetry.laue_rotations()
    eqs = [np.unique(np.einsum("i,kij->kj", h, laue), axis=0).astype(float) for h in hkl]
    start = np.cumsum([0] + [len(e) for e in eqs[:-1]]).astype(int)
    eq = np.concatenate(eqs) if eqs else np.zeros((0, 3))
    eq.setflags(write=False)  # shared by every model of this phase
    start.setflags(write=False)
    return eq, start


def _same_positions(params: PhaseParams, terms: ProfileTerms, specimen: Specimen, other: PhaseParams,
                    other_terms: ProfileTerms, other_specimen: Specimen) -> bool:
    """Whether two parameter sets give the same peak positions and intensities (differ in widths only)."""
    return (params.cell == other.cell and params.b_overall == other.b_overall and params.po_ratio == other.po_ratio
            and terms.zero == other_terms.zero and specimen.displacement_um == other_specimen.displacement_um
            and specimen.film_mu_t == other_specimen.film_mu_t and specimen.beam_fill == other_specimen.beam_fill)


def _same_widths(params: PhaseParams, terms: ProfileTerms, other: PhaseParams, other_terms: ProfileTerms) -> bool:
    """Whether two parameter sets give the same widths at the same peak positions."""
    return (params.size_nm == other.size_nm and params.strain == other.strain
            and all(getattr(terms, k) == getattr(other_terms, k) for k in ("U", "V", "W", "X", "Y")))


def _remember(memo: dict, key, value, size: int = 8):
    """Store ``value`` under ``key`` in a per-model memo of the last ``size`` parameter sets; returns ``value``."""
    if len(memo) >= size:
        memo.pop(next(iter(memo)))
    memo[key] = value
    return value


class PhaseModel:
    """One crystalline phase over a 2θ range: its reflections, fixed |F|², and the unit-scale profile."""

    def __init__(self, phase, instrument: Instrument, two_theta_range, po_hkl=None, margin_deg: float = 2.0):
        from ..crystal import d_spacing
        from ..crystal.cell import constrain

        self.phase = phase
        self.name = phase.name
        self.instrument = instrument
        self.two_theta_range = (float(two_theta_range[0]), float(two_theta_range[1]))
        self._d_spacing, self._constrain = d_spacing, constrain
        lam_max = max(w for w, _ in instrument.wavelengths)
        lam_min = min(w for w, _ in instrument.wavelengths)
        tt_lo = max(self.two_theta_range[0] - margin_deg, 0.5) * lam_min / lam_max
        tt_hi = min(self.two_theta_range[1] + margin_deg + 1.0, 179.0)
        refl = _reflections(phase, tt_hi, instrument.wavelength, tt_lo)
        self.hkl = np.asarray(refl.hkl, dtype=int)
        self.multiplicity = np.asarray(refl.multiplicity, dtype=float)
        self.f2 = np.asarray(refl.f2, dtype=float)
        self.d0 = np.asarray(refl.d, dtype=float)
        self.base_cell = tuple(phase.cell)
        # the phase's constraint class and free cell parameters, asked for at every peak list otherwise
        self._lattice_kind = phase.lattice_kind
        self._base_cell_parameters = phase.cell_parameters()
        self.po_hkl = tuple(po_hkl) if po_hkl is not None else None
        self._po_cos = None
        self._node_counts = None
        self._transparency_counts = None
        self._flat_counts = None
        self._geometry_memo = {}
        self._areas_memo = {}

    def reset_sampling(self):
        """Decide the FCJ, transparency and flat-specimen node counts afresh at the next call (between refinement
        stages, never within)."""
        self._node_counts = None
        self._transparency_counts = None
        self._flat_counts = None

    def decide_sampling(self, params: PhaseParams, terms: ProfileTerms, specimen: Specimen = ON_CIRCLE) -> bytes:
        """How every peak is sampled (its FCJ, transparency and flat-specimen node counts): kept if already decided, else
        decided at these parameters (what the next :meth:`profile` would do). Returned as :attr:`sampling_key`,
        so a caller can key cached profiles by their sampling."""
        if self._node_counts is None:
            c, _, f, _ = self.peak_list(params, terms, specimen)
            self._decide(c, f, terms, specimen)
        return self.sampling_key

    def sampling_state(self) -> tuple:
        """The sampling as decided (FCJ, transparency, flat-specimen node counts), for :meth:`restore_sampling`."""
        return self._node_counts, self._transparency_counts, self._flat_counts

    def restore_sampling(self, state: tuple):
        """Go back to a sampling :meth:`sampling_state` returned (after evaluating elsewhere, e.g. at a probe)."""
        self._node_counts, self._transparency_counts, self._flat_counts = state

    @property
    def sampling_key(self) -> bytes | None:
        """The decided sampling as bytes (None before it is decided)."""
        if self._node_counts is None:
            return None
        return self._node_counts.tobytes() + self._transparency_counts.tobytes() + self._flat_counts.tobytes()

    def transparency(self, specimen: Specimen) -> float:
        """The specimen's transparency scale (degrees, :func:`transparency_scale`) on this goniometer."""
        return transparency_scale(specimen.penetration_um, self.instrument.radius_mm)

    def _decide(self, centers, fwhm, terms: ProfileTerms, specimen: Specimen):
        if self._node_counts is None or self._node_counts.size != centers.size:
            self._node_counts = fcj_node_counts(centers, fwhm, terms.s_l, terms.h_l)
            self._transparency_counts = transparency_node_counts(centers, fwhm, self.transparency(specimen))
            self._flat_counts = flat_specimen_node_counts(centers, fwhm, terms.flat_specimen,
                                                          self.instrument.variable_slit)

    def _aberrations(self, terms: ProfileTerms, specimen: Specimen) -> dict:
        """The specimen and beam aberrations composed with the FCJ nodes, as :func:`accumulate_peaks` takes them."""
        return dict(transparency=self.transparency(specimen), transparency_counts=self._transparency_counts,
                    flat_specimen=terms.flat_specimen, flat_specimen_counts=self._flat_counts,
                    variable_slit=self.instrument.variable_slit)

    def default_params(self, **changes) -> PhaseParams:
        return PhaseParams(cell=dict(self.phase.cell_parameters()), **changes)

    def cell(self, params: PhaseParams):
        """The cell of ``params`` with the space group's constraints (what ``phase.with_cell`` gives)."""
        if not params.cell:
            return self.base_cell
        return self._constrain(self._lattice_kind, self.base_cell, **params.cell)

    def d_spacings(self, params: PhaseParams):
        if not params.cell or params.cell == self._base_cell_parameters:
            return self.d0
        return self._d_spacing(self.hkl, self.cell(params))

    def po_cosines(self):
        """(cos α, start): cos α between the PO axis and every Laue equivalent of every reflection, all
        reflections' equivalents in one array, reflection k's from ``start[k]`` on."""
        if self._po_cos is None:
            from ..crystal.cell import reciprocal_metric_tensor

            g = reciprocal_metric_tensor(self.base_cell)
            p = np.asarray(self.po_hkl, dtype=float)
            pn = np.sqrt(p @ g @ p)
            eq, start = _laue_equivalents(self.phase, self.hkl.tobytes(), len(self.hkl))
            self._po_cos = ((eq @ g @ p) / (np.sqrt(np.einsum("ij,jk,ik->i", eq, g, eq)) * pn), start)
        return self._po_cos

    def po_factors(self, ratio: float) -> np.ndarray:
        """March–Dollase factor of every reflection: the mean over its Laue equivalents."""
        cos, start = self.po_cosines()
        if cos.size == 0:
            return np.ones(len(self.hkl))
        return np.add.reduceat(march_dollase(cos, ratio), start) / np.diff(np.append(start, cos.size))

    def peak_list(self, params: PhaseParams, terms: ProfileTerms, specimen: Specimen = ON_CIRCLE):
        """Centres (deg), integrated intensities, FWHMs and η of every reflection × wavelength, with the
        profile ``terms`` (an :class:`Instrument`, or the ones a fit refined) and the ``specimen``."""
        return self._widths(*self._positions(params, terms, specimen), params, terms)

    def _positions(self, params: PhaseParams, terms: ProfileTerms, specimen: Specimen):
        """Centres (before the FP shift) and integrated intensities: cell, zero, displacement, PO, B, cover film."""
        inst = self.instrument
        d, per_line = self._geometry(params)
        centers = np.concatenate([tt + (terms.zero + displacement_shift(tt, specimen.displacement_um, inst.radius_mm))
                                  for _, tt, _, _ in per_line])
        return centers, self._areas(params, specimen, d, per_line)

    def _areas(self, params: PhaseParams, specimen: Specimen, d, per_line) -> np.ndarray:
        """Integrated intensities of every reflection × wavelength (read-only). Kept for the last few parameter sets:
        a Jacobian's zero and displacement columns move the peaks, not their areas."""
        key = (tuple(params.cell.items()), params.b_overall, params.po_ratio, self.po_hkl, specimen.film_mu_t,
               specimen.beam_fill)
        hit = self._areas_memo.get(key)
        if hit is not None:
            return hit
        f2 = self.f2
        if params.b_overall:
            f2 = f2 * np.exp(-2.0 * params.b_overall / (2.0 * d) ** 2)
        intensity = self.multiplicity * f2
        if self.po_hkl is not None and params.po_ratio != 1.0:
            intensity = intensity * self.po_factors(params.po_ratio)
        areas = np.concatenate([weight * intensity * lp * slit * film_transmission(tt, specimen.film_mu_t)
                                * overspill(tt, specimen.beam_fill) for weight, tt, lp, slit in per_line])
        areas.flags.writeable = False  # shared by the calls that hit the memo
        return _remember(self._areas_memo, key, areas)

    def _geometry(self, params: PhaseParams):
        """(d, [(weight, 2θ, LP, slit factor) per emission line]): what the cell alone decides. Kept for the
        last few cells: a Jacobian moves zero, displacement, B, texture and widths with the cell held."""
        key = tuple(params.cell.items())
        hit = self._geometry_memo.get(key)
        if hit is not None:
            return hit
        inst = self.instrument
        d = self.d_spacings(params)
        per_line = []
        for lam, weight in inst.wavelengths:
            tt = bragg_two_theta(d, lam)
            per_line.append((weight, tt, lorentz_polarization(tt, inst.polarization_factor), slit_factor(tt, inst)))
        return _remember(self._geometry_memo, key, (d, per_line))

    def _widths(self, centers, areas, params: PhaseParams, terms: ProfileTerms):
        """Complete a peak list with FWHMs and η: U V W X Y, size, strain (and the FP geometry)."""
        centers, fwhm, eta = self._widths_many(centers, [params], [terms])
        return centers, areas, fwhm[0], eta[0]

    def _widths_many(self, centers, params: list, terms: list):
        """(centres, FWHMs, η) of the peaks at ``centers`` for each pair of ``params`` (PhaseParams) and ``terms``
        (ProfileTerms): FWHM and η with one row per pair, in one pass (:func:`tch_widths` broadcasts; a
        Jacobian's width parameters). The centres move only by the FP geometry's shift, which depends on the
        centres alone."""
        inst = self.instrument
        column = lambda values: np.array(values, dtype=float)[:, None]  # noqa: E731 — one parameter set per row
        hg, hl = tch_widths(
            centers[None, :], *(column([getattr(t, k) for t in terms]) for k in ("U", "V", "W", "X", "Y")),
            size_nm=column([p.size_nm or 0.0 for p in params]), strain=column([p.strain or 0.0 for p in params]),
            wavelength=inst.wavelength,
        )
        if inst.profile == "fp":
            # geometry-derived instrument profile; U V W X Y (default 0) add what the geometry misses
            g_fp, l_fp, shift_fp = fp_widths(centers, inst)
            hg = np.sqrt(hg**2 + g_fp**2)
            hl = hl + l_fp
            centers = centers + shift_fp
        fwhm, eta = tch_mix(hg, hl)
        return centers, fwhm, eta

    def profile(self, two_theta, params: PhaseParams, terms: ProfileTerms, specimen: Specimen = ON_CIRCLE,
                exact_tails: bool = False):
        """Unit-scale calculated pattern of this phase on ``two_theta``.

        How finely each peak's FCJ asymmetry is sampled is decided at the first call and then kept, so
        the profile stays a smooth function of the refined parameters. ``exact_tails``: see
        :func:`accumulate_peaks` (simulation).
        """
        c, a, f, e = self.peak_list(params, terms, specimen)
        self._decide(c, f, terms, specimen)
        return accumulate_peaks(two_theta, c, a, f, e, terms.s_l, terms.h_l, node_counts=self._node_counts,
                                exact_tails=exact_tails, **self._aberrations(terms, specimen))

    def profile_jacobian(self, two_theta, params: PhaseParams, terms: ProfileTerms, specimen: Specimen, perturbed):
        """:meth:`profile` and its derivatives, shape (n_points, len(perturbed)), with respect to
        parameters that act through the peak list (cell, zero, displacement, U–Y, size, strain, PO, B).

        ``perturbed`` lists ``(PhaseParams, ProfileTerms, Specimen, step)``: the parameters with one of them moved
        by ``step``. The peak list is differenced (it is cheap and has no grid); the profile is then
        differentiated analytically peak by peak, so one pass replaces a pattern per parameter.
        """
        positions = self._positions(params, terms, specimen)
        base = self._widths(*positions, params, terms)
        d = np.empty((base[0].size, 4, len(perturbed)))
        # width parameters (U–Y, size, strain) keep the positions: their widths in one pass, centres and
        # intensities unchanged (derivatives exactly 0, as differencing gives)
        widths = [j for j, (pp, tp, sp, _) in enumerate(perturbed) if _same_positions(params, terms, specimen, pp, tp, sp)]
        with np.errstate(invalid="ignore"):
            if widths:
                _, fwhm, eta = self._widths_many(positions[0], [perturbed[j][0] for j in widths],
                                                 [perturbed[j][1] for j in widths])
                steps = np.array([perturbed[j][3] for j in widths])[:, None]
                d[:, 0:2, widths] = 0.0
                d[:, 2, widths] = ((fwhm - base[2]) / steps).T
                d[:, 3, widths] = ((eta - base[3]) / steps).T
            shifted = []  # the same width parameters at moved centres (cell, zero, displacement): widths in one pass
            for j in (j for j in range(len(perturbed)) if j not in widths):
                pp, tp, sp, step = perturbed[j]
                moved = self._positions(pp, tp, sp)
                if not _same_widths(params, terms, pp, tp):
                    moved = self._widths(*moved, pp, tp)
                elif np.array_equal(moved[0], positions[0]):
                    moved = (base[0], moved[1], base[2], base[3])  # intensities only (texture, B): the widths stand
                else:
                    shifted.append((j, moved))
                    continue
                for q in range(4):
                    d[:, q, j] = (moved[q] - base[q]) / step
            if shifted:
                centers, fwhm, eta = self._widths_many(np.stack([m[0] for _, m in shifted]), [params], [terms])
                for row, (j, moved) in enumerate(shifted):
                    step = perturbed[j][3]
                    for q, value in enumerate((centers[row], moved[1], fwhm[0, row], eta[0, row])):
                        d[:, q, j] = (value - base[q]) / step
        c, a, f, e = base
        self._decide(c, f, terms, specimen)
        return accumulate_peaks(two_theta, c, a, f, e, terms.s_l, terms.h_l, node_counts=self._node_counts,
                                derivatives=d, **self._aberrations(terms, specimen))

    def tick_positions(self, params: PhaseParams, terms: ProfileTerms, specimen: Specimen = ON_CIRCLE):
        """Kα1 peak positions (deg) and hkl for tick marks."""
        d = self.d_spacings(params)
        tt = bragg_two_theta(d, self.instrument.wavelength)
        shift = terms.zero + displacement_shift(tt, specimen.displacement_um, self.instrument.radius_mm)
        if self.instrument.profile == "fp":
            shift = shift + fp_widths(tt, self.instrument)[2]
        # the centroids of the transparency profile and the flat-specimen aberration
        shift = shift - self.transparency(specimen) * np.sin(np.radians(tt))
        if terms.flat_specimen:
            shift = shift - flat_specimen_widths(tt, terms.flat_specimen, self.instrument.variable_slit) / 3.0
        tt = tt + shift
        lo, hi = self.two_theta_range
        keep = np.isfinite(tt) & (tt >= lo) & (tt <= hi)
        return tt[keep], self.hkl[keep]
