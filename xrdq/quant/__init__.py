"""Quantification: weight fractions, the internal standard, amorphous content, esds."""

from .internal_standard import berar_lelann_factor, internal_standard
from .weight_fractions import brindley_correction, brindley_tau, hill_howard

__all__ = ["quantify", "internal_standard", "hill_howard", "brindley_tau", "brindley_correction", "berar_lelann_factor"]


def __getattr__(name):
    if name == "quantify":
        from .api import quantify

        return quantify
    raise AttributeError(name)
