"""The refinement's objective: a pattern, its parameters, and the weighted residual with the linear parts
projected out (variable projection).

Scales, background coefficients and hump areas enter the model linearly: at every trial value of the
non-linear parameters (cells, displacement, profile, ...) they are solved exactly by weighted linear
least squares, so the optimiser only sees the few non-linear parameters and never wanders off with a
bad scale. Each phase's unit-scale profile is cached by the parameters it depends on.

Derivatives. Parameters that act through a phase's peak list (cells, zero, displacement, U–Y, size,
strain, PO, Biso) are differentiated analytically, peak by peak, in one pass per phase
(:meth:`xrdq.model.pattern.PhaseModel.profile_jacobian`); the Jacobian of the projected residual is then
Kaufman's approximation, −P⊥ (∂A/∂θ) c. The hump shapes are analytic too; the few others (FCJ asymmetry,
transparency, flat specimen) are differenced.

:class:`xrdq.refine.fit.Refinement` runs a recipe's stages on it.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .._lru import LRUStore

from ..errors import XrdqRefineError
from ..model import background as bkg
from ..model.instrument import Instrument, ProfileTerms
from ..model.pattern import PhaseModel, PhaseParams, Specimen
from .parameters import Parameters, param_name
from .recipe import Recipe, default_recipe
from .specs import CUBIC_PO_PROBE, GLOBAL, HUMP, LIGHT_ELEMENTS, PHASE, hump_index, spec
from .transforms import typical_step

__all__ = ["Objective", "setup_from"]
_PEAK_GLOBALS = tuple(s.key for s in GLOBAL if s.peak_list)  # act on every phase through its peak list
_CACHE_SIZE = 6  # profiles kept per phase (and hump blocks): a stage's trial points and its Jacobian's


class _SharedProfiles(LRUStore):
    """Phase profiles and their Jacobians that more than one refinement in this process computed.

    Each quantify builds several refinements of one pattern (the halo search, the fit, a refit), and every file
    of a batch on one grid with the same phases starts from the same cells, widths and sampling: their first
    profiles and Jacobians are the same arrays, computed anew by each (≈ 8 and 5 per batch file). Keyed by
    value — the phase model's content, its PO axis, the 2θ grid and the refinement's cache key (parameter
    values and sampling) — so a hit is the same computation's result, to the bit. Only a result computed a
    second time is kept (the hashes of the last ``seen`` keys tell): a fit's ≈ 160 other evaluations are its
    own and would push the shared ones out of any store of a sensible size. Read-only arrays; thread-safe (a
    threaded dask worker or a notebook may fit in several threads).
    """

    def __init__(self, size: int = 64, seen: int = 8192):
        super().__init__(size)
        self.seen_size, self.seen = seen, OrderedDict()

    def put(self, key, value):
        if key is None:
            return
        h = hash(key)
        with self.lock:
            first = h not in self.seen
            if first:  # the first time: remembered, not kept
                self.seen[h] = None
                if len(self.seen) > self.seen_size:
                    self.seen.popitem(last=False)
        if not first:
            super().put(key, value)

    def clear(self):
        super().clear()
        with self.lock:
            self.seen.clear()


SHARED_PROFILES = _SharedProfiles()


def _read_only(*arrays):
    for a in arrays:
        a.flags.writeable = False


def _site_tags(phase) -> dict:
    """Site label → the part of its parameters' names after the phase's prefix: the label as an identifier, with the
    site's number added where two labels would make the same one (``Cl1'`` and ``Cl1_``)."""
    out, used = {}, set()
    for k, site in enumerate(phase.sites):
        tag = param_name(site.label)
        if tag in used:
            tag = f"{tag}_{k + 1}"
        used.add(tag)
        out[site.label] = tag
    return out


class Objective:
    """The least-squares problem of one pattern with any number of phases: data, parameters and model.

    Parameters live in a :class:`~xrdq.refine.parameters.Parameters` (``self.params``) with values, bounds
    and ``vary``; a recipe stage sets ``vary`` by group (:meth:`set_stage`). :meth:`residual` and
    :meth:`residual_jacobian` evaluate the weighted residual, the linear parameters solved, at the varied ones.
    """

    def __init__(self, two_theta, intensity, esd, phases, instrument: Instrument, *, recipe: Recipe | None = None,
                 two_theta_range=None, start=None):
        tt = np.asarray(two_theta, dtype=float)
        y = np.asarray(intensity, dtype=float)
        e = np.asarray(esd, dtype=float)
        lo, hi = two_theta_range if two_theta_range is not None else (tt.min(), tt.max())
        if not hi > lo:
            raise XrdqRefineError(f"two-theta range ({lo}, {hi}) is empty")
        sel = (tt >= lo) & (tt <= hi) & np.isfinite(y) & np.isfinite(e) & (e > 0)
        if sel.sum() < 50:
            raise XrdqRefineError(f"only {int(sel.sum())} usable points in 2θ {lo}–{hi}°: too few to refine")
        if not (y[sel] > 0).any():
            raise XrdqRefineError(f"every intensity in 2θ {lo:g}–{hi:g}° is 0: no diffraction signal to refine "
                                  "(detector off, shutter closed, or the wrong scan?)")
        if not phases:
            raise XrdqRefineError("at least one crystalline phase is needed")
        names = [p.name for p in phases]
        if len(set(names)) != len(names):
            raise XrdqRefineError(f"phase names must be unique, got {names}")
        self.two_theta = tt[sel]
        self.observed = y[sel]
        self.esd = e[sel]
        self.sqrt_w = 1.0 / self.esd
        self.range = (float(self.two_theta.min()), float(self.two_theta.max()))
        self.instrument = instrument
        self.recipe = recipe or default_recipe()
        self.phases = list(phases)
        # a phase may bring its own model (a PONKCS phase: a measured curve, xrdq.model.ponkcs)
        self.models = [
            p.make_model(instrument, self.range) if hasattr(p, "make_model")
            else PhaseModel(p, instrument, self.range, po_hkl=self.recipe.po.get(p.name),
                            size_hkl=self.recipe.size_axes.get(p.name)) for p in self.phases
        ]
        self.prefix = {p.name: param_name(p.name) for p in self.phases}
        self.po_axes = {k: tuple(v) for k, v in self.recipe.po.items() if v is not None}
        self.size_axes = {k: tuple(v) for k, v in self.recipe.size_axes.items() if v is not None}
        self.fixed = set()
        # phase name -> {"significance", "stage"}: phases without signal whose own parameters are held
        self.held_phases, self.released_phases = {}, {}
        self.held_gaussian = {}  # what the instrument's Gaussian refined to before it was held (hold_gaussian)
        self.gaussian_stalled = None  # where a trial stalled with the refined Gaussian on its floor (adaptive._trial)
        self.background_terms = int(self.recipe.background_terms)
        self.bkg_basis = bkg.orthogonal_basis(self.two_theta, self.background_terms, self.range)
        self.params = self._make_params()
        if start:
            for k, v in start.items():
                if k in self.params:
                    self.params[k].set(value=v)
        self._cache = [OrderedDict() for _ in self.models]
        # the grid by value, for SHARED_PROFILES (its bytes hashed once here, not at every lookup)
        self._grid_key = (self.two_theta.size, float(self.two_theta[0]), float(self.two_theta[-1]),
                          hash(self.two_theta.tobytes()))
        self._hump_cache = OrderedDict()  # hump columns by (centres, FWHMs): they depend on nothing else
        self._jac_cache = [None] * len(self.models)  # (key, ∂profile/∂θ) of the last Jacobian per phase
        self._projection_memo = None  # the last _projected: (background projection, weights, columns, P⊥ columns, c)
        self.nfev = 0
        self.njev = 0
        self._setup_projection()

    # ---- parameters -----------------------------------------------------------------------
    def _make_params(self) -> Parameters:
        """Every non-linear parameter, from the table in :mod:`xrdq.refine.specs` (start, bounds), fixed."""
        p = Parameters()
        self.specs = {}  # parameter name -> its ParamSpec
        self._names = {}  # phase name -> {spec key (a site's coordinate: "Cl1_x"): parameter name}
        self._owner = {}  # parameter -> index of the one phase whose peak list it changes
        self._coordinate_names = {}  # phase name -> [(parameter name, CIF value)] of its refined coordinates
        self._occupancy_names = {}  # phase name -> [(parameter name, CIF value)] of its refined occupancy pairs

        def add(sp, owner, source):
            name, value = sp.name(owner), sp.start(source)
            lo, hi = sp.bounds(value, self.instrument)
            p.add(name, value=value, min=lo, max=hi, vary=False)
            self.specs[name] = sp
            return name

        for sp in GLOBAL:
            add(sp, "", self.instrument)
        for i, phase in enumerate(self.phases):
            pre = self.prefix[phase.name]
            cell = {key: add(spec(key), pre, value) for key, value in phase.cell_parameters().items()}
            own = {sp.key: add(sp, pre, None) for sp in PHASE}
            if phase.name in self.po_axes and getattr(phase, "lattice_kind", None) == "cubic":
                p[own["po_ratio"]].value = CUBIC_PO_PROBE  # a texture asked for: from 1 it would not move
            coords = {}
            if phase.name in self.recipe.coordinates or phase.name in self.recipe.coordinate_candidates:
                free, pairs, expansion = self.refined_structure_terms(i)
                if free or pairs:
                    self.models[i].set_structure_terms(free, pairs, expansion)
                tag = _site_tags(phase)
                for c in free:
                    coords[f"{c.label}_{c.axis}"] = add(spec(c.axis), f"{pre}_{tag[c.label]}", c.value)
                self._coordinate_names[phase.name] = [(coords[f"{c.label}_{c.axis}"], c.value) for c in free]
                occ = []
                for pair in pairs:
                    label = pair.label.split("/")[0]
                    name = coords[f"{label}_occ"] = add(spec("occ"), f"{pre}_{tag[label]}", pair.value)
                    p[name].min, p[name].max = pair.low, pair.high
                    occ.append((name, pair.value))
                self._occupancy_names[phase.name] = occ
            self._names[phase.name] = {**cell, **own, **coords}
            self._owner.update(dict.fromkeys(self._names[phase.name].values(), i))
        for i, hump in enumerate(self.recipe.humps):
            for sp in HUMP:
                add(sp, f"hump{i}", hump)
        self._own_names = [[k for k in p if self._owner.get(k) == i] for i in range(len(self.phases))]  # cache keys
        return p

    def coordinate_names(self, phase_name: str) -> list:
        """The names of one phase's coordinate parameters (``Li2ZrCl6_Cl1_x``, ...), [] if it has none."""
        return [n for n, _ in self._coordinate_names.get(phase_name, ())]

    def occupancy_names(self, phase_name: str) -> list:
        """The names of one phase's occupancy-pair parameters (``Li2ZrCl6_Zr1_occ``, ...), [] if it has none."""
        return [n for n, _ in self._occupancy_names.get(phase_name, ())]

    def _refined(self, names_of) -> dict:
        varied = getattr(self, "final_varied", None)
        if varied is None:
            varied = [n for n, p in self.params.items() if p.vary]
        return {k: names for k in self.recipe.coordinates + self.recipe.coordinate_candidates
                if (names := [n for n in names_of(k) if n in varied])}

    @property
    def coordinate_parameters(self) -> dict:
        """Phase name → the names of its refined coordinates' parameters (``Li2ZrCl6_Cl1_x``, ...): those the last
        stage (or the adaptive recipe) varied, as :meth:`xrdq.refine.fit.Refinement.run` left them."""
        return self._refined(self.coordinate_names)

    @property
    def occupancy_parameters(self) -> dict:
        """Phase name → the names of its refined occupancy pairs' parameters (``Li2ZrCl6_Zr1_occ``), as
        :attr:`coordinate_parameters`."""
        return self._refined(self.occupancy_names)

    def refined_structure(self, phase_name: str) -> dict:
        """What of one phase's structure the refinement refined, by site: ``{"atoms": [labels whose coordinates
        were refined], "pairs": [(first label, second label) of each refined occupancy pair]}`` (another engine is
        handed the same, :func:`xrdq.engines.gsas2.mirror.mirror_recipe`)."""
        i = [p.name for p in self.phases].index(phase_name)
        model = self.models[i]
        coords = set(self.coordinate_parameters.get(phase_name, ()))
        occ = set(self.occupancy_parameters.get(phase_name, ()))
        atoms = [c.label for c, (n, _) in zip(model.coordinates, self._coordinate_names.get(phase_name, ()))
                 if n in coords]
        pairs = [tuple(q.label.split("/")) for q, (n, _) in zip(model.occupancy_pairs,
                                                               self._occupancy_names.get(phase_name, ())) if n in occ]
        return {"atoms": list(dict.fromkeys(atoms)), "pairs": pairs}

    def refined_structure_terms(self, i) -> tuple[tuple, tuple, object]:
        """(free coordinates, occupancy pairs, the SiteExpansion they came from) of phase ``i``
        (:mod:`xrdq.crystal.displace`) that a recipe naming it refines: every coordinate its sites' symmetry leaves
        free and every element's share between two partly occupied sites, except those of light atoms
        (:data:`LIGHT_ELEMENTS`)."""
        from ..crystal.displace import SiteExpansion

        phase = self.phases[i]
        if getattr(phase, "profile_only", False) or not getattr(phase, "sites", ()):
            return (), (), None
        expansion = SiteExpansion(phase)
        return (tuple(c for c in expansion.free_coordinates if c.element not in LIGHT_ELEMENTS),
                tuple(q for q in expansion.occupancy_pairs if q.element not in LIGHT_ELEMENTS), expansion)

    def parameter_name(self, phase_name: str, key: str) -> str:
        """The name of one phase's parameter ``key`` (``"strain_broadening"``, ``"po_ratio"``, a cell key)."""
        return spec(key).name(self.prefix[phase_name])

    def _group_names(self, group: str) -> list:
        """The parameters a recipe group selects: those whose spec names the group, except any of a phase
        that is a fixed curve (only its scale is refined) and the texture ratio of a phase without an axis."""
        out = []
        for name, sp in self.specs.items():
            if group not in sp.groups:
                continue
            i = self._owner.get(name)
            if i is not None:
                phase = self.phases[i]
                if getattr(phase, "profile_only", False) or (sp.key == "po_ratio" and phase.name not in self.po_axes) \
                        or (sp.key == "size_anisotropy" and phase.name not in self.size_axes) \
                        or (sp.scope == "site" and phase.name not in self.recipe.coordinates):
                    continue  # a coordinate candidate's coordinates are the adaptive recipe's to add
            out.append(name)
        return out

    def set_stage(self, groups, extra_names=()) -> list:
        """Vary the parameters of ``groups`` plus ``extra_names``; fix every other one and those in
        ``self.fixed`` (parameters the adaptive recipe found unwarranted)."""
        for par in self.params.values():
            par.vary = False
        names = []
        for g in groups:
            names += self._group_names(g)
        names += [n for n in extra_names if n not in names]
        held = {n for name in self.held_phases for n in self._names[name].values()}
        held.update(self.held_gaussian.get("names", ()))
        names = [n for n in names if n not in self.fixed and n not in held]
        for n in names:
            self.params[n].vary = True
        return names

    def set_background_terms(self, n_terms: int):
        """Change the Chebyshev order of the background (its coefficients are solved, nothing to restart)."""
        self.background_terms = int(n_terms)
        self.bkg_basis = bkg.orthogonal_basis(self.two_theta, self.background_terms, self.range)
        self._setup_projection()

    def set_axis(self, phase_name: str, hkl, kind: str = "po"):
        """An axis of one phase: its March–Dollase axis (``kind`` "po") or the axis of its uniaxial crystallite size
        ("size"); None removes the term and puts its parameter back where it does nothing (ratio 1, difference 0)."""
        i = [p.name for p in self.phases].index(phase_name)
        hkl = tuple(hkl) if hkl is not None else None
        if kind == "size":
            self.models[i].set_size_axis(hkl)
            axes, key, neutral = self.size_axes, "size_anisotropy", 0.0
        else:
            self.models[i].po_hkl, self.models[i]._po_cos = hkl, None
            axes, key, neutral = self.po_axes, "po_ratio", 1.0
        self._cache[i].clear()  # profiles are keyed by parameter values, not by the axis
        self._jac_cache[i] = None
        if hkl is None:
            axes.pop(phase_name, None)
            self.params[self.parameter_name(phase_name, key)].value = neutral
        else:
            axes[phase_name] = hkl

    def set_po_axis(self, phase_name: str, hkl):
        """March–Dollase axis of one phase (None: no texture term, ratio back to 1)."""
        self.set_axis(phase_name, hkl, "po")

    def chi2(self) -> float:
        """Weighted χ² at the current parameter values (linear parameters solved)."""
        r = self.residual(np.array([]), [])
        return float(r @ r)

    def n_linear(self) -> int:
        return len(self.models) + self.bkg_basis.shape[1] + len(self.recipe.humps)

    # ---- model ------------------------------------------------------------------------------
    def _setup(self, values: dict) -> tuple[ProfileTerms, Specimen]:
        """The instrument's profile terms and the specimen at ``values``: what every phase shares."""
        return setup_from(values)

    def _phase_params(self, phase, values: dict) -> PhaseParams:
        names = self._names[phase.name]
        lam = self.instrument.wavelength
        xb = values[names["size_broadening"]]
        yb = values[names["strain_broadening"]]
        da = values[names["size_anisotropy"]]
        axial = None
        if da:  # the broadening along the size axis, |across + difference| (its sign carries no meaning)
            xa = abs(xb + da)
            axial = np.degrees(lam / 10.0 / xa) if xa > 1e-9 else np.inf
        return PhaseParams(
            cell={k: values[names[k]] for k in phase.cell_parameters()},
            size_nm=(np.degrees(lam / 10.0 / xb) if xb > 1e-9 else None),
            strain=(np.radians(yb) / 4.0 if yb > 1e-9 else None),
            po_ratio=values[names["po_ratio"]],
            b_overall=values[names["b_overall"]],
            size_axial_nm=axial,
            coordinates=tuple(values[n] - v0 for n, v0 in self._coordinate_names.get(phase.name, ())),
            occupancies=tuple(values[n] - v0 for n, v0 in self._occupancy_names.get(phase.name, ())),
        )

    def _cache_key(self, i, values: dict) -> tuple:
        """What phase ``i``'s profile depends on: the global and its own parameters, and how finely its
        peaks' asymmetry is sampled (decided here at a stage's first request, as the profile would)."""
        return (*(values[s.key] for s in GLOBAL), *(values[k] for k in self._own_names[i]), self._sampling(i, values))

    def _sampling(self, i, values: dict) -> bytes:
        # Keyed by the sampling, profiles of earlier stages and trials stay valid across the stage
        # boundary (where the sampling is re-decided, usually to the same node counts) instead of being
        # recomputed; a changed sampling simply misses.
        model = self.models[i]
        if not hasattr(model, "decide_sampling"):
            return b""  # a fixed curve (PONKCS): nothing is sampled
        key = model.sampling_key  # decided already (within a stage: always)
        if key is None:
            key = model.decide_sampling(self._phase_params(self.phases[i], values), *self._setup(values))
        return key

    def reset_sampling(self):
        """Let every phase decide its peak sampling afresh at the next evaluation (a stage's start, a probe)."""
        for model in self.models:
            model.reset_sampling()

    def sampling_changed(self) -> bool:
        """Whether the peak sampling decided at the current values differs from the one in use (the one the
        last stage decided at its start); the new one is then decided, for the next stage to use."""
        values = self._values()
        changed = False
        for i, model in enumerate(self.models):
            if not hasattr(model, "decide_sampling"):
                continue
            used = model.sampling_key
            model.reset_sampling()
            changed |= self._sampling(i, values) != used
        return changed

    def _shared_key(self, i, kind: str, key):
        """Phase ``i``'s key in :data:`SHARED_PROFILES` (None for a model that is not a plain PhaseModel)."""
        model = self.models[i]
        if type(model) is not PhaseModel or model.content_key is None:
            return None
        structure = tuple((c.label, c.axis) for c in model.coordinates) + tuple(q.label for q in model.occupancy_pairs)
        return kind, model.content_key, model.po_hkl, model.size_hkl, structure, self._grid_key, key

    def _phase_profile(self, i, values: dict) -> np.ndarray:
        phase = self.phases[i]
        key = self._cache_key(i, values)
        cache = self._cache[i]
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        shared = self._shared_key(i, "profile", key)
        prof = SHARED_PROFILES.get(shared)
        if prof is None:
            prof = self.models[i].profile(self.two_theta, self._phase_params(phase, values), *self._setup(values))
            _read_only(prof)
            SHARED_PROFILES.put(shared, prof)
        self._store(i, key, prof)
        return prof

    def _store(self, i, key, prof):
        cache = self._cache[i]
        cache[key] = prof
        cache.move_to_end(key)
        if len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)

    def _hump_columns(self, values: dict) -> np.ndarray:
        centers = tuple(values[f"hump{i}_center"] for i in range(len(self.recipe.humps)))
        fwhms = tuple(values[f"hump{i}_fwhm"] for i in range(len(self.recipe.humps)))
        key = centers + fwhms
        cache = self._hump_cache
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        cols = bkg.humps(self.two_theta, list(centers), list(fwhms))
        cache[key] = cols
        if len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)
        return cols

    def _column_parts(self, values: dict) -> list:
        """:meth:`peak_columns` before stacking: the cached arrays themselves."""
        cols = [self._phase_profile(i, values) for i in range(len(self.models))]
        if self.recipe.humps:
            cols.append(self._hump_columns(values))
        return cols

    def peak_columns(self, values: dict) -> np.ndarray:
        """Columns whose shapes depend on non-linear parameters: each phase, then each hump."""
        return np.column_stack(self._column_parts(values))

    def _projected(self, values: dict):
        """(P⊥ W½ A, the scales c) of the peak columns A at ``values``. The last pair is kept: Levenberg–Marquardt asks
        for the Jacobian at the point whose residual it has just made, and the same cached column arrays under the
        same background projection give the same numbers (≈ 2 % of a fit recomputed them)."""
        parts = self._column_parts(values)
        memo = self._projection_memo
        if (memo is not None and memo[0] is self._q and memo[1] is self.sqrt_w and len(memo[2]) == len(parts)
                and all(a is b for a, b in zip(memo[2], parts))):
            return memo[3], memo[4]
        _, pp = self._project(np.column_stack(parts))
        c = self._solve_scales(pp)
        _read_only(pp, c)
        self._projection_memo = (self._q, self.sqrt_w, parts, pp, c)
        return pp, c

    def design_matrix(self, values: dict) -> np.ndarray:
        """Every linear column: phases, background terms, humps (the order of the coefficients)."""
        p = self.peak_columns(values)
        n_phase = len(self.models)
        return np.hstack([p[:, :n_phase], self.bkg_basis, p[:, n_phase:]])

    def _setup_projection(self):
        # Orthonormal basis of the weighted background (Q = B R⁻¹ from the Cholesky factor of BᵀB):
        # projecting it out leaves a tiny, well-conditioned system for the scales at every step.
        bw = self.bkg_basis * self.sqrt_w[:, None]
        norms = np.linalg.norm(bw, axis=0)
        bn = bw / norms
        r = np.linalg.cholesky(bn.T @ bn).T
        # Q = Bn R⁻¹ through the small inverse: a solve with one right-hand side per point (np.linalg.solve has no
        # triangular case) took ≈ 1.3 ms of every setup, ≈ 5 % of a batch file; R is well conditioned (Bn is the
        # orthogonal background basis, column-normalised), so the inverse loses nothing
        q = bn @ np.linalg.inv(r)
        self._q, self._r = q, r * norms[None, :]
        yw = self.observed * self.sqrt_w
        self._yw = yw
        self._yw_perp = yw - q @ (q.T @ yw)

    def _project(self, p: np.ndarray):
        pw = p * self.sqrt_w[:, None]
        return pw, pw - self._q @ (self._q.T @ pw)

    def _solve_scales(self, pp: np.ndarray):
        g = pp.T @ pp
        d = np.sqrt(np.diag(g))
        d[d == 0] = 1.0
        rhs = pp.T @ self._yw_perp
        try:
            c = np.linalg.solve(g / np.outer(d, d), rhs / d)
        except np.linalg.LinAlgError:
            c = np.linalg.lstsq(g / np.outer(d, d), rhs / d, rcond=None)[0]
        return c / d

    def solve_linear_parts(self, p: np.ndarray):
        """Scales/hump areas ``c`` and background coefficients ``b`` for peak columns ``p``."""
        pw, pp = self._project(p)
        c = self._solve_scales(pp)
        b = np.linalg.solve(self._r, self._q.T @ (self._yw - pw @ c))
        return c, b, pp

    def solve_linear(self, a: np.ndarray):
        """All linear coefficients in :meth:`design_matrix` order."""
        n_phase, n_bkg = len(self.models), self.bkg_basis.shape[1]
        p = np.hstack([a[:, :n_phase], a[:, n_phase + n_bkg:]])
        c, b, _ = self.solve_linear_parts(p)
        return np.concatenate([c[:n_phase], b, c[n_phase:]])

    def _values(self, x=None, names=None) -> dict:
        values = {k: p.value for k, p in self.params.items()}
        if x is not None:
            values.update(zip(names, x))
        return values

    def residual(self, x, names):
        self.nfev += 1
        pp, c = self._projected(self._values(x, names))
        return self._yw_perp - pp @ c

    def _acts_on(self, name: str, i: int) -> bool:
        return name in _PEAK_GLOBALS or self._owner.get(name) == i

    def model_derivatives(self, values: dict, names, coef) -> np.ndarray:
        """∂(A c)/∂θ (n_points × len(names)) with the linear coefficients ``c`` (peak-column order:
        phases, then humps) held fixed."""
        # filled parameter by parameter as contiguous rows (the kernels' layout), returned point-major
        d_t = np.zeros((len(names), self.two_theta.size))
        done = np.zeros(len(names), dtype=bool)
        setup = self._setup(values)
        for i, (phase, model) in enumerate(zip(self.phases, self.models)):
            own = [j for j, n in enumerate(names) if self._acts_on(n, i)]
            if not own:
                continue
            key = (self._cache_key(i, values), tuple(names[j] for j in own))
            if self._jac_cache[i] is not None and self._jac_cache[i][0] == key:
                jac = self._jac_cache[i][1]  # the covariance at the point LM last differentiated
            elif (shared := SHARED_PROFILES.get(skey := self._shared_key(i, "jacobian", key))) is not None:
                prof, jac = shared  # another refinement's, at the same point
                self._store(i, key[0], prof)
                self._jac_cache[i] = (key, jac)
            else:
                params = self._phase_params(phase, values)
                perturbed = []
                for j in own:
                    # the peak list is smooth and grid-free: a small one-sided step is exact enough
                    step = 1e-3 * typical_step(names[j], values[names[j]])
                    moved = {**values, names[j]: values[names[j]] + step}
                    # a global parameter leaves the phase's own ones as they are, and the reverse
                    perturbed.append(((params, *self._setup(moved)) if names[j] in _PEAK_GLOBALS
                                      else (self._phase_params(phase, moved), *setup)) + (step,))
                prof, jac = model.profile_jacobian(self.two_theta, params, *setup, perturbed)
                _read_only(prof, jac)
                SHARED_PROFILES.put(skey, (prof, jac))
                self._store(i, key[0], prof)
                self._jac_cache[i] = (key, jac)
            for row, j in zip(jac.T, own):  # row by row: a fancy-indexed add copies the block out and back
                d_t[j] += coef[i] * row
            done[own] = True
        n_phase = len(self.models)
        shapes = {}  # hump k → (∂/∂centre, ∂/∂FWHM) of its unit-area column
        for j in np.nonzero(~done)[0]:  # asymmetry, transparency, flat specimen: differences; hump shapes: analytic
            name = names[j]
            k = hump_index(name)
            if k is None:
                # forward: the columns at ``values`` are cached, so one pattern per parameter instead of two (with
                # transparency and flat-specimen nodes these patterns are what a Jacobian costs); the step is a
                # tenth of a central one's, which keeps the truncation error at the central difference's level
                h = 1e-2 * typical_step(name, values[name]) * 0.1
                up = {**values, name: values[name] + h}
                d_t[j] = (self.peak_columns(up) - self.peak_columns(values)) @ coef / h
            else:  # a hump's shape moves its own column only
                if k not in shapes:
                    shapes[k] = bkg.hump_derivatives(self.two_theta, values[f"hump{k}_center"], values[f"hump{k}_fwhm"])
                d_t[j] = shapes[k][0 if name == f"hump{k}_center" else 1] * coef[n_phase + k]
        return np.ascontiguousarray(d_t.T)

    def residual_jacobian(self, x, names) -> np.ndarray:
        """Kaufman's Jacobian of :meth:`residual`: −P⊥ ∂(A c)/∂θ, P⊥ projecting out every linear column."""
        self.njev += 1
        values = self._values(x, names)
        pp, c = self._projected(values)
        dw = self.model_derivatives(values, names, c)  # a new array: weighted, projected and negated in place
        dw *= self.sqrt_w[:, None]
        dw -= self._q @ (self._q.T @ dw)
        g = pp.T @ pp
        try:
            dw -= pp @ np.linalg.solve(g, pp.T @ dw)
        except np.linalg.LinAlgError:
            dw -= pp @ np.linalg.lstsq(g, pp.T @ dw, rcond=None)[0]
        return np.negative(dw, out=dw)



def setup_from(values: dict) -> tuple[ProfileTerms, Specimen]:
    """The :class:`ProfileTerms` and :class:`Specimen` that refined global parameters ``values`` (name → value)
    describe, each parameter set on the fields its spec names (``asymmetry`` on both S/L and H/L)."""
    fields = {"terms": {}, "specimen": {}}
    for sp in GLOBAL:
        fields[sp.on].update(dict.fromkeys(sp.sets, values[sp.key]))
    return ProfileTerms(**fields["terms"]), Specimen(**fields["specimen"])

