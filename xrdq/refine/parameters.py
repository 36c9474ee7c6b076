"""Named refinable parameters with bounds and a ``vary`` flag: the part of ``lmfit.Parameters`` xrdq uses.

The refinement only needs a name → (value, min, max, vary) table; the solver is MINPACK's
Levenberg–Marquardt (:mod:`xrdq.refine.lm`). Importing lmfit costs 1–2 s (it imports scipy.stats and matplotlib) in every process
that fits, which is most of a whole ``xrdq quantify``, so this small class follows lmfit's semantics
instead: a value is kept inside [min, max] whenever it is set or read.
"""

from __future__ import annotations

import math
import re


def param_name(name: str) -> str:
    """``name`` made a valid identifier (a phase's parameter prefix, an lmfit parameter name): LiF.a → LiF_a."""
    s = re.sub(r"\W", "_", name)
    return s if s[:1].isalpha() else "p_" + s


class Parameter:
    """One parameter: ``value`` (kept inside [``min``, ``max``]), bounds and whether it is refined."""

    __slots__ = ("name", "min", "max", "vary", "_value")

    def __init__(self, name: str, value: float = 0.0, vary: bool = True, min: float = -math.inf,
                 max: float = math.inf):
        self.name = name
        self.min = -math.inf if min is None else float(min)
        self.max = math.inf if max is None else float(max)
        if self.min > self.max:
            raise ValueError(f"parameter {name}: min {self.min} is above max {self.max}")
        self.vary = bool(vary)
        self.value = value

    @property
    def value(self) -> float:
        return self._value

    @value.setter
    def value(self, v) -> None:
        v = float(v)
        self._value = v if math.isnan(v) else min(max(v, self.min), self.max)  # NaN left for the fit to reject

    def set(self, value=None, vary=None, min=None, max=None) -> None:
        """Change any of value, vary, min, max (the value is re-clipped to the new bounds)."""
        if min is not None:
            self.min = float(min)
        if max is not None:
            self.max = float(max)
        if vary is not None:
            self.vary = bool(vary)
        self.value = self._value if value is None else value

    def __repr__(self) -> str:
        state = "" if self.vary else " fixed"
        return f"<Parameter {self.name}={self._value:.6g} [{self.min:.6g}, {self.max:.6g}]{state}>"


class Parameters(dict):
    """An ordered name → :class:`Parameter` mapping, filled with :meth:`add`."""

    def add(self, name: str, value: float = 0.0, vary: bool = True, min: float = -math.inf,
            max: float = math.inf) -> Parameter:
        par = Parameter(name, value, vary=vary, min=min, max=max)
        self[name] = par
        return par

    def valuesdict(self) -> dict:
        return {name: par.value for name, par in self.items()}
