"""Refinement recipes: which parameter groups are refined at each stage.

A group selects the parameters whose spec (:mod:`xrdq.refine.specs`) names it. Groups: ``cell``, ``displacement``, ``zero``,
``transparency`` (the specimen's penetration 1/µ), ``gaussian`` (U, W), ``profile`` (U, V, W, X, Y),
``tan_lorentzian`` (Y alone: the Lorentzian tanθ width, microstrain shared by all phases or the
instrument's), ``asymmetry`` (S/L = H/L), ``flat_specimen`` (the flat-specimen aberration's divergence), ``size`` and ``strain`` (per phase, Lorentzian), ``po``
(March–Dollase), ``biso`` (per-phase overall B), ``xyz`` (the free coordinates of the phases in ``coordinates``),
``humps`` (centre and width of amorphous humps).
Scales, background coefficients and hump areas enter linearly and are solved at every step.

An *adaptive* recipe (the default) then lets the data decide, term by term, whether a higher
background order, a zero shift, the specimen's transparency, the tanθ Lorentzian, asymmetry, per-phase strain or
a March–Dollase texture term is warranted (:mod:`xrdq.refine.adaptive`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import XrdqRefineError
from .specs import GROUPS  # each parameter's spec names the groups that refine it



@dataclass(frozen=True)
class Stage:
    name: str
    refine: tuple = ()
    max_nfev: int = 100

    def __post_init__(self):
        unknown = set(self.refine) - set(GROUPS)
        if unknown:
            raise XrdqRefineError(f"recipe stage {self.name!r}: unknown group(s) {sorted(unknown)}; known: {list(GROUPS)}")


@dataclass(frozen=True)
class Recipe:
    """An ordered list of stages plus the background model."""

    stages: tuple = ()
    background_terms: int = 8
    humps: tuple = ()  # ((centre, fwhm) start values in degrees 2θ), or "auto" count as int in options
    po: dict = field(default_factory=dict)  # phase name -> hkl of the preferred-orientation axis, or None: never
    size_axes: dict = field(default_factory=dict)  # phase name -> hkl of a uniaxial crystallite size's axis
    coordinates: tuple = ()  # phases whose free atomic coordinates the group "xyz" refines
    coordinate_candidates: tuple = ()  # adaptive: phases whose coordinates are tested (kept if the data warrant them)
    name: str = "custom"
    adaptive: bool = False  # after the stages, add the terms the data warrant (significance tests)
    texture: bool = True  # adaptive: may March–Dollase terms be tested for phases not named in ``po``?
    alpha: float = 1e-3  # adaptive: significance level of each test

    def describe(self) -> list:
        out = [{"stage": s.name, "refine": list(s.refine)} for s in self.stages]
        for stage in out:  # whose coordinates "xyz" moves
            if "xyz" in stage["refine"]:
                stage["coordinates"] = list(self.coordinates)
        return out


def default_recipe(*, preferred_orientation: dict | None = None, humps=(), background_terms: int = 8,
                   strain: bool = False, biso: bool = False, adaptive: bool = True, texture: bool = True,
                   alpha: float = 1e-3, uniaxial_size: dict | None = None, coordinates=(),
                   coordinate_candidates=()) -> Recipe:
    """Staged recipe for internal-standard QPA on lab data.

    background + scales → + cells, displacement and per-phase size → + Gaussian profile (U, W)
    → optional preferred orientation, strain, Biso → (``adaptive``) whatever further terms pass a
    significance test at level ``alpha``. ``preferred_orientation`` {phase: hkl} forces a March–Dollase
    term, {phase: None} forbids one; ``texture=False`` forbids all that were not forced. ``coordinates``: phases
    whose atomic coordinates are refined in the last stage (those their symmetry leaves free, light atoms held);
    ``coordinate_candidates``: phases whose coordinates the adaptive recipe tests as one term per phase.
    """
    h = ("humps",) if humps else ()
    stages = [
        Stage("background + scales", ()),
        # Positions and widths together: refined apart, the unexplained widths leave residuals so large
        # that Gauss–Newton crawls along the cell–displacement valley (120 evaluations instead of ~30).
        Stage("cells + displacement + sizes", ("cell", "displacement", "size") + h),
        # The Gaussian width only once the Lorentzian sample broadening is in: refined earlier, U and W
        # run into FWHM_G² < 0 where the width has no gradient.
        Stage("profile", ("cell", "displacement", "gaussian", "size") + h),
    ]
    extra = ()
    if any(v is not None for v in (preferred_orientation or {}).values()):
        extra += ("po",)
    if strain:
        extra += ("strain",)
    if biso:
        extra += ("biso",)
    if uniaxial_size:  # {phase: hkl}: a crystallite size of its own along that axis (platelets, needles)
        extra += ("size_shape",)
    if coordinates:  # an approximate structure model: its coordinates once the cell and profile are in
        extra += ("xyz",)
    if extra:
        stages.append(Stage("extras", stages[-1].refine + extra))
    return Recipe(stages=tuple(stages), background_terms=background_terms, humps=tuple(humps),
                  po=dict(preferred_orientation or {}), name="default", adaptive=adaptive, texture=texture,
                  alpha=alpha, size_axes={k: tuple(v) for k, v in (uniaxial_size or {}).items()},
                  coordinates=tuple(str(c) for c in coordinates),
                  coordinate_candidates=tuple(str(c) for c in coordinate_candidates if c not in coordinates))


def load_recipe(path) -> Recipe:
    """A recipe from TOML::

        background_terms = 10
        adaptive = true      # optional: add further terms when significance tests warrant them
        humps = [[25.0, 8.0]]
        coordinates = ["Li2ZrCl6"]   # optional: refine these phases' atomic coordinates (group "xyz")
        [po]
        LiAlCl4 = [0, 0, 1]
        [[stage]]
        name = "scales"
        refine = []
        [[stage]]
        name = "cells"
        refine = ["cell", "displacement"]
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise XrdqRefineError(f"{path}: recipe file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise XrdqRefineError(f"{path}: not valid TOML: {exc}") from exc
    stages = data.get("stage")
    if not stages:
        raise XrdqRefineError(f"{path}: a recipe needs at least one [[stage]] table")
    try:
        parsed = tuple(Stage(str(s.get("name", f"stage {i + 1}")), tuple(s.get("refine", ())), int(s.get("max_nfev", 100)))
                       for i, s in enumerate(stages))
        humps = tuple((float(c), float(w)) for c, w in data.get("humps", ()))
        po = {str(k): tuple(int(x) for x in v) for k, v in data.get("po", {}).items()}
        size_axes = {str(k): tuple(int(x) for x in v) for k, v in data.get("size_axes", {}).items()}
        coordinates = data.get("coordinates", [])
        if isinstance(coordinates, str) or not all(isinstance(c, str) for c in coordinates):
            raise TypeError(f"coordinates = {coordinates!r}: expected a list of phase names")
        coordinates = tuple(coordinates)
    except (TypeError, ValueError, AttributeError) as exc:
        raise XrdqRefineError(f"{path}: malformed recipe: {exc}") from exc
    except XrdqRefineError as exc:  # a stage's own check (an unknown group): say which file holds it
        raise XrdqRefineError(f"{path}: {exc}") from exc
    try:
        adaptive = bool(data.get("adaptive", False))
        texture = bool(data.get("texture", True))
        alpha = float(data.get("alpha", 1e-3))
    except (TypeError, ValueError) as exc:
        raise XrdqRefineError(f"{path}: malformed adaptive settings: {exc}") from exc
    if not 0.0 < alpha < 0.5:
        raise XrdqRefineError(f"{path}: alpha = {alpha} is not a significance level (expected 0 < alpha < 0.5)")
    if any(len(v) != 3 or not any(v) for v in (*po.values(), *size_axes.values())):
        raise XrdqRefineError(f"{path}: an axis under [po] or [size_axes] is not three integers h, k, l (not all zero)")
    return Recipe(stages=parsed, background_terms=int(data.get("background_terms", 8)), humps=humps, po=po,
                  name=path.stem, adaptive=adaptive, texture=texture, alpha=alpha, size_axes=size_axes,
                  coordinates=coordinates)
