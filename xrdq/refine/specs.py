"""The refinable non-linear parameters, one table: each parameter's name, the recipe groups that vary it,
its start value and bounds, its typical finite-difference step, how least squares keeps it inside its bounds,
and what it sets in the model.

Three kinds (``scope``): *global* parameters act on every phase (the instrument's profile terms and 2θ
zero, set on a :class:`~xrdq.model.instrument.ProfileTerms`, and the specimen displacement, set on a
:class:`~xrdq.model.pattern.Specimen`); *phase* parameters are named ``{prefix}_{key}`` after a phase's
prefix (:func:`~xrdq.refine.parameters.param_name`: ``LiF_a``, ``LiF_size_broadening``); *hump* parameters
are ``hump{k}_center`` and ``hump{k}_fwhm``; *site* parameters are a site's free coordinates, ``{prefix}_{site}_x``, and
the occupancy of a disordered element's first site, ``{prefix}_{site}_occ``. Scales, background coefficients and hump areas enter linearly,
are solved at every step and are not in this table.

The refinement creates its parameters from this table (:mod:`xrdq.refine.fit`), a recipe group selects the
entries that name it (:mod:`xrdq.refine.recipe`), the adaptive recipe tests the entries with a ``candidate``
label (:mod:`xrdq.refine.adaptive`), and the bounds transform and finite-difference steps look a name up
here (:mod:`xrdq.refine.transforms`). Pure data: importing it imports nothing else.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

#: Smallest crystallite (nm) a phase declared crystalline may refine to. Below ~8 nm a "crystal" is a few unit
#: cells whose Scherrer peaks are degrees wide: such a phase can only be absorbing broad scatter (amorphous
#: halos, background) that belongs elsewhere, so the size stops here and is reported.
MIN_CRYSTALLITE_NM = 8.0
#: Narrowest amorphous hump (degrees 2θ): a halo narrower than ~3° would be ordered over > 3 nm, a broad Bragg
#: peak rather than amorphous scatter.
MIN_HUMP_FWHM = 3.0
#: Largest specimen penetration 1/µ (µm) refined: µ = 2 cm⁻¹, below any packed powder of the field (LiF or Li2O
#: loosely packed: ≈ 15–25 cm⁻¹, i.e. 400–700 µm; oxides and halides of heavier elements ≈ 50–500 cm⁻¹).
MAX_PENETRATION_UM = 5000.0
#: Largest equatorial divergence (degrees) of the flat-specimen aberration refined: beyond the widest slits in use.
MAX_DIVERGENCE_DEG = 4.0
#: sinθ at which the adaptive recipe screens overspill: a 20 mm specimen under a 1.25° slit on 150 mm (2θ = 18.8°).
OVERSPILL_PROBE = 0.16
#: Penetration at which the adaptive recipe screens transparency: a light specimen (µ = 50 cm⁻¹).
PENETRATION_PROBE_UM = 200.0
#: 1/(µt) at which the adaptive recipe screens a finite specimen thickness: µt = 1 (LiF + a Li halide, µ ≈ 80 cm⁻¹ as
#: packed, 0.12 mm thick), which loses 4.5 % at 2θ = 80° and nothing below 30°.
THICKNESS_PROBE = 1.0
#: Largest 1/(µt) refined: µt = 0.05, a specimen that passes 86 % of the beam at 2θ = 80°.
MAX_INV_MU_T = 20.0
#: March–Dollase ratio from which a cubic phase's texture is screened (adaptive recipe) and refined. Averaged over
#: a reflection's equivalents, cos²α to any axis is 1/3, so the ratio's effect at 1 is nil to first order: refined
#: from 1 it would never move. Cubes on a face (ratio < 1) and on an edge (> 1) give nearly the same intensities,
#: so one side suffices; 0.85 about <100> changes LiF (200) by +7 % and (111) by −4 %.
CUBIC_PO_PROBE = 0.85
#: The adaptive recipe's label for the instrument's 1/cosθ Lorentzian X: not a plain candidate (``candidate``
#: below), because X and every phase's size broadening add up; it is tested only when sizes ran to none.
INSTRUMENT_X = "instrument Lorentzian (X)"
#: Farthest (fractional) a refined coordinate may move from its CIF value: 0.08 of a 6–11 Å cell is 0.5–0.9 Å, beyond
#: what an approximate model of a known structure type is off by, and short of a neighbouring site.
MAX_COORDINATE_SHIFT = 0.08
#: The adaptive recipe's labels for a phase's structure terms, "{label} {phase}" in its decisions: its free coordinates
#: and a cation's share between two partly occupied sites (tested for a CIF that calls its coordinates approximate)
STRUCTURE_TERMS = ("atomic coordinates", "site occupancies")
#: Elements whose coordinates are never refined from X-rays: two or fewer electrons of a few tens in a cell place them
#: too weakly to tell a position from noise (a crystallographer fixes Li and H in an X-ray refinement too).
LIGHT_ELEMENTS = ("H", "D", "He", "Li", "Be")


@dataclass(frozen=True)
class ParamSpec:
    """One kind of refinable parameter.

    ``start(source)`` and ``bounds(start, instrument)`` give its start value and (min, max): ``source`` is
    the instrument (global), the structure's value (a cell parameter) or the recipe's (centre, FWHM) of the
    hump. ``step``: typical finite-difference step, times max(|value|, 1) when ``relative_step``.
    ``non_negative``: zero is a physical answer; refined as a square, which reaches 0 smoothly (the others
    with a bounded parameter's sine transform). ``peak_list``: acts through the peak list (analytic
    derivatives); the others are differenced. ``sets``: the :class:`ProfileTerms` (or, for ``on="specimen"``,
    :class:`Specimen`) fields a global parameter sets. ``candidate``: the adaptive recipe tests it, under this
    label, when no stage refines it. ``probe``: a term whose first-order effect at its start is degenerate with
    others (transparency at 0 is a pure shift) is screened by linearising at this value instead. ``applies``:
    whether the term exists on an instrument (no overspill under a variable slit).
    """

    key: str
    scope: str  # "global", "phase" or "hump"
    groups: tuple
    step: float
    bounds: Callable
    start: Callable = lambda source: source
    relative_step: bool = False
    non_negative: bool = False
    peak_list: bool = True
    sets: tuple = ()
    on: str = "terms"  # global: which object the fields in ``sets`` belong to ("terms" or "specimen")
    candidate: str | None = None
    probe: float | None = None
    applies: Callable = lambda instrument: True  # whether the term exists on this instrument at all

    def name(self, owner="") -> str:
        """The parameter's name: ``key`` (global), ``{owner}_{key}`` (phase prefix, or ``hump{k}``)."""
        return self.key if self.scope == "global" else f"{owner}_{self.key}"

    def typical_step(self, value: float) -> float:
        return self.step * max(abs(value), 1.0) if self.relative_step else self.step


def _beam_fill(instrument) -> float:
    from ..model.pattern import beam_fill  # numpy: imported when a refinement creates its parameters

    return beam_fill(instrument)


def _fixed(lo, hi):
    return lambda start, instrument: (lo, hi)


def _size_bounds(start, instrument):
    # size term in degrees 2θ at cosθ = 1 (Scherrer, K = 1): λ / D in radians
    return 0.0, float(math.degrees(instrument.wavelength / (10.0 * MIN_CRYSTALLITE_NM)))


_LENGTH = dict(scope="phase", groups=("cell",), step=1e-3, relative_step=True,
               bounds=lambda v, instrument: (v * 0.95, v * 1.05))
_ANGLE = dict(scope="phase", groups=("cell",), step=0.01, bounds=lambda v, instrument: (v - 5.0, v + 5.0))

#: Every refinable non-linear parameter, in the order a refinement creates them.
SPECS: tuple[ParamSpec, ...] = (
    ParamSpec("zero", "global", ("zero",), 0.005, _fixed(-1.0, 1.0), start=lambda inst: inst.zero, sets=("zero",),
              candidate="zero shift"),
    ParamSpec("displacement_um", "global", ("displacement",), 10.0, _fixed(-1000.0, 1000.0), start=lambda inst: 0.0,
              sets=("displacement_um",), on="specimen"),
    # 1/µ of the specimen as packed (µm): the exponential transparency profile of every peak (a specimen thicker
    # than that). First-order at 0 it is only a shift, so the adaptive recipe screens it at ``probe``
    ParamSpec("penetration_um", "global", ("transparency",), 10.0, _fixed(0.0, MAX_PENETRATION_UM),
              start=lambda inst: 0.0, non_negative=True, peak_list=False, sets=("penetration_um",), on="specimen",
              candidate="specimen transparency", probe=PENETRATION_PROBE_UM),
    # µ·t of a film over the specimen (Kapton): the instrument description's value (the user's --cover-film), held
    # unless a recipe names its group; acts on the intensities through the peak list
    ParamSpec("film_mu_t", "global", ("film",), 2e-3, _fixed(0.0, 2.0), start=lambda inst: inst.cover_film_mu_t,
              non_negative=True, sets=("film_mu_t",), on="specimen", candidate="cover film (µt)"),
    # sinθ below which a fixed slit overspills the specimen (R·α/L): from the instrument's sample_length_mm, 0 without
    # one. Its effect at 0 is nil, so the adaptive recipe screens it at ``probe`` (the beam filling 20 mm at 2θ = 19°
    # on a MiniFlex); a variable slit lights a constant length: nothing to overspill
    ParamSpec("beam_fill", "global", ("overspill",), 2e-3, _fixed(0.0, 0.7), start=_beam_fill, non_negative=True,
              sets=("beam_fill",), on="specimen", candidate="beam overspill (specimen length)", probe=OVERSPILL_PROBE,
              applies=lambda inst: not inst.variable_slit),
    # 1/(µt) of a specimen too thin to stop the beam (a smear on a zero-background plate): its reflections lose
    # exp(−2µt/sinθ), most at high angle. Nil at 0 (infinitely thick) to every order, so screened at ``probe``
    ParamSpec("inv_mu_t", "global", ("thickness",), 1e-2, _fixed(0.0, MAX_INV_MU_T), start=lambda inst: 0.0,
              non_negative=True, sets=("inv_mu_t",), on="specimen", candidate="finite specimen thickness (1/µt)",
              probe=THICKNESS_PROBE),
    ParamSpec("U", "global", ("gaussian", "profile"), 1e-3, _fixed(-0.1, 0.5), start=lambda inst: inst.U, sets=("U",)),
    ParamSpec("V", "global", ("profile",), 1e-3, _fixed(-0.2, 0.2), start=lambda inst: inst.V, sets=("V",)),
    ParamSpec("W", "global", ("gaussian", "profile"), 1e-3, _fixed(1e-6, 0.2), start=lambda inst: max(inst.W, 1e-5),
              sets=("W",)),
    ParamSpec("X", "global", ("profile",), 1e-2, _fixed(0.0, 0.5), start=lambda inst: inst.X, sets=("X",)),
    ParamSpec("Y", "global", ("profile", "tan_lorentzian"), 1e-2, _fixed(0.0, 0.5), start=lambda inst: inst.Y,
              sets=("Y",), candidate="tanθ Lorentzian (Y)"),
    # equatorial divergence (deg) of the flat-specimen aberration, ∝ α² cotθ: refined by a recipe that names its
    # group, not tested by the adaptive recipe (docs/method.md §2: no accuracy gain measured on data xrdq did not
    # make, and up to 10× the time)
    ParamSpec("flat_specimen", "global", ("flat_specimen",), 0.05, _fixed(0.0, MAX_DIVERGENCE_DEG),
              start=lambda inst: inst.flat_specimen, non_negative=True, peak_list=False, sets=("flat_specimen",)),
    # S/L = H/L: one asymmetry parameter; the FCJ nodes are resampled, so it is differenced
    ParamSpec("asymmetry", "global", ("asymmetry",), 1e-2, _fixed(0.0, 0.1),
              start=lambda inst: 0.5 * (inst.s_l + inst.h_l), peak_list=False, sets=("s_l", "h_l"),
              candidate="asymmetry (S/L = H/L)"),
    ParamSpec("a", **_LENGTH), ParamSpec("b", **_LENGTH), ParamSpec("c", **_LENGTH),
    ParamSpec("alpha", **_ANGLE), ParamSpec("beta", **_ANGLE), ParamSpec("gamma", **_ANGLE),
    # Lorentzian sample broadening (deg 2θ at cosθ = 1 / tanθ = 1); the size floor is MIN_CRYSTALLITE_NM
    ParamSpec("size_broadening", "phase", ("size",), 1e-2, _size_bounds, start=lambda src: 0.0, non_negative=True),
    ParamSpec("strain_broadening", "phase", ("strain",), 1e-2, _fixed(0.0, 2.0), start=lambda src: 0.0,
              non_negative=True, candidate="microstrain"),
    # uniaxial crystallite size: the size broadening along the phase's size axis minus the one across it (deg, as
    # size_broadening; 0 = isotropic). Refined only for a phase with a size axis (recipe.size_axes): platelets
    # (broader along the axis) or needles (narrower)
    ParamSpec("size_anisotropy", "phase", ("size_shape",), 1e-2,
              lambda v, instrument: (-_size_bounds(v, instrument)[1], _size_bounds(v, instrument)[1]),
              start=lambda src: 0.0),
    # March–Dollase ratio: refined only for a phase with an axis (recipe.po or the adaptive recipe's choice)
    ParamSpec("po_ratio", "phase", ("po",), 0.02, _fixed(0.3, 3.0), start=lambda src: 1.0, candidate="March–Dollase"),
    ParamSpec("b_overall", "phase", ("biso",), 0.1, _fixed(-3.0, 5.0), start=lambda src: 0.0),
    # a site's coordinate (fractional), one of those its symmetry leaves free (xrdq.crystal.displace), named
    # ``{phase}_{site}_{x|y|z}``: refined only for the phases a recipe names (recipe.coordinates)
    *(ParamSpec(axis, "site", ("xyz",), 2e-4,
                lambda v, instrument: (v - MAX_COORDINATE_SHIFT, v + MAX_COORDINATE_SHIFT)) for axis in "xyz"),
    # the occupancy of the first of two sites an element partly occupies (xrdq.crystal.displace.OccupancyPair), the
    # second following with the element's number per cell held: ``{phase}_{site}_occ``. Its range (both sites within
    # 0–1) is the pair's, set where the parameter is made
    ParamSpec("occ", "site", ("occupancy",), 2e-3, _fixed(0.0, 1.0)),
    ParamSpec("center", "hump", ("humps",), 0.5, lambda c, instrument: (c - 10.0, c + 10.0),
              start=lambda hump: hump[0], peak_list=False),
    ParamSpec("fwhm", "hump", ("humps",), 0.5, _fixed(MIN_HUMP_FWHM, 40.0),
              start=lambda hump: max(hump[1], MIN_HUMP_FWHM), peak_list=False),
)

#: The recipe groups, each selecting the parameters whose spec names it.
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(g for s in SPECS for g in s.groups))
GLOBAL = tuple(s for s in SPECS if s.scope == "global")
PHASE = tuple(s for s in SPECS if s.scope == "phase" and s.groups != ("cell",))  # beside the cell
HUMP = tuple(s for s in SPECS if s.scope == "hump")
_BY_KEY = {s.key: s for s in SPECS}
_HUMP_NAME = re.compile(r"hump(\d+)_(" + "|".join(s.key for s in HUMP) + ")")
# a phase (or site) parameter's key after the phase (and site) prefix; longest first (b_overall before b)
_PHASE_KEYS = sorted((s.key for s in SPECS if s.scope in ("phase", "site")), key=len, reverse=True)


def spec(key: str) -> ParamSpec:
    """The spec of ``key`` (``"U"``, ``"a"``, ``"size_broadening"``, ``"center"``)."""
    return _BY_KEY[key]


def spec_of(name: str) -> ParamSpec | None:
    """The spec of a parameter by its full name (``"U"``, ``"LiF_a"``, ``"hump0_fwhm"``); None for a
    linear parameter or a name that is not a refinable one."""
    got = _BY_KEY.get(name)
    if got is not None and got.scope == "global":
        return got
    m = _HUMP_NAME.fullmatch(name)
    if m:
        return _BY_KEY[m.group(2)]
    for key in _PHASE_KEYS:
        if name.endswith("_" + key) and len(name) > len(key) + 1:
            return _BY_KEY[key]
    return None


def hump_index(name: str) -> int | None:
    """k of a ``hump{k}_center`` / ``hump{k}_fwhm`` parameter, else None."""
    m = _HUMP_NAME.fullmatch(name)
    return int(m.group(1)) if m else None
