"""``quantify_many``: many patterns through :func:`xrdq.quantify`, in parallel, resumable, one Dataset out."""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import sys
import time
from pathlib import Path

from ..quant.defaults import DEFAULT_STANDARD, DefaultStandard
from .._digest import file_sha256
from .inputs import Job, XrdqBatchError, build_jobs, settings_hash
from .outputs import readable
from .worker import init_worker, run_job, run_jobs, run_sequential_gsas2, series_key

#: Keyword arguments of quantify that a batch sets itself.
_RESERVED = ("pattern_or_path",)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _jsonable(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _phase_spec(p):
    if isinstance(p, (str, Path)):
        return str(p)
    if hasattr(p, "reflections"):  # a Phase object: workers rebuild it from its CIF
        if getattr(p, "source", None):
            return f"{p.name}={p.source}"
        raise XrdqBatchError(f"phase {p.name!r} has no source CIF: pass a phase name or CIF path to a batch")
    raise XrdqBatchError(f"phase {p!r}: expected a phase name, CIF path or NAME=CIF")


def default_settings(phases, standard, purity, engine, quantify_kwargs) -> dict:
    """The quantify keyword arguments every file gets unless its manifest row overrides them."""
    from ..quant.api import ENGINES, parse_standard

    if engine not in ENGINES:
        raise XrdqBatchError(f"unknown engine {engine!r}; choose one of {ENGINES}")
    bad = set(quantify_kwargs) & set(_RESERVED)
    if bad:
        raise XrdqBatchError(f"quantify_many sets {', '.join(sorted(bad))} itself")
    if isinstance(phases, (str, Path)):
        phases = [phases]
    std = parse_standard(standard)
    s = {"phases": [_phase_spec(p) for p in phases or ()], "standard": list(std) if std else None,
         "purity": float(purity), "engine": engine}
    if std and isinstance(standard, DefaultStandard):
        s["standard_source"] = "default"  # assumed, not given: the results say so
    for k, v in quantify_kwargs.items():
        if k == "start":
            continue  # the first start of a series, not a per-file setting
        s[k] = _jsonable(v) if isinstance(v, (str, Path, list, tuple, dict, int, float, bool, type(None))) else v
    # the effective settings: quantify's defaults filled in, so that the same fit hashes the same
    # whether a default was passed explicitly (the CLI) or left out (Python)
    import inspect

    from ..quant.api import quantify

    for name, par in inspect.signature(quantify).parameters.items():
        if name in ("pattern_or_path", "start", "refinement") or name in s or par.default is inspect.Parameter.empty:
            continue
        s[name] = _jsonable(par.default)
    for key in ("standard_esd", "purity_esd"):
        if isinstance(s.get(key), (int, float)):
            s[key] = float(s[key])
    if s.get("two_theta_range") is not None:
        lo, hi = s["two_theta_range"]
        s["two_theta_range"] = [float(lo), float(hi)]
    return s


def _state_path(out: Path, stem: str) -> Path:
    return out / "json" / f"{stem}.json"


def _load_state(out: Path, job: Job, mode_hash: str, plots: bool):
    """The finished record of ``job`` from an earlier run, if its input and settings are unchanged
    (and its plot is there, when plots are wanted)."""
    p = _state_path(out, job.stem)
    try:
        state = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    b = state.get("batch") if isinstance(state, dict) else None
    if not b or b.get("status") != "ok":
        return None  # failed files are tried again
    if not job.sha256 or b.get("sha256") != job.sha256 or b.get("settings_hash") != mode_hash:
        return None
    if plots and not (b.get("plot") and (out / b["plot"]).is_file()):
        return None
    # labels and metadata may change freely without a refit
    b["sample"], b["metadata"], b["file"] = job.sample, job.metadata, str(job.path)
    return state


def _make_state(job: Job, rec: dict, mode_hash: str, plot_rel: str | None) -> dict:
    res = rec.get("result") or {"file": str(job.path), "sha256": job.sha256 or None}
    state = dict(res)
    batch = {
        "status": rec["status"],
        "message": rec.get("message") or "",
        "sample": job.sample,
        "stem": job.stem,
        "file": str(job.path),
        "sha256": job.sha256,
        "settings_hash": mode_hash,
        "settings": _jsonable(job.settings),
        "metadata": job.metadata,
        "start_parameters": rec.get("start_parameters"),
        "start_time": rec.get("start_time") or "",
        "plot": plot_rel,
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "worker": rec.get("worker"),
    }
    if rec.get("traceback"):
        batch["traceback"] = rec["traceback"]
    state["batch"] = batch
    return state


# ---- executors: each yields (job, record) as fits finish ---------------------------------------------
def _task(job: Job, plots: bool, start=None) -> dict:
    return {"path": str(job.path), "settings": job.settings, "plot": plots, "start": start}


def _run_inprocess(pending, plots, start=None):
    for job in pending:
        yield job, run_job(_task(job, plots, start))


def _crash_record(message: str) -> dict:
    return {"status": "failed", "message": message, "result": None, "worker": None}


def _run_processes(pending, plots, n_workers, fn=run_job, start=None):
    """A spawn-started ProcessPoolExecutor (fresh interpreters, so the BLAS limit takes hold).

    A worker that dies (segfault, out-of-memory kill) breaks the whole pool; the files in flight are
    then retried one at a time, so the file that kills its worker again is the one reported failed.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")
    broken = []
    n_done = 0
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx, initializer=init_worker,
                             initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(fn, _task(j, plots, start)): j for j in pending}
        try:
            for fut in as_completed(futures):
                job = futures.pop(fut)  # drop the finished future (and its plot bytes) at once
                try:
                    rec = fut.result()
                except BrokenProcessPool:
                    broken.append(job)
                    continue
                n_done += 1
                yield job, rec
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    order = {id(j): i for i, j in enumerate(pending)}
    culprits = 0
    while broken:
        broken.sort(key=lambda j: order[id(j)])
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=init_worker,
                                 initargs=(os.getpid(),)) as pool:
            futures = [(pool.submit(fn, _task(j, plots, start)), j) for j in broken]
            broken = []
            culprit_found = False
            for fut, job in futures:
                try:
                    rec = fut.result()
                except BrokenProcessPool:
                    if culprit_found:
                        broken.append(job)
                        continue
                    culprit_found = True
                    culprits += 1
                    if culprits >= 2 and n_done == 0:
                        _no_worker_survives()
                    rec = _crash_record("the worker process died while fitting this file (crash or out of memory)")
                else:
                    n_done += 1
                yield job, rec


def _no_worker_survives():
    """Worker processes die whatever they run: most often a script without a ``__main__`` guard."""
    main = sys.modules.get("__main__")
    hint = ""
    if getattr(main, "__file__", None):
        hint = (f" Worker processes are started with 'spawn' and re-import {main.__file__}: put the call to "
                "quantify_many under `if __name__ == \"__main__\":`, or pass jobs=1.")
    raise XrdqBatchError("every worker process died before finishing a file." + hint)


def _dask_import():
    try:
        import dask
        import distributed
    except ImportError as exc:
        raise XrdqBatchError(
            f"dask.distributed is needed for --scheduler/--dask-workers but is not installed ({exc.name}): "
            "pip install 'xrdq[distributed]', or drop those options to use local processes"
        ) from None
    return dask, distributed


def local_cluster(n_workers: int, **kwargs):
    """A dask LocalCluster on loopback: one single-threaded worker process per core, no dashboard, and
    without the nanny's MALLOC_TRIM_THRESHOLD_ (it halves fit speed)."""
    dask, distributed = _dask_import()
    import logging

    # Fits are long CPU-bound tasks: the worker's statistical profiler (samples every 10 ms) and its fast
    # event-loop tick and monitors only take the GIL away from the fitting thread.
    with dask.config.set({"distributed.worker.profile.enabled": False,
                          "distributed.admin.tick.interval": "500ms",
                          "distributed.admin.system-monitor.interval": "2s",
                          "distributed.worker.memory.monitor-interval": "1s",
                          "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                          "distributed.nanny.pre-spawn-environ.OMP_NUM_THREADS": 1,
                          "distributed.nanny.pre-spawn-environ.OPENBLAS_NUM_THREADS": 1,
                          "distributed.nanny.pre-spawn-environ.MKL_NUM_THREADS": 1}):
        opts = dict(n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address=None, silence_logs=logging.ERROR)
        opts.update(kwargs)
        import warnings

        with warnings.catch_warnings():  # its HTTP port (loopback) moves on when 8787 is taken: fine
            warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
            return distributed.LocalCluster(**opts)


def _run_dask(pending, plots, scheduler, dask_workers, start=None):
    dask, distributed = _dask_import()
    cluster = None
    if scheduler is not None and not isinstance(scheduler, str):
        client, own_client = scheduler, False  # a distributed.Client the caller made
    else:
        if scheduler is None:
            cluster = local_cluster(int(dask_workers or _cpu_count()))
            client = distributed.Client(cluster)
        else:
            try:
                client = distributed.Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as exc:
                raise XrdqBatchError(f"cannot reach the dask scheduler at {scheduler}: {exc}") from None
        own_client = True
    try:
        n_workers = len(client.scheduler_info().get("workers", {})) or int(dask_workers or 1)
        size = _chunk_size(len(pending), n_workers)
        futures = {}

        def submit(group):
            tasks = [_task(j, plots, start) for j in group]
            fut = client.submit(run_jobs, tasks, pure=False, key=f"xrdq-{group[0].stem}-{id(group[0]):x}-{len(group)}")
            futures[fut] = group
            return fut

        done = distributed.as_completed([submit(pending[i:i + size]) for i in range(0, len(pending), size)])
        for fut in done:
            group = futures.pop(fut)
            try:
                records = fut.result()
            except Exception as exc:  # KilledWorker, lost connection, ...
                if len(group) > 1:  # retry its files one by one: only the culprit is reported failed
                    for j in group:
                        done.add(submit([j]))
                    fut.release()
                    continue
                records = [_crash_record(f"dask: {type(exc).__name__}: {exc}")]
            fut.release()
            yield from zip(group, records)
    finally:
        if own_client:
            client.close()
        if cluster is not None:
            cluster.close()


def _chunk_size(n_pending: int, n_workers: int) -> int:
    """Files per dask task: enough to hide the per-task cost, few enough that every worker gets
    about four tasks (load balance at the end of the batch), at most 8."""
    return max(1, min(8, n_pending // (4 * max(n_workers, 1))))


def _describe_backend(sequential, n_pending, jobs, scheduler, dask_workers) -> tuple[str, int]:
    if sequential:
        return "sequential", 1
    if scheduler is not None:
        return f"dask scheduler {scheduler if isinstance(scheduler, str) else 'client'}", 0
    if dask_workers:
        return f"dask LocalCluster ({int(dask_workers)} workers)", int(dask_workers)
    n = _cpu_count() if jobs in (None, 0) else int(jobs)
    if n < 1:
        raise XrdqBatchError(f"jobs must be ≥ 1, got {jobs}")
    n = min(n, max(n_pending, 1))
    if n == 1:
        return "in-process", 1
    return f"process pool ({n} workers)", n


def quantify_many(inputs=None, phases=(), standard=DEFAULT_STANDARD, purity: float = 1.0, *, manifest=None,
                  jobs: int | None = None, scheduler=None, dask_workers: int | None = None, sequential: bool = False,
                  engine: str = "native", out=None, force: bool = False, progress: bool = True, plots: bool = True,
                  series_x: str | None = None, command: str | None = None, **quantify_kwargs):
    """Quantify many patterns; return one :class:`xarray.Dataset` (dims ``sample`` × ``phase``).

    Each file gets exactly what :func:`xrdq.quantify` would give it alone (same numbers), with the
    settings here, overridden per file by the ``manifest`` CSV. A file that fails is recorded with
    ``status = "failed"`` and the error's text in ``message``; the rest go on.

    Parameters
    ----------
    inputs : files, folders (their pattern files) or globs; may be None when ``manifest`` lists the files.
    phases, standard, purity, engine, **quantify_kwargs : as :func:`xrdq.quantify` (``standard_esd``,
        ``purity_esd``, ``instrument``, ``two_theta_range``, ``recipe``, ...). Left out, the standard is
        xrdq's default (LiF, 50 wt%), labelled as such; ``model_uncertainty`` defaults to ``"fast"``
        here (the cheap part of the ensemble, about +10 % fit time) to keep batch throughput.
    manifest : CSV with per-file settings (``file``, ``standard``, ``standard_fraction``, ``purity``,
        ``phases``, ``sample``, ...); other columns are carried into the outputs as metadata.
    jobs : local worker processes (default: all cores; 1 fits in this process).
    scheduler : address of a running dask scheduler (``tcp://host:port``) or a ``distributed.Client``.
    dask_workers : start a dask LocalCluster with this many workers on 127.0.0.1.
    sequential : fit in order, each fit starting from the previous one's refined parameters (series).
    start : (in ``quantify_kwargs``) start values for every fit, or for the first of a sequential series.
    out : folder for results.csv, results.nc, index.html, plots/, json/. With ``out``, a re-run resumes:
        files already fitted with the same input (sha256) and settings are read back, not refitted,
        unless ``force``.
    plots : write one fit plot per pattern (plots/<stem>.png).
    series_x : ``"index"``, ``"time"`` or a manifest column: draws series.png (default "index" when
        ``sequential``, else no series plot).
    """
    import multiprocessing as mp

    if getattr(mp.current_process(), "_inheriting", False):
        raise RuntimeError("quantify_many was called while a worker process was starting: in a script, call it "
                           "under `if __name__ == \"__main__\":` (workers re-import the script)")
    t_start = time.perf_counter()
    quantify_kwargs.setdefault("model_uncertainty", "fast")
    defaults = default_settings(phases, standard, purity, engine, quantify_kwargs)
    first_start = quantify_kwargs.get("start")
    if scheduler is not None and dask_workers:
        raise XrdqBatchError("give either a dask scheduler address or a number of dask workers, not both")
    out = _output_folder(out)
    job_list = build_jobs(inputs, defaults, manifest=manifest, exclude=out)
    mode = ("gsas2-sequential" if engine == "gsas2" else "sequential") if sequential else "independent"
    hashes, states = _resume(job_list, out, mode, first_start, force, plots)
    n_skipped = len(states)
    pending = [j for j in job_list if j.stem not in states]
    backend, n_workers = _describe_backend(sequential, len(pending), jobs, scheduler, dask_workers)

    from tqdm.auto import tqdm

    bar = tqdm(total=len(job_list), initial=n_skipped, disable=not progress, unit="pattern", desc="xrdq batch",
               file=sys.stderr, dynamic_ncols=True)
    record = _Recorder(out, hashes, states, bar)
    t_fit = time.perf_counter()
    try:
        _dispatch(job_list, pending, states, record, plots=plots, engine=engine, sequential=sequential,
                  scheduler=scheduler, dask_workers=dask_workers, n_workers=n_workers, first_start=first_start)
    finally:
        bar.close()
    fit_time = time.perf_counter() - t_fit
    ordered = [states[j.stem] for j in job_list]
    attrs = {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "backend": backend,
        "settings": json.dumps(_jsonable(defaults), default=str),
        "manifest": str(manifest) if manifest is not None else "",
        "inputs": json.dumps([str(i) for i in ([inputs] if isinstance(inputs, (str, Path)) else inputs or [])]),
        "command": command or "",
        "sequential": int(bool(sequential)),
    }
    ds = _summarise(ordered, attrs, n_skipped=n_skipped, n_fitted=len(pending), fit_time=fit_time, backend=backend)
    if out is not None:
        _write_outputs(ds, out, ordered, "index" if series_x is None and sequential else series_x)
    ds.attrs["total_time_s"] = time.perf_counter() - t_start
    return ds


def _output_folder(out):
    """``out`` as a Path, checked writable before any fit (a read-only folder or a file in the way); or None."""
    if out is None:
        return None
    from .._atomic import check_writable

    out = Path(out)
    check_writable(out, folder=True)
    return out


def _resume(job_list, out, mode, first_start, force, plots):
    """(settings hash per file, states of the files already done in ``out`` with the same input and settings)."""
    if out is not None:  # created only once the inputs make sense
        for sub in ("json", "plots"):
            (out / sub).mkdir(parents=True, exist_ok=True)
    for j in job_list:
        j.sha256 = file_sha256(j.path, missing="")
    hashes = {j.stem: settings_hash(dict(j.settings, _mode=mode, _start=first_start)) for j in job_list}
    states: dict[str, dict] = {}
    if out is not None and not force:
        for j in job_list:
            s = _load_state(out, j, hashes[j.stem], plots)
            if s is not None:
                states[j.stem] = s
    return hashes, states


class _Recorder:
    """Records each finished file: its plot and state file in ``out`` (atomically), its state, the bar."""

    def __init__(self, out, hashes, states, bar):
        self.out, self.hashes, self.states, self.bar, self.n_fail = out, hashes, states, bar, 0

    def __call__(self, job: Job, rec: dict):
        out = self.out
        plot_rel = None
        if out is not None:
            if rec.get("plot_png"):
                from .._atomic import atomic_write_bytes

                plot_rel = f"plots/{job.stem}.png"
                readable(atomic_write_bytes(out / plot_rel, rec["plot_png"]))
            state = _make_state(job, rec, self.hashes[job.stem], plot_rel)
            from .._atomic import atomic_write_text

            readable(atomic_write_text(_state_path(out, job.stem),
                                       json.dumps(state, indent=2, ensure_ascii=False, default=str) + "\n"))
        else:
            state = _make_state(job, rec, self.hashes[job.stem], None)
        self.states[job.stem] = state
        if rec["status"] != "ok":
            self.n_fail += 1
            self.bar.set_postfix(failed=self.n_fail, refresh=False)
        self.bar.update(1)


def _dispatch(job_list, pending, states, finish, *, plots, engine, sequential, scheduler, dask_workers, n_workers,
              first_start):
    """Fit the pending files on the chosen backend, handing each record to ``finish`` as it arrives."""
    if sequential and engine == "gsas2" and pending and len({series_key(j.settings) for j in pending}) == 1:
        # GSAS-II's own sequential refinement: one project, all pending files in order
        for j, rec in zip(pending, run_sequential_gsas2([_task(j, plots) for j in pending])):
            finish(j, rec)
    elif sequential:
        start = first_start
        for j in job_list:
            if j.stem in states:
                sp = states[j.stem]["batch"].get("start_parameters")
                start = sp or start
                continue
            rec = run_job(_task(j, plots, start))
            finish(j, rec)
            if rec["status"] == "ok" and rec.get("start_parameters"):
                start = rec["start_parameters"]
    elif not pending:
        pass
    elif scheduler is not None or dask_workers:
        for j, rec in _run_dask(pending, plots, scheduler, dask_workers, first_start):
            finish(j, rec)
    elif n_workers == 1:
        for j, rec in _run_inprocess(pending, plots, first_start):
            finish(j, rec)
    else:
        for j, rec in _run_processes(pending, plots, n_workers, start=first_start):
            finish(j, rec)


def _summarise(ordered, attrs, *, n_skipped, n_fitted, fit_time, backend):
    """The batch Dataset with its counts, verdict tally and one-line summary in the attrs."""
    from .outputs import build_dataset

    n_ok = sum(s["batch"]["status"] == "ok" for s in ordered)
    n_failed = len(ordered) - n_ok
    rate = n_fitted / fit_time if fit_time > 0 and n_fitted else 0.0
    attrs = dict(attrs, n_ok=n_ok, n_failed=n_failed, n_skipped=n_skipped, n_fitted=n_fitted, fit_time_s=fit_time,
                 patterns_per_s=rate)
    ds = build_dataset(ordered, attrs)
    verdicts = [str(v) for v, st in zip(ds["verdict"].values, ds["status"].values) if st == "ok"]
    judged = ", ".join(f"{verdicts.count(v)} {v}" for v in ("ok", "check", "fail") if v in verdicts)
    ds.attrs.update({f"n_verdict_{v}": verdicts.count(v) for v in ("ok", "check", "fail")})
    ds.attrs["summary"] = (f"{n_ok} ok, {n_failed} failed" + (f" (verdicts: {judged})" if judged else "")
                           + (f" ({n_skipped} already done)" if n_skipped else "")
                           + f"; {n_fitted} fitted in {fit_time:.1f} s ({rate:.2f} patterns/s, {backend})")
    return ds


def _write_outputs(ds, out, ordered, series_x):
    """results.nc, results.csv, index.html and (with ``series_x``) series.png in ``out``."""
    from .outputs import plot_series, write_csv, write_html, write_netcdf

    series_rel = None
    if series_x:
        plot_series(ds, out / "series.png", x=series_x)
        series_rel = "series.png"
    write_netcdf(ds, out / "results.nc")
    write_csv(ds, out / "results.csv")
    plots_map = {s["batch"]["stem"]: s["batch"].get("plot") for s in ordered
                 if s["batch"].get("plot") and (out / s["batch"]["plot"]).exists()}
    write_html(ds, out / "index.html", plots_map, series_plot=series_rel, summary=ds.attrs["summary"])
