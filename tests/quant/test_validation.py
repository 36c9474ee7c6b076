"""Accuracy the project promises (docs/validation.md shows the same computation in full).

Accuracy counts only on data xrdq did not generate: the independent set (GSAS-II / xrayutilities
simulations in reference_patterns/validation) and the real CPD patterns. xrdq's own simulated mixtures
are a self-consistency check.
"""

import json
import os
import re
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from xrdq.validation import (BREADTH_FOLDER, INDEPENDENT, STRUCTURE_FOLDER, SYNTHETIC_CASES, XU_STRUCTURE_FOLDER,
                             missing_phase_cases,
                             run_missing_phase_case, coverage, cpd_with_silica, draw_folders,
                             independent_cases,
                             independent_replicates, map_cases, replicate_spread, run_cpd, run_cpd_silica,
                             run_independent, run_independent_case,
                             run_synthetic)

#: the independent sets' cases are independent quantifications: two processes halve this module's wall time on
#: CI's 2 cores (it was ≈ 7 of the suite's 13 minutes)
JOBS = min(2, os.cpu_count() or 1)


@pytest.fixture(scope="module")
def independent_root():
    if not independent_cases(INDEPENDENT):
        pytest.skip(f"independent validation set not found at {INDEPENDENT} (GSAS-II/xrayutilities simulations, "
                    "branch valset): accuracy on data xrdq did not generate cannot be checked")
    return INDEPENDENT


@pytest.fixture(scope="module")
def independent_results(independent_root):
    # default recipe, every case (texture included), nominal miniflex600, the truth's CIFs, W_s and purity
    return run_independent(independent_root, jobs=JOBS)


@pytest.fixture(scope="module")
def independent_replicate_results(independent_root):
    return independent_replicates(independent_root, jobs=JOBS)


def _noise_floor_mae(results):
    """Mean absolute error expected from counting noise alone, given the reported esds: √(2/π)·rms(esd)."""
    esd = np.array([r.esd["amorphous"] for r in results])
    return float(np.sqrt(2.0 / np.pi) * np.sqrt(np.mean(esd**2)))


def _simulated_by(results, simulator):
    return [r for r in results if r.name.startswith(simulator + "/")]


@pytest.mark.slow
def test_independent_set_errors_are_at_the_counting_noise_floor(independent_results):
    # measured 0.308 wt% against a floor of 0.340 from the esds (31 GSAS-II cases, docs/validation.md)
    gsas2 = _simulated_by(independent_results, "gsas2")
    assert len(gsas2) >= 12
    errors = np.array([r.errors()["amorphous"] for r in gsas2])
    table = {r.name: round(100 * e, 2) for r, e in zip(gsas2, errors)}
    assert np.mean(np.abs(errors)) <= 1.25 * _noise_floor_mae(gsas2), table
    assert np.mean(np.abs(errors)) <= 0.005, table


@pytest.mark.slow
def test_xrayutilities_second_opinion(independent_results):
    """Five cases from a second simulator (fundamental-parameters profiles, transparency). Until 2026-11-30 they
    were computed on the 0.02° output grid, where xrayutilities' profiles carry more area per unit reflection
    strength the higher the peak (+12 % from 39° to 79°; reference_patterns/validation/README.md): the errors were
    +0.3, +0.7, +0.8, +1.4, +2.4 wt%, all of one sign. Computed at 0.001° and averaged over each step: +0.01
    (xu_li2o_a10), +0.08, +0.51, +0.76, +2.17 (xu_lac_licl_a30_po). With the instrument's X refined where sizes ran
    to none: MAE 0.37, largest +0.92; with the specimen transparency refined (the simulator's absorption
    convolver): +0.02 (xu_li2o_a10, was +0.44), +0.10, −0.14, −0.22, +0.98 — MAE 0.29. Asserted: no regression."""
    xu = _simulated_by(independent_results, "xrayutilities")
    if not xu:
        pytest.skip("no xrayutilities cases in the independent set")
    errors = {r.name: round(100 * r.errors()["amorphous"], 2) for r in xu}
    assert max(abs(e) for e in errors.values()) <= 1.2, errors
    assert np.mean([abs(e) for e in errors.values()]) <= 0.4, errors


@pytest.mark.slow
def test_no_confident_wrong_number_on_the_independent_set(independent_results):
    """Every amorphous fraction within 2 reported standard uncertainties of the truth, on both simulators.
    Before the cell check (refine.adaptive._cell_check) a 95 %-amorphous case with 1 % LiAlCl4 read
    96.48 ± 0.22 (u): the trace phase's cell had walked 3 % onto the halo's shoulder."""
    z = {r.name: round(r.errors()["amorphous"] / r.uncertainty["amorphous"], 2) for r in independent_results}
    assert max(abs(v) for v in z.values()) <= 2.0, z


#: Further draws of the GSAS-II set (make_independent_set.py --draw TAG: new nuisances, amounts moved), each
#: quantified first with the code as it stood: out-of-sample checks of the default recipe, never tuned on.
DRAWS = tuple(folder for folder, _ in draw_folders())


@pytest.mark.slow
@pytest.mark.parametrize("folder", DRAWS)
def test_a_further_draw_is_at_the_noise_floor_and_within_2u(independent_root, folder):
    """Out of sample, the default recipe's amorphous errors are what counting noise gives (the development
    draw's 0.321 wt% against a floor of 0.340 is no fit to its noise), and none is confidently wrong.
    Measured: gsas2-x8 (8× the counts) MAE 0.134 against a floor of 0.146; gsas2-d1 (the set's own counts,
    made at 735208c) MAE 0.377 against 0.358, largest −2.26 ± 0.92 (d1_lahc_a25: −0.45 of it systematic, the
    rest 1.8 esd of noise); every fraction of both within 2 u."""
    if not independent_cases(independent_root, simulators=(folder,)):
        pytest.skip(f"draw {folder} not found (make_independent_set.py --draw TAG)")
    results = run_independent(independent_root, simulators=(folder,), jobs=JOBS)
    assert len(results) >= 30
    errors = np.array([r.errors()["amorphous"] for r in results])
    table = {r.name: round(100 * e, 2) for r, e in zip(results, errors)}
    assert np.mean(np.abs(errors)) <= 1.25 * _noise_floor_mae(results), table
    z = {(r.name, k): e / r.uncertainty[k] for r in results for k, e in r.errors().items()}
    assert max(abs(v) for v in z.values()) <= 2.0, {k: round(v, 2) for k, v in z.items() if abs(v) > 2}


def _platelets(result, root) -> bool:
    """Whether a breadth case has a phase of uniaxial crystallite size (thin platelets)."""
    folder, case = result.name.split("/")
    truth = json.loads((Path(root) / folder / f"{case}.truth.json").read_text(encoding="utf-8"))
    return any(p.get("uniaxial_size") for p in truth["phases"])


@pytest.fixture(scope="module")
def breadth_results(independent_root):
    if not independent_cases(independent_root, simulators=(BREADTH_FOLDER,)):
        pytest.skip(f"{BREADTH_FOLDER} not found (make_independent_set.py --breadth)")
    results = run_independent(independent_root, simulators=(BREADTH_FOLDER,), jobs=JOBS)
    return results, [r for r in results if _platelets(r, independent_root)]


@pytest.mark.slow
def test_chemistries_and_textures_beyond_the_set_are_at_the_noise_floor_and_within_2u(breadth_results):
    """Magnetite, zircon, brucite with a spherical-harmonics texture (a shape March–Dollase does not have), unreacted
    monoclinic ZrCl4/HfCl4, platy AlCl3, thin platelets (gsas2-breadth, made and first quantified at 7834821 and
    7a40661, not tuned on): the default recipe is as good there as on the set's own chemistries, and no fraction is
    confidently wrong. Measured: the first nine MAE 0.407 wt% against a counting floor of 0.309; all twelve, with the
    uniaxial crystallite size, 0.346 against 0.285 (12 cases: the ratio's own scatter is ≈ 0.22); largest
    −0.77 ± 0.31 (br_cpd2_a00) and +0.77 ± 0.77 (br_zircon_a10)."""
    results, _ = breadth_results
    assert len(results) >= 12
    errors = np.array([r.errors()["amorphous"] for r in results])
    table = {r.name: round(100 * e, 2) for r, e in zip(results, errors)}
    # MAE/floor scatters by ≈ √((π/2 − 1)/n) under counting noise alone, so 1.6 is ≈ 2.5 of that for n = 12
    assert np.mean(np.abs(errors)) <= 1.6 * _noise_floor_mae(results), table
    assert np.max(np.abs(errors)) <= 0.012, table
    z = {(r.name, k): e / r.uncertainty[k] for r in results for k, e in r.errors().items()}
    assert max(abs(v) for v in z.values()) <= 2.0, {k: round(v, 2) for k, v in z.items() if abs(v) > 2}


@pytest.mark.slow
def test_a_phase_left_out_of_the_list_is_never_a_confident_ok(independent_root):
    """Every independent case with two or more sample phases, quantified with its smallest phase (2–50 wt%) left out,
    as a user who forgets one would: the number is then wrong by about that phase's amount, so the verdict must not be
    `ok` — and where it names peaks no phase explains, the amorphous fraction is called an upper bound. Measured
    2026-12-04 on the 30 cases (and on every one of their 62 phases in turn): none `ok`."""
    items = missing_phase_cases(independent_root)
    assert len(items) >= 25
    results = map_cases(run_missing_phase_case, items, JOBS)
    quiet = {r.name: (r.left_out, round(100 * r.left_out_fraction, 1)) for r in results if r.verdict == "ok"}
    assert not quiet, quiet
    for r in results:
        assert r.amorphous > r.truth - 2 * r.uncertainty, (r.name, r.left_out, r.amorphous, r.truth)
        missing = [x for x in r.verdict_reasons if "no phase explains (a phase is probably missing" in x]
        # an upper bound — or, where the value reads below zero (a declared phase took the missing one's peaks), none
        assert all("upper bound" in x if r.amorphous >= 0 else "bounds nothing" in x for x in missing), (r.name, missing)


@pytest.fixture(scope="module")
def structure_results(independent_root):
    """The structure set quantified by default (the coordinates of a phase whose CIF calls them approximate or noisy
    refined) and with every structure held as its CIF has it: (default results, held results, truths)."""
    if not independent_cases(independent_root, simulators=(STRUCTURE_FOLDER,)):
        pytest.skip(f"{STRUCTURE_FOLDER} not found (make_independent_set.py --structure-errors)")
    paths = independent_cases(independent_root, simulators=(STRUCTURE_FOLDER,))
    truths = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
    return (run_independent(independent_root, simulators=(STRUCTURE_FOLDER,), jobs=JOBS),
            run_independent(independent_root, simulators=(STRUCTURE_FOLDER,), jobs=JOBS, coordinates=()), truths)


@pytest.mark.slow
def test_a_structure_model_that_is_not_the_phases_is_held_by_u_and_named(structure_results):
    """GSAS-II patterns simulated from true structures other than the CIFs the fit is given (gsas2-structure: sites
    displaced by σ 0.01–0.03, 2d metal occupancies redistributed, B larger; made and first quantified at 2026-12-04,
    not tuned on), with each structure held as its CIF has it. Errors reach +11.9 wt% amorphous (Li2ZrCl6 displaced by
    σ 0.03, 80 % of the sample): no fraction may be further than 2 u from the truth (largest 1.4 u; 1.8 u with the
    reflection scatter taken as Birge's), and where a displaced or reordered phase's lines disagree with its model
    beyond a few per cent of its scale, the result says which phase."""
    _, results, truths = structure_results
    assert len(results) >= 10
    z = {(r.name, k): e / r.uncertainty[k] for r in results for k, e in r.errors().items()}
    assert max(abs(v) for v in z.values()) <= 2.0, {k: round(v, 2) for k, v in z.items() if abs(v) > 1.5}
    named = 0
    for r, t in zip(results, truths):
        wrong = [n for n, spec in t["true_structures"].items() if spec.get("sigma", 0) >= 0.02 or spec.get("occupancy")]
        named += any(any(w.startswith(f"{n}'s ") and "disagree with its structure model" in w for w in r.warnings)
                     for n in wrong)
    assert named >= 6, [(r.name, [w[:60] for w in r.warnings]) for r in results]


@pytest.mark.slow
def test_refined_coordinates_recover_a_displaced_structure(structure_results):
    """The same set by default: the coordinates of every phase whose CIF calls them approximate or noisy are refined
    (measured 2026-12-04, the day the set was made). Where the true sites are displaced (σ 0.02–0.03) the amorphous
    errors fell from −2.3, +11.9, −0.6, −2.1, +3.4 and +10.7 to −1.1, +1.2, −0.2, −0.9, −0.6 and −0.9 wt%, GoF from
    1.2–3.3 to 1.0–1.24; where the 2d occupancies were redistributed they refine to within 0.01 of the truth (GoF 1.37,
    7.08, 1.71 → 1.06, 1.15, 1.00); over all ten (B is not refined) the MAE from 3.98 to 1.10 wt%. Every fraction stays
    within 2 u, and each result says what was refined."""
    results, held, truths = structure_results
    z = {(r.name, k): e / r.uncertainty[k] for r in results for k, e in r.errors().items()}
    assert max(abs(v) for v in z.values()) <= 2.0, {k: round(v, 2) for k, v in z.items() if abs(v) > 1.5}
    displaced = [(r, h) for r, h, t in zip(results, held, truths)
                 if any(spec.get("sigma", 0) >= 0.02 for spec in t["true_structures"].values())]
    assert len(displaced) >= 5
    for r, h in displaced:
        assert abs(r.errors()["amorphous"]) <= 0.015, (r.name, r.errors(), h.errors())
        assert r.gof <= min(h.gof, 1.3), (r.name, r.gof, h.gof)
    reordered = [r for r, t in zip(results, truths) if any(spec.get("occupancy") for spec in t["true_structures"].values())]
    assert len(reordered) >= 3 and all(r.gof <= 1.3 and r.verdict == "ok" for r in reordered), \
        [(r.name, r.gof, r.verdict) for r in reordered]
    mae = np.mean([abs(r.errors()["amorphous"]) for r in results])
    mae_held = np.mean([abs(h.errors()["amorphous"]) for h in held])
    assert mae <= 0.5 * mae_held and mae <= 0.015, (mae, mae_held)
    for r, t in zip(results, truths):
        assert any("refined (docs/method.md §2)" in w for w in r.warnings), r.name


@pytest.mark.slow
def test_a_second_simulator_agrees_that_refined_structures_recover(independent_root):
    """xrayutilities-structure: Li3InCl6 patterns by xrayutilities (its own |F|² and scattering factors) from true
    structures other than the noisy CIF xrdq is given; made after the refined coordinates and occupancies were in, not
    tuned on. Measured 2026-12-04, amorphous error held / default: displaced by σ 0.02 +20.84 / +1.16 wt%, by σ 0.03
    +6.14 / −0.10, In redistributed +7.14 / −0.26 (occupancies accepted, GoF 4.02 → 1.04). Both ways within 2 u."""
    paths = independent_cases(independent_root, simulators=(XU_STRUCTURE_FOLDER,))
    if not paths:
        pytest.skip(f"{XU_STRUCTURE_FOLDER} not found (make_independent_set.py --xrayutilities --structure-errors)")
    results = map_cases(run_independent_case, paths, JOBS)
    held = map_cases(partial(run_independent_case, coordinates=()), paths, JOBS)
    for r in results + held:
        z = {k: e / r.uncertainty[k] for k, e in r.errors().items()}
        assert max(abs(v) for v in z.values()) <= 2.0, (r.name, z)
    for r in results:
        assert abs(r.errors()["amorphous"]) <= 0.015 and r.gof <= 1.3, (r.name, r.errors(), r.gof)
    mae = np.mean([abs(r.errors()["amorphous"]) for r in results])
    assert mae <= 0.2 * np.mean([abs(h.errors()["amorphous"]) for h in held]), mae


@pytest.mark.slow
def test_refined_coordinates_have_an_honest_esd(independent_root):
    """20 Poisson replicates of one GSAS-II pattern whose Li2ZrCl6 sites are displaced (σ 0.02; added with the
    refined coordinates, not tuned on). Measured 2026-12-04: the coordinates accepted in 20 of 20, bias −0.085 ±
    0.049 wt% (held as the CIF has them: −1.54 ± 0.07), standard deviation 0.220 wt% against a mean esd of 0.219, std
    of z 1.00 — the esd of a fraction that rests on refined coordinates says how well it is known."""
    paths = independent_cases(independent_root, replicates=True, simulators=(STRUCTURE_FOLDER,))
    if not paths:
        pytest.skip(f"{STRUCTURE_FOLDER} has no replicates (make_independent_set.py --structure-errors)")
    results = map_cases(run_independent_case, paths, JOBS)
    assert len(results) >= 20
    values = np.array([r.value["amorphous"] for r in results])
    esds = np.array([r.esd["amorphous"] for r in results])
    truth = results[0].truth["amorphous"]
    assert all(any(d.startswith("atomic coordinates") for d in r.decisions) for r in results)
    assert abs(values.mean() - truth) <= 0.002, values.mean() - truth
    assert 0.8 <= ((values - truth) / esds).std(ddof=1) <= 1.25


@pytest.mark.slow
def test_platelets_get_a_uniaxial_crystallite_size_and_their_counting_noise(breadth_results):
    """Thin platelets (GSAS-II's uniaxial size along (001): (00l) broad, (hk0) sharp) are broadening an isotropic size
    does not describe. With the isotropic size alone: brucite 200 × 20 nm −3.19 ± 0.62 wt% (GoF 2.39, and the sharp
    110 left as a peak no phase explains), brucite beside corundum +0.26, LiAlCl4 150 × 30 nm +1.62 ± 0.39. The
    adaptive recipe now tests a uniaxial size along each phase's low-index axes and keeps it here: −0.17 ± 0.22,
    −0.01 ± 0.25, −0.32 ± 0.27, GoF 0.98–1.02."""
    _, plates = breadth_results
    assert len(plates) >= 3
    for r in plates:
        assert any(d.startswith("uniaxial crystallite size") for d in r.decisions), (r.name, r.decisions)
        assert abs(r.errors()["amorphous"]) <= 2.0 * r.esd["amorphous"] and r.gof < 1.2, (r.name, r.errors(), r.gof)
        assert r.verdict == "ok", (r.name, r.verdict_reasons)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="goal of issue #10 not reached: MAE 0.310 / largest 1.16 wt% (lazco_a00, "
                   "esd 0.66). The GSAS-II cases' own counting noise alone gives an MAE of ≈ 0.34 wt% with the reported "
                   "esds; without noise (gsas2-expected) the MAE is 0.151, largest 0.72; and 0.119 / 0.34 with the FCJ integral in "
                   "place of GSAS-II's quadrature (gsas2-exactfcj), where the scattering-factor tables' differences alone "
                   "account for the Li3InCl6, CeO2 and TiO2 cases' −0.2 to −0.4 (reference_patterns/validation/README.md)")
def test_independent_set_meets_the_issue_goal(independent_results):
    errors = np.abs([r.errors()["amorphous"] for r in independent_results])
    assert errors.mean() <= 0.0015 and errors.max() <= 0.004


@pytest.mark.slow
def test_independent_replicates_esd_is_honest(independent_replicate_results):
    values, esds, truth = independent_replicate_results
    assert values.size >= 10
    z = (values - truth) / esds
    assert 0.8 <= z.std(ddof=1) <= 1.25, (z.std(ddof=1), z)
    assert abs(values.mean() - truth) <= 0.005, (100 * (values.mean() - truth), values)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="goal of issue #10 not reached: replicate bias −0.35 wt% (was +0.85). Two conventions "
                   "of GSAS-II that xrdq does not copy make up the expected pattern's −0.41: its FCJ quadrature (≈ −0.26) "
                   "and its Lorentz–polarisation factor taken at the shifted peak position (≈ −0.15); "
                   "test_the_replicates_bias_is_two_conventions_of_gsas2, reference_patterns/validation/README.md")
def test_independent_replicates_unbiased(independent_replicate_results):
    values, _, truth = independent_replicate_results
    assert abs(values.mean() - truth) <= 0.001


def _noise_free_results(root, folder, how):
    """{case: result} of a folder of noise-free patterns, skipped (saying ``how`` to make them) when absent."""
    if not independent_cases(root, simulators=(folder,)):
        pytest.skip(f"noise-free patterns {folder} not found (make_independent_set.py {how})")
    return {r.name.split("/")[1]: r for r in run_independent(root, simulators=(folder,), jobs=JOBS)}


@pytest.fixture(scope="module")
def expected_results(independent_root):
    return _noise_free_results(independent_root, "gsas2-expected", "--expected")


@pytest.mark.slow
def test_systematic_error_on_the_noise_free_gsas2_patterns(expected_results):
    """The GSAS-II cases as their expected counts: what is left is systematic (xrdq's model against
    GSAS-II's: FCJ quadrature, f′ tables, tail windows). Measured: MAE 0.152 wt%, largest 0.70
    (lic_a05_ws50, GSAS-II's FCJ quadrature: 0.27 when simulated without asymmetry); 0.181 / 0.76 before the
    ±4° cap on Lorentzian windows went and the adaptive order was fixed. And at any count level the reported
    u must cover it: no fraction beyond 2 u."""
    errors = {n: 100 * r.errors()["amorphous"] for n, r in expected_results.items()}
    assert len(errors) >= 30
    assert np.mean(np.abs(list(errors.values()))) <= 0.17, errors
    assert max(abs(e) for e in errors.values()) <= 0.75, errors
    z = {(n, k): e / r.uncertainty[k] for n, r in expected_results.items() for k, e in r.errors().items()}
    assert max(abs(v) for v in z.values()) <= 2.0, {k: round(v, 2) for k, v in z.items() if abs(v) > 2}


@pytest.fixture(scope="module")
def exact_fcj_results(independent_root):
    return _noise_free_results(independent_root, "gsas2-exactfcj", "--expected --exact-fcj")


@pytest.mark.slow
def test_systematic_error_meets_the_issue_goal_without_gsas2s_fcj_quadrature(exact_fcj_results):
    """The noise-free GSAS-II cases simulated with the FCJ integral in place of GSAS-II's quadrature
    (reference_patterns/validation/README.md): xrdq's own systematic error then meets issue #10's accuracy goal.
    Measured: MAE 0.117 wt% (0.120 with bonded hydrogen, 2026-12-03), largest 0.34 (lazco_zro2_a35); with GSAS-II's
    quadrature 0.157 / 0.72, and
    lazco_a40_rep (the replicates' pattern) −0.15 against −0.41."""
    errors = {n: 100 * r.errors()["amorphous"] for n, r in exact_fcj_results.items()}
    assert len(errors) >= 30
    assert np.mean(np.abs(list(errors.values()))) <= 0.15, errors
    assert max(abs(e) for e in errors.values()) <= 0.4, errors
    assert abs(errors["lazco_a40_rep"]) <= 0.2, errors
    z = {(n, k): e / r.uncertainty[k] for n, r in exact_fcj_results.items() for k, e in r.errors().items()}
    assert max(abs(v) for v in z.values()) <= 2.0, {k: round(v, 2) for k, v in z.items() if abs(v) > 2}


def _lp_at_the_shifted_position(self, params, terms, specimen):
    """``PhaseModel._positions`` as GSAS-II computes intensities (GSASIIstrMath.getPowderProfile): Lorentz and
    polarisation at the peak's position after the zero shift and the specimen displacement, not at the Bragg angle."""
    from xrdq.model.pattern import displacement_shift, lorentz_polarization

    inst = self.instrument
    d, per_line = self._geometry(params)
    bragg = np.concatenate([tt for _, tt, _, _ in per_line])
    centers = bragg + terms.zero + displacement_shift(bragg, specimen.displacement_um, inst.radius_mm)
    areas = self._areas(params, specimen, d, per_line)
    with np.errstate(invalid="ignore"):
        ratio = lorentz_polarization(centers, inst.polarization_factor) / lorentz_polarization(bragg, inst.polarization_factor)
    return centers, np.where(np.isfinite(ratio), areas * ratio, areas)


@pytest.mark.slow
def test_the_replicates_bias_is_two_conventions_of_gsas2(independent_root, monkeypatch):
    """The replicates' expected pattern (lazco_a40_rep) reads −0.41 wt% amorphous. All of it is two conventions of
    the simulator, neither of which xrdq copies:
    - GSAS-II's FCJ quadrature (reference_patterns/validation/README.md): with the FCJ integral, −0.15;
    - GSAS-II takes Lorentz and polarisation at the peak's observed position, zero shift and specimen displacement
      included. xrdq takes them at the Bragg angle, the scattering angle at the specimen: neither the goniometer's
      zero offset nor a displaced specimen changes the angle the crystallites scatter through. The case's 95 µm and
      −0.04° move its Li2ZrCl6 lines at 16° by −0.11°, which is +1.4 % in GSAS-II's LP there.
    With that convention emulated, the FCJ-integral pattern reads −0.00 (and the whole exact-FCJ set's MAE goes
    0.119 → 0.104 wt%). The test pins the decomposition: if either number moves, something else has entered."""
    from xrdq.model.pattern import PhaseModel

    truth = INDEPENDENT / "gsas2-exactfcj" / "lazco_a40_rep.truth.json"
    if not truth.exists():
        pytest.skip("gsas2-exactfcj not found (make_independent_set.py --expected --exact-fcj)")
    as_xrdq = run_independent_case(truth)
    monkeypatch.setattr(PhaseModel, "_positions", _lp_at_the_shifted_position)
    as_gsas2 = run_independent_case(truth)
    assert -0.2 <= 100 * as_xrdq.errors()["amorphous"] <= -0.1
    assert abs(100 * as_gsas2.errors()["amorphous"]) <= 0.05


@pytest.mark.slow
def test_systematic_error_against_a_second_simulator_meets_the_issue_goal(independent_root):
    """The xrayutilities cases as their expected counts (fundamental-parameters profile, no FCJ quadrature, its own
    scattering tables): xrdq's systematic error against a simulator that shares no code with GSAS-II meets issue
    #10's accuracy goal too. Measured: MAE 0.115 wt%, largest +0.33 (xu_lac_licl_a30_po: the halos against the
    Bragg tails; +0.03 when the same pattern is simulated without them). Its noisy twin's +0.98 is that +0.33
    plus 2.3 esd of counting noise. Two cases texture the LiF standard itself (+0.92 and −0.27 before a cubic
    phase's texture was tested, −0.11 and +0.12 after)."""
    results = _noise_free_results(independent_root, "xrayutilities-expected", "--xrayutilities --expected")
    errors = {n: 100 * r.errors()["amorphous"] for n, r in results.items()}
    assert len(errors) == 7
    assert np.mean(np.abs(list(errors.values()))) <= 0.15, errors
    assert max(abs(e) for e in errors.values()) <= 0.4, errors
    z = {(n, k): e / r.uncertainty[k] for n, r in results.items() for k, e in r.errors().items()}
    assert max(abs(v) for v in z.values()) <= 2.0, {k: round(v, 2) for k, v in z.items() if abs(v) > 2}


def test_a_textured_standard_is_found_on_data_xrdq_did_not_make(independent_results):
    """xrayutilities patterns whose LiF standard is textured (cubes on a face, March–Dollase 0.80 about <100>;
    octahedra, 0.85 about <111>): the texture is tested from its probe and taken, and the
    amorphous fraction is right. Before cubic textures were tested, the first read +0.87 ± 0.32 wt% (GoF 1.25,
    verdict ok)."""
    by_name = {r.name: r for r in independent_results}
    cube = by_name["xrayutilities/xu_lif100_licl_a40"]
    assert "March–Dollase LiF [100]" in cube.decisions, cube.decisions
    assert abs(cube.errors()["amorphous"]) <= 0.003, cube.errors()
    octa = by_name["xrayutilities/xu_lif111_lac_a20"]
    assert "March–Dollase LiF [111]" in octa.decisions, octa.decisions
    assert abs(octa.errors()["amorphous"]) <= 2 * octa.esd["amorphous"], (octa.errors(), octa.esd)
    # and the result says that it rests on a model of the standard's texture, with the ratio it refined (truth 0.80
    # and 0.85); no untextured case says so
    for case, axis, truth in ((cube, "<100>", 0.80), (octa, "<111>", 0.85)):
        said = [re.match(rf"the standard LiF is textured about {axis}: March–Dollase r = ([0-9.]+) ± ([0-9.]+)", w)
                for w in case.warnings]
        said = [m for m in said if m]
        assert len(said) == 1, case.warnings
        ratio, esd = (float(x) for x in said[0].groups())
        assert abs(ratio - truth) <= max(3 * esd, 0.015), (ratio, esd)
    plain = [r.name for r in independent_results if r.name not in (cube.name, octa.name)
             and any("is textured about" in w for w in r.warnings)]
    assert not plain, plain


@pytest.mark.slow
def test_a_nanocrystalline_phase_keeps_its_tails(expected_results):
    """20 nm Li2ZrCl6 (FWHM ≈ 0.45°) beside 1 µm LiF, no noise: when broad peaks' Lorentzian windows were
    capped at ±4° (±9 FWHM), the curved near tail went to the background and the amorphous fraction read
    +0.55 wt% (Li2ZrCl6 −0.54); with ±24 FWHM for every peak +0.18."""
    r = expected_results["lazco_nano_a40"]
    assert abs(r.errors()["amorphous"]) <= 0.003, r.errors()
    assert abs(r.errors()["Li2ZrCl6"]) <= 0.003, r.errors()


@pytest.fixture(scope="module")
def cpd_results(shared_data):
    return _per_mixture(run_cpd, shared_data)


def test_cpd_round_robin_crystalline_mae(cpd_results):
    results = cpd_results
    errors = [e for r in results for e in r.errors().values()]
    assert all(r.converged for r in results)
    assert np.mean(np.abs(errors)) <= 0.0025, [r.errors() for r in results]


def test_self_consistency_on_xrdq_simulated_mixtures():
    # xrdq fitting its own simulator: a regression check of the machinery, not evidence of accuracy
    results = run_synthetic(seed=1)
    assert len(results) == len(SYNTHETIC_CASES) >= 8
    errors = [r.errors()["amorphous"] for r in results]
    assert np.mean(np.abs(errors)) <= 0.005, {r.name: round(100 * e, 3) for r, e in zip(results, errors)}


@pytest.mark.slow
def test_replicate_spread_matches_the_reported_esd():
    values, esds = replicate_spread(case_index=0, n=20)
    ratio = values.std(ddof=1) / esds.mean()
    assert 0.75 <= ratio <= 1.25, (ratio, values, esds)


@pytest.mark.slow
def test_refined_coordinates_of_published_structures_stay_on_real_data(shared_data):
    """A null test on real data: corundum's and zincite's coordinates forced free on CPD-1A–1D (their CIFs are
    published refinements, so the default never tests them). Measured 2026-12-04: Al z 0.3520–0.3522 and Zn–O z
    0.3819–0.3842 against 0.3522 and 0.3820, corundum's O x 0.306–0.308 against 0.3067 where it is 5–94 wt% (0.295 at
    1.15 wt%); crystalline MAE 0.162 → 0.158 wt%. Refining a structure the data agree with moves nothing."""
    results = _per_mixture(partial(run_cpd, model_uncertainty="fast", coordinates=("Al2O3", "ZnO")), shared_data)
    errors = [e for r in results for e in r.errors().values()]
    assert np.mean(np.abs(errors)) <= 0.0025, [r.errors() for r in results]
    for r in results:
        p = {k: v for k, (v, _) in r.parameters.items()}
        assert abs(p["Al2O3_Al1_z"] - 0.3522) <= 0.001 and abs(p["ZnO_O1_z"] - 0.382) <= 0.004, (r.name, p)
        if r.truth["Al2O3"] >= 0.05:
            assert abs(p["Al2O3_O1_x"] - 0.3067) <= 0.003, (r.name, p["Al2O3_O1_x"])


def test_cpd_uncertainty_covers_the_real_error(cpd_results):
    """Real CPD-1A–1D: ≥ 90 % of the fractions within 2 standard uncertainties of the weighed value, with a
    median uncertainty ≤ 0.5 wt% — while the statistical esd alone covers far fewer (it is counting noise)."""
    c = coverage(cpd_results)
    assert c["n"] == 12
    assert c["within_u"] >= 0.9, np.round(c["z"], 2)
    assert c["median_u"] <= 0.005, c["median_u"]
    assert c["within_esd"] < 0.75, c  # without the model's own uncertainty the claim would be false


def test_cpd_verdicts_are_ok(cpd_results):
    """The right phases on real CPD-1A–1D: nothing to flag but CPD-1B's own small peak at 26.96° (d = 3.30 Å, in
    none of the pure phases' patterns), whose significance sits at the threshold (4 σ): flagged since the thickness
    term refines 1B a little better, as it already was over 5–150° and in the G route
    (tests/quant/test_external_standard_real.py)."""
    flagged = {r.name: r.verdict_reasons for r in cpd_results if r.verdict != "ok"}
    assert set(flagged) <= {"CPD-1B.xye"}, flagged
    for reasons in flagged.values():
        assert len(reasons) == 1 and "no phase explains" in reasons[0] and "26.9" in reasons[0], reasons


@pytest.fixture(scope="module")
def cpd_silica_results(shared_data):
    return _per_mixture(partial(run_cpd_silica, silica=(0.2,)), shared_data)


def _per_mixture(run, shared_data):
    """``run`` over CPD-1A…1D, one mixture per task in JOBS processes (as the independent sets), results in order."""
    return [r for part in map_cases(partial(run, shared_data), "ABCD", JOBS) for r in part]


def test_internal_standard_on_real_data_says_how_sure_it_is(cpd_silica_results):
    """The main job on measured data: CPD-1A–1D with 20 wt% of the measured amorphous silica, each weighed phase
    in turn the internal standard. A standard of 1–4 wt% is known to a few % of itself at best, and the amorphous
    fraction inherits that relative error almost one to one (several wt%): u must say so (measured: 12 of 12 within 2 u, largest
    1.8 u; 11 of 12 and 2.2 u without the reflection-scatter term), and none may be a confident wrong number."""
    c = coverage(cpd_silica_results)
    assert c["n"] == 12
    assert c["within_u"] >= 0.85, np.round(c["z"], 2)
    assert np.max(np.abs(c["z"])) < 3.0, np.round(c["z"], 2)
    assert c["within_esd"] < c["within_u"]  # the esd alone would claim more than the data hold


def test_internal_standard_on_real_data_with_a_usual_spike(cpd_silica_results):
    """Where the standard is ≥ 10 wt% of the mixture, as users spike: a regression bound (measured 1.07 wt% MAE,
    largest 3.42: corundum, which reads high in CPD-1D, as the standard)."""
    spiked = [r for r in cpd_silica_results if r.standard_fraction >= 0.10]
    errors = np.array([r.errors()["amorphous"] for r in spiked])
    assert len(spiked) == 6
    assert np.mean(np.abs(errors)) <= 0.015, {r.name: round(100 * e, 2) for r, e in zip(spiked, errors)}
    assert all(r.verdict != "fail" for r in spiked), {r.name: r.verdict_reasons for r in spiked}


def test_cpd_with_silica_mixes_two_measured_patterns_by_absorption(shared_data):
    """The real-data mixtures are a weighted sum a·I(1x) + b·I(silica) with a + b = 1 (an infinitely thick specimen:
    intensity ∝ w/µ*); the crystalline part is damped less than 1 − f because silica absorbs less than the mix."""
    from xrdq.io import load

    cpd = load(shared_data / "qpa" / "cpd1" / "CPD-1A.xye")
    pattern, fractions = cpd_with_silica(shared_data, "A", 0.2)
    assert sum(fractions.values()) == pytest.approx(1.0) and fractions["SiO2"] == pytest.approx(0.2)
    assert fractions["CaF2"] == pytest.approx(0.8 * 0.9481, rel=1e-3)
    # at the strongest fluorite peak the halo is a small addition: the ratio is a, between 1 − f and 1
    k = int(np.argmax(cpd.values))
    j = int(np.argmin(np.abs(pattern.two_theta.values - cpd.two_theta.values[k])))
    a = float(pattern.values[j] / cpd.values[k])
    assert 0.8 < a < 0.95, a
    assert np.all(pattern.esd.values > 0) and np.all(np.diff(pattern.two_theta.values) > 0)
    with pytest.raises(ValueError, match="silica fraction"):
        cpd_with_silica(shared_data, "A", 1.0)
