"""The committed independent validation set (reference_patterns/validation) is complete and self-consistent.

Only bookkeeping: every pattern loads, every truth file has its fields and obeys the internal-standard
relation of docs/method.md. Accuracy on these patterns is measured elsewhere.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import xrdq
from xrdq.crystal import load_phase
from xrdq.quant.internal_standard import internal_standard
from xrdq.validation import BREADTH_FOLDER, STRUCTURE_FOLDER, XU_STRUCTURE_FOLDER, draw_folders

ROOT = Path(__file__).resolve().parents[2]
VALIDATION = ROOT / "reference_patterns" / "validation"
#: further draws of the GSAS-II set (make_independent_set.py --draw TAG), as validate.py finds them
DRAWS = tuple(folder for folder, _ in draw_folders(ROOT / "reference_patterns" / "validation"))
SIMULATORS = ("gsas2", "xrayutilities", "gsas2-expected", "gsas2-exactfcj", *DRAWS, BREADTH_FOLDER, STRUCTURE_FOLDER,
              XU_STRUCTURE_FOLDER)
FIELDS = ("case", "simulator", "seed", "description", "standard", "sample", "mixture", "phases",
          "amorphous_formula", "mixture_mass_attenuation_cm2_g", "absolute_scale", "instrument",
          "displacement_um", "humps", "background", "max_peak_counts", "two_theta")
INSTRUMENT_FIELDS = ("wavelengths", "radius_mm", "U", "V", "W", "X", "Y", "SH/L", "zero_deg", "polarization")


def truth_files():
    return sorted(p for sim in SIMULATORS for p in (VALIDATION / sim).glob("*.truth.json"))


def load_truth(path):
    return json.loads(path.read_text(encoding="utf-8"))


TRUTHS = truth_files()
IDS = [f"{p.parent.name}/{p.name.removesuffix('.truth.json')}" for p in TRUTHS]


def test_the_set_is_there_and_small():
    gsas2 = [p for p in TRUTHS if p.parent.name == "gsas2"]
    assert len(gsas2) >= 12, f"only {len(gsas2)} GSAS-II cases in {VALIDATION / 'gsas2'}"
    for sim in SIMULATORS:
        folder = VALIDATION / sim
        if not folder.is_dir():
            continue
        patterns = {p.name.removesuffix(".xye") for p in folder.glob("*.xye")}
        truths = {p.name.removesuffix(".truth.json") for p in folder.glob("*.truth.json")}
        assert patterns == truths, f"{folder}: patterns without truth {patterns - truths}, truth without pattern {truths - patterns}"
    size = sum(p.stat().st_size for p in VALIDATION.rglob("*") if p.is_file())
    assert size < 25e6, f"validation set is {size / 1e6:.1f} MB (limit 25 MB)"
    assert {"gsas2-x8", "gsas2-d1"} <= set(DRAWS), DRAWS  # the committed draws, 8x and 1x the counts
    assert len(list((VALIDATION / BREADTH_FOLDER).glob("*.truth.json"))) >= 9  # chemistries beyond the set
    assert len(list((VALIDATION / STRUCTURE_FOLDER).glob("*.truth.json"))) >= 10  # structures not the fit's
    assert len(list((VALIDATION / XU_STRUCTURE_FOLDER).glob("*.truth.json"))) >= 3  # ... by xrayutilities
    assert (VALIDATION / "README.md").is_file()


@pytest.mark.parametrize("path", TRUTHS, ids=IDS)
def test_truth_fields_and_paths(path):
    t = load_truth(path)
    missing = [f for f in FIELDS if f not in t]
    assert not missing, f"{path.name}: missing fields {missing}"
    assert t["case"] == path.name.removesuffix(".truth.json")
    assert not [f for f in INSTRUMENT_FIELDS if f not in t["instrument"]], path.name
    assert t["instrument"]["wavelengths"] == [[1.540593, 1.0], [1.544427, 0.5]]
    names = [p["name"] for p in t["phases"]]
    assert sorted(names) == sorted(k for k in t["mixture"] if k != "amorphous"), path.name
    cifs = [p["cif"] for p in t["phases"]] + ([t["standard"]["cif"]] if t["standard"] else [])
    for cif in cifs:
        assert (ROOT / cif).is_file(), f"{path.name}: CIF {cif} does not exist"
    assert 20 <= abs(t["displacement_um"]) <= 150 and 0.02 <= abs(t["instrument"]["zero_deg"]) <= 0.05
    for hump in t["humps"]:
        assert 5 <= hump["fwhm"] <= 15 and hump["area"] > 0, path.name
    if t["mixture"]["amorphous"] > 0:
        assert 2 <= len(t["humps"]) <= 3, f"{path.name}: amorphous content but {len(t['humps'])} humps"


@pytest.mark.parametrize("path", TRUTHS, ids=IDS)
def test_simulators_read_the_cifs_as_written(path):
    """The simulator's cell (mass or density) is the CIF's: GSAS-II and xrayutilities read atoms a hair off a
    special position as general ones (×1.5–1.7 the mass) unless the generator snaps them."""
    for p in load_truth(path)["phases"]:
        phase = load_phase(ROOT / p["cif"])
        if "cell_mass_gsas2" in p:
            assert p["cell_mass_gsas2"] == pytest.approx(phase.cell_mass, rel=5e-4), (path.name, p["name"])
        if "density_g_cm3" in p:
            assert p["density_g_cm3"] == pytest.approx(phase.density, rel=5e-4), (path.name, p["name"])


@pytest.mark.parametrize("path", TRUTHS, ids=IDS)
def test_fractions_obey_the_internal_standard_relation(path):
    t = load_truth(path)
    sample, mix, std = t["sample"], t["mixture"], t["standard"]
    assert math.isclose(sum(sample["phases"].values()) + sample["amorphous"], 1.0, abs_tol=1e-9), path.name
    assert math.isclose(sum(mix.values()), 1.0, abs_tol=1e-9), path.name
    assert all(0 <= v <= 1 for v in [*mix.values(), *sample["phases"].values(), sample["amorphous"]])
    if std is None:  # a pure pattern of a scale series: the sample is the mixture
        assert {k: v for k, v in mix.items() if v} == {**sample["phases"], **({"amorphous": sample["amorphous"]} if sample["amorphous"] else {})}
        return
    W_s, c = std["weighed_fraction"], std["purity"]
    assert 0 < W_s < 1 and 0.95 <= c <= 1.0, path.name
    assert math.isclose(mix[std["phase"]], c * W_s, rel_tol=1e-9), path.name
    for name, x in sample["phases"].items():
        assert math.isclose(mix[name], (1 - W_s) * x, rel_tol=1e-9), (path.name, name)
    assert math.isclose(mix["amorphous"], (1 - W_s) * sample["amorphous"] + (1 - c) * W_s, abs_tol=1e-9)
    # xrdq's own relation, fed the crystalline-normalised fractions a perfect refinement would return
    names = [k for k in mix if k != "amorphous"]
    r = np.array([mix[k] for k in names]) / sum(mix[k] for k in names)
    res = internal_standard(names, r, np.zeros((len(r), len(r))), std["phase"], W_s, c)
    assert res.amorphous_fraction == pytest.approx(sample["amorphous"], abs=1e-9)
    for name, x in sample["phases"].items():
        assert res.sample_fractions[name][0] == pytest.approx(x, abs=1e-9)


@pytest.mark.parametrize("path", TRUTHS, ids=IDS)
def test_pattern_loads_on_the_stated_grid(path):
    t = load_truth(path)
    xye = path.with_name(t["case"] + ".xye")
    pattern = xrdq.load(xye)
    x = pattern["two_theta"].values
    y = pattern.values
    lo, hi, step = t["two_theta"]
    assert x[0] == pytest.approx(lo) and x[-1] == pytest.approx(hi, abs=step / 2)
    assert np.allclose(np.diff(x), step, atol=1e-3)
    assert np.all(y >= 0), xye.name
    if "noise" not in t:  # Poisson counts; the expected counts (gsas2-expected) are not whole numbers
        assert np.all(y == np.round(y)), xye.name
    assert np.allclose(pattern["esd"].values, np.sqrt(np.maximum(y, 1.0)), rtol=2e-3, atol=2e-3), xye.name
    assert 0.5 * t["max_peak_counts"] < y.max() < 2.0 * t["max_counts_expected"] + 50, xye.name


@pytest.mark.parametrize("path", [p for p in TRUTHS if p.parent.name == "gsas2-expected"],
                         ids=[i for i in IDS if i.startswith("gsas2-expected/")])
def test_expected_counts_are_what_the_noisy_pattern_scatters_about(path):
    """Each noise-free pattern is the expectation of its committed Poisson pattern (the first replicate
    where there are several), with the same truth: (noisy − expected)/√expected is white unit noise."""
    t = load_truth(path)
    noisy = next(q for q in (VALIDATION / "gsas2" / f"{t['case']}.xye", VALIDATION / "gsas2" / f"{t['case']}_r01.xye")
                 if q.is_file())
    expected = np.loadtxt(path.with_name(t["case"] + ".xye"), comments="#")[:, 1]
    counts = np.loadtxt(noisy, comments="#")[:, 1]
    z = (counts - expected) / np.sqrt(np.maximum(expected, 1.0))
    assert abs(z.mean()) < 5 / np.sqrt(z.size) and 0.95 < z.std() < 1.05, (noisy.name, z.mean(), z.std())
    twin = load_truth(noisy.with_name(noisy.name.replace(".xye", ".truth.json")))
    assert twin["sample"] == t["sample"] and twin["humps"] == t["humps"] and twin["instrument"] == t["instrument"]


EXACT_FCJ = [p for p in TRUTHS if p.parent.name == "gsas2-exactfcj"]


@pytest.mark.parametrize("path", EXACT_FCJ, ids=[i for i in IDS if i.startswith("gsas2-exactfcj/")])
def test_the_exact_fcj_cases_are_the_expected_ones_but_for_the_asymmetry(path):
    """gsas2-exactfcj (make_independent_set.py --expected --exact-fcj) is gsas2-expected simulated again with
    GSAS-II's FCJ quadrature replaced by the integral: the same truth and nuisances, a pattern that differs
    at the peaks (the hump areas follow the LiF yardstick's peak heights, so they move a little too)."""
    t = load_truth(path)
    twin_path = VALIDATION / "gsas2-expected" / path.name
    twin = load_truth(twin_path)
    assert "FCJ asymmetry integrated exactly" in t["simulator"] and "noise" in t
    same = ("sample", "mixture", "phases", "instrument", "displacement_um", "two_theta", "standard")
    assert {k: t[k] for k in same} == {k: twin[k] for k in same}
    assert [(h["center"], h["fwhm"]) for h in t["humps"]] == [(h["center"], h["fwhm"]) for h in twin["humps"]]
    y = np.loadtxt(path.with_name(t["case"] + ".xye"), comments="#")[:, 1]
    y_twin = np.loadtxt(twin_path.with_name(t["case"] + ".xye"), comments="#")[:, 1]
    assert 1e-3 < np.abs(y - y_twin).max() / y_twin.max() < 0.5


def test_scale_series_share_their_scale_and_replicates_their_truth():
    series, replicates = {}, {}
    for path in TRUTHS:
        t = load_truth(path)
        if t.get("scale_series"):  # a draw at more counts has its own scale (gsas2-expected shares gsas2's)
            # the exact-FCJ anchor has its own peak heights, hence its own scale
            key = (t["scale_series"], (t.get("draw") or {}).get("counts_factor", 1.0), path.parent.name == "gsas2-exactfcj")
            series.setdefault(key, set()).add(t["absolute_scale"])
        if t.get("replicate_of"):
            t = {k: v for k, v in t.items() if k not in ("case", "seed")}
            replicates.setdefault(t["replicate_of"], []).append(json.dumps(t, sort_keys=True))
    for name, scales in series.items():
        assert len(scales) == 1, f"scale series {name} has different absolute scales {scales}"
    for name, members in replicates.items():
        assert len(set(members)) == 1, f"replicates of {name} differ in more than case and seed"


DRAWN = [p for p in TRUTHS if p.parent.name in DRAWS]


@pytest.mark.parametrize("folder", DRAWS)
def test_a_draw_covers_every_case_with_new_nuisances(folder):
    """A draw (make_independent_set.py --draw TAG) is every GSAS-II case with a standard again — new name, so
    new nuisance draws; amounts moved; its own counts factor — for checking that the recipe generalises."""
    drawn = [p for p in DRAWN if p.parent.name == folder]
    assert drawn, f"no draw in {VALIDATION / folder}"
    parents = {load_truth(p)["draw"]["of_case"] for p in drawn}
    main = {load_truth(p)["case"] for p in (VALIDATION / "gsas2").glob("*.truth.json")
            if load_truth(p)["standard"] and not load_truth(p).get("replicate_of")}
    main |= {load_truth(p)["replicate_of"] for p in (VALIDATION / "gsas2").glob("*_r01.truth.json")}
    assert parents == main, (parents ^ main)
    assert len({load_truth(p)["draw"]["counts_factor"] for p in drawn}) == 1, f"{folder}: mixed counts factors"


@pytest.mark.parametrize("path", DRAWN, ids=[i for i in IDS if i.split("/")[0] in DRAWS])
def test_a_drawn_case_is_its_parent_with_other_nuisances_and_its_counts_factor(path):
    t = load_truth(path)
    draw = t["draw"]
    parent_path = VALIDATION / "gsas2" / f"{draw['of_case']}.truth.json"
    if not parent_path.is_file():
        parent_path = VALIDATION / "gsas2" / f"{draw['of_case']}_r01.truth.json"
    parent = load_truth(parent_path)
    assert t["standard"] == parent["standard"] and [p["name"] for p in t["phases"]] == [p["name"] for p in parent["phases"]]
    assert t["instrument"] != parent["instrument"] and t["seed"] != parent["seed"]
    ratio = t["absolute_scale"] / parent["absolute_scale"] if t["scale_series"] else t["max_peak_counts"] / parent["max_peak_counts"]
    assert ratio == pytest.approx(draw["counts_factor"], rel=1e-9), path.name
    if 0 < parent["sample"]["amorphous"] < 1:
        assert abs(t["sample"]["amorphous"] - parent["sample"]["amorphous"]) <= 0.1 + 1e-9
        r, q = t["sample"]["phases"], parent["sample"]["phases"]
        assert all(r[k] / sum(r.values()) == pytest.approx(q[k] / sum(q.values()), rel=1e-9) for k in q)
    else:
        assert t["sample"] == parent["sample"]


@pytest.mark.parametrize("path", [p for p in TRUTHS if p.parent.name == "xrayutilities"],
                         ids=[i for p, i in zip(TRUTHS, IDS) if p.parent.name == "xrayutilities"])
def test_xrayutilities_cases_were_computed_on_a_fine_grid(path):
    """xrayutilities scales each profile to area in units of its output grid: on the 0.02° grid of these cases a
    peak's area per unit reflection strength grew by 12 % from 39° to 79° (flat within 0.2 % at 0.001°). Each case
    is computed at ≤ 0.001° and averaged over every output step (scripts/make_independent_set_xu.py)."""
    t = load_truth(path)
    sampling = t["instrument"].get("sampling") or {}
    assert sampling.get("fine_step_deg", 1.0) <= 0.001, (path.name, sampling)
    step = t["two_theta"][2]
    assert step / sampling["fine_step_deg"] >= 10, (path.name, step)


def test_a_spherical_harmonics_texture_is_recorded_with_its_index():
    """The breadth set's textures that are not March–Dollase: the truth holds GSAS-II's coefficients and the texture
    index J = 1 + Σ C(l,n)²/(2l + 1) (1 = random), and no March–Dollase ratio."""
    textured = [(path, p) for path in TRUTHS for p in load_truth(path)["phases"] if p.get("spherical_harmonics")]
    assert len(textured) >= 2, "the breadth set's spherical-harmonics cases are missing"
    for path, p in textured:
        sh = p["spherical_harmonics"]
        j = 1.0 + sum(c**2 / (2 * int(name[2:].split(",")[0]) + 1) for name, c in sh["coefficients"].items())
        assert sh["texture_index"] == pytest.approx(j, rel=1e-9), path.name
        assert sh["texture_index"] > 1.2 and p["march_dollase"] is None, path.name


def test_a_structure_error_case_records_a_true_structure_that_is_not_the_fits():
    """gsas2-structure: each case's truth names the file GSAS-II simulated the phase from, beside it, and that file
    differs from the reference CIF the fit is given in what the truth says — coordinates, occupancies or B — and in
    nothing else (same sites, same cell, same symmetry)."""
    from xrdq.crystal import read_cif

    paths = sorted(p for folder in (STRUCTURE_FOLDER, XU_STRUCTURE_FOLDER) for p in (VALIDATION / folder).glob("*.truth.json"))
    assert len(paths) >= 13
    for path in paths:
        t = load_truth(path)
        assert t["true_structures"], path.name
        for name, spec in t["true_structures"].items():
            ref = read_cif(ROOT / next(p["cif"] for p in t["phases"] if p["name"] == name))
            true = read_cif(path.parent / spec["cif"])
            assert ref.cell == true.cell and [s.label for s in ref.sites] == [s.label for s in true.sites], path.name
            moved = max(np.max(np.abs(np.subtract(a.fract, b.fract))) for a, b in zip(ref.sites, true.sites))
            occ = {b.label: b.occupancy for a, b in zip(ref.sites, true.sites) if a.occupancy != b.occupancy}
            b_iso = {b.element for a, b in zip(ref.sites, true.sites) if a.b_iso != b.b_iso}
            assert (moved > 1e-4) == (spec.get("sigma", 0) > 0), (path.name, moved)
            assert occ == {k: pytest.approx(v) for k, v in spec.get("occupancy", {}).items()}, (path.name, occ)
            assert b_iso == set(spec.get("b_iso", {})), (path.name, b_iso)
            assert [s.multiplicity for s in ref.sites] == [s.multiplicity for s in true.sites], path.name


def test_a_true_structure_with_a_site_the_cif_lacks_is_refused_by_name(tmp_path):
    """make_independent_set.py --structure-errors: an occupancy for a site label the reference CIF does not have is
    an error naming the CIF and the label, not a true structure silently equal to the reference."""
    import importlib
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        mis = importlib.import_module("make_independent_set")
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    with pytest.raises(ValueError, match=r"Li2ZrCl6\.cif: no site \['Zr9'\]"):
        mis.write_true_structure("Li2ZrCl6", {"occupancy": {"Zr9": 0.5}}, tmp_path / "x.cif")
    assert not (tmp_path / "x.cif").exists()
