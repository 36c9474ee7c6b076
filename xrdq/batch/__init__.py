"""Batch quantification: many patterns → one Dataset, results.csv, results.nc, plots, index.html.

``quantify_many`` runs :func:`xrdq.quantify` on every file (local processes by default, or a dask
cluster), records failures instead of stopping, and resumes an interrupted run. Submodules are
imported on first use so that worker processes start light.
"""

from __future__ import annotations

__all__ = ["quantify_many", "expand_inputs", "read_manifest", "build_dataset", "plot_series", "local_cluster",
           "SUPPORTED_EXTENSIONS", "XrdqBatchError"]

_LAZY = {
    "quantify_many": "runner",
    "local_cluster": "runner",
    "expand_inputs": "inputs",
    "read_manifest": "inputs",
    "SUPPORTED_EXTENSIONS": "inputs",
    "XrdqBatchError": "inputs",
    "build_dataset": "outputs",
    "plot_series": "outputs",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
