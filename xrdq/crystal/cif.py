"""Reading a Phase from a CIF with gemmi.

The space group is taken, in this order, from the symmetry-operator list, the Hall symbol, the
H-M symbol (rhombohedral or hexagonal axes chosen from the cell) and the IT number. Sites are
expanded to the full cell with gemmi; occupancies are kept as given, anisotropic U is reduced to
U_eq, and a site without any displacement parameter gets B = 1 Å² (recorded in ``Phase.notes``).
"""

from __future__ import annotations

import codecs
import dataclasses
import math
import re
import threading
import warnings
from pathlib import Path

import numpy as np

from ..errors import XrdqPhaseError
from . import cell as cellmod
from . import scattering
from .phase import Atoms, Phase, Site
from .reflections import Symmetry

DEFAULT_B_ISO = 1.0  # Å², used when a CIF gives no U or B for a site
_8PI2 = 8.0 * math.pi**2


def read_cif(path, name: str | None = None, block: str | None = None) -> Phase:
    """Read a crystal structure from a CIF file into a :class:`Phase`.

    The data block with atom sites is read; when several have them, ``block`` names the one to read
    (case-insensitive; ``--phase NAME=FILE.cif`` passes NAME). Raises :class:`XrdqPhaseError` naming the file and
    the problem: missing file, unparsable CIF, no cell, no atom sites, several structures and none chosen, unknown
    space group or element.
    """
    path = Path(path)
    if not path.is_file():
        raise XrdqPhaseError(f"{path}: no such CIF file")
    data = _check_text(path)
    key = (str(path), name, block, data)
    phase = _READ.get(key)
    if phase is None:
        phase = _read_kept(path, data, name, block)
        with _READ_LOCK:  # a dask worker runs several files in threads
            _READ[key] = phase
            while len(_READ) > _READ_MAX:
                del _READ[next(iter(_READ))]
    return phase


#: Phases read, keyed by the file's path, bytes and the choices (name, block): a batch reads the same few CIFs for
#: every file, and parsing one with gemmi and expanding its sites was ≈ 3 % of a batch file's CPU. Keyed by content,
#: an edited CIF is read again. A Phase is frozen and its arrays read-only, so sharing one is safe.
_READ: dict = {}
_READ_MAX = 64
_READ_LOCK = threading.Lock()


def _read_kept(path: Path, data: bytes, name, block) -> Phase:
    """:func:`_read`, or the Phase an earlier process read from the same bytes (:mod:`xrdq.crystal.cache`)."""
    from . import cache

    k = cache.key(path, data, name, block)
    phase = cache.load(k)
    if phase is None:
        phase = _read(path, data, name, block)
        cache.store(k, phase)
    else:
        _read_only(phase)
    return phase


def _read_only(phase: Phase) -> None:
    for array in (phase.atoms.fract, phase.atoms.occupancy, phase.atoms.b_iso, phase.atoms.scatterer_index):
        array.flags.writeable = False


def _read(path: Path, data: bytes, name, block) -> Phase:
    import gemmi

    said: list[str] = []
    try:
        if data.startswith(codecs.BOM_UTF8):  # Windows editors write one; gemmi wants data_ as the first text
            doc = gemmi.cif.read_string(data[len(codecs.BOM_UTF8):].decode("utf-8"))
        else:
            doc = gemmi.cif.read(str(path))
    except Exception as exc:  # gemmi raises RuntimeError/ValueError with the line number
        if "duplicate tag" not in str(exc):
            raise XrdqPhaseError(f"{path}: not a readable CIF ({exc}){_syntax_hint(str(exc), data)}") from exc
        doc = gemmi.cif.read_string(data.removeprefix(codecs.BOM_UTF8).decode("utf-8"), check_level=0)
        said = _duplicate_tags(doc, path)
    if has_ddlm_names(doc):
        doc = gemmi.cif.read_string(ddl1_text(data.removeprefix(codecs.BOM_UTF8).decode("utf-8")), check_level=0)
        said.append("DDLm data names (_cell.length_a, _atom_site.fract_x …) read as their DDL1 equivalents "
                    "(_cell_length_a, _atom_site_fract_x …)")
    chosen = choose_block(doc, path, block)
    phase = phase_from_block(chosen, source=str(path), name=name or path.stem)
    _read_only(phase)
    return dataclasses.replace(phase, notes=tuple(phase.notes) + tuple(said)) if said else phase


#: A DDLm (CIF 2) data name, `_category.item`, at the start of a line or after `loop_`: where CIF syntax puts tags.
_DDLM_NAME = re.compile(r"(^|\bloop_\s+|(?<=\s))(_[A-Za-z][A-Za-z0-9_]*)\.([A-Za-z0-9_\-\[\]]+)", re.MULTILINE)


def has_ddlm_names(doc) -> bool:
    for block in doc:
        for item in block:
            tags = [item.pair[0]] if item.pair is not None else (list(item.loop.tags) if item.loop is not None else [])
            if any("." in tag for tag in tags):
                return True
    return False


def ddl1_text(text: str) -> str:
    """``text`` with DDLm names (``_cell.length_a``; easyDiffraction, newer exporters) written as their DDL1 aliases
    (``_cell_length_a``), which gemmi's small-structure reader and GSAS-II look for. Only tags change: a value
    cannot begin with ``_``, and a ``;`` text field is left as it is."""
    out, in_text = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith(";"):
            in_text = not in_text
            out.append(line)
            continue
        out.append(line if in_text else _DDLM_NAME.sub(lambda m: f"{m.group(1)}{m.group(2)}_{m.group(3)}", line))
    return "".join(out)


def _syntax_hint(message: str, data: bytes) -> str:
    """The line gemmi stopped at, and what CIF syntax wants there: most hand-edited and exported CIFs that fail hold
    a value with a space and no quotes (`_pd_phase_name Na0.8CoO2 supercell`) or a loop row short of a value."""
    found = re.search(r":(\d+):\d+(?:\(\d+\))?: (parse error|unterminated)", message)
    if not found:
        return ""
    lines = data.removeprefix(codecs.BOM_UTF8).decode("utf-8", "replace").splitlines()
    number = int(found.group(1))
    if not 0 < number <= len(lines):
        return ""
    if found.group(2) == "unterminated":  # a quoted value broken over lines: CIF wants it in ;-delimited text
        return (f"; line {number} reads {lines[number - 1].strip()[:100]!r}: expected a quoted value to end on its "
                "own line (a value over several lines goes between lines that start with ';')")
    return (f"; line {number} reads {lines[number - 1].strip()[:100]!r}: expected one value per tag, a value "
            "with spaces in quotes ('…'), and in a loop as many values per row as it has tags")


_EMPTY = ("''", '""', "?", ".", "")


def _duplicate_tags(doc, path) -> list[str]:
    """A tag given twice in a block (mineral-database CIFs write `_chemical_formula_sum 'Al2 O3'` and then
    `_chemical_formula_sum ''`): taken when every non-empty value agrees — the first of them is the one read — and
    said; refused, naming the tag, its lines and values, when they disagree."""
    notes = []
    for block in doc:
        seen: dict[str, list] = {}
        for item in block:
            if item.pair is not None:
                seen.setdefault(item.pair[0], []).append((item.line_number, item.pair[1]))
        for tag, occurrences in seen.items():
            if len(occurrences) < 2:
                continue
            values = {v.strip() for _, v in occurrences if v.strip() not in _EMPTY}
            lines = ", ".join(str(n) for n, _ in occurrences)
            if len(values) > 1:
                raise XrdqPhaseError(f"{path} (data_{block.name}): {tag} is given {len(occurrences)} times (lines "
                                     f"{lines}) with different values {sorted(values)}; expected one")
            first = next((v for _, v in occurrences if v.strip() not in _EMPTY), None)
            if first is not None and block.find_value(tag) != first:
                block.set_pair(tag, first)  # the value given, not an empty repeat before it
            notes.append(f"{tag} is given {len(occurrences)} times (lines {lines}); "
                         f"{'the one value given' if first is not None else 'all empty'} is used")
    return notes


def choose_block(doc, path, wanted: str | None = None):
    """The data block holding the structure: the only one with atom sites (a journal CIF's global block has none),
    else the one named ``wanted``; the first block when none has atoms (phase_from_block then says so)."""
    if len(doc) == 0:
        raise XrdqPhaseError(f"{path}: the CIF has no data block")
    blocks = [b for b in doc if b.find_value("_atom_site_fract_x") is not None or b.find_loop("_atom_site_fract_x")]
    if not blocks:
        return doc[0]
    if len(blocks) == 1:
        return blocks[0]
    # several structures: taking the first fitted LiF under the name LiCl for `cat LiF.cif LiCl.cif`
    if wanted:
        for b in blocks:
            if b.name.lower() == wanted.strip().lower():
                return b
    names = ", ".join(f"data_{b.name}" for b in blocks)
    asked = f"no block is named {wanted.strip()!r}; " if wanted else ""
    raise XrdqPhaseError(f"{path}: {len(blocks)} data blocks hold atom sites ({names}); {asked}choose one with "
                         f"--phase NAME={path} where NAME is the block's name (without data_, any case), e.g. "
                         f"--phase {blocks[0].name}={path}")


#: An occupancy a little above 1 is a refined or rounded value (ICSD's NASICON: Li 1.00002; refinements report
#: 1.012(8)): taken, and above OCCUPANCY_ROUNDING said. Beyond MAX_OCCUPANCY it is a misplaced column, refused.
OCCUPANCY_ROUNDING = 1e-3
MAX_OCCUPANCY = 1.1


def phase_from_block(block, source: str = "<cif>", name: str | None = None) -> Phase:
    """Build a :class:`Phase` from a parsed ``gemmi.cif.Block``."""
    import gemmi

    where = f"{source} (data_{block.name})"
    notes: list[str] = []
    _check_numbers(block, where)  # first: a length given as text is not a missing one
    for tag in ("_cell_length_a", "_cell_length_b", "_cell_length_c"):
        if _number(block.find_value(tag)) is None:
            raise XrdqPhaseError(f"{where}: no unit cell ({tag} missing)")
    try:
        small = gemmi.make_small_structure_from_block(block)
    except Exception as exc:
        raise XrdqPhaseError(f"{where}: gemmi could not read the structure ({exc})") from exc
    if len(small.sites) == 0:
        raise XrdqPhaseError(f"{where}: no atom sites (_atom_site_fract_x/y/z loop missing or empty)")
    cif_labels = _unique_labels(small, block, where, notes)
    uc = small.cell
    cell = (uc.a, uc.b, uc.c, uc.alpha, uc.beta, uc.gamma)
    if not all(CELL_LENGTH_RANGE[0] <= x <= CELL_LENGTH_RANGE[1] for x in cell[:3]) or not all(0 < x < 180 for x in cell[3:]):
        raise XrdqPhaseError(f"{where}: impossible cell {cell}; expected a, b, c of {CELL_LENGTH_RANGE[0]:g}–"
                             f"{CELL_LENGTH_RANGE[1]:g} Å and angles between 0 and 180°")
    with np.errstate(invalid="ignore", over="ignore"):
        v = cellmod.volume(cell)  # NaN for angles no cell can have
    if not (math.isfinite(v) and v > 1e-3 * cell[0] * cell[1] * cell[2]):
        raise XrdqPhaseError(f"{where}: the cell angles {cell[3:]} give no volume (V = {v:.3g} Å³)")

    sg = _space_group(small, block, cell, where, notes)
    cells_in_given = 1.0  # the read cell's volume over the CIF's: other than 1 where a P 1 cell was standardised
    if sg.number == 1 and len(list(sg.operations())) == 1 and len(small.sites) > 1:  # P 1 itself, not "I 1"
        # anisotropic displacements are given on the CIF's axes: such a structure is not moved to another cell
        aniso = any(site.aniso.nonzero() for site in small.sites) or bool(_aniso_b_or_beta(block, cell))
        sg, cif_labels, cell, cells_in_given = _symmetry_of_p1(small, cell, sg, cif_labels, notes, movable=not aniso)
    cell = _symmetrised_cell(cell, sg, where)
    small.cell = gemmi.UnitCell(*cell)
    small.spacegroup = sg  # make sure the expansion below uses exactly this group ...
    small.setup_cell_images()  # ... gemmi expands sites with the cell's symmetry images
    ops = sg.operations()

    for site in small.sites:
        if site.element.atomic_number == 0 or site.element.name == "X":
            raise XrdqPhaseError(f"{where}: site {site.label!r} has unknown element {site.type_symbol!r}")
        if not 0.0 <= site.occ <= MAX_OCCUPANCY:
            raise XrdqPhaseError(f"{where}: site {site.label!r} has occupancy {site.occ} outside 0–1")
        if site.occ > 1.0 + OCCUPANCY_ROUNDING:
            notes.append(f"site {site.label}: occupancy {site.occ:g} is above 1 — unphysical (a refined value within "
                         "its esd of 1?); kept as given")
    if not any(site.occ > 0 for site in small.sites):
        raise XrdqPhaseError(f"{where}: every site has occupancy 0: the structure holds no atoms "
                             "(_atom_site_occupancy column misplaced?)")

    b_iso = _b_iso_by_label(small, block, cell, notes, cif_labels)
    scatterer_names = {site.label: _scatterer(site) for site in small.sites}

    full = small.get_all_unit_cell_sites()
    notes += _overlaps(small.sites, full, cell)
    counts: dict[str, int] = {}
    for s in full:
        counts[s.label] = counts.get(s.label, 0) + 1
    sites = tuple(
        Site(label=s.label, element=s.element.name, fract=(s.fract.x, s.fract.y, s.fract.z),
             occupancy=float(s.occ), b_iso=b_iso[s.label], multiplicity=counts.get(s.label, 0),
             scatterer=scatterer_names[s.label])
        for s in small.sites
    )
    types = sorted({(scatterer_names[s.label], s.element.name) for s in full})
    atoms = Atoms(
        fract=np.array([[s.fract.x, s.fract.y, s.fract.z] for s in full]) % 1.0,
        occupancy=np.array([s.occ for s in full], dtype=float),
        b_iso=np.array([b_iso[s.label] for s in full], dtype=float),
        scatterer_index=np.array([types.index((scatterer_names[s.label], s.element.name)) for s in full]),
        scatterers=tuple(types),
        element=tuple(s.element.name for s in full),
    )
    composition: dict[str, float] = {}
    for el, occ in zip(atoms.element, atoms.occupancy):
        composition[el] = composition.get(el, 0.0) + float(occ)
    if composition.get("D"):
        notes.append(_deuterium_note(composition))
    try:
        # Z and the formula as the CIF gives them, for its own cell
        formula, z = _formula_and_z(block, {el: n / cells_in_given for el, n in composition.items()}, notes)
    except XrdqPhaseError as exc:
        raise XrdqPhaseError(f"{where}: {exc}") from None
    z *= cells_in_given
    return Phase(name=name or block.name, formula=formula, space_group=sg.xhm().strip().rstrip(":").strip(),
                 sg_number=sg.number, cell=cell, z=z, sites=sites, atoms=atoms,
                 symmetry=Symmetry.from_gemmi(ops), hall=sg.hall, source=source, notes=tuple(notes),
                 structure_quality=_structure_quality(block, where))


# ---- helpers -------------------------------------------------------------------------------------
def _deuterium_note(composition: dict[str, float]) -> str:
    """A structure with deuterium (a neutron study of a deuterated crystal): X-rays see it as hydrogen, but its mass
    is deuterium's, which is right only for a deuterated sample."""
    from .phase import _atomic_mass

    d, h = scattering.ISOTOPE_MASS["D"]
    mass = sum(n * _atomic_mass(el) for el, n in composition.items())
    excess = composition["D"] * (d - h) / (mass - composition["D"] * (d - h))
    return (f"deuterium in the CIF ({composition['D']:g} per cell): X-rays see it as hydrogen, but the phase's mass "
            f"counts it as deuterium — if the sample is not deuterated, replace D by H in the CIF: its mass, and its "
            f"weight fraction, are {100 * excess:.1f} % too high otherwise")



#: Lattice parameters a CIF may give (Å): from the smallest inorganic cells to large organic ones.
CELL_LENGTH_RANGE = (0.5, 1000.0)


#: What ``_xrdq_structure_quality`` may say (scripts/make_reference_cifs.py): refined coordinates as published, published
#: cell with noisy starting coordinates, or an idealised/constructed model.
STRUCTURE_QUALITIES = ("published", "noisy", "approximate")


def _structure_quality(block, where: str) -> str:
    """The CIF's own statement of how far its structure can be trusted (xrdq's reference CIFs carry one), or ""."""
    text = block.find_value("_xrdq_structure_quality")
    if text is None or _unquote(text) in ("?", "."):
        return ""
    quality = _unquote(text).strip().lower()
    if quality not in STRUCTURE_QUALITIES:
        raise XrdqPhaseError(f"{where}: _xrdq_structure_quality {quality!r}; expected one of "
                             f"{', '.join(STRUCTURE_QUALITIES)}")
    return quality


def _check_text(path: Path) -> bytes:
    """The file's bytes, checked: a CIF is ASCII (CIF 1.1) or UTF-8 (CIF 2): other bytes made gemmi's strings fail
    deep inside."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise XrdqPhaseError(f"{path}, line {line}: byte 0x{data[exc.start]:02X} is not UTF-8 text; expected an "
                             "ASCII or UTF-8 CIF") from None
    return data


_NUMERIC_TAGS = ("_cell_length_a", "_cell_length_b", "_cell_length_c", "_cell_angle_alpha", "_cell_angle_beta",
                 "_cell_angle_gamma")
_COORD_TAGS = ("_atom_site_fract_x", "_atom_site_fract_y", "_atom_site_fract_z")
_SITE_TAGS = _COORD_TAGS + ("_atom_site_occupancy", "_atom_site_B_iso_or_equiv", "_atom_site_U_iso_or_equiv")


def _check_numbers(block, where: str):
    """Every number xrdq uses must be a finite number or CIF's unknown (? or .): gemmi reads text such as
    ``nan`` or ``1.O`` as its default (occupancy 1, B 0) without a word. A coordinate may not be unknown:
    gemmi reads ``?`` as NaN, which reached the fit as an SVD that did not converge."""
    def bad(text) -> bool:
        t = str(text).strip().strip("'\"")
        if t in ("", "?", "."):
            return False
        v = _number(t)
        return v is None or not math.isfinite(v)

    for tag in _NUMERIC_TAGS:
        value = block.find_value(tag)
        if value is not None and bad(value):
            if _number(value) is None:  # text such as 'five' was reported as the tag missing
                raise XrdqPhaseError(f"{where}: {tag} is not a number ({_unquote(value)!r}); expected "
                                     f"{'a length in Å' if 'length' in tag else 'an angle in degrees'}")
            raise XrdqPhaseError(f"{where}: {tag} = {value!s}; expected a finite number")
    labels = list(block.find_loop("_atom_site_label")) or [block.find_value("_atom_site_label")]
    for tag in _SITE_TAGS:
        values = list(block.find_loop(tag)) or ([block.find_value(tag)] if block.find_value(tag) is not None else [])
        coordinate = tag in _COORD_TAGS
        for i, value in enumerate(values):
            label = labels[i] if i < len(labels) and labels[i] is not None else f"row {i + 1}"
            if coordinate and str(value).strip() in ("?", "."):
                dot = str(value).strip() == "."  # old ICSD exports write "." where they mean 0; a guess xrdq won't make
                raise XrdqPhaseError(f"{where}: site {label}: {tag} is unknown ({str(value).strip()}); a structure "
                                     "needs every coordinate" + (" (if the file means 0 there, as old ICSD exports "
                                                                 "do, write 0)" if dot else ""))
            if bad(value):
                raise XrdqPhaseError(f"{where}: site {label}: {tag} = {value!s}; expected a finite number"
                                     + ("" if coordinate else " (or ? when unknown)"))


def _number(value) -> float | None:
    """CIF number without its esd, or None for missing, '?' or '.'."""
    if value is None:
        return None
    text = str(value).strip().strip("'\"")
    if text in ("", "?", "."):
        return None
    try:
        return float(re.sub(r"\(\d*\)$", "", text))  # an esd, or "()" (easyDiffraction writes 10.28())
    except ValueError:
        return None


def _space_group(small, block, cell, where: str, notes: list[str]):
    import gemmi

    sg = None
    _distinct_operators(small, notes)
    try:
        # S: symmetry operators, H: Hall, 1: H-M, 2: number — gemmi picks :R/:H from the cell.
        small.determine_and_set_spacegroup("S.H12")
        sg = small.spacegroup
    except Exception as exc:
        raise XrdqPhaseError(f"{where}: inconsistent space-group information ({exc})") from exc
    if sg is None and small.symops:
        listed = f"the {len(small.symops)} symmetry operators listed ({', '.join(small.symops[:3])}, ...)"
        if not _forms_group(small.symops):
            raise XrdqPhaseError(f"{where}: {listed} do not form a group: some are missing (centring translations left "
                                 "out?) or mistyped; list them all, or name the space group instead")
        raise XrdqPhaseError(f"{where}: {listed} form a group, but in a setting no table has (another origin or cell "
                             "choice); give the structure in a standard setting (VESTA, Mercury or pymatgen transform "
                             "it), or in P 1 with every atom of the cell listed: xrdq then finds its group and reads "
                             "it in that group's standard cell")
    if sg is None and 1 <= small.spacegroup_number <= 230:
        sg = gemmi.find_spacegroup_by_number(small.spacegroup_number)
        if sg.hm.startswith("R"):  # choose axes from the cell
            sg = gemmi.find_spacegroup_by_name(sg.hm, cell[3], cell[5])
        notes.append(f"space group from IT number {sg.number} only: standard setting {sg.xhm()} assumed")
    if sg is None and (ref := _unquote(block.find_value("_space_group_name_H-M_ref") or "").strip()):
        # the core dictionary's reference setting name (diffpy, some exporters write only this one)
        sg = gemmi.find_spacegroup_by_name(ref, cell[3], cell[5])
        if sg is not None:
            notes.append(f"space group from _space_group_name_H-M_ref {ref!r} (no operators, no other name given)")
    if sg is None:
        given = small.spacegroup_hm or small.spacegroup_hall or "nothing"
        raise XrdqPhaseError(f"{where}: unknown space group (CIF gives {given!r})")
    if not small.symops and not small.spacegroup_hall and sg.ext in ("1", "2"):
        sg = _choose_origin(small, block, sg, notes)
    return sg


#: Atoms closer than this (Å) to a symmetry image of an equivalent atom count as one: the P 1 structures written by
#: pymatgen (Materials Project downloads) are symmetric to ~1e-6 Å; a slightly distorted structure is not made
#: more symmetric than it is.
P1_SYMPREC = 1e-3


def _symmetry_of_p1(small, cell, sg, cif_labels: list[str], notes: list[str], movable: bool = True):
    """(group, CIF labels, cell, volume ratio) of a structure given in P 1 whose atoms have more symmetry (the
    Materials Project's CIFs list every atom of a cell in P 1). Read in P 1 the cell refines as triclinic — a and b of
    a tetragonal cell correlated 1.000, and GSAS-II's cell steps fail — though the pattern is the same. spglib finds
    the group of the atoms as given. When its operators in the given cell and origin are a tabulated setting, the sites
    are reduced to one per orbit and that group is used. Otherwise (a primitive cell of a centred lattice, another
    origin, a supercell) the structure is moved to the group's standard cell (spglib's) and read there, unless
    ``movable`` is false (anisotropic displacements on the given axes); then P 1 stays. Each is said in a note. The
    volume ratio is the read cell's over the given one's (4 for a face-centred cell given primitive)."""
    import gemmi

    try:
        import spglib
    except ImportError:  # a dependency; without it P 1 stays P 1, as the CIF says
        return sg, cif_labels, cell, 1.0
    kinds: dict = {}
    numbers = [kinds.setdefault((site.element.name, site.type_symbol, round(site.occ, 4), round(site.u_iso, 5)),
                                len(kinds) + 1) for site in small.sites]
    lattice = np.array(small.cell.orth.mat, float).T  # rows: the cell vectors in Å
    positions = np.array([[site.fract.x, site.fract.y, site.fract.z] for site in small.sites], float) % 1.0
    if len(positions) > 2000 or _shared_positions(positions, lattice):
        return sg, cif_labels, cell, 1.0  # mixed or split sites: spglib takes each atom as a whole one, finds nonsense
    found = _spglib_dataset(spglib, lattice, positions, numbers)
    if found is None or found.number == 1:
        return sg, cif_labels, cell, 1.0
    group = _tabulated_group(found)
    if group is not None:
        keep = sorted(set(int(i) for i in found.equivalent_atoms))
        small.sites = [small.sites[i] for i in keep]
        notes.append(f"the CIF gives P 1, but its {len(numbers)} atoms have the symmetry of {group.xhm()} "
                     f"(spglib, within {P1_SYMPREC:g} Å); read in that group, {len(keep)} sites, the same atoms, so the "
                     "cell is refined with its constraints")
        return group, [cif_labels[i] for i in keep], cell, 1.0
    name = f"{found.international} (No. {found.number})"
    moved = _in_standard_cell(spglib, found, small) if movable else None
    if moved is None:
        why = "its anisotropic displacements are given on the CIF's axes" if not movable else "no standard cell found"
        notes.append(f"the atoms given in P 1 have the symmetry of {name} in another cell or origin; read in P 1 "
                     f"({why}), so the cell is refined as triclinic (transform the CIF to the standard setting to "
                     "constrain it)")
        return sg, cif_labels, cell, 1.0
    group, keep, sites, std_cell = moved
    ratio = cellmod.volume(std_cell) / cellmod.volume(cell)  # a whole number, or its inverse for a supercell
    ratio = float(round(ratio)) if ratio >= 1.0 else 1.0 / round(1.0 / ratio)
    small.sites = sites
    small.cell = gemmi.UnitCell(*std_cell)
    given = ", ".join(f"{x:.4g}" for x in cell)
    read = ", ".join(f"{x:.4g}" for x in std_cell)
    notes.append(f"the CIF gives P 1, but its {len(numbers)} atoms have the symmetry of {group.xhm()} (spglib, within "
                 f"{P1_SYMPREC:g} Å) in another cell or origin; read in that group's standard cell (a, b, c, α, β, γ "
                 f"= {read}, {ratio:.4g}× the volume of the CIF's {given}), {len(keep)} sites, the same atoms, so the "
                 "cell is refined with its constraints; Miller indices (a texture or size axis) refer to this cell")
    return group, [cif_labels[i] for i in keep], std_cell, ratio


def _spglib_dataset(spglib, lattice, positions, numbers):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # spglib's deprecation chatter
            return spglib.get_symmetry_dataset((lattice, positions, numbers), symprec=P1_SYMPREC)
    except Exception:  # two atoms on one position (a mixed site): not for spglib
        return None


def _tabulated_group(found):
    """The gemmi group whose operators are spglib's ``found`` ones in the cell and origin they were found in, or None
    (no tabulated setting has them)."""
    import gemmi

    ops = []
    for rot, tran in zip(found.rotations, found.translations):
        t24 = np.asarray(tran, float) * 24.0
        if np.max(np.abs(t24 - np.rint(t24))) > 24.0 * P1_SYMPREC:
            return None
        op = gemmi.Op("x,y,z")
        op.rot = (np.asarray(rot, int) * 24).tolist()
        op.tran = (np.rint(t24).astype(int) % 24).tolist()
        ops.append(op)
    return gemmi.find_spacegroup_by_ops(gemmi.GroupOps(ops))


def _in_standard_cell(spglib, found, small):
    """(group, indices of the given atoms kept, their sites moved, cell) of the structure in spglib's standard cell of
    its group, one site per orbit, each a copy of a given atom (label, element, occupancy, B) at its place there; None
    where that cell's operators are no tabulated setting either."""
    import gemmi

    lattice = np.asarray(found.std_lattice, float)
    positions = np.asarray(found.std_positions, float) % 1.0
    again = _spglib_dataset(spglib, lattice, positions, np.asarray(found.std_types, int))
    group = None if again is None else _tabulated_group(again)
    if group is None:
        return None
    # the given atom each standard-cell atom is an image of: both map to the same atom of the primitive cell
    given_of_primitive: dict = {}
    for i, p in enumerate(found.mapping_to_primitive):
        given_of_primitive.setdefault(int(p), i)
    given = [given_of_primitive[int(p)] for p in found.std_mapping_to_primitive]
    orbits = sorted(set(int(j) for j in again.equivalent_atoms))
    sites = []
    for j in orbits:
        site = small.sites[given[j]].clone()
        site.fract = gemmi.Fractional(*positions[j])
        sites.append(site)
    lengths = np.linalg.norm(lattice, axis=1)

    def angle(u, v):
        return float(np.degrees(np.arccos(np.clip(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)), -1.0, 1.0))))

    std_cell = (*(float(x) for x in lengths), angle(lattice[1], lattice[2]), angle(lattice[0], lattice[2]),
                angle(lattice[0], lattice[1]))
    return group, [given[j] for j in orbits], sites, std_cell


def _shared_positions(positions, lattice, closest: float = 0.5) -> bool:
    """Whether two atoms of a P 1 list lie closer than ``closest`` Å (periodic): a mixed or a split site."""
    d = positions[:, None, :] - positions[None, :, :]
    d -= np.round(d)
    dist = np.linalg.norm(d @ lattice, axis=2)
    np.fill_diagonal(dist, np.inf)
    return bool(np.min(dist) < closest)


def _forms_group(triplets) -> bool:
    """Whether the operators (x,y,z triplets) are closed under composition, translations taken modulo 1."""
    import gemmi

    try:
        ops = [gemmi.Op(t).wrap() for t in triplets]
    except Exception:  # an operator gemmi cannot parse: no group to speak of
        return False
    listed = {op.triplet() for op in ops}
    return all((a * b).wrap().triplet() in listed for a in ops for b in ops)


def _distinct_operators(small, notes: list[str]) -> None:
    """Each symmetry operator once: some writers list the whole set twice (a GSAS-II tutorial's Ba6Co6, ASE's
    SrTiO3), and the repeated list matched no space-group setting. Operators gemmi cannot parse are left for
    :func:`_space_group` to report."""
    import gemmi

    try:
        distinct = list(dict.fromkeys(gemmi.Op(op).triplet() for op in small.symops))
    except (RuntimeError, ValueError):
        return
    if len(distinct) < len(small.symops):
        notes.append(f"{len(small.symops)} symmetry operators listed, {len(distinct)} distinct: each used once")
        small.symops = distinct


def _choose_origin(small, block, sg, notes: list[str]):
    """Pick origin choice 1 or 2 for a CIF that names the group without operators or Hall symbol.

    An explicit choice is kept: in the H-M name (``:2``, or ICSD's trailing ``S``/``Z``) or in
    ``_space_group_IT_coordinate_system_code``. Otherwise each choice is tested against what the CIF says
    elsewhere: Z × formula atoms in the cell, the sites' multiplicities if given, and no atoms on top of each
    other (a pyrochlore's O sites 0.47 Å apart in the wrong choice). The one choice that passes every test
    given wins; failing that gemmi's default stays and a note says so.
    """
    import gemmi

    alternatives = [s for s in _settings(sg.number) if s.hm == sg.hm and s.ext in ("1", "2")]
    hm_given = (small.spacegroup_hm or "").strip()
    if len(alternatives) < 2 or ":" in hm_given or hm_given[-1:] in ("S", "Z"):
        return sg
    code = _unquote(block.find_value("_space_group_IT_coordinate_system_code")
                    or block.find_value("_space_group.IT_coordinate_system_code") or "").strip()
    if stated := [s for s in alternatives if s.ext == code]:
        if stated[0].ext != sg.ext:
            notes.append(f"origin choice {code} of {sg.hm} from _space_group_IT_coordinate_system_code")
        return stated[0]
    z = _number(block.find_value("_cell_formula_units_Z"))
    text = block.find_value("_chemical_formula_sum")
    formula = _parse_formula(gemmi.cif.as_string(text)) if text and text not in ("?", ".") else {}
    given_mult = _given_multiplicities(block)
    tests: list[str] = []
    if z and formula:
        tests.append("Z × formula atoms")
    if given_mult:
        tests.append("the CIF's site multiplicities")
    tests.append("no atoms on top of each other")
    passing = []
    for candidate in alternatives:
        small.spacegroup = candidate
        small.setup_cell_images()
        full = small.get_all_unit_cell_sites()
        ok = not _overlaps(small.sites, full, small.cell.parameters)
        if z and formula:
            expected = z * sum(formula.values())
            ok &= abs(sum(s.occ for s in full) - expected) <= 0.02 * expected
        if given_mult:
            counts: dict[str, int] = {}
            for s in full:
                counts[s.label] = counts.get(s.label, 0) + 1
            ok &= all(counts.get(label) == m for label, m in given_mult.items())
        if ok:
            passing.append(candidate)
    if len(passing) == 1:
        if passing[0].ext != sg.ext:
            notes.append(f"origin choice {passing[0].ext} of {sg.hm} chosen: only it gives {', '.join(tests)}")
        return passing[0]
    notes.append(f"origin choice {sg.ext} of {sg.hm} assumed (the CIF gives no operators or origin)")
    return sg


def _given_multiplicities(block) -> dict[str, int]:
    """``_atom_site_symmetry_multiplicity`` by site label, where every site has one (ICSD and COD give it)."""
    out: dict[str, int] = {}
    for row in block.find("_atom_site_", ["label", "symmetry_multiplicity"]):
        m = _number(row[1])
        if m is None or m != int(m) or m < 1:
            return {}
        out[row.str(0)] = int(m)
    return out


#: How far (relative) a CIF's cell may stray from what its space group requires and still be read as rounding (a
#: length printed to 4 decimals, an angle to 2): within it the cell is symmetrised, beyond it refused.
CELL_SYMMETRY_TOLERANCE = 1e-4

_CELL_TAGS = ("_cell_length_a", "_cell_length_b", "_cell_length_c", "_cell_angle_alpha", "_cell_angle_beta",
              "_cell_angle_gamma")
_CELL_RULES = {"cubic": "a = b = c, α = β = γ = 90°", "tetragonal": "a = b, α = β = γ = 90°",
               "hexagonal": "a = b, α = β = 90°, γ = 120°", "rhombohedral": "a = b = c, α = β = γ",
               "orthorhombic": "α = β = γ = 90°", "monoclinic-a": "β = γ = 90°", "monoclinic-b": "α = γ = 90°",
               "monoclinic-c": "α = β = 90°", "triclinic": ""}


def _symmetrised_cell(cell, sg, where: str) -> tuple[float, ...]:
    """The cell with the space group's constraints exact; refused when it contradicts them beyond rounding (b = 6 Å
    in cubic LiCl was used as given: the reflections of a cell no crystal of that symmetry has)."""
    hm = sg.xhm()
    kind = "hexagonal" if hm.endswith(":H") else cellmod.lattice_kind(sg.number, hm, cell)
    wanted = cellmod.constrain(kind, cell)  # free parameters as given, the rest from them
    wrong = [f"{tag} = {x:g} (not {w:g})" for tag, x, w in zip(_CELL_TAGS, cell, wanted)
             if abs(x - w) > CELL_SYMMETRY_TOLERANCE * abs(w)]
    if wrong:
        raise XrdqPhaseError(f"{where}: the cell contradicts space group {hm.strip()} ({kind}), which requires "
                             f"{_CELL_RULES[kind]}: {'; '.join(wrong)} — correct the cell or the space group")
    return wanted


def _settings(number: int):
    import gemmi

    return [s for s in gemmi.spacegroup_table() if s.number == number]


def unique_labels(labels: list[str]) -> list[str]:
    """``labels`` with each repeat of a label renamed ``LABEL_2``, ``LABEL_3`` … (skipping names taken): xrdq's names
    of a CIF's sites, in its rows' order, and so the GSAS-II engine's for the same atoms (GSAS-II keeps the repeats)."""
    taken = set(labels)
    count: dict[str, int] = {}
    out = []
    for label in labels:
        count[label] = count.get(label, 0) + 1
        name = label
        if count[label] > 1:
            k = count[label]
            while f"{label}_{k}" in taken:
                k += 1
            name = f"{label}_{k}"
            taken.add(name)
        out.append(name)
    return out


def _unique_labels(small, block, where: str, notes: list[str]) -> list[str]:
    """Give every site its own label; return the labels as the CIF has them, in site order.

    xrdq keys a site's element, scatterer, B and multiplicity by its label, and some writers give every site the same
    one (CrystalDiffract: ``Label`` for Ti and O of rutile, which made Ti scatter as O, six times over). A repeated
    label is renamed ``Label_2`` …, and said. Refused only where the anisotropic loop names a repeated label: which
    site its U belongs to is then unknowable."""
    cif_labels = [site.label for site in small.sites]
    names = unique_labels(cif_labels)
    if names == cif_labels:
        return cif_labels
    repeated = sorted({label for label, name in zip(cif_labels, names) if name != label})
    aniso = {str(v).strip("'\"") for v in block.find_loop("_atom_site_aniso_label")}
    if ambiguous := [label for label in repeated if label in aniso]:
        raise XrdqPhaseError(f"{where}: _atom_site_label {ambiguous[0]!r} names {cif_labels.count(ambiguous[0])} "
                             "sites and _atom_site_aniso_label refers to it, so which site its U belongs to is "
                             "unknown; expected each site to have its own label")
    for site, name in zip(small.sites, names):
        site.label = name
    for label in repeated:
        renamed = [s.label for s, c in zip(small.sites, cif_labels) if c == label]
        notes.append(f"_atom_site_label {label!r} names {len(renamed)} sites "
                     f"({', '.join(s.element.name for s, c in zip(small.sites, cif_labels) if c == label)}); "
                     f"xrdq calls them {', '.join(renamed)}")
    return cif_labels


def _b_iso_by_label(small, block, cell, notes: list[str], cif_labels: list[str]) -> dict[str, float]:
    """Isotropic B (Å²) per site label: B_iso, 8π²U_iso, or 8π²U_eq from U_aniso; default 1 Å².
    ``cif_labels``: each site's label as the CIF has it (:func:`_unique_labels`), to find its row."""
    rows: dict[str, list[str | None]] = {}  # CIF label → per row with it: "U_iso" or "B_iso" (the tag given), or None
    table = block.find("_atom_site_", ["label", "?U_iso_or_equiv", "?B_iso_or_equiv"])
    for row in table:
        tag = next((tag for i, tag in ((1, "U_iso"), (2, "B_iso")) if row.has(i) and _number(row[i]) is not None),
                   None)
        rows.setdefault(row.str(0), []).append(tag)
    given: dict[str, str] = {}  # site label → the tag that gave its B
    occurrence: dict[str, int] = {}
    for site, label in zip(small.sites, cif_labels):
        k = occurrence[label] = occurrence.get(label, -1) + 1
        tags = rows.get(label, [])
        if tag := (tags[k] if k < len(tags) else None):
            given[site.label] = tag
    out: dict[str, float] = {}
    missing = []
    other = _aniso_b_or_beta(block, cell)
    from_other: dict[str, list[str]] = {}
    for site, label in zip(small.sites, cif_labels):
        if site.aniso.nonzero() or (label in other and site.label not in given):
            if site.aniso.nonzero():
                a = site.aniso
                u = cellmod.u_tensor(a.u11, a.u22, a.u33, a.u12, a.u13, a.u23)
            else:
                u, kind = other[label]
                from_other.setdefault(kind, []).append(site.label)
            out[site.label] = _8PI2 * cellmod.u_equivalent(u, cell)
            for k, value in (("U11", u[0, 0]), ("U22", u[1, 1]), ("U33", u[2, 2])):
                if value < 0:
                    # said, not flagged: xrdq scatters with U_eq, which _check_displacement flags if it is unphysical
                    # (a published Na0.8CoO2 has U33 = -0.003 Å² beside a U_eq of 0.012)
                    notes.append(f"site {site.label}: anisotropic {k} = {value:g} Å² is negative (not positive "
                                 f"definite); xrdq uses the isotropic U_eq = {out[site.label] / _8PI2:.4g} Å²")
            _check_displacement(site.label, out[site.label], f"U_eq = {out[site.label] / _8PI2:.4g} Å²", notes)
        elif site.label in given:
            out[site.label] = _8PI2 * float(site.u_iso)
            told = (f"U_iso = {site.u_iso:.4g} Å²" if given[site.label] == "U_iso"
                    else f"B_iso = {out[site.label]:.4g} Å²")
            _check_displacement(site.label, out[site.label], told, notes)
        else:
            out[site.label] = DEFAULT_B_ISO
            missing.append(site.label)
    for kind, labels in from_other.items():
        notes.append(f"displacements of {', '.join(labels)} from _atom_site_aniso_{kind}_ij (U_ij = "
                     + ("B_ij / 8π²)" if kind == "B" else "β_ij / (2π² a*_i a*_j))"))
    if missing:
        notes.append(f"no displacement parameter for {', '.join(missing)}: B = {DEFAULT_B_ISO} Å² assumed")
    return out


def _aniso_b_or_beta(block, cell) -> dict:
    """CIF label → (U tensor, "B" or "beta") from ``_atom_site_aniso_B_ij`` (U = B/8π²) or the dimensionless
    ``_atom_site_aniso_beta_ij`` (U_ij = β_ij / (2π² a*_i a*_j)), which gemmi does not read: old ICSD exports give
    displacements only so, and taking B = 1 Å² beside them discards what the file says."""
    out: dict = {}
    names = ("11", "22", "33", "12", "13", "23")
    star = np.sqrt(np.diag(cellmod.reciprocal_metric_tensor(cell)))
    for kind in ("B", "beta"):
        table = block.find("_atom_site_aniso_", ["label"] + [f"{kind}_{k}" for k in names])
        for row in table:
            values = [_number(row[i + 1]) for i in range(6)]
            if any(v is None for v in values):
                continue
            b = cellmod.u_tensor(*values)
            u = b / _8PI2 if kind == "B" else b / (2.0 * np.pi ** 2 * np.outer(star, star))
            out.setdefault(row.str(0), (u, kind))
    return out


#: Largest plausible isotropic B (Å²): loosely bound atoms in refined inorganic structures reach ~10 Å²; above 20
#: (U = 0.25 Å², an rms displacement of 0.5 Å) a site scatters almost nothing past low angles — most often a U
#: typed in the B column or a misplaced column.
MAX_B_ISO = 20.0


def _check_displacement(label: str, b: float, told: str, notes: list[str]):
    """Note (not clip) a negative or absurdly large B: either changes every intensity, and the fraction, silently
    (B = -5 Å² on LiCl's Cl halved its weight fraction; B = 1200 Å² sent the amorphous fraction to -482 %)."""
    if b < 0:
        notes.append(f"site {label}: {told} is negative — unphysical: intensities grow with angle; kept as given")
    elif b > MAX_B_ISO:
        as_b = "" if told.startswith("B") else f" (B = 8π²U = {b:.4g} Å²)"
        hint = "a B given as U?" if told.startswith("U") else "a misplaced column?"
        notes.append(f"site {label}: {told}{as_b} is above B = {MAX_B_ISO:g} Å² — unphysical: the site scatters "
                     f"almost nothing beyond low angles ({hint}); kept as given")


#: Distinct atoms closer than this (Å) are one position: the shortest real bonds are H–H 0.74 Å and O–H ≈ 0.9 Å (as
#: X-rays see it), while a duplicated site or one typed onto another sits at ~0 Å.
OVERLAP_DISTANCE = 0.5


def _overlaps(asym, full, cell) -> list[str]:
    """Notes on atoms of different sites closer than OVERLAP_DISTANCE whose occupancies sum above 1: a duplicated or
    misplaced site adds scattering power and mass no crystal has. Partial occupancies sharing a position (mixed Zr/Al,
    split sites) sum to ≤ 1 and are disorder, not an error. Every close pair has a symmetry image with one atom at its
    asymmetric-unit position, so each asymmetric site is compared with the full cell (minimum image)."""
    g = cellmod.metric_tensor(cell)
    xyz = np.array([[s.fract.x, s.fract.y, s.fract.z] for s in full])
    labels = np.array([s.label for s in full])
    occ = np.array([s.occ for s in full])
    shifts = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], dtype=float)
    found: dict[tuple[str, str], tuple[float, float]] = {}
    for site in asym:
        df = xyz - np.array([site.fract.x, site.fract.y, site.fract.z])
        df = (df - np.rint(df))[:, None, :] + shifts  # (m, 27, 3): nearest image is among these in any sane cell
        dist = np.sqrt(np.einsum("mki,ij,mkj->mk", df, g, df).min(axis=1))
        near = dist < OVERLAP_DISTANCE
        self_image = near & (labels == site.label) & (dist < 1e-3)  # the site itself
        others = near & (labels != site.label)
        if not others.any():
            continue
        total = site.occ + occ[near & ~self_image].sum()
        if total <= 1.0 + 1e-3:
            continue
        for label in sorted(set(labels[others])):
            key = tuple(sorted((site.label, label)))
            d = float(dist[others & (labels == label)].min())
            if key not in found or d < found[key][0]:
                found[key] = (d, float(total))
    return [f"sites {a} and {b} are {d:.2f} Å apart (under {OVERLAP_DISTANCE:g} Å) with occupancies summing to "
            f"{total:.3g} — unphysical: a duplicated or misplaced site? kept as given"
            for (a, b), (d, total) in found.items()]


def _scatterer(site) -> str:
    """Waasmaier–Kirfel scatterer: the ion if the CIF gives a charge and the table has it."""
    return scattering.f0_ion(site.element.name, int(site.charge)) if site.charge else site.element.name


def _parse_formula(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for el, n in re.findall(r"([A-Z][a-z]?)\s*([0-9.]*)", text):
        try:
            out[el] = out.get(el, 0.0) + (float(n) if n else 1.0)
        except ValueError:
            raise XrdqPhaseError(f"_chemical_formula_sum {text!r}: count {n!r} of {el} is not a number") from None
    return out


def _format_formula(comp: dict[str, float]) -> str:
    def num(x):
        return "" if abs(x - 1) < 1e-6 else (f"{x:.0f}" if abs(x - round(x)) < 1e-6 else f"{x:.4g}")

    return "".join(f"{el}{num(n)}" for el, n in comp.items())


def _formula_and_z(block, cell_comp: dict[str, float], notes: list[str]) -> tuple[str, float]:
    """Formula (CIF _chemical_formula_sum, else reduced cell contents) and Z (CIF, else derived)."""
    text = block.find_value("_chemical_formula_sum")
    formula = _parse_formula(_unquote(text)) if text and text not in ("?", ".") else {}
    z = _number(block.find_value("_cell_formula_units_Z"))
    total = sum(cell_comp.values())
    if not formula:
        counts = {el: cell_comp[el] for el in cell_comp}
        rounded = [round(v) for v in counts.values()]
        if all(abs(v - r) < 1e-3 and r > 0 for v, r in zip(counts.values(), rounded)):
            z_guess = math.gcd(*rounded)
        else:
            z_guess = z or 1.0
        z = z or z_guess
        formula = {el: n / z for el, n in counts.items()}
    elif z is None:
        z = total / sum(formula.values())
        if abs(z - round(z)) < 0.02:
            z = float(round(z))
    else:
        expected = z * sum(formula.values())
        if abs(expected - total) > 0.02 * total and _cell_content_formula(formula, cell_comp, z):
            # pymatgen (Materials Project) writes the cell contents as the formula sum beside Z reduced formula units:
            # 'Ti2 O4' with Z = 2 for rutile. Consistent with the sites, so nothing to say
            formula = {el: n / z for el, n in formula.items()}
        elif abs(expected - total) > 0.02 * total:
            notes.append(f"cell contents ({total:g} atoms) differ from Z × formula ({expected:g}); "
                         "cell_mass is computed from the sites")
    return _format_formula(formula), float(z)


def _cell_content_formula(formula: dict[str, float], cell_comp: dict[str, float], z: float) -> bool:
    """Whether ``formula`` lists exactly the cell contents, element by element (within 2 %), in whole numbers that Z
    divides ('Ti2 O4', Z = 2). A formula per unit with the sites of one unit only (operators lost: 'Ti1 O2', Z = 2)
    is not this, and stays flagged."""
    counts = list(formula.values())
    whole = all(abs(n - round(n)) < 1e-6 and round(n) > 0 for n in counts)
    return (set(formula) == set(cell_comp) and all(abs(formula[el] - cell_comp[el]) <= 0.02 * cell_comp[el]
                                                   for el in formula)
            and whole and abs(z - round(z)) < 1e-6 and round(z) > 1 and math.gcd(*(round(n) for n in counts)) % round(z) == 0)


def _unquote(text: str) -> str:
    import gemmi

    return gemmi.cif.as_string(text)
