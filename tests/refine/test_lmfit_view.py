"""RefinementResult.lmfit_parameters(): the refined parameters as lmfit.Parameters, for lmfit users."""

import math

import numpy as np

from xrdq.model.simulate import simulate
from xrdq.refine.fit import refine


def test_refined_parameters_as_lmfit_parameters():
    pattern, _ = simulate([("LiF", 0.6), ("LiCl", 0.4)], seed=3, two_theta=(15.0, 70.0, 0.02))
    result = refine(pattern, ["LiF", "LiCl"], "miniflex600")
    params = result.lmfit_parameters()
    assert type(params).__module__.startswith("lmfit")
    assert len(params) == len(result.parameters)
    for name, (value, esd) in result.parameters.items():
        p = params[name.replace(".", "_")]
        fitted = result.fit.params.get(name)
        if fitted is not None:  # the fit's own bounds and vary flag
            assert (p.min, p.max, p.vary) == (fitted.min, fitted.max, fitted.vary)
        assert np.isclose(p.value, value)
        assert (p.stderr is None) == (not math.isfinite(esd))
        if p.stderr is not None:
            assert np.isclose(p.stderr, esd)
    scale = next(k for k in params if k.startswith("scale_"))
    assert params[scale].stderr > 0
