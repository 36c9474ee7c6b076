"""Optional GSAS-II refinement engine.

GSAS-II (https://github.com/AdvancedPhotonSource/GSAS-II) is not on PyPI and is never a hard
dependency: it is imported on first use, from an importable ``GSASII`` package or from the
directory in ``XRDQ_GSASII_PATH``. Importing this module does not import GSAS-II.

>>> from xrdq.engines.gsas2 import refine_gsas2
>>> result = refine_gsas2(pattern, [("LiF", "LiF.cif"), ("corundum", "Al2O3.cif")], instrument)
>>> result.weight_fractions
"""

from __future__ import annotations

from ._loader import ENV_VAR, INSTALL_HINT, gsas2_available, gsas2_version, import_gsas2

__all__ = [
    "refine_gsas2",
    "refine_gsas2_sequential",
    "export_gpx",
    "mirror_recipe",
    "gsas2_available",
    "gsas2_version",
    "import_gsas2",
    "GsasRecipe",
    "DEFAULT_STEPS",
    "ENV_VAR",
    "INSTALL_HINT",
]


#: where each lazily loaded public name lives (the refinement code is only imported when asked for)
_HOMES = {"refine_gsas2": "engine", "export_gpx": "engine", "GsasRecipe": "recipe", "DEFAULT_STEPS": "recipe",
          "PREFERRED_ORIENTATION_STEP": "recipe", "instprm_text": "project", "mirror_recipe": "mirror",
          "refine_gsas2_sequential": "sequential"}


def __getattr__(name):
    if name == "Recipe":
        # the old public name, from before the native and GSAS-II recipes had distinct names
        import warnings

        warnings.warn("xrdq.engines.gsas2.Recipe is now GsasRecipe (xrdq.refine.Recipe is the native engine's)",
                      DeprecationWarning, stacklevel=2)
        name = "GsasRecipe"
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
