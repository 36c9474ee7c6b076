"""The one table of refinable parameters drives creation, recipe groups, transforms and steps."""

import numpy as np
import pytest

from xrdq.crystal import load_phase
from xrdq.errors import XrdqRefineError
from xrdq.model.instrument import load_instrument
from xrdq.refine import default_recipe
from xrdq.refine.fit import Refinement
from xrdq.refine.objective import setup_from
from xrdq.refine.recipe import GROUPS, Stage
from xrdq.refine.specs import SPECS, spec, spec_of
from xrdq.refine.transforms import is_non_negative, typical_step


def _refinement(humps=((25.0, 8.0),)):
    inst = load_instrument("miniflex600")
    tt = np.arange(10.0, 80.0, 0.02)
    y = 100.0 + 50.0 * np.exp(-((tt - 38.7) / 0.1) ** 2)
    return Refinement(tt, y, np.sqrt(y), [load_phase("LiF"), load_phase("Al2O3")], inst,
                      recipe=default_recipe(humps=humps))


def test_every_parameter_is_made_from_its_spec():
    ref = _refinement()
    assert set(ref.params) == set(ref.specs)
    for name, par in ref.params.items():
        sp = ref.specs[name]
        assert spec_of(name) is sp, name
        assert (par.min, par.max) == sp.bounds(par.value, ref.instrument), name
    # the crystallite-size floor follows the wavelength: 8 nm at Cu Kα1
    assert ref.params["LiF_size_broadening"].max == pytest.approx(np.degrees(1.540593 / 80.0))
    assert ref.params["hump0_fwhm"].min == 3.0


def test_groups_select_what_the_table_says():
    ref = _refinement()
    assert set(GROUPS) == {g for s in SPECS for g in s.groups}
    assert ref._group_names("gaussian") == ["U", "W"]
    assert ref._group_names("profile") == ["U", "V", "W", "X", "Y"]
    assert ref._group_names("cell") == ["LiF_a", "Al2O3_a", "Al2O3_c"]
    assert ref._group_names("humps") == ["hump0_center", "hump0_fwhm"]
    assert ref._group_names("po") == []  # no phase has a texture axis yet
    ref.set_po_axis("Al2O3", (0, 0, 1))
    assert ref._group_names("po") == ["Al2O3_po_ratio"]
    with pytest.raises(XrdqRefineError, match="unknown group"):
        Stage("bad", ("cell", "sizes"))


def test_transforms_and_steps_look_the_name_up():
    assert is_non_negative("LiF_size_broadening") and is_non_negative("Li2ZrCl6_strain_broadening")
    assert not is_non_negative("hump0_fwhm") and not is_non_negative("LiF_b_overall")
    assert spec_of("LiF_b_overall").key == "b_overall" and spec_of("LiF_b").key == "b"
    assert spec_of("scale_LiF") is None and spec_of("hump0_area") is None
    assert typical_step("LiF_a", 4.03) == pytest.approx(4.03e-3)
    assert typical_step("Al2O3_gamma", 120.0) == spec("gamma").step == 0.01
    assert typical_step("displacement_um", 0.0) == 10.0


def test_global_values_set_the_profile_terms_and_the_specimen():
    values = {s.key: float(i + 1) for i, s in enumerate(SPECS) if s.scope == "global"}
    terms, specimen = setup_from(values)
    assert terms.s_l == terms.h_l == values["asymmetry"]
    assert (terms.U, terms.Y, terms.zero) == (values["U"], values["Y"], values["zero"])
    assert specimen.displacement_um == values["displacement_um"]
