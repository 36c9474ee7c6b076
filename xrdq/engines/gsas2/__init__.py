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
    "Recipe",
    "DEFAULT_STEPS",
    "ENV_VAR",
    "INSTALL_HINT",
]


def __getattr__(name):  # lazy: the refinement code is only loaded when asked for
    if name in ("refine_gsas2", "export_gpx", "Recipe", "DEFAULT_STEPS", "PREFERRED_ORIENTATION_STEP",
                "instprm_text", "weight_fractions_from_phase_fractions"):
        from . import _core

        return getattr(_core, name)
    if name == "mirror_recipe":
        from .mirror import mirror_recipe

        return mirror_recipe
    if name == "refine_gsas2_sequential":
        from . import sequential

        return sequential.refine_gsas2_sequential
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
