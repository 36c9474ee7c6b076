"""A verdict on every result — ``ok``, ``check`` or ``fail`` — with the reasons in words a scientist acts on.

Each check looks at one symptom of a result that is probably wrong (docs/method.md §7): peaks in the
difference curve that no phase explains, parameters at a bound, an unconverged stage, negative fractions
beyond their uncertainty, a standard that is not in the pattern, a GoF far above what the counts allow,
severe microabsorption, an instrument that contradicts the file. The verdict is the worst level found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .._filters import gaussian_smooth
# one home: the refinement's cell check and the verdict flag the same 1 % (a phase probably fitting other peaks)
from .._numeric import median
from ..refine.adaptive import CELL_LIMIT
from .estimates import by_construction

LEVELS = ("ok", "check", "fail")

#: Emission lines that put peaks where no phase has one: filter leakage and tube contamination (Å).
SATELLITES = (("Cu Kβ", 1.392218), ("W Lα1", 1.476424))
#: GoF above which the model does not describe the data (``check``), and above which it is not the
#: right model at all (``fail``).
GOF_CHECK, GOF_FAIL = 3.0, 10.0
#: Below this the fit is better than counting statistics allow (raw counts give GoF ≈ 1 within a few per cent at
#: thousands of points): the intensities are not raw counts or the esds are not theirs.
GOF_LOW = 0.5
#: Matched-filter significance (in robust noise units) and height (fraction of the strongest net peak)
#: an unexplained difference peak needs, and the model share of it above which it is only a misfit.
PEAK_SIGNIFICANCE, PEAK_MIN_HEIGHT, EXPLAINED_SHARE = 8.0, 0.004, 1.0
#: An unexplained peak is one point (a detector glitch, a cosmic ray) when both neighbours' excess is below this share
#: of its own: a reflection is several steps wide (the sharpest lab line, FWHM ≈ 0.05°, keeps ≥ 0.17 of its height
#: one 0.04° step away), so a lone point is no phase's.
SPIKE_NEIGHBOUR_SHARE = 0.1
#: Lorentzian crystallite size (nm) below which a "phase" is fitting a halo or background, not peaks.
SIZE_FLOOR_NM = 2.5
#: Uncertainty (fraction) above which a fraction is not determined at all.
UNDETERMINED = 0.1
#: µ·D above which Brindley's correction itself is unreliable (Brindley's "very coarse" class).
MU_D_LIMIT = 1.0


@dataclass
class Finding:
    level: str
    reason: str


def worse(a: str, b: str) -> str:
    return a if LEVELS.index(a) >= LEVELS.index(b) else b


def verdict_of(findings) -> tuple[str, list]:
    """(worst level, reasons of every finding at ``check`` or worse, worst first)."""
    level = "ok"
    for f in findings:
        level = worse(level, f.level)
    bad = sorted((f for f in findings if f.level != "ok"), key=lambda f: -LEVELS.index(f.level))
    return level, [f.reason for f in bad]


# ---- unexplained peaks ----------------------------------------------------------------------------
def unexplained_peaks(two_theta, observed, calculated, esd, bragg, wavelength, fwhm_deg=(0.12, 0.4),
                      max_peaks: int = 8) -> list[dict]:
    """Peaks in the difference curve that no phase explains.

    The weighted difference (obs − calc)/σ is matched-filtered with Gaussians of the given widths; its
    significance is measured against the robust spread of the filtered curve (so a GoF above 1 or
    serially correlated residuals do not make every wiggle significant). A local maximum counts when it
    is significant, not negligible against the strongest net peak, and the model's own Bragg intensity
    within ±2 FWHM is less than twice the excess (else it is a misfit of a modelled peak).
    Returns dicts with ``two_theta``, ``d_spacing`` (Å), ``height`` (counts), ``height_sigma`` (height
    over the local esd), ``significance`` and ``satellite`` (e.g. "Cu Kβ of the peak at 38.7°" or "").
    """
    tt = np.asarray(two_theta, dtype=float)
    diff = np.asarray(observed, dtype=float) - np.asarray(calculated, dtype=float)
    e = np.asarray(esd, dtype=float)
    bragg = np.asarray(bragg, dtype=float)
    step = float(median(np.diff(tt)))
    peak_max = max(float(np.max(bragg)), float(np.max(observed) - np.min(observed)) * 0.1, 1e-12)
    found = {}
    for fwhm in fwhm_deg:
        sigma_pts = max(fwhm / 2.3548 / step, 0.7)
        # matched filter for white noise: Σ k r / √Σ k², r = diff/σ; the kernel of gaussian_smooth is
        # normalised to Σ k = 1, so divide by √Σ k² = (2√π σ)^(-1/2)
        s = gaussian_smooth(diff / e, sigma_pts) * np.sqrt(2.0 * np.sqrt(np.pi) * sigma_pts)
        mad = float(median(np.abs(s - median(s)))) * 1.4826
        z = s / max(mad, 1e-12)
        h = gaussian_smooth(diff, sigma_pts / 2)  # excess height, lightly smoothed
        half = max(int(round(2 * fwhm / step)), 1)
        cand = np.nonzero((z[1:-1] >= PEAK_SIGNIFICANCE) & (z[1:-1] >= z[:-2]) & (z[1:-1] > z[2:]))[0] + 1
        for i in cand:
            lo, hi = max(i - half, 0), min(i + half + 1, tt.size)
            j = lo + int(np.argmax(h[lo:hi]))
            height = float(h[j])
            if height < PEAK_MIN_HEIGHT * peak_max or float(np.max(bragg[lo:hi])) > height / EXPLAINED_SHARE:
                continue
            key = round(tt[j] / 0.1)  # the two widths find the same peak: keep the more significant
            if key in found and found[key]["significance"] >= z[i]:
                continue
            found[key] = {"two_theta": float(tt[j]), "height": height, "height_sigma": height / float(e[j]),
                          "significance": float(z[i])}
    peaks = sorted(found.values(), key=lambda p: -p["significance"])
    merged = []
    for p in peaks:  # one entry per peak even where the keys straddle a bin edge
        if all(abs(p["two_theta"] - q["two_theta"]) > 0.15 for q in merged):
            merged.append(p)
    # the excess at another peak's satellite position, smoothed as the narrower filter's heights are, and the
    # modelled peaks (local maxima of the Bragg curve), strongest first, whose satellites are looked for there
    excess = gaussian_smooth(diff, max(fwhm_deg[0] / 2.3548 / step, 0.7) / 2)
    tops = np.nonzero((bragg[1:-1] >= bragg[:-2]) & (bragg[1:-1] > bragg[2:]))[0] + 1
    strongest = tops[np.argsort(-bragg[tops])][:20]
    for p in merged:
        p["d_spacing"] = float(wavelength / (2.0 * np.sin(np.radians(p["two_theta"] / 2.0))))
        j = _one_point(p, tt, diff, e)
        p["spike"] = j is not None
        if p["spike"]:  # the point itself, not the filter's smoothed excess
            p.update(two_theta=float(tt[j]), height=float(diff[j]), height_sigma=float(diff[j] / e[j]))
        p["satellite"] = "" if p["spike"] else _satellite(p, tt, bragg, wavelength, excess, e, strongest)
    return merged[:max_peaks]


def _one_point(peak, tt, diff, esd) -> int | None:
    """The index of the point, when the unexplained peak is a single point standing alone (SPIKE_NEIGHBOUR_SHARE): its
    largest excess within two steps, with both neighbours' excess below that share of it; else None."""
    i = int(np.searchsorted(tt, peak["two_theta"]))
    lo, hi = max(i - 2, 1), min(i + 3, tt.size - 1)
    if hi <= lo:
        return None
    j = lo + int(np.argmax(diff[lo:hi] / esd[lo:hi]))  # the five points, not the whole curve per peak
    top = diff[j]
    return j if top > 0 and max(diff[j - 1], diff[j + 1]) < SPIKE_NEIGHBOUR_SHARE * top else None


#: Matched-filter widths (° 2θ) for broad features: the peaks of a 3–20 nm crystallite (FWHM ≈ 0.4–2.5° at 30°).
BROAD_FWHM_DEG = (0.8, 1.6)
#: Significance (white-noise σ of the matched filter, over the GoF) a broad feature needs where no sample phase is
#: declared. Measured maxima without one: 2.1–5.3 (four GSAS-II fully amorphous cases, xrdq's own, the real CPD
#: silica fitted with humps); with 5–15 % of a 3–10 nm phase hidden in the halo: 16–118.
BROAD_SIGNIFICANCE = 10.0
#: Degrees left out at each end of the range, where a filter straddles the edge of the data.
BROAD_EDGE_DEG = 2.0


def broad_unexplained(two_theta, observed, calculated, esd, bragg, gof: float) -> dict | None:
    """The most significant broad feature (FWHM ≈ 1–2°) of the difference curve that no Bragg intensity near it
    explains, or None below :data:`BROAD_SIGNIFICANCE`: what a nanocrystalline phase merged into the halo leaves when
    only the amorphous model (humps, background, a PONKCS curve) can take it. Significance in the matched filter's
    white-noise units over max(GoF, 1) — not over the robust spread as for sharp peaks (:func:`unexplained_peaks`): a
    broad residual is not random wiggle, and in a pattern this smooth there are few independent windows to spread."""
    tt = np.asarray(two_theta, dtype=float)
    diff = np.asarray(observed, dtype=float) - np.asarray(calculated, dtype=float)
    e = np.asarray(esd, dtype=float)
    bragg = np.asarray(bragg, dtype=float)
    step = float(median(np.diff(tt)))
    inside = (tt > tt[0] + BROAD_EDGE_DEG) & (tt < tt[-1] - BROAD_EDGE_DEG)
    best = None
    for fwhm in BROAD_FWHM_DEG:
        sigma_pts = max(fwhm / 2.3548 / step, 0.7)
        z = gaussian_smooth(diff / e, sigma_pts) * np.sqrt(2.0 * np.sqrt(np.pi) * sigma_pts) / max(gof, 1.0)
        h = gaussian_smooth(diff, sigma_pts)
        half = max(int(round(2 * fwhm / step)), 1)
        top = np.nonzero(inside[1:-1] & (z[1:-1] >= BROAD_SIGNIFICANCE) & (z[1:-1] >= z[:-2]) & (z[1:-1] > z[2:]))[0] + 1
        for i in top[np.argsort(-z[top])]:  # local maxima, strongest first
            lo, hi = max(i - half, 0), min(i + half + 1, tt.size)
            if float(np.max(bragg[lo:hi])) > max(float(h[i]), 0.0) / EXPLAINED_SHARE:
                continue  # beside a modelled peak: its misfit, not a phase of its own
            if best is None or z[i] > best["significance"]:
                best = {"two_theta": float(tt[i]), "fwhm": fwhm, "height": float(h[i]), "significance": float(z[i])}
            break
    return best


def check_broad_unexplained(feature: dict | None, wavelength: float) -> list[Finding]:
    """With no crystalline sample phase declared, broad intensity no phase explains is most likely a nanocrystalline
    phase in the halo, counted as amorphous by construction (docs/method.md §7): ``check``."""
    if feature is None:
        return []
    d = wavelength / (2.0 * np.sin(np.radians(feature["two_theta"] / 2.0)))
    return [Finding("check", f"broad intensity no phase explains at {feature['two_theta']:.1f}° (d = {d:.3f} Å, FWHM ≈ "
                             f"{feature['fwhm']:g}°, {feature['significance']:.0f} σ): probably a nanocrystalline phase "
                             "in the halo, which is counted as amorphous here — declare the phase you suspect (its "
                             "fraction is then measured)")]


def _satellite(peak, tt, bragg, wavelength, excess, esd, strongest) -> str:
    """The emission line and modelled peak that would put an excess here, or ''.

    A satellite is a few per cent of its parent at most, and an emission line does not pick one reflection: a Kβ (or
    W Lα) line at a share ρ of one peak stands at ρ of every other peak too: the attribution is kept only if the
    strongest other modelled peak (``strongest``: indices of the Bragg curve's maxima, strongest first) shows its own
    satellite in the smoothed ``excess`` where ρ makes it detectable. Without that test a missing phase hides behind a coincidence: monoclinic ZrO2 (111), d = 2.84 Å, lies
    at the Cu Kβ position of LiCl (200), d = 2.57 Å (2.84/2.57 = λ(Kα)/λ(Kβ) to 0.2 %), 2–5 % of its height — ZrO2 wear
    debris beside LiCl, this project's own chemistry, was called a Kβ line."""
    for line, lam in SATELLITES:
        ratio = lam / wavelength
        s = np.sin(np.radians(peak["two_theta"] / 2.0)) / ratio  # sinθ of the parent Kα peak
        if not 0 < s < 1:
            continue
        parent = 2.0 * np.degrees(np.arcsin(s))
        near = np.abs(tt - parent) <= 0.15
        if not near.any() or float(np.max(bragg[near])) < 10.0 * peak["height"]:
            continue
        share = peak["height"] / float(np.max(bragg[near]))
        if _satellite_missing_elsewhere(tt, bragg, excess, esd, strongest, ratio, share, parent):
            continue
        return f"{line} of the peak at {parent:.2f}°"
    return ""


def _satellite_missing_elsewhere(tt, bragg, excess, esd, strongest, ratio, share, parent) -> bool:
    """Whether the strongest modelled peak (other than ``parent``) whose satellite at wavelength ratio ``ratio`` would
    be detectable (share × its height ≥ 5 esd, in range, on no other modelled peak) shows less than half of it."""
    for i in strongest:
        if abs(tt[i] - parent) <= 0.3:
            continue
        s = np.sin(np.radians(tt[i] / 2.0)) * ratio
        at = 2.0 * np.degrees(np.arcsin(s))
        if not tt[0] + 0.3 < at < tt[-1] - 0.3:
            continue
        window = np.abs(tt - at) <= 0.15
        expected = share * float(bragg[i])
        if float(np.max(bragg[window])) > 0.5 * expected:
            continue  # on another modelled peak: its misfit would decide
        j = int(np.argmin(np.abs(tt - at)))
        if expected < 5.0 * float(esd[j]):
            return False  # the strongest usable peak's satellite would be lost in the noise: nothing to test
        return float(np.max(excess[window])) < 0.5 * expected
    return False


def describe_peaks(peaks, limit: int = 4) -> str:
    parts = [f"{p['two_theta']:.2f}° (d = {p['d_spacing']:.3f} Å, {p['height_sigma']:.0f} σ)" for p in peaks[:limit]]
    more = f" and {len(peaks) - limit} more" if len(peaks) > limit else ""
    return ", ".join(parts) + more


# ---- the checks ---------------------------------------------------------------------------------
#: Warning texts of the refinement and the quantification, and what they mean for the verdict. Anything
#: not listed is a ``check``: a result with an unexplained warning is not a confident ``ok``.
_WARNING_LEVELS = (
    (re.compile(r"\|correlation\|"), "ok"),
    (re.compile(r"^GoF = "), None),  # judged by check_gof
    (re.compile(r"negative weight fraction|negative amorphous fraction|amorphous fraction above 100"), None),
    (re.compile(r"differs from instrument"), None),  # judged by check_instrument
    (re.compile(r"^intermediate stage"), "ok"),  # the solution is the later stages'
    (re.compile(r"did not converge"), "check"),
    (re.compile(r"at its bound"), "check"),
    # a declared phase that is not there: its scale is noise about zero (refine.diagnostics.scale_warning)
    (re.compile(r"is negative within noise \("), "ok"),
    (re.compile(r"is (negative|zero)( \([^)]*\))?: the phase is not detected"), "check"),
    # a declared phase without signal from the first stage on (refine.fit.Refinement._judge_phases): an answer, not a
    # fault — a wrong structure for a phase that is there leaves peaks no phase explains, which check_peaks flags
    (re.compile(r"not detected \(scale"), "ok"),
    # the GSAS-II engine's counterpart (engines.gsas2.readback.floored_fractions): fraction 0 on GSAS-II's floor
    (re.compile(r"not detected by GSAS-II: its fraction is on GSAS-II's floor"), "ok"),
    # (engines.gsas2.strategy) the solution is the later steps'
    (re.compile(r"^GSAS-II intermediate step"), "ok"),
    # (engines.gsas2.readback.refinement_message) degenerate nuisance directions and correlations only, like the
    # native |correlation| notes
    (re.compile(r"^GSAS-II (dropped or found singular only background|notes highly correlated parameters|notes "
                r"variables frozen at a limit where that is an answer)"), "ok"),
    # (engines.gsas2: project, strategy) how the engine got there — a structure read onto its special positions or
    # given to GSAS-II as xrdq read it (engines.gsas2.reading: GSAS-II's reading then checked to agree), a
    # step that ended above its start redone with damping (the lower χ² stands), humps left as a step shaped them, a
    # phase without signal held (the native "not detected") — not what it got: GoF and the last step judge that
    (re.compile("|".join((r"GSAS-II read site\(s\) .* as general positions; moved onto",
                          r": GSAS-II read .*; it was given the structure as xrdq read it, written as ",
                          r"^GSAS-II step '.*' ended above its start",
                          r"^amorphous humps kept as step '.*' left them",
                          r"^phase .*: fraction .* is not significant \(< [\d.]+ esd\) after step",
                          r"^phase .*: fraction still on GSAS-II's floor after step",
                          r"^phase .*: fraction .* significant after step '.*'; its cell and size are refined from here on"))),
     "ok"),
    # the data did not determine the instrument's Gaussian, so it was held at the instrument's
    # (refine.adaptive.with_determined_gaussian): what an expert does; the model-uncertainty profile variant carries it
    (re.compile(r"^instrument Gaussian held"), "ok"),
    # an angle-dependent intensity loss the F-test found significant and the fit corrected (refine.diagnostics.specimen_notes)
    (re.compile(r"^cover film found by the data"), "ok"),
    (re.compile(r"^beam overspill found by the data"), "ok"),
    (re.compile(r"^finite specimen thickness found by the data"), "ok"),
    # the measurement's own slit used in place of the instrument description's nominal one (model.instrument.measured_instrument)
    (re.compile(r"^divergence slit [\d.]+° as the file says"), "ok"),
    # kept only because the fit needs it significantly (refine.adaptive.without_negative_humps): a note, since
    # neither the standard's nor Hill–Howard fractions use a hump (CPD-1B: a 3° dip beside corundum peaks)
    (re.compile(r"amorphous hump .* has a negative area"), "ok"),
    # the same degeneracy the other way round (refine.diagnostics._degenerate_humps): a hump above the data
    (re.compile(r"amorphous hump .* rises above the observed counts"), "ok"),
    (re.compile(r"^external standard: the crystalline phases sum to"), None),  # judged by check_external_amorphous
    # what a phase's structure model rests on (quant.pipeline.structure_notes): said, not flagged — a structure whose
    # intensities disagree with the data leaves misfit, line scatter or unexplained peaks, which are flagged — except
    # cell contents that contradict the CIF's own Z × formula: then the phase's mass, and its fraction, may be wrong
    # (a CIF without its hydrogen atoms: Mg(OH)2 3.5 % light), and a site whose displacement parameter is unphysical
    # (crystal.cif._check_displacement: B = -5 Å² on LiCl's Cl halved its fraction, with the verdict ok) or sites that
    # overlap (crystal.cif._overlaps: a duplicated site doubles its scattering and mass)
    (re.compile(r"^structure of .*: (cell contents .* differ from Z × formula|sites? .* — unphysical)"), "check"),
    (re.compile(r"^structure of "), "ok"),
    # 1 − Σ over no declared sample phase (quant.pipeline._by_construction_note): what the number means, said; sharp peaks
    # of an undeclared phase are judged by check_peaks
    (re.compile(r"^no crystalline phase of the sample is declared"), "ok"),
    # negative intensities in a file that holds no raw counts (quant.api.pattern_notes): within counting noise a
    # note; far below zero a check (another text, so it falls through to check)
    (re.compile(r"intensities in the file are negative, the lowest"), "ok"),
)


def check_warnings(warnings) -> list[Finding]:
    out = []
    for w in warnings:
        for pattern, level in _WARNING_LEVELS:
            if pattern.search(w):
                if level is not None:
                    out.append(Finding(level, w))
                break
        else:
            out.append(Finding("check", w))
    return out


def check_gof(gof: float) -> list[Finding]:
    if not np.isfinite(gof):
        return [Finding("fail", "the fit has no finite goodness of fit")]
    if gof > GOF_FAIL:
        return [Finding("fail", f"GoF = {gof:.1f}: the model is far from the data (counting statistics allow ≈ 1) — "
                                "wrong or missing phases, or the wrong instrument")]
    if gof > GOF_CHECK:
        return [Finding("check", f"GoF = {gof:.1f} > {GOF_CHECK:g}: the model does not describe the data to within "
                                 "counting statistics; look at the difference curve")]
    if gof < GOF_LOW:
        # scaled or normalised intensities, cps from long counting times, smoothed or noise-free (simulated) data:
        # the esds are not the counts' own, so neither are the reported esds, nor the F-tests that chose the model
        # (they take the noise to be at least the counts', and accept nothing then)
        return [Finding("check", f"GoF = {gof:.2f} < {GOF_LOW:g}: the fit is better than counting statistics allow — "
                                 "the intensities are probably not raw counts (scaled, normalised, counts per second, "
                                 "smoothed or simulated without noise), so the esds and the significance tests that "
                                 "chose the model do not hold; give raw counts, or their esds as a third column")]
    return []


#: How close (° 2θ) an unexplained peak must lie to a declared phase's reflection to be read as that reflection's misfit.
ON_REFLECTION_DEG = 0.1


def on_reflection(peak, ticks, tolerance: float = ON_REFLECTION_DEG) -> str:
    """"NAME hkl" of the declared reflection nearest ``peak`` within ``tolerance``, or "" (``ticks``: phase →
    (positions, hkl), as the refinement result holds them)."""
    best, label = tolerance, ""
    for name, (positions, hkl) in (ticks or {}).items():
        positions = np.asarray(positions, dtype=float)
        if positions.size == 0:
            continue
        i = int(np.argmin(np.abs(positions - peak["two_theta"])))
        if abs(positions[i] - peak["two_theta"]) <= best:
            best, label = abs(positions[i] - peak["two_theta"]), f"{name} {''.join(str(int(h)) for h in hkl[i])}"
    return label


def check_peaks(peaks, net_max: float, no_sample_phase: bool, amorphous=False, ticks=None) -> list[Finding]:
    """Unexplained peaks: a missing phase — or, where one sits on a declared phase's reflection (``ticks``), that
    reflection's width or intensity the model does not describe (broadening of another shape than the model's,
    texture, a wrong structure), which a missing phase's peak at the same place cannot be told from. With an
    ``amorphous`` fraction from a standard (True, or its value), the reason says what a missing phase does to it: its
    mass is counted as amorphous, so the value is too high by that mass — unless the value is below zero, which says a
    declared phase took the missing one's intensity up instead, and then it bounds nothing."""
    spikes = [p for p in peaks if p.get("spike")]
    missing = [p for p in peaks if not p["satellite"] and not p.get("spike")]
    out = [Finding("ok", f"peak at {p['two_theta']:.2f}° is the {p['satellite']} (not a phase)")
           for p in peaks if p["satellite"]]
    if spikes:
        where = ", ".join(f"{p['two_theta']:.2f}° ({p['height_sigma']:.3g} σ)" for p in spikes)
        out.append(Finding("check", f"{'one-point spikes' if len(spikes) > 1 else 'a one-point spike'} at {where}, the "
                                    "neighbouring points at the model: a detector glitch or cosmic ray, not a reflection; "
                                    "it weighs in the fit — remove the point or measure again"))
    if missing:
        strongest = max(p["height"] for p in missing)
        level = "fail" if strongest > 0.25 * net_max else "check"
        at = [on_reflection(p, ticks) for p in missing]
        if no_sample_phase:
            what = "crystalline peaks but no sample phase was given"
        elif all(at):
            which = list(dict.fromkeys(at))
            what = (f"on the declared reflection{'s' if len(which) > 1 else ''} {', '.join(which)}: the model does not "
                    f"describe {'their' if len(which) > 1 else 'its'} width or intensity — broadening of another shape "
                    "than an isotropic size and strain (platelets, needles), texture, a wrong structure — or a missing "
                    "phase's peak lies there")
        else:
            misfit = ", ".join(f"{p['two_theta']:.2f}° on {a}" for p, a in zip(missing, at) if a)
            what = "a phase is probably missing" + (f"; {misfit}: a misfit of that reflection's width or intensity"
                                                    if misfit else "")
        effect = ("; the amorphous fraction counts a missing crystalline phase as amorphous: read it as an upper bound"
                  if amorphous is not False and amorphous is not None else "")
        if effect and not isinstance(amorphous, bool) and amorphous < 0:
            effect = ("; the amorphous fraction reads below zero, which no sample can: a declared phase has taken up the "
                      "missing one's intensity (its scale, and the standard's share, are wrong), so the value bounds "
                      "nothing")
        if amorphous and not no_sample_phase and all(at):
            effect = "; the amorphous fraction rests on that phase's scale, which the misfit may bias"
        out.append(Finding(level, f"{len(missing)} significant peak{'s' if len(missing) > 1 else ''} that no phase explains "
                                  f"({what}): {describe_peaks(missing)}{effect}"))
    return out


def _variants(result) -> list:
    """The model-uncertainty variants a result's provenance records (:func:`xrdq.quant.uncertainty.model_uncertainty`)."""
    return ((getattr(result, "provenance", None) or {}).get("model_uncertainty") or {}).get("variants") or []


def dominant_variant(result, key: str) -> tuple[str, float] | None:
    """(variant, |shift|) of the model-uncertainty variant that moves quantity ``key`` (``refined:NAME``,
    ``sample:NAME``, ``amorphous``) most, from the result's provenance; None without one."""
    moves = [(v["variant"], abs(v["shifts"][key])) for v in _variants(result) if key in (v.get("shifts") or {})]
    return max(moves, key=lambda m: m[1]) if moves else None


def why_uncertain(result, fractions: dict, uncertainty: dict, prefix: str, brindley: dict | None = None) -> dict:
    """Name → why its standard uncertainty u exceeds UNDETERMINED, where the model makes it so and the counts do not
    (the statistical esd under u/√2): the variant that moves it most, and for microabsorption what narrows it. A
    fraction the counts fix to ±0.7 wt% is not "undetermined by the pattern" when u is ±20 for unknown particle
    sizes (CeO2 beside LiF: µ 2400 against 31 cm⁻¹). ``brindley``: the particle sizes given, if any."""
    out = {}
    for name, (_, esd) in fractions.items():
        u = uncertainty.get(name, 0.0)
        if u <= UNDETERMINED or esd * esd >= 0.5 * u * u:
            continue
        top = dominant_variant(result, f"{prefix}:{name}")
        if top is None:
            continue
        text = (f"its statistical esd is ±{100 * esd:.2f} wt%, the rest is the model's, most of it from “{top[0]}” "
                f"(±{100 * top[1]:.2f})")
        if top[0].startswith("microabsorption"):
            text += (" — " + ("" if brindley else "particle diameters (--brindley NAME=µm; brindley= in Python), ")
                     + "finer grinding, or a standard that absorbs like the sample narrow it")
        out[name] = text
    return out


#: A negative fraction beyond this is a fault (``fail``) however uncertain the result (:func:`check_fractions`).
NEGATIVE_FAIL = 0.01


def _plausible(value: float, u: float) -> bool:
    """A fraction within 2 u of [0, 1]."""
    return -2 * u <= value <= 1 + 2 * u


def check_fractions(fractions: dict, uncertainty: dict, label: str, absent=(), why: dict | None = None,
                    consequence: float | None = None) -> list[Finding]:
    """Negative (or above-100 %) fractions beyond twice their uncertainty fail; within it, a note — except for
    the ``absent`` phases (not detected, :func:`detection_notes` says it once). A fraction uncertain by more than
    UNDETERMINED is a check: not determined by the pattern, or, where ``why`` has its name, by the model
    (:func:`why_uncertain`).

    ``consequence``: the uncertainty of what the negative fraction would distort (the amorphous fraction's u; without
    a standard, the largest other fraction's). A phase that is not there and whose peaks, pushed negative, take up
    misfit elsewhere moves the other fractions by about its own amount: where that is within ``consequence`` (and
    below NEGATIVE_FAIL) the result stands within its uncertainty and the finding is a ``check``, not a ``fail``.
    (Declaring ZrO2 wear debris that a nanocrystalline GSAS-II pattern does not hold gave ZrO2 −0.04 ± 0.02 wt% — a
    fail — beside an amorphous fraction of 84.4 ± 1.4 wt%, truth 85.)"""
    out = []
    why = why or {}
    for name, value in fractions.items():
        u = uncertainty.get(name, 0.0)
        if name in absent and _plausible(value, u):
            continue
        if value < -2 * u:
            small = consequence is not None and -value <= min(consequence, NEGATIVE_FAIL)
            text = f"{name} {label} is negative beyond its uncertainty ({100 * value:.2f} ± {100 * u:.2f} wt%): "
            out.append(Finding("check", text + "the phase is probably not there and its negative peaks take up misfit; "
                                        f"the other fractions move by about as much, within the result's uncertainty "
                                        f"(± {100 * consequence:.2f} wt%) — leave it out or look at the difference curve")
                       if small else Finding("fail", text + "the phase list or the standard is wrong"))
        elif value > 1 + 2 * u:
            out.append(Finding("fail", f"{name} {label} is above 100 % ({100 * value:.2f} ± {100 * u:.2f} wt%): not physical"))
        elif u > UNDETERMINED and name in why:
            out.append(Finding("check", f"{name} {label} is uncertain by ±{100 * u:.2f} wt% ({100 * value:.2f} ± "
                                        f"{100 * u:.2f} wt%): {why[name]}"))
        elif u > UNDETERMINED:
            out.append(Finding("check", f"{name} {label} is not determined by the pattern ({100 * value:.2f} ± "
                                        f"{100 * u:.2f} wt%)"))
        elif value < 0:
            out.append(Finding("ok", f"{name} {label} is negative ({100 * value:.2f} ± {100 * u:.2f} wt%), "
                                     "within 2 uncertainties of zero"))
    return out


def _consequence(result, refined: dict, refined_u: dict) -> float | None:
    """The uncertainty a negative fraction's misfit is measured against (:func:`check_fractions`): the amorphous
    fraction's u, else that of the largest non-negative refined fraction (None when there is neither)."""
    if result.amorphous_fraction is not None:
        return float(result.uncertainty.get("amorphous", result.amorphous_fraction[1]))
    positive = [n for n, v in refined.items() if v >= 0]
    return float(refined_u[max(positive, key=refined.get)]) if positive else None


def absent_phases(refinement) -> list:
    """Phases the refinement held for want of signal (xrdq.refine.fit.Refinement._judge_phases) and did not
    detect at the end either (its ``detected``)."""
    held = {}
    for stage in getattr(refinement, "recipe", None) or []:
        if isinstance(stage, dict) and stage.get("held_phases"):
            held = stage["held_phases"]
    return [n for n, h in held.items() if not h.get("detected", True)]


def detection_notes(absent, fractions: dict, uncertainty: dict, where: str) -> list[Finding]:
    """One note per phase not detected: its fraction with its uncertainty and the detection limit (3 u)."""
    out = []
    for name in absent:
        if name not in fractions:
            continue
        value, u = fractions[name], uncertainty.get(name, 0.0)
        if _plausible(value, u):
            out.append(Finding("ok", f"{name} not detected: {100 * value:.2f} ± {100 * u:.2f} wt% {where}, below the "
                                     f"detection limit of ≈ {300 * u:.2f} wt% (3 u)"))
    return out


def check_sizes(parameters: dict, prefixes: dict) -> list[Finding]:
    out = []
    for name, pre in prefixes.items():
        size = parameters.get(f"{pre}_size_nm")
        if size is not None and np.isfinite(size[0]) and size[0] < SIZE_FLOOR_NM:
            out.append(Finding("check", f"{name} crystallite size refined to {size[0]:.1f} nm, below the physical floor "
                                        f"of {SIZE_FLOOR_NM:g} nm: it is fitting a halo or the background, not Bragg peaks"))
    return out


def check_cells(fit) -> list[Finding]:
    """Cell lengths that moved more than CELL_LIMIT from the structure's (the centre of their ±5 % bounds)."""
    out = []
    for phase in getattr(fit, "phases", ()) if fit is not None else ():
        pre = fit.prefix[phase.name]
        for k in ("a", "b", "c"):
            par = fit.params.get(f"{pre}_{k}")
            if par is None or not par.vary and par.value == 0.5 * (par.min + par.max):
                continue
            start = 0.5 * (par.min + par.max)
            dev = par.value / start - 1.0
            if abs(dev) > CELL_LIMIT:
                out.append(Finding("check", f"{phase.name}: cell {k} refined {100 * dev:+.1f} % away from its structure "
                                            f"({par.value:.4f} vs {start:.4f} Å): it may be fitting another phase's "
                                            "peaks, or the structure is not the right one"))
    return out


def check_microabsorption(phase_info: dict, fractions: dict, particle_size_um: dict | None,
                          amorphous_share: float | None = None) -> list[Finding]:
    """µ·D per phase when sizes are given; else a note on the contrast of linear attenuation, with what the unknown
    particle sizes add to the amorphous fraction's uncertainty (``amorphous_share``, the microabsorption variant's
    shift of it) when known."""
    mu = {n: i["mass_attenuation"] * i["density"] for n, i in phase_info.items()
          if np.isfinite(i["density"])}  # 1/cm; not a PONKCS phase's (its density is unknown)
    major = [n for n in mu if fractions.get(n, 0.0) > 0.01]
    if particle_size_um:
        out = []
        for n, d in particle_size_um.items():
            if n in mu and d and mu[n] * d * 1e-4 > MU_D_LIMIT:
                out.append(Finding("check", f"{n}: µ·D = {mu[n] * d * 1e-4:.2f} for {d:g} µm particles (µ = {mu[n]:.0f} cm⁻¹): "
                                            "too coarse for Brindley's correction; grind finer"))
        return out
    if len(major) > 1:
        lo, hi = min(major, key=mu.get), max(major, key=mu.get)
        if mu[hi] > 3 * mu[lo]:
            from .uncertainty import ASSUMED_MAX_PARTICLE_UM

            share = (f": ±{100 * amorphous_share:.2f} wt% of the amorphous fraction's, for particles of "
                     f"0–{ASSUMED_MAX_PARTICLE_UM:g} µm" if amorphous_share is not None else "")
            return [Finding("ok", f"absorption contrast: µ({hi}) = {mu[hi]:.0f} cm⁻¹ vs µ({lo}) = {mu[lo]:.0f} cm⁻¹; "
                                  f"microabsorption is in the uncertainty (particle size unknown){share}")]
    return []


def check_external_amorphous(result) -> list[Finding]:
    """The external standard's amorphous estimate below zero: within 2 of its uncertainties (u where it is the reported
    value, else its esd) a fully crystalline sample looks like that, and its warning stays a note; beyond, the G chain
    (recipe, counting, µ*, texture, microabsorption) does not hold for this pattern → ``check``."""
    est = (result.amorphous_estimates or {}).get("external_standard")
    if est is None or not np.isfinite(est[0]):
        return []
    value, esd = est
    reported = result.amorphous_fraction is not None and tuple(result.amorphous_fraction) == tuple(est)
    u = result.uncertainty.get("amorphous", esd) if reported else esd
    if value >= -2.0 * u:
        return []
    warning = next((w for w in result.warnings if w.startswith("external standard: the crystalline phases sum to")), None)
    return [Finding("check", warning or f"external standard: amorphous {100 * value:.2f} ± {100 * u:.2f} wt% is "
                                        "negative beyond 2 uncertainties")]


#: The most a phase with no reflection in the refined range may take and still be "near zero" (a note).
OUT_OF_RANGE_NEGLIGIBLE = 0.02


def check_out_of_range(ticks: dict, refined: dict, refined_u: dict, standard: str | None, curves=()) -> list[Finding]:
    """A declared phase with no reflection in the refined 2θ range has nothing of its own to be fitted by: a
    fraction it takes there is other scatter caught by its broadened tails (the demo on 10–21° gave LaB6, first
    line at 21.4°, 100 wt%) → ``fail``; near zero — within 2 u and below :data:`OUT_OF_RANGE_NEGLIGIBLE` — it is a
    note. Within 2 u alone is not near zero when the fraction is not determined at all (the same fit elsewhere
    stopped at LaB6 85 ± 61 wt%, which read as a note). (The standard has its own check; ``curves``, PONKCS phases,
    have no reflections at all.)"""
    out = []
    for name, tk in (ticks or {}).items():
        if name == standard or name in curves or len(tk[0]) or name not in refined:
            continue
        value, u = refined[name], refined_u.get(name, 0.0)
        if value > 2.0 * u or value > OUT_OF_RANGE_NEGLIGIBLE:
            out.append(Finding("fail", f"{name} has no reflection in the refined 2θ range, yet takes {100 * value:.2f} wt%: "
                                       "its broadened tails are fitting other scatter; widen the range or leave it out"))
        else:
            out.append(Finding("ok", f"{name} has no reflection in the refined 2θ range"))
    return out


def check_element_balance(result) -> list[Finding]:
    """The phases found cannot hold more of an element than the whole sample has. With an external standard the
    stated bulk composition sets µ* and so every absolute fraction: a composition that is not the sample's shows as
    an element the fitted phases over-fill (CPD-1A, 95 % fluorite, given as 40 % CaF2: its fluorite alone holds 33 %
    Ca against the stated 20 %, and the amorphous fraction read +32 % with verdict ok). Over-filled by more than 3 u
    (the fractions' uncertainties, the model's included) → ``check``."""
    from .composition import element_masses, parse_composition

    ext = result.external_standard
    if not ext or not ext.get("sample_composition"):
        return []
    bulk = element_masses(parse_composition(ext["sample_composition"]))
    u = result.uncertainty
    info = result.refinement.phase_info
    held, var = {}, {}
    for name, (x, _) in result.sample_fractions.items():
        if not np.isfinite(x) or name not in info or not info[name].get("formula"):
            continue
        for el, f in element_masses({info[name]["formula"]: 1.0}).items():
            held[el] = held.get(el, 0.0) + x * f
            var[el] = var.get(el, 0.0) + (u.get(f"sample:{name}", 0.0) * f) ** 2
    worst = max(held, key=lambda el: (held[el] - bulk.get(el, 0.0)) / max(np.sqrt(var[el]), 1e-12), default=None)
    if worst is None:
        return []
    over, sigma = held[worst] - bulk.get(worst, 0.0), float(np.sqrt(var[worst]))
    if over <= 3.0 * sigma:
        return []
    return [Finding("check", f"the phases found hold {100 * held[worst]:.1f} wt% {worst} of the sample, the stated "
                             f"composition ({ext['sample_composition']}) only {100 * bulk.get(worst, 0.0):.1f} wt%: the "
                             "composition that sets µ* is not this sample's (or G, or the phase list, is wrong), so the "
                             "absolute fractions and the amorphous fraction from G are off")]


def check_spiked_composition(result) -> list[Finding]:
    """``sample_composition`` is the ORIGINAL sample's: with an internal standard xrdq adds the spike to it for µ*.
    A composition that already holds the standard's compound at about W_s is most likely the spiked mixture's, so
    the spike is counted twice and µ* is off (CPD-1B with 20 % silica and its corundum as the standard, given the
    mixture's composition: 106 wt% amorphous from G for a truth of 81). Said as a note, beside the consistency
    test that flags the disagreement: an original sample may hold that compound itself."""
    from .composition import element_masses, parse_composition

    ext, std = result.external_standard, result.standard
    if not ext or not ext.get("sample_composition") or not std:
        return []
    formula = (result.refinement.phase_info.get(std["phase"]) or {}).get("formula")
    if not formula:
        return []
    own = element_masses({formula: 1.0})
    w_s = float(std["weighed_fraction"])
    for compound, w in parse_composition(ext["sample_composition"]).items():
        other = element_masses({compound: 1.0})
        same = other.keys() == own.keys() and all(abs(other[el] - own[el]) <= 1e-6 for el in own)
        if same and abs(w - w_s) <= 0.25 * w_s:
            return [Finding("ok", f"the sample composition holds {compound} at {100 * w:.1f} wt%, about as much as the "
                                  f"{std['phase']} spike ({100 * w_s:.3g} wt%): --sample-composition is the original, "
                                  "unspiked sample's (xrdq adds the spike for µ*); if it is the mixture's, the spike is "
                                  "counted twice and the fractions from G are off")]
    return []


#: A phase (the standard or a sample phase) whose lines leave its scale uncertain by more than this share of itself
#: beyond its esd gets a note.
SCATTER_NOTE = 0.02
#: ... and whose lines disagree beyond chance at this level (an F-test of B²/GoF²): a minor phase's few noisy windows
#: give a large relative excess from a Birge ratio of 1.1–1.4 that counting noise alone makes 3–20 % of the time.
SCATTER_P = 1e-3


def _lines_disagree(found) -> bool:
    """Whether a phase's :func:`~xrdq.quant.uncertainty.reflection_scatter` entry is worth a note: beyond chance, and
    by more than :data:`SCATTER_NOTE` of its scale."""
    excess, _, _, p = found
    return excess >= SCATTER_NOTE and p < SCATTER_P


def check_standard_lines(fit, standard: dict | None) -> list[Finding]:
    """The standard's line groups disagreeing with each other beyond their noise (:func:`~xrdq.quant.uncertainty.
    reflection_scatter`): u holds it, and the note says where it comes from and what helps — a coarse, unground
    standard (particle statistics: four LiF lines carry the whole amorphous fraction) or texture."""
    if fit is None or not standard:
        return []
    from .uncertainty import reflection_scatter

    found = reflection_scatter(fit).get(standard["phase"])
    if not found or not _lines_disagree(found):
        return []
    excess, birge, windows, _ = found
    return [Finding("ok", f"the standard {standard['phase']}'s {windows} line groups disagree with each other beyond "
                          f"their counting noise (Birge ratio {birge:.1f}): its scale, and the amorphous fraction with "
                          f"it, is uncertain by ±{100 * excess:.1f} % of itself (in u) — particle statistics of a coarse "
                          "standard, or texture (grind it finer or spin the specimen), or the misfit of another phase "
                          "under its lines (a note then names that phase)")]


def check_phase_lines(fit, standard: dict | None) -> list[Finding]:
    """A sample phase whose line groups disagree with each other beyond their noise, as the standard's do in
    :func:`check_standard_lines`: its relative intensities are not its structure model's — coordinates or site
    occupancies (an approximate or isotype-borrowed CIF), a texture March–Dollase does not describe, particle
    statistics. u holds what that does to its scale; the note says so, so that a wide u is not a mystery."""
    if fit is None:
        return []
    from .uncertainty import reflection_scatter

    skip = standard["phase"] if standard else None
    out = []
    for name, found in reflection_scatter(fit).items():
        if name == skip or not _lines_disagree(found):
            continue
        excess, birge, windows, _ = found
        out.append(Finding("ok", f"{name}'s {windows} line groups disagree with its structure model beyond their "
                                 f"counting noise (Birge ratio {birge:.1f}): its scale, and its fraction with it, is "
                                 f"uncertain by ±{100 * excess:.1f} % of itself (in u) — its structure (coordinates, "
                                 "site occupancies), a texture March–Dollase does not describe, particle statistics, or "
                                 "another phase's misfit under its lines; a CIF refined for this phase, or a finer, "
                                 "spun specimen, narrows it"))
    return out


#: A standard whose refined March–Dollase ratio lies further than this from 1 (and beyond 3 esd) gets a note.
STANDARD_TEXTURE_NOTE = 0.03


def check_standard_texture(ref, standard: dict | None, prefix: str | None) -> list[Finding]:
    """A textured standard: the adaptive recipe found, by its F-test, that the standard's lines follow a March–Dollase
    texture (LiF cleaves into cubes that lie on a face), and corrected for it. The amorphous fraction then rests on
    that model of the texture, not on the weighing alone; the note says so, how strong the correction is and what
    helps. No verdict change: where the model holds (xrayutilities' textured-LiF cases, docs/validation.md) the
    corrected result is right, and where it does not, the standard's lines disagree and
    :func:`check_standard_lines` and u say so."""
    if not standard or not prefix:
        return []
    name = standard["phase"]
    value = (getattr(ref, "parameters", None) or {}).get(f"{prefix}_po_ratio")
    if not value:
        return []
    r, e = float(value[0]), float(value[1]) if value[1] is not None else float("nan")
    if not np.isfinite(r) or abs(r - 1.0) < STANDARD_TEXTURE_NOTE or (np.isfinite(e) and abs(r - 1.0) < 3 * e):
        return []
    axis = next((s["po"][name] for s in reversed(getattr(ref, "recipe", None) or [])
                 if isinstance(s, dict) and isinstance(s.get("po"), dict) and s["po"].get(name) is not None), None)
    about = f" about <{''.join(str(int(i)) for i in axis)}>" if axis is not None else ""
    spread = ""
    fit = getattr(ref, "fit", None)
    if fit is not None and axis is not None:
        for phase, model in zip(getattr(fit, "phases", ()), getattr(fit, "models", ())):
            if phase.name == name and getattr(model, "po_hkl", None) is not None and len(model.hkl):
                factors = model.po_factors(r)
                spread = f", correcting its reflections by ×{factors.min():.2f} to ×{factors.max():.2f}"
    esd = f" ± {e:.3f}" if np.isfinite(e) else ""
    return [Finding("ok", f"the standard {name} is textured{about}: March–Dollase r = {r:.3f}{esd}{spread}; its refined "
                          "fraction, and the amorphous fraction with it, rest on that model of the texture — prepare the "
                          "standard so that it does not orient (grind it finer, side- or back-load the holder); if it is "
                          f"known untextured, forbid the term (--preferred-orientation {name}=none)")]


def check_standard(standard: dict | None, amorphous, file: str | None, scale=None, reflections: int | None = None
                   ) -> list[Finding]:
    """The standard must be in the pattern (its scale, when known, positive and significant) at about its
    weighed fraction. ``reflections``: how many of its reflections the refined range holds (when known)."""
    if not standard:
        return []
    name, w_s = standard["phase"], standard["weighed_fraction"]
    default = standard.get("source") == "default"
    what = f"{name}, {100 * w_s:g} wt%{' (default)' if default else ''}"
    hint = ("if the sample was not spiked use --no-standard (standard=None); if it was, give the standard "
            "with --standard NAME=W_S")
    r, e = standard.get("refined_fraction"), standard.get("refined_fraction_esd") or 0.0
    no_signal = r is None or not np.isfinite(r) or r <= 0
    if scale is not None:  # a lone phase normalises to 100 % whatever its scale: judge the scale
        no_signal = no_signal or not np.isfinite(scale[0]) or scale[0] <= 0
        weak = scale[0] < 3 * scale[1]
    else:
        weak = r is not None and r < 3 * e
    if no_signal or weak:
        if reflections == 0:  # nothing of it can show in this range: say that, not that the sample lacks it
            return [Finding("fail", f"the standard {what} has no reflection in the refined 2θ range of "
                                    f"{file or 'the pattern'}: widen the range (--two-theta-range) to take in its peaks; {hint}")]
        got = "no intensity" if no_signal else f"{100 * r:.2f} ± {100 * e:.2f} %, not significant"
        return [Finding("fail", f"the standard {what} was not found in {file or 'the pattern'} (refined: {got}): {hint}")]
    if amorphous is not None:
        a, u = amorphous
        if a < -2 * u:
            return [Finding("fail", f"amorphous fraction {100 * a:.2f} ± {100 * u:.2f} wt% is negative: the standard {what} "
                                    f"refined to {100 * r:.2f} %, more than a weighed {100 * w_s * standard.get('purity', 1.0):.2f} % "
                                    f"can give — wrong W_s, missing phases or microabsorption; {hint}")]
        if a > 1 + 2 * u:
            return [Finding("fail", f"amorphous fraction {100 * a:.2f} wt% is above 100 %: the standard {what} is weaker "
                                    "than weighed — check W_s and the standard phase")]
    return []


def check_instrument(pattern_attrs: dict, wavelength: float, radius_mm: float, instrument_name: str) -> list[Finding]:
    out = []
    lam = pattern_attrs.get("wavelength_alpha1")
    if pattern_attrs.get("wavelength_source") == "file" and lam:
        rel = abs(float(lam) - wavelength) / wavelength
        if rel > 1e-4:
            level = "fail" if rel > 0.01 else "check"
            out.append(Finding(level, f"the file's Kα1 wavelength {float(lam):.5f} Å contradicts instrument "
                                      f"{instrument_name!r} ({wavelength:.5f} Å): choose the instrument that measured it"))
    radius = pattern_attrs.get("goniometer_radius_mm")
    if radius and abs(float(radius) - radius_mm) > 1.0:
        out.append(Finding("check", f"the file's goniometer radius {float(radius):g} mm contradicts instrument "
                                    f"{instrument_name!r} ({radius_mm:g} mm): displacement and profile are off"))
    return out


def assess(result, instrument, *, sample_phases, brindley=None, standard_error=None):
    """Run every check on a :class:`~xrdq.quant.result.QuantResult` and set its verdict, reasons and
    unexplained peaks (in place; a verdict raised earlier with ``flag`` is kept); notes at level ``ok``
    join its warnings."""
    ref = result.refinement
    amorphous_component = ref.components.get("amorphous", 0.0)
    if all(n in ref.components for n in ref.phase_names):
        bragg = np.sum([ref.components[n] for n in ref.phase_names], axis=0) if ref.phase_names else np.zeros_like(ref.observed)
    else:  # an engine that could not split its curve by phase (GSAS-II without partials): all Bragg together
        bragg = ref.calculated - ref.background - amorphous_component
    peaks = unexplained_peaks(ref.two_theta, ref.observed, ref.calculated, ref.esd, bragg, instrument.wavelength)
    net_max = float(np.max(ref.observed - ref.background - amorphous_component))
    prefixes = {}
    for n in ref.phase_names:
        pre = re.sub(r"\W", "_", n)
        prefixes[n] = pre if pre[:1].isalpha() else "p_" + pre
    u = result.uncertainty
    findings = check_warnings(result.warnings) + check_gof(ref.gof) + check_peaks(
        peaks, net_max, not sample_phases,
        None if result.amorphous_fraction is None else float(result.amorphous_fraction[0]), ticks=ref.ticks)
    curves = {p.name for p in getattr(getattr(ref, "fit", None), "phases", ()) if getattr(p, "profile_only", False)}
    if result.amorphous_fraction is not None and by_construction([n for n in sample_phases if n not in curves]):
        # nothing crystalline of the sample declared: the amorphous fraction is 1 − Σ over nothing, so whatever the
        # amorphous model took is counted — a nanocrystalline phase's broad peaks included (quant.pipeline)
        broad = broad_unexplained(ref.two_theta, ref.observed, ref.calculated, ref.esd, bragg, ref.gof)
        if broad is not None and any(not p["satellite"] and abs(p["two_theta"] - broad["two_theta"]) <= 2 * broad["fwhm"]
                                     for p in peaks):
            broad = None  # the sharp peaks of an undeclared phase, said above
        findings += check_broad_unexplained(broad, instrument.wavelength)
    absent = absent_phases(ref)
    refined = {n: v for n, (v, _) in result.refined_fractions.items()}
    refined_u = {n: u.get(f"refined:{n}", 0.0) for n in result.refined_fractions}
    consequence = _consequence(result, refined, refined_u)
    findings += check_fractions(refined, refined_u, "refined fraction", absent,
                                why_uncertain(result, result.refined_fractions, refined_u, "refined", brindley),
                                consequence)
    findings += check_sizes(ref.parameters, prefixes) + check_cells(getattr(ref, "fit", None))
    findings += check_out_of_range(ref.ticks, refined, refined_u, result.standard["phase"] if result.standard else None,
                                   curves)
    micro = [abs(v["shifts"]["amorphous"]) for v in _variants(result)
             if v["variant"].startswith("microabsorption") and "amorphous" in (v.get("shifts") or {})]
    findings += check_microabsorption(ref.phase_info, refined, brindley, micro[0] if micro else None)
    if result.amorphous_fraction is not None:
        amorph = (result.amorphous_fraction[0], u.get("amorphous", result.amorphous_fraction[1]))
    else:
        amorph = None
    std_scale = ref.scales.get(result.standard["phase"]) if result.standard and ref.scales else None
    ticks = ref.ticks.get(result.standard["phase"]) if result.standard and ref.ticks else None
    standard_findings = check_standard(result.standard, amorph, result.file, std_scale,
                                       len(ticks[0]) if ticks is not None else None)
    findings += standard_findings + check_external_amorphous(result) + check_element_balance(result)
    findings += check_spiked_composition(result)
    if not standard_findings:
        findings += check_standard_lines(getattr(ref, "fit", None), result.standard)
        findings += check_standard_texture(ref, result.standard,
                                           prefixes.get(result.standard["phase"]) if result.standard else None)
    findings += check_phase_lines(getattr(ref, "fit", None), result.standard)
    if not standard_findings:  # with the standard gone, every sample fraction is meaningless: said once above
        sample = {n: v for n, (v, _) in result.sample_fractions.items()}
        sample_u = {n: u.get(f"sample:{n}", 0.0) for n in result.sample_fractions}
        findings += check_fractions(sample, sample_u, "sample fraction", absent,
                                    why_uncertain(result, result.sample_fractions, sample_u, "sample", brindley),
                                    consequence)
        findings += detection_notes(absent, sample, sample_u, "in the sample")
        # without a standard there are no sample fractions: the limit is on the crystalline-normalised scale
        findings += detection_notes([n for n in absent if n not in sample], refined, refined_u, "of the crystalline part")
    else:
        findings += detection_notes(absent, refined, refined_u, "of the crystalline part")
    if standard_error and not any(f.level == "fail" and "standard" in f.reason for f in findings):
        findings.append(Finding("fail", standard_error))
    pattern_attrs = dict(getattr(result.scan, "attrs", {}) or {})  # not result.pattern: that would import xarray
    findings += check_instrument(pattern_attrs, instrument.wavelength, instrument.radius_mm, instrument.name)
    for f in findings:
        if f.level == "ok" and f.reason not in result.warnings:
            result.warnings.append(f.reason)
    level, reasons = verdict_of(findings)
    # reasons flagged before the checks ran (QuantResult.flag) stay, and so does their level
    result.verdict = worse(result.verdict, level)
    result.verdict_reasons = reasons + [r for r in result.verdict_reasons if r not in reasons]
    result.unexplained_peaks = peaks
    return result
