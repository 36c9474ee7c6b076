"""External standard ("G-factor"): the instrument's absolute scale from a pattern of known content.

For a flat, infinitely thick Bragg–Brentano specimen the native scale S_p of phase p (the factor in
front of ``m |F|² LP ...`` per unit cell, docs/method.md §1) is

    S_p = G · W_p / ((ZMV)_p · µ*_mix)            (O'Connor & Raven 1988; Jansen et al. 2011)

with W_p its weight fraction, (ZMV)_p cell mass × cell volume, µ*_mix the mass attenuation coefficient
(cm²/g) of the whole specimen and G an instrument constant (for fixed wavelength, slits, tube power
and counting time). A pattern with one phase of known W_k calibrates

    G = S_k (ZMV)_k µ*_cal / W_k

and any other pattern measured under the same conditions then gives absolute fractions without a
spike, W_p = S_p (ZMV)_p µ*_mix / G, and its amorphous (+ unidentified) content as 1 − Σ W_p.
Docs: docs/method.md §8.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._version import __version__
from ..errors import XrdqQuantError
from .._toml import read_toml, toml_value
from . import composition as comp

FORMAT = "xrdq-scale-calibration-1"
WAVELENGTH_TOLERANCE = 2e-4  # Å: a different anode or a mis-set wavelength, not rounding

#: How far G from one calibration specimen may be off for another specimen (relative standard deviation), when
#: it was not measured: packing, surface and the phase's own model (B, structure) differ between specimens, and
#: no counting esd holds that. 1.4 % is the spread of G over the three pure phases of the IUCr CPD measured on one
#: instrument (corundum, fluorite, zincite; B refined, when it was set), the only such measurement we have; with the
#: default recipe, which now corrects the pure corundum's finite thickness, it is 0.88 % — three specimens fix a
#: standard deviation only to ±50 %, so the larger stays (docs/method.md §8). It enters u as a model term; a
#: calibration on several specimens (:func:`combine_calibrations`) measures it and puts it in the esd instead.
G_TRANSFER_REL_SD = 0.014


@dataclass
class ScaleCalibration:
    """The instrument constant G of one set of measuring conditions (written to / read from TOML)."""

    G: float
    G_esd: float
    instrument: str
    wavelength: float  # Kα1, Å
    phase: str
    known_fraction: float
    composition: str  # of the calibration specimen, as a SPEC (µ*_cal comes from it)
    mass_attenuation: float  # µ*_cal, cm²/g
    file: str = ""
    sha256: str = ""
    created: str = ""
    count_time_s: float | None = None
    current_mA: float | None = None
    voltage_kV: float | None = None
    divergence_slit_deg: float | None = None
    variable_slit: bool | None = None
    two_theta_range: tuple | None = None
    recipe: str = ""
    rwp: float | None = None
    gof: float | None = None
    xrdq_version: str = __version__
    # several specimens (combine_calibrations): G is their mean, G_esd its standard error, G_specimen_sd how far one
    # specimen's G lies from another's (measured: it holds for the sample's specimen too); one entry per specimen
    specimens: int = 1
    G_specimen_sd: float | None = None
    specimen_G: tuple | None = None
    specimen_G_esd: tuple | None = None
    specimen_phase: tuple | None = None
    specimen_file: tuple | None = None
    specimen_sha256: tuple | None = None
    # the calibrant's intensity with Cromer–Liberman f′, f″ over that with Chantler's (xraydb, which G rests on): G
    # moves by its inverse in the scattering-factor member of u (docs/method.md §6); absent in older files and where
    # the table lacks an element (then taken as 1)
    anomalous_table_ratio: float | None = None
    source: str = ""  # where it was read from (not written)

    @property
    def G_esd_for_a_specimen(self) -> float:
        """σ(G) for the sample's own specimen: the calibration's esd and, where measured, the spread from one
        specimen to the next (a new specimen is one more draw from it)."""
        return float(np.hypot(self.G_esd, self.G_specimen_sd or 0.0))

    @property
    def transfer_measured(self) -> bool:
        """Whether the specimen-to-specimen spread of G was measured (several specimens), else it is assumed (u)."""
        return self.G_specimen_sd is not None

    def to_toml(self) -> str:
        where = f"{self.specimens} specimens" if self.specimens > 1 else Path(self.file).name or "<pattern>"
        lines = [f"# xrdq scale calibration (G-factor): {self.phase} in {where}",
                 f'format = "{FORMAT}"']
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "source" or value is None or value == "":
                continue
            if isinstance(value, str):
                value = value.replace("\n", " ")
            lines.append(f"{f.name} = {toml_value(list(value) if isinstance(value, tuple) else value)}")
        return "\n".join(lines) + "\n"

    def write(self, path) -> Path:
        from .._atomic import atomic_write_text

        return atomic_write_text(path, self.to_toml())

    @classmethod
    def read(cls, path) -> "ScaleCalibration":
        path = Path(path)
        data = read_toml(path, "scale calibration", XrdqQuantError)
        if data.pop("format", None) != FORMAT:
            raise XrdqQuantError(f"{path}: not an xrdq scale calibration (expected format = \"{FORMAT}\"; write one "
                                 "with `xrdq calibrate-scale`)")
        known = {f.name for f in dataclasses.fields(cls)} - {"source"}
        missing = [k for k in ("G", "G_esd", "instrument", "wavelength", "phase", "known_fraction", "composition",
                               "mass_attenuation") if k not in data]
        if missing:
            raise XrdqQuantError(f"{path}: field(s) {missing} missing from the scale calibration")
        unknown = sorted(set(data) - known)
        if unknown:
            raise XrdqQuantError(f"{path}: unknown field(s) {unknown} in the scale calibration")
        if not (np.isfinite(data["G"]) and data["G"] > 0):
            raise XrdqQuantError(f"{path}: field G = {data['G']!r}; expected a positive number")
        r = data.get("anomalous_table_ratio")
        if r is not None and not (isinstance(r, (int, float)) and np.isfinite(r) and 0.5 < r < 2.0):
            raise XrdqQuantError(f"{path}: field anomalous_table_ratio = {r!r}; expected the calibrant's intensity "
                                 "ratio of two scattering-factor tables, a number near 1")
        if "two_theta_range" in data:
            data["two_theta_range"] = tuple(data["two_theta_range"])
        n = data.get("specimens", 1)
        if not (isinstance(n, int) and n >= 1):
            raise XrdqQuantError(f"{path}: field specimens = {n!r}; expected a whole number ≥ 1")
        for key in [f.name for f in dataclasses.fields(cls) if f.name.startswith("specimen_")]:
            if key in data:
                if not isinstance(data[key], list) or len(data[key]) != n:
                    raise XrdqQuantError(f"{path}: field {key} must list one entry per specimen ({n})")
                data[key] = tuple(data[key])
        if n > 1 and not (isinstance(data.get("G_specimen_sd"), (int, float)) and data["G_specimen_sd"] >= 0):
            raise XrdqQuantError(f"{path}: {n} specimens but field G_specimen_sd is {data.get('G_specimen_sd')!r}; "
                                 "expected their standard deviation (≥ 0)")
        return cls(**data, source=str(path))

    def check_compatible(self, instrument, pattern=None) -> None:
        """Refuse to use G with another instrument, wavelength or slit setting (clear error naming the field)."""
        where = self.source or "scale calibration"
        if self.instrument != instrument.name:
            raise XrdqQuantError(f"{where}: field instrument = {self.instrument!r} but the pattern is quantified with "
                                 f"instrument {instrument.name!r}; G holds only for the instrument it was measured on")
        if abs(self.wavelength - instrument.wavelength) > WAVELENGTH_TOLERANCE:
            raise XrdqQuantError(f"{where}: field wavelength = {self.wavelength:.6f} Å but instrument "
                                 f"{instrument.name!r} uses {instrument.wavelength:.6f} Å; G depends on the wavelength")
        lam = None if pattern is None else pattern.attrs.get("wavelength_alpha1")
        if lam and pattern.attrs.get("wavelength_source") == "file" and abs(float(lam) - self.wavelength) > WAVELENGTH_TOLERANCE:
            raise XrdqQuantError(f"{where}: field wavelength = {self.wavelength:.6f} Å but the pattern file says "
                                 f"{float(lam):.6f} Å")
        for field_, now in (("divergence_slit_deg", instrument.divergence_slit_deg),
                            ("variable_slit", instrument.variable_slit)):
            then = getattr(self, field_)
            if then is not None and now is not None and then != now:
                raise XrdqQuantError(f"{where}: field {field_} = {then!r} but instrument {instrument.name!r} has "
                                     f"{now!r}; G holds only for the slits it was measured with")

    def count_factor(self, pattern) -> tuple[float, str]:
        """(factor, note): how much more the sample was counted than the calibration (time per step × current).

        Each of counting time and tube current is used only when both files give it; otherwise it is
        assumed equal, and the note says so.
        """
        a = {} if pattern is None else pattern.attrs
        factor, used, assumed = 1.0, [], []
        for what, then, key in (("counting time per step", self.count_time_s, "count_time_s"),
                                ("tube current", self.current_mA, "current_mA")):
            now = a.get(key)
            if then and now:
                factor *= float(now) / float(then)
                used.append(f"{what} {float(now):g}/{float(then):g}")
            else:
                assumed.append(what)
        note = ("normalised by " + ", ".join(used)) if used else ""
        if assumed:
            note += ("; " if note else "") + " and ".join(assumed) + " assumed equal to the calibration's (not in both files)"
        return factor, note


def calibration_from_refinement(ref, phase: str, known_fraction: float, composition_spec, instrument, pattern=None,
                                known_fraction_esd: float = 0.0) -> ScaleCalibration:
    """G from a refined pattern (native engine) in which ``phase`` is ``known_fraction`` of the specimen whose
    bulk composition is ``composition_spec`` (for a pure phase: its own formula, :func:`phase_formula`)."""
    check_known_fraction(phase, known_fraction)
    if ref.engine != "native" or not ref.scales:
        raise XrdqQuantError("the external standard needs the native engine's scale factors (engine='native')")
    if phase not in ref.scales:
        raise XrdqQuantError(f"the known phase {phase!r} is not among the refined phases {list(ref.phase_names)}")
    s, s_esd = ref.scales[phase]
    if not s > 0:
        raise XrdqQuantError(f"the known phase {phase} refined to a scale of {s:.4g}: it is not in the pattern")
    info = ref.phase_info[phase]
    zmv = info["cell_mass"] * info["volume"]
    parsed = comp.parse_composition(composition_spec)
    mu = comp.mass_attenuation(parsed, instrument.wavelength)
    g = s * zmv * mu / known_fraction
    rel = np.hypot(s_esd / s, known_fraction_esd / known_fraction)
    a = {} if pattern is None else pattern.attrs
    from .uncertainty import table_intensity_ratios

    ratio = table_intensity_ratios(getattr(ref, "fit", None)).get(phase)
    return ScaleCalibration(
        G=float(g), G_esd=float(g * rel), instrument=instrument.name, wavelength=float(instrument.wavelength),
        phase=phase, known_fraction=float(known_fraction), composition=comp.formula_of_composition(parsed),
        mass_attenuation=float(mu), file=str(a.get("source_path", "")), sha256=str(a.get("sha256", "")),
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        count_time_s=_float_or_none(a.get("count_time_s")), current_mA=_float_or_none(a.get("current_mA")),
        voltage_kV=_float_or_none(a.get("voltage_kV")), divergence_slit_deg=instrument.divergence_slit_deg,
        variable_slit=instrument.variable_slit, two_theta_range=(float(ref.two_theta[0]), float(ref.two_theta[-1])),
        recipe="; ".join(map(str, ref.recipe)) if isinstance(ref.recipe, (list, tuple)) else str(ref.recipe),
        rwp=float(ref.rwp), gof=float(ref.gof), anomalous_table_ratio=None if ratio is None else float(ratio),
    )


def combine_calibrations(calibrations) -> ScaleCalibration:
    """One G from several calibration specimens (repacked specimens of a standard, or several pure phases) measured
    under the same conditions: their mean, its standard error, and their standard deviation ``G_specimen_sd`` — how
    far one specimen's G lies from another's, which the sample's own specimen shares and which a single calibration
    cannot know (it is then assumed in u, :data:`G_TRANSFER_REL_SD`). The specimens must agree on instrument,
    wavelength, slits, counting conditions, known fraction and whether B was refined; the first one's composition
    and µ* stand for the µ*-table term."""
    cals = list(calibrations)
    if len(cals) < 2:
        raise XrdqQuantError(f"combining calibrations needs at least two specimens, got {len(cals)}")
    first = cals[0]
    for c in cals[1:]:
        for field_ in ("instrument", "wavelength", "divergence_slit_deg", "variable_slit", "count_time_s",
                       "current_mA", "voltage_kV", "known_fraction"):
            a, b = getattr(first, field_), getattr(c, field_)
            if a is not None and b is not None and (abs(a - b) > WAVELENGTH_TOLERANCE if field_ == "wavelength"
                                                    else a != b):
                raise XrdqQuantError(f"{c.file or c.source or 'a calibration'}: field {field_} = {b!r} but "
                                     f"{first.file or first.source or 'the first'} has {a!r}; G from several "
                                     "specimens needs the same measuring conditions")
        if ("'biso'" in first.recipe) != ("'biso'" in c.recipe):
            raise XrdqQuantError(f"{c.file or 'a calibration'}: B was refined in one calibration and not in another; "
                                 "scales from different recipes are not on one footing")
    seen = {}
    for c in cals:
        if c.sha256 and c.sha256 in seen:
            raise XrdqQuantError(f"{c.file or 'a calibration'} is the same measurement as {seen[c.sha256] or 'another'} "
                                 f"(sha256 {c.sha256[:12]}…): the spread of G needs a measurement of each specimen")
        seen.setdefault(c.sha256, c.file)
    g = np.array([c.G for c in cals])
    esd = np.array([c.G_esd for c in cals])
    n = g.size
    sd = float(g.std(ddof=1))
    # the mean's standard error: the observed scatter, or the counting esds where they say more
    g_esd = max(sd, float(np.sqrt(np.mean(esd**2)))) / np.sqrt(n)
    phases = list(dict.fromkeys(c.phase for c in cals))
    # the mean G under the other f′, f″ table is the mean of each specimen's G moved by its own calibrant's ratio
    ratios = [c.anomalous_table_ratio for c in cals]
    ratio = None if None in ratios else float(g.mean() / np.mean(g / np.array(ratios, dtype=float)))
    return dataclasses.replace(
        first, G=float(g.mean()), G_esd=float(g_esd), phase=", ".join(phases), file="; ".join(c.file for c in cals),
        sha256="", created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), rwp=None, gof=None,
        specimens=n, G_specimen_sd=sd, specimen_G=tuple(float(x) for x in g),
        specimen_G_esd=tuple(float(x) for x in esd), specimen_phase=tuple(c.phase for c in cals),
        specimen_file=tuple(c.file for c in cals), specimen_sha256=tuple(c.sha256 for c in cals),
        anomalous_table_ratio=ratio, source="")


def phase_formula(phase) -> str:
    """A formula SPEC of a crystalline phase from its sites (occupancy-weighted atoms per cell)."""
    return "".join(f"{el}{n:.6g}" for el, n in phase.composition.items())


def check_known_fraction(name: str, w: float) -> None:
    if not (isinstance(w, (int, float)) and np.isfinite(w) and 0.0 < w <= 1.0):
        raise XrdqQuantError(f"known fraction of {name} is {w!r}; expected a weight fraction in (0, 1]")


def _float_or_none(x):
    try:
        return float(x) if x is not None and x != "" else None
    except (TypeError, ValueError):
        return None


@dataclass
class ExternalResult:
    fractions: dict  # phase -> (absolute weight fraction of the measured specimen, esd)
    amorphous: tuple  # (1 − Σ crystalline, esd), in the measured specimen
    covariance: np.ndarray  # of [fractions..., amorphous]
    mass_attenuation: float
    mass_attenuation_rel_esd: float
    G: float
    count_factor: float


def absolute_fractions(names, scales, scale_cov, zmv, crystalline, mu_mix: float, mu_rel_esd: float, g: float,
                       g_esd: float, count_factor: float = 1.0) -> ExternalResult:
    """W_p = S_p (ZMV)_p µ*_mix / (G·k) for every phase; amorphous = 1 − Σ over ``crystalline`` ones.

    ``k`` (``count_factor``) corrects for more counting in the sample than in the calibration. Esds by
    first-order propagation of the scale covariance, σ(G) and the relative uncertainty of µ*_mix/µ*_cal
    (independent of each other).
    """
    s = np.asarray(scales, dtype=float)
    k = np.asarray(zmv, dtype=float)
    n = s.size
    geff = g * count_factor
    w = s * k * mu_mix / geff
    mask = np.array([n_ in crystalline for n_ in names], dtype=float)
    amorph = 1.0 - float(mask @ w)
    # Jacobian of [w..., A] with respect to p = [S..., G, ln µ]
    jw = np.zeros((n + 1, n + 2))
    jw[:n, :n] = np.diag(k * mu_mix / geff)
    jw[:n, n] = -w / g
    jw[:n, n + 1] = w
    jw[n] = -(mask @ jw[:n])
    cov_p = np.zeros((n + 2, n + 2))
    cov_p[:n, :n] = np.asarray(scale_cov, dtype=float)
    cov_p[n, n] = g_esd**2
    cov_p[n + 1, n + 1] = mu_rel_esd**2
    cov = jw @ cov_p @ jw.T
    esd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    return ExternalResult(
        fractions={name: (float(w[i]), float(esd[i])) for i, name in enumerate(names)},
        amorphous=(amorph, float(esd[n])), covariance=cov, mass_attenuation=float(mu_mix),
        mass_attenuation_rel_esd=float(mu_rel_esd), G=float(geff), count_factor=float(count_factor),
    )


def calibrate_scale(pattern_or_path, phases, known=None, sample_composition=None, instrument="miniflex600",
                    **quantify_kwargs):
    """(ScaleCalibration, QuantResult): G from a pattern in which one phase's weight fraction is known.

    ``phases``: every crystalline phase in the calibration specimen (names, CIFs, NAME=CIF). ``known``:
    ``{name: W}`` for exactly one of them; omitted, the specimen is taken as the one phase given, W = 1.
    ``sample_composition``: bulk composition of the specimen (needed unless it is one pure phase).
    Other keywords go to :func:`xrdq.quantify` (two_theta_range, recipe, biso, preferred_orientation, ...).
    """
    from ..model.instrument import load_instrument, measured_instrument
    from .api import quantify

    phases = list(phases) if isinstance(phases, (list, tuple)) else [phases]
    if not phases:
        raise XrdqQuantError("calibrate-scale: give the phase(s) of the calibration specimen")
    if known is None:
        if len(phases) != 1:
            raise XrdqQuantError("calibrate-scale: with several phases, say which one is known and its weight "
                                 "fraction (known={NAME: W}, --known NAME=W)")
        known = {None: 1.0}
    if len(known) != 1:
        raise XrdqQuantError(f"calibrate-scale: exactly one known phase is needed, got {sorted(map(str, known))}")
    (name, w_k), = known.items()
    check_known_fraction(name or "the phase", w_k)
    inst = load_instrument(instrument)
    res = quantify(pattern_or_path, phases=phases, standard=None, instrument=inst, **quantify_kwargs)
    phase_objs = {p.name: p for p in _phase_objects(phases)}
    name = name if name is not None else next(iter(phase_objs))
    if name not in phase_objs:
        raise XrdqQuantError(f"calibrate-scale: the known phase {name!r} is not among the phases {sorted(phase_objs)}")
    spec = sample_composition
    if spec is None:
        if w_k != 1.0 or len(phases) > 1:
            raise XrdqQuantError(f"calibrate-scale: {name} is {w_k:g} of the specimen, not all of it: give the "
                                 "specimen's bulk composition (sample_composition, --sample-composition) for its µ*")
        spec = phase_formula(phase_objs[name])
    cal = calibration_from_refinement(res.refinement, name, w_k, spec, measured_instrument(res.scan, inst)[0], res.scan)
    if not cal.sha256 and res.sha256:
        cal.sha256 = res.sha256
    return cal, res


def calibrate_scale_specimens(patterns, phases, known=None, sample_composition=None, instrument="miniflex600",
                              **quantify_kwargs):
    """(ScaleCalibration, [QuantResult, …]): G from several specimens of the same calibrant (each pattern as in
    :func:`calibrate_scale`), combined by :func:`combine_calibrations` so that the specimen-to-specimen spread is
    measured; one pattern gives :func:`calibrate_scale`'s calibration."""
    patterns = list(patterns)
    if not patterns:
        raise XrdqQuantError("calibrate-scale: give at least one calibration pattern")
    runs = [calibrate_scale(p, phases, known=known, sample_composition=sample_composition, instrument=instrument,
                            **quantify_kwargs) for p in patterns]
    cals = [c for c, _ in runs]
    return (cals[0] if len(cals) == 1 else combine_calibrations(cals)), [r for _, r in runs]


def _phase_objects(phases):
    from ..model.ponkcs import resolve_any_phase

    return [resolve_any_phase(p) for p in phases]
