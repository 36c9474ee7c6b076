"""Fixtures shared by the whole suite."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# The suite neither reads nor fills the user's cache of parsed phases (xrdq.crystal.cache); subprocesses inherit this.
os.environ["XRDQ_CACHE_DIR"] = _CACHE = tempfile.mkdtemp(prefix="xrdq-test-cache-")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_data():
    """``../shared/data`` beside the checkout; tests that read real files skip without it."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} is absent (real-data tests need ../shared beside the checkout)")
    return path
