"""The refinement recovers known parameters from simulated patterns and reports honestly."""

import numpy as np
import pytest

from xrdq.crystal import load_phase
from xrdq.errors import XrdqRefineError
from xrdq.model.instrument import load_instrument
from xrdq.model.simulate import simulate
from xrdq.refine import Stage, default_recipe, load_recipe
from xrdq.refine.fit import Refinement, refine


@pytest.fixture(scope="module")
def two_phase_pattern():
    # noise-free: the fit must land on the truth up to numerical precision of the model
    pattern, truth = simulate([("LiF", 0.6), ("ZnO", 0.4)], displacement_um=60.0, size_nm={"ZnO": 80.0},
                              seed=None, two_theta=(15.0, 90.0, 0.02))
    return pattern, truth


def test_recovers_displacement_cell_and_fractions(two_phase_pattern):
    pattern, truth = two_phase_pattern
    lif = load_phase("LiF").with_cell(a=4.03)  # start off the true cell
    zno = load_phase("ZnO")
    result = refine(pattern, [lif, zno], "miniflex600", recipe=default_recipe(), two_theta_range=(15, 90))
    p = {k: v for k, (v, _) in result.parameters.items()}
    assert result.converged
    assert p["displacement_um"] == pytest.approx(60.0, abs=2.0)
    assert p["LiF_a"] == pytest.approx(load_phase("LiF").cell[0], abs=2e-4)
    assert result.gof < 0.2  # noise-free data: residuals far below the nominal √counts
    zmv = {n: result.phase_info[n]["cell_mass"] * result.phase_info[n]["volume"] for n in result.phase_names}
    m = {n: result.scales[n][0] * zmv[n] for n in result.phase_names}
    assert m["LiF"] / (m["LiF"] + m["ZnO"]) == pytest.approx(0.6, abs=2e-3)


def test_esds_follow_counting_statistics():
    # Ten times the counts should give about √10 smaller scale esds.
    esds = []
    for counts in (2000.0, 20000.0):
        pattern, _ = simulate([("LiF", 0.5), ("ZnO", 0.5)], peak_counts=counts, background=counts / 100, seed=5)
        r = refine(pattern, ["LiF", "ZnO"], "miniflex600")
        esds.append(r.scales["ZnO"][1] / r.scales["ZnO"][0])
    assert esds[0] / esds[1] == pytest.approx(np.sqrt(10), rel=0.25)


def test_absent_phase_is_flagged_not_hidden():
    pattern, _ = simulate([("LiF", 1.0)], seed=1)
    r = refine(pattern, ["LiF", "CaF2"], "miniflex600")
    assert r.scales["CaF2"][0] < 3 * r.scales["CaF2"][1] or any("CaF2" in w for w in r.warnings)


def test_recipe_from_toml(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text(
        'background_terms = 6\nhumps = [[25.0, 8.0]]\n[po]\nZnO = [0, 0, 1]\n'
        '[[stage]]\nname = "s"\nrefine = []\n[[stage]]\nname = "c"\nrefine = ["cell", "po"]\n'
    )
    rec = load_recipe(path)
    assert rec.background_terms == 6 and rec.humps == ((25.0, 8.0),) and rec.po == {"ZnO": (0, 0, 1)}
    assert rec.stages[1] == Stage("c", ("cell", "po")) and rec.size_axes == {}
    path.write_text('[size_axes]\nZnO = [0, 0, 1]\n[[stage]]\nname = "s"\nrefine = ["size", "size_shape"]\n')
    assert load_recipe(path).size_axes == {"ZnO": (0, 0, 1)}
    path.write_text('[size_axes]\nZnO = [0, 0]\n[[stage]]\nname = "s"\nrefine = []\n')
    with pytest.raises(XrdqRefineError, match="three integers"):
        load_recipe(path)


def test_recipe_errors(tmp_path):
    with pytest.raises(XrdqRefineError, match="unknown group"):
        Stage("x", ("cells",))
    path = tmp_path / "r.toml"
    path.write_text("background_terms = 6\n")
    with pytest.raises(XrdqRefineError, match="stage"):
        load_recipe(path)
    path.write_text('[[stage]]\nname = "s"\nrefine = ["cells"]\n')
    with pytest.raises(XrdqRefineError, match=r"r\.toml: recipe stage 's': unknown group"):  # names the file
        load_recipe(path)


def test_too_few_points_is_a_clear_error():
    pattern, _ = simulate([("LiF", 1.0)], seed=1)
    with pytest.raises(XrdqRefineError, match="too few"):
        Refinement(pattern.two_theta.values, pattern.values, pattern.esd.values, [load_phase("LiF")],
                   load_instrument("miniflex600"), two_theta_range=(30.0, 30.2))


def test_preferred_orientation_is_recovered():
    pattern, _ = simulate([("ZnO", 1.0)], seed=None)
    # build a textured pattern with the model itself: r = 0.8 along c
    from xrdq.model.pattern import PhaseModel

    inst = load_instrument("miniflex600")
    zno = load_phase("ZnO")
    model = PhaseModel(zno, inst, (10, 80), po_hkl=(0, 0, 1))
    tt = pattern.two_theta.values
    y = 1e4 / model.profile(tt, model.default_params(), inst).max() * model.profile(
        tt, model.default_params(po_ratio=0.8), inst) + 100.0
    rec = default_recipe(preferred_orientation={"ZnO": (0, 0, 1)})
    r = Refinement(tt, y, np.sqrt(y), [zno], inst, recipe=rec).run()
    assert r.parameters["ZnO_po_ratio"][0] == pytest.approx(0.8, abs=0.01)


def test_hump_shape_derivatives_equal_the_whole_column_difference(two_phase_pattern):
    """Each hump's centre/FWHM derivative is analytic on its own column (the others cannot move): central differences
    of every peak column give the same to their truncation error. A global differenced parameter (asymmetry) is a
    forward difference from the columns at the point, with a tenth of a central step: those numbers bit for bit."""
    pattern, _ = two_phase_pattern
    tt, y = pattern["two_theta"].values, pattern.values
    rec = default_recipe(humps=((25.0, 8.0), (45.0, 12.0), (70.0, 15.0)))
    fit = Refinement(tt, y, np.sqrt(np.maximum(y, 1.0)), [load_phase("LiF"), load_phase("ZnO")],
                     load_instrument("miniflex600"), recipe=rec)
    values = fit._values()
    names = ["hump1_center", "asymmetry", "hump2_fwhm", "hump0_center", "hump0_fwhm"]
    coef = np.array([1.1, 0.7, 300.0, -50.0, 80.0])  # 2 phases, then 3 humps
    d = fit.model_derivatives(values, names, coef)
    from xrdq.refine.transforms import typical_step

    for j, name in enumerate(names):
        h = 1e-2 * typical_step(name, values[name])
        up, dn = dict(values), dict(values)
        if name.startswith("hump"):
            h *= 0.1
            up[name] += h
            dn[name] -= h
            whole = (fit.peak_columns(up) - fit.peak_columns(dn)) @ coef / (2.0 * h)
            assert np.abs(whole).max() > 0, name
            np.testing.assert_allclose(d[:, j], whole, rtol=0, atol=1e-6 * np.abs(whole).max(), err_msg=name)
        else:
            h *= 0.1
            up[name] = values[name] + h
            whole = (fit.peak_columns(up) - fit.peak_columns(values)) @ coef / h
            assert np.any(whole != 0), name
            np.testing.assert_array_equal(d[:, j], whole, err_msg=name)


def test_parameters_that_all_move_together_are_one_note_not_one_per_pair():
    """Zero, displacement and every cell shift peaks almost alike on a 10–80° scan: 15 pair notes said
    nothing 1 group note does not; a pair outside any group keeps its own note."""
    from xrdq.quant.verdict import check_warnings
    from xrdq.refine.diagnostics import correlation_warnings

    names = ["zero", "displacement_um", "A_a", "B_a", "U", "W", "bkg0", "bkg1"]
    corr = np.eye(len(names))
    for i in range(4):
        for j in range(4):
            if i != j:
                corr[i, j] = 0.999
    corr[4, 5] = corr[5, 4] = -0.97
    corr[6, 7] = corr[7, 6] = 0.999  # background terms among themselves: free, not noted
    notes = correlation_warnings(names, corr)
    assert len(notes) == 2, notes
    assert "zero, displacement_um, A_a, B_a (4 parameters)" in notes[0]
    assert notes[1] == "|correlation| 0.970 > 0.95 between U and W"
    assert all(w.level == "ok" for w in check_warnings(notes))
