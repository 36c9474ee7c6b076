"""Reference phases shipped in ``reference_patterns/phases``, loadable by name."""

from __future__ import annotations

from pathlib import Path

from ..errors import XrdqPhaseError
from .cif import read_cif
from .phase import Phase

#: Other spellings accepted for shipped phases (lower case, without ".cif").
ALIASES = {"mg(oh)2": "MgOH2", "brucite": "MgOH2", "corundum": "Al2O3", "anatase": "TiO2-anatase",
           "rutile": "TiO2-rutile", "baddeleyite": "ZrO2-m", "zro2": "ZrO2-m", "fluorite": "CaF2",
           "ceria": "CeO2", "silicon": "Si", "zincite": "ZnO", "magnetite": "Fe3O4", "zircon": "ZrSiO4",
           "li3clo": "Li3OCl"}


def _phases_dir() -> Path:
    from reference_patterns import PHASES

    return PHASES


def list_phases() -> list[str]:
    """Names of the shipped reference phases (CIF stems in ``reference_patterns/phases``)."""
    return sorted((p.stem for p in _phases_dir().glob("*.cif")), key=str.lower)


def phase_path(name: str) -> Path:
    """Path of a shipped phase CIF by name (case-insensitive, aliases such as ``Mg(OH)2``)."""
    wanted = ALIASES.get(name.lower(), name).lower()
    for p in _phases_dir().glob("*.cif"):
        if p.stem.lower() == wanted:
            return p
    raise XrdqPhaseError(f"unknown phase {name!r}: not a CIF path and not one of {', '.join(list_phases())}")


def load_phase(name_or_path) -> Phase:
    """A :class:`Phase` from a CIF path or a shipped phase name (``"LiF"``, ``"Al2O3"``, ``"Mg(OH)2"``)."""
    text = str(name_or_path)
    path = Path(text)
    if path.suffix.lower() == ".cif" or path.is_file() or "/" in text or "\\" in text:
        return read_cif(path)
    p = phase_path(text)
    return read_cif(p, name=p.stem)


def describe_phases() -> list[dict]:
    """One row per shipped phase for ``xrdq phases``: name, aliases, formula, space group, cell (Å, °),
    density (g/cm³), structure quality and source reference (from the CIF's header comments)."""
    rows = []
    for name in list_phases():
        path = phase_path(name)
        phase = read_cif(path, name=name)
        source = ""
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("# Source:"):
                source = line.partition(":")[2].strip()
                break
        rows.append({
            "name": name,
            "aliases": sorted(a for a, target in ALIASES.items() if target == name),
            "formula": phase.formula,
            "space_group": phase.space_group,
            "sg_number": phase.sg_number,
            "cell": [float(v) for v in phase.cell],
            "density": float(phase.density),
            "quality": phase.structure_quality,
            "source": source,
            "cif": str(path),
        })
    return rows
