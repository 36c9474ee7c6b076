"""The refinement and quantification settings a user can give as text, in one table.

``xrdq quantify`` and ``xrdq batch`` build their options from :data:`SETTINGS` (xrdq.cli.options), and
a batch manifest reads the same names as columns (xrdq.batch.inputs), so an option exists in all three
places or in none. Each entry turns text into a keyword argument of :func:`xrdq.quantify`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .errors import XrdqQuantError

#: Words that mean yes / no in a manifest cell.
_TRUE = ("1", "yes", "y", "true", "t", "on", "x")
_FALSE = ("0", "no", "n", "false", "f", "off", "")
#: ``--standard`` values that mean "no internal standard".
NO_STANDARD = ("none", "no", "-")


def parse_standard_text(text: str):
    """``"LiF=0.5"`` → ``("LiF", 0.5)``; ``none`` → None. W_s outside (0, 1) is refused (50 with a hint: 0.50)."""
    t = str(text).strip()
    if t.lower() in NO_STANDARD or not t:
        return None
    name, sep, value = t.partition("=")
    if not sep or not name.strip():
        raise XrdqQuantError(f"standard {t!r}: expected NAME=W_S, e.g. LiF=0.5 (or 'none')")
    try:
        w_s = float(value)
    except ValueError:
        raise XrdqQuantError(f"standard {t!r}: W_S {value!r} is not a number") from None
    from .quant.internal_standard import check_standard_inputs  # numpy: not at import (xrdq --help)

    try:
        check_standard_inputs(w_s, 1.0)
    except XrdqQuantError as exc:
        raise XrdqQuantError(f"standard {t!r}: {exc}") from None
    return name.strip(), w_s


def _name_value(text: str, what: str, example: str):
    name, sep, value = str(text).partition("=")
    if not sep or not name.strip() or not value.strip():
        raise XrdqQuantError(f"{what} {text!r}: expected {example}")
    return name.strip(), value.strip()


def parse_brindley(text: str) -> tuple[str, float]:
    """``"LiF=5"`` → ``("LiF", 5.0)``: Brindley particle diameter in µm."""
    name, value = _name_value(text, "brindley", "NAME=DIAMETER_UM, e.g. LiF=5")
    try:
        d = float(value)
    except ValueError:
        raise XrdqQuantError(f"brindley {text!r}: diameter {value!r} is not a number (µm)") from None
    if not d > 0 or d == float("inf"):
        raise XrdqQuantError(f"brindley {text!r}: the particle diameter must be a positive number of µm")
    return name, d


def _cover_film(text: str) -> str:
    from .quant.composition import parse_cover_film

    parse_cover_film(text)  # a clear error now, not after the fit
    return str(text).strip()


def parse_preferred_orientation(text: str, what: str = "preferred orientation") -> tuple[str, tuple[int, int, int] | None]:
    """``"LiCl=1,1,1"`` (or ``0 0 1``, ``001``) → ``("LiCl", (1, 1, 1))``: the March–Dollase axis of a phase;
    ``"LiF=none"`` → ``("LiF", None)``: no texture for that phase (the adaptive recipe does not test it)."""
    name, value = _name_value(text, what, "PHASE=h,k,l, e.g. LiCl=0,0,1, or PHASE=none")
    if value.lower() == "none":
        return name, None
    return name, _axis(text, value, what)


def _axis(text: str, value: str, what: str) -> tuple[int, int, int]:
    """The h,k,l of ``value`` (``1,1,1``, ``0 0 1`` or ``001``); ``text`` and ``what`` name it in the error."""
    parts = value.replace(",", " ").split()
    if len(parts) == 1 and len(parts[0]) == 3 and parts[0].isdigit():
        parts = list(parts[0])  # "001"
    try:
        hkl = tuple(int(p) for p in parts)
    except ValueError:
        hkl = ()
    if len(hkl) != 3 or hkl == (0, 0, 0):
        hint = ", or PHASE=none" if what == "preferred orientation" else ""
        raise XrdqQuantError(f"{what} {text!r}: expected three integers h,k,l (not all zero), e.g. LiCl=0,0,1{hint}")
    return hkl


def parse_size_axis(text: str) -> tuple[str, tuple[int, int, int]]:
    """``"MgOH2=0,0,1"`` → ``("MgOH2", (0, 0, 1))``: the axis of a phase's uniaxial crystallite size."""
    name, value = _name_value(text, "uniaxial size", "PHASE=h,k,l, e.g. MgOH2=0,0,1")
    return name, _axis(text, value, "uniaxial size")


def parse_flag(text: str) -> bool:
    t = str(text).strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise XrdqQuantError(f"{text!r} is not yes/no (expected one of {', '.join(_TRUE + _FALSE[:-1])})")


def parse_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise XrdqQuantError(f"{text!r} is not a number") from None
    if v != v or v in (float("inf"), float("-inf")):  # an esd of nan printed "± nan" with verdict ok
        raise XrdqQuantError(f"{text!r} is not a finite number")
    return v


def parse_range(text: str) -> tuple[float, float]:
    """``"10 80"`` or ``"10;80"`` (a manifest cell) → (10.0, 80.0) degrees 2θ."""
    parts = str(text).replace(";", " ").replace(",", " ").split()
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise XrdqQuantError(f"2θ range {text!r}: expected MIN MAX in degrees, e.g. 10 80") from None
    return check_range((lo, hi))


def check_range(pair) -> tuple[float, float]:
    lo, hi = float(pair[0]), float(pair[1])
    if not (0.0 < lo < hi < 180.0):
        raise XrdqQuantError(f"2θ range {lo:g} {hi:g}: expected 0 < MIN < MAX < 180 degrees")
    return lo, hi


@dataclass(frozen=True)
class Setting:
    """One user-facing setting: its option/column name, the quantify keyword it sets and how."""

    name: str  # option name with underscores: --two-theta-range ↔ manifest column two_theta_range
    key: str  # quantify keyword argument it sets
    help: str
    parse: Callable[[str], Any] | None = None  # one text value → value (None: plain text)
    kind: str = "value"  # "value", "multiple" (repeatable; ';' in a manifest cell), "flag", "pair"
    metavar: str | None = None
    default: Any = None
    choices: tuple = ()
    #: what a set flag / the collected values mean for ``key`` (None: the value itself)
    apply: Callable[[Any], Any] | None = None

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")


def _composition(text: str) -> str:
    from .quant.composition import parse_composition

    parse_composition(text)  # a clear error now, not after the fit
    return str(text).strip()


def _coordinate_phase(text: str) -> str:
    name = str(text).strip()
    if not name:
        raise XrdqQuantError("refine-coordinates: expected a phase name (or 'none')")
    return name


def _coordinate_phases(names):
    """The phases named (``none`` alone: no coordinates refined, not even an approximate CIF's)."""
    if any(n.lower() == "none" for n in names):
        if len(names) > 1:
            raise XrdqQuantError(f"refine-coordinates {names}: 'none' cannot be given with phase names")
        return ()
    return tuple(names)


def _dict(pairs):
    return dict(pairs) or None


SETTINGS: tuple[Setting, ...] = (
    Setting("phase", "phases", "A crystalline phase: a bundled name (see `xrdq phases`), a CIF, or NAME=CIF; "
            "repeat, or separate with ';'. The standard is added if not listed.",
            kind="multiple", metavar="[NAME=]CIF_OR_NAME", apply=list),
    Setting("standard", "standard", "Internal standard and its weighed weight fraction W_s (0–1) in the "
            "mixture; 'none' = --no-standard.", parse=parse_standard_text, metavar="NAME=W_S", default="LiF=0.5"),
    Setting("no_standard", "standard", "No internal standard: crystalline fractions normalised to 100 %.",
            kind="flag", apply=lambda on: None),
    Setting("standard_purity", "purity", "Crystalline fraction c of the standard material.",
            parse=parse_float, default=1.0),
    Setting("standard_esd", "standard_esd", "Weighing error σ(W_s).", parse=parse_float, default=0.0),
    Setting("purity_esd", "purity_esd", "σ(c) of the standard purity.", parse=parse_float, default=0.0),
    Setting("instrument", "instrument", "Bundled instrument ({instruments}), an instrument TOML or a GSAS-II "
            ".instprm file (docs/instrument.md).", metavar="NAME_OR_FILE", default="miniflex600"),
    Setting("engine", "engine", "Refinement engine (gsas2 needs GSAS-II, docs/gsas2.md).",
            choices=("native", "gsas2"), default="native"),
    Setting("two_theta_range", "two_theta_range", "Refine only this 2θ range (degrees).", parse=parse_range,
            kind="pair", metavar="MIN MAX"),
    Setting("recipe", "recipe", "Refinement recipe: a TOML file (docs/recipes.md), or with --engine gsas2 a "
            "named GSAS-II recipe: default, default+po, gsas2-fcj, gsas2-fcj+po (docs/gsas2.md).",
            metavar="TOML_OR_NAME"),
    Setting("brindley", "brindley", "Brindley microabsorption correction with this particle diameter (µm); "
            "repeat per phase.", parse=parse_brindley, kind="multiple", metavar="NAME=DIAMETER_UM", apply=_dict),
    Setting("cover_film", "cover_film", "Film over the specimen (air-tight holder, Kapton tape): MATERIAL=µm "
            "(kapton, mylar, polyethylene, polypropylene, beryllium) or mu_t=µ·t; its exp(−2µt/sinθ) "
            "attenuation of low angles is corrected (docs/method.md §2).", parse=_cover_film, metavar="MATERIAL=UM"),
    Setting("sample_length", "sample_length", "Length (mm) of the specimen along the beam: with a fixed divergence "
            "slit the beam overspills it below the angle it fills (MiniFlex, 1.25°, 20 mm: below 2θ = 18.8°), and "
            "those reflections are corrected (docs/instrument.md).", parse=parse_float, metavar="MM"),
    Setting("berar_lelann", "berar_lelann", "Inflate esds for serially correlated residuals (Bérar–Lelann).",
            kind="flag", apply=bool),
    Setting("no_humps", "humps", "Do not model amorphous humps (background polynomial only).", kind="flag",
            apply=lambda on: [] if on else "auto"),
    Setting("preferred_orientation", "preferred_orientation", "Refine March–Dollase preferred orientation of "
            "PHASE along h,k,l, or PHASE=none for no texture of that phase (otherwise the adaptive recipe tests "
            "it); repeat per phase.", parse=parse_preferred_orientation, kind="multiple",
            metavar="PHASE=h,k,l|none", apply=_dict),
    Setting("no_texture", "texture", "Do not test any phase for March–Dollase texture (phases given "
            "--preferred-orientation are still refined).", kind="flag", apply=lambda on: not on),
    Setting("uniaxial_size", "uniaxial_size", "Refine a crystallite size of PHASE along h,k,l of its own, beside "
            "the one across it (platelets, needles; the adaptive recipe also tests it); repeat per phase.",
            parse=parse_size_axis, kind="multiple", metavar="PHASE=h,k,l", apply=_dict),
    Setting("refine_coordinates", "coordinates", "Refine the atomic coordinates of PHASE (those its sites' symmetry "
            "leaves free; Li and H held), final stage; repeat per phase, or 'none'. Default: the phases whose CIF "
            "calls its coordinates approximate or noisy (the adaptive test).", parse=_coordinate_phase, kind="multiple",
            metavar="PHASE|none", apply=_coordinate_phases),
    Setting("strain", "strain", "Also refine each phase's microstrain (Lorentzian, final stage).", kind="flag",
            apply=bool),
    Setting("biso", "biso", "Also refine an overall B per phase (final stage); use the same choice for a G "
            "calibration and its samples.", kind="flag", apply=bool),
    Setting("external_standard", "external_standard", "Absolute fractions without a spike from the instrument "
            "constant G (`xrdq calibrate-scale`, docs/method.md §8); needs --sample-composition.",
            metavar="G.toml"),
    Setting("sample_composition", "sample_composition", "Bulk composition of the (unspiked) sample for µ*: a "
            "formula (Li2.7Al0.7Zr0.3Cl6) or FORMULA:WEIGHT pairs (Al2O3:30.8,SiO2:29.5).",
            parse=_composition, metavar="SPEC"),
    Setting("model_uncertainty", "model_uncertainty", "Recipe variants behind each standard uncertainty: full "
            "(+45–75 % fit time), fast (+5–15 %) or off [quantify: full; batch: fast].",
            choices=("full", "fast", "off")),
)

#: Older manifest column names still read.
COLUMN_ALIASES = {"phases": "phase", "purity": "standard_purity"}


def by_name() -> dict[str, Setting]:
    return {s.name: s for s in SETTINGS}


def settings_from_values(values: dict) -> dict:
    """Quantify keyword arguments from parsed option values keyed by :attr:`Setting.name`.

    ``values`` holds what the command line (or a manifest row) gave: flags as bools, multiple settings as
    lists of parsed items, others parsed. Settings that are absent (None, or an unset flag / empty list
    where no flag was given) are left out, so the caller's defaults stand. ``--no-standard`` wins over
    ``--standard``.
    """
    out = {}
    for s in SETTINGS:
        if s.name not in values:
            continue
        v = values[s.name]
        if s.kind == "flag":
            if v is None or (v is False and s.key in out):
                continue
            if s.key == "standard" and not v:
                continue  # an unset --no-standard leaves --standard alone
            out[s.key] = s.apply(v) if s.apply else bool(v)
        elif s.kind == "multiple":
            if v is None or not len(v):  # none given: the default stands (for coordinates, "auto" is not "none")
                continue
            out[s.key] = s.apply(list(v)) if s.apply else list(v)
        else:
            if v is None and s.key != "standard":
                continue
            out[s.key] = s.apply(v) if s.apply else v
    return out


def parse_cell(setting: Setting, text: str):
    """A manifest cell (text) → the value :func:`settings_from_values` expects for ``setting``."""
    if setting.kind == "flag":
        return parse_flag(text)
    if setting.kind == "multiple":
        items = [t.strip() for t in str(text).split(";") if t.strip()]
        return [setting.parse(t) if setting.parse else t for t in items]
    if setting.kind == "pair":
        return parse_range(text)
    if setting.choices and text not in setting.choices:
        raise XrdqQuantError(f"{text!r}: expected one of {', '.join(setting.choices)}")
    return setting.parse(text) if setting.parse else text
