"""External standard (G-factor), composition → µ*/ρ, PONKCS phase files and amorphous estimates: unit tests."""

import numpy as np
import pytest

from xrdq.crystal import load_phase
from xrdq.errors import XrdqPhaseError, XrdqQuantError
from xrdq.model.instrument import load_instrument
from xrdq.model.ponkcs import PonkcsPhase, read_ponkcs, resolve_any_phase
from xrdq.quant.composition import mass_attenuation, parse_composition, ratio_esd
from xrdq.quant.estimates import consistency, relative_to_standard, subset_fractions
from xrdq.quant.external_standard import (G_TRANSFER_REL_SD, ScaleCalibration, absolute_fractions, calibrate_scale,
                                          combine_calibrations)

CU = 1.540593


def test_composition_formula_and_weighted_formulas():
    assert parse_composition("Li2.7Al0.7Zr0.3Cl6") == {"Li2.7Al0.7Zr0.3Cl6": 1.0}
    c = parse_composition("Al2O3:30.79, CaF2:20.06,ZnO:19.68,SiO2:29.47")
    assert list(c) == ["Al2O3", "CaF2", "ZnO", "SiO2"]
    assert sum(c.values()) == pytest.approx(1.0) and c["Al2O3"] == pytest.approx(0.3079)
    # µ*/ρ is the mass-weighted mean of the components' µ/ρ
    mix = mass_attenuation("Al2O3:1,CaF2:3", CU)
    assert mix == pytest.approx(0.25 * mass_attenuation("Al2O3", CU) + 0.75 * mass_attenuation("CaF2", CU))


def test_composition_uses_the_same_table_as_the_phases():
    for name, formula in (("Al2O3", "Al2O3"), ("LiF", "LiF"), ("ZnO", "ZnO")):
        assert mass_attenuation(formula, CU) == pytest.approx(load_phase(name).mass_attenuation(CU), rel=1e-6)


@pytest.mark.parametrize("spec, words", [
    ("Xx2O3", ["'Xx'", "element"]),
    ("Al2O3)", ["does not parse"]),
    ("Al2O3:abc,ZnO:1", ["'abc'", "not a number"]),
    ("Al2O3:-3,ZnO:2", ["Al2O3", "≥ 0"]),
    ("Al2O3:30,", ["part ''", "FORMULA:WEIGHT"]),
    ("Al2O3:0,ZnO:0", ["sum to zero"]),
    ("", ["expected a formula"]),
])
def test_composition_that_does_not_parse_is_a_clear_error(spec, words):
    with pytest.raises(XrdqQuantError) as exc:
        parse_composition(spec)
    for w in words:
        assert w in str(exc.value)


def test_mu_ratio_uncertainty_is_the_table_difference():
    assert ratio_esd("Al2O3", "Al2O3", CU) == 0.0
    assert 0.002 < ratio_esd("CaF2", "Al2O3", CU) < 0.05


def test_absolute_fractions_equation_and_jacobian():
    names = ["A", "B", "glass"]
    s = np.array([2e-3, 5e-4, 1.0])
    zmv = np.array([1.5e5, 4e4, 120.0])
    cov = np.diag((0.01 * s) ** 2)
    cov[0, 1] = cov[1, 0] = 0.3 * 0.01 * s[0] * 0.01 * s[1]
    mu, g, g_esd, mu_rel, k = 40.0, 12000.0, 60.0, 0.01, 1.5
    r = absolute_fractions(names, s, cov, zmv, {"A", "B"}, mu, mu_rel, g, g_esd, k)
    w = s * zmv * mu / (g * k)
    assert [r.fractions[n][0] for n in names] == pytest.approx(list(w))
    assert r.amorphous[0] == pytest.approx(1 - w[0] - w[1])

    def amorph(p):  # p = S..., G, ln µ
        return 1 - np.sum(p[:2] * zmv[:2] * np.exp(p[4])) / (p[3] * k)
    p0 = np.r_[s, g, np.log(mu)]
    grad = np.array([(amorph(p0 + h * e) - amorph(p0 - h * e)) / (2 * h)
                     for h, e in zip(np.r_[1e-4 * s, 1e-3 * g, 1e-6], np.eye(5))])
    cov_p = np.zeros((5, 5))
    cov_p[:3, :3] = cov
    cov_p[3, 3], cov_p[4, 4] = g_esd**2, mu_rel**2
    assert r.amorphous[1] == pytest.approx(np.sqrt(grad @ cov_p @ grad), rel=1e-4)



def test_external_route_takes_the_spike_out_and_divides_by_brindleys_tau():
    """One home for the external standard's arithmetic: the main result and each model-uncertainty variant (with
    its own scales, and τ for microabsorption) go through the same ExternalRoute."""
    from xrdq.quant.estimates import ExternalRoute

    names = ["A", "LiF", "glass"]
    s, zmv = np.array([2e-3, 5e-4, 1.0]), np.array([1.5e5, 4e4, 120.0])
    route = ExternalRoute(40.0, 0.0, 12000.0, 0.0, 1.0, ("A", "LiF"), "LiF", 0.2, 0.98)
    w = s * zmv * 40.0 / 12000.0
    q = route.quantities(names, s, zmv)
    assert q["sample:A"] == pytest.approx(w[0] / 0.8) and "sample:LiF" not in q
    assert q["amorphous"] == pytest.approx((1 - w[0] - w[1] - 0.02 * 0.2) / 0.8)
    tau = np.array([1.1, 0.9, 1.0])
    assert route.quantities(names, s, zmv, tau)["sample:A"] == pytest.approx(w[0] / 1.1 / 0.8)

def test_moving_g_moves_only_what_rests_on_it():
    """The assumed transfer of G to another specimen is a model component that scales every phase scale by
    1/(1 + G_TRANSFER_REL_SD): the internal standard's and Hill–Howard's fractions (ratios of scales) stay, the
    external route's crystalline fractions lose that share and the amorphous one gains it."""
    from xrdq.quant.estimates import ExternalRoute
    from xrdq.quant.uncertainty import quantities

    names = ["A", "LiF"]
    info = {"A": {"cell_mass": 300.0, "volume": 500.0}, "LiF": {"cell_mass": 103.8, "volume": 65.0}}
    s = np.array([2e-3, 6e-3])
    k = 1.0 / (1.0 + G_TRANSFER_REL_SD)
    spiked = dict(standard=("LiF", 0.5), purity=1.0)
    q0, q1 = quantities(s, names, info, **spiked), quantities(s * k, names, info, **spiked)
    assert q1 == pytest.approx(q0, rel=1e-12)
    route = ExternalRoute(40.0, 0.0, 1e3, 0.0, 1.0, ("A", "LiF"))
    e0, e1 = quantities(s, names, info, external=route), quantities(s * k, names, info, external=route)
    assert e1["refined:A"] == pytest.approx(e0["refined:A"], rel=1e-12)
    assert e1["sample:A"] == pytest.approx(k * e0["sample:A"], rel=1e-12)
    assert e1["amorphous"] - e0["amorphous"] == pytest.approx((1 - e0["amorphous"]) * (1 - k), rel=1e-9)


def test_subset_renormalisation_and_ratio_to_standard():
    w = np.array([0.2, 0.3, 0.5])
    ws, cov = subset_fractions(w, np.diag([1e-4, 1e-4, 1e-4]), [0, 1])
    assert ws == pytest.approx([0.4, 0.6]) and cov.shape == (2, 2) and cov[0, 0] > 0
    # PONKCS amount relative to a weighed standard: c W_s (S_p Z_p)/(S_s Z_s)/(1 − W_s)
    v, e = relative_to_standard(["std", "p"], [1.0, 2.0], np.diag([1e-4, 4e-4]), [3.0, 1.5], ["p"], "std", 0.5, 1.0)
    assert v == pytest.approx(1.0) and e == pytest.approx(np.sqrt(2) * 0.01, rel=1e-6)


def test_ponkcs_route_takes_the_more_precise_scaling_of_the_original_sample():
    """With a spike AND G, the PONKCS amount comes from whichever scaling is known better, and from G it is
    per unit of the ORIGINAL sample (the spike's share removed), like the spike's route."""
    from xrdq.quant.estimates import ponkcs_route

    names = ["A", "std", "glass"]
    s, zmv, w_s = np.array([1e-3, 2e-3, 0.5]), np.array([1e5, 5e4, 400.0]), 0.1
    g, mu = 12000.0, 40.0
    w_mix = s * zmv * mu / g  # absolute fractions of the measured specimen
    for std_rel, expect in ((0.05, "external standard (G)"), (1e-4, "internal standard")):
        cov = np.diag(([0.002, std_rel, 0.004] * s) ** 2)
        ext = absolute_fractions(names, s, cov, zmv, {"A", "std"}, mu, 0.0, g, 0.0)
        v, e, basis = ponkcs_route(names, ["glass"], None, None, s, cov, zmv, std="std", ext=ext, w_s=w_s,
                                   zmv_rel_esd={"glass": 0.01})
        assert basis == expect
        if expect.startswith("external"):
            assert v == pytest.approx(w_mix[2] / (1 - w_s))
            assert e == pytest.approx(v * np.hypot(0.004, 0.01), rel=1e-6)
        else:
            assert v == pytest.approx(w_s * s[2] * zmv[2] / (s[1] * zmv[1]) / (1 - w_s))


def test_a_ponkcs_curve_beside_a_stiffer_background_than_its_calibrations_is_warned_about():
    from xrdq.quant.estimates import ponkcs_background_warnings

    ph = _ponkcs(calibration={"background_terms": 8})
    assert ponkcs_background_warnings([ph, load_phase("Al2O3")], 8) == []
    (w,) = ponkcs_background_warnings([ph], 4)
    assert "calibrated beside 8 background terms" in w and "this refinement has 4" in w and "--background-terms" in w
    assert ponkcs_background_warnings([_ponkcs()], 4) == []  # an older file that does not say: nothing to compare


def test_consistency_is_the_largest_pairwise_difference_in_combined_esds():
    assert consistency({"a": (0.5, 0.01)}) is None
    c = consistency({"a": (0.50, 0.03), "b": (0.54, 0.04), "c": (0.50, 0.0)})
    assert c == pytest.approx(1.0)  # b against the exact c: 0.04 / 0.04


def _calibration(**changes):
    base = dict(G=12000.0, G_esd=40.0, instrument="cpd-pw3020", wavelength=1.540593, phase="Al2O3",
                known_fraction=1.0, composition="Al2O3:1", mass_attenuation=31.55, divergence_slit_deg=1.0,
                variable_slit=False, count_time_s=3.0)
    base.update(changes)
    return ScaleCalibration(**base)


def test_g_file_round_trip(tmp_path):
    cal = _calibration(two_theta_range=(15.0, 145.0), file="x.xy", sha256="ab" * 32)
    cal.write(tmp_path / "G.toml")
    back = ScaleCalibration.read(tmp_path / "G.toml")
    assert back.G == cal.G and back.two_theta_range == (15.0, 145.0) and back.source == str(tmp_path / "G.toml")
    back.check_compatible(load_instrument("cpd-pw3020"))


@pytest.mark.parametrize("value", ["-1.0", "0.0", "5.0", '"1.01"', "nan"])
def test_a_g_files_table_ratio_must_be_a_number_near_one(tmp_path, value):
    path = tmp_path / "G.toml"
    path.write_text(_calibration().to_toml() + f"anomalous_table_ratio = {value}\n")
    with pytest.raises(XrdqQuantError, match=f"{path}: field anomalous_table_ratio = .*a number near 1"):
        ScaleCalibration.read(path)
    path.write_text(_calibration().to_toml() + "anomalous_table_ratio = 1.0071\n")
    assert ScaleCalibration.read(path).anomalous_table_ratio == 1.0071


def test_g_from_another_instrument_or_wavelength_is_refused(tmp_path):
    with pytest.raises(XrdqQuantError, match="field instrument = 'cpd-pw3020'.*miniflex600"):
        _calibration().check_compatible(load_instrument("miniflex600"))
    inst = load_instrument("cpd-pw3020")
    with pytest.raises(XrdqQuantError, match="field wavelength = 1.78897"):
        _calibration(wavelength=1.78897).check_compatible(inst)
    with pytest.raises(XrdqQuantError, match="field divergence_slit_deg = 0.5"):
        _calibration(divergence_slit_deg=0.5).check_compatible(inst)


@pytest.mark.parametrize("text, words", [
    ("G = 1.0\n", ["not an xrdq scale calibration"]),
    ('format = "xrdq-scale-calibration-1"\nG = 1.0\n', ["missing", "instrument"]),
    ("not toml [[[", ["not a TOML"]),
])
def test_bad_g_files_are_clear_errors(tmp_path, text, words):
    path = tmp_path / "G.toml"
    path.write_text(text)
    with pytest.raises(XrdqQuantError) as exc:
        ScaleCalibration.read(path)
    assert str(path) in str(exc.value)
    for w in words:
        assert w in str(exc.value)


def test_g_from_several_specimens_is_their_mean_and_their_spread(tmp_path):
    """Three specimens: G their mean, G_esd its standard error, G_specimen_sd their standard deviation — which a
    sample's own specimen shares, so its σ(G) is √(G_esd² + sd²); the file keeps each specimen."""
    cals = [_calibration(G=g, G_esd=e, file=f"s{i}.xy", sha256=str(i) * 64)
            for i, (g, e) in enumerate([(12000.0, 20.0), (12300.0, 30.0), (12150.0, 25.0)])]
    comb = combine_calibrations(cals)
    sd = float(np.std([12000.0, 12300.0, 12150.0], ddof=1))
    assert comb.G == pytest.approx(12150.0) and comb.G_specimen_sd == pytest.approx(sd) and comb.specimens == 3
    assert comb.G_esd == pytest.approx(sd / np.sqrt(3))  # the scatter says more than the counting esds here
    assert comb.G_esd_for_a_specimen == pytest.approx(np.hypot(sd / np.sqrt(3), sd)) and comb.transfer_measured
    assert not cals[0].transfer_measured and cals[0].G_esd_for_a_specimen == cals[0].G_esd
    comb.write(tmp_path / "G.toml")
    back = ScaleCalibration.read(tmp_path / "G.toml")
    assert back.specimen_G == (12000.0, 12300.0, 12150.0) and back.specimen_file == ("s0.xy", "s1.xy", "s2.xy")
    assert back.G_specimen_sd == pytest.approx(sd) and back.specimens == 3
    # specimens that agree better than their counting allows: the standard error is the counting one
    tight = combine_calibrations([_calibration(G=12000.0, G_esd=60.0, sha256="a" * 64),
                                  _calibration(G=12001.0, G_esd=60.0, sha256="b" * 64)])
    assert tight.G_esd == pytest.approx(60.0 / np.sqrt(2))


@pytest.mark.parametrize("change, words", [
    ({"instrument": "miniflex600"}, "field instrument"),
    ({"wavelength": 1.78897}, "field wavelength"),
    ({"count_time_s": 6.0}, "field count_time_s"),
    ({"known_fraction": 0.5}, "field known_fraction"),
    ({"recipe": "{'refine': ['biso']}"}, "B was refined in one"),
    ({"sha256": "a" * 64}, "same measurement"),
])
def test_specimens_measured_otherwise_are_not_combined(change, words):
    first = _calibration(sha256="a" * 64, file="first.xy")
    with pytest.raises(XrdqQuantError, match=words):
        combine_calibrations([first, _calibration(**{"sha256": "b" * 64, **change})])
    with pytest.raises(XrdqQuantError, match="at least two"):
        combine_calibrations([first])


def test_a_g_file_whose_specimen_lists_do_not_match_is_a_clear_error(tmp_path):
    path = tmp_path / "G.toml"
    path.write_text(_calibration().to_toml().replace("specimens = 1", "specimens = 2\nspecimen_G = [1.0]"))
    with pytest.raises(XrdqQuantError, match="specimen_G must list one entry per specimen"):
        ScaleCalibration.read(path)
    path.write_text(_calibration().to_toml().replace("specimens = 1", "specimens = 2"))
    with pytest.raises(XrdqQuantError, match="G_specimen_sd"):
        ScaleCalibration.read(path)


def test_negative_g_is_refused(tmp_path):
    path = tmp_path / "G.toml"
    _calibration(G=-5.0).write(path)
    with pytest.raises(XrdqQuantError, match="field G = -5.0"):
        ScaleCalibration.read(path)


def test_counting_time_normalisation_only_when_both_files_say():
    import xarray as xr

    cal = _calibration(count_time_s=2.0, current_mA=None)
    pat = xr.DataArray([1.0], dims="two_theta", attrs={"count_time_s": 6.0, "current_mA": 40.0})
    factor, note = cal.count_factor(pat)
    assert factor == pytest.approx(3.0) and "counting time per step 6/2" in note and "tube current assumed equal" in note
    factor, note = cal.count_factor(xr.DataArray([1.0], dims="two_theta"))
    assert factor == 1.0 and "assumed equal" in note


@pytest.mark.parametrize("known", [{"Al2O3": -0.3}, {"Al2O3": 0.0}, {"Al2O3": 1.2}, {"Al2O3": float("nan")}])
def test_negative_or_impossible_known_fractions_are_refused(known):
    with pytest.raises(XrdqQuantError, match="known fraction of Al2O3"):
        calibrate_scale("never-read.xy", ["Al2O3", "ZnO"], known=known, sample_composition="Al2O3:1,ZnO:1")


def test_several_phases_need_to_say_which_is_known():
    with pytest.raises(XrdqQuantError, match="say which one is known"):
        calibrate_scale("never-read.xy", ["Al2O3", "ZnO"])


def test_external_standard_needs_a_composition_and_the_native_engine(tmp_path):
    from xrdq.quant.api import quantify

    _calibration().write(tmp_path / "G.toml")
    with pytest.raises(XrdqQuantError, match="bulk composition"):
        quantify("never-read.xy", phases=["Al2O3"], standard=None, external_standard=tmp_path / "G.toml")
    with pytest.raises(XrdqQuantError, match="native engine"):
        quantify("never-read.xy", phases=["Al2O3"], standard=None, external_standard=tmp_path / "G.toml",
                 sample_composition="Al2O3", engine="gsas2")
    with pytest.raises(XrdqQuantError, match="does not parse"):
        quantify("never-read.xy", phases=["Al2O3"], standard=None, external_standard=tmp_path / "G.toml",
                 sample_composition="Al2O3+")


def _ponkcs(**changes):
    base = dict(name="glass", formula="SiO2", kind="amorphous", zmv=350.0, zmv_esd=2.0, instrument="cpd-pw3020",
                wavelength=1.540593, humps=((22.0, 7.0, 5000.0), (70.0, 20.0, 900.0)), two_theta_range=(10.0, 140.0),
                calibration={"basis": "test"})
    base.update(changes)
    return PonkcsPhase(**base)


def test_ponkcs_phase_file_round_trip_and_curve(tmp_path):
    ph = _ponkcs()
    ph.write(tmp_path / "glass.phase.toml")
    back = resolve_any_phase(f"silica={tmp_path / 'glass.phase.toml'}")
    assert back.name == "silica" and back.zmv == 350.0 and back.humps == ph.humps
    wide = np.linspace(-3000, 3000, 600001)  # the Lorentzian halves of the humps have long tails
    assert np.trapezoid(back.curve(wide), wide) == pytest.approx(5900.0, rel=2e-3)  # unit-area humps × areas
    tt = np.linspace(10, 140, 6501)
    curve = back.curve(tt)
    assert back.cell_mass * back.volume == 350.0 and back.cell_parameters() == {}
    assert back.mass_attenuation(CU) == pytest.approx(mass_attenuation("SiO2", CU))
    tab = _ponkcs(humps=(), two_theta=tt, intensity=curve)
    assert np.allclose(tab.curve(tt[::7]), curve[::7])


def test_ponkcs_phase_refuses_another_instrument_and_a_wider_range():
    with pytest.raises(XrdqPhaseError, match="calibrated on instrument 'cpd-pw3020'"):
        _ponkcs().make_model(load_instrument("miniflex600"), (15.0, 100.0))
    with pytest.raises(XrdqPhaseError, match="beyond the calibrated 10–140"):
        _ponkcs().make_model(load_instrument("cpd-pw3020"), (5.0, 100.0))


@pytest.mark.parametrize("text, words", [
    ("zmv = 3\n", ["not an xrdq PONKCS phase"]),
    ('format = "xrdq-ponkcs-phase-1"\nname = "g"\n', ["missing", "zmv"]),
])
def test_bad_ponkcs_files_are_clear_errors(tmp_path, text, words):
    path = tmp_path / "g.phase.toml"
    path.write_text(text)
    with pytest.raises(XrdqPhaseError) as exc:
        read_ponkcs(path)
    for w in words:
        assert w in str(exc.value)


def test_ponkcs_phase_needs_a_positive_zmv_and_a_known_kind():
    with pytest.raises(XrdqPhaseError, match="zmv"):
        _ponkcs(zmv=-1.0)
    with pytest.raises(XrdqPhaseError, match="kind 'glassy'"):
        _ponkcs(kind="glassy")


def test_g_is_refused_for_a_file_measured_with_another_slit_before_any_refinement(tmp_path):
    """The slit G was measured with against the one the sample's file says (not the instrument description's
    nominal one, which both share): a MiniFlex standard at 0.625° and a sample at 1.25° differ by 2× in intensity."""
    import xarray as xr

    from xrdq.model.instrument import measured_instrument
    from xrdq.quant.api import quantify

    pattern = xr.DataArray(np.ones(3), dims="two_theta", coords={"two_theta": [20.0, 20.01, 20.02]},
                           attrs={"divergence_slit": "1.25deg"})  # too short to refine: the check comes first
    cal = _calibration(instrument="miniflex600", divergence_slit_deg=0.625)
    same = pattern.copy()
    same.attrs["divergence_slit"] = "0.625deg"
    cal.check_compatible(measured_instrument(same, load_instrument("miniflex600"))[0], same)  # same slit: G holds
    with pytest.raises(XrdqQuantError, match="field divergence_slit_deg = 0.625 but instrument 'miniflex600' has 1.25"):
        quantify(pattern, phases=["Al2O3"], standard=None, external_standard=cal, sample_composition="Al2O3")
