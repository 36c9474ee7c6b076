"""Refinement engines by name, all behind one contract.

``get_engine(name).refine(pattern, phases, instrument, recipe, *, two_theta_range, start, humps)``
returns a :class:`~xrdq.refine.RefinementResult` whose ``scales``, ``scale_covariance`` and
``mass_factors`` (W ∝ scale × mass factor) are all :mod:`xrdq.quant` needs to compute Hill–Howard,
Brindley and the standard, the same way for every engine. An engine is registered as
``"module:Class"`` and imported on first use, so naming an engine costs nothing until it runs (and
GSAS-II, which is not on PyPI, is never a dependency).
"""

from __future__ import annotations

import importlib
from typing import Protocol

from .result import RefinementResult

#: name → "module:Class" of every engine; :func:`register_engine` adds one.
_REGISTRY = {"native": "xrdq.refine.engines:NativeEngine", "gsas2": "xrdq.engines.gsas2.engine:Gsas2Engine"}


class Engine(Protocol):
    """What an engine offers. ``phases`` are Phase objects (``name``, ``source``); ``recipe`` is a native
    :class:`~xrdq.refine.Recipe` or, where the engine has one, its own recipe vocabulary."""

    name: str
    #: True when the engine can refine PONKCS (profile-only) phases
    profile_only_phases: bool
    #: True when the engine corrects a film over the specimen and a fixed slit's overspill of a short one
    #: (Instrument.cover_film_mu_t, sample_length_mm)
    specimen_intensity: bool

    def refine(self, pattern, phases, instrument, recipe, *, two_theta_range=None, start=None,
               humps=()) -> RefinementResult: ...

    def own_recipe(self, recipe) -> bool:
        """True when ``recipe`` (a string or dict) is in this engine's own vocabulary and goes through as is."""


class NativeEngine:
    """xrdq's own variable-projection least squares (:mod:`xrdq.refine.fit`); amorphous humps are part
    of the Recipe."""

    name = "native"
    profile_only_phases = True
    specimen_intensity = True

    def refine(self, pattern, phases, instrument, recipe, *, two_theta_range=None, start=None, humps=()):
        from .fit import refine

        return refine(pattern, phases, instrument, recipe=recipe, two_theta_range=two_theta_range, start=start)

    def own_recipe(self, recipe) -> bool:
        return False  # a TOML path or a Recipe: xrdq.refine.load_recipe reads both


def engine_names() -> tuple:
    return tuple(_REGISTRY)


def register_engine(name: str, target: str):
    """Make ``target`` (``"package.module:Class"``, a class with no constructor arguments) available as ``name``."""
    _REGISTRY[str(name)] = str(target)


def get_engine(name: str) -> Engine:
    """The engine registered as ``name`` (a ValueError naming the known ones otherwise)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown engine {name!r}; choose one of {engine_names()}")
    module, _, cls = _REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), cls)()
