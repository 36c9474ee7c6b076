"""The GSAS-II refinement strategy's control flow (no GSAS-II needed: run_refine is replaced)."""

from types import SimpleNamespace

import pytest

from xrdq.engines.gsas2 import strategy
from xrdq.errors import XrdqRefineError


class _Proj:
    def __init__(self):
        self.data = {"Controls": {"data": {}}}
        self.reloads = 0

    def reload(self):
        self.reloads += 1


def _project():
    return SimpleNamespace(proj=_Proj())


def _fails(times, message="GSAS-II refinement failed in step 'cells': Error: Invalid metric tensor for phase #1"):
    calls = []

    def run_refine(p, log, name, cycles):
        calls.append((name, dict(p.proj.data["Controls"]["data"])))
        if len(calls) <= times:
            raise XrdqRefineError(message)
        return {"converged": True, "Rwp": 5.0}

    return run_refine, calls


def test_a_failed_step_is_run_again_with_stronger_damping(monkeypatch):
    run, calls = _fails(1)
    monkeypatch.setattr(strategy, "run_refine", run)
    p, warnings = _project(), []
    rvals = strategy.refine_step(p, None, "cells", 10, warnings)
    assert rvals["converged"] and len(calls) == 2
    assert calls[1][0] == "cells (damped)" and calls[1][1]["Marquardt"] == 0  # λ₀ = 1 instead of 10⁻³
    assert p.proj.reloads == 1  # from the step's start (GSAS-II saved nothing of the failed run)
    assert len(warnings) == 1 and "Invalid metric tensor" in warnings[0] and "stronger damping" in warnings[0]


def test_a_step_that_fails_twice_is_skipped_and_said(monkeypatch):
    run, calls = _fails(2)
    monkeypatch.setattr(strategy, "run_refine", run)
    p, warnings = _project(), []
    rvals = strategy.refine_step(p, None, "cells", 10, warnings)
    assert rvals == {"converged": False, "skipped": True} and len(calls) == 2
    assert "skipped" in warnings[0] and "cells" in warnings[0]


def test_a_constraint_error_is_not_retried(monkeypatch):
    run, calls = _fails(5, "GSAS-II constraint error before step 'cells': bad")
    monkeypatch.setattr(strategy, "run_refine", run)
    with pytest.raises(XrdqRefineError, match="constraint error"):
        strategy.refine_step(_project(), None, "cells", 10, [])
    assert len(calls) == 1
