"""Model uncertainty: how much a result moves under other defensible recipes (docs/method.md §6).

The statistical esd of a Rietveld fraction describes counting noise only; on real patterns the error is
dominated by the model (background shape, where the fit starts, the profile function, strain, texture).
Here the converged refinement is re-solved under a small ensemble of recipe variants and the
deviations of each quantity from the main result, added in quadrature, are its model uncertainty
``u_model`` (with a microabsorption term for unknown particle sizes); the reported
standard uncertainty (k = 1) is ``u = √(esd² + u_model²)``, the esd already holding the weighing and
purity terms.

Variants that change only LINEAR parts (background order, amorphous humps dropped, 2θ start) are one
weighted linear solve at the converged non-linear parameters: nearly free. Variants that change
non-linear terms (Lorentzian instrument terms, strain, overall B) warm-start from the converged
parameters and take a few Levenberg–Marquardt steps.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from .._lru import LRUStore
from ..errors import XrdqError

#: ``model_uncertainty=`` levels: "full" (every variant), "fast" (linear re-solves + one step of the B
#: variant, the one that moves real results most), "off".
LEVELS = ("full", "fast", "off")


@dataclass
class Variant:
    name: str
    scales: np.ndarray | None  # phase scales in the refinement's phase order; None if the variant failed
    kind: str  # "linear" or "nonlinear"
    note: str = ""


def _linear_variant(fit, values, name, *, background_terms=None, start=None, drop_humps=False) -> Variant:
    """Re-solve the linear parameters (scales, background, hump areas) with another background model or
    fewer points, the non-linear parameters held at their converged values."""
    from ..model import background as bkg

    n_phase = len(fit.models)
    v = copy.copy(fit)  # shares the models and profile caches; only the weights and basis change
    tt = fit.two_theta
    n_bkg = background_terms or fit.background_terms
    # the fit's own order (the adaptive one): its basis and, unless reweighted, its projection serve as they are
    own_basis = n_bkg == fit.background_terms
    if not own_basis:
        v.bkg_basis = bkg.orthogonal_basis(tt, n_bkg, fit.range)
    if start is not None:
        v.sqrt_w = np.where(tt >= start, fit.sqrt_w, 0.0)  # zero weight = points left out
    if not own_basis or start is not None:
        v._setup_projection()
    p = fit.peak_columns(values)
    if drop_humps:
        p = p[:, :n_phase]
    c, _, _ = v.solve_linear_parts(p)
    return Variant(name, np.asarray(c[:n_phase], dtype=float), "linear")


def _without_phases(fit, values, absent: list) -> Variant:
    """The linear parameters re-solved with the phases ``absent`` left out of the model (their scales 0), the
    non-linear parameters held: whether to keep a phase that shows no peaks is a modelling choice, and its fitted
    scale — noise, or misfit it soaks up, negative as often as not — moves every fraction that rests on it."""
    n_phase = len(fit.models)
    gone = {i for i, ph in enumerate(fit.phases) if ph.name in absent}
    p = fit.peak_columns(values)  # the phases' columns, then the humps'
    keep = [i for i in range(n_phase) if i not in gone] + list(range(n_phase, p.shape[1]))
    c, _, _ = fit.solve_linear_parts(p[:, keep])
    scales = np.zeros(n_phase)
    kept = [i for i in keep if i < n_phase]
    scales[kept] = c[:len(kept)]
    return Variant(f"not-detected phases left out ({', '.join(absent)})", scales, "linear")


def _nonlinear_variant(fit, name, groups, max_nfev: int = 5, held=None) -> Variant:
    """Warm-start from the converged parameters and refine the final stage plus ``groups`` a few steps; ``held``:
    parameters set to these values and kept there (a term the variant replaces)."""
    from ..refine.recipe import Stage

    v = copy.copy(fit)
    v.params = copy.deepcopy(fit.params)
    for n, value in (held or {}).items():
        v.params[n].value = value
    v._cache = [OrderedDict() for _ in fit.models]
    v._jac_cache = [None] * len(fit.models)
    last = fit.recipe.stages[-1].refine if fit.recipe.stages else ()
    if set(groups) <= set(last):
        return Variant(name, None, "nonlinear", "already in the recipe")
    # only the new terms (and what they trade off against): the rest stays converged, which keeps
    # a variant a small fraction of the fit
    refine = tuple(groups)
    try:
        v.run_stage(Stage(name, refine, max_nfev=max_nfev), final=True)
        at_bound = [n for n, p in v.params.items() if p.vary and _at_bound(p)]
        if at_bound:  # a variant that runs a parameter into its limit is not a defensible model
            return Variant(name, None, "nonlinear", f"{', '.join(at_bound)} ran to a bound")
        values = v._values()
        c, _, _ = v.solve_linear_parts(v.peak_columns(values))
    except (XrdqError, np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
        return Variant(name, None, "nonlinear", f"failed: {exc}")
    finally:
        for model in fit.models:  # run_stage re-decides the peak sampling: leave it as the main fit had it
            model.reset_sampling()
    return Variant(name, np.asarray(c[:len(fit.models)], dtype=float), "nonlinear")


#: A phase's calculated intensity above this share of its own maximum marks the 2θ windows its reflections (or
#: groups of overlapping ones) occupy, for :func:`reflection_scatter`.
WINDOW_LEVEL = 0.02
#: Fewer windows give no scatter term: with two, the Birge ratio has one degree of freedom.
MIN_WINDOWS = 3


def reflection_scatter(fit) -> dict:
    """Phase → (relative scale uncertainty beyond its esd, Birge ratio, windows, p) from its reflections' disagreement
    (p: the chance of a Birge ratio this large from counting noise alone, an F-test of B²/GoF²).

    Each 2θ window where the phase's calculated intensity c exceeds WINDOW_LEVEL of its maximum gives its own
    least-squares correction to the phase's scale, r_w = Σ w·c·(y − ŷ) / W_w with W_w = Σ w·c², everything else
    held. Were the phase's relative intensities right, the r_w would scatter as counting noise raised by the fit's
    general misfit: B² = Σ W_w (r_w − r̄)² / (n − 1) ≈ GoF². Texture March–Dollase does not describe, particle
    statistics (a coarse standard), extinction or wrong displacement parameters make the windows disagree; the
    scale is then known only to the standard error of their mean, and the part its esd (∝ GoF) does not hold is
    √((B² − GoF²)/Σ W) (the Birge ratio of an inconsistent weighted mean; Birge 1932). Phases with fewer than
    MIN_WINDOWS windows, and PONKCS curves, get none."""
    return _scatter(fit)[1]


def _scatter(fit) -> tuple[np.ndarray, dict]:
    """(the phase scales of the converged fit, :func:`reflection_scatter`'s dict): one linear solve serves both.
    Kept on the fit for its current parameters, texture axes, weights and background: the verdict's standard check
    asks for the same."""
    values = fit._values()
    key = (tuple(values.items()), tuple((n, p.vary) for n, p in fit.params.items()),
           tuple((getattr(m, "po_hkl", None), getattr(m, "size_hkl", None)) for m in getattr(fit, "models", ())),
           getattr(fit, "background_terms", None))
    basis = getattr(fit, "bkg_basis", None)
    memo = getattr(fit, "_scatter_memo", None)
    if memo is not None and memo[0] == key and memo[1] is fit.sqrt_w and memo[2] is basis:
        return memo[3]
    out = _scatter_of(fit, values)
    fit._scatter_memo = (key, fit.sqrt_w, basis, out)
    return out


def _scatter_of(fit, values) -> tuple[np.ndarray, dict]:
    from ..refine.adaptive import f_survival

    a = fit.design_matrix(values)
    coef = fit.solve_linear(a)
    resid = fit.observed - a @ coef
    w = fit.sqrt_w ** 2
    dof = max(resid.size - a.shape[1] - sum(p.vary for p in fit.params.values()), 1)
    gof2 = float(np.sum(w * resid**2)) / dof
    strong = [lam for lam, weight in fit.instrument.wavelengths
              if weight >= 0.2 * max(x for _, x in fit.instrument.wavelengths)]
    doublet = (max(strong) - min(strong)) / min(strong)  # Δλ/λ of the lines every reflection is drawn with
    out = {}
    for j, phase in enumerate(fit.phases):
        if getattr(phase, "profile_only", False):
            continue
        c = a[:, j] * coef[j]
        if not np.any(c > 0):
            continue
        r, weight = [], []
        for lo, hi in _line_windows(c, fit.two_theta, doublet):
            ww = np.sum(w[lo:hi] * c[lo:hi] ** 2)
            if ww > 0:
                r.append(np.sum(w[lo:hi] * c[lo:hi] * resid[lo:hi]) / ww)
                weight.append(ww)
        if len(r) < MIN_WINDOWS:
            continue
        r, weight = np.array(r), np.array(weight)
        b2 = float(np.sum(weight * (r - np.sum(weight * r) / weight.sum()) ** 2)) / (len(r) - 1)
        # whether they disagree beyond chance: B²/GoF² against F(n − 1, dof), the fit's residual variance the yardstick
        p = f_survival(len(r) - 1, dof, b2 / gof2) if gof2 > 0 else 1.0
        out[phase.name] = (_excess_of_mean(weight, b2, gof2), float(np.sqrt(b2)), len(r), p)
    return np.asarray(coef[:len(fit.phases)], dtype=float), out


def _excess_of_mean(weight, b2: float, gof2: float) -> float:
    """The relative uncertainty of a phase's scale beyond its esd, from its windows' corrections scattering by B² against
    the GoF² counting noise allows (``weight``: each window's W_w). What makes windows disagree — a structure model's
    wrong coordinates or site occupancies, texture, extinction — errs each reflection's intensity by a share of itself,
    not in proportion to its counting noise: a random effect τ² in every r_w beside its counting variance GoF²/W_w
    (DerSimonian & Laird 1986). The scale is the counting-weighted mean of the r_w, so its variance beyond the esd is
    τ² ΣW²/(ΣW)²: τ over the square root of the windows' effective number, which a few strong reflections dominate.
    With equal weights this is Birge's √((B² − GoF²)/ΣW); with unequal ones Birge's counts every window as one."""
    s1, s2 = float(weight.sum()), float(np.sum(weight**2))
    # τ² from Q = Σ W (r − r̄)² / GoF² = (n − 1) B²/GoF², in the counting weights W/GoF²
    tau2 = max(b2 - gof2, 0.0) * (weight.size - 1) / (s1 - s2 / s1)
    return float(np.sqrt(tau2 * s2) / s1)


def _line_windows(c, two_theta, doublet: float) -> list:
    """(start, stop) index ranges where ``c`` exceeds WINDOW_LEVEL of its maximum, one reflection's Kα1 and Kα2 in one
    window: ranges closer than the doublet's separation at that angle, 2·tanθ·Δλ/λ, are merged (at high angle the
    two lines of one reflection part, and as two windows they would agree by construction)."""
    on = c > WINDOW_LEVEL * c.max()
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(on.astype(np.int8))) + 1, [c.size]])
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if not on[lo]:
            continue
        if out:
            end = two_theta[out[-1][1] - 1]
            if two_theta[lo] - end <= np.degrees(2.0 * np.tan(np.radians(end) / 2.0) * doublet):
                out[-1] = (out[-1][0], hi)
                continue
        out.append((lo, hi))
    return out


def _scatter_variants(fit) -> list[Variant]:
    """One variant per phase whose reflections disagree beyond its esd: its scale moved by that excess."""
    base, excess = _scatter(fit)
    out = []
    for j, phase in enumerate(fit.phases):
        e, b, n, _ = excess.get(phase.name, (0.0, 0.0, 0, 1.0))
        if e > 0:
            s = base.copy()
            s[j] *= 1.0 + e
            out.append(Variant(f"reflection scatter of {phase.name} (Birge ratio {b:.2f} over {n} windows)", s, "linear"))
    return out


def _at_bound(par) -> bool:
    span = par.max - par.min
    low = par.value <= par.min + 1e-3 * span
    if par.name.endswith("_broadening"):
        low = False  # no sample broadening is a physical answer
    return low or par.value >= par.max - 1e-3 * span


def recipe_variants(fit, level: str = "full") -> list[Variant]:
    """The ensemble of defensible recipe variants of a converged :class:`~xrdq.refine.fit.Refinement`."""
    if level not in LEVELS:
        raise XrdqError(f"model_uncertainty must be one of {LEVELS}, got {level!r}")
    if level == "off" or fit is None:
        return []
    values = fit._values()
    n_bkg = fit.background_terms  # as the adaptive recipe left it
    lo, hi = fit.range
    # a PONKCS curve holds only beside a background at least as flexible as its calibration's (docs/method.md §9):
    # a stiffer one is no defensible model for it, and pushed its estimate by 4 wt% on the synthetic checks
    floor = max([3] + [int((getattr(p, "calibration", None) or {}).get("background_terms") or 0)
                       for p in fit.phases if getattr(p, "profile_only", False)])
    fewer = max(n_bkg - 4, floor)
    out = [
        _linear_variant(fit, values, f"background {fewer} terms", background_terms=fewer) if fewer < n_bkg else
        Variant(f"background {n_bkg - 4} terms", None, "linear", f"below the {floor} terms a PONKCS phase was calibrated beside"),
        _linear_variant(fit, values, f"background {n_bkg + 4} terms", background_terms=n_bkg + 4),
        _linear_variant(fit, values, f"2θ from {lo + max(3.0, 0.05 * (hi - lo)):.1f}°",
                        start=lo + max(3.0, 0.05 * (hi - lo))),
    ]
    if fit.recipe.humps:
        out.append(_linear_variant(fit, values, "no amorphous hump (background only)", drop_humps=True))
    absent = fit.not_detected()
    if absent and len(absent) < len(fit.phases):
        out.append(_without_phases(fit, values, absent))
    # An overall B per phase trades intensity against angle like nothing else: on real CPD data it moves the
    # fractions most, and one Gauss–Newton step from the converged fit already gives its shift (measured:
    # the largest shift within 10 % of the converged one on CPD-1A/C/D, at a twentieth of the fit time).
    # A finite specimen thickness the adaptive recipe accepted takes up a loss of high-angle intensity common to
    # every phase, which B per phase then no longer sees; B per phase is the other reading of that loss, so the B
    # variant replaces the thickness (CPD-1D + 10 % silica over 15–80°, zincite the standard: the B shift fell from
    # 1.06 to 0.06 wt% with the thickness in, and u from 1.50 to 0.93 while the error grew to −2.2 wt%)
    b_variant = "overall displacement parameter B per phase refined"
    held = None
    if values.get("inv_mu_t"):
        b_variant, held = b_variant + " in place of the finite specimen thickness", {"inv_mu_t": 0.0}
    if level == "fast":
        out.append(_nonlinear_variant(fit, b_variant, ("biso",), max_nfev=2, held=held))
    else:
        out += [
            _nonlinear_variant(fit, b_variant, ("biso",), held=held),
            _nonlinear_variant(fit, "microstrain refined", ("strain",)),
            _nonlinear_variant(fit, "instrument profile U, V, W, X, Y refined", ("profile",)),
        ]
    return out + _scatter_variants(fit)




#: Largest particle diameter (µm) assumed when none is given: quantitative specimens are ground to 1–5 µm.
#: With the size anywhere in [0, D_max], Brindley's correction (≈ linear in D for small ΔµR) is left out
#: with an RMS effect equal to the correction at D_max/√3: that is the microabsorption component.
ASSUMED_MAX_PARTICLE_UM = 5.0
ASSUMED_PARTICLE_UM = ASSUMED_MAX_PARTICLE_UM / np.sqrt(3.0)


def quantities(scales, names, phase_info, brindley=None, standard=None, purity: float = 1.0, external=None,
               crystalline=None, estimates=None) -> dict:
    """Every reported fraction from phase scales: ``refined:<phase>``, and ``sample:<phase>`` and ``amorphous`` by
    the route the result took — the internal ``standard`` (over the ``crystalline`` phases, default all), or
    without one the ``external`` standard (an :class:`~xrdq.quant.estimates.ExternalRoute`), or without either
    PONKCS's: the same equations as the main result, without esds. With ``estimates``
    (:class:`~xrdq.quant.estimates.Estimates`) also every route's amorphous estimate (``estimate:<route>``)."""
    from ..errors import XrdqQuantError
    from .estimates import by_construction, internal_result
    from .weight_fractions import brindley_correction, hill_howard, mass_factors

    names = list(names)
    s = np.asarray(scales, dtype=float)
    zmv = mass_factors(phase_info, names)
    tau = None
    if brindley:
        w, _, tau = brindley_correction(s, phase_info, names, dict(brindley))
    else:
        w, _ = hill_howard(s, zmv)
    q = {f"refined:{n}": float(w[i]) for i, n in enumerate(names)}
    if not np.all(np.isfinite(w)):
        return q
    if estimates is not None and estimates.routes:
        q.update(estimates.values(names, s, w, zmv, tau))
    if standard is not None:
        try:
            res = internal_result(names, w, crystalline if crystalline is not None else names, *standard, purity)
        except XrdqQuantError:
            return q  # the standard vanished in this variant: it says nothing about the others
        q.update({f"sample:{n}": v for n, (v, _) in res.sample_fractions.items()})
        q["amorphous"] = res.amorphous_fraction
    elif external is not None:
        q.update(external.quantities(names, s, zmv, tau))
    if "estimate:ponkcs" in q and ((standard is None and external is None) or by_construction(
            crystalline if crystalline is not None else names, standard[0] if standard is not None else None)):
        # neither standard, or 1 − Σ over no sample phase (1 by construction): PONKCS's, as the result reports it
        q["amorphous"] = q["estimate:ponkcs"]
    return q


def _deciding_refinement(refinement):
    """The native refinement that decided another engine's terms (``decided_by``, :class:`~xrdq.engines.gsas2.engine.
    Gsas2Engine`), when the refinement itself is not xrdq's and that one covers the same phases; else None."""
    native = getattr(refinement, "decided_by", None)
    if getattr(refinement, "fit", None) is not None or native is None or getattr(native, "fit", None) is None:
        return None
    names = list(refinement.phase_names)
    if sorted(native.phase_names) != sorted(names) or any(n not in native.scales or n not in native.mass_factors
                                                           for n in names):
        return None
    return native


def _borrowed_members(native, variants, main, names, info, brindley, standard, purity, route) -> list:
    """Members of the ensemble for a refinement xrdq cannot re-solve (GSAS-II's), from the native refinement of
    the same terms that decided them: the native result itself — the same model in other code (profile
    quadrature, f′ tables, minimiser), whose difference no esd holds — and each native recipe variant's shift,
    applied to the main result. Native scales are brought to this result's convention (W ∝ s × ZMV of its phase
    information)."""
    from .weight_fractions import mass_factors

    zmv = mass_factors(info, names)
    conv = np.array([native.mass_factors[n] for n in names], dtype=float) / zmv
    order = [list(native.phase_names).index(n) for n in names]
    nat = quantities(np.array([native.scales[n][0] for n in names], dtype=float) * conv, names, info, brindley,
                     standard, purity, **route)
    out = [("engine: the native engine's refinement of the same terms", "nonlinear", nat)]
    for v in variants:
        if v.scales is None:
            continue
        q = quantities(np.asarray(v.scales, dtype=float)[order] * conv, names, info, brindley, standard, purity, **route)
        out.append((f"{v.name} (its shift in the native refinement)", v.kind,
                    {k: main[k] + q[k] - nat[k] for k in main if k in q and k in nat}))
    return out


#: Per-phase intensity ratios of the second f′/f″ table, by the phase model's content (phase, instrument, range): the
#: same for every file of a batch on one grid. NaN: the table cannot say.
_TABLE_RATIOS = LRUStore(64)


def table_intensity_ratios(fit) -> dict:
    """Phase name → its intensity in the refined range with Cromer–Liberman f′ and f″ over that with Chantler's
    (:func:`~xrdq.crystal.scattering.anomalous_cromer_liberman`): Σ m|F|²LP of its reflections, each |F|² recomputed
    with the second table. The phase's refined scale moves by the inverse to first order (it fits the same
    intensities). Phases without atoms (PONKCS) or an element or wavelength the table lacks are left out."""
    return _per_phase(fit, _TABLE_RATIOS, lambda phase: not getattr(phase, "profile_only", False), _table_ratio)


def _per_phase(fit, store, wanted, compute) -> dict:
    """Phase name → ``compute(model)`` for each phase model of ``fit`` with atoms and reflections that ``wanted(phase)``,
    kept in ``store`` by the model's content (the same for every file of a batch on one grid); NaN (cannot say) is left
    out."""
    out = {}
    for m in getattr(fit, "models", ()) or ():
        phase = getattr(m, "phase", None)
        if phase is None or getattr(phase, "atoms", None) is None or not len(getattr(m, "f2", ())) or not wanted(phase):
            continue
        key = getattr(m, "content_key", None)
        value = store.get(key)
        if value is None:
            value = compute(m)
            store.put(key, value)
        if np.isfinite(value):
            out[m.name] = value
    return out


def _table_ratio(m) -> float:
    """:func:`table_intensity_ratios` of one :class:`~xrdq.model.pattern.PhaseModel`; NaN if the table cannot say."""
    from ..crystal import scattering
    from ..crystal.reflections import structure_factor_squared

    atoms, lam = m.phase.atoms, float(m.instrument.wavelength)
    energy = scattering.energy_ev(lam)
    if any(scattering.anomalous_cromer_liberman(el, energy) is None for _, el in atoms.scatterers):
        return float("nan")
    alt = structure_factor_squared(m.hkl, m.d0, atoms, lam, anomalous_table=scattering.anomalous_cromer_liberman)
    inside, w = _intensity_weights(m)
    return float(np.sum(w * alt[inside] / m.f2[inside]) / np.sum(w)) if w.size and np.sum(w) > 0 else float("nan")


def _intensity_weights(m):
    """(mask, weights): the reflections of a phase model in its refined range and each one's m|F|²LP, the share of the
    phase's intensity a refined scale fits (first order)."""
    from ..model.pattern import bragg_two_theta, lorentz_polarization

    tt = bragg_two_theta(m.d0, float(m.instrument.wavelength))
    lo, hi = m.two_theta_range
    inside = (tt >= lo) & (tt <= hi) & (m.f2 > 0)
    return inside, (m.multiplicity * m.f2 * lorentz_polarization(tt, m.instrument.polarization_factor))[inside]


#: The noise a 'noisy' CIF states for its free coordinates (scripts/make_reference_cifs.py: Gaussian, σ 0.01 in
#: fractional units) and how many displaced structures estimate its effect (fixed draws: a result is reproducible).
NOISY_COORDINATE_SD = 0.01
COORDINATE_DRAWS = 12
_COORDINATE_SPREADS = LRUStore(64)


def coordinate_intensity_spreads(fit) -> dict:
    """Phase name → relative RMS change of its intensity in the refined range (Σ m|F|²LP) when its sites move by the
    noise its CIF states for them (:data:`NOISY_COORDINATE_SD`, within each site's symmetry,
    :func:`~xrdq.crystal.displace.displaced_atoms`): phases whose CIF says its coordinates are noisy starting values
    (``_xrdq_structure_quality noisy``). The refined scale fits the model's intensities, so a structure that far from
    the true one moves the scale by as much to first order. A phase whose coordinates were refined is left out: its
    intensities are the refined structure's, and the refinement's covariance holds what the coordinates leave open."""
    refined = getattr(fit, "coordinate_parameters", None) or {}
    return _per_phase(fit, _COORDINATE_SPREADS, lambda phase: getattr(phase, "structure_quality", "") == "noisy"
                      and phase.name not in refined, _coordinate_spread)


def _coordinate_spread(m) -> float:
    """:func:`coordinate_intensity_spreads` of one phase model; NaN if it cannot say."""
    from ..crystal.displace import displaced_atoms
    from ..crystal.reflections import structure_factor_squared

    inside, w = _intensity_weights(m)
    if not w.size or not np.sum(w) > 0:
        return float("nan")
    rng = np.random.default_rng(20261203)  # the same draws for every result: reproducible numbers
    lam, ratios = float(m.instrument.wavelength), []
    for _ in range(COORDINATE_DRAWS):
        atoms = displaced_atoms(m.phase, NOISY_COORDINATE_SD, rng)
        if atoms is None:
            return float("nan")
        alt = structure_factor_squared(m.hkl, m.d0, atoms, lam)
        ratios.append(np.sum(w * alt[inside] / m.f2[inside]) / np.sum(w))
    return float(np.sqrt(np.mean(np.square(np.asarray(ratios) - 1.0))))


def model_uncertainty(refinement, base_scales, brindley=None, standard=None, purity: float = 1.0,
                      level: str = "full", external=None, crystalline=None, estimates=None,
                      g_transfer: float | None = None, g_table_ratio: float | None = None) -> tuple[dict, list]:
    """(u_model per quantity key, [{"variant", "kind", "largest_shift", "shifts"}]) for a refinement result:
    ``shifts`` holds each reported quantity's shift under that variant (quantity key → fraction, signed).

    ``base_scales``: the phase scales before any Brindley correction (for engines without native
    scales, the fractions divided by ZMV). Each variant's deviation from the main result is one
    independent component; they add in quadrature (one-at-a-time variation of model choices). ``g_transfer``: the
    relative σ of G assumed for a specimen other than the calibration's (G from one specimen): one more component,
    G scaled by 1 + g_transfer, i.e. every scale by 1/(1 + g_transfer) — which moves only what rests on G (ratios of
    scales, hence the internal standard's and Hill–Howard's fractions, do not change). ``g_table_ratio``: the
    calibrant's intensity ratio of the two f′, f″ tables (``ScaleCalibration.anomalous_table_ratio``), by which G moves in the
    scattering-factor member.
    """
    if level not in LEVELS:
        raise XrdqError(f"model_uncertainty must be one of {LEVELS}, got {level!r}")
    names, info = list(refinement.phase_names), refinement.phase_info
    # how the reported sample fractions were had, and every route's amorphous estimate
    route = dict(external=external, crystalline=crystalline, estimates=estimates)
    main = quantities(base_scales, names, info, brindley, standard, purity, **route)
    if level == "off":
        return {k: 0.0 for k in main}, []
    native = _deciding_refinement(refinement)
    if native is not None:
        variants = recipe_variants(native.fit, level)
        members = _borrowed_members(native, variants, main, names, info, brindley, standard, purity, route)
    else:
        variants = recipe_variants(getattr(refinement, "fit", None), level)
        members = [(v.name, v.kind, quantities(v.scales, names, info, brindley, standard, purity, **route))
                   for v in variants if v.scales is not None]
    sizes = {n: 2.0 * d for n, d in brindley.items()} if brindley else dict.fromkeys(names, ASSUMED_PARTICLE_UM)
    label = ("microabsorption: particle sizes doubled" if brindley else
             f"microabsorption: Brindley correction for {ASSUMED_PARTICLE_UM:.1f} µm particles (RMS of 0–"
             f"{ASSUMED_MAX_PARTICLE_UM:g} µm)")
    members.append((label, "linear", quantities(base_scales, names, info, sizes, standard, purity, **route)))
    own_fit = getattr(refinement, "fit", None)
    ratios = table_intensity_ratios(own_fit if own_fit is not None else getattr(native, "fit", None))
    if ratios:
        # xrdq's |F|² use Chantler's f′, f″; GSAS-II's (an engine result here) Cromer–Liberman's: the other table
        rho = np.array([ratios.get(n, 1.0) for n in names], dtype=float)
        if own_fit is not None:
            # what was calibrated with xrdq's |F|² moves too: a PONKCS phase's ZMV (through the G or the known
            # phases it rests on) and G itself, i.e. every scale by G's ratio (nothing that rests on ratios moves)
            for phase in getattr(own_fit, "phases", ()):
                if getattr(phase, "profile_only", False) and phase.name in names:
                    rho[names.index(phase.name)] = float((getattr(phase, "calibration", None) or {})
                                                         .get("anomalous_table_ratio") or 1.0)
            moved = np.asarray(base_scales, dtype=float) / rho * (g_table_ratio or 1.0)
        else:
            moved = np.asarray(base_scales, dtype=float) * rho
        members.append(("scattering factors: Cromer–Liberman f′, f″ (GSAS-II's) against Chantler's (xraydb)", "linear",
                        quantities(moved, names, info, brindley, standard, purity, **route)))
    spreads = coordinate_intensity_spreads(own_fit if own_fit is not None else getattr(native, "fit", None))
    for name, spread in spreads.items():
        if name in names:
            # a structure whose CIF says its coordinates are noisy: its intensities, and so its scale, as uncertain
            moved = np.array(base_scales, dtype=float)
            moved[names.index(name)] /= 1.0 + spread
            members.append((f"structure of {name}: coordinates noisy by σ {NOISY_COORDINATE_SD:g} (its CIF says so), "
                            f"intensity ±{100 * spread:.1f} %", "linear",
                            quantities(moved, names, info, brindley, standard, purity, **route)))
    for phase in getattr(getattr(refinement, "fit", None), "phases", ()):
        # a PONKCS phase whose ZMV rests on G from one specimen (calibrate_ponkcs): G transferred to the
        # calibration's own specimen is assumed to hold to ±t, every fraction resting on its ZMV with it
        t = float((getattr(phase, "calibration", None) or {}).get("g_transfer_rel_sd") or 0.0) \
            if getattr(phase, "profile_only", False) else 0.0
        if t > 0 and phase.name in names:
            moved = np.array(base_scales, dtype=float)
            moved[names.index(phase.name)] *= 1.0 + t
            members.append((f"PONKCS {phase.name}: G transferred to its calibration specimen ±{100 * t:.1f} % (assumed: "
                            "G from one specimen)", "linear",
                            quantities(moved, names, info, brindley, standard, purity, **route)))
    if g_transfer:
        members.append((f"G transferred from the calibration's specimen to this one: ±{100 * g_transfer:.1f} % "
                        "(assumed: one calibration specimen)", "linear",
                        quantities(np.asarray(base_scales, dtype=float) / (1.0 + g_transfer), names, info, brindley,
                                   standard, purity, **route)))
    u, log = {}, []
    for key, q0 in main.items():
        if not np.isfinite(q0):
            continue
        dev = [q[key] - q0 for _, _, q in members if np.isfinite(q.get(key, np.nan))]
        u[key] = float(np.sqrt(np.sum(np.square(dev)))) if dev else 0.0
    reported = [k for k in main if not k.startswith("estimate:") and np.isfinite(main[k])]
    for name, kind, q in members:
        # each reported quantity's own shift, so that a result can say what its uncertainty comes from
        shifts = {k: float(q[k] - main[k]) for k in reported if np.isfinite(q.get(k, np.nan))}
        log.append({"variant": name, "kind": kind,
                    "largest_shift": max(abs(v) for v in shifts.values()) if shifts else None, "shifts": shifts})
    log += [{"variant": v.name, "kind": v.kind, "largest_shift": None, "left_out": v.note}
            for v in variants if v.scales is None]
    if getattr(refinement, "fit", None) is None and native is None:  # said, not silently missing: u then holds microabsorption only
        log.append({"variant": "recipe variants (background, 2θ start, humps, B, strain, profile, reflection scatter)", "kind": "all",
                    "largest_shift": None, "left_out": f"the {refinement.engine} engine's refinement is not "
                    "re-solved by xrdq: u holds the esd and microabsorption only"})
    return u, log
