"""Reading CIFs: composition, mass, density, displacement parameters and errors."""

from __future__ import annotations

import math
import warnings

import numpy as np

import pytest

from xrdq.crystal import read_cif
from xrdq.errors import XrdqPhaseError

from crystal_cifs import ANISO_U_LOOP, BRUCITE, CORUNDUM, LIF, MIXED

M_LI, M_F, M_AL, M_O, M_ZR, M_CL = 6.94, 18.998403, 26.981538, 15.999, 91.224, 35.45


def test_lif_mass_and_density(write_cif):
    lif = read_cif(write_cif(LIF))
    assert lif.space_group == "F m -3 m" and lif.sg_number == 225 and lif.crystal_system == "cubic"
    assert lif.z == 4 and lif.formula == "FLi"
    assert len(lif.atoms.occupancy) == 8
    assert lif.cell_mass == pytest.approx(4 * (M_LI + M_F), rel=1e-3)
    assert lif.volume == pytest.approx(4.027**3)
    assert lif.density == pytest.approx(2.64, abs=0.01)  # published 2.635 g/cm³


def test_corundum_z6_cell_mass(write_cif):
    cor = read_cif(write_cif(CORUNDUM))
    assert cor.space_group == "R -3 c:H" and cor.crystal_system == "trigonal"
    assert cor.z == 6 and cor.formula == "Al2O3"
    assert cor.cell_mass == pytest.approx(6 * (2 * M_AL + 3 * M_O), rel=1e-4)
    assert cor.density == pytest.approx(3.987, rel=0.005)
    b = {s.label: s.b_iso for s in cor.sites}
    assert b["Al1"] == pytest.approx(8 * math.pi**2 * 0.0030)
    assert [s.multiplicity for s in cor.sites] == [12, 18]


def test_mixed_site_and_partial_li(write_cif):
    ph = read_cif(write_cif(MIXED))
    comp = ph.composition
    assert comp["Zr"] == pytest.approx(4 * 0.7) and comp["Al"] == pytest.approx(4 * 0.3)
    assert comp["Li"] == pytest.approx(2 * 0.5 + 4 * 0.5)  # 2a special position + general position
    assert comp["Cl"] == pytest.approx(12)
    expected = 4 * (0.7 * M_ZR + 0.3 * M_AL + 3 * M_CL) + 3 * M_LI
    assert ph.cell_mass == pytest.approx(expected, rel=1e-4)


def test_aniso_reduced_to_ueq(write_cif):
    text = CORUNDUM.replace("_atom_site_U_iso_or_equiv\nAl1 Al 0 0 0.35216 0.0030\nO1 O 0.30624 0 0.25 0.0035\n",
                            "_atom_site_U_iso_or_equiv\nAl1 Al 0 0 0.35216 ?\nO1 O 0.30624 0 0.25 ?\n")
    text += ANISO_U_LOOP + """Al1 0.0030 0.0030 0.0030 0.0015 0 0
O1 0.0036 0.0032 0.0040 0.0016 0.0002 0.0004
"""
    ph = read_cif(write_cif(text))
    b = {s.label: s.b_iso for s in ph.sites}
    # Isotropic tensor on hexagonal axes (U12 = U11/2) has U_eq = U11 exactly.
    assert b["Al1"] == pytest.approx(8 * math.pi**2 * 0.0030, rel=1e-9)
    assert b["O1"] > 0 and not ph.notes


@pytest.mark.parametrize("kind", ["B", "beta"])
def test_aniso_given_as_b_or_beta_is_read_not_replaced_by_the_default(write_cif, kind):
    """gemmi reads only _atom_site_aniso_U_ij; old ICSD exports give B_ij or the dimensionless β_ij, and xrdq took
    B = 1 Å² beside them (LiOH·H2O: Li 1.63, O 1.46/1.70 Å² in the file)."""
    import numpy as np

    from xrdq.crystal.cell import reciprocal_metric_tensor

    u = {"Al1": [0.0030, 0.0030, 0.0030, 0.0015, 0, 0], "O1": [0.0036, 0.0032, 0.0040, 0.0016, 0.0002, 0.0004]}
    given = CORUNDUM.replace("Al1 Al 0 0 0.35216 0.0030\nO1 O 0.30624 0 0.25 0.0035\n",
                             "Al1 Al 0 0 0.35216 ?\nO1 O 0.30624 0 0.25 ?\n")
    ref = read_cif(write_cif(given + "loop_\n_atom_site_aniso_label\n" + "".join(
        f"_atom_site_aniso_U_{k}\n" for k in ("11", "22", "33", "12", "13", "23"))
        + "".join(f"{k} {' '.join(map(str, v))}\n" for k, v in u.items()), "ref"))
    star = np.sqrt(np.diag(reciprocal_metric_tensor(ref.cell)))
    pairs = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))
    factor = [8 * math.pi**2] * 6 if kind == "B" else [2 * math.pi**2 * star[i] * star[j] for i, j in pairs]
    text = given + "loop_\n_atom_site_aniso_label\n" + "".join(
        f"_atom_site_aniso_{kind}_{k}\n" for k in ("11", "22", "33", "12", "13", "23")) + "".join(
        f"{k} {' '.join(f'{x * f:.8g}' for x, f in zip(v, factor))}\n" for k, v in u.items())
    ph = read_cif(write_cif(text, kind))
    assert [s.b_iso for s in ph.sites] == pytest.approx([s.b_iso for s in ref.sites], rel=1e-6)
    assert ph.sites[0].b_iso == pytest.approx(8 * math.pi**2 * 0.0030, rel=1e-6)
    assert ph.notes == (f"displacements of Al1, O1 from _atom_site_aniso_{kind}_ij (U_ij = "
                        + ("B_ij / 8π²)" if kind == "B" else "β_ij / (2π² a*_i a*_j))"),)


def test_missing_displacement_gets_default_with_note(write_cif):
    text = LIF.replace("_atom_site_B_iso_or_equiv\n", "").replace(" 1 1.0\n", " 1\n").replace(" 1 0.8\n", " 1\n")
    ph = read_cif(write_cif(text))
    assert [s.b_iso for s in ph.sites] == [1.0, 1.0]
    assert any("B = 1.0" in n for n in ph.notes)


def test_ions_use_ionic_f0(write_cif):
    text = LIF.replace("Li1 Li 0", "Li1 Li1+ 0").replace("F1 F 0.5", "F1 F1- 0.5")
    ph = read_cif(write_cif(text))
    assert [s.scatterer for s in ph.sites] == ["Li1+", "F1-"]
    assert [s.element for s in ph.sites] == ["Li", "F"]


def test_space_group_from_hall_number_or_symops(write_cif):
    by_number = LIF.replace("_space_group_name_H-M_alt 'F m -3 m'", "_space_group_IT_number 225")
    by_hall = LIF.replace("_space_group_name_H-M_alt 'F m -3 m'", "_space_group_name_Hall '-F 4 2 3'")
    for text in (by_number, by_hall):
        ph = read_cif(write_cif(text))
        assert ph.sg_number == 225 and len(ph.atoms.occupancy) == 8
    mono = read_cif(write_cif(MIXED.replace("_space_group_name_H-M_alt 'P 1 21/c 1'\n_space_group_IT_number 14\n", "")))
    assert mono.sg_number == 14 and mono.space_group == "P 1 21/c 1"


def test_origin_choice_two(write_cif):
    si = """data_si
_cell_length_a 5.431
_cell_length_b 5.431
_cell_length_c 5.431
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_space_group_name_H-M_alt 'F d -3 m :2'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_B_iso_or_equiv
Si1 Si 0.125 0.125 0.125 0.47
"""
    ph = read_cif(write_cif(si))
    assert len(ph.atoms.occupancy) == 8 and ph.z == 8
    assert ph.density == pytest.approx(2.329, rel=2e-3)


# ---- errors ------------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(XrdqPhaseError, match="no such CIF"):
        read_cif(tmp_path / "nothing.cif")


def test_not_a_cif(write_cif):
    with pytest.raises(XrdqPhaseError, match="not a readable CIF"):
        read_cif(write_cif("this is 'not a CIF\n  loop_ loop_ _a\n"))


def test_no_cell(write_cif):
    text = "\n".join(l for l in LIF.splitlines() if not l.startswith("_cell_length")) + "\n"
    with pytest.raises(XrdqPhaseError, match="no unit cell"):
        read_cif(write_cif(text))


def test_no_atoms(write_cif):
    text = LIF[: LIF.index("loop_")]
    with pytest.raises(XrdqPhaseError, match="no atom sites") as err:
        read_cif(write_cif(text, "empty"))
    assert "empty.cif" in str(err.value)


def test_unknown_space_group(write_cif):
    with pytest.raises(XrdqPhaseError, match="unknown space group"):
        read_cif(write_cif(LIF.replace("'F m -3 m'", "'Q 7 7 7'")))


def test_unknown_element(write_cif):
    with pytest.raises(XrdqPhaseError, match="unknown element"):
        read_cif(write_cif(LIF.replace("Li1 Li 0", "Li1 Qq 0")))


def test_origin_choice_from_z_and_formula(write_cif):
    """'F d -3 m' without operators: Si at (1/8,1/8,1/8) is 8a only in origin choice 2 (16c in choice 1),
    so Z = 8 with formula Si picks choice 2; without Z the default is kept and a note says so."""
    si = """data_si
_cell_length_a 5.431
_cell_length_b 5.431
_cell_length_c 5.431
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'F d -3 m'
%s
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_B_iso_or_equiv
Si1 Si 0.125 0.125 0.125 0.47
"""
    ph = read_cif(write_cif(si % "_cell_formula_units_Z 8\n_chemical_formula_sum Si", "with_z"))
    assert ph.space_group.endswith(":2") and len(ph.atoms.occupancy) == 8
    assert any("origin choice 2" in n for n in ph.notes)
    default = read_cif(write_cif(si % "", "without_z"))
    assert any("origin choice 1" in n and "assumed" in n for n in default.notes)


def test_mass_attenuation_matches_xraydb_material_mu(write_cif):
    """µ/ρ of LiF and corundum at Cu Kα against xraydb's own compound calculation (Elam tables)."""
    xraydb = pytest.importorskip("xraydb")
    energy = 12398.419843320026 / 1.5406
    for text, formula in ((LIF, "LiF"), (CORUNDUM, "Al2O3")):
        ph = read_cif(write_cif(text))
        expected = xraydb.material_mu(formula, energy, density=1.0, kind="total")  # 1/cm at ρ = 1 → cm²/g
        assert ph.mass_attenuation(1.5406) == pytest.approx(expected, rel=1e-3)
    assert read_cif(write_cif(CORUNDUM)).mass_attenuation(1.5406) == pytest.approx(31.8, rel=0.05)


def test_a_cifs_own_structure_quality_is_read_and_checked(write_cif):
    """xrdq's reference CIFs say how far their structure can be trusted (``_xrdq_structure_quality``); the result
    repeats it. A CIF that does not say gives "", one that says something else is refused, naming the field."""
    from xrdq.crystal import load_phase

    assert read_cif(write_cif(LIF)).structure_quality == ""
    ph = read_cif(write_cif(LIF.replace("_cell_formula_units_Z 4", "_cell_formula_units_Z 4\n_xrdq_structure_quality 'Noisy'")))
    assert ph.structure_quality == "noisy"
    path = write_cif(LIF.replace("_cell_formula_units_Z 4", "_cell_formula_units_Z 4\n_xrdq_structure_quality rough"))
    with pytest.raises(XrdqPhaseError, match=r"test\.cif.*_xrdq_structure_quality 'rough'; expected one of published"):
        read_cif(path)
    # the bundled seed-chemistry halides whose refined coordinates were not available say so
    assert load_phase("Li2ZrCl6").structure_quality == "approximate"
    assert load_phase("Li3InCl6").structure_quality == "noisy"
    assert load_phase("LiF").structure_quality == "published"


def test_deuterium_scatters_as_hydrogen_weighs_as_deuterium_and_is_said(write_cif):
    """A structure from a neutron study of a deuterated crystal (D for H) crashed deep in xraydb ("unknown element
    'D'"). X-rays see its one electron as hydrogen's; its mass is deuterium's, right only for a deuterated sample, so a
    note gives what replacing D by H would change (brucite: 3.5 %)."""
    import numpy as np

    h = read_cif(write_cif(BRUCITE, "h"))
    d = read_cif(write_cif(BRUCITE.replace("H1 H 0.3333", "D1 D 0.3333"), "d"))
    rh, rd = h.reflections(80.0, 1.540593), d.reflections(80.0, 1.540593)
    assert np.allclose(rd.f2, rh.f2, rtol=1e-12)
    assert d.cell_mass - h.cell_mass == pytest.approx(2 * (2.014102 - 1.00794), abs=2e-3)
    assert d.mass_attenuation(1.540593) < h.mass_attenuation(1.540593)  # per gram: the same electrons, more mass
    (note,) = [n for n in d.notes if "deuterium" in n]
    assert "replace D by H" in note and "3.5 % too high" in note
    assert not any("deuterium" in n for n in h.notes)


PYROCHLORE = """data_ho2ti2o7
_cell_length_a 10.1
_cell_length_b 10.1
_cell_length_c 10.1
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_space_group_name_H-M_alt 'F d -3 m'
%s
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Ho Ho3+ 0.5 0.5 0.5
Ti Ti4+ 0.0 0.0 0.0
O1 O2- 0.32858 0.125 0.125
O2 O2- 0.375 0.375 0.375
"""


@pytest.mark.parametrize("extra, said", [
    ("", "origin choice 2 of F d -3 m chosen: only it gives no atoms on top of each other"),
    ("_space_group.IT_coordinate_system_code 2", "origin choice 2 of F d -3 m from _space_group_IT_coordinate_system_code"),
])
def test_origin_choice_from_the_structure_itself_or_the_coordinate_system_code(write_cif, extra, said):
    """easyDiffraction's Ho2Ti2O7 names 'F d -3 m' with no operators, Z or formula: gemmi's default choice 1 put its
    O sites 0.47 Å apart, Ho and Ti 8-fold and O1 96-fold — a crystal 1.6× too dense, with only a note of it."""
    ph = read_cif(write_cif(PYROCHLORE % extra, "pyro"))
    assert ph.space_group.endswith(":2") and [s.multiplicity for s in ph.sites] == [16, 16, 48, 8]
    assert ph.formula == "Ho2Ti2O7" and ph.z == 8
    assert said in ph.notes and not any("apart" in n for n in ph.notes)
    stated_1 = read_cif(write_cif(PYROCHLORE % "_space_group_IT_coordinate_system_code 1", "pyro1"))
    assert stated_1.space_group.endswith(":1") and any("0.47 Å apart" in n for n in stated_1.notes)  # as told, flagged


def test_origin_choice_from_the_site_multiplicities_given(write_cif):
    si = """data_si
_cell_length_a 5.431
_cell_length_b 5.431
_cell_length_c 5.431
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'F d -3 m'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_symmetry_multiplicity
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Si1 Si 8 0.125 0.125 0.125
"""
    ph = read_cif(write_cif(si, "si_mult"))
    assert ph.space_group.endswith(":2") and len(ph.atoms.occupancy) == 8
    assert ("origin choice 2 of F d -3 m chosen: only it gives the CIF's site multiplicities, no atoms on top of "
            "each other") in ph.notes


# rutile as the Materials Project writes it: every atom of the conventional cell in P 1
RUTILE_P1 = """data_TiO2
_symmetry_space_group_name_H-M   'P 1'
_cell_length_a   4.5937
_cell_length_b   4.5937
_cell_length_c   2.9587
_cell_angle_alpha   90.0
_cell_angle_beta   90.0
_cell_angle_gamma   90.0
_chemical_formula_sum   'Ti2 O4'
_cell_formula_units_Z   2
loop_
 _symmetry_equiv_pos_site_id
 _symmetry_equiv_pos_as_xyz
  1  'x, y, z'
loop_
 _atom_site_type_symbol
 _atom_site_label
 _atom_site_fract_x
 _atom_site_fract_y
 _atom_site_fract_z
 _atom_site_occupancy
 _atom_site_U_iso_or_equiv
  Ti4+  Ti0  0.5  0.5  0.5  1.0 0.006
  Ti4+  Ti1  0.0  0.0  0.0  1.0 0.006
  O2-  O2  0.1952  0.8048  0.5  1.0 0.008
  O2-  O3  0.8048  0.1952  0.5  1.0 0.008
  O2-  O4  0.3048  0.3048  0.0  1.0 0.008
  O2-  O5  0.6952  0.6952  0.0  1.0 0.008
"""


def _stays_p1(small, cell, sg, labels, notes, movable=True):
    """``cif._symmetry_of_p1`` that leaves a P 1 structure in P 1, in its own cell."""
    return sg, labels, cell, 1.0


def _pattern_of(phase):
    """[(d, Σ m·F² / V²)] of the reflections to 120° 2θ, equal d (within 1e-7 Å) summed, F² ≈ 0 left out: per unit
    volume, what the powder pattern sees, the same in any cell of the crystal."""
    from xrdq.crystal.cell import volume

    r = phase.reflections(120.0, 1.5406)
    order = np.argsort(r.d)
    out: list = []
    for d, v in zip(r.d[order], (r.f2 * r.multiplicity / volume(phase.cell) ** 2)[order]):
        if out and d - out[-1][0] < 1e-7:
            out[-1][1] += v
        else:
            out.append([d, v])
    top = max(v for _, v in out)
    return [(d, v) for d, v in out if v > 1e-9 * top]


def test_a_p1_structure_is_read_in_the_group_its_atoms_have(write_cif, monkeypatch):
    """Read in P 1, rutile's cell refined as triclinic (a, b correlated 1.000; GSAS-II's cell steps failed). The same
    atoms in P 42/m n m: the same powder pattern, the cell constrained as tetragonal."""
    from xrdq.crystal import cif

    ph = read_cif(write_cif(RUTILE_P1, "rutile"))
    assert ph.space_group == "P 42/m n m" and ph.lattice_kind == "tetragonal"
    assert [(s.label, s.multiplicity) for s in ph.sites] == [("Ti0", 2), ("O2", 4)]
    assert ph.composition == pytest.approx({"Ti": 2.0, "O": 4.0}) and ph.formula == "TiO2" and ph.z == 2
    assert any(n.startswith("the CIF gives P 1, but its 6 atoms have the symmetry of P 42/m n m") for n in ph.notes)
    monkeypatch.setattr(cif, "_symmetry_of_p1", _stays_p1)
    p1 = read_cif(write_cif(RUTILE_P1 + "\n", "rutile_p1"))
    assert p1.space_group == "P 1"
    mine, p1_pattern = _pattern_of(ph), _pattern_of(p1)  # P 1 lists equivalents apart; summed by d, the same
    assert len(mine) == len(p1_pattern)
    assert np.array(mine) == pytest.approx(np.array(p1_pattern), rel=1e-9)


# LiF's primitive cell (a Materials Project "primitive" download): F m -3 m, in a cell no tabulated setting uses
LIF_PRIMITIVE = LIF.replace("_space_group_name_H-M_alt 'F m -3 m'", "_space_group_name_H-M_alt 'P 1'").replace(
    "_cell_length_a 4.027\n_cell_length_b 4.027\n_cell_length_c 4.027\n_cell_angle_alpha 90\n_cell_angle_beta 90\n"
    "_cell_angle_gamma 90", "_cell_length_a 2.84752\n_cell_length_b 2.84752\n_cell_length_c 2.84752\n"
    "_cell_angle_alpha 60\n_cell_angle_beta 60\n_cell_angle_gamma 60").replace("_cell_formula_units_Z 4", "_cell_formula_units_Z 1")


def test_a_p1_structure_in_another_cell_is_read_in_its_groups_standard_cell(write_cif, monkeypatch):
    """A primitive cell of a centred lattice, or atoms at another origin, have the symmetry of a group whose operators
    in that cell are no tabulated setting. Read in P 1 the cell refines as triclinic (LiF's a and α correlated 0.99 on
    the demo pattern); moved to the group's standard cell it refines with the group's constraints. The powder pattern
    per unit volume is the same."""
    from xrdq.crystal import cif

    assert "P 1" in LIF_PRIMITIVE and "_cell_angle_alpha 60" in LIF_PRIMITIVE
    ph = read_cif(write_cif(LIF_PRIMITIVE, "primitive"))
    assert ph.space_group == "F m -3 m" and ph.cell == pytest.approx((4.027, 4.027, 4.027, 90, 90, 90), rel=1e-4)
    assert [(s.label, s.multiplicity) for s in ph.sites] == [("Li1", 4), ("F1", 4)]
    assert ph.z == 4 and ph.formula == read_cif(write_cif(LIF)).formula and ph.composition == pytest.approx({"Li": 4.0, "F": 4.0})
    assert [s.b_iso for s in ph.sites] == pytest.approx([1.0, 0.8])  # each site keeps the given atom's B
    note = next(n for n in ph.notes if "standard cell" in n)
    assert "symmetry of F m -3 m" in note and "4× the volume" in note and "Miller indices" in note
    assert not any("cell contents" in n for n in ph.notes)  # Z is the CIF's 1, for its own cell
    # rutile with every atom moved by the same vector: P 42/m n m at another origin
    shifted = _shifted(RUTILE_P1, (0.1, 0.2, 0.3))
    rutile = read_cif(write_cif(shifted, "shifted"))
    assert rutile.space_group == "P 42/m n m" and rutile.z == 2 and rutile.cell == pytest.approx(
        (4.5937, 4.5937, 2.9587, 90, 90, 90), rel=1e-6)
    monkeypatch.setattr(cif, "_symmetry_of_p1", _stays_p1)
    for moved, text in ((ph, LIF_PRIMITIVE), (rutile, shifted)):
        p1 = read_cif(write_cif(text + "\n", "as_p1"))
        assert p1.space_group == "P 1" and p1.cell_mass * moved.z == pytest.approx(moved.cell_mass * p1.z, rel=1e-9)
        mine, theirs = _pattern_of(moved), _pattern_of(p1)
        assert len(mine) == len(theirs)
        assert np.array(mine) == pytest.approx(np.array(theirs), rel=1e-6)


def _shifted(text: str, by) -> str:
    """``text`` (RUTILE_P1's atom rows) with every atom moved by ``by`` (fractional)."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 7 and parts[0] in ("Ti4+", "O2-"):
            xyz = [f"{(float(v) + d) % 1.0:.6f}" for v, d in zip(parts[2:5], by)]
            line = "  " + "  ".join(parts[:2] + xyz + parts[5:])
        out.append(line)
    return "\n".join(out) + "\n"


def test_a_p1_structure_keeps_only_the_symmetry_it_has(write_cif):
    moved = read_cif(write_cif(RUTILE_P1.replace("O4  0.3048  0.3048", "O4  0.3058  0.3048"), "moved"))  # 5 mÅ
    assert moved.space_group != "P 42/m n m" and moved.composition == pytest.approx({"Ti": 2.0, "O": 4.0})
    # anisotropic displacements are given on the CIF's axes: the primitive LiF with them is not moved to another cell
    aniso = LIF_PRIMITIVE + ANISO_U_LOOP + """Li1 0.012 0.012 0.012 0.002 0.002 0.002
"""
    ph = read_cif(write_cif(aniso, "primitive_aniso"))
    assert ph.space_group == "P 1" and ph.z == 1
    assert any("have the symmetry of Fm-3m (No. 225) in another cell or origin; read in P 1 (its anisotropic "
               "displacements are given on the CIF's axes)" in n for n in ph.notes)
    # a mixed site (Zr 0.7 + Al 0.3 on one position): spglib would take two whole atoms there; left in P 1, unjudged
    mixed = RUTILE_P1.replace("Ti4+  Ti1  0.0  0.0  0.0  1.0 0.006", "Ti4+  Ti1  0.0  0.0  0.0  0.7 0.006\n"
                              "  Zr4+  Zr1  0.0  0.0  0.0  0.3 0.006")
    ph = read_cif(write_cif(mixed, "mixed"))
    assert ph.space_group == "P 1" and not any("symmetry of" in n for n in ph.notes)
    assert ph.composition == pytest.approx({"Ti": 1.7, "Zr": 0.3, "O": 4.0})


def _lattice(cell) -> np.ndarray:
    """Rows: the cell vectors (Å) of ``cell`` (a along x, b in the xy plane)."""
    a, b, c, al, be, ga = cell
    al, be, ga = np.radians([al, be, ga])
    cx = c * np.cos(be)
    cy = c * (np.cos(al) - np.cos(be) * np.cos(ga)) / np.sin(ga)
    return np.array([[a, 0.0, 0.0], [b * np.cos(ga), b * np.sin(ga), 0.0], [cx, cy, math.sqrt(c * c - cx * cx - cy * cy)]])


def _p1_primitive_text(phase, shift) -> str:
    """``phase`` as the Materials Project's "primitive" download writes a structure: its primitive cell (spglib), every
    atom listed in P 1, here also at another origin (``shift``, fractional)."""
    import spglib

    atoms = phase.atoms
    kinds: dict = {}
    numbers = [kinds.setdefault((el, occ, b), len(kinds) + 1)
               for el, occ, b in zip(atoms.element, atoms.occupancy, atoms.b_iso)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # spglib's deprecation chatter
        lattice, positions, types = spglib.find_primitive((_lattice(phase.cell), atoms.fract, numbers), symprec=1e-4)
    kind_of = {n: k for k, n in kinds.items()}

    def angle(u, v):
        return math.degrees(math.acos(u @ v / (np.linalg.norm(u) * np.linalg.norm(v))))

    lengths = np.linalg.norm(lattice, axis=1)
    angles = (angle(lattice[1], lattice[2]), angle(lattice[0], lattice[2]), angle(lattice[0], lattice[1]))
    rows = "".join(f"{kind_of[t][0]}{i} {kind_of[t][0]} " + " ".join(f"{v:.8f}" for v in (xyz + shift) % 1.0)
                   + f" {kind_of[t][1]:.6f} {kind_of[t][2]:.6f}\n" for i, (xyz, t) in enumerate(zip(positions, types)))
    return ("data_primitive\n_symmetry_space_group_name_H-M 'P 1'\n"
            + "".join(f"_cell_length_{k} {v:.8f}\n" for k, v in zip("abc", lengths))
            + "".join(f"_cell_angle_{k} {v:.8f}\n" for k, v in zip(("alpha", "beta", "gamma"), angles))
            + "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n"
              "_atom_site_fract_z\n_atom_site_occupancy\n_atom_site_B_iso_or_equiv\n" + rows)


@pytest.mark.parametrize("name", ["LiF", "Al2O3", "AlCl3", "TiO2-anatase", "Fe3O4", "ZnO", "LiAlCl4"])
def test_a_bundled_phase_given_as_a_shifted_primitive_p1_cell_reads_as_itself(write_cif, name):
    """Every bundled structure written in its primitive cell, in P 1, at another origin (F-, I-, C- and R-centred
    lattices, both origin choices' groups, a polar axis) reads back in its own group's standard cell: the same
    space-group type, Z formula units of the same mass, and the same powder pattern per unit volume."""
    from reference_patterns import PHASES

    given = read_cif(PHASES / f"{name}.cif")
    shift = np.array([0.137, 0.291, 0.413])
    moved = read_cif(write_cif(_p1_primitive_text(given, shift), f"{name}_primitive"))
    assert moved.sg_number == given.sg_number and moved.z == given.z
    assert moved.cell_mass / moved.z == pytest.approx(given.cell_mass / given.z, rel=1e-6)
    mine, theirs = _pattern_of(given), _pattern_of(moved)
    assert len(mine) == len(theirs)
    # the bundled CIFs give 1/3 as 0.333333 and the like: the standard cell has it exact
    assert np.array(theirs) == pytest.approx(np.array(mine), rel=1e-4)
