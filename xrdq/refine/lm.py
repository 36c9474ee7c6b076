"""Levenberg–Marquardt as MINPACK's ``lmder`` does it, in numpy (no scipy.optimize import).

The refinement used ``scipy.optimize.least_squares(method="lm", x_scale="jac")``, i.e. MINPACK's
``lmder``. Importing it runs all of ``scipy/optimize/__init__`` (linprog, the interpolative SVD,
scipy.fft, ...): ≈ 0.3–0.4 s CPU in every fresh process, for one function of which the fit needs only the
trust-region loop. ``least_squares`` also evaluates the residual once more before ``lmder`` and the
Jacobian once more after it (for its result object), which the fit never reads.

This module is that loop, line for line after ``lmder.f`` and ``lmpar.f`` (Moré 1977; MINPACK-1), with
the same defaults (``factor`` = 100, scaling by the Jacobian's column norms, ``mode`` = 1), tests and
termination codes. One thing differs in how, not what: MINPACK solves the damped subproblem

    min ‖J p + f‖² + λ ‖D p‖²

with a pivoted QR of J and Givens rotations for every trial λ; here J = Q R once per Jacobian, then the
small SVD  R D⁻¹ = U S Vᵀ, after which every trial λ costs O(n²):  D p = −V diag(s / (s² + λ)) Uᵀ Qᵀ f,
and the derivative lmpar needs for its Newton step on λ is Σ (Vᵀ D p)² / (s² + λ) / ‖D p‖². The steps
are mathematically MINPACK's; they differ only by rounding (tests/refine/test_lm.py compares both on
test problems and on a refinement stage). For a rank-deficient J the Gauss–Newton step is the
minimum-norm one (MINPACK takes a basic solution); damped steps are unaffected.

Status codes are those ``least_squares`` reports: 1 gtol, 2 ftol, 3 xtol, 4 ftol and xtol, 0 the
evaluation budget ran out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EPS = np.finfo(float).eps
_DWARF = np.finfo(float).tiny
# MINPACK info → least_squares status (6, 7, 8: the tolerances hit machine precision)
_STATUS = {1: 2, 2: 3, 3: 4, 4: 1, 5: 0, 6: 2, 7: 3, 8: 1}
MESSAGES = {
    0: "The maximum number of function evaluations is exceeded.",
    1: "`gtol` termination condition is satisfied.",
    2: "`ftol` termination condition is satisfied.",
    3: "`xtol` termination condition is satisfied.",
    4: "Both `ftol` and `xtol` termination conditions are satisfied.",
}


@dataclass
class LMResult:
    x: np.ndarray
    fun: np.ndarray
    status: int
    nfev: int
    njev: int

    @property
    def message(self) -> str:
        return MESSAGES[self.status]

    @property
    def success(self) -> bool:
        return self.status > 0


def _norm(v) -> float:
    return float(np.sqrt(np.dot(v, v)))


def _damped_step(s, vt, uf, delta, par):
    """MINPACK's lmpar on the SVD: (λ, scaled step D p) with ‖D p‖ within 10 % of ``delta``, or the
    Gauss–Newton step when it lies inside the trust region."""
    nonsing = s > s[0] * s.size * _EPS if s.size else np.zeros(0, bool)
    z = -(vt.T @ np.where(nonsing, uf / np.where(nonsing, s, 1.0), 0.0))
    dxnorm = _norm(z)
    fp = dxnorm - delta
    if fp <= 0.1 * delta:
        return 0.0, z
    parl = 0.0
    if nonsing.all():  # lower bound from the Newton step at λ = 0
        temp = _norm((vt @ z) / dxnorm / s)
        parl = fp / delta / temp / temp
    gnorm = _norm(s * uf)
    paru = gnorm / delta if gnorm != 0 else _DWARF / min(delta, 0.1)
    par = min(max(par, parl), paru)
    if par == 0:
        par = gnorm / dxnorm
    for it in range(1, 11):
        if par == 0:
            par = max(_DWARF, 0.001 * paru)
        denom = s * s + par
        z = -(vt.T @ (s * uf / denom))
        dxnorm = _norm(z)
        temp, fp = fp, dxnorm - delta
        if abs(fp) <= 0.1 * delta or (parl == 0 and fp <= temp < 0) or it == 10:
            break
        temp = _norm((vt @ z) / dxnorm / np.sqrt(denom))
        parc = fp / delta / temp / temp
        if fp > 0:
            parl = max(parl, par)
        elif fp < 0:
            paru = min(paru, par)
        par = max(parl, par + parc)
    return par, z


def _radius_update(ratio, actred, dirder, fnorm, fnorm1, delta, pnorm, par):
    """lmder's trust-region radius and λ after a trial step."""
    if ratio <= 0.25:
        temp = 0.5 if actred >= 0 else 0.5 * dirder / (dirder + 0.5 * actred)
        if 0.1 * fnorm1 >= fnorm or temp < 0.1:
            temp = 0.1
        return temp * min(delta, pnorm / 0.1), par / temp
    if par == 0 or ratio >= 0.75:
        return pnorm / 0.5, 0.5 * par
    return delta, par


def levenberg_marquardt(fun, jac, x0, *, ftol=1e-8, xtol=1e-8, gtol=1e-8, max_nfev=None,
                        factor=100.0) -> LMResult:
    """Minimise ‖fun(x)‖² from ``x0`` with the Jacobian ``jac(x)`` (m × n, m ≥ n), as MINPACK's lmder."""
    x = np.array(x0, dtype=float)
    n = x.size
    f = np.asarray(fun(x), dtype=float)
    if not np.all(np.isfinite(f)):
        raise ValueError("Residuals are not finite in the initial point.")
    if n == 0 or f.size < n:
        raise ValueError(f"Levenberg–Marquardt needs 1 ≤ parameters ≤ residuals, got {n} and {f.size}")
    max_nfev = 100 * n if max_nfev is None else int(max_nfev)
    nfev, njev, it, par = 1, 0, 1, 0.0
    fnorm = _norm(f)
    diag = None
    info = 0
    while not info:
        jm = np.asarray(jac(x), dtype=float)
        njev += 1
        acnorm = np.sqrt(np.einsum("ij,ij->j", jm, jm))
        if diag is None:
            diag = np.where(acnorm == 0, 1.0, acnorm)
            xnorm = _norm(diag * x)
            delta = factor * xnorm if xnorm != 0 else factor
        # R and Qᵀf from one QR of [J | f] without forming Q (7001 × n: a quarter of the time)
        raug = np.linalg.qr(np.column_stack([jm, f]), mode="r")
        r, qtf = raug[:n, :n], raug[:n, n]
        gnorm = 0.0
        if fnorm != 0:
            g = r.T @ qtf
            ok = acnorm != 0
            gnorm = float(np.max(np.abs(g[ok] / fnorm / acnorm[ok]), initial=0.0))
        if gnorm <= gtol:
            info = 4
            break
        diag = np.maximum(diag, acnorm)
        u, s, vt = np.linalg.svd(r / diag)
        uf = u.T @ qtf
        while True:
            par, z = _damped_step(s, vt, uf, delta, par)
            step = z / diag
            trial = x + step
            pnorm = _norm(z)
            if it == 1:
                delta = min(delta, pnorm)
            f1 = np.asarray(fun(trial), dtype=float)
            nfev += 1
            fnorm1 = _norm(f1)
            actred = 1.0 - (fnorm1 / fnorm) ** 2 if 0.1 * fnorm1 < fnorm else -1.0
            temp1 = _norm(r @ step) / fnorm
            temp2 = np.sqrt(par) * pnorm / fnorm
            prered = temp1**2 + temp2**2 / 0.5
            dirder = -(temp1**2 + temp2**2)
            ratio = actred / prered if prered != 0 else 0.0
            delta, par = _radius_update(ratio, actred, dirder, fnorm, fnorm1, delta, pnorm, par)
            if ratio >= 1e-4:  # successful: move
                x, f, fnorm = trial, f1, fnorm1
                xnorm = _norm(diag * x)
                it += 1
            small_f = abs(actred) <= ftol and prered <= ftol and 0.5 * ratio <= 1
            small_x = delta <= xtol * xnorm
            info = 3 if small_f and small_x else 1 if small_f else 2 if small_x else 0
            if not info:  # the stringent tests; as in lmder the last that holds sets the code
                if gnorm <= _EPS:
                    info = 8
                elif delta <= _EPS * xnorm:
                    info = 7
                elif abs(actred) <= _EPS and prered <= _EPS and 0.5 * ratio <= 1:
                    info = 6
                elif nfev >= max_nfev:
                    info = 5
            if info or ratio >= 1e-4:
                break
    return LMResult(x=x, fun=f, status=_STATUS[info], nfev=nfev, njev=njev)
