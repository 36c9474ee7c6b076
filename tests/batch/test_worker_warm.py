"""Batch workers start warm and redraw one figure for every plot (issue 14)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from batch_helpers import SAMPLES
from xrdq.batch import worker


def test_warm_up_imports_the_fit_stack_and_loads_the_kernels():
    code = ("import sys, json; from xrdq.batch import worker; worker.warm_up(); "
            "print(json.dumps({'modules': [m for m in ('xarray', 'pandas', 'xrdq._filters', 'xrdq.model._kernels', "
            "'xrdq.refine.fit', 'xrdq.io.ras', 'xrdq.quant.uncertainty', 'xrdq.quant.verdict', "
            "'xrdq.refine.adaptive') if m in sys.modules]}))")
    out = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True).stdout.splitlines()[-1])
    # everything the first quantify would import (no scipy.optimize: refine/lm.py; no xarray or pandas: a batch
    # fits and plots Scans, never a DataArray)
    assert out["modules"] == ["xrdq._filters", "xrdq.model._kernels", "xrdq.refine.fit", "xrdq.io.ras",
                              "xrdq.quant.uncertainty", "xrdq.quant.verdict", "xrdq.refine.adaptive"]


def _pixels(png: bytes) -> np.ndarray:
    import io

    import matplotlib.image as mpimg

    return mpimg.imread(io.BytesIO(png), format="png")


def _fresh_png(result, tmp_path) -> bytes:
    """The plot of ``result`` on a figure of its own, as a batch drew it before the figure was reused."""
    from xrdq.plot import THUMBNAIL_DPI, THUMBNAIL_FIGSIZE, THUMBNAIL_FONT_PT

    fresh = tmp_path / "fresh.png"
    result.plot(fresh, figsize=THUMBNAIL_FIGSIZE, font_size=THUMBNAIL_FONT_PT, dpi=THUMBNAIL_DPI,
                key_in_legend=False)
    return fresh.read_bytes()


def _figure_texts(fig) -> list[str]:
    from matplotlib.text import Text

    return sorted(t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text())


def test_reused_figure_draws_what_a_fresh_plot_draws(pattern_dir, settings, tmp_path):
    pytest.importorskip("matplotlib")
    from xrdq.quant.api import quantify

    first, second = (quantify(pattern_dir / name, **settings) for name, *_ in SAMPLES[:2])
    png_first, problem = worker._render_plot(first)
    assert problem is None and png_first
    plot = worker._fit_plot()
    artists = plot.artists
    png_second, problem = worker._render_plot(second)
    assert problem is None
    assert worker._fit_plot() is plot and plot.artists is artists  # the same figure and artists, updated in place
    a, b = _pixels(png_second), _pixels(_fresh_png(second, tmp_path))
    assert a.shape == b.shape and np.array_equal(a, b), "leftovers of the previous plot, or a different layout"
    assert not np.array_equal(_pixels(png_first), a)


@pytest.fixture(scope="module")
def three_layouts(pattern_dir, settings):
    """Fits of two layouts (3 phases + amorphous band; 2 phases, no band) and one flagged with an
    unexplained peak and a verdict reason."""
    import dataclasses

    from xrdq.quant.api import quantify

    full = quantify(pattern_dir / SAMPLES[0][0], **settings)
    # a fit without zincite and without amorphous humps: fewer phases, no band (another layout)
    fewer = quantify(pattern_dir / SAMPLES[1][0], phases=[settings["phases"][0], settings["phases"][2]],
                     standard=settings["standard"], humps=[])
    assert len(fewer.refinement.phase_names) < len(full.refinement.phase_names)
    assert "amorphous" not in fewer.refinement.components and "amorphous" in full.refinement.components
    flagged = dataclasses.replace(full, file="flagged.ras", verdict="check", verdict_reasons=["a made-up reason"],
                                  unexplained_peaks=[{"two_theta": 33.3, "height": 50.0}])
    return full, fewer, flagged


def _check_no_leaks(results, tmp_path):
    from xrdq.plot import FitPlot

    full, fewer, flagged = results
    plot = FitPlot()
    for before, after in ((flagged, full), (full, fewer), (fewer, flagged), (flagged, full)):
        plot.save(before, tmp_path / "before.png")
        plot.save(after, tmp_path / "after.png")
        fresh = FitPlot()
        fresh.save(after, tmp_path / "fresh.png")
        assert _figure_texts(plot.figure) == _figure_texts(fresh.figure)
        for mine, theirs in zip(plot.axes, fresh.axes):
            assert len(mine.get_children()) == len(theirs.get_children())
        assert np.array_equal(_pixels((tmp_path / "after.png").read_bytes()),
                              _pixels(_fresh_png(after, tmp_path))), (before.file, after.file)
    return plot


def test_consecutive_plots_do_not_leak_the_previous_pattern(three_layouts, tmp_path):
    """A worker's next plot shows nothing of the one before: not its unexplained peaks, not its phases or
    amorphous band when the next fit has fewer, not its title or legend texts."""
    pytest.importorskip("matplotlib")
    full, _, flagged = three_layouts
    plot = _check_no_leaks(three_layouts, tmp_path)
    artists = plot.artists
    plot.save(flagged, tmp_path / "again.png")
    assert plot.artists is artists  # same layout: updated in place, not rebuilt


def test_plots_without_in_place_band_updates_rebuild(three_layouts, tmp_path, monkeypatch):
    """matplotlib < 3.10 cannot change an amorphous band's data: the figure is rebuilt for every plot
    with a band, and still draws what a fresh plot draws."""
    pytest.importorskip("matplotlib")
    from matplotlib import collections

    if hasattr(collections, "FillBetweenPolyCollection"):
        monkeypatch.delattr(collections.FillBetweenPolyCollection, "set_data")
    plot = _check_no_leaks(three_layouts, tmp_path)
    artists = plot.artists
    plot.save(three_layouts[0], tmp_path / "again.png")
    assert plot.artists is not artists


def test_each_thread_draws_on_its_own_figure():
    """A dask worker may run tasks in several threads: they must not share (and garble) one figure."""
    pytest.importorskip("matplotlib")
    import threading

    mine, other = worker._fit_plot(), []
    t = threading.Thread(target=lambda: other.append(worker._fit_plot()))
    t.start()
    t.join()
    assert worker._fit_plot() is mine and other[0] is not mine and other[0].figure is not mine.figure


def test_run_job_records_the_plot_time(pattern_dir, settings):
    path = str(pattern_dir / SAMPLES[0][0])
    task = {"path": path, "settings": dict(settings, standard=list(settings["standard"])), "start": None}
    with_plot = worker.run_job(dict(task, plot=True))
    without = worker.run_job(dict(task, plot=False))
    assert with_plot["status"] == without["status"] == "ok", (with_plot["message"], without["message"])
    assert with_plot["plot_png"] and with_plot["worker"]["plot_s"] > 0 and with_plot["worker"]["plot_cpu_s"] > 0
    assert without["plot_png"] is None and without["worker"]["plot_s"] is None and without["worker"]["plot_cpu_s"] is None
    # the CPU time covers the fit and the plot
    assert with_plot["worker"]["cpu_s"] > with_plot["worker"]["plot_cpu_s"] and without["worker"]["cpu_s"] > 0
