"""How a result shows itself: repr, notebook table, and the fit plot (components, ticks, legend,
√-intensity, zoom, thumbnails)."""

from __future__ import annotations

import numpy as np
import pytest

import xrdq
from xrdq.model.simulate import simulate


@pytest.fixture(scope="module")
def result():
    """LiF 50 wt% (standard) + LiCl 6 % + 44 % amorphous, 15–70° 2θ."""
    pattern, _ = simulate([("LiF", 0.5), ("LiCl", 0.06)], amorphous=0.44, standard="LiF", seed=11,
                          two_theta=(15.0, 70.0, 0.02))
    return xrdq.quantify(pattern, phases=["LiCl"], standard=("LiF", 0.5))


def test_repr_is_one_short_line(result):
    for obj in (result, result.refinement):
        text = repr(obj)
        assert "\n" not in text and len(text) < 300, text
    assert "amorphous=" in repr(result) and "LiF" in repr(result)
    assert f"[u {100 * result.uncertainty['amorphous']:.2f}] wt%" in repr(result)  # not the esd alone


def test_notebook_table_shows_the_weighed_standard(result):
    html = result._repr_html_()
    assert "standard, weighed 50.00" in html


def _lines(ax) -> dict:
    return {ln.get_label(): ln for ln in ax.get_lines()}


def test_phases_are_drawn_on_background_plus_amorphous(result, tmp_path):
    import matplotlib.pyplot as plt

    ref = result.refinement
    assert "amorphous" in ref.components
    fig = result.plot(tmp_path / "fit.png")
    ax = fig.axes[0]
    curves = {label.split(":")[0]: ln for label, ln in _lines(ax).items()}
    base = ref.background + ref.components["amorphous"]
    for name in ref.phase_names:
        np.testing.assert_allclose(curves[name].get_ydata(), base + ref.components[name], rtol=1e-9)
    # the sum of what is drawn is the calculated pattern
    total = base + sum(ref.components[n] for n in ref.phase_names)
    np.testing.assert_allclose(total, ref.calculated, rtol=1e-6, atol=1e-6 * ref.calculated.max())
    plt.close(fig)


def test_tick_rows_are_labelled_and_the_standard_is_named(result, tmp_path):
    import matplotlib.pyplot as plt

    fig = result.plot(tmp_path / "fit.png")
    ax = fig.axes[0]
    texts = {t.get_text() for t in ax.texts}
    assert set(result.refinement.phase_names) <= texts
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    std = next(t for t in legend if t.startswith("LiF"))
    refined = result.refined_fractions["LiF"][0]
    import re

    assert "internal standard, weighed 50.0 wt%" in std
    shown = float(re.search(r"Rietveld ([0-9.]+) ± ([0-9.]+)", std).group(1))
    assert shown == pytest.approx(100 * refined, abs=0.051)
    licl = next(t for t in legend if t.startswith("LiCl"))
    shown = float(re.search(r"LiCl: ([0-9.]+) ±", licl).group(1))
    assert shown == pytest.approx(100 * result.sample_fractions["LiCl"][0], abs=0.051) and "in sample" in licl
    plt.close(fig)


def test_no_intensity_is_labelled_in_the_tick_rows_band(result, tmp_path):
    """Below zero the axis holds the hkl tick rows: a label there (−10000 counts) reads as data. The full plot and
    the batch thumbnail label only intensities from zero up, and still label the pattern's range."""
    import matplotlib.pyplot as plt

    from xrdq.plot import FitPlot

    thumbnail = FitPlot()
    thumbnail.save(result, tmp_path / "thumb.png")
    for ax in (result.plot().axes[0], thumbnail.axes[0]):
        bottom, top = ax.get_ylim()
        ticks = [v for v in ax.get_yticks() if bottom <= v <= top]
        assert bottom < 0 and min(ticks) == 0.0 and len(ticks) >= 4, (bottom, ticks)
    plt.close("all")


def test_the_plot_quotes_the_standard_uncertainty(result):
    """Legend and title give u beside the esd, as the report does: on its own the esd (often a tenth of u) is the
    confident number the report warns against quoting. Without a model uncertainty there is no second number."""
    import re

    import matplotlib.pyplot as plt

    u = result.uncertainty
    assert u["amorphous"] > 1.5 * result.amorphous_fraction[1]  # the ensemble adds something here
    fig = result.plot()
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    for prefix, key in (("amorphous", "amorphous"), ("LiCl", "sample:LiCl"), ("LiF", "refined:LiF")):
        text = next(t for t in legend if t.startswith(prefix))
        shown = float(re.search(r"\[u ([0-9.]+)\]", text).group(1))
        assert shown == pytest.approx(100 * u[key], abs=0.051), text
    title = fig.axes[0].get_title()
    assert float(re.search(r"amorphous [0-9.]+ ± [0-9.]+ \[u ([0-9.]+)\] wt%", title).group(1)) == pytest.approx(
        100 * u["amorphous"], abs=0.051)
    plt.close(fig)
    plain = xrdq.quantify(result.pattern, phases=["LiCl"], standard=("LiF", 0.5), model_uncertainty="off")
    fig = plain.plot()
    assert not any("[u" in t.get_text() for t in fig.axes[0].get_legend().get_texts())
    assert "[u" not in fig.axes[0].get_title()
    plt.close(fig)


def test_sqrt_intensity_and_zoom(result, tmp_path):
    import matplotlib.pyplot as plt

    ref = result.refinement
    fig = result.plot(tmp_path / "zoom.png", sqrt_intensity=True, two_theta_range=(50.0, 62.0))
    ax = fig.axes[0]
    assert ax.get_yscale() == "function"
    assert ax.get_xlim() == pytest.approx((50.0, 62.0), abs=0.03)
    window = (ref.two_theta >= 50) & (ref.two_theta <= 62)
    top = max(ref.observed[window].max(), ref.calculated[window].max())
    # fitted to the window, not the whole pattern (the top raised at most as far as the legend needs)
    assert top < ax.get_ylim()[1] < 0.5 * ref.observed.max()
    plt.close(fig)
    with pytest.raises(xrdq.errors.XrdqError, match="plot range"):
        result.plot(tmp_path / "none.png", two_theta_range=(100.0, 120.0))


@pytest.mark.parametrize("kind", ["plot", "thumbnail", "sqrt"])
def test_the_legend_covers_no_data(result, tmp_path, kind):
    """Where the pattern runs under the legend (the strongest peaks are often there), the intensity axis
    is raised until it clears the legend's box, measured on the picture as saved."""
    import matplotlib.pyplot as plt

    from xrdq.plot import THUMBNAIL_DPI, FitPlot

    ref = result.refinement
    if kind == "thumbnail":
        plot = FitPlot()
        plot.save(result, tmp_path / "thumb.png")
        fig, ax, dpi = plot.figure, plot.axes[0], THUMBNAIL_DPI
    else:
        fig = result.plot(sqrt_intensity=kind == "sqrt")  # not saved: saving closes it
        ax, dpi = fig.axes[0], 150
    fig.dpi = dpi  # as saved
    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()
    box = ax.get_legend().get_window_extent(renderer)
    tt, y = ref.two_theta, np.maximum(ref.observed, ref.calculated)
    pts = ax.transData.transform(np.column_stack([tt, y]))
    under = (pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1)
    assert under.sum() > 100  # the legend does span part of the pattern
    assert pts[under, 1].max() < box.y0, f"{kind}: data at {pts[under, 1].max():.0f} px, legend from {box.y0:.0f} px"
    # and the pattern is not squashed for nothing: its strongest point lies above a third of the axis
    frac = ax.transAxes.inverted().transform(pts[np.argmax(y)])[1]
    assert frac > 1 / 3
    plt.close(fig)


def test_a_thumbnail_legend_names_what_has_a_number(result, tmp_path):
    """A batch thumbnail's legend leaves out the symbols' key (observed, calculated, background: the summary page
    gives it once), so the pattern is not squashed under seven lines of legend; a plot of its own keeps the key."""
    import matplotlib.pyplot as plt

    from xrdq.plot import FitPlot

    fig = result.plot()
    full = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    plt.close(fig)
    plot = FitPlot()
    plot.save(result, tmp_path / "thumb.png")
    thumb = [t.get_text() for t in plot.axes[0].get_legend().get_texts()]
    assert full[:3] == ["observed", "calculated", "background"] and thumb == full[3:]
    assert thumb[0].startswith("amorphous: ") and any(t.startswith("LiCl: ") for t in thumb)
    # the same result drawn with and without the key: the pattern gets more of the axis
    tops = []
    for key in (True, False):
        fig = result.plot(figsize=plot.figure.get_size_inches(), font_size=plot.font_size, key_in_legend=key)
        ax = fig.axes[0]
        tops.append(ax.get_ylim()[1])
        plt.close(fig)
    assert tops[1] < 0.85 * tops[0], tops


def test_a_long_verdict_reason_stays_within_a_thumbnail(result, tmp_path):
    """A failed verdict's reason in the title is cut to the thumbnail's width, on a line of its own: written on one
    line with the Rwp, a negative-amorphous reason ran beyond the figure on both sides, so a batch thumbnail showed
    "s 88.0 ± 0.1 wt% — verdict: FAIL (amorphous fraction … negative: the" (and a plot with a title of its own fell
    back to a picture 1.8 × as wide, which the summary page shrank)."""
    import copy

    from xrdq.plot import THUMBNAIL_DPI, FitPlot

    failed = copy.copy(result)
    failed.verdict = "fail"
    failed.verdict_reasons = ["amorphous fraction -92.40 ± 10.57 wt% is negative: the standard LiF, 50 wt% refined "
                              "to 34.20 %, more than a weighed 50.00 % can give — wrong W_s, missing phases or "
                              "microabsorption; if the sample was not spiked use --no-standard"]
    for title in (None, "lazco_zro2_a35.ras"):
        plot = FitPlot()
        plot.save(failed, tmp_path / "thumb.png", title=title)
        fig = plot.figure
        fig.dpi = THUMBNAIL_DPI
        box = plot.axes[0].title.get_window_extent(fig.canvas.get_renderer())
        assert 0 <= box.x0 and box.x1 <= fig.bbox.width, (title, box, fig.bbox.width)
        assert "verdict: FAIL" in plot.axes[0].get_title() and "…" in plot.axes[0].get_title()


def test_a_background_cancelled_by_a_hump_is_drawn_as_their_sum(result, tmp_path):
    """gsas2/lazco_zro2_a35 (GSAS-II): a 17° wide hump of 10⁵ counts over a background polynomial of −10⁵ where 300 were
    observed (the refinement warns that their split is not determined). Drawn as they were, the background line
    dived off the axis and the amorphous band filled everything below it; now the line is their sum, named so, and
    the band is empty. A determined split is drawn as before."""
    from pathlib import Path

    from xrdq.plot import FitPlot

    case = Path(__file__).resolve().parents[2] / "reference_patterns" / "validation" / "gsas2" / "lazco_zro2_a35.xye"
    degenerate = xrdq.quantify(case, phases=["LiCl", "Li2ZrCl6", "ZrO2-m"], standard=("LiF", 0.25),
                               model_uncertainty="off")
    ref = degenerate.refinement
    assert ref.background.min() < -1e4 and any("rises above the observed counts" in w for w in degenerate.warnings)
    for res, undetermined in ((degenerate, True), (result, False)):
        plot = FitPlot()
        plot.save(res, tmp_path / "fit.png")
        line = plot.artists.background
        r = res.refinement
        total = r.background + r.components["amorphous"]
        assert np.allclose(line.get_ydata(), total if undetermined else r.background)
        assert (line.get_label() == "background + amorphous (split not determined)") is undetermined
        # a thumbnail names the background only when it is not plain background (its key is on the batch page)
        legend = [t.get_text() for t in plot.axes[0].get_legend().get_texts()]
        assert (line.get_label() in legend) is undetermined


def test_batch_thumbnails_are_readable(result):
    """The smallest text of a batch plot, shown at the summary page's thumbnail width, is ≥ 8 px high."""
    import struct

    from xrdq.batch.outputs import THUMBNAIL_WIDTH_PX
    from xrdq.batch.worker import _render_plot
    from xrdq.plot import THUMBNAIL_DPI, THUMBNAIL_FONT_PT

    png, problem = _render_plot(result)
    assert problem is None and png[:8] == b"\x89PNG\r\n\x1a\n"
    width_px = struct.unpack(">I", png[16:20])[0]
    smallest_pt = 0.9 * THUMBNAIL_FONT_PT  # tick-row labels
    px = smallest_pt / 72 * THUMBNAIL_DPI * THUMBNAIL_WIDTH_PX / width_px  # rendered at THUMBNAIL_DPI
    assert px >= 8.0, f"{px:.1f} px"


def test_cli_plot_options(result, tmp_path, capsys):
    from xrdq.cli import main
    from xrdq.io.ras_writer import write_ras

    path = tmp_path / "p.ras"
    write_ras(result.pattern, path)
    with pytest.raises(SystemExit) as exc:
        main(["quantify", str(path), "--phase", "LiCl", "--sqrt-intensity"])
    assert exc.value.code == 2 and "--plot" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["quantify", str(path), "--phase", "LiCl", "--plot", str(tmp_path / "z.svg"), "--sqrt-intensity",
              "--plot-range", "20", "40"])
    assert exc.value.code == 0 and (tmp_path / "z.svg").stat().st_size > 10_000
