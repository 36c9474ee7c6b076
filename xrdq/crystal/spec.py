"""Phase specifications as users type them: ``LiF``, ``path/to.cif`` or ``NAME=CIF_OR_NAME``."""

from __future__ import annotations

import dataclasses
from pathlib import Path


def resolve_phase(spec):
    """A Phase from a Phase, a library name, a CIF path, or ``NAME=CIF_OR_NAME`` (renames the phase)."""
    from .library import load_phase

    if hasattr(spec, "reflections"):
        return spec
    text = str(spec)
    rename = None
    if "=" in text and not Path(text).exists():
        rename, _, text = text.partition("=")
        rename = rename.strip()
    phase = load_phase(text.strip())
    if rename:
        phase = dataclasses.replace(phase, name=rename)
    return phase
