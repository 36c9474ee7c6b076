"""Least-squares refinement: recipes, the variable-projection fit, and its result."""

from .recipe import Recipe, Stage, default_recipe, load_recipe
from .result import RefinementResult

__all__ = ["Recipe", "Stage", "default_recipe", "load_recipe", "RefinementResult", "Refinement", "refine"]


def __getattr__(name):
    if name in ("Refinement", "refine"):
        from . import fit

        return getattr(fit, name)
    raise AttributeError(name)
