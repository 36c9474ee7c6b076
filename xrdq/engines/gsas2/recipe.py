"""The GSAS-II engine's recipe: which GSAS-II parameters each refinement step turns on (pure data,
no GSAS-II needed to build or check one)."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import XrdqRefineError
from ...refine.recipe import Recipe
from ...refine.specs import MIN_CRYSTALLITE_NM


PROFILE_TERMS = ("U", "V", "W", "X", "Y", "SH/L")

#: GsasRecipe.fcj values: GSAS-II's own FCJ quadrature, or the exact-weight one of :func:`fcj_exact`.
FCJ_QUADRATURES = ("gsas2", "exact")

#: Most nodes of the exact FCJ quadrature (the count per peak follows xrdq's own model).
FCJ_NODES = 16

#: Profile terms refined by default: the Gaussian U and W, as in the native engine, and the FCJ
#: asymmetry SH/L. The instrument's V, X and Y are held at the values of the instrument description.
DEFAULT_PROFILE = ("U", "W", "SH/L")

#: The default refinement strategy, the native engine's recipe in GSAS-II's vocabulary. Steps are
#: cumulative: what a step turns on stays on until a step sets it to ``False``. Before the first step xrdq
#: always runs one internal step (background + histogram scale) and folds the refined histogram scale into
#: the phase fractions, which then carry the scale alone. Amorphous humps (background peaks): their areas are
#: refined with the background from the start, their positions and Gaussian widths from the step that sets
#: ``humps`` (the native engine frees hump centres and widths in its second stage too).
#: The default integrates the FCJ asymmetry exactly (``GsasRecipe.fcj = "exact"``).
DEFAULT_STEPS: tuple[dict, ...] = (
    {"name": "background+fractions", "background": True, "fractions": True},
    # peak positions before widths: with the positions still off, broader peaks lower χ² and LM ran the sizes
    # of 0.5–1 µm phases past their lower limit (then held at 1 µm: 2 wt% off on lazco_a40_rep_r01)
    {"name": "cells+displacement", "cells": True, "displacement": True},
    # widths with the positions held: GSAS-II's first cycle is an undamped Gauss–Newton step, and refined
    # together with the cells and displacement from the 0.03 µm start it sent the 0.4–0.5 µm LiF standard
    # below its lower limit (then held at 1 µm: −4.3 wt% amorphous on oxide_a00, −2 on licl_zro2_a30)
    {"name": "size (positions held)", "cells": False, "displacement": False, "size": True},
    # hump positions and widths once the Bragg widths are settled: freed with sizes still at their 0.03 µm
    # start, a hump ran to its centre limit and its widest width on lahc_a25, then to the other limit
    {"name": "cells+displacement+size", "cells": True, "displacement": True, "humps": True},
    {"name": "profile", "profile": DEFAULT_PROFILE},
)

#: ``recipe="gsas2-fcj"``: the default steps with GSAS-II's own FCJ quadrature and SH/L held. Refined
#: against that quadrature, SH/L would absorb the quadrature's error rather than describe the instrument.
GSAS2_FCJ_STEPS: tuple[dict, ...] = DEFAULT_STEPS[:-1] + ({"name": "profile", "profile": ("U", "W")},)

PREFERRED_ORIENTATION_STEP = {"name": "preferred orientation", "preferred_orientation": True}

_STEP_KEYS = {"name", "background", "fractions", "cells", "displacement", "zero", "transparency", "profile", "size",
              "strain", "humps", "preferred_orientation", "uniaxial_size", "structure", "cycles"}


@dataclass
class GsasRecipe:
    """How GSAS-II is driven.

    ``steps``: sequence of dicts, each turning on (cumulatively; ``False`` turns a term off again) some of
    ``background`` (bool), ``fractions`` (bool), ``cells`` (bool), ``displacement`` (bool, sample
    height ``Shift``), ``zero`` (bool), ``transparency`` (bool, the specimen's ``Transparency``: in GSAS-II the
    mean peak shift sin2θ/(2µR) only, without the exponential tail the native model also has),
    ``profile`` (True or a subset of U V W X Y SH/L),
    ``humps`` (True: also refine the positions and Gaussian widths of the amorphous humps; their
    areas are always refined with the background), ``size`` (True for every phase, or a list of phase names: isotropic crystallite size, µm,
    Lorentzian), ``strain`` (likewise: isotropic microstrain, µstrain), ``preferred_orientation`` (True for every non-cubic phase, or a list of phase names,
    March–Dollase along ``po_axis``; or {phase: (h, k, l)}, each about its own axis, a cubic phase's ratio starting at
    the native probe), ``uniaxial_size`` ({phase: (h, k, l)}: GSAS-II's uniaxial size about that
    axis, its axial size refined beside the equatorial one from where the isotropic size stood; the native
    engine's uniaxial crystallite size), ``structure`` ({phase: {"atoms": [labels], "pairs": [(label, label)]}}:
    X flags on those atoms' coordinates, GSAS-II applying their site symmetry, and F flags on each pair of partly
    occupied sites with their summed occupancy held by a constraint — what the native engine refined), ``cycles``
    (max least-squares cycles for that step).

    ``size_fixed_um``: crystallite size of every phase until a step refines it (µm; GSAS-II's
    Scherrer term with K = 1, the native engine's convention; 1 µm is nearly negligible, like the
    native engine's zero size broadening); ``size_start_um``: where a size starts when a step first
    refines it; ``size_lg_mix``: GSAS-II's Lorentzian/Gaussian mixing of
    the size term (1 = pure Lorentzian, as in the native engine); ``size_limits_um``: GSAS-II
    parameter limits (the lower one the native engine's smallest crystallite, 8 nm) (a size refined outside them is reset to the limit and frozen); ``size_retry_um``: after a step
    that refines the instrument profile, a size frozen at the upper limit restarts here once and the step
    runs again, the lower χ² standing (None: off) — a size that ran there from peaks the start profile
    made too broad is refined against the refined profile. A small start
    is deliberate: the width is linear in 1/size, so least squares in size converges from below
    (Newton for a reciprocal) but overshoots to negative sizes from far above. Microstrain starts
    (and, unless a step refines ``strain``, stays) at 0.

    ``fcj``: how the Finger–Cox–Jephcoat axial-divergence convolution is integrated. ``"exact"``
    (default): the FCJ weight function integrated after the change of variable that removes its
    singularity (:func:`fcj_exact`), with as many nodes per peak as xrdq's own model, each node
    GSAS-II's own pseudo-Voigt. ``"gsas2"``: GSAS-II's own (``PSVFCJO``), whose number of
    Gauss–Legendre nodes scales as the asymmetry's angular extent over the Lorentzian width and drops
    to a single node — a plain shift of the peak — for Lorentzian-broadened peaks at low angle (e.g.
    60–90 nm crystallites below ≈ 40° 2θ with SH/L = 0.05), off the exact convolution by up to a
    quarter of the peak height; it is what the GSAS-II GUI computes for the same project (named
    recipe ``"gsas2-fcj"``).

    ``alpha``: significance level of the cell check (:mod:`.guards`: a cell that ran more than 1 % from its
    structure's is kept only if it fits significantly better), the native recipe's default.
    """

    steps: tuple = DEFAULT_STEPS
    background_terms: int = 8
    max_cycles: int = 10
    po_axis: tuple = (0, 0, 1)
    phase_curves: bool = True
    size_start_um: float = 0.03
    size_fixed_um: float = 1.0
    size_lg_mix: float = 1.0
    size_limits_um: tuple = (MIN_CRYSTALLITE_NM / 1000.0, 10.0)
    size_retry_um: float | None = 0.3
    fcj: str = "exact"
    alpha: float = Recipe.alpha

    @classmethod
    def coerce(cls, recipe) -> "GsasRecipe":
        if recipe is None:
            return cls()
        if isinstance(recipe, GsasRecipe):
            return recipe
        if isinstance(recipe, str):
            key = recipe.strip().lower().replace("_", "-")
            if key in ("default", "", "exact-fcj"):
                return cls()
            if key in ("default+po", "po", "preferred-orientation", "default+preferred-orientation", "exact-fcj+po"):
                return cls(steps=DEFAULT_STEPS + (PREFERRED_ORIENTATION_STEP,))
            if key == "gsas2-fcj":
                return cls(steps=GSAS2_FCJ_STEPS, fcj="gsas2")
            if key == "gsas2-fcj+po":
                return cls(steps=GSAS2_FCJ_STEPS + (PREFERRED_ORIENTATION_STEP,), fcj="gsas2")
            raise XrdqRefineError(
                f"unknown GSAS-II recipe {recipe!r}; use 'default', 'default+po', 'gsas2-fcj', 'gsas2-fcj+po', "
                "a list of steps or a dict"
            )
        if isinstance(recipe, dict):
            known = {"steps", "background_terms", "max_cycles", "po_axis", "phase_curves", "preferred_orientation",
                     "size_start_um", "size_fixed_um", "size_lg_mix", "size_limits_um", "size_retry_um", "fcj",
                     "alpha"}
            unknown = set(recipe) - known
            if unknown:
                raise XrdqRefineError(f"unknown GSAS-II recipe key(s) {sorted(unknown)}; expected some of {sorted(known)}")
            kw = {k: v for k, v in recipe.items() if k in known - {"steps", "preferred_orientation"}}
            steps = tuple(recipe.get("steps") or (GSAS2_FCJ_STEPS if kw.get("fcj") == "gsas2" else DEFAULT_STEPS))
            if recipe.get("preferred_orientation"):
                po = recipe["preferred_orientation"]
                steps = steps + ({"name": "preferred orientation", "preferred_orientation": po},)
            out = cls(steps=steps, **kw)
        else:
            out = cls(steps=tuple(recipe))
        if out.fcj not in FCJ_QUADRATURES:
            raise XrdqRefineError(f"GSAS-II recipe: fcj must be one of {FCJ_QUADRATURES}, got {out.fcj!r}")
        for step in out.steps:
            if not isinstance(step, dict):
                raise XrdqRefineError(f"GSAS-II recipe step must be a dict, got {step!r}")
            bad = set(step) - _STEP_KEYS
            if bad:
                raise XrdqRefineError(f"GSAS-II recipe step {step.get('name', step)!r}: unknown key(s) {sorted(bad)}; "
                                      f"expected some of {sorted(_STEP_KEYS)}")
            prof = step.get("profile")
            if isinstance(prof, str):
                raise XrdqRefineError(f"GSAS-II recipe: profile must be True or a list of terms, got {prof!r}")
            if prof not in (None, True, False) and set(prof) - set(PROFILE_TERMS):
                raise XrdqRefineError(f"GSAS-II recipe: profile terms must be among {PROFILE_TERMS}, got {prof!r}")
            po = step.get("preferred_orientation")
            if isinstance(po, dict):
                for name, axis in po.items():
                    if not (isinstance(axis, (list, tuple)) and len(axis) == 3
                            and all(isinstance(i, (int, float)) and float(i) == int(i) for i in axis)
                            and any(int(i) for i in axis)):
                        raise XrdqRefineError(f"GSAS-II recipe step {step.get('name', '')!r}: preferred_orientation "
                                              f"{name!r} must be an axis h, k, l of three integers, not all 0; got {axis!r}")
        return out

    def refines_shl(self) -> bool:
        """True when some step refines the FCJ asymmetry SH/L."""
        return any(s.get("profile") is True or "SH/L" in (s.get("profile") or ()) for s in self.steps)

    def describe(self, humps=()) -> list[str]:
        out = [f"initial: background (Chebyshev, {self.background_terms} terms) + histogram scale, folded into phase fractions"]
        if humps:
            out.append("amorphous humps as GSAS-II background peaks, starting at "
                       + ", ".join(f"{float(c):.1f}° (FWHM {float(f):.1f}°)" for c, f in humps)
                       + ": area in the initial step, area, position and widths whenever the background is refined")
        for i, s in enumerate(self.steps, 1):
            on = [k for k in ("background", "fractions", "cells", "displacement", "zero", "transparency") if s.get(k)]
            if s.get("profile"):
                prof = PROFILE_TERMS if s["profile"] is True else tuple(s["profile"])
                on.append("profile " + " ".join(prof))
            for key, what in (("size", "crystallite size"), ("strain", "microstrain")):
                if s.get(key):
                    on.append(what + ("" if s[key] is True else " (" + ", ".join(s[key]) + ")"))
            po = s.get("preferred_orientation")
            if isinstance(po, dict):
                on.append("preferred orientation (" + ", ".join(f"{n} <{''.join(str(int(i)) for i in a)}>"
                                                               for n, a in po.items()) + ")")
            elif po:
                on.append("preferred orientation")
            off = [k for k in ("cells", "displacement", "zero", "transparency", "size", "strain", "humps")
                   if s.get(k) is False]
            out.append(f"step {i} ({s.get('name', '')}): + " + ", ".join(on) + ("; held: " + ", ".join(off) if off else ""))
        if self.fcj == "exact":
            out.append("FCJ asymmetry integrated exactly (xrdq's node count per peak, up to "
                       f"{FCJ_NODES}), not with GSAS-II's own quadrature")
        else:
            out.append("FCJ asymmetry integrated with GSAS-II's own quadrature (PSVFCJO)")
        return out


