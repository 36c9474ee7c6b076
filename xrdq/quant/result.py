"""The result of quantifying one pattern: refinement, weight fractions, amorphous content, provenance."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .._version import __version__


@dataclass(repr=False)
class QuantResult:
    """What :func:`xrdq.quantify` returns.

    ``refined_fractions``: crystalline-normalised Rietveld fractions (name → (value, esd)), standard
    included. ``sample_fractions``: absolute fractions in the original, unspiked sample (standard
    excluded; empty without a standard). ``amorphous_fraction``: (value, esd) or None without a standard.
    Fractions are 0–1.

    The esds are statistical (counting noise, weighing and purity). ``uncertainty`` holds the standard
    uncertainty (k = 1) that also carries the model's own (``model_uncertainty``, from recipe variants),
    keyed ``refined:<phase>``, ``sample:<phase>`` and ``amorphous``. ``verdict`` is ``ok``, ``check`` or
    ``fail`` with ``verdict_reasons`` in words; :meth:`flag` adds a reason from outside.
    """

    file: str | None
    sha256: str | None
    engine: str
    refinement: object  # RefinementResult
    refined_fractions: dict
    refined_covariance: np.ndarray
    standard: dict | None
    amorphous_fraction: tuple | None
    sample_fractions: dict
    mixture_fractions: dict
    warnings: list
    provenance: dict
    elapsed_s: float = 0.0
    scan: object = None  # the input pattern's arrays and attrs (xrdq.io.Scan); ``pattern`` is its DataArray
    brindley_tau: dict = field(default_factory=dict)
    # independent amorphous estimates, route -> (value, esd), and their agreement (docs/method.md §10)
    amorphous_estimates: dict = field(default_factory=dict)
    amorphous_consistency: float | None = None
    external_standard: dict | None = None  # G, µ*, absolute fractions (docs/method.md §8)
    model_uncertainty: dict = field(default_factory=dict)  # quantity key -> u_model (0–1)
    verdict: str = "ok"
    verdict_reasons: list = field(default_factory=list)
    unexplained_peaks: list = field(default_factory=list)  # dicts: two_theta, d_spacing, height_sigma, ...

    # ---- how sure ----------------------------------------------------------------------------
    @property
    def uncertainty(self) -> dict:
        """Standard uncertainty (k = 1) per quantity: √(esd² + u_model²)."""
        esd = {f"refined:{n}": e for n, (_, e) in self.refined_fractions.items()}
        esd.update({f"sample:{n}": e for n, (_, e) in self.sample_fractions.items()})
        if self.amorphous_fraction:
            esd["amorphous"] = self.amorphous_fraction[1]
        esd.update({f"estimate:{r}": e for r, (_, e) in self.amorphous_estimates.items()})
        return {k: float(np.hypot(e, self.model_uncertainty.get(k, 0.0))) for k, e in esd.items()}

    def flag(self, level: str, reason: str):
        """Raise the verdict to at least ``level`` ("check" or "fail") for ``reason`` (other checks, e.g.
        disagreeing amorphous estimates, add theirs this way)."""
        from .verdict import LEVELS, worse

        if level not in LEVELS[1:]:
            raise ValueError(f"flag level must be 'check' or 'fail', got {level!r}")
        self.verdict = worse(self.verdict, level)
        if reason not in self.verdict_reasons:
            self.verdict_reasons.append(reason)
        return self

    # ---- convenient views ------------------------------------------------------------------
    @cached_property
    def pattern(self):
        """The input Pattern DataArray: the one given to quantify, or built from ``scan`` when first asked for
        (quantifying a file reads it without xarray and pandas, ≈ 0.25 s that a report or JSON never needs)."""
        return None if self.scan is None else self.scan.to_dataarray()

    @property
    def rwp(self) -> float:
        return self.refinement.rwp

    @property
    def gof(self) -> float:
        return self.refinement.gof

    @property
    def converged(self) -> bool:
        return self.refinement.converged

    @property
    def phase_names(self) -> list:
        return list(self.refined_fractions)

    # ---- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The documented JSON shape (see docs/quickstart.md); fractions in 0–1."""
        phases = {}
        u = self.uncertainty
        for name, (value, esd) in self.refined_fractions.items():
            sf = self.sample_fractions.get(name)
            phases[name] = {
                "refined_fraction": _num(value),
                "refined_fraction_esd": _num(esd),
                "refined_fraction_uncertainty": _num(u.get(f"refined:{name}")),
                "sample_fraction": _num(sf[0]) if sf else None,
                "sample_fraction_esd": _num(sf[1]) if sf else None,
                "sample_fraction_uncertainty": _num(u.get(f"sample:{name}")) if sf else None,
            }
        standard = dict(self.standard) if self.standard else None
        if standard:
            standard["refined_fraction_uncertainty"] = _num(u.get(f"refined:{standard['phase']}"))
        return {
            "verdict": self.verdict,
            "verdict_reasons": list(self.verdict_reasons),
            "file": self.file,
            "sha256": self.sha256,
            "engine": self.engine,
            "xrdq_version": __version__,
            "standard": standard,
            "amorphous_fraction": _num(self.amorphous_fraction[0]) if self.amorphous_fraction else None,
            "amorphous_fraction_esd": _num(self.amorphous_fraction[1]) if self.amorphous_fraction else None,
            "amorphous_fraction_uncertainty": _num(u.get("amorphous")) if self.amorphous_fraction else None,
            "phases": phases,
            "unexplained_peaks": [{k: (_num(v) if isinstance(v, float) else v) for k, v in p.items()}
                                  for p in self.unexplained_peaks],
            "rwp": _num(self.rwp),
            "gof": _num(self.gof),
            "converged": bool(self.converged),
            "warnings": list(self.warnings),
            "decisions": [dict(d) for d in getattr(self.refinement, "decisions", [])],  # adaptive recipe
            "elapsed_s": _num(self.elapsed_s),
            # recipe, instrument, phases with their CIF sha256, options: what made this number
            "provenance": json.loads(json.dumps(self.provenance, default=str)),
            **self._extra_dict(),
        }

    def _extra_dict(self) -> dict:
        """Keys present only when used: the external standard, and two or more amorphous estimates."""
        out = {}
        if self.external_standard:
            out["external_standard"] = _plain(self.external_standard)
        if len(self.amorphous_estimates) >= 2 or self.external_standard:
            u = self.uncertainty
            out["amorphous_estimates"] = {k: {"value": _num(v), "uncertainty": _num(u.get(f"estimate:{k}")), "esd": _num(e)}
                                          for k, (v, e) in self.amorphous_estimates.items()}
            out["amorphous_consistency"] = _num(self.amorphous_consistency)
        return out

    def to_json(self, path=None, indent: int = 2) -> str:
        text = json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)
        if path is not None:
            from .._atomic import atomic_write_text

            atomic_write_text(path, text + "\n")
        return text

    def to_dataset(self):
        """An xarray Dataset: curves on ``two_theta``, fractions on ``phase``, provenance in attrs."""
        import xarray as xr

        ref = self.refinement
        names = self.phase_names
        u = self.uncertainty
        comps = np.array([ref.components[n] for n in names])
        data = {
            "observed": ("two_theta", ref.observed),
            "esd": ("two_theta", ref.esd),
            "calculated": ("two_theta", ref.calculated),
            "background": ("two_theta", ref.background),
            "difference": ("two_theta", ref.observed - ref.calculated),
            "phase_component": (("phase", "two_theta"), comps),
            "refined_fraction": ("phase", [self.refined_fractions[n][0] for n in names]),
            "refined_fraction_esd": ("phase", [self.refined_fractions[n][1] for n in names]),
            "sample_fraction": ("phase", [self.sample_fractions.get(n, (np.nan, np.nan))[0] for n in names]),
            "sample_fraction_esd": ("phase", [self.sample_fractions.get(n, (np.nan, np.nan))[1] for n in names]),
            "refined_fraction_uncertainty": ("phase", [u.get(f"refined:{n}", np.nan) for n in names]),
            "sample_fraction_uncertainty": ("phase", [u.get(f"sample:{n}", np.nan) for n in names]),
        }
        if "amorphous" in ref.components:
            data["amorphous_component"] = ("two_theta", ref.components["amorphous"])
        ds = xr.Dataset(data, coords={"two_theta": ref.two_theta, "phase": names})
        ds["two_theta"].attrs["units"] = "degree"
        a = self.amorphous_fraction or (np.nan, np.nan)
        ds["amorphous_fraction"] = a[0]
        ds["amorphous_fraction_esd"] = a[1]
        ds["amorphous_fraction_uncertainty"] = u.get("amorphous", np.nan)
        ds.attrs.update({
            "rwp": ref.rwp, "gof": ref.gof, "converged": int(ref.converged), "engine": self.engine,
            "xrdq_version": __version__, "file": self.file or "", "sha256": self.sha256 or "",
            "warnings": json.dumps(self.warnings), "provenance": json.dumps(self.provenance, default=str),
            "standard": json.dumps(self.standard) if self.standard else "",
            "amorphous_estimates": json.dumps({k: list(v) for k, v in self.amorphous_estimates.items()}),
            "amorphous_consistency": np.nan if self.amorphous_consistency is None else self.amorphous_consistency,
            "verdict": self.verdict, "verdict_reasons": json.dumps(self.verdict_reasons, ensure_ascii=False),
        })
        return ds

    # ---- human views -----------------------------------------------------------------------
    def verdict_line(self) -> str:
        """``verdict: CHECK — reason; reason`` (one line, for tables and titles)."""
        head = f"verdict: {self.verdict.upper()}"
        return head + (" — " + "; ".join(self.verdict_reasons) if self.verdict_reasons else "")

    def standard_label(self) -> str:
        s = self.standard
        if not s:
            return "no standard"
        return f"{s['phase']}, {100 * s['weighed_fraction']:g} wt%" + (" (default)" if s.get("source") == "default" else "")

    def report(self) -> str:
        ref = self.refinement
        u = self.uncertainty
        lines = [
            f"xrdq {__version__} — {self.file or '<pattern>'}  (engine: {self.engine})",
            self.verdict_line(),
            f"Rwp = {100 * ref.rwp:.2f} %   GoF = {ref.gof:.2f}   converged = {ref.converged}   "
            f"time = {self.elapsed_s:.2f} s",
        ]
        if self.standard:
            s = self.standard
            lines.append(
                f"standard {self.standard_label()} (purity {s['purity']:.3f}): refined "
                f"{100 * s['refined_fraction']:.2f} ± {100 * s['refined_fraction_esd']:.2f} wt%"
            )

        def cell(v, e, key):
            return f"{100 * v:7.2f} ± {100 * e:5.2f} [{100 * u.get(key, e):5.2f}]"

        lines.append(f"{'phase':<20s} {'Rietveld wt%':>24s} {'in sample wt%':>24s}")
        for name, (v, e) in self.refined_fractions.items():
            sf = self.sample_fractions.get(name)
            right = cell(*sf, f"sample:{name}") if sf else ("(standard)" if self.standard and name == self.standard["phase"] else "")
            lines.append(f"{name:<20s} {cell(v, e, f'refined:{name}'):>24s} {right:>24s}")
        if self.amorphous_fraction:
            lines.append(f"{'amorphous':<20s} {'':>24s} {cell(*self.amorphous_fraction, 'amorphous'):>24s}")
        if self.external_standard:
            x = self.external_standard
            t = x.get("G_transfer") or {}
            spread = (f"; specimen to specimen ±{100 * t['rel_sd']:.2f} % ({'measured on ' + str(x['specimens']) + ' specimens, in the esd' if t['measured'] else 'assumed, in u'})"
                      if t else "")
            lines.append(f"external standard: G = {x['G']:.6g} ± {x['G_esd']:.3g}{spread}, µ*/ρ = {x['mass_attenuation']:.2f} "
                         f"cm²/g ({x['sample_composition']}); counts {x['count_normalisation']}")
        if len(self.amorphous_estimates) > 1 or self.external_standard:
            for k, (v, e) in self.amorphous_estimates.items():
                lines.append(f"{'amorphous (' + k.replace('_', ' ') + ')':<37s} {100 * v:7.2f} ± {100 * e:5.2f} "
                             f"[{100 * u.get(f'estimate:{k}', e):5.2f}]")
            if self.amorphous_consistency is not None:
                lines.append(f"amorphous consistency: {self.amorphous_consistency:.2f} (|difference| / combined esd; > 2 = check)")
        lines.append("± statistical esd; [standard uncertainty, k = 1, with the model's own]")
        added = [d["term"] for d in getattr(ref, "decisions", []) if d["accepted"]]
        if getattr(ref, "decisions", None):
            lines.append(f"adaptive recipe added: {', '.join(added) if added else 'nothing'} "
                         f"({len(ref.decisions)} tests, see fit_report())")
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)

    def fit_report(self) -> str:
        return self.refinement.fit_report()

    def __str__(self) -> str:
        return self.report()

    def __repr__(self) -> str:
        """One line (the dataclass default printed every array of the pattern and the fit)."""
        u = self.model_uncertainty.get("amorphous") and self.uncertainty["amorphous"]  # quoted beside the esd, as the report does
        amorph = (f"amorphous={100 * self.amorphous_fraction[0]:.2f}±{100 * self.amorphous_fraction[1]:.2f}"
                  + (f" [u {100 * u:.2f}]" if u else "") + " wt%, " if self.amorphous_fraction else "")
        std = f"standard={self.standard['phase']}@{self.standard['weighed_fraction']:g}, " if self.standard else ""
        return (f"<QuantResult {self.file or '<pattern>'}: engine={self.engine}, {amorph}{std}"
                f"phases={self.phase_names}, Rwp={100 * self.rwp:.2f} %, GoF={self.gof:.2f}, "
                f"verdict={self.verdict}, {len(self.warnings)} warning(s)>")

    def _repr_html_(self) -> str:
        u = self.uncertainty

        def cell(v, e, key):
            return f"{100 * v:.2f} ± {100 * e:.2f} [{100 * u.get(key, e):.2f}]"

        rows = []
        std = self.standard["phase"] if self.standard else None
        for name, (v, e) in self.refined_fractions.items():
            sf = self.sample_fractions.get(name)
            if sf:
                right = cell(*sf, f"sample:{name}")
            elif name == std:
                right = html.escape(f"standard, weighed {100 * self.standard['weighed_fraction']:.2f}")
            else:
                right = ""
            rows.append(f"<tr><td>{html.escape(name)}</td><td>{cell(v, e, f'refined:{name}')}</td>"
                        f"<td>{right}</td></tr>")
        if self.amorphous_fraction:
            rows.append(f"<tr><td><b>amorphous</b></td><td></td><td><b>{cell(*self.amorphous_fraction, 'amorphous')}</b></td></tr>")
        warn = "".join(f"<li>{html.escape(w)}</li>" for w in self.warnings)
        color = {"ok": "#070", "check": "#b60", "fail": "#b00"}.get(self.verdict, "#000")
        reasons = "".join(f"<li>{html.escape(r)}</li>" for r in self.verdict_reasons)
        return (
            f"<div><b>xrdq</b> {html.escape(self.file or '')} — engine {html.escape(self.engine)}, "
            f"Rwp {100 * self.rwp:.2f} %, GoF {self.gof:.2f}, standard {html.escape(self.standard_label())}"
            f"<p>verdict: <b style=\"color:{color}\">{html.escape(self.verdict)}</b></p>"
            + (f"<ul>{reasons}</ul>" if reasons else "")
            + "<table><tr><th>phase</th><th>Rietveld wt%</th><th>in sample wt%</th></tr>"
            + "".join(rows) + "</table><p>± statistical esd; [standard uncertainty, k = 1, with the model's own]</p>"
            + (f"<ul>{warn}</ul>" if warn else "") + "</div>"
        )

    def plot(self, path=None, **kwargs):
        """Observed, calculated, difference, each phase, background and amorphous; hkl ticks per phase."""
        from ..plot import plot_result

        return plot_result(self, path=path, **kwargs)


def _plain(x):
    """A JSON-safe copy of nested dicts of numbers and strings (non-finite numbers → None)."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (float, int, np.floating, np.integer)) and not isinstance(x, bool):
        return _num(x)
    return x


def _num(x):
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None
