"""Refined atomic coordinates: the free coordinates of a site, the structure they move, and a refinement that finds
a displaced structure again (xrdq.crystal.displace, the "xyz" recipe group, the adaptive coordinate candidate).

The refinements here fit patterns xrdq simulated: a test of the machinery. Its accuracy on patterns xrdq did not make
is tests/quant/test_validation.py's (gsas2-structure)."""

import dataclasses

import numpy as np
import pytest

from xrdq.crystal.displace import SiteExpansion
from xrdq.crystal.reflections import structure_factor_squared
from xrdq.crystal.spec import resolve_phase
from xrdq.errors import XrdqQuantError, XrdqRefineError
from xrdq.model.instrument import load_instrument
from xrdq.model.simulate import simulate
from xrdq.refine import default_recipe, load_recipe
from xrdq.refine.fit import Refinement

CU = 1.540593


def _free(name):
    return {(c.label, c.axis): c.direction for c in SiteExpansion(resolve_phase(name)).free_coordinates}


def test_free_coordinates_follow_the_site_symmetry():
    """P-3m1 Li2ZrCl6: Cl1 at (x, 2x, z) refines x and z with y following 2x, Zr1 at (1/3, 2/3, z) only z, Zr3 at the
    origin nothing; a general position (monoclinic ZrO2) all three; LiF (Fm-3m 4a, 4b) none."""
    lzc = _free("Li2ZrCl6")
    assert lzc[("Cl1", "x")] == (1.0, 2.0, 0.0) and lzc[("Cl1", "z")] == (0.0, 0.0, 1.0)
    assert ("Cl1", "y") not in lzc
    assert [k for k in lzc if k[0] == "Zr1"] == [("Zr1", "z")] and not [k for k in lzc if k[0] == "Zr3"]
    assert {k[1] for k in _free("ZrO2-m") if k[0] == "Zr1"} == {"x", "y", "z"}
    assert _free("LiF") == {}


def test_a_polar_axis_keeps_one_coordinate_for_the_origin():
    """P6_3mc ZnO: Zn and O both lie on the polar 3-fold axis at (1/3, 2/3, z). Moving both along c changes no
    intensity, so the heavier atom's z fixes the origin and only O's z is refined (a singular pair otherwise)."""
    assert list(_free("ZnO")) == [("O1", "z")]


@pytest.mark.parametrize("name", ["Li2ZrCl6", "Li3InCl6", "ZrO2-m", "Al2O3"])
def test_moving_a_site_keeps_its_multiplicity_and_zero_moves_nothing(name):
    phase = resolve_phase(name)
    expansion = SiteExpansion(phase)
    refl = phase.reflections(80.0, CU, 10.0)
    np.testing.assert_allclose(structure_factor_squared(refl.hkl, refl.d, expansion.atoms(), CU), refl.f2,
                               rtol=1e-10, atol=1e-9)
    c = expansion.free_coordinates[-1]
    moved = expansion.atoms({c.site: 0.01 * np.asarray(c.direction)})
    assert moved.fract.shape == phase.atoms.fract.shape
    # the moved site's images are still distinct atoms (none fell onto another)
    d = moved.fract[:, None, :] - moved.fract[None, :, :]
    d -= np.rint(d)
    same = np.all(np.abs(d) < 1e-6, axis=2)
    assert same.sum() == len(moved.fract)
    assert not np.allclose(structure_factor_squared(refl.hkl, refl.d, moved, CU), refl.f2, rtol=1e-4)


def _displaced(name, shifts):
    """``name`` with the free coordinates (label, axis) → shift moved: a 'true' structure other than the CIF's."""
    phase = resolve_phase(name)
    expansion = SiteExpansion(phase)
    moves = {}
    for c in expansion.free_coordinates:
        if (c.label, c.axis) in shifts:
            moves[c.site] = moves.get(c.site, 0.0) + shifts[(c.label, c.axis)] * np.asarray(c.direction)
    sites = tuple(dataclasses.replace(s, fract=tuple(np.asarray(s.fract) + moves.get(i, 0.0)))
                  for i, s in enumerate(phase.sites))
    return dataclasses.replace(phase, sites=sites, atoms=expansion.atoms(moves))


@pytest.fixture(scope="module")
def displaced_pattern():
    shifts = {("Cl1", "x"): 0.012, ("Cl2", "z"): -0.02, ("Zr1", "z"): 0.015}
    true = _displaced("Li2ZrCl6", shifts)
    pattern, _ = simulate([("LiF", 0.5), (true, 0.5)], seed=3, two_theta=(10.0, 80.0, 0.02))
    return pattern, shifts


def _fit(pattern, recipe):
    phases = [resolve_phase("LiF"), resolve_phase("Li2ZrCl6")]
    ref = Refinement(pattern.two_theta.values, pattern.values, pattern.esd.values, phases, load_instrument("miniflex600"),
                     recipe=recipe)
    return ref, ref.run()


def test_refined_coordinates_find_a_displaced_structure(displaced_pattern):
    """Simulated from Li2ZrCl6 with three coordinates moved by 0.012–0.02 (0.1–0.2 Å): refined, each comes back to
    within 0.004 of its true value and the 50:50 mixture to 0.5 wt%; held at the CIF's, the fit is visibly worse.
    Li is held."""
    pattern, shifts = displaced_pattern
    ref, res = _fit(pattern, default_recipe(adaptive=False, coordinates=("Li2ZrCl6",)))
    cif = {(c.label, c.axis): c.value for c in SiteExpansion(resolve_phase("Li2ZrCl6")).free_coordinates}
    for (label, axis), shift in shifts.items():
        value, esd = res.parameters[f"Li2ZrCl6_{label}_{axis}"]
        assert value == pytest.approx(cif[(label, axis)] + shift, abs=0.004) and esd > 0
    # every free coordinate but Li's (too light for X-rays to place)
    assert set(ref.coordinate_parameters["Li2ZrCl6"]) == {f"Li2ZrCl6_{k[0]}_{k[1]}" for k in cif if k[0][:2] != "Li"}
    m = {n: res.scales[n][0] * res.phase_info[n]["cell_mass"] * res.phase_info[n]["volume"] for n in res.phase_names}
    assert m["Li2ZrCl6"] / sum(m.values()) == pytest.approx(0.5, abs=0.005)
    _, held = _fit(pattern, default_recipe(adaptive=False))
    assert held.gof > 1.2 * res.gof


def test_the_adaptive_recipe_tests_the_coordinates_and_records_it(displaced_pattern):
    pattern, _ = displaced_pattern
    ref, res = _fit(pattern, default_recipe(coordinate_candidates=("Li2ZrCl6",)))
    accepted = [d for d in res.decisions if d["term"] == "atomic coordinates Li2ZrCl6"]
    assert accepted and accepted[-1]["accepted"], res.decisions
    assert ref.coordinate_parameters["Li2ZrCl6"]


def test_coordinates_are_not_refined_where_the_data_do_not_ask():
    """The CIF's own structure, simulated: the coordinate candidate is tested and left out."""
    pattern, _ = simulate([("LiF", 0.5), ("Li2ZrCl6", 0.5)], seed=4, two_theta=(10.0, 80.0, 0.02))
    ref, res = _fit(pattern, default_recipe(coordinate_candidates=("Li2ZrCl6",)))
    tested = [d for d in res.decisions if d["term"] == "atomic coordinates Li2ZrCl6"]
    assert tested and not any(d["accepted"] for d in tested)
    assert ref.coordinate_parameters == {}
    assert not any(k.startswith("Li2ZrCl6_Cl") and not np.isnan(e) and e > 0 for k, (_, e) in res.parameters.items())


def test_recipe_file_names_coordinates(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('coordinates = ["Li2ZrCl6"]\n[[stage]]\nname = "all"\nrefine = ["cell", "xyz"]\n')
    assert load_recipe(path).coordinates == ("Li2ZrCl6",)
    path.write_text('coordinates = "Li2ZrCl6"\n[[stage]]\nname = "all"\nrefine = ["cell"]\n')
    with pytest.raises(XrdqRefineError, match=r"r\.toml.*coordinates.*list of phase names"):
        load_recipe(path)


def test_quantify_refuses_coordinates_of_a_phase_it_does_not_have():
    import xrdq

    pattern, _ = simulate([("LiF", 0.5), ("LiCl", 0.5)], seed=1)
    with pytest.raises(XrdqQuantError, match="refined coordinates given for 'Li2ZrCl6'"):
        xrdq.quantify(pattern, phases=["LiCl"], standard="LiF=0.5", coordinates=["Li2ZrCl6"],
                      model_uncertainty="off")


def test_command_line_and_manifest_say_which_coordinates():
    """--refine-coordinates PHASE (repeatable) forces them, 'none' forbids even the test; not given, quantify's
    default ("auto": the adaptive test of an approximate CIF's) stands — an empty list is not 'none'."""
    from xrdq.settings import settings_from_values

    assert "coordinates" not in settings_from_values({"refine_coordinates": ()})
    assert settings_from_values({"refine_coordinates": ["none"]})["coordinates"] == ()
    assert settings_from_values({"refine_coordinates": ["Li2ZrCl6", "LiCl"]})["coordinates"] == ("Li2ZrCl6", "LiCl")
    with pytest.raises(XrdqQuantError, match="'none' cannot be given with phase names"):
        settings_from_values({"refine_coordinates": ["none", "LiCl"]})


def test_the_structure_note_says_what_was_done_with_the_coordinates():
    """An approximate CIF's coordinates tested and not warranted (the CIF's own structure, simulated) are said to have
    been tested; refined (forced), the note says how many and that Li was held."""
    import xrdq

    pattern, _ = simulate([("LiF", 0.5), ("Li2ZrCl6", 0.5)], seed=4, two_theta=(10.0, 80.0, 0.02))
    tested = xrdq.quantify(pattern, phases=["Li2ZrCl6"], standard="LiF=0.5", model_uncertainty="off")
    note = next(w for w in tested.warnings if w.startswith("structure of Li2ZrCl6"))
    assert "an approximate model" in note and "was tested, and the data did not warrant it" in note
    forced = xrdq.quantify(pattern, phases=["Li2ZrCl6"], standard="LiF=0.5", model_uncertainty="off",
                           coordinates=["Li2ZrCl6"])
    note = next(w for w in forced.warnings if w.startswith("structure of Li2ZrCl6"))
    assert "the 8 coordinates its sites' symmetry leaves free were refined" in note and "Li held" in note
    assert "Li2ZrCl6_Cl1_x" in forced.refinement.parameters
    none = xrdq.quantify(pattern, phases=["Li2ZrCl6"], standard="LiF=0.5", model_uncertainty="off", coordinates=())
    assert "Li2ZrCl6_Cl1_x" not in none.refinement.parameters
    assert not any(d["term"].startswith("atomic coordinates") for d in none.refinement.decisions)


def test_occupancy_pairs_hold_the_composition():
    """Zr over the two partly occupied 2d sites of Li2ZrCl6 (Zr3, full, is left alone), In over In1/In2 of Li3InCl6
    (multiplicities 2 and 4): the second site's occupancy follows the first's so that the element's number per cell,
    and with it the phase's mass, stays the CIF's; the range keeps both within 0–1."""
    pairs = {q.label: q for q in SiteExpansion(resolve_phase("Li2ZrCl6")).occupancy_pairs}
    assert set(pairs) == {"Li1/Li2", "Zr1/Zr2"}
    lic = resolve_phase("Li3InCl6")
    (pair,) = [q for q in SiteExpansion(lic).occupancy_pairs if q.element == "In"]
    assert pair.ratio == pytest.approx(0.5) and pair.low == 0.0 and pair.high == 1.0
    a, b = lic.sites[pair.first], lic.sites[pair.second]
    expansion = SiteExpansion(lic)
    atoms = expansion.atoms(occupancies={pair.first: a.occupancy + 0.1, pair.second: b.occupancy - pair.ratio * 0.1})
    n_in = lambda at: sum(o for o, e in zip(at.occupancy, at.element) if e == "In")  # noqa: E731
    assert n_in(atoms) == pytest.approx(n_in(lic.atoms), rel=1e-12)


def test_a_redistributed_cation_is_found_again():
    """Simulated with Zr1/Zr2 at 0.85/0.15 instead of the CIF's 0.566/0.434: the adaptive recipe accepts the site
    occupancies, refines Zr1 to within 0.03 of 0.85, and the coordinates are left as the CIF has them."""
    phase = resolve_phase("Li2ZrCl6")
    expansion = SiteExpansion(phase)
    (pair,) = [q for q in expansion.occupancy_pairs if q.element == "Zr"]
    occ = {pair.first: 0.85, pair.second: phase.sites[pair.second].occupancy - pair.ratio * (0.85 - pair.value)}
    sites = tuple(dataclasses.replace(s, occupancy=occ.get(i, s.occupancy)) for i, s in enumerate(phase.sites))
    true = dataclasses.replace(phase, sites=sites, atoms=expansion.atoms(occupancies=occ))
    pattern, _ = simulate([("LiF", 0.5), (true, 0.5)], seed=5, two_theta=(10.0, 80.0, 0.02))
    ref, res = _fit(pattern, default_recipe(coordinate_candidates=("Li2ZrCl6",)))
    accepted = {d["term"] for d in res.decisions if d["accepted"]}
    assert "site occupancies Li2ZrCl6" in accepted
    assert res.parameters["Li2ZrCl6_Zr1_occ"][0] == pytest.approx(0.85, abs=0.03)
    assert ref.occupancy_parameters == {"Li2ZrCl6": ["Li2ZrCl6_Zr1_occ"]}
    m = {n: res.scales[n][0] * res.phase_info[n]["cell_mass"] * res.phase_info[n]["volume"] for n in res.phase_names}
    assert m["Li2ZrCl6"] / sum(m.values()) == pytest.approx(0.5, abs=0.005)


def test_the_gsas2_mirror_carries_the_refined_structure(displaced_pattern):
    """What the native refinement refined of a structure is handed to GSAS-II by site: the atoms whose coordinates
    moved (X flags; Li held stays out) and the occupancy pairs (pure data: no GSAS-II needed)."""
    from xrdq.engines.gsas2.mirror import mirror_recipe

    pattern, _ = displaced_pattern
    ref, res = _fit(pattern, default_recipe(coordinate_candidates=("Li2ZrCl6",)))
    structure = mirror_recipe(res).steps[-1]["structure"]
    assert set(structure) == {"Li2ZrCl6"}
    assert set(structure["Li2ZrCl6"]["atoms"]) == {"Zr1", "Zr2", "Cl1", "Cl2", "Cl3"}
    assert all(pair != ("Li1", "Li2") for pair in structure["Li2ZrCl6"]["pairs"])
    _, plain = _fit(pattern, default_recipe())
    assert "structure" not in mirror_recipe(plain).steps[-1]


def test_site_labels_that_make_the_same_name_get_parameters_of_their_own():
    """Cl1' and Cl1_ both read as the identifier Cl1_: the second site gets its number, so neither parameter
    overwrites the other."""
    from xrdq.refine.objective import _site_tags

    phase = resolve_phase("Li2ZrCl6")
    sites = list(phase.sites)
    sites[5] = dataclasses.replace(sites[5], label="Cl1'")
    sites[6] = dataclasses.replace(sites[6], label="Cl1_")
    tags = _site_tags(dataclasses.replace(phase, sites=tuple(sites)))
    assert tags["Cl1'"] == "Cl1_" and tags["Cl1_"] == "Cl1__7" and len(set(tags.values())) == len(sites)
