"""The background basis: orthonormal Chebyshev (+ 1/2θ) columns, made once per grid and order."""

import numpy as np
import pytest

from xrdq.model import background as bkg


def test_the_basis_is_orthonormal_on_its_grid_and_spans_the_polynomials_and_one_over_two_theta():
    tt = np.arange(10.0, 80.0, 0.02)
    b = bkg.orthogonal_basis(tt, 8, (tt[0], tt[-1]))
    assert b.shape == (tt.size, 9)
    assert b.T @ b / tt.size == pytest.approx(np.eye(9), abs=1e-10)
    raw = np.hstack([bkg.chebyshev(tt, 8, (tt[0], tt[-1])), bkg.inverse_two_theta(tt)])
    coef, *_ = np.linalg.lstsq(b, raw, rcond=None)
    assert b @ coef == pytest.approx(raw, abs=1e-9)
    assert np.all(b[:, 0] > 0)  # T_0 keeps its sign


def test_a_basis_asked_for_again_is_the_same_read_only_array_and_another_grid_gets_its_own():
    tt = np.arange(5.0, 90.0, 0.01)
    first = bkg.orthogonal_basis(tt, 12, (tt[0], tt[-1]))
    again = bkg.orthogonal_basis(tt.copy(), 12, (tt[0], tt[-1]))
    assert again is first and not first.flags.writeable
    with pytest.raises(ValueError):
        first[0, 0] = 1.0  # shared: nobody may change it for the others
    assert np.array_equal(first, bkg._orthogonal_basis(tt, 12, (tt[0], tt[-1]), True))
    moved = tt + 0.005  # a different grid (same size) or order or range: never the cached one
    assert not np.array_equal(bkg.orthogonal_basis(moved, 12, (moved[0], moved[-1])), first)
    assert bkg.orthogonal_basis(tt, 16, (tt[0], tt[-1])).shape[1] == 17
    assert not np.array_equal(bkg.orthogonal_basis(tt, 12, (10.0, 80.0)), first)


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_a_humps_analytic_derivatives_are_its_central_differences(eta):
    tt = np.arange(5.0, 90.0, 0.01)
    center, fwhm, h = 27.3, 8.4, 1e-5
    d_center, d_fwhm = bkg.hump_derivatives(tt, center, fwhm, eta)

    def col(c, f):
        return bkg.humps(tt, [c], [f], eta)[:, 0]

    num_center = (col(center + h, fwhm) - col(center - h, fwhm)) / (2 * h)
    num_fwhm = (col(center, fwhm + h) - col(center, fwhm - h)) / (2 * h)
    assert np.abs(num_center).max() > 1e-3 and np.abs(num_fwhm).max() > 1e-3
    assert d_center == pytest.approx(num_center, abs=1e-8 * np.abs(num_center).max())
    assert d_fwhm == pytest.approx(num_fwhm, abs=1e-8 * np.abs(num_fwhm).max())
