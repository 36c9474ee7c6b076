"""Compiled peak accumulation: the one loop in xrdq that numpy cannot express cheaply.

Summing a few hundred windowed peaks onto a grid in numpy means gathering (peak, point) index pairs,
evaluating on them and scattering back with ``bincount`` — five or six passes over ~200 000 pairs and as
many temporary arrays. The same arithmetic as a plain loop (numba, compiled once and cached on disk)
touches each pair once. The functions mirror :func:`xrdq.model.pattern.accumulate_peaks` exactly; the
windows and blends are documented there.

Loop form. Point loops run from 0 over slices (``t = tt[lo:hi]``, ``for i in range(t.size)``) and the
kernels use numpy's error model: with an index that may be negative (numba wraps it) or a division
that may raise, LLVM does not vectorise a loop, and these loops are most of a fit's arithmetic. A
vectorised loop does the same IEEE operations per point in the same order (no fast-math), so the
numbers are the scalar loop's bit for bit.
"""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np
from numba import njit


def _private_cache_dir() -> bool:
    """Point numba's cache at a private folder in the temp directory (once); False if none is usable."""
    from numba.core import config

    if config.CACHE_DIR:
        return False  # already set (by the user or an earlier call): nothing else to try
    path = os.path.join(tempfile.gettempdir(), f"xrdq-numba-cache-{os.getuid() if hasattr(os, 'getuid') else 0}")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
        # numba's cache files are pickles: a folder another user made (or can write) could plant code
        if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o077 or not os.path.isdir(path)
                                      or os.path.islink(path)):
            return False
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError:
        return False
    config.CACHE_DIR = path
    return True


def _cached_njit(**options):
    """``njit(cache=True, error_model="numpy")`` that still compiles when no cache folder is writable.

    ``error_model="numpy"``: a division by zero gives inf/NaN as in numpy instead of a branch that raises
    ZeroDivisionError; without that branch in them the point loops vectorise (no division here can be by
    zero: blends are positive, other divisors are guarded, and ``accumulate_peaks`` refuses a zero FWHM).

    numba caches beside the source (``__pycache__``) or in the user's cache folder; with a read-only
    install and an unwritable HOME it refuses to decorate ("no locator available") and every quantify
    died. Then a private folder in the temp directory is used, and failing that no disk cache at all
    (each process compiles once, a few seconds)."""
    options = {"error_model": "numpy", **options}

    def decorate(fn):
        try:
            return njit(cache=True, **options)(fn)
        except RuntimeError as exc:
            if "no locator" not in str(exc):
                raise
        if _private_cache_dir():
            try:
                return njit(cache=True, **options)(fn)
            except RuntimeError as exc:
                if "no locator" not in str(exc):
                    raise
        return njit(**options)(fn)

    return decorate


_LN2 = math.log(2.0)
_G_NORM = 2.0 * math.sqrt(_LN2 / math.pi)
_L_NORM = 2.0 / math.pi
_GAUSS_WINDOW_FWHM = 2.6
# The Lorentzian window: ±24 FWHM for every peak (at most ±30° 2θ, never below ±8 FWHM). What a window
# drops goes to the background, so the fractions are biased by how *unequally* phases lose tails. Against
# simulated patterns with untruncated tails, ±16 FWHM / ±2° biased the amorphous fraction by +0.3 wt% on
# average (the sample's broad peaks lost more than the standard's sharp ones). The later cap of ±4° for
# broad peaks did the same to nanocrystalline phases: a 20 nm phase (FWHM 0.45°) kept only ±9 FWHM and its
# curved near tail (≈ 4 % of its area) went to the background. On noise-free GSAS-II patterns the cap cost
# +0.37 wt% amorphous (lazco_nano_a40) and −0.18 (si_ceo2_a15), and changed nothing else (docs/method.md).
_TAIL_SPAN_DEG = 30.0
_WINDOW_FWHM = 24.0


@_cached_njit(inline="always")
def _smoothstep_down(t):
    if t <= 0.0:
        return 1.0
    if t >= 1.0:
        return 0.0
    return 1.0 - t * t * (3.0 - 2.0 * t)


@_cached_njit(inline="always")
def _tail_window(f):
    """Half-width of the Lorentzian window in FWHM: 24, shrinking only for peaks so broad (≳ 1.25°) that
    the tail would span more than ±30° 2θ, never below 8 FWHM."""
    h = _TAIL_SPAN_DEG / f
    return min(max(h, 8.0), _WINDOW_FWHM)


@_cached_njit(inline="always")
def _core_window(tt, c, spread, f):
    """(core, blend, lo, hi): a peak's FCJ nodes are summed within ``core`` of its centroid ``c`` and faded
    out across ``blend`` beyond it; ``tt[lo:hi]`` is that window (the value and the Jacobian use the same)."""
    core = spread + 2.5 * f
    blend = 1.5 * f
    return core, blend, np.searchsorted(tt, c - (core + blend)), np.searchsorted(tt, c + (core + blend))


@_cached_njit()
def _gauss(tt, out, c, a, f):
    lo = np.searchsorted(tt, c - _GAUSS_WINDOW_FWHM * f)
    hi = np.searchsorted(tt, c + _GAUSS_WINDOW_FWHM * f)
    norm = _G_NORM * a / f
    k = -4.0 * _LN2
    inv = 1.0 / f
    t, o = tt[lo:hi], out[lo:hi]
    for i in range(t.size):
        x = (t[i] - c) * inv
        o[i] += norm * math.exp(k * x * x)


@_cached_njit()
def accumulate(tt, pos, wts, n_nodes, cen, spread, areas, fwhm, eta, out, span_deg, window_fwhm):
    """Add every peak to ``out`` (len(tt)).

    No default arguments: numba's dispatcher cannot match a call that omits them against the compiled
    signature in its C fast path and falls back to a Python-level lookup under the compiler lock
    (≈ 0.8 ms per call, ~100 calls per quantify; 0.04 ms with every argument given).

    Per peak k: ``pos[k, :n_nodes[k]]``/``wts[k, :]`` are its FCJ nodes, ``cen[k]`` their centroid and
    ``spread[k]`` their largest distance from it. A peak with one node is a plain pseudo-Voigt at ``cen``.
    ``span_deg``/``window_fwhm`` set the Lorentzian window (huge values: untruncated tails, for simulation).
    """
    scratch = np.empty(tt.size)
    for k in range(cen.size):
        f = fwhm[k]
        a_l = areas[k] * eta[k]
        a_g = areas[k] - a_l
        c = cen[k]
        h = min(max(span_deg / f, 8.0), window_fwhm)
        inv = 1.0 / f
        lnorm = _L_NORM * a_l * inv
        if n_nodes[k] <= 1:
            if a_l != 0.0:
                _lorentz_value(tt, out, c, lnorm, inv, h, 0.0, h * f, 0.0, 0.0)
            if a_g != 0.0:
                _gauss(tt, out, c, a_g, f)
            continue
        n = n_nodes[k]
        if a_g != 0.0:
            for j in range(n):
                _gauss(tt, out, pos[k, j], a_g * wts[k, j], f)
        if a_l == 0.0:
            continue
        # every node inside the core (+ blend), weighted down across the blend
        core, blend, lo, hi = _core_window(tt, c, spread[k], f)
        t, o = tt[lo:hi], out[lo:hi]
        s = scratch[:t.size]
        _node_sum(t, s, pos[k], wts[k], n, inv)
        for i in range(t.size):
            inner = _smoothstep_down((abs(t[i] - c) - core) / blend)
            o[i] += inner * s[i] * lnorm
        # one Lorentzian at the centroid carries the far tail, the complement of the blend
        _lorentz_value(tt, out, c, lnorm, inv, h, core, h * f, core, blend)


@_cached_njit()
def _node_sum(t, s, pos, wts, n, inv):
    """``s[i] = Σ_j wts[j] / (1 + 4x²)``, x = (t[i] − pos[j]) / FWHM, over a peak's ``n`` FCJ nodes: node by
    node over all points (a vectorised loop), so each point's sum runs over j in order as a per-point loop
    would."""
    for i in range(t.size):
        s[i] = 0.0
    for j in range(n):
        pj, wj = pos[j], wts[j]
        for i in range(t.size):
            x = (t[i] - pj) * inv
            s[i] += wj / (1.0 + 4.0 * x * x)


@_cached_njit()
def _lorentz_value(tt, out, c, lnorm, inv, h, near, far, core, blend):
    """``lnorm / (1 + 4x²)`` on near ≤ |2θ − c| < far (both sides), times the window factors: the
    complement of the core blend (``blend`` > 0) and the taper over the outer quarter. The windows are
    evaluated only where they act; between them the loop is the plain Lorentzian."""
    edge = 0.75 * h / inv  # taper starts
    inner_edge = core + blend if blend > 0.0 else near
    for side in (-1.0, 1.0):
        # point ranges (left-searchsorted, half-open, as the reference): [a0, a1) window, [a1, a2) plain,
        # [a2, a3) window — on the left side the order of the windows is reversed
        if side > 0.0:
            a0 = np.searchsorted(tt, c + near)
            a3 = np.searchsorted(tt, c + far)
            a1 = np.searchsorted(tt, c + min(max(inner_edge, near), far))
            a2 = np.searchsorted(tt, c + min(max(edge, inner_edge, near), far))
        else:
            a0 = np.searchsorted(tt, c - far)
            a3 = np.searchsorted(tt, c - near)
            a1 = np.searchsorted(tt, c - min(max(edge, inner_edge, near), far))
            a2 = np.searchsorted(tt, c - min(max(inner_edge, near), far))
        _lorentz_windowed(tt, out, c, lnorm, inv, h, core, blend, a0, a1)
        t, o = tt[a1:a2], out[a1:a2]
        for i in range(t.size):
            x = (t[i] - c) * inv
            o[i] += lnorm / (1.0 + 4.0 * x * x)
        _lorentz_windowed(tt, out, c, lnorm, inv, h, core, blend, a2, a3)


@_cached_njit(inline="always")
def _lorentz_windowed(tt, out, c, lnorm, inv, h, core, blend, lo, hi):
    t, o = tt[lo:hi], out[lo:hi]
    for i in range(t.size):
        u = t[i] - c
        x = u * inv
        w = _smoothstep_down((abs(x / h) - 0.75) / 0.25)
        if blend > 0.0:
            w *= 1.0 - _smoothstep_down((abs(u) - core) / blend)
        o[i] += w * lnorm / (1.0 + 4.0 * x * x)


@_cached_njit()
def _flush(g, jac, dk, lo, hi):
    """Chain rule for one peak over its window, ∂y/∂θ = Σ_q ∂y/∂q · ∂q/∂θ, then clear the scratch.
    Point-contiguous inner loops from 0 over slices: the compiler vectorises them."""
    g0, g1, g2, g3 = g[0, lo:hi], g[1, lo:hi], g[2, lo:hi], g[3, lo:hi]
    for p in range(jac.shape[0]):
        d0, d1, d2, d3 = dk[0, p], dk[1, p], dk[2, p], dk[3, p]
        row = jac[p, lo:hi]
        for i in range(row.size):
            row[i] += g0[i] * d0 + g1[i] * d1 + g2[i] * d2 + g3[i] * d3
    for i in range(g0.size):
        g0[i] = 0.0
        g1[i] = 0.0
        g2[i] = 0.0
        g3[i] = 0.0


@_cached_njit(inline="always")
def _smoothstep_slope(t):
    """d/dt of :func:`_smoothstep_down`."""
    if t <= 0.0 or t >= 1.0:
        return 0.0
    return -6.0 * t * (1.0 - t)


@_cached_njit()
def _gauss_jacobian(tt, out, grad, c, dc, a, e, w, dw, f):
    """One Gaussian node of weight ``w`` at ``c`` (∂c/∂centre = ``dc``, ∂w/∂centre = ``dw``)."""
    lo = np.searchsorted(tt, c - _GAUSS_WINDOW_FWHM * f)
    hi = np.searchsorted(tt, c + _GAUSS_WINDOW_FWHM * f)
    inv = 1.0 / f
    k = -4.0 * _LN2
    k8 = 8.0 * _LN2
    norm = _G_NORM * inv
    ag = a * (1.0 - e)
    t, o = tt[lo:hi], out[lo:hi]
    g0, g1, g2, g3 = grad[0, lo:hi], grad[1, lo:hi], grad[2, lo:hi], grad[3, lo:hi]
    for i in range(t.size):
        x = (t[i] - c) * inv
        g = norm * math.exp(k * x * x)  # unit-area shape
        wg = w * g
        val = ag * wg
        o[i] += val
        g0[i] += ag * (dw * g + wg * k8 * x * inv * dc)
        g1[i] += (1.0 - e) * wg
        g2[i] += val * inv * (k8 * x * x - 1.0)
        g3[i] -= a * wg


@_cached_njit()
def _lorentz_jacobian(tt, out, grad, c, dc, a, e, f, h, lo, hi, core, dcore, blend):
    """The centroid Lorentzian on points ``lo:hi``, tapered at ±h FWHM and, when ``blend`` > 0, only
    the complement of the core blend. ``dc``, ``dcore``: ∂centroid/∂centre and ∂core/∂centre. The
    window factors are differentiated too: moving or widening a sharp peak moves its taper."""
    inv = 1.0 / f
    inv_h = 1.0 / h
    clipped = 1.0 if h != _TAIL_SPAN_DEG * inv else 0.0  # h = 2°/FWHM makes the taper width-free
    inv_b = 1.0 / blend if blend > 0.0 else 0.0
    ae = a * e
    t, o = tt[lo:hi], out[lo:hi]
    g0, g1, g2, g3 = grad[0, lo:hi], grad[1, lo:hi], grad[2, lo:hi], grad[3, lo:hi]
    for i in range(t.size):
        u = t[i] - c
        x = u * inv
        ax = abs(x)
        sgn = 1.0 if u >= 0.0 else -1.0
        win = 1.0
        dwin_c = 0.0
        dwin_f = 0.0
        st = (ax * inv_h - 0.75) * 4.0
        if st > 0.0:  # outer quarter: the taper
            win = _smoothstep_down(st)
            slope = _smoothstep_slope(st) * 4.0
            dwin_c = slope * (-sgn * inv * inv_h) * dc
            dwin_f = slope * (-clipped * ax * inv_h * inv)
        if blend > 0.0:
            sb = (abs(u) - core) * inv_b
            if sb < 1.0:  # inside the blend: the core's complement
                out_b = 1.0 - _smoothstep_down(sb)
                slope = -_smoothstep_slope(sb)
                dwin_c = dwin_c * out_b + win * slope * (-sgn * dc - dcore) * inv_b
                dwin_f = dwin_f * out_b + win * slope * (-(2.5 / 1.5 + sb) * inv)
                win *= out_b
        r = 1.0 / (1.0 + 4.0 * x * x)
        lor = _L_NORM * inv * r  # unit-area Lorentzian
        shape = win * lor
        val = ae * shape
        o[i] += val
        g0[i] += ae * (shape * 8.0 * x * inv * r * dc + lor * dwin_c)
        g1[i] += e * shape
        g2[i] += ae * (shape * inv * (8.0 * x * x * r - 1.0) + lor * dwin_f)
        g3[i] += a * shape


@_cached_njit()
def _lorentz_plain(tt, out, grad, c, dc, a, e, f, lo, hi):
    """The centroid Lorentzian where no window factor acts (between the core blend and the taper):
    the same arithmetic as :func:`_lorentz_jacobian` with the window at 1, branch-free."""
    inv = 1.0 / f
    ae = a * e
    k = _L_NORM * inv
    t, o = tt[lo:hi], out[lo:hi]
    g0, g1, g2, g3 = grad[0, lo:hi], grad[1, lo:hi], grad[2, lo:hi], grad[3, lo:hi]
    for i in range(t.size):
        x = (t[i] - c) * inv
        r = 1.0 / (1.0 + 4.0 * x * x)
        lor = k * r
        val = ae * lor
        o[i] += val
        g0[i] += val * 8.0 * x * inv * r * dc
        g1[i] += e * lor
        g2[i] += val * inv * (8.0 * x * x * r - 1.0)
        g3[i] += a * lor


@_cached_njit()
def _lorentz_tail(tt, out, grad, c, dc, a, e, f, h, near, far, core, dcore, blend, side):
    """Points with ``near`` ≤ |2θ − c| < ``far`` on one side (−1 or +1): the window factors only where
    they act (blend just outside the core, taper in the outer quarter), the plain Lorentzian between."""
    plain_lo = max(near, core + blend if blend > 0.0 else near)
    plain_hi = 0.75 * h * f
    if plain_hi <= plain_lo:
        if side > 0:
            _lorentz_jacobian(tt, out, grad, c, dc, a, e, f, h, np.searchsorted(tt, c + near),
                              np.searchsorted(tt, c + far), core, dcore, blend)
        else:
            _lorentz_jacobian(tt, out, grad, c, dc, a, e, f, h, np.searchsorted(tt, c - far),
                              np.searchsorted(tt, c - near), core, dcore, blend)
        return
    if side > 0:
        i0 = np.searchsorted(tt, c + near)
        i1 = np.searchsorted(tt, c + plain_lo)
        i2 = np.searchsorted(tt, c + plain_hi)
        i3 = np.searchsorted(tt, c + far)
        _lorentz_jacobian(tt, out, grad, c, dc, a, e, f, h, i0, i1, core, dcore, blend)
        _lorentz_plain(tt, out, grad, c, dc, a, e, f, i1, i2)
        _lorentz_jacobian(tt, out, grad, c, dc, a, e, f, h, i2, i3, core, dcore, blend)
    else:
        i0 = np.searchsorted(tt, c - far)
        i1 = np.searchsorted(tt, c - plain_hi)
        i2 = np.searchsorted(tt, c - plain_lo)
        i3 = np.searchsorted(tt, c - near)
        _lorentz_jacobian(tt, out, grad, c, dc, a, e, f, h, i0, i1, core, dcore, blend)
        _lorentz_plain(tt, out, grad, c, dc, a, e, f, i1, i2)
        _lorentz_jacobian(tt, out, grad, c, dc, a, e, f, h, i2, i3, core, dcore, blend)


@_cached_njit()
def _node_sums(t, s, sc, sf, pos, wts, dpos, dwts, n, inv):
    """:func:`_node_sum` with the sums the Jacobian needs: Σ w r, Σ (∂w r + w ∂r/∂centre), Σ w ∂r/∂FWHM·FWHM
    (r = 1/(1 + 4x²); the caller scales them), node by node over all points."""
    for i in range(t.size):
        s[i] = 0.0
        sc[i] = 0.0
        sf[i] = 0.0
    for j in range(n):
        pj, wj, dpj, dwj = pos[j], wts[j], dpos[j], dwts[j]
        for i in range(t.size):
            x = (t[i] - pj) * inv
            r = 1.0 / (1.0 + 4.0 * x * x)
            wl = wj * r
            s[i] += wl
            sc[i] += dwj * r + wl * 8.0 * x * inv * r * dpj
            sf[i] += wl * (8.0 * x * x * r - 1.0)


@_cached_njit()
def accumulate_jacobian(tt, pos, wts, dpos, dwts, n_nodes, cen, dcen, spread, dspread, areas, fwhm, eta, dpeak, out,
                        jac):
    """:func:`accumulate` plus ∂y/∂θ for parameters θ that act through the peak list.

    ``dpeak[k, :, p]`` are ∂(centre, area, FWHM, η)_k / ∂θ_p; ``dpos``/``dwts``/``dcen``/``dspread`` the
    derivatives of the FCJ nodes, weights, centroid and spread with respect to the peak centre. Only the
    Gaussian's cut at ±2.6 FWHM (a step of 1e-8 of the peak) is not differentiated. ``jac`` is
    (n_par, n_points).
    """
    grad = np.zeros((4, tt.size))
    sums = np.empty((3, tt.size))
    for k in range(cen.size):
        f = fwhm[k]
        a = areas[k]
        e = eta[k]
        c = cen[k]
        dk = dpeak[k]
        h = _tail_window(f)
        inv = 1.0 / f
        if n_nodes[k] <= 1:
            lo = np.searchsorted(tt, c - h * f)
            hi = np.searchsorted(tt, c + h * f)
            # the taper's windows, then the plain core: the same points as one pass over [lo, hi)
            i1 = np.searchsorted(tt, c - 0.75 * h * f)
            i2 = np.searchsorted(tt, c + 0.75 * h * f)
            _lorentz_jacobian(tt, out, grad, c, dcen[k], a, e, f, h, lo, i1, 0.0, 0.0, 0.0)
            _lorentz_plain(tt, out, grad, c, dcen[k], a, e, f, i1, i2)
            _lorentz_jacobian(tt, out, grad, c, dcen[k], a, e, f, h, i2, hi, 0.0, 0.0, 0.0)
            _gauss_jacobian(tt, out, grad, c, dcen[k], a, e, 1.0, 0.0, f)
            _flush(grad, jac, dk, lo, hi)  # the Lorentzian window holds the Gaussian's (h ≥ 8)
            continue
        n = n_nodes[k]
        for j in range(n):
            _gauss_jacobian(tt, out, grad, pos[k, j], dpos[k, j], a, e, wts[k, j], dwts[k, j], f)
        core, blend, lo, hi = _core_window(tt, c, spread[k], f)
        t, o = tt[lo:hi], out[lo:hi]
        g0, g1, g2, g3 = grad[0, lo:hi], grad[1, lo:hi], grad[2, lo:hi], grad[3, lo:hi]
        ss, ssc, ssf = sums[0, :t.size], sums[1, :t.size], sums[2, :t.size]
        _node_sums(t, ss, ssc, ssf, pos[k], wts[k], dpos[k], dwts[k], n, inv)
        for i in range(t.size):
            sgn = 1.0 if t[i] >= c else -1.0
            sb = (abs(t[i] - c) - core) / blend
            inner = _smoothstep_down(sb)
            slope = _smoothstep_slope(sb)
            s = ss[i] * (_L_NORM * inv)
            sc = ssc[i] * (_L_NORM * inv)
            sf = ssf[i] * (_L_NORM * inv * inv)
            val = inner * a * e * s
            o[i] += val
            g0[i] += a * e * (inner * sc + s * slope * (-sgn * dcen[k] - dspread[k]) / blend)
            g1[i] += inner * e * s
            g2[i] += a * e * (inner * sf + s * slope * (-(2.5 / 1.5 + sb) * inv))
            g3[i] += inner * a * s
        far = h * f
        _lorentz_tail(tt, out, grad, c, dcen[k], a, e, f, h, core, far, core, dspread[k], blend, -1)
        _lorentz_tail(tt, out, grad, c, dcen[k], a, e, f, h, core, far, core, dspread[k], blend, 1)
        first, last = pos[k, 0], pos[k, 0]
        for j in range(n):
            first = min(first, pos[k, j])
            last = max(last, pos[k, j])
        lo = np.searchsorted(tt, min(c - far, c - core - blend, first - _GAUSS_WINDOW_FWHM * f))
        hi = np.searchsorted(tt, max(c + far, c + core + blend, last + _GAUSS_WINDOW_FWHM * f))
        _flush(grad, jac, dk, lo, hi)


@_cached_njit()
def fcj_node_table(centers, node_counts, s_l, h_l, gl_x, gl_w, pos, wts, n_nodes, cen, spread):
    """FCJ nodes of every peak (the quadrature of :func:`xrdq.model.profile.fcj_nodes`, peak by peak).

    ``gl_x[n, :n]``/``gl_w[n, :n]`` are Gauss–Legendre nodes and weights on [0, 1]. Fills ``pos``/``wts``
    (n_peaks × width, zero-padded), ``n_nodes`` (1 for a peak evaluated once at its centroid), ``cen``
    (centroid) and ``spread`` (largest node distance from the centroid).
    """
    s = max(s_l, 1e-6)
    h = max(h_l, 1e-6)
    hi = s + h
    lo = abs(h - s)
    flat = lo > 1e-9 * hi  # S ≠ H: a flat piece [0, lo] with g = 2 min(S, H), then [lo, hi] with g = hi − h
    no_asym = s_l <= 0.0 and h_l <= 0.0
    for k in range(centers.size):
        tt = centers[k]
        if no_asym:
            pos[k, 0] = tt
            wts[k, 0] = 1.0
            n_nodes[k] = 1
            cen[k] = tt
            spread[k] = 0.0
            continue
        n = max(node_counts[k], 2)
        m = 2 * n if flat else n
        c0 = math.cos(math.radians(tt))
        total = 0.0
        for j in range(m):
            if flat and j < n:
                hs = lo * gl_x[n, j]
                gw = 2.0 * min(s, h) * lo * gl_w[n, j]
            else:
                jj = j - n if flat else j
                hs = lo + (hi - lo) * gl_x[n, jj]
                gw = (hi - hs) * (hi - lo) * gl_w[n, jj]
            c = min(max(c0 * math.sqrt(1.0 + hs * hs), -1.0), 1.0)
            sin2phi = max(math.sqrt(1.0 - c * c), 1e-6)
            w = gw * (c0 * c0) / max(c * c, 1e-12) / sin2phi
            pos[k, j] = math.degrees(math.acos(c))
            wts[k, j] = w
            total += w
        centroid = 0.0
        for j in range(m):
            wts[k, j] = wts[k, j] / total if total > 0.0 else 1.0 / m
            centroid += pos[k, j] * wts[k, j]
        cen[k] = centroid
        if node_counts[k] <= 1:  # evaluated once, at the centroid
            pos[k, 0] = centroid
            wts[k, 0] = 1.0
            for j in range(1, m):
                pos[k, j] = 0.0
                wts[k, j] = 0.0
            n_nodes[k] = 1
            spread[k] = 0.0
        else:
            n_nodes[k] = m
            far = 0.0
            for j in range(m):
                far = max(far, abs(pos[k, j] - centroid))
            spread[k] = far


@_cached_njit()
def compose_nodes(pos, wts, n_nodes, offsets, weights, counts, out_pos, out_wts, out_n, cen, spread):
    """Every node of each peak shifted by every one of its ``counts[k]`` aberration offsets (the convolution of
    the two node sets; :func:`xrdq.model.pattern._compose`): fills ``out_pos``/``out_wts`` (node i, offset j
    at i·counts + j), ``out_n``, the centroid ``cen`` and the ``spread`` (0 for one node, which then sits at
    the centroid)."""
    for k in range(pos.shape[0]):
        m = 0
        total = 0.0
        first = 0.0
        for i in range(n_nodes[k]):
            for j in range(counts[k]):
                p = pos[k, i] + offsets[k, j]
                w = wts[k, i] * weights[k, j]
                out_pos[k, m] = p
                out_wts[k, m] = w
                total += w
                first += w * p
                m += 1
        out_n[k] = m
        c = first / total if total > 0.0 else out_pos[k, 0]
        cen[k] = c
        far = 0.0
        if m > 1:
            for i in range(m):
                far = max(far, abs(out_pos[k, i] - c))
        else:
            out_pos[k, 0] = c
        spread[k] = far
