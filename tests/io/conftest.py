"""Fixtures for the reader tests. Real files live in ../shared (next to the repo), never in it."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """/work/shared/data (relative to the repo: ../shared/data); tests using it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"real data files not available: {SHARED} is absent (clone the shared data next to the repo)")
    return SHARED


@pytest.fixture
def write(tmp_path):
    """write(name, text_or_bytes) -> path of a small synthetic file in tmp_path."""

    def _write(name: str, content, encoding: str = "utf-8") -> Path:
        p = tmp_path / name
        if isinstance(content, str):
            p.write_bytes(content.encode(encoding))
        else:
            p.write_bytes(content)
        return p

    return _write
