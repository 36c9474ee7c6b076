"""Starting values a user should not have to type: amorphous humps estimated from the data itself."""

from __future__ import annotations

import numpy as np
from .._filters import moving_mean, moving_median, moving_min
from .._numeric import median


def lower_envelope(two_theta, intensity, window_deg: float = 2.0):
    """The pattern with Bragg peaks removed: a rolling minimum over ``window_deg``, then smoothed."""
    tt = np.asarray(two_theta, dtype=float)
    y = np.asarray(intensity, dtype=float)
    step = float(median(np.diff(tt)))
    n = max(3, int(round(window_deg / step)) | 1)
    return moving_mean(moving_min(y, n), n)


def median_envelope(two_theta, intensity, window_deg: float = 3.0):
    """Running median: robust to misfit spikes of either sign left after subtracting Bragg peaks."""
    tt = np.asarray(two_theta, dtype=float)
    step = float(median(np.diff(tt)))
    n = max(3, int(round(window_deg / step)) | 1)
    return moving_mean(moving_median(intensity, n), n)


def estimate_humps(two_theta, intensity, *, max_humps: int = 3, min_excess: float = 0.15, window_deg: float = 2.0,
                   envelope=None, max_center: float = 60.0, min_fwhm: float = 5.0,
                   min_side_fwhm: float = 4.0):
    """(centre, FWHM) of broad amorphous humps rising above a smooth air-scatter/fluorescence baseline.

    The envelope is compared with a baseline ``a + b·2θ + c/2θ`` fitted to its lowest points; a hump
    is reported where the envelope exceeds that baseline by more than ``min_excess`` of it over at
    least ``min_fwhm`` degrees (5°: the narrowest halos of glasses and milled halides; profile misfit of strong
    Bragg peaks in a crystalline pattern leaves 4–5° residues — 6° missed real 5° halos, 4° found three
    halos in crystalline CPD-1A), ``min_side_fwhm`` on its steeper side (halos are roughly symmetric, misfit
    edges are not), with its centre below ``max_center`` (amorphous halos of oxides and halides
    sit at d ≈ 2–5 Å, i.e. 2θ ≈ 18–45° with Cu Kα; broad rises elsewhere are peak-tail misfits).
    Overlapping halos (glasses and amorphous mixtures often show two or three) are found one after
    another: each found hump is subtracted with its height and width, and the remainder searched again.
    Returns an empty list for crystalline patterns.
    """
    tt = np.asarray(two_theta, dtype=float)
    env = lower_envelope(tt, intensity, window_deg) if envelope is None else np.asarray(envelope, dtype=float)
    basis = np.column_stack([np.ones_like(tt), tt / tt.max(), tt.min() / tt])
    keep = np.ones(tt.size, dtype=bool)
    for _ in range(8):  # iteratively fit the baseline to the points below it
        coef, *_ = np.linalg.lstsq(basis[keep], env[keep], rcond=None)
        base = basis @ coef
        keep = env <= base + 1e-9 * np.abs(base)
        if keep.sum() < 10:
            break
    base = np.maximum(base, 1e-9)
    excess = (env - base) / base
    humps = []
    work = np.where(tt <= max_center, excess, 0.0)
    step = float(median(np.diff(tt)))
    for _ in range(3 * max_humps):
        if len(humps) == max_humps:
            break
        i = int(np.argmax(work))
        peak = work[i]
        if peak < min_excess:
            break
        half = peak / 2
        lo = i
        while lo > 0 and work[lo] > half:
            lo -= 1
        hi = i
        while hi < tt.size - 1 and work[hi] > half:
            hi += 1
        fwhm = (hi - lo) * step
        if fwhm < min_fwhm or lo == 0 or hi == tt.size - 1:  # too narrow, or a rise at the range edge
            work[lo:hi + 1] = 0.0
            continue
        # two blended halos widen the half-maximum span on the side of the other: the steeper side
        # is the one hump's own half width, and it too must span min_side_fwhm
        fwhm = 2.0 * min(i - lo, hi - i) * step
        center = float(tt[i])
        if fwhm < min_side_fwhm or any(abs(center - c) < 0.5 * max(w, fwhm) for c, w in humps):
            # one-sided (an edge, a step left by a misfit) or the remnant of a hump already found
            work[lo:hi + 1] = 0.0
            continue
        humps.append((center, float(min(fwhm, 30.0))))
        # subtracted with the refinement's own hump shape (pseudo-Voigt, η = 0.5): its tails are heavier than
        # a Gaussian's, so a halo's tails do not come back as remnant "humps" on its flanks
        x = (tt - center) / fwhm
        work = work - peak * 0.5 * (np.exp(-4.0 * np.log(2.0) * x * x) + 1.0 / (1.0 + 4.0 * x * x))
    return humps


def auto_humps(refinement_factory, max_humps: int = 3, min_excess: float = 0.15):
    """Humps in what is left after a quick scales-only fit of the crystalline phases.

    ``refinement_factory(recipe)`` builds a :class:`~xrdq.refine.fit.Refinement`; a linear-only fit
    with a low-order background removes the Bragg peaks, and the median envelope of the remainder
    shows any broad halo.
    """
    from .recipe import Recipe, Stage

    ref = refinement_factory(Recipe(stages=(Stage("scales", ()),), background_terms=3))
    values = ref._values()
    a = ref.design_matrix(values)
    coef = ref.solve_linear(a)
    n_phase = len(ref.models)
    remainder = ref.observed - a[:, :n_phase] @ coef[:n_phase]
    env = median_envelope(ref.two_theta, remainder)
    return estimate_humps(ref.two_theta, remainder, max_humps=max_humps, min_excess=min_excess, envelope=env)
