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
    code = ("import sys, json; from xrdq.batch import worker; worker.warm_up(); from xrdq.model import _kernels as k; "
            "print(json.dumps({'modules': [m for m in ('xarray', 'scipy.ndimage', 'numba', 'xrdq.refine.fit') "
            "if m in sys.modules], 'kernels': [f for f in ('fcj_node_table', 'accumulate', 'accumulate_jacobian') "
            "if getattr(k, f).signatures]}))")
    out = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True).stdout.splitlines()[-1])
    assert out["modules"] == ["xarray", "scipy.ndimage", "numba", "xrdq.refine.fit"]  # no scipy.optimize: refine/lm.py
    assert out["kernels"] == ["fcj_node_table", "accumulate", "accumulate_jacobian"]


def _pixels(png: bytes) -> np.ndarray:
    import io

    import matplotlib.image as mpimg

    return mpimg.imread(io.BytesIO(png), format="png")


def test_reused_figure_draws_what_a_fresh_plot_draws(pattern_dir, settings, tmp_path):
    pytest.importorskip("matplotlib")
    from xrdq.quant.api import quantify

    first, second = (quantify(pattern_dir / name, **settings) for name, *_ in SAMPLES[:2])
    png_first, problem = worker._render_plot(first)
    assert problem is None and png_first
    axes = worker._axes
    png_second, problem = worker._render_plot(second)
    assert problem is None
    assert worker._axes is axes  # the same figure, cleared and redrawn
    fresh = tmp_path / "fresh.png"
    from xrdq.plot import THUMBNAIL_FIGSIZE, THUMBNAIL_FONT_PT

    # a figure of its own, as a batch drew it before the figure was reused
    second.plot(fresh, figsize=THUMBNAIL_FIGSIZE, font_size=THUMBNAIL_FONT_PT, dpi=200)
    a, b = _pixels(png_second), _pixels(fresh.read_bytes())
    assert a.shape == b.shape and np.array_equal(a, b), "leftovers of the previous plot, or a different layout"
    assert not np.array_equal(_pixels(png_first), a)


def test_run_job_records_the_plot_time(pattern_dir, settings):
    path = str(pattern_dir / SAMPLES[0][0])
    task = {"path": path, "settings": dict(settings, standard=list(settings["standard"])), "start": None}
    with_plot = worker.run_job(dict(task, plot=True))
    without = worker.run_job(dict(task, plot=False))
    assert with_plot["status"] == without["status"] == "ok", (with_plot["message"], without["message"])
    assert with_plot["plot_png"] and with_plot["worker"]["plot_s"] > 0
    assert without["plot_png"] is None and without["worker"]["plot_s"] is None
