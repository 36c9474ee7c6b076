"""Helpers of the batch tests: test data, the browser, and a picklable crashing worker function
(spawned workers import this module by name, so it must not be a conftest)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from xrdq.batch.worker import run_job

HERE = Path(__file__).parent
REPO = HERE.parents[1]
LIBRARY = REPO / "reference_patterns" / "phases"

#: phase name → CIF of the test's own copy (used only when the bundled library lacks the phase)
_CIFS = {"LiF": "LiF.cif", "corundum": "Al2O3.cif", "zincite": "ZnO.cif", "fluorite": "CaF2.cif"}

#: (file name, amorphous fraction of the mixture, weighed LiF fraction, seed)
SAMPLES = [("mix_a.ras", 0.10, 0.30, 1), ("mix_b.ras", 0.20, 0.25, 2), ("mix_c.ras", 0.30, 0.30, 3)]


def _cif(name: str) -> str:
    bundled = LIBRARY / _CIFS[name]
    return str(bundled if bundled.exists() else HERE / "data" / _CIFS[name])


def have_chromium() -> str | None:
    for exe in ("chromium", "chromium-browser", "google-chrome", "headless_shell"):
        path = shutil.which(exe)
        if path:
            return path
    return None


def crash_on_marked_files(task: dict) -> dict:
    """Kill the worker process outright (as a segfault or the OOM killer would) for files named *crash*."""
    if "crash" in os.path.basename(task["path"]):
        os._exit(1)
    return run_job(task)
