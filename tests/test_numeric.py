"""xrdq._numeric: numpy's median and unique by routes that do not import numpy.ma; the same numbers."""

import numpy as np
import pytest

from xrdq._numeric import median, unique


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # inf + −inf, in numpy's median as in ours
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 10, 11, 100, 101, 7001])
@pytest.mark.parametrize("kind", ["normal", "ties", "nan", "infinite"])
def test_median_and_unique_are_numpys(n, kind):
    rng = np.random.default_rng(n)
    x = rng.integers(0, 3, n).astype(float) if kind == "ties" else rng.normal(size=n)
    if kind == "nan":
        x[n // 2] = np.nan
    if kind == "infinite" and n > 1:
        x[0], x[-1] = np.inf, -np.inf
    got, want = median(x), np.median(x)
    assert (np.isnan(got) and np.isnan(want)) or got == want, (got, want)
    assert np.array_equal(unique(x), np.unique(x), equal_nan=True)


def test_median_of_nothing_is_nan_and_unique_rows_are_numpys():
    assert np.isnan(median([]))
    rows = np.random.default_rng(0).integers(-1, 2, (40, 9))
    assert np.array_equal(unique(rows, axis=0), np.unique(rows, axis=0))
    assert median([[1.0, 5.0], [3.0, 2.0]]) == np.median([[1.0, 5.0], [3.0, 2.0]])  # flattened, as numpy's
