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


@pytest.mark.parametrize("seed", range(6))
def test_running_median_equals_numpys_on_ties_steps_and_noise(seed):
    """The compiled running median (xrdq/_cfilters.c) slides one sorted window: repeated values (counts of a
    few photons), steps and windows longer than the curve must give numpy's medians exactly."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 900))
    curves = [rng.integers(0, 4, n).astype(float), rng.normal(size=n), np.repeat(rng.normal(size=3), n)[:n],
              -np.abs(rng.normal(size=n)) * 0.0]  # the last: zeros of both signs
    for y in curves:
        for size in (1, 3, int(rng.integers(0, 60)) * 2 + 1, 2 * n + 1):
            windows = np.lib.stride_tricks.sliding_window_view(np.pad(y, size // 2, mode="edge"), size)
            assert np.array_equal(moving_median(y, size), np.median(windows, axis=1))


def test_running_median_of_a_curve_with_nan_is_numpys():
    y = Y.copy()
    y[100] = np.nan
    got = moving_median(y, 5)
    assert np.isnan(got[98:103]).all() and np.isfinite(np.delete(got, range(98, 103))).all()


def test_compiled_running_median_refuses_wrong_arrays():
    from xrdq._cfilters import moving_median as running

    with pytest.raises(ValueError, match="odd window"):
        running(np.zeros(10), 4, np.empty(7))
    with pytest.raises(ValueError, match="len"):
        running(np.zeros(10), 3, np.empty(9))
    with pytest.raises(TypeError, match="float64"):
        running(np.zeros(10, dtype=np.float32), 3, np.empty(8))
