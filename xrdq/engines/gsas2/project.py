"""Building a GSAS-II project from xrdq objects: the pattern as .xye, the instrument as .instprm, the
phases' CIFs (snapped onto special positions), histogram set-up, amorphous humps as background peaks."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import XrdqPhaseError, XrdqRefineError
from ...io import pattern_arrays
from ...io.writers import write_xye_columns
from ...model.profile import tch_fwhm
from ._loader import import_gsas2


def quiet():
    """Silence GSAS-II's prints (it talks a lot on stdout)."""
    return contextlib.redirect_stdout(io.StringIO())


@contextlib.contextmanager
def private_workdir(workdir, prefix: str):
    """(directory, log) private to one GSAS-II run: a new sub-directory of ``workdir``, kept with the log as
    ``gsas2.log``, or a temporary directory removed afterwards (``workdir`` None). GSAS-II rewrites the
    .gpx and .lst beside the project on every refinement, so parallel runs must never share one."""
    keep = workdir is not None
    if keep:
        Path(workdir).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=str(workdir) if keep else None))
    log = io.StringIO()
    try:
        yield tmp, log
    finally:
        if keep:
            with contextlib.suppress(OSError):
                (tmp / "gsas2.log").write_text(log.getvalue(), encoding="utf-8")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


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
    """The histogram GSAS-II reads: the pattern (DataArray or Scan, intensities already attenuator-corrected)
    within ``two_theta_range``, non-finite points dropped and unusable esds replaced by √counts, written by
    :func:`xrdq.io.writers.write_xye_columns`; returns the number of points."""
    x, y, e = (np.asarray(a, dtype=float) for a in pattern_arrays(pattern))
    ok = np.isfinite(x) & np.isfinite(y)
    if two_theta_range is not None:
        lo, hi = two_theta_range
        ok &= (x >= lo) & (x <= hi)
    x, y, e = x[ok], y[ok], e[ok]
    if x.size < 10:
        raise XrdqRefineError(f"pattern has only {x.size} usable points in the requested range")
    bad = ~np.isfinite(e) | (e <= 0)
    e = np.where(bad, np.sqrt(np.clip(np.abs(y), 1.0, None)), e)
    source = pattern.attrs.get("source_path", getattr(pattern, "name", None) or "pattern")  # a Scan has no name
    write_xye_columns(path, x, y, e, [f"# written by xrdq for GSAS-II: {source}"])
    return int(x.size)


def normalise_phases(phases):
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


def copy_structure_block(cif: Path, name: str, local: Path):
    """Copy ``cif`` to ``local`` for GSAS-II as the block xrdq's own reader takes (:func:`xrdq.crystal.cif.choose_block`:
    the one with atom sites, or the one named ``name`` among several), without a byte-order mark and with DDLm names
    as their DDL1 equivalents: GSAS-II would read its own choice of block, so the two engines could refine different
    structures under one name."""
    import codecs

    import gemmi

    from ...crystal.cif import choose_block, ddl1_text, has_ddlm_names

    data = cif.read_bytes()
    text = data.removeprefix(codecs.BOM_UTF8).decode("utf-8", errors="replace")
    try:
        doc = gemmi.cif.read_string(text)
    except (RuntimeError, ValueError):  # xrdq's reader has accepted the file; leave GSAS-II's reading of it its own
        shutil.copyfile(cif, local)
        return
    ddlm = has_ddlm_names(doc)
    if ddlm:  # GSAS-II, like gemmi's small-structure reader, looks for the DDL1 names xrdq reads them as
        doc = gemmi.cif.read_string(ddl1_text(text))
    if len(doc) == 1 and not data.startswith(codecs.BOM_UTF8) and not ddlm:
        shutil.copyfile(cif, local)  # byte for byte, as GSAS-II has always been given it
        return
    out = gemmi.cif.Document()
    out.add_copied_block(choose_block(doc, cif, name))
    local.write_text(out.as_string(), encoding="utf-8")


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
class Project:
    G2sc: object
    proj: object
    hist: object
    phases: list  # [(name, G2Phase)]
    workdir: Path
    n_points: int
    notes: list = None
    constraints: set = field(default_factory=set)  # (phase, (site, site)) pairs whose summed occupancy is held


#: (phase name, CIF path, text GSAS-II read) that GSAS-II and xrdq were found to read alike.
_READ_ALIKE: set = set()
#: The same key with the user's CIF's bytes → (CIF text GSAS-II is given instead, the note saying so).
_GIVEN: dict = {}
_READ_LOCK = threading.Lock()


class _ReadOtherwise(Exception):
    """GSAS-II read a phase's CIF as another structure than xrdq did (:mod:`.reading`)."""

    def __init__(self, name, cif, phase, found, theirs):
        super().__init__(name)
        self.name, self.cif, self.phase, self.found, self.theirs = name, Path(cif), phase, found, theirs


def build_project(pattern, phases, instrument, workdir, *, two_theta_range=None, background_terms=10,
                  gpx_name="xrdq.gpx", start_values=None, humps=(), size_start_um=1.0,
                  size_lg_mix=1.0, size_limits_um=None) -> Project:
    """Create a GSAS-II project in ``workdir`` (a directory private to this call).

    ``humps``: (centre °2θ, FWHM °) start values of amorphous humps, added as GSAS-II background
    peaks (see :func:`hump_peak`).

    Each phase GSAS-II reads is compared with xrdq's reading of the same CIF (:func:`.reading.differences`).
    Where they differ the project is built again with GSAS-II given xrdq's reading as a CIF it reads the same way
    (:func:`.reading.gsas2_cif`), and said in the notes; where even that differs, :class:`XrdqPhaseError` names
    both readings. Refining another structure than the one the user gave, without a word, is what this prevents.
    """
    from .reading import gsas2_cif, xrdq_reading

    given: dict = {}  # phase name → CIF text GSAS-II is given instead of the user's file
    said: list = []
    for name, cif in normalise_phases(phases):
        if (earlier := _GIVEN.get((name, str(cif), cif.read_bytes()))) is not None:
            given[name], note = earlier
            said.append(note)
    while True:
        try:
            p = _build_project(pattern, phases, instrument, workdir, two_theta_range, background_terms, gpx_name,
                               start_values, humps, size_start_um, size_lg_mix, size_limits_um, given)
        except _ReadOtherwise as exc:
            ours = xrdq_reading(exc.phase)
            where = f"phase {exc.name!r} ({exc.phase.source})"
            theirs = f"as {exc.theirs.describe()} ({'; '.join(exc.found)})" if exc.theirs else "; ".join(exc.found)
            if exc.name in given:
                raise XrdqPhaseError(
                    f"{where}: GSAS-II reads the structure {theirs}, where xrdq reads {ours.describe()}, even when "
                    "given xrdq's reading as a CIF: the GSAS-II engine cannot refine this phase as given; use the "
                    "native engine") from None
            try:
                text, hm, shift = gsas2_cif(exc.phase)
            except XrdqPhaseError as err:
                raise XrdqPhaseError(f"{where}: GSAS-II reads the CIF {theirs}, where xrdq reads {ours.describe()}; "
                                     f"{err}") from None
            given[exc.name] = text
            moved = "" if not any(shift) else f", coordinates moved by ({', '.join(f'{v:g}' for v in shift)}) to its origin"
            structure = any(" atoms in the cell " in f or f.startswith(("cell ", "atoms in other places")) for f in exc.found)
            what = ("(" if exc.theirs is None else "as another structure (" if structure else
                    "with other displacement parameters (" if all(" Å² instead of " in f for f in exc.found) else
                    "differently (")
            said.append(f"{exc.name}: GSAS-II read {exc.cif.name} {what}{'; '.join(exc.found)}); it was given the "
                        f"structure as xrdq read it, written as {hm}{moved}")
            with _READ_LOCK:
                _GIVEN[(exc.name, str(exc.cif), exc.cif.read_bytes())] = (text, said[-1])
            _forget_attempt(Path(workdir), gpx_name)
            continue
        p.notes = said + list(p.notes)
        return p


def _forget_attempt(workdir: Path, gpx_name: str) -> None:
    """Before a project is built again in ``workdir``: the first attempt's GSAS-II objects collected and its files
    removed. Twice in ~30 rebuilds GSAS-II then failed to load the new .gpx it had just written ("invalid load key
    '\\x00'", "could not find MARK"): the new project must not meet anything of the old one."""
    import gc

    gc.collect()
    stem = Path(gpx_name).stem
    for path in [workdir / gpx_name, workdir / f"{stem}.lst", *workdir.glob(f"{stem}.bak*.gpx"),
                 *(workdir / "phases").glob("*.cif")]:  # GSAS-II's own files and the CIFs it was given, nothing else
        with contextlib.suppress(OSError):
            path.unlink()


def _build_project(pattern, phases, instrument, workdir, two_theta_range, background_terms, gpx_name, start_values,
                   humps, size_start_um, size_lg_mix, size_limits_um, given) -> Project:
    from ...crystal import read_cif
    from .reading import differences, gsas2_reading, xrdq_reading

    G2sc = import_gsas2()
    workdir = Path(workdir)
    phases = normalise_phases(phases)
    xye = workdir / "pattern.xye"
    n = write_xye(pattern, xye, two_theta_range)
    inst = workdir / "instrument.instprm"
    inst.write_text(instprm_text(instrument), encoding="ascii")
    cif_dir = workdir / "phases"
    cif_dir.mkdir(exist_ok=True)
    notes: list = []
    with quiet():
        proj = G2sc.G2Project(newgpx=str(workdir / gpx_name))
        hist = proj.add_powder_histogram(str(xye), str(inst), fmthint="xye")
        g2phases = []
        for name, cif in phases:
            local = cif_dir / f"{len(g2phases)}_{cif.name}"
            if name in given:
                local.write_text(given[name], encoding="utf-8")
            else:
                copy_structure_block(cif, name, local)
            try:
                ph = proj.add_phase(str(local), phasename=name, histograms=[hist], fmthint="CIF")
            except Exception as exc:
                if name in given:
                    raise XrdqPhaseError(f"GSAS-II could not read phase {name!r} ({cif}) even as xrdq's reading of "
                                         f"it, written in a setting GSAS-II names: {exc}") from exc
                # xrdq has read it (Sapphire, vanadium, SrTiO3 files GSAS-II's reader gives up on): GSAS-II is given that
                raise _ReadOtherwise(name, cif, read_cif(cif, name=name, block=name),
                                     [f"GSAS-II could not read it ({str(exc).strip() or type(exc).__name__})"], None) from exc
            g2phases.append((name, ph))
            mass = float(ph.data["General"]["Mass"])
            snapped = snap_special_positions(ph)
            if snapped:
                G2sc.SetupGeneral(ph.data, str(workdir))  # recompute composition and cell mass
                new = float(ph.data["General"]["Mass"])
                if abs(new - mass) > 1e-6 * mass:
                    notes.append(f"{name}: GSAS-II read site(s) {', '.join(snapped)} as general positions; moved onto "
                                 f"the special position within {SPECIAL_POSITION_TOLERANCE} Å (cell mass {mass:.1f} → {new:.1f})")
            key = (name, str(cif), local.read_bytes())
            if key not in _READ_ALIKE:  # a batch builds a project per file from the same few CIFs
                phase = read_cif(cif, name=name, block=name)
                theirs = gsas2_reading(ph.data)
                found = differences(xrdq_reading(phase), theirs)
                if found:
                    raise _ReadOtherwise(name, cif, phase, found, theirs)
                with _READ_LOCK:
                    _READ_ALIKE.add(key)
    # Controls: a fresh project lacks parmFrozen (KeyError in some GSAS-II code paths)
    controls = proj.data["Controls"]["data"]
    controls.setdefault("parmFrozen", {})
    controls["max cyc"] = 10
    setup_histogram(controls, hist, g2phases, instrument, humps, background_terms=background_terms,
                    size_start_um=size_start_um, size_lg_mix=size_lg_mix, size_limits_um=size_limits_um)
    if start_values:
        apply_start_values(proj, hist, g2phases, start_values)
    with quiet():
        proj.save()
    return Project(G2sc, proj, hist, g2phases, workdir, n, notes)


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
    for key, (lo, hi) in instrument_limits(instrument).items():
        controls.setdefault("parmMinDict", {})[f":{hid}:{key}"] = lo
        controls.setdefault("parmMaxDict", {})[f":{hid}:{key}"] = hi
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


def instrument_limits(instrument) -> dict:
    """GSAS-II limits {name: (min, max)} of the profile terms and the sample displacement: the native
    engine's bounds (:mod:`xrdq.refine.specs`) in GSAS-II's units. Unbounded, a profile step sent U, W and
    SH/L negative on lyc_a100_ws10 to narrow LiF peaks that an unconverged size had left too broad."""
    from ...model.instrument import gsas2_profile_terms
    from ...refine.specs import spec

    keys = ("U", "V", "W", "X", "Y")
    lo, hi = (dict(zip(keys, (spec(k).bounds(None, instrument)[j] for k in keys))) for j in (0, 1))
    a_lo, a_hi = spec("asymmetry").bounds(None, instrument)  # asymmetry = S/L = H/L; GSAS-II's SH/L = S/L + H/L
    g_lo = gsas2_profile_terms(*(lo[k] for k in keys), a_lo, a_lo)
    g_hi = gsas2_profile_terms(*(hi[k] for k in keys), a_hi, a_hi)
    out = {k: (g_lo[k], g_hi[k]) for k in (*keys, "SH/L")}
    out["Shift"] = spec("displacement_um").bounds(None, instrument)
    return out


#: TCH pseudo-Voigt: Lorentzian share q = Γ_L/Γ that gives η = 0.5, the native engine's hump shape
_Q_ETA_HALF = 0.42214


def _tch_gaussian_fwhm(fwhm, q=_Q_ETA_HALF):
    """Gaussian FWHM Γ_G such that the TCH total FWHM is ``fwhm`` with Γ_L = q·fwhm."""
    gl = q * fwhm

    def total(gg):
        return tch_fwhm(gg, gl)

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


