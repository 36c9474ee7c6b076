"""Calibrating a PONKCS phase (Scarlett & Madsen 2006) from a measured pattern.

The phase's curve is what the calibration pattern shows of it: for an amorphous component, broad
pseudo-Voigt humps fitted above a smooth background (the same kind of background the refinement uses
later, so the split between "halo" and "background" is made the same way both times). The curve is
stored at unit scale (S_p = 1 on the calibration pattern), and its pseudo-(ZMV) follows from

- a mixture with known phases k (no µ* needed):   (ZMV)_p = W_p / W_k · S_k (ZMV)_k / S_p
  (W_k, S_k summed over the known phases), W_p given or 1 − Σ W_k;
- the instrument constant G (:mod:`.external_standard`):   (ZMV)_p = W_p · G · k / (S_p µ*_cal)
  with k the counting-time/current factor of this pattern relative to G's and µ*_cal the specimen's
  mass attenuation (for a pure amorphous sample, that of its formula).

docs/method.md §9 derives both.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
from scipy.optimize import least_squares

from .._numeric import median
from .._version import __version__
from ..errors import XrdqQuantError
from ..io import pattern_arrays, read_scan
from ..model import background as bkg
from ..model.ponkcs import PonkcsPhase

MIN_FWHM, MAX_FWHM = 4.0, 30.0  # degrees 2θ: a halo (like the automatic hump search), not a Bragg misfit or the background
EDGE = 3.0  # degrees: hump centres stay this far inside the fitted range


def fit_humps(two_theta, intensity, esd, *, background_terms: int | None = None, max_humps: int = 4,
              gain: float = 0.005):
    """Background (Chebyshev + 1/2θ) and up to ``max_humps`` pseudo-Voigt humps by variable projection.

    Humps are added one at a time where the smoothed residual is largest (the best of a few candidate
    places), while each lowers χ² by more than ``gain`` (a fraction); areas must come out positive. The
    shapes are found on the pattern binned to ~0.1° (a halo is ≥ 1° wide), the areas and statistics on
    the full pattern. ``background_terms``: Chebyshev terms, by default those of the refinement that will
    use the curve (``default_recipe``), so the calibration's background spans no function the samples'
    background could not take up again.

    Returns ``dict(humps=((centre, FWHM, area), ...), background, curve, rwp, gof, background_terms,
    scale_rel_esd, area_rel_esd)``. ``scale_rel_esd`` is the relative esd of the curve's scale refitted
    as ONE column beside that background — what a refinement can know of it, since the part of the curve
    the background can imitate carries no information (``area_rel_esd``, that of the total hump area,
    mostly measures how much of a broad halo the background could take instead, which does not matter).
    """
    if background_terms is None:
        from ..refine.recipe import default_recipe

        background_terms = default_recipe().background_terms
    tt = np.asarray(two_theta, dtype=float)
    y = np.asarray(intensity, dtype=float)
    e = np.asarray(esd, dtype=float)
    k = max(int(round(0.1 / max(float(median(np.diff(tt))), 1e-6))), 1)
    n_b = tt.size // k
    if n_b >= 50 and k > 1:
        cut = n_b * k
        tb, yb = tt[:cut].reshape(n_b, k).mean(axis=1), y[:cut].reshape(n_b, k).mean(axis=1)
        eb = np.sqrt((e[:cut].reshape(n_b, k) ** 2).sum(axis=1)) / k
    else:
        tb, yb, eb = tt, y, e
    vp = _Projection(tb, yb, eb, background_terms, (float(tt[0]), float(tt[-1])))
    shape = vp.search(max_humps, gain)
    if not shape.size:
        raise XrdqQuantError("no amorphous halo could be fitted to the calibration pattern")
    full = _Projection(tt, y, e, background_terms, (float(tt[0]), float(tt[-1])))
    cols, coef = full.linear(shape)
    nb = full.basis.shape[1]
    areas = coef[nb:]
    resid = (y - cols @ coef) / e
    chi2 = float(resid @ resid)
    n, p = y.size, coef.size + shape.size
    gof = np.sqrt(chi2 / max(n - p, 1))
    a = cols / e[:, None]
    cov = np.linalg.pinv(a.T @ a) * gof**2
    ones = np.zeros(coef.size)
    ones[nb:] = 1.0
    area_rel = float(np.sqrt(max(ones @ cov @ ones, 0.0)) / areas.sum()) if areas.sum() > 0 else np.inf
    curve = cols[:, nb:] @ areas
    one = np.column_stack([curve, cols[:, :nb]]) / e[:, None]
    scale_rel = float(np.sqrt(max(np.linalg.pinv(one.T @ one)[0, 0], 0.0)) * gof)
    humps = tuple((float(c), float(w), float(ar)) for c, w, ar in zip(shape[0::2], shape[1::2], areas))
    return dict(humps=humps, background=cols[:, :nb] @ coef[:nb], curve=curve, background_terms=int(background_terms),
                rwp=float(np.sqrt(chi2 / np.sum((y / e) ** 2))), gof=float(gof), scale_rel_esd=scale_rel,
                area_rel_esd=area_rel)


class _Projection:
    """Weighted background basis orthonormalised once; per trial hump shape only the hump columns are
    projected and a tiny system solved (a full least-squares solve per evaluation is ~50× slower)."""

    def __init__(self, tt, y, esd, background_terms, span):
        self.tt, self.y, self.sw = tt, y, 1.0 / esd
        self.lo, self.hi = span
        self.basis = np.hstack([bkg.chebyshev(tt, background_terms, span), bkg.inverse_two_theta(tt)])
        self.q, self.r = np.linalg.qr(self.basis * self.sw[:, None])
        self.yw = y * self.sw
        self.y_perp = self.yw - self.q @ (self.q.T @ self.yw)

    def linear(self, shape):
        if not shape.size:
            return self.basis, np.linalg.solve(self.r, self.q.T @ self.yw)
        h = bkg.humps(self.tt, shape[0::2], shape[1::2])
        hw = h * self.sw[:, None]
        hp = hw - self.q @ (self.q.T @ hw)
        areas = np.linalg.lstsq(hp.T @ hp, hp.T @ self.y_perp, rcond=None)[0]
        b = np.linalg.solve(self.r, self.q.T @ (self.yw - hw @ areas))
        return np.hstack([self.basis, h]), np.r_[b, areas]

    def residual(self, shape):
        cols, coef = self.linear(shape)
        return (self.y - cols @ coef) * self.sw

    def fit(self, trial):
        lower = np.tile([self.lo + EDGE, MIN_FWHM], trial.size // 2)
        upper = np.tile([self.hi - EDGE, MAX_FWHM], trial.size // 2)
        sol = least_squares(self.residual, np.clip(trial, lower + 1e-9, upper - 1e-9), bounds=(lower, upper),
                            x_scale="jac", ftol=1e-7, xtol=1e-7, max_nfev=60 * trial.size)
        # hump areas must be positive: two overlapping humps of opposite sign fit noise, not a halo
        negative = self.linear(sol.x)[1][self.basis.shape[1]:] < 0
        if negative.any() and (~negative).any():
            return self.fit(sol.x.reshape(-1, 2)[~negative].ravel())
        return sol if not negative.any() else None

    def search(self, max_humps, gain):
        tt = self.tt
        shape = np.zeros(0)
        res = self.residual(shape)
        chi2 = float(res @ res)
        inner = (tt > self.lo + EDGE) & (tt < self.hi - EDGE)  # a rise at the very edge is air scatter
        k = max(int(round(2.0 / max(float(median(np.diff(tt))), 1e-6))), 1)
        for _ in range(max_humps):
            smooth = np.convolve(self.residual(shape) / self.sw, np.ones(k) / k, mode="same")  # over ~2°
            best = None
            for centre in _candidates(tt[inner], smooth[inner]):  # the best of a few places to add a hump
                sol = self.fit(np.concatenate([shape, [centre, 8.0]]))
                if sol is not None and (best is None or sol.cost < best.cost):
                    best = sol
            if best is None:
                break
            new_chi2 = float(best.fun @ best.fun)
            if shape.size and (chi2 - new_chi2) < gain * chi2:
                break
            shape, chi2 = best.x, new_chi2
        return shape


def _candidates(tt, smooth, n: int = 3, separation: float = 5.0):
    """Positions of the ``n`` largest local maxima of ``smooth`` at least ``separation`` degrees apart."""
    out = []
    for i in np.argsort(smooth)[::-1]:
        if all(abs(tt[i] - c) >= separation for c in out):
            out.append(float(tt[i]))
            if len(out) == n:
                break
    return out


def calibrate_ponkcs(pattern_or_path, name: str, formula: str, *, instrument="miniflex600", calibration=None,
                     known=None, phases=(), sample_composition=None, kind: str = "amorphous", two_theta_range=None,
                     background_terms: int | None = None, max_humps: int = 4, **quantify_kwargs):
    """(PonkcsPhase, details): a PONKCS phase ``name`` of composition ``formula`` from one pattern.

    Either ``calibration`` (a ScaleCalibration or its TOML path: G) or ``known`` ({crystalline phase: W,
    optionally name: W_p}) with ``phases`` (the crystalline phases in the pattern) sets its pseudo-(ZMV).
    ``sample_composition``: bulk composition of the specimen for µ* (default: ``formula``, a pure sample).
    ``background_terms``: of the background beside the curve (default: the refinement's, see :func:`fit_humps`).
    """
    from ..model.instrument import load_instrument, measured_instrument
    from .composition import parse_formula
    from .external_standard import ScaleCalibration, check_known_fraction

    parse_formula(formula)
    if (calibration is None) == (not known):
        raise XrdqQuantError("ponkcs: give either the instrument constant (external standard, G) or the known "
                             "weight fractions of the crystalline phases in the pattern (--known NAME=W), not both")
    known = dict(known or {})
    for k, w in known.items():
        check_known_fraction(k, w)
    crystalline_known = {k: w for k, w in known.items() if k != name}
    if known and not crystalline_known:
        raise XrdqQuantError(f"ponkcs: --known must name at least one crystalline phase besides {name}")
    inst = load_instrument(instrument)
    pattern = read_scan(pattern_or_path) if not hasattr(pattern_or_path, "attrs") else pattern_or_path
    inst = measured_instrument(pattern, inst)[0]  # the slit G was measured with is checked against the file's
    w_p = known.get(name, 1.0 - sum(crystalline_known.values()))
    check_known_fraction(name, w_p)
    if isinstance(calibration, (str, bytes)) or hasattr(calibration, "__fspath__"):
        calibration = ScaleCalibration.read(calibration)
    if calibration is not None:
        calibration.check_compatible(inst, pattern)

    tt = pattern_arrays(pattern)[0]
    lo, hi = two_theta_range or (float(tt[0]), float(tt[-1]))
    fit, ref, details = _fit_curve(pattern, inst, (lo, hi), list(phases) if (phases or crystalline_known) else None,
                                   crystalline_known, background_terms, max_humps, quantify_kwargs)
    transfer = {}
    if crystalline_known:
        zmv, zmv_rel, basis = _zmv_from_known(ref, crystalline_known, w_p, fit["scale_rel_esd"])
        ratio = _table_ratio_from_known(ref, crystalline_known)
    else:
        zmv, zmv_rel, basis = _zmv_from_g(calibration, pattern, inst, sample_composition or formula, w_p,
                                          fit["scale_rel_esd"])
        ratio = calibration.anomalous_table_ratio
        if not calibration.transfer_measured:
            # G from one specimen, used on this one: how far it holds is assumed (a model term in u wherever the
            # phase is used, as for G itself), not in the ZMV's esd
            from .external_standard import G_TRANSFER_REL_SD

            transfer["g_transfer_rel_sd"] = G_TRANSFER_REL_SD
    if ratio is not None:
        # what the ZMV rests on (G or the known phases' scales) under the other f′, f″ table: the ZMV moves by its
        # inverse in the scattering-factor member of u wherever the phase is used
        transfer["anomalous_table_ratio"] = float(ratio)
    a = pattern.attrs
    phase = PonkcsPhase(
        name=name, formula=formula, kind=kind, zmv=float(zmv), zmv_esd=float(zmv * zmv_rel), instrument=inst.name,
        wavelength=float(inst.wavelength), humps=fit["humps"], two_theta_range=(float(lo), float(hi)),
        calibration={
            "basis": basis, "file": str(a.get("source_path", "")), "sha256": str(a.get("sha256", "")),
            "rwp": fit["rwp"], "gof": fit["gof"], "background_terms": fit["background_terms"],
            "scale_rel_esd": fit["scale_rel_esd"], **transfer,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "xrdq_version": __version__,
        },
    )
    details.update(fit=fit, basis=basis, refinement=ref)
    return phase, details


def _fit_curve(pattern, inst, span, phases, crystalline_known, background_terms, max_humps, quantify_kwargs):
    """(hump fit, refinement or None, details): the humps on the pattern, or on what is left of it after
    the crystalline phases (``phases``, refined without the halo) when there are any."""
    lo, hi = span
    details = {}
    if phases is None:
        tt, y, esd = pattern_arrays(pattern)
        sel = (tt >= lo) & (tt <= hi)
        fit = fit_humps(tt[sel], y[sel], esd[sel], background_terms=background_terms, max_humps=max_humps)
        return fit, None, details
    from .api import quantify

    res = quantify(pattern, phases=phases, standard=None, instrument=inst, two_theta_range=(lo, hi), **quantify_kwargs)
    ref = res.refinement
    missing = sorted(set(crystalline_known) - set(ref.phase_names))
    if missing:
        raise XrdqQuantError(f"ponkcs: known phase(s) {missing} are not among the refined phases {ref.phase_names}")
    net = ref.observed - sum(ref.components[n] for n in ref.phase_names)
    fit = fit_humps(ref.two_theta, net, ref.esd, background_terms=background_terms, max_humps=max_humps)
    details["crystalline"] = {n: ref.scales[n] for n in ref.phase_names}
    return fit, ref, details


def _zmv_from_known(ref, crystalline_known, w_p, curve_rel):
    """(ZMV)_p = W_p / Σ W_k · Σ S_k (ZMV)_k with S_p = 1 on the calibration pattern (Hill–Howard)."""
    sk_zmv = sum(_scaled_masses(ref, crystalline_known).values())
    rel_s = np.sqrt(sum((ref.scales[n][1] / ref.scales[n][0]) ** 2 for n in crystalline_known))
    zmv = w_p / sum(crystalline_known.values()) * sk_zmv
    return zmv, float(np.hypot(rel_s, curve_rel)), f"known fractions {crystalline_known}, W_p = {w_p:g}"


def _table_ratio_from_known(ref, crystalline_known):
    """Σ S_k (ZMV)_k over Σ S_k (ZMV)_k / ρ_k of the known phases: how their sum, on which (ZMV)_p rests, moves under
    the other f′, f″ table (ρ_k: :func:`~xrdq.quant.uncertainty.table_intensity_ratios`); None if it cannot say."""
    from .uncertainty import table_intensity_ratios

    rho = table_intensity_ratios(getattr(ref, "fit", None))
    if any(n not in rho for n in crystalline_known):
        return None
    m = _scaled_masses(ref, crystalline_known)
    return sum(m.values()) / sum(v / rho[n] for n, v in m.items())


def _scaled_masses(ref, names) -> dict:
    """S_k (ZMV)_k of the named phases of a refinement: the sums a known-fraction calibration rests on."""
    return {n: ref.scales[n][0] * ref.phase_info[n]["cell_mass"] * ref.phase_info[n]["volume"] for n in names}


def _zmv_from_g(calibration, pattern, inst, spec, w_p, curve_rel):
    """(ZMV)_p = W_p · G · n / µ*_cal with S_p = 1 on the calibration pattern (§8)."""
    from .composition import mass_attenuation

    mu = mass_attenuation(spec, inst.wavelength)
    factor, note = calibration.count_factor(pattern)
    zmv = w_p * calibration.G * factor / mu
    basis = f"external standard G = {calibration.G:.6g} ({calibration.source}), µ*/ρ = {mu:.3f} cm²/g of {spec}, " \
            f"W_p = {w_p:g}; counts {note}"
    # the amorphous reference is one more specimen: with the spread of G between specimens, where it was measured
    return zmv, float(np.hypot(calibration.G_esd_for_a_specimen / calibration.G, curve_rel)), basis
