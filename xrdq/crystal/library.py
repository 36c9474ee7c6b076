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


def _resolve(name_or_path) -> tuple[Path, str | None]:
    """(CIF path, shipped name or None): a path as given, a name or alias looked up among the shipped phases."""
    text = str(name_or_path)
    path = Path(text)
    if path.suffix.lower() == ".cif" or path.is_file() or "/" in text or "\\" in text:
        return path, None
    path = phase_path(text)
    return path, path.stem


def load_phase(name_or_path, block: str | None = None) -> Phase:
    """A :class:`Phase` from a CIF path or a shipped phase name (``"LiF"``, ``"Al2O3"``, ``"Mg(OH)2"``); ``block``
    names the data block to read when the CIF holds several structures."""
    path, name = _resolve(name_or_path)
    return read_cif(path, name=name, block=block)


def _source(path: Path, block_name: str | None = None) -> str:
    """Where a structure comes from: the ``# Source:`` header of a shipped CIF (scripts/make_reference_cifs.py),
    else the CIF's own citation (authors, year, journal, volume, page, DOI; COD or ICSD code) in the structure's
    block or, failing that, in another (a journal CIF's global block), else ""."""
    text = path.read_text(encoding="utf-8", errors="replace")
    for line in text.splitlines():
        if line.startswith("# Source:"):
            return line.partition(":")[2].strip()
    import gemmi

    from .cif import choose_block

    # a byte-order mark and repeated tags, as read_cif takes them (it has accepted the file)
    doc = gemmi.cif.read_string(text.removeprefix("\ufeff"), check_level=0)
    first = choose_block(doc, path, block_name)  # read_cif has already accepted the file and the choice
    for block in [first] + [b for b in doc if b.name != first.name]:
        cited = _citation(block)
        if cited:
            return cited
    return ""


def _citation(block) -> str:
    import gemmi

    def value(tag):
        v = block.find_value(tag)
        return gemmi.cif.as_string(v).strip() if v not in (None, "?", ".") else ""

    authors = [gemmi.cif.as_string(a).strip() for a in block.find_values("_publ_author_name")]
    journal = ", ".join(v for v in (value("_journal_name_full"), value("_journal_volume"),
                                    value("_journal_page_first")) if v)
    parts = [", ".join(authors[:3]) + (" et al." if len(authors) > 3 else ""),
             f"({value('_journal_year')})" if value("_journal_year") else "", journal,
             f"doi:{value('_journal_paper_doi')}" if value("_journal_paper_doi") else "",
             f"COD {value('_cod_database_code')}" if value("_cod_database_code") else "",
             f"ICSD {value('_database_code_ICSD')}" if value("_database_code_ICSD") else ""]
    return " ".join(p for p in parts if p)


def describe_phase(name_or_path, block: str | None = None) -> dict:
    """One row for ``xrdq phases``: name, aliases, formula, space group, cell (Å, °), density (g/cm³), structure
    quality, source reference, Z and the notes of the reading, for a shipped phase (by name or alias) or any CIF path, as --phase reads it
    (``block``: the data block of a CIF with several structures)."""
    path, name = _resolve(name_or_path)
    phase = read_cif(path, name=name, block=block)
    return {
        "name": phase.name,
        "aliases": sorted(a for a, target in ALIASES.items() if target == name),
        "formula": phase.formula,
        "space_group": phase.space_group,
        "sg_number": phase.sg_number,
        "cell": [float(v) for v in phase.cell],
        "density": float(phase.density),
        "quality": phase.structure_quality,
        "source": _source(path, block),
        "cif": str(path),
        "z": float(phase.z),
        "notes": list(phase.notes),  # what was assumed or changed while reading (the result repeats them)
    }


def describe_phases() -> list[dict]:
    """:func:`describe_phase` of every shipped phase."""
    return [describe_phase(name) for name in list_phases()]
