"""PNG plots are cut out of one render instead of savefig's second layout pass (bbox_inches="tight")."""

import io

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from xrdq.plot import _save_png_cropped  # noqa: E402


def _figure(text_x=0.5):
    fig = Figure(figsize=(6.0, 4.5))
    ax = fig.subplots()
    x = np.linspace(0.0, 10.0, 500)
    ax.plot(x, np.sin(x), lw=0.8)
    ax.set_title("a title")
    ax.set_ylabel("intensity")
    ax.text(text_x, 0.5, "label", transform=ax.transAxes)
    return fig


def _tight(fig, dpi):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return mpimg.imread(io.BytesIO(buf.getvalue()), format="png")


def test_cropped_png_is_the_tight_picture(tmp_path):
    path = tmp_path / "a.png"
    assert _save_png_cropped(_figure(), path, 150)
    ours, theirs = mpimg.imread(path), _tight(_figure(), 150)
    # the same box to within a pixel (savefig re-renders at a sub-pixel offset, so edges are not bit-equal)
    assert abs(ours.shape[0] - theirs.shape[0]) <= 1 and abs(ours.shape[1] - theirs.shape[1]) <= 1
    h, w = min(ours.shape[0], theirs.shape[0]), min(ours.shape[1], theirs.shape[1])
    assert ours.shape[2] == 3 and np.all(theirs[..., 3] == 1.0)  # opaque: written as RGB, savefig's alpha is all 1
    assert np.mean(np.abs(ours[:h, :w] - theirs[:h, :w, :3])) < 0.02
    assert ours.shape[0] < 4.5 * 150 and ours.shape[1] < 6.0 * 150  # cropped, not the whole canvas


def test_content_beyond_the_canvas_is_left_to_savefig(tmp_path):
    path = tmp_path / "b.png"
    fig = _figure(text_x=1.3)  # sticks out of the figure: only a re-render can include it
    assert not _save_png_cropped(fig, path, 100)
    assert not path.exists()
    assert _tight(fig, 100).shape[1] > 6.0 * 100  # savefig's tight box reaches beyond the figure


def test_a_see_through_figure_keeps_its_alpha(tmp_path):
    path = tmp_path / "c.png"
    fig = _figure()
    fig.patch.set_alpha(0.0)  # a transparent face: dropping the alpha channel would paint it black
    assert _save_png_cropped(fig, path, 100)
    ours = mpimg.imread(path)
    assert ours.shape[2] == 4 and ours[..., 3].min() == 0.0 and ours[..., 3].max() == 1.0
