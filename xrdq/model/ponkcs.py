"""PONKCS phases (Scarlett & Madsen 2006): a component defined by a measured pattern, not a structure.

A PONKCS phase is an amorphous (or structure-unknown) component whose calculated pattern is a fixed
curve — broad pseudo-Voigt humps fitted to a calibration measurement, or that measurement's net
intensity — multiplied by one refined scale, like a crystalline phase's. Its "ZMV" is not a cell mass
times a cell volume but a calibrated pseudo-value with the same role in W_p ∝ S_p (ZMV)_p
(:mod:`xrdq.quant.ponkcs` calibrates it). In the refinement it is one more linear column; the curve
is not shifted or broadened (a halo is too broad for the small zero or displacement shifts to matter).

Files: ``NAME.phase.toml`` written by ``xrdq ponkcs``; use them as ``--phase NAME=NAME.phase.toml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import XrdqPhaseError
from .._toml import read_toml, toml_value
from .background import humps as hump_columns

FORMAT = "xrdq-ponkcs-phase-1"
KINDS = ("amorphous", "crystalline")
_UNIT_CELL = (1.0, 1.0, 1.0, 90.0, 90.0, 90.0)  # volume 1 Å³: cell_mass carries the whole pseudo-ZMV


@dataclass(frozen=True, eq=False)
class PonkcsPhase:
    """A pattern-defined phase. Acts as a Phase for the refinement (``profile_only``)."""

    name: str
    formula: str
    kind: str
    zmv: float  # calibrated pseudo (ZMV), g/mol·Å³ in the Hill–Howard sense
    zmv_esd: float
    instrument: str
    wavelength: float
    humps: tuple = ()  # ((centre °, FWHM °, area), ...) at unit scale
    two_theta: np.ndarray | None = field(default=None, repr=False)  # or a tabulated net pattern
    intensity: np.ndarray | None = field(default=None, repr=False)
    two_theta_range: tuple = (0.0, 180.0)  # where the curve was measured
    calibration: dict = field(default_factory=dict)  # how the ZMV was obtained (provenance)
    source: str = ""

    profile_only = True
    space_group = "-"
    sg_number = 0
    z = 1.0
    sites = ()
    notes = ()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise XrdqPhaseError(f"PONKCS phase {self.name!r}: kind {self.kind!r}; expected one of {KINDS}")
        if not (np.isfinite(self.zmv) and self.zmv > 0):
            raise XrdqPhaseError(f"PONKCS phase {self.name!r}: zmv = {self.zmv!r}; expected a positive number")
        if not self.humps and (self.two_theta is None or self.intensity is None):
            raise XrdqPhaseError(f"PONKCS phase {self.name!r}: no pattern (neither humps nor two_theta/intensity)")

    # --- what the refinement and the quantification read from a phase ---------------------------
    cell = _UNIT_CELL

    @property
    def cell_mass(self) -> float:
        return float(self.zmv)

    @property
    def volume(self) -> float:
        return 1.0

    @property
    def density(self) -> float:
        return float("nan")  # unknown: Brindley's correction cannot be applied to it

    @property
    def composition(self) -> dict:
        import xraydb

        return dict(xraydb.chemparse(self.formula))

    def mass_attenuation(self, wavelength: float) -> float:
        from ..quant.composition import mass_attenuation

        return mass_attenuation(self.formula, wavelength)

    def cell_parameters(self) -> dict:
        return {}

    def with_cell(self, **params):
        return self

    def reflections(self, *args, **kwargs):
        raise XrdqPhaseError(f"{self.name} is a PONKCS phase: it has a measured pattern, not reflections")

    def make_model(self, instrument, two_theta_range, po_hkl=None):
        return PonkcsModel(self, instrument, two_theta_range)

    def curve(self, two_theta) -> np.ndarray:
        """The phase's pattern at unit scale on ``two_theta``."""
        tt = np.asarray(two_theta, dtype=float)
        if self.humps:
            h = np.asarray(self.humps, dtype=float)
            return hump_columns(tt, h[:, 0], h[:, 1]) @ h[:, 2]
        return np.interp(tt, self.two_theta, self.intensity, left=0.0, right=0.0)

    # --- file ------------------------------------------------------------------------------------
    def to_toml(self) -> str:
        lines = [f"# xrdq PONKCS phase {self.name} ({self.kind}); use as --phase {self.name}=<this file>",
                 f'format = "{FORMAT}"']
        for key in ("name", "formula", "kind", "zmv", "zmv_esd", "instrument", "wavelength"):
            lines.append(f"{key} = {toml_value(getattr(self, key))}")
        lines.append(f"two_theta_range = {toml_value([float(x) for x in self.two_theta_range])}")
        if self.humps:
            lines.append("humps = [" + ", ".join(toml_value([float(x) for x in h]) for h in self.humps) + "]")
        else:
            lines.append(f"two_theta = {toml_value([float(x) for x in self.two_theta])}")
            lines.append(f"intensity = {toml_value([float(x) for x in self.intensity])}")
        lines.append("\n[calibration]")
        for key, value in self.calibration.items():
            if value is not None:
                lines.append(f"{key} = {toml_value(value if not isinstance(value, str) else value.replace(chr(10), ' '))}")
        return "\n".join(lines) + "\n"

    def write(self, path) -> Path:
        from .._atomic import atomic_write_text

        return atomic_write_text(path, self.to_toml())


def read_ponkcs(path, name: str | None = None) -> PonkcsPhase:
    """A PONKCS phase from its TOML file (``name`` renames it)."""
    path = Path(path)
    data = read_toml(path, "PONKCS phase", XrdqPhaseError)
    if data.get("format") != FORMAT:
        raise XrdqPhaseError(f"{path}: not an xrdq PONKCS phase (expected format = \"{FORMAT}\"; write one with "
                             "`xrdq ponkcs`)")
    missing = [k for k in ("name", "formula", "kind", "zmv", "zmv_esd", "instrument", "wavelength") if k not in data]
    if missing:
        raise XrdqPhaseError(f"{path}: field(s) {missing} missing from the PONKCS phase")
    try:
        return PonkcsPhase(
            name=name or data["name"], formula=data["formula"], kind=data["kind"], zmv=float(data["zmv"]),
            zmv_esd=float(data["zmv_esd"]), instrument=data["instrument"], wavelength=float(data["wavelength"]),
            humps=tuple(tuple(float(x) for x in h) for h in data.get("humps", ())),
            two_theta=np.asarray(data["two_theta"], dtype=float) if "two_theta" in data else None,
            intensity=np.asarray(data["intensity"], dtype=float) if "intensity" in data else None,
            two_theta_range=tuple(data.get("two_theta_range", (0.0, 180.0))),
            calibration=dict(data.get("calibration", {})), source=str(path),
        )
    except (TypeError, ValueError) as exc:
        raise XrdqPhaseError(f"{path}: {exc}") from None


def resolve_any_phase(spec):
    """Like :func:`xrdq.crystal.spec.resolve_phase`, plus ``NAME=FILE.phase.toml`` / ``FILE.phase.toml``."""
    from ..crystal.spec import resolve_phase

    if isinstance(spec, (str, Path)):
        text = str(spec).strip()
        name, sep, source = text.partition("=")
        if not sep or Path(text).exists():
            name, source = None, text
        if source.strip().lower().endswith(".toml"):
            return read_ponkcs(source.strip(), (name or "").strip() or None)
    return resolve_phase(spec)


class PonkcsModel:
    """The refinement's view of a PONKCS phase: a fixed unit-scale column (no non-linear parameters)."""

    def __init__(self, phase: PonkcsPhase, instrument, two_theta_range):
        if instrument.name != phase.instrument or abs(instrument.wavelength - phase.wavelength) > 2e-4:
            raise XrdqPhaseError(
                f"PONKCS phase {phase.name} ({phase.source or 'in memory'}) was calibrated on instrument "
                f"{phase.instrument!r} at {phase.wavelength:.6f} Å, not {instrument.name!r} at "
                f"{instrument.wavelength:.6f} Å: its pattern and ZMV hold only there")
        lo, hi = phase.two_theta_range
        if two_theta_range[0] < lo - 1e-6 or two_theta_range[1] > hi + 1e-6:
            raise XrdqPhaseError(
                f"PONKCS phase {phase.name}: the refined range {two_theta_range[0]:g}–{two_theta_range[1]:g}° 2θ "
                f"extends beyond the calibrated {lo:g}–{hi:g}°; restrict --two-theta-range")
        self.phase = phase
        self.name = phase.name
        self.instrument = instrument
        self.two_theta_range = tuple(two_theta_range)
        self._cached = None

    def reset_sampling(self):
        pass

    def default_params(self, **changes):
        from .pattern import PhaseParams

        return PhaseParams(**changes)

    def cell(self, params):
        return _UNIT_CELL

    def profile(self, two_theta, params=None, terms=None, specimen=None, exact_tails: bool = False):
        tt = np.asarray(two_theta, dtype=float)
        if self._cached is None or self._cached[0] is not tt:
            self._cached = (tt, self.phase.curve(tt))
        return self._cached[1]

    def profile_jacobian(self, two_theta, params, terms, specimen, perturbed):
        return self.profile(two_theta), np.zeros((np.size(two_theta), len(perturbed)))

    def tick_positions(self, params, terms, specimen=None):
        return np.zeros(0), np.zeros((0, 3), dtype=int)
