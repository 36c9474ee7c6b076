"""Pictures of a fit: observed, calculated, difference, every component and hkl ticks per phase."""

from __future__ import annotations

import numpy as np

COLORS = ["tab:green", "tab:purple", "tab:blue", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]

#: Figure size (inches) and font size (pt) of the small plots a batch shows as thumbnails: at the
#: thumbnail width of the batch summary page (xrdq.batch.outputs) their text stays ≥ 8 px high.
THUMBNAIL_FIGSIZE = (6.4, 4.4)
THUMBNAIL_FONT_PT = 9.0
#: Heights of the pattern and difference panels of a fit plot.
PANELS = {"height_ratios": [4, 1], "hspace": 0.05}


def check_plot_path(path):
    """Raise :class:`~xrdq.errors.XrdqOutputError` now if ``path`` is not a writable plot file of a format
    matplotlib can write (by extension; none means PNG) — before a fit, not after it."""
    from pathlib import Path

    from matplotlib.backend_bases import FigureCanvasBase

    from ._atomic import check_writable
    from .errors import XrdqOutputError

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    supported = FigureCanvasBase.get_supported_filetypes()
    if fmt and fmt not in supported:
        raise XrdqOutputError(f"{path}: cannot draw a plot as .{fmt}; expected one of "
                              f"{', '.join('.' + k for k in sorted(supported))}")
    return check_writable(path)


def _sqrt_scale():
    """√-intensity axis that keeps the sign (tick rows and the difference curve go below zero)."""
    def forward(y):
        y = np.asarray(y, dtype=float)
        return np.sign(y) * np.sqrt(np.abs(y))

    def inverse(t):
        t = np.asarray(t, dtype=float)
        return np.sign(t) * t * t

    return forward, inverse


def _pct(value: float, esd: float) -> str:
    """``12.3 ± 0.4`` wt%, with a second decimal when the esd would otherwise print as 0.0."""
    digits = 1 if 100 * esd >= 0.1 else 2
    return f"{100 * value:.{digits}f} ± {100 * esd:.{digits}f}"


def _sqrt_ticks(ax, ymax: float):
    """Round intensities evenly spaced on the √ axis (a linear locator crowds them at the top)."""
    from matplotlib.ticker import FixedLocator, MaxNLocator

    roots = MaxNLocator(6).tick_values(0.0, float(np.sqrt(max(ymax, 1.0))))
    values = sorted({float(f"{r * r:.2g}") for r in roots if r >= 0})
    ax.yaxis.set_major_locator(FixedLocator(values))


def phase_labels(result) -> dict:
    """Legend text per phase: the standard named as such with its weighed and refined fractions, the
    others with their fraction in the sample (or the crystalline-normalised one without a standard)."""
    ref = getattr(result, "refinement", result)
    refined = getattr(result, "refined_fractions", {}) or {}
    sample = getattr(result, "sample_fractions", {}) or {}
    std = getattr(result, "standard", None) or {}
    out = {}
    for name in ref.phase_names:
        if std and name == std.get("phase"):
            text = f"{name}: internal standard, weighed {100 * std['weighed_fraction']:.1f} wt%"
            if name in refined:
                text += f", Rietveld {_pct(*refined[name])} wt%"
        elif name in sample:
            text = f"{name}: {_pct(*sample[name])} wt% in sample"
        elif name in refined:
            text = f"{name}: {_pct(*refined[name])} wt% (crystalline)"
        else:
            text = name
        out[name] = text
    return out


def _window(tt, two_theta_range):
    if two_theta_range is None:
        return np.ones(tt.shape, dtype=bool)
    from .errors import XrdqError

    lo, hi = (float(v) for v in two_theta_range)
    sel = (tt >= lo) & (tt <= hi)
    if not hi > lo or sel.sum() < 2:
        raise XrdqError(f"plot range {lo:g}–{hi:g}° 2θ holds no part of the fitted pattern "
                        f"({tt[0]:g}–{tt[-1]:g}°)")
    return sel


def _draw_curves(ax, result, show_components: bool):
    """Observed, calculated, background, amorphous band and each phase on background + amorphous."""
    ref = getattr(result, "refinement", result)
    tt = ref.two_theta
    ax.plot(tt, ref.observed, ".", ms=1.5, color="0.25", label="observed", zorder=3)
    ax.plot(tt, ref.calculated, "-", lw=0.9, color="tab:red", label="calculated", zorder=4)
    bkg = np.asarray(ref.background, dtype=float)
    ax.plot(tt, bkg, "-", lw=0.8, color="tab:gray", label="background")
    base = bkg
    if "amorphous" in ref.components:
        amorph = np.asarray(ref.components["amorphous"], dtype=float)
        a = getattr(result, "amorphous_fraction", None)
        label = f"amorphous: {_pct(*a)} wt% in sample" if a else "amorphous"
        ax.fill_between(tt, bkg, bkg + amorph, color="tab:orange", alpha=0.3, lw=0, label=label)
        base = bkg + amorph  # the phases sit on everything that is not a phase, as the calculated curve does
    if show_components:
        labels = phase_labels(result)
        for i, name in enumerate(ref.phase_names):
            ax.plot(tt, base + ref.components[name], "-", lw=0.7, color=COLORS[i % len(COLORS)], label=labels[name])


def _draw_ticks(ax, ref, y_top_t: float, forward, inverse, font_pt: float):
    """One labelled row of hkl ticks per phase below zero, spaced evenly on the (possibly √) axis."""
    from matplotlib.transforms import blended_transform_factory

    names = list(ref.phase_names)
    if not names:
        return None
    # one text line and a bit per row, whatever the figure size (rows of 4 % of the axis overlapped in
    # the smaller batch plots)
    axes_height_in = ax.get_position().height * ax.figure.get_figheight()
    row = min(1.5 * font_pt / 72.0 / axes_height_in, 0.8 / (len(names) + 1.6))
    h = y_top_t * row / (1.0 - row * (len(names) + 0.6))
    trans = blended_transform_factory(ax.transAxes, ax.transData)
    for i, name in enumerate(names):
        pos = ref.ticks.get(name, (np.array([]), None))[0] if ref.ticks else np.array([])
        centre = -h * (i + 1.0)
        lo, hi = float(inverse(centre - 0.35 * h)), float(inverse(centre + 0.35 * h))
        color = COLORS[i % len(COLORS)]
        ax.vlines(pos, lo, hi, color=color, lw=0.8)
        ax.text(1.005, float(inverse(centre)), name, transform=trans, color=color, fontsize=font_pt * 0.9,
                va="center", ha="left", clip_on=False)
    return float(inverse(-h * (len(names) + 0.6)))


def plot_result(result, path=None, *, ax=None, title=None, show_components: bool = True, dpi: int = 150,
                sqrt_intensity: bool = False, two_theta_range=None, figsize=(10, 6.5), font_size: float = 8.0):
    """Plot a :class:`~xrdq.quant.result.QuantResult` (or a RefinementResult).

    Each phase is drawn on background + amorphous (where the calculated curve puts it); its hkl tick
    row below the pattern carries its name; the legend names the internal standard with its weighed
    and refined fractions. ``sqrt_intensity`` draws a √-intensity axis (weak phases stay visible);
    ``two_theta_range=(lo, hi)`` zooms on that 2θ window (intensity axis fitted to it). ``ax``: an Axes
    for the pattern alone, or a (pattern, difference) pair of empty Axes. Writes ``path`` (PNG, SVG,
    PDF... by extension, atomically) when given; returns the Figure.
    """
    import matplotlib

    if path is not None:
        check_plot_path(path)
    if path is not None and ax is None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ref = getattr(result, "refinement", result)
    tt = ref.two_theta
    sel = _window(tt, two_theta_range)
    if ax is None:
        fig, (ax, ax_diff) = plt.subplots(2, 1, figsize=figsize, sharex=True, gridspec_kw=PANELS)
    elif isinstance(ax, (tuple, list)):  # (pattern, difference) axes, e.g. a batch worker's reused figure
        ax, ax_diff = ax
        fig = ax.figure
    else:
        fig, ax_diff = ax.figure, None
    forward, inverse = _sqrt_scale() if sqrt_intensity else (lambda y: np.asarray(y, dtype=float),) * 2
    if sqrt_intensity:
        ax.set_yscale("function", functions=(forward, inverse))
    _draw_curves(ax, result, show_components)
    ymax = float(max(np.nanmax(ref.observed[sel]), np.nanmax(ref.calculated[sel])))
    bottom = _draw_ticks(ax, ref, float(forward(ymax)), forward, inverse, font_size)
    ax.set_ylim(bottom=min(bottom if bottom is not None else 0.0, float(np.nanmin(ref.observed[sel]))),
                top=float(inverse(forward(ymax) * 1.05)))
    ax.set_xlim(float(tt[sel][0]), float(tt[sel][-1]))
    if sqrt_intensity:
        _sqrt_ticks(ax, ymax)
    ax.set_ylabel("intensity (counts, √ scale)" if sqrt_intensity else "intensity (counts)", fontsize=font_size)
    ax.tick_params(labelsize=font_size)
    ax.legend(loc="upper right", fontsize=0.9 * font_size, frameon=False)
    amorph = getattr(result, "amorphous_fraction", None)
    head = title or (result.file if getattr(result, "file", None) else "xrdq fit")
    sub = f"Rwp {100 * ref.rwp:.2f} %, GoF {ref.gof:.2f}"
    if amorph:
        sub += f", amorphous {100 * amorph[0]:.1f} ± {100 * amorph[1]:.1f} wt%"
    verdict = getattr(result, "verdict", None)
    if verdict:
        sub += f" — verdict: {verdict.upper()}" + (f" ({result.verdict_reasons[0][:90]})" if result.verdict_reasons else "")
    ax.set_title(f"{head}\n{sub}", fontsize=font_size + 1)
    if ax_diff is not None:
        ax_diff.plot(tt, ref.observed - ref.calculated, "-", lw=0.6, color="tab:blue")
        ax_diff.axhline(0, color="0.5", lw=0.5)
        peaks = [p for p in getattr(result, "unexplained_peaks", ()) if not p.get("satellite")]
        if peaks:  # where the verdict saw peaks no phase explains
            ax_diff.plot([p["two_theta"] for p in peaks], [p["height"] for p in peaks], "v", color="tab:red", ms=5,
                         label="unexplained")
        diff = (ref.observed - ref.calculated)[sel]
        span = float(np.nanmax(np.abs(diff))) if diff.size else 1.0
        ax_diff.set_ylim(-1.1 * span, 1.1 * span)
        ax_diff.set_ylabel("obs − calc", fontsize=font_size)
        ax_diff.set_xlabel("2θ (degrees)", fontsize=font_size)
        ax_diff.tick_params(labelsize=font_size)
    else:
        ax.set_xlabel("2θ (degrees)", fontsize=font_size)
    if path is not None:
        from pathlib import Path

        from ._atomic import atomic_path

        path = Path(path)
        fmt = path.suffix.lstrip(".").lower() or "png"
        with atomic_path(path) as tmp:
            if fmt != "png" or not _save_png_cropped(fig, tmp, dpi):
                fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
        plt.close(fig)
    return fig


def _save_png_cropped(fig, path, dpi: int) -> bool:
    """Write ``fig`` as PNG cropped to its padded tight bounding box (as ``bbox_inches="tight"``), from ONE
    render.

    ``savefig(bbox_inches="tight")`` lays the whole figure out once only to measure it, then lays it out
    and renders it again: about a third of a batch plot's time. Here the figure is rendered once at
    ``dpi`` and the tight box cut out of the canvas; padding that reaches beyond the canvas is the figure's
    face colour, as savefig fills it. False (nothing written) if some content lies outside the canvas,
    which only a re-render can include.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import to_rgba
    from matplotlib.image import imsave

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    old_dpi = fig.dpi
    try:
        fig.dpi = dpi
        canvas.draw()
        tight = fig.get_tightbbox(canvas.get_renderer())
        width, height = fig.get_size_inches()
        if tight.x0 < 0 or tight.y0 < 0 or tight.x1 > width or tight.y1 > height:
            return False
        pad = matplotlib.rcParams["savefig.pad_inches"]
        box = tight.padded(pad if isinstance(pad, (int, float)) else 0.1)
        rgba = np.asarray(canvas.buffer_rgba())
        rows, cols = rgba.shape[:2]
        # the size savefig gives the tight box (its renderer truncates), placed at the nearest whole pixel;
        # pixel rows count from the top, the box's y from the bottom
        top, left = int(round(rows - box.y1 * dpi)), int(round(box.x0 * dpi))
        bottom, right = top + int(box.height * dpi), left + int(box.width * dpi)
        out = np.empty((bottom - top, right - left, 4), dtype=np.uint8)
        out[...] = np.round(np.array(to_rgba(fig.get_facecolor())) * 255).astype(np.uint8)
        r0, c0 = max(top, 0), max(left, 0)
        r1, c1 = min(bottom, rows), min(right, cols)
        out[r0 - top:r1 - top, c0 - left:c1 - left] = rgba[r0:r1, c0:c1]
        imsave(path, out, format="png", dpi=dpi,
               metadata={"Software": f"Matplotlib version{matplotlib.__version__}, https://matplotlib.org/"})
        return True
    finally:
        fig.dpi = old_dpi
