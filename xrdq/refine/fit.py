"""Whole-pattern least squares with the linear parameters projected out (variable projection).

Scales, background coefficients and hump areas enter the model linearly: at every trial value of the
non-linear parameters (cells, displacement, profile, ...) they are solved exactly by weighted linear
least squares, so the optimiser only sees the few non-linear parameters and never wanders off with a
bad scale. Each phase's unit-scale profile is cached by the parameters it depends on.

Derivatives. Parameters that act through a phase's peak list (cells, zero, displacement, U–Y, size,
strain, PO, Biso) are differentiated analytically, peak by peak, in one pass per phase
(:meth:`xrdq.model.pattern.PhaseModel.profile_jacobian`); the Jacobian of the projected residual is then
Kaufman's approximation, −P⊥ (∂A/∂θ) c. The few others (FCJ asymmetry, hump shapes) are differenced.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np

from .._version import __version__
from ..crystal.cell import volume as cell_volume
from ..crystal.phase import density
from ..errors import XrdqRefineError
from ..model import background as bkg
from ..model.instrument import Instrument, ProfileTerms
from ..model.pattern import PhaseModel, PhaseParams, Specimen
from .parameters import Parameters, param_name
from .diagnostics import covariance, fit_warnings, specimen_notes
from .lm import levenberg_marquardt
from .recipe import Recipe, default_recipe
from .result import RefinementResult
from .specs import GLOBAL, HUMP, MIN_CRYSTALLITE_NM, PHASE, hump_index, spec
from .transforms import at_bounds, bounded_gauss_newton, transforms, typical_step

__all__ = ["Refinement", "refine", "setup_from", "MIN_CRYSTALLITE_NM"]
_PEAK_GLOBALS = tuple(s.key for s in GLOBAL if s.peak_list)  # act on every phase through its peak list
_CACHE_SIZE = 6  # profiles kept per phase (and hump blocks): a stage's trial points and its Jacobian's
#: A phase whose scale is below this many esd after the first stage is held (adaptive recipe): its cell, size and
#: texture stay at the structure's until its scale is significant (see :meth:`Refinement._judge_phases`)
SIGNIFICANT_SCALE = 3.0


class Refinement:
    """A Rietveld refinement of one pattern with any number of phases.

    Parameters live in a :class:`~xrdq.refine.parameters.Parameters` (``self.params``) with values, bounds
    and ``vary``; a recipe stage sets ``vary`` by group and :meth:`run` returns a :class:`RefinementResult`.
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
            else PhaseModel(p, instrument, self.range, po_hkl=self.recipe.po.get(p.name)) for p in self.phases
        ]
        self.prefix = {p.name: param_name(p.name) for p in self.phases}
        self.po_axes = {k: tuple(v) for k, v in self.recipe.po.items() if v is not None}
        self.fixed = set()
        # phase name -> {"significance", "stage"}: phases without signal whose own parameters are held
        self.held_phases, self.released_phases = {}, {}
        self.held_gaussian = {}  # what the instrument's Gaussian refined to before it was held (hold_gaussian)
        self.background_terms = int(self.recipe.background_terms)
        self.bkg_basis = bkg.orthogonal_basis(self.two_theta, self.background_terms, self.range)
        self.params = self._make_params()
        if start:
            for k, v in start.items():
                if k in self.params:
                    self.params[k].set(value=v)
        self._cache = [OrderedDict() for _ in self.models]
        self._hump_cache = OrderedDict()  # hump columns by (centres, FWHMs): they depend on nothing else
        self._jac_cache = [None] * len(self.models)  # (key, ∂profile/∂θ) of the last Jacobian per phase
        self.nfev = 0
        self.njev = 0
        self._setup_projection()

    # ---- parameters -----------------------------------------------------------------------
    def _make_params(self) -> Parameters:
        """Every non-linear parameter, from the table in :mod:`xrdq.refine.specs` (start, bounds), fixed."""
        p = Parameters()
        self.specs = {}  # parameter name -> its ParamSpec
        self._names = {}  # phase name -> {spec key: parameter name}
        self._owner = {}  # parameter -> index of the one phase whose peak list it changes

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
            self._names[phase.name] = {**cell, **own}
            self._owner.update(dict.fromkeys(self._names[phase.name].values(), i))
        for i, hump in enumerate(self.recipe.humps):
            for sp in HUMP:
                add(sp, f"hump{i}", hump)
        self._own_names = [[k for k in p if self._owner.get(k) == i] for i in range(len(self.phases))]  # cache keys
        return p

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
                if getattr(phase, "profile_only", False) or (sp.key == "po_ratio" and phase.name not in self.po_axes):
                    continue
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

    def set_po_axis(self, phase_name: str, hkl):
        """March–Dollase axis of one phase (None: no texture term, ratio back to 1)."""
        i = [p.name for p in self.phases].index(phase_name)
        self.models[i].po_hkl = tuple(hkl) if hkl is not None else None
        self.models[i]._po_cos = None
        self._cache[i].clear()  # profiles are keyed by parameter values, not by the axis
        self._jac_cache[i] = None
        if hkl is None:
            self.po_axes.pop(phase_name, None)
            self.params[self.parameter_name(phase_name, "po_ratio")].value = 1.0
        else:
            self.po_axes[phase_name] = tuple(hkl)

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
        return PhaseParams(
            cell={k: values[names[k]] for k in phase.cell_parameters()},
            size_nm=(np.degrees(lam / 10.0 / xb) if xb > 1e-9 else None),
            strain=(np.radians(yb) / 4.0 if yb > 1e-9 else None),
            po_ratio=values[names["po_ratio"]],
            b_overall=values[names["b_overall"]],
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

    def _phase_profile(self, i, values: dict) -> np.ndarray:
        phase = self.phases[i]
        key = self._cache_key(i, values)
        cache = self._cache[i]
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        prof = self.models[i].profile(self.two_theta, self._phase_params(phase, values), *self._setup(values))
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

    def peak_columns(self, values: dict) -> np.ndarray:
        """Columns whose shapes depend on non-linear parameters: each phase, then each hump."""
        cols = [self._phase_profile(i, values) for i in range(len(self.models))]
        if self.recipe.humps:
            cols.append(self._hump_columns(values))
        return np.column_stack(cols)

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
        q = np.linalg.solve(r.T, bn.T).T
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
        values = self._values(x, names)
        _, pp = self._project(self.peak_columns(values))
        return self._yw_perp - pp @ self._solve_scales(pp)

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
                self._store(i, key[0], prof)
                self._jac_cache[i] = (key, jac)
            d_t[own] += coef[i] * jac.T
            done[own] = True
        n_phase = len(self.models)
        for j in np.nonzero(~done)[0]:  # asymmetry, transparency, flat specimen, hump shapes: differences
            name = names[j]
            h = 1e-2 * typical_step(name, values[name])
            up, dn = dict(values), dict(values)
            up[name] += h
            dn[name] -= h
            k = hump_index(name)
            if k is None:
                # forward: the columns at ``values`` are cached, so one pattern per parameter instead of two (with
                # transparency and flat-specimen nodes these patterns are what a Jacobian costs); the step is a
                # tenth of the central one, which keeps the truncation error at the central difference's level
                h *= 0.1
                up[name] = values[name] + h
                d_t[j] = (self.peak_columns(up) - self.peak_columns(values)) @ coef / h
            else:  # a hump's shape moves its own column only: every other one differences to exactly 0
                d_t[j] = (self._hump_column(k, up) - self._hump_column(k, dn)) * coef[n_phase + k] / (2.0 * h)
        return np.ascontiguousarray(d_t.T)

    def _hump_column(self, k: int, values: dict) -> np.ndarray:
        return bkg.humps(self.two_theta, [values[f"hump{k}_center"]], [values[f"hump{k}_fwhm"]])[:, 0]

    def residual_jacobian(self, x, names) -> np.ndarray:
        """Kaufman's Jacobian of :meth:`residual`: −P⊥ ∂(A c)/∂θ, P⊥ projecting out every linear column."""
        self.njev += 1
        values = self._values(x, names)
        p = self.peak_columns(values)
        _, pp = self._project(p)
        c = self._solve_scales(pp)
        dw = self.model_derivatives(values, names, c) * self.sqrt_w[:, None]
        dw -= self._q @ (self._q.T @ dw)
        g = pp.T @ pp
        try:
            dw -= pp @ np.linalg.solve(g, pp.T @ dw)
        except np.linalg.LinAlgError:
            dw -= pp @ np.linalg.lstsq(g, pp.T @ dw, rcond=None)[0]
        return -dw

    # ---- running ----------------------------------------------------------------------------
    def run_stage(self, stage, final: bool = True, extra_names=()) -> dict:
        """Refine the groups of one stage with Levenberg–Marquardt.

        LM has no bounds, so parameters are refined in an internal variable that cannot leave them:
        non-negative ones (sample broadening, hump widths) as squares, bounded ones through the MINUIT
        sine transform. A phase with no signal can then not walk its cell into nonsense.
        """
        names = self.set_stage(stage.refine, extra_names)
        # Peaks broaden as sizes refine: re-decide how finely each is sampled for this stage (kept
        # fixed within it so the optimiser sees a smooth function). Cached profiles are keyed by their
        # sampling, so those made before stay valid only if it comes out the same.
        self.reset_sampling()
        if not names:
            self.residual(np.array([]), [])
            return {"stage": stage.name, "status": 1, "nfev": 1}
        # Parameters parked on a bound that the data push further out are held there for the stage: in
        # the transforms' internal variable they sit at a stationary point with a vanishing slope, where
        # Levenberg–Marquardt's steps overshoot and the whole stage stalls (seen: a size at zero and a
        # hump at its widest width kept every other parameter from moving, Δχ² −97 left on the table).
        held = self._held_at_bounds(names)
        entry = self._lm(names, held, final, stage.max_nfev)
        if held:
            # released if the new solution pulls them back inside
            again = self._held_at_bounds(names)
            if again != held:
                more = self._lm(names, again, final, stage.max_nfev)
                entry = {**more, "nfev": entry["nfev"] + more["nfev"]}
                held = again
        return {"stage": stage.name, **entry, **({"held_at_bounds": sorted(held)} if held else {})}

    def _held_at_bounds(self, names) -> set:
        """Varied parameters on a bound that a bounded Gauss–Newton step would push out of it."""
        params = [self.params[n] for n in names]
        lo, hi = at_bounds(params)
        if not (lo | hi).any():
            return set()
        x = np.array([p.value for p in params])
        jac = self.residual_jacobian(x, names)
        norm = np.linalg.norm(jac, axis=0)
        norm[norm == 0] = 1.0
        free, _ = bounded_gauss_newton(self.residual(x, names), jac / norm, lo, hi)
        return {n for n, f in zip(names, free) if not f}

    def _lm(self, names, held, final: bool, max_nfev: int) -> dict:
        """Levenberg–Marquardt over ``names`` except ``held``, in the bounds' internal variables."""
        names = [n for n in names if n not in held]
        if not names:
            return {"status": 1, "nfev": 0}
        to_internal, to_external, slope = transforms([self.params[n] for n in names])
        x0 = np.array([self.params[n].value for n in names])
        z0 = to_internal(x0)

        def fun(z):
            return self.residual(to_external(z), names)

        def jac(z):
            return self.residual_jacobian(to_external(z), names) * slope(z)[None, :]

        # intermediate stages only bring the next one near its optimum; the last one converges fully
        tol = 1e-5 if final else 1e-3
        # MINPACK's lmder (x_scale="jac"), without importing scipy.optimize: xrdq.refine.lm
        sol = levenberg_marquardt(fun, jac, z0, ftol=tol, xtol=1e-10, gtol=1e-10, max_nfev=max_nfev)
        x = to_external(sol.x)
        for n, v in zip(names, x):
            self.params[n].value = float(v)
        return {"status": int(sol.status), "nfev": int(sol.nfev), "message": sol.message}

    def scale_significance(self) -> dict:
        """Phase name → scale / esd at the current values: the linear solve's esd, scaled by the GoF."""
        _, pp = self._project(self.peak_columns(self._values()))
        c = self._solve_scales(pp)
        r = self._yw_perp - pp @ c
        dof = max(r.size - self.n_linear(), 1)
        cov = np.linalg.pinv(pp.T @ pp) * float(r @ r) / dof
        esd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        return {p.name: float(c[i] / esd[i]) if esd[i] > 0 else 0.0 for i, p in enumerate(self.phases)}

    def _judge_phases(self, stage, index: int, final: bool, entry: dict, start: dict) -> dict:
        """Hold, after the first stage, every phase whose scale is not significant; release a held one once
        a later stage makes it significant, and run that stage again with it.

        A declared phase that is absent (the nominal phases of a fully amorphous electrolyte) has no peaks to
        fix its cell or crystallite size: refined anyway, its cell walks and its size shrinks until its peaks
        fit the halo (gsas2/amorphous_a100: 100 evaluations in one stage, LiCl's cell 3.6 % off, undone only by
        the adaptive checks). An expert does not refine a phase that is not there. The first stage has not yet
        aligned anything, so a present phase may start weak (3.8 esd seen): the judgement is repeated after
        every stage, when the positions and widths have moved, at the structure's cell. When no phase at all is
        significant at the first stage, nothing is held: then the positions are off, not the phases absent.
        """
        sig = self.scale_significance()
        if index == 0:
            weak = [p for p in self.phases if self._names.get(p.name) and not getattr(p, "profile_only", False)
                    and sig[p.name] < SIGNIFICANT_SCALE]
            if all(sig[p.name] < SIGNIFICANT_SCALE for p in self.phases):
                weak = []  # nothing shows yet: the positions are off for every phase, not the phases absent
            for phase in weak:
                own = self._names[phase.name]
                for n in own.values():  # back to where the refinement started them (the structure's cell)
                    self.params[n].value = start[n]
                self.held_phases[phase.name] = {"significance": sig[phase.name], "stage": stage.name}
            return entry
        released = [n for n in self.held_phases if sig[n] >= SIGNIFICANT_SCALE]
        if not released:
            return entry
        for n in released:
            held = self.held_phases.pop(n)
            self.released_phases[n] = {**held, "released_after": stage.name, "significance_then": sig[n]}
        again = self.run_stage(stage, final=final)
        return {**again, "nfev": entry["nfev"] + again["nfev"], "released": released}

    def hold_gaussian(self, refined: dict):
        """Hold the Caglioti terms ``refined["names"]`` at the instrument's values for the whole refinement (a refit
        after :func:`xrdq.refine.adaptive.with_determined_gaussian` found the Gaussian on its floor)."""
        self.held_gaussian = dict(refined)
        for n in refined["names"]:
            self.params[n].value = self.specs[n].start(self.instrument)

    def _gaussian_warning(self) -> list:
        if not self.held_gaussian:
            return []
        h = self.held_gaussian
        refined = ", ".join(f"{n} = {h[n]:.4g}" for n in h["names"])
        held = ", ".join(f"{n} = {self.params[n].value:.4g}" for n in h["names"])
        return [f"instrument Gaussian held at the instrument's ({held}): refined ({refined}) its FWHM² fell to "
                f"{h['fwhm2_min']:.2g} deg² at 2θ = {h['two_theta']:.1f}°, so these peaks do not determine it; "
                f"calibrate the instrument on a standard (xrdq calibrate) if its profile may differ from "
                f"{self.instrument.name!r}"]

    def _held_warnings(self, scales: dict) -> list:
        """One line per phase still held at the end: not detected (a note), or significant after all (its cell
        and size were never refined, so its fraction may be biased: a check). Records in each held phase's entry
        whether it was ``detected`` at the end (what the verdict reads)."""
        out = []
        for name, held in self.held_phases.items():
            scale, esd = scales[name]
            end = scale / esd if esd > 0 else 0.0
            held.update(significance_end=end, detected=bool(end >= SIGNIFICANT_SCALE))
            first = f"{held['significance']:+.1f} esd after stage {held['stage']!r}"
            if not held["detected"]:
                out.append(f"{name} not detected (scale {end:+.1f} esd; {first}): its cell and crystallite size were "
                           "held at the structure's, as there are no peaks to refine them from")
            else:
                out.append(f"{name}: scale significant only at the end ({end:+.1f} esd; {first}), so its cell and "
                           "crystallite size were never refined: its fraction may be biased")
        return out

    def run(self) -> RefinementResult:
        t0 = time.perf_counter()
        stages = self.recipe.stages
        self.held_phases, self.released_phases = {}, {}
        start, log = self._values(), []
        for i, stage in enumerate(stages):
            final = i == len(stages) - 1
            entry = self.run_stage(stage, final=final)
            if self.recipe.adaptive:
                entry = self._judge_phases(stage, i, final, entry, start)
            log.append(entry)
        last = self.recipe.stages[-1] if self.recipe.stages else None
        groups = last.refine if last else ()
        extra, decisions = [], []
        if self.recipe.adaptive:
            from .adaptive import extend

            extra, decisions, more = extend(self, groups)
            log += more
        varied = self.set_stage(groups, extra)
        result = self._result(varied, log)
        result.decisions = decisions
        if self.recipe.adaptive:
            result.warnings += (self._held_warnings(result.scales) + self._gaussian_warning()
                                + specimen_notes(self.instrument, extra, result.parameters))
            result.recipe.append({"stage": "adaptive (accepted by significance tests)", "refine": list(groups) + list(extra),
                                  "background_terms": self.background_terms,
                                  "po": {k: list(v) for k, v in self.po_axes.items()},
                                  "held_phases": {k: dict(v) for k, v in self.held_phases.items()},
                                  "released_phases": {k: dict(v) for k, v in self.released_phases.items()},
                                  "held_gaussian": dict(self.held_gaussian)})
        result.elapsed_s = time.perf_counter() - t0
        result.fit = self
        return result

    def _parameters(self, values, coef, esd_all, lin_names, all_names) -> OrderedDict:
        """name → (value, esd): linear ones, then every non-linear one, then derived sizes (nm)."""
        parameters = OrderedDict()
        for i, name in enumerate(lin_names):
            parameters[name] = (float(coef[i]), float(esd_all[i]))
        esd_of = dict(zip(all_names, esd_all))
        for name, par in self.params.items():
            parameters[name] = (float(par.value), float(esd_of.get(name, np.nan)))
        # derived, reported in physical units
        for phase in self.phases:
            pp = self._phase_params(phase, values)
            if pp.size_nm is not None:
                parameters[f"{self.prefix[phase.name]}_size_nm"] = (float(pp.size_nm), np.nan)
        return parameters

    def _phase_info(self, values):
        """(phase_info, ticks): refined cell, its mass, volume, density, µ/ρ; reflection positions per phase."""
        phase_info, ticks = {}, {}
        for phase, model in zip(self.phases, self.models):
            pp = self._phase_params(phase, values)
            cell = model.cell(pp)
            volume = cell_volume(cell)
            phase_info[phase.name] = {
                "cell_mass": float(phase.cell_mass),
                "volume": float(volume),
                "density": float(density(phase.cell_mass, volume)),
                "mass_attenuation": float(phase.mass_attenuation(self.instrument.wavelength)),
                "formula": phase.formula,
                "cell": [float(c) for c in cell],
            }
            ticks[phase.name] = model.tick_positions(pp, *self._setup(values))
        return phase_info, ticks

    def _result(self, varied: list, log: list) -> RefinementResult:
        values = self._values()
        a = self.design_matrix(values)
        coef = self.solve_linear(a)
        calc = a @ coef
        n_phase = len(self.models)
        n_bkg = self.bkg_basis.shape[1]
        r = (self.observed - calc) * self.sqrt_w
        n, n_lin = r.size, coef.size
        n_par = n_lin + len(varied)
        chi2 = float(r @ r)
        dof = max(n - n_par, 1)
        sum_wy2 = float(np.sum((self.observed * self.sqrt_w) ** 2))
        rwp = np.sqrt(chi2 / sum_wy2)
        rexp = np.sqrt(dof / sum_wy2)
        gof = np.sqrt(chi2 / dof)

        # Jacobian of the weighted residual in all parameters: linear ones are the design matrix, the
        # rest come from the same derivatives the refinement used, with the linear coefficients fixed
        peak_coef = np.concatenate([coef[:n_phase], coef[n_phase + n_bkg:]])
        jac = [-a * self.sqrt_w[:, None]]
        if varied:
            jac.append(-self.model_derivatives(values, list(varied), peak_coef) * self.sqrt_w[:, None])
        cov = covariance(np.hstack(jac), gof)
        esd_all = np.sqrt(np.clip(np.diag(cov), 0, None))
        lin_names = [f"scale_{self.prefix[p.name]}" for p in self.phases] + [f"bkg{i}" for i in range(n_bkg)] + [
            f"hump{i}_area" for i in range(len(self.recipe.humps))
        ]
        all_names = lin_names + list(varied)
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = cov / np.outer(esd_all, esd_all)
        corr = np.nan_to_num(corr)

        parameters = self._parameters(values, coef, esd_all, lin_names, all_names)
        components = OrderedDict()
        for i, phase in enumerate(self.phases):
            components[phase.name] = coef[i] * a[:, i]
        background = a[:, n_phase:n_phase + n_bkg] @ coef[n_phase:n_phase + n_bkg]
        if self.recipe.humps:
            components["amorphous"] = a[:, n_phase + n_bkg:] @ coef[n_phase + n_bkg:]

        converged = not log or log[-1]["status"] > 0  # the last run's (see diagnostics.fit_warnings)
        warnings = fit_warnings(self, log, all_names, corr, gof, varied, coef, MIN_CRYSTALLITE_NM, esd_all)

        phase_info, ticks = self._phase_info(values)
        s_idx = list(range(n_phase))
        scale_cov = cov[np.ix_(s_idx, s_idx)]
        rr = r[:-1] @ r[1:] / max(chi2, 1e-300)
        return RefinementResult(
            engine="native", engine_version=__version__, two_theta=self.two_theta, observed=self.observed,
            esd=self.esd, calculated=calc, background=background, components=components,
            phase_names=[p.name for p in self.phases], weight_fractions={},
            weight_fraction_covariance=np.zeros((n_phase, n_phase)), parameters=parameters,
            correlation=(all_names, corr), rwp=float(rwp), rexp=float(rexp), gof=float(gof), chi2=chi2,
            converged=bool(converged), warnings=warnings, phase_info=phase_info,
            scales={p.name: (float(coef[i]), float(esd_all[i])) for i, p in enumerate(self.phases)},
            scale_covariance=scale_cov,
            mass_factors={n: info["cell_mass"] * info["volume"] for n, info in phase_info.items()},
            ticks=ticks, recipe=self.recipe.describe(), n_points=int(n), n_parameters=int(n_par),
            nfev=int(self.nfev), njev=int(self.njev), serial_correlation=float(rr),
        )


def setup_from(values: dict) -> tuple[ProfileTerms, Specimen]:
    """The :class:`ProfileTerms` and :class:`Specimen` that refined global parameters ``values`` (name → value)
    describe, each parameter set on the fields its spec names (``asymmetry`` on both S/L and H/L)."""
    fields = {"terms": {}, "specimen": {}}
    for sp in GLOBAL:
        fields[sp.on].update(dict.fromkeys(sp.sets, values[sp.key]))
    return ProfileTerms(**fields["terms"]), Specimen(**fields["specimen"])


def refine(pattern, phases, instrument="miniflex600", *, recipe: Recipe | None = None, two_theta_range=None,
           start=None) -> RefinementResult:
    """Refine ``pattern`` (a Pattern DataArray or :class:`~xrdq.io.Scan`) with ``phases`` (Phases, names or CIFs)."""
    from ..crystal import load_phase
    from ..io import pattern_arrays
    from ..model.instrument import load_instrument

    inst = load_instrument(instrument)
    phase_objs = [p if hasattr(p, "reflections") else load_phase(p) for p in phases]
    tt, y, esd = pattern_arrays(pattern)

    def build(rec):
        return Refinement(tt, y, esd, phase_objs, inst, recipe=rec, two_theta_range=two_theta_range, start=start)

    result = build(recipe).run()
    from .adaptive import with_determined_gaussian, without_negative_humps

    return with_determined_gaussian(without_negative_humps(result, build), build)
