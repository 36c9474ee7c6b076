"""The shipped reference phases: every CIF loads, cites its source and has a sensible density."""

from __future__ import annotations

import re

import gemmi
import pytest

from reference_patterns import PHASES
from xrdq.crystal import list_phases, load_phase
from xrdq.crystal.library import phase_path
from xrdq.errors import XrdqPhaseError

# Density (g/cm³) to compare with. "lit": literature/handbook value; "xray": X-ray density
# Z·M/(N_A·V) of the nominal formula in the published cell, worked out by hand (it checks that the
# sites, multiplicities and occupancies reproduce the formula, not the cell).
DENSITIES = {
    "LiF": 2.635,  # lit (CRC Handbook)
    "LiCl": 2.068,  # lit
    "Li2O": 2.013,  # lit
    "AlCl3": 2.48,  # lit
    "LiAlCl4": 1.974,  # xray: 4 × 175.78 / (N_A × 591.2 Å³)
    "Li3InCl6": 2.69,  # xray: 2 × 348.3 / (N_A × 429.5 Å³)
    "Li3YCl6": 2.44,  # xray: 3 × 322.4 / (N_A × 658.0 Å³)
    "Li3OCl": 2.01,  # xray: 1 × 72.28 / (N_A × 59.70 Å³)
    "Li2ZrCl6": 2.55,  # xray: 3 × 317.8 / (N_A × 621.7 Å³)
    "Li2HfCl6": 3.25,  # xray: 3 × 405.1 / (N_A × 621.7 Å³)
    "ZrCl4": 2.803,  # lit (Merck Index)
    "HfCl4": 3.89,  # lit (CRC Handbook)
    "ZrO2-m": 5.83,  # xray of baddeleyite (measured 5.68)
    "Al2O3": 3.987,  # lit (corundum)
    "ZnO": 5.61,  # lit
    "CaF2": 3.18,  # lit
    "MgOH2": 2.37,  # lit (brucite 2.37–2.39)
    "Si": 2.329,  # lit
    "LaB6": 4.71,  # measured, Eliseev et al. 1986
    "CeO2": 7.215,  # lit
    "TiO2-anatase": 3.893,  # lit (Howard et al. 1991 cell)
    "TiO2-rutile": 4.250,  # lit
    "Fe3O4": 5.197,  # xray: 8 × 231.53 / (N_A × 591.9 Å³); lit 5.17–5.20
    "ZrSiO4": 4.66,  # xray: 4 × 183.31 / (N_A × 261.1 Å³); lit 4.6–4.7 (Hf-bearing)
}
REQUIRED = ["LiF", "LiCl", "Li2O", "AlCl3", "LiAlCl4", "Li2ZrCl6", "Li2HfCl6", "ZrCl4", "HfCl4", "Li3InCl6",
            "Li3YCl6", "ZrO2-m", "Al2O3", "ZnO", "CaF2", "Mg(OH)2", "Si", "LaB6", "CeO2", "TiO2-anatase",
            "TiO2-rutile", "magnetite", "zircon", "Li3OCl"]


def test_every_required_phase_is_shipped():
    for name in REQUIRED:
        assert phase_path(name).is_file(), name
    assert len(list_phases()) >= len(REQUIRED)
    assert phase_path("Li3ClO") == phase_path("Li3OCl")  # both spellings are in use


@pytest.mark.parametrize("name", sorted(DENSITIES))
def test_reference_phase_loads_with_published_density(name):
    ph = load_phase(name)
    assert ph.density == pytest.approx(DENSITIES[name], rel=0.03)
    assert not ph.notes, ph.notes  # every site has B, setting explicit, Z consistent
    refl = ph.reflections(90.0, 1.5406)
    assert len(refl) > 3 and refl.f2.max() > 0
    assert ph.mass_attenuation(1.5406) > 0


@pytest.mark.parametrize("name", sorted(DENSITIES))
def test_reference_cif_cites_its_source(name):
    path = phase_path(name)
    text = path.read_text()
    assert text.startswith("# "), "comment header"
    block = gemmi.cif.read(str(path)).sole_block()
    assert block.find_values("_publ_author_name")
    assert block.find_value("_journal_name_full") and re.fullmatch(r"\d{4}", block.find_value("_journal_year"))
    assert block.find_value("_xrdq_structure_quality") in ("published", "noisy", "approximate")
    assert "Quality:" in text


def test_formula_times_z_matches_cell_contents():
    for name in DENSITIES:
        ph = load_phase(name)
        formula = dict((el, float(n) if n else 1.0) for el, n in re.findall(r"([A-Z][a-z]?)([0-9.]*)", ph.formula))
        for el, n in formula.items():
            assert ph.composition[el] == pytest.approx(ph.z * n, rel=0.02), (name, el)


def test_names_are_case_insensitive_and_aliases_work():
    assert load_phase("lif").name == "LiF"
    assert load_phase("Mg(OH)2").name == "MgOH2"
    assert load_phase("corundum").name == "Al2O3"
    assert load_phase(PHASES / "Si.cif").name == "Si"


def test_unknown_name_lists_the_choices():
    with pytest.raises(XrdqPhaseError, match="unknown phase 'NaCl'.*LiF"):
        load_phase("NaCl")


def test_published_multiplicities_of_standards():
    refl = load_phase("Si").reflections(90.0, 1.5406)
    hkl = [tuple(h) for h in refl.hkl.tolist()]
    # 200 is a space-group absence (d-glide); 222 is allowed by Fd-3m and vanishes only because Si sits
    # on 8a (a site-conditioned extinction): it must stay in the list with |F|² ≈ 0.
    assert hkl[:5] == [(1, 1, 1), (2, 2, 0), (3, 1, 1), (2, 2, 2), (4, 0, 0)]
    assert list(refl.multiplicity[:5]) == [8, 12, 24, 8, 6]
    assert refl.f2[3] < 1e-20 * refl.f2[0]
    assert (2, 0, 0) not in hkl
    lab6 = load_phase("LaB6").reflections(45.0, 1.5406)
    assert [tuple(h) for h in lab6.hkl.tolist()] == [(1, 0, 0), (1, 1, 0), (1, 1, 1), (2, 0, 0)]


def test_make_reference_cifs_reproduces_the_shipped_files(tmp_path, monkeypatch):
    """The shipped CIFs are exactly what the script writes from its table (nobody hand-edited them)."""
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "scripts" / "make_reference_cifs.py"
    spec = importlib.util.spec_from_file_location("make_reference_cifs", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for p in mod.PHASES:
        assert (PHASES / f"{p['name']}.cif").read_text() == mod.cif_text(p), p["name"]
