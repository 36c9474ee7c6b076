"""A stage's first Levenberg–Marquardt Jacobian is the one its bound check made at the same point, not made again."""

import numpy as np

from xrdq.crystal import load_phase
from xrdq.model.instrument import load_instrument
from xrdq.model.simulate import simulate
from xrdq.refine import default_recipe
from xrdq.refine.fit import Refinement
from xrdq.refine.objective import SHARED_PROFILES, Objective


def test_no_jacobian_is_made_twice_at_one_point(monkeypatch):
    """Corundum, zincite and LiF (the batch benchmark's mixture): well-crystallised phases whose size broadening
    sits on its bound at 0, so stages start with a bound check. Before, Levenberg–Marquardt recomputed the check's
    Jacobian a few ulp away (its start's round trip through the bound transforms)."""
    made = []
    real = Objective.residual_jacobian

    def spy(self, x, names):
        values = self._values(np.asarray(x, dtype=float), names)
        made.append((set(names), np.array([values[k] for k in sorted(values)])))
        return real(self, x, names)

    monkeypatch.setattr(Objective, "residual_jacobian", spy)
    SHARED_PROFILES.clear()
    pattern, _ = simulate([("LiF", 0.25), ("Al2O3", 0.3), ("ZnO", 0.25)], amorphous=0.2, standard="LiF", seed=5,
                          two_theta=(10.0, 79.99, 0.01))
    ref = Refinement(pattern.two_theta.values, pattern.values, pattern.esd.values,
                     [load_phase(n) for n in ("LiF", "Al2O3", "ZnO")], load_instrument("miniflex600"),
                     recipe=default_recipe(adaptive=False))
    ref.run()
    again = [i for i in range(1, len(made)) if made[i][0] <= made[i - 1][0]
             and np.allclose(made[i][1], made[i - 1][1], rtol=1e-12, atol=0.0)]
    assert not again, again
