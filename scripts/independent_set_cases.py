"""The cases of the independent validation set (scripts/make_independent_set.py).

Each case gives the chemistry and the amounts: the ORIGINAL sample (crystalline fractions x_i; the rest is
amorphous), the weighed fraction ``W_s`` of the LiF standard and its crystalline fraction ``purity``,
crystallite sizes (µm, GSAS-II's isotropic size), microstrain (GSAS-II's µstrain, 1e-6), March–Dollase
orientation, the target height of the strongest Bragg peak (counts) or a scale series, and the 2θ grid.
Nuisance parameters (instrument profile, displacement, zero, humps, background) are drawn per case from
its seed by the generator and recorded in the truth JSON.
"""

#: default crystallite sizes (µm): well crystallised phases and the LiF standard
DEFAULT_SIZE_UM = 0.5
STANDARD_SIZE_UM = 1.0

#: Scale series: every member is simulated with the same absolute scale K, fixed so that the anchor's
#: strongest Bragg peak reaches ``counts``. The pure patterns calibrate K (external standard, PONKCS).
SCALE_SERIES = {"S1": {"anchor": "pure_LiF", "counts": 40000.0}}

GRID = (10.0, 80.0, 0.02)
WIDE = (5.0, 90.0, 0.02)
FINE = (10.0, 80.0, 0.01)
SERIES_GRID = (10.0, 90.0, 0.02)

HALIDE_GLASS = "Li2ZrCl6"


def case(name, description, sample, W_s, *, purity=1.0, counts=10000.0, sizes=None, strain=None, po=None,
         grid=GRID, amorphous_formula=HALIDE_GLASS, series=None, replicates=0, standard=True, platelets=None):
    """``platelets``: phase → (equatorial µm, axial µm, axis hkl), GSAS-II's uniaxial crystallite size (its
    Lorentzian broadening depends on each reflection's angle to the axis; sizes give the isotropic kind)."""
    return {"case": name, "description": description, "sample": dict(sample), "W_s": W_s, "purity": purity,
            "counts": counts, "sizes": dict(sizes or {}), "strain": dict(strain or {}), "po": dict(po or {}),
            "grid": grid, "amorphous_formula": amorphous_formula, "series": series, "replicates": replicates,
            "standard": standard, "platelets": dict(platelets or {})}


CASES = [
    # --- seed chemistry, amorphous 0 … 100 % -------------------------------------------------------------
    case("lazco_a00", "LiCl + Li2ZrCl6, fully crystalline", {"LiCl": 0.55, "Li2ZrCl6": 0.45}, 0.2, counts=20000),
    case("lazco_a05", "Li2ZrCl6-rich, 5 % amorphous", {"LiCl": 0.15, "Li2ZrCl6": 0.80}, 0.3, counts=15000),
    case("lac_a15_po", "LiAlCl4 with (001) March–Dollase texture 0.80, 15 % amorphous",
         {"LiAlCl4": 0.60, "LiCl": 0.25}, 0.5, counts=12000, po={"LiAlCl4": ([0, 0, 1], 0.80)},
         amorphous_formula="LiAlCl4"),
    case("lahc_a25", "Li2HfCl6 + LiCl, 25 % amorphous, standard 97 % crystalline",
         {"Li2HfCl6": 0.50, "LiCl": 0.25}, 0.25, purity=0.97, counts=8000, amorphous_formula="Li2HfCl6"),
    case("lic_a35", "Li3InCl6, 35 % amorphous", {"Li3InCl6": 0.65}, 0.4, counts=10000,
         amorphous_formula="Li3InCl6"),
    case("lyc_a45_ws10", "Li3YCl6 + LiCl, 45 % amorphous, 10 wt% standard",
         {"Li3YCl6": 0.40, "LiCl": 0.15}, 0.1, counts=5000, amorphous_formula="Li3YCl6"),
    case("milled_a55_zro2", "ball-milled LiCl with 5 % nano ZrO2 wear debris, standard 95 % crystalline",
         {"LiCl": 0.40, "ZrO2-m": 0.05}, 0.5, purity=0.95, counts=10000, sizes={"ZrO2-m": 0.03}),
    case("lazco_a65_zro2", "LAZCO-like with 2 % ZrO2 wear debris, 65 % amorphous",
         {"LiCl": 0.20, "Li2ZrCl6": 0.13, "ZrO2-m": 0.02}, 0.3, counts=8000, sizes={"ZrO2-m": 0.04}),
    case("li2o_a75", "Li2O + LiCl, 75 % amorphous", {"Li2O": 0.15, "LiCl": 0.10}, 0.2, counts=6000,
         amorphous_formula="Li3OCl"),
    case("lac_a85_po", "LiAlCl4 (texture 0.85) + LiCl, 85 % amorphous", {"LiAlCl4": 0.10, "LiCl": 0.05}, 0.5,
         counts=10000, po={"LiAlCl4": ([0, 0, 1], 0.85)}, amorphous_formula="LiAlCl4"),
    case("trace_a95", "95 % amorphous with traces of LiCl and LiAlCl4", {"LiCl": 0.03, "LiAlCl4": 0.02}, 0.5,
         counts=8000, amorphous_formula="LiAlCl4"),
    case("amorphous_a100", "fully amorphous sample: only the standard is crystalline (98 % crystalline)", {},
         0.3, purity=0.98, counts=6000),
    # --- non-halide systems ------------------------------------------------------------------------------
    case("titania_a25", "nano anatase (20 nm) + rutile (300 nm), 25 % amorphous",
         {"TiO2-anatase": 0.45, "TiO2-rutile": 0.30}, 0.25, counts=15000,
         sizes={"TiO2-anatase": 0.02, "TiO2-rutile": 0.3}, amorphous_formula="TiO2", grid=WIDE),
    case("si_ceo2_a15", "Si (2 µm) + nano CeO2 (15 nm), 15 % amorphous, standard 96 % crystalline",
         {"Si": 0.50, "CeO2": 0.35}, 0.15, purity=0.96, counts=25000, sizes={"Si": 2.0, "CeO2": 0.015},
         amorphous_formula="SiO2", grid=WIDE),
    case("brucite_a35_po", "platy Mg(OH)2, March–Dollase (001) 0.75, 35 % amorphous", {"MgOH2": 0.65}, 0.3,
         counts=12000, po={"MgOH2": ([0, 0, 1], 0.75)}, amorphous_formula="SiO2"),
    # --- nano / counts / strain / standard variations -----------------------------------------------------
    case("lazco_nano_a40", "nano Li2ZrCl6 (20 nm) beside LiCl (500 nm), 40 % amorphous",
         {"Li2ZrCl6": 0.45, "LiCl": 0.15}, 0.4, counts=10000, sizes={"Li2ZrCl6": 0.02}),
    case("lic_low_a50", "Li3InCl6 + LiCl, 50 % amorphous, very low counts", {"Li3InCl6": 0.30, "LiCl": 0.20},
         0.5, counts=1000, amorphous_formula="Li3InCl6"),
    case("lahc_high_a60", "Li2HfCl6 + LiCl, 60 % amorphous, high counts, 0.01° steps",
         {"Li2HfCl6": 0.30, "LiCl": 0.10}, 0.3, counts=50000, grid=FINE, amorphous_formula="Li2HfCl6"),
    case("licl_zro2_a30", "LiCl with 4 % ZrO2 (50 nm), 30 % amorphous", {"LiCl": 0.66, "ZrO2-m": 0.04}, 0.2,
         counts=20000, sizes={"ZrO2-m": 0.05}),
    case("lyc_strain_a15", "Li3YCl6 with 1500 µstrain + LiCl, 15 % amorphous, standard 99 % crystalline",
         {"Li3YCl6": 0.70, "LiCl": 0.15}, 0.25, purity=0.99, counts=12000, strain={"Li3YCl6": 1500.0},
         amorphous_formula="Li3YCl6"),
    case("lic_a05_ws50", "Li3InCl6 + LiCl, 5 % amorphous, 50 wt% standard", {"Li3InCl6": 0.80, "LiCl": 0.15},
         0.5, counts=20000, amorphous_formula="Li3InCl6"),
    case("lac_a25_ws10", "LiAlCl4 + LiCl, 25 % amorphous, 10 wt% standard 95 % crystalline",
         {"LiAlCl4": 0.55, "LiCl": 0.20}, 0.1, purity=0.95, counts=15000, amorphous_formula="LiAlCl4"),
    case("li2o_low_a65", "Li2O + LiCl, 65 % amorphous, low counts", {"Li2O": 0.25, "LiCl": 0.10}, 0.4,
         counts=2000, amorphous_formula="Li3OCl"),
    case("lazco_nano_a85", "nano Li2ZrCl6 (15 nm) + LiCl, 85 % amorphous", {"Li2ZrCl6": 0.10, "LiCl": 0.05},
         0.2, counts=5000, sizes={"Li2ZrCl6": 0.015}),
    case("lahc_a95", "95 % amorphous with 5 % Li2HfCl6, 15 wt% standard", {"Li2HfCl6": 0.05}, 0.15,
         counts=15000, amorphous_formula="Li2HfCl6"),
    case("lyc_a100_ws10", "fully amorphous Li3YCl6 glass, 10 wt% standard", {}, 0.1, counts=4000,
         amorphous_formula="Li3YCl6"),
    case("lac_lazco_a45_po", "LiAlCl4 (texture 0.90) + Li2ZrCl6, 45 % amorphous",
         {"LiAlCl4": 0.40, "Li2ZrCl6": 0.15}, 0.3, counts=10000, po={"LiAlCl4": ([0, 0, 1], 0.90)},
         amorphous_formula="LiAlCl4"),
    case("lazco_zro2_a35", "LiCl + Li2ZrCl6 + 5 % ZrO2 (30 nm), 35 % amorphous",
         {"LiCl": 0.30, "Li2ZrCl6": 0.30, "ZrO2-m": 0.05}, 0.25, counts=12000, sizes={"ZrO2-m": 0.03}),
    # --- scale series S1 (same absolute scale K; pure patterns calibrate it) -------------------------------
    case("pure_LiF", "pure LiF standard (scale series S1 anchor)", {"LiF": 1.0}, 0.0, series="S1",
         grid=SERIES_GRID, standard=False, sizes={"LiF": STANDARD_SIZE_UM}),
    case("pure_Al2O3", "pure corundum (scale series S1)", {"Al2O3": 1.0}, 0.0, series="S1", grid=SERIES_GRID,
         standard=False, sizes={"Al2O3": 1.0}),
    case("oxide_a00", "corundum + zincite + fluorite, fully crystalline (scale series S1)",
         {"Al2O3": 0.40, "ZnO": 0.30, "CaF2": 0.30}, 0.2, series="S1", grid=SERIES_GRID, amorphous_formula="SiO2"),
    case("alumina_a75", "corundum, 75 % amorphous silica (scale series S1), standard 97 % crystalline",
         {"Al2O3": 0.25}, 0.45, purity=0.97, series="S1", grid=SERIES_GRID, amorphous_formula="SiO2"),
    case("zno_caf2_a55", "zincite + fluorite, 55 % amorphous silica (scale series S1)",
         {"ZnO": 0.25, "CaF2": 0.20}, 0.35, series="S1", grid=SERIES_GRID, amorphous_formula="SiO2"),
    # --- Poisson replicates (same expected pattern, 20 noise seeds) ----------------------------------------
    case("lazco_a40_rep", "LAZCO-like, 40 % amorphous: 20 Poisson replicates of one expected pattern",
         {"LiCl": 0.25, "Li2ZrCl6": 0.35}, 0.5, counts=10000, replicates=20),
]

#: the cases of the first delivery (a spread of amorphous levels, chemistries and nuisances)
FIRST_WAVE = ["lazco_a00", "lazco_a05", "lac_a15_po", "lahc_a25", "lic_a35", "lyc_a45_ws10", "milled_a55_zro2",
              "lazco_a65_zro2", "li2o_a75", "lac_a85_po", "trace_a95", "amorphous_a100", "titania_a25",
              "lazco_nano_a40", "lic_low_a50"]


def drawn_cases(tag: str, counts_factor: float = 8.0, replicates: int = 40) -> list:
    """A second draw of the set, for checking that the default recipe generalises (never tuned on): every
    case that has a standard, renamed ``<tag>_<case>`` (so the generator draws new nuisances from the new
    name: profile, zero, displacement, humps, background), its amorphous fraction moved by up to ±10 points
    (crystalline ratios kept; 0 % and 100 % stay), and ``counts_factor`` × the counts — the held-out patterns
    may be counted longer than ours. The scale-series cases keep their series (its anchor is scaled alike)."""
    import zlib

    import numpy as np

    rng = np.random.default_rng(zlib.crc32(tag.encode()))
    out = []
    for c in CASES:
        if not c["standard"]:
            continue
        sample, crystalline = dict(c["sample"]), sum(c["sample"].values())
        if 0.001 < crystalline < 0.999:
            amorphous = min(0.97, max(0.03, 1.0 - crystalline + rng.uniform(-0.10, 0.10)))
            sample = {k: v / crystalline * (1.0 - amorphous) for k, v in sample.items()}
        out.append(dict(c, case=f"{tag}_{c['case']}", sample=sample, counts=c["counts"] * counts_factor,
                        replicates=replicates if c["replicates"] else 0,
                        description=f"{c['description']} — draw {tag}: new nuisances, amounts moved, "
                                    f"{counts_factor:g}× the counts",
                        draw={"tag": tag, "of_case": c["case"], "counts_factor": counts_factor}))
    return out


#: Chemistries and textures outside the development set (``make_independent_set.py --breadth``, gsas2-breadth/):
#: an iron oxide (Fe's anomalous scattering; strongest absorber), zircon, brucite with a spherical-harmonics texture
#: (a shape March–Dollase, the only texture xrdq refines, does not have), unreacted monoclinic precursors of the
#: halide syntheses, and a platy monoclinic phase. Made and quantified once with the code as it stood; not tuned on.
SH_MILD = {"spherical_harmonics": {"order": 6, "coefficients": {"C(2,0)": 1.0, "C(4,0)": 0.6, "C(6,0)": 0.3}}}
SH_STRONG = {"spherical_harmonics": {"order": 6, "coefficients": {"C(2,0)": 1.8, "C(4,0)": 1.0, "C(6,0)": 0.4}}}
BREADTH = [
    case("br_cpd2_a30", "corundum + magnetite + zircon (CPD-2 chemistry), 30 % amorphous silica",
         {"Al2O3": 0.25, "Fe3O4": 0.20, "ZrSiO4": 0.25}, 0.3, counts=10000, amorphous_formula="SiO2"),
    case("br_cpd2_a00", "corundum + magnetite + zircon (CPD-2 chemistry), fully crystalline, 50 wt% standard",
         {"Al2O3": 0.35, "Fe3O4": 0.30, "ZrSiO4": 0.35}, 0.5, counts=15000, amorphous_formula="SiO2"),
    case("br_magnetite_a60", "magnetite, 60 % amorphous silica", {"Fe3O4": 0.40}, 0.25, counts=6000,
         amorphous_formula="SiO2"),
    case("br_zircon_a10", "zircon, 10 % amorphous silica, 5–90°", {"ZrSiO4": 0.90}, 0.2, counts=20000,
         amorphous_formula="SiO2", grid=WIDE),
    case("br_brucite_sh_a35", "brucite with a spherical-harmonics (001) texture, J = 1.25, 35 % amorphous",
         {"MgOH2": 0.65}, 0.3, counts=12000, po={"MgOH2": SH_MILD}, amorphous_formula="SiO2"),
    case("br_brucite_sh_cor_a20", "brucite with a spherical-harmonics texture, J = 1.77, + corundum, 20 % amorphous",
         {"MgOH2": 0.40, "Al2O3": 0.40}, 0.3, counts=12000, po={"MgOH2": SH_STRONG}, amorphous_formula="SiO2"),
    case("br_zrcl4_a50", "Li2ZrCl6 + LiCl with 5 % unreacted ZrCl4 (monoclinic P2/c), 50 % amorphous",
         {"Li2ZrCl6": 0.35, "LiCl": 0.10, "ZrCl4": 0.05}, 0.3, counts=8000),
    case("br_hfcl4_a70", "Li2HfCl6 + 10 % unreacted HfCl4, 70 % amorphous", {"Li2HfCl6": 0.20, "HfCl4": 0.10}, 0.2,
         counts=6000, amorphous_formula="Li2HfCl6"),
    case("br_alcl3_po_a40", "LiAlCl4 + platy AlCl3 (C2/m, March–Dollase (001) 0.80), 40 % amorphous",
         {"LiAlCl4": 0.40, "AlCl3": 0.20}, 0.25, counts=10000, po={"AlCl3": ([0, 0, 1], 0.80)},
         amorphous_formula="LiAlCl4"),
    # thin platelets: crystallites far smaller along (001) than across it, so (00l) peaks are broader than (hk0) —
    # broadening of a shape xrdq's isotropic size and strain do not have (added 2026-12-02 after the nine above)
    case("br_uni_brucite_a35", "brucite platelets 200 nm across, 20 nm thick (uniaxial size along (001)), "
         "March–Dollase 0.80, 35 % amorphous", {"MgOH2": 0.65}, 0.3, counts=12000,
         po={"MgOH2": ([0, 0, 1], 0.80)}, platelets={"MgOH2": (0.2, 0.02, [0, 0, 1])}, amorphous_formula="SiO2"),
    case("br_uni_bru_cor_a20", "brucite platelets 300 × 40 nm + corundum, 20 % amorphous",
         {"MgOH2": 0.40, "Al2O3": 0.40}, 0.3, counts=12000, platelets={"MgOH2": (0.3, 0.04, [0, 0, 1])},
         amorphous_formula="SiO2"),
    case("br_uni_lac_a30", "LiAlCl4 platelets 150 × 30 nm + LiCl, 30 % amorphous", {"LiAlCl4": 0.45, "LiCl": 0.25},
         0.3, counts=10000, platelets={"LiAlCl4": (0.15, 0.03, [0, 0, 1])}, amorphous_formula="LiAlCl4"),
]


#: Structure models that are not the phase's (``make_independent_set.py --structure-errors``, gsas2-structure/): each
#: case is simulated by GSAS-II with a TRUE structure that differs from the bundled CIF xrdq is then given — its sites
#: displaced at random within their site symmetry (σ in fractional units; 0.02–0.03 is 0.1–0.3 Å on these cells, what
#: an isotype-borrowed or idealised model can be off by), its metal sites' occupancies redistributed (the cation order
#: of a milled halide), or its B larger. The first users' Li2ZrCl6 and Li2HfCl6 CIFs are approximate models of that
#: kind, Li3InCl6 and Li3YCl6 noisy starting coordinates. Does u still hold the error? Made 2026-12-04 and first
#: quantified with the code as it stood; not tuned on.
def structure_case(name, base, true_structures, description, replicates=0):
    """A copy of the development case ``base`` under a new name (so new nuisances), one pattern (or ``replicates``
    Poisson replicates of one expected pattern), with ``true_structures``: phase → {"sigma": σ, "seed": n,
    "occupancy": {site label: value}, "b_iso": {element: Å²}}."""
    c = next(dict(c) for c in CASES if c["case"] == base)
    return dict(c, case=name, replicates=replicates, description=f"{c['description']}; {description}",
                true_structures=true_structures)


STRUCTURE_FOLDER_CASES = [
    structure_case("st_lazco_a40_xyz2", "lazco_a40_rep", {"Li2ZrCl6": {"sigma": 0.02, "seed": 1}},
                   "true Li2ZrCl6 sites displaced by σ 0.02"),
    structure_case("st_lazco_a05_xyz3", "lazco_a05", {"Li2ZrCl6": {"sigma": 0.03, "seed": 3}},
                   "true Li2ZrCl6 sites displaced by σ 0.03"),
    structure_case("st_lazco_nano_a40_xyz3", "lazco_nano_a40", {"Li2ZrCl6": {"sigma": 0.03, "seed": 5}},
                   "true Li2ZrCl6 sites displaced by σ 0.03"),
    structure_case("st_lazco_a65_zro2_occ", "lazco_a65_zro2", {"Li2ZrCl6": {"occupancy": {"Zr1": 0.25, "Zr2": 0.75}}},
                   "true Li2ZrCl6 with its 2d Zr sites' occupancies 0.25 / 0.75 (model 0.57 / 0.43)"),
    structure_case("st_lac_lazco_a45_occ", "lac_lazco_a45_po",
                   {"Li2ZrCl6": {"sigma": 0.01, "seed": 4, "occupancy": {"Zr1": 0.80, "Zr2": 0.20}}},
                   "true Li2ZrCl6 with 2d Zr occupancies 0.80 / 0.20 and sites displaced by σ 0.01"),
    structure_case("st_lazco_a00_b", "lazco_a00", {"Li2ZrCl6": {"b_iso": {"Zr": 2.5, "Cl": 3.5, "Li": 5.0}}},
                   "true Li2ZrCl6 with B of Zr, Cl, Li 2.5, 3.5, 5.0 Å² (model 1.2, 2.0, 3.0)"),
    structure_case("st_lahc_a25_xyz2", "lahc_a25", {"Li2HfCl6": {"sigma": 0.02, "seed": 6}},
                   "true Li2HfCl6 sites displaced by σ 0.02"),
    structure_case("st_lahc_a60_occ", "lahc_high_a60", {"Li2HfCl6": {"occupancy": {"Hf1": 0.30, "Hf2": 0.70}}},
                   "true Li2HfCl6 with its 2d Hf sites' occupancies 0.30 / 0.70"),
    structure_case("st_lic_a35_xyz2", "lic_a35", {"Li3InCl6": {"sigma": 0.02, "seed": 7}},
                   "true Li3InCl6 sites displaced by σ 0.02 from the CIF's noisy coordinates"),
    structure_case("st_lyc_a15_xyz2", "lyc_strain_a15", {"Li3YCl6": {"sigma": 0.02, "seed": 8}},
                   "true Li3YCl6 sites displaced by σ 0.02 from the CIF's noisy coordinates"),
    # added 2026-12-04 with the refined coordinates, to ask whether their esd is honest (not tuned on): 20 Poisson
    # replicates of one pattern whose Li2ZrCl6 sites are displaced (a structure of its own, seed 11)
    structure_case("st_lazco_a40_rep", "lazco_a40_rep", {"Li2ZrCl6": {"sigma": 0.02, "seed": 11}},
                   "true Li2ZrCl6 sites displaced by σ 0.02; 20 Poisson replicates", replicates=20),
]
