"""Instrument descriptions: wavelengths, goniometer geometry and the instrumental profile.

Descriptions live in TOML (``reference_patterns/instruments/NAME.toml``) and convert to and from
GSAS-II ``.instprm`` so the two engines see the same instrument.

Profile conventions (Thompson–Cox–Hastings, degrees 2θ):
``FWHM_G² = U tan²θ + V tanθ + W`` (deg²) and ``FWHM_L = X / cosθ + Y tanθ`` (deg).
GSAS-II's U V W give the Gaussian *variance* σ² = FWHM_G² / (8 ln 2) in centidegrees², its X Y the
Lorentzian FWHM in centidegrees: U_GSAS = U · 10⁴ / (8 ln 2), X_GSAS = X · 100.
Axial divergence follows Finger, Cox & Jephcoat (1994) with ``s_l`` = S/L and ``h_l`` = H/L.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import XrdqInstrumentError
from .._toml import toml_value

CU_KA1 = 1.540593
CU_KA2 = 1.544427


@dataclass(frozen=True, kw_only=True)
class ProfileTerms:
    """The instrumental profile and 2θ zero: TCH ``U V W`` (deg²) and ``X Y`` (deg), FCJ asymmetry ``s_l``
    (S/L) and ``h_l`` (H/L), ``zero`` (deg 2θ), and ``flat_specimen`` — the equatorial divergence (deg) whose
    flat-specimen aberration is convolved explicitly (0: not modelled, its symmetric part left to U V W as in a
    plain TCH description). One definition for what an :class:`Instrument` describes and what a fit refines: a
    fit's refined profile is a ProfileTerms (the specimen's displacement lives in
    :class:`~xrdq.model.pattern.Specimen`)."""

    U: float = 0.0
    V: float = 0.0
    W: float = 0.002
    X: float = 0.02
    Y: float = 0.0
    s_l: float = 0.02
    h_l: float = 0.02
    zero: float = 0.0
    flat_specimen: float = 0.0

    def replace(self, **changes):
        """A copy with ``changes`` (an :class:`Instrument` stays an Instrument, validated again)."""
        return dataclasses.replace(self, **changes)


#: The names of :class:`ProfileTerms`, in order.
PROFILE_TERMS = tuple(f.name for f in dataclasses.fields(ProfileTerms))


@dataclass(frozen=True)
class Instrument(ProfileTerms):
    """A Bragg–Brentano diffractometer and its instrumental profile (the :class:`ProfileTerms`)."""

    name: str = "custom"
    wavelengths: tuple[tuple[float, float], ...] = ((CU_KA1, 1.0), (CU_KA2, 0.5))
    radius_mm: float = 150.0
    monochromator_two_theta: float | None = None  # degrees; None = no crystal monochromator
    divergence_slit_deg: float = 1.25
    variable_slit: bool = False
    irradiated_length_mm: float | None = None  # variable slit: constant irradiated length
    sample_length_mm: float | None = None  # fixed slit: beam overspill below the angle it fills
    soller_deg: float = 2.5
    receiving_slit_mm: float | None = None
    detector: str = ""
    profile: str = "tch"  # "tch": U V W X Y describe the instrument; "fp": built from the geometry
    emission_fwhm_ev: tuple = ()  # natural widths of the lines (eV), for "fp"; default Cu Kα1/Kα2
    # µ·t of a film over the specimen (Kapton tape or foil on an air-tight holder): every reflection is
    # attenuated by exp(−2 µt / sinθ) (xrdq.model.film.film_transmission); 0 = no film
    cover_film_mu_t: float = 0.0
    description: str = ""
    source: str = ""

    def __post_init__(self):
        where = f"instrument {self.name!r}" + (f" ({self.source})" if self.source else "")
        if not self.wavelengths:
            raise XrdqInstrumentError(f"{where}: at least one wavelength is needed")
        for lam, weight in self.wavelengths:
            if not (0.1 < lam < 5.0) or not (weight >= 0 and math.isfinite(weight)):
                raise XrdqInstrumentError(
                    f"{where}: wavelength ({lam}, {weight}) is not a lab X-ray line"
                    " (expected 0.1–5 Å with a non-negative relative intensity)"
                )
        if not max(w for _, w in self.wavelengths) > 0:
            raise XrdqInstrumentError(f"{where}: every wavelength has relative intensity 0; the strongest line "
                                      "(Kα1) needs a positive one, e.g. [[1.540593, 1.0], [1.544427, 0.5]]")
        # a NaN passes every comparison below and surfaced as an SVD failure deep in the fit
        for key in PROFILE_TERMS + ("radius_mm", "divergence_slit_deg", "soller_deg", "cover_film_mu_t",
                                    "monochromator_two_theta", "irradiated_length_mm", "sample_length_mm",
                                    "receiving_slit_mm"):
            v = getattr(self, key)
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v)):
                raise XrdqInstrumentError(f"{where}: field {key!r} = {v!r}; expected a finite number")
        if not 0.0 < self.divergence_slit_deg <= MAX_DIVERGENCE_SLIT:
            raise XrdqInstrumentError(f"{where}: divergence_slit_deg = {self.divergence_slit_deg:g}; expected the "
                                      f"slit's opening in degrees, 0–{MAX_DIVERGENCE_SLIT:g} (MiniFlex: 1.25)")
        for key in ("soller_deg", "irradiated_length_mm", "sample_length_mm", "receiving_slit_mm"):
            v = getattr(self, key)
            if v is not None and not v > 0:
                raise XrdqInstrumentError(f"{where}: field {key!r} = {v:g}; expected a positive value")
        if self.monochromator_two_theta is not None and not 0.0 < self.monochromator_two_theta < 180.0:
            raise XrdqInstrumentError(f"{where}: monochromator_two_theta = {self.monochromator_two_theta:g}; expected "
                                      "the monochromator's 2θ in degrees (graphite with Cu Kα: 26.57)")
        if self.radius_mm <= 0:
            raise XrdqInstrumentError(f"instrument {self.name!r}: radius_mm must be > 0, got {self.radius_mm}")
        if self.s_l < 0 or self.h_l < 0:
            raise XrdqInstrumentError(f"instrument {self.name!r}: s_l and h_l must be ≥ 0")
        if self.flat_specimen < 0:
            raise XrdqInstrumentError(f"instrument {self.name!r}: flat_specimen (degrees of equatorial divergence) "
                                      f"must be ≥ 0, got {self.flat_specimen}")
        if not (isinstance(self.cover_film_mu_t, (int, float)) and 0.0 <= self.cover_film_mu_t < 5.0):
            raise XrdqInstrumentError(f"instrument {self.name!r}: cover_film_mu_t (µ·t of the film over the specimen) "
                                      f"must be a number in [0, 5), got {self.cover_film_mu_t!r}")
        if self.profile not in ("tch", "fp"):
            raise XrdqInstrumentError(f"instrument {self.name!r}: profile must be 'tch' or 'fp', got {self.profile!r}")

    @property
    def wavelength(self) -> float:
        """The strongest line (Kα1), used for d-spacings, f′/f″ and reflection lists."""
        return max(self.wavelengths, key=lambda w: w[1])[0]

    @property
    def polarization_factor(self) -> float:
        """cos²2θ_m of the monochromator (1 without one: unpolarised tube, Kβ filter)."""
        if self.monochromator_two_theta is None:
            return 1.0
        return math.cos(math.radians(self.monochromator_two_theta)) ** 2

    # ---- TOML -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        # the description's own order: geometry, then the profile terms, then how the profile is built
        own = [k for k in d if k not in PROFILE_TERMS]
        at = own.index("profile")
        d = {k: d[k] for k in own[:at] + list(PROFILE_TERMS) + own[at:]}
        d["wavelengths"] = [list(w) for w in self.wavelengths]
        d["emission_fwhm_ev"] = list(self.emission_fwhm_ev)
        return {k: v for k, v in d.items() if v is not None and v != []}

    def to_toml(self) -> str:
        lines = [f"# xrdq instrument description: {self.name}"]
        for key, value in self.to_dict().items():
            lines.append(f"{key} = {toml_value(value)}")
        return "\n".join(lines) + "\n"

    def write_toml(self, path) -> Path:
        from .._atomic import atomic_write_text

        return atomic_write_text(path, self.to_toml())

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "", required=()) -> "Instrument":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise XrdqInstrumentError(
                f"{source or 'instrument'}: unknown field(s) {sorted(unknown)}; expected some of {sorted(known)}"
            )
        missing = [k for k in required if k not in data]
        if missing:
            raise XrdqInstrumentError(
                f"{source or 'instrument'}: no {' or '.join(repr(k) for k in missing)}; an instrument file states its "
                "wavelengths ([[Å, relative intensity], …], Cu Kα: [[1.540593, 1.0], [1.544427, 0.5]]) and goniometer "
                "radius_mm (docs/instrument.md)")
        data = dict(data)
        if "wavelengths" in data:
            try:
                data["wavelengths"] = tuple((float(l), float(w)) for l, w in data["wavelengths"])
            except (TypeError, ValueError) as exc:
                raise XrdqInstrumentError(
                    f"{source or 'instrument'}: field 'wavelengths' must be a list of [wavelength, intensity] pairs"
                ) from exc
        if "emission_fwhm_ev" in data:
            data["emission_fwhm_ev"] = tuple(float(x) for x in data["emission_fwhm_ev"])
        for key in PROFILE_TERMS + ("radius_mm", "divergence_slit_deg", "soller_deg", "cover_film_mu_t"):
            if key in data and not isinstance(data[key], (int, float)):
                raise XrdqInstrumentError(f"{source or 'instrument'}: field {key!r} must be a number, got {data[key]!r}")
        if source and "source" not in data:
            data["source"] = source
        return cls(**data)

    # ---- GSAS-II .instprm -------------------------------------------------------------------
    def to_instprm(self) -> str:
        """GSAS-II instrument parameters (Type PXC) for this instrument."""
        lam = sorted(self.wavelengths, key=lambda w: -w[1])
        lines = ["#GSAS-II instrument parameter file; written by xrdq", "Type:PXC", "Bank:1.0"]
        if len(lam) >= 2:
            ratio = lam[1][1] / lam[0][1]
            lines += [f"Lam1:{lam[0][0]:.6f}", f"Lam2:{lam[1][0]:.6f}", f"I(L2)/I(L1):{ratio:.4f}"]
        else:
            lines += [f"Lam:{lam[0][0]:.6f}"]
        polariz = 0.5 if self.monochromator_two_theta is None else _g2_polarization(self.polarization_factor)
        prof = gsas2_profile_terms(self.U, self.V, self.W, self.X, self.Y, self.s_l, self.h_l)
        lines += [
            f"Zero:{self.zero:.6f}",
            f"Polariz.:{polariz:.4f}",
            "Azimuth:0.0",
            *(f"{k}:{prof[k]:.6f}" for k in ("U", "V", "W", "X", "Y")),
            "Z:0.0",
            f"SH/L:{prof['SH/L']:.5f}",
            f"Source:{'CuKa' if abs(self.wavelength - CU_KA1) < 1e-3 else 'custom'}",
            "Diff-type:Bragg-Brentano",
            f"Gonio. radius:{self.radius_mm}",
        ]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_instprm(cls, text_or_path, *, name: str | None = None) -> "Instrument":
        """Read a GSAS-II ``.instprm`` (text or path). FCJ S/L and H/L are both set to (S+H)/L / 2."""
        text, source = _text_and_source(text_or_path)
        values: dict[str, str] = {}
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if ":" not in line:
                raise XrdqInstrumentError(f"{source}, line {lineno}: expected 'Key:value', got {raw!r}")
            key, value = line.split(":", 1)
            values[key.strip()] = value.strip().split(",")[0]

        def num(key, default=None):
            if key not in values:
                if default is None:
                    raise XrdqInstrumentError(f"{source}: field {key!r} is missing")
                return default
            try:
                return float(values[key])
            except ValueError as exc:
                raise XrdqInstrumentError(f"{source}: field {key!r} is not a number: {values[key]!r}") from exc

        if values.get("Type", "PXC")[:3] not in ("PXC", "PXB"):
            raise XrdqInstrumentError(f"{source}: only constant-wavelength X-ray (Type PXC) is supported, got {values.get('Type')!r}")
        if "Lam1" in values:
            wl = ((num("Lam1"), 1.0), (num("Lam2"), num("I(L2)/I(L1)", 0.5)))
        else:
            wl = ((num("Lam"), 1.0),)
        polariz = num("Polariz.", 0.5)
        mono = None
        if abs(polariz - 0.5) > 1e-3:
            # GSAS-II: P = (1 - K)/(1 + K)-like fraction; K = cos²2θm recovered from P = 1/(1+K)
            k = 1.0 / polariz - 1.0 if polariz > 0 else 1.0
            mono = math.degrees(math.acos(min(1.0, math.sqrt(max(k, 0.0))))) if k < 1 else None
        shl = num("SH/L", 0.002)
        return cls(
            radius_mm=num("Gonio. radius", 150.0),
            name=name or Path(source).stem,
            wavelengths=wl,
            monochromator_two_theta=mono,
            U=num("U", 0.0) / _G2_UVW,
            V=num("V", 0.0) / _G2_UVW,
            W=num("W", 0.0) / _G2_UVW,
            X=num("X", 0.0) / 100,
            Y=num("Y", 0.0) / 100,
            s_l=shl / 2,
            h_l=shl / 2,
            zero=num("Zero", 0.0),
            source=source,
        )


#: xrdq U V W (Gaussian FWHM², deg²) → GSAS-II U V W (Gaussian variance, centideg²)
_G2_UVW = 1e4 / (8.0 * math.log(2.0))


def gsas2_profile_terms(U, V, W, X, Y, s_l, h_l) -> dict:
    """xrdq's TCH/FCJ profile terms in GSAS-II's units and conventions.

    U V W: Gaussian *variance* σ² = FWHM²/(8 ln 2) in centidegrees² (xrdq: FWHM² in deg²); X Y:
    Lorentzian FWHM terms in centidegrees (xrdq: degrees); SH/L = S/L + H/L (GSAS-II's FCJ takes
    S = H), floored at 0.0005 as GSAS-II requires a positive value.
    """
    return {"U": U * _G2_UVW, "V": V * _G2_UVW, "W": W * _G2_UVW, "X": X * 100.0, "Y": Y * 100.0,
            "SH/L": max(s_l + h_l, 0.0005)}


def _g2_polarization(k: float) -> float:
    # GSAS-II's Polariz. is the fraction P in LP ∝ P + (1-P)cos²2θ ... for K = cos²2θm, P = 1/(1+K)
    return 1.0 / (1.0 + k)


def _text_and_source(text_or_path):
    if isinstance(text_or_path, Path) or (isinstance(text_or_path, str) and "\n" not in text_or_path and Path(text_or_path).exists()):
        path = Path(text_or_path)
        try:
            return path.read_text(encoding="utf-8", errors="replace"), str(path)
        except OSError as exc:
            raise XrdqInstrumentError(f"{path}: cannot read instrument file: {exc.strerror}") from exc
    if isinstance(text_or_path, str) and "\n" not in text_or_path:
        raise XrdqInstrumentError(f"{text_or_path}: instrument file not found")
    return str(text_or_path), "<instprm text>"


def list_instruments() -> list[str]:
    from reference_patterns import INSTRUMENTS

    return sorted(p.stem for p in INSTRUMENTS.glob("*.toml"))


def load_instrument(name_or_path="miniflex600") -> Instrument:
    """An :class:`Instrument` by bundled name (``miniflex600``, ``cpd-pw3020``), TOML path or ``.instprm`` path."""
    if isinstance(name_or_path, Instrument):
        return name_or_path
    from reference_patterns import INSTRUMENTS

    text = str(name_or_path)
    path = Path(text)
    if not path.exists():
        candidate = INSTRUMENTS / f"{text.lower()}.toml"
        if not candidate.exists():
            raise XrdqInstrumentError(
                f"unknown instrument {text!r}: not a file, and not one of the bundled {list_instruments()}"
            )
        path = candidate
    if path.suffix.lower() == ".instprm":
        return Instrument.from_instprm(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise XrdqInstrumentError(f"{path}: not valid TOML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise XrdqInstrumentError(f"{path}: cannot read instrument file: {exc}") from exc
    data.setdefault("name", path.stem)
    # the geometry every description must state: left out, Cu Kα on a 150 mm goniometer was assumed without a word
    return Instrument.from_dict(data, source=str(path), required=("wavelengths", "radius_mm"))


#: Widest fixed divergence slit (degrees) of a Bragg–Brentano powder diffractometer (common ones: 1/32°–2°).
MAX_DIVERGENCE_SLIT = 4.0
_ANGLE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:/\s*(\d+(?:\.\d*)?))?\s*deg\s*", re.IGNORECASE)


def measured_divergence_slit(attrs) -> float | None:
    """The fixed divergence slit (degrees) the file says the pattern was measured with — ``"0.625deg"``, ``"1/4deg"``
    in Rigaku headers — or None (not given, or a width in mm, whose angle needs the slit's distance)."""
    m = _ANGLE.fullmatch(str(attrs.get("divergence_slit") or ""))
    if not m or (m.group(2) and not float(m.group(2)) > 0):
        return None
    return float(m.group(1)) / (float(m.group(2)) if m.group(2) else 1.0)


def measured_instrument(pattern, inst):
    """(instrument, notes): ``inst`` with the divergence slit the file says it was measured with.

    The instrument description's slit is a nominal one (MiniFlex: 1.25°), but MiniFlex files are as often measured
    at 0.625°. The angle sets a declared specimen's overspill (where the beam R·α/sinθ outgrows it), the
    fundamental-parameters profile's flat-specimen width, and which measurements a scale calibration (G) may be
    used with; the file's value is the measurement's. A note says so where it changes a number. A file that says
    its slit ran in a constant-irradiation (variable-slit) mode, quantified with a fixed-slit instrument, is
    warned about: its intensities may go as sinθ."""
    notes = []
    ds = measured_divergence_slit(pattern.attrs)
    if ds is not None and not 0.0 < ds <= MAX_DIVERGENCE_SLIT:
        notes.append(f"the file's divergence slit {pattern.attrs.get('divergence_slit')!r} is no slit a powder "
                     f"diffractometer has (expected 0–{MAX_DIVERGENCE_SLIT:g}°): instrument {inst.name!r}'s "
                     f"{inst.divergence_slit_deg:g}° is used — is the header intact?")
        ds = None
    if ds is not None and not inst.variable_slit and abs(ds - inst.divergence_slit_deg) > 1e-9:
        uses = [what for what, used in (("a declared specimen's overspill", inst.sample_length_mm),
                                        ("the fundamental-parameters profile", inst.profile == "fp")) if used]
        if uses:
            notes.append(f"divergence slit {ds:g}° as the file says (instrument {inst.name!r} describes "
                         f"{inst.divergence_slit_deg:g}°): used for {' and '.join(uses)}")
        inst = inst.replace(divergence_slit_deg=ds)
    mode = pattern.attrs.get("irradiation_mode")
    if mode and not inst.variable_slit:
        width = pattern.attrs.get("irradiation_width")
        notes.append(f"the file says the slit ran in irradiation mode {mode!r}{f' (width {width})' if width else ''}; "
                     f"instrument {inst.name!r} has a fixed slit: if that mode kept the irradiated length constant "
                     "(a variable slit) and the intensities were not converted, they go as sinθ — quantify with an "
                     "instrument with variable_slit = true and irradiated_length_mm")
    return inst, notes
