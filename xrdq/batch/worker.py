"""What runs in a worker process: fit one file, return a plain record (JSON-able, plus the plot's PNG bytes).

This module imports nothing heavy at import time, so :func:`init_worker` can limit BLAS/OpenMP threads
before numpy loads in a freshly spawned process. Workers never write into the output folder: the parent
writes every output, so a remote dask cluster needs no shared filesystem.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
import traceback

from .._threads import THREAD_VARS as _THREAD_VARS

#: Parameters that are not passed on as ``start=`` in a sequential series (linear, or derived).
_NOT_START = ("scale_", "bkg")


def die_with_parent(parent_pid: int, poll_s: float = 1.0):
    """Make this worker exit when the process that started it dies (SIGKILL, OOM kill, crash).

    A pool worker otherwise lives on after ``xrdq batch`` is killed (≈370 MB each, and the
    multiprocessing resource tracker with them). On Linux the kernel sends SIGKILL at the parent's
    death (prctl PR_SET_PDEATHSIG); everywhere a daemon thread polls the parent pid as well, which also
    covers a parent that died before this ran.
    """
    import sys
    import threading

    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch():
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(poll_s)

    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=watch, name="xrdq-parent-watch", daemon=True).start()


def init_worker(parent_pid: int | None = None):
    """Process-pool initializer: exit when the parent (``parent_pid``) dies, one BLAS thread per worker
    (cores are shared out by processes), then :func:`warm_up`, so the first file a worker gets costs what
    every other one does."""
    if parent_pid is not None:
        die_with_parent(parent_pid)
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    try:  # numpy may already be loaded (fork start method): limit the running pools too
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass
    os.environ["MPLBACKEND"] = "Agg"  # workers draw into files only
    warm_up()


_warm = False


def warm_up():
    """Import the fitting stack and compute one small model (reflection and scattering-factor tables) once per
    process.

    A worker is reused for many files; this puts its one-off start-up cost (imports, tables) before
    the first file instead of inside it. Errors are left for the real job to report.
    """
    global _warm
    if _warm:
        return
    _warm = True
    try:
        import numpy as np

        from ..crystal import load_phase
        from ..model.instrument import load_instrument
        from ..model.pattern import ON_CIRCLE, PhaseModel
        from ..io import load  # noqa: F401 — every reader (the .rasx one loads zipfile and xml.etree when it reads)
        from ..quant import api, uncertainty, verdict  # noqa: F401 — what quantify imports at its first call
        from ..refine import adaptive, fit, start  # noqa: F401 — with the compiled kernels (xrdq.model._kernels)

        inst = load_instrument("miniflex600")
        model = PhaseModel(load_phase("LiF"), inst, (30.0, 50.0))
        tt = np.arange(30.0, 50.0, 0.02)
        params = model.default_params()
        model.profile(tt, params, inst)  # what a fit calls first
        model.profile_jacobian(tt, params, inst, ON_CIRCLE, [(params, inst, ON_CIRCLE, 1.0)])
    except Exception:  # noqa: BLE001 — an optimisation only
        pass


def start_parameters(parameters: dict) -> dict:
    """Refined non-linear parameter values of a fit, as the ``start=`` of the next one in a series."""
    out = {}
    for name, value in parameters.items():
        v = value[0] if isinstance(value, (tuple, list)) else value
        if name.startswith(_NOT_START) or name.endswith("_size_nm"):
            continue
        try:
            v = float(v)
        except (TypeError, ValueError):
            continue
        if v == v:  # not NaN
            out[name] = v
    return out


def _peak_rss_mb() -> float:
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux
    except (ImportError, OSError):
        return float("nan")


_local = threading.local()


def _fit_plot():
    """This thread's FitPlot, made at its first plot: one figure redrawn for every file. Per thread, as a
    dask worker may run several tasks at once in threads, and a figure is not thread-safe."""
    if getattr(_local, "plot", None) is None:
        from ..plot import THUMBNAIL_DPI, THUMBNAIL_FIGSIZE, THUMBNAIL_FONT_PT, FitPlot

        # drawn to be read as a thumbnail of the summary page, and at plot_result's resolution when opened
        _local.plot = FitPlot(THUMBNAIL_FIGSIZE, font_size=THUMBNAIL_FONT_PT, dpi=THUMBNAIL_DPI)
    return _local.plot


def _render_plot(result) -> tuple[bytes | None, str | None]:
    """The fit plot as PNG bytes, drawn on this worker's one reused figure; never raises."""
    fd, tmp = tempfile.mkstemp(suffix=".png", prefix="xrdq-batch-")
    os.close(fd)
    try:
        _fit_plot().save(result, tmp)
        with open(tmp, "rb") as fh:
            data = fh.read()
        return (data or None), (None if data else "the plot came out empty")
    except Exception as exc:  # a plot must never fail a fit
        return None, f"plot failed: {type(exc).__name__}: {exc}"
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def run_jobs(tasks: list) -> list:
    """Several files in one task (:func:`run_job` each): on a dask cluster every task costs a
    scheduler round trip and (de)serialisation, a few ms that matter next to a 0.1 s fit."""
    return [run_job(t) for t in tasks]


def run_job(task: dict) -> dict:
    """Quantify one file. ``task``: path, settings (quantify kwargs), start (or None), plot (bool).

    Returns ``{"status": "ok"|"failed", "message", "result" (QuantResult.to_dict()), "start_parameters",
    "start_time", "plot_png", "worker": {...}}``. Errors become a failed record, never an exception:
    an :class:`~xrdq.errors.XrdqError` gives its own text, anything else its type and text (plus the
    traceback in ``traceback`` for a bug report).
    """
    warm_up()  # once per process (dask workers have no initializer)
    t0, c0 = time.perf_counter(), time.thread_time()
    plot_s = plot_cpu_s = None
    from ..errors import XrdqError
    from ..quant.api import quantify

    rec = {"status": "failed", "message": "", "result": None, "start_parameters": None, "start_time": "",
           "plot_png": None, "traceback": None}
    try:
        kwargs = dict(task["settings"])
        if kwargs.get("standard") is not None:
            kwargs["standard"] = tuple(kwargs["standard"])
        if kwargs.get("two_theta_range") is not None:
            kwargs["two_theta_range"] = tuple(kwargs["two_theta_range"])
        path = task["path"]
        if not os.path.exists(path):
            raise XrdqError(f"{path}: no such file")
        result = quantify(path, start=task.get("start") or None, refinement=task.get("refinement"), **kwargs)
        rec["status"] = "ok"
        rec["result"] = result.to_dict()
        rec["start_parameters"] = start_parameters(result.refinement.parameters)
        if result.scan is not None:  # its attrs: result.pattern would import xarray for one string
            rec["start_time"] = str(result.scan.attrs.get("start_time", ""))
        if task.get("plot", True):
            t_plot, c_plot = time.perf_counter(), time.thread_time()
            rec["plot_png"], problem = _render_plot(result)
            plot_s, plot_cpu_s = time.perf_counter() - t_plot, time.thread_time() - c_plot
            if problem:
                rec["message"] = problem
    except XrdqError as exc:
        rec["message"] = str(exc)
    except MemoryError:
        rec["message"] = "out of memory while fitting this file"
    except Exception as exc:  # noqa: BLE001 — one bad file must not stop the batch
        rec["message"] = f"{type(exc).__name__}: {exc}"
        rec["traceback"] = traceback.format_exc()
    # CPU seconds of this thread (a dask worker may run several) beside the wall times: on a shared host
    # wall time measures the neighbours' load too
    rec["worker"] = {"pid": os.getpid(), "host": socket.gethostname(), "peak_rss_mb": _peak_rss_mb(),
                     "elapsed_s": time.perf_counter() - t0, "cpu_s": time.thread_time() - c0, "plot_s": plot_s,
                     "plot_cpu_s": plot_cpu_s}
    return rec


#: Settings that define a GSAS-II sequential series: every file of one series must share them.
_SERIES_KEYS = ("phases", "instrument", "two_theta_range", "recipe", "preferred_orientation", "humps", "engine")


def series_key(settings: dict) -> str:
    """What must be equal for files to share one GSAS-II sequential refinement (phases, standard phase, ...)."""
    import json

    std = settings.get("standard")
    key = {k: settings.get(k) for k in _SERIES_KEYS}
    key["standard_phase"] = std[0] if std else None
    return json.dumps(key, sort_keys=True, default=str)


def run_sequential_gsas2(tasks: list) -> list:
    """GSAS-II's own sequential refinement over the files of ``tasks`` (in order), one record each as
    :func:`run_job` gives it.

    The files go through :func:`xrdq.engines.gsas2.refine_gsas2_sequential` once; each refinement then
    becomes a QuantResult through :func:`xrdq.quantify` itself (``refinement=`` that file's sequential
    result), so weight fractions, internal standard, warnings, provenance and plots are exactly those of
    a single fit. All tasks must share :func:`series_key`.
    """
    from ..errors import XrdqError

    recs: list = [None] * len(tasks)
    members = []  # (index, pattern, humps)
    try:

        from ..engines.gsas2 import refine_gsas2_sequential
        from ..io import read_scan
        from ..model.instrument import load_instrument
        from ..quant.pipeline import engine_recipe, parse_standard, phase_list, start_humps
        from ..refine.engines import get_engine

        s = dict(tasks[0]["settings"]) if tasks else {}
        engine = get_engine("gsas2")
        inst = load_instrument(s.get("instrument", "miniflex600"))
        ttr = tuple(s["two_theta_range"]) if s.get("two_theta_range") is not None else None
        # the phases as quantify resolves them (the standard added when not listed)
        std = parse_standard(tuple(s["standard"]) if s.get("standard") is not None else None)
        objs, _ = phase_list(s.get("phases") or (), std, engine)
        for i, task in enumerate(tasks):
            try:
                if not os.path.exists(task["path"]):
                    raise XrdqError(f"{task['path']}: no such file")
                pattern = read_scan(task["path"], scan=int(task["settings"].get("scan", 0) or 0))
                humps = start_humps(pattern, objs, inst, ttr, task["settings"].get("humps", "auto"))
                members.append((i, pattern, [tuple(float(v) for v in h) for h in humps]))
            except XrdqError as exc:
                recs[i] = _failed(str(exc))
        _, recipe = engine_recipe(engine, s.get("recipe"), preferred_orientation=s.get("preferred_orientation"))
        refs = refine_gsas2_sequential([m[1] for m in members], [(p.name, p.source) for p in objs], inst,
                                       recipe=engine.recipe_for(recipe), two_theta_range=ttr,
                                       humps=[m[2] for m in members])
    except Exception as exc:  # noqa: BLE001 — the series failed as a whole: every file says why
        msg = str(exc) if isinstance(exc, XrdqError) else f"{type(exc).__name__}: {exc}"
        tb = None if isinstance(exc, XrdqError) else traceback.format_exc()
        return [r or dict(_failed("GSAS-II sequential refinement: " + msg), traceback=tb) for r in recs]
    for (i, pattern, humps), ref in zip(members, refs):
        task = dict(tasks[i], start=None, refinement=ref,
                    settings=dict(tasks[i]["settings"], humps=[list(h) for h in humps]))
        recs[i] = run_job(task)
    return recs


def _failed(message: str) -> dict:
    return {"status": "failed", "message": message, "result": None, "start_parameters": None, "start_time": "",
            "plot_png": None, "traceback": None,
            "worker": {"pid": os.getpid(), "host": socket.gethostname(), "peak_rss_mb": _peak_rss_mb(), "elapsed_s": 0.0}}
