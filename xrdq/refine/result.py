"""What a refinement returns, whichever engine ran it; :mod:`xrdq.quant` consumes only this."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(repr=False)
class RefinementResult:
    """A converged (or not) whole-pattern fit.

    ``weight_fractions`` are crystalline-normalised Hill–Howard fractions (sum 1) and
    ``weight_fraction_covariance`` their covariance, in the order of ``phase_names``.
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
    parameters: dict  # name -> (value, esd)
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

    @property
    def difference(self):
        return self.observed - self.calculated

    def weight_fraction_esd(self, name) -> float:
        i = self.phase_names.index(name)
        return float(np.sqrt(max(self.weight_fraction_covariance[i, i], 0.0)))

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
