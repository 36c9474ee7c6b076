"""What a finished native fit says about itself: the parameter covariance, and the warnings a reader
needs (stages that did not converge, strong correlations, a poor GoF, parameters at their bounds,
crystallite sizes at the floor, phases not detected, low-angle losses found but not declared)."""

from __future__ import annotations

import numpy as np

from ..errors import XrdqRefineError


def covariance(jac, gof):
    """Covariance of all parameters from the weighted-residual Jacobian, columns scaled for conditioning
    and the result scaled by GoF² (the esds of an imperfect model are inflated by its misfit)."""
    col = np.linalg.norm(jac, axis=0)
    col[col == 0] = 1.0
    js = jac / col
    try:
        return np.linalg.pinv(js.T @ js, rcond=1e-12) / np.outer(col, col) * gof**2
    except np.linalg.LinAlgError as exc:
        raise XrdqRefineError(f"covariance matrix could not be formed: {exc}") from exc


def correlation_warnings(names, corr, limit: float = 0.95, group_limit: float = 0.99) -> list:
    """Notes on strongly correlated parameter pairs. Parameters that all move together (|C| > ``group_limit``,
    three or more, e.g. zero shift, displacement and every cell on a 10–80° scan, which all shift peaks
    almost alike) are one note naming the group — the data fix their combination, not each value — instead
    of a note per pair. How a halo is split between background terms and hump areas is free and harmless."""
    n = len(names)
    smooth = [name.startswith(("bkg", "hump")) for name in names]
    strong = [(i, j) for i in range(n) for j in range(i + 1, n)
              if abs(corr[i, j]) > limit and not (smooth[i] and smooth[j])]
    group = list(range(n))  # union-find over the pairs beyond group_limit

    def root(i):
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    for i, j in strong:
        if abs(corr[i, j]) > group_limit:
            group[root(i)] = root(j)
    members = {}
    for i in range(n):
        members.setdefault(root(i), []).append(i)
    big = {r: m for r, m in members.items() if len(m) >= 3}
    out = [f"|correlation| > {group_limit:g} among {', '.join(names[k] for k in m)} ({len(m)} parameters): the data "
           "fix their combination, not each value" for m in big.values()]
    out += [f"|correlation| {abs(corr[i, j]):.3f} > {limit:g} between {names[i]} and {names[j]}" for i, j in strong
            if not (root(i) == root(j) and root(i) in big)]
    return out


def at_bound(names, fit, tol: float = 1e-6) -> list:
    """The parameters among ``names`` stuck on a bound of their plausible range (within ``tol`` of its span):
    a fault of the fit, not an answer. Not one resting on a bound at zero (no sample broadening, no tanθ
    Lorentzian: none of an effect is physical), a size at the floor (warned about as such) or a hump's shape
    (a halo merging into the background enters no fraction)."""
    out = []
    for name in names:
        par, kind = fit.params[name], fit.specs[name]
        if (kind.non_negative or par.min == 0.0) and par.value <= par.min + max(1e-4, tol * (par.max - par.min)):
            continue
        if kind.key == "size_broadening" or kind.scope == "hump":
            continue
        span = par.max - par.min
        if par.value <= par.min + tol * span or par.value >= par.max - tol * span:
            out.append(name)
    return out


#: Within this share of its range from a bound, a refined parameter nearer to the bound than its esd is on it.
NEAR_BOUND = 0.1


def within_esd_of_bound(names, fit, esd_of) -> dict:
    """{name: esd} of the parameters among ``names`` near a bound of their plausible range (within NEAR_BOUND of it,
    with :func:`at_bound`'s exceptions) but not on it, and nearer to it than their esd: the data do not hold them off
    the edge (+993 ± 593 µm of a ±1000 µm displacement). ``esd_of(candidates)`` gives their esds ({name: esd}),
    asked only when there are any (the recipe works them out from a Jacobian)."""
    near = [n for n in at_bound(names, fit, NEAR_BOUND) if n not in set(at_bound(names, fit))]
    if not near:
        return {}
    esd = esd_of(near)
    out = {}
    for n in near:
        par, e = fit.params[n], esd.get(n, np.nan)
        if np.isfinite(e) and min(par.value - par.min, par.max - par.value) < e:
            out[n] = float(e)
    return out


def fit_warnings(fit, log, all_names, corr, gof, varied, coef, size_floor_nm: float, esd_all=None) -> list:
    """Warnings of a finished refinement ``fit`` (a :class:`~xrdq.refine.fit.Refinement`); ``size_floor_nm``
    is the smallest crystallite size it allows; ``esd_all`` the esds in the order of ``all_names``."""
    warnings = []
    # The solution is the last run's: an intermediate stage only brings the next one near its optimum, so
    # one that stopped at its evaluation limit is a note, not a failure, when a later run converged.
    for k, entry in enumerate(log):
        if entry["status"] <= 0 and k == len(log) - 1:
            warnings.append(f"stage '{entry['stage']}' did not converge in {entry['nfev']} evaluations")
        elif entry["status"] <= 0:
            warnings.append(f"intermediate stage '{entry['stage']}' stopped at {entry['nfev']} evaluations "
                            "(the later stages converged from there)")
    warnings += correlation_warnings(all_names, corr)
    if gof > 3:
        warnings.append(f"GoF = {gof:.2f} > 3: the model does not describe the data to within counting statistics")
    for name in varied:
        par = fit.params[name]
        kind = fit.specs[name]
        if kind.non_negative and par.value <= par.min + 1e-4:
            continue  # no sample broadening is a physical answer, not a stuck parameter
        if kind.key == "size_broadening" and par.value >= 0.98 * par.max:
            phase = fit.phases[fit._owner[name]].name
            warnings.append(f"{phase}: crystallite size ran to the {size_floor_nm:g} nm floor of a phase "
                            "declared crystalline: its peaks are absorbing broad scatter (amorphous halo or "
                            "background), the phase is misidentified, or its crystallites really are smaller "
                            f"than {size_floor_nm:g} nm (heavily milled), which Bragg peaks with a Lorentzian "
                            "size term do not describe; its fraction is unreliable")
            continue
        if name in at_bound([name], fit):
            warnings.append(f"parameter {name} = {par.value:.6g} is at its bound [{par.min:.6g}, {par.max:.6g}]")
        elif esd_all is not None and (near := within_esd_of_bound(
                [name], fit, lambda names: {n: esd_all[all_names.index(n)] for n in names})):
            warnings.append(f"parameter {name} = {par.value:.6g} ± {near[name]:.2g} is within its esd of its bound "
                            f"[{par.min:.6g}, {par.max:.6g}]: the data do not hold it off the edge of its plausible "
                            "range")
    for i, phase in enumerate(fit.phases):
        if coef[i] <= 0 and phase.name not in getattr(fit, "held_phases", {}):  # a held one is reported by the fit
            warnings.append(scale_warning(phase.name, coef[i], esd_all[i] if esd_all is not None else np.nan))
    warnings += _degenerate_humps(fit, all_names, coef, esd_all)
    return warnings


#: A phase's scale negative by more than this many esd is not noise about zero (the fractions' own rule, 2 u).
NEGATIVE_SCALE_ESDS = 2.0


def scale_warning(name: str, scale: float, esd: float) -> str:
    """What a phase's scale ≤ 0 at the end says. Within 2 esd of zero it is a declared phase that is not there:
    its scale is noise about zero, negative half the time (a fully amorphous sample's LiCl, −0.4 esd, had made the
    verdict `check`). Beyond, the negative peaks are cancelling misfit — another phase's, or the background's."""
    if scale == 0.0:
        return f"scale of {name} is zero: the phase is not detected"
    if np.isfinite(esd) and esd > 0 and -scale <= NEGATIVE_SCALE_ESDS * esd:
        return f"scale of {name} is negative within noise ({scale / esd:+.1f} esd): the phase is not detected"
    sig = f" ({scale / esd:+.1f} esd)" if np.isfinite(esd) and esd > 0 else ""
    return (f"scale of {name} is negative{sig}: the phase is not detected, and its negative peaks are taking up "
            "misfit of other phases or of the background")


def is_negative_area(area: float, esd: float) -> bool:
    """A hump area below zero by more than 2 esd: not amorphous scattering (the one rule, used here and by
    :func:`xrdq.refine.adaptive.without_negative_humps`)."""
    return area < 0 and -area > 2.0 * esd


#: A hump higher than the observed counts by more than this many of their esds somewhere is cancelled there by a
#: negative background polynomial.
HUMP_ABOVE_ESDS = 5.0


def _degenerate_humps(fit, all_names, coef, esd_all) -> list:
    """A hump with a negative area (beyond 2 esd) is not scattering: it and the background polynomial cancel
    (typically a hump run to its widest width beside a long polynomial). Nor is a hump that rises above the observed
    counts beyond their noise: every phase's peaks are non-negative, so the polynomial must be negative there to
    cancel it — the two trading a huge area between them (seen on a third of the noise-free independent patterns: a
    hump of 10⁴–10⁷ counts, often 40° wide, over a polynomial of −10⁴ to −10⁷). Both are said: the standard's
    fractions do not use the hump, but the amorphous curve is meaningless and the background model is degenerate.
    (Refitting without such a hump, kept where the F-test wants it, as for a negative one, left most of them — they
    are significant on noise-free data — and moved the independent set's amorphous MAE by +0.003 wt%: not done.)"""
    from ..model.background import humps

    out = []
    values = None
    for k in range(len(fit.recipe.humps)):
        j = all_names.index(f"hump{k}_area")
        area = float(coef[j])
        esd = float(esd_all[j]) if esd_all is not None else 0.0
        values = values or fit._values()
        where = f"amorphous hump {k} (centre {values[f'hump{k}_center']:.1f}°, FWHM {values[f'hump{k}_fwhm']:.1f}°)"
        if is_negative_area(area, esd):
            out.append(f"{where} has a negative area ({area:.4g} ± {esd:.2g}): not "
                       "amorphous scattering; it cancels against the background polynomial, so the amorphous "
                       "curve is not meaningful (the fractions from the standard do not use it)")
            continue
        curve = area * humps(fit.two_theta, [values[f"hump{k}_center"]], [values[f"hump{k}_fwhm"]])[:, 0]
        above = (curve - fit.observed) / fit.esd
        i = int(np.argmax(above))
        if above[i] > HUMP_ABOVE_ESDS:
            out.append(f"{where} rises above the observed counts ({curve[i]:.4g} against {fit.observed[i]:.4g} at "
                       f"{fit.two_theta[i]:.1f}°): not amorphous scattering alone; a negative background polynomial "
                       "cancels it, so the split between amorphous curve and background is not determined and the "
                       "amorphous curve is not meaningful (the fractions from the standard do not use it)")
    return out


def specimen_notes(instrument, extra, parameters) -> list:
    """Notes on the intensity losses the adaptive recipe added (``extra``) and the user did not declare in
    ``instrument`` — at low angle a film or overspill (a film accepted first and refined to nothing once the overspill
    was added is not one), at high angle a specimen too thin to stop the beam."""
    out = []
    mu_t, mu_t_esd = parameters.get("film_mu_t", (0.0, 0.0))
    if "film_mu_t" in extra and not instrument.cover_film_mu_t and not mu_t <= 2.0 * (mu_t_esd or 0.0):
        from ..model.film import film_mu_t

        kapton_um = mu_t / film_mu_t("kapton", 1.0, instrument.wavelength)
        out.append(f"cover film found by the data: µt = {mu_t:.4f} (like {kapton_um:.0f} µm of Kapton), "
                   "not declared: if the specimen was under a film, give it (--cover-film); if not, low angles "
                   "lost intensity for another reason (surface roughness of a porous specimen, beam overspill)")
    if "beam_fill" in extra and not instrument.sample_length_mm:
        fill = parameters["beam_fill"][0]
        length = instrument.radius_mm * np.radians(instrument.divergence_slit_deg) / fill if fill else 0.0
        angle = 2.0 * np.degrees(np.arcsin(min(fill, 1.0)))
        out.append(f"beam overspill found by the data: the {instrument.divergence_slit_deg:g}° slit's beam "
                   f"covers the specimen only above 2θ = {angle:.1f}°, as for a specimen {length:.1f} mm long; "
                   "give its length (--sample-length) to have it corrected without a test")
    inv, inv_esd = parameters.get("inv_mu_t", (0.0, 0.0))
    if "inv_mu_t" in extra and inv > 2.0 * (inv_esd or 0.0):
        from ..model.pattern import thickness_transmission

        mu_t = 1.0 / inv
        mu_t_esd = (inv_esd or 0.0) / inv ** 2
        top = float(thickness_transmission(80.0, inv))
        # with the transparency refined too, 1/µ is measured and the thickness itself follows: a user can hold it
        # against the holder's depth (pure corundum, CORUNDUM.PRN: µt 1.05 beside 1/µ 503 µm, a layer ≈ 0.53 mm)
        pen, pen_esd = parameters.get("penetration_um", (0.0, 0.0))
        depth = (f"; with the refined penetration 1/µ = {pen:.0f} µm that is a layer {mu_t * pen / 1000.0:.2g} mm "
                 "thick" if pen > 2.0 * (pen_esd or 0.0) else "")
        out.append(f"finite specimen thickness found by the data: µt = {mu_t:.3g} ± {mu_t_esd:.2g} (µ as packed, t "
                   f"the specimen's thickness){depth}, corrected by 1 − exp(−2µt/sinθ): a reflection at 2θ = 80° keeps "
                   f"{100 * top:.0f} % of an infinitely thick specimen's intensity. If the specimen is that thin (a "
                   "smear, a shallow holder), a deeper layer avoids it; if not, high angles lost intensity for another "
                   "reason (displacement parameters larger than the CIFs')")
    return out
