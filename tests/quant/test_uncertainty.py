"""The model-uncertainty ensemble: variants re-solve the converged fit; u = √(esd² + u_model²)."""

import numpy as np
import pytest

import xrdq
from xrdq.errors import XrdqError
from xrdq.model.simulate import simulate
from xrdq.quant.uncertainty import _linear_variant, model_uncertainty, quantities, recipe_variants


@pytest.fixture(scope="module")
def result():
    pattern, _ = simulate([("LiF", 0.5), ("LiCl", 0.15), ("Li2ZrCl6", 0.1)], amorphous=0.25, standard="LiF", seed=11,
                          displacement_um=40.0, size_nm={"LiCl": 50.0, "Li2ZrCl6": 35.0})
    return xrdq.quantify(pattern, phases=["LiCl", "Li2ZrCl6"], standard=("LiF", 0.5), model_uncertainty="full")


def _scales(res):
    return np.array([res.refinement.scales[n][0] for n in res.refinement.phase_names])


def test_the_unchanged_linear_model_reproduces_the_fit(result):
    fit = result.refinement.fit
    v = _linear_variant(fit, fit._values(), "same")
    np.testing.assert_allclose(v.scales, _scales(result), rtol=1e-9)


def test_quantities_reproduce_the_reported_fractions(result):
    ref = result.refinement
    q = quantities(_scales(result), ref.phase_names, ref.phase_info, standard=("LiF", 0.5))
    assert q["amorphous"] == pytest.approx(result.amorphous_fraction[0], abs=1e-12)
    assert q["sample:LiCl"] == pytest.approx(result.sample_fractions["LiCl"][0], abs=1e-12)


def test_every_variant_moves_something_and_is_logged(result):
    variants = recipe_variants(result.refinement.fit, "full")
    names = [v.name for v in variants]
    assert any("background" in n for n in names) and any("2θ from" in n for n in names)
    assert any(v.kind == "nonlinear" for v in variants)
    used = [v for v in variants if v.scales is not None]
    assert any(not np.allclose(v.scales, _scales(result), rtol=1e-6) for v in used)
    log = result.provenance["model_uncertainty"]["variants"]
    assert any(e["variant"].startswith("microabsorption") for e in log)


def test_uncertainty_combines_esd_and_model_term(result):
    u, esd = result.uncertainty["amorphous"], result.amorphous_fraction[1]
    u_model = result.model_uncertainty["amorphous"]
    assert u_model > 0 and u == pytest.approx(np.hypot(esd, u_model))
    assert result.to_dict()["amorphous_fraction_uncertainty"] == pytest.approx(u)


def test_off_leaves_the_esd_and_fast_is_a_subset_of_full(result):
    ref = result.refinement
    u_off, log_off = model_uncertainty(ref, _scales(result), standard=("LiF", 0.5), level="off")
    assert log_off == [] and all(v == 0.0 for v in u_off.values())
    u_fast, log_fast = model_uncertainty(ref, _scales(result), standard=("LiF", 0.5), level="fast")
    u_full, log_full = model_uncertainty(ref, _scales(result), standard=("LiF", 0.5), level="full")
    assert {e["variant"] for e in log_fast} < {e["variant"] for e in log_full}
    assert all(u_full[k] >= 0.5 * u_fast[k] for k in u_fast)  # the same components, B converged further


def test_a_bad_level_is_a_clear_error():
    with pytest.raises(XrdqError, match="model_uncertainty must be"):
        xrdq.quantify(simulate([("LiF", 0.5)], amorphous=0.5, standard="LiF", seed=1)[0], model_uncertainty="some")


def test_a_refinement_xrdq_cannot_re_solve_says_its_u_lacks_the_recipe_variants(result):
    """An engine without a native fit (GSAS-II) gets the microabsorption term only: the log says so instead of
    leaving the recipe variants silently out."""
    import copy

    ref = copy.copy(result.refinement)
    ref.fit, ref.engine = None, "gsas2"
    u, log = model_uncertainty(ref, _scales(result), standard=("LiF", 0.5), level="full")
    assert [e["variant"][:15] for e in log] == ["microabsorption", "recipe variants"]
    assert "gsas2 engine" in log[1]["left_out"] and u["amorphous"] > 0
    _, native = model_uncertainty(result.refinement, _scales(result), standard=("LiF", 0.5), level="fast")
    assert not any(e["variant"].startswith("recipe variants") for e in native)


def _two_phase_fit(factors, seed):
    """A stand-in for a converged fit: two phases of Gaussian lines (four and five), a flat background, Poisson
    counts; phase A's four lines scaled by ``factors`` in the data (particle statistics, texture), not the model."""
    from types import SimpleNamespace

    tt = np.linspace(10.0, 80.0, 7001)

    def lines(centres):
        return np.stack([np.exp(-0.5 * ((tt - c) / 0.05) ** 2) for c in centres], axis=1)

    pa, pb = lines([20, 35, 50, 65]), lines([25, 40, 55, 70, 75])
    y = np.random.default_rng(seed).poisson(1000 * pa @ np.asarray(factors) + 800 * pb.sum(1) + 50).astype(float)
    a = np.column_stack([pa.sum(1), pb.sum(1), np.ones_like(tt)])
    sqrt_w = 1 / np.sqrt(np.maximum(y, 1.0))
    return SimpleNamespace(_values=dict, design_matrix=lambda values: a, observed=y, sqrt_w=sqrt_w, params={},
                           two_theta=tt, instrument=SimpleNamespace(wavelengths=((1.540593, 1.0),)),
                           solve_linear=lambda m: np.linalg.lstsq(m * sqrt_w[:, None], y * sqrt_w, rcond=None)[0],
                           phases=[SimpleNamespace(name="A"), SimpleNamespace(name="B")])


def test_reflection_scatter_sees_lines_that_disagree_beyond_their_noise():
    """Phase A's lines off by ±10–15 % (what a coarse, unground standard does): its scale is known only to the
    standard error of their mean, ≈ 7 %, which the counting esd (≈ 0.5 %) does not hold. Phase B, whose lines
    agree, gets nothing; nor does A when its lines agree."""
    from xrdq.quant.uncertainty import reflection_scatter

    found = reflection_scatter(_two_phase_fit([1.15, 0.85, 1.10, 0.90], seed=1))
    excess, birge, windows, p = found["A"]
    assert windows == 4 and birge > 5 and 0.03 < excess < 0.10 and p < 1e-6, found
    assert found["B"][0] < 0.005, found
    agree = reflection_scatter(_two_phase_fit([1.0, 1.0, 1.0, 1.0], seed=2))
    assert agree["A"][0] < 0.005 and agree["B"][0] < 0.005 and 0.3 < agree["A"][1] < 2.0, agree
    assert agree["A"][3] > 1e-3 and agree["B"][3] > 1e-3, agree  # nothing beyond chance


def test_the_reflection_scatter_is_worked_out_once_per_converged_fit(monkeypatch):
    """The uncertainty's scatter variants and the verdict's standard check read the same scatter: computed once for
    a fit's parameters, and again when they change."""
    from xrdq.quant import uncertainty

    calls = []
    real = uncertainty._scatter_of
    monkeypatch.setattr(uncertainty, "_scatter_of", lambda fit, values: calls.append(1) or real(fit, values))
    pattern, _ = simulate([("LiF", 0.5), ("LiCl", 0.3)], amorphous=0.2, standard="LiF", seed=3)
    res = xrdq.quantify(pattern, phases=["LiCl"], standard=("LiF", 0.5), model_uncertainty="fast")
    assert len(calls) == 1
    fit = _two_phase_fit([1.15, 0.85, 1.10, 0.90], seed=1)
    first = uncertainty.reflection_scatter(fit)
    assert uncertainty.reflection_scatter(fit) == first and len(calls) == 2
    fit._values = lambda: {"moved": 1.0}
    uncertainty.reflection_scatter(fit)
    assert len(calls) == 3 and res.verdict


def test_real_reflections_that_disagree_widen_u(shared_data):
    """CPD-1B: corundum's strong lines disagree with its structure model beyond their counting noise (Birge ratio
    ≈ 7.5); the ensemble carries that as one more component, logged with its shift."""
    res = xrdq.quantify(shared_data / "qpa" / "cpd1" / "CPD-1B.xye", phases=["Al2O3", "ZnO", "CaF2"], standard=None,
                        instrument="cpd-pw3020", two_theta_range=(15.0, 145.0), model_uncertainty="fast")
    log = {e["variant"].split(" (")[0]: e for e in res.provenance["model_uncertainty"]["variants"]}
    assert "reflection scatter of Al2O3" in log and log["reflection scatter of Al2O3"]["largest_shift"] > 0


def test_scatter_of_unequal_lines_is_a_random_effect_of_each_line():
    """A wrong structure model errs each reflection's intensity by a share of itself, whatever its counts. With a few
    strong lines carrying the scale, the scale's error beyond its esd is τ/√n_eff, not Birge's √((B² − GoF²)/ΣW),
    which counts every window as one: over 4000 draws of eight windows with weights spanning 700× (n_eff 2.3) and 4 %
    relative errors, the estimate's RMS matches the weighted mean's actual extra scatter (Birge's gave 0.44 of it).
    With equal weights the two are the same."""
    from xrdq.quant.uncertainty import _excess_of_mean

    rng = np.random.default_rng(0)
    w, tau = np.array([4000.0, 1500, 600, 250, 100, 40, 15, 6]), 0.04
    estimates = []
    for _ in range(4000):
        r = tau * rng.normal(size=w.size) + rng.normal(size=w.size) / np.sqrt(w)
        b2 = np.sum(w * (r - np.sum(w * r) / w.sum()) ** 2) / (w.size - 1)
        estimates.append(_excess_of_mean(w, b2, 1.0))
    actual = tau * np.sqrt(np.sum(w**2)) / w.sum()
    assert 0.9 < np.sqrt(np.mean(np.square(estimates))) / actual < 1.15
    equal = np.full(5, 300.0)
    assert _excess_of_mean(equal, 4.0, 1.21) == pytest.approx(np.sqrt((4.0 - 1.21) / equal.sum()), rel=1e-12)
    assert _excess_of_mean(equal, 1.0, 1.21) == 0.0  # no more scatter than the noise: nothing beyond the esd


def test_a_sample_phase_whose_lines_disagree_gets_a_note_the_standard_its_own():
    """The sample phase A's lines 10–15 % off (a structure model's wrong coordinates do that): a note names it and
    what narrows it; B, whose lines agree, gets none; a standard's disagreement is :func:`check_standard_lines`'s."""
    from xrdq.quant.verdict import check_phase_lines

    fit = _two_phase_fit([1.15, 0.85, 1.10, 0.90], seed=1)
    (note,) = check_phase_lines(fit, {"phase": "B", "weighed_fraction": 0.5})
    assert note.level == "ok" and note.reason.startswith("A's 4 line groups") and "Birge ratio" in note.reason
    assert "structure" in note.reason and "CIF refined for this phase" in note.reason
    assert check_phase_lines(fit, {"phase": "A", "weighed_fraction": 0.5}) == []
    assert len(check_phase_lines(fit, None)) == 1 and check_phase_lines(None, None) == []
    assert check_phase_lines(_two_phase_fit([1.0, 1.0, 1.0, 1.0], seed=2), None) == []


def test_a_standard_whose_lines_disagree_gets_a_note_saying_why_and_what_helps():
    from xrdq.quant.verdict import check_standard_lines

    fit = _two_phase_fit([1.15, 0.85, 1.10, 0.90], seed=1)
    (note,) = check_standard_lines(fit, {"phase": "A", "weighed_fraction": 0.5})
    assert note.level == "ok" and "Birge ratio" in note.reason and "grind it finer" in note.reason
    assert "misfit of another phase under its lines" in note.reason  # a wrong sample structure spills onto it
    assert check_standard_lines(fit, {"phase": "B", "weighed_fraction": 0.5}) == []  # its lines agree
    assert check_standard_lines(fit, None) == [] and check_standard_lines(None, {"phase": "A"}) == []


def test_a_coarse_standard_widens_u_and_is_named():
    """The main job with an unground LiF: its lines 5–12 % off in the data, as particle statistics leave them. A
    self-consistency check on xrdq's own simulation (the mechanism, not accuracy): u grows by the scatter, the
    amorphous error stays inside it, and the note names the standard. The lines' factors alternate (111, 220 up;
    200, 311 down), which no March–Dollase texture of a cubic phase gives (about <100>, 111 and 220 go one way and
    200 and 311 the other, for r on either side of 1): a texture-like scatter is taken as texture."""
    pattern, truth = simulate([("LiF", 0.5), ("LiCl", 0.15), ("Li2ZrCl6", 0.1)], amorphous=0.25, standard="LiF",
                              seed=None, size_nm={"LiCl": 50.0, "Li2ZrCl6": 35.0})
    kw = dict(phases=["LiCl", "Li2ZrCl6"], standard=("LiF", 0.5), model_uncertainty="fast")
    lif = xrdq.quantify(pattern, **kw).refinement.components["LiF"]
    on = lif > 0.02 * lif.max()
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(on.astype(int))) + 1, [lif.size]])
    y = pattern.values.copy()
    for (lo, hi), f in zip([(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if on[a]], [1.08, 0.92, 1.10, 0.93]):
        y[lo:hi] += (f - 1.0) * lif[lo:hi]
    results = []
    for counts in (pattern.values, y):
        noisy = np.random.default_rng(2).poisson(np.maximum(counts, 0.0)).astype(float)
        p = pattern.copy(data=noisy).assign_coords(esd=("two_theta", np.sqrt(np.maximum(noisy, 1.0))))
        results.append(xrdq.quantify(p, **kw))
    clean, coarse = results
    assert coarse.uncertainty["amorphous"] > 1.2 * clean.uncertainty["amorphous"]
    assert abs(coarse.amorphous_fraction[0] - truth["amorphous_fraction"]) <= 2 * coarse.uncertainty["amorphous"]
    assert any("standard LiF's" in w and "grind it finer" in w for w in coarse.warnings), coarse.warnings
    assert not any("line groups" in w for w in clean.warnings)


def test_one_reflections_k_alpha_doublet_is_one_window():
    """At high angle Kα1 and Kα2 of one reflection part (LiF 222: 78.7 and 78.9°); as two windows they would agree
    by construction and dilute the Birge ratio. Ranges closer than the doublet's separation merge; lines further
    apart do not, nor does a single-wavelength instrument's pair."""
    from xrdq.quant.uncertainty import _line_windows

    tt = np.arange(70.0, 85.0, 0.01)
    lines = sum(h * np.exp(-0.5 * ((tt - c) / 0.03) ** 2) for c, h in [(72.0, 1.0), (78.70, 1.0), (78.94, 0.5),
                                                                       (80.5, 1.0)])
    cu = (1.544414 - 1.540593) / 1.540593
    assert len(_line_windows(lines, tt, cu)) == 3
    assert len(_line_windows(lines, tt, 0.0)) == 4


EXPECTED = __import__("pathlib").Path(__file__).resolve().parents[2] / "reference_patterns" / "validation" / "gsas2-expected"


def test_phases_not_detected_are_a_modelling_choice_in_u(tmp_path):
    """A fully amorphous GSAS-II sample (only the 10 % LiF spike crystalline) with LiCl and Li3YCl6 declared: in
    this Poisson draw both come out 2–2.4 esd negative, which puts the amorphous fraction 0.05 wt% above 100 % at
    3 esd. Whether to keep a phase with no peaks is a modelling choice: the variant without them must be in u, so
    that a right answer (100.05 for 100) is not failed as unphysical, and u must cover the shift it makes."""
    import json

    truth = json.loads((EXPECTED / "lyc_a100_ws10.truth.json").read_text())
    d = np.loadtxt(EXPECTED / "lyc_a100_ws10.xye")
    y = np.random.default_rng(1023).poisson(d[:, 1]).astype(float)
    f = tmp_path / "lyc_a100_ws10.xye"
    np.savetxt(f, np.column_stack([d[:, 0], y, np.sqrt(np.maximum(y, 1.0))]), fmt="%.4f %.0f %.4f")
    phases = [f"{n}={EXPECTED.parents[1] / 'phases' / f'{n}.cif'}" for n in ("LiCl", "Li3YCl6")]  # the glass's candidates
    std = truth["standard"]
    w_s, purity = float(std["weighed_fraction"]), float(std.get("purity", 1.0))
    res = xrdq.quantify(f, phases=phases, standard=("LiF", w_s), purity=purity, instrument="miniflex600",
                        model_uncertainty="fast")
    variants = recipe_variants(res.refinement.fit, "fast")
    gone = [v for v in variants if v.name.startswith("not-detected phases left out")]
    assert len(gone) == 1 and "LiCl" in gone[0].name and "Li3YCl6" in gone[0].name
    names = res.refinement.phase_names
    assert all(gone[0].scales[names.index(n)] == 0.0 for n in ("LiCl", "Li3YCl6"))
    assert gone[0].scales[names.index("LiF")] > 0
    a, esd = res.amorphous_fraction
    shift = quantities(gone[0].scales, names, res.refinement.phase_info, standard=("LiF", w_s),
                       purity=purity)["amorphous"] - a
    assert a > 1.0 + 2 * esd  # the draw this test is about: above 100 % beyond its counting esd
    assert abs(shift) > 2 * esd and res.uncertainty["amorphous"] >= abs(shift)
    assert res.verdict != "fail" and abs(a - 1.0) < 2 * res.uncertainty["amorphous"]


def test_no_variant_without_phases_that_were_not_detected(result):
    assert not any(v.name.startswith("not-detected") for v in recipe_variants(result.refinement.fit, "fast"))


def test_the_scattering_factor_tables_difference_is_a_member():
    """CeO2 beside LiF: Cromer–Liberman's f′ of Ce (−1.85 e, Chantler's −2.03) gives CeO2 ≈ 0.7 % more intensity per
    mass than LiF (GSAS-II's intensities over xrdq's: 1.0084 and 1.0017, reference_patterns/validation/README.md).
    With the other table CeO2's scale would fall by that much, LiF's refined share rise and the amorphous fraction
    with it: a member of u. A GSAS-II result, whose |F|² are Cromer–Liberman's, is moved the other way."""
    import copy

    from xrdq.quant.uncertainty import table_intensity_ratios

    pattern, _ = simulate([("LiF", 0.3), ("CeO2", 0.3)], amorphous=0.4, standard="LiF", seed=3)
    res = xrdq.quantify(pattern, phases=["CeO2"], standard=("LiF", 0.3), model_uncertainty="fast")
    ratios = table_intensity_ratios(res.refinement.fit)
    assert 0.004 < ratios["CeO2"] - ratios["LiF"] < 0.01 and abs(ratios["LiF"] - 1.0) < 0.003
    label = "scattering factors: Cromer–Liberman"
    entry = next(e for e in res.provenance["model_uncertainty"]["variants"] if e["variant"].startswith(label))
    assert 0.001 < entry["shifts"]["amorphous"] < 0.01  # +0.1 to +1 wt%
    assert res.model_uncertainty["amorphous"] >= entry["shifts"]["amorphous"]
    engine = copy.copy(res.refinement)  # as the GSAS-II engine's result: no fit of its own, decided by the native one
    engine.fit, engine.engine, engine.decided_by = None, "gsas2", res.refinement
    _, log = model_uncertainty(engine, _scales(res), standard=("LiF", 0.3), level="fast")
    reverse = next(e for e in log if e["variant"].startswith(label))
    assert reverse["shifts"]["amorphous"] == pytest.approx(-entry["shifts"]["amorphous"], rel=0.05)


@pytest.fixture(scope="module")
def ceo2_through_g():
    """A CeO2 + amorphous sample quantified through G, and the calibrations behind it: G from pure CeO2 and from
    pure LiF (absolute scales are not the point here, only what moves in the tables' member)."""
    from xrdq.quant.external_standard import calibrate_scale

    sample, _ = simulate([("CeO2", 0.6)], amorphous=0.4, seed=5)
    out = {}
    for cal_phase in ("CeO2", "LiF"):
        pure, _ = simulate([(cal_phase, 1.0)], seed=6)
        g, _ = calibrate_scale(pure, [cal_phase], model_uncertainty="off")
        res = xrdq.quantify(sample, phases=["CeO2"], standard=None, external_standard=g,
                            sample_composition="CeO2:60,SiO2:40", model_uncertainty="fast")
        entry = next(e for e in res.provenance["model_uncertainty"]["variants"]
                     if e["variant"].startswith("scattering factors: Cromer–Liberman"))
        out[cal_phase] = (g, res, entry)
    return out


def test_g_records_its_calibrants_table_ratio(ceo2_through_g, tmp_path):
    from xrdq.quant.external_standard import ScaleCalibration, combine_calibrations

    g_ce, g_lif = ceo2_through_g["CeO2"][0], ceo2_through_g["LiF"][0]
    assert 1.004 < g_ce.anomalous_table_ratio < 1.012 and abs(g_lif.anomalous_table_ratio - 1.0) < 0.003
    assert ScaleCalibration.read(g_ce.write(tmp_path / "g.toml")).anomalous_table_ratio == g_ce.anomalous_table_ratio
    both = combine_calibrations([g_ce, g_lif.__class__(**{**g_lif.__dict__, "G": g_ce.G * 1.01, "sha256": "x"})])
    # the mean of the specimens' G, each moved by its own calibrant's ratio
    moved = np.mean([g_ce.G / g_ce.anomalous_table_ratio, g_ce.G * 1.01 / g_lif.anomalous_table_ratio])
    assert both.anomalous_table_ratio == pytest.approx(both.G / moved, rel=1e-12)


def test_the_tables_member_moves_g_with_its_calibrant(ceo2_through_g):
    """Through G, W_p ∝ S_p/G: under the other table the sample's CeO2 scale falls by 1/ρ(CeO2) and G by the
    calibrant's 1/ρ. Calibrated on CeO2 itself the two cancel; on LiF they do not."""
    g_ce, res_ce, entry_ce = ceo2_through_g["CeO2"]
    g_lif, res_lif, entry_lif = ceo2_through_g["LiF"]
    w = res_lif.sample_fractions["CeO2"][0]
    rho = g_ce.anomalous_table_ratio
    assert abs(entry_ce["shifts"]["sample:CeO2"]) < 1e-4 * w
    assert entry_lif["shifts"]["sample:CeO2"] == pytest.approx(w * (g_lif.anomalous_table_ratio / rho - 1), rel=0.02)
    assert entry_lif["shifts"]["amorphous"] == pytest.approx(-entry_lif["shifts"]["sample:CeO2"], rel=1e-6)
    assert res_ce.to_dict()["external_standard"]["anomalous_table_ratio"] == g_ce.anomalous_table_ratio


def test_a_structure_whose_coordinates_are_noisy_is_a_member():
    """Li3InCl6's bundled CIF says its free coordinates carry noise of σ 0.01 (fractional): what that does to its
    intensity (a few per cent) moves its scale as much, a member of u of its own. A published structure (LiCl) and
    the standard get none."""
    from xrdq.quant.uncertainty import coordinate_intensity_spreads

    pattern, _ = simulate([("LiF", 0.3), ("Li3InCl6", 0.3), ("LiCl", 0.1)], amorphous=0.3, standard="LiF", seed=4)
    res = xrdq.quantify(pattern, phases=["Li3InCl6", "LiCl"], standard=("LiF", 0.3), model_uncertainty="fast")
    spreads = coordinate_intensity_spreads(res.refinement.fit)
    assert set(spreads) == {"Li3InCl6"} and 0.005 < spreads["Li3InCl6"] < 0.05
    entries = [e for e in res.provenance["model_uncertainty"]["variants"] if e["variant"].startswith("structure of")]
    assert [e["variant"].split(":")[0] for e in entries] == ["structure of Li3InCl6"]
    # its scale down by 1 + s: less Li3InCl6 relative to the standard, more amorphous
    x = res.sample_fractions["Li3InCl6"][0]
    assert entries[0]["shifts"]["sample:Li3InCl6"] == pytest.approx(-x * spreads["Li3InCl6"] / (1 + spreads["Li3InCl6"]),
                                                                    rel=1e-6)
    assert entries[0]["shifts"]["amorphous"] == pytest.approx(-entries[0]["shifts"]["sample:Li3InCl6"], rel=1e-6)
    assert res.model_uncertainty["amorphous"] >= entries[0]["shifts"]["amorphous"]
