"""Picklable stand-ins for the worker function (spawned workers import this module by name)."""

from __future__ import annotations

import os

from xrdq.batch.worker import run_job


def crash_on_marked_files(task: dict) -> dict:
    """Kill the worker process outright (as a segfault or the OOM killer would) for files named *crash*."""
    if "crash" in os.path.basename(task["path"]):
        os._exit(1)
    return run_job(task)
