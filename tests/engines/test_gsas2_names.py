"""GSAS-II's variables read back under the native engine's names and units (no GSAS-II needed)."""

import math

import pytest

from xrdq.engines.gsas2.names import xrdq_name
from xrdq.model.instrument import Instrument, gsas2_profile_terms
from xrdq.refine.specs import spec_of

BY_ID = {"0": "LiF", "1": "Li2ZrCl6"}


@pytest.mark.parametrize("var,name", [
    (":0:Zero", "zero"), (":0:Shift", "displacement_um"), (":0:Transparency", "penetration_um"), (":0:U", "U"), (":0:Y", "Y"), (":0:SH/L", "asymmetry"),
    ("1:0:MD", "Li2ZrCl6_po_ratio"), ("0:0:Mustrain;i", "LiF_strain_broadening"), (":0:BkPkpos;0", "hump0_center"),
])
def test_a_parameter_both_engines_refine_has_the_native_name(var, name):
    got, _ = xrdq_name(var, BY_ID, 0)
    assert got == name and spec_of(got) is not None  # a name of the native table


def test_gsas2_units_are_converted_to_xrdq_units():
    inst = Instrument(U=0.004, V=-0.002, W=0.003, X=0.03, Y=0.01, s_l=0.02, h_l=0.02)
    g2 = gsas2_profile_terms(inst.U, inst.V, inst.W, inst.X, inst.Y, inst.s_l, inst.h_l)
    for term, xrdq in (("U", inst.U), ("V", inst.V), ("W", inst.W), ("X", inst.X), ("Y", inst.Y),
                       ("SH/L", inst.s_l)):
        name, factor = xrdq_name(f":0:{term}", BY_ID, 0)
        assert factor * g2[term] == pytest.approx(xrdq, rel=1e-12), name
    assert xrdq_name("0:0:Size;i", BY_ID, 0) == ("LiF_size_nm", 1000.0)
    # 1000 µε: GSAS-II's Lorentzian FWHM 0.018·1000·tanθ/π centidegrees, the native strain_broadening·tanθ degrees
    name, factor = xrdq_name("0:0:Mustrain;i", BY_ID, 0)
    assert factor * 1000.0 == pytest.approx(0.018 * 1000.0 / math.pi / 100.0)
    assert xrdq_name(":0:BkPkint;1", BY_ID, 0) == ("hump1_area", 0.01)


def test_what_only_gsas2_has_keeps_a_name_of_its_own():
    assert xrdq_name("0:0:Scale", BY_ID, 0)[0] == "LiF_phase_fraction"  # not the native (ZMV) scale
    assert xrdq_name(":0:Back;3", BY_ID, 0)[0] == "chebyshev3"  # not the native background basis
    assert xrdq_name("1::A2", BY_ID, 0)[0] == "Li2ZrCl6_A2"
    assert xrdq_name("0::AUiso:0", BY_ID, 0)[0] == "0::AUiso:0"
    for var in ("0:0:Scale", ":0:Back;3", ":0:Scale"):
        assert spec_of(xrdq_name(var, BY_ID, 0)[0]) is None


def test_the_gsas2_recipe_has_a_name_of_its_own():
    import xrdq.engines.gsas2 as g2
    from xrdq.engines.gsas2.recipe import GsasRecipe
    from xrdq.refine import Recipe

    assert g2.GsasRecipe is GsasRecipe and GsasRecipe is not Recipe
    with pytest.warns(DeprecationWarning, match="GsasRecipe"):
        assert g2.Recipe is GsasRecipe  # the old public name still resolves, with a warning
