"""Compiled peak accumulation: the one loop in xrdq that numpy cannot express cheaply.

Summing a few hundred windowed peaks onto a grid in numpy means gathering (peak, point) index pairs,
evaluating on them and scattering back with ``bincount`` — five or six passes over ~200 000 pairs and as
many temporary arrays. The same arithmetic as a plain loop (numba, compiled once and cached on disk)
touches each pair once. The functions mirror :func:`xrdq.model.pattern.accumulate_peaks` exactly; the
windows and blends are documented there.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_LN2 = math.log(2.0)
_G_NORM = 2.0 * math.sqrt(_LN2 / math.pi)
_L_NORM = 2.0 / math.pi
_GAUSS_WINDOW_FWHM = 2.6
_TAIL_SPAN_DEG = 2.0
_WINDOW_FWHM = 16.0


@njit(cache=True, inline="always")
def _smoothstep_down(t):
    if t <= 0.0:
        return 1.0
    if t >= 1.0:
        return 0.0
    return 1.0 - t * t * (3.0 - 2.0 * t)


@njit(cache=True, inline="always")
def _tail_window(f):
    h = _TAIL_SPAN_DEG / f
    return min(max(h, 8.0), _WINDOW_FWHM)


@njit(cache=True)
def _gauss(tt, out, c, a, f):
    lo = np.searchsorted(tt, c - _GAUSS_WINDOW_FWHM * f)
    hi = np.searchsorted(tt, c + _GAUSS_WINDOW_FWHM * f)
    norm = _G_NORM * a / f
    k = -4.0 * _LN2
    inv = 1.0 / f
    for i in range(lo, hi):
        x = (tt[i] - c) * inv
        out[i] += norm * math.exp(k * x * x)


@njit(cache=True)
def accumulate(tt, pos, wts, n_nodes, cen, spread, areas, fwhm, eta, out):
    """Add every peak to ``out`` (len(tt)).

    Per peak k: ``pos[k, :n_nodes[k]]``/``wts[k, :]`` are its FCJ nodes, ``cen[k]`` their centroid and
    ``spread[k]`` their largest distance from it. A peak with one node is a plain pseudo-Voigt at ``cen``.
    """
    for k in range(cen.size):
        f = fwhm[k]
        a_l = areas[k] * eta[k]
        a_g = areas[k] - a_l
        c = cen[k]
        h = _tail_window(f)
        inv = 1.0 / f
        lnorm = _L_NORM * a_l * inv
        if n_nodes[k] <= 1:
            if a_l != 0.0:
                lo = np.searchsorted(tt, c - h * f)
                hi = np.searchsorted(tt, c + h * f)
                for i in range(lo, hi):
                    x = (tt[i] - c) * inv
                    out[i] += _smoothstep_down((abs(x / h) - 0.75) / 0.25) * lnorm / (1.0 + 4.0 * x * x)
            if a_g != 0.0:
                _gauss(tt, out, c, a_g, f)
            continue
        n = n_nodes[k]
        if a_g != 0.0:
            for j in range(n):
                _gauss(tt, out, pos[k, j], a_g * wts[k, j], f)
        if a_l == 0.0:
            continue
        core = spread[k] + 2.5 * f
        blend = 1.5 * f
        # every node inside the core (+ blend), weighted down across the blend
        lo = np.searchsorted(tt, c - (core + blend))
        hi = np.searchsorted(tt, c + (core + blend))
        for i in range(lo, hi):
            t = tt[i]
            inner = _smoothstep_down((abs(t - c) - core) / blend)
            s = 0.0
            for j in range(n):
                x = (t - pos[k, j]) * inv
                s += wts[k, j] / (1.0 + 4.0 * x * x)
            out[i] += inner * s * lnorm
        # one Lorentzian at the centroid carries the far tail, the complement of the blend
        far = h * f
        for side in range(2):  # the same half-open windows as the numpy reference
            if side == 0:
                lo = np.searchsorted(tt, c - far)
                hi = np.searchsorted(tt, c - core)
            else:
                lo = np.searchsorted(tt, c + core)
                hi = np.searchsorted(tt, c + far)
            for i in range(lo, hi):
                u = tt[i] - c
                x = u * inv
                outer = (1.0 - _smoothstep_down((abs(u) - core) / blend)) * _smoothstep_down((abs(x / h) - 0.75) / 0.25)
                out[i] += outer * lnorm / (1.0 + 4.0 * x * x)
