"""Dataset, CSV and series plot built from per-file records (no fitting)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from xrdq.batch.outputs import build_dataset, plot_series, write_csv


def _state(stem, status="ok", amorphous=0.2, phases=("A", "B"), meta=None, start_time=""):
    s = {"batch": {"status": status, "message": "" if status == "ok" else "boom", "file": f"/d/{stem}.xy",
                   "sha256": "00", "stem": stem, "sample": stem, "settings": {"standard": ["S", 0.3], "purity": 1.0},
                   "metadata": meta or {}, "start_time": start_time}}
    if status == "ok":
        s.update({"amorphous_fraction": amorphous, "amorphous_fraction_esd": 0.01, "rwp": 0.05, "gof": 1.1,
                  "converged": True, "warnings": ["w"], "engine": "native",
                  "phases": {p: {"refined_fraction": 0.5, "refined_fraction_esd": 0.01,
                                 "sample_fraction": None if p == "S" else 0.4, "sample_fraction_esd": 0.01}
                             for p in phases}})
    return s


def test_phases_union_and_failed_rows(tmp_path):
    states = [_state("a", phases=("A", "S")), _state("b", status="failed"), _state("c", phases=("B", "S"))]
    ds = build_dataset(states)
    assert list(ds["phase"].values) == ["A", "S", "B"]
    assert np.isnan(ds["sample_fraction"].sel(sample="a", phase="B"))
    assert np.isnan(ds["sample_fraction"].sel(sample="a", phase="S"))  # the standard has no sample fraction
    assert float(ds["refined_fraction"].sel(sample="a", phase="S")) == 0.5
    assert np.isnan(ds["amorphous_fraction"].sel(sample="b")) and str(ds["message"].sel(sample="b").values) == "boom"
    write_csv(ds, tmp_path / "r.csv")
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert rows[1]["status"] == "failed" and rows[1]["amorphous_fraction"] == "" and rows[1]["message"] == "boom"
    assert rows[0]["A_sample_fraction"] == "0.4" and rows[0]["B_sample_fraction"] == ""
    assert float(rows[2]["amorphous_fraction"]) == 0.2


def test_metadata_numeric_or_text():
    ds = build_dataset([_state("a", meta={"T": "25", "who": "ann"}), _state("b", meta={"T": "", "who": "7"})])
    assert ds["T"].dtype == float and np.isnan(ds["T"].values[1])
    assert list(ds["who"].values) == ["ann", "7"]


@pytest.mark.parametrize("x", ["index", "time", "T"])
def test_series_plot_axes(tmp_path, x):
    states = [_state(f"s{i}", amorphous=0.1 * i, meta={"T": str(100 * i)}) for i in range(3)]
    fig = plot_series(build_dataset(states), tmp_path / "series.png", x=x)
    assert (tmp_path / "series.png").stat().st_size > 1000
    label = fig.axes[0].get_xlabel()
    assert {"index": "index in the series", "time": "index in the series (the files give no start time)",
            "T": "T"}[x] == label


def test_series_plot_unknown_axis():
    from xrdq.errors import XrdqError

    with pytest.raises(XrdqError, match="not 'index', 'time' or a manifest column"):
        plot_series(build_dataset([_state("a")]), None, x="nope")


def test_verdict_and_uncertainty_columns_and_a_check_is_not_a_green_ok(tmp_path):
    from xrdq.batch.outputs import write_html

    good, flagged = _state("good"), _state("flagged")
    good.update(verdict="ok", verdict_reasons=[], amorphous_fraction_uncertainty=0.02)
    flagged.update(verdict="check", verdict_reasons=["1 significant peak that no phase explains: 27.36°"])
    flagged["phases"]["A"]["sample_fraction_uncertainty"] = 0.03
    ds = build_dataset([good, flagged, _state("broken", status="failed")])
    assert list(ds["verdict"].values) == ["ok", "check", "fail"]  # a file that did not fit is a fail
    assert float(ds["amorphous_fraction_uncertainty"].sel(sample="good")) == 0.02
    assert float(ds["sample_fraction_uncertainty"].sel(sample="flagged", phase="A")) == 0.03
    write_csv(ds, tmp_path / "r.csv")
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert [r["verdict"] for r in rows] == ["ok", "check", "fail"]
    assert rows[1]["verdict_reasons"] == "1 significant peak that no phase explains: 27.36°"
    assert rows[0]["amorphous_fraction_uncertainty"] == "0.02" and rows[1]["A_sample_fraction_uncertainty"] == "0.03"
    write_html(ds, tmp_path / "index.html", plots={})
    page = (tmp_path / "index.html").read_text()
    assert '<tr class="check">' in page and '<span class="check">check</span>' in page
    assert "27.36°" in page and '<span class="ok">ok</span>' in page


def test_summary_page_shows_the_standard_uncertainty_beside_the_esd(tmp_path):
    """The page quotes u, not only the esd: u with the model's own is often ten times the esd, and a page that
    showed 20.00 ± 0.01 where u is 2 % would be the confident number the report warns against."""
    from xrdq.batch.outputs import write_html

    state = _state("a")
    state["amorphous_fraction_uncertainty"] = 0.021
    state["phases"]["A"]["sample_fraction_uncertainty"] = 0.0123
    state["phases"]["B"]["sample_fraction_uncertainty"] = 0.01  # no model uncertainty: u is the esd
    write_html(build_dataset([state]), tmp_path / "index.html", plots={})
    page = (tmp_path / "index.html").read_text()
    assert "<td>20.00 ± 1.00 [2.10]</td>" in page
    assert "<td>40.00 ± 1.00 [1.23]</td>" in page and "<td>40.00 ± 1.00</td>" in page
    assert "value ± esd [u]" in page
    # the thumbnails' legends leave out the symbols' key (xrdq.plot.FitPlot): the page gives it
    assert "dots are the\nobserved counts, the red line the calculated pattern, the grey line the background" in page
