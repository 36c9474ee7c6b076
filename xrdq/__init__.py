"""xrdq — amorphous content and phase fractions of powders from X-ray diffraction.

The pipeline reads left to right: ``io`` (files → xarray) → ``crystal`` (CIF → reflections) →
``model`` (calculated pattern) → ``refine`` (least squares, the engine contract) → ``quant`` (weight
fractions, amorphous fraction, esds) → ``engines`` (GSAS-II) → ``batch`` → ``plot`` / ``cli``
(docs/architecture.md).
"""

from __future__ import annotations

from ._version import __version__
from .errors import (
    XrdqEngineUnavailable,
    XrdqError,
    XrdqInstrumentError,
    XrdqPhaseError,
    XrdqQuantError,
    XrdqReadError,
    XrdqRefineError,
)

__all__ = [
    "__version__",
    "load",
    "load_all",
    "quantify",
    "quantify_many",
    "XrdqError",
    "XrdqReadError",
    "XrdqPhaseError",
    "XrdqInstrumentError",
    "XrdqRefineError",
    "XrdqQuantError",
    "XrdqEngineUnavailable",
]

# Heavy submodules are imported on first use so `import xrdq` and the CLI start fast.
_LAZY = {
    "load": ("xrdq.io", "load"),
    "load_all": ("xrdq.io", "load_all"),
    "quantify": ("xrdq.quant.api", "quantify"),
    "quantify_many": ("xrdq.batch", "quantify_many"),
}


#: The pipeline's subpackages, reachable as attributes (``xrdq.crystal.list_phases()``) without an import of their own.
_SUBMODULES = ("io", "crystal", "model", "refine", "quant", "engines", "batch", "plot", "cli", "validation",
               "validation_external", "settings")


def __getattr__(name):
    import importlib

    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in _SUBMODULES:
        return importlib.import_module(f"xrdq.{name}")
    raise AttributeError(f"module 'xrdq' has no attribute {name!r}")
