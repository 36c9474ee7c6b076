"""The compiled kernels (xrdq/model/_kernels.c): they load from a read-only install with no writable home or
cache folder, compute what the formulas say, and refuse arrays they would read or write out of bounds."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xrdq.model import _kernels as k
from xrdq.model.peaks import _node_arrays

PACKAGE = Path(__file__).resolve().parents[2] / "xrdq"

PROBE = """
import json, math
import numpy as np
from xrdq.model import _kernels as k
from xrdq.model.peaks import accumulate_peaks
tt = np.linspace(9.0, 11.0, 201)
out = accumulate_peaks(tt, [10.0], [2.0], [0.1], [0.0])  # one Gaussian, no asymmetry
ref = 2.0 * 2.0 * math.sqrt(math.log(2) / math.pi) / 0.1 * np.exp(-4 * math.log(2) * ((tt - 10.0) / 0.1) ** 2)
mask = np.abs(tt - 10.0) < 2.6 * 0.1 - 1e-9
print(json.dumps({"file": k.__file__, "close": bool(np.allclose(out[mask], ref[mask], rtol=1e-13, atol=0))}))
"""


def test_kernels_load_from_a_read_only_install_without_home_or_cache(tmp_path):
    """numba needed a writable cache folder (and died without one); the extension writes nothing."""
    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "xrdq", ignore=shutil.ignore_patterns("__pycache__"))
    (site / "xrdq" / "model" / "__pycache__").write_text("not a directory")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = dict(os.environ, PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1", HOME=str(blocker / "home"),
               XDG_CACHE_HOME=str(blocker / "cache"), TMPDIR=str(blocker / "tmp"))
    for root, dirs, files in os.walk(site):  # read-only for everyone (root ignores modes: hence the file above)
        for name in files:
            os.chmod(os.path.join(root, name), 0o444)
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=site)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["file"].startswith(str(site)), "the probe imported another copy of xrdq"
    assert result["close"]
    assert (site / "xrdq" / "model" / "__pycache__").is_file()  # nothing written into the install


def test_lorentzian_core_is_the_formula():
    """A pure Lorentzian, no asymmetry: inside the taper the value is 2A/(πf) / (1 + 4x²) to rounding."""
    tt = np.linspace(20.0, 40.0, 2001)
    out = np.zeros_like(tt)
    nodes = _node_arrays(np.array([30.0]), np.array([1]), 0.0, 0.0)
    k.accumulate(tt, *nodes, np.array([3.0]), np.array([0.2]), np.array([1.0]), out, k._TAIL_SPAN_DEG,
                 k._WINDOW_FWHM)
    x = (tt - 30.0) / 0.2
    ref = 2.0 * 3.0 / (math.pi * 0.2) / (1.0 + 4.0 * x * x)
    core = np.abs(x) < 0.75 * k._WINDOW_FWHM
    np.testing.assert_allclose(out[core], ref[core], rtol=1e-14)
    assert np.all(out[np.abs(x) >= k._WINDOW_FWHM] == 0.0)  # beyond the window: nothing


def _accumulate_args(n_points=101, n_peaks=2, width=4):
    tt = np.linspace(10.0, 20.0, n_points)
    pos = np.zeros((n_peaks, width))
    pos[:, 0] = np.linspace(12.0, 18.0, n_peaks)
    wts = np.zeros((n_peaks, width))
    wts[:, 0] = 1.0
    one = np.ones(n_peaks)
    return [tt, pos, wts, np.ones(n_peaks, dtype=np.int64), pos[:, 0].copy(), np.zeros(n_peaks), one, 0.1 * one,
            0.5 * one, np.zeros(n_points), 30.0, 24.0]


def test_accumulate_accepts_its_own_arguments():
    args = _accumulate_args()
    k.accumulate(*args)
    assert args[9].max() > 0


@pytest.mark.parametrize("index, bad, error, words", [
    (0, lambda a: a.astype(np.float32), TypeError, "tt: expected float64"),
    (3, lambda a: a.astype(np.int32), TypeError, "n_nodes: expected int64"),
    (7, lambda a: np.repeat(a, 2)[::2], TypeError, "fwhm: expected a C-contiguous"),
    (9, lambda a: np.zeros(a.size - 1), ValueError, "out must have the length of tt"),
    (3, lambda a: np.full(a.size, 5, dtype=np.int64), ValueError, "peak 0 has 5 nodes, its row holds 4"),
    (6, lambda a: a[:1].copy(), ValueError, "shorter than the 2 peaks"),
])
def test_accumulate_refuses_arrays_it_would_overrun(index, bad, error, words):
    """Without these checks a wrong dtype or size reads or writes past an array: garbage or a crash."""
    args = _accumulate_args()
    args[index] = bad(args[index])
    with pytest.raises(error, match=words):
        k.accumulate(*args)


def test_accumulate_writes_only_into_a_writable_out():
    args = _accumulate_args()
    args[9].setflags(write=False)
    with pytest.raises(TypeError, match="out: expected a C-contiguous writable"):
        k.accumulate(*args)


def test_jacobian_refuses_a_derivative_table_of_the_wrong_shape():
    tt, pos, wts, n_nodes, cen, spread, areas, fwhm, eta, out, _, _ = _accumulate_args()
    jac = np.zeros((3, tt.size))
    dpeak = np.zeros((2, 4, 2))  # 2 parameters, jac has 3 rows
    with pytest.raises(ValueError, match="dpeak must be"):
        k.accumulate_jacobian(tt, pos, wts, np.zeros_like(pos), np.zeros_like(wts), n_nodes, cen, np.ones(2), spread,
                              np.zeros(2), areas, fwhm, eta, dpeak, out, jac)


def test_node_table_refuses_more_nodes_than_its_quadrature_tables():
    from xrdq.model.peaks import _GL_W, _GL_X

    pos, wts = np.zeros((1, 64)), np.zeros((1, 64))
    with pytest.raises(ValueError, match="asks for 40 nodes"):
        k.fcj_node_table(np.array([30.0]), np.array([40], dtype=np.int64), 0.02, 0.03, _GL_X, _GL_W, pos, wts,
                         np.ones(1, dtype=np.int64), np.zeros(1), np.zeros(1))


def test_the_gaussians_exp_is_libms_to_one_ulp():
    """The point loops take e^y from their own vectorisable series (libm's exp is a call per point); it must give
    libm's numbers to within 1 ulp over every argument a Gaussian window reaches (y ≥ −4 ln2 · 2.6² ≈ −18.7) and
    beyond, hold −700 below that, and pass NaN on."""
    rng = np.random.default_rng(7)
    y = np.concatenate([np.linspace(-18.75, 0.0, 20001), -rng.uniform(0.0, 700.0, 20000), [0.0, -700.0]])
    out = np.empty_like(y)
    k.gauss_exp(y, out)
    ref = np.array([math.exp(v) for v in y])
    assert np.max(np.abs(out - ref) / np.spacing(ref)) <= 1.0
    assert out[-2] == 1.0
    held = np.empty(3)
    k.gauss_exp(np.array([-800.0, -1e300, np.nan]), held)
    assert held[0] == held[1] == out[-1] and np.isnan(held[2])
    with pytest.raises(ValueError, match="differ in length"):
        k.gauss_exp(np.zeros(3), np.empty(2))


def _gaussian_nodes_reference(tt, pos, wts, n_nodes, areas, fwhm):
    """Σ over peaks and nodes of a w G_norm / f · exp(−4 ln2 x²) on each node's window [c − 2.6 f, c + 2.6 f)
    (left-sided searches, as the kernels cut it), point by point with numpy's exp."""
    y = np.zeros_like(tt)
    g_norm = 2.0 * math.sqrt(math.log(2) / math.pi)
    for p in range(areas.size):
        for j in range(n_nodes[p]):
            c, f = pos[p, j], fwhm[p]
            lo, hi = np.searchsorted(tt, [c - 2.6 * f, c + 2.6 * f], side="left")
            x = (tt[lo:hi] - c) / f
            y[lo:hi] += areas[p] * wts[p, j] * g_norm / f * np.exp(-4.0 * math.log(2) * x * x)
    return y


@pytest.mark.parametrize("grid", ["uniform", "irregular"])
def test_node_gaussians_are_the_formula_on_uniform_and_irregular_grids(grid):
    """Every window is found by a search that guesses by interpolation (right at once on a uniform grid) and
    bisects where the guess is off (a geometric grid). Either way each node's Gaussian must be the formula on exactly
    the points of its window: a window cut one point off shows here."""
    n = 4001
    tt = np.linspace(20.0, 60.0, n) if grid == "uniform" else 20.0 + 40.0 * np.geomspace(1.0, 2.0, n) - 40.0
    centers = np.array([24.0, 31.7, 45.25, 58.9])
    fwhm = np.array([0.06, 0.11, 0.35, 0.9])  # window widths of 12 to 180 points
    areas = np.array([3.0, 1.0, 7.0, 2.0])
    pos, wts, n_nodes, cen, spread = _node_arrays(centers, np.array([3, 8, 16, 5]), 0.03, 0.04)
    assert n_nodes.min() > 1
    ref = _gaussian_nodes_reference(tt, pos, wts, n_nodes, areas, fwhm)
    tol = 1e-14 * ref.max()
    out = np.zeros_like(tt)
    k.accumulate(tt, pos, wts, n_nodes, cen, spread, areas, fwhm, np.zeros(4), out, k._TAIL_SPAN_DEG, k._WINDOW_FWHM)
    assert np.abs(out - ref).max() < tol
    out_j, jac = np.zeros_like(tt), np.zeros((1, n))
    dpeak = np.zeros((4, 4, 1))
    dpeak[:, 1, 0] = 1.0  # ∂/∂area: the unit-area shape itself
    k.accumulate_jacobian(tt, pos, wts, np.zeros_like(pos), np.zeros_like(wts), n_nodes, cen, np.ones(4), spread,
                          np.zeros(4), areas, fwhm, np.zeros(4), dpeak, out_j, jac)
    assert np.abs(out_j - ref).max() < tol
    unit = _gaussian_nodes_reference(tt, pos, wts, n_nodes, np.ones(4), fwhm)
    assert np.abs(jac[0] - unit).max() < 1e-14 * unit.max()
