"""GSAS-II is made to refine the structure xrdq read, or the engine refuses (xrdq.engines.gsas2.reading).

The comparison itself needs no GSAS-II; the tests that give GSAS-II a CIF run the real GSAS-II and skip where it
is absent. Each CIF below is one GSAS-II was seen to read as another structure, without a word."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from xrdq.crystal import read_cif
from xrdq.engines.gsas2.reading import STRUCTURE_TOLERANCE, Reading, differences, structure_difference, xrdq_reading
from xrdq.errors import XrdqPhaseError
from reference_patterns import PHASES

# pymatgen writes rutile in P 1 with a fractional charge as the type: GSAS-II drops the Ti (cell mass 66 for 160)
RUTILE_PYMATGEN = """# generated using pymatgen
data_TiO2
_symmetry_space_group_name_H-M   'P 1'
_cell_length_a   4.5937
_cell_length_b   4.5937
_cell_length_c   2.9587
_cell_angle_alpha   90.0
_cell_angle_beta   90.0
_cell_angle_gamma   90.0
_symmetry_Int_Tables_number   1
_chemical_formula_sum   'Ti2 O4'
_cell_formula_units_Z   2
loop_
 _symmetry_equiv_pos_site_id
 _symmetry_equiv_pos_as_xyz
  1  'x, y, z'
loop_
 _atom_type_symbol
 _atom_type_oxidation_number
  Ti3.928+  3.928
  O2-  -2.0
loop_
 _atom_site_type_symbol
 _atom_site_label
 _atom_site_symmetry_multiplicity
 _atom_site_fract_x
 _atom_site_fract_y
 _atom_site_fract_z
 _atom_site_occupancy
  Ti3.928+  Ti0  1  0.5  0.5  0.5  1.0
  Ti3.928+  Ti1  1  0.0  0.0  0.0  1.0
  O2-  O2  1  0.1952  0.8048  0.5  1.0
  O2-  O3  1  0.8048  0.1952  0.5  1.0
  O2-  O4  1  0.3048  0.3048  0.0  1.0
  O2-  O5  1  0.6952  0.6952  0.0  1.0
"""

# rutile in its group, ion types GSAS-II tabulates, no displacement parameters
RUTILE_NO_U = """data_rutile
_symmetry_space_group_name_H-M 'P 42/m n m'
_cell_length_a 4.5937
_cell_length_b 4.5937
_cell_length_c 2.9587
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Ti1 Ti4+ 0 0 0
O1 O2- 0.3048 0.3048 0
"""

# the Materials Project's primitive cell of rock-salt LiF, in P 1: xrdq reads it in F m -3 m's cubic cell
LIF_PRIMITIVE_PYMATGEN = """# generated using pymatgen
data_LiF
_symmetry_space_group_name_H-M   'P 1'
_cell_length_a   2.84752
_cell_length_b   2.84752
_cell_length_c   2.84752
_cell_angle_alpha   60.0
_cell_angle_beta   60.0
_cell_angle_gamma   60.0
_chemical_formula_sum   'Li1 F1'
_cell_formula_units_Z   1
loop_
 _symmetry_equiv_pos_as_xyz
  'x, y, z'
loop_
 _atom_site_type_symbol
 _atom_site_label
 _atom_site_fract_x
 _atom_site_fract_y
 _atom_site_fract_z
 _atom_site_occupancy
  Li+  Li0  0.0  0.0  0.0  1.0
  F-  F1  0.5  0.5  0.5  1.0
"""

_PYROCHLORE_SITES = {"Ho": ("Ho3+", (0.5, 0.5, 0.5)), "Ti": ("Ti4+", (0.0, 0.0, 0.0)),
                     "O1": ("O2-", (0.32858, 0.125, 0.125)), "O2": ("O2-", (0.375, 0.375, 0.375))}


def pyrochlore(header: str, shift: float = 0.0) -> str:
    """Ho2Ti2O7 (F d -3 m, a = 10.1 Å, Ho16 Ti16 O56) with the given space-group lines; coordinates moved by
    ``shift`` (origin choice 1 is choice 2 + 1/8)."""
    rows = "\n".join(f"{label} {kind} " + " ".join(f"{(v + shift) % 1.0:.5f}" for v in xyz) + " 0.005"
                     for label, (kind, xyz) in _PYROCHLORE_SITES.items())
    return (f"data_pyrochlore\n{header}\n_cell_length_a 10.10\n_cell_length_b 10.10\n_cell_length_c 10.10\n"
            "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n_atom_site_label\n"
            "_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
            f"_atom_site_U_iso_or_equiv\n{rows}\n")


# easyDiffraction names the group only as _space_group_name_H-M_ref: GSAS-II reads P 1 (Ho1 Ti1 O2 in the cell)
PYROCHLORE_HM_REF = pyrochlore("_space_group_name_H-M_ref 'F d -3 m'\n_space_group_IT_coordinate_system_code 2")
# origin choice 1 said only by the coordinate-system code: GSAS-II takes choice 2
PYROCHLORE_ORIGIN_1 = pyrochlore("_symmetry_space_group_name_H-M 'F d -3 m'\n_space_group_IT_coordinate_system_code 1",
                                 shift=0.125)


def _write(tmp_path, name, text):
    path = tmp_path / f"{name}.cif"
    path.write_text(text)
    return path


# ---- the comparison (no GSAS-II) -------------------------------------------------------------------
def _rutile(tmp_path) -> Reading:
    return xrdq_reading(read_cif(_write(tmp_path, "rutile", RUTILE_PYMATGEN)))


def test_the_same_structure_at_another_origin_reads_alike(tmp_path):
    ours = _rutile(tmp_path)
    moved = dataclasses.replace(ours, fract=(ours.fract + np.array([0.125, 0.25, 0.5])) % 1.0)
    assert differences(ours, moved) == []
    # a hair off (GSAS-II's snapping, 6-decimal coordinates) is the same structure
    rng = np.random.default_rng(1)
    assert differences(ours, dataclasses.replace(ours, fract=ours.fract + rng.normal(0, 1e-5, ours.fract.shape))) == []


def test_missing_atoms_are_named_by_element_and_count(tmp_path):
    ours = _rutile(tmp_path)
    keep = np.array([el != "Ti" for el in ours.element])
    gsas2 = Reading(ours.cell, "P 1", tuple(np.array(ours.element)[keep]), ours.fract[keep], ours.occupancy[keep])
    assert differences(ours, gsas2) == ["0 Ti atoms in the cell instead of 2"]
    assert "cell contents O4 Ti2" in ours.describe()


def test_another_cell_is_named(tmp_path):
    ours = _rutile(tmp_path)
    other = dataclasses.replace(ours, cell=(4.5937, 4.5937, 4.5937, 90.0, 90.0, 90.0))
    assert differences(ours, other) == ["cell (4.5937, 4.5937, 4.5937, 90, 90, 90) instead of (4.5937, 4.5937, 2.9587, "
                                        "90, 90, 90)"]


def test_atoms_in_other_places_are_found_though_the_contents_agree(tmp_path):
    ours = _rutile(tmp_path)
    fract = ours.fract.copy()
    fract[[el == "O" for el in ours.element], :2] += 0.05  # every O moved by 0.3 Å
    found = differences(ours, dataclasses.replace(ours, fract=fract))
    assert len(found) == 1 and "structure factors differ" in found[0]
    assert structure_difference(ours, dataclasses.replace(ours, fract=fract)) > 3 * STRUCTURE_TOLERANCE


def test_another_displacement_is_named_by_element(tmp_path):
    """A CIF without U: xrdq takes B = 1 Å², GSAS-II U = 0.01 Å² (B = 0.79): 7 % of the intensity at 80° 2θ."""
    ours = _rutile(tmp_path)
    assert set(ours.displacement().values()) == {1.0}
    theirs = dataclasses.replace(ours, b_iso=np.where(np.array(ours.element) == "O", 8 * np.pi**2 * 0.01, 1.0))
    assert differences(ours, theirs) == ["O: B = 0.79 Å² instead of 1"]
    assert differences(ours, dataclasses.replace(ours, b_iso=ours.b_iso + 0.01)) == []


def test_the_same_atoms_in_a_lower_group_are_named(tmp_path):
    """A P 1 file xrdq reads in its atoms' group: GSAS-II, reading P 1, would refine the cell as triclinic."""
    ours = _rutile(tmp_path)
    assert ours.operators == 16
    found = differences(ours, dataclasses.replace(ours, space_group="P 1", operators=1))
    assert found == ["space group P 1 (1 operators) instead of P 42/m n m (16)"]


def test_a_weighted_image_list_is_the_structure_of_its_distinct_atoms(tmp_path):
    """GSAS-II's reading lists every image weighted occupancy × multiplicity / images: a special position's
    repeated images with their weights are the same atoms."""
    ours = _rutile(tmp_path)
    doubled = Reading(ours.cell, "P 1", ours.element * 2, np.vstack([ours.fract, ours.fract]),
                      np.concatenate([ours.occupancy, ours.occupancy]) / 2)
    assert differences(ours, doubled) == []


# ---- GSAS-II -------------------------------------------------------------------------------------
def _gsas2_or_skip():
    from xrdq.engines.gsas2 import gsas2_available

    if not gsas2_available():
        pytest.skip("GSAS-II is not installed (not on PyPI; see docs/gsas2.md) - GSAS-II engine tests skipped")


def _build(tmp_path, phases):
    from xrdq.engines.gsas2.project import build_project
    from xrdq.model.instrument import load_instrument
    from xrdq.model.simulate import simulate

    pattern, _ = simulate([("LiF", 1.0)], two_theta=(20.0, 60.0, 0.02), seed=None)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return build_project(pattern, phases, load_instrument("miniflex600"), work, background_terms=3)


@pytest.mark.gsas2
@pytest.mark.parametrize("name, text, setting", [
    ("rutile", RUTILE_PYMATGEN, "written as P 42/m n m"),
    ("pyrochlore_ref", PYROCHLORE_HM_REF, "written as F d -3 m"),
    ("pyrochlore_1", PYROCHLORE_ORIGIN_1, "written as F d -3 m, coordinates moved by (-0.125, -0.125, -0.125)"),
    ("lif_primitive", LIF_PRIMITIVE_PYMATGEN, "written as F m -3 m"),
])
def test_gsas2_refines_the_structure_xrdq_read(tmp_path, name, text, setting):
    _gsas2_or_skip()
    from GSASII import GSASIIscriptable as G2sc

    from xrdq.engines.gsas2.project import copy_structure_block, snap_special_positions
    from xrdq.engines.gsas2.reading import gsas2_reading

    path = _write(tmp_path, name, text)
    ours = read_cif(path)
    # as given, GSAS-II reads another structure (the reason for all this)
    local = tmp_path / "raw.cif"
    copy_structure_block(path, name, local)
    raw = G2sc.G2Project(newgpx=str(tmp_path / "raw.gpx")).add_phase(str(local), phasename="raw")
    snap_special_positions(raw)
    assert differences(xrdq_reading(ours), gsas2_reading(raw.data))
    # the engine gives GSAS-II xrdq's reading, and says so
    p = _build(tmp_path, [("LiF", PHASES / "LiF.cif"), (name, path)])
    g2 = dict(p.phases)[name]
    assert differences(xrdq_reading(ours), gsas2_reading(g2.data)) == []
    assert float(g2.data["General"]["Mass"]) == pytest.approx(ours.cell_mass, rel=1e-3)
    said = [n for n in p.notes if n.startswith(f"{name}: GSAS-II read")]
    assert len(said) == 1 and "given the structure as xrdq read it" in said[0] and setting in said[0]
    assert not any(n.startswith("LiF:") for n in p.notes)  # a CIF GSAS-II reads alike is given as it is
    # a second project from the same files (a batch) is given the same, without reading twice
    again = _build(tmp_path, [("LiF", PHASES / "LiF.cif"), (name, path)])
    assert said[0] in again.notes
    assert float(dict(again.phases)[name].data["General"]["Mass"]) == pytest.approx(ours.cell_mass, rel=1e-3)


@pytest.mark.gsas2
def test_gsas2_scatters_with_xrdqs_displacements_where_the_cif_gives_none(tmp_path):
    _gsas2_or_skip()
    path = _write(tmp_path, "rutile_no_u", RUTILE_NO_U)
    p = _build(tmp_path, [("LiF", PHASES / "LiF.cif"), ("rutile", path)])
    said = [n for n in p.notes if n.startswith("rutile: GSAS-II read")]
    assert len(said) == 1 and "with other displacement parameters (O: B = 0.79 Å² instead of 1; Ti: B = 0.79" in said[0]
    rutile = dict(p.phases)["rutile"].data
    cia = rutile["General"]["AtomPtrs"][3]
    assert [a[cia + 1] for a in rutile["Atoms"]] == [pytest.approx(1.0 / (8 * np.pi**2), rel=1e-4)] * 2


@pytest.mark.gsas2
def test_ion_names_are_gsas2s_where_it_has_them():
    _gsas2_or_skip()
    from xrdq.engines.gsas2.reading import gsas2_type

    assert gsas2_type("Li1+", "Li") == "Li+1" and gsas2_type("O2-", "O") == "O-2" and gsas2_type("Ti4+", "Ti") == "Ti+4"
    assert gsas2_type("Ti", "Ti") == "Ti"
    assert gsas2_type("Li3+", "Li") == "Li"  # not tabulated: the neutral atom, never a dropped one


@pytest.mark.gsas2
def test_when_gsas2_cannot_be_given_the_structure_the_engine_refuses_naming_both_readings(tmp_path, monkeypatch):
    _gsas2_or_skip()
    from xrdq.engines.gsas2 import reading

    path = _write(tmp_path, "rutile", RUTILE_PYMATGEN)

    def no_setting(phase):
        raise XrdqPhaseError("GSAS-II has no name for this setting")

    monkeypatch.setattr(reading, "gsas2_cif", no_setting)
    with pytest.raises(XrdqPhaseError) as err:
        _build(tmp_path, [("rutile", path)])
    text = str(err.value)
    assert "0 Ti atoms in the cell instead of 2" in text and "xrdq reads P 42/m n m" in text and "O4 Ti2" in text
    assert "GSAS-II has no name for this setting" in text and str(path) in text

    # given a CIF GSAS-II still reads otherwise (here: the user's file again), the engine refuses, never refines it
    monkeypatch.setattr(reading, "gsas2_cif", lambda phase: (RUTILE_PYMATGEN, "P 1", (0.0, 0.0, 0.0)))
    # (GSAS-II's reader, reused across calls, sometimes fails on the file outright after earlier imports: also refused)
    with pytest.raises(XrdqPhaseError, match="even when given xrdq's reading|could not read phase 'rutile' .* even as xrdq's"):
        _build(tmp_path, [("rutile", path)])
