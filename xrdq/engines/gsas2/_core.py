"""Drive a GSAS-II Rietveld refinement through GSASIIscriptable and read it back into xrdq objects.

Every call works in its own private directory (``tempfile.mkdtemp``): GSAS-II rewrites the
``.gpx`` and ``.lst`` beside the project on every refinement, so parallel jobs must never share one.
Nothing here relies on the current working directory; the pattern is always handed over as a
``.xye`` (GSAS-II's ``.rasx`` importer unpacks into the cwd).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import os
import pickle
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import XrdqPhaseError, XrdqRefineError
from ._loader import gsas2_version, import_gsas2

# ---------------------------------------------------------------------------------------------
# Recipe
# ---------------------------------------------------------------------------------------------

PROFILE_TERMS = ("U", "V", "W", "X", "Y", "SH/L")

#: Recipe.fcj values: GSAS-II's own FCJ quadrature, or the exact-weight one of :func:`fcj_exact`.
FCJ_QUADRATURES = ("gsas2", "exact")

#: Most nodes of the exact FCJ quadrature (the count per peak follows xrdq's own model).
FCJ_NODES = 16

#: GSAS-II keeps module-level state (constraint maps in GSASIImapvars, print redirection), so calls
#: are serialised within one process; run parallel jobs in separate processes.
_G2_LOCK = threading.RLock()

#: Profile terms refined by default: the Gaussian U and W, as in the native engine, and the FCJ
#: asymmetry SH/L. The instrument's V, X and Y are held at the values of the instrument description.
DEFAULT_PROFILE = ("U", "W", "SH/L")

#: The default refinement strategy, the native engine's recipe in GSAS-II's vocabulary. Steps are
#: cumulative: what a step turns on stays on. Before the first step xrdq always runs one internal step
#: (background + histogram scale) and folds the refined histogram scale into the phase fractions,
#: which then carry the scale alone. Amorphous humps (background peaks): their areas are refined
#: with the background from the start, their positions and Gaussian widths from the step that sets
#: ``humps`` (the native engine frees hump centres and widths in its second stage too).
#: The default integrates the FCJ asymmetry exactly (``Recipe.fcj = "exact"``).
DEFAULT_STEPS: tuple[dict, ...] = (
    {"name": "background+fractions", "background": True, "fractions": True},
    # peak positions before widths: with the positions still off, broader peaks lower χ² and LM ran the sizes
    # of 0.5–1 µm phases past their lower limit (then held at 1 µm: 2 wt% off on lazco_a40_rep_r01)
    {"name": "cells+displacement", "cells": True, "displacement": True},
    {"name": "cells+displacement+size", "cells": True, "displacement": True, "size": True, "humps": True},
    {"name": "profile", "profile": DEFAULT_PROFILE},
)

#: ``recipe="gsas2-fcj"``: the default steps with GSAS-II's own FCJ quadrature and SH/L held. Refined
#: against that quadrature, SH/L would absorb the quadrature's error rather than describe the instrument.
GSAS2_FCJ_STEPS: tuple[dict, ...] = DEFAULT_STEPS[:-1] + ({"name": "profile", "profile": ("U", "W")},)

PREFERRED_ORIENTATION_STEP = {"name": "preferred orientation", "preferred_orientation": True}

_STEP_KEYS = {"name", "background", "fractions", "cells", "displacement", "zero", "profile", "size", "strain", "humps",
              "preferred_orientation", "cycles"}


@dataclass
class Recipe:
    """How GSAS-II is driven.

    ``steps``: sequence of dicts, each turning on (cumulatively) some of
    ``background`` (bool), ``fractions`` (bool), ``cells`` (bool), ``displacement`` (bool, sample
    height ``Shift``), ``zero`` (bool), ``profile`` (True or a subset of U V W X Y SH/L),
    ``humps`` (True: also refine the positions and Gaussian widths of the amorphous humps; their
    areas are always refined with the background), ``size`` (True for every phase, or a list of phase names: isotropic crystallite size, µm,
    Lorentzian), ``strain`` (likewise: isotropic microstrain, µstrain), ``preferred_orientation`` (True for every non-cubic phase, or a list of phase names;
    March–Dollase along ``po_axis``), ``cycles`` (max least-squares cycles for that step).

    ``size_fixed_um``: crystallite size of every phase until a step refines it (µm; GSAS-II's
    Scherrer term with K = 1, the native engine's convention; 1 µm is nearly negligible, like the
    native engine's zero size broadening); ``size_start_um``: where a size starts when a step first
    refines it; ``size_lg_mix``: GSAS-II's Lorentzian/Gaussian mixing of
    the size term (1 = pure Lorentzian, as in the native engine); ``size_limits_um``: GSAS-II
    parameter limits (a size refined outside them is reset to the limit and frozen; with
    ``size_retry_um`` set, one that ends a step at the upper limit is restarted once there and refined
    again — off by default: it cost a pass and changed nothing on the validation cases). A small start
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
    """

    steps: tuple = DEFAULT_STEPS
    background_terms: int = 8
    max_cycles: int = 10
    po_axis: tuple = (0, 0, 1)
    phase_curves: bool = True
    size_start_um: float = 0.03
    size_fixed_um: float = 1.0
    size_lg_mix: float = 1.0
    size_limits_um: tuple = (0.002, 10.0)
    size_retry_um: float | None = None
    fcj: str = "exact"

    @classmethod
    def coerce(cls, recipe) -> "Recipe":
        if recipe is None:
            return cls()
        if isinstance(recipe, Recipe):
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
                     "size_start_um", "size_fixed_um", "size_lg_mix", "size_limits_um", "size_retry_um", "fcj"}
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
            on = [k for k in ("background", "fractions", "cells", "displacement", "zero") if s.get(k)]
            if s.get("profile"):
                prof = PROFILE_TERMS if s["profile"] is True else tuple(s["profile"])
                on.append("profile " + " ".join(prof))
            for key, what in (("size", "crystallite size"), ("strain", "microstrain")):
                if s.get(key):
                    on.append(what + ("" if s[key] is True else " (" + ", ".join(s[key]) + ")"))
            if s.get("preferred_orientation"):
                on.append("preferred orientation")
            out.append(f"step {i} ({s.get('name', '')}): + " + ", ".join(on))
        if self.fcj == "exact":
            out.append("FCJ asymmetry integrated exactly (xrdq's node count per peak, up to "
                       f"{FCJ_NODES}), not with GSAS-II's own quadrature")
        else:
            out.append("FCJ asymmetry integrated with GSAS-II's own quadrature (PSVFCJO)")
        return out


# ---------------------------------------------------------------------------------------------
# FCJ asymmetry with an exact-weight quadrature (Recipe.fcj = "exact")
# ---------------------------------------------------------------------------------------------

def _fcj_node_count(pos, sig, gam, shl) -> int:
    """xrdq's own rule (:func:`xrdq.model.pattern.fcj_node_counts`): nodes ≈ 4 × FCJ spread / FWHM + 1,
    3 to 16, one (the centroid) where the spread is below a tenth of the FWHM — so both engines
    sample the asymmetry alike. GSAS-II units: ``sig`` Gaussian variance (centideg²), ``gam`` centideg."""
    from ...model.pattern import fcj_node_counts
    from ...model.profile import tch_mix

    fwhm, _ = tch_mix(np.sqrt(8.0 * np.log(2.0) * max(float(sig), 0.0)) / 100.0, max(float(gam), 0.0) / 100.0)
    half = 0.5 * float(shl)
    return int(fcj_node_counts(np.array([float(pos)]), np.array([max(float(fwhm), 1e-4)]), half, half)[0])


def _fcj_node_table(pos, shl, n):
    """FCJ nodes and weights (``n`` from :func:`_fcj_node_count`; 1 = a single node at the centroid)."""
    from ...model.profile import fcj_nodes

    half = 0.5 * float(shl)  # GSAS-II's FCJ takes S/L = H/L = SH/L / 2
    nodes, weights = fcj_nodes(np.array([float(pos)]), half, half, n_nodes=max(int(n), 2))
    if n <= 1:
        return np.array([float(nodes[0] @ weights[0])]), np.ones(1)
    return nodes[0], weights[0]


def fcj_exact(pos, sig, gam, shl, xdata, n=None):
    """Drop-in for ``GSASIIpwd.getFCJVoigt3`` with an exact-weight FCJ quadrature.

    The FCJ weight function is integrated on the axial height h (where it has no singularity) with
    Gauss–Legendre nodes (``xrdq.model.profile.fcj_nodes``), as many as xrdq's own model uses for the
    peak (``n``, by default :func:`_fcj_node_count`, at most :data:`FCJ_NODES`); at every node the peak
    is GSAS-II's own pseudo-Voigt (``pypsvfcjo`` without asymmetry), so only the quadrature differs
    from GSAS-II's. Units as GSAS-II's: ``pos`` °2θ, ``sig`` centideg², ``gam`` centideg; returns
    (profile per centidegree, its integral).
    """
    from GSASII import GSASIIpwd as G2pwd

    x = np.asarray(xdata, float)
    if x.size <= 1:
        return 0.0, 1.0
    if n is None:
        n = _fcj_node_count(pos, sig, gam, shl)
    nodes, weights = _fcj_node_table(pos, shl, n)
    dtt = (x[None, :] - nodes[:, None]).ravel()
    prof = np.asarray(G2pwd.pyd.pypsvfcjo(dtt.size, dtt, float(pos), float(sig), float(gam), 0.0), float)
    df = weights @ prof.reshape(nodes.size, x.size)
    cw = np.append(np.diff(x), x[-1] - x[-2])
    return df, float(np.sum(100.0 * df * cw))


def fcj_exact_derivatives(pos, sig, gam, shl, xdata, shl_derivative=True):
    """Drop-in for ``GSASIIpwd.getdFCJVoigt3``: profile and its derivatives by position, sig, gam
    (GSAS-II's own pseudo-Voigt derivatives, node-weighted) and SH/L (central difference with the node
    count held; zeros when ``shl_derivative`` is False, i.e. SH/L is not refined)."""
    from GSASII import GSASIIpwd as G2pwd

    x = np.asarray(xdata, float)
    n = _fcj_node_count(pos, sig, gam, shl)
    nodes, weights = _fcj_node_table(pos, shl, n)
    dtt = (x[None, :] - nodes[:, None]).ravel()
    parts = G2pwd.pyd.pydpsvfcjo(dtt.size, dtt, float(pos), float(sig), float(gam), 0.0)
    df, dp, ds, dg = (weights @ np.asarray(a, float).reshape(nodes.size, x.size) for a in parts[:4])
    if not shl_derivative:
        return df, dp, ds, dg, np.zeros_like(df)
    h = 1e-4 * max(float(shl), 1e-3)
    dsh = (fcj_exact(pos, sig, gam, shl + h, x, n)[0] - fcj_exact(pos, sig, gam, max(shl - h, 0.0), x, n)[0]) / (
        shl + h - max(shl - h, 0.0))
    return df, dp, ds, dg, dsh


@contextlib.contextmanager
def fcj_quadrature(kind: str = "exact", shl_refined: bool = True):
    """Within the block, GSAS-II computes FCJ asymmetry with ``kind`` ("gsas2": its own; "exact":
    :func:`fcj_exact`). GSAS-II's functions are module attributes, so this swaps them and puts them
    back; hold ``_G2_LOCK`` around it (every GSAS-II call in this process sees the swap).
    ``shl_refined=False`` skips the SH/L derivative (two extra profile evaluations per peak)."""
    if kind == "gsas2":
        yield
        return
    if kind != "exact":
        raise XrdqRefineError(f"fcj must be one of {FCJ_QUADRATURES}, got {kind!r}")
    from GSASII import GSASIIpwd as G2pwd

    if not (hasattr(G2pwd, "getFCJVoigt3") and hasattr(G2pwd, "getdFCJVoigt3")):
        raise XrdqRefineError("this GSAS-II has no GSASIIpwd.getFCJVoigt3/getdFCJVoigt3 to integrate the FCJ "
                              "asymmetry exactly; use recipe='gsas2-fcj' (GSAS-II's own quadrature)")
    saved = G2pwd.getFCJVoigt3, G2pwd.getdFCJVoigt3
    derivatives = fcj_exact_derivatives if shl_refined else functools.partial(fcj_exact_derivatives,
                                                                              shl_derivative=False)
    G2pwd.getFCJVoigt3, G2pwd.getdFCJVoigt3 = fcj_exact, derivatives
    try:
        yield
    finally:
        G2pwd.getFCJVoigt3, G2pwd.getdFCJVoigt3 = saved


# ---------------------------------------------------------------------------------------------
# Inputs written for GSAS-II
# ---------------------------------------------------------------------------------------------

def _quiet():
    """Silence GSAS-II's prints (it talks a lot on stdout)."""
    return contextlib.redirect_stdout(io.StringIO())


def gsas2_profile(instrument) -> dict:
    """The instrument's profile in GSAS-II's units and conventions (U V W are Gaussian *variances*,
    FWHM²/(8 ln 2) in centidegrees²; see :func:`xrdq.model.instrument.gsas2_profile_terms`)."""
    from ...model.instrument import gsas2_profile_terms

    return gsas2_profile_terms(*(float(getattr(instrument, k)) for k in ("U", "V", "W", "X", "Y", "s_l", "h_l")))


def instprm_text(instrument) -> str:
    """GSAS-II .instprm text for an xrdq Instrument, with Bragg–Brentano geometry and the radius.

    Starts from ``Instrument.to_instprm()`` (wavelengths, polarisation, zero), writes the profile
    terms with :func:`gsas2_profile` (GSAS-II's U V W are Gaussian variances, not FWHM²) and appends
    the sample-geometry keys GSAS-II reads from an instprm (``Diff-type``, ``Gonio. radius``).
    Comment lines after the header are dropped: the GSAS-II reader stops at the first comment after
    the values.
    """
    text = instrument.to_instprm()
    lines = text.splitlines()
    prof = gsas2_profile(instrument)
    body = [ln for ln in lines[1:] if ln.strip() and not ln.lstrip().startswith("#")]
    body = [ln for ln in body if ln.split(":", 1)[0].replace(" ", "") not in
            ("Diff-type", "Gonio.radius", "Source", *prof)]
    header = lines[0] if lines and lines[0].startswith("#") and "GSAS-II" in lines[0] else "#GSAS-II instrument parameter file; written by xrdq"
    body += [f"{k}:{v:.6f}" for k, v in prof.items()]
    body += ["Diff-type:Bragg-Brentano", f"Gonio. radius:{float(instrument.radius_mm):.3f}"]
    return "\n".join([header] + body) + "\n"


def write_xye(pattern, path, two_theta_range=None) -> int:
    """Write a pattern DataArray (intensities already attenuator-corrected) with esds as .xye."""
    x = np.asarray(pattern["two_theta"].values, dtype=float)
    y = np.asarray(pattern.values, dtype=float)
    if "esd" in pattern.coords:
        e = np.asarray(pattern.coords["esd"].values, dtype=float)
    else:
        e = np.sqrt(np.clip(y, 1.0, None))
    ok = np.isfinite(x) & np.isfinite(y)
    if two_theta_range is not None:
        lo, hi = two_theta_range
        ok &= (x >= lo) & (x <= hi)
    x, y, e = x[ok], y[ok], e[ok]
    if x.size < 10:
        raise XrdqRefineError(f"pattern has only {x.size} usable points in the requested range")
    bad = ~np.isfinite(e) | (e <= 0)
    e = np.where(bad, np.sqrt(np.clip(np.abs(y), 1.0, None)), e)
    with open(path, "w", encoding="ascii") as fh:
        fh.write(f"/* written by xrdq for GSAS-II: {pattern.attrs.get('source_path', pattern.name or 'pattern')} */\n")
        np.savetxt(fh, np.column_stack([x, y, e]), fmt="%.5f %.6g %.6g")
    return int(x.size)


def _normalise_phases(phases):
    out = []
    seen = set()
    for item in phases:
        if isinstance(item, (str, os.PathLike)):
            name, cif = Path(item).stem, item
        else:
            name, cif = item
        name = str(name)
        cif = Path(cif)
        if not cif.exists():
            # allow a bundled phase name for the CIF
            try:
                from reference_patterns import PHASES  # type: ignore[attr-defined]

                cand = Path(PHASES) / f"{cif.name if cif.suffix else cif.name + '.cif'}"
                if cand.exists():
                    cif = cand
            except Exception:
                pass
        if not cif.exists():
            raise XrdqPhaseError(f"phase {name!r}: CIF file {cif} not found")
        if name in seen:
            raise XrdqPhaseError(f"phase name {name!r} given twice; GSAS-II needs unique phase names")
        seen.add(name)
        out.append((name, cif))
    if not out:
        raise XrdqPhaseError("at least one phase is needed")
    return out


#: An atom whose symmetry images lie closer than this to it sits on a special position (Å).
SPECIAL_POSITION_TOLERANCE = 0.2


def snap_special_positions(ph, tol: float = SPECIAL_POSITION_TOLERANCE) -> list:
    """Move atoms that a CIF gives a hair off a special position onto it; return their labels.

    GSAS-II takes CIF coordinates literally, so a site such as (0.1084, 0.2167, z) in P-3m1 — the
    mirror position (x, 2x, z) to four decimals — counts as a general 12-fold site whose images come
    in pairs 0.001 Å apart: twice the atoms, a wrong cell mass and wrong intensities. xrdq's own
    crystal code (gemmi) merges such images. Here the atom is moved to the mean of its images closer
    than ``tol`` (exactly onto the special position) and GSAS-II's site symmetry and multiplicity
    are recomputed.
    """
    from GSASII import GSASIIlattice as G2lat
    from GSASII import GSASIIspc as G2spc

    gen = ph.data["General"]
    sg = gen["SGData"]
    cx, _ct, cs, _cia = gen["AtomPtrs"]
    amat = G2lat.cell2AB(gen["Cell"][1:7])[0]
    moved = []
    for atom in ph.data["Atoms"]:
        xyz = np.array(atom[cx:cx + 3], float)
        for _ in range(3):
            images = np.array([e[0] for e in G2spc.GenAtom(xyz, sg, True)], float)
            d = images - xyz
            d -= np.round(d)
            dist = np.linalg.norm(d @ amat.T, axis=1)
            close = (dist < tol)
            if not np.any(close & (dist > 1e-6)):
                break
            xyz = xyz + d[close].mean(axis=0)
        if np.max(np.abs(xyz - np.array(atom[cx:cx + 3], float))) > 1e-9:
            atom[cx:cx + 3] = [float(v) for v in xyz]
            site, mult = G2spc.SytSym(xyz, sg)[:2]
            atom[cs], atom[cs + 1] = site, mult
            moved.append(str(atom[0]))
    return moved


@dataclass
class _Project:
    G2sc: object
    proj: object
    hist: object
    phases: list  # [(name, G2Phase)]
    workdir: Path
    n_points: int
    notes: list = None


def build_project(pattern, phases, instrument, workdir, *, two_theta_range=None, background_terms=10,
                  gpx_name="xrdq.gpx", start_values=None, humps=(), size_start_um=1.0,
                  size_lg_mix=1.0, size_limits_um=None) -> _Project:
    """Create a GSAS-II project in ``workdir`` (a directory private to this call).

    ``humps``: (centre °2θ, FWHM °) start values of amorphous humps, added as GSAS-II background
    peaks (see :func:`hump_peak`).
    """
    G2sc = import_gsas2()
    workdir = Path(workdir)
    phases = _normalise_phases(phases)
    xye = workdir / "pattern.xye"
    n = write_xye(pattern, xye, two_theta_range)
    inst = workdir / "instrument.instprm"
    inst.write_text(instprm_text(instrument), encoding="ascii")
    cif_dir = workdir / "phases"
    cif_dir.mkdir(exist_ok=True)
    notes: list = []
    with _quiet():
        proj = G2sc.G2Project(newgpx=str(workdir / gpx_name))
        hist = proj.add_powder_histogram(str(xye), str(inst), fmthint="xye")
        g2phases = []
        for name, cif in phases:
            local = cif_dir / f"{len(g2phases)}_{cif.name}"
            shutil.copyfile(cif, local)
            try:
                ph = proj.add_phase(str(local), phasename=name, histograms=[hist], fmthint="CIF")
            except Exception as exc:
                raise XrdqPhaseError(f"GSAS-II could not read the CIF for phase {name!r} ({cif}): {exc}") from exc
            g2phases.append((name, ph))
            mass = float(ph.data["General"]["Mass"])
            snapped = snap_special_positions(ph)
            if snapped:
                G2sc.SetupGeneral(ph.data, str(workdir))  # recompute composition and cell mass
                new = float(ph.data["General"]["Mass"])
                if abs(new - mass) > 1e-6 * mass:
                    notes.append(f"{name}: GSAS-II read site(s) {', '.join(snapped)} as general positions; moved onto "
                                 f"the special position within {SPECIAL_POSITION_TOLERANCE} Å (cell mass {mass:.1f} → {new:.1f})")
    # Controls: a fresh project lacks parmFrozen (KeyError in some GSAS-II code paths)
    controls = proj.data["Controls"]["data"]
    controls.setdefault("parmFrozen", {})
    controls["max cyc"] = 10
    setup_histogram(controls, hist, g2phases, instrument, humps, background_terms=background_terms,
                    size_start_um=size_start_um, size_lg_mix=size_lg_mix, size_limits_um=size_limits_um)
    if start_values:
        apply_start_values(proj, hist, g2phases, start_values)
    with _quiet():
        proj.save()
    return _Project(G2sc, proj, hist, g2phases, workdir, n, notes)


def setup_histogram(controls, hist, g2phases, instrument, humps, *, background_terms, size_start_um, size_lg_mix,
                    size_limits_um):
    """One histogram's sample, background, humps and the phases' size/strain terms, as xrdq refines them
    (single projects and each histogram of a sequential one)."""
    # Sample: Bragg-Brentano, radius, histogram scale fixed at 1 (phase fractions carry scale)
    sample = hist.data["Sample Parameters"]
    sample["Type"] = "Bragg-Brentano"
    sample["Gonio. radius"] = float(instrument.radius_mm)
    sample["Scale"] = [1.0, False]
    for key in ("Shift", "Transparency", "SurfRoughA", "SurfRoughB"):
        sample.setdefault(key, [0.0, False])
    # Background: Chebyshev (true Chebyshev polynomials: 'chebyschev-1'), start level from data
    y = np.asarray(hist.data["data"][1][1])
    bkg = hist.data["Background"][0]
    bkg[:] = ["chebyschev-1", False, int(background_terms)] + [0.0] * int(background_terms)
    bkg[3] = float(np.percentile(y[y > 0], 10)) if np.any(y > 0) else 0.0
    # Amorphous humps: GSAS-II background peaks, refined with the background
    x = np.asarray(hist.data["data"][1][0], float)
    checked = _check_humps(humps, x)
    peaks = [hump_peak(c, f, x, y, bkg[3]) for c, f in checked]
    hist.data["Background"][1]["nPeaks"] = len(peaks)
    hist.data["Background"][1]["peaksList"] = peaks
    # limits as in the native engine (centre ± 10°, FWHM 3–40°, here on the Gaussian part); GSAS-II
    # resets a parameter that ends a step outside them to the limit and freezes it
    hid = hist.data["data"][0]["hId"]
    g = 1.0 / (8.0 * np.log(2.0))
    for i, (c, _f) in enumerate(checked):
        controls.setdefault("parmMinDict", {}).update({f":{hid}:BkPkpos;{i}": c - 10.0, f":{hid}:BkPksig;{i}": g * 300.0**2})
        controls.setdefault("parmMaxDict", {}).update({f":{hid}:BkPkpos;{i}": c + 10.0, f":{hid}:BkPksig;{i}": g * 4000.0**2})
    # Sample broadening: isotropic crystallite size (Lorentzian, as in the native engine), started at
    # size_start_um and refined by the recipe; no microstrain unless a step asks for it. The
    # instrument's U V W X Y carry the instrumental part.
    for _, ph in g2phases:
        hap = ph.data["Histograms"][hist.name]
        hap["Size"][0] = "isotropic"
        hap["Size"][1][:3] = [float(size_start_um), float(size_start_um), float(size_lg_mix)]
        hap["Size"][2][:3] = [False, False, False]
        hap["Mustrain"][0] = "isotropic"
        hap["Mustrain"][1][:2] = [0.0, 0.0]
        hap["Mustrain"][2][:3] = [False, False, False]
        hap["Scale"] = [1.0, False]
        if size_limits_um:
            lo, hi = (float(v) for v in size_limits_um)
            controls.setdefault("parmMinDict", {})[f"{ph.data['pId']}:{hid}:Size;i"] = lo
            controls.setdefault("parmMaxDict", {})[f"{ph.data['pId']}:{hid}:Size;i"] = hi


#: TCH pseudo-Voigt: Lorentzian share q = Γ_L/Γ that gives η = 0.5, the native engine's hump shape
_Q_ETA_HALF = 0.42214


def _tch_gaussian_fwhm(fwhm, q=_Q_ETA_HALF):
    """Gaussian FWHM Γ_G such that the TCH total FWHM is ``fwhm`` with Γ_L = q·fwhm."""
    gl = q * fwhm

    def total(gg):
        return _tch_fwhm(gg, gl)

    lo, hi = 0.0, fwhm
    for _ in range(60):  # total() increases with gg
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if total(mid) < fwhm else (lo, mid)
    return 0.5 * (lo + hi)


def _check_humps(humps, x):
    out = []
    for h in humps or ():
        try:
            c, f = (float(v) for v in h)
        except (TypeError, ValueError) as exc:
            raise XrdqRefineError(f"humps must be (centre, FWHM) pairs in degrees 2θ, got {h!r}") from exc
        if not (np.isfinite(c) and np.isfinite(f) and f > 0):
            raise XrdqRefineError(f"hump ({c}, {f}): centre and FWHM must be finite and FWHM > 0")
        if x.size and not (x.min() - f <= c <= x.max() + f):
            raise XrdqRefineError(f"hump centre {c}° is outside the refined range {x.min():.2f}–{x.max():.2f}°")
        out.append((c, f))
    return out


def hump_peak(centre, fwhm, x=None, y=None, level=0.0) -> list:
    """A GSAS-II background-peak entry ``[pos, ref, int, ref, sig, ref, gam, ref]`` for an amorphous hump.

    GSAS-II units (GSASIIpwd.getBackground / getFCJVoigt3): ``pos`` in °2θ, ``sig`` the Gaussian
    *variance* in centidegrees², ``gam`` the Lorentzian FWHM in centidegrees, ``int`` the area in
    counts × centidegrees (the profile is normalised to unit area on a centidegree axis). The
    shape starts as the native engine's hump: a pseudo-Voigt of FWHM ``fwhm`` with η = 0.5; the
    area starts at what lies above ``level`` around the centre of ``y`` (or 0).
    """
    gg = _tch_gaussian_fwhm(fwhm)
    sig = (100.0 * gg) ** 2 / (8.0 * np.log(2.0))
    gam = 100.0 * _Q_ETA_HALF * fwhm
    area = 0.0
    if x is not None and y is not None and len(x):
        near = np.abs(np.asarray(x) - centre) <= 0.25 * fwhm
        if np.any(near):
            height = max(float(np.median(np.asarray(y)[near])) - float(level), 0.0)
            # pseudo-Voigt with η = 0.5: area = height · FWHM · (0.5·π/2 + 0.5·√(π/ln 16))
            area = height * fwhm * (0.25 * np.pi + 0.5 * np.sqrt(np.pi / np.log(16.0)))
    return [float(centre), False, float(max(100.0 * area, 1.0)), False, float(sig), False, float(gam), False]


def apply_start_values(proj, hist, g2phases, start_values):
    """Apply starting values: ``{"phase_fractions": {name: f}, "cells": {name: {"a":..}},
    "displacement_um": x, "zero": x, "profile": {"U": ..(GSAS-II units)}, "background": [..]}``."""
    sv = dict(start_values)
    byname = dict(g2phases)
    for name, f in (sv.pop("phase_fractions", {}) or {}).items():
        for hap in byname[name].data["Histograms"].values():
            hap["Scale"][0] = float(f)
    for name, cell in (sv.pop("cells", {}) or {}).items():
        gen = byname[name].data["General"]
        idx = {"a": 1, "b": 2, "c": 3, "alpha": 4, "beta": 5, "gamma": 6}
        for k, v in cell.items():
            gen["Cell"][idx[k]] = float(v)
    if "displacement_um" in sv:
        hist.data["Sample Parameters"]["Shift"][0] = float(sv.pop("displacement_um"))
    inst = hist.data["Instrument Parameters"][0]
    if "zero" in sv:
        inst["Zero"][1] = float(sv.pop("zero"))
    for k, v in (sv.pop("profile", {}) or {}).items():
        inst[k][1] = float(v)
    if "background" in sv:
        coeffs = [float(c) for c in sv.pop("background")]
        bkg = hist.data["Background"][0]
        bkg[2] = len(coeffs)
        bkg[3:] = coeffs
    if sv:
        raise XrdqRefineError(f"unknown start value key(s) {sorted(sv)}")


# ---------------------------------------------------------------------------------------------
# Refinement
# ---------------------------------------------------------------------------------------------

def _run_refine(p: _Project, log: io.StringIO, step_name: str, cycles: int):
    """One GSAS-II refinement (what G2Project.refine does, but keeping GSAS-II's OK flag and Rvals)."""
    from GSASII import GSASIIstrIO as G2stIO
    from GSASII import GSASIIstrMain as G2strMain

    proj = p.proj
    proj.data["Controls"]["data"]["max cyc"] = int(cycles)
    proj.data["Controls"]["data"].setdefault("parmFrozen", {})
    with contextlib.redirect_stdout(log):
        proj.index_ids()  # saves the project
        errmsg, _warn = G2stIO.ReadCheckConstraints(proj.filename)
        if errmsg:
            raise XrdqRefineError(f"GSAS-II constraint error before step {step_name!r}: {errmsg}")
        try:
            # GSAS-II returns (False, Rvals) on failure and, without a progress dialog, None on success
            res = G2strMain.Refine(proj.filename, makeBack=False)
        except Exception as exc:
            raise XrdqRefineError(f"GSAS-II refinement failed in step {step_name!r}: {exc}") from exc
        proj.reload()
    ok, rvals = res if isinstance(res, tuple) else (True, None)
    if rvals is None:
        rvals = proj.data["Covariance"]["data"].get("Rvals", {})
    if not ok:
        msg = rvals.get("msg", "") if isinstance(rvals, dict) else str(rvals)
        raise XrdqRefineError(f"GSAS-II refinement failed in step {step_name!r}: {msg.strip() or 'no message'}")
    return rvals


def _set_flags(p: _Project, on: dict, recipe: Recipe):
    hist = p.hist
    hist.data["Background"][0][1] = bool(on.get("background"))
    # amorphous humps (background peaks) go with the background: the area always, position and
    # Gaussian width once a step asks for "humps"
    humps = on.get("humps") if on.get("background") else None
    for pk in hist.data["Background"][1].get("peaksList", []):
        pk[3] = bool(humps)
        pk[1] = pk[5] = humps is True
        pk[7] = False  # the Lorentzian width stays at its start (η ≈ 0.5 with the start FWHM)
    sample = hist.data["Sample Parameters"]
    sample["Scale"][1] = bool(on.get("histogram_scale"))
    sample["Shift"][1] = bool(on.get("displacement"))
    inst = hist.data["Instrument Parameters"][0]
    prof = on.get("profile")
    prof = set(PROFILE_TERMS) if prof is True else set(prof or ())
    for term in PROFILE_TERMS:
        inst[term][2] = term in prof
    inst["Zero"][2] = bool(on.get("zero"))
    po = on.get("preferred_orientation")
    size, strain = on.get("size"), on.get("strain")
    for name, ph in p.phases:
        ph.data["General"]["Cell"][0] = bool(on.get("cells"))
        for hap in ph.data["Histograms"].values():
            hap["Scale"][1] = bool(on.get("fractions"))
            hap["Size"][2][0] = size is True or (isinstance(size, (list, tuple, set)) and name in size)
            hap["Mustrain"][2][0] = strain is True or (isinstance(strain, (list, tuple, set)) and name in strain)
            # True: every non-cubic phase (a cubic phase has no unique axis to orient along)
            cubic = ph.data["General"]["SGData"].get("SGSys") == "cubic"
            use_po = (po is True and not cubic) or (isinstance(po, (list, tuple, set)) and name in po)
            hap["Pref.Ori."][0] = "MD"
            hap["Pref.Ori."][2] = bool(use_po)
            if use_po:
                hap["Pref.Ori."][3] = list(recipe.po_axis)


def _pin_collapsed_sizes(p: _Project, fixed_um: float, pinned: set, warnings: list) -> bool:
    controls = p.proj.data["Controls"]["data"]
    frozen = controls.setdefault("parmFrozen", {}).setdefault("FrozenList", [])
    bottom = controls.get("parmMinDict", {})
    hit = False
    for n, ph in p.phases:
        hap = next(iter(ph.data["Histograms"].values()))
        key = f"{ph.data['pId']}:{p.hist.data['data'][0]['hId']}:Size;i"
        if key in bottom and key not in pinned and hap["Size"][2][0] and hap["Size"][1][0] <= bottom[key]:
            hap["Size"][1][0] = float(fixed_um)
            pinned.add(key)
            if key not in [str(v) for v in frozen]:
                frozen.append(key)
            warnings.append(f"crystallite size of {n} collapsed to the lower limit; held at {fixed_um:g} µm")
            hit = True
    return hit


def _thaw(p: _Project, pinned=()):
    """Let parameters GSAS-II froze at a limit in an earlier step refine again (from the limit),
    except crystallite sizes at the upper limit: their broadening is negligible."""
    controls = p.proj.data["Controls"]["data"]
    frozen = controls.get("parmFrozen", {}).get("FrozenList")
    if not frozen:
        return
    top = controls.get("parmMaxDict", {})
    keep = []
    for v in frozen:
        name = str(v)
        if name in pinned:
            keep.append(v)
            continue
        if name.endswith(":Size;i") and name in top:
            hap_value = _size_value(p, name)
            if hap_value is not None and hap_value >= top[name]:
                keep.append(v)
    frozen[:] = keep


def _retry_sizes(p: _Project, start_um: float, retried: set) -> bool:
    """Crystallite sizes frozen at the upper limit (each once per run): restart them at ``start_um``
    and let them refine again. True when any was restarted."""
    controls = p.proj.data["Controls"]["data"]
    frozen = controls.get("parmFrozen", {}).get("FrozenList") or []
    top = controls.get("parmMaxDict", {})
    bottom = controls.get("parmMinDict", {})
    again = []
    for v in list(frozen):
        name = str(v)
        if name.endswith(":Size;i") and name not in retried:
            value = _size_value(p, name)
            if value is None:
                continue
            if (name in top and value >= top[name] > start_um) or (name in bottom and value <= bottom[name] < start_um):
                again.append(name)
    for name in again:
        retried.add(name)
        pid = name.split(":")[0]
        for _, ph in p.phases:
            if str(ph.data["pId"]) == pid:
                next(iter(ph.data["Histograms"].values()))["Size"][1][0] = float(start_um)
    if again:
        frozen[:] = [v for v in frozen if str(v) not in again]
    return bool(again)


def _start_sizes(p: _Project, size, start_um: float, started: set):
    """Put the size of each phase that a step refines for the first time at ``start_um``."""
    for name, ph in p.phases:
        if name in started or not (size is True or (isinstance(size, (list, tuple, set)) and name in size)):
            continue
        started.add(name)
        for hap in ph.data["Histograms"].values():
            hap["Size"][1][0] = float(start_um)


def _size_value(p: _Project, name):
    pid = name.split(":")[0]
    for _, ph in p.phases:
        if str(ph.data["pId"]) == pid:
            return float(next(iter(ph.data["Histograms"].values()))["Size"][1][0])
    return None


def _tch_fwhm(gg, gl):
    return (gg**5 + 2.69269 * gg**4 * gl + 2.42843 * gg**3 * gl**2 + 4.47163 * gg**2 * gl**3
            + 0.07842 * gg * gl**4 + gl**5) ** 0.2


def _reshape_humps(p: _Project, rtol: float = 0.01) -> bool:
    """Give every hump back the native engine's shape (η = 0.5) at its refined FWHM.

    GSAS-II refines a hump's Gaussian variance with its Lorentzian width held, so η drifts when the
    start FWHM was off; here the Lorentzian width is set to the share that gives η = 0.5 at the
    refined TCH FWHM and the Gaussian variance re-solved. True when any width moved by more than
    ``rtol``.
    """
    changed = False
    for pk in p.hist.data["Background"][1].get("peaksList", []):
        gg = 2.0 * np.sqrt(2.0 * np.log(2.0) * max(pk[4], 0.01)) / 100.0
        gl = max(pk[6], 0.1) / 100.0
        fwhm = _tch_fwhm(gg, gl)
        new = hump_peak(pk[0], fwhm)
        if abs(new[6] - pk[6]) > rtol * pk[6]:
            pk[4], pk[6] = new[4], new[6]
            changed = True
    if changed:  # a width frozen at a limit is free again from its new start
        frozen = p.proj.data["Controls"]["data"].get("parmFrozen", {}).get("FrozenList")
        if frozen:
            frozen[:] = [v for v in frozen if ":BkPksig;" not in str(v)]
    return changed


def _fold_histogram_scale(p: _Project):
    sample = p.hist.data["Sample Parameters"]
    s = float(sample["Scale"][0])
    for _, ph in p.phases:
        for hap in ph.data["Histograms"].values():
            hap["Scale"][0] *= s
    sample["Scale"] = [1.0, False]


def run_recipe(p: _Project, recipe: Recipe, log: io.StringIO, warnings: list) -> dict:
    """Run the internal scale step then the recipe steps; return the last step's Rvals."""
    on: dict = {"background": True, "histogram_scale": True, "humps": "area"}
    _set_flags(p, on, recipe)
    _run_refine(p, log, "initial scale", recipe.max_cycles)
    _fold_histogram_scale(p)
    on = {"background": True, "humps": "area"}
    rvals = {}
    retried: set = set()
    started: set = set()
    pinned: set = set()
    for i, step in enumerate(recipe.steps, 1):
        for key, val in step.items():
            if key in ("name", "cycles"):
                continue
            if val:
                on[key] = val
        _set_flags(p, on, recipe)
        _start_sizes(p, on.get("size"), recipe.size_start_um, started)
        _thaw(p, pinned)
        name = step.get("name", f"step {i}")
        rvals = _run_refine(p, log, name, step.get("cycles", recipe.max_cycles))
        if on.get("size") and _pin_collapsed_sizes(p, recipe.size_fixed_um, pinned, warnings):
            # a size that collapsed to the lower limit (a weak phase whose peaks the size smeared
            # into the background) is put back at the fixed size and no longer refined
            rvals = _run_refine(p, log, name + " (collapsed sizes fixed)", step.get("cycles", recipe.max_cycles))
        if on.get("size") and recipe.size_retry_um and _retry_sizes(p, recipe.size_retry_um, retried):
            # a size that ran to the upper limit from below gets a second start from above
            rvals = _run_refine(p, log, name + " (sizes restarted)", step.get("cycles", recipe.max_cycles))
        if on.get("humps") is True and _reshape_humps(p) and i == len(recipe.steps):
            # keep η = 0.5 like the native hump: re-shaped after every step that refines humps,
            # and one more pass after the last one
            rvals = _run_refine(p, log, name + " (humps re-shaped)", step.get("cycles", recipe.max_cycles))
        if not rvals.get("converged", True):
            warnings.append(f"GSAS-II step {name!r} stopped before convergence (max cycles {step.get('cycles', recipe.max_cycles)})")
        for _, ph in p.phases:
            for hap in ph.data["Histograms"].values():
                if hap["Scale"][0] <= 0:
                    warnings.append(f"phase fraction of {_} refined to {hap['Scale'][0]:.3g} (≤ 0) in step {name!r}")
    return rvals


# ---------------------------------------------------------------------------------------------
# Read-back
# ---------------------------------------------------------------------------------------------

def weight_fractions_from_phase_fractions(f, masses, cov_f):
    """GSAS-II's weight fractions W_j = f_j M_j / Σ_i f_i M_i and their covariance J C_f Jᵀ.

    ``f``: phase fractions (GSAS-II's HAP "Scale", proportional to the number of unit cells),
    ``masses``: unit-cell masses (General['Mass'], Z·M), ``cov_f``: covariance of ``f``.
    This is the same formula as GSASIIstrMath.calcMassFracs, extended to the full covariance.
    """
    f = np.asarray(f, float)
    m = np.asarray(masses, float)
    s = float(np.sum(f * m))
    w = f * m / s
    jac = -np.outer(w, m) / s
    jac[np.diag_indices_from(jac)] += m / s
    cov_w = jac @ np.asarray(cov_f, float) @ jac.T
    return w, cov_w


def run_partials(p: _Project, log: io.StringIO) -> dict | None:
    """Per-phase calculated curves of every histogram, ``{hId: (x, {phase: y})}``, from one zero-cycle
    GSAS-II run with Controls['PhasePartials'] (what the GUI's "Compute partials" does), in ordinary
    mode even for a sequential project. Everything the run overwrites — cycles, derivative type, the
    sequential list, the covariance in the .gpx and the .lst — is put back, so it may run after the
    results have been read. None when GSAS-II wrote no partials file.
    """
    from GSASII import GSASIIstrMain as G2strMain

    proj = p.proj
    controls = proj.data["Controls"]["data"]
    partials = p.workdir / "xrdq.partials"
    if partials.exists():
        partials.unlink()
    saved = {k: controls.get(k) for k in ("max cyc", "deriv type", "Seq Data")}
    covariance = copy.deepcopy(proj.data["Covariance"])
    lst = Path(proj.filename).with_suffix(".lst")
    lst_text = lst.read_bytes() if lst.exists() else None
    controls.update({"max cyc": 0, "deriv type": "analytic Hessian", "Seq Data": [], "PhasePartials": str(partials)})
    try:
        with contextlib.redirect_stdout(log):
            proj.index_ids()
            G2strMain.Refine(proj.filename, makeBack=False)
            proj.reload()
    finally:
        controls = proj.data["Controls"]["data"]
        controls.update(saved)
        controls["PhasePartials"] = None
        proj.data["Covariance"] = covariance
        with contextlib.redirect_stdout(log):
            proj.save()
        if lst_text is not None:
            lst.write_bytes(lst_text)
    if not partials.exists():
        return None
    out: dict = {}
    with open(partials, "rb") as fh:
        try:
            pickle.load(fh)  # leading None
            while True:
                h = pickle.load(fh)
                xx = pickle.load(fh)
                pickle.load(fh)  # background
                curves = {}
                out[h] = (xx, curves)
                while True:
                    name = pickle.load(fh)
                    if name is None:
                        break
                    curves[name] = pickle.load(fh)
        except EOFError:
            pass
    return out


def _phase_partials(p: _Project, log: io.StringIO):
    """(x, {phase: curve}) of this project's histogram (:func:`run_partials`); None without partials.
    It must run after everything else has been read back."""
    got = run_partials(p, log)
    if got is None:
        return None
    return got.get(p.hist.data["data"][0]["hId"], (None, {}))


def read_back(p: _Project, rvals: dict, recipe: Recipe, instrument, phase_cifs, warnings: list) -> dict:
    proj, hist = p.proj, p.hist
    cov = proj.data["Covariance"]["data"]
    vary = list(cov.get("varyList", []))
    cmat = np.asarray(cov.get("covMatrix", np.zeros((0, 0))), float)
    sig = list(cov.get("sig", []))
    hid = hist.data["data"][0]["hId"]
    rv = cov.get("Rvals", rvals) or rvals

    data = hist.data["data"][1]
    x_all = np.asarray(data[0], float)
    lims = hist.data["Limits"][1]
    sel = (x_all >= lims[0]) & (x_all <= lims[1])
    x = x_all[sel]
    yo = np.asarray(data[1], float)[sel]
    wt = np.asarray(data[2], float)[sel]
    yc = np.asarray(data[3], float)[sel]
    yb = np.asarray(data[4], float)[sel]
    esd = np.where(wt > 0, 1.0 / np.sqrt(np.where(wt > 0, wt, 1.0)), np.inf)

    names = [n for n, _ in p.phases]
    pids = {n: ph.data["pId"] for n, ph in p.phases}
    masses = np.array([ph.data["General"]["Mass"] for _, ph in p.phases], float)
    fr = np.array([next(iter(ph.data["Histograms"].values()))["Scale"][0] for _, ph in p.phases], float)
    idx = [vary.index(f"{pids[n]}:{hid}:Scale") if f"{pids[n]}:{hid}:Scale" in vary else None for n in names]
    cov_f = np.zeros((len(names), len(names)))
    for a, ia in enumerate(idx):
        for b, ib in enumerate(idx):
            if ia is not None and ib is not None:
                cov_f[a, b] = cmat[ia, ib]
    w, cov_w = weight_fractions_from_phase_fractions(fr, masses, cov_f)
    # cross-check against GSAS-II's own ComputeMassFracs
    g2w = {}
    try:
        with _quiet():
            g2w = hist.ComputeMassFracs()
        for j, n in enumerate(names):
            if n in g2w and abs(g2w[n][0] - w[j]) > 1e-6:
                warnings.append(f"weight fraction of {n}: xrdq {w[j]:.6f} vs GSAS-II ComputeMassFracs {g2w[n][0]:.6f}")
    except Exception as exc:  # diagnostics only
        warnings.append(f"GSAS-II ComputeMassFracs unavailable: {exc}")

    # parameters: every refined variable with esd (xrdq names where there is one), then the
    # cell (from GSAS-II's reciprocal-metric A terms, with esds) and the fixed instrument terms
    label = _labels(vary, names, pids, hid)
    values = dict(zip(vary, cov.get("variables", [])))
    sigd = dict(zip(vary, sig))
    params: dict = {}
    for k in vary:
        if label[k] is None:
            continue
        params[label[k]] = (float(values.get(k, np.nan)), float(sigd.get(k, np.nan)))
    for n, ph in p.phases:
        cell = ph.data["General"]["Cell"]
        refined = bool(cell[0])
        esds = {}
        if refined:
            with contextlib.suppress(Exception), _quiet():
                _c, ce = ph.get_cell_and_esd()[:2]
                esds = {k.split("_")[-1]: float(v) for k, v in dict(ce).items()}
        for i, key in enumerate(("a", "b", "c", "alpha", "beta", "gamma"), 1):
            params[f"{n}.{key}"] = (float(cell[i]), esds.get(key, np.nan))
        params[f"{n}.volume"] = (float(cell[7]), esds.get("volume", np.nan))
    for n in names:  # GSAS-II's own weight fractions (ph:h:WgtFrac), for cross-checking
        if n in g2w:
            params[f"{n}.WgtFrac"] = (float(g2w[n][0]), float(g2w[n][1]))
    for n, ph in p.phases:  # sample broadening, also when held or frozen at a limit
        hap = next(iter(ph.data["Histograms"].values()))
        # the value in the project: GSAS-II resets a size that ended outside its limits there
        params[f"{n}.size_um"] = (float(hap["Size"][1][0]), params.get(f"{n}.size_um", (0, np.nan))[1])
        params.setdefault(f"{n}.microstrain", (float(hap["Mustrain"][1][0]), np.nan))
    for i, pk in enumerate(hist.data["Background"][1].get("peaksList", [])):
        for j, key in enumerate(("BkPkpos", "BkPkint", "BkPksig", "BkPkgam")):
            params.setdefault(f"hump{i}.{_HUMP_LABELS[key]}", (float(pk[2 * j]), np.nan))
        gg = 2.0 * np.sqrt(2.0 * np.log(2.0) * max(pk[4], 0.01)) / 100.0
        params[f"hump{i}.fwhm_deg"] = (float(_tch_fwhm(gg, max(pk[6], 0.1) / 100.0)), np.nan)  # derived
    sample = hist.data["Sample Parameters"]
    params.setdefault("displacement_um", (float(sample["Shift"][0]), np.nan))
    inst = hist.data["Instrument Parameters"][0]
    for term in ("Zero",) + PROFILE_TERMS:
        params.setdefault(f"instrument.{term}", (float(inst[term][1]), np.nan))

    # correlation of the refined variables (GSAS-II names)
    if cmat.size:
        d = np.sqrt(np.clip(np.diag(cmat), 1e-300, None))
        corr = cmat / np.outer(d, d)
        corr_names = [label[k] or k for k in vary]
    else:
        corr, corr_names = np.zeros((0, 0)), []

    # statistics: GSAS-II's chi2 = Σ w (yo - yc)²; Rwp as a fraction; Rexp from N - P
    nobs = int(rv.get("Nobs", int(np.sum(wt > 0))))
    nvar = int(rv.get("Nvars", len(vary)))
    chi2 = float(rv.get("chisq", np.sum(wt * (yo - yc) ** 2)))
    sumwy2 = float(np.sum(wt * yo**2))
    rwp = float(rv["Rwp"]) / 100.0 if "Rwp" in rv else float(np.sqrt(chi2 / sumwy2))
    rexp = float(np.sqrt(max(nobs - nvar, 1) / sumwy2)) if sumwy2 > 0 else float("nan")
    gof = float(rv.get("GOF", np.sqrt(chi2 / max(nobs - nvar, 1))))
    converged = bool(rv.get("converged", False))
    msg = str(rv.get("msg", "") or "").strip()
    if msg:
        warnings.append("GSAS-II: " + "; ".join(m.strip(" *") for m in msg.splitlines() if m.strip()))
    resid = np.sqrt(np.clip(wt, 0, None)) * (yo - yc)
    serial = float(np.corrcoef(resid[:-1], resid[1:])[0, 1]) if resid.size > 2 and np.std(resid) > 0 else 0.0

    # Bragg R and reflection ticks
    bragg = {}
    ticks = {}
    res = hist.data["data"][0]
    refl = hist.data.get("Reflection Lists", {})
    for n in names:
        key = f"{pids[n]}:{hid}:Rf"
        if key in res:
            bragg[n] = float(res[key]) / 100.0
        rl = refl.get(n, {})
        arr = np.asarray(rl.get("RefList", np.zeros((0, 6))))
        if arr.size:
            ticks[n] = (arr[:, 5].astype(float), arr[:, :3].astype(int))

    phase_info = phase_info_from_project(p, phase_cifs, instrument)

    # scales: phase fractions and their covariance (the quantity GSAS-II refines)
    scales = {n: (float(fr[j]), float(np.sqrt(max(cov_f[j, j], 0.0)))) for j, n in enumerate(names)}

    return dict(
        two_theta=x, observed=yo, esd=esd, calculated=yc, background=yb,
        phase_names=names,
        weight_fractions={n: float(w[j]) for j, n in enumerate(names)},
        weight_fraction_covariance=cov_w,
        parameters=params, correlation=(corr_names, corr),
        rwp=rwp, rexp=rexp, gof=gof, chi2=chi2, converged=converged,
        phase_info=phase_info, scales=scales, scale_covariance=cov_f, ticks=ticks,
        n_points=nobs, n_parameters=nvar, bragg_r=bragg, serial_correlation=serial,
    )


#: GSAS-II background-peak variables → xrdq names (GSAS-II units: °, counts·centideg, centideg², centideg)
_HUMP_LABELS = {"BkPkpos": "position", "BkPkint": "area_cdeg", "BkPksig": "sig_cdeg2", "BkPkgam": "gam_cdeg"}


def _labels(vary, names, pids, hid):
    """xrdq names for GSAS-II variable names (None: reported elsewhere, e.g. cell A terms)."""
    byid = {str(pids[n]): n for n in names}
    out = {}
    for k in vary:
        parts = k.split(":")
        lab = k
        if len(parts) >= 3:
            ph, h, what = parts[0], parts[1], ":".join(parts[2:])
            if ph == "" and h == str(hid):
                if what.startswith("Back;"):
                    lab = f"background.{what.split(';')[1]}"
                elif what.split(";")[0] in _HUMP_LABELS:
                    lab = f"hump{what.split(';')[1]}.{_HUMP_LABELS[what.split(';')[0]]}"
                elif what == "Shift":
                    lab = "displacement_um"
                elif what in PROFILE_TERMS or what == "Zero":
                    lab = f"instrument.{what}"
                elif what == "Scale":
                    lab = "histogram_scale"
            elif ph in byid and h == str(hid):
                if what == "Scale":
                    lab = f"{byid[ph]}.phase_fraction"
                elif what == "MD":
                    lab = f"{byid[ph]}.march_dollase"
                elif what == "Size;i":
                    lab = f"{byid[ph]}.size_um"
                elif what == "Mustrain;i":
                    lab = f"{byid[ph]}.microstrain"
                else:
                    lab = f"{byid[ph]}.{what}"
            elif ph in byid and h == "" and what.startswith("A") and what[1:].isdigit():
                lab = f"{byid[ph]}.{what}"  # GSAS-II reciprocal metric term (cell below)
        out[k] = lab
    return out


def phase_info_from_project(p, phase_cifs, instrument) -> dict:
    """Cell mass, volume, density (GSAS-II's refined cell) and µ/ρ (xrdq's crystal code, when it can read
    the CIF) of every phase, as RefinementResult.phase_info wants them."""
    lam = float(instrument.wavelength)
    phase_info = {}
    for (n, ph), (_, cif) in zip(p.phases, phase_cifs):
        gen = ph.data["General"]
        vol = float(gen["Cell"][7])
        mass = float(gen["Mass"])
        info = {"cell_mass": mass, "volume": vol, "density": mass / (vol * 0.60221408)}
        mu = _mass_attenuation(cif, gen, lam)
        if mu is not None:
            info["mass_attenuation"] = mu
        phase_info[n] = info
    return phase_info


def _mass_attenuation(cif, general, wavelength):
    try:
        from ...crystal import load_phase

        return float(load_phase(str(cif)).mass_attenuation(wavelength))
    except Exception:
        pass
    try:  # fall back on xraydb with GSAS-II's composition
        import xraydb

        energy = 12398.419843 / wavelength
        counts = general.get("NoAtoms", {})
        masses = general.get("AtomMass", [])
        types = general.get("AtomTypes", [])
        amass = dict(zip(types, masses))
        total = sum(counts[e] * amass[e] for e in counts)
        return float(sum(counts[e] * amass[e] / total * xraydb.mu_elam(e, energy) for e in counts))
    except Exception:
        return None


# ---------------------------------------------------------------------------------------------
# Public entry points (re-exported by xrdq.engines.gsas2)
# ---------------------------------------------------------------------------------------------

def refine_gsas2(pattern, phases, instrument, *, recipe=None, two_theta_range=None, workdir=None, humps=()):
    """Rietveld-refine ``pattern`` with GSAS-II and return an :class:`xrdq.refine.RefinementResult`.

    ``pattern``: xarray DataArray (dim ``two_theta``, coord ``esd``), attenuator-corrected intensities.
    ``phases``: list of ``(name, cif_path)``. ``instrument``: :class:`xrdq.model.instrument.Instrument`
    (or a name/path for :func:`~xrdq.model.instrument.load_instrument`).
    ``recipe``: None/'default', 'default+po', a list of step dicts or a dict (see :class:`Recipe`).
    ``two_theta_range``: (min, max) degrees to refine. ``humps``: (centre °2θ, FWHM °) start values of
    amorphous humps (e.g. from :func:`xrdq.refine.start.auto_humps`), each modelled as a GSAS-II
    background peak whose area, position and widths are refined with the background; their sum is
    returned as ``components["amorphous"]`` and is not part of ``background``.
    ``workdir``: if given, the GSAS-II project
    (``xrdq.gpx``, ``.lst``, inputs, ``gsas2.log``) is kept in a new private sub-directory of it;
    otherwise it is built in a private temporary directory that is removed afterwards.

    Raises :class:`~xrdq.errors.XrdqEngineUnavailable` without GSAS-II and
    :class:`~xrdq.errors.XrdqRefineError` when GSAS-II fails.
    """
    from ...refine.result import RefinementResult

    t0 = time.perf_counter()
    import_gsas2()  # fail early and clearly
    instrument = _coerce_instrument(instrument)
    recipe = Recipe.coerce(recipe)
    phase_cifs = _normalise_phases(phases)
    keep = workdir is not None
    if keep:
        Path(workdir).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="xrdq-gsas2-", dir=str(workdir) if keep else None))
    log = io.StringIO()
    warnings: list = []
    try:
        with _G2_LOCK, fcj_quadrature(recipe.fcj, recipe.refines_shl()):
            fields, components = _refine_in(tmp, pattern, phase_cifs, instrument, recipe,
                                             two_theta_range, log, warnings, humps)
        if keep:
            (tmp / "gsas2.log").write_text(log.getvalue(), encoding="utf-8")
    except BaseException:
        if keep:
            with contextlib.suppress(OSError):
                (tmp / "gsas2.log").write_text(log.getvalue(), encoding="utf-8")
        raise
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    fields.update(
        engine="gsas2",
        engine_version=gsas2_version(),
        components=components,
        warnings=list(dict.fromkeys(warnings)),
        elapsed_s=time.perf_counter() - t0,
        nfev=log.getvalue().count("Cycle "),  # GSAS-II least-squares cycles over all steps
        recipe=recipe.describe(humps),
    )
    import dataclasses

    allowed = {f.name for f in dataclasses.fields(RefinementResult)}
    result = RefinementResult(**{k: v for k, v in fields.items() if k in allowed})
    # where the GSAS-II project was kept (None when it was a removed temporary directory)
    result.gsas2_project = str(tmp / "xrdq.gpx") if keep else None
    return result


def _refine_in(tmp, pattern, phase_cifs, instrument, recipe, two_theta_range, log, warnings, humps=()):
    lam_file = pattern.attrs.get("wavelength_alpha1")
    if isinstance(lam_file, (int, float)) and abs(float(lam_file) - instrument.wavelength) > 1e-3:
        warnings.append(f"pattern Kα1 wavelength {float(lam_file):.5f} Å differs from the instrument's "
                        f"{instrument.wavelength:.5f} Å; GSAS-II used the instrument's")
    p = build_project(pattern, phase_cifs, instrument, tmp, two_theta_range=two_theta_range,
                      background_terms=recipe.background_terms, humps=humps,
                      size_start_um=recipe.size_fixed_um, size_lg_mix=recipe.size_lg_mix,
                      size_limits_um=recipe.size_limits_um)
    warnings.extend(p.notes or ())
    rvals = run_recipe(p, recipe, log, warnings)
    fields = read_back(p, rvals, recipe, instrument, phase_cifs, warnings)
    amorphous = _hump_curve(p, fields["two_theta"])
    if amorphous is not None:
        fields["background"] = fields["background"] - amorphous
    if "esd" in pattern.coords:  # report the pattern's own esds (GSAS-II keeps weights, 0 for y ≤ 0)
        fields["esd"] = np.interp(fields["two_theta"], np.asarray(pattern["two_theta"].values, float),
                                  np.asarray(pattern.coords["esd"].values, float))
    components = {}
    if recipe.phase_curves:
        try:
            got = _phase_partials(p, log)
        except Exception as exc:
            got = None
            warnings.append(f"GSAS-II phase partials failed: {exc}")
        comp = _components_from_partials(got, fields, p, amorphous)
        if comp is None:
            warnings.append("per-phase curves unavailable from GSAS-II")
        else:
            components = comp
    if amorphous is not None:
        components["amorphous"] = amorphous
    return fields, components


def _hump_curve(p: _Project, x):
    """The background peaks (amorphous humps) alone, computed by GSAS-II's own getBackground with
    every Chebyshev coefficient set to 0; None without humps."""
    bkg, extra = p.hist.data["Background"]
    peaks = extra.get("peaksList", [])
    if not peaks:
        return None
    from GSASII import GSASIIpwd as G2pwd

    inst = p.hist.data["Instrument Parameters"][0]
    pfx = ":{}:".format(p.hist.data["data"][0]["hId"])
    parm = {pfx + "SH/L": float(inst["SH/L"][1]), pfx + "Lam1": float(inst["Lam1"][1])}
    for i in range(int(bkg[2])):
        parm[f"{pfx}Back;{i}"] = 0.0
    for i, pk in enumerate(peaks):
        for j, key in enumerate(("BkPkpos", "BkPkint", "BkPksig", "BkPkgam")):
            parm[f"{pfx}{key};{i}"] = float(pk[2 * j])
    with _quiet():
        yb, _ = G2pwd.getBackground(pfx, parm, bkg[0], inst["Type"][1], np.asarray(x, float))
    return np.asarray(yb, float)


def _components_from_partials(got, fields, p, amorphous=None):
    x = fields["two_theta"]
    if got is None:
        return None
    px, curves = got
    names = fields["phase_names"]
    if len(names) == 1:
        rest = fields["calculated"] - fields["background"]
        return {names[0]: rest - amorphous if amorphous is not None else rest}
    if px is None or not curves:
        return None
    px = np.asarray(px, float)
    out = {}
    for n in names:
        y = curves.get(n)
        if y is None or len(y) != len(px):
            return None
        out[n] = np.interp(x, px, np.asarray(y, float))
    return out


def _coerce_instrument(instrument):
    if hasattr(instrument, "to_instprm"):
        return instrument
    from ...model.instrument import load_instrument

    return load_instrument(instrument)


def export_gpx(pattern, phases, instrument, out_path, *, start_values=None, two_theta_range=None,
               background_terms=10):
    """Write a GSAS-II project (.gpx) for ``pattern`` + ``phases`` + ``instrument`` that opens in the
    GSAS-II GUI, ready to refine (nothing refined yet).

    ``start_values``: optional dict with ``phase_fractions`` ({name: f}), ``cells``
    ({name: {"a": ..}}), ``displacement_um``, ``zero``, ``profile`` (GSAS-II units, e.g. {"U": 2.0}),
    ``background`` (Chebyshev coefficients). The .gpx is built in a private temporary directory and
    moved into place with ``os.replace`` (atomic); the CIF, .xye and .instprm used are not kept.
    """
    import_gsas2()
    instrument = _coerce_instrument(instrument)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".xrdq-gpx-", dir=str(out_path.parent)))
    try:
        with _G2_LOCK:
            p = build_project(pattern, phases, instrument, tmp, two_theta_range=two_theta_range,
                              background_terms=background_terms, gpx_name=out_path.name,
                              start_values=start_values)
            # refinement flags a user would start from: background + phase fractions
            _set_flags(p, {"background": True, "fractions": True}, Recipe())
            p.proj.data["Controls"]["data"]["LastSavedAs"] = str(out_path.resolve())
            with _quiet():
                p.proj.save()
        os.replace(tmp / out_path.name, out_path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_path
