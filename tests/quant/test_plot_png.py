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


def _drawn(img):
    """The part of an RGB(A) image that is not white background."""
    rows, cols = np.flatnonzero((img[..., :3] < 1.0).any(axis=(1, 2))), np.flatnonzero((img[..., :3] < 1.0).any(axis=(0, 2)))
    return img[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1, :3]


def test_cropped_png_is_the_drawn_picture_padded_as_savefig_pads(tmp_path):
    path = tmp_path / "a.png"
    assert _save_png_cropped(_figure(), path, 150)
    ours, theirs = mpimg.imread(path), _tight(_figure(), 150)
    assert ours.shape[2] == 3 and np.all(theirs[..., 3] == 1.0)  # opaque: written as RGB, savefig's alpha is all 1
    # cut to what is drawn, then padded by savefig.pad_inches (0.1 in = 15 px): a blank margin of exactly the pad
    pad = 15
    assert np.all(ours[:pad] == 1.0) and np.all(ours[-pad:] == 1.0)
    assert np.all(ours[:, :pad] == 1.0) and np.all(ours[:, -pad:] == 1.0)
    assert (ours[pad] < 1.0).any() and (ours[-pad - 1] < 1.0).any()
    assert (ours[:, pad] < 1.0).any() and (ours[:, -pad - 1] < 1.0).any()
    # savefig's tight box holds the blank margins of text boxes, and leaves out the antialiased fringe where its
    # box truncates: the same picture, a few pixels larger or smaller
    assert abs(theirs.shape[0] - ours.shape[0]) <= 4 and abs(theirs.shape[1] - ours.shape[1]) <= 4
    a, b = _drawn(ours), _drawn(theirs)
    # savefig re-renders at a sub-pixel offset, so edges are not bit-equal
    assert abs(a.shape[0] - b.shape[0]) <= 1 and abs(a.shape[1] - b.shape[1]) <= 1
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    assert np.mean(np.abs(a[:h, :w] - b[:h, :w])) < 0.02
    assert ours.shape[0] < 4.5 * 150 and ours.shape[1] < 6.0 * 150  # cropped, not the whole canvas


def test_a_drawing_that_reaches_the_canvas_edge_is_left_to_savefig(tmp_path):
    """Without the tight-box check (a batch plot's), content beyond the canvas is seen where it meets the edge."""
    path = tmp_path / "edge.png"
    fig = _figure()
    fig.text(0.9, 0.5, "a label longer than the space to the figure's right edge")
    assert not _save_png_cropped(fig, path, 100, check_beyond=False)
    assert not path.exists()
    assert _save_png_cropped(_figure(), path, 100, check_beyond=False)


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
