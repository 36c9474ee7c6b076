"""quantify_many and ``xrdq batch`` end to end on small simulated patterns."""

from __future__ import annotations

import csv
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import xrdq
from xrdq.batch import quantify_many

NUMERIC = ("amorphous_fraction", "amorphous_fraction_esd", "sample_fraction", "sample_fraction_esd",
           "refined_fraction", "refined_fraction_esd", "rwp", "gof")


def _cli(argv) -> int:
    from xrdq.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code


def _bad_files(folder: Path, good: Path) -> dict[str, Path]:
    """Broken inputs: truncated mid-file, binary garbage with a pattern extension, empty."""
    data = good.read_bytes()
    bad = {
        "truncated": folder / "truncated.ras",
        "garbage": folder / "garbage.xye",
        "empty": folder / "empty.xy",
    }
    bad["truncated"].write_bytes(data[: len(data) // 3])
    bad["garbage"].write_bytes(bytes(range(256)) * 8)
    bad["empty"].write_bytes(b"")
    return bad


def _phase_args(settings) -> list[str]:
    out = []
    for p in settings["phases"]:
        out += ["--phase", p]
    return out


def test_bad_files_are_reported_and_the_rest_finish(good_files, settings, tmp_path):
    bad = _bad_files(good_files[0].parent, good_files[0])
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in good_files + list(bad.values())}
    out = tmp_path / "out"
    code = _cli(["batch", str(good_files[0].parent), *_phase_args(settings), "--standard", "LiF=0.3", "-j", "2",
                 "--quiet", "--out", str(out)])
    assert code == 3
    ds = xr.open_dataset(out / "results.nc", engine="h5netcdf")
    status = dict(zip(ds["stem"].values, ds["status"].values))
    message = dict(zip(ds["stem"].values, ds["message"].values))
    assert status == {"empty": "failed", "garbage": "failed", "mix_a": "ok", "mix_b": "ok", "mix_c": "ok",
                      "truncated": "failed"}
    for stem in ("empty", "garbage", "truncated"):
        assert message[stem], stem
        assert "Traceback" not in message[stem] and "File \"" not in message[stem]
        assert bad[stem].name in message[stem]  # the XrdqReadError names the file
        assert math.isnan(float(ds["amorphous_fraction"].sel(sample=stem)))
    for stem in ("mix_a", "mix_b", "mix_c"):
        assert 0.0 < float(ds["amorphous_fraction"].sel(sample=stem)) < 1.0
        assert (out / "plots" / f"{stem}.png").stat().st_size > 1000
    # every file has its JSON record; the failed ones say why
    for stem in status:
        rec = json.loads((out / "json" / f"{stem}.json").read_text())
        assert rec["batch"]["status"] == status[stem]
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [r["sample"] for r in rows] == ["empty", "garbage", "mix_a", "mix_b", "mix_c", "truncated"]
    assert {r["status"] for r in rows if r["sample"].startswith("mix")} == {"ok"}
    assert rows[0]["amorphous_fraction"] == "" and rows[2]["amorphous_fraction"] != ""
    assert (out / "index.html").exists()
    for f in ("results.csv", "results.nc", "index.html", "json/mix_a.json", "plots/mix_a.png"):
        assert (out / f).stat().st_mode & 0o044 == 0o044, f"{f} is not readable by others (umask 022)"
    # inputs untouched
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in before} == before
    # a re-run refits the failed files (they may have been fixed) and a finished file whose plot is gone
    (out / "plots" / "mix_a.png").unlink()
    again = quantify_many([good_files[0].parent], phases=settings["phases"], standard=("LiF", 0.3), jobs=1,
                          progress=False, out=out)
    assert again.attrs["n_skipped"] == 2 and again.attrs["n_fitted"] == 4
    assert (out / "plots" / "mix_a.png").exists()


def test_all_good_exits_0_and_matches_quantify_file_by_file(good_files, settings, tmp_path):
    out = tmp_path / "out"
    code = _cli(["batch", *map(str, good_files), *_phase_args(settings), "--standard", "LiF=0.3", "-j", "1",
                 "--quiet", "--no-plots", "--out", str(out)])
    assert code == 0
    ds = xr.open_dataset(out / "results.nc", engine="h5netcdf")
    r = xrdq.quantify(good_files[1], phases=settings["phases"], standard=("LiF", 0.3))
    one = ds.sel(sample="mix_b")
    assert float(one["amorphous_fraction"]) == pytest.approx(r.amorphous_fraction[0], rel=1e-9, abs=1e-12)
    assert float(one["amorphous_fraction_esd"]) == pytest.approx(r.amorphous_fraction[1], rel=1e-9)
    for name, (v, e) in r.sample_fractions.items():
        assert float(one["sample_fraction"].sel(phase=name)) == pytest.approx(v, rel=1e-9)
        assert float(one["sample_fraction_esd"].sel(phase=name)) == pytest.approx(e, rel=1e-9)
    for name, (v, e) in r.refined_fractions.items():
        assert float(one["refined_fraction"].sel(phase=name)) == pytest.approx(v, rel=1e-9)
    assert float(one["rwp"]) == pytest.approx(r.rwp, rel=1e-9)
    assert str(one["sha256"].values) == r.sha256
    assert json.loads((out / "json" / "mix_b.json").read_text())["amorphous_fraction"] == pytest.approx(
        r.amorphous_fraction[0], rel=1e-9)


def _numbers(ds) -> dict:
    return {v: ds[v].values for v in NUMERIC}


def test_same_numbers_with_one_two_processes_and_dask(good_files, settings):
    kw = dict(phases=settings["phases"], standard=("LiF", 0.3), progress=False, plots=False)
    runs = {"-j 1": quantify_many(good_files, jobs=1, **kw), "-j 2": quantify_many(good_files, jobs=2, **kw)}
    assert "process pool (2 workers)" in runs["-j 2"].attrs["backend"]
    try:
        import distributed  # noqa: F401
    except ImportError:
        distributed = None
    if distributed is not None:
        runs["dask"] = quantify_many(good_files, dask_workers=2, **kw)
        assert "dask" in runs["dask"].attrs["backend"]
    ref = _numbers(runs["-j 1"])
    assert np.isfinite(ref["amorphous_fraction"]).all()
    for name, ds in runs.items():
        assert list(ds["status"].values) == ["ok"] * 3, name
        for v, a in _numbers(ds).items():
            np.testing.assert_allclose(a, ref[v], rtol=1e-9, atol=1e-12, err_msg=f"{name}: {v}")
    if distributed is None:
        pytest.skip("dask.distributed is not installed: compared -j 1 and -j 2 only")


def _finished(out: Path) -> dict[str, str]:
    return {p.stem: json.loads(p.read_text())["batch"]["finished"] + f"/{p.stat().st_mtime_ns}"
            for p in sorted((out / "json").glob("*.json"))}


def test_rerun_resumes_and_force_refits(good_files, settings, tmp_path):
    out = tmp_path / "out"
    kw = dict(phases=settings["phases"], standard=("LiF", 0.3), progress=False, plots=False, jobs=1, out=out)
    first = quantify_many(good_files, **kw)
    assert first.attrs["n_fitted"] == 3
    stamps = _finished(out)
    # an interrupted run: one file's record is missing
    (out / "json" / "mix_b.json").unlink()
    time.sleep(0.01)
    second = quantify_many(good_files, **kw)
    assert second.attrs["n_fitted"] == 1 and second.attrs["n_skipped"] == 2
    now = _finished(out)
    assert now["mix_a"] == stamps["mix_a"] and now["mix_c"] == stamps["mix_c"]
    assert "mix_b" in now
    for v in NUMERIC:
        np.testing.assert_allclose(second[v].values, first[v].values, rtol=1e-12, err_msg=v)
    # nothing to do
    assert quantify_many(good_files, **kw).attrs["n_fitted"] == 0
    assert _finished(out) == now
    # a changed input file is refitted, the others are not
    good_files[2].write_bytes(good_files[2].read_bytes().replace(b"*SAMPLE", b"*SAMPLE", 1) + b"\n")
    assert quantify_many(good_files, **kw).attrs["n_fitted"] == 1
    # changed settings refit everything; so does force
    assert quantify_many(good_files, **dict(kw, standard=("LiF", 0.31))).attrs["n_fitted"] == 3
    assert quantify_many(good_files, **dict(kw, standard=("LiF", 0.31), force=True)).attrs["n_fitted"] == 3


def test_cli_force_refits(good_files, settings, tmp_path):
    out = tmp_path / "out"
    args = ["batch", *map(str, good_files[:2]), *_phase_args(settings), "--standard", "LiF=0.3", "-j", "1", "--quiet",
            "--no-plots", "--out", str(out)]
    assert _cli(args) == 0
    stamps = _finished(out)
    assert _cli(args) == 0
    assert _finished(out) == stamps
    assert _cli(args + ["--force"]) == 0
    after = _finished(out)
    assert all(after[k] != stamps[k] for k in stamps)


def test_manifest_settings_labels_and_metadata(good_files, settings, tmp_path):
    from batch_helpers import SAMPLES

    manifest = tmp_path / "manifest.csv"
    lines = ["file,standard,sample,temperature_C,operator,dose/Gy"]
    for (name, amorphous, w_std, _), temp in zip(SAMPLES, (25, 150, 300)):
        lines.append(f"in/{name},LiF={w_std},{name[:-4].upper()},{temp},\"Ö, <b>\",")
    manifest.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    ds = quantify_many(None, manifest=manifest, phases=settings["phases"], standard=("LiF", 0.5), jobs=1,
                       progress=False, out=out, series_x="temperature_C")
    assert list(ds["sample"].values) == ["MIX_A", "MIX_B", "MIX_C"]
    np.testing.assert_array_equal(ds["standard_weighed_fraction"].values, [0.30, 0.25, 0.30])
    np.testing.assert_array_equal(ds["temperature_C"].values, [25.0, 150.0, 300.0])
    # W_s from the manifest: the simulated truth comes back (noise-level agreement)
    truth = [a / (1 - w) for _, a, w, _ in SAMPLES]
    np.testing.assert_allclose(ds["amorphous_fraction"].values, truth, atol=0.05)
    rows = list(csv.DictReader((out / "results.csv").open(encoding="utf-8")))
    assert [r["temperature_C"] for r in rows] == ["25.0", "150.0", "300.0"]
    assert rows[0]["operator"] == "Ö, <b>"
    assert (out / "series.png").stat().st_size > 1000
    back = xr.open_dataset(out / "results.nc", engine="h5netcdf")
    assert list(back["operator"].values) == ["Ö, <b>"] * 3
    assert json.loads(back.attrs["metadata_columns"]) == {"temperature_C": "temperature_C", "operator": "operator",
                                                          "dose/Gy": "dose_Gy"}
    assert rows[0]["dose/Gy"] == ""


def test_sequential_series_starts_from_the_previous_fit(good_files, settings, tmp_path, monkeypatch):
    import xrdq.batch.runner as runner

    starts = []
    real = runner.run_job

    def spy(task):
        starts.append(task.get("start"))
        return real(task)

    monkeypatch.setattr(runner, "run_job", spy)
    out = tmp_path / "out"
    kw = dict(phases=settings["phases"], standard=("LiF", 0.3), progress=False, plots=False, out=out)
    ds = quantify_many(good_files, sequential=True, **kw)
    assert ds.attrs["backend"] == "sequential" and list(ds["status"].values) == ["ok"] * 3
    assert starts[0] is None and all(isinstance(s, dict) and s for s in starts[1:])
    prev = json.loads((out / "json" / "mix_a.json").read_text())["batch"]["start_parameters"]
    assert starts[1] == prev
    assert not any(k.startswith(("scale_", "bkg")) for k in prev)
    assert (out / "series.png").stat().st_size > 1000
    independent = quantify_many(good_files, jobs=1, **dict(kw, out=None))
    np.testing.assert_allclose(ds["amorphous_fraction"].values, independent["amorphous_fraction"].values, atol=2e-3)
    # resuming a series continues from the stored parameters of the finished files
    (out / "json" / "mix_c.json").unlink()
    starts.clear()
    again = quantify_many(good_files, sequential=True, **kw)
    assert again.attrs["n_fitted"] == 1
    assert starts == [json.loads((out / "json" / "mix_b.json").read_text())["batch"]["start_parameters"]]


def test_missing_dask_gives_a_clear_message(good_files, settings, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(xrdq.XrdqError, match=r"pip install 'xrdq\[distributed\]'"):
        quantify_many(good_files, phases=settings["phases"], standard=("LiF", 0.3), dask_workers=2, progress=False)


def test_worker_limits_blas_threads():
    from xrdq.batch.worker import init_worker

    saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "MPLBACKEND")}
    try:
        init_worker()
        assert all(os.environ[k] == "1" for k in saved if k != "MPLBACKEND")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_a_worker_that_dies_fails_only_its_own_file(good_files, settings, tmp_path):
    import shutil

    from batch_helpers import crash_on_marked_files
    from xrdq.batch.inputs import build_jobs
    from xrdq.batch.runner import _run_processes, default_settings

    crash = Path(shutil.copy(good_files[0], good_files[0].parent / "crash_me.ras"))
    defaults = default_settings(settings["phases"], ("LiF", 0.3), 1.0, "native", {})
    jobs = build_jobs([crash, *good_files], defaults)
    got = {j.stem: rec for j, rec in _run_processes(jobs, False, 2, fn=crash_on_marked_files)}
    assert set(got) == {"crash_me", "mix_a", "mix_b", "mix_c"}
    assert got["crash_me"]["status"] == "failed" and "worker process died" in got["crash_me"]["message"]
    assert all(got[s]["status"] == "ok" for s in ("mix_a", "mix_b", "mix_c"))


CPD1 = Path(__file__).resolve().parents[3] / "shared" / "data" / "qpa" / "cpd1"


@pytest.mark.skipif(not (CPD1 / "CPD-1D.xye").exists(), reason=f"real CPD round-robin data not available at {CPD1}")
def test_real_cpd_patterns_with_a_per_file_standard(tmp_path):
    """CPD-1C/1D (Philips PW3020, .xye): corundum plays the weighed standard, its W_s from the manifest."""
    from batch_helpers import _cif

    manifest = tmp_path / "cpd.csv"
    weighed = {"CPD-1C": 0.0504, "CPD-1D": 0.1353}
    manifest.write_text("file,standard,sample\n" + "".join(
        f"{CPD1 / (k + '.xye')},corundum={w},{k}\n" for k, w in weighed.items()))
    phases = [f"corundum={_cif('corundum')}", f"zincite={_cif('zincite')}",
              f"fluorite={_cif('fluorite')}"]
    out = tmp_path / "out"
    code = _cli(["batch", "--manifest", str(manifest), *sum((["--phase", p] for p in phases), []),
                 "--instrument", "cpd-pw3020", "--two-theta-range", "20", "60", "-j", "1", "--quiet", "--no-plots",
                 "--out", str(out)])
    assert code == 0
    ds = xr.open_dataset(out / "results.nc", engine="h5netcdf")
    assert list(ds["sample"].values) == ["CPD-1C", "CPD-1D"]
    # a fully crystalline sample: the amorphous fraction comes out near zero (the standard's own error)
    assert np.all(np.abs(ds["amorphous_fraction"].values) < 0.15)
    r = xrdq.quantify(CPD1 / "CPD-1D.xye", phases=phases, standard=("corundum", 0.1353), instrument="cpd-pw3020",
                      two_theta_range=(20, 60))
    assert float(ds["amorphous_fraction"].sel(sample="CPD-1D")) == pytest.approx(r.amorphous_fraction[0], rel=1e-9)


def _worker_env():
    import os

    return {k: os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


def test_dask_local_cluster_is_loopback_only_and_without_malloc_trim(good_files, settings, tmp_path):
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")
    psutil = pytest.importorskip("psutil", reason="psutil is not installed")
    from xrdq.batch import local_cluster

    with local_cluster(2) as cluster, distributed.Client(cluster) as client:
        envs = client.run(_worker_env)
        assert len(envs) == 2
        for env in envs.values():
            assert env == {"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        me = psutil.Process()
        listening = [c.laddr.ip for p in [me, *me.children(recursive=True)] for c in p.net_connections(kind="inet")
                     if c.status == psutil.CONN_LISTEN]
        assert listening and set(listening) == {"127.0.0.1"}
        # --scheduler ADDRESS: a running cluster; here also a time-axis series plot without start times
        ds = quantify_many(good_files[:2], phases=settings["phases"], standard=("LiF", 0.3), plots=False,
                           progress=False, scheduler=cluster.scheduler_address, out=tmp_path / "out", series_x="time")
        assert ds.attrs["backend"] == f"dask scheduler {cluster.scheduler_address}"
        assert list(ds["status"].values) == ["ok", "ok"]
        assert (tmp_path / "out" / "series.png").exists()


def test_killed_run_resumes_without_refitting_finished_files(good_files, settings, tmp_path):
    import signal
    import subprocess
    import sys

    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "xrdq", "batch", *map(str, good_files), *_phase_args(settings), "--standard",
           "LiF=0.3", "-j", "1", "--quiet", "--no-plots", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (out / "json" / "mix_a.json").exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no file finished within 120 s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = _finished(out)
    assert "mix_a" in done and len(done) < 3, "the run finished before it could be killed"
    assert not (out / "results.nc").exists()
    ds = quantify_many(good_files, phases=settings["phases"], standard=("LiF", 0.3), jobs=1, plots=False,
                       progress=False, out=out)
    assert ds.attrs["n_skipped"] == len(done) and ds.attrs["n_fitted"] == 3 - len(done)
    after = _finished(out)
    assert all(after[k] == v for k, v in done.items())
    assert list(ds["status"].values) == ["ok"] * 3


def test_dask_groups_files_and_retries_a_failed_group_one_by_one(good_files, settings, monkeypatch):
    """Files go to dask in small groups (a task per file costs a scheduler round trip); a group that
    fails as a whole (its worker died) is retried file by file, so only a real culprit is failed."""
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")
    from xrdq.batch import runner

    assert runner._chunk_size(1000, 2) == 8 and runner._chunk_size(3, 2) == 1 and runner._chunk_size(40, 2) == 5
    real = runner.run_jobs

    def flaky(tasks):
        if len(tasks) > 1:
            raise RuntimeError("worker lost")
        if tasks[0]["path"].endswith(good_files[1].name):
            raise RuntimeError("this file kills its worker")
        return real(tasks)

    monkeypatch.setattr(runner, "run_jobs", flaky)
    monkeypatch.setattr(runner, "_chunk_size", lambda n, w: 2)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        ds = quantify_many(good_files, phases=settings["phases"], standard=("LiF", 0.3), plots=False, progress=False,
                           scheduler=client)
    # three files in groups of two: [0, 1] fails as a group and is retried as [0] and [1]; [2] runs.
    # (dask pickles the task function, so ``calls`` fills a copy; the records show what happened.)
    assert len(good_files) == 3
    assert not any("worker lost" in str(m) for m in ds["message"].values)
    status = list(ds["status"].values)
    assert status.count("failed") == 1 and status.count("ok") == 2
    assert "kills its worker" in str(ds["message"].values[status.index("failed")])
