"""Reflection lists: multiplicities, absences, |F|² against Dans_Diffraction and xraydb."""

from __future__ import annotations

import itertools

import gemmi
import numpy as np
import pytest

from xrdq.crystal import read_cif
from xrdq.crystal.reflections import systematically_absent

from crystal_cifs import CORUNDUM, LIF, MIXED

CU = 1.5406


def _by_hkl(refl):
    return {tuple(h): (m, f2) for h, m, f2 in zip(refl.hkl.tolist(), refl.multiplicity, refl.f2)}


def test_lif_multiplicities_and_fcc_absences(write_cif):
    refl = read_cif(write_cif(LIF)).reflections(120.0, CU)
    got = _by_hkl(refl)
    assert [tuple(h) for h in refl.hkl[:5].tolist()] == [(1, 1, 1), (2, 0, 0), (2, 2, 0), (3, 1, 1), (2, 2, 2)]
    assert {h: got[h][0] for h in [(1, 1, 1), (2, 0, 0), (2, 2, 0), (3, 1, 1), (2, 2, 2), (4, 0, 0)]} == {
        (1, 1, 1): 8, (2, 0, 0): 6, (2, 2, 0): 12, (3, 1, 1): 24, (2, 2, 2): 8, (4, 0, 0): 6}
    # F-centring: h, k, l all even or all odd
    parity = refl.hkl % 2
    assert np.all(parity.min(axis=1) == parity.max(axis=1))
    assert np.all(np.diff(refl.d) <= 0)
    assert np.allclose(refl.two_theta[0], 2 * np.degrees(np.arcsin(CU / (2 * refl.d[0]))))


def test_multiplicities_sum_to_all_hkl_in_sphere(write_cif):
    """Σ multiplicity + absent = all lattice points with d ≥ d_min (no equivalent lost or doubled)."""
    for text in (CORUNDUM, MIXED):
        ph = read_cif(write_cif(text))
        refl = ph.reflections(70.0, CU)
        d_min = CU / (2 * np.sin(np.radians(35.0)))
        rng = [np.arange(-int(x / d_min), int(x / d_min) + 1) for x in ph.cell[:3]]
        hkl = np.array([h for h in itertools.product(*rng) if any(h)])
        hkl = hkl[ph.d_spacing(hkl) >= d_min]
        present = ~systematically_absent(hkl, ph.symmetry)
        assert refl.multiplicity.sum() == present.sum()


def test_corundum_multiplicities_and_absences(write_cif):
    refl = read_cif(write_cif(CORUNDUM)).reflections(90.0, CU)
    got = _by_hkl(refl)
    assert got[(0, 1, 2)][0] == 6 and got[(1, 0, 4)][0] == 6 and got[(1, 1, 0)][0] == 6
    assert got[(0, 0, 6)][0] == 2 and got[(1, 1, 3)][0] == 12
    # R centring on hexagonal axes: -h + k + l = 3n; c-glide: h -h 0 l with l odd absent (0 0 3 too)
    assert np.all((-refl.hkl[:, 0] + refl.hkl[:, 1] + refl.hkl[:, 2]) % 3 == 0)
    assert (0, 0, 3) not in got and (0, 0, 6) in got


def test_absences_match_gemmi_and_are_zero_numerically(write_cif):
    """Symmetry absences agree with gemmi, and a general-position atom gives F = 0 exactly there."""
    ph = read_cif(write_cif(MIXED))
    ops = gemmi.find_spacegroup_by_number(14).operations()
    hkl = np.array([h for h in itertools.product(range(-4, 5), repeat=3) if any(h)])
    ours = systematically_absent(hkl, ph.symmetry)
    theirs = np.array([ops.is_systematically_absent(list(map(int, h))) for h in hkl])
    assert np.array_equal(ours, theirs) and ours.any()
    # numeric check: F from the full-cell atoms vanishes on every absent hkl, not on the others
    from xrdq.crystal.reflections import structure_factor_squared

    f2 = structure_factor_squared(hkl, ph.d_spacing(hkl), ph.atoms, CU)
    assert np.all(f2[ours] < 1e-18 * f2.max())
    assert np.all(f2[~ours] > 1e-8 * f2.max())


def test_accidental_zero_is_kept(write_cif):
    """CsCl-like cell with two identical atoms at 0 and ½ in Pm-3m: 100 has F = 0 by accident of the
    atoms (it is not a space-group absence), so it must stay in the list with |F|² ≈ 0."""
    text = LIF.replace("'F m -3 m'", "'P m -3 m'").replace("F1 F 0.5 0.5 0.5 1 0.8", "Li2 Li 0.5 0.5 0.5 1 1.0")
    refl = read_cif(write_cif(text)).reflections(90.0, CU)
    got = _by_hkl(refl)
    assert (1, 0, 0) in got and got[(1, 0, 0)][1] < 1e-20
    assert got[(1, 1, 0)][1] > 10


def test_friedel_average_in_noncentrosymmetric_group(write_cif):
    """In P1 with two different atoms, f″ makes |F(h)|² ≠ |F(−h)|²; the list holds their mean."""
    text = MIXED.replace("'P 1 21/c 1'", "'P 1'").replace("_space_group_IT_number 14", "_space_group_IT_number 1")
    text = text.replace("'-x, y+1/2, -z+1/2'\n'-x, -y, -z'\n'x, -y+1/2, z+1/2'\n", "")
    ph = read_cif(write_cif(text))
    refl = ph.reflections(60.0, CU)
    from xrdq.crystal import scattering

    e = scattering.energy_ev(CU)
    h = refl.hkl[:, None, :]
    at = ph.atoms
    s = 0.5 / refl.d

    def fj(j):
        ion, el = at.scatterers[at.scatterer_index[j]]
        fp, fpp = scattering.anomalous(el, e)
        return (scattering.f0(ion, s) + fp + 1j * fpp) * at.occupancy[j] * np.exp(-at.b_iso[j] * s * s)

    f_all = np.stack([fj(j) for j in range(len(at.occupancy))], axis=1)
    phase = np.exp(2j * np.pi * np.sum(h * at.fract[None], axis=2))
    fp_ = np.abs(np.sum(f_all * phase, axis=1)) ** 2
    fm_ = np.abs(np.sum(f_all / phase, axis=1)) ** 2
    assert np.max(np.abs(fp_ - fm_) / fp_) > 1e-3  # Friedel's law really is broken here
    np.testing.assert_allclose(refl.f2, (fp_ + fm_) / 2, rtol=1e-10)
    assert set(np.unique(refl.multiplicity)) == {2}


def test_single_atom_uses_xraydb_f0_f1_f2():
    """F of one atom at the origin is f0(s) + f′ + i f″ times DW: check against xraydb directly."""
    xraydb = pytest.importorskip("xraydb")
    from types import SimpleNamespace

    from xrdq.crystal.reflections import structure_factor_squared

    atoms = SimpleNamespace(fract=np.zeros((1, 3)), occupancy=np.array([0.9]), b_iso=np.array([1.3]),
                            scatterer_index=np.array([0]), scatterers=(("Zr4+", "Zr"),))
    hkl = np.array([[1, 0, 0], [2, 1, 0], [3, 3, 1]])
    d = np.array([3.1, 1.7, 0.9])
    s = 0.5 / d
    energy = 12398.419843320026 / CU
    f = xraydb.f0("Zr4+", s) + xraydb.f1_chantler("Zr", energy) + 1j * xraydb.f2_chantler("Zr", energy)
    expected = np.abs(0.9 * f * np.exp(-1.3 * s * s)) ** 2
    np.testing.assert_allclose(structure_factor_squared(hkl, d, atoms, CU), expected, rtol=1e-12)
    assert xraydb.f2_chantler("Zr", energy) > 2  # f″ really is switched on at Cu Kα


@pytest.mark.parametrize("text", [LIF, CORUNDUM, MIXED], ids=["LiF", "corundum", "mixed-Zr/Al-partial-Li"])
def test_f2_agrees_with_dans_diffraction(text, write_cif):
    """|F|² against Dans_Diffraction, an independent code reading the same CIF.

    Anomalous off: Dans with Waasmaier–Kirfel f0 ('waaskirf') and the same Debye–Waller
    exp(−U Q²/2) = exp(−B s²) must agree to 1e-6. Anomalous on: Dans's 'xray dispersion' uses ITC
    (Cromer–Mann) f0 and Henke f′/f″, not WK and Chantler, so exact agreement is impossible; we require
    1 % on the strong reflections (measured ≤ 0.5 %), and test f′/f″ against xraydb separately above.
    Both sides are averaged over h and −h (Dans's f0 + f′ − i f″ sign then does not matter).
    """
    dif = pytest.importorskip("Dans_Diffraction")
    path = write_cif(text)
    ph = read_cif(path)
    on = ph.reflections(90.0, CU)
    off = ph.reflections(90.0, CU, anomalous=False)
    xtl = dif.Crystal(path)
    assert len(xtl.Structure.get()[0]) == len(ph.atoms.occupancy)
    xtl.Scatter.setup_scatter(scattering_type="xray", scattering_factors="waaskirf", output=False)
    dans_off = (xtl.Scatter.intensity(on.hkl) + xtl.Scatter.intensity(-on.hkl)) / 2
    xtl.Scatter.setup_scatter(scattering_type="xray dispersion", energy_kev=12.398419843320026 / CU, output=False)
    dans_on = (xtl.Scatter.intensity(on.hkl) + xtl.Scatter.intensity(-on.hkl)) / 2
    strong = on.f2 > 0.05 * on.f2.max()
    assert strong.sum() >= 3
    np.testing.assert_allclose(off.f2, dans_off, rtol=1e-6, atol=1e-9 * off.f2.max())
    np.testing.assert_allclose(on.f2[strong], dans_on[strong], rtol=0.01)
    assert np.max(np.abs(on.f2[strong] / off.f2[strong] - 1)) > 0.005  # dispersion changes |F|²


def test_two_theta_window(write_cif):
    ph = read_cif(write_cif(CORUNDUM))
    full = ph.reflections(90.0, CU)
    part = ph.reflections(90.0, CU, two_theta_min=40.0)
    assert len(part) == np.sum(full.two_theta >= 40.0) and part.two_theta.min() >= 40.0
    with pytest.raises(ValueError):
        ph.reflections(10.0, CU, two_theta_min=20.0)


def test_reflection_list_of_a_large_cell(tmp_path):
    """50-site P2₁/c (200 atoms) to 90° 2θ with Cu Kα: the speed target (≤ 50 ms) lives in scripts/bench_crystal.py."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    from bench_crystal import fifty_site_cif

    path = tmp_path / "bench.cif"
    path.write_text(fifty_site_cif())
    ph = read_cif(path)
    assert len(ph.atoms.occupancy) == 200
    refl = ph.reflections(90.0, CU)
    assert len(refl) > 1000
