"""quantify() end to end on simulated MiniFlex data, its outputs, and the CLI."""

import json

import numpy as np
import pytest
import xarray as xr

import xrdq
from xrdq.cli import main
from xrdq.errors import XrdqQuantError, XrdqReadError
from xrdq.io.ras_writer import write_ras
from xrdq.model.simulate import simulate, write_truth

JSON_KEYS = {"file", "sha256", "engine", "xrdq_version", "standard", "amorphous_fraction", "amorphous_fraction_esd",
             "amorphous_fraction_uncertainty", "phases", "rwp", "gof", "converged", "warnings", "decisions",
             "elapsed_s", "verdict", "verdict_reasons", "unexplained_peaks", "provenance"}


@pytest.fixture(scope="module")
def lazco(tmp_path_factory):
    """A LAZCO-like pattern written as a real .ras file: LiF 50 wt% + 10 % LiCl + 40 % amorphous."""
    folder = tmp_path_factory.mktemp("lazco")
    pattern, truth = simulate([("LiF", 0.5), ("LiCl", 0.1)], amorphous=0.4, standard="LiF", seed=7,
                              displacement_um=30.0, size_nm={"LiCl": 50.0})
    path = folder / "lazco.ras"
    write_ras(pattern, path)
    write_truth(truth, folder / "lazco.truth.json")
    return path, truth


@pytest.fixture(scope="module")
def lazco_result(lazco):
    path, _ = lazco
    return xrdq.quantify(path, phases=["LiCl"], standard=("LiF", 0.5))


def test_amorphous_content_is_recovered(lazco, lazco_result):
    _, truth = lazco
    amorph, esd = lazco_result.amorphous_fraction
    assert truth["amorphous_fraction"] == pytest.approx(0.8)
    assert amorph == pytest.approx(0.8, abs=max(3 * esd, 0.005))
    assert lazco_result.sample_fractions["LiCl"][0] == pytest.approx(0.2, abs=0.01)
    assert lazco_result.converged and lazco_result.gof < 1.5
    assert "amorphous" in lazco_result.refinement.components  # the halo was found and modelled


def test_json_has_the_documented_shape(lazco, lazco_result, tmp_path):
    path, _ = lazco
    data = json.loads(lazco_result.to_json(tmp_path / "r.json"))
    assert set(data) == JSON_KEYS
    assert data["engine"] == "native" and data["xrdq_version"] == xrdq.__version__
    assert set(data["standard"]) == {"phase", "weighed_fraction", "purity", "source", "refined_fraction",
                                     "refined_fraction_esd", "refined_fraction_uncertainty"}
    assert data["standard"]["source"] == "given" and data["verdict"] == "ok" and data["verdict_reasons"] == []
    assert set(data["phases"]) == {"LiCl", "LiF"}
    assert data["phases"]["LiF"]["sample_fraction"] is None
    assert set(data["phases"]["LiCl"]) == {"refined_fraction", "refined_fraction_esd", "refined_fraction_uncertainty",
                                           "sample_fraction", "sample_fraction_esd", "sample_fraction_uncertainty"}
    licl = data["phases"]["LiCl"]
    assert licl["sample_fraction_uncertainty"] >= licl["sample_fraction_esd"] > 0  # u = √(esd² + u_model²)
    assert data["amorphous_fraction_uncertainty"] >= data["amorphous_fraction_esd"]
    import hashlib
    assert data["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    prov = data["provenance"]  # what made the number travels with it
    assert prov["sha256"] == data["sha256"] and prov["engine"] == "native" and prov["recipe"]
    assert {p["name"] for p in prov["phases"]} == {"LiCl", "LiF"} and all(p["sha256"] for p in prov["phases"])
    assert prov["instrument"]["name"] == "miniflex600"
    assert json.loads((tmp_path / "r.json").read_text()) == data
    # the adaptive recipe's tests travel with the result: term, Δχ², F, p, accepted
    assert data["decisions"] and all({"term", "delta_chi2", "F", "p_value", "accepted"} <= set(d) for d in data["decisions"])
    assert "adaptive recipe added:" in lazco_result.report()


def test_provenance_dataset_and_plot(lazco_result, tmp_path):
    prov = lazco_result.provenance
    assert prov["sha256"] and prov["xrdq_version"] == xrdq.__version__ and prov["engine"] == "native"
    assert [p["name"] for p in prov["phases"]] == ["LiCl", "LiF"] and prov["recipe"]
    ds = lazco_result.to_dataset()
    ds.to_netcdf(tmp_path / "r.nc", engine="h5netcdf")
    back = xr.load_dataset(tmp_path / "r.nc", engine="h5netcdf")
    assert float(back["amorphous_fraction"]) == pytest.approx(lazco_result.amorphous_fraction[0])
    assert list(back["phase"].values) == ["LiCl", "LiF"]
    assert np.allclose(back["calculated"], lazco_result.refinement.calculated)
    out = tmp_path / "fit.png"
    lazco_result.plot(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "amorphous" in lazco_result._repr_html_() and "LiCl" in lazco_result.report()


def test_without_standard_fractions_are_normalised(lazco):
    path, _ = lazco
    res = xrdq.quantify(path, phases=["LiCl", "LiF"], standard=None)
    assert res.amorphous_fraction is None and res.sample_fractions == {}
    assert sum(v for v, _ in res.refined_fractions.values()) == pytest.approx(1.0)
    assert res.to_dict()["amorphous_fraction"] is None


def test_weighing_error_and_purity_widen_the_esd(lazco):
    path, _ = lazco
    base = xrdq.quantify(path, phases=["LiCl"], standard=("LiF", 0.5), humps=[(28.0, 9.0)])
    wide = xrdq.quantify(path, phases=["LiCl"], standard=("LiF", 0.5), standard_esd=0.005, purity_esd=0.01,
                         humps=[(28.0, 9.0)])
    assert wide.amorphous_fraction[1] > 2 * base.amorphous_fraction[1]
    assert wide.amorphous_fraction[0] == pytest.approx(base.amorphous_fraction[0], abs=1e-9)


@pytest.mark.parametrize("standard", [("LiF", 1.0), ("LiF", 0.0), "LiF=abc", "LiF"])
def test_bad_standard_is_a_clear_error(lazco, standard):
    path, _ = lazco
    with pytest.raises(XrdqQuantError):
        xrdq.quantify(path, phases=["LiCl"], standard=standard)


def test_cli_quantify_json_and_plot(lazco, tmp_path, capsys):
    path, _ = lazco
    out_json, out_png = tmp_path / "q.json", tmp_path / "q.png"
    with pytest.raises(SystemExit) as exit_:
        main(["quantify", str(path), "--phase", "LiCl", "--standard", "LiF=0.5", "--json", str(out_json),
              "--plot", str(out_png)])
    assert exit_.value.code == 0
    data = json.loads(out_json.read_text())
    assert set(data) == JSON_KEYS and data["amorphous_fraction"] == pytest.approx(0.8, abs=0.01)
    assert out_png.stat().st_size > 10_000
    assert "amorphous" in capsys.readouterr().out


def test_cli_bad_w_s_exits_2_with_a_message(lazco, capsys):
    path, _ = lazco
    with pytest.raises(SystemExit) as exit_:
        main(["quantify", str(path), "--phase", "LiCl", "--standard", "LiF=1.5"])
    assert exit_.value.code == 2
    assert "W_s" in capsys.readouterr().err


def test_cli_simulate_writes_a_readable_ras_and_truth(tmp_path):
    out = tmp_path / "sim.ras"
    with pytest.raises(SystemExit) as exit_:
        main(["simulate", "--phase", "LiF", "--phase", "LiCl", "--fractions", "0.5", "--fractions", "0.3",
              "--amorphous", "0.2", "--standard", "LiF", "--seed", "3", "--out", str(out)])
    assert exit_.value.code == 0
    pattern = xrdq.load(out)
    assert pattern.sizes["two_theta"] == 7001 and pattern.attrs["format"] == "rigaku_ras"
    truth = json.loads(out.with_suffix(".truth.json").read_text())
    assert truth["amorphous_fraction"] == pytest.approx(0.4)


def test_optional_stages_strain_biso_and_preferred_orientation(lazco):
    path, _ = lazco
    res = xrdq.quantify(path, phases=["LiCl"], standard=("LiF", 0.5), strain=True, biso=True,
                        preferred_orientation={"LiCl": (1, 1, 1)})
    stages = res.provenance["recipe"]
    assert {"strain", "biso", "po"} <= set(stages[-1]["refine"])
    assert res.refinement.parameters["LiCl_po_ratio"][1] > 0  # refined, with an esd
    assert res.amorphous_fraction[0] == pytest.approx(0.8, abs=0.01)


def test_export_gpx_from_a_native_fit(lazco, tmp_path):
    from xrdq.engines.gsas2 import gsas2_available

    if not gsas2_available():
        pytest.skip("GSAS-II is not installed (see docs/gsas2.md)")
    path, _ = lazco
    out = tmp_path / "fit.gpx"
    with pytest.raises(SystemExit) as exit_:
        main(["export-gpx", str(path), "--phase", "LiCl", "--standard", "LiF=0.5", "--out", str(out)])
    assert exit_.value.code == 0
    from xrdq.engines.gsas2 import import_gsas2

    G2sc = import_gsas2()
    proj = G2sc.G2Project(gpxfile=str(out))
    assert sorted(p.name for p in proj.phases()) == ["LiCl", "LiF"]


def test_bundled_demo_pattern_is_what_the_simulator_makes():
    from reference_patterns import DEMO
    from xrdq.cli.quant_commands import demo_pattern

    shipped = xrdq.load(DEMO / "demo_lazco.ras")
    pattern, truth = demo_pattern()
    # the same seeded Poisson draw: identical counts wherever the model's expected counts have not
    # moved by a count, and everywhere within counting noise (regenerate after changing the model)
    assert np.mean(shipped.values == pattern.values) > 0.95
    assert np.max(np.abs(shipped.values - pattern.values) / np.sqrt(np.maximum(pattern.values, 1))) < 5
    assert np.allclose(shipped.two_theta.values, pattern.two_theta.values, atol=5e-5)
    assert json.loads((DEMO / "demo_lazco.truth.json").read_text())["amorphous_fraction"] == truth["amorphous_fraction"]


def test_a_given_refinement_is_quantified_not_refitted(lazco, lazco_result):
    path, _ = lazco
    again = xrdq.quantify(path, phases=["LiCl"], standard=("LiF", 0.5), refinement=lazco_result.refinement)
    assert again.amorphous_fraction == pytest.approx(lazco_result.amorphous_fraction, rel=1e-12)
    with pytest.raises(XrdqQuantError, match="phases"):
        xrdq.quantify(path, phases=["ZnO"], standard=("LiF", 0.5), refinement=lazco_result.refinement)


def test_a_gsas2_recipe_name_on_the_native_engine_is_a_clear_error(lazco):
    path, _ = lazco
    with pytest.raises(XrdqQuantError, match="GSAS-II recipe"):
        xrdq.quantify(path, phases=["LiCl"], standard=("LiF", 0.5), recipe="exact-fcj")


def test_a_file_its_dataarray_and_its_scan_give_the_same_fractions(lazco, lazco_result):
    """A path is fitted as a Scan (no xarray), a DataArray from xrdq.load through Scan.from_dataarray:
    the same arrays, so the same numbers to the last bit."""
    path, _ = lazco
    pattern = xrdq.load(path)
    results = [xrdq.quantify(given, phases=["LiCl"], standard=("LiF", 0.5))
               for given in (pattern, xrdq.io.read_scan(path))]
    for res in results:
        assert res.refined_fractions == lazco_result.refined_fractions
        assert res.sample_fractions == lazco_result.sample_fractions
        assert res.amorphous_fraction == lazco_result.amorphous_fraction
        assert res.file == lazco_result.file and res.sha256 == lazco_result.sha256
    assert results[0].pattern is pattern  # the caller's own DataArray, as given


def test_result_pattern_is_the_files_dataarray_built_when_asked(lazco, lazco_result):
    path, _ = lazco
    assert isinstance(lazco_result.scan, xrdq.io.Scan)
    assert lazco_result.scan.attrs["source_path"] == str(path.resolve())
    assert isinstance(lazco_result.pattern, xr.DataArray)
    xr.testing.assert_identical(lazco_result.pattern, xrdq.load(path))  # values, esd and the file's attrs
    assert lazco_result.pattern is lazco_result.pattern  # built once


def test_a_scan_out_of_range_is_the_same_error_as_loads(lazco):
    path, _ = lazco
    with pytest.raises(XrdqReadError) as a:
        xrdq.load(path, scan=1)
    with pytest.raises(XrdqReadError) as b:
        xrdq.quantify(path, phases=["LiCl"], standard=("LiF", 0.5), scan=1)
    assert str(b.value) == str(a.value) and "holds 1 scan(s)" in str(b.value)


def test_brindley_sizes_name_phases_by_alias_or_fail(lazco, lazco_result):
    """A Brindley size for a bundled alias corrects that phase, and one for a phase that is not there is an error:
    both were ignored without a word (the phase left uncorrected), where a texture axis for it was refused."""
    path, _ = lazco
    res = xrdq.quantify(path, phases=["LiCl"], standard=("LiF", 0.5),
                        brindley={"lif": 5.0, "LiCl": 5.0}, model_uncertainty="off")
    assert res.brindley_tau["LiF"] != 1.0 and res.brindley_tau["LiCl"] != 1.0
    assert res.provenance["brindley_particle_size_um"] == {"LiF": 5.0, "LiCl": 5.0}
    with pytest.raises(XrdqQuantError, match="Brindley particle size given for 'Foo', which is not among the phases"):
        xrdq.quantify(path, phases=["LiCl"], standard=("LiF", 0.5), brindley={"Foo": 5.0})
