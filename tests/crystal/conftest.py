"""Small CIFs written on the fly, so the crystal tests do not depend on the shipped library."""

from __future__ import annotations

import pytest

@pytest.fixture
def write_cif(tmp_path):
    def write(text: str, name: str = "test") -> str:
        path = tmp_path / f"{name}.cif"
        path.write_text(text)
        return str(path)

    return write
