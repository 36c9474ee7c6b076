"""Pictures of a fit: observed, calculated, difference, every component and hkl ticks per phase."""

from __future__ import annotations

import numpy as np

COLORS = ["tab:green", "tab:purple", "tab:blue", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]

#: Figure size (inches) and font size (pt) of the small plots a batch shows as thumbnails: at the
#: thumbnail width of the batch summary page (xrdq.batch.outputs) their text stays ≥ 8 px high.
THUMBNAIL_FIGSIZE = (6.4, 4.4)
THUMBNAIL_FONT_PT = 9.0
#: Their resolution: 960 × 660 px, as :func:`plot_result` writes a plot (its text height at the thumbnail width
#: does not depend on it). At 200 dpi a batch plot cost 16 % more to draw and its file 44 % more bytes.
THUMBNAIL_DPI = 150
#: The verdict's reason in a plot's title is cut to this many characters: at THUMBNAIL_FONT_PT + 1 it then stays
#: within a thumbnail's width.
TITLE_REASON_CHARS = 85
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


def _pct(value: float, esd: float, u: float | None = None) -> str:
    """``12.3 ± 0.4`` wt%, with a second decimal when the esd would otherwise print as 0.0; with the standard
    uncertainty ``u`` (esd and the model's own) ``12.3 ± 0.4 [u 2.1]``, the report's ``± esd [u]``."""
    digits = 1 if 100 * esd >= 0.1 else 2
    text = f"{100 * value:.{digits}f} ± {100 * esd:.{digits}f}"
    return text if u is None else f"{text} [u {100 * u:.{digits}f}]"


def _u(result, key: str) -> float | None:
    """The standard uncertainty of quantity ``key`` when the result carries a model uncertainty, else None
    (without one u is the esd, and printing it twice says nothing). A figure that showed only the esd, often a
    tenth of u, would be the confident number the report warns against quoting."""
    if not (getattr(result, "model_uncertainty", None) or {}).get(key):
        return None
    return result.uncertainty.get(key)


def _linear_ticks(ax, lowest: float, top: float):
    """Round intensities from the lowest observed (0 unless the data go negative) to the top: the band below zero
    holds the hkl tick rows, where an intensity label (−10000 counts) would be read as data."""
    from matplotlib.ticker import FixedLocator, MaxNLocator

    lo = min(0.0, lowest)
    ax.yaxis.set_major_locator(FixedLocator([v for v in MaxNLocator(6).tick_values(lo, top) if lo <= v <= top]))


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
                text += f", Rietveld {_pct(*refined[name], _u(result, f'refined:{name}'))} wt%"
        elif name in sample:
            text = f"{name}: {_pct(*sample[name], _u(result, f'sample:{name}'))} wt% in sample"
        elif name in refined:
            text = f"{name}: {_pct(*refined[name], _u(result, f'refined:{name}'))} wt% (crystalline)"
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


def _tick_row_share(ax, n_rows: int, font_pt: float) -> float:
    """Share of the pattern axis's height that one row of hkl ticks takes."""
    # one text line and a bit per row, whatever the figure size (rows of 4 % of the axis overlapped in
    # the smaller batch plots)
    axes_height_in = ax.get_position().height * ax.figure.get_figheight()
    return min(1.3 * font_pt / 72.0 / axes_height_in, 0.8 / (n_rows + 1.6))


def _tick_rows(ax, n_rows: int, y_top_t: float, font_pt: float) -> float:
    """Height (in the possibly √ axis units) of one row of hkl ticks below zero."""
    row = _tick_row_share(ax, n_rows, font_pt)
    return y_top_t * row / (1.0 - row * (n_rows + 0.6))


#: Most the intensity axis is stretched (on its possibly √ scale) to keep the legend off the data.
LEGEND_HEADROOM_MAX = 2.5


def _layout(result, ax_diff, show_components: bool, sqrt_intensity: bool, key_in_legend: bool = True) -> tuple:
    """What decides which artists a fit plot has; a figure can be updated in place while it stays the same."""
    ref = getattr(result, "refinement", result)
    # without the key, the background has a legend entry only when it is the sum of background and humps
    undetermined = not key_in_legend and _split_undetermined(ref)
    return (len(ref.phase_names), "amorphous" in ref.components, bool(show_components), bool(sqrt_intensity),
            ax_diff is not None, bool(key_in_legend), undetermined)


class FitArtists:
    """The artists of one fit plot, made once for a layout (:func:`_layout`) and then given each result's
    data, labels, texts and limits by :meth:`update` — so a figure redrawn for result after result (a batch
    worker's) neither clears its axes nor rebuilds ticks, lines and legend. A fresh plot is one
    ``FitArtists`` updated once: both paths run the same code, so they draw the same picture."""

    def __init__(self, ax, ax_diff, result, *, show_components: bool = True, sqrt_intensity: bool = False,
                 font_size: float = 8.0, key_in_legend: bool = True):
        self.ax, self.ax_diff, self.font_size = ax, ax_diff, font_size
        self.show_components, self.sqrt_intensity, self.key_in_legend = show_components, sqrt_intensity, key_in_legend
        self.layout = _layout(result, ax_diff, show_components, sqrt_intensity, key_in_legend)
        n_phases, has_amorphous = self.layout[:2]
        if sqrt_intensity:
            ax.set_yscale("function", functions=_sqrt_scale())
        empty = np.zeros(0)
        self.observed, = ax.plot(empty, empty, ".", ms=1.5, color="0.25", label="observed", zorder=3)
        self.calculated, = ax.plot(empty, empty, "-", lw=0.9, color="tab:red", label="calculated", zorder=4)
        self.background, = ax.plot(empty, empty, "-", lw=0.8, color="tab:gray", label="background")
        # made from this result's band: matplotlib < 3.10 cannot change a band's data (can_show then says no)
        self.amorphous = (ax.fill_between(*_band(getattr(result, "refinement", result)), color="tab:orange",
                                          alpha=0.3, lw=0, label="amorphous") if has_amorphous else None)
        self.phases = [ax.plot(empty, empty, "-", lw=0.7, color=COLORS[i % len(COLORS)], label=f"phase {i}")[0]
                       for i in range(n_phases if show_components else 0)]
        self.tick_rows, self.tick_names = [], []
        if n_phases:
            from matplotlib.transforms import blended_transform_factory

            trans = blended_transform_factory(ax.transAxes, ax.transData)
            for i in range(n_phases):
                color = COLORS[i % len(COLORS)]
                self.tick_rows.append(ax.vlines(empty, 0.0, 0.0, color=color, lw=0.8))
                self.tick_names.append(ax.text(1.005, 0.0, "", transform=trans, color=color, va="center", ha="left",
                                               fontsize=font_size * 0.9, clip_on=False))
        ax.set_ylabel("intensity (counts, √ scale)" if sqrt_intensity else "intensity (counts)", fontsize=font_size)
        ax.tick_params(labelsize=font_size)
        handles = ax.get_legend_handles_labels()[0]
        if not key_in_legend:
            # a thumbnail's legend holds what has a number (amorphous band, phases) and, when it is not plain
            # background, the background line; the symbols' key is on the page that shows the thumbnails. Seven
            # lines of legend took the upper 60 % of a thumbnail's axis, the pattern was squashed under them.
            key = {self.observed, self.calculated} | (set() if self.layout[-1] else {self.background})
            handles = [h for h in handles if h not in key]
        self.legend = ax.legend(handles=handles, loc="upper right", fontsize=0.9 * font_size, frameon=False)
        self.legend_artists = handles  # the artists the legend's texts name, in order
        self.difference = self.unexplained = None
        if ax_diff is not None:
            self.difference, = ax_diff.plot(empty, empty, "-", lw=0.6, color="tab:blue")
            ax_diff.axhline(0, color="0.5", lw=0.5)
            # always there (empty when the verdict saw no unexplained peak), so the layout need not know
            self.unexplained, = ax_diff.plot(empty, empty, "v", color="tab:red", ms=5, label="unexplained")
            ax_diff.set_ylabel("obs − calc", fontsize=font_size)
            ax_diff.set_xlabel("2θ (degrees)", fontsize=font_size)
            ax_diff.tick_params(labelsize=font_size)
        else:
            ax.set_xlabel("2θ (degrees)", fontsize=font_size)

    def can_show(self, result) -> bool:
        """True if ``result`` fits this layout (and the installed matplotlib can update it in place)."""
        in_place = self.amorphous is None or hasattr(self.amorphous, "set_data")  # matplotlib ≥ 3.10
        return in_place and _layout(result, self.ax_diff, self.show_components, self.sqrt_intensity,
                                    self.key_in_legend) == self.layout

    def update(self, result, *, title=None, two_theta_range=None):
        """Show ``result``: curves, labels, hkl ticks, limits, legend and title."""
        ref = getattr(result, "refinement", result)
        tt = ref.two_theta
        sel = _window(tt, two_theta_range)
        ax, font_size = self.ax, self.font_size
        forward, inverse = _sqrt_scale() if self.sqrt_intensity else (lambda y: np.asarray(y, dtype=float),) * 2
        self._update_curves(result, ref)
        for text, artist in zip(self.legend.get_texts(), self.legend_artists):
            text.set_text(artist.get_label())
        ax.set_xlim(float(tt[sel][0]), float(tt[sel][-1]))
        ymax = float(max(np.nanmax(ref.observed[sel]), np.nanmax(ref.calculated[sel])))
        y_ref = max(float(forward(ymax)), self._legend_headroom(ref, sel, forward))
        bottom = self._update_ticks(ref, y_ref, inverse)
        lowest, top = float(np.nanmin(ref.observed[sel])), float(inverse(y_ref * 1.05))
        ax.set_ylim(bottom=min(bottom if bottom is not None else 0.0, lowest), top=top)
        if self.sqrt_intensity:
            _sqrt_ticks(ax, ymax)
        else:
            _linear_ticks(ax, lowest, top)
        ax.set_title(_title(result, ref, title), fontsize=font_size + 1)
        if self.ax_diff is not None:
            self.difference.set_data(tt, ref.observed - ref.calculated)
            peaks = [p for p in getattr(result, "unexplained_peaks", ()) if not p.get("satellite")]
            # where the verdict saw peaks no phase explains
            self.unexplained.set_data([p["two_theta"] for p in peaks], [p["height"] for p in peaks])
            diff = (ref.observed - ref.calculated)[sel]
            span = float(np.nanmax(np.abs(diff))) if diff.size else 1.0
            self.ax_diff.set_ylim(-1.1 * span, 1.1 * span)

    def _legend_headroom(self, ref, sel, forward) -> float:
        """The (possibly √) intensity the axis is scaled to (its top less 5 %) so that the pattern under the legend
        ends below the legend; 0 where nothing of it lies under the legend.

        The legend sits in the upper right and, with the standard's weighed and refined fractions in it, often
        spans half the axis: over the strongest peaks, unreadable. Raising the top only as far as the data under
        it needs keeps the rest of the picture as it was. The legend's box comes from a layout of the legend
        alone at the figure's dpi, which for the figures made here is the dpi they are saved at (the layout is
        then reused by the drawing); a figure saved at another dpi has its text hinted to other widths (≈ 2 % of
        the axis on a 10-inch figure), which the margins cover.
        """
        get_renderer = getattr(self.ax.figure.canvas, "get_renderer", None)
        if get_renderer is None or not self.legend.get_texts():
            return 0.0
        to_axes = self.ax.transAxes.inverted()
        (x_left, y_bottom), _ = to_axes.transform(self.legend.get_window_extent(get_renderer()))
        lo, hi = self.ax.get_xlim()
        under = sel & (ref.two_theta >= lo + (x_left - 0.03) * (hi - lo))
        if not under.any():
            return 0.0
        peak = float(forward(max(np.nanmax(ref.observed[under]), np.nanmax(ref.calculated[under]))))
        # axis from −β·y_ref (the hkl tick rows, _update_ticks) to 1.05·y_ref: the data under the legend at
        # (peak + β·y_ref) / ((1.05 + β)·y_ref) of the height must stay below its bottom, less a margin
        n = len(ref.phase_names)
        q = _tick_row_share(self.ax, n, self.font_size) * (n + 0.6) if n else 0.0
        beta = q / (1.0 - q)
        room = (y_bottom - 0.02) * (1.05 + beta) - beta
        if peak <= 0 or room <= 0:
            return 0.0
        return min(peak / room, LEGEND_HEADROOM_MAX * float(forward(np.nanmax(ref.observed[sel]))))

    def _update_curves(self, result, ref):
        """Observed, calculated, background, amorphous band and each phase on background + amorphous."""
        tt = ref.two_theta
        self.observed.set_data(tt, ref.observed)
        self.calculated.set_data(tt, ref.calculated)
        bkg = np.asarray(ref.background, dtype=float)
        base = bkg
        if self.amorphous is not None:
            # the phases sit on everything that is not a phase, as the calculated curve does
            _, bkg, base = _band(ref)
            if hasattr(self.amorphous, "set_data"):
                self.amorphous.set_data(tt, bkg, base)
            a = getattr(result, "amorphous_fraction", None)
            self.amorphous.set_label(f"amorphous: {_pct(*a, _u(result, 'amorphous'))} wt% in sample" if a else "amorphous")
        self.background.set_data(tt, bkg)
        self.background.set_label("background + amorphous (split not determined)"
                                  if self.amorphous is not None and _split_undetermined(ref) else "background")
        if self.phases:
            labels = phase_labels(result)
            for line, name in zip(self.phases, ref.phase_names):
                line.set_data(tt, base + ref.components[name])
                line.set_label(labels[name])

    def _update_ticks(self, ref, y_top_t: float, inverse):
        """One labelled row of hkl ticks per phase below zero, spaced evenly on the (possibly √) axis."""
        names = list(ref.phase_names)
        if not names:
            return None
        h = _tick_rows(self.ax, len(names), y_top_t, self.font_size)
        for i, (name, row, text) in enumerate(zip(names, self.tick_rows, self.tick_names)):
            pos = ref.ticks.get(name, (np.array([]), None))[0] if ref.ticks else np.array([])
            centre = -h * (i + 1.0)
            lo, hi = float(inverse(centre - 0.35 * h)), float(inverse(centre + 0.35 * h))
            row.set_segments([np.array([[x, lo], [x, hi]]) for x in np.asarray(pos, dtype=float).ravel()])
            text.set_position((1.005, float(inverse(centre))))
            text.set_text(name)
        return float(inverse(-h * (len(names) + 0.6)))


def _band(ref):
    """(2θ, background, background + amorphous): the amorphous band of a refinement. Where the background
    polynomial runs negative beyond the counts' noise, a hump and the polynomial are cancelling each other (their
    split is not determined; the refinement warns so, :mod:`xrdq.refine.diagnostics`): the band is then empty and
    the background line is their sum, so that the picture does not show a curve of −10⁵ counts under data of 300."""
    bkg = np.asarray(ref.background, dtype=float)
    top = bkg + np.asarray(ref.components["amorphous"], dtype=float)
    if _split_undetermined(ref):
        return ref.two_theta, top, top
    return ref.two_theta, bkg, top


def _split_undetermined(ref) -> bool:
    """The background polynomial below zero by more than HUMP_ABOVE_ESDS esds of the counts somewhere (only with
    amorphous humps beside it)."""
    from .refine.diagnostics import HUMP_ABOVE_ESDS

    if "amorphous" not in ref.components:
        return False
    return bool(np.any(np.asarray(ref.background, dtype=float) < -HUMP_ABOVE_ESDS * np.asarray(ref.esd, dtype=float)))


def _title(result, ref, title) -> str:
    """File (or ``title``) over Rwp, GoF, the amorphous fraction and the verdict."""
    amorph = getattr(result, "amorphous_fraction", None)
    head = title or (result.file if getattr(result, "file", None) else "xrdq fit")
    sub = f"Rwp {100 * ref.rwp:.2f} %, GoF {ref.gof:.2f}"
    if amorph:
        u = _u(result, "amorphous")
        sub += f", amorphous {100 * amorph[0]:.1f} ± {100 * amorph[1]:.1f}" + (f" [u {100 * u:.1f}]" if u is not None else "") + " wt%"
    verdict = getattr(result, "verdict", None)
    if verdict:
        # its reason on a line of its own, cut to what a thumbnail's width holds: a title wider than the figure
        # widens the cropped picture, and the page showing it at a fixed width then shrinks the whole plot
        reason = result.verdict_reasons[0] if result.verdict_reasons else ""
        reason = reason if len(reason) <= TITLE_REASON_CHARS else reason[:TITLE_REASON_CHARS - 1].rstrip() + "…"
        sub += f" — verdict: {verdict.upper()}" + (f"\n{reason}" if reason else "")
    return f"{head}\n{sub}"


def plot_result(result, path=None, *, ax=None, title=None, show_components: bool = True, dpi: int = 150,
                sqrt_intensity: bool = False, two_theta_range=None, figsize=(10, 6.5), font_size: float = 8.0,
                key_in_legend: bool = True):
    """Plot a :class:`~xrdq.quant.result.QuantResult` (or a RefinementResult).

    Each phase is drawn on background + amorphous (where the calculated curve puts it); its hkl tick
    row below the pattern carries its name; the legend names the internal standard with its weighed
    and refined fractions, and the intensity axis reaches as high as it takes for the legend to cover no data. ``sqrt_intensity`` draws a √-intensity axis (weak phases stay visible);
    ``two_theta_range=(lo, hi)`` zooms on that 2θ window (intensity axis fitted to it). ``key_in_legend=False``
    leaves observed, calculated and background out of the legend (a batch thumbnail's: :class:`FitPlot`). ``ax``: an Axes
    for the pattern alone, or a (pattern, difference) pair of empty Axes. Writes ``path`` (PNG, SVG,
    PDF... by extension, atomically) when given; returns the Figure. To draw many results on one figure,
    use :class:`FitPlot`.
    """
    import matplotlib

    if path is not None:
        check_plot_path(path)
    if path is not None and ax is None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ref = getattr(result, "refinement", result)
    _window(ref.two_theta, two_theta_range)  # a bad range is reported before anything is drawn
    if ax is None:
        # drawn at the dpi it is saved at, the legend's box measured for the headroom is the one saved
        fig, (ax, ax_diff) = plt.subplots(2, 1, figsize=figsize, sharex=True, gridspec_kw=PANELS,
                                          **({"dpi": dpi} if path is not None else {}))
    elif isinstance(ax, (tuple, list)):  # (pattern, difference) axes
        ax, ax_diff = ax
        fig = ax.figure
    else:
        fig, ax_diff = ax.figure, None
    FitArtists(ax, ax_diff, result, show_components=show_components, sqrt_intensity=sqrt_intensity,
               font_size=font_size, key_in_legend=key_in_legend).update(result, title=title,
                                                                         two_theta_range=two_theta_range)
    if path is not None:
        save_figure(fig, path, dpi)
        plt.close(fig)
    return fig


class FitPlot:
    """One thumbnail-sized fit figure redrawn for result after result (what a batch worker draws).

    Making a figure, clearing its axes and rebuilding its ticks, curves and legend cost about as much
    as rendering it; here the artists are made once per layout (number of phases, amorphous band) and
    only their data, texts and limits change, so each plot is the picture :func:`plot_result` draws for
    that result alone (a test compares the pixels). Its legend names what carries a number (amorphous band,
    phases), not the symbols of observed, calculated and background (``key_in_legend``): the page showing the
    thumbnails gives that key once.
    """

    def __init__(self, figsize=THUMBNAIL_FIGSIZE, font_size: float = THUMBNAIL_FONT_PT, dpi: int = THUMBNAIL_DPI,
                 key_in_legend: bool = False):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        # at the dpi it is saved at: the legend's box measured for the headroom (FitArtists) is then laid out once
        self.figure = Figure(figsize=figsize, dpi=dpi)
        FigureCanvasAgg(self.figure)
        self.axes = tuple(self.figure.subplots(2, 1, sharex=True, gridspec_kw=PANELS))
        self.font_size, self.dpi, self.key_in_legend = font_size, dpi, key_in_legend
        self.artists = None
        # zlib's fastest level: the same pixels, ≈ 8 % more bytes, 30–40 % less encoding time (which was
        # ≈ 20 % of a plot)
        self.png_compression = 1

    def save(self, result, path, *, title=None):
        """Draw ``result`` and write it to ``path`` (PNG, SVG, ... by extension, atomically)."""
        if self.artists is None or not self.artists.can_show(result):
            for ax in self.axes:
                ax.cla()
            self.artists = FitArtists(*self.axes, result, font_size=self.font_size, key_in_legend=self.key_in_legend)
        self.artists.update(result, title=title)
        # every artist of this layout starts on the canvas (titles, labels, the tick rows' names just right of
        # the axes), so anything reaching beyond it touches the edge: no second layout to find the tight box
        save_figure(self.figure, path, self.dpi, png_compression=self.png_compression, check_beyond=False)


def save_figure(fig, path, dpi: int, png_compression: int = 6, check_beyond: bool = True):
    """Write ``fig`` to ``path`` (format by extension, PNG without one) atomically, cropped to its content;
    ``png_compression``: zlib level 0–9 of a PNG (6: PIL's default); ``check_beyond``: see
    :func:`_save_png_cropped`."""
    from pathlib import Path

    from ._atomic import atomic_path

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    with atomic_path(path) as tmp:
        if fmt != "png" or not _save_png_cropped(fig, tmp, dpi, png_compression, check_beyond):
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")


def _save_png_cropped(fig, path, dpi: int, compress_level: int = 6, check_beyond: bool = True) -> bool:
    """Write ``fig`` as PNG cropped to what is drawn on it, padded as ``bbox_inches="tight"`` pads, from ONE
    render.

    ``savefig(bbox_inches="tight")`` lays the whole figure out once only to measure it, then lays it out
    and renders it again: about a third of a batch plot's time. Asking the rendered figure for its tight box
    (``get_tightbbox``) still lays out every text and tick again (≈ 15 % of a batch plot). Here the figure is
    rendered once at ``dpi`` and the box is read off the pixels: the rows and columns where anything differs
    from the background, which is the tight box less the blank margins of text boxes (a pixel or two).
    Padding that reaches beyond the canvas is the figure's face colour, as savefig fills it. False (nothing
    written) if content lies beyond the canvas, which only a re-render can include: if the drawing touches the
    canvas edge, and with ``check_beyond`` if the tight box says so — an artist placed wholly outside leaves no
    pixel. A figure whose every artist starts on the canvas (a batch plot's) can skip that second layout.
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
        if check_beyond:
            tight = fig.get_tightbbox(canvas.get_renderer())
            width, height = fig.get_size_inches()
            if tight.x0 < 0 or tight.y0 < 0 or tight.x1 > width or tight.y1 > height:
                return False
        rgba = np.asarray(canvas.buffer_rgba())
        ink = _drawn_box(rgba)
        if ink is None:
            return False
        pad = matplotlib.rcParams["savefig.pad_inches"]
        pad = int(round((pad if isinstance(pad, (int, float)) else 0.1) * dpi))
        rows, cols = rgba.shape[:2]
        top, bottom, left, right = ink[0] - pad, ink[1] + pad, ink[2] - pad, ink[3] + pad
        out = np.empty((bottom - top, right - left, 4), dtype=np.uint8)
        out[...] = np.round(np.array(to_rgba(fig.get_facecolor())) * 255).astype(np.uint8)
        r0, c0 = max(top, 0), max(left, 0)
        r1, c1 = min(bottom, rows), min(right, cols)
        out[r0 - top:r1 - top, c0 - left:c1 - left] = rgba[r0:r1, c0:c1]
        software = {"Software": f"Matplotlib version{matplotlib.__version__}, https://matplotlib.org/"}
        if out[..., 3].min() < 255:
            imsave(path, out, format="png", dpi=dpi, pil_kwargs={"compress_level": int(compress_level)},
                   metadata=software)
            return True
        # opaque (the figure's usual white face): written as RGB, a quarter less to compress (imsave always
        # writes RGBA); the same pixels, PIL being what imsave writes with
        from PIL import Image, PngImagePlugin

        info = PngImagePlugin.PngInfo()
        for key, value in software.items():
            info.add_text(key, value)
        Image.fromarray(np.ascontiguousarray(out[..., :3]), "RGB").save(
            path, format="png", dpi=(dpi, dpi), compress_level=int(compress_level), pnginfo=info)
        return True
    finally:
        fig.dpi = old_dpi


def _drawn_box(rgba) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) pixel bounds (bottom and right exclusive) of everything drawn on a rendered
    canvas: pixels that differ from its corner's, the background. None if the drawing reaches the canvas edge
    (or nothing is drawn)."""
    pixels = np.ascontiguousarray(rgba).view(np.uint32)[..., 0]  # one comparison per RGBA pixel
    ink = pixels != pixels[0, 0]
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if not rows.size:
        return None
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if top == 0 or left == 0 or bottom == ink.shape[0] or right == ink.shape[1]:
        return None
    return top, bottom, left, right
