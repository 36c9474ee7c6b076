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
