"""The shipped scattering table (scripts/make_scattering_table.py) against xraydb's live values."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from xrdq.crystal import scattering

REPO = Path(__file__).resolve().parents[2]
RAW = json.loads(scattering.TABLE_PATH.read_text(encoding="utf-8"))


@pytest.fixture
def xraydb():
    return pytest.importorskip("xraydb")


def _clear_caches():
    for fn in (scattering._table, scattering.f0_ion, scattering.f0_coefficients, scattering.anomalous,
               scattering.mu_rho_element):
        fn.cache_clear()


def test_table_holds_every_bundled_instrument_wavelength():
    """A bundled instrument whose wavelength is missing would silently fall back to the slow path."""
    for path in sorted((REPO / "reference_patterns" / "instruments").glob("*.toml")):
        for lam, _ in tomllib.loads(path.read_text())["wavelengths"]:
            found = scattering._line(scattering.energy_ev(lam))
            assert found is not None, f"{path.name}: λ = {lam} Å not in the table"


def test_f0_coefficients_match_xraydb(xraydb):
    """Every scatterer as xraydb gives it (Waasmaier–Kirfel), except neutral hydrogen: see the next test."""
    s = np.linspace(0.0, 2.0, 41)
    assert set(RAW["f0"]) == set(xraydb.f0_ions())
    for ion in RAW["f0"]:
        if ion == "H":
            continue
        np.testing.assert_allclose(scattering.f0(ion, s), xraydb.f0(ion, s), rtol=0, atol=1e-6, err_msg=ion)


def test_hydrogen_is_the_bonded_atom(xraydb):
    """H in a crystal is bonded: the Stewart–Davidson–Simpson form factor of the International Tables (Vol. C, Table
    6.1.1.4: f = 0.568 at sinθ/λ = 0.2 Å⁻¹, 0.331 at 0.3), which GSAS-II uses too, not Waasmaier–Kirfel's free atom
    (0.481, 0.251). With the free atom brucite's intensity per mass was 1.1 % below GSAS-II's."""
    np.testing.assert_allclose(scattering.f0("H", [0.0, 0.2, 0.3]), [1.000, 0.567, 0.331], atol=2e-3)
    assert xraydb.f0("H", 0.2)[0] == pytest.approx(0.481, abs=2e-3)  # what it replaces


def _sample():
    """Every element at the bundled instruments' wavelengths; every 7th element at the other lines."""
    bundled = {lam for p in (REPO / "reference_patterns" / "instruments").glob("*.toml")
               for lam, _ in tomllib.loads(p.read_text())["wavelengths"]}
    for line in RAW["lines"]:
        elements = list(line["f1_f2_mu"])
        for el in elements if line["wavelength"] in bundled else elements[::7]:
            yield line["wavelength"], el


def test_anomalous_and_attenuation_match_xraydb(xraydb):
    checked = 0
    for lam, el in _sample():
        e = scattering.energy_ev(lam)
        fp, fpp = scattering.anomalous(el, e)
        assert fp == pytest.approx(float(xraydb.f1_chantler(el, e)), rel=1e-9, abs=1e-6), (lam, el)
        assert fpp == pytest.approx(float(xraydb.f2_chantler(el, e)), rel=1e-9, abs=1e-6), (lam, el)
        assert scattering.mu_rho_element(el, e) == pytest.approx(float(xraydb.mu_elam(el, e, kind="total")),
                                                                 rel=1e-9, abs=1e-6), (lam, el)
        checked += 1
    assert checked > 400


def test_wavelength_not_in_table_falls_back_to_xraydb(xraydb):
    e = scattering.energy_ev(1.0)  # no lab line
    assert scattering._line(e) is None
    assert scattering.anomalous("Zr", e) == (float(xraydb.f1_chantler("Zr", e)), float(xraydb.f2_chantler("Zr", e)))
    assert scattering.mu_rho_element("Zr", e) == float(xraydb.mu_elam("Zr", e, kind="total"))


def test_missing_table_means_xraydb_for_everything(xraydb, monkeypatch, tmp_path):
    e = scattering.energy_ev(1.540593)
    with_table = (scattering.anomalous("Cl", e), scattering.mu_rho_element("Cl", e), scattering.f0_ion("Zr", 4),
                  scattering.f0("Cl1-", [0.1, 0.5]).tolist())
    monkeypatch.setattr(scattering, "TABLE_PATH", tmp_path / "absent.json")
    _clear_caches()
    try:
        assert scattering._table() == {"f0": {}, "lines": {}}
        without = (scattering.anomalous("Cl", e), scattering.mu_rho_element("Cl", e), scattering.f0_ion("Zr", 4),
                   scattering.f0("Cl1-", [0.1, 0.5]).tolist())
        np.testing.assert_allclose(np.hstack([np.ravel(v) for v in without if not isinstance(v, str)]),
                                   np.hstack([np.ravel(v) for v in with_table if not isinstance(v, str)]), atol=1e-6)
        assert without[2] == with_table[2] == "Zr4+"
        with pytest.raises(ValueError):
            scattering.f0("Xx9+", 0.1)
    finally:
        monkeypatch.undo()
        _clear_caches()


def test_structure_factors_need_no_xraydb_import():
    """Reflections and µ/ρ at Cu Kα come from the table: xraydb (SQLAlchemy, ~1 s) is not imported."""
    code = ("import sys; from xrdq.crystal import load_phase; "
            "[(load_phase(n).reflections(90.0, 1.540593), load_phase(n).mass_attenuation(1.540593)) "
            "for n in ('LiF', 'Li2ZrCl6', 'ZrO2-m', 'CeO2')]; "
            "print('xraydb' in sys.modules, 'sqlalchemy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_the_cromer_liberman_table_covers_the_chantler_tables_lines():
    """The model uncertainty's second f′/f″ table (scripts/make_anomalous_table.py) holds every wavelength and element
    of the first, so that no bundled instrument lacks the member; and it is a different table, as GSAS-II has it."""
    second = json.loads(scattering.CROMER_LIBERMAN_PATH.read_text(encoding="utf-8"))
    assert [line["wavelength"] for line in second["lines"]] == [line["wavelength"] for line in RAW["lines"]]
    for line in second["lines"]:
        assert len(line["f1_f2"]) == 92 and all(np.isfinite(v).all() for v in line["f1_f2"].values())
    cu = scattering.energy_ev(1.540593)
    ce_chantler, ce_cl = scattering.anomalous("Ce", cu), scattering.anomalous_cromer_liberman("Ce", cu)
    assert ce_cl[0] == pytest.approx(-1.854, abs=0.01) and ce_chantler[0] == pytest.approx(-2.033, abs=0.01)
    assert ce_cl[1] == pytest.approx(ce_chantler[1], rel=0.01)  # f″ agree; f′ is where they part
    assert scattering.anomalous_cromer_liberman("Ce", scattering.energy_ev(1.2345)) is None  # no such line


def test_the_cromer_liberman_table_is_gsas2s():
    """Spot-check against GSAS-II's own FPcalc where GSAS-II is installed (docs/gsas2.md)."""
    pytest.importorskip("GSASII", reason="GSAS-II is not installed (docs/gsas2.md)")
    from GSASII import GSASIIElem as G2el

    for lam in (1.540593, 1.544414, 0.709317):
        energy = scattering.energy_ev(lam)
        for el in ("Li", "F", "Ca", "Ti", "Zn", "Zr", "In", "Ce", "Hf"):
            fp, fpp, _ = G2el.FPcalc(G2el.GetXsectionCoeff(el), energy / 1000.0)
            assert scattering.anomalous_cromer_liberman(el, energy) == pytest.approx((fp, fpp), abs=2e-6), (lam, el)


def test_structure_factors_with_another_anomalous_table():
    """``anomalous_table`` replaces Chantler's f′, f″ in |F|² and nothing else: the default table passed explicitly
    gives the same numbers, Cromer–Liberman's moves CeO2 by its f′ difference."""
    from xrdq.crystal import load_phase
    from xrdq.crystal.reflections import structure_factor_squared

    ceo2 = load_phase("CeO2")
    refl = ceo2.reflections(80.0, 1.540593)
    same = structure_factor_squared(refl.hkl, refl.d, ceo2.atoms, 1.540593, anomalous_table=scattering.anomalous)
    assert np.array_equal(same, refl.f2)
    other = structure_factor_squared(refl.hkl, refl.d, ceo2.atoms, 1.540593,
                                     anomalous_table=scattering.anomalous_cromer_liberman)
    # 111: the O pairs cancel, F = 4(f0_Ce + f′ + i f″); f′ 0.18 e less negative → |F|² ≈ 2·0.18/f_Ce higher
    assert 1.004 < other[0] / refl.f2[0] < 1.012
