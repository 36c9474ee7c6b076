"""GSAS-II's own sequential refinement (``refine_gsas2_sequential``), with the real GSAS-II.

Skipped (with the reason) where GSAS-II is not importable; nothing here fakes GSAS-II.
"""

from __future__ import annotations


import numpy as np
import pytest


def _gsas2_or_skip():
    from xrdq.engines.gsas2 import gsas2_available

    if not gsas2_available():
        pytest.skip("GSAS-II is not installed (not on PyPI; see docs/gsas2.md) - GSAS-II sequential tests skipped")


@pytest.mark.gsas2
def test_sequential_series_of_three_amorphous_patterns(tmp_path):
    """Three simulated LiF + LiCl patterns, 95 % amorphous: each amorphous fraction within 1 wt%."""
    _gsas2_or_skip()
    from xrdq.crystal.spec import resolve_phase
    from xrdq.engines.gsas2 import refine_gsas2_sequential
    from xrdq.model.instrument import load_instrument
    from xrdq.quant.pipeline import start_humps
    from xrdq.quant.internal_standard import internal_standard
    from xrdq.validation import SYNTHETIC_CASES, simulate_case

    case = SYNTHETIC_CASES[5]
    truth = case[2]
    assert truth == pytest.approx(0.95)
    patterns = [simulate_case(case, seed=s)[0] for s in (1, 2, 3)]
    inst = load_instrument("miniflex600")
    objs = [resolve_phase(n) for n in ("LiF", "LiCl")]
    humps = [start_humps(p, objs, inst, None) for p in patterns]
    results = refine_gsas2_sequential(patterns, [(o.name, o.source) for o in objs], inst, humps=humps,
                                      workdir=tmp_path)
    assert len(results) == 3
    for pat, r in zip(patterns, results):
        assert r.engine == "gsas2"
        assert r.phase_names == ["LiF", "LiCl"]
        assert r.calculated.shape == r.observed.shape == r.two_theta.shape
        assert r.weight_fraction_covariance.shape == (2, 2)
        assert np.all(np.isfinite(r.weight_fraction_covariance))
        assert r.rwp < 0.1
        w = np.array([r.weight_fractions[n] for n in r.phase_names])
        res = internal_standard(r.phase_names, w, r.weight_fraction_covariance, "LiF", 0.5)
        assert res.amorphous_fraction == pytest.approx(truth, abs=0.01)
        assert 0 < res.amorphous_fraction_esd < 0.01
        assert "LiF_D11" in r.parameters and "displacement_um" in r.parameters
    assert results[0].gsas2_project is not None


def test_sequential_of_nothing_is_empty():
    from xrdq.engines.gsas2 import refine_gsas2_sequential

    assert refine_gsas2_sequential([], [], "miniflex600") == []


@pytest.mark.gsas2
def test_quantify_many_sequential_gsas2_runs_one_gsas2_series(tmp_path, monkeypatch):
    """quantify_many(sequential=True, engine="gsas2"): one GSAS-II sequential refinement over the files,
    each QuantResult built by quantify from that file's sequential result."""
    _gsas2_or_skip()
    import xrdq.engines.gsas2.sequential as seqmod
    from xrdq.batch import quantify_many
    from xrdq.io.ras_writer import write_ras
    from xrdq.validation import SYNTHETIC_CASES, simulate_case

    files = []
    for s in (1, 2, 3):
        pattern, _ = simulate_case(SYNTHETIC_CASES[5], seed=s)
        files.append(tmp_path / f"s{s}.ras")
        write_ras(pattern, files[-1])
    calls = []
    real = seqmod.refine_gsas2_sequential

    def spy(patterns, *args, **kwargs):
        calls.append(len(patterns))
        return real(patterns, *args, **kwargs)

    monkeypatch.setattr(seqmod, "refine_gsas2_sequential", spy)
    import xrdq.engines.gsas2 as g2

    monkeypatch.setattr(g2, "refine_gsas2_sequential", spy, raising=False)
    ds = quantify_many(files, phases=["LiCl"], standard=("LiF", 0.5), engine="gsas2", sequential=True,
                       progress=False, plots=False, out=tmp_path / "out")
    assert calls == [3]
    assert list(ds["status"].values) == ["ok"] * 3
    np.testing.assert_allclose(ds["amorphous_fraction"].values, 0.95, atol=0.01)
    assert "refine_gsas2" not in vars(g2)  # the per-file answer is withdrawn again
