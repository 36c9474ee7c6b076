"""Phase specifications as users write them: a Phase, a library name, a CIF path, or ``NAME=CIF``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..errors import XrdqPhaseError
from .library import load_phase
from .phase import Phase


def resolve_phase(spec) -> Phase:
    """The :class:`Phase` a specification stands for.

    - a :class:`Phase` is returned unchanged;
    - ``"NAME=CIF"`` reads CIF (a path or a library name) and names the phase NAME, so two CIFs of
      the same compound can be told apart; in a CIF with several structures NAME picks the data block;
    - anything else goes to :func:`load_phase` (library name, case-insensitive, or CIF path).
    """
    if isinstance(spec, Phase) or hasattr(spec, "reflections"):  # a Phase, or something that acts as one
        return spec
    if isinstance(spec, Path):
        return load_phase(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise XrdqPhaseError(f"not a phase specification: {spec!r} (give a name, a CIF path or NAME=CIF)")
    name, source = named_source(spec)
    phase = load_phase(source, block=name)  # NAME also picks the block of a CIF with several structures
    return phase if name is None else dataclasses.replace(phase, name=name)


def named_source(spec: str) -> tuple[str | None, str]:
    """``(NAME, CIF)`` of ``"NAME=CIF"``; ``(None, spec)`` for a library name or a path (an existing file whose
    name holds '=' included)."""
    text = spec.strip()
    if "=" not in text or Path(text).exists():
        return None, text
    name, _, source = (s.strip() for s in text.partition("="))
    if not name or not source:
        raise XrdqPhaseError(f"phase specification {spec!r}: expected NAME=CIF")
    return name, source
