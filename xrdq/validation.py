"""Validation cases: patterns simulated by independent programs (GSAS-II, xrayutilities), the real
IUCr CPD round-robin patterns, and xrdq's own simulated mixtures (a self-consistency check only).

Used by ``scripts/validate.py`` (which writes docs/validation.md) and by the test suite, so the
numbers in the docs and the numbers the tests hold are the same computation.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .validation_external import CPD as CPD_PHASES, CPD_RANGE, CU, load_prn  # the CPD facts have one home

REPO = Path(__file__).resolve().parents[1]
INDEPENDENT = REPO / "reference_patterns" / "validation"
# Phases offered for a fully amorphous sample (no crystalline phase in truth): the seed chemistry's
# usual suspects; they must refine to ≈ 0 and the amorphous to ≈ 100 %.
CANDIDATES_FOR_AMORPHOUS = ("LiCl",)


@dataclass
class CaseResult:
    name: str
    truth: dict  # quantity -> value (0–1)
    value: dict  # quantity -> value
    esd: dict  # quantity -> esd
    rwp: float
    gof: float
    converged: bool
    elapsed_s: float
    warnings: list = field(default_factory=list)
    decisions: list = field(default_factory=list)  # adaptive-recipe terms accepted
    uncertainty: dict = field(default_factory=dict)  # quantity -> standard uncertainty (k = 1), with the model's
    verdict: str = ""
    verdict_reasons: list = field(default_factory=list)
    standard_fraction: float | None = None  # W_s where a weighed phase was the internal standard
    parameters: dict = field(default_factory=dict)  # refined parameter name -> (value, esd), where a caller keeps them

    def errors(self) -> dict:
        return {k: self.value[k] - self.truth[k] for k in self.truth}


def coverage(results, k: float = 2.0) -> dict:
    """How well the uncertainties describe the real errors over ``results``: the share of quantities
    within ``k`` standard uncertainties (``within_u``) and within ``k`` esds (``within_esd``), the median
    uncertainty and esd, and the z-scores error/u."""
    err, u, esd = [], [], []
    for r in results:
        for q, e in r.errors().items():
            err.append(e)
            u.append(r.uncertainty.get(q, r.esd[q]))
            esd.append(r.esd[q])
    err, u, esd = np.array(err), np.array(u), np.array(esd)
    return {"n": int(err.size), "within_u": float(np.mean(np.abs(err) <= k * u)),
            "within_esd": float(np.mean(np.abs(err) <= k * esd)), "median_u": float(np.median(u)),
            "median_esd": float(np.median(esd)), "z": err / u}


def run_cpd(shared_data: Path, which="ABCD", model_uncertainty: str = "full", **options) -> list[CaseResult]:
    """Quantify CPD-1A…1D with corundum, zincite, fluorite; crystalline fractions vs weighed. ``options`` go to
    :func:`xrdq.quantify` (``coordinates=...``)."""
    from .quant.api import quantify

    folder = Path(shared_data) / "qpa" / "cpd1"
    weighed = {row["file"]: row for row in csv.DictReader(open(folder / "weighed_wt_percent.csv"))}
    out = []
    for letter in which:
        name = f"CPD-1{letter}.xye"
        res = quantify(folder / name, phases=list(CPD_PHASES.values()), standard=None, instrument="cpd-pw3020",
                       two_theta_range=CPD_RANGE, model_uncertainty=model_uncertainty, **options)
        truth = {CPD_PHASES[k]: float(weighed[name][k]) / 100.0 for k in CPD_PHASES}
        out.append(CaseResult(
            name=name, truth=truth,
            value={k: res.refined_fractions[k][0] for k in truth},
            esd={k: res.refined_fractions[k][1] for k in truth},
            rwp=res.rwp, gof=res.gof, converged=res.converged, elapsed_s=res.elapsed_s, warnings=res.warnings,
            uncertainty={k: res.uncertainty[f"refined:{k}"] for k in truth}, verdict=res.verdict,
            verdict_reasons=res.verdict_reasons, parameters=dict(res.refinement.parameters),
        ))
    return out


def cpd_with_silica(shared_data: Path, letter: str, silica: float):
    """(pattern, weight fractions of the new mixture): the measured CPD-1``letter`` and the measured pure
    amorphous silica (SILICA.PRN, same instrument and counting conditions) mixed by absorption physics, silica
    a weight fraction ``silica`` of the mixture.

    Both are infinitely thick specimens, so every phase's intensity (and the specimen's own scatter) goes as
    w/µ*: the mixture is a·I(1x) + b·I(silica) with a = (1 − f)·µ*(1x)/µ*, b = f·µ*(SiO2)/µ* and
    µ* = (1 − f)·µ*(1x) + f·µ*(SiO2); a + b = 1, so the air scatter the two share stays as measured. Nothing
    here is simulated: the peaks, halo, background and their noise are the measured ones (the esd is the two
    counts' propagated). Left out: the mixture's own microabsorption and particle statistics (silica beside
    the crystals), which only a measured mixture has.
    """
    from .io import load
    from .io._pattern import make_pattern
    from .quant.composition import mass_attenuation

    if not 0.0 < silica < 1.0:
        raise ValueError(f"silica fraction must be in (0, 1), got {silica}")
    shared_data = Path(shared_data)
    name = f"CPD-1{letter}.xye"
    row = {r["file"]: r for r in csv.DictReader(open(shared_data / "qpa" / "cpd1" / "weighed_wt_percent.csv"))}[name]
    cpd = load(shared_data / "qpa" / "cpd1" / name)
    glass = load_prn(shared_data / "qpa" / "cpd-pure" / "SILICA.PRN")
    tt1, tt2 = np.round(cpd.two_theta.values, 3), np.round(glass.two_theta.values, 3)
    common, i1, i2 = np.intersect1d(tt1, tt2, return_indices=True)
    y1, e1 = cpd.values[i1], cpd.esd.values[i1]
    y2 = glass.values[i2]
    e2 = np.sqrt(np.maximum(y2, 1.0))
    weighed = {CPD_PHASES[k]: float(row[k]) for k in CPD_PHASES}
    total = sum(weighed.values())
    mu_cpd = mass_attenuation({f: w / total for f, w in weighed.items()}, CU)
    mu_glass = mass_attenuation("SiO2", CU)
    mu = (1 - silica) * mu_cpd + silica * mu_glass
    a, b = (1 - silica) * mu_cpd / mu, silica * mu_glass / mu
    label = f"CPD-1{letter} + {100 * silica:g} wt% silica"
    pattern = make_pattern(label, label.encode(), common, a * y1 + b * y2, esd=np.sqrt((a * e1) ** 2 + (b * e2) ** 2),
                           attrs={}, raw_header=None, fmt="columns", counting=False)
    fractions = {f: (1 - silica) * w / total for f, w in weighed.items()}
    fractions["SiO2"] = silica
    return pattern, fractions


def run_cpd_silica(shared_data: Path, which: str = "ABCD", silica=(0.1, 0.2, 0.4),
                   model_uncertainty: str = "full", two_theta_range=CPD_RANGE) -> list[CaseResult]:
    """The internal-standard route on real data with a real amorphous phase: each CPD-1 mixture with silica
    added (:func:`cpd_with_silica`), each of its crystalline phases in turn the standard at its weighed
    fraction and the other two declared; truth is the silica's share of everything but the standard."""
    from .quant.api import quantify

    out = []
    for letter in which:
        for f in silica:
            pattern, fractions = cpd_with_silica(shared_data, letter, f)
            for std in CPD_PHASES.values():
                w_s = fractions[std]
                res = quantify(pattern, phases=[p for p in CPD_PHASES.values() if p != std], standard=(std, w_s),
                               instrument="cpd-pw3020", two_theta_range=two_theta_range,
                               model_uncertainty=model_uncertainty)
                out.append(CaseResult(
                    name=f"1{letter} + {100 * f:g} % silica, {std} {100 * w_s:.2f} %", truth={"amorphous": f / (1 - w_s)},
                    value={"amorphous": res.amorphous_fraction[0]}, esd={"amorphous": res.amorphous_fraction[1]},
                    rwp=res.rwp, gof=res.gof, converged=res.converged, elapsed_s=res.elapsed_s, warnings=res.warnings,
                    uncertainty={"amorphous": res.uncertainty["amorphous"]}, verdict=res.verdict,
                    verdict_reasons=res.verdict_reasons, standard_fraction=w_s,
                    decisions=[d["term"] for d in res.refinement.decisions if d["accepted"]]))
    return out


# Simulated MiniFlex mixtures: sample phases + amorphous, spiked with 50 wt% LiF. Each case perturbs
# the instrument (profile, asymmetry, zero), the specimen (displacement, crystallite sizes) and the
# counting statistics away from what the fit assumes (the nominal miniflex600 description).
SYNTHETIC_CASES = [
    # name, sample phases {name: fraction of the ORIGINAL sample}, amorphous of the sample, perturbation
    ("LAZCO-like, 80 % amorphous", {"LiCl": 0.12, "Li2ZrCl6": 0.08}, 0.80,
     dict(displacement_um=40, counts=20000, profile=dict(U=0.006, W=0.002, X=0.03), zero=0.01,
          size_nm={"LiCl": 45, "Li2ZrCl6": 30})),
    ("LAC-like, 45 % amorphous", {"LiAlCl4": 0.40, "LiCl": 0.15}, 0.45,
     dict(displacement_um=-60, counts=15000, profile=dict(U=0.003, W=0.001, s_l=0.03, h_l=0.03), zero=-0.01,
          size_nm={"LiAlCl4": 60, "LiCl": 50})),
    ("LAHC-like, 60 % amorphous", {"Li2HfCl6": 0.25, "LiCl": 0.15}, 0.60,
     dict(displacement_um=100, counts=30000, profile=dict(W=0.0025, X=0.02, Y=0.02), zero=0.0,
          size_nm={"Li2HfCl6": 40})),
    ("milled with ZrO2 wear, 70 % amorphous", {"LiCl": 0.2, "ZrO2-m": 0.1}, 0.70,
     dict(displacement_um=20, counts=10000, profile=dict(U=0.005, V=-0.003, W=0.002), zero=0.02,
          size_nm={"LiCl": 40, "ZrO2-m": 25})),
    ("nearly crystalline, 10 % amorphous", {"LiCl": 0.6, "Li2O": 0.3}, 0.10,
     dict(displacement_um=-20, counts=40000, profile=dict(X=0.035, s_l=0.02, h_l=0.03), zero=-0.015,
          size_nm={"LiCl": 90, "Li2O": 70})),
    ("fully amorphous but a trace, 95 %", {"LiCl": 0.05}, 0.95,
     dict(displacement_um=50, counts=8000, profile=dict(W=0.002), zero=0.0, size_nm={"LiCl": 40})),
    ("Li3InCl6, 30 % amorphous", {"Li3InCl6": 0.70}, 0.30,
     dict(displacement_um=-40, counts=25000, profile=dict(U=0.002, W=0.0012, X=0.028), zero=0.005,
          size_nm={"Li3InCl6": 80})),
    ("Li3YCl6 + LiCl, 50 % amorphous, low counts", {"Li3YCl6": 0.35, "LiCl": 0.15}, 0.50,
     dict(displacement_um=80, counts=5000, profile=dict(W=0.003, Y=0.015), zero=0.0,
          size_nm={"Li3YCl6": 50, "LiCl": 60})),
]


def simulate_case(case, seed: int, w_s: float = 0.5):
    """(pattern, truth) for one synthetic case."""
    from .model.simulate import simulate

    name, sample, amorphous, pert = case
    mixture = [("LiF", w_s)] + [(p, f * (1 - w_s)) for p, f in sample.items()]
    return simulate(mixture, amorphous=amorphous * (1 - w_s), standard="LiF", seed=seed,
                    peak_counts=pert.get("counts", 20000), displacement_um=pert.get("displacement_um", 0.0),
                    zero=pert.get("zero", 0.0), profile=pert.get("profile"), size_nm=pert.get("size_nm"),
                    sample=name)


def run_synthetic_case(case, seed: int = 1, w_s: float = 0.5, model_uncertainty: str = "fast") -> CaseResult:
    from .quant.api import quantify

    pattern, truth = simulate_case(case, seed, w_s)
    name, sample, amorphous, _ = case
    res = quantify(pattern, phases=list(sample), standard=("LiF", w_s), model_uncertainty=model_uncertainty)
    t = {"amorphous": truth["amorphous_fraction"], **truth["sample_fractions"]}
    v = {"amorphous": res.amorphous_fraction[0], **{k: res.sample_fractions[k][0] for k in sample}}
    e = {"amorphous": res.amorphous_fraction[1], **{k: res.sample_fractions[k][1] for k in sample}}
    u = res.uncertainty
    return CaseResult(name=name, truth=t, value=v, esd=e, rwp=res.rwp, gof=res.gof, converged=res.converged,
                      elapsed_s=res.elapsed_s, warnings=res.warnings,
                      uncertainty={"amorphous": u["amorphous"], **{k: u[f"sample:{k}"] for k in sample}},
                      verdict=res.verdict, verdict_reasons=res.verdict_reasons)


def run_synthetic(seed: int = 1) -> list[CaseResult]:
    return [run_synthetic_case(case, seed=seed + i) for i, case in enumerate(SYNTHETIC_CASES)]


def replicate_spread(case_index: int = 0, n: int = 20, first_seed: int = 100):
    """Amorphous estimates over ``n`` Poisson replicates: (values, esds)."""
    values, esds = [], []
    for k in range(n):
        r = run_synthetic_case(SYNTHETIC_CASES[case_index], seed=first_seed + k, model_uncertainty="off")
        values.append(r.value["amorphous"])
        esds.append(r.esd["amorphous"])
    return np.array(values), np.array(esds)


# ---- the independent set (GSAS-II / xrayutilities simulations, reference_patterns/validation) ----------
def independent_cases(root=None, *, replicates: bool = False, simulators=("gsas2", "xrayutilities")) -> list[Path]:
    """Truth files of the independent set that quantify an amorphous content (a standard is present);
    Poisson replicates only with ``replicates`` (they are one case 20 times)."""
    root = Path(root) if root is not None else INDEPENDENT
    out = []
    for sim in simulators:
        for path in sorted((root / sim).glob("*.truth.json")):
            truth = json.loads(path.read_text(encoding="utf-8"))
            if truth.get("standard") is None or (bool(truth.get("replicate_of")) != replicates):
                continue
            out.append(path)
    return out


#: GSAS-II cases of chemistries and textures the development set lacks (make_independent_set.py --breadth)
BREADTH_FOLDER = "gsas2-breadth"
#: GSAS-II cases simulated from true structures other than the CIFs the fit is given (--structure-errors)
STRUCTURE_FOLDER = "gsas2-structure"
#: the same question put by xrayutilities (--xrayutilities --structure-errors): its own |F|² and scattering factors
XU_STRUCTURE_FOLDER = "xrayutilities-structure"


def draw_folders(root=None) -> list[tuple[str, float]]:
    """(folder, counts factor) of every further draw of the GSAS-II set (``make_independent_set.py --draw TAG``),
    the most counts first."""
    out = []
    for folder in sorted(Path(root if root is not None else INDEPENDENT).glob("gsas2-*")):
        truth = next(folder.glob("*.truth.json"), None)
        draw = json.loads(truth.read_text(encoding="utf-8")).get("draw") if truth else None
        if draw:
            out.append((folder.name, float(draw["counts_factor"])))
    return sorted(out, key=lambda f: (-f[1], f[0]))


def _case_phases(truth: dict, repo: Path) -> list:
    """``NAME=CIF`` for every sample phase (the standard is added by quantify); for a fully amorphous
    sample, candidate phases of its chemistry that should come out at ≈ 0."""
    std = truth["standard"]["phase"]
    listed = [p for p in truth["phases"] if p["name"] != std]
    if listed:
        return [f"{p['name']}={repo / p['cif']}" for p in listed]
    names = list(CANDIDATES_FOR_AMORPHOUS)
    formula = truth.get("amorphous_formula")
    if formula and (repo / "reference_patterns" / "phases" / f"{formula}.cif").is_file() and formula not in names:
        names.append(formula)
    return [f"{n}={repo / 'reference_patterns' / 'phases' / f'{n}.cif'}" for n in names]


def run_independent_case(truth_path, *, engine: str = "native", **options) -> CaseResult:
    """Quantify one independent case with the DEFAULT recipe, the truth's CIFs, W_s and purity, and
    instrument ``miniflex600`` (nominal: the simulated instrument is not given to the fit)."""
    truth_path = Path(truth_path)
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    res = _quantify_case(truth_path, truth, _case_phases(truth, truth_path.resolve().parents[3]), engine=engine,
                         **options)
    sample = truth["sample"]
    t = {"amorphous": float(sample["amorphous"]), **{k: float(v) for k, v in sample["phases"].items()}}
    v = {"amorphous": res.amorphous_fraction[0], **{k: res.sample_fractions[k][0] for k in sample["phases"]}}
    e = {"amorphous": res.amorphous_fraction[1], **{k: res.sample_fractions[k][1] for k in sample["phases"]}}
    name = f"{truth_path.parent.name}/{truth_path.name.replace('.truth.json', '')}"
    out = CaseResult(name=name, truth=t, value=v, esd=e, rwp=res.rwp, gof=res.gof, converged=res.converged,
                     elapsed_s=res.elapsed_s, warnings=res.warnings,
                     decisions=[d["term"] for d in res.refinement.decisions if d["accepted"]],
                     uncertainty={"amorphous": res.uncertainty["amorphous"],
                                  **{k: res.uncertainty[f"sample:{k}"] for k in sample["phases"]}},
                     verdict=res.verdict, verdict_reasons=res.verdict_reasons)
    return out


def _quantify_case(truth_path: Path, truth: dict, phases: list, **options):
    """The independent set's quantification of one case: the truth's W_s and purity, nominal ``miniflex600``, model
    uncertainty "fast" unless ``options`` say otherwise."""
    from .quant.api import quantify

    std = truth["standard"]
    return quantify(truth_path.with_name(truth_path.name.replace(".truth.json", ".xye")), phases=phases,
                    standard=(std["phase"], float(std["weighed_fraction"])), purity=float(std.get("purity", 1.0)),
                    instrument="miniflex600", **{"model_uncertainty": "fast", **options})


def run_independent(root=None, *, replicates: bool = False, engine: str = "native", names=None,
                    simulators=("gsas2", "xrayutilities"), jobs: int = 1, **options) -> list[CaseResult]:
    """Every case of the independent set (or those whose file stem is in ``names``); ``simulators``: the
    set's folders (``gsas2-expected`` holds the GSAS-II cases' noise-free expected counts). ``jobs`` > 1: the
    cases in that many processes (each case is one independent quantification; results in the same order)."""
    from functools import partial

    paths = independent_cases(root, replicates=replicates, simulators=simulators)
    if names is not None:
        paths = [p for p in paths if p.name.replace(".truth.json", "") in set(names)]
    return map_cases(partial(run_independent_case, engine=engine, **options), paths, jobs)


@dataclass
class MissingPhaseResult:
    """An independent case quantified with one of its sample phases left out of the list: what the result says."""

    name: str
    left_out: str
    left_out_fraction: float  # its fraction of the original sample (0–1)
    truth: float  # the sample's amorphous fraction
    amorphous: float
    uncertainty: float
    verdict: str
    verdict_reasons: list


def missing_phase_cases(root=None, simulators=("gsas2", "xrayutilities")) -> list[tuple[Path, str]]:
    """(truth path, phase) for every case of the independent set with two or more sample phases: its SMALLEST phase,
    the hardest to notice when a user forgets it (down to 2 wt%)."""
    out = []
    for path in independent_cases(root, simulators=simulators):
        phases = json.loads(path.read_text(encoding="utf-8"))["sample"]["phases"]
        if len(phases) >= 2:
            out.append((path, min(phases, key=phases.get)))
    return out


def run_missing_phase_case(item) -> MissingPhaseResult:
    """Quantify ``item`` = (truth path, phase) as :func:`run_independent_case` does, with that phase left out."""
    truth_path, left_out = Path(item[0]), item[1]
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    phases = [spec for spec in _case_phases(truth, truth_path.resolve().parents[3]) if spec.split("=", 1)[0] != left_out]
    res = _quantify_case(truth_path, truth, phases)
    return MissingPhaseResult(name=f"{truth_path.parent.name}/{truth_path.name.replace('.truth.json', '')}",
                              left_out=left_out, left_out_fraction=float(truth["sample"]["phases"][left_out]),
                              truth=float(truth["sample"]["amorphous"]), amorphous=float(res.amorphous_fraction[0]),
                              uncertainty=float(res.uncertainty["amorphous"]), verdict=res.verdict,
                              verdict_reasons=list(res.verdict_reasons))


def map_cases(fn, items, jobs: int = 1) -> list:
    """``fn`` over ``items``, results in order; in ``jobs`` processes when > 1 (validation cases are independent
    quantifications). Spawned, not forked: the caller may have threads running (a test session's dask or
    plotting), and a fork copies whatever lock one of them held."""
    items = list(items)
    if jobs <= 1 or len(items) < 2:
        return [fn(x) for x in items]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(min(jobs, len(items)), mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(fn, items))


def independent_replicates(root=None, jobs: int = 1):
    """(values, esds, truth) of the amorphous content over the Poisson replicates of the set."""
    results = run_independent(root, replicates=True, jobs=jobs)
    if not results:
        return np.array([]), np.array([]), np.nan
    truths = {r.truth["amorphous"] for r in results}
    if len(truths) != 1:
        raise ValueError(f"replicates of more than one truth: {sorted(truths)}")
    return (np.array([r.value["amorphous"] for r in results]), np.array([r.esd["amorphous"] for r in results]),
            truths.pop())
