"""xrdq's parameter table keeps lmfit's semantics (values clipped into their bounds) without importing lmfit."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from xrdq.refine.parameters import Parameters

CASES = [  # (value, min, max, new value)
    (0.5, 0.0, 1.0, 0.7),
    (2.0, 0.0, 1.0, -3.0),  # starts above max, then set below min
    (-1.0, 0.0, math.inf, 5.0),
    (3.0, -math.inf, math.inf, -7.5),
    (1e-7, 1e-6, 0.2, 0.3),
]


@pytest.mark.parametrize("value, lo, hi, new", CASES)
def test_values_are_clipped_like_lmfit(value, lo, hi, new):
    lmfit = pytest.importorskip("lmfit")
    ours, theirs = Parameters(), lmfit.Parameters()
    ours.add("p", value=value, min=lo, max=hi, vary=False)
    theirs.add("p", value=value, min=lo, max=hi, vary=False)
    assert ours["p"].value == theirs["p"].value
    ours["p"].value = new
    theirs["p"].value = new
    assert ours["p"].value == theirs["p"].value
    ours["p"].set(value=value)
    theirs["p"].set(value=value)
    assert ours["p"].value == theirs["p"].value
    assert (ours["p"].min, ours["p"].max, ours["p"].vary) == (theirs["p"].min, theirs["p"].max, theirs["p"].vary)


def test_order_vary_and_bad_bounds():
    p = Parameters()
    p.add("b", 1.0, vary=False)
    p.add("a", 2.0, min=0.0, max=3.0)
    assert list(p) == ["b", "a"] and p["a"].vary and not p["b"].vary
    assert p.valuesdict() == {"b": 1.0, "a": 2.0}
    with pytest.raises(ValueError, match="min 2.0 is above max 1.0"):
        p.add("c", 1.5, min=2.0, max=1.0)


def test_refinement_does_not_import_lmfit():
    """lmfit's import (scipy.stats, matplotlib) would double the time of a whole `xrdq quantify`."""
    code = ("import sys, xrdq.refine.fit, xrdq.quant.api; "
            "print(sorted(m for m in ('lmfit', 'scipy.stats', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
