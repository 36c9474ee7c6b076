"""Independent amorphous estimates of one pattern and whether they agree.

Up to three routes give the amorphous (+ unidentified) fraction of the ORIGINAL sample:

- ``internal_standard``: 1 − Σ crystalline from the weighed spike (:mod:`.internal_standard`);
- ``external_standard``: 1 − Σ crystalline from the instrument constant G and µ*_mix (:mod:`.external_standard`);
- ``ponkcs``: the fitted amount of calibrated amorphous phases (:mod:`xrdq.model.ponkcs`), scaled by the
  internal standard when there is one, else by G, else by normalising every modelled phase to 100 %.

The first two never use the PONKCS phases, so the three share only the crystalline scales.
``amorphous_consistency`` = max |A_i − A_j| / √(σ_i² + σ_j²) over the pairs; correlations between the
estimates (they come from one refinement) are neglected, which makes the test slightly conservative
when they are positively correlated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import XrdqQuantError

CONSISTENCY_LIMIT = 2.0  # beyond this, the estimates disagree: the result needs a check (verdict "check")


def subset_fractions(w, cov, idx):
    """Hill–Howard fractions renormalised over the phases ``idx`` (e.g. the crystalline ones), with covariance."""
    w = np.asarray(w, dtype=float)
    idx = list(idx)
    total = w[idx].sum()
    ws = w[idx] / total
    jac = np.zeros((len(idx), w.size))
    for r, i in enumerate(idx):
        jac[r, i] += 1.0 / total
        jac[r, idx] -= w[i] / total**2
    return ws, jac @ np.asarray(cov, dtype=float) @ jac.T


def by_construction(crystalline, standard: str | None = None) -> bool:
    """Whether no crystalline phase of the sample is declared (the ``standard`` aside): then 1 − Σ crystalline, by the
    internal or the external standard, is 100 % amorphous by construction — every crystalline phase not declared
    counts as amorphous — and its esd says nothing about what was not declared. A calibrated amorphous (PONKCS)
    phase, if declared, is then the amorphous fraction reported: it measures its own amount."""
    return not [n for n in crystalline if n != standard]


def relative_to_standard(names, scales, scale_cov, zmv, subset, standard, w_s, purity):
    """Σ over ``subset`` of c·W_s·(S_p (ZMV)_p)/(S_s (ZMV)_s)/(1 − W_s): their fraction of the original sample."""
    s = np.asarray(scales, dtype=float)
    k = np.asarray(zmv, dtype=float)
    i_s = names.index(standard)
    m = s * k
    factor = purity * w_s / (1.0 - w_s)
    idx = [names.index(n) for n in subset]
    value = factor * m[idx].sum() / m[i_s]
    jac = np.zeros(s.size)
    jac[idx] = factor * k[idx] / m[i_s]
    jac[i_s] -= value / s[i_s]
    return float(value), float(np.sqrt(max(jac @ np.asarray(scale_cov) @ jac, 0.0)))


def consistency(estimates: dict):
    """Largest |difference| / combined uncertainty over pairs of estimates (None with fewer than two)."""
    vals = [(v, e) for v, e in estimates.values() if v is not None and np.isfinite(v)]
    if len(vals) < 2:
        return None
    worst = 0.0
    for i in range(len(vals)):
        for j in range(i + 1, len(vals)):
            sigma = np.hypot(vals[i][1], vals[j][1])
            diff = abs(vals[i][0] - vals[j][0])
            worst = max(worst, diff / sigma if sigma > 0 else (np.inf if diff > 0 else 0.0))
    return float(worst)


@dataclass
class Estimates:
    """The routes' amorphous estimates (value, esd), how each is recomputed from other scales (``routes``: route →
    ``f(names, scales, w, zmv, tau)``, so that each gets its u from the model-uncertainty variants), and after
    :meth:`finish` their consistency: the largest |difference| over the combined esds. Not over the u: the
    variants change the sample's recipe but not the G calibration's, and an unknown particle size is one of the
    things that make the routes disagree — what the consistency is there to show."""

    estimates: dict = field(default_factory=dict)  # route -> (value, esd)
    routes: dict = field(default_factory=dict)  # route -> f(names, scales, w, zmv, tau) -> value
    consistency: float | None = None
    warnings: list = field(default_factory=list)

    def values(self, names, scales, w, zmv, tau=None) -> dict:
        """``estimate:<route>`` for every route, from these scales."""
        return {f"estimate:{r}": f(names, scales, w, zmv, tau) for r, f in self.routes.items()}

    @property
    def disagree(self) -> bool:
        return self.consistency is not None and self.consistency > CONSISTENCY_LIMIT

    @property
    def reason(self) -> str:
        return (f"the amorphous estimates disagree by {self.consistency:.1f} combined uncertainties "
                f"(> {CONSISTENCY_LIMIT:g}): one of the calibrations (weighing, G and µ*, PONKCS) does not hold")

    def finish(self):
        self.consistency = consistency(self.estimates)
        if self.disagree:
            listed = ", ".join(f"{k} {100 * v:.2f} ± {100 * e:.2f}" for k, (v, e) in self.estimates.items())
            self.warnings.append(
                f"the amorphous estimates disagree ({listed} wt%; |difference| = {self.consistency:.1f} combined "
                f"esd > {CONSISTENCY_LIMIT:g}): check the standard's weighing, the G calibration and counting "
                "conditions, the sample composition (µ*) and the phase list — verdict: check")
        return self


def mixture_composition(sample_spec, standard_phase=None, w_s: float = 0.0) -> dict:
    """Bulk composition of the measured specimen: the sample's, plus the spike at W_s if there is one."""
    from .composition import parse_composition
    from .external_standard import phase_formula

    sample = parse_composition(sample_spec)
    if standard_phase is None or not w_s:
        return sample
    mix = {f: (1.0 - w_s) * x for f, x in sample.items()}
    f_std = phase_formula(standard_phase)
    mix[f_std] = mix.get(f_std, 0.0) + w_s
    return mix


def _over_tau(zmv, tau):
    """(ZMV)_p / τ_p: Brindley's factors enter every route as a smaller or larger mass factor (none: τ = 1)."""
    k = np.asarray(zmv, dtype=float)
    return k if tau is None else k / np.asarray(tau, dtype=float)


@dataclass(frozen=True)
class ExternalRoute:
    """What turns phase scales into absolute fractions of the original sample through G: the external standard's
    arithmetic, once, for the main result and for each model-uncertainty variant (which re-evaluates it with
    its own scales and, for microabsorption, Brindley's τ)."""

    mu_mix: float
    mu_rel_esd: float
    G: float
    G_esd: float
    count_factor: float
    crystalline: tuple
    standard: str | None = None
    w_s: float = 0.0
    purity: float = 1.0

    def absolute(self, names, scales, scale_cov, zmv, tau=None):
        """Fractions of the measured specimen (:func:`~xrdq.quant.external_standard.absolute_fractions`);
        ``tau``: Brindley factors per phase (the calibrant, one pure phase, has τ = 1)."""
        from .external_standard import absolute_fractions

        k = _over_tau(zmv, tau)
        return absolute_fractions(names, scales, scale_cov, k, self.crystalline, self.mu_mix, self.mu_rel_esd, self.G,
                                  self.G_esd, self.count_factor)

    def original_sample(self, ext) -> tuple[dict, tuple]:
        """(fractions, amorphous) of the original sample, each (value, esd): the spike taken out, and its own
        non-crystalline part (1 − purity) taken off the amorphous."""
        scale = 1.0 - self.w_s
        fractions = {n: (v / scale, e / scale) for n, (v, e) in ext.fractions.items() if n != self.standard}
        a, a_esd = ext.amorphous
        return fractions, ((a - (1.0 - self.purity) * self.w_s) / scale, a_esd / scale)

    def quantities(self, names, scales, zmv, tau=None) -> dict:
        """``sample:<phase>`` and ``amorphous`` from ``scales`` (no esds): what :mod:`.uncertainty` varies."""
        fractions, amorphous = self.original_sample(self.absolute(names, scales, np.zeros((len(names),) * 2), zmv, tau))
        return {**{f"sample:{n}": v for n, (v, _) in fractions.items()}, "amorphous": amorphous[0]}


def external_route(ref, names, scales, scale_cov, zmv, crystalline, calibration, sample_spec, instrument, pattern,
                   standard_phase=None, w_s: float = 0.0, purity: float = 1.0, tau=None):
    """(absolute fractions of the original sample, amorphous (value, esd) of the original sample, info dict, the
    measured specimen's ExternalResult, the :class:`ExternalRoute`). ``tau``: Brindley's factors, if corrected."""
    from . import composition as comp
    from .external_standard import G_TRANSFER_REL_SD

    # the calibration was checked against the pattern's instrument by quantify, before the refinement
    if scales is None or scale_cov is None:
        raise XrdqQuantError("the external standard needs the native engine's scale factors and their covariance")
    mix = mixture_composition(sample_spec, standard_phase, w_s)
    mu = comp.mass_attenuation(mix, instrument.wavelength)
    mu_rel = comp.ratio_esd(mix, calibration.composition, instrument.wavelength)
    factor, note = calibration.count_factor(pattern)
    # σ(G) of the sample's specimen: with the specimen-to-specimen spread where several specimens measured it
    route = ExternalRoute(mu, mu_rel, calibration.G, calibration.G_esd_for_a_specimen, factor, tuple(crystalline),
                          standard_phase.name if standard_phase is not None else None, w_s, purity)
    ext = route.absolute(names, scales, scale_cov, zmv, tau)
    warnings = []
    groups = {g for stage in ref.recipe or () if isinstance(stage, dict) for g in stage.get("refine", ())}
    # B and the scale are strongly correlated, so both sides must treat B alike; March–Dollase is
    # normalised (it moves intensity between reflections, not in or out) and may differ, as the adaptive
    # recipe decides texture per pattern
    for g in ("biso",):
        then, now = f"'{g}'" in calibration.recipe, g in groups
        if calibration.recipe and then != now:
            warnings.append(f"the G calibration {'refined' if then else 'did not refine'} {g} but this refinement "
                            f"{'does' if now else 'does not'}: scales from different recipes are not on one footing "
                            "(use the same recipe for calibration and samples)")
    fractions, amorphous = route.original_sample(ext)
    if amorphous[0] < 0:
        total = 100.0 * sum(v for n, (v, _) in ext.fractions.items() if n in crystalline)
        warnings.append(
            f"external standard: the crystalline phases sum to {total:.2f} % of the specimen, so the amorphous fraction "
            f"is negative ({100 * amorphous[0]:.2f} ± {100 * amorphous[1]:.2f} wt%, reported, not clipped): check that G "
            "was measured with the same recipe (Biso!) and counting conditions, the sample composition (µ*), "
            "preferred orientation and microabsorption")
    info = {
        "calibration_file": calibration.source or None,
        "calibration_sha256": calibration.sha256 or None,
        "calibration_pattern": calibration.file or None,
        "calibration_phase": calibration.phase,
        "G": calibration.G, "G_esd": calibration.G_esd, "specimens": calibration.specimens,
        "anomalous_table_ratio": calibration.anomalous_table_ratio,
        "G_specimen_sd": calibration.G_specimen_sd,
        "G_transfer": ({"measured": True, "rel_sd": calibration.G_specimen_sd / calibration.G}
                       if calibration.transfer_measured else {"measured": False, "rel_sd": G_TRANSFER_REL_SD}),
        "count_factor": factor, "count_normalisation": note,
        "sample_composition": comp.formula_of_composition(comp.parse_composition(sample_spec)),
        "mass_attenuation": mu, "mass_attenuation_rel_esd": mu_rel,
        "fractions": {n: {"value": v, "esd": e} for n, (v, e) in fractions.items()},
        "warnings": warnings,
    }
    if standard_phase is not None:
        v, e = ext.fractions[standard_phase.name]
        info["standard_found"] = {"value": v, "esd": e, "weighed": purity * w_s}
    return fractions, amorphous, info, ext, route


def ponkcs_route(names, amorphous_names, w_all, cov_all, scales, scale_cov, zmv, std=None, purity=1.0, ext=None,
                 w_s: float = 0.0, zmv_rel_esd=None):
    """Fraction of the original sample in the calibrated amorphous phases: (value, esd, basis used).

    The esd adds each phase's calibration uncertainty σ(ZMV)/ZMV (``zmv_rel_esd``, name → relative esd),
    which is often the largest term: a halo calibrated in a mixture is known only as well as that fit.
    With both an internal standard and G, the more precise of the two scalings is used (a spike of a few
    per cent is known less well than G when the sample is mostly amorphous); both measure the same thing.
    """
    idx = [names.index(n) for n in amorphous_names]
    routes = []
    if std is not None:
        v, e = relative_to_standard(names, scales, scale_cov, zmv, amorphous_names, std, w_s, purity)
        routes.append((v, e, _parts(names, scales, zmv, amorphous_names, v), "internal standard"))
    if ext is not None:
        scale = 1.0 - w_s  # ext is of the measured specimen; the estimate is of the original sample
        parts = {n: ext.fractions[n][0] / scale for n in amorphous_names}
        e = float(np.sqrt(max(ext.covariance[np.ix_(idx, idx)].sum(), 0.0))) / scale
        routes.append((sum(parts.values()), e, parts, "external standard (G)"))
    if not routes:
        v = float(np.sum(np.asarray(w_all)[idx]))
        e = float(np.sqrt(max(np.asarray(cov_all)[np.ix_(idx, idx)].sum(), 0.0)))
        routes.append((v, e, {n: float(w_all[names.index(n)]) for n in amorphous_names},
                       "all phases normalised to 100 % (every phase of the sample modelled)"))
    rel = zmv_rel_esd or {}
    total = [(v, float(np.sqrt(e**2 + sum((parts[n] * rel.get(n, 0.0)) ** 2 for n in amorphous_names))), basis)
             for v, e, parts, basis in routes]
    return min(total, key=lambda r: r[1])


def internal_result(names, w, crystalline, standard: str, w_s: float, purity: float):
    """The internal standard's result (no esds) from fractions ``w`` of ``names``, renormalised over the
    ``crystalline`` phases as the reported one is: the one computation the result's variants repeat."""
    from .internal_standard import internal_standard

    idx = [names.index(n) for n in crystalline]
    wc = np.asarray(w, dtype=float)[idx]
    return internal_standard(list(crystalline), wc / wc.sum(), np.zeros((len(idx), len(idx))), standard, w_s, purity)


def internal_estimate(crystalline, standard: str, w_s: float, purity: float):
    """f(names, scales, w, zmv, tau) → the internal standard's amorphous fraction (NaN if the standard vanished)."""
    def f(names, scales, w, zmv, tau=None):
        try:
            return internal_result(names, w, crystalline, standard, w_s, purity).amorphous_fraction
        except XrdqQuantError:
            return float("nan")
    return f


def external_estimate(route: ExternalRoute):
    """f(names, scales, w, zmv, tau) → the external standard's amorphous fraction of the original sample."""
    return lambda names, scales, w, zmv, tau=None: route.quantities(names, scales, zmv, tau)["amorphous"]


def ponkcs_estimate(basis: str, amorphous_names, standard=None, w_s: float = 0.0, purity: float = 1.0,
                    route: ExternalRoute | None = None):
    """f(names, scales, w, zmv, tau) → the PONKCS phases' fraction of the original sample, scaled as ``basis`` (what
    :func:`ponkcs_route` chose for the result) says."""
    amorphous_names = list(amorphous_names)

    def f(names, scales, w, zmv, tau=None):
        k = _over_tau(zmv, tau)
        if basis == "internal standard":
            return relative_to_standard(names, scales, np.zeros((len(names),) * 2), k, amorphous_names, standard, w_s,
                                        purity)[0]
        if basis.startswith("external standard"):
            ext = route.absolute(names, scales, np.zeros((len(names),) * 2), zmv, tau)
            return sum(ext.fractions[n][0] for n in amorphous_names) / (1.0 - route.w_s)
        return float(sum(np.asarray(w, dtype=float)[names.index(n)] for n in amorphous_names))
    return f


def ponkcs_background_warnings(phases, background_terms: int) -> list:
    """A PONKCS curve holds only beside a background at least as flexible as its calibration's: what that
    background took of the halo must be something the sample's background can take back (docs/method.md §9)."""
    out = []
    for p in phases:
        if not getattr(p, "profile_only", False):
            continue
        n = (getattr(p, "calibration", None) or {}).get("background_terms")
        if n is not None and int(background_terms) < int(n):
            out.append(f"PONKCS phase {p.name} was calibrated beside {int(n)} background terms but this refinement "
                       f"has {int(background_terms)}: part of the calibration's background is now in its scale — "
                       f"refine with at least {int(n)} (--background-terms)")
    return out


def _parts(names, scales, zmv, subset, total):
    """Split ``total`` over ``subset`` in proportion to S·ZMV."""
    m = {n: scales[names.index(n)] * zmv[names.index(n)] for n in subset}
    s = sum(m.values())
    return {n: total * m[n] / s if s else 0.0 for n in subset}
