"""CIFs with bad or implausible content: a clear error naming the file and the site or field, or a flag the
verdict sees — never a traceback from deep inside numpy, never a silently wrong number."""

from __future__ import annotations

import pytest

from xrdq.crystal import read_cif
from xrdq.errors import XrdqPhaseError

from crystal_cifs import LIF


@pytest.mark.parametrize("unknown", ["?", "."])
def test_an_unknown_coordinate_is_refused_at_load(write_cif, unknown):
    # gemmi reads ? as NaN: the fit died with "SVD did not converge"
    path = write_cif(LIF.replace("F1 F 0.5 0.5", f"F1 F {unknown} 0.5"), "unknown_x")
    with pytest.raises(XrdqPhaseError) as err:
        read_cif(path)
    assert str(err.value).startswith(f"{path} (data_LiF): site F1: _atom_site_fract_x is unknown ({unknown}); "
                                      "a structure needs every coordinate")


def test_a_nan_coordinate_is_refused_without_offering_unknown(write_cif):
    with pytest.raises(XrdqPhaseError, match=r"site F1: _atom_site_fract_z = nan; expected a finite number$"):
        read_cif(write_cif(LIF.replace("F1 F 0.5 0.5 0.5", "F1 F 0.5 0.5 nan")))


def _cubic(text: str, a: float) -> str:
    for axis in "abc":
        text = text.replace(f"_cell_length_{axis} 4.027", f"_cell_length_{axis} {a:g}")
    return text


def test_a_huge_cell_is_refused_before_its_reflections_are_built(write_cif):
    # a = b = c = 200 Å passes the cell checks (0.5–1000 Å) but built tens of GB of hkl and was killed
    path = write_cif(_cubic(LIF, 200), "huge")
    phase = read_cif(path, name="LiF")
    with pytest.raises(XrdqPhaseError) as err:
        phase.reflections(90.0, 1.5406)
    message = str(err.value)
    assert message.startswith(f"phase LiF ({path}): cell volume 8e+06 Å³ gives ≈ 2.")
    assert "reciprocal-lattice points" in message and "wrong unit" in message


def test_the_lattice_point_estimate_counts_the_limiting_sphere():
    import numpy as np

    from xrdq.crystal.cell import d_spacing
    from xrdq.crystal.reflections import _generate_hkl, estimated_lattice_points

    cell, d_min = (9.1, 11.3, 13.7, 84.0, 97.0, 101.0), 0.8
    hkl = _generate_hkl(cell, d_min)
    counted = int(np.count_nonzero(d_spacing(hkl, cell) >= d_min))
    assert estimated_lattice_points(cell, d_min) == pytest.approx(counted, rel=0.02)


def test_every_reference_phase_lists_its_reflections_to_the_back_of_the_goniometer():
    from xrdq.crystal import list_phases, load_phase

    for name in list_phases():
        assert len(load_phase(name).reflections(179.0, 1.5406)) > 0, name
