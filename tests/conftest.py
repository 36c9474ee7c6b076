"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_data():
    """``../shared/data`` beside the checkout; tests that read real files skip without it."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} is absent (real-data tests need ../shared beside the checkout)")
    return path
