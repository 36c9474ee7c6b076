"""Calculated Bragg–Brentano powder patterns, one component at a time.

A phase contributes ``scale × Σ_k Σ_λ I_λ · m_k |F_k|² · LP(θ) · PO_k · slit(θ) · Φ(2θ − 2θ_k,λ)``.
The scale is kept outside (:meth:`PhaseModel.profile` returns the unit-scale curve) because scales
enter linearly and the refinement solves them exactly.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from ..crystal import cache
from .film import film_transmission
from .instrument import Instrument, ProfileTerms
from .peaks import (accumulate_peaks, fcj_node_counts, flat_specimen_node_counts, flat_specimen_widths,
                    transparency_node_counts, transparency_scale)
from .profile import fp_widths, tch_mix, tch_widths


@dataclass(frozen=True)
class Specimen:
    """What the specimen, not the instrument, does to every phase's peaks: its displacement (µm) from the
    focusing circle, its transparency — ``penetration_um`` = 1/µ of the specimen as packed (µm; 0: opaque,
    all scattering from the surface) — ``film_mu_t``, µ·t of a film covering it (:func:`film_transmission`),
    ``beam_fill``, where a fixed slit's beam starts to overspill it (:func:`overspill`), and ``inv_mu_t``, 1/(µ·t) of
    a specimen too thin to stop the beam (:func:`thickness_transmission`; 0: infinitely thick).
    The profile terms and 2θ zero are the instrument's (:class:`ProfileTerms`); a fit refines both, as a
    ProfileTerms and a Specimen (:mod:`xrdq.refine.specs`)."""

    displacement_um: float = 0.0
    penetration_um: float = 0.0
    film_mu_t: float = 0.0
    beam_fill: float = 0.0  # sinθ below which a fixed slit's beam overspills the specimen (:func:`overspill`); 0: never
    inv_mu_t: float = 0.0  # 1/(µ·t) of a specimen of thickness t (µ as packed); 0: infinitely thick

    def replace(self, **changes) -> "Specimen":
        return dataclasses.replace(self, **changes)


#: A specimen on the focusing circle.
ON_CIRCLE = Specimen()


@dataclass(frozen=True)
class PhaseParams:
    """Per-phase non-linear parameters: cell (independent parameters), size, strain, PO, extra B."""

    cell: dict = field(default_factory=dict)
    size_nm: float | None = None
    strain: float | None = None
    po_ratio: float = 1.0  # March–Dollase r; 1 = random powder
    b_overall: float = 0.0  # Å², added to every site's B (exp(−2 B s²) on |F|²)
    # crystallite size along the model's size axis (nm; inf: no broadening along it); None: isotropic, size_nm
    # every way. With it, 1/D(φ) = √(sin²φ/D² + cos²φ/D_axial²) for a reflection at φ to the axis (a spheroid:
    # platelets or needles; GSAS-II's "uniaxial" size)
    size_axial_nm: float | None = None
    #: shifts (fractional) of the model's refined coordinates (PhaseModel.coordinates) from the CIF's values; () or
    #: zeros: the CIF's structure
    coordinates: tuple = ()
    #: changes of the first site's occupancy of each refined pair (PhaseModel.occupancy_pairs), the second site's
    #: following with the element's number per cell held; (): the CIF's
    occupancies: tuple = ()

    def replace(self, **changes) -> "PhaseParams":
        return dataclasses.replace(self, **changes)


def lorentz_polarization(two_theta, polarization_factor: float = 1.0):
    """Bragg–Brentano LP: (1 + K cos²2θ) / ((1 + K) sin²θ cosθ), K = cos²2θ_m (1 without monochromator)."""
    tt = np.radians(np.asarray(two_theta, dtype=float))
    k = polarization_factor
    return (1.0 + k * np.cos(tt) ** 2) / ((1.0 + k) * np.sin(tt / 2.0) ** 2 * np.cos(tt / 2.0))


def bragg_two_theta(d, wavelength):
    """2θ (degrees) of spacing ``d`` (Å); NaN where the reflection cannot be reached."""
    s = wavelength / (2.0 * np.asarray(d, dtype=float))
    with np.errstate(invalid="ignore"):
        return np.where(s < 1.0, 2.0 * np.degrees(np.arcsin(np.minimum(s, 1.0))), np.nan)


def displacement_shift(two_theta, displacement_um: float, radius_mm: float):
    """Peak shift (degrees 2θ) of a specimen displaced by ``displacement_um`` from the focusing circle.

    Δ2θ = −2 s cosθ / R (radians); positive s (sample surface below the axis) moves peaks to low angle.
    """
    theta = np.radians(np.asarray(two_theta, dtype=float)) / 2.0
    return -np.degrees(2.0 * displacement_um * 1e-3 * np.cos(theta) / radius_mm)


def slit_factor(two_theta, instrument: Instrument):
    """Intensity factor of a variable divergence slit (sinθ: constant irradiated length); 1 for a fixed slit,
    whose overspill of a short specimen is the specimen's (:func:`overspill`)."""
    theta = np.radians(np.asarray(two_theta, dtype=float)) / 2.0
    if instrument.variable_slit:
        return np.sin(theta)
    return np.ones_like(theta)


def beam_fill(instrument: Instrument) -> float:
    """sinθ at which a fixed slit's beam (R·α/sinθ long) just covers the instrument's ``sample_length_mm``; 0 when
    no length is given or the slit is variable."""
    if instrument.variable_slit or not instrument.sample_length_mm:
        return 0.0
    return float(instrument.radius_mm * np.radians(instrument.divergence_slit_deg) / instrument.sample_length_mm)


def thickness_transmission(two_theta, inv_mu_t: float):
    """Fraction of an infinitely thick specimen's diffracted intensity that a specimen of thickness t gives:
    1 − exp(−2µt/sinθ) (symmetric reflection; µ of the specimen as packed), for ``inv_mu_t`` = 1/(µt); 1 for 0.
    A thin specimen loses its high-angle reflections most (a thin smear of a light powder on a zero-background
    plate: LiF + a Li halide, µ ≈ 60–80 cm⁻¹ as packed, 0.1 mm thick, loses 9 % at 2θ = 80° and 1 % at 40°)."""
    if not inv_mu_t:
        return 1.0
    sin_theta = np.sin(np.radians(np.asarray(two_theta, dtype=float)) / 2.0)
    return -np.expm1(-2.0 / (inv_mu_t * sin_theta))


def overspill(two_theta, fill: float):
    """Fraction of a fixed slit's beam that falls on the specimen: sinθ / ``fill`` below the angle where the beam
    (R·α/sinθ long) covers exactly its length L (``fill`` = R·α/L), 1 above."""
    if not fill:
        return 1.0
    return np.minimum(1.0, np.sin(np.radians(np.asarray(two_theta, dtype=float)) / 2.0) / fill)


def march_dollase(cos_alpha, ratio: float):
    """March–Dollase factor for angles α between the scattering vector and the preferred direction."""
    c2 = np.clip(cos_alpha, -1.0, 1.0) ** 2
    return (ratio**2 * c2 + (1.0 - c2) / ratio) ** -1.5


def _phase_key(phase) -> tuple:
    """What a phase's reflection list depends on, by value: its cell, symmetry operators and atoms. Phases
    compare by identity, and every quantify (each file of a batch, each call in a notebook) reads its CIFs
    afresh; keyed by content, the same structure is listed once per process."""
    try:
        a, sym = phase.atoms, phase.symmetry
        arrays = [np.asarray(x) for x in (sym.rotations, sym.translations, a.fract, a.occupancy, a.b_iso,
                                          a.scatterer_index)]
        return (tuple(float(c) for c in phase.cell), tuple(a.scatterers), tuple(a.element),
                *((x.dtype.str, x.shape, x.tobytes()) for x in arrays))
    except AttributeError:  # not an xrdq Phase: only the object itself is known to be the same
        return ("object", id(phase), phase)


class _Memo:
    """A small LRU memo of ``fn(phase, *args)`` keyed by ``(_phase_key(phase), *args)``; thread-safe like
    ``functools.lru_cache`` (a notebook or a threaded dask worker may fit in several threads)."""

    def __init__(self, fn, size: int = 32):
        self.fn, self.size, self.store = fn, size, OrderedDict()
        self.lock = threading.Lock()
        functools.update_wrapper(self, fn)

    def __call__(self, phase, *args):
        key = (_phase_key(phase), *args)
        with self.lock:
            if key in self.store:
                self.store.move_to_end(key)
                return self.store[key]
        out = self.fn(phase, *args)  # outside the lock: another thread may compute the same, harmlessly
        with self.lock:
            self.store[key] = out
            if len(self.store) > self.size:
                self.store.popitem(last=False)
        return out

    def cache_clear(self):
        with self.lock:
            self.store.clear()


@_Memo
def _reflections(phase, two_theta_max, wavelength, two_theta_min):
    # quantify builds models twice (once to look for amorphous humps, once to refine), a batch once more
    # per file: the same structure over the same range is listed once per process
    return cache.reflections(phase, two_theta_max, wavelength, two_theta_min)  # and between processes, on disk


@_Memo
def _laue_equivalents(phase, hkl_bytes: bytes, n: int):
    """(equivalents, start): the distinct Laue equivalents of each of ``n`` reflections (hkl as int
    bytes), stacked; reflection k's from row ``start[k]``. Per structure and reflection list, not per PO
    axis: the adaptive recipe tries several axes, and every quantify of a batch rebuilds its models."""
    hkl = np.frombuffer(hkl_bytes, dtype=int).reshape(n, 3)
    laue = np.asarray(phase.symmetry.laue_rotations(), dtype=np.int64)
    if n == 0:
        eq, start = np.zeros((0, 3)), np.zeros(0, dtype=int)
    else:
        # every reflection's images at once, each row's distinct ones found by sorting integer keys (a
        # per-reflection np.unique(axis=0) was ≈ 8 ms for Li2ZrCl6's 166 reflections, in every fresh process)
        images = np.einsum("ni,kij->nkj", hkl.astype(np.int64), laue)  # (n, rotations, 3)
        off = int(np.abs(images).max()) + 1
        keys = ((images[..., 0] + off) * (2 * off) + images[..., 1] + off) * (2 * off) + images[..., 2] + off
        order = np.argsort(keys, axis=1, kind="stable")
        keys = np.take_along_axis(keys, order, axis=1)
        first = np.ones(keys.shape, dtype=bool)
        first[:, 1:] = keys[:, 1:] != keys[:, :-1]
        rows, cols = np.nonzero(first)  # row-major: reflection by reflection, distinct images in key order
        eq = images[rows, order[rows, cols]].astype(float)
        counts = first.sum(axis=1)
        start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int)
    eq.setflags(write=False)  # shared by every model of this phase
    start.setflags(write=False)
    return eq, start


def _same_positions(params: PhaseParams, terms: ProfileTerms, specimen: Specimen, other: PhaseParams,
                    other_terms: ProfileTerms, other_specimen: Specimen) -> bool:
    """Whether two parameter sets give the same peak positions and intensities (differ in widths only)."""
    return (params.cell == other.cell and params.b_overall == other.b_overall and params.po_ratio == other.po_ratio
            and params.coordinates == other.coordinates and params.occupancies == other.occupancies
            and terms.zero == other_terms.zero and specimen.displacement_um == other_specimen.displacement_um
            and specimen.film_mu_t == other_specimen.film_mu_t and specimen.beam_fill == other_specimen.beam_fill
            and specimen.inv_mu_t == other_specimen.inv_mu_t)


def _same_widths(params: PhaseParams, terms: ProfileTerms, other: PhaseParams, other_terms: ProfileTerms) -> bool:
    """Whether two parameter sets give the same widths at the same peak positions."""
    return (params.size_nm == other.size_nm and params.strain == other.strain
            and params.size_axial_nm == other.size_axial_nm
            and all(getattr(terms, k) == getattr(other_terms, k) for k in ("U", "V", "W", "X", "Y")))


def _remember(memo: dict, key, value, size: int = 8):
    """Store ``value`` under ``key`` in a per-model memo of the last ``size`` parameter sets; returns ``value``."""
    if len(memo) >= size:
        memo.pop(next(iter(memo)))
    memo[key] = value
    return value


class PhaseModel:
    """One crystalline phase over a 2θ range: its reflections, fixed |F|², and the unit-scale profile."""

    def __init__(self, phase, instrument: Instrument, two_theta_range, po_hkl=None, margin_deg: float = 2.0,
                 size_hkl=None):
        from ..crystal import d_spacing
        from ..crystal.cell import constrain

        self.phase = phase
        self.name = phase.name
        self.instrument = instrument
        self.two_theta_range = (float(two_theta_range[0]), float(two_theta_range[1]))
        self._d_spacing, self._constrain = d_spacing, constrain
        lam_max = max(w for w, _ in instrument.wavelengths)
        lam_min = min(w for w, _ in instrument.wavelengths)
        tt_lo = max(self.two_theta_range[0] - margin_deg, 0.5) * lam_min / lam_max
        tt_hi = min(self.two_theta_range[1] + margin_deg + 1.0, 179.0)
        refl = _reflections(phase, tt_hi, instrument.wavelength, tt_lo)
        self.hkl = np.asarray(refl.hkl, dtype=int)
        self.multiplicity = np.asarray(refl.multiplicity, dtype=float)
        self.f2 = np.asarray(refl.f2, dtype=float)
        self.d0 = np.asarray(refl.d, dtype=float)
        self.base_cell = tuple(phase.cell)
        # the phase's constraint class and free cell parameters, asked for at every peak list otherwise
        self._lattice_kind = phase.lattice_kind
        self._base_cell_parameters = phase.cell_parameters()
        #: What this model's profiles depend on besides the parameters, the sampling and the PO axis, by value
        #: (a refinement shares profiles between models with equal keys: xrdq.refine.objective)
        self.content_key = (_phase_key(phase), instrument, self.two_theta_range, float(margin_deg))
        try:
            hash(self.content_key)
        except TypeError:  # a phase-like object or instrument that cannot be told apart by value: not shared
            self.content_key = None
        self.po_hkl = tuple(po_hkl) if po_hkl is not None else None
        self._po_cos = None
        #: the axis (hkl of a reciprocal direction) of a uniaxial crystallite size (PhaseParams.size_axial_nm)
        self.size_hkl = tuple(size_hkl) if size_hkl is not None else None
        self._size_cos2 = None
        self.restore_sampling((None, None, None))
        self._geometry_memo = {}
        self._areas_memo = {}
        self.coordinates = ()  # the FreeCoordinates a refinement moves (set_structure_terms)
        self.occupancy_pairs = ()  # the OccupancyPairs whose share it refines
        self._expansion = None

    def set_structure_terms(self, coordinates=(), occupancy_pairs=(), expansion=None):
        """The free coordinates (:class:`~xrdq.crystal.displace.FreeCoordinate`) and occupancy pairs
        (:class:`~xrdq.crystal.displace.OccupancyPair`) whose changes ``PhaseParams.coordinates`` and
        ``PhaseParams.occupancies`` give, in that order; () for the CIF's structure throughout. ``expansion``: the
        phase's :class:`~xrdq.crystal.displace.SiteExpansion` they came from, if the caller has it."""
        self.coordinates, self.occupancy_pairs = tuple(coordinates), tuple(occupancy_pairs)
        self._areas_memo.clear()
        if (self.coordinates or self.occupancy_pairs) and self._expansion is None:
            from ..crystal.displace import SiteExpansion

            self._expansion = expansion or SiteExpansion(self.phase)

    def structure_f2(self, shifts=(), occupancies=()) -> np.ndarray:
        """|F|² of every reflection with the refined coordinates moved by ``shifts`` (fractional, one per
        :attr:`coordinates`) and the first site of each :attr:`occupancy_pairs` re-occupied by ``occupancies`` more
        (the second following); the CIF's structure's when they are all 0. Same scattering factors and d as the
        reflection list (:attr:`f2`), so only the atoms differ."""
        if not any(shifts) and not any(occupancies):
            return self.f2
        from ..crystal.reflections import structure_factor_squared

        moves, occ = {}, {}
        for c, shift in zip(self.coordinates, shifts):
            moves[c.site] = moves.get(c.site, 0.0) + shift * np.asarray(c.direction)
        sites = self.phase.sites
        for pair, change in zip(self.occupancy_pairs, occupancies):
            occ[pair.first] = sites[pair.first].occupancy + change
            occ[pair.second] = sites[pair.second].occupancy - pair.ratio * change
        atoms = self._expansion.atoms(moves, occ)
        return structure_factor_squared(self.hkl, self.d0, atoms, self.instrument.wavelength)

    def reset_sampling(self):
        """Decide the FCJ, transparency and flat-specimen node counts afresh at the next call (between refinement
        stages, never within)."""
        self.restore_sampling((None, None, None))

    def decide_sampling(self, params: PhaseParams, terms: ProfileTerms, specimen: Specimen = ON_CIRCLE) -> bytes:
        """How every peak is sampled (its FCJ, transparency and flat-specimen node counts): kept if already decided, else
        decided at these parameters (what the next :meth:`profile` would do). Returned as :attr:`sampling_key`,
        so a caller can key cached profiles by their sampling."""
        if self._node_counts is None:
            c, _, f, _ = self.peak_list(params, terms, specimen)
            self._decide(c, f, terms, specimen)
        return self.sampling_key

    def sampling_state(self) -> tuple:
        """The sampling as decided (FCJ, transparency, flat-specimen node counts), for :meth:`restore_sampling`."""
        return self._node_counts, self._transparency_counts, self._flat_counts

    def restore_sampling(self, state: tuple):
        """Go back to a sampling :meth:`sampling_state` returned (after evaluating elsewhere, e.g. at a probe).
        The one place the node counts are set."""
        self._node_counts, self._transparency_counts, self._flat_counts = state
        # made once per sampling: it keys every cached profile, and a bytes object built anew at each
        # evaluation was hashed anew too (≈ 5 % of a quantification)
        self._sampling_key = None if state[0] is None else b"".join(a.tobytes() for a in state)

    @property
    def sampling_key(self) -> bytes | None:
        """The decided sampling as bytes (None before it is decided)."""
        return self._sampling_key

    def transparency(self, specimen: Specimen) -> float:
        """The specimen's transparency scale (degrees, :func:`xrdq.model.peaks.transparency_scale`) on this goniometer."""
        return transparency_scale(specimen.penetration_um, self.instrument.radius_mm)

    def _decide(self, centers, fwhm, terms: ProfileTerms, specimen: Specimen):
        if self._node_counts is None or self._node_counts.size != centers.size:
            self.restore_sampling((fcj_node_counts(centers, fwhm, terms.s_l, terms.h_l),
                                   transparency_node_counts(centers, fwhm, self.transparency(specimen)),
                                   flat_specimen_node_counts(centers, fwhm, terms.flat_specimen,
                                                             self.instrument.variable_slit)))

    def _aberrations(self, terms: ProfileTerms, specimen: Specimen) -> dict:
        """The specimen and beam aberrations composed with the FCJ nodes, as :func:`xrdq.model.peaks.accumulate_peaks` takes them."""
        return dict(transparency=self.transparency(specimen), transparency_counts=self._transparency_counts,
                    flat_specimen=terms.flat_specimen, flat_specimen_counts=self._flat_counts,
                    variable_slit=self.instrument.variable_slit)

    def default_params(self, **changes) -> PhaseParams:
        return PhaseParams(cell=dict(self.phase.cell_parameters()), **changes)

    def cell(self, params: PhaseParams):
        """The cell of ``params`` with the space group's constraints (what ``phase.with_cell`` gives)."""
        if not params.cell:
            return self.base_cell
        return self._constrain(self._lattice_kind, self.base_cell, **params.cell)

    def d_spacings(self, params: PhaseParams):
        if not params.cell or params.cell == self._base_cell_parameters:
            return self.d0
        return self._d_spacing(self.hkl, self.cell(params))

    def _axis_cosines(self, hkl):
        """(cos α, start): cos α between the reciprocal direction ``hkl`` and every Laue equivalent of every
        reflection, all reflections' equivalents in one array, reflection k's from ``start[k]`` on."""
        from ..crystal.cell import reciprocal_metric_tensor

        g = reciprocal_metric_tensor(self.base_cell)
        p = np.asarray(hkl, dtype=float)
        pn = np.sqrt(p @ g @ p)
        eq, start = _laue_equivalents(self.phase, self.hkl.tobytes(), len(self.hkl))
        return (eq @ g @ p) / (np.sqrt(np.einsum("ij,jk,ik->i", eq, g, eq)) * pn), start

    def po_cosines(self):
        """(cos α, start) of the PO axis (:meth:`_axis_cosines`)."""
        if self._po_cos is None:
            self._po_cos = self._axis_cosines(self.po_hkl)
        return self._po_cos

    def set_size_axis(self, hkl):
        """The axis of a uniaxial crystallite size (None: isotropic only)."""
        self.size_hkl = tuple(hkl) if hkl is not None else None
        self._size_cos2 = None

    def _sizes(self, params: list, n_peaks: int):
        """Crystallite sizes (nm; 0 = no broadening) for :func:`tch_widths`: one per parameter set (a column), or,
        where a set has a uniaxial size, one per peak — 1/D(φ) = √(sin²φ/D² + cos²φ/D_axial²), averaged over each
        reflection's Laue equivalents (for an axis the Laue class keeps, they share φ)."""
        iso = np.array([p.size_nm or 0.0 for p in params], dtype=float)[:, None]
        if self.size_hkl is None or all(p.size_axial_nm is None for p in params) or not len(self.hkl):
            return iso
        if self._size_cos2 is None:
            cos, start = self._axis_cosines(self.size_hkl)
            self._size_cos2 = (np.clip(cos, -1.0, 1.0) ** 2, start, np.diff(np.append(start, cos.size)))
        c2, start, count = self._size_cos2
        rows = []
        for p in params:
            inv_e = 1.0 / p.size_nm if p.size_nm else 0.0
            inv_a = inv_e if p.size_axial_nm is None else (1.0 / p.size_axial_nm if p.size_axial_nm else 0.0)
            inv = np.add.reduceat(np.sqrt((1.0 - c2) * inv_e**2 + c2 * inv_a**2), start) / count
            with np.errstate(divide="ignore"):
                rows.append(np.where(inv > 0, 1.0 / np.where(inv > 0, inv, 1.0), 0.0))
        per_refl = np.array(rows)
        return np.tile(per_refl, (1, n_peaks // per_refl.shape[1]))  # the same per emission line

    def po_factors(self, ratio: float) -> np.ndarray:
        """March–Dollase factor of every reflection: the mean over its Laue equivalents."""
        cos, start = self.po_cosines()
        if cos.size == 0:
            return np.ones(len(self.hkl))
        return np.add.reduceat(march_dollase(cos, ratio), start) / np.diff(np.append(start, cos.size))

    def peak_list(self, params: PhaseParams, terms: ProfileTerms, specimen: Specimen = ON_CIRCLE):
        """Centres (deg), integrated intensities, FWHMs and η of every reflection × wavelength, with the
        profile ``terms`` (an :class:`Instrument`, or the ones a fit refined) and the ``specimen``."""
        return self._widths(*self._positions(params, terms, specimen), params, terms)

    def _positions(self, params: PhaseParams, terms: ProfileTerms, specimen: Specimen):
        """Centres (before the FP shift) and integrated intensities: cell, zero, displacement, PO, B, cover film."""
        inst = self.instrument
        d, per_line = self._geometry(params)
        centers = np.concatenate([tt + (terms.zero + displacement_shift(tt, specimen.displacement_um, inst.radius_mm))
                                  for _, tt, _, _ in per_line])
        return centers, self._areas(params, specimen, d, per_line)

    def _areas(self, params: PhaseParams, specimen: Specimen, d, per_line) -> np.ndarray:
        """Integrated intensities of every reflection × wavelength (read-only). Kept for the last few parameter sets:
        a Jacobian's zero and displacement columns move the peaks, not their areas."""
        key = (tuple(params.cell.items()), params.b_overall, params.po_ratio, self.po_hkl, specimen.film_mu_t,
               specimen.beam_fill, specimen.inv_mu_t, params.coordinates, params.occupancies)
        hit = self._areas_memo.get(key)
        if hit is not None:
            return hit
        f2 = (self.structure_f2(params.coordinates, params.occupancies) if params.coordinates or params.occupancies
              else self.f2)
        if params.b_overall:
            f2 = f2 * np.exp(-2.0 * params.b_overall / (2.0 * d) ** 2)
        intensity = self.multiplicity * f2
        if self.po_hkl is not None and params.po_ratio != 1.0:
            intensity = intensity * self.po_factors(params.po_ratio)
        areas = np.concatenate([weight * intensity * lp * slit * film_transmission(tt, specimen.film_mu_t)
                                * overspill(tt, specimen.beam_fill) * thickness_transmission(tt, specimen.inv_mu_t)
                                for weight, tt, lp, slit in per_line])
        areas.flags.writeable = False  # shared by the calls that hit the memo
        return _remember(self._areas_memo, key, areas)

    def _geometry(self, params: PhaseParams):
        """(d, [(weight, 2θ, LP, slit factor) per emission line]): what the cell alone decides. Kept for the
        last few cells: a Jacobian moves zero, displacement, B, texture and widths with the cell held."""
        key = tuple(params.cell.items())
        hit = self._geometry_memo.get(key)
        if hit is not None:
            return hit
        inst = self.instrument
        d = self.d_spacings(params)
        per_line = []
        for lam, weight in inst.wavelengths:
            tt = bragg_two_theta(d, lam)
            per_line.append((weight, tt, lorentz_polarization(tt, inst.polarization_factor), slit_factor(tt, inst)))
        return _remember(self._geometry_memo, key, (d, per_line))

    def _widths(self, centers, areas, params: PhaseParams, terms: ProfileTerms):
        """Complete a peak list with FWHMs and η: U V W X Y, size, strain (and the FP geometry)."""
        centers, fwhm, eta = self._widths_many(centers, [params], [terms])
        return centers, areas, fwhm[0], eta[0]

    def _widths_many(self, centers, params: list, terms: list):
        """(centres, FWHMs, η) of the peaks at ``centers`` for each pair of ``params`` (PhaseParams) and ``terms``
        (ProfileTerms): FWHM and η with one row per pair, in one pass (:func:`tch_widths` broadcasts; a
        Jacobian's width parameters). The centres move only by the FP geometry's shift, which depends on the
        centres alone."""
        inst = self.instrument
        column = lambda values: np.array(values, dtype=float)[:, None]  # noqa: E731 — one parameter set per row
        hg, hl = tch_widths(
            centers[None, :], *(column([getattr(t, k) for t in terms]) for k in ("U", "V", "W", "X", "Y")),
            size_nm=self._sizes(params, centers.shape[-1]), strain=column([p.strain or 0.0 for p in params]),
            wavelength=inst.wavelength,
        )
        if inst.profile == "fp":
            # geometry-derived instrument profile; U V W X Y (default 0) add what the geometry misses
            g_fp, l_fp, shift_fp = fp_widths(centers, inst)
            hg = np.sqrt(hg**2 + g_fp**2)
            hl = hl + l_fp
            centers = centers + shift_fp
        fwhm, eta = tch_mix(hg, hl)
        return centers, fwhm, eta

    def profile(self, two_theta, params: PhaseParams, terms: ProfileTerms, specimen: Specimen = ON_CIRCLE,
                exact_tails: bool = False):
        """Unit-scale calculated pattern of this phase on ``two_theta``.

        How finely each peak's FCJ asymmetry is sampled is decided at the first call and then kept, so
        the profile stays a smooth function of the refined parameters. ``exact_tails``: see
        :func:`xrdq.model.peaks.accumulate_peaks` (simulation).
        """
        c, a, f, e = self.peak_list(params, terms, specimen)
        self._decide(c, f, terms, specimen)
        return accumulate_peaks(two_theta, c, a, f, e, terms.s_l, terms.h_l, node_counts=self._node_counts,
                                exact_tails=exact_tails, **self._aberrations(terms, specimen))

    def profile_jacobian(self, two_theta, params: PhaseParams, terms: ProfileTerms, specimen: Specimen, perturbed):
        """:meth:`profile` and its derivatives, shape (n_points, len(perturbed)), with respect to
        parameters that act through the peak list (cell, zero, displacement, U–Y, size, strain, PO, B).

        ``perturbed`` lists ``(PhaseParams, ProfileTerms, Specimen, step)``: the parameters with one of them moved
        by ``step``. The peak list is differenced (it is cheap and has no grid); the profile is then
        differentiated analytically peak by peak, so one pass replaces a pattern per parameter.
        """
        positions = self._positions(params, terms, specimen)
        base = self._widths(*positions, params, terms)
        d = np.empty((base[0].size, 4, len(perturbed)))
        # width parameters (U–Y, size, strain) keep the positions: their widths in one pass, centres and
        # intensities unchanged (derivatives exactly 0, as differencing gives)
        widths = [j for j, (pp, tp, sp, _) in enumerate(perturbed) if _same_positions(params, terms, specimen, pp, tp, sp)]
        with np.errstate(invalid="ignore"):
            if widths:
                _, fwhm, eta = self._widths_many(positions[0], [perturbed[j][0] for j in widths],
                                                 [perturbed[j][1] for j in widths])
                steps = np.array([perturbed[j][3] for j in widths])[:, None]
                d[:, 0:2, widths] = 0.0
                d[:, 2, widths] = ((fwhm - base[2]) / steps).T
                d[:, 3, widths] = ((eta - base[3]) / steps).T
            shifted = []  # the same width parameters at moved centres (cell, zero, displacement): widths in one pass
            for j in (j for j in range(len(perturbed)) if j not in widths):
                pp, tp, sp, step = perturbed[j]
                moved = self._positions(pp, tp, sp)
                if not _same_widths(params, terms, pp, tp):
                    moved = self._widths(*moved, pp, tp)
                elif np.array_equal(moved[0], positions[0]):
                    moved = (base[0], moved[1], base[2], base[3])  # intensities only (texture, B): the widths stand
                else:
                    shifted.append((j, moved))
                    continue
                for q in range(4):
                    d[:, q, j] = (moved[q] - base[q]) / step
            if shifted:
                centers, fwhm, eta = self._widths_many(np.stack([m[0] for _, m in shifted]), [params], [terms])
                for row, (j, moved) in enumerate(shifted):
                    step = perturbed[j][3]
                    for q, value in enumerate((centers[row], moved[1], fwhm[0, row], eta[0, row])):
                        d[:, q, j] = (value - base[q]) / step
        c, a, f, e = base
        self._decide(c, f, terms, specimen)
        return accumulate_peaks(two_theta, c, a, f, e, terms.s_l, terms.h_l, node_counts=self._node_counts,
                                derivatives=d, **self._aberrations(terms, specimen))

    def tick_positions(self, params: PhaseParams, terms: ProfileTerms, specimen: Specimen = ON_CIRCLE):
        """Kα1 peak positions (deg) and hkl for tick marks."""
        d = self.d_spacings(params)
        tt = bragg_two_theta(d, self.instrument.wavelength)
        shift = terms.zero + displacement_shift(tt, specimen.displacement_um, self.instrument.radius_mm)
        if self.instrument.profile == "fp":
            shift = shift + fp_widths(tt, self.instrument)[2]
        # the centroids of the transparency profile and the flat-specimen aberration
        shift = shift - self.transparency(specimen) * np.sin(np.radians(tt))
        if terms.flat_specimen:
            shift = shift - flat_specimen_widths(tt, terms.flat_specimen, self.instrument.variable_slit) / 3.0
        tt = tt + shift
        lo, hi = self.two_theta_range
        keep = np.isfinite(tt) & (tt >= lo) & (tt <= hi)
        return tt[keep], self.hkl[keep]
