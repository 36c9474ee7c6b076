"""xrdq._filters against scipy.ndimage, whose mode "nearest" filters they replace (scipy stays a dependency)."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d, median_filter, minimum_filter1d, uniform_filter1d

from xrdq._filters import gaussian_smooth, moving_mean, moving_median, moving_min

Y = np.random.default_rng(5).poisson(200.0 + 800.0 * np.exp(-0.5 * ((np.arange(701) - 250) / 9.0) ** 2)).astype(float)


@pytest.mark.parametrize("size", [1, 3, 21, 201, 1401])
def test_moving_filters_are_ndimages_with_nearest_edges(size):
    assert np.array_equal(moving_min(Y, size), minimum_filter1d(Y, size, mode="nearest"))
    assert np.array_equal(moving_median(Y, size), median_filter(Y, size=size, mode="nearest"))
    np.testing.assert_allclose(moving_mean(Y, size), uniform_filter1d(Y, size, mode="nearest"), rtol=1e-12)


@pytest.mark.parametrize("sigma", [0.35, 0.7, 2.4, 30.0, 500.0])
def test_gaussian_smooth_is_gaussian_filter1d_with_nearest_edges(sigma):
    np.testing.assert_allclose(gaussian_smooth(Y, sigma), gaussian_filter1d(Y, sigma, mode="nearest"), rtol=1e-12)


def test_bad_windows_are_refused_by_name():
    with pytest.raises(ValueError, match="odd window"):
        moving_mean(Y, 4)
    with pytest.raises(ValueError, match="1-D"):
        moving_min(Y[:700].reshape(7, -1), 3)
    with pytest.raises(ValueError, match="positive sigma"):
        gaussian_smooth(Y, 0.0)
