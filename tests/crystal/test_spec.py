"""Phase specifications: Phase objects, names, paths and NAME=CIF."""

from __future__ import annotations

import pytest

from reference_patterns import PHASES
from xrdq.crystal import load_phase
from xrdq.crystal.spec import resolve_phase
from xrdq.errors import XrdqPhaseError


def test_resolve_phase_forms():
    lif = load_phase("LiF")
    assert resolve_phase(lif) is lif
    assert resolve_phase("LiF").name == "LiF"
    assert resolve_phase(str(PHASES / "Si.cif")).name == "Si"
    assert resolve_phase(PHASES / "Si.cif").name == "Si"
    named = resolve_phase(f"standard={PHASES / 'Si.cif'}")
    assert named.name == "standard" and named.cell == load_phase("Si").cell
    assert resolve_phase("ceria=CeO2").name == "ceria"


@pytest.mark.parametrize("bad", ["", "=LiF", "name=", 42])
def test_resolve_phase_rejects_bad_specs(bad):
    with pytest.raises(XrdqPhaseError):
        resolve_phase(bad)
