"""What a refinement returns, whichever engine ran it; :mod:`xrdq.quant` consumes only this."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(repr=False)
class RefinementResult:
    """A converged (or not) whole-pattern fit.

    ``scales``, ``scale_covariance`` and ``mass_factors`` are what :mod:`xrdq.quant` computes the weight
    fractions from, whichever engine ran. ``weight_fractions`` are crystalline-normalised Hill–Howard
    fractions (sum 1) and ``weight_fraction_covariance`` their covariance, in the order of ``phase_names``:
    filled by GSAS-II for its own users, and in the copy :func:`xrdq.quantify` returns for every engine.
    """

    engine: str
    engine_version: str
    two_theta: np.ndarray
    observed: np.ndarray
    esd: np.ndarray
    calculated: np.ndarray
    background: np.ndarray
    components: dict
    phase_names: list
    weight_fractions: dict
    weight_fraction_covariance: np.ndarray
    parameters: dict  # name -> (value, esd); the same name and units for a parameter whichever engine refined it
    correlation: tuple  # (names, matrix)
    rwp: float
    rexp: float
    gof: float
    chi2: float
    converged: bool
    warnings: list = field(default_factory=list)
    elapsed_s: float = 0.0
    phase_info: dict = field(default_factory=dict)
    scales: dict = field(default_factory=dict)  # name -> (value, esd)
    scale_covariance: np.ndarray | None = None
    # name -> factor k with W ∝ scale × k: cell mass × volume (ZMV) for the native scale, the cell mass
    # for GSAS-II's phase fraction (a number of cells); xrdq.quant computes Hill–Howard from these
    mass_factors: dict = field(default_factory=dict)
    ticks: dict = field(default_factory=dict)  # name -> (two_theta array, hkl array)
    recipe: list = field(default_factory=list)
    n_points: int = 0
    n_parameters: int = 0
    nfev: int = 0
    njev: int = 0
    bragg_r: dict = field(default_factory=dict)
    serial_correlation: float = 0.0  # lag-1 autocorrelation of the weighted residuals
    decisions: list = field(default_factory=list)  # adaptive recipe: one dict per term tested (see refine.adaptive)
    # the native Refinement that produced this result (None for other engines): lets xrdq.quant re-solve
    # it under recipe variants for the model uncertainty; never serialised
    fit: object = field(default=None, repr=False, compare=False)
    # another engine's result: the native RefinementResult whose significance tests decided its terms (GSAS-II with
    # the default recipe); its recipe variants and its own fractions enter the model uncertainty; never serialised
    decided_by: object = field(default=None, repr=False, compare=False)

    @property
    def difference(self):
        return self.observed - self.calculated

    def weight_fraction_esd(self, name) -> float:
        i = self.phase_names.index(name)
        return float(np.sqrt(max(self.weight_fraction_covariance[i, i], 0.0)))

    def lmfit_parameters(self):
        """The refined parameters as ``lmfit.Parameters``: value, ``stderr`` (None where not refined), and for
        the native engine the bounds and ``vary`` of the fit. Names are the engine-neutral ones of
        ``parameters`` (:mod:`xrdq.refine.specs`, :mod:`xrdq.engines.gsas2.names`), made valid identifiers
        where a GSAS-II variable kept its own name (lmfit's rule: ``0::AUiso:0`` → ``p_0__AUiso_0``).
        lmfit is imported here, never at start-up."""
        import math

        import lmfit

        from .parameters import param_name

        out = lmfit.Parameters()
        fitted = getattr(self.fit, "params", None) or {}
        for name, (value, esd) in self.parameters.items():
            key = param_name(name)
            par = fitted.get(name)
            refined = math.isfinite(esd)
            out.add(key, value=float(value), vary=par.vary if par is not None else refined,
                    min=par.min if par is not None else -math.inf, max=par.max if par is not None else math.inf)
            out[key].stderr = float(esd) if refined else None
        return out

    def __repr__(self) -> str:
        return (f"<RefinementResult engine={self.engine}, {len(self.two_theta)} points, phases={list(self.phase_names)}, "
                f"Rwp={100 * self.rwp:.2f} %, GoF={self.gof:.2f}, converged={self.converged}>")

    def fit_report(self, max_correlation: float = 0.8) -> str:
        lines = [
            f"[[Fit statistics]]  engine: {self.engine} {self.engine_version}",
            f"    points = {self.n_points}, parameters = {self.n_parameters}, function evals = {self.nfev}, "
            f"Jacobians = {self.njev}",
            f"    Rwp = {100 * self.rwp:.2f} %, Rexp = {100 * self.rexp:.2f} %, GoF = {self.gof:.3f}, "
            f"chi2 = {self.chi2:.1f}, converged = {self.converged}",
        ]
        if self.weight_fractions:
            lines.append("[[Weight fractions (crystalline-normalised)]]")
        for name in self.phase_names if self.weight_fractions else ():
            lines.append(f"    {name:<16s} {100 * self.weight_fractions[name]:8.3f} ± {100 * self.weight_fraction_esd(name):.3f} wt%")
        lines.append("[[Parameters]]")
        for name, (value, err) in self.parameters.items():
            lines.append(f"    {name:<28s} {value: .6g} ± {err:.3g}" if np.isfinite(err) else f"    {name:<28s} {value: .6g} (not refined)")
        names, corr = self.correlation
        pairs = []
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                if abs(corr[i, j]) >= max_correlation:
                    pairs.append((abs(corr[i, j]), names[i], names[j], corr[i, j]))
        if pairs:
            lines.append(f"[[Correlations]] (|C| ≥ {max_correlation})")
            for _, a, b, c in sorted(pairs, reverse=True):
                lines.append(f"    C({a}, {b}) = {c:+.3f}")
        if self.decisions:
            lines.append("[[Adaptive recipe: terms tested]]")
            for d in self.decisions:
                test = (f", F = {d['F']:.1f}, p = {d['p_value']:.2g}" if d.get("F") is not None
                        else "")  # a restart compares two minima of one model: no test
                lines.append(f"    {d['term']:<28s} {'accepted' if d['accepted'] else 'rejected':<9s} "
                             f"Δχ² = {d['delta_chi2']:.1f} ({d['n_params']} par.){test}"
                             f"{' (' + d['basis'] + ')' if d.get('basis') else ''}")
        if self.warnings:
            lines.append("[[Warnings]]")
            lines += [f"    - {w}" for w in self.warnings]
        return "\n".join(lines)
